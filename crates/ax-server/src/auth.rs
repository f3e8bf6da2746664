//! Client authentication with gateway keys, and tenant enforcement (issue 6).
//!
//! - **Cache.** [`Auth`] keeps every key (by SHA-256 of the raw key) with its tenant in
//!   memory; a background task polls the store's tenancy version every
//!   [`REFRESH_EVERY`] and reloads when it moved, so a revoke, suspension or new key —
//!   made by the admin API or by `ax` on the same store — takes effect within a
//!   second. Authenticating is one SHA-256 and one hash-map read.
//! - **Mode.** Keys are required as soon as one exists, or always with
//!   `AX_REQUIRE_KEYS=true`; with neither, `/v1` is open (whatever key an SDK sends is
//!   ignored).
//! - **What it decides**, in [`client_auth`] (middleware on every `/v1` route): no or
//!   unknown/revoked/expired key → 401; tenant not active → 403. That is all: the
//!   key's and the tenant's per-minute limits, day quota and monthly budget are the
//!   pipeline's admission stage (`gateway::stages`, over `ax_router::admission`), and
//!   the key's model allow-list is applied by the router to every target of the plan.
//!   A refusal is answered (and logged, once) by the gateway in the client's format.
//! - **Identity** is passed explicitly: the middleware puts a [`Caller`] in the
//!   request's extensions and the handler hands it to the gateway in its `Call`.
//! - **Usage restored at start**: today's tokens and this month's spend per key and
//!   tenant are read back from the request log into the admission state
//!   ([`Auth::restore_usage`]), so a restart does not reset quotas.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ax_core::tenant::TenantStatus;
use ax_core::{ErrorCode, GatewayError, KeyId, TenantId, WireFormat};
use ax_router::admission::{Ask, LocalAdmission, Scope};
use ax_store::Store;
use ax_store::tenancy::{KeyWithTenant, TenantStore, hash_key};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::gateway::stages::{asks_of, key_limits};
use crate::state::AppState;

/// How often the cache checks the store for changes.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// How often `last_used_at` is written back.
const TOUCH_EVERY: Duration = Duration::from_secs(5);

/// The caller of a client request, put in the request's extensions by
/// [`client_auth`] (`None` when keys are not in use); extract it in a handler.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Arc<Identity>>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// Who made a request: the key and its tenant.
#[derive(Debug)]
pub struct Identity {
    /// The gateway key.
    pub key_id: KeyId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The tenant's slug.
    pub tenant_slug: String,
    /// Model patterns of the key (`None`: every model), checked against every target
    /// of the request's plan.
    pub allowed_models: Option<Arc<[String]>>,
    /// The admission asks of the key and its tenant (unlimited scopes left out),
    /// built once per key when the cache loads.
    pub asks: Arc<[Ask]>,
}

struct Entry {
    row: KeyWithTenant,
    expires_at: Option<OffsetDateTime>,
    /// The key's allow-list, shared by every request's identity instead of copied.
    allowed_models: Option<Arc<[String]>>,
    /// The key's and its tenant's admission asks, shared likewise.
    asks: Arc<[Ask]>,
}

/// The authentication state: key cache and mode.
pub struct Auth {
    store: Store,
    require_keys: bool,
    master_key: Option<secrecy::SecretString>,
    keys: RwLock<Arc<HashMap<String, Arc<Entry>>>>,
    version: AtomicI64,
    loaded: AtomicBool,
    used: Mutex<HashMap<KeyId, OffsetDateTime>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("require_keys", &self.require_keys)
            .field("keys", &self.key_count())
            .finish_non_exhaustive()
    }
}

/// Why [`Auth::authenticate`] refused.
#[derive(Debug)]
pub struct Refusal {
    /// The error for the client.
    pub error: GatewayError,
    /// The identity, when the key was valid (403, 429), for the log row.
    pub identity: Option<Arc<Identity>>,
}

