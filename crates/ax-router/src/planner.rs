//! Model selection (DESIGN §3): from the request's `model` to an ordered plan of
//! targets.
//!
//! 1. `provider/model` whose prefix is a provider *name* (`claude`, or any configured
//!    name) or a provider *kind* with an enabled provider (`anthropic`, `google`,
//!    `gemini`, `openai`, `openai-compatible`, `mock`) → that provider, prefix stripped.
//!    The split is on the first `/` only, so the model may contain `/`; an unknown
//!    prefix leaves the whole string to the next rules.
//! 2. A route name → its targets, ordered by its strategy.
//! 3. A bare model → the enabled provider whose `models` glob patterns match, lowest
//!    `priority` first. (Also: a bare provider name → that provider's default model.)
//!
//! The `mock` provider answers any model under its prefix; when it is the only enabled
//! provider it also serves bare names and the `default` route. When fallback is on,
//! the fallback chain (`PRIMARY_PROVIDER`, then `FALLBACK_CHAIN`) is appended with each
//! provider's default model, skipping providers already planned and disabled ones.
//! When fallback is off (config or `x-ax-fallback: off`) the plan is its first target
//! only: no other provider is ever tried.
//!
//! A plan is made for one operation ([`Op`]): an embeddings plan has no fallback chain
//! (its targets carry chat default models, which cannot embed), and the executor
//! refuses to run a plan made for another operation, so a request is validated and
//! executed on the same plan.
//!
//! Planning is pure: it reads the [`RoutingTable`], the bound adapters and the
//! providers' [`Vitals`] (for the `least-latency` and `health` strategies), and does
//! no I/O.

use std::cmp::Reverse;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ax_core::pattern::glob_match;
use ax_core::tenant::{PlannedTarget, target_allowed};
use ax_core::{ErrorCode, GatewayError, Provider, ProviderKind};
use rand::Rng;

use crate::adapters::{Adapters, Slot};
use crate::config::{ProviderSettings, RouteConfig, Strategy};
use crate::provider_state::{ProviderState, Vitals};
use crate::router::RequestOptions;
use crate::routing_table::RoutingTable;

/// What a plan is for: the operations a router executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A chat completion, streamed or not.
    Chat,
    /// Embeddings.
    Embed,
    /// Counting a chat request's input tokens: planned as chat is (the same models,
    /// fallback chain and allowed models), since it is asked of the chat model.
    CountTokens,
}

impl Op {
    /// `chat`, `embed` or `count_tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embed => "embed",
            Self::CountTokens => "count_tokens",
        }
    }

    /// Whether the fallback chain is appended: not for embeddings, whose chain targets
    /// would carry chat default models that cannot embed (their refusal would hide the
    /// real failure).
    fn uses_chain(self) -> bool {
        matches!(self, Self::Chat | Self::CountTokens)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a plan: ask `provider` for `model`.
#[derive(Clone)]
pub struct Target {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// The upstream model (prefix stripped).
    pub model: String,
    /// Whether this target comes from the fallback chain.
    pub is_fallback: bool,
    /// The provider's position in the routing table, so the executor finds its
    /// settings without a lookup by name.
    pub(crate) slot: usize,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider.name())
            .field("model", &self.model)
            .field("is_fallback", &self.is_fallback)
            .finish()
    }
}

impl Target {
    /// The provider's name.
    pub fn provider_name(&self) -> &str {
        self.provider.name()
    }
}

/// The ordered targets a request will try.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What the plan is for; the executor runs only that operation on it.
    pub op: Op,
    /// Targets in order; never empty.
    pub targets: Vec<Target>,
    /// The route that produced the plan, if any.
    pub route: Option<String>,
    /// Start the second target when the first has not answered within this time.
    pub hedge_after: Option<Duration>,
}

impl Plan {
    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there is no target (never true for a plan the router returns).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// What planning reads: the table, its adapters, the providers' state.
#[derive(Clone, Copy)]
pub(crate) struct Planner<'a> {
    pub(crate) table: &'a RoutingTable,
    pub(crate) adapters: &'a Adapters,
    pub(crate) state: &'a dyn ProviderState,
}

/// A provider of the table, with its bound adapter.
#[derive(Clone, Copy)]
struct Known<'a> {
    index: usize,
    settings: &'a ProviderSettings,
    slot: &'a Slot,
}

impl<'a> Known<'a> {
    fn name(&self) -> &'a str {
        &self.settings.name
    }

    fn usable(&self) -> Option<&'a Arc<dyn Provider>> {
        self.slot.usable()
    }

    fn target(&self, provider: &Arc<dyn Provider>, model: Option<&str>) -> Target {
        Target {
            provider: Arc::clone(provider),
            model: model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| provider.default_model())
                .to_owned(),
            is_fallback: false,
            slot: self.index,
        }
    }

    fn single(&self, provider: &Arc<dyn Provider>, model: Option<&str>) -> Plan {
        Plan {
            op: Op::Chat,
            targets: vec![self.target(provider, model)],
            route: None,
            hedge_after: None,
        }
    }
}

