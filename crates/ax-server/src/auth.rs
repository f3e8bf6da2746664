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
//! - **Enforcement**, in [`client_auth`] (middleware on every `/v1` route): no or
//!   unknown/revoked/expired key → 401; tenant not active → 403; over the key's or the
//!   tenant's requests or tokens per minute → 429 `rate_limit_exceeded`; over tokens
//!   per day or the monthly budget → 429 `quota_exceeded`; 429s carry `Retry-After`
//!   (the end of the window). The key's model allow-list (403) is applied by the
//!   router to every target of the plan ([`allowed_models`]). Every rejection is answered in the client's own
//!   error format and gets its log row.
//! - **Identity.** The authenticated [`Identity`] is visible to the handler through a
//!   task-local ([`current_identity`]); the request log hook reads it there, so the
//!   log row carries tenant and key IDs and token usage is counted against quotas.
//! - **Counters** are in memory, fixed windows (UTC minute, day, month). At start the
//!   day's tokens and the month's spend are restored from the request log
//!   ([`Auth::restore_usage`]); the minute windows start empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ax_core::lifecycle::{Context, Event};
use ax_core::tenant::{Quotas, TenantStatus};
use ax_core::{ErrorCode, GatewayError, KeyId, TenantId, Usage, WireFormat};
use ax_router::Tracked;
use ax_store::Store;
use ax_store::tenancy::{KeyWithTenant, TenantStore, hash_key};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::request_log::{LogExtras, finish_hook, gate_body};
use crate::request_meta::GatewayHeaders;
use crate::state::AppState;

/// How often the cache checks the store for changes.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// How often `last_used_at` is written back.
const TOUCH_EVERY: Duration = Duration::from_secs(5);

tokio::task_local! {
    static IDENTITY: Option<Arc<Identity>>;
}

/// The authenticated caller of the current request, if keys are in use.
pub fn current_identity() -> Option<Arc<Identity>> {
    IDENTITY.try_with(Clone::clone).ok().flatten()
}

/// Who made a request: the key and its tenant, with their quota counters.
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
    key_limits: Limits,
    tenant_limits: Limits,
    key_counters: Arc<Counters>,
    tenant_counters: Arc<Counters>,
}

impl Identity {
    /// Counts a finished request's tokens and cost against the key and tenant.
    pub fn record_usage(&self, usage: &Usage, cost_usd: Option<f64>) {
        let tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        let now = OffsetDateTime::now_utc();
        self.key_counters.add(now, tokens, None);
        self.tenant_counters.add(now, tokens, cost_usd);
    }
}

/// Limits applying to one counter set.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    rpm: Option<u64>,
    tpm: Option<u64>,
    tpd: Option<u64>,
    budget_usd: Option<f64>,
}

impl From<&Quotas> for Limits {
    fn from(q: &Quotas) -> Self {
        Self {
            rpm: q.rpm,
            tpm: q.tpm,
            tpd: q.tpd,
            budget_usd: q.monthly_budget_usd,
        }
    }
}

/// Fixed-window usage of one key or tenant.
#[derive(Debug, Default)]
struct Counters(Mutex<Windows>);

#[derive(Debug, Default, Clone, Copy)]
struct Windows {
    minute: i64,
    requests: u64,
    tokens: u64,
    day: i64,
    day_tokens: u64,
    month: i64,
    month_cost: f64,
}

fn month_index(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 12 + i64::from(u8::from(t.month()))
}

impl Windows {
    fn roll(&mut self, now: OffsetDateTime) {
        let ts = now.unix_timestamp();
        let minute = ts.div_euclid(60);
        if minute != self.minute {
            self.minute = minute;
            self.requests = 0;
            self.tokens = 0;
        }
        let day = ts.div_euclid(86_400);
        if day != self.day {
            self.day = day;
            self.day_tokens = 0;
        }
        let month = month_index(now);
        if month != self.month {
            self.month = month;
            self.month_cost = 0.0;
        }
    }

