//! The one error type of the admin API (`/admin/...`, `admin.rs` and `tenants.rs`):
//! `{"error": {"code", "message"}}` with its status. Admin callers are operators and the
//! `ax` CLI, not SDKs, so there is one shape, not the client formats of `ApiError`.
//!
//! Codes are the gateway's own (`invalid_request`, `authentication_error`, `not_found`,
//! …) plus four only the admin API answers: `conflict` (409, slug taken),
//! `invalid_transition` (409, a status change the tenant lifecycle refuses),
//! `store_unavailable` (503, a transient store failure) and `master_key` (400, no usable
//! `AX_MASTER_KEY` to seal a provider key with).

use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use ax_store::StoreError;
use ax_store::tenancy::TenancyError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An admin API error: the status, a snake_case code and a message for the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// How long to wait before trying again, sent as `Retry-After`.
    retry_after: Option<Duration>,
}

/// What an admin handler returns.
pub type AdminResult = Result<Response, AdminError>;

impl AdminError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest.as_str(),
            message,
        )
    }

    /// 401 `authentication_error`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthenticationError.as_str(),
            message,
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str(), message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The snake_case code in the body.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<GatewayError> for AdminError {
    /// The error's own status and code (a route plan that cannot be made: 404
    /// `not_found`, 400 `invalid_request`, …), and its `retry_after`.
    fn from(e: GatewayError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::NOT_FOUND);
        Self {
            status,
            code: e.client_code().as_str(),
            message: e.message,
            retry_after: e.retry_after,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => Self::invalid(m),
            e if e.is_transient() => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            ),
            e => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError.as_str(),
                e.to_string(),
            ),
        }
    }
}

impl From<TenancyError> for AdminError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::Store(s) => s.into(),
            TenancyError::Transition(t) => {
                Self::new(StatusCode::CONFLICT, "invalid_transition", t.to_string())
            }
            TenancyError::Invalid(m) => Self::invalid(m),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            crate::error::insert_retry_after(resp.headers_mut(), after);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn render(e: AdminError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let resp = e.into_response();
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_gateway_error_keeps_its_status_code_and_retry_after() {
        let e = GatewayError::new(ErrorCode::RateLimitExceeded, "slow down")
            .with_retry_after(Some(Duration::from_millis(1500)));
        let (status, headers, body) = render(e.into()).await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "rate_limit_exceeded", "message": "slow down"}})
        );
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["retry-after-ms"], "1500");
        assert_eq!(headers["content-type"], "application/json");
    }

    #[tokio::test]
    async fn no_retry_after_unless_the_error_carries_one() {
        let (status, headers, body) =
            render(GatewayError::new(ErrorCode::NotFound, "no route `x`").into()).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "not_found");
        assert!(headers.get("retry-after").is_none());
    }

    #[tokio::test]
    async fn store_and_tenancy_errors_map_to_their_statuses() {
        let cases: [(AdminError, u16, &str); 7] = [
            (StoreError::NotFound("n".into()).into(), 404, "not_found"),
            (
                StoreError::Unavailable("busy".into()).into(),
                503,
                "store_unavailable",
            ),
            (StoreError::Database("d".into()).into(), 500, "server_error"),
            (StoreError::Conflict("c".into()).into(), 409, "conflict"),
            (
                StoreError::Invalid("i".into()).into(),
                400,
                "invalid_request",
            ),
            (
                TenancyError::Invalid("bad slug".into()).into(),
                400,
                "invalid_request",
            ),
            (
                TenancyError::Transition(ax_core::tenant::IllegalTransition {
                    from: ax_core::tenant::TenantStatus::Decommissioned,
                    to: ax_core::tenant::TenantStatus::Active,
                })
                .into(),
                409,
                "invalid_transition",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status().as_u16(), e.code()), (status, code), "{e:?}");
        }
    }
}
