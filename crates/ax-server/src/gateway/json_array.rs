//! Gemini's streamed answer without `?alt=sse`: one JSON array of responses, as the
//! REST API sends it, built from the SSE frames every other path produces.

use bytes::Bytes;

/// Turns the SSE frames of a Gemini stream (`data: {…}` each) into the JSON array the
/// REST API sends without `?alt=sse`: `[{…}`, then `,\r\n{…}` per response, then `]`.
/// An error event becomes the array's last element, as the API ends a failed stream.
pub(super) fn json_array<S>(
    sse: S,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: futures::Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    struct St<S> {
        sse: std::pin::Pin<Box<S>>,
        /// Bytes of a frame not ended yet.
        pending: Vec<u8>,
        opened: bool,
        closed: bool,
    }
    let st = St {
        sse: Box::pin(sse),
        pending: Vec::new(),
        opened: false,
        closed: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        use futures::StreamExt;
        loop {
            if st.closed {
                return None;
            }
            let mut out = Vec::new();
            match st.sse.next().await {
                Some(Ok(bytes)) => {
                    st.pending.extend_from_slice(&bytes);
                    while let Some(end) = frame_end(&st.pending) {
                        let frame: Vec<u8> = st.pending.drain(..end.1).take(end.0).collect();
                        if let Some(data) = frame_data(&frame) {
                            out.extend_from_slice(if st.opened { b",\r\n" } else { b"[" });
                            st.opened = true;
                            out.extend_from_slice(data);
                        }
                    }
                }
                Some(Err(e)) => return Some((Err(e), st)),
                None => {
                    st.closed = true;
                    out.extend_from_slice(if st.opened { b"]" } else { b"[]" });
                }
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), st));
            }
        }
    })
}

/// The end of the first complete SSE frame in `buf`: (frame length, length with its
/// blank-line terminator).
fn frame_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `data:` payload of one frame (Gemini frames carry a single data line).
fn frame_data(frame: &[u8]) -> Option<&[u8]> {
    frame
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"data:"))
        .map(|d| d.strip_prefix(b" ").unwrap_or(d))
        .map(|d| d.strip_suffix(b"\r").unwrap_or(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sse_frames_become_one_json_array_whatever_the_chunking() {
        use futures::StreamExt;
        let chunks = [
            "data: {\"a\":1}\n",
            "\ndata: {\"b\"",
            ":2}\r\n\r\ndata: {\"c\":3}\n\n",
        ];
        let input = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes()))),
        );
        let out: Vec<u8> = json_array(input)
            .map(|b| b.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[{\"a\":1},\r\n{\"b\":2},\r\n{\"c\":3}]"
        );
        let empty: Vec<u8> = json_array(futures::stream::empty())
            .map(|b| b.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(empty, b"[]");
    }
}