impl Auth {
    /// An empty cache over `store`; call [`Auth::reload`] (or [`Auth::spawn_refresher`]).
    pub fn new(store: Store, require_keys: bool) -> Self {
        Self {
            store,
            require_keys,
            master_key: None,
            keys: RwLock::new(Arc::new(HashMap::new())),
            version: AtomicI64::new(-1),
            loaded: AtomicBool::new(false),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Sets `AX_MASTER_KEY` (for provider keys written through the admin API).
    pub fn with_master_key(mut self, key: Option<secrecy::SecretString>) -> Self {
        self.master_key = key;
        self
    }

    /// `AX_MASTER_KEY`, if set.
    pub fn master_key(&self) -> Option<&str> {
        use secrecy::ExposeSecret;
        self.master_key.as_ref().map(|k| k.expose_secret())
    }

    /// Number of keys cached (revoked ones included).
    pub fn key_count(&self) -> usize {
        self.keys.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether clients must present a key: `AX_REQUIRE_KEYS`, or any key exists.
    pub fn keys_required(&self) -> bool {
        self.require_keys || self.key_count() > 0
    }

    /// Reloads the cache if the store's tenancy version moved; returns whether it did.
    pub async fn refresh(&self) -> Result<bool, ax_store::tenancy::TenancyError> {
        let v = self.store.tenancy_version().await?;
        if self.loaded.load(Ordering::Acquire) && v == self.version.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload().await?;
        self.version.store(v, Ordering::Release);
        Ok(true)
    }

    /// Loads every key and tenant from the store.
    pub async fn reload(&self) -> Result<(), ax_store::tenancy::TenancyError> {
        let rows = self.store.auth_snapshot().await?;
        let map: HashMap<_, _> = rows
            .into_iter()
            .map(|row| {
                let expires_at = row
                    .key
                    .expires_at
                    .as_deref()
                    .and_then(ax_store::timestamp::parse);
                let allowed_models = row.key.allowed_models.as_deref().map(Arc::from);
                let asks = asks_of(
                    (row.key.id, key_limits(row.key.rpm, row.key.tpm)),
                    (row.tenant.id, (&row.tenant.quotas).into()),
                );
                (
                    row.key.key_hash.clone(),
                    Arc::new(Entry {
                        row,
                        expires_at,
                        allowed_models,
                        asks,
                    }),
                )
            })
            .collect();
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(map);
        }
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Restores today's tokens and this month's spend per tenant and key from the
    /// request log into `admission`, so a restart does not reset daily quotas and
    /// monthly budgets.
    pub async fn restore_usage(
        &self,
        admission: &LocalAdmission,
    ) -> Result<(), ax_store::tenancy::TenancyError> {
        let now = OffsetDateTime::now_utc();
        let day = now.replace_time(time::Time::MIDNIGHT);
        let month = day.replace_day(1).unwrap_or(day);
        let rows = self
            .store
            .usage_since(
                &ax_store::timestamp::format(day),
                &ax_store::timestamp::format(month),
            )
            .await?;
        for r in rows {
            admission.restore(Scope::Tenant(r.tenant_id), r.day_tokens, r.month_cost_usd);
            if let Some(k) = r.key_id {
                admission.restore(Scope::Key(k), r.day_tokens, 0.0);
            }
        }
        Ok(())
    }

    /// Writes the remembered `last_used_at` times back to the store.
    pub async fn flush_last_used(&self) {
        let batch: Vec<(KeyId, String)> = match self.used.lock() {
            Ok(mut u) => u
                .drain()
                .map(|(k, t)| (k, ax_store::timestamp::format(t)))
                .collect(),
            Err(_) => return,
        };
        if let Err(e) = self.store.touch_keys(&batch).await {
            tracing::warn!(error = %e, "could not record key use");
        }
    }

    /// Starts the background task that keeps the cache fresh and writes
    /// `last_used_at`; it ends when `self` is the last reference left.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_touch = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                let Some(auth) = weak.upgrade() else { return };
                if let Err(e) = auth.refresh().await {
                    tracing::warn!(error = %e, "key cache refresh failed; keeping the old one");
                }
                if last_touch.elapsed() >= TOUCH_EVERY {
                    last_touch = tokio::time::Instant::now();
                    auth.flush_last_used().await;
                }
            }
        })
    }

    /// Authenticates a presented raw key: `Ok(None)` when keys are not in use,
    /// `Ok(Some(identity))` for a usable key of an active tenant, else the refusal.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Option<Arc<Identity>>, Refusal> {
        if !self.keys_required() {
            return Ok(None);
        }
        let refuse = |error: GatewayError| Refusal {
            error,
            identity: None,
        };
        let Some(raw) = presented.filter(|k| !k.is_empty()) else {
            return Err(refuse(GatewayError::new(
                ErrorCode::AuthenticationError,
                "missing gateway key: send Authorization: Bearer <key>, x-api-key or x-goog-api-key",
            )));
        };
        let hash = hash_key(raw);
        let entry = self.keys.read().ok().and_then(|m| m.get(&hash).cloned());
        let Some(entry) = entry else {
            return Err(refuse(GatewayError::new(
                ErrorCode::AuthenticationError,
                "invalid gateway key",
            )));
        };
        let now = OffsetDateTime::now_utc();
        let key = &entry.row.key;
        let tenant = &entry.row.tenant;
        let identity = Arc::new(Identity {
            key_id: key.id,
            tenant_id: tenant.id,
            tenant_slug: tenant.slug.clone(),
            allowed_models: entry.allowed_models.clone(),
            asks: Arc::clone(&entry.asks),
        });
        // A known but unusable key: 401, and the log row still names the key.
        let unusable = if key.revoked {
            Some("has been revoked")
        } else if entry.expires_at.is_some_and(|e| e <= now) {
            Some("has expired")
        } else {
            None
        };
        if let Some(why) = unusable {
            return Err(Refusal {
                error: GatewayError::new(
                    ErrorCode::AuthenticationError,
                    format!("gateway key {} {why}", key.prefix),
                ),
                identity: Some(identity),
            });
        }
        if let Ok(mut u) = self.used.lock() {
            u.insert(key.id, now);
        }
        if !tenant.status.serves_traffic() {
            let why = match tenant.status {
                TenantStatus::Provisioning => "is still being provisioned",
                TenantStatus::Suspended => "is suspended",
                _ => "is decommissioned",
            };
            return Err(Refusal {
                error: GatewayError::new(
                    ErrorCode::PermissionDenied,
                    format!("tenant `{}` {why}", tenant.slug),
                ),
                identity: Some(identity),
            });
        }
        Ok(Some(identity))
    }
}

