//! Errors in the Anthropic shape, `{"type": "error", "error": {"type", "message"}}`
//! (+ an optional `request_id`), in both directions, with the mapping tables between
//! Anthropic error types and [`ErrorCode`].
//!
//! Error types from anthropics/anthropic-sdk-python `types/shared/error_type.py`; the
//! HTTP statuses from the API's errors page (400 `invalid_request_error`, 401
//! `authentication_error`, 402 `billing_error`, 403 `permission_error`, 404
//! `not_found_error`, 409 `conflict_error`, 413 `request_too_large`, 429
//! `rate_limit_error`, 500 `api_error`, 504 `timeout_error`, 529 `overloaded_error`).

use ax_core::{ErrorCode, GatewayError};
use http::HeaderMap;
use serde_json::Value;

use super::wire::{OutError, OutErrorBody};
use crate::http::{parse_retry_after, status_to_code};
use crate::secrets::clean_upstream_text;

/// What an Anthropic client receives for each [`ErrorCode`] as `error.type`. Several
/// codes share a type (Anthropic has fewer); the HTTP status still tells them apart.
pub const ERROR_TYPES_OUT: &[(ErrorCode, &str)] = &[
    (ErrorCode::InvalidRequest, "invalid_request_error"),
    (ErrorCode::AuthenticationError, "authentication_error"),
    (ErrorCode::PermissionDenied, "permission_error"),
    (ErrorCode::NotFound, "not_found_error"),
    (ErrorCode::RateLimitExceeded, "rate_limit_error"),
    (ErrorCode::QuotaExceeded, "rate_limit_error"),
    (ErrorCode::ServerError, "api_error"),
    (ErrorCode::Overloaded, "overloaded_error"),
    (ErrorCode::Timeout, "timeout_error"),
    (ErrorCode::NetworkError, "api_error"),
    (ErrorCode::ContentFiltered, "invalid_request_error"),
    (ErrorCode::ContextLengthExceeded, "invalid_request_error"),
    (ErrorCode::CircuitOpen, "api_error"),
    (ErrorCode::AllProvidersFailed, "api_error"),
    (ErrorCode::Cancelled, "api_error"),
];

/// Upstream `error.type` → code. The type decides over the HTTP status (it is the more
/// specific of the two); an unknown or missing type falls back to the status, and with
/// no status (an error event inside a 200 stream) to `server_error`.
pub const ERROR_TYPES_IN: &[(&str, ErrorCode)] = &[
    ("invalid_request_error", ErrorCode::InvalidRequest),
    ("authentication_error", ErrorCode::AuthenticationError),
    ("permission_error", ErrorCode::PermissionDenied),
    ("not_found_error", ErrorCode::NotFound),
    ("rate_limit_error", ErrorCode::RateLimitExceeded),
    ("timeout_error", ErrorCode::Timeout),
    ("overloaded_error", ErrorCode::Overloaded),
    ("api_error", ErrorCode::ServerError),
    ("billing_error", ErrorCode::QuotaExceeded),
    ("request_too_large", ErrorCode::InvalidRequest),
    // 409: a conflicting concurrent operation; the SDK retries it.
    ("conflict_error", ErrorCode::ServerError),
];

/// Message fragments (lower case) that refine an `invalid_request_error`: Anthropic
/// reports an oversized prompt and an empty credit balance as plain invalid requests.
pub const MESSAGE_REFINEMENTS: &[(&str, ErrorCode)] = &[
    ("prompt is too long", ErrorCode::ContextLengthExceeded),
    ("input is too long", ErrorCode::ContextLengthExceeded),
    (
        "exceeds the context window",
        ErrorCode::ContextLengthExceeded,
    ),
    ("credit balance is too low", ErrorCode::QuotaExceeded),
];

/// The Anthropic `error.type` for `code` (see [`ERROR_TYPES_OUT`]).
pub(crate) fn error_type(code: ErrorCode) -> &'static str {
    ERROR_TYPES_OUT
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("api_error", |(_, t)| t)
}

