//! A per-provider circuit breaker: a state machine with no I/O.
//!
//! `Closed` admits every call and counts consecutive counted failures; at `threshold`
//! it turns `Open`. `Open` rejects every call, without any network I/O, for `open_for`;
//! the first caller after that turns it `HalfOpen` and becomes the one probe. While the
//! probe is out every other caller is rejected. The probe's success closes the circuit,
//! its failure re-opens it for another `open_for`; a probe dropped without a result
//! (the request was cancelled) frees the slot for the next caller.
//!
//! Calls are admitted through a [`CircuitPermit`] that reports the result. Each state
//! change bumps a generation number and a permit's result only counts in the generation
//! that issued it, so a slow call admitted while `Closed` cannot close a circuit that
//! has since opened (the rejected alternative, counting every result, lets stale
//! successes cut an open period short). Time is passed in (`*_at`) or read from
//! `tokio::time::Instant`, so tests run on a paused clock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;

/// RFC 3339 in UTC with milliseconds, the precision of the store's timestamps.
const OPENED_AT_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// The state of a circuit, as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are rejected without reaching the provider.
    Open,
    /// One probe call is allowed to test the provider.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The value of the `ax_circuit_state` gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// A circuit's state for the admin API (`circuit` in `GET /admin/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitSnapshot {
    /// `closed`, `open` or `half_open`.
    pub state: CircuitState,
    /// Consecutive counted failures so far.
    pub consecutive_failures: u32,
    /// When the circuit last opened (RFC 3339, UTC), while it is not closed.
    pub opened_at: Option<String>,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit {state:?}: call rejected")]
pub struct CircuitRejected {
    /// The state that rejected it (`Open`, or `HalfOpen` with the probe out).
    pub state: CircuitState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_out: bool },
}

/// What an admitted call holds to report its result: the generation that admitted it
/// and whether it is the half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) generation: u64,
    pub(crate) probe: bool,
}

/// The breaker's state machine without a lock, so that an owner keeping more state per
/// provider (health, in `LocalProviderState`) updates both under one lock.
#[derive(Debug)]
pub(crate) struct Machine {
    phase: Phase,
    consecutive_failures: u32,
    opened_at: Option<OffsetDateTime>,
    generation: u64,
    threshold: u32,
    open_for: Duration,
}

impl Machine {
    /// A closed machine opening after `threshold` (at least 1) consecutive counted
    /// failures, open for `open_for`.
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            phase: Phase::Closed,
            consecutive_failures: 0,
            opened_at: None,
            generation: 0,
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn open(&mut self, now: Instant) {
        self.phase = Phase::Open {
            until: now + self.open_for,
        };
        self.opened_at = Some(OffsetDateTime::now_utc());
        self.generation += 1;
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.consecutive_failures = 0;
        self.opened_at = None;
        self.generation += 1;
    }

