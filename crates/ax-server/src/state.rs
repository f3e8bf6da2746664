//! Shared application state, handed to every handler.

use std::sync::Arc;

use ax_router::Router;
use ax_store::{LogWriter, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::SecretString;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    router: Arc<Router>,
    store: Store,
    writer: Option<LogWriter>,
    metrics: Option<PrometheusHandle>,
    admin_key: Option<SecretString>,
    admin_open: bool,
    store_bodies: bool,
    max_body_bytes: usize,
    auth: Arc<crate::auth::Auth>,
    guards: Arc<crate::guard::BrowserGuards>,
    metric_labels: crate::request_log::MetricLabels,
    request_limits: ax_core::RequestLimits,
    log_durability: crate::config::LogDurability,
}

/// The parts [`AppState::new`] needs.
pub struct StateParts {
    /// The router.
    pub router: Arc<Router>,
    /// The store (for readiness, admin reads).
    pub store: Store,
    /// The log writer, `None` when logging is off.
    pub writer: Option<LogWriter>,
    /// The Prometheus recorder handle, `None` when telemetry is off.
    pub metrics: Option<PrometheusHandle>,
    /// `AX_ADMIN_KEY`.
    pub admin_key: Option<SecretString>,
    /// Whether the admin API is open without a key (no key set and loopback only).
    pub admin_open: bool,
    /// Whether request/response bodies are logged.
    pub store_bodies: bool,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Gateway key cache and quota counters (tenancy).
    pub auth: Arc<crate::auth::Auth>,
    /// Host, Origin and CORS settings of the browser guards.
    pub guards: Arc<crate::guard::BrowserGuards>,
    /// The label values metrics may carry (configured names only).
    pub metric_labels: crate::request_log::MetricLabels,
    /// Request-shape limits (messages, content parts, tools, JSON objects).
    pub request_limits: ax_core::RequestLimits,
    /// Whether an answer waits for its log row to commit (`AX_LOG_DURABILITY`).
    pub log_durability: crate::config::LogDurability,
}

impl AppState {
    /// Builds the state.
    pub fn new(parts: StateParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                router: parts.router,
                store: parts.store,
                writer: parts.writer,
                metrics: parts.metrics,
                admin_key: parts.admin_key,
                admin_open: parts.admin_open,
                store_bodies: parts.store_bodies,
                max_body_bytes: parts.max_body_bytes,
                auth: parts.auth,
                metric_labels: parts.metric_labels,
                guards: parts.guards,
                request_limits: parts.request_limits,
                log_durability: parts.log_durability,
            }),
        }
    }

    /// The router.
    pub fn router(&self) -> &Arc<Router> {
        &self.inner.router
    }

    /// The label values metrics may carry.
    pub fn metric_labels(&self) -> &crate::request_log::MetricLabels {
        &self.inner.metric_labels
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The log writer, if logging is on.
    pub fn writer(&self) -> Option<&LogWriter> {
        self.inner.writer.as_ref()
    }

    /// The metrics handle, if telemetry is on.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    /// The admin key.
    pub fn admin_key(&self) -> Option<&SecretString> {
        self.inner.admin_key.as_ref()
    }

    /// Whether the admin API needs no key.
    pub fn admin_open(&self) -> bool {
        self.inner.admin_open
    }

    /// Whether bodies are logged.
    pub fn store_bodies(&self) -> bool {
        self.inner.store_bodies
    }

    /// Request body limit.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Gateway key cache and quota counters.
    pub fn auth(&self) -> &Arc<crate::auth::Auth> {
        &self.inner.auth
    }

    /// Request-shape limits, enforced while a body is decoded.
    pub fn request_limits(&self) -> ax_core::RequestLimits {
        self.inner.request_limits
    }

    /// Host, Origin and CORS settings of the browser guards.
    pub fn guards(&self) -> &Arc<crate::guard::BrowserGuards> {
        &self.inner.guards
    }

    /// Whether an answer's last byte waits for its log row to commit.
    pub fn log_durability(&self) -> crate::config::LogDurability {
        self.inner.log_durability
    }
}
