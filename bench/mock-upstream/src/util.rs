//! Shared helpers: answer text, token counts, error bodies, responses, embeddings.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::MockConfig;

/// The wire format of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::OpenAi => "openai",
            Format::Anthropic => "anthropic",
            Format::Gemini => "gemini",
        }
    }
}

/// Arguments of every forced mock tool call (the trigger brings its own).
pub(crate) const TOOL_ARGS: &str = r#"{"location":"Paris"}"#;

/// `Hello from mock-<format>: <first 40 chars of the last user text>`.
pub(crate) fn answer_text(format: Format, last_user_text: Option<&str>) -> String {
    let prefix = "Hello from mock-";
    let name = format.name();
    let user = last_user_text.unwrap_or("");
    let end = user.char_indices().nth(40).map_or(user.len(), |(i, _)| i);
    let mut s = String::with_capacity(prefix.len() + name.len() + 2 + end);
    s.push_str(prefix);
    s.push_str(name);
    s.push_str(": ");
    s.push_str(&user[..end]);
    s
}

/// Deterministic token count for `bytes` of text (about four bytes a token, at least 1).
pub(crate) fn tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4).max(1)
}

/// Piece `i` of `n` of `s`, split on char boundaries (pieces may be empty when `s` has
/// fewer than `n` chars).
pub(crate) fn piece(s: &str, i: usize, n: usize) -> &str {
    let n = n.max(1);
    let chars = s.chars().count();
    let at = |k: usize| {
        let c = k * chars / n;
        s.char_indices().nth(c).map_or(s.len(), |(b, _)| b)
    };
    &s[at(i)..at(i + 1)]
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `h`.
pub(crate) fn fnv_step(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a of `bytes`.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    fnv_step(FNV_OFFSET, bytes)
}

/// A deterministic unit vector, generated while serializing (no buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vector {
    pub seed: u64,
    pub dims: usize,
}

impl Vector {
    fn raw(self) -> impl Iterator<Item = f32> {
        let mut x = self.seed | 1;
        (0..self.dims).map(move |_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            (r as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
    }

    /// The components, normalised to length 1.
    pub(crate) fn values(self) -> impl Iterator<Item = f32> {
        let norm = self.raw().map(|v| v * v).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        self.raw().map(move |v| v * scale)
    }

    /// Base64 of the little-endian `f32` components (OpenAI `encoding_format: base64`).
    pub(crate) fn base64(self) -> String {
        use base64::Engine as _;
        let mut bytes = Vec::with_capacity(self.dims * 4);
        for v in self.values() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.dims))?;
        for v in self.values() {
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

/// Serializes `v` to a JSON byte vector (cannot fail for the mock's own types).
pub(crate) fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_json(&mut out, v);
    out
}

/// Appends `v` as JSON to `out`.
pub(crate) fn write_json<T: Serialize>(out: &mut Vec<u8>, v: &T) {
    // Writing to a Vec cannot fail and the mock's types always serialize.
    let _ = serde_json::to_writer(out, v);
}

/// A response with `body` and a content type.
pub(crate) fn response(status: u16, content_type: &'static str, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A 200 JSON response.
pub(crate) fn json_ok(body: Vec<u8>) -> Response {
    response(200, "application/json", Body::from(body))
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    error: OpenAiErrorBody<'a>,
}

#[derive(Serialize)]
struct OpenAiErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorBody<'a>,
    request_id: &'a str,
}

/// `{"type": <error type>, "message": ...}`.
#[derive(Serialize)]
pub(crate) struct AnthropicErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

#[derive(Serialize)]
struct GeminiError<'a> {
    error: GeminiErrorBody<'a>,
}

#[derive(Serialize)]
struct GeminiErrorBody<'a> {
    code: u16,
    message: &'a str,
    status: &'a str,
}

/// `(type, code, default message)` of an OpenAI error for `status`.
fn openai_kind(status: u16) -> (&'static str, Option<&'static str>, &'static str) {
    match status {
        400 => ("invalid_request_error", None, "Invalid request."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Country, region, or territory not supported.",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests (mock).",
        ),
        503 => (
            "server_error",
            None,
            "The engine is currently overloaded, please try again later.",
        ),
        s if s >= 500 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => ("invalid_request_error", None, "Request failed (mock)."),
    }
}

/// `(type, default message)` of an Anthropic error for `status`.
fn anthropic_kind(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("invalid_request_error", "Invalid request."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Your API key does not have permission."),
        404 => ("not_found_error", "Not found."),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed size.",
        ),
        429 => (
            "rate_limit_error",
            "Number of requests has exceeded your rate limit (mock).",
        ),
        504 => ("timeout_error", "Request timed out."),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Request failed (mock)."),
    }
}