    /// The state at `now`, as operators see it.
    pub(crate) fn state_at(&self, now: Instant) -> CircuitState {
        match self.phase {
            Phase::Closed => CircuitState::Closed,
            // Past its open period the next caller will probe: show that.
            Phase::Open { until } if now >= until => CircuitState::HalfOpen,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to make a call at `now`.
    pub(crate) fn acquire(&mut self, now: Instant) -> Result<Ticket, CircuitRejected> {
        let probe = match self.phase {
            Phase::Closed => false,
            Phase::Open { until } if now >= until => {
                self.phase = Phase::HalfOpen { probe_out: true };
                self.generation += 1;
                true
            }
            Phase::Open { .. } => {
                return Err(CircuitRejected {
                    state: CircuitState::Open,
                });
            }
            Phase::HalfOpen { probe_out: false } => {
                self.phase = Phase::HalfOpen { probe_out: true };
                true
            }
            Phase::HalfOpen { probe_out: true } => {
                return Err(CircuitRejected {
                    state: CircuitState::HalfOpen,
                });
            }
        };
        Ok(Ticket {
            generation: self.generation,
            probe,
        })
    }

    /// The call admitted by `ticket` succeeded: a probe closes the circuit; a closed
    /// circuit forgets its failures. A ticket of an older generation decides nothing.
    pub(crate) fn success(&mut self, ticket: Ticket) {
        if self.generation != ticket.generation {
            return;
        }
        match self.phase {
            Phase::Closed => self.consecutive_failures = 0,
            Phase::HalfOpen { .. } if ticket.probe => self.close(),
            Phase::HalfOpen { .. } | Phase::Open { .. } => {}
        }
    }

    /// The call admitted by `ticket` failed in a way that counts, at `now`: a probe
    /// re-opens the circuit; a closed circuit opens at the threshold.
    pub(crate) fn failure(&mut self, ticket: Ticket, now: Instant) {
        if self.generation != ticket.generation {
            return;
        }
        match self.phase {
            Phase::Closed => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.threshold {
                    self.open(now);
                }
            }
            Phase::HalfOpen { .. } if ticket.probe => {
                self.consecutive_failures += 1;
                self.open(now);
            }
            Phase::HalfOpen { .. } | Phase::Open { .. } => {}
        }
    }

    /// The call admitted by `ticket` ended without a result that counts: a probe frees
    /// its slot for the next caller (so a cancelled probe does not wedge the circuit).
    pub(crate) fn release(&mut self, ticket: Ticket) {
        if ticket.probe
            && self.generation == ticket.generation
            && self.phase == (Phase::HalfOpen { probe_out: true })
        {
            self.phase = Phase::HalfOpen { probe_out: false };
        }
    }

    /// A counted failure outside any admitted call (a stream failing after its first
    /// chunk, whose call already reported success). Only counts while closed.
    pub(crate) fn late_failure(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            self.consecutive_failures += 1;
            if self.consecutive_failures >= self.threshold {
                self.open(now);
            }
        }
    }

    /// Closes the circuit and forgets its failures (operator reset).
    pub(crate) fn reset(&mut self) {
        self.close();
    }

    /// The admin-API view at `now`.
    pub(crate) fn snapshot_at(&self, now: Instant) -> CircuitSnapshot {
        CircuitSnapshot {
            state: self.state_at(now),
            consecutive_failures: self.consecutive_failures,
            opened_at: self.opened_at.and_then(|t| t.format(OPENED_AT_FORMAT).ok()),
        }
    }
}

/// A circuit breaker for one provider. Cheap to share (`Clone` shares the state).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Machine>>,
}

fn lock(m: &Mutex<Machine>) -> MutexGuard<'_, Machine> {
    // A panic while holding this lock cannot leave the machine half-updated (every
    // update is a few plain assignments), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CircuitBreaker {
    /// A closed breaker opening after `threshold` consecutive counted failures (at
    /// least 1) and staying open for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Machine::new(threshold, open_for))),
        }
    }

    /// Asks to make a call now.
    pub fn try_acquire(&self) -> Result<CircuitPermit, CircuitRejected> {
        self.try_acquire_at(Instant::now())
    }

    /// Asks to make a call at `now`: a permit, or the state that refused it.
    pub fn try_acquire_at(&self, now: Instant) -> Result<CircuitPermit, CircuitRejected> {
        let ticket = lock(&self.inner).acquire(now)?;
        Ok(CircuitPermit {
            inner: Arc::clone(&self.inner),
            ticket,
            settled: false,
        })
    }

    /// Counts a failure that happened outside a permit (a stream that failed after its
    /// first chunk, whose permit already reported success). Only counts while closed.
    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now());
    }

    /// [`record_failure`](Self::record_failure) at `now`.
    pub fn record_failure_at(&self, now: Instant) {
        lock(&self.inner).late_failure(now);
    }

    /// Closes the circuit and forgets its failures (operator reset).
    pub fn reset(&self) {
        lock(&self.inner).reset();
    }

    /// The state now.
    pub fn state(&self) -> CircuitState {
        self.state_at(Instant::now())
    }

    /// The state at `now` (an open circuit past its open period shows `half_open`).
    pub fn state_at(&self, now: Instant) -> CircuitState {
        lock(&self.inner).state_at(now)
    }

    /// The admin-API view now.
    pub fn snapshot(&self) -> CircuitSnapshot {
        self.snapshot_at(Instant::now())
    }

    /// The admin-API view at `now`.
    pub fn snapshot_at(&self, now: Instant) -> CircuitSnapshot {
        lock(&self.inner).snapshot_at(now)
    }
}

