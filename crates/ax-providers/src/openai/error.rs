//! Errors in the OpenAI shape, `{"error": {"message", "type", "param", "code"}}`, in both
//! directions, with the mapping tables between OpenAI `type`/`code` and [`ErrorCode`].

use std::str::FromStr;

use ax_core::{ErrorCode, GatewayError};
use http::HeaderMap;
use serde_json::Value;

use super::wire::{OutError, OutErrorBody};
use crate::http::{parse_retry_after, status_to_code};
use crate::secrets::clean_upstream_text;

/// What an OpenAI client receives for each [`ErrorCode`]: `(code, error.type,
/// error.code)`. Where OpenAI has a canonical pair it is used (`invalid_api_key`,
/// `model_not_found`, `rate_limit_exceeded`, `insufficient_quota`,
/// `context_length_exceeded`); otherwise `error.code` is the gateway's own code, so a
/// client (or another ax in front) can tell them apart. For rate limits the `type` is
/// `tokens` when the message is about tokens, else `requests` (OpenAI's two kinds).
pub const ERROR_CODES_OUT: &[(ErrorCode, &str, &str)] = &[
    (
        ErrorCode::InvalidRequest,
        "invalid_request_error",
        "invalid_request",
    ),
    (
        ErrorCode::AuthenticationError,
        "authentication_error",
        "invalid_api_key",
    ),
    (
        ErrorCode::PermissionDenied,
        "permission_error",
        "permission_denied",
    ),
    (
        ErrorCode::NotFound,
        "invalid_request_error",
        "model_not_found",
    ),
    (
        ErrorCode::RateLimitExceeded,
        "requests",
        "rate_limit_exceeded",
    ),
    (
        ErrorCode::QuotaExceeded,
        "insufficient_quota",
        "insufficient_quota",
    ),
    (ErrorCode::ServerError, "server_error", "server_error"),
    (ErrorCode::Overloaded, "server_error", "overloaded"),
    (ErrorCode::Timeout, "server_error", "timeout"),
    (ErrorCode::NetworkError, "server_error", "network_error"),
    (
        ErrorCode::ContentFiltered,
        "invalid_request_error",
        "content_filter",
    ),
    (
        ErrorCode::ContextLengthExceeded,
        "invalid_request_error",
        "context_length_exceeded",
    ),
    (ErrorCode::CircuitOpen, "server_error", "circuit_open"),
    (
        ErrorCode::AllProvidersFailed,
        "server_error",
        "all_providers_failed",
    ),
    (ErrorCode::Cancelled, "server_error", "cancelled"),
];

/// Upstream `error.code` (or `error.type`) values that decide the code whatever the
/// HTTP status. Checked before the status; an `error.code` that is one of the gateway's
/// own codes (an ax upstream) is taken as is.
pub const ERROR_CODES_IN: &[(&str, ErrorCode)] = &[
    ("context_length_exceeded", ErrorCode::ContextLengthExceeded),
    ("string_above_max_length", ErrorCode::ContextLengthExceeded),
    ("insufficient_quota", ErrorCode::QuotaExceeded),
    ("billing_hard_limit_reached", ErrorCode::QuotaExceeded),
    ("rate_limit_exceeded", ErrorCode::RateLimitExceeded),
    ("invalid_api_key", ErrorCode::AuthenticationError),
    ("model_not_found", ErrorCode::NotFound),
    ("content_filter", ErrorCode::ContentFiltered),
    ("content_policy_violation", ErrorCode::ContentFiltered),
];

/// Upstream `error.type` → code, used when there is no HTTP status to go by (an error
/// frame inside a 200 stream) and the specific table did not match. Unknown types are
/// `server_error`.
pub const ERROR_TYPES_IN: &[(&str, ErrorCode)] = &[
    ("invalid_request_error", ErrorCode::InvalidRequest),
    ("authentication_error", ErrorCode::AuthenticationError),
    ("permission_error", ErrorCode::PermissionDenied),
    ("not_found_error", ErrorCode::NotFound),
    ("requests", ErrorCode::RateLimitExceeded),
    ("tokens", ErrorCode::RateLimitExceeded),
    ("rate_limit_error", ErrorCode::RateLimitExceeded),
    ("server_error", ErrorCode::ServerError),
    ("api_error", ErrorCode::ServerError),
    ("overloaded_error", ErrorCode::Overloaded),
    ("timeout_error", ErrorCode::Timeout),
];