    /// The refusal, if one of `limits` is reached; `scope` names whose limit it is.
    fn check(&self, limits: &Limits, scope: &str, now: OffsetDateTime) -> Option<GatewayError> {
        let ts = now.unix_timestamp();
        let to_minute = Duration::from_secs(u64::try_from(60 - ts.rem_euclid(60)).unwrap_or(60));
        let to_day =
            Duration::from_secs(u64::try_from(86_400 - ts.rem_euclid(86_400)).unwrap_or(86_400));
        if limits.rpm.is_some_and(|l| self.requests >= l) {
            return Some(limit_error(
                ErrorCode::RateLimitExceeded,
                format!("{scope} requests-per-minute limit reached"),
                to_minute,
            ));
        }
        if limits.tpm.is_some_and(|l| self.tokens >= l) {
            return Some(limit_error(
                ErrorCode::RateLimitExceeded,
                format!("{scope} tokens-per-minute limit reached"),
                to_minute,
            ));
        }
        if limits.tpd.is_some_and(|l| self.day_tokens >= l) {
            return Some(limit_error(
                ErrorCode::QuotaExceeded,
                format!("{scope} tokens-per-day quota used up"),
                to_day,
            ));
        }
        if limits.budget_usd.is_some_and(|b| self.month_cost >= b) {
            return Some(limit_error(
                ErrorCode::QuotaExceeded,
                format!("{scope} monthly budget used up"),
                until_next_month(now),
            ));
        }
        None
    }
}

fn until_next_month(now: OffsetDateTime) -> Duration {
    let (y, m) = if u8::from(now.month()) == 12 {
        (now.year() + 1, time::Month::January)
    } else {
        (now.year(), now.month().next())
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc() - now)
        .ok()
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::from_secs(86_400))
}

fn limit_error(code: ErrorCode, message: String, after: Duration) -> GatewayError {
    GatewayError::new(code, message).with_retry_after(Some(after.max(Duration::from_secs(1))))
}

impl Counters {
    fn restore(&self, now: OffsetDateTime, day_tokens: u64, month_cost: f64) {
        if let Ok(mut w) = self.0.lock() {
            w.roll(now);
            w.day_tokens = w.day_tokens.saturating_add(day_tokens);
            if month_cost.is_finite() && month_cost > 0.0 {
                w.month_cost += month_cost;
            }
        }
    }

    fn add(&self, now: OffsetDateTime, tokens: u64, cost: Option<f64>) {
        if let Ok(mut w) = self.0.lock() {
            w.roll(now);
            w.tokens = w.tokens.saturating_add(tokens);
            w.day_tokens = w.day_tokens.saturating_add(tokens);
            if let Some(c) = cost.filter(|c| c.is_finite() && *c > 0.0) {
                w.month_cost += c;
            }
        }
    }
}

/// Checks both counter sets and, when both allow it, counts one request in each.
fn admit(identity: &Identity, now: OffsetDateTime) -> Result<(), GatewayError> {
    let (Ok(mut k), Ok(mut t)) = (
        identity.key_counters.0.lock(),
        identity.tenant_counters.0.lock(),
    ) else {
        return Ok(());
    };
    k.roll(now);
    t.roll(now);
    if let Some(e) = k.check(&identity.key_limits, "this key's", now) {
        return Err(e);
    }
    if let Some(e) = t.check(&identity.tenant_limits, "the tenant's", now) {
        return Err(e);
    }
    k.requests += 1;
    t.requests += 1;
    Ok(())
}

struct Entry {
    row: KeyWithTenant,
    expires_at: Option<OffsetDateTime>,
    /// The key's allow-list, shared by every request's identity instead of copied.
    allowed_models: Option<Arc<[String]>>,
}

