//! Errors in the Gemini shape — `google.rpc.Status` as JSON,
//! `{"error": {"code", "message", "status", "details"}}` — in both directions, with the
//! tables between Gemini `status` values and [`ErrorCode`].

use std::str::FromStr;
use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use http::HeaderMap;
use serde_json::{Value, json};

use super::wire::{OutError, OutErrorBody};
use crate::http::{parse_retry_after, status_to_code};
use crate::secrets::clean_upstream_text;

/// What a Gemini client receives for each [`ErrorCode`]: the canonical `status` string.
/// `code` in the body is always `ErrorCode::http_status` (the HTTP status the server
/// sends), so a code without a Google twin takes the nearest status: `server_error`,
/// `network_error` → `INTERNAL`/`UNAVAILABLE` at 502, `all_providers_failed` →
/// `UNAVAILABLE` at 502 (try again later, the SDKs retry it), `circuit_open` →
/// `UNAVAILABLE` at 503, `content_filtered` and `context_length_exceeded` →
/// `INVALID_ARGUMENT`, `quota_exceeded` → `RESOURCE_EXHAUSTED`. The gateway's own code
/// also travels as a `google.rpc.ErrorInfo` detail (`domain` [`AX_ERROR_DOMAIN`],
/// `reason` the code in upper case), so an ax in front reads it back exactly; a
/// `retry_after` travels as a `google.rpc.RetryInfo` detail.
pub const ERROR_CODES_OUT: &[(ErrorCode, &str)] = &[
    (ErrorCode::InvalidRequest, "INVALID_ARGUMENT"),
    (ErrorCode::AuthenticationError, "UNAUTHENTICATED"),
    (ErrorCode::PermissionDenied, "PERMISSION_DENIED"),
    (ErrorCode::NotFound, "NOT_FOUND"),
    (ErrorCode::RateLimitExceeded, "RESOURCE_EXHAUSTED"),
    (ErrorCode::QuotaExceeded, "RESOURCE_EXHAUSTED"),
    (ErrorCode::ServerError, "INTERNAL"),
    (ErrorCode::Overloaded, "UNAVAILABLE"),
    (ErrorCode::Timeout, "DEADLINE_EXCEEDED"),
    (ErrorCode::NetworkError, "UNAVAILABLE"),
    (ErrorCode::ContentFiltered, "INVALID_ARGUMENT"),
    (ErrorCode::ContextLengthExceeded, "INVALID_ARGUMENT"),
    (ErrorCode::CircuitOpen, "UNAVAILABLE"),
    (ErrorCode::AllProvidersFailed, "UNAVAILABLE"),
    (ErrorCode::Cancelled, "CANCELLED"),
];

/// Upstream `error.status` → code (python-genai `errors.py` reads `error.code`,
/// `error.message`, `error.status`). Refinements, checked first: an ax `ErrorInfo`
/// detail; `ErrorInfo.reason` `API_KEY_INVALID` (Gemini answers a bad key with 400
/// `INVALID_ARGUMENT`) → `authentication_error`; `RESOURCE_EXHAUSTED` whose
/// `QuotaFailure` violations are all per-day quotas → `quota_exceeded` (retrying within
/// minutes cannot help); a message saying the input token count exceeds the maximum →
/// `context_length_exceeded`. An unknown or missing status falls back to the HTTP
/// status table ([`status_to_code`]).
pub const ERROR_STATUSES_IN: &[(&str, ErrorCode)] = &[
    ("INVALID_ARGUMENT", ErrorCode::InvalidRequest),
    ("FAILED_PRECONDITION", ErrorCode::InvalidRequest),
    ("OUT_OF_RANGE", ErrorCode::InvalidRequest),
    ("ALREADY_EXISTS", ErrorCode::InvalidRequest),
    ("UNIMPLEMENTED", ErrorCode::InvalidRequest),
    ("UNAUTHENTICATED", ErrorCode::AuthenticationError),
    ("PERMISSION_DENIED", ErrorCode::PermissionDenied),
    ("NOT_FOUND", ErrorCode::NotFound),
    ("RESOURCE_EXHAUSTED", ErrorCode::RateLimitExceeded),
    ("INTERNAL", ErrorCode::ServerError),
    ("UNKNOWN", ErrorCode::ServerError),
    ("DATA_LOSS", ErrorCode::ServerError),
    ("ABORTED", ErrorCode::ServerError),
    ("UNAVAILABLE", ErrorCode::Overloaded),
    ("DEADLINE_EXCEEDED", ErrorCode::Timeout),
    ("CANCELLED", ErrorCode::Cancelled),
];

/// The `ErrorInfo.domain` of errors written by ax.
pub const AX_ERROR_DOMAIN: &str = "ax.gateway";

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
const QUOTA_FAILURE: &str = "type.googleapis.com/google.rpc.QuotaFailure";