impl<'a> Planner<'a> {
    fn known(&self, index: usize) -> Option<Known<'a>> {
        Some(Known {
            index,
            settings: self.table.providers().get(index)?,
            slot: self.adapters.slots.get(index)?,
        })
    }

    fn by_name(&self, name: &str) -> Option<Known<'a>> {
        self.known(self.table.index_of(name)?)
    }

    /// Usable providers in priority order (lower first; configuration order on ties).
    fn by_priority(&self) -> impl Iterator<Item = Known<'a>> + '_ {
        self.adapters
            .by_priority
            .iter()
            .filter_map(|&i| self.known(i))
    }

    /// Builds the plan of `op` for `model`, then drops the targets the calling key
    /// may not use.
    pub(crate) fn plan(
        &self,
        op: Op,
        model: &str,
        opts: &RequestOptions,
    ) -> Result<Plan, GatewayError> {
        let fallback = opts.fallback && self.table.fallback_enabled();
        let mut plan = self.unrestricted(model, fallback, op.uses_chain())?;
        plan.op = op;
        if let Some(patterns) = &opts.allowed_models {
            self.restrict(&mut plan, patterns, model)?;
        }
        Ok(plan)
    }

    /// Keeps only the targets `patterns` allow, in order. When none of the model's own
    /// targets (those not from the fallback chain) is allowed the request is
    /// `permission_denied`: the key asked for something it may not use, and being
    /// answered by an unrelated fallback default instead would hide that.
    fn restrict(
        &self,
        plan: &mut Plan,
        patterns: &[String],
        model: &str,
    ) -> Result<(), GatewayError> {
        plan.targets.retain(|t| {
            target_allowed(
                patterns,
                &PlannedTarget {
                    provider: t.provider.name(),
                    kind: t.provider.kind(),
                    model: &t.model,
                    serves_bare_model: self.serves_bare_model(t),
                },
            )
        });
        if plan.targets.len() < 2 {
            plan.hedge_after = None;
        }
        if plan.targets.iter().all(|t| t.is_fallback) {
            return Err(GatewayError::new(
                ErrorCode::PermissionDenied,
                format!("this key may not use model `{}`", model.trim()),
            )
            .with_param("model"));
        }
        Ok(())
    }

    /// Whether `t`'s provider is where a request for its bare model name would go: the
    /// first provider by priority whose patterns claim it, the provider whose default
    /// model it is, or the mock in mock-only mode.
    fn serves_bare_model(&self, t: &Target) -> bool {
        let name = t.provider.name();
        if t.provider.default_model() == t.model {
            return true;
        }
        let claimed = self.by_priority().find(|k| {
            k.settings
                .models
                .iter()
                .any(|pat| glob_match(pat, &t.model))
        });
        match claimed {
            Some(k) => k.name() == name,
            None => self.only_mock().is_some_and(|(_, m)| m.name() == name),
        }
    }

    /// The plan before any key restriction.
    fn unrestricted(&self, model: &str, fallback: bool, chain: bool) -> Result<Plan, GatewayError> {
        let mut plan = self.select(model.trim())?;
        if !fallback {
            plan.targets.truncate(1);
            plan.hedge_after = None;
            return Ok(plan);
        }
        if !chain {
            return Ok(plan);
        }
        for &i in self.table.chain_indexes() {
            let Some(k) = self.known(i) else { continue };
            let Some(provider) = k.usable() else {
                continue;
            };
            if plan.targets.iter().any(|t| t.provider.name() == k.name()) {
                continue;
            }
            let mut t = k.target(provider, None);
            t.is_fallback = true;
            plan.targets.push(t);
        }
        Ok(plan)
    }

    /// The mock that serves bare names in mock-only mode.
    fn only_mock(&self) -> Option<(Known<'a>, &'a Arc<dyn Provider>)> {
        if !self.adapters.mock_only {
            return None;
        }
        self.by_priority()
            .find(|k| k.settings.kind == ProviderKind::Mock)
            .and_then(|k| Some((k, k.usable()?)))
    }

    fn select(&self, model: &str) -> Result<Plan, GatewayError> {
        if model.is_empty() {
            return Err(GatewayError::invalid_param("model", "`model` is required"));
        }
        let mut hint = None;

        // 1. provider/model, by name then by kind.
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(k) = self.by_name(prefix) {
                return match k.usable() {
                    Some(p) => Ok(k.single(p, Some(rest))),
                    None => Err(GatewayError::new(
                        ErrorCode::NotFound,
                        format!(
                            "model `{model}`: provider `{prefix}` is not enabled (set its API key or `enabled = true`)"
                        ),
                    )
                    .with_param("model")),
                };
            }
            if let Ok(kind) = prefix.parse::<ProviderKind>() {
                let found = self.by_priority().find(|k| k.settings.kind == kind);
                if let Some(k) = found
                    && let Some(p) = k.usable()
                {
                    return Ok(k.single(p, Some(rest)));
                }
                hint = Some(format!("no enabled provider of kind {kind}"));
            }
        }

        // 2. a route.
        if let Some(route) = self.table.route(model) {
            let targets = self.route_targets(route);
            if !targets.is_empty() {
                return Ok(Plan {
                    op: Op::Chat,
                    targets,
                    route: Some(route.name.clone()),
                    hedge_after: route.hedge_after,
                });
            }
            if model != "default" || !self.adapters.mock_only {
                return Err(GatewayError::new(
                    ErrorCode::NotFound,
                    format!("route `{model}` has no enabled target"),
                )
                .with_param("model"));
            }
        }
        if model == "default"
            && let Some((k, p)) = self.only_mock()
        {
            return Ok(k.single(p, None));
        }

        // A bare provider name: its default model.
        if let Some(k) = self.by_name(model)
            && let Some(p) = k.usable()
        {
            return Ok(k.single(p, None));
        }

        // 3. a bare model matched against each provider's patterns.
        let matched = self
            .by_priority()
            .find(|k| k.settings.models.iter().any(|pat| glob_match(pat, model)));
        if let Some(k) = matched
            && let Some(p) = k.usable()
        {
            return Ok(k.single(p, Some(model)));
        }
        if let Some((k, p)) = self.only_mock() {
            return Ok(k.single(p, Some(model)));
        }
        Err(not_found(model, hint))
    }

    /// A route's enabled targets, ordered by its strategy.
    fn route_targets(&self, route: &RouteConfig) -> Vec<Target> {
        let mut usable: Vec<(Known<'a>, Target)> = route
            .targets
            .iter()
            .filter_map(|t| {
                let k = self.by_name(&t.provider)?;
                let p = k.usable()?;
                Some((k, k.target(p, t.model.as_deref())))
            })
            .collect();
        match route.strategy {
            Strategy::Fallback => {}
            Strategy::Weighted => {
                let weights: Vec<u32> = usable.iter().map(|(k, _)| k.settings.weight).collect();
                let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
                if total > 0 {
                    let roll = rand::rng().random_range(0..total);
                    let first = weighted_pick(&weights, roll);
                    let chosen = usable.remove(first);
                    usable.insert(0, chosen);
                }
            }
            Strategy::LeastLatency => {
                // One read per target, not one per comparison.
                let mut keyed: Vec<(Vitals, Target)> = usable
                    .into_iter()
                    .map(|(k, t)| (self.vitals(k), t))
                    .collect();
                keyed.sort_by(|(a, _), (b, _)| {
                    latency_key(a.latency_ema_ms).total_cmp(&latency_key(b.latency_ema_ms))
                });
                return keyed.into_iter().map(|(_, t)| t).collect();
            }
            Strategy::Health => {
                let mut keyed: Vec<(Vitals, Target)> = usable
                    .into_iter()
                    .map(|(k, t)| (self.vitals(k), t))
                    .collect();
                keyed.sort_by(|(a, _), (b, _)| {
                    health_key(a).cmp(&health_key(b)).then_with(|| {
                        latency_key(a.latency_ema_ms).total_cmp(&latency_key(b.latency_ema_ms))
                    })
                });
                return keyed.into_iter().map(|(_, t)| t).collect();
            }
        }
        usable.into_iter().map(|(_, t)| t).collect()
    }

    /// What the planner reads of a provider's state (unknown when it is not tracked).
    fn vitals(&self, k: Known<'_>) -> Vitals {
        self.state.vitals(k.name()).unwrap_or_else(Vitals::unknown)
    }
}

