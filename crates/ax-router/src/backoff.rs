//! Retry delays: the one owner of backoff in the router.
//!
//! Exponential with full jitter (AWS's "full jitter": a uniform draw in
//! `[0, min(cap, base·2^n)]`), base 250 ms and cap 8 s by default. An upstream
//! `Retry-After` replaces the computed delay, clamped to [`MAX_RETRY_AFTER`] so a
//! provider asking for an hour cannot park a request. A delay that would end past the
//! request deadline is refused: the caller moves on instead of sleeping in vain.
//! Zero-jitter mode returns the upper bound, for exact tests.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The longest `Retry-After` honoured; longer hints are clamped to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Exponential backoff with optional full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(8), true)
    }
}

impl Backoff {
    /// Backoff from `base`, never above `cap` (at least `base`), jittered or not.
    pub fn new(base: Duration, cap: Duration, jitter: bool) -> Self {
        Self {
            base,
            cap: cap.max(base),
            jitter,
        }
    }

    /// The upper bound of the delay before retry number `retry` (0 = the first retry):
    /// `min(cap, base·2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry number `retry`: the upstream's `retry_after` when given
    /// (clamped to [`MAX_RETRY_AFTER`]), else a jittered exponential delay.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_RETRY_AFTER);
        }
        let ceiling = self.ceiling(retry);
        if !self.jitter || ceiling.is_zero() {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// [`delay`](Self::delay), or `None` when sleeping it from `now` would pass
    /// `deadline`.
    pub fn delay_before(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        now: Instant,
        deadline: Instant,
    ) -> Option<Duration> {
        let delay = self.delay(retry, retry_after);
        (now + delay < deadline).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_jitter_doubles_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(250), Duration::from_secs(8), false);
        let ms: Vec<u128> = (0..8).map(|n| b.delay(n, None).as_millis()).collect();
        assert_eq!(ms, vec![250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(b.delay(1000, None), Duration::from_secs(8), "no overflow");
    }

    #[test]
    fn full_jitter_stays_within_bounds() {
        let b = Backoff::default();
        for n in 0..10 {
            for _ in 0..200 {
                let d = b.delay(n, None);
                assert!(d <= b.ceiling(n), "{d:?} > {:?}", b.ceiling(n));
                assert!(d <= Duration::from_secs(8));
            }
        }
        // Jitter actually spreads the delays.
        let draws: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3, None)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn retry_after_is_used_and_clamped() {
        let b = Backoff::default();
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay(5, Some(Duration::from_millis(10))),
            Duration::from_millis(10)
        );
        assert_eq!(b.delay(0, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn never_sleeps_past_the_deadline() {
        let b = Backoff::new(Duration::from_millis(250), Duration::from_secs(8), false);
        let now = Instant::now();
        let deadline = now + Duration::from_millis(600);
        assert_eq!(
            b.delay_before(0, None, now, deadline),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            b.delay_before(1, None, now, deadline),
            Some(Duration::from_millis(500))
        );
        assert_eq!(b.delay_before(2, None, now, deadline), None);
        assert_eq!(
            b.delay_before(0, Some(Duration::from_secs(1)), now, deadline),
            None
        );
    }
}