/// `(status name, default message)` of a Gemini (google.rpc) error for `status`.
fn gemini_kind(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
        403 => ("PERMISSION_DENIED", "The caller does not have permission."),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        409 => ("ABORTED", "The operation was aborted."),
        429 => (
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        ),
        499 => ("CANCELLED", "The operation was cancelled."),
        501 => ("UNIMPLEMENTED", "Not implemented."),
        503 => (
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        504 => ("DEADLINE_EXCEEDED", "Deadline exceeded."),
        s if s >= 500 => ("INTERNAL", "An internal error has occurred."),
        _ => ("FAILED_PRECONDITION", "Request failed (mock)."),
    }
}

/// The provider's error body for `status` (`message` replaces the default text).
pub(crate) fn error_body(format: Format, status: u16, message: Option<&str>) -> Vec<u8> {
    match format {
        Format::OpenAi => {
            let (kind, code, default) = openai_kind(status);
            to_json(&OpenAiError {
                error: OpenAiErrorBody {
                    message: message.unwrap_or(default),
                    kind,
                    param: None,
                    code,
                },
            })
        }
        Format::Anthropic => {
            let (kind, default) = anthropic_kind(status);
            to_json(&AnthropicError {
                kind: "error",
                error: AnthropicErrorBody {
                    kind,
                    message: message.unwrap_or(default),
                },
                request_id: "req_mock",
            })
        }
        Format::Gemini => {
            let (name, default) = gemini_kind(status);
            to_json(&GeminiError {
                error: GeminiErrorBody {
                    code: status,
                    message: message.unwrap_or(default),
                    status: name,
                },
            })
        }
    }
}

/// The provider's error response, with `Retry-After` when given.
pub(crate) fn error_response(
    format: Format,
    status: u16,
    retry_after_secs: Option<u64>,
    message: Option<&str>,
) -> Response {
    let mut r = response(
        status,
        "application/json",
        Body::from(error_body(format, status, message)),
    );
    if let Some(secs) = retry_after_secs {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if format == Format::Anthropic {
        r.headers_mut()
            .insert("request-id", HeaderValue::from_static("req_mock"));
    }
    r
}

/// A 400 in the provider's format.
pub(crate) fn bad_request(format: Format, message: &str) -> Response {
    error_response(format, 400, None, Some(message))
}

/// The forced error of `cfg`, if any; its message is `echo` when given.
pub(crate) fn forced_error(
    format: Format,
    cfg: &MockConfig,
    echo: Option<&str>,
) -> Option<Response> {
    cfg.forced_status()
        .map(|s| error_response(format, s, cfg.retry_after_secs, echo))
}

/// The credential headers of a request, kept (cheap reference-counted clones) until
/// it is known whether the answer echoes them.
pub(crate) struct Credentials([Option<HeaderValue>; 3]);

const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

impl Credentials {
    pub(crate) fn of(h: &HeaderMap) -> Self {
        Self(CREDENTIAL_HEADERS.map(|name| h.get(name).cloned()))
    }

    /// What an echoing server says: every credential the request carried, verbatim.
    pub(crate) fn echo(&self, query: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (name, v) in CREDENTIAL_HEADERS.iter().zip(&self.0) {
            if let Some(v) = v {
                parts.push(format!("{name}: {}", String::from_utf8_lossy(v.as_bytes())));
            }
        }
        for kv in query.unwrap_or_default().split('&') {
            if kv.starts_with("key=") {
                parts.push(kv.to_owned());
            }
        }
        if parts.is_empty() {
            parts.push("no credentials".to_owned());
        }
        format!(
            "Incorrect API key provided. The request carried {}.",
            parts.join("; ")
        )
    }
}

/// A 200 JSON body that does not parse.
pub(crate) fn malformed_json() -> Response {
    response(
        200,
        "application/json",
        Body::from(&br#"{"id":"mock-malformed","object":"#[..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_text() {
        let s = "Hello, wörld!";
        for n in 1..20 {
            let joined: String = (0..n).map(|i| piece(s, i, n)).collect();
            assert_eq!(joined, s);
        }
    }

    #[test]
    fn answer_truncates_on_chars() {
        let long = "é".repeat(50);
        let a = answer_text(Format::Gemini, Some(&long));
        assert_eq!(a, format!("Hello from mock-gemini: {}", "é".repeat(40)));
    }

    #[test]
    fn vectors_are_unit_and_deterministic() {
        let v = Vector { seed: 42, dims: 8 };
        let a: Vec<f32> = v.values().collect();
        let b: Vec<f32> = v.values().collect();
        assert_eq!(a, b);
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
    }
}
