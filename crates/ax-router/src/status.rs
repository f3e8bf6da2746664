//! What operators see: provider status (`GET /admin/providers`, `ax provider health
//! --json`) and dry-run plan entries (`x-ax-dry-run`, `ax route explain`). Field names
//! are the JSON contract of DESIGN §3: fields may be added, never renamed.

use std::ops::Deref;

use ax_core::ProviderKind;
use serde::Serialize;

use crate::circuit_breaker::CircuitState;
use crate::health::Health;
use crate::provider_state::ProviderSnapshot;

/// One provider's live state: who it is, and its [`ProviderSnapshot`], whose fields
/// the JSON shows beside `name` and Rust code reads through (`status.health`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Provider kind.
    pub kind: ProviderKind,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// Health, circuit, latency and counters (flattened into this object's JSON).
    #[serde(flatten)]
    pub state: ProviderSnapshot,
}

/// A status reads as its snapshot: the state's fields stay where they always were
/// (`status.circuit.state`), with no second copy of the field list.
impl Deref for ProviderStatus {
    type Target = ProviderSnapshot;

    fn deref(&self) -> &ProviderSnapshot {
        &self.state
    }
}

/// One target of a plan, as a dry run shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEntry {
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// The provider's health.
    pub health: Health,
    /// The provider's circuit state.
    pub circuit: CircuitState,
    /// Whether the target comes from the fallback chain.
    pub is_fallback: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

    use super::*;

    /// The snapshot is flattened: one object, its fields in the documented order.
    #[test]
    fn a_status_is_one_flat_json_object() {
        let status = ProviderStatus {
            name: "a".into(),
            kind: ProviderKind::OpenAi,
            enabled: true,
            state: ProviderSnapshot::unknown(),
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"name":"a","kind":"openai","enabled":true,"health":"unknown","circuit":{"state":"closed","consecutive_failures":0,"opened_at":null},"latency_ema_ms":null,"consecutive_successes":0,"consecutive_failures":0,"last_error":null}"#
        );
        assert_eq!(status.circuit.state, CircuitState::Closed);
    }
}
