//! The tenancy part of the admin API (behind `admin::require_admin`): tenants and
//! their keys, provider configs, and reads of logs, stats and the audit log.
//!
//! Every mutation writes an `audit_log` row (actor, action, target, before/after —
//! never a secret) in the same transaction as the change; the actor is `admin-api`,
//! or `admin-api:<name>` when the caller sends `x-ax-actor: <name>`. After each change
//! the key cache is refreshed at once, so the gateway enforces it immediately.
//!
//! Errors: `admin_error::AdminError`, `{"error":{"code","message"}}` with 400
//! (invalid), 404 (unknown), 409 (slug taken, illegal status change), 503 (store
//! unavailable).
//!
//! Unlike the read-only provider endpoints, these routes are never open without a
//! key: they mint gateway keys and show the audit log, so with no `AX_ADMIN_KEY` set
//! they answer 401 even on loopback (operators there have the `ax` CLI).

use ax_core::tenant::{Quotas, TenantStatus};
use ax_core::{KeyId, TenantId};
use ax_store::tenancy::secrets::MasterKey;
use ax_store::tenancy::{
    AuditFilter, AuditTarget, NewApiKey, NewAudit, NewTenant, Page, Tenant, TenantPatch,
    TenantStore,
};
use ax_store::{LogFilter, LogQuery, ProviderConfig, ProviderConfigStore, StoredProviderConfig};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin_error::{AdminError, AdminResult};
use crate::state::AppState;

/// The tenancy admin routes (to be merged under the admin key check).
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/admin/tenants/{tenant}",
            get(show_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/admin/tenants/{tenant}/suspend", post(suspend))
        .route("/admin/tenants/{tenant}/activate", post(activate))
        .route("/admin/tenants/{tenant}/decommission", post(decommission))
        .route(
            "/admin/tenants/{tenant}/keys",
            get(tenant_keys).post(create_key),
        )
        .route("/admin/keys", get(list_keys))
        .route("/admin/keys/{key}", get(show_key).delete(revoke_key))
        .route("/admin/keys/{key}/revoke", post(revoke_key))
        .route("/admin/provider-configs", get(list_provider_configs))
        .route(
            "/admin/provider-configs/{name}",
            get(show_provider_config).put(put_provider_config),
        )
        .route("/admin/logs", get(logs))
        .route("/admin/stats", get(stats))
        .route("/admin/audit", get(audit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_configured_admin_key,
        ))
}

/// 401 unless `AX_ADMIN_KEY` is set (its value is checked by `admin::require_admin`).
async fn require_configured_admin_key(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.admin_key().is_some() {
        next.run(req).await
    } else {
        AdminError::unauthorized(
            "the tenancy admin API needs AX_ADMIN_KEY (use the ax CLI on the store otherwise)",
        )
        .into_response()
    }
}

fn bad(message: impl Into<String>) -> AdminError {
    AdminError::invalid(message)
}

fn not_found(message: impl Into<String>) -> AdminError {
    AdminError::not_found(message)
}

