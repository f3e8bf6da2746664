//! What a call's answer is made of, without an HTTP framework: a status, headers and a
//! [`Payload`] (whole bytes, or a stream of them). Errors are rendered here, in the
//! client's own format, with the headers the official SDKs read.

use std::pin::Pin;
use std::time::Duration;

use ax_core::{GatewayError, RequestId, WireFormat};
use bytes::Bytes;
use futures::Stream;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::request_meta::names;

/// A streamed body: chunks as they are produced; an `Err` cuts the answer short.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// An answer's body.
pub enum Payload {
    /// Known whole.
    Full(Bytes),
    /// Produced as it goes (SSE, Gemini's JSON array, a body held for a commit).
    Stream(ByteStream),
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(b) => write!(f, "Payload::Full({} bytes)", b.len()),
            Self::Stream(_) => f.write_str("Payload::Stream"),
        }
    }
}

/// The answer to a call.
#[derive(Debug)]
pub struct Served {
    /// The HTTP status.
    pub status: StatusCode,
    /// Headers: content type, `x-ax-*`, `retry-after`…
    pub headers: HeaderMap,
    /// The body.
    pub body: Payload,
}

impl Served {
    /// A JSON answer (200).
    pub(super) fn json(bytes: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Self {
            status: StatusCode::OK,
            headers,
            body: Payload::Full(bytes.into()),
        }
    }

    /// `error` in `format`'s shape, with its status (`GatewayError::http_status`),
    /// `Retry-After`, `x-should-retry` and, when known, `x-ax-request-id`.
    pub fn error(format: WireFormat, error: GatewayError, request_id: Option<&RequestId>) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = ax_providers::client_codec(format).encode_error(&error);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(after) = error.retry_after {
            insert_retry_after(&mut headers, after);
        }
        // Tell the official SDKs whether retrying can help, so they do not hammer us
        // with retries of a request that will fail the same way.
        let retry = if error.is_retryable() {
            "true"
        } else {
            "false"
        };
        headers.insert("x-should-retry", HeaderValue::from_static(retry));
        if let Some(v) = request_id.and_then(|id| HeaderValue::from_str(id.as_str()).ok()) {
            headers.insert(names::REQUEST_ID, v);
        }
        Self {
            status,
            headers,
            body: Payload::Full(Bytes::from(body)),
        }
    }
}

/// Sets `Retry-After` (whole seconds, rounded up, so a client never retries too early)
/// and `retry-after-ms` (the exact wait, which the official SDKs prefer).
pub fn insert_retry_after(h: &mut HeaderMap, after: Duration) {
    let secs = after.as_millis().div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        h.insert(header::RETRY_AFTER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&after.as_millis().to_string()) {
        h.insert("retry-after-ms", v);
    }
}