/// The error body for `error` (the HTTP status comes from `GatewayError::http_status`).
pub fn encode_error(error: &GatewayError) -> Vec<u8> {
    let body = OutErrorBody {
        kind: "error",
        error: OutError {
            kind: error_type(error.client_code()),
            message: &error.message,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Decodes an upstream error response: the code from `error.type` ([`ERROR_TYPES_IN`],
/// refined by [`MESSAGE_REFINEMENTS`]) or else the HTTP status (529 is `overloaded`);
/// `retry_after` from `retry-after-ms`/`retry-after`; the message from the body, with
/// anything that looks like an API key masked.
pub fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed = parse_error_body(body);
    let code = classify(Some(status), &parsed);
    let message = if parsed.message.is_empty() {
        format!("upstream answered HTTP {status}")
    } else {
        parsed.message
    };
    GatewayError::new(code, message)
        .with_status(status)
        .with_retry_after(parse_retry_after(headers))
}

/// Decodes the `error` object of an `error` event inside a stream (no status).
pub(crate) fn decode_stream_error(error: &Value) -> GatewayError {
    let parsed = fields_of(error);
    let code = classify(None, &parsed);
    let message = if parsed.message.is_empty() {
        "upstream reported an error mid-stream".to_owned()
    } else {
        parsed.message
    };
    GatewayError::new(code, message)
}

#[derive(Debug, Default)]
struct Parsed {
    message: String,
    kind: Option<String>,
}

fn parse_error_body(body: &[u8]) -> Parsed {
    match serde_json::from_slice::<Value>(body) {
        // `{"type": "error", "error": {...}}`; tolerate a bare `{"type", "message"}` and
        // `{"error": "text"}` from proxies in between.
        Ok(v) => fields_of(v.get("error").unwrap_or(&v)),
        Err(_) => Parsed {
            message: clean_upstream_text(String::from_utf8_lossy(body).trim()),
            kind: None,
        },
    }
}

fn fields_of(v: &Value) -> Parsed {
    match v {
        Value::String(s) => Parsed {
            message: clean_upstream_text(s),
            kind: None,
        },
        _ => {
            let s = |key: &str| match v.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            Parsed {
                message: clean_upstream_text(&s("message").unwrap_or_default()),
                kind: s("type"),
            }
        }
    }
}

fn classify(status: Option<u16>, p: &Parsed) -> ErrorCode {
    let by_type = p
        .kind
        .as_deref()
        .and_then(|k| ERROR_TYPES_IN.iter().find(|(n, _)| *n == k))
        .map(|(_, c)| *c);
    let code = match (by_type, status) {
        (Some(c), _) => c,
        (None, Some(s)) if s >= 400 => status_to_code(s),
        (None, _) => ErrorCode::ServerError,
    };
    if code == ErrorCode::InvalidRequest {
        let lower = p.message.to_ascii_lowercase();
        if let Some((_, refined)) = MESSAGE_REFINEMENTS
            .iter()
            .find(|(needle, _)| lower.contains(needle))
        {
            return *refined;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn body(kind: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": "error", "error": {"type": kind, "message": message}}))
            .unwrap()
    }

    #[test]
    fn every_outgoing_row() {
        assert_eq!(ERROR_TYPES_OUT.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(ERROR_TYPES_OUT.iter().any(|(c, _)| *c == code), "{code}");
        }
        for (code, kind) in ERROR_TYPES_OUT {
            let e = GatewayError::new(*code, "boom");
            let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap();
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], *kind, "{code}");
            assert_eq!(v["error"]["message"], "boom");
            // Every type we send is one we read.
            assert!(ERROR_TYPES_IN.iter().any(|(n, _)| n == kind), "{kind}");
        }
    }

    #[test]
    fn every_incoming_row_with_and_without_status() {
        for (kind, code) in ERROR_TYPES_IN {
            // Under a status that would say something else, the type wins.
            let e = decode_error(418, &HeaderMap::new(), &body(kind, "x"));
            assert_eq!(e.code, *code, "{kind} with status");
            let e = decode_stream_error(&json!({"type": kind, "message": "x"}));
            assert_eq!(e.code, *code, "{kind} in a stream");
        }
        assert_eq!(
            decode_stream_error(&json!({"type": "mystery", "message": "x"})).code,
            ErrorCode::ServerError
        );
    }

    #[test]
    fn every_message_refinement_row() {
        for (needle, code) in MESSAGE_REFINEMENTS {
            let msg = format!("Oops: {}!", needle.to_uppercase());
            let e = decode_error(400, &HeaderMap::new(), &body("invalid_request_error", &msg));
            assert_eq!(e.code, *code, "{needle}");
        }
        // Refinements apply to invalid requests only.
        let e = decode_error(
            500,
            &HeaderMap::new(),
            &body("api_error", "prompt is too long"),
        );
        assert_eq!(e.code, ErrorCode::ServerError);
        let e = decode_error(
            400,
            &HeaderMap::new(),
            &body(
                "invalid_request_error",
                "prompt is too long: 207000 tokens > 200000 maximum",
            ),
        );
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        assert!(!e.is_retryable());
    }

    #[test]
    fn status_decides_without_a_type() {
        let rows = [
            (400, ErrorCode::InvalidRequest),
            (401, ErrorCode::AuthenticationError),
            (403, ErrorCode::PermissionDenied),
            (404, ErrorCode::NotFound),
            (413, ErrorCode::InvalidRequest),
            (429, ErrorCode::RateLimitExceeded),
            (500, ErrorCode::ServerError),
            (529, ErrorCode::Overloaded),
        ];
        for (status, code) in rows {
            let e = decode_error(status, &HeaderMap::new(), b"<html>error</html>");
            assert_eq!(e.code, code, "{status}");
            assert_eq!(e.upstream_status, Some(status));
        }
        let e = decode_error(502, &HeaderMap::new(), b"");
        assert_eq!(e.message, "upstream answered HTTP 502");
    }

    #[test]
    fn retry_after_and_message() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("12"));
        let e = decode_error(
            429,
            &h,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}"#,
        );
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(12)));
        assert!(e.message.starts_with("Number of request tokens"));
        assert!(e.is_retryable());
        let e = decode_error(
            529,
            &HeaderMap::new(),
            &body("overloaded_error", "Overloaded"),
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::Overloaded, "Overloaded")
        );
    }

    #[test]
    fn keys_are_masked_and_messages_bounded() {
        let e = decode_error(
            401,
            &HeaderMap::new(),
            &body(
                "authentication_error",
                "invalid x-api-key sk-ant-api03-abcDEF123_x",
            ),
        );
        assert_eq!(e.message, "invalid x-api-key sk-***");
        let e = decode_error(400, &HeaderMap::new(), br#"{"error": "plain text"}"#);
        assert_eq!(e.message, "plain text");
    }
}
