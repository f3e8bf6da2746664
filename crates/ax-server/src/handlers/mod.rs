//! HTTP handlers, one module per surface.

pub mod admin;
pub mod admin_error;
pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod ops;
pub mod tenants;

use axum::body::Body;
use axum::response::{IntoResponse, Response};

use crate::gateway::{Call, Op, Payload, Served};
use crate::state::AppState;

/// Hands one client call to the pipeline: reads the body under the gateway's limit and
/// renders what it serves.
pub(crate) async fn serve(
    state: &AppState,
    format: ax_core::WireFormat,
    op: Op,
    identity: Option<std::sync::Arc<crate::auth::Identity>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let gateway = state.gateway();
    let call = Call {
        format,
        op,
        headers,
        identity,
        body: read_body(body, gateway.max_body_bytes()).await,
    };
    gateway.serve(call).await.into_response()
}

impl IntoResponse for Served {
    fn into_response(self) -> Response {
        let body = match self.body {
            Payload::Full(bytes) => Body::from(bytes),
            Payload::Stream(stream) => Body::from_stream(stream),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }
}

/// Reads a client's whole body, refusing more than `limit` bytes with 413: the
/// pipeline answers and logs the refusal in the client's format.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ax_core::GatewayError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // Typed, not by matching the message: the limit error is the source.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ax_core::GatewayError::invalid(format!("request body is larger than {limit} bytes"))
                .with_http_status(413)
        } else {
            ax_core::GatewayError::invalid(format!("could not read the request body: {e}"))
        }
    })
}
