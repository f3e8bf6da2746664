//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Readiness: the store answers a query.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready", "store": "ok"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "not_ready", "store": e.to_string()})),
        )
            .into_response(),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = state.metrics() else {
        return (
            StatusCode::NOT_FOUND,
            "telemetry is disabled (PROVIDER_TELEMETRY_ENABLED=false)\n",
        )
            .into_response();
    };
    for p in state.router().providers_status() {
        let v = match p.circuit.state {
            ax_router::CircuitState::Closed => 0.0,
            ax_router::CircuitState::HalfOpen => 1.0,
            ax_router::CircuitState::Open => 2.0,
        };
        metrics::gauge!("ax_circuit_state", "provider" => p.name.clone()).set(v);
    }
    if let Some(w) = state.writer() {
        metrics::gauge!("ax_log_queue_depth").set(w.depth() as f64);
    }
    let mut resp = handle.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Any path ax does not serve: a JSON 404 (OpenAI's error shape, the most common
/// client) naming the method and path, instead of an empty body.
pub async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": {
            "message": format!("ax has no endpoint {method} {}", uri.path()),
            "type": "invalid_request_error",
            "param": null,
            "code": "not_found",
        }})),
    )
        .into_response()
}
