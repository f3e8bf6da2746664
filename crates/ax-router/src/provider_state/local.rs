//! [`LocalProviderState`]: every provider's circuit breaker and health in this
//! process's memory, each provider's under one lock (one lock taken to acquire an
//! attempt, one to record it). One replica's view only: several replicas need an
//! implementation over shared state.
//!
//! It also publishes the `ax_circuit_state{provider}` gauge, when a circuit's state
//! changes (the rejected alternative, publishing after every call as before, cost a
//! metrics lookup per request for a value that had not changed; `/metrics` refreshes
//! every provider's gauge when scraped anyway).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use tokio::time::Instant;

use super::{Attempt, Outcome, ProviderSnapshot, ProviderState, Vitals};
use crate::circuit_breaker::{CircuitRejected, CircuitState, Machine, Ticket};
use crate::health::HealthTracker;
use crate::pending::Pending;
use crate::routing_table::RoutingTable;

/// One provider's state.
#[derive(Debug)]
struct Inner {
    circuit: Machine,
    health: HealthTracker,
    /// The circuit state last published to the gauge.
    shown: CircuitState,
}

/// One provider.
#[derive(Debug)]
pub(crate) struct Entry {
    name: Arc<str>,
    inner: Mutex<Inner>,
}

impl Entry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Updates are plain assignments: a poisoned lock still holds consistent state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `update` under the lock, then publishes the circuit state if it changed.
    fn update(&self, update: impl FnOnce(&mut Inner, Instant)) {
        let now = Instant::now();
        let changed = {
            let mut inner = self.lock();
            update(&mut inner, now);
            let state = inner.circuit.state_at(now);
            (state != inner.shown).then(|| {
                inner.shown = state;
                state
            })
        };
        if let Some(state) = changed {
            self.publish(state);
        }
    }

    fn publish(&self, state: CircuitState) {
        let name = metrics::SharedString::from_shared(Arc::clone(&self.name));
        metrics::gauge!("ax_circuit_state", "provider" => name).set(state.gauge_value());
    }
}

/// What [`LocalProviderState`] keeps in an [`Attempt`]: the entry that admitted it, to
/// record it without a lookup and to free a dropped probe's slot.
#[derive(Debug)]
pub(crate) struct LocalAttempt {
    entry: Arc<Entry>,
    ticket: Ticket,
    recorded: bool,
}

impl Drop for LocalAttempt {
    fn drop(&mut self) {
        // A probe dropped unrecorded (its request was cancelled) frees the slot for the
        // next caller instead of wedging the circuit half-open.
        if !self.recorded && self.ticket.probe {
            let ticket = self.ticket;
            self.entry.update(|i, _| i.circuit.release(ticket));
        }
    }
}

/// Circuit breaker and health of a fixed set of providers, in memory.
#[derive(Debug)]
pub struct LocalProviderState {
    /// In configuration order; looked up by a linear scan of the few names (cheaper
    /// than hashing the name on every call for the handful of providers a gateway has).
    entries: Vec<Arc<Entry>>,
}

impl LocalProviderState {
    /// State for `providers` (duplicates ignored), every circuit closed and every
    /// health unknown. A circuit opens after `threshold` consecutive counted failures
    /// (at least 1) and stays open for `open_for`. A provider not named here is never
    /// refused and never tracked.
    pub fn new<I, N>(threshold: u32, open_for: Duration, providers: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let mut entries: Vec<Arc<Entry>> = Vec::new();
        for name in providers {
            let name = name.as_ref();
            if entries.iter().any(|e| &*e.name == name) {
                continue;
            }
            let entry = Arc::new(Entry {
                name: Arc::from(name),
                inner: Mutex::new(Inner {
                    circuit: Machine::new(threshold, open_for),
                    health: HealthTracker::new(),
                    shown: CircuitState::Closed,
                }),
            });
            entry.publish(CircuitState::Closed);
            entries.push(entry);
        }
        Self { entries }
    }

    /// State for every provider of `table`, with its circuit settings.
    pub fn for_table(table: &RoutingTable) -> Self {
        Self::new(
            table.circuit_threshold(),
            table.circuit_open_for(),
            table.providers().iter().map(|p| p.name.as_str()),
        )
    }

    fn entry(&self, provider: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| &*e.name == provider)
    }
}

impl ProviderState for LocalProviderState {
    fn acquire<'a>(&'a self, provider: &'a str) -> Pending<'a, Result<Attempt, CircuitRejected>> {
        let Some(entry) = self.entry(provider) else {
            // Untracked: nothing to refuse with.
            return Pending::ready(Ok(Attempt::new(Arc::from(provider), 0, false)));
        };
        let mut result = Err(CircuitRejected {
            state: CircuitState::Open,
        });
        entry.update(|i, now| result = i.circuit.acquire(now));
        Pending::ready(result.map(|ticket| Attempt {
            provider: Arc::clone(&entry.name),
            generation: ticket.generation,
            probe: ticket.probe,
            local: Some(LocalAttempt {
                entry: Arc::clone(entry),
                ticket,
                recorded: false,
            }),
        }))
    }