/// Permission to make one call. Report the result with [`success`](Self::success) or
/// [`failure`](Self::failure); dropping it reports nothing (and frees the half-open
/// probe slot, so a cancelled probe does not wedge the circuit).
#[derive(Debug)]
#[must_use = "a permit reports the call's result; dropping it reports nothing"]
pub struct CircuitPermit {
    inner: Arc<Mutex<Machine>>,
    ticket: Ticket,
    settled: bool,
}

impl CircuitPermit {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket.probe
    }

    /// The call succeeded: a probe closes the circuit; a closed circuit forgets its
    /// failures.
    pub fn success(mut self) {
        self.settled = true;
        lock(&self.inner).success(self.ticket);
    }

    /// The call failed in a way that counts against the provider, now.
    pub fn failure(self) {
        self.failure_at(Instant::now());
    }

    /// The call failed in a way that counts against the provider, at `now`: a probe
    /// re-opens the circuit; a closed circuit opens at the threshold.
    pub fn failure_at(mut self, now: Instant) {
        self.settled = true;
        lock(&self.inner).failure(self.ticket, now);
    }
}

impl Drop for CircuitPermit {
    fn drop(&mut self) {
        if self.settled || !self.ticket.probe {
            return;
        }
        lock(&self.inner).release(self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPEN_FOR: Duration = Duration::from_secs(60);

    fn open_breaker(b: &CircuitBreaker, n: u32) {
        for _ in 0..n {
            b.try_acquire().unwrap().failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_consecutive_failures() {
        let b = CircuitBreaker::new(3, OPEN_FOR);
        open_breaker(&b, 2);
        assert_eq!(b.state(), CircuitState::Closed);
        // A success in between resets the run.
        b.try_acquire().unwrap().success();
        open_breaker(&b, 2);
        assert_eq!(b.state(), CircuitState::Closed);
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        let snap = b.snapshot();
        assert_eq!(snap.consecutive_failures, 3);
        assert!(snap.opened_at.is_some());
        assert_eq!(
            b.try_acquire().unwrap_err().state,
            CircuitState::Open,
            "open rejects"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_rejects_until_open_for_then_admits_exactly_one_probe() {
        let b = CircuitBreaker::new(1, OPEN_FOR);
        open_breaker(&b, 1);
        tokio::time::advance(OPEN_FOR - Duration::from_millis(1)).await;
        assert!(b.try_acquire().is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        // Concurrent callers are rejected while the probe is out.
        assert_eq!(b.try_acquire().unwrap_err().state, CircuitState::HalfOpen);
        assert_eq!(b.try_acquire().unwrap_err().state, CircuitState::HalfOpen);
        probe.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.snapshot().opened_at, None);
        assert!(!b.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_another_period() {
        let b = CircuitBreaker::new(2, OPEN_FOR);
        open_breaker(&b, 2);
        tokio::time::advance(OPEN_FOR).await;
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(OPEN_FOR / 2).await;
        assert!(b.try_acquire().is_err());
        tokio::time::advance(OPEN_FOR / 2).await;
        assert!(b.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_frees_the_slot() {
        let b = CircuitBreaker::new(1, OPEN_FOR);
        open_breaker(&b, 1);
        tokio::time::advance(OPEN_FOR).await;
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let next = b.try_acquire().unwrap();
        assert!(next.is_probe());
        next.success();
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_permits_do_not_decide() {
        let b = CircuitBreaker::new(1, OPEN_FOR);
        let slow = b.try_acquire().unwrap();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        // A success admitted before the circuit opened does not close it.
        slow.success();
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_and_out_of_band_failures() {
        let b = CircuitBreaker::new(2, OPEN_FOR);
        b.record_failure();
        b.record_failure();
        assert_eq!(b.state(), CircuitState::Open);
        b.reset();
        assert_eq!(
            b.snapshot(),
            CircuitSnapshot {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                opened_at: None
            }
        );
        let json = serde_json::to_value(b.snapshot()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "closed", "consecutive_failures": 0, "opened_at": null})
        );
        assert_eq!(
            serde_json::to_value(CircuitState::HalfOpen).unwrap(),
            "half_open"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Acquire and report success.
        Success,
        /// Acquire and report failure.
        Failure,
        /// Acquire and hold the permit (concurrent in-flight call).
        Hold,
        /// Settle the oldest held permit: true = success.
        Settle(bool),
        /// Drop the oldest held permit without a result.
        DropHeld,
        /// Advance time by this many ms.
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Success),
            4 => Just(Op::Failure),
            2 => Just(Op::Hold),
            2 => any::<bool>().prop_map(Op::Settle),
            1 => Just(Op::DropHeld),
            3 => (0u64..2_000).prop_map(Op::Advance),
        ]
    }

    fn legal(from: CircuitState, to: CircuitState) -> bool {
        use CircuitState::*;
        from == to
            || matches!(
                (from, to),
                (Closed, Open) | (Open, HalfOpen) | (HalfOpen, Closed) | (HalfOpen, Open)
            )
    }

    fn real_state(b: &CircuitBreaker) -> (Phase, CircuitState) {
        let phase = lock(&b.inner).phase;
        let state = match phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        };
        (phase, state)
    }

    /// Checks every single step of the machine against the legal transitions.
    struct Checker {
        open_for: Duration,
        threshold: u32,
        state: CircuitState,
        opened_at: Option<Instant>,
    }

    impl Checker {
        fn step(&mut self, b: &CircuitBreaker, now: Instant) -> Result<(), TestCaseError> {
            let (phase, to) = real_state(b);
            let from = self.state;
            prop_assert!(legal(from, to), "illegal {from:?} -> {to:?}");
            if to == CircuitState::Open
                && phase
                    != (Phase::Open {
                        until: now + self.open_for,
                    })
            {
                prop_assert!(from == CircuitState::Open, "opened with a wrong period");
            }
            if to == CircuitState::Open && from != CircuitState::Open {
                self.opened_at = Some(now);
            }
            if from == CircuitState::Open && to == CircuitState::HalfOpen {
                let at = self.opened_at.unwrap();
                prop_assert!(now >= at + self.open_for, "half-open before open_for");
            }
            if phase == (Phase::HalfOpen { probe_out: true }) {
                prop_assert!(b.try_acquire_at(now).is_err(), "a second probe got in");
            }
            let snap = b.snapshot_at(now);
            if to == CircuitState::Closed {
                prop_assert!(snap.consecutive_failures < self.threshold);
                prop_assert!(snap.opened_at.is_none());
            } else {
                prop_assert!(snap.opened_at.is_some());
            }
            self.state = to;
            Ok(())
        }

        fn acquire(
            &mut self,
            b: &CircuitBreaker,
            now: Instant,
        ) -> Result<Option<CircuitPermit>, TestCaseError> {
            let was_open_early = self.state == CircuitState::Open
                && self.opened_at.is_some_and(|at| now < at + self.open_for);
            let r = b.try_acquire_at(now);
            if was_open_early {
                prop_assert!(r.is_err(), "open admitted a call before open_for");
            }
            self.step(b, now)?;
            Ok(r.ok())
        }
    }

    proptest! {
        #[test]
        fn breaker_follows_legal_transitions(
            ops in proptest::collection::vec(op(), 0..80),
            threshold in 1u32..5,
        ) {
            let open_for = Duration::from_millis(1_000);
            let b = CircuitBreaker::new(threshold, open_for);
            let mut now = Instant::now();
            let mut held: Vec<CircuitPermit> = Vec::new();
            let mut c = Checker { open_for, threshold, state: CircuitState::Closed, opened_at: None };
            for op in ops {
                match op {
                    Op::Success => {
                        if let Some(p) = c.acquire(&b, now)? {
                            p.success();
                        }
                    }
                    Op::Failure => {
                        if let Some(p) = c.acquire(&b, now)? {
                            p.failure_at(now);
                        }
                    }
                    Op::Hold => {
                        if let Some(p) = c.acquire(&b, now)? {
                            held.push(p);
                        }
                    }
                    Op::Settle(ok) => {
                        if !held.is_empty() {
                            let p = held.remove(0);
                            if ok { p.success() } else { p.failure_at(now) }
                        }
                    }
                    Op::DropHeld => {
                        if !held.is_empty() {
                            drop(held.remove(0));
                        }
                    }
                    Op::Advance(ms) => now += Duration::from_millis(ms),
                }
                c.step(&b, now)?;
            }
        }
    }
}
