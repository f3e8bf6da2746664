//! `POST /v1/messages` (Anthropic Messages).

use ax_core::WireFormat;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::chat::{Endpoint, handle_chat};
use crate::state::AppState;

/// Anthropic Messages, streaming or not.
pub async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle_chat(
        state,
        WireFormat::Anthropic,
        Endpoint::default(),
        headers,
        body,
    )
    .await
}