/// The raw key a client presented, from whichever place its SDK puts it:
/// `Authorization: Bearer`, `x-api-key` (Anthropic), `x-goog-api-key` or `?key=`
/// (Gemini).
pub fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = header(header::AUTHORIZATION.as_str()) {
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        if !token.is_empty() {
            return Some(token);
        }
    }
    if let Some(v) = header("x-api-key").filter(|v| !v.is_empty()) {
        return Some(v);
    }
    if let Some(v) = header("x-goog-api-key").filter(|v| !v.is_empty()) {
        return Some(v);
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|v| !v.is_empty())
}

/// The wire format of a client endpoint, for errors answered before the handler runs.
pub(crate) fn format_of(method: &Method, path: &str) -> WireFormat {
    if path.starts_with("/v1/messages") {
        WireFormat::Anthropic
    } else if path.starts_with("/v1/responses") {
        WireFormat::Responses
    } else if path.starts_with("/v1beta/")
        || (path.starts_with("/v1/models/") && method == Method::POST)
    {
        WireFormat::Gemini
    } else {
        WireFormat::OpenAi
    }
}

/// Middleware over the client routes (`/v1…`): authenticates and puts the
/// [`Caller`] in the request's extensions; a refusal is answered by the gateway.
pub async fn client_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/v1/") || path.starts_with("/v1beta/")) {
        return next.run(req).await;
    }
    let auth = state.auth();
    match auth.authenticate(presented_key(req.headers(), req.uri().query())) {
        Ok(identity) => {
            req.extensions_mut().insert(Caller(identity));
            next.run(req).await
        }
        Err(refusal) => {
            let format = format_of(req.method(), path);
            reject(&state, format, req.headers(), refusal)
        }
    }
}

/// Answers a refused request in the client's format; the gateway logs it.
pub(crate) fn reject(
    state: &AppState,
    format: WireFormat,
    headers: &HeaderMap,
    refusal: Refusal,
) -> Response {
    state
        .gateway()
        .refuse(format, headers, refusal)
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_from_every_place() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h, None), None);
        assert_eq!(presented_key(&h, Some("alt=sse&key=ax-q")), Some("ax-q"));
        h.insert("x-goog-api-key", "ax-g".parse().unwrap());
        assert_eq!(presented_key(&h, Some("key=ax-q")), Some("ax-g"));
        h.insert("x-api-key", "ax-x".parse().unwrap());
        assert_eq!(presented_key(&h, None), Some("ax-x"));
        h.insert(header::AUTHORIZATION, "Bearer ax-b".parse().unwrap());
        assert_eq!(presented_key(&h, None), Some("ax-b"));
    }

    #[test]
    fn formats_by_path() {
        assert_eq!(
            format_of(&Method::POST, "/v1/messages"),
            WireFormat::Anthropic
        );
        assert_eq!(
            format_of(&Method::POST, "/v1beta/models/x:generateContent"),
            WireFormat::Gemini
        );
        assert_eq!(
            format_of(&Method::POST, "/v1/models/x:generateContent"),
            WireFormat::Gemini
        );
        assert_eq!(format_of(&Method::GET, "/v1/models"), WireFormat::OpenAi);
        assert_eq!(
            format_of(&Method::POST, "/v1/chat/completions"),
            WireFormat::OpenAi
        );
    }
}
