//! The admin API (`/admin/...`): JSON, behind `Authorization: Bearer $AX_ADMIN_KEY`
//! compared in constant time. With no admin key set, it is open only while the server
//! listens on loopback.

use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::admin_error::{AdminError, AdminResult};
use crate::state::AppState;

/// Rejects admin requests without the right bearer key.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = state.admin_key() else {
        if state.admin_open() {
            return next.run(req).await;
        }
        return AdminError::unauthorized("the admin API is disabled: set AX_ADMIN_KEY")
            .into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = key.expose_secret().as_bytes();
    if bool::from(presented.as_bytes().ct_eq(expected)) {
        next.run(req).await
    } else {
        AdminError::unauthorized(
            "missing or invalid admin key (Authorization: Bearer $AX_ADMIN_KEY)",
        )
        .into_response()
    }
}

/// `GET /admin/providers`: health and circuit of every provider.
pub async fn providers(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({"providers": state.router().providers_status()})).into_response()
}

/// `POST /admin/providers/{name}/circuit/reset`.
pub async fn reset_circuit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> AdminResult {
    if !state.router().reset_circuit(&name) {
        return Err(AdminError::not_found(format!("unknown provider `{name}`")));
    }
    // Tenancy: every admin mutation is audited.
    super::tenants::audit_provider_action(&state, &headers, &name, "provider.circuit.reset").await;
    Ok(
        axum::Json(serde_json::json!({"provider": name, "circuit": "closed", "reset": true}))
            .into_response(),
    )
}

/// `GET /admin/routes/explain?model=…`: the plan a request would follow.
pub async fn explain(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> AdminResult {
    let Some(model) = q.get("model") else {
        return Err(AdminError::invalid("missing ?model="));
    };
    let fallback = q.get("fallback").is_none_or(|v| v != "off");
    let opts = ax_router::RequestOptions {
        fallback,
        ..Default::default()
    };
    let plan = state.router().dry_run(model, &opts)?;
    Ok(
        axum::Json(serde_json::json!({"dry_run": true, "model": model, "plan": plan}))
            .into_response(),
    )
}