    fn record(&self, mut attempt: Attempt, outcome: Outcome<'_>) -> Pending<'static, ()> {
        let Some(mut local) = attempt.local.take() else {
            return Pending::ready(());
        };
        local.recorded = true;
        let ticket = local.ticket;
        local.entry.update(|i, now| match outcome {
            Outcome::Success { latency } => {
                i.circuit.success(ticket);
                i.health.record_success(latency);
            }
            Outcome::Failure(error) => {
                i.circuit.failure(ticket, now);
                // A bad upstream key does not fix itself: unhealthy at once.
                if matches!(
                    error.code,
                    ErrorCode::AuthenticationError | ErrorCode::PermissionDenied
                ) {
                    i.health.mark_unhealthy(error);
                } else {
                    i.health.record_failure(error);
                }
            }
            Outcome::NotCounted => i.circuit.release(ticket),
        });
        Pending::ready(())
    }

    fn late_failure(&self, provider: &str, error: &GatewayError) -> Pending<'static, ()> {
        if let Some(entry) = self.entry(provider) {
            entry.update(|i, now| {
                i.circuit.late_failure(now);
                i.health.record_failure(error);
            });
        }
        Pending::ready(())
    }

    fn reset(&self, provider: &str) -> Pending<'static, ()> {
        if let Some(entry) = self.entry(provider) {
            entry.update(|i, _| i.circuit.reset());
        }
        Pending::ready(())
    }

    fn snapshot(&self, provider: &str) -> Option<ProviderSnapshot> {
        let entry = self.entry(provider)?;
        let i = entry.lock();
        Some(ProviderSnapshot {
            health: i.health.health(),
            circuit: i.circuit.snapshot_at(Instant::now()),
            latency_ema_ms: i.health.latency_ema_ms(),
            consecutive_successes: i.health.consecutive_successes(),
            consecutive_failures: i.health.consecutive_failures(),
            last_error: i.health.last_error().cloned(),
        })
    }

    fn vitals(&self, provider: &str) -> Option<Vitals> {
        let entry = self.entry(provider)?;
        let i = entry.lock();
        Some(Vitals {
            health: i.health.health(),
            circuit: i.circuit.state_at(Instant::now()),
            latency_ema_ms: i.health.latency_ema_ms(),
            consecutive_successes: i.health.consecutive_successes(),
            consecutive_failures: i.health.consecutive_failures(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::circuit_breaker::CircuitBreaker;
    use crate::health::Health;
    use proptest::prelude::*;

    const OPEN_FOR: Duration = Duration::from_secs(60);

    fn now_ready<T>(p: Pending<'_, T>) -> T {
        match p.now_or() {
            Ok(v) => v,
            Err(_) => panic!("the in-memory state answers at once"),
        }
    }

    fn server_error() -> GatewayError {
        GatewayError::new(ErrorCode::ServerError, "boom").with_provider("a")
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_is_gated_by_the_circuit_and_recorded_in_health() {
        let s = LocalProviderState::new(2, OPEN_FOR, ["a", "b", "a"]);
        assert_eq!(s.entries.len(), 2);
        let e = server_error();
        for _ in 0..2 {
            let a = now_ready(s.acquire("a")).unwrap();
            assert_eq!(a.provider(), "a");
            now_ready(s.record(a, Outcome::Failure(&e)));
        }
        let v = s.vitals("a").unwrap();
        assert_eq!(
            (v.circuit, v.health),
            (CircuitState::Open, Health::Degraded)
        );
        assert_eq!(
            now_ready(s.acquire("a")).unwrap_err().state,
            CircuitState::Open
        );
        // b is untouched; an unknown provider is let through untracked.
        assert_eq!(s.vitals("b").unwrap(), Vitals::unknown());
        assert!(now_ready(s.acquire("zzz")).is_ok());
        assert!(s.snapshot("zzz").is_none());

        tokio::time::advance(OPEN_FOR).await;
        let probe = now_ready(s.acquire("a")).unwrap();
        assert!(probe.is_probe());
        assert!(now_ready(s.acquire("a")).is_err(), "one probe at a time");
        // A dropped probe frees the slot.
        drop(probe);
        let probe = now_ready(s.acquire("a")).unwrap();
        now_ready(s.record(
            probe,
            Outcome::Success {
                latency: Duration::from_millis(40),
            },
        ));
        let snap = s.snapshot("a").unwrap();
        assert_eq!(snap.circuit.state, CircuitState::Closed);
        assert_eq!(snap.latency_ema_ms, Some(40.0));
        assert_eq!(snap.last_error.unwrap().code, ErrorCode::ServerError);
    }

    #[tokio::test(start_paused = true)]
    async fn auth_failures_mark_unhealthy_late_failures_count_and_reset_closes() {
        let s = LocalProviderState::new(2, OPEN_FOR, ["a"]);
        let a = now_ready(s.acquire("a")).unwrap();
        let auth = GatewayError::new(ErrorCode::AuthenticationError, "bad key");
        now_ready(s.record(a, Outcome::Failure(&auth)));
        assert_eq!(s.vitals("a").unwrap().health, Health::Unhealthy);
        now_ready(s.late_failure("a", &server_error()));
        assert_eq!(s.vitals("a").unwrap().circuit, CircuitState::Open);
        now_ready(s.reset("a"));
        let snap = s.snapshot("a").unwrap();
        assert_eq!(snap.circuit.state, CircuitState::Closed);
        assert_eq!(snap.circuit.consecutive_failures, 0);
        // Not counted: nothing changes.
        let a = now_ready(s.acquire("a")).unwrap();
        now_ready(s.record(a, Outcome::NotCounted));
        assert_eq!(s.snapshot("a").unwrap(), snap);
    }

    /// One step of the state-machine property test.
    #[derive(Debug, Clone)]
    enum Op {
        /// Acquire and hold (an attempt in flight).
        Hold,
        /// Record the oldest held attempt: 0 success, 1 counted failure, 2 auth
        /// failure, 3 not counted, 4 dropped.
        Settle(u8),
        /// A stream failing after its first chunk.
        Late,
        /// Operator reset.
        Reset,
        /// Advance the clock by this many ms.
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Hold),
            6 => (0u8..5).prop_map(Op::Settle),
            1 => Just(Op::Late),
            1 => Just(Op::Reset),
            3 => (0u64..2_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The local state behaves exactly as a lone `CircuitBreaker` beside a lone
        /// `HealthTracker` (the pair the router kept per provider before the seam),
        /// step by step, whatever the interleaving of attempts.
        #[test]
        fn matches_a_breaker_beside_a_health_tracker(
            ops in proptest::collection::vec(op(), 0..80),
            threshold in 1u32..5,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let open_for = Duration::from_millis(1_000);
                let s = LocalProviderState::new(threshold, open_for, ["p"]);
                let b = CircuitBreaker::new(threshold, open_for);
                let mut h = HealthTracker::new();
                let mut held = Vec::new();
                let err = server_error();
                let auth = GatewayError::new(ErrorCode::PermissionDenied, "no");
                for op in ops {
                    match op {
                        Op::Hold => {
                            let got = now_ready(s.acquire("p"));
                            let want = b.try_acquire();
                            prop_assert_eq!(got.is_ok(), want.is_ok());
                            if let (Ok(g), Ok(w)) = (got, want) {
                                prop_assert_eq!(g.is_probe(), w.is_probe());
                                held.push((g, w));
                            }
                        }
                        Op::Settle(how) => {
                            if held.is_empty() {
                                continue;
                            }
                            let (g, w) = held.remove(0);
                            match how {
                                0 => {
                                    now_ready(s.record(g, Outcome::Success { latency: Duration::from_millis(5) }));
                                    w.success();
                                    h.record_success(Duration::from_millis(5));
                                }
                                1 => {
                                    now_ready(s.record(g, Outcome::Failure(&err)));
                                    w.failure();
                                    h.record_failure(&err);
                                }
                                2 => {
                                    now_ready(s.record(g, Outcome::Failure(&auth)));
                                    w.failure();
                                    h.mark_unhealthy(&auth);
                                }
                                3 => {
                                    now_ready(s.record(g, Outcome::NotCounted));
                                    drop(w);
                                }
                                _ => {
                                    drop(g);
                                    drop(w);
                                }
                            }
                        }
                        Op::Late => {
                            now_ready(s.late_failure("p", &err));
                            b.record_failure();
                            h.record_failure(&err);
                        }
                        Op::Reset => {
                            now_ready(s.reset("p"));
                            b.reset();
                        }
                        Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    }
                    let snap = s.snapshot("p").unwrap();
                    // `opened_at` is wall-clock time: compare whether it is set only.
                    let want = b.snapshot();
                    prop_assert_eq!(snap.circuit.state, want.state);
                    prop_assert_eq!(snap.circuit.consecutive_failures, want.consecutive_failures);
                    prop_assert_eq!(snap.circuit.opened_at.is_some(), want.opened_at.is_some());
                    prop_assert_eq!(snap.health, h.health());
                    prop_assert_eq!(snap.consecutive_failures, h.consecutive_failures());
                    prop_assert_eq!(snap.consecutive_successes, h.consecutive_successes());
                    prop_assert_eq!(snap.vitals(), s.vitals("p").unwrap());
                }
                Ok(())
            })?;
        }
    }
}
