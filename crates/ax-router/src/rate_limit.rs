//! Requests-per-minute and tokens-per-minute limits, per provider now and reusable per
//! tenant or key.
//!
//! Each limit is a token bucket refilled continuously (capacity = the per-minute limit,
//! refill = limit / 60 s), so a full minute's allowance may be spent in a burst and
//! then trickles back. Tokens are charged by an estimate before the call and reconciled
//! with the real usage after it: the bucket may go below zero when the estimate was
//! short (the debt delays later requests) and gets the difference back when it was
//! long. A request larger than the whole per-minute allowance is admitted when the
//! bucket is full, rather than never. `governor` was the alternative rejected: its GCRA
//! cells cannot be refunded or charged after the fact, which TPM reconciliation needs.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The limits of one scope (a provider, a tenant, a key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens per minute.
    pub tpm: Option<u32>,
}

/// A limit refused a request: how long until it would pass, and which limit it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The wait.
    pub wait: Duration,
    /// `true` when the requests-per-minute limit refused, `false` for tokens.
    pub requests: bool,
}

/// A limit is exhausted; the request may be admitted after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry after {0:?}")]
pub struct RetryAfter(pub Duration);

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    available: f64,
    per_sec: f64,
}

impl Bucket {
    fn per_minute(limit: u32) -> Self {
        let capacity = f64::from(limit.max(1));
        Self {
            capacity,
            available: capacity,
            per_sec: capacity / 60.0,
        }
    }

    fn refill(&mut self, elapsed: Duration) {
        self.available = (self.available + elapsed.as_secs_f64() * self.per_sec).min(self.capacity);
    }

    /// Seconds until `need` (capped at capacity) is available; 0 when it is.
    fn wait_for(&self, need: f64) -> f64 {
        let need = need.min(self.capacity);
        if self.available >= need {
            0.0
        } else {
            (need - self.available) / self.per_sec
        }
    }

    fn adjust(&mut self, delta: f64) {
        self.available = (self.available - delta).min(self.capacity);
    }
}

#[derive(Debug)]
struct Buckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    last: Instant,
}

impl Buckets {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        for b in [&mut self.requests, &mut self.tokens].into_iter().flatten() {
            b.refill(elapsed);
        }
    }
}

fn lock(m: &Mutex<Buckets>) -> MutexGuard<'_, Buckets> {
    // Updates are single assignments; a poisoned lock holds consistent numbers.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// RPM and TPM limits of one scope. `Clone` shares the buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Mutex<Buckets>>,
}

impl RateLimiter {
    /// A limiter with `limits`; no limit set means everything is admitted.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Buckets {
                requests: limits.rpm.map(Bucket::per_minute),
                tokens: limits.tpm.map(Bucket::per_minute),
                last: Instant::now(),
            })),
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        let b = lock(&self.inner);
        b.requests.is_some() || b.tokens.is_some()
    }

    /// Admits one request estimated at `tokens` now, charging both buckets.
    pub fn try_acquire(&self, tokens: u64) -> Result<RatePermit, RetryAfter> {
        self.try_acquire_at(tokens, Instant::now())
    }

    /// Admits one request estimated at `tokens` at `now`, or says how long to wait.
    pub fn try_acquire_at(&self, tokens: u64, now: Instant) -> Result<RatePermit, RetryAfter> {
        self.admit_at(tokens, now).map_err(|l| RetryAfter(l.wait))
    }

    /// As [`try_acquire`](Self::try_acquire), saying which limit refused.
    pub fn try_admit(&self, tokens: u64) -> Result<RatePermit, Limited> {
        self.admit_at(tokens, Instant::now())
    }

    fn admit_at(&self, tokens: u64, now: Instant) -> Result<RatePermit, Limited> {
        let mut b = lock(&self.inner);
        b.refill(now);
        let for_requests = b.requests.as_ref().map_or(0.0, |r| r.wait_for(1.0));
        let for_tokens = b.tokens.as_ref().map_or(0.0, |t| t.wait_for(tokens as f64));
        let wait = for_requests.max(for_tokens);
        if wait > 0.0 {
            // Round up to whole milliseconds so that waiting this long always suffices.
            let ms = (wait * 1000.0).ceil().max(1.0);
            return Err(Limited {
                wait: Duration::from_millis(ms as u64),
                requests: for_requests >= for_tokens,
            });
        }
        if let Some(r) = &mut b.requests {
            r.adjust(1.0);
        }
        if let Some(t) = &mut b.tokens {
            t.adjust(tokens as f64);
        }
        Ok(RatePermit {
            limiter: Arc::clone(&self.inner),
            charged: tokens,
        })
    }

    /// Tokens available now in the TPM bucket (negative when in debt), if limited.
    pub fn tokens_available(&self) -> Option<f64> {
        let mut b = lock(&self.inner);
        b.refill(Instant::now());
        b.tokens.as_ref().map(|t| t.available)
    }
}

