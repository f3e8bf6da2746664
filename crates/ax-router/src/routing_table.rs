//! [`RoutingTable`]: the router's configuration, cross-checked once. Building it is the
//! one validation of providers, routes and the fallback chain, so a config loader can
//! call it to refuse a bad file at load (instead of checking the same references a
//! second way) and hand the table on to [`Router::with_seams`](crate::Router::with_seams).
//!
//! It knows no adapter and no live state: it holds only what the configuration says
//! (provider settings in configuration order, routes, the fallback chain, the
//! resilience knobs), read-only once built. Binding adapters to it (which providers are
//! usable, whether only the mock serves) is the router's job.

use std::collections::HashMap;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::config::{ProviderSettings, RouteConfig, RouterConfig};
use crate::error::RouterError;

/// A validated routing configuration.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    providers: Vec<ProviderSettings>,
    by_name: HashMap<String, usize>,
    routes: Vec<RouteConfig>,
    /// `PRIMARY_PROVIDER` then `FALLBACK_CHAIN`, duplicates removed, as provider indexes.
    chain: Vec<usize>,
    fallback_enabled: bool,
    circuit_threshold: u32,
    circuit_open_for: Duration,
    backoff: Backoff,
    request_timeout: Duration,
    max_queue: Duration,
    stream_idle_timeout: Duration,
}

/// Whether `name` may name a provider: non-empty and without `/` (the separator of
/// `provider/model`).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.contains('/')
}

impl RoutingTable {
    /// Checks `config` and builds the table: `circuit_threshold` is at least 1;
    /// provider names are valid and unique; route names are non-empty and unique,
    /// every route has a target and names known providers; the fallback chain names
    /// known providers.
    pub fn new(config: RouterConfig) -> Result<Self, RouterError> {
        if config.circuit_threshold == 0 {
            return Err(RouterError::Invalid {
                setting: "circuit_threshold",
                reason: "must be at least 1".into(),
            });
        }
        let mut by_name = HashMap::with_capacity(config.providers.len());
        for (i, s) in config.providers.iter().enumerate() {
            if !valid_name(&s.name) {
                return Err(RouterError::BadProviderName(s.name.clone()));
            }
            if by_name.insert(s.name.clone(), i).is_some() {
                return Err(RouterError::DuplicateProvider(s.name.clone()));
            }
        }
        let known = || {
            config
                .providers
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut route_names: Vec<&str> = Vec::new();
        for r in &config.routes {
            if r.name.trim().is_empty() || route_names.contains(&r.name.as_str()) {
                return Err(RouterError::BadRouteName(r.name.clone()));
            }
            route_names.push(&r.name);
            if r.targets.is_empty() {
                return Err(RouterError::EmptyRoute(r.name.clone()));
            }
            for t in &r.targets {
                if !by_name.contains_key(&t.provider) {
                    return Err(RouterError::UnknownRouteProvider {
                        route: r.name.clone(),
                        provider: t.provider.clone(),
                        known: known(),
                    });
                }
            }
        }
        let mut chain: Vec<usize> = Vec::new();
        for name in config
            .primary_provider
            .iter()
            .chain(config.fallback_chain.iter())
        {
            let Some(&i) = by_name.get(name) else {
                return Err(RouterError::UnknownFallbackProvider {
                    provider: name.clone(),
                    known: known(),
                });
            };
            if !chain.contains(&i) {
                chain.push(i);
            }
        }
        Ok(Self {
            providers: config.providers,
            by_name,
            routes: config.routes,
            chain,
            fallback_enabled: config.fallback_enabled,
            circuit_threshold: config.circuit_threshold,
            circuit_open_for: config.circuit_open_for,
            backoff: Backoff::new(config.retry_base, config.retry_cap, config.jitter),
            request_timeout: config.request_timeout,
            max_queue: config.max_queue,
            stream_idle_timeout: config.stream_idle_timeout,
        })
    }

    /// Every provider, enabled or not, in configuration order.
    pub fn providers(&self) -> &[ProviderSettings] {
        &self.providers
    }

    /// The settings of provider `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderSettings> {
        self.index_of(name).map(|i| &self.providers[i])
    }

