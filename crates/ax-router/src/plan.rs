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

use std::cmp::Reverse;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ax_core::pattern::glob_match;
use ax_core::tenant::{PlannedTarget, target_allowed};
use ax_core::{ErrorCode, GatewayError, Provider, ProviderKind};
use rand::Rng;

use crate::config::{RouteConfig, Strategy};
use crate::provider_state::Vitals;
use crate::registry::{ProviderSlot, Registry};
use crate::router::RequestOptions;

/// One step of a plan: ask `provider` for `model`.
#[derive(Clone)]
pub struct Target {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// The upstream model (prefix stripped).
    pub model: String,
    /// Whether this target comes from the fallback chain.
    pub is_fallback: bool,
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

fn target(provider: &Arc<dyn Provider>, model: Option<&str>) -> Target {
    Target {
        provider: Arc::clone(provider),
        model: model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| provider.default_model())
            .to_owned(),
        is_fallback: false,
    }
}

/// Builds the plan for `model`; `chain` appends the fallback chain (when fallback is on);
/// then drops the targets the calling key may not use.
pub(crate) fn build(
    reg: &Registry,
    model: &str,
    opts: &RequestOptions,
    chain: bool,
) -> Result<Plan, GatewayError> {
    let mut plan = unrestricted(reg, model, opts.fallback && reg.fallback_enabled, chain)?;
    if let Some(patterns) = &opts.allowed_models {
        restrict(reg, &mut plan, patterns, model)?;
    }
    Ok(plan)
}

/// Keeps only the targets `patterns` allow, in order. When none of the model's own
/// targets (those not from the fallback chain) is allowed the request is
/// `permission_denied`: the key asked for something it may not use, and being answered
/// by an unrelated fallback default instead would hide that.
fn restrict(
    reg: &Registry,
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
                serves_bare_model: serves_bare_model(reg, t),
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
/// first provider by priority whose patterns claim it, the provider whose default model
/// it is, or the mock in mock-only mode.
fn serves_bare_model(reg: &Registry, t: &Target) -> bool {
    let name = t.provider.name();
    if t.provider.default_model() == t.model {
        return true;
    }
    let claimed = reg.by_priority().into_iter().find(|s| {
        s.settings
            .models
            .iter()
            .any(|pat| glob_match(pat, &t.model))
    });
    match claimed {
        Some(slot) => slot.name() == name,
        None => only_mock(reg).is_some_and(|m| m.name() == name),
    }
}

/// The plan before any key restriction.
fn unrestricted(
    reg: &Registry,
    model: &str,
    fallback: bool,
    chain: bool,
) -> Result<Plan, GatewayError> {
    let mut plan = select(reg, model.trim())?;
    if !fallback {
        plan.targets.truncate(1);
        plan.hedge_after = None;
        return Ok(plan);
    }
    if !chain {
        return Ok(plan);
    }
    for name in &reg.chain {
        let Some(slot) = reg.slot(name) else { continue };
        let Some(provider) = slot.usable() else {
            continue;
        };
        if plan
            .targets
            .iter()
            .any(|t| t.provider.name() == slot.name())
        {
            continue;
        }
        let mut t = target(provider, None);
        t.is_fallback = true;
        plan.targets.push(t);
    }
    Ok(plan)
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

fn single(provider: &Arc<dyn Provider>, model: Option<&str>) -> Plan {
    Plan {
        targets: vec![target(provider, model)],
        route: None,
        hedge_after: None,
    }
}

/// The mock that serves bare names in mock-only mode.
fn only_mock(reg: &Registry) -> Option<&Arc<dyn Provider>> {
    if !reg.mock_only {
        return None;
    }
    reg.by_priority()
        .into_iter()
        .find(|s| s.kind() == ProviderKind::Mock)
        .and_then(ProviderSlot::usable)
}

fn select(reg: &Registry, model: &str) -> Result<Plan, GatewayError> {
    if model.is_empty() {
        return Err(GatewayError::invalid_param("model", "`model` is required"));
    }
    let mut hint = None;

    // 1. provider/model, by name then by kind.
    if let Some((prefix, rest)) = model.split_once('/') {
        if let Some(slot) = reg.slot(prefix) {
            return match slot.usable() {
                Some(p) => Ok(single(p, Some(rest))),
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
            let found = reg.by_priority().into_iter().find(|s| s.kind() == kind);
            if let Some(slot) = found
                && let Some(p) = slot.usable()
            {
                return Ok(single(p, Some(rest)));
            }
            hint = Some(format!("no enabled provider of kind {kind}"));
        }
    }

    // 2. a route.
    if let Some(route) = reg.route(model) {
        let targets = route_targets(reg, route);
        if !targets.is_empty() {
            return Ok(Plan {
                targets,
                route: Some(route.name.clone()),
                hedge_after: route.hedge_after,
            });
        }
        if model != "default" || !reg.mock_only {
            return Err(GatewayError::new(
                ErrorCode::NotFound,
                format!("route `{model}` has no enabled target"),
            )
            .with_param("model"));
        }
    }
    if model == "default"
        && let Some(p) = only_mock(reg)
    {
        return Ok(single(p, None));
    }

    // A bare provider name: its default model.
    if let Some(slot) = reg.slot(model)
        && let Some(p) = slot.usable()
    {
        return Ok(single(p, None));
    }

    // 3. a bare model matched against each provider's patterns.
    let matched = reg
        .by_priority()
        .into_iter()
        .find(|s| s.settings.models.iter().any(|pat| glob_match(pat, model)));
    if let Some(slot) = matched
        && let Some(p) = slot.usable()
    {
        return Ok(single(p, Some(model)));
    }
    if let Some(p) = only_mock(reg) {
        return Ok(single(p, Some(model)));
    }
    Err(not_found(model, hint))
}

/// A route's enabled targets, ordered by its strategy.
fn route_targets(reg: &Registry, route: &RouteConfig) -> Vec<Target> {
    let mut usable: Vec<(&ProviderSlot, Target)> = route
        .targets
        .iter()
        .filter_map(|t| {
            let slot = reg.slot(&t.provider)?;
            let p = slot.usable()?;
            Some((slot, target(p, t.model.as_deref())))
        })
        .collect();
    match route.strategy {
        Strategy::Fallback => {}
        Strategy::Weighted => {
            let weights: Vec<u32> = usable.iter().map(|(s, _)| s.settings.weight).collect();
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
                .map(|(s, t)| (vitals(reg, s), t))
                .collect();
            keyed.sort_by(|(a, _), (b, _)| {
                latency_key(a.latency_ema_ms).total_cmp(&latency_key(b.latency_ema_ms))
            });
            return keyed.into_iter().map(|(_, t)| t).collect();
        }
        Strategy::Health => {
            let mut keyed: Vec<(Vitals, Target)> = usable
                .into_iter()
                .map(|(s, t)| (vitals(reg, s), t))
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
fn vitals(reg: &Registry, slot: &ProviderSlot) -> Vitals {
    reg.state
        .vitals(slot.name())
        .unwrap_or_else(Vitals::unknown)
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