/// One admitted request. Its token charge is an estimate until
/// [`reconcile`](Self::reconcile)d; dropping it keeps the estimate charged.
#[derive(Debug)]
pub struct RatePermit {
    limiter: Arc<Mutex<Buckets>>,
    charged: u64,
}

impl RatePermit {
    /// Tokens charged so far.
    pub fn charged(&self) -> u64 {
        self.charged
    }

    /// Replaces the estimate with the real usage: refunds the excess or charges the
    /// shortfall.
    pub fn reconcile(&mut self, actual_tokens: u64) {
        let delta = actual_tokens as f64 - self.charged as f64;
        if let Some(t) = &mut lock(&self.limiter).tokens {
            t.adjust(delta);
        }
        self.charged = actual_tokens;
    }

    /// The request was never sent: gives back the request and its tokens.
    pub fn refund(self) {
        let mut b = lock(&self.limiter);
        if let Some(r) = &mut b.requests {
            r.adjust(-1.0);
        }
        if let Some(t) = &mut b.tokens {
            t.adjust(-(self.charged as f64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    #[test]
    fn unlimited_admits_everything() {
        let l = RateLimiter::new(RateLimits::default());
        assert!(!l.is_limited());
        for _ in 0..10_000 {
            l.try_acquire(1_000_000).unwrap();
        }
    }

    #[test]
    fn rpm_bucket_and_retry_after() {
        let l = RateLimiter::new(RateLimits {
            rpm: Some(60),
            tpm: None,
        });
        let t0 = Instant::now();
        for _ in 0..60 {
            l.try_acquire_at(0, t0).unwrap();
        }
        let RetryAfter(wait) = l.try_acquire_at(0, t0).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(1),
            "one request per second refills"
        );
        assert!(l.try_acquire_at(0, t0 + secs(0.5)).is_err());
        l.try_acquire_at(0, t0 + secs(1.0)).unwrap();
        assert!(l.try_acquire_at(0, t0 + secs(1.0)).is_err());
    }

    #[test]
    fn tpm_is_charged_then_reconciled() {
        let l = RateLimiter::new(RateLimits {
            rpm: None,
            tpm: Some(1000),
        });
        let t0 = Instant::now();
        let mut p = l.try_acquire_at(800, t0).unwrap();
        assert!(
            l.try_acquire_at(300, t0).is_err(),
            "estimate holds the budget"
        );
        // The call used far less: the difference comes back.
        p.reconcile(100);
        assert_eq!(p.charged(), 100);
        let mut q = l.try_acquire_at(300, t0).unwrap();
        // This one used more than estimated: the bucket goes into debt.
        q.reconcile(1500);
        let RetryAfter(wait) = l.try_acquire_at(10, t0).unwrap_err();
        // 1000 - 100 - 1500 = -600: 610 tokens at 1000/60 per second = 36.6 s.
        assert_eq!(wait, Duration::from_millis(36_600));
        assert!(l.try_acquire_at(10, t0 + wait).is_ok());
    }

    #[test]
    fn refund_gives_back_request_and_tokens() {
        let l = RateLimiter::new(RateLimits {
            rpm: Some(1),
            tpm: Some(100),
        });
        let t0 = Instant::now();
        let p = l.try_acquire_at(100, t0).unwrap();
        assert!(l.try_acquire_at(1, t0).is_err());
        p.refund();
        l.try_acquire_at(100, t0).unwrap();
    }

    #[test]
    fn oversized_requests_pass_when_the_bucket_is_full() {
        let l = RateLimiter::new(RateLimits {
            rpm: None,
            tpm: Some(100),
        });
        let t0 = Instant::now();
        l.try_acquire_at(5000, t0).unwrap();
        let RetryAfter(wait) = l.try_acquire_at(5000, t0).unwrap_err();
        // Debt of 4900 plus a full bucket of 100 to pass again: 5000 tokens at 100/min.
        assert_eq!(wait, Duration::from_secs(50 * 60));
    }
}