    /// The named routes.
    pub fn routes(&self) -> &[RouteConfig] {
        &self.routes
    }

    /// The route called `name`.
    pub fn route(&self, name: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// The fallback chain (`PRIMARY_PROVIDER` then `FALLBACK_CHAIN`, each provider once).
    pub fn chain(&self) -> impl Iterator<Item = &ProviderSettings> {
        self.chain.iter().map(|&i| &self.providers[i])
    }

    /// Whether fallback is on at all (`PROVIDER_FALLBACK_ENABLED`).
    pub fn fallback_enabled(&self) -> bool {
        self.fallback_enabled
    }

    /// Consecutive counted failures that open a circuit (at least 1).
    pub fn circuit_threshold(&self) -> u32 {
        self.circuit_threshold
    }

    /// How long an open circuit stays open before one probe.
    pub fn circuit_open_for(&self) -> Duration {
        self.circuit_open_for
    }

    /// Retry delays.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Whole-request deadline when the caller sets none.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long a request may wait for a provider rate limit to clear.
    pub fn max_queue(&self) -> Duration {
        self.max_queue
    }

    /// Longest silence allowed between two stream chunks, for providers that set
    /// none of their own.
    pub fn stream_idle_timeout(&self) -> Duration {
        self.stream_idle_timeout
    }

    /// The position of provider `name` in [`providers`](Self::providers).
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The fallback chain as provider indexes.
    pub(crate) fn chain_indexes(&self) -> &[usize] {
        &self.chain
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{Strategy, TargetRef};
    use ax_core::ProviderKind;

    fn provider(name: &str) -> ProviderSettings {
        ProviderSettings {
            name: name.into(),
            kind: ProviderKind::OpenAi,
            ..ProviderSettings::default()
        }
    }

    fn config(providers: &[&str]) -> RouterConfig {
        RouterConfig {
            providers: providers.iter().map(|n| provider(n)).collect(),
            primary_provider: None,
            fallback_chain: Vec::new(),
            ..RouterConfig::default()
        }
    }

    fn route(name: &str, targets: &[&str]) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            strategy: Strategy::Fallback,
            targets: targets.iter().map(|t| TargetRef::parse(t)).collect(),
            hedge_after: None,
        }
    }

    #[test]
    fn every_reference_is_checked_once_without_adapters() {
        let mut c = config(&["a", "b"]);
        c.routes.push(route("r", &["a", "b/m"]));
        c.primary_provider = Some("b".into());
        c.fallback_chain = vec!["a".into(), "b".into()];
        let t = RoutingTable::new(c).unwrap();
        assert_eq!(
            t.chain().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(t.provider("b").unwrap().name, "b");
        assert!(t.route("r").is_some());

        let mut c = config(&["a"]);
        c.circuit_threshold = 0;
        assert!(matches!(
            RoutingTable::new(c).unwrap_err(),
            RouterError::Invalid {
                setting: "circuit_threshold",
                ..
            }
        ));
        assert_eq!(
            RoutingTable::new(config(&["a", "a"])).unwrap_err(),
            RouterError::DuplicateProvider("a".into())
        );
        assert_eq!(
            RoutingTable::new(config(&["x/y"])).unwrap_err(),
            RouterError::BadProviderName("x/y".into())
        );
        let mut c = config(&["a"]);
        c.routes.push(route("r", &["a"]));
        c.routes.push(route("r", &["a"]));
        assert_eq!(
            RoutingTable::new(c).unwrap_err(),
            RouterError::BadRouteName("r".into())
        );
        let mut c = config(&["a"]);
        c.routes.push(route("r", &["ghost"]));
        assert!(matches!(
            RoutingTable::new(c).unwrap_err(),
            RouterError::UnknownRouteProvider { .. }
        ));
        let mut c = config(&["a"]);
        c.fallback_chain = vec!["ghost".into()];
        assert!(matches!(
            RoutingTable::new(c).unwrap_err(),
            RouterError::UnknownFallbackProvider { .. }
        ));
    }
}
