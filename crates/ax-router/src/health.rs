//! Per-provider health scoring (DESIGN §4).
//!
//! `unknown` until the first result. Five consecutive successes make a provider
//! `healthy`; three consecutive counted failures make it `unhealthy`; anything in
//! between is `degraded`. Recovery from `unhealthy` goes through `degraded` (its first
//! success), never straight to `healthy`. An upstream authentication or permission
//! failure marks the provider `unhealthy` at once (a bad key does not fix itself).
//! Latency is an exponential moving average of successful calls (α = 0.2). The last
//! error keeps its code and a shortened message, never request content or secrets.

use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use serde::{Deserialize, Serialize};

/// Consecutive successes that make a provider healthy.
pub const HEALTHY_AFTER: u32 = 5;
/// Consecutive failures that make a provider unhealthy.
pub const UNHEALTHY_AFTER: u32 = 3;
/// Weight of the newest sample in the latency EMA.
pub const LATENCY_ALPHA: f64 = 0.2;
/// Longest error message kept.
const MAX_MESSAGE_CHARS: usize = 200;

/// A provider's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No result yet.
    Unknown,
    /// Mixed recent results, or recovering.
    Degraded,
    /// At least five consecutive successes.
    Healthy,
    /// At least three consecutive failures (or a bad upstream key).
    Unhealthy,
}

impl Health {
    /// `unknown`, `degraded`, `healthy` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Degraded => "degraded",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// Sort key for the `health` strategy: lower is better (healthy, degraded,
    /// unknown, unhealthy).
    pub fn rank(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Degraded => 1,
            Self::Unknown => 2,
            Self::Unhealthy => 3,
        }
    }
}

/// The last error seen from a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// Its code.
    pub code: ErrorCode,
    /// Its message, shortened.
    pub message: String,
}

/// Health bookkeeping of one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthTracker {
    health: Health,
    consecutive_successes: u32,
    consecutive_failures: u32,
    latency_ema_ms: Option<f64>,
    last_error: Option<LastError>,
}

impl Default for HealthTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthTracker {
    /// A provider not yet heard from.
    pub fn new() -> Self {
        Self {
            health: Health::Unknown,
            consecutive_successes: 0,
            consecutive_failures: 0,
            latency_ema_ms: None,
            last_error: None,
        }
    }

    /// The current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Successes in a row.
    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }

    /// Counted failures in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Latency EMA in milliseconds, once measured.
    pub fn latency_ema_ms(&self) -> Option<f64> {
        self.latency_ema_ms
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<&LastError> {
        self.last_error.as_ref()
    }

    /// A successful call that took `latency`.
    pub fn record_success(&mut self, latency: Duration) {
        self.consecutive_successes = self.consecutive_successes.saturating_add(1);
        self.consecutive_failures = 0;
        self.health = match self.health {
            Health::Unknown | Health::Unhealthy => Health::Degraded,
            Health::Degraded | Health::Healthy => {
                if self.consecutive_successes >= HEALTHY_AFTER {
                    Health::Healthy
                } else {
                    Health::Degraded
                }
            }
        };
        let sample = latency.as_secs_f64() * 1000.0;
        self.latency_ema_ms = Some(match self.latency_ema_ms {
            None => sample,
            Some(ema) => LATENCY_ALPHA * sample + (1.0 - LATENCY_ALPHA) * ema,
        });
    }

    /// A failure that counts against the provider.
    pub fn record_failure(&mut self, error: &GatewayError) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_successes = 0;
        self.health =
            if self.consecutive_failures >= UNHEALTHY_AFTER || self.health == Health::Unhealthy {
                Health::Unhealthy
            } else {
                Health::Degraded
            };
        self.remember(error);
    }

    /// A failure that makes the provider unhealthy at once (upstream 401/403).
    pub fn mark_unhealthy(&mut self, error: &GatewayError) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_successes = 0;
        self.health = Health::Unhealthy;
        self.remember(error);
    }

    fn remember(&mut self, error: &GatewayError) {
        let mut message: String = error.message.chars().take(MAX_MESSAGE_CHARS).collect();
        if error.message.chars().count() > MAX_MESSAGE_CHARS {
            message.push('…');
        }
        self.last_error = Some(LastError {
            code: error.code,
            message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn err() -> GatewayError {
        GatewayError::new(ErrorCode::ServerError, "boom").with_provider("p")
    }

    #[test]
    fn unknown_to_degraded_to_healthy_after_five_successes() {
        let mut h = HealthTracker::new();
        assert_eq!(h.health(), Health::Unknown);
        h.record_success(ms(100));
        assert_eq!(h.health(), Health::Degraded);
        for _ in 0..3 {
            h.record_success(ms(100));
        }
        assert_eq!(h.health(), Health::Degraded);
        h.record_success(ms(100));
        assert_eq!(h.health(), Health::Healthy);
        assert_eq!(h.consecutive_successes(), 5);
    }

    #[test]
    fn three_failures_make_unhealthy_and_recovery_goes_through_degraded() {
        let mut h = HealthTracker::new();
        for _ in 0..5 {
            h.record_success(ms(10));
        }
        h.record_failure(&err());
        assert_eq!(h.health(), Health::Degraded);
        h.record_failure(&err());
        assert_eq!(h.health(), Health::Degraded);
        h.record_failure(&err());
        assert_eq!(h.health(), Health::Unhealthy);
        assert_eq!(h.consecutive_failures(), 3);
        assert_eq!(h.last_error().unwrap().code, ErrorCode::ServerError);
        h.record_success(ms(10));
        assert_eq!(h.health(), Health::Degraded, "recovers through degraded");
        for _ in 0..3 {
            h.record_success(ms(10));
        }
        assert_eq!(h.health(), Health::Degraded);
        h.record_success(ms(10));
        assert_eq!(h.health(), Health::Healthy);
        assert_eq!(h.consecutive_failures(), 0);
    }

    #[test]
    fn auth_failure_marks_unhealthy_at_once() {
        let mut h = HealthTracker::new();
        h.mark_unhealthy(&GatewayError::new(
            ErrorCode::AuthenticationError,
            "bad key",
        ));
        assert_eq!(h.health(), Health::Unhealthy);
        h.record_failure(&err());
        assert_eq!(h.health(), Health::Unhealthy);
    }

    #[test]
    fn latency_ema() {
        let mut h = HealthTracker::new();
        assert_eq!(h.latency_ema_ms(), None);
        h.record_success(ms(100));
        assert_eq!(h.latency_ema_ms(), Some(100.0));
        h.record_success(ms(200));
        assert!((h.latency_ema_ms().unwrap() - 120.0).abs() < 1e-9);
    }

    #[test]
    fn long_messages_are_shortened_and_names_are_lowercase() {
        let mut h = HealthTracker::new();
        h.record_failure(&GatewayError::new(ErrorCode::Timeout, "x".repeat(1000)));
        assert!(h.last_error().unwrap().message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            serde_json::to_value(Health::Unhealthy).unwrap(),
            "unhealthy"
        );
        assert!(Health::Healthy.rank() < Health::Degraded.rank());
        assert!(Health::Unknown.rank() < Health::Unhealthy.rank());
    }
}
