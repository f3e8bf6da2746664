//! `POST /v1/chat/completions`, `POST /v1/responses`, `POST /v1/embeddings`, `GET /v1/models`,
//! `GET /v1/models/{id}` (OpenAI).

use ax_core::{GatewayError, WireFormat};
use ax_router::RequestOptions;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::gateway::{ChatPath, EmbedPath, Op};
use crate::state::AppState;

/// OpenAI Chat Completions, streaming or not.
pub async fn chat_completions(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::serve(
        &state,
        WireFormat::OpenAi,
        Op::Chat(ChatPath::default()),
        identity,
        headers,
        body,
    )
    .await
}

/// The OpenAI Responses API (`POST /v1/responses`), streaming or not: a fourth client
/// format on the chat pipeline (passed through to an OpenAI upstream's own endpoint,
/// translated for the others).
pub async fn responses(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::serve(
        &state,
        WireFormat::Responses,
        Op::Chat(ChatPath::default()),
        identity,
        headers,
        body,
    )
    .await
}

/// `GET /v1/responses/{id}`: a Responses answer ax stored (404 otherwise).
pub async fn stored_response(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Response {
    crate::gateway::responses::get(state.gateway(), &id, identity.as_deref())
        .await
        .into_response()
}

/// `DELETE /v1/responses/{id}`: forgets a Responses answer ax stored.
pub async fn delete_stored_response(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Response {
    crate::gateway::responses::delete(state.gateway(), &id, identity.as_deref())
        .await
        .into_response()
}

/// OpenAI embeddings, served by any provider that embeds.
pub async fn embeddings(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::serve(
        &state,
        WireFormat::OpenAi,
        Op::Embed(EmbedPath::default()),
        identity,
        headers,
        body,
    )
    .await
}

/// Every routable model and route name, in OpenAI's list format.
pub async fn models(State(state): State<AppState>) -> Response {
    let data: Vec<serde_json::Value> = state
        .router()
        .model_names()
        .into_iter()
        .map(|id| {
            let owner = id.split('/').next().unwrap_or("ax").to_owned();
            model_object(id, owner)
        })
        .collect();
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

/// One model (`GET /v1/models/{id}`, the SDKs' `models.retrieve`): any model a chat
/// request may name (`provider/model`, a route, a bare model a provider serves), owned
/// by the provider its plan calls first; 404 in OpenAI's error shape otherwise. The id
/// may contain `/` (`openai/gpt-4o`, sent as is or as `openai%2Fgpt-4o`).
pub async fn model(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => {
            let error = GatewayError::new(ax_core::ErrorCode::InvalidRequest, e.body_text());
            return ApiError::new(WireFormat::OpenAi, error).into_response();
        }
    };
    match state.router().plan(&id, &RequestOptions::default()) {
        Ok(plan) => {
            let owner = plan
                .targets
                .first()
                .map_or_else(|| "ax".to_owned(), |t| t.provider.name().to_owned());
            axum::Json(model_object(id, owner)).into_response()
        }
        Err(e) => ApiError::new(WireFormat::OpenAi, e).into_response(),
    }
}

/// A model in OpenAI's shape.
fn model_object(id: String, owner: String) -> serde_json::Value {
    serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}
