//! The router's seams, proved through the router: a `ProviderState` shared by two
//! routers is one circuit (what one opens the other sees, what one resets the other
//! uses), and the executor consults `Admission` for the provider scope of a limited
//! provider, never for an unlimited one, queues on its refusal's `retry_after` and
//! settles what it admitted. Also: a plan runs only the operation it was made for.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ax_core::lifecycle::{EventKind, State};
use ax_core::{ErrorCode, GatewayError};
use ax_router::admission::{self, Admission, Ask, LocalAdmission, Permit, Refusal, Scope};
use ax_router::{
    CircuitState, CountTokensOp, EmbedOp, LocalProviderState, Op, Pending, ProviderState,
    RequestOptions, Router, RouterConfig, RoutingTable,
};
use common::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn two_routers_sharing_a_provider_state_share_its_circuits() {
    let table = RoutingTable::new(ab_config(|c| {
        c.circuit_threshold = 2;
        c.providers[0].max_retries = 0;
    }))
    .unwrap();
    let state: Arc<dyn ProviderState> = Arc::new(LocalProviderState::for_table(&table));
    let (a1, b1) = ab_fakes();
    let (a2, b2) = ab_fakes();
    let router = |a: &Arc<Fake>, b: &Arc<Fake>| {
        Router::with_seams(
            table.clone(),
            as_dyn(&[a, b]),
            Arc::clone(&state),
            Arc::new(LocalAdmission::new()),
        )
        .unwrap()
    };
    let (r1, r2) = (router(&a1, &b1), router(&a2, &b2));

    // Router 1's failures open a's circuit…
    a1.always(upstream(ErrorCode::ServerError, 500));
    for _ in 0..2 {
        assert_eq!(
            chat(&r1, "gpt-4o", OFF).await.0.unwrap_err().code,
            ErrorCode::ServerError
        );
    }
    assert_eq!(r1.providers_status()[0].circuit.state, CircuitState::Open);
    // …which router 2 sees, and honours without calling its own a.
    assert_eq!(r2.providers_status()[0].circuit.state, CircuitState::Open);
    assert_eq!(r2.providers_status()[0].consecutive_failures, 2);
    let (res, _) = chat(&r2, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap_err().code, ErrorCode::CircuitOpen);
    assert_eq!(a2.calls(), 0);
    let (res, _) = chat(&r2, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!(
        r2.dry_run("gpt-4o", &OFF).unwrap()[0].circuit,
        CircuitState::Open
    );

    // A reset through router 2 closes the circuit for router 1.
    assert!(r2.reset_circuit("a"));
    assert_eq!(r1.providers_status()[0].circuit.state, CircuitState::Closed);
    a1.always(Behavior::Answer);
    let (res, _) = chat(&r1, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(a1.calls(), 3);
    assert!(Arc::ptr_eq(r1.provider_state(), r2.provider_state()));
}

/// An admission that records what it is asked and settled, refuses as scripted
/// (`Some(retry_after)`), and otherwise admits through a real `LocalAdmission`,
/// answering through a boxed future as a networked one would.
#[derive(Default)]
struct Recording {
    inner: LocalAdmission,
    asks: Mutex<Vec<(Vec<Ask>, u64)>>,
    refusals: Mutex<VecDeque<Option<Duration>>>,
    settled: Mutex<Vec<u64>>,
}

impl Recording {
    fn asks(&self) -> Vec<(Vec<Ask>, u64)> {
        self.asks.lock().unwrap().clone()
    }

    fn settled(&self) -> Vec<u64> {
        self.settled.lock().unwrap().clone()
    }

    /// Scripts the next ask to be refused with `retry_after`.
    fn refuse_next(&self, retry_after: Duration) {
        self.refusals.lock().unwrap().push_back(Some(retry_after));
    }
}

impl Admission for Recording {
    fn admit<'a>(&'a self, asks: &'a [Ask], estimate: u64) -> Pending<'a, Result<Permit, Refusal>> {
        self.asks.lock().unwrap().push((asks.to_vec(), estimate));
        let refusal = self.refusals.lock().unwrap().pop_front().flatten();
        Pending::later(async move {
            if let Some(after) = refusal {
                return Err(Refusal {
                    scope: asks[0].scope.clone(),
                    error: Box::new(
                        GatewayError::new(ErrorCode::RateLimitExceeded, "refused by the fake")
                            .with_retry_after(Some(after)),
                    ),
                });
            }
            self.inner.admit(asks, estimate).await
        })
    }

    fn settle(&self, permit: Permit, usage: admission::Usage) -> Pending<'static, ()> {
        self.settled.lock().unwrap().push(usage.tokens);
        self.inner.settle(permit, usage)
    }
}

fn with_admission(
    config: RouterConfig,
    admission: &Arc<Recording>,
) -> (Router, Arc<Fake>, Arc<Fake>) {
    let table = RoutingTable::new(config).unwrap();
    let state = Arc::new(LocalProviderState::for_table(&table));
    let (a, b) = ab_fakes();
    let r = Router::with_seams(
        table,
        as_dyn(&[&a, &b]),
        state,
        Arc::clone(admission) as Arc<dyn Admission>,
    )
    .unwrap();
    assert!(Arc::ptr_eq(
        r.admission(),
        &(Arc::clone(admission) as Arc<dyn Admission>)
    ));
    (r, a, b)
}

#[tokio::test(start_paused = true)]
async fn a_provider_without_limits_never_asks_admission() {
    let admission = Arc::new(Recording::default());
    let (r, a, _) = with_admission(ab_config(|_| {}), &admission);
    for _ in 0..3 {
        chat(&r, "gpt-4o", OFF).await.0.unwrap();
    }
    let (t, _) = tracked();
    let s = r
        .chat_stream(&chat_request("gpt-4o"), &OFF, t)
        .await
        .unwrap();
    assert_eq!(drain_text(s).await, "hello world");
    assert_eq!(a.calls(), 4);
    assert!(admission.asks().is_empty());
    assert!(admission.settled().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_limited_provider_is_admitted_through_the_seam_and_settled() {
    let admission = Arc::new(Recording::default());
    let (r, a, b) = with_admission(ab_config(|c| c.providers[0].rpm = Some(100)), &admission);

    // Admitted: asked once for the provider scope with its limits, settled with the
    // answer's real tokens (10 in, 5 out).
    let req = chat_request("gpt-4o");
    chat(&r, "gpt-4o", OFF).await.0.unwrap();
    let asks = admission.asks();
    assert_eq!(asks.len(), 1);
    let (scope_asks, estimate) = &asks[0];
    assert_eq!(scope_asks.len(), 1);
    assert_eq!(scope_asks[0].scope, Scope::Provider("a".into()));
    assert_eq!(scope_asks[0].limits.rpm, Some(100));
    assert_eq!(scope_asks[0].limits.tpm, None);
    assert_eq!(*estimate, req.estimated_input_tokens() + 256);
    assert_eq!(admission.settled(), vec![15]);

    // An upstream error settles with no tokens.
    a.script([upstream(ErrorCode::InvalidRequest, 400)]);
    let _ = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(admission.settled(), vec![15, 0]);

    // Refused with fallback on: the next target (b: no limits, not asked) answers.
    admission.refuse_next(Duration::from_secs(30));
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!((a.calls(), b.calls()), (2, 1));
    assert_eq!(admission.asks().len(), 3);
    assert_eq!(
        events(&hook.only()),
        vec![
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );

    // Refused with fallback off: the request queues on the refusal's retry_after, then
    // asks again and is admitted.
    admission.refuse_next(Duration::from_millis(700));
    let start = Instant::now();
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(start.elapsed(), Duration::from_millis(700));
    assert_eq!(admission.asks().len(), 5);
    assert_eq!(
        events(&hook.only()),
        vec![
            EventKind::RateLimitHit,
            EventKind::RateLimitCleared,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );

    // A refusal outlasting max_queue (2 s) is the request's 429, with no call made.
    admission.refuse_next(Duration::from_secs(30));
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(a.calls(), 3);
    assert_eq!(hook.only().state, State::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_stream_settles_its_admission_at_its_end() {
    let admission = Arc::new(Recording::default());
    let (r, _, _) = with_admission(
        ab_config(|c| c.providers[0].tpm = Some(100_000)),
        &admission,
    );
    let (t, hook) = tracked();
    let s = r
        .chat_stream(&chat_request("gpt-4o"), &OFF, t)
        .await
        .unwrap();
    assert_eq!(admission.asks().len(), 1);
    assert!(admission.settled().is_empty(), "not before the stream ends");
    assert_eq!(drain_text(s).await, "hello world");
    // The stream's usage: 7 in, 3 out.
    assert_eq!(admission.settled(), vec![10]);
    assert_eq!(hook.only().state, State::Completed);
}

#[tokio::test(start_paused = true)]
async fn embeddings_are_validated_and_executed_on_the_embedding_plan() {
    let (a, b) = ab_fakes();
    let r = Router::new(
        ab_config(|c| c.providers[0].models.push("text-embedding-*".into())),
        as_dyn(&[&a, &b]),
    )
    .unwrap();
    let req = embed_request("text-embedding-3-small");
    let opts = RequestOptions::default();
    // The chat plan falls back to b's chat default model; the embeddings plan does not.
    assert_eq!(r.plan(&req.model, &opts).unwrap().len(), 2);
    let plan = r.plan_for(Op::Embed, &req.model, &opts).unwrap();
    assert_eq!(plan.len(), 1);
    let (mut t, hook) = tracked();
    let resp = r
        .execute(&EmbedOp::new(&req), plan, &opts, &mut t)
        .await
        .unwrap();
    t.finish();
    assert_eq!(resp.data.len(), 2);
    assert_eq!(hook.only().state, State::Completed);

    // A chat plan cannot run embeddings: refused before any call.
    a.always(upstream(ErrorCode::ServerError, 500));
    let chat_plan = r.plan(&req.model, &opts).unwrap();
    let (mut t, hook) = tracked();
    let e = r
        .execute(&EmbedOp::new(&req), chat_plan, &opts, &mut t)
        .await
        .unwrap_err();
    t.finish();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(e.message.contains("made for chat"), "{}", e.message);
    assert_eq!((a.calls(), b.calls()), (1, 0));
    assert_eq!(hook.only().state, State::Failed);
}

#[tokio::test(start_paused = true)]
async fn token_counts_are_planned_as_chat_and_recorded_as_input_usage() {
    let (a, b) = ab_fakes();
    let r = Router::new(ab_config(|_| {}), as_dyn(&[&a, &b])).unwrap();
    let req = chat_request("gpt-4o");
    let opts = RequestOptions::default();
    // The same targets as a chat request, fallback chain included.
    let plan = r.plan_for(Op::CountTokens, &req.model, &opts).unwrap();
    let chat_plan = r.plan(&req.model, &opts).unwrap();
    let names = |p: &ax_router::Plan| -> Vec<String> {
        p.targets
            .iter()
            .map(|t| format!("{}/{}", t.provider_name(), t.model))
            .collect()
    };
    assert_eq!(names(&plan), names(&chat_plan));
    assert_eq!(plan.op, Op::CountTokens);
    let (mut t, hook) = tracked();
    let count = r
        .execute(&CountTokensOp::new(&req), plan, &opts, &mut t)
        .await
        .unwrap();
    t.finish();
    // The fakes keep the default count: the gateway's estimate, marked as such.
    assert_eq!(
        count,
        ax_core::TokenCount::estimated(req.estimated_input_tokens())
    );
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert_eq!(ctx.usage.input_tokens, count.input_tokens);
    assert_eq!(ctx.usage.output_tokens, 0);
    assert!(ctx.tokens_estimated);

    // A chat plan cannot run a count.
    let (mut t, _) = tracked();
    let e = r
        .execute(&CountTokensOp::new(&req), chat_plan, &opts, &mut t)
        .await
        .unwrap_err();
    t.finish();
    assert!(
        e.message.contains("cannot run count_tokens"),
        "{}",
        e.message
    );
}
