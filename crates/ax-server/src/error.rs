//! The one error type at the HTTP edge. It renders a `GatewayError` in the client's own
//! format (OpenAI, Anthropic or Gemini shape) with the right status and headers, so an
//! official SDK raises the error class its users expect.

use std::time::Duration;

use ax_core::{GatewayError, RequestId, WireFormat};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to a client, in `format`.
#[derive(Debug)]
pub struct ApiError {
    /// The client's wire format.
    pub format: WireFormat,
    /// What went wrong.
    pub error: GatewayError,
    /// The request ID, echoed in `x-ax-request-id`.
    pub request_id: Option<RequestId>,
    /// A status other than the code's usual one (413 for an oversized body).
    pub status: Option<StatusCode>,
}

impl ApiError {
    /// An error for a client speaking `format`.
    pub fn new(format: WireFormat, error: GatewayError) -> Self {
        Self {
            format,
            error,
            request_id: None,
            status: None,
        }
    }

    /// Overrides the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Attaches the request ID.
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.request_id = Some(id);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.error;
        // The body names the status actually sent (Gemini's `error.code`).
        if let Some(s) = self.status {
            error.http_status = Some(s.as_u16());
        }
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = ax_providers::client_codec(self.format).encode_error(&error);
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(after) = error.retry_after {
            insert_retry_after(h, after);
        }
        // Tell the official SDKs whether retrying can help, so they do not hammer us
        // with retries of a request that will fail the same way.
        let retry = if error.is_retryable() {
            "true"
        } else {
            "false"
        };
        h.insert("x-should-retry", HeaderValue::from_static(retry));
        if let Some(v) = self
            .request_id
            .as_ref()
            .and_then(|id| HeaderValue::from_str(id.as_str()).ok())
        {
            h.insert(crate::request_meta::names::REQUEST_ID, v);
        }
        resp
    }
}

/// Sets `Retry-After` (whole seconds, rounded up, so a client never retries too early)
/// and `retry-after-ms` (the exact wait, which the official SDKs prefer).
pub(crate) fn insert_retry_after(h: &mut HeaderMap, after: Duration) {
    let secs = after.as_millis().div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        h.insert(header::RETRY_AFTER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&after.as_millis().to_string()) {
        h.insert("retry-after-ms", v);
    }
}
