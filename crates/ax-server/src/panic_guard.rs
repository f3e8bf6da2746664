//! The outermost layer: a handler that panics gets a 500 in its client's own error
//! format (an Anthropic SDK raises `InternalServerError`, not a JSON parse error), and
//! the server keeps serving.
//!
//! tower-http's `CatchPanicLayer` was the alternative rejected: its handler sees only
//! the panic payload, not the request, so every client got OpenAI's shape.

use std::panic::AssertUnwindSafe;

use ax_core::{ErrorCode, GatewayError};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;

use crate::error::ApiError;

/// Runs the rest of the stack, turning a panic into a 500 in the client's format.
pub(crate) async fn catch_panic(req: Request, next: Next) -> Response {
    let format = crate::auth::format_of(req.method(), req.uri().path());
    let path = req.uri().path().to_owned();
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!(%path, "a handler panicked; answered 500");
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
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    async fn answer(path: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new()
            .route("/{*any}", post(boom))
            .layer(axum::middleware::from_fn(catch_panic));
        let resp = app
            .oneshot(
                axum::http::Request::post(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_clients_format() {
        let (status, body) = answer("/v1/messages").await;
        assert_eq!(status, 500);
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], "api_error", "{body}");
        let (status, body) = answer("/v1beta/models/x:generateContent").await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], 500, "{body}");
        let (status, body) = answer("/v1/chat/completions").await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error", "{body}");
    }
}