/// The authentication state: key cache, mode, quota counters.
pub struct Auth {
    store: Store,
    require_keys: bool,
    master_key: Option<secrecy::SecretString>,
    keys: RwLock<Arc<HashMap<String, Arc<Entry>>>>,
    version: AtomicI64,
    loaded: AtomicBool,
    key_counters: Mutex<HashMap<KeyId, Arc<Counters>>>,
    tenant_counters: Mutex<HashMap<TenantId, Arc<Counters>>>,
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
            key_counters: Mutex::new(HashMap::new()),
            tenant_counters: Mutex::new(HashMap::new()),
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
                (
                    row.key.key_hash.clone(),
                    Arc::new(Entry {
                        row,
                        expires_at,
                        allowed_models,
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
    /// request log, so a restart does not reset daily quotas and monthly budgets.
    pub async fn restore_usage(&self) -> Result<(), ax_store::tenancy::TenancyError> {
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
            Self::counters(&self.tenant_counters, r.tenant_id).restore(
                now,
                r.day_tokens,
                r.month_cost_usd,
            );
            if let Some(k) = r.key_id {
                Self::counters(&self.key_counters, k).restore(now, r.day_tokens, 0.0);
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

    fn counters<K: std::hash::Hash + Eq + Copy>(
        map: &Mutex<HashMap<K, Arc<Counters>>>,
        id: K,
    ) -> Arc<Counters> {
        match map.lock() {
            Ok(mut m) => m.entry(id).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Authenticates a presented raw key: `Ok(None)` when keys are not in use,
    /// `Ok(Some(identity))` when admitted (one request counted), else the refusal.
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
            key_limits: Limits {
                rpm: key.rpm,
                tpm: key.tpm,
                ..Limits::default()
            },
            tenant_limits: Limits::from(&tenant.quotas),
            key_counters: Self::counters(&self.key_counters, key.id),
            tenant_counters: Self::counters(&self.tenant_counters, tenant.id),
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
        match admit(&identity, now) {
            Ok(()) => Ok(Some(identity)),
            Err(error) => {
                let scope = if error.code == ErrorCode::QuotaExceeded {
                    "quota"
                } else {
                    "rate"
                };
                metrics::counter!("ax_rate_limited_total", "scope" => format!("tenant_{scope}"))
                    .increment(1);
                Err(Refusal {
                    error,
                    identity: Some(identity),
                })
            }
        }
    }
}

/// The current key's model allow-list, for the router to restrict the plan with.
pub fn allowed_models() -> Option<Arc<[String]>> {
    current_identity().and_then(|id| id.allowed_models.clone())
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
    } else if path.starts_with("/v1beta/")
        || (path.starts_with("/v1/models/") && method == Method::POST)
    {
        WireFormat::Gemini
    } else {
        WireFormat::OpenAi
    }
}

/// Middleware over the client routes (`/v1…`): authenticates, enforces tenant status
/// and quotas, and runs the handler with the [`Identity`] in scope.
pub async fn client_auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/v1/") || path.starts_with("/v1beta/")) {
        return next.run(req).await;
    }
    let auth = state.auth();
    match auth.authenticate(presented_key(req.headers(), req.uri().query())) {
        Ok(identity) => IDENTITY.scope(identity, next.run(req)).await,
        Err(refusal) => {
            let format = format_of(req.method(), path);
            reject(&state, format, req.headers(), refusal)
        }
    }
}

/// Answers a refused request in the client's format, with its one log row.
pub(crate) fn reject(
    state: &AppState,
    format: WireFormat,
    headers: &HeaderMap,
    refusal: Refusal,
) -> Response {
    let tenant = refusal.identity.as_deref().map(|i| i.tenant_slug.as_str());
    let gw = GatewayHeaders::parse(headers, tenant);
    let mut ctx = Context::new(gw.request_id.clone());
    ctx.conversation_id = gw.metadata.conversation_id.clone();
    ctx.user_id = gw.metadata.user_id.clone();
    ctx.tags = gw.metadata.tags.clone();
    let error = refusal.error;
    let extras = Arc::new(LogExtras::default());
    IDENTITY.sync_scope(refusal.identity, || {
        let mut tracked = Tracked::new(ctx, finish_hook(state, format, extras.clone()));
        tracked.apply(Event::InitiateRequest);
        tracked.apply(Event::ValidationFailed {
            code: error.code,
            message: error.message.clone(),
        });
        tracked.finish();
    });
    let resp = ApiError::new(format, error)
        .with_request_id(gw.request_id)
        .into_response();
    // Acknowledged durability: the body waits for the log record to commit.
    gate_body(state, &extras, resp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

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

    #[test]
    fn windows_roll_and_refuse_with_retry_after() {
        let now = datetime!(2026-03-31 10:00:45 UTC);
        let mut w = Windows::default();
        w.roll(now);
        let limits = Limits {
            rpm: Some(1),
            tpd: Some(10),
            budget_usd: Some(1.0),
            ..Limits::default()
        };
        assert!(w.check(&limits, "x", now).is_none());
        w.requests = 1;
        let e = w.check(&limits, "x", now).unwrap();
        assert_eq!(e.code, ErrorCode::RateLimitExceeded);
        assert_eq!(e.retry_after, Some(Duration::from_secs(15)));
        // The next minute starts afresh.
        w.roll(now + time::Duration::seconds(20));
        assert_eq!(w.requests, 0);
        w.day_tokens = 10;
        let e = w.check(&limits, "x", now).unwrap();
        assert_eq!(e.code, ErrorCode::QuotaExceeded);
        assert_eq!(e.retry_after, Some(Duration::from_secs(14 * 3600 - 45)));
        w.day_tokens = 0;
        w.month_cost = 1.5;
        let e = w.check(&limits, "x", now).unwrap();
        assert_eq!(e.code, ErrorCode::QuotaExceeded);
        assert_eq!(e.retry_after, Some(Duration::from_secs(14 * 3600 - 45)));
    }
}
