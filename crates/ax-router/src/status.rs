//! What operators see: provider status (`GET /admin/providers`, `ax provider health
//! --json`) and dry-run plan entries (`x-ax-dry-run`, `ax route explain`). Field names
//! are the JSON contract of DESIGN §3: fields may be added, never renamed.

use ax_core::ProviderKind;
use serde::Serialize;

use crate::circuit_breaker::{CircuitSnapshot, CircuitState};
use crate::health::{Health, LastError};

/// One provider's live state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Provider kind.
    pub kind: ProviderKind,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// `unknown`, `degraded`, `healthy` or `unhealthy`.
    pub health: Health,
    /// Its circuit breaker.
    pub circuit: CircuitSnapshot,
    /// Latency EMA of successful calls, in milliseconds.
    pub latency_ema_ms: Option<f64>,
    /// Successes in a row.
    pub consecutive_successes: u32,
    /// Counted failures in a row.
    pub consecutive_failures: u32,
    /// The last error (code and shortened message).
    pub last_error: Option<LastError>,
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
