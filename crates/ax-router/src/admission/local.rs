//! [`LocalAdmission`]: every scope's limits in this process's memory. Per-minute limits
//! are token buckets ([`RateLimiter`]: charged by an estimate, reconciled with the real
//! usage); day and month quotas are calendar counters ([`Calendar`]). One replica's
//! view only: several replicas need an implementation over shared state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ax_core::{ErrorCode, GatewayError};
use time::OffsetDateTime;

use super::quota::Calendar;
use super::{Admission, Ask, Grant, Limits, Permit, Refusal, Scope, Usage};
use crate::pending::Pending;
use crate::rate_limit::{Limited, RateLimiter, RateLimits, RatePermit};

/// One scope's state.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The per-minute limits the buckets were built for.
    rate_limits: RateLimits,
    rate: RateLimiter,
    calendar: Mutex<Calendar>,
}

impl Entry {
    fn new(rate_limits: RateLimits) -> Self {
        Self {
            rate_limits,
            rate: RateLimiter::new(rate_limits),
            calendar: Mutex::new(Calendar::default()),
        }
    }

    fn calendar(&self) -> MutexGuard<'_, Calendar> {
        // Updates are plain additions: a poisoned lock still holds consistent numbers.
        self.calendar.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What [`LocalAdmission`] keeps in a [`Grant`] to settle it without a lookup.
#[derive(Debug)]
pub(crate) struct LocalGrant {
    entry: Arc<Entry>,
    rate: RatePermit,
}

/// Limits of every scope, in memory.
#[derive(Debug, Default)]
pub struct LocalAdmission {
    scopes: Mutex<HashMap<Scope, Arc<Entry>>>,
}

fn clamp(limit: Option<u64>) -> Option<u32> {
    limit.map(|l| u32::try_from(l).unwrap_or(u32::MAX))
}

impl LocalAdmission {
    /// No scope known yet; scopes appear with their first ask.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of `scope`, its buckets rebuilt (full) when its per-minute limits
    /// changed since the last ask; its calendar counters are kept.
    fn entry(&self, scope: &Scope, limits: &Limits) -> Arc<Entry> {
        let rate_limits = RateLimits {
            rpm: clamp(limits.rpm),
            tpm: clamp(limits.tpm),
        };
        let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        match scopes.get_mut(scope) {
            Some(e) if e.rate_limits == rate_limits => Arc::clone(e),
            Some(e) => {
                let fresh = Arc::new(Entry {
                    rate_limits,
                    rate: RateLimiter::new(rate_limits),
                    calendar: Mutex::new(*e.calendar()),
                });
                *e = Arc::clone(&fresh);
                fresh
            }
            None => {
                let fresh = Arc::new(Entry::new(rate_limits));
                scopes.insert(scope.clone(), Arc::clone(&fresh));
                fresh
            }
        }
    }

    /// Adds usage recorded before this process started (today's tokens, this month's
    /// spend, read from the request log), so a restart does not reset quotas.
    pub fn restore(&self, scope: Scope, day_tokens: u64, month_cost_usd: f64) {
        let entry = {
            let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                scopes
                    .entry(scope)
                    .or_insert_with(|| Arc::new(Entry::new(RateLimits::default()))),
            )
        };
        let cost = (month_cost_usd.is_finite() && month_cost_usd > 0.0).then_some(month_cost_usd);
        entry
            .calendar()
            .add(OffsetDateTime::now_utc(), day_tokens, cost);
    }

    fn admit_now(&self, asks: &[Ask], estimate: u64) -> Result<Permit, Refusal> {
        let mut grants = Vec::with_capacity(asks.len());
        let needs_calendar = asks
            .iter()
            .any(|a| a.limits.tpd.is_some() || a.limits.monthly_budget_usd.is_some());
        let now = needs_calendar.then(OffsetDateTime::now_utc);
        for ask in asks {
            let entry = self.entry(&ask.scope, &ask.limits);
            let refused = |error: GatewayError, grants: Vec<Grant>| {
                // All or none: what earlier scopes were charged goes back.
                for g in grants {
                    if let Some(l) = g.local {
                        l.rate.refund();
                    }
                }
                Refusal {
                    scope: ask.scope.clone(),
                    error: Box::new(error),
                }
            };
            if let Some(now) = now {
                let mut calendar = entry.calendar();
                calendar.roll(now);
                if let Some(e) = calendar.check(&ask.limits, &ask.scope.describe(), now) {
                    drop(calendar);
                    return Err(refused(e, grants));
                }
            }
            match entry.rate.try_admit(estimate) {
                Ok(rate) => grants.push(Grant {
                    scope: ask.scope.clone(),
                    charged: estimate,
                    local: Some(LocalGrant {
                        entry: Arc::clone(&entry),
                        rate,
                    }),
                }),
                Err(limited) => return Err(refused(rate_refusal(&ask.scope, limited), grants)),
            }
        }
        Ok(Permit { grants })
    }
}

