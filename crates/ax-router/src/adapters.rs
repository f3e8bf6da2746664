//! The provider adapters bound to a [`RoutingTable`]: for each provider of the table
//! (same order) its adapter, absent for a disabled provider nobody built, and what the
//! executor reads on every attempt (limits, retries, idle timeout) resolved once; plus
//! what planning derives from which providers are usable (their priority order,
//! whether only the mock serves). Built once by the router; read-only afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ax_core::{Provider, ProviderKind};

use crate::admission::Limits;
use crate::config::ProviderSettings;
use crate::error::RouterError;
use crate::planner::Target;
use crate::routing_table::{RoutingTable, valid_name};

/// One provider of the table, bound.
pub(crate) struct Slot {
    /// Its name, shared (admission scopes and attempts carry it without allocating).
    pub(crate) name: Arc<str>,
    adapter: Option<Arc<dyn Provider>>,
    enabled: bool,
    /// Its rate limits (requests and tokens per minute); unlimited skips admission.
    pub(crate) limits: Limits,
    /// Retries of a retryable failure before moving on.
    pub(crate) max_retries: u32,
    /// Longest silence allowed in its streams.
    pub(crate) idle_timeout: Duration,
}

impl Slot {
    /// The adapter, when the provider takes traffic: enabled and built.
    pub(crate) fn usable(&self) -> Option<&Arc<dyn Provider>> {
        self.adapter.as_ref().filter(|_| self.enabled)
    }

    /// The adapter, enabled or not, if one was built.
    pub(crate) fn adapter(&self) -> Option<&Arc<dyn Provider>> {
        self.adapter.as_ref()
    }
}

/// Every provider of a table with its adapter.
pub(crate) struct Adapters {
    /// In the table's order.
    pub(crate) slots: Vec<Slot>,
    /// Indexes of the usable providers by priority (lower first; configuration order
    /// on ties), computed once instead of sorted on every plan.
    pub(crate) by_priority: Vec<usize>,
    /// Whether every usable provider is of kind `mock` (the mock then also serves bare
    /// model names and the `default` route).
    pub(crate) mock_only: bool,
}

/// The adapters keyed by name, refusing bad and duplicate names.
fn by_name(
    providers: &[Arc<dyn Provider>],
) -> Result<HashMap<&str, &Arc<dyn Provider>>, RouterError> {
    let mut adapters = HashMap::with_capacity(providers.len());
    for p in providers {
        let name = p.name();
        if !valid_name(name) {
            return Err(RouterError::BadProviderName(name.to_owned()));
        }
        if adapters.insert(name, p).is_some() {
            return Err(RouterError::DuplicateProvider(name.to_owned()));
        }
    }
    Ok(adapters)
}

/// Adds default settings (enabled, the adapter's kind) for every adapter that has none
/// in `settings`, in the adapters' order.
pub(crate) fn add_defaults(
    settings: &mut Vec<ProviderSettings>,
    providers: &[Arc<dyn Provider>],
) -> Result<(), RouterError> {
    by_name(providers)?;
    for p in providers {
        if !settings.iter().any(|s| s.name == p.name()) {
            settings.push(ProviderSettings {
                name: p.name().to_owned(),
                kind: p.kind(),
                ..ProviderSettings::default()
            });
        }
    }
    Ok(())
}

impl Adapters {
    /// Binds `providers` to `table` by name. An enabled provider needs an adapter; an
    /// adapter needs settings in the table.
    pub(crate) fn bind(
        table: &RoutingTable,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Result<Self, RouterError> {
        let mut adapters = by_name(&providers)?;
        let mut slots = Vec::with_capacity(table.providers().len());
        for s in table.providers() {
            let adapter = adapters.remove(s.name.as_str()).cloned();
            if s.enabled && adapter.is_none() {
                return Err(RouterError::MissingAdapter(s.name.clone()));
            }
            if let Some(p) = &adapter
                && p.kind() != s.kind
            {
                tracing::warn!(provider = %s.name, configured = %s.kind, adapter = %p.kind(), "provider kind differs from its adapter's; routing uses the configured kind");
            }
            slots.push(Slot {
                name: Arc::from(s.name.as_str()),
                adapter,
                enabled: s.enabled,
                limits: Limits {
                    rpm: s.rpm.map(u64::from),
                    tpm: s.tpm.map(u64::from),
                    ..Limits::default()
                },
                max_retries: s.max_retries,
                idle_timeout: s
                    .stream_idle_timeout
                    .unwrap_or_else(|| table.stream_idle_timeout()),
            });
        }
        if let Some(name) = adapters.into_keys().next() {
            return Err(RouterError::Invalid {
                setting: "providers",
                reason: format!("adapter `{name}` has no settings in the routing table"),
            });
        }
        let mut by_priority: Vec<usize> = (0..slots.len())
            .filter(|&i| slots[i].usable().is_some())
            .collect();
        by_priority.sort_by_key(|&i| table.providers()[i].priority);
        let mock_only = !by_priority.is_empty()
            && by_priority
                .iter()
                .all(|&i| table.providers()[i].kind == ProviderKind::Mock);
        Ok(Self {
            slots,
            by_priority,
            mock_only,
        })
    }

    /// The slot of `target`'s provider: the one the plan names, or (for a plan made
    /// by another router) the one of the same name.
    pub(crate) fn slot_of(&self, target: &Target, table: &RoutingTable) -> Option<&Slot> {
        let name = target.provider.name();
        match self.slots.get(target.slot) {
            Some(s) if &*s.name == name => Some(s),
            _ => self.slots.get(table.index_of(name)?),
        }
    }
}
