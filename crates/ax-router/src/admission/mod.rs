//! The admission seam: every limit a request must pass before it may cost money, for
//! every scope — a provider's requests and tokens per minute, a key's and a tenant's
//! requests and tokens per minute and tokens per day, a tenant's monthly budget.
//!
//! One call admits several scopes at once ([`Admission::admit`] takes a list): all of
//! them pass or none is charged, and an implementation over a shared store (Redis)
//! answers them in one round trip. A [`Permit`] is then settled explicitly with what
//! the request really used ([`Admission::settle`]). A permit dropped unsettled (a
//! client gone mid-request) keeps its estimate charged, which is exactly what settling
//! it as cancelled would do, so no `Drop` logic is needed to stay correct.
//!
//! Who asks: the gateway asks the key and tenant scopes once per request, before it
//! plans; the executor asks the provider scope before each attempt (and may queue
//! on the answer's `retry_after`). The in-memory implementation is [`LocalAdmission`].

mod local;
mod quota;

use std::sync::Arc;

use ax_core::{GatewayError, KeyId, TenantId};

pub use local::LocalAdmission;

use crate::pending::Pending;

/// Whose limit a check is against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An upstream provider, by name.
    Provider(Arc<str>),
    /// A gateway key.
    Key(KeyId),
    /// A tenant.
    Tenant(TenantId),
}

impl Scope {
    /// How the scope is named in a refusal (`provider `x``, `this key's`, `the
    /// tenant's`), as clients have always read it.
    pub fn describe(&self) -> String {
        match self {
            Self::Provider(name) => format!("provider `{name}`"),
            Self::Key(_) => "this key's".to_owned(),
            Self::Tenant(_) => "the tenant's".to_owned(),
        }
    }

    /// The `scope` label of `ax_rate_limited_total` for a refusal in this scope.
    pub fn metric_label(&self, quota: bool) -> &'static str {
        match (self, quota) {
            (Self::Provider(_), _) => "provider",
            (_, false) => "tenant_rate",
            (_, true) => "tenant_quota",
        }
    }
}

/// The limits of one scope; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
    /// Tokens per UTC day.
    pub tpd: Option<u64>,
    /// Spend per calendar month (UTC), US dollars.
    pub monthly_budget_usd: Option<f64>,
}

impl Limits {
    /// Whether no limit is set (such a scope need not be asked at all).
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none()
            && self.tpm.is_none()
            && self.tpd.is_none()
            && self.monthly_budget_usd.is_none()
    }
}

impl From<&ax_core::tenant::Quotas> for Limits {
    fn from(q: &ax_core::tenant::Quotas) -> Self {
        Self {
            rpm: q.rpm,
            tpm: q.tpm,
            tpd: q.tpd,
            monthly_budget_usd: q.monthly_budget_usd,
        }
    }
}

/// One scope to admit under, with its current limits (limits travel with the ask so
/// that a quota changed through the admin API applies to the next request).
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Whose limit.
    pub scope: Scope,
    /// The limits.
    pub limits: Limits,
}

/// What one admitted scope was charged.
#[derive(Debug)]
pub struct Grant {
    /// The scope.
    pub scope: Scope,
    /// Tokens charged on admission (the estimate), replaced by the real usage when
    /// settled.
    pub charged: u64,
    /// The in-memory state this grant charged, for [`LocalAdmission`] to settle
    /// without a lookup; `None` for implementations that keep state elsewhere.
    pub(crate) local: Option<local::LocalGrant>,
}

impl Grant {
    /// A grant of `charged` tokens in `scope`, for implementations outside this crate.
    pub fn new(scope: Scope, charged: u64) -> Self {
        Self {
            scope,
            charged,
            local: None,
        }
    }
}

/// Proof of admission for every scope asked; settle it with
/// [`Admission::settle`].
#[derive(Debug, Default)]
#[must_use = "a permit is settled with the usage the request really had"]
pub struct Permit {
    /// One grant per limited scope.
    pub grants: Vec<Grant>,
}

impl Permit {
    /// A permit for nothing (every scope unlimited): settling it costs nothing.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// What the request really used, to settle a permit with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Tokens, input plus output (0 for an attempt that failed upstream).
    pub tokens: u64,
    /// Its cost, when priced.
    pub cost_usd: Option<f64>,
}

/// A scope refused the request.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Which scope.
    pub scope: Scope,
    /// The error for the client: `rate_limit_exceeded` (per-minute limits) or
    /// `quota_exceeded` (day and month), with `retry_after` set. Boxed: refusals are
    /// rare and the admitted path should not carry their size.
    pub error: Box<GatewayError>,
}

impl Refusal {
    /// Whether it is a quota (day, month) rather than a per-minute rate.
    pub fn is_quota(&self) -> bool {
        self.error.code == ax_core::ErrorCode::QuotaExceeded
    }
}

/// Limits for every scope, checked and charged in one place.
pub trait Admission: Send + Sync + 'static {
    /// Admits one request estimated at `estimate` tokens under every scope in `asks`
    /// (all or none: a refusal charges nothing). Unlimited asks may be left out.
    fn admit<'a>(&'a self, asks: &'a [Ask], estimate: u64) -> Pending<'a, Result<Permit, Refusal>>;

    /// Replaces the permit's estimate with what the request really used.
    fn settle(&self, permit: Permit, usage: Usage) -> Pending<'static, ()>;
}
