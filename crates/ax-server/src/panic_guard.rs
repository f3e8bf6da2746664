//! A handler that panics gets a 500 in its client's own error format (an Anthropic SDK
//! raises `InternalServerError`, not a JSON parse error), and the server keeps serving.
//! Run by `connections.rs` around every request's trip through the router.
//!
//! tower-http's `CatchPanicLayer` was the alternative rejected: its handler sees only
//! the panic payload, not the request, so every client got OpenAI's shape (and as a
//! router layer it cost an allocation per request).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use ax_core::{ErrorCode, GatewayError, WireFormat};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;

use crate::error::ApiError;

/// Runs `serve` (the request's trip through the router), turning a panic into a 500 in
/// `format`, the client's format; `uri` names the request in the error log.
pub(crate) async fn catch_panic(
    format: WireFormat,
    uri: Uri,
    serve: impl Future<Output = Response>,
) -> Response {
    match AssertUnwindSafe(serve).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!(path = %uri.path(), "a handler panicked; answered 500");
            ApiError::new(
                format,
                GatewayError::new(ErrorCode::ServerError, "internal error"),
            )
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    async fn boom() -> Response {
        panic!("boom")
    }

    async fn answer(format: WireFormat) -> (StatusCode, serde_json::Value) {
        let resp = catch_panic(format, Uri::from_static("/x"), boom()).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_clients_format() {
        let (status, body) = answer(WireFormat::Anthropic).await;
        assert_eq!(status, 500);
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], "api_error", "{body}");
        let (status, body) = answer(WireFormat::Gemini).await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], 500, "{body}");
        let (status, body) = answer(WireFormat::OpenAi).await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error", "{body}");
    }
}
