//! Server-sent events: one incremental decoder and one encoder shared by every wire
//! protocol, on both sides of the gateway.
//!
//! The decoder follows the WHATWG event-stream rules that matter for LLM APIs: lines end
//! in LF, CRLF or CR (a CRLF split across two reads is still one line break); `data:`
//! lines of one event are joined with `\n`; lines starting with `:` are comments; a
//! blank line dispatches the event; an event with no `data` is dropped. It yields the
//! same frames however the input bytes are split.

use bytes::{Bytes, BytesMut};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    /// The `event:` name, when present.
    pub event: Option<String>,
    /// The joined `data:` lines.
    pub data: String,
}

impl SseFrame {
    /// A frame with only data (OpenAI, Gemini style).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }

    /// A named frame (Anthropic style).
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            data: data.into(),
        }
    }

    /// The frame serialized as wire bytes, ending with the blank line.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.data.len() + 32);
        write_frame(&mut out, self.event.as_deref(), &self.data);
        Bytes::from(out)
    }
}

/// Appends one SSE frame to `out`. Multi-line data becomes several `data:` lines.
pub fn write_frame(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends `data: <json>\n\n` with `value` serialized in place (no intermediate String).
pub fn write_json_frame<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    event: Option<&str>,
    value: &T,
) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    // Serializing plain data structures into a Vec cannot fail; if a custom Serialize
    // impl ever does, we emit an empty object rather than a broken frame.
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

/// Incremental SSE decoder: feed bytes as they arrive, take frames as they complete.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    /// Set when the previous chunk ended in CR, so a leading LF is not a second break.
    pending_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// The longest line we accept; anything larger is a broken or hostile upstream.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A stream that cannot be parsed as SSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A single line exceeded [`MAX_LINE_BYTES`].
    #[error("event-stream line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// A line was not valid UTF-8.
    #[error("event-stream line is not valid UTF-8")]
    InvalidUtf8,
}

impl SseDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and appends every completed frame to `frames`.
    pub fn feed(&mut self, chunk: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        let mut chunk = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let Some(pos) = memchr::memchr2(b'\n', b'\r', &self.buf) else {
                if self.buf.len() > MAX_LINE_BYTES {
                    return Err(SseError::LineTooLong);
                }
                return Ok(());
            };
            let line = self.buf.split_to(pos);
            let terminator = self.buf.split_to(1);
            if terminator[0] == b'\r' {
                if self.buf.is_empty() {
                    self.pending_cr = true;
                } else if self.buf[0] == b'\n' {
                    let _ = self.buf.split_to(1);
                }
            }
            self.line(&line, frames)?;
        }
    }

    /// Ends the input: a final event without its blank line is dispatched (lenient, as
    /// upstreams that close the connection right after the last `data:` line exist).
    pub fn finish(&mut self, frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        if !self.buf.is_empty() {
            let line = self.buf.split();
            self.line(&line, frames)?;
        }
        self.dispatch(frames);
        Ok(())
    }

    fn line(&mut self, line: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(frames);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::InvalidUtf8)?;
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` mean nothing to a request/response API.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, frames: &mut Vec<SseFrame>) {
        if self.has_data {
            frames.push(SseFrame {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        } else {
            self.event = None;
        }
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(parts: &[&[u8]]) -> Vec<SseFrame> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in parts {
            d.feed(p, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    const ANTHROPIC: &str = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n: comment\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_delta\ndata: {\"a\":1}\n\n";

    #[test]
    fn named_events_comments_and_pings() {
        let frames = decode_all(&[ANTHROPIC.as_bytes()]);
        assert_eq!(
            frames,
            vec![
                SseFrame::named("message_start", "{\"type\":\"message_start\"}"),
                SseFrame::named("ping", "{\"type\": \"ping\"}"),
                SseFrame::named("content_block_delta", "{\"a\":1}"),
            ]
        );
    }

    #[test]
    fn crlf_cr_and_multiline_data() {
        let frames = decode_all(&[b"data: a\r\ndata: b\r\n\r\ndata:c\r\rdata: [DONE]\n\n"]);
        assert_eq!(
            frames,
            vec![
                SseFrame::data("a\nb"),
                SseFrame::data("c"),
                SseFrame::data("[DONE]")
            ]
        );
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        assert_eq!(
            decode_all(&[b"data: {\"x\":1}"]),
            vec![SseFrame::data("{\"x\":1}")]
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let mut out = Vec::new();
        write_frame(&mut out, Some("e"), "line1\nline2");
        write_json_frame(&mut out, None, &serde_json::json!({"k": "v"}));
        assert_eq!(
            decode_all(&[&out]),
            vec![
                SseFrame::named("e", "line1\nline2"),
                SseFrame::data("{\"k\":\"v\"}")
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let input = format!("{ANTHROPIC}data: x\r\n\r\ndata: y\r\rdata: z\n\n");
        let whole = decode_all(&[input.as_bytes()]);
        let bytes = input.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let got = decode_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let cut = cut.min(data.len());
            let mut d = SseDecoder::new();
            let mut out = Vec::new();
            let _ = d.feed(&data[..cut], &mut out);
            let _ = d.feed(&data[cut..], &mut out);
            let _ = d.finish(&mut out);
        }
    }
}
