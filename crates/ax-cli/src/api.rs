//! The JSON shapes of the admin API (DESIGN §3), as the CLI reads and re-prints them.
//! Documented fields are typed; fields a newer server adds are kept (`extra`) so
//! `--json` passes them through.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /admin/providers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvidersStatus {
    /// Every provider, in configuration order.
    pub providers: Vec<ProviderStatus>,
}

/// One provider's live state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Provider kind.
    pub kind: String,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// `unknown`, `degraded`, `healthy` or `unhealthy`.
    pub health: String,
    /// Its circuit breaker.
    pub circuit: Circuit,
    /// Latency EMA of successful calls, in milliseconds.
    pub latency_ema_ms: Option<f64>,
    /// Successes in a row.
    pub consecutive_successes: u32,
    /// Counted failures in a row.
    pub consecutive_failures: u32,
    /// The last error.
    pub last_error: Option<LastError>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Circuit {
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Consecutive counted failures.
    pub consecutive_failures: u32,
    /// When it last opened (RFC 3339), while not closed.
    pub opened_at: Option<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A provider's last error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastError {
    /// Error code.
    pub code: String,
    /// Shortened message.
    pub message: String,
}

/// `GET /admin/routes/explain`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explain {
    /// The model asked about.
    pub model: String,
    /// Targets in order.
    pub plan: Vec<PlanEntry>,
}

/// One target of a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanEntry {
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// The provider's health.
    pub health: String,
    /// The provider's circuit state.
    pub circuit: String,
    /// Whether the target comes from the fallback chain.
    #[serde(default)]
    pub is_fallback: bool,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The tone of a health state.
pub fn health_tone(health: &str) -> crate::output::Tone {
    use crate::output::Tone;
    match health {
        "healthy" => Tone::Good,
        "degraded" => Tone::Warn,
        "unhealthy" => Tone::Bad,
        _ => Tone::Dim,
    }
}

/// The tone of a circuit state.
pub fn circuit_tone(state: &str) -> crate::output::Tone {
    use crate::output::Tone;
    match state {
        "closed" => Tone::Good,
        "half_open" => Tone::Warn,
        _ => Tone::Bad,
    }
}
