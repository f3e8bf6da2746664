//! The ordered list of stages a decoded request passes before the router executes it.
//! A stage sees the [`Exchange`] (format, caller, model, token estimate) and may refuse
//! the request; what it holds for the request's end (a permit) goes into the exchange
//! and is settled by the finish hook with the final context.
//!
//! The standard list is `[admission]`. Where the next ones go: a response cache right
//! after admission (a hit must still be counted against the caller's limits); a
//! per-tenant spend guard beside admission. Hedging and provider limits are not
//! stages: they belong to each attempt of the plan and live in the router's executor.

use std::sync::Arc;

use ax_core::{GatewayError, KeyId, TenantId, WireFormat};
use ax_router::Pending;
use ax_router::admission::{Admission, Ask, Limits, Permit, Refusal, Scope};

use crate::auth::Identity;

/// What a stage sees of a request.
pub struct Exchange<'r> {
    /// The client's wire format.
    pub format: WireFormat,
    /// The calling key and its tenant, when keys are in use.
    pub identity: Option<&'r Identity>,
    /// The model as the client named it.
    pub model: &'r str,
    /// Tokens the request is expected to use (input estimate plus its output cap).
    pub estimate: u64,
    /// The admission permit to settle when the request ends.
    pub permit: Option<Permit>,
}

/// One step before execution.
pub trait Stage: Send + Sync + 'static {
    /// Its name, for logs.
    fn name(&self) -> &'static str;

    /// Runs before the plan executes; an error ends the request with that error.
    fn before<'a>(&'a self, ex: &'a mut Exchange<'_>) -> Pending<'a, Result<(), GatewayError>>;
}

/// The standard stage list.
pub fn standard(admission: &Arc<dyn Admission>) -> Vec<Arc<dyn Stage>> {
    vec![Arc::new(Admit {
        admission: Arc::clone(admission),
    })]
}

/// Admission of the key and tenant scopes (requests and tokens per minute, tokens per
/// day, monthly budget), in one call covering both.
struct Admit {
    admission: Arc<dyn Admission>,
}

fn decide(answer: Result<Permit, Refusal>, ex: &mut Exchange<'_>) -> Result<(), GatewayError> {
    match answer {
        Ok(permit) => {
            ex.permit = Some(permit);
            Ok(())
        }
        Err(refusal) => {
            metrics::counter!(
                "ax_rate_limited_total",
                "scope" => refusal.scope.metric_label(refusal.is_quota())
            )
            .increment(1);
            Err(*refusal.error)
        }
    }
}

impl Stage for Admit {
    fn name(&self) -> &'static str {
        "admission"
    }

    fn before<'a>(&'a self, ex: &'a mut Exchange<'_>) -> Pending<'a, Result<(), GatewayError>> {
        // The caller's asks were built once per key (unlimited scopes left out): an
        // unlimited key of an unlimited tenant costs no admission call at all.
        let Some(identity) = ex.identity.filter(|i| !i.asks.is_empty()) else {
            return Pending::ready(Ok(()));
        };
        match self.admission.admit(&identity.asks, ex.estimate).now_or() {
            Ok(answer) => Pending::ready(decide(answer, ex)),
            Err(pending) => Pending::later(async move {
                let answer = pending.await;
                decide(answer, ex)
            }),
        }
    }
}

/// The asks of a key and its tenant, unlimited scopes left out.
pub(crate) fn asks_of(key: (KeyId, Limits), tenant: (TenantId, Limits)) -> Arc<[Ask]> {
    [
        Ask {
            scope: Scope::Key(key.0),
            limits: key.1,
        },
        Ask {
            scope: Scope::Tenant(tenant.0),
            limits: tenant.1,
        },
    ]
    .into_iter()
    .filter(|a| !a.limits.is_unlimited())
    .collect()
}

/// Limits of a key (per-minute only: a key has no day or month quota).
pub(crate) fn key_limits(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
    Limits {
        rpm,
        tpm,
        ..Limits::default()
    }
}