/// The client's error for a per-minute limit, worded as clients have always read it.
fn rate_refusal(scope: &Scope, limited: Limited) -> GatewayError {
    let message = match scope {
        Scope::Provider(name) => format!("provider `{name}` rate limit (rpm/tpm) reached"),
        _ => format!(
            "{} {} limit reached",
            scope.describe(),
            if limited.requests {
                "requests-per-minute"
            } else {
                "tokens-per-minute"
            }
        ),
    };
    let mut e = GatewayError::new(ErrorCode::RateLimitExceeded, message)
        .with_retry_after(Some(limited.wait));
    if let Scope::Provider(name) = scope {
        e = e.with_provider(name.as_ref());
    }
    e
}

impl Admission for LocalAdmission {
    fn admit<'a>(&'a self, asks: &'a [Ask], estimate: u64) -> Pending<'a, Result<Permit, Refusal>> {
        Pending::ready(self.admit_now(asks, estimate))
    }

    fn settle(&self, permit: Permit, usage: Usage) -> Pending<'static, ()> {
        let mut now = None;
        for grant in permit.grants {
            let Some(LocalGrant { entry, mut rate }) = grant.local else {
                continue;
            };
            rate.reconcile(usage.tokens);
            if matches!(grant.scope, Scope::Provider(_)) {
                continue;
            }
            let now = *now.get_or_insert_with(OffsetDateTime::now_utc);
            entry.calendar().add(now, usage.tokens, usage.cost_usd);
        }
        Pending::ready(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ax_core::{KeyId, TenantId};

    fn ask(scope: Scope, limits: Limits) -> Ask {
        Ask { scope, limits }
    }

    fn admit(a: &LocalAdmission, asks: &[Ask], estimate: u64) -> Result<Permit, Refusal> {
        a.admit_now(asks, estimate)
    }

    #[tokio::test(start_paused = true)]
    async fn all_scopes_or_none() {
        let a = LocalAdmission::new();
        let key = ask(
            Scope::Key(KeyId::new()),
            Limits {
                rpm: Some(2),
                ..Limits::default()
            },
        );
        let tenant = ask(
            Scope::Tenant(TenantId::new()),
            Limits {
                rpm: Some(1),
                ..Limits::default()
            },
        );
        let both = [key.clone(), tenant.clone()];
        let p = admit(&a, &both, 10).unwrap();
        assert_eq!(p.grants.len(), 2);
        // The tenant refuses the second: the key is not charged for it.
        let r = admit(&a, &both, 10).unwrap_err();
        assert_eq!(r.scope, tenant.scope);
        assert!(
            r.error.message.contains("the tenant's requests-per-minute"),
            "{}",
            r.error.message
        );
        assert_eq!(
            r.error.retry_after,
            Some(std::time::Duration::from_secs(60))
        );
        // The key still has its second request.
        let _second = admit(&a, std::slice::from_ref(&key), 10).unwrap();
        let r = admit(&a, &[key], 10).unwrap_err();
        assert!(
            r.error.message.contains("this key's"),
            "{}",
            r.error.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_reconciled_and_quotas_counted_at_settlement() {
        let a = LocalAdmission::new();
        let tenant = ask(
            Scope::Tenant(TenantId::new()),
            Limits {
                tpm: Some(100),
                tpd: Some(150),
                ..Limits::default()
            },
        );
        let asks = [tenant];
        let p = admit(&a, &asks, 90).unwrap();
        // The estimate holds the minute's tokens.
        assert!(admit(&a, &asks, 90).is_err());
        a.settle(
            p,
            Usage {
                tokens: 10,
                cost_usd: None,
            },
        )
        .await;
        let p = admit(&a, &asks, 90).unwrap();
        a.settle(
            p,
            Usage {
                tokens: 140,
                cost_usd: None,
            },
        )
        .await;
        // 150 tokens today: the day's quota is used up, whatever the minute says.
        tokio::time::advance(std::time::Duration::from_secs(120)).await;
        let r = admit(&a, &asks, 1).unwrap_err();
        assert!(r.is_quota());
        assert!(
            r.error.message.contains("tokens-per-day"),
            "{}",
            r.error.message
        );
    }

    #[test]
    fn restored_spend_counts_against_the_budget() {
        let a = LocalAdmission::new();
        let scope = Scope::Tenant(TenantId::new());
        a.restore(scope.clone(), 0, 5.0);
        let r = admit(
            &a,
            &[ask(
                scope,
                Limits {
                    monthly_budget_usd: Some(5.0),
                    ..Limits::default()
                },
            )],
            1,
        )
        .unwrap_err();
        assert!(
            r.error.message.contains("monthly budget"),
            "{}",
            r.error.message
        );
    }

    #[test]
    fn provider_refusals_name_the_provider() {
        let a = LocalAdmission::new();
        let asks = [ask(
            Scope::Provider("openai".into()),
            Limits {
                rpm: Some(1),
                ..Limits::default()
            },
        )];
        let _p = admit(&a, &asks, 1).unwrap();
        let r = admit(&a, &asks, 1).unwrap_err();
        assert_eq!(r.error.provider.as_deref(), Some("openai"));
        assert_eq!(r.error.code, ErrorCode::RateLimitExceeded);
        assert_eq!(r.scope.metric_label(r.is_quota()), "provider");
    }
}
