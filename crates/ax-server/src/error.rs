//! The one error type at the HTTP edge. It renders a `GatewayError` in the client's own
//! format (OpenAI, Anthropic or Gemini shape) with the right status and headers, so an
//! official SDK raises the error class its users expect.

use ax_core::{GatewayError, RequestId, WireFormat};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::gateway::Served;

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
        Served::error(self.format, error, self.request_id.as_ref()).into_response()
    }
}

pub(crate) use crate::gateway::insert_retry_after;
