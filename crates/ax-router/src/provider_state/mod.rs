//! The provider-state seam: each provider's circuit breaker and health, behind one
//! trait so that several replicas can share them (the next step keeps them in Redis).
//!
//! The executor is the only writer and the narrowest possible one: before a call it
//! [`acquire`](ProviderState::acquire)s an [`Attempt`] (the circuit's gate: open
//! circuits refuse, a half-open one lets exactly one probe through), after the call it
//! [`record`](ProviderState::record)s the [`Outcome`]. A stream that fails after its
//! first chunk (its attempt already recorded as a success) reports a
//! [`late_failure`](ProviderState::late_failure). Operators [`reset`](ProviderState::reset).
//! Each of these is one call an implementation over a shared store answers in one
//! round trip; they return [`Pending`] so that the in-memory implementation answers
//! at once, without boxing a future.
//!
//! Reads are synchronous: the planner orders route targets by [`Vitals`] (no
//! allocation: read on every request of a `least-latency` or `health` route), the
//! admin API shows a [`ProviderSnapshot`]. A shared implementation serves both from a
//! local copy refreshed by its writes, so planning never waits on the network.
//!
//! Who decides what: the executor decides whether a failure counts against the
//! provider (`GatewayError::counts_against_provider`); the implementation decides what
//! a counted failure does (an upstream authentication or permission error marks the
//! provider unhealthy at once, any other one counts towards `unhealthy`).

mod local;

use std::sync::Arc;
use std::time::Duration;

use ax_core::GatewayError;
use serde::Serialize;

pub use local::LocalProviderState;

use crate::circuit_breaker::{CircuitRejected, CircuitSnapshot, CircuitState};
use crate::health::{Health, LastError};
use crate::pending::Pending;

/// Permission to call a provider once, from [`ProviderState::acquire`]. Hand it back
/// with [`ProviderState::record`]. Dropping it records nothing (the request was
/// cancelled); a half-open probe's slot is then freed for the next caller, at once
/// in memory, by the lease's expiry in a shared store.
#[derive(Debug)]
#[must_use = "an attempt is recorded with its outcome"]
pub struct Attempt {
    provider: Arc<str>,
    generation: u64,
    probe: bool,
    /// The in-memory state this attempt was admitted by, for [`LocalProviderState`]
    /// to record it without a lookup (and to free a dropped probe's slot).
    pub(crate) local: Option<local::LocalAttempt>,
}

impl Attempt {
    /// An attempt admitted by an implementation that keeps its state elsewhere:
    /// `generation` identifies the circuit period that admitted it (an outcome of an
    /// older period decides nothing), `probe` whether it is the half-open probe.
    pub fn new(provider: Arc<str>, generation: u64, probe: bool) -> Self {
        Self {
            provider,
            generation,
            probe,
            local: None,
        }
    }

    /// The provider it may call.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The circuit period that admitted it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether it is the half-open probe (its outcome closes or re-opens the circuit).
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// How an attempt ended, as far as the provider's circuit and health are concerned.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The provider answered (for a stream: its first chunk arrived) after `latency`.
    Success {
        /// From sending the request to the answer.
        latency: Duration,
    },
    /// A failure that counts against the provider
    /// (`GatewayError::counts_against_provider`).
    Failure(&'a GatewayError),
    /// Nothing to count: the client's own error, a deadline, a call not made after all.
    NotCounted,
}

/// What the planner reads of a provider on the request path: no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vitals {
    /// Its health.
    pub health: Health,
    /// Its circuit state now (an open circuit past its open period shows `half_open`).
    pub circuit: CircuitState,
    /// Latency EMA of successful calls, in milliseconds.
    pub latency_ema_ms: Option<f64>,
    /// Successes in a row.
    pub consecutive_successes: u32,
    /// Counted failures in a row.
    pub consecutive_failures: u32,
}

impl Vitals {
    /// A provider never heard from.
    pub fn unknown() -> Self {
        Self {
            health: Health::Unknown,
            circuit: CircuitState::Closed,
            latency_ema_ms: None,
            consecutive_successes: 0,
            consecutive_failures: 0,
        }
    }
}

/// A provider's whole state, for operators: `GET /admin/providers` shows it beside the
/// provider's name (flattened into [`ProviderStatus`](crate::ProviderStatus)), so its
/// field names are that JSON contract too.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderSnapshot {
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

impl ProviderSnapshot {
    /// A provider never heard from: [`Vitals::unknown`] with a closed circuit.
    pub fn unknown() -> Self {
        let v = Vitals::unknown();
        Self {
            health: v.health,
            circuit: CircuitSnapshot {
                state: v.circuit,
                consecutive_failures: 0,
                opened_at: None,
            },
            latency_ema_ms: v.latency_ema_ms,
            consecutive_successes: v.consecutive_successes,
            consecutive_failures: v.consecutive_failures,
            last_error: None,
        }
    }

    /// The planner's part of it.
    pub fn vitals(&self) -> Vitals {
        Vitals {
            health: self.health,
            circuit: self.circuit.state,
            latency_ema_ms: self.latency_ema_ms,
            consecutive_successes: self.consecutive_successes,
            consecutive_failures: self.consecutive_failures,
        }
    }
}

/// Circuit breaker and health of every provider.
pub trait ProviderState: Send + Sync + 'static {
    /// Asks to call `provider` now: an [`Attempt`] (maybe the half-open probe), or the
    /// circuit state that refused it (no call may be made).
    fn acquire<'a>(&'a self, provider: &'a str) -> Pending<'a, Result<Attempt, CircuitRejected>>;

    /// Records how `attempt` ended.
    fn record(&self, attempt: Attempt, outcome: Outcome<'_>) -> Pending<'static, ()>;

    /// Records a counted failure outside any attempt: a stream that failed after its
    /// first chunk (its attempt was recorded as a success). Counts towards opening a
    /// closed circuit only.
    fn late_failure(&self, provider: &str, error: &GatewayError) -> Pending<'static, ()>;

    /// Closes `provider`'s circuit and forgets its failures (operator reset).
    fn reset(&self, provider: &str) -> Pending<'static, ()>;

    /// `provider`'s whole state; `None` for a provider it does not know.
    fn snapshot(&self, provider: &str) -> Option<ProviderSnapshot>;

    /// What the planner reads; `None` for a provider it does not know. Implementations
    /// should answer it without allocating (the default builds a whole snapshot).
    fn vitals(&self, provider: &str) -> Option<Vitals> {
        self.snapshot(provider).map(|s| s.vitals())
    }
}
