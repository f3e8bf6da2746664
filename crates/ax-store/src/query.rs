//! Filters and result rows of the analytics queries. The rows serialize with exactly
//! the JSON field names of DESIGN §3 (`ax provider logs --json`, `ax provider stats
//! --json`); fields may be added, never renamed.

use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use serde::{Deserialize, Serialize};

/// Which log rows [`LogQuery::recent_logs`](crate::LogQuery::recent_logs) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this provider's rows.
    pub provider: Option<String>,
    /// Only failed requests.
    pub failed_only: bool,
    /// At most this many rows.
    pub limit: u32,
}

impl LogFilter {
    /// Rows shown when no `--number` is given.
    pub const DEFAULT_LIMIT: u32 = 20;
}

impl Default for LogFilter {
    fn default() -> Self {
        Self {
            provider: None,
            failed_only: false,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One request as `ax provider logs --json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// The request ID.
    pub request_id: String,
    /// When the request began (`YYYY-MM-DDTHH:MM:SS.sssZ`).
    pub created_at: String,
    /// Provider of the last attempt.
    pub provider: Option<String>,
    /// Upstream model of the last attempt.
    pub model: Option<String>,
    /// Final lifecycle state.
    pub state: State,
    /// Why it failed.
    pub error_code: Option<ErrorCode>,
    /// Whole-request duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Time to first token in milliseconds.
    pub first_token_ms: Option<i64>,
    /// Prompt tokens; `None` (JSON `null`) when the store has no count for the request.
    pub input_tokens: Option<u64>,
    /// Generated tokens; `None` (JSON `null`) when the store has no count.
    pub output_tokens: Option<u64>,
    /// Whether the token counts are local estimates.
    pub tokens_estimated: bool,
    /// Whether a fallback provider served it.
    pub is_fallback: bool,
    /// Upstream attempts sent.
    pub attempts: u32,
    /// `x-ax-conversation-id`.
    pub conversation_id: Option<String>,
    /// `x-ax-user-id`.
    pub user_id: Option<String>,
    /// `x-ax-tags`.
    pub tags: Vec<String>,
    /// What the request cost in USD; `None` (JSON `null`) when it is unknown: the model
    /// has no list price, or the request never named one. Never a made-up 0.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

/// Aggregates of one provider and model over a time window (`ax provider stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsRow {
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// Requests in the window.
    pub requests: u64,
    /// Completed requests / requests, in `0.0..=1.0`.
    pub success_rate: f64,
    /// Mean whole-request duration in milliseconds.
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile of the duration (nearest rank) in milliseconds.
    pub p95_latency_ms: Option<i64>,
    /// Mean time to first token in milliseconds.
    pub avg_first_token_ms: Option<f64>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Requests a fallback provider served.
    pub fallbacks: u64,
    /// Total cost in USD of the priced requests; `None` (JSON `null`) when none of the
    /// row's requests has a known cost.
    pub cost_usd: Option<f64>,
    /// Requests whose cost is unknown (model without a list price), so not in
    /// `cost_usd`: when both are non-zero, `cost_usd` is a lower bound.
    #[serde(default)]
    pub unpriced_requests: u64,
}

/// One failed request with its error (`provider_failed_requests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRow {
    /// The request ID.
    pub request_id: String,
    /// When the request began.
    pub created_at: String,
    /// Provider of the last attempt, if any was made.
    pub provider: Option<String>,
    /// Upstream model of the last attempt.
    pub model: Option<String>,
    /// Why it failed.
    pub error_code: Option<ErrorCode>,
    /// Details.
    pub error_message: Option<String>,
    /// Whole-request duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Upstream attempts sent.
    pub attempts: u32,
    /// Whether a fallback provider was tried last.
    pub is_fallback: bool,
    /// The provider the fallback moved to.
    pub fallback_provider: Option<String>,
    /// `x-ax-conversation-id`.
    pub conversation_id: Option<String>,
    /// `x-ax-user-id`.
    pub user_id: Option<String>,
}
