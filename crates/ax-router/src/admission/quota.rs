//! Calendar quotas: tokens per UTC day and spend per UTC calendar month. Unlike the
//! per-minute limits (token buckets that refill continuously), a quota resets at the
//! calendar boundary, which is what an operator sets a daily allowance or a monthly
//! budget for, and what the request log can restore after a restart.

use std::time::Duration;

use ax_core::{ErrorCode, GatewayError};
use time::OffsetDateTime;

use super::Limits;

/// Usage of one scope in the current day and month.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Calendar {
    day: i64,
    day_tokens: u64,
    month: i64,
    month_cost: f64,
}

fn month_index(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 12 + i64::from(u8::from(t.month()))
}

impl Calendar {
    /// Starts a new day or month when `now` is past the current one.
    pub(super) fn roll(&mut self, now: OffsetDateTime) {
        let day = now.unix_timestamp().div_euclid(86_400);
        if day != self.day {
            self.day = day;
            self.day_tokens = 0;
        }
        let month = month_index(now);
        if month != self.month {
            self.month = month;
            self.month_cost = 0.0;
        }
    }

    /// The refusal, if the day's tokens or the month's budget is used up; `scope`
    /// names whose quota it is.
    pub(super) fn check(
        &self,
        limits: &Limits,
        scope: &str,
        now: OffsetDateTime,
    ) -> Option<GatewayError> {
        if limits.tpd.is_some_and(|l| self.day_tokens >= l) {
            let ts = now.unix_timestamp();
            let to_day = u64::try_from(86_400 - ts.rem_euclid(86_400)).unwrap_or(86_400);
            return Some(refusal(
                format!("{scope} tokens-per-day quota used up"),
                Duration::from_secs(to_day),
            ));
        }
        if limits
            .monthly_budget_usd
            .is_some_and(|b| self.month_cost >= b)
        {
            return Some(refusal(
                format!("{scope} monthly budget used up"),
                until_next_month(now),
            ));
        }
        None
    }

    /// Adds a finished request's tokens and cost.
    pub(super) fn add(&mut self, now: OffsetDateTime, tokens: u64, cost: Option<f64>) {
        self.roll(now);
        self.day_tokens = self.day_tokens.saturating_add(tokens);
        if let Some(c) = cost.filter(|c| c.is_finite() && *c > 0.0) {
            self.month_cost += c;
        }
    }
}

fn refusal(message: String, after: Duration) -> GatewayError {
    GatewayError::new(ErrorCode::QuotaExceeded, message)
        .with_retry_after(Some(after.max(Duration::from_secs(1))))
}

fn until_next_month(now: OffsetDateTime) -> Duration {
    let (y, m) = if u8::from(now.month()) == 12 {
        (now.year() + 1, time::Month::January)
    } else {
        (now.year(), now.month().next())
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc() - now)
        .ok()
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn day_and_month_quotas_reset_at_the_calendar_boundary() {
        let now = datetime!(2026-03-31 10:00:45 UTC);
        let limits = Limits {
            tpd: Some(10),
            monthly_budget_usd: Some(1.0),
            ..Limits::default()
        };
        let mut c = Calendar::default();
        c.roll(now);
        assert!(c.check(&limits, "x", now).is_none());
        c.add(now, 10, None);
        let e = c.check(&limits, "x", now).unwrap();
        assert_eq!(e.code, ErrorCode::QuotaExceeded);
        assert_eq!(e.retry_after, Some(Duration::from_secs(14 * 3600 - 45)));
        // The next day starts afresh.
        let tomorrow = now + time::Duration::days(1);
        c.roll(tomorrow);
        assert!(c.check(&limits, "x", tomorrow).is_none());
        let mut c = Calendar::default();
        c.add(now, 0, Some(1.5));
        let e = c.check(&limits, "x", now).unwrap();
        assert!(e.message.contains("monthly budget"), "{}", e.message);
        // Until midnight on April 1st.
        assert_eq!(e.retry_after, Some(Duration::from_secs(14 * 3600 - 45)));
        // Not a finite positive cost: ignored.
        let mut d = Calendar::default();
        d.add(now, 0, Some(f64::NAN));
        d.add(now, 0, Some(-1.0));
        assert!(d.check(&limits, "x", now).is_none());
    }
}
