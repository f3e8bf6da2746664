//! `POST /v1/messages` (Anthropic Messages).

use ax_core::WireFormat;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::gateway::{Call, ChatPath, Op};
use crate::state::AppState;

/// Anthropic Messages, streaming or not.
pub async fn messages(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = Call {
        format: WireFormat::Anthropic,
        op: Op::Chat(ChatPath::default()),
        headers,
        identity,
        body: super::read_body(body, state.gateway().max_body_bytes()).await,
    };
    state.gateway().serve(call).await.into_response()
}