/// The Gemini `status` for a code (see [`ERROR_CODES_OUT`]).
pub(crate) fn status_of(code: ErrorCode) -> &'static str {
    ERROR_CODES_OUT
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("INTERNAL", |(_, s)| s)
}

/// `1.5s`-style duration (protobuf JSON `Duration`).
fn duration_json(d: Duration) -> String {
    let ms = d.subsec_millis();
    if ms == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{ms:03}s", d.as_secs())
    }
}

fn parse_duration_json(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0) as u64))
}

/// The error body for `error` (the HTTP status comes from `GatewayError::http_status`).
pub fn encode_error(error: &GatewayError) -> Vec<u8> {
    error_body(error)
}

pub(crate) fn error_body(error: &GatewayError) -> Vec<u8> {
    let mut details = vec![json!({
        "@type": ERROR_INFO,
        "reason": error.client_code().as_str().to_ascii_uppercase(),
        "domain": AX_ERROR_DOMAIN,
    })];
    if let Some(after) = error.retry_after {
        details.push(json!({"@type": RETRY_INFO, "retryDelay": duration_json(after)}));
    }
    let body = OutErrorBody {
        error: OutError {
            code: error.http_status(),
            message: &error.message,
            status: status_of(error.client_code()),
            details,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Decodes an upstream error response. See [`ERROR_STATUSES_IN`] for the code;
/// `retry_after` comes from `retry-after-ms`/`retry-after`, else from a `RetryInfo`
/// detail; the message is the upstream's, with anything shaped like a Google API key
/// masked, bounded in length.
pub fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed = match serde_json::from_slice::<Value>(body) {
        Ok(v) => match error_object(&v) {
            Some(e) => parse(e),
            None => Parsed {
                message: clean_upstream_text(&match v.get("message") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                }),
                ..Default::default()
            },
        },
        Err(_) => Parsed {
            message: clean_upstream_text(String::from_utf8_lossy(body).trim()),
            ..Default::default()
        },
    };
    let code = classify(Some(status), &parsed);
    let message = if parsed.message.is_empty() {
        format!("upstream answered HTTP {status}")
    } else {
        parsed.message.clone()
    };
    GatewayError::new(code, message)
        .with_status(status)
        .with_retry_after(parse_retry_after(headers).or(parsed.retry_delay))
}

/// Decodes an `error` object that arrived in a 200 body or mid-stream (no HTTP status;
/// `error.code` stands in for it).
pub(crate) fn decode_stream_error(error: &Value) -> GatewayError {
    let parsed = parse(error);
    let code = classify(None, &parsed);
    let message = if parsed.message.is_empty() {
        "upstream reported an error mid-stream".to_owned()
    } else {
        parsed.message.clone()
    };
    GatewayError::new(code, message).with_retry_after(parsed.retry_delay)
}

/// `{"error": …}`, `[{"error": …}]` (the JSON-array stream form) or a bare status.
fn error_object(v: &Value) -> Option<&Value> {
    let v = match v {
        Value::Array(items) => items.first()?,
        other => other,
    };
    match v.get("error") {
        Some(e) if !e.is_null() => Some(e),
        _ => v.get("status").is_some().then_some(v),
    }
}

#[derive(Debug, Default)]
struct Parsed {
    message: String,
    status: Option<String>,
    code: Option<u16>,
    reasons: Vec<String>,
    ax_reason: Option<String>,
    per_day_quota: bool,
    retry_delay: Option<Duration>,
}

fn parse(e: &Value) -> Parsed {
    let mut p = Parsed {
        message: clean_upstream_text(match e {
            Value::String(s) => s,
            _ => e.get("message").and_then(Value::as_str).unwrap_or_default(),
        }),
        status: e.get("status").and_then(Value::as_str).map(str::to_owned),
        code: e
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok()),
        ..Default::default()
    };
    let mut quota_violations = 0usize;
    let mut per_day = 0usize;
    for d in e
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match d.get("@type").and_then(Value::as_str) {
            Some(ERROR_INFO) => {
                let reason = d.get("reason").and_then(Value::as_str).unwrap_or_default();
                if d.get("domain").and_then(Value::as_str) == Some(AX_ERROR_DOMAIN) {
                    p.ax_reason = Some(reason.to_ascii_lowercase());
                }
                p.reasons.push(reason.to_owned());
            }
            Some(RETRY_INFO) => {
                p.retry_delay = d
                    .get("retryDelay")
                    .and_then(Value::as_str)
                    .and_then(parse_duration_json);
            }
            Some(QUOTA_FAILURE) => {
                for v in d
                    .get("violations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    quota_violations += 1;
                    if v.get("quotaId")
                        .and_then(Value::as_str)
                        .is_some_and(|q| q.contains("PerDay"))
                    {
                        per_day += 1;
                    }
                }
            }
            _ => {}
        }
    }
    p.per_day_quota = quota_violations > 0 && per_day == quota_violations;
    p
}

