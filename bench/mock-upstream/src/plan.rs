//! A streamed response rendered up front into one buffer, sent as segments with the
//! configured delay between them, optionally ending with an aborted connection.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::MockConfig;
use crate::util::{response, write_json};

/// How frames are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `text/event-stream`: `[event: name\n]data: json\n\n`.
    Sse,
    /// Gemini without `alt=sse`: one JSON array, elements sent as they come.
    JsonArray,
}

/// The frames of one streamed response.
#[derive(Debug)]
pub(crate) struct Plan {
    buf: Vec<u8>,
    /// End offsets of the segments sent one by one.
    segs: Vec<usize>,
    framing: Framing,
    elements: usize,
    abort: bool,
}

impl Plan {
    pub(crate) fn new(framing: Framing, chunks: usize) -> Self {
        Self {
            buf: Vec::with_capacity(256 + chunks * 192),
            segs: Vec::with_capacity(chunks + 2),
            framing,
            elements: 0,
            abort: false,
        }
    }

    /// Appends one event carrying `data` as JSON.
    pub(crate) fn event<T: Serialize>(&mut self, name: Option<&str>, data: &T) {
        match self.framing {
            Framing::Sse => {
                if let Some(n) = name {
                    self.buf.extend_from_slice(b"event: ");
                    self.buf.extend_from_slice(n.as_bytes());
                    self.buf.push(b'\n');
                }
                self.buf.extend_from_slice(b"data: ");
                write_json(&mut self.buf, data);
                self.buf.extend_from_slice(b"\n\n");
            }
            Framing::JsonArray => {
                self.buf
                    .extend_from_slice(if self.elements == 0 { b"[" } else { b",\r\n" });
                write_json(&mut self.buf, data);
            }
        }
        self.elements += 1;
    }

    /// Appends one event whose data is already-serialized JSON.
    pub(crate) fn event_raw(&mut self, name: Option<&str>, json: &[u8]) {
        self.event(name, &RawJson(json));
    }

    /// Appends raw bytes (e.g. `data: [DONE]\n\n`).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Closes a JSON array stream (no-op for SSE).
    pub(crate) fn finish_array(&mut self) {
        if self.framing == Framing::JsonArray {
            self.buf
                .extend_from_slice(if self.elements == 0 { b"[]" } else { b"]" });
        }
    }

    /// Ends the current segment: what follows is sent after the chunk delay.
    pub(crate) fn end_segment(&mut self) {
        if self.segs.last().copied().unwrap_or(0) < self.buf.len() {
            self.segs.push(self.buf.len());
        }
    }

    /// The connection is aborted after the last segment.
    pub(crate) fn abort_after(&mut self) {
        self.end_segment();
        self.abort = true;
    }

    /// The streaming response.
    pub(crate) fn into_response(mut self, cfg: &MockConfig, cancel: CancellationToken) -> Response {
        self.end_segment();
        let content_type = match self.framing {
            Framing::Sse => "text/event-stream",
            Framing::JsonArray => "application/json",
        };
        let state = BodyState {
            bytes: Bytes::from(self.buf),
            segs: self.segs,
            next: 0,
            delay: Duration::from_millis(cfg.chunk_delay_ms),
            abort: self.abort,
            done: false,
            cancel,
        };
        let stream = futures::stream::unfold(state, next_segment);
        let mut r = response(200, content_type, Body::from_stream(stream));
        if self.framing == Framing::Sse {
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        r
    }
}

/// Pre-serialized JSON, written as is.
struct RawJson<'a>(&'a [u8]);

impl Serialize for RawJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The bytes come from `to_json`, so they are UTF-8 JSON.
        let text = std::str::from_utf8(self.0).map_err(serde::ser::Error::custom)?;
        let raw = serde_json::value::RawValue::from_string(text.to_owned())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

struct BodyState {
    bytes: Bytes,
    segs: Vec<usize>,
    next: usize,
    delay: Duration,
    abort: bool,
    done: bool,
    cancel: CancellationToken,
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "mock-upstream: stream cut",
    )
}

async fn next_segment(mut s: BodyState) -> Option<(io::Result<Bytes>, BodyState)> {
    if s.done {
        return None;
    }
    if s.next == s.segs.len() {
        s.done = true;
        if !s.abort {
            return None;
        }
        // Let hyper flush what it has buffered first (it does so when the body is
        // pending); then the error makes it drop the connection without the
        // terminating chunk, and the client sees a truncated response.
        tokio::task::yield_now().await;
        return Some((Err(cut()), s));
    }
    if s.next > 0 && !s.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(s.delay) => {}
            () = s.cancel.cancelled() => {
                s.done = true;
                return Some((Err(cut()), s));
            }
        }
    }
    let start = if s.next == 0 { 0 } else { s.segs[s.next - 1] };
    let end = s.segs[s.next];
    s.next += 1;
    let seg = s.bytes.slice(start..end);
    Some((Ok(seg), s))
}

/// A format's stream writer: the driver decides where chunks, cuts and errors go.
pub(crate) trait Emitter {
    /// Frames before the first content chunk.
    fn preamble(&self, p: &mut Plan);
    /// Content chunk `i` of `n`.
    fn chunk(&self, p: &mut Plan, i: usize, n: usize);
    /// The provider's mid-stream error event.
    fn error(&self, p: &mut Plan);
    /// The terminal frames.
    fn tail(&self, p: &mut Plan);
}

/// Renders a stream of `n` content chunks, honouring `cut_after` / `error_after`
/// (counted in content chunks; `K >= n` cuts or fails just before the terminal frames).
pub(crate) fn drive<E: Emitter>(e: &E, framing: Framing, n: usize, cfg: &MockConfig) -> Plan {
    let mut p = Plan::new(framing, n);
    e.preamble(&mut p);
    for i in 0..=n {
        if cfg.cut_after == Some(i) || (i == n && cfg.cut_after.is_some_and(|k| k > n)) {
            p.abort_after();
            return p;
        }
        if cfg.error_after == Some(i) || (i == n && cfg.error_after.is_some_and(|k| k > n)) {
            p.end_segment();
            e.error(&mut p);
            p.finish_array();
            return p;
        }
        if i == n {
            break;
        }
        e.chunk(&mut p, i, n);
        p.end_segment();
    }
    e.tail(&mut p);
    p.finish_array();
    p
}

/// A non-streamed body cut halfway: headers and part of the body, then an abort.
pub(crate) fn cut_body(body: Vec<u8>, cancel: CancellationToken) -> Response {
    let half = body.len() / 2;
    let mut p = Plan::new(Framing::Sse, 1);
    p.raw(&body[..half]);
    p.abort_after();
    let mut r = p.into_response(&MockConfig::default(), cancel);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().remove(header::CACHE_CONTROL);
    r
}