/// The audit actor of an admin request.
pub fn actor(headers: &HeaderMap) -> String {
    match headers
        .get("x-ax-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
    {
        Some(name) => format!("admin-api:{name}"),
        None => "admin-api".to_owned(),
    }
}

/// Makes a change visible to the gateway at once (the poller would within 250 ms).
async fn refresh(state: &AppState) {
    if let Err(e) = state.auth().refresh().await {
        tracing::warn!(error = %e, "key cache refresh after an admin change failed");
    }
}

/// A tenant by ID or slug.
async fn find_tenant(state: &AppState, which: &str) -> Result<Tenant, AdminError> {
    let store = state.store();
    let found = match which.parse::<TenantId>() {
        Ok(id) => store.tenant(id).await?,
        Err(_) => store.tenant_by_slug(which).await?,
    };
    found.ok_or_else(|| not_found(format!("no tenant `{which}`")))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /admin/tenants?limit=&after=`: one page; `next` is the `after` of the next.
async fn list_tenants(State(state): State<AppState>, Query(q): Query<ListQuery>) -> AdminResult {
    let after = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<TenantId>()
                .map_err(|_| bad("`after` must be a tenant ID"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = state
        .store()
        .list_tenants(Page {
            limit: Some(limit),
            after,
        })
        .await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(axum::Json(json!({"tenants": page, "next": next})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    slug: String,
    name: Option<String>,
    status: Option<TenantStatus>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    tpd: Option<u64>,
    monthly_budget_usd: Option<f64>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// `POST /admin/tenants`.
async fn create_tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AdminResult {
    let b: CreateTenant = json_body(&body)?;
    let t = state
        .store()
        .create_tenant(
            &NewTenant {
                slug: b.slug,
                name: b.name,
                status: b.status.unwrap_or(TenantStatus::Active),
                quotas: Quotas {
                    rpm: b.rpm,
                    tpm: b.tpm,
                    tpd: b.tpd,
                    monthly_budget_usd: b.monthly_budget_usd,
                },
            },
            &actor(&headers),
        )
        .await?;
    refresh(&state).await;
    Ok((StatusCode::CREATED, axum::Json(t)).into_response())
}

/// `GET /admin/tenants/{id or slug}`: the tenant and its keys.
async fn show_tenant(State(state): State<AppState>, Path(which): Path<String>) -> AdminResult {
    let t = find_tenant(&state, &which).await?;
    let keys = state.store().list_keys(Some(t.id)).await?;
    let mut v = serde_json::to_value(&t).map_err(|e| bad(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert("keys".into(), json!(keys));
    }
    Ok(axum::Json(v).into_response())
}

/// A field that may be absent (leave alone), `null` (clear) or a value (set).
fn tri<T: serde::de::DeserializeOwned>(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Option<T>>, AdminError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => serde_json::from_value(v.clone())
            .map(|x| Some(Some(x)))
            .map_err(|e| bad(format!("`{key}`: {e}"))),
    }
}

/// `PATCH /admin/tenants/{id or slug}`: `name`, limits (`null` clears) and `status`.
async fn update_tenant(
    State(state): State<AppState>,
    Path(which): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AdminResult {
    let obj: serde_json::Map<String, Value> = json_body(&body)?;
    const FIELDS: [&str; 6] = ["name", "status", "rpm", "tpm", "tpd", "monthly_budget_usd"];
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field `{k}` (allowed: {})",
            FIELDS.join(", ")
        )));
    }
    let t = find_tenant(&state, &which).await?;
    let who = actor(&headers);
    let name: Option<String> = tri(&obj, "name")?.flatten();
    let patch = TenantPatch {
        name,
        rpm: tri(&obj, "rpm")?,
        tpm: tri(&obj, "tpm")?,
        tpd: tri(&obj, "tpd")?,
        monthly_budget_usd: tri(&obj, "monthly_budget_usd")?,
    };
    let mut out = t.clone();
    if patch != TenantPatch::default() {
        out = state.store().update_tenant(t.id, &patch, &who).await?;
    }
    if let Some(Some(status)) = tri::<TenantStatus>(&obj, "status")?
        && status != out.status
    {
        out = state.store().set_tenant_status(t.id, status, &who).await?;
    }
    refresh(&state).await;
    Ok(axum::Json(out).into_response())
}

async fn set_status(
    state: AppState,
    which: String,
    headers: HeaderMap,
    to: TenantStatus,
) -> AdminResult {
    let t = find_tenant(&state, &which).await?;
    let out = state
        .store()
        .set_tenant_status(t.id, to, &actor(&headers))
        .await?;
    refresh(&state).await;
    Ok(axum::Json(out).into_response())
}

/// `POST /admin/tenants/{tenant}/suspend`.
async fn suspend(State(s): State<AppState>, Path(w): Path<String>, h: HeaderMap) -> AdminResult {
    set_status(s, w, h, TenantStatus::Suspended).await
}

/// `POST /admin/tenants/{tenant}/activate`.
async fn activate(State(s): State<AppState>, Path(w): Path<String>, h: HeaderMap) -> AdminResult {
    set_status(s, w, h, TenantStatus::Active).await
}

/// `POST /admin/tenants/{tenant}/decommission`.
async fn decommission(
    State(s): State<AppState>,
    Path(w): Path<String>,
    h: HeaderMap,
) -> AdminResult {
    set_status(s, w, h, TenantStatus::Decommissioned).await
}

/// `DELETE /admin/tenants/{tenant}`: the tenant and (cascade) its keys.
async fn delete_tenant(
    State(state): State<AppState>,
    Path(which): Path<String>,
    headers: HeaderMap,
) -> AdminResult {
    let t = find_tenant(&state, &which).await?;
    let deleted = state.store().delete_tenant(t.id, &actor(&headers)).await?;
    refresh(&state).await;
    Ok(axum::Json(json!({"deleted": true, "tenant": deleted})).into_response())
}

/// `GET /admin/tenants/{tenant}/keys`.
async fn tenant_keys(State(state): State<AppState>, Path(which): Path<String>) -> AdminResult {
    let t = find_tenant(&state, &which).await?;
    let keys = state.store().list_keys(Some(t.id)).await?;
    Ok(axum::Json(json!({"keys": keys})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: Option<String>,
    allowed_models: Option<Vec<String>>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    expires_at: Option<String>,
}

/// `POST /admin/tenants/{tenant}/keys`: `{"id","key","prefix","tenant"}` — the only
/// time the raw key is returned.
async fn create_key(
    State(state): State<AppState>,
    Path(which): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AdminResult {
    let b: CreateKey = if body.is_empty() {
        CreateKey {
            name: None,
            allowed_models: None,
            rpm: None,
            tpm: None,
            expires_at: None,
        }
    } else {
        json_body(&body)?
    };
    let t = find_tenant(&state, &which).await?;
    let created = state
        .store()
        .create_key(
            t.id,
            &NewApiKey {
                name: b.name,
                allowed_models: b.allowed_models,
                rpm: b.rpm,
                tpm: b.tpm,
                expires_at: b.expires_at,
            },
            &actor(&headers),
        )
        .await?;
    refresh(&state).await;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "id": created.key.id,
            "key": created.secret,
            "prefix": created.key.prefix,
            "tenant": t.slug,
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct KeysQuery {
    tenant: Option<String>,
}

/// `GET /admin/keys?tenant=`.
async fn list_keys(State(state): State<AppState>, Query(q): Query<KeysQuery>) -> AdminResult {
    let tenant = match q.tenant.as_deref() {
        Some(w) => Some(find_tenant(&state, w).await?.id),
        None => None,
    };
    let keys = state.store().list_keys(tenant).await?;
    Ok(axum::Json(json!({"keys": keys})).into_response())
}

/// A key by ID or by (unambiguous) prefix.
async fn find_key(state: &AppState, which: &str) -> Result<ax_store::tenancy::ApiKey, AdminError> {
    if let Ok(id) = which.parse::<KeyId>() {
        return state
            .store()
            .key(id)
            .await?
            .ok_or_else(|| not_found(format!("no key {which}")));
    }
    let mut found = state.store().keys_by_prefix(which).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(not_found(format!("no key with prefix `{which}`"))),
        n => Err(bad(format!(
            "prefix `{which}` matches {n} keys; use the key ID"
        ))),
    }
}

/// `GET /admin/keys/{id or prefix}`.
async fn show_key(State(state): State<AppState>, Path(which): Path<String>) -> AdminResult {
    Ok(axum::Json(find_key(&state, &which).await?).into_response())
}

/// `POST /admin/keys/{id or prefix}/revoke` (and `DELETE /admin/keys/{…}`).
async fn revoke_key(
    State(state): State<AppState>,
    Path(which): Path<String>,
    headers: HeaderMap,
) -> AdminResult {
    let k = find_key(&state, &which).await?;
    let out = state.store().revoke_key(k.id, &actor(&headers)).await?;
    refresh(&state).await;
    Ok(axum::Json(out).into_response())
}

/// A provider config as shown: everything but the key, which is only `has_api_key`.
fn provider_json(c: &StoredProviderConfig) -> Value {
    let p = &c.config;
    json!({
        "provider": p.provider,
        "enabled": p.enabled,
        "priority": p.priority,
        "has_api_key": p.api_key_encrypted.is_some(),
        "api_url": p.api_url,
        "default_model": p.default_model,
        "max_retries": p.max_retries,
        "timeout_ms": p.timeout_ms,
        "rate_limit_rpm": p.rate_limit_rpm,
        "rate_limit_tpm": p.rate_limit_tpm,
        "fallback_providers": p.fallback_providers,
        "config_json": p.config_json,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// `GET /admin/provider-configs`.
async fn list_provider_configs(State(state): State<AppState>) -> AdminResult {
    let rows = state.store().list_provider_configs().await?;
    let rows: Vec<Value> = rows.iter().map(provider_json).collect();
    Ok(axum::Json(json!({"provider_configs": rows})).into_response())
}

/// `GET /admin/provider-configs/{name}`.
async fn show_provider_config(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> AdminResult {
    let c = state
        .store()
        .provider_config(&name)
        .await?
        .ok_or_else(|| not_found(format!("no provider config `{name}`")))?;
    Ok(axum::Json(provider_json(&c)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutProvider {
    enabled: Option<bool>,
    priority: Option<i64>,
    api_url: Option<String>,
    default_model: Option<String>,
    max_retries: Option<u32>,
    timeout_ms: Option<u64>,
    rate_limit_rpm: Option<u64>,
    rate_limit_tpm: Option<u64>,
    fallback_providers: Option<Vec<String>>,
    /// Write-only: encrypted under `AX_MASTER_KEY` before it reaches the store.
    api_key: Option<String>,
}

/// `PUT /admin/provider-configs/{name}`: creates or updates (given fields only).
async fn put_provider_config(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AdminResult {
    let b: PutProvider = json_body(&body)?;
    let store = state.store();
    let before = store.provider_config(&name).await?;
    let mut c = before
        .as_ref()
        .map(|s| s.config.clone())
        .unwrap_or_else(|| ProviderConfig::new(name.clone()));
    if let Some(v) = b.enabled {
        c.enabled = v;
    }
    if let Some(v) = b.priority {
        c.priority = v;
    }
    if b.api_url.is_some() {
        c.api_url = b.api_url;
    }
    if b.default_model.is_some() {
        c.default_model = b.default_model;
    }
    if let Some(v) = b.max_retries {
        c.max_retries = v;
    }
    if let Some(v) = b.timeout_ms {
        c.timeout_ms = v;
    }
    if b.rate_limit_rpm.is_some() {
        c.rate_limit_rpm = b.rate_limit_rpm;
    }
    if b.rate_limit_tpm.is_some() {
        c.rate_limit_tpm = b.rate_limit_tpm;
    }
    if let Some(v) = b.fallback_providers {
        c.fallback_providers = v;
    }
    if let Some(key) = b.api_key {
        let master = MasterKey::parse(state.auth().master_key())
            .map_err(|e| AdminError::new(StatusCode::BAD_REQUEST, "master_key", e.to_string()))?;
        c.api_key_encrypted =
            Some(master.seal(&name, &key).map_err(|e| {
                AdminError::new(StatusCode::BAD_REQUEST, "master_key", e.to_string())
            })?);
    }
    // Refuse now what the next start would refuse (an unknown config_json key, a base
    // URL that is not http(s), a fallback to an unknown provider…).
    let providers = state.router().providers_status();
    let known: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    let kind = providers.iter().find(|p| p.name == name).map(|p| p.kind);
    crate::assemble::check_row(&c, kind, &known).map_err(|e| bad(e.to_string()))?;
    let after = store.upsert_provider_config(&c).await?;
    store
        .record_audit(&NewAudit {
            actor: actor(&headers),
            action: "provider_config.put".into(),
            target_type: AuditTarget::ProviderConfig,
            target_id: Some(name),
            before: before.as_ref().map(provider_json),
            after: Some(provider_json(&after)),
        })
        .await?;
    Ok(axum::Json(provider_json(&after)).into_response())
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    provider: Option<String>,
    limit: Option<u32>,
    failed: Option<bool>,
}

/// `GET /admin/logs?provider=&limit=&failed=`: newest first.
async fn logs(State(state): State<AppState>, Query(q): Query<LogsQuery>) -> AdminResult {
    let rows = state
        .store()
        .recent_logs(LogFilter {
            provider: q.provider,
            failed_only: q.failed.unwrap_or(false),
            limit: q.limit.unwrap_or(LogFilter::DEFAULT_LIMIT).clamp(1, 1000),
        })
        .await?;
    Ok(axum::Json(json!({"logs": rows})).into_response())
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    hours: Option<u32>,
}

/// `GET /admin/stats?hours=` (default 24).
async fn stats(State(state): State<AppState>, Query(q): Query<StatsQuery>) -> AdminResult {
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * 366);
    let rows = state.store().stats(hours).await?;
    Ok(axum::Json(json!({"window_hours": hours, "rows": rows})).into_response())
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    target_type: Option<AuditTarget>,
    target_id: Option<String>,
    limit: Option<u32>,
}

/// `GET /admin/audit?target_type=&target_id=&limit=`: newest first.
async fn audit(State(state): State<AppState>, Query(q): Query<AuditQuery>) -> AdminResult {
    let rows = state
        .store()
        .audit_log(&AuditFilter {
            target_type: q.target_type,
            target_id: q.target_id,
            limit: q.limit,
        })
        .await?;
    Ok(axum::Json(json!({"audit": rows})).into_response())
}

/// Writes the audit row of a live-provider admin action (circuit reset).
pub async fn audit_provider_action(
    state: &AppState,
    headers: &HeaderMap,
    provider: &str,
    action: &str,
) {
    let entry = NewAudit {
        actor: actor(headers),
        action: action.to_owned(),
        target_type: AuditTarget::Provider,
        target_id: Some(provider.to_owned()),
        before: None,
        after: None,
    };
    if let Err(e) = state.store().record_audit(&entry).await {
        tracing::warn!(error = %e, "could not write the audit row of {action}");
    }
}
