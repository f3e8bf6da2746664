//! The header-count limit, answered properly, and the answer to any request refused
//! before it reaches the routes.
//!
//! hyper refuses a head with more header lines than its own limit by itself: a 431 with
//! no body and no log row. So hyper's limit is set above ours (see `connections`), and
//! a request with more than [`MAX_HEADERS`] lines is refused here instead: 431 in the
//! client's own error format, with the one log row every refused `/v1` request gets. A
//! head past hyper's limit, or larger than hyper's read buffer (~400 KB), still gets
//! hyper's empty 431: hyper offers no hook to answer those.

use ax_core::{ErrorCode, GatewayError};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::{Refusal, format_of, reject};
use crate::error::ApiError;
use crate::state::AppState;

/// Most header lines a request may carry (hyper's own default limit).
pub(crate) const MAX_HEADERS: usize = 100;

/// The 431 for a request with more than [`MAX_HEADERS`] header lines; `None` if within.
pub(crate) fn check<B>(state: &AppState, req: &Request<B>) -> Option<Response> {
    let lines = req.headers().len();
    if lines <= MAX_HEADERS {
        return None;
    }
    let error = GatewayError::new(
        ErrorCode::InvalidRequest,
        format!("the request has {lines} header lines; at most {MAX_HEADERS} are accepted"),
    );
    Some(refuse(
        state,
        req,
        error,
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
    ))
}

/// Answers `req` with `error` in the client's format (told by its path) and, for a
/// client endpoint (`/v1…`), writes its log row; `status` overrides the error's own.
pub(crate) fn refuse<B>(
    state: &AppState,
    req: &Request<B>,
    error: GatewayError,
    status: Option<StatusCode>,
) -> Response {
    let path = req.uri().path();
    let format = format_of(req.method(), path);
    let mut response = if path.starts_with("/v1/") || path.starts_with("/v1beta/") {
        let refusal = Refusal {
            error,
            identity: None,
        };
        reject(state, format, req.headers(), refusal)
    } else {
        ApiError::new(format, error).into_response()
    };
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
}