/// The `(type, code)` pair an OpenAI client gets for `error`.
pub(crate) fn error_kind(error: &GatewayError) -> (&'static str, &'static str) {
    let client_code = error.client_code();
    let (kind, code) = ERROR_CODES_OUT
        .iter()
        .find(|(c, _, _)| *c == client_code)
        .map_or(("server_error", "server_error"), |(_, t, c)| (*t, *c));
    if client_code == ErrorCode::RateLimitExceeded
        && error.message.to_ascii_lowercase().contains("token")
    {
        return ("tokens", code);
    }
    (kind, code)
}

/// The error body for `error` (the HTTP status comes from `GatewayError::http_status`).
pub fn encode_error(error: &GatewayError) -> Vec<u8> {
    let (kind, code) = error_kind(error);
    let param = error
        .param
        .as_deref()
        .or((error.code == ErrorCode::ContextLengthExceeded).then_some("messages"));
    let body = OutErrorBody {
        error: OutError {
            message: &error.message,
            kind,
            param,
            code: Some(code),
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Decodes an upstream error response. The code comes from `error.code`/`error.type`
/// when they are specific ([`ERROR_CODES_IN`]), else from the HTTP status; a 400 whose
/// message says the context window is exceeded is `context_length_exceeded` (vLLM and
/// llama.cpp send no code). `retry_after` comes from `retry-after-ms`/`retry-after`.
/// The message is the upstream's, with anything that looks like an API key masked.
pub fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed = parse_error_body(body);
    let code = classify(Some(status), &parsed);
    let message = if parsed.message.is_empty() {
        format!("upstream answered HTTP {status}")
    } else {
        parsed.message.clone()
    };
    let mut err = GatewayError::new(code, message)
        .with_status(status)
        .with_retry_after(parse_retry_after(headers));
    err.param = parsed.param;
    err
}

/// Decodes an `{"error": {...}}` object that arrived inside a stream (no status).
pub(crate) fn decode_stream_error(error: &Value) -> GatewayError {
    let parsed = fields_of(error);
    let code = classify(None, &parsed);
    let message = if parsed.message.is_empty() {
        "upstream reported an error mid-stream".to_owned()
    } else {
        parsed.message.clone()
    };
    let mut err = GatewayError::new(code, message);
    err.param = parsed.param;
    err
}

#[derive(Debug, Default)]
struct Parsed {
    message: String,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
}

fn parse_error_body(body: &[u8]) -> Parsed {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            // `{"error": {...}}` (OpenAI), `{"error": "text"}`, `{"message": …}`,
            // `{"detail": …}` (FastAPI servers such as vLLM).
            let inner = v.get("error").unwrap_or(&v);
            let mut p = fields_of(inner);
            if p.message.is_empty() {
                for key in ["message", "detail"] {
                    if let Some(m) = v.get(key).filter(|m| !m.is_null()) {
                        p.message = match m {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        break;
                    }
                }
            }
            p.message = clean_upstream_text(&p.message);
            p
        }
        Err(_) => Parsed {
            message: clean_upstream_text(String::from_utf8_lossy(body).trim()),
            ..Default::default()
        },
    }
}

fn fields_of(v: &Value) -> Parsed {
    let s = |key: &str| match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        // Some servers send numeric codes.
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Parsed {
        message: match v {
            Value::String(s) => clean_upstream_text(s),
            _ => clean_upstream_text(&s("message").unwrap_or_default()),
        },
        kind: s("type"),
        code: s("code"),
        param: s("param"),
    }
}

fn classify(status: Option<u16>, p: &Parsed) -> ErrorCode {
    let specific = |name: &str| {
        ERROR_CODES_IN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    };
    if let Some(code) = p.code.as_deref() {
        if let Some(c) = specific(code) {
            return c;
        }
        if let Ok(c) = ErrorCode::from_str(code) {
            return c;
        }
    }
    if let Some(c) = p.kind.as_deref().and_then(specific) {
        return c;
    }
    let lower = p.message.to_ascii_lowercase();
    if lower.contains("maximum context length") || lower.contains("context length exceeded") {
        return ErrorCode::ContextLengthExceeded;
    }
    match status {
        Some(s) if s >= 400 => status_to_code(s),
        _ => p
            .kind
            .as_deref()
            .and_then(|k| ERROR_TYPES_IN.iter().find(|(n, _)| *n == k))
            .map_or(ErrorCode::ServerError, |(_, c)| *c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn body(kind: &str, code: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"error": {"message": "m", "type": kind, "param": null, "code": code}}),
        )
        .unwrap()
    }

    #[test]
    fn every_outgoing_row() {
        assert_eq!(ERROR_CODES_OUT.len(), ErrorCode::ALL.len());
        for (code, kind, wire_code) in ERROR_CODES_OUT {
            let e = GatewayError::new(*code, "boom");
            let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap();
            assert_eq!(v["error"]["type"], *kind, "{code}");
            assert_eq!(v["error"]["code"], *wire_code, "{code}");
            assert_eq!(v["error"]["message"], "boom");
            // What we send, we read back as the same code (ax behind ax).
            let back = decode_error(code.http_status(), &HeaderMap::new(), &encode_error(&e));
            assert_eq!(back.code, *code, "{code} round trip");
        }
    }

    #[test]
    fn rate_limit_type_follows_the_message() {
        let e = GatewayError::new(ErrorCode::RateLimitExceeded, "tokens per minute exceeded");
        assert_eq!(error_kind(&e), ("tokens", "rate_limit_exceeded"));
        let e = GatewayError::new(ErrorCode::RateLimitExceeded, "too many requests");
        assert_eq!(error_kind(&e), ("requests", "rate_limit_exceeded"));
    }

    #[test]
    fn every_specific_incoming_row() {
        for (name, code) in ERROR_CODES_IN {
            // As `error.code`, under a status that would say something else.
            let e = decode_error(
                400,
                &HeaderMap::new(),
                &body("invalid_request_error", Some(name)),
            );
            assert_eq!(e.code, *code, "code {name}");
            // As `error.type`.
            let e = decode_error(500, &HeaderMap::new(), &body(name, None));
            assert_eq!(e.code, *code, "type {name}");
        }
    }

    #[test]
    fn every_type_row_without_status() {
        for (name, code) in ERROR_TYPES_IN {
            let e = decode_stream_error(&json!({"message": "x", "type": name}));
            assert_eq!(e.code, *code, "{name}");
        }
        assert_eq!(
            decode_stream_error(&json!({"message": "x", "type": "mystery"})).code,
            ErrorCode::ServerError
        );
    }

    #[test]
    fn generic_type_defers_to_status() {
        // OpenAI's bad-key answer: 401 with type invalid_request_error, code invalid_api_key;
        // without the code the status still decides.
        let e = decode_error(401, &HeaderMap::new(), &body("invalid_request_error", None));
        assert_eq!(e.code, ErrorCode::AuthenticationError);
        let e = decode_error(503, &HeaderMap::new(), &body("server_error", None));
        assert_eq!(e.code, ErrorCode::Overloaded);
    }

    #[test]
    fn retry_after_param_and_message() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let raw = br#"{"error":{"message":"slow down","type":"requests","param":"model","code":"rate_limit_exceeded"}}"#;
        let e = decode_error(429, &h, raw);
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
        assert_eq!(e.param.as_deref(), Some("model"));
        assert_eq!(e.message, "slow down");
        assert_eq!(e.upstream_status, Some(429));
    }

    #[test]
    fn non_openai_bodies() {
        let e = decode_error(
            400,
            &HeaderMap::new(),
            br#"{"detail":"This model's maximum context length is 4096 tokens"}"#,
        );
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        let e = decode_error(502, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert_eq!(e.code, ErrorCode::ServerError);
        assert_eq!(e.message, "<html>bad gateway</html>");
        let e = decode_error(500, &HeaderMap::new(), b"");
        assert_eq!(e.message, "upstream answered HTTP 500");
        let e = decode_error(
            404,
            &HeaderMap::new(),
            br#"{"error":"model 'x' not found"}"#,
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::NotFound, "model 'x' not found")
        );
    }

    #[test]
    fn keys_are_masked_and_messages_bounded() {
        let raw = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abc123XYZ. You can find your key at x.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = decode_error(401, &HeaderMap::new(), raw);
        assert!(!e.message.contains("abc123"), "{}", e.message);
        assert!(e.message.contains("sk-***"));
    }
}
