//! Typed router configuration: providers as the router sees them (name, kind, model
//! patterns, priority, weight, retries, rate limits), routes (named target lists with a
//! strategy and optional hedging) and the resilience knobs of DESIGN §4/§5.
//!
//! These types are built elsewhere (ax-server reads `ax.toml` and the environment); the
//! router only checks cross-references when it is constructed. Every `Default` matches
//! DESIGN §4/§5. Durations are typed (`Duration`), never bare milliseconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ax_core::ProviderKind;
use serde::{Deserialize, Serialize};

/// The router's whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Every provider the router knows, enabled or not, in configuration order.
    pub providers: Vec<ProviderSettings>,
    /// Named routes (`model: "<route name>"`).
    pub routes: Vec<RouteConfig>,
    /// `PROVIDER_FALLBACK_ENABLED` (default `true`). When `false`, a plan is only its
    /// first target: no other provider is ever tried.
    pub fallback_enabled: bool,
    /// `PRIMARY_PROVIDER` (default `claude`): first provider of the fallback chain.
    pub primary_provider: Option<String>,
    /// `FALLBACK_CHAIN` (default `gemini, openai`): the rest of the fallback chain.
    pub fallback_chain: Vec<String>,
    /// `PROVIDER_CIRCUIT_THRESHOLD` (default 5): consecutive counted failures that open
    /// a provider's circuit.
    pub circuit_threshold: u32,
    /// `PROVIDER_CIRCUIT_TIMEOUT` (default 60 s): how long an open circuit stays open
    /// before one probe is let through.
    pub circuit_open_for: Duration,
    /// First retry delay before jitter (default 250 ms).
    pub retry_base: Duration,
    /// Longest retry delay (default 8 s).
    pub retry_cap: Duration,
    /// Whole-request deadline when the caller sets none (default 600 s).
    pub request_timeout: Duration,
    /// `max_queue_ms`: how long a request may wait for a provider rate limit to clear
    /// when it cannot be skipped (fallback off, or the last target). Default 2 s: long
    /// enough to smooth a burst, short enough that a client sees the 429 quickly.
    pub max_queue: Duration,
    /// Longest silence allowed between two stream chunks (and before the first one
    /// once the upstream accepted the request); default 60 s.
    pub stream_idle_timeout: Duration,
    /// Whether retry delays are jittered (default `true`; tests set `false`).
    pub jitter: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            routes: Vec::new(),
            fallback_enabled: true,
            primary_provider: Some("claude".to_owned()),
            fallback_chain: vec!["gemini".to_owned(), "openai".to_owned()],
            circuit_threshold: 5,
            circuit_open_for: Duration::from_secs(60),
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            request_timeout: Duration::from_secs(600),
            max_queue: Duration::from_secs(2),
            stream_idle_timeout: Duration::from_secs(60),
            jitter: true,
        }
    }
}

/// One provider as the router sees it (the adapter's own settings — URL, key,
/// timeouts — live in ax-providers).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// The provider's name (`claude`, `gemini`, `openai`, `mock`, or from `ax.toml`).
    pub name: String,
    /// Its kind.
    pub kind: ProviderKind,
    /// Glob patterns (`*`, `?`) of bare model names this provider serves (`gpt-*`).
    pub models: Vec<String>,
    /// Lower is preferred when several providers match a bare model (default 10).
    pub priority: i32,
    /// Share of first picks in a `weighted` route (default 1).
    pub weight: u32,
    /// Retries of a retryable failure on this provider before moving on (default 2).
    pub max_retries: u32,
    /// Requests per minute allowed to this provider, if limited.
    pub rpm: Option<u32>,
    /// Tokens per minute allowed to this provider, if limited.
    pub tpm: Option<u32>,
    /// Longest silence allowed between two of this provider's stream chunks (and
    /// before the first one), when it differs from the router's
    /// [`stream_idle_timeout`](RouterConfig::stream_idle_timeout) (`idle_timeout_ms`
    /// of a `[[providers]]` entry). The router is the only owner of this deadline.
    pub stream_idle_timeout: Option<Duration>,
    /// Whether the provider takes traffic (default `true`).
    pub enabled: bool,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: ProviderKind::OpenAiCompatible,
            models: Vec::new(),
            priority: 10,
            weight: 1,
            max_retries: 2,
            rpm: None,
            tpm: None,
            stream_idle_timeout: None,
            enabled: true,
        }
    }
}

