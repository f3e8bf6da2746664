//! `POST /v1/messages` (Anthropic Messages) and `POST /v1/messages/count_tokens`.

use ax_core::WireFormat;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::auth::Caller;
use crate::gateway::{ChatPath, Op};
use crate::state::AppState;

/// Anthropic Messages, streaming or not.
pub async fn messages(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::serve(
        &state,
        WireFormat::Anthropic,
        Op::Chat(ChatPath::default()),
        identity,
        headers,
        body,
    )
    .await
}

/// Anthropic token counting: the input tokens of a Messages body (no `max_tokens`
/// needed), `{"input_tokens": N}`, whichever upstream serves the model.
pub async fn count_tokens(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::serve(
        &state,
        WireFormat::Anthropic,
        Op::CountTokens(ChatPath::default()),
        identity,
        headers,
        body,
    )
    .await
}