fn classify(http: Option<u16>, p: &Parsed) -> ErrorCode {
    if let Some(code) = p
        .ax_reason
        .as_deref()
        .and_then(|r| ErrorCode::from_str(r).ok())
    {
        return code;
    }
    if p.reasons.iter().any(|r| r == "API_KEY_INVALID") {
        return ErrorCode::AuthenticationError;
    }
    let lower = p.message.to_ascii_lowercase();
    if lower.contains("input token count") && lower.contains("exceeds the maximum") {
        return ErrorCode::ContextLengthExceeded;
    }
    if let Some(code) = p.status.as_deref().and_then(|s| {
        ERROR_STATUSES_IN
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, c)| *c)
    }) {
        if code == ErrorCode::RateLimitExceeded && p.per_day_quota {
            return ErrorCode::QuotaExceeded;
        }
        return code;
    }
    match http.or(p.code) {
        Some(s) if s >= 400 => status_to_code(s),
        _ => ErrorCode::ServerError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn body(status: &str, code: u16) -> Vec<u8> {
        serde_json::to_vec(&json!({"error": {"code": code, "message": "m", "status": status}}))
            .unwrap()
    }

    #[test]
    fn every_outgoing_row_round_trips() {
        assert_eq!(ERROR_CODES_OUT.len(), ErrorCode::ALL.len());
        for (code, status) in ERROR_CODES_OUT {
            let e = GatewayError::new(*code, "boom");
            let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap();
            assert_eq!(v["error"]["status"], *status, "{code}");
            assert_eq!(v["error"]["code"], code.http_status(), "{code}");
            assert_eq!(v["error"]["message"], "boom");
            let back = decode_error(code.http_status(), &HeaderMap::new(), &encode_error(&e));
            assert_eq!(back.code, *code, "{code} round trip");
        }
    }

    #[test]
    fn every_incoming_status_row() {
        for (status, code) in ERROR_STATUSES_IN {
            // The status string decides, whatever the HTTP status.
            let e = decode_error(500, &HeaderMap::new(), &body(status, 500));
            assert_eq!(e.code, *code, "{status}");
            // …mid-stream too.
            let e = decode_stream_error(&json!({"code": 500, "message": "x", "status": status}));
            assert_eq!(e.code, *code, "{status} (stream)");
        }
        // Unknown status: the HTTP status table.
        let e = decode_error(503, &HeaderMap::new(), &body("NEW_STATUS", 503));
        assert_eq!(e.code, ErrorCode::Overloaded);
        // Mid-stream without a status: `code` stands in.
        assert_eq!(
            decode_stream_error(&json!({"code": 429, "message": "x"})).code,
            ErrorCode::RateLimitExceeded
        );
        assert_eq!(
            decode_stream_error(&json!({"message": "x"})).code,
            ErrorCode::ServerError
        );
    }

    #[test]
    fn retry_after_from_header_or_retry_info() {
        let raw = br#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"59s"}]}}"#;
        let e = decode_error(429, &HeaderMap::new(), raw);
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
        assert_eq!(e.retry_after, Some(Duration::from_secs(59)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = decode_error(429, &h, raw);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(e.upstream_status, Some(429));
        // Written back for a client.
        let out: Value = serde_json::from_slice(&encode_error(
            &GatewayError::new(ErrorCode::RateLimitExceeded, "x")
                .with_retry_after(Some(Duration::from_millis(1500))),
        ))
        .unwrap();
        assert_eq!(out["error"]["details"][1]["retryDelay"], "1.500s");
    }

    #[test]
    fn refinements() {
        let daily = json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": QUOTA_FAILURE, "violations": [
                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}});
        let e = decode_error(429, &HeaderMap::new(), daily.to_string().as_bytes());
        assert_eq!(e.code, ErrorCode::QuotaExceeded);
        let minute = json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": QUOTA_FAILURE, "violations": [
                {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"},
                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}});
        let e = decode_error(429, &HeaderMap::new(), minute.to_string().as_bytes());
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
        let long = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}});
        let e = decode_error(400, &HeaderMap::new(), long.to_string().as_bytes());
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        let arr = br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#;
        let e = decode_error(503, &HeaderMap::new(), arr);
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::Overloaded, "The model is overloaded.")
        );
    }

    #[test]
    fn non_json_bodies_keys_and_length() {
        let e = decode_error(502, &HeaderMap::new(), b"<html>bad gateway</html>");
        assert_eq!(e.code, ErrorCode::ServerError);
        assert_eq!(e.message, "<html>bad gateway</html>");
        let e = decode_error(500, &HeaderMap::new(), b"");
        assert_eq!(e.message, "upstream answered HTTP 500");
        let raw = br#"{"error":{"code":400,"message":"API key AIzaSyA-secret_123 not valid","status":"INVALID_ARGUMENT"}}"#;
        let e = decode_error(400, &HeaderMap::new(), raw);
        assert!(!e.message.contains("secret"), "{}", e.message);
        assert!(e.message.contains("AIza***"));
    }
}
