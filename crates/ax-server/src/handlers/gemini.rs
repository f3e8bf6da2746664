//! `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`, also
//! under `/v1/models/…`. The model may contain `/` (`openai/gpt-4o-mini`), so the path
//! tail is parsed by hand: everything up to the last `:` is the model.

use ax_core::{GatewayError, WireFormat};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::chat::{Endpoint, handle_chat};
use crate::error::ApiError;
use crate::state::AppState;

/// The action named after the model in a Gemini path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiAction {
    /// `generateContent`.
    Generate,
    /// `streamGenerateContent`.
    StreamGenerate,
}

/// Splits `models/{model}:{action}` tails.
pub fn parse_tail(tail: &str) -> Result<(String, GeminiAction), GatewayError> {
    let tail = tail.trim_start_matches('/');
    let tail = tail.strip_prefix("models/").unwrap_or(tail);
    let (model, action) = tail.rsplit_once(':').ok_or_else(|| {
        GatewayError::new(
            ax_core::ErrorCode::NotFound,
            format!("no action in path `{tail}` (expected {{model}}:generateContent)"),
        )
    })?;
    let action = match action {
        "generateContent" => GeminiAction::Generate,
        "streamGenerateContent" => GeminiAction::StreamGenerate,
        other => {
            return Err(GatewayError::new(
                ax_core::ErrorCode::NotFound,
                format!(
                    "unsupported action `{other}` (supported: generateContent, streamGenerateContent)"
                ),
            ));
        }
    };
    if model.is_empty() {
        return Err(GatewayError::invalid("empty model in path"));
    }
    Ok((model.to_owned(), action))
}

/// Gemini generateContent / streamGenerateContent.
pub async fn generate(
    State(state): State<AppState>,
    Path(tail): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (model, action) = match parse_tail(&tail) {
        Ok(x) => x,
        Err(e) => {
            // Still one log row: run it through the pipeline with the path error.
            return handle_chat(
                state,
                WireFormat::Gemini,
                Endpoint {
                    path_model: None,
                    path_stream: None,
                    path_error: Some(e),
                    json_array: false,
                },
                headers,
                body,
            )
            .await;
        }
    };
    let stream = action == GeminiAction::StreamGenerate;
    // Without `alt=sse` the REST API streams one JSON array of responses.
    let sse = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    let endpoint = Endpoint {
        path_model: Some(model),
        path_stream: Some(stream),
        path_error: None,
        json_array: stream && !sse,
    };
    handle_chat(state, WireFormat::Gemini, endpoint, headers, body).await
}

/// Turns the SSE frames of a Gemini stream (`data: {…}` each) into the JSON array the
/// REST API sends without `?alt=sse`: `[{…}`, then `,\r\n{…}` per response, then `]`.
/// An error event becomes the array's last element, as the API ends a failed stream.
pub(crate) fn json_array<S>(
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

/// Answers a path that is not a Gemini model path with a Gemini-shaped 404.
pub async fn not_found() -> Response {
    ApiError::new(
        WireFormat::Gemini,
        GatewayError::new(ax_core::ErrorCode::NotFound, "unknown Gemini endpoint"),
    )
    .into_response()
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

    #[test]
    fn tails() {
        assert_eq!(
            parse_tail("gemini-2.0-flash:generateContent").unwrap(),
            ("gemini-2.0-flash".into(), GeminiAction::Generate)
        );
        assert_eq!(
            parse_tail("openai/gpt-4o-mini:streamGenerateContent").unwrap(),
            ("openai/gpt-4o-mini".into(), GeminiAction::StreamGenerate)
        );
        assert!(parse_tail("x:countTokens").is_err());
        assert!(parse_tail("nothing").is_err());
        assert!(parse_tail(":generateContent").is_err());
    }
}