/// How a route orders its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// In the order listed.
    #[default]
    Fallback,
    /// One target picked at random by provider weight first, the rest in order.
    Weighted,
    /// By latency EMA, fastest first; providers with no measurement last.
    LeastLatency,
    /// By (health, consecutive successes descending, latency ascending).
    Health,
}

impl Strategy {
    /// The config name (`fallback`, `weighted`, `least-latency`, `health`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fallback => "fallback",
            Self::Weighted => "weighted",
            Self::LeastLatency => "least-latency",
            Self::Health => "health",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fallback" => Ok(Self::Fallback),
            "weighted" => Ok(Self::Weighted),
            "least-latency" => Ok(Self::LeastLatency),
            "health" => Ok(Self::Health),
            other => Err(format!(
                "unknown strategy `{other}` (expected fallback, weighted, least-latency or health)"
            )),
        }
    }
}

/// A named route: `model: "<name>"` is served by its targets in strategy order.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// The route name clients put in `model`.
    pub name: String,
    /// How targets are ordered.
    pub strategy: Strategy,
    /// The targets (at least one).
    pub targets: Vec<TargetRef>,
    /// `hedge_after_ms`: when the first target has not answered in this time, the
    /// second is started as well and the first success wins.
    pub hedge_after: Option<Duration>,
}

/// A route target: a provider, and optionally the model to ask it for (else the
/// provider's default model). Written `provider` or `provider/model`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct TargetRef {
    /// The provider name.
    pub provider: String,
    /// The upstream model, when not the provider's default.
    pub model: Option<String>,
}

impl TargetRef {
    /// Parses `provider` or `provider/model` (split on the first `/` only, so the model
    /// may itself contain `/`). An empty model (`provider/`) means the default model.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        match s.split_once('/') {
            Some((provider, model)) => Self {
                provider: provider.to_owned(),
                model: (!model.is_empty()).then(|| model.to_owned()),
            },
            None => Self {
                provider: s.to_owned(),
                model: None,
            },
        }
    }
}

impl FromStr for TargetRef {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl From<String> for TargetRef {
    fn from(s: String) -> Self {
        Self::parse(&s)
    }
}

impl From<TargetRef> for String {
    fn from(t: TargetRef) -> Self {
        t.to_string()
    }
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.model {
            Some(m) => write!(f, "{}/{}", self.provider, m),
            None => f.write_str(&self.provider),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let c = RouterConfig::default();
        assert!(c.fallback_enabled);
        assert_eq!(c.primary_provider.as_deref(), Some("claude"));
        assert_eq!(c.fallback_chain, vec!["gemini", "openai"]);
        assert_eq!(c.circuit_threshold, 5);
        assert_eq!(c.circuit_open_for, Duration::from_secs(60));
        assert_eq!(c.retry_base, Duration::from_millis(250));
        assert_eq!(c.retry_cap, Duration::from_secs(8));
        assert!(c.jitter);
        let p = ProviderSettings::default();
        assert_eq!((p.max_retries, p.weight, p.enabled), (2, 1, true));
    }

    #[test]
    fn target_ref_parses_on_the_first_slash() {
        assert_eq!(
            TargetRef::parse("openai"),
            TargetRef {
                provider: "openai".into(),
                model: None
            }
        );
        let t = TargetRef::parse("router/meta-llama/llama-3-70b");
        assert_eq!(t.provider, "router");
        assert_eq!(t.model.as_deref(), Some("meta-llama/llama-3-70b"));
        assert_eq!(t.to_string(), "router/meta-llama/llama-3-70b");
        assert_eq!(TargetRef::parse("p/").model, None);
        let json: TargetRef = serde_json::from_str("\"gemini/fast\"").unwrap();
        assert_eq!(json.model.as_deref(), Some("fast"));
    }

    #[test]
    fn strategy_names_are_kebab_case() {
        for s in [
            Strategy::Fallback,
            Strategy::Weighted,
            Strategy::LeastLatency,
            Strategy::Health,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
            let back: Strategy = serde_json::from_str(&json).unwrap();
            assert_eq!(back, s);
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }
}