fn not_found(model: &str, hint: Option<String>) -> GatewayError {
    let mut message = format!(
        "unknown model `{model}`: not `provider/model` of an enabled provider, not a route, and no enabled provider serves it"
    );
    if let Some(h) = hint {
        message.push_str(" (");
        message.push_str(&h);
        message.push(')');
    }
    GatewayError::new(ErrorCode::NotFound, message).with_param("model")
}

/// Unmeasured providers sort after every measured one.
fn latency_key(ms: Option<f64>) -> f64 {
    ms.unwrap_or(f64::INFINITY)
}

fn health_key(v: &Vitals) -> (u8, Reverse<u32>) {
    (v.health.rank(), Reverse(v.consecutive_successes))
}

/// The index whose cumulative weight range contains `roll` (`roll < sum(weights)`).
pub(crate) fn weighted_pick(weights: &[u32], roll: u64) -> usize {
    let mut acc = 0u64;
    for (i, &w) in weights.iter().enumerate() {
        acc += u64::from(w);
        if roll < acc {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o-mini"));
        assert!(glob_match("o*", "o3-mini"));
        assert!(!glob_match("o*", "gpt-4o"));
        assert!(glob_match("claude-*", "claude-3-5-sonnet-20241022"));
        assert!(!glob_match("claude-*", "claude"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*-mini", "gpt-4o-mini"));
        assert!(glob_match("text-embedding-004", "text-embedding-004"));
        assert!(!glob_match("gemini-*", "xgemini-1"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn weighted_pick_follows_cumulative_weights() {
        let w = [1, 0, 3];
        assert_eq!(weighted_pick(&w, 0), 0);
        assert_eq!(weighted_pick(&w, 1), 2);
        assert_eq!(weighted_pick(&w, 3), 2);
        assert_eq!(weighted_pick(&[0, 5], 0), 1);
    }
}
