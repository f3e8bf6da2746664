//! Helpers shared by the fuzz targets: after a decoder accepted fuzzer bytes, push the
//! decoded value through every encoder that could receive it in the gateway, so that a
//! panic anywhere on the decode → unified → encode path is found, not only in parsing.

use ax_core::{ChatRequest, ChatResponse, GatewayError, ProviderKind, StreamEvent, WireFormat};
use ax_providers::{ProviderConfig, StreamDecoder, StreamEncoder, client_codec};
use http::{HeaderMap, HeaderValue};

/// Every client format.
pub const FORMATS: [WireFormat; 3] = [
    WireFormat::OpenAi,
    WireFormat::Anthropic,
    WireFormat::Gemini,
];

/// Encodes a decoded client request for every upstream kind, streaming and not.
pub fn exercise_request(req: &ChatRequest) {
    for stream in [false, true] {
        for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible] {
            let cfg = ProviderConfig::new("openai", kind);
            let _ = ax_providers::openai::encode_request(req, "gpt-4o", stream, &cfg);
        }
        let cfg = ProviderConfig::new("anthropic", ProviderKind::Anthropic);
        let _ = ax_providers::anthropic::encode_request(req, "claude-x", stream, &cfg);
        let mut cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
        cfg.safety_threshold = Some("BLOCK_ONLY_HIGH".to_owned());
        let _ = ax_providers::gemini::encode_request(req, "gemini-x", stream, &cfg);
    }
    // The raw body only matters on the same-format fast path; translation must cope
    // without it too.
    if req.raw.is_some() {
        let mut bare = req.clone();
        bare.raw = None;
        exercise_request(&bare);
    }
}

/// Encodes a decoded upstream answer for every client format.
pub fn exercise_response(resp: &ChatResponse) {
    for f in FORMATS {
        let _ = client_codec(f).encode_response(resp);
    }
}

/// Encodes an upstream error for every client format.
pub fn exercise_error(err: &GatewayError) {
    for f in FORMATS {
        let _ = client_codec(f).encode_error(err);
        let mut enc = client_codec(f).stream_encoder(&ChatRequest::default());
        let mut out = Vec::new();
        enc.error(err, &mut out);
    }
}

/// An HTTP status and headers chosen by the input: the status from its length, a
/// `Retry-After` from its first line when that is a valid header value.
pub fn status_and_headers(data: &[u8]) -> (u16, HeaderMap) {
    const STATUSES: [u16; 12] = [400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529];
    let status = STATUSES[data.len() % STATUSES.len()];
    let mut headers = HeaderMap::new();
    let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    if let Ok(v) = HeaderValue::from_bytes(line) {
        headers.insert("retry-after", v.clone());
        headers.insert("retry-after-ms", v);
    }
    (status, headers)
}

/// Feeds decoded events to one encoder per client format (both with and without
/// `include_usage` for OpenAI), ending each stream the way the server does.
pub struct Encoders {
    encoders: Vec<Box<dyn StreamEncoder>>,
    out: Vec<u8>,
}

impl Default for Encoders {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoders {
    /// One encoder per client format.
    pub fn new() -> Self {
        let with_usage = ChatRequest {
            stream: true,
            include_usage: true,
            ..Default::default()
        };
        let mut encoders: Vec<Box<dyn StreamEncoder>> = FORMATS
            .iter()
            .map(|f| client_codec(*f).stream_encoder(&ChatRequest::default()))
            .collect();
        encoders.push(client_codec(WireFormat::OpenAi).stream_encoder(&with_usage));
        Self {
            encoders,
            out: Vec::new(),
        }
    }

    /// Hands `events` to every encoder.
    pub fn events(&mut self, events: &[StreamEvent]) {
        for e in &mut self.encoders {
            for ev in events {
                e.encode(ev, &mut self.out);
            }
        }
        self.out.clear();
    }

    /// Ends every stream, with `err` or cleanly.
    pub fn end(&mut self, err: Option<&GatewayError>) {
        for e in &mut self.encoders {
            match err {
                Some(err) => e.error(err, &mut self.out),
                None => e.finish(&mut self.out),
            }
            // Nothing may follow the end.
            let before = self.out.len();
            e.encode(
                &StreamEvent::TextDelta {
                    text: "late".to_owned(),
                },
                &mut self.out,
            );
            assert_eq!(self.out.len(), before, "an encoder wrote after the end");
        }
    }
}

/// Runs `frames` through `decoder` and the events through every client encoder.
pub fn drive_stream(decoder: &mut dyn StreamDecoder, frames: &[ax_providers::SseFrame]) {
    let mut enc = Encoders::new();
    for frame in frames {
        match decoder.decode(frame) {
            Ok(events) => enc.events(&events),
            Err(e) => {
                enc.end(Some(&e));
                return;
            }
        }
    }
    match decoder.finish() {
        Ok(events) => {
            enc.events(&events);
            enc.end(None);
        }
        Err(e) => enc.end(Some(&e)),
    }
}
