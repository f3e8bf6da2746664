//! Shared application state, handed to every handler.

use std::sync::Arc;

use ax_router::Router;
use ax_store::{LogWriter, Store};

use crate::gateway::Gateway;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::SecretString;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    gateway: Arc<Gateway>,
    store: Store,
    metrics: Option<PrometheusHandle>,
    admin_key: Option<SecretString>,
    admin_open: bool,
    auth: Arc<crate::auth::Auth>,
    guards: Arc<crate::guard::BrowserGuards>,
}

/// The parts [`AppState::new`] needs.
pub struct StateParts {
    /// The request pipeline (router, admission, stages, log writer).
    pub gateway: Arc<Gateway>,
    /// The store (for readiness, admin reads).
    pub store: Store,
    /// The Prometheus recorder handle, `None` when telemetry is off.
    pub metrics: Option<PrometheusHandle>,
    /// `AX_ADMIN_KEY`.
    pub admin_key: Option<SecretString>,
    /// Whether the admin API is open without a key (no key set and loopback only).
    pub admin_open: bool,
    /// Gateway key cache (tenancy).
    pub auth: Arc<crate::auth::Auth>,
    /// Host, Origin and CORS settings of the browser guards.
    pub guards: Arc<crate::guard::BrowserGuards>,
}

impl AppState {
    /// Builds the state.
    pub fn new(parts: StateParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                gateway: parts.gateway,
                store: parts.store,
                metrics: parts.metrics,
                admin_key: parts.admin_key,
                admin_open: parts.admin_open,
                auth: parts.auth,
                guards: parts.guards,
            }),
        }
    }

    /// The request pipeline.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.inner.gateway
    }

    /// The router.
    pub fn router(&self) -> &Arc<Router> {
        self.inner.gateway.router()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The log writer, if logging is on.
    pub fn writer(&self) -> Option<&LogWriter> {
        self.inner.gateway.writer()
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

    /// Gateway key cache.
    pub fn auth(&self) -> &Arc<crate::auth::Auth> {
        &self.inner.auth
    }

    /// Host, Origin and CORS settings of the browser guards.
    pub fn guards(&self) -> &Arc<crate::guard::BrowserGuards> {
        &self.inner.guards
    }
}
