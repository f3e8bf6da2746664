//! The router's registry: every configured provider with its settings, its adapter (an
//! `Arc<dyn Provider>`, absent for a disabled provider nobody built) and its rate
//! limiter, plus the routes and the fallback chain. Built and cross-checked once by
//! `Router::new`; read-only afterwards except for the limiter. Circuit and health live
//! behind the `ProviderState` seam.

use std::collections::HashMap;
use std::sync::Arc;

use ax_core::{Provider, ProviderKind};

use crate::config::{ProviderSettings, RouteConfig};
use crate::provider_state::ProviderState;
use crate::rate_limit::RateLimiter;

/// Live rate limits of one provider, shared with running streams.
#[derive(Debug)]
pub(crate) struct ProviderRuntime {
    pub(crate) name: Arc<str>,
    pub(crate) limiter: RateLimiter,
}

/// One configured provider.
pub(crate) struct ProviderSlot {
    pub(crate) settings: ProviderSettings,
    pub(crate) provider: Option<Arc<dyn Provider>>,
    pub(crate) runtime: Arc<ProviderRuntime>,
}

impl ProviderSlot {
    /// Whether the provider takes traffic: enabled and built.
    pub(crate) fn usable(&self) -> Option<&Arc<dyn Provider>> {
        self.provider.as_ref().filter(|_| self.settings.enabled)
    }

    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }

    pub(crate) fn kind(&self) -> ProviderKind {
        self.settings.kind
    }
}

/// Everything the planner reads.
pub(crate) struct Registry {
    pub(crate) slots: Vec<ProviderSlot>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) routes: Vec<RouteConfig>,
    /// `PRIMARY_PROVIDER` followed by `FALLBACK_CHAIN`, duplicates removed.
    pub(crate) chain: Vec<String>,
    pub(crate) fallback_enabled: bool,
    /// Whether every enabled provider is of kind `mock` (the mock then also serves bare
    /// model names and the `default` route).
    pub(crate) mock_only: bool,
    /// Every provider's circuit and health.
    pub(crate) state: Arc<dyn ProviderState>,
}

impl Registry {
    pub(crate) fn slot(&self, name: &str) -> Option<&ProviderSlot> {
        self.by_name.get(name).map(|&i| &self.slots[i])
    }

    pub(crate) fn route(&self, name: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Usable providers in priority order (lower first; configuration order on ties).
    pub(crate) fn by_priority(&self) -> Vec<&ProviderSlot> {
        let mut v: Vec<&ProviderSlot> =
            self.slots.iter().filter(|s| s.usable().is_some()).collect();
        v.sort_by_key(|s| s.settings.priority);
        v
    }
}
