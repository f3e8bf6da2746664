//! `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`,
//! `GET /v1/models/{id}` (OpenAI).

use std::sync::Arc;

use ax_core::lifecycle::{Context, Event};
use ax_core::{GatewayError, WireFormat};
use ax_router::{RequestOptions, Tracked};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::chat::{Endpoint, handle_chat, read_body, served_headers};
use crate::error::ApiError;
use crate::request_log::{LogExtras, acknowledged, finish_hook};
use crate::request_meta::GatewayHeaders;
use crate::state::AppState;

/// OpenAI Chat Completions, streaming or not.
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle_chat(
        state,
        WireFormat::OpenAi,
        Endpoint::default(),
        headers,
        body,
    )
    .await
}

/// OpenAI embeddings, served by any provider that embeds.
pub async fn embeddings(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let extras = Arc::new(LogExtras::default());
    let resp = embed(&state, headers, body, &extras).await;
    // Acknowledged durability: the answer goes out once its log record committed.
    acknowledged(&state, &extras, WireFormat::OpenAi, resp).await
}

async fn embed(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
    extras: &Arc<LogExtras>,
) -> Response {
    let identity = crate::auth::current_identity();
    let gw = GatewayHeaders::parse(
        &headers,
        identity.as_deref().map(|i| i.tenant_slug.as_str()),
    );
    let mut ctx = Context::new(gw.request_id.clone());
    ctx.conversation_id = gw.metadata.conversation_id.clone();
    ctx.user_id = gw.metadata.user_id.clone();
    ctx.tags = gw.metadata.tags.clone();
    ctx.tags.push("embeddings".into());
    let mut tracked = Tracked::new(ctx, finish_hook(state, WireFormat::OpenAi, extras.clone()));
    tracked.apply(Event::InitiateRequest);
    let reject = |mut tracked: Tracked, e: GatewayError, status: Option<axum::http::StatusCode>| {
        tracked.apply(Event::ValidationFailed {
            code: e.code,
            message: e.message.clone(),
        });
        let id = tracked.context().request_id.clone();
        tracked.finish();
        let mut err = ApiError::new(WireFormat::OpenAi, e).with_request_id(id);
        if let Some(s) = status {
            err = err.with_status(s);
        }
        err.into_response()
    };
    let bytes = match read_body(body, state.max_body_bytes()).await {
        Ok(b) => b,
        Err((e, status)) => return reject(tracked, e, Some(status)),
    };
    let (request, base64) =
        match ax_providers::openai::decode_embedding_request(&bytes, &state.request_limits()) {
            Ok(r) => r,
            Err(e) => return reject(tracked, e, None),
        };
    let opts = RequestOptions {
        fallback: gw.fallback,
        // Tenancy: only the targets the key's allow-list admits (403 when none).
        allowed_models: crate::auth::allowed_models(),
        ..RequestOptions::default()
    };
    if let Err(e) = state.router().embedding_plan(&request.model, &opts) {
        return reject(tracked, e, None);
    }
    tracked.apply(Event::ValidationPassed);
    match state.router().embed(&request, &opts, &mut tracked).await {
        Ok(resp) => {
            let body = ax_providers::openai::encode_embedding_response(&resp, base64);
            let mut r = (axum::http::StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            // Who served it, as for chat: `x-ax-request-id`, `-provider`, `-model`, …
            served_headers(r.headers_mut(), tracked.context());
            tracked.finish();
            r
        }
        Err(e) => {
            let id = tracked.context().request_id.clone();
            let mut r = ApiError::new(WireFormat::OpenAi, e)
                .with_request_id(id)
                .into_response();
            served_headers(r.headers_mut(), tracked.context());
            tracked.finish();
            r
        }
    }
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
