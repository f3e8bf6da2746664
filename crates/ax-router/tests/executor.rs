//! The attempt loop for non-streamed chat and embeddings, with fake providers on a
//! paused clock and zero jitter: retries, fallback, client errors, upstream auth
//! errors, circuit breaking, rate limits, deadlines, hedging, and the lifecycle
//! timeline each path records.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ax_core::lifecycle::{EventKind, State};
use ax_core::{ErrorCode, GatewayError};
use ax_router::{
    CircuitState, Health, RequestOptions, RouteConfig, Router, RouterConfig, Strategy, TargetRef,
};
use common::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn success_records_usage_health_and_timeline() {
    let (r, a, b) = ab(|_| {});
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!((a.calls(), b.calls()), (1, 0));
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert_eq!(ctx.provider.as_deref(), Some("a"));
    assert_eq!(ctx.model.as_deref(), Some("gpt-4o"));
    assert_eq!((ctx.attempts, ctx.retries), (1, 0));
    assert_eq!((ctx.usage.input_tokens, ctx.usage.output_tokens), (10, 5));
    assert!(!ctx.tokens_estimated);
    assert!(!ctx.is_fallback());
    assert_eq!(
        events(&ctx),
        vec![EventKind::RequestSent, EventKind::ResponseReceived]
    );
    assert_eq!(r.providers_status()[0].health, Health::Degraded);
    assert_eq!(r.providers_status()[0].consecutive_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn missing_usage_is_estimated_and_marked() {
    let (r, a, _) = ab(|_| {});
    a.script([Behavior::AnswerNoUsage]);
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    res.unwrap();
    let ctx = hook.only();
    assert!(ctx.tokens_estimated);
    assert!(ctx.usage.input_tokens > 0);
    // "answer from a" is 13 characters: 4 tokens.
    assert_eq!(ctx.usage.output_tokens, 4);
}

#[tokio::test(start_paused = true)]
async fn retries_with_backoff_then_falls_back() {
    let (r, a, b) = ab(|_| {});
    a.always(upstream(ErrorCode::ServerError, 500));
    let start = Instant::now();
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    // max_retries 2: three calls to a, then b once.
    assert_eq!((a.calls(), b.calls()), (3, 1));
    // Zero jitter: 250 ms then 500 ms of backoff.
    assert_eq!(start.elapsed(), Duration::from_millis(750));
    assert_eq!(*b.models.lock().unwrap(), vec!["b-default"]);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert_eq!(ctx.provider.as_deref(), Some("b"));
    assert_eq!(ctx.fallback_from.as_deref(), Some("a"));
    assert!(ctx.is_fallback());
    assert_eq!((ctx.attempts, ctx.retries), (4, 3));
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::RetryScheduled,
            EventKind::RequestSent,
            EventKind::RetryScheduled,
            EventKind::RequestSent,
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::ResponseReceived,
        ]
    );
    assert_eq!(
        states(&ctx),
        vec![
            State::Requesting,
            State::Retrying,
            State::Requesting,
            State::Retrying,
            State::Requesting,
            State::Retrying,
            State::Requesting,
            State::Completed,
        ]
    );
    let s = &r.providers_status()[0];
    assert_eq!(s.health, Health::Unhealthy);
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.last_error.as_ref().unwrap().code, ErrorCode::ServerError);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let (r, a, _) = ab(|_| {});
    a.script([Behavior::Fail(
        err(ErrorCode::RateLimitExceeded)
            .with_status(429)
            .with_retry_after(Some(Duration::from_secs(3))),
    )]);
    let start = Instant::now();
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(a.calls(), 2);
    assert_eq!(hook.only().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_neither_retried_nor_fallen_back_from() {
    for code in [
        ErrorCode::InvalidRequest,
        ErrorCode::ContextLengthExceeded,
        ErrorCode::ContentFiltered,
    ] {
        let (r, a, b) = ab(|_| {});
        a.always(upstream(code, 400));
        let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
        let e = res.unwrap_err();
        assert_eq!(e.code, code);
        assert_eq!(e.http_status(), 400);
        assert_eq!((a.calls(), b.calls()), (1, 0), "{code}");
        let ctx = hook.only();
        assert_eq!(ctx.state, State::Failed);
        assert_eq!(ctx.error.as_ref().unwrap().0, code);
        assert_eq!(
            events(&ctx),
            vec![EventKind::RequestSent, EventKind::RequestFailed]
        );
        // Not the provider's fault: health and circuit untouched.
        let s = &r.providers_status()[0];
        assert_eq!((s.health, s.consecutive_failures), (Health::Unknown, 0));
        assert_eq!(s.circuit.consecutive_failures, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn upstream_auth_failure_falls_back_and_marks_unhealthy() {
    let (r, a, b) = ab(|_| {});
    a.always(upstream(ErrorCode::AuthenticationError, 401));
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!((a.calls(), b.calls()), (1, 1), "no retry of a 401");
    let s = &r.providers_status()[0];
    assert_eq!(s.health, Health::Unhealthy);
    assert_eq!(
        s.last_error.as_ref().unwrap().code,
        ErrorCode::AuthenticationError
    );
    assert_eq!(s.circuit.consecutive_failures, 1);
    assert!(hook.only().is_fallback());
}

#[tokio::test(start_paused = true)]
async fn all_failed_lists_every_attempt() {
    let (r, a, b) = ab(|c| c.providers[0].max_retries = 1);
    a.always(upstream(ErrorCode::ServerError, 500));
    b.always(upstream(ErrorCode::Overloaded, 529));
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::AllProvidersFailed);
    assert_eq!(e.http_status(), 502);
    assert!(
        e.message.contains(
            "a: server_error, a: server_error, b: overloaded, b: overloaded, b: overloaded"
        ),
        "{}",
        e.message
    );
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::AllProvidersFailed);
    assert_eq!(ctx.attempts, 5);
}

#[tokio::test(start_paused = true)]
async fn a_single_target_returns_its_own_error() {
    let (r, a, b) = ab(|c| c.providers[0].max_retries = 0);
    a.always(upstream(ErrorCode::Overloaded, 529));
    let (res, _) = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap_err().code, ErrorCode::Overloaded);
    assert_eq!((a.calls(), b.calls()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn open_circuit_skips_without_calling_then_admits_one_probe() {
    let (r, a, b) = ab(|c| {
        c.circuit_threshold = 2;
        c.providers[0].max_retries = 0;
    });
    a.always(upstream(ErrorCode::ServerError, 500));
    for _ in 0..2 {
        let (res, _) = chat(&r, "gpt-4o", RequestOptions::default()).await;
        assert_eq!(res.unwrap(), "answer from b");
    }
    assert_eq!((a.calls(), b.calls()), (2, 2));
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Open);
    assert!(r.providers_status()[0].circuit.opened_at.is_some());

    // Open: a is skipped without a call; the skip is a fallback.
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!(a.calls(), 2, "no call while open");
    let ctx = hook.only();
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );
    assert_eq!(ctx.fallback_from.as_deref(), Some("a"));

    // Fallback off and the only target open: circuit_open (503), zero calls.
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::CircuitOpen);
    assert_eq!(e.http_status(), 503);
    assert_eq!(a.calls(), 2);
    assert_eq!(hook.only().attempts, 0);

    // After open_for: exactly one probe. It succeeds and closes the circuit.
    tokio::time::advance(Duration::from_secs(60)).await;
    a.script([Behavior::Answer]);
    let (res, _) = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(a.calls(), 3);
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_opening_mid_retries_stops_them_and_keeps_the_real_error() {
    let (r, a, _) = ab(|c| {
        c.circuit_threshold = 2;
        c.providers[0].max_retries = 5;
    });
    a.always(upstream(ErrorCode::ServerError, 500));
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError, "{e}");
    assert_eq!(a.calls(), 2, "the open circuit stops the retries");
    assert_eq!(hook.only().attempts, 2);
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_exactly_one_concurrent_probe_through() {
    let (r, a, b) = ab(|c| {
        c.circuit_threshold = 1;
        c.providers[0].max_retries = 0;
    });
    a.script([upstream(ErrorCode::ServerError, 500)]);
    let _ = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Open);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        r.providers_status()[0].circuit.state,
        CircuitState::HalfOpen
    );
    // The probe takes a while; three concurrent requests arrive meanwhile.
    a.always(delay(1000, Behavior::Answer));
    let (x, y, z) = tokio::join!(
        chat(&r, "gpt-4o", RequestOptions::default()),
        chat(&r, "gpt-4o", RequestOptions::default()),
        chat(&r, "gpt-4o", RequestOptions::default()),
    );
    let answers: Vec<String> = [x, y, z].into_iter().map(|(r, _)| r.unwrap()).collect();
    assert_eq!(a.calls(), 2, "one failure, then exactly one probe");
    assert_eq!(answers.iter().filter(|s| *s == "answer from a").count(), 1);
    assert_eq!(b.calls(), 3);
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn reset_circuit_closes_it() {
    let (r, a, _) = ab(|c| {
        c.circuit_threshold = 1;
        c.providers[0].max_retries = 0;
    });
    a.script([upstream(ErrorCode::ServerError, 500)]);
    let _ = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(r.providers_status()[0].circuit.state, CircuitState::Open);
    assert!(r.reset_circuit("a"));
    assert!(!r.reset_circuit("nope"));
    let (res, _) = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap(), "answer from a");
}

#[tokio::test(start_paused = true)]
async fn rate_limited_provider_is_skipped_when_fallback_is_on() {
    let (r, a, b) = ab(|c| c.providers[0].rpm = Some(1));
    let (res, _) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from a");
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!((a.calls(), b.calls()), (1, 1));
    let ctx = hook.only();
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_request_queues_when_fallback_is_off() {
    // 60 rpm: one request per second refills; the queue allows 2 s.
    let (r, a, _) = ab(|c| {
        c.providers[0].rpm = Some(60);
        c.max_queue = Duration::from_secs(2);
    });
    for _ in 0..60 {
        chat(&r, "gpt-4o", OFF).await.0.unwrap();
    }
    let start = Instant::now();
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(a.calls(), 61);
    let ctx = hook.only();
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RateLimitHit,
            EventKind::RateLimitCleared,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );
    assert!(states(&ctx).contains(&State::RateLimited));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_that_outlasts_the_queue_is_a_429() {
    let (r, a, _) = ab(|c| {
        c.providers[0].rpm = Some(1);
        c.max_queue = Duration::from_secs(2);
    });
    chat(&r, "gpt-4o", OFF).await.0.unwrap();
    let (res, hook) = chat(&r, "gpt-4o", OFF).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert_eq!(e.http_status(), 429);
    let after = e.retry_after.unwrap();
    assert!(
        after > Duration::from_secs(50) && after <= Duration::from_secs(60),
        "{after:?}"
    );
    assert_eq!(a.calls(), 1);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(
        events(&ctx),
        vec![EventKind::RateLimitHit, EventKind::RequestFailed]
    );
}

#[tokio::test(start_paused = true)]
async fn every_target_rate_limited_is_a_429() {
    let (r, a, b) = ab(|c| {
        c.providers[0].rpm = Some(1);
        c.providers[1].rpm = Some(2);
        c.max_queue = Duration::from_millis(100);
    });
    chat(&r, "gpt-4o", OFF).await.0.unwrap();
    chat(&r, "claude-x", OFF).await.0.unwrap();
    chat(&r, "claude-x", OFF).await.0.unwrap();
    let (res, hook) = chat(&r, "gpt-4o", RequestOptions::default()).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert!(
        e.message
            .contains("a: rate_limit_exceeded, b: rate_limit_exceeded"),
        "{}",
        e.message
    );
    // b refills one request every 30 s, a every 60 s: the sooner one is reported.
    let after = e.retry_after.unwrap();
    assert!(after <= Duration::from_secs(30), "{after:?}");
    assert_eq!((a.calls(), b.calls()), (1, 2));
    assert_eq!(
        events(&hook.only()),
        vec![
            EventKind::FallbackTriggered,
            EventKind::RateLimitHit,
            EventKind::RequestFailed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn tpm_is_reconciled_with_real_usage() {
    // The estimate (prompt + 256) fits; the real usage (15) is far below it, so many
    // more requests fit than the estimate alone would allow.
    let (r, a, _) = ab(|c| c.providers[0].tpm = Some(600));
    for _ in 0..20 {
        chat(&r, "gpt-4o", OFF).await.0.unwrap();
    }
    assert_eq!(a.calls(), 20);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_the_request() {
    let (r, a, b) = ab(|_| {});
    a.always(Behavior::Hang);
    let start = Instant::now();
    let opts = RequestOptions {
        fallback: true,
        deadline: Some(Instant::now() + Duration::from_secs(5)),
        allowed_models: None,
    };
    let (res, hook) = chat(&r, "gpt-4o", opts).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert_eq!(e.http_status(), 504);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!((a.calls(), b.calls(), a.cancelled()), (1, 0, 1));
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Timeout);
    assert_eq!(
        events(&ctx),
        vec![EventKind::RequestSent, EventKind::TimedOut]
    );
    // A deadline is not the provider's fault.
    assert_eq!(r.providers_status()[0].consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn backoff_never_sleeps_past_the_deadline() {
    let (r, a, b) = ab(|c| c.providers[0].max_retries = 5);
    a.always(upstream(ErrorCode::ServerError, 500));
    b.always(upstream(ErrorCode::ServerError, 500));
    let opts = RequestOptions {
        fallback: false,
        deadline: Some(Instant::now() + Duration::from_millis(1000)),
        allowed_models: None,
    };
    let start = Instant::now();
    let (res, _) = chat(&r, "gpt-4o", opts).await;
    // 250 + 500 ms of backoff fit; the next 1000 ms would not: give up at 750 ms.
    assert_eq!(res.unwrap_err().code, ErrorCode::ServerError);
    assert_eq!(a.calls(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(750));
}

#[tokio::test(start_paused = true)]
async fn dropped_request_future_is_cancelled_once() {
    let (r, a, _) = ab(|_| {});
    a.always(Behavior::Hang);
    let (mut t, hook) = tracked();
    let req = chat_request("gpt-4o");
    let opts = RequestOptions::default();
    {
        let fut = r.chat(&req, &opts, &mut t);
        let _ = tokio::time::timeout(Duration::from_millis(100), fut).await;
    }
    // The client went away: the server drops its Tracked.
    drop(t);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Cancelled);
    assert_eq!(a.cancelled(), 1, "the upstream call was dropped");
    assert_eq!(r.providers_status()[0].consecutive_failures, 0);
}

fn hedge_route(c: &mut RouterConfig) {
    c.routes.push(RouteConfig {
        name: "hedged".into(),
        strategy: Strategy::Fallback,
        targets: vec![TargetRef::parse("a/m1"), TargetRef::parse("b/m2")],
        hedge_after: Some(Duration::from_millis(100)),
    });
}

#[tokio::test(start_paused = true)]
async fn hedging_starts_the_second_target_and_the_first_success_wins() {
    let (r, a, b) = ab(hedge_route);
    a.always(delay(1000, Behavior::Answer));
    b.always(delay(50, Behavior::Answer));
    let start = Instant::now();
    let (res, hook) = chat(&r, "hedged", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from b");
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    assert_eq!((a.calls(), b.calls()), (1, 1));
    assert_eq!(a.cancelled(), 1, "the loser is cancelled");
    let ctx = hook.only();
    assert_eq!(ctx.provider.as_deref(), Some("b"));
    assert_eq!(ctx.model.as_deref(), Some("m2"));
    assert!(ctx.is_fallback());
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::ResponseReceived
        ]
    );
    // The cancelled loser is not held against a.
    assert_eq!(r.providers_status()[0].consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn hedging_keeps_the_first_target_when_it_wins() {
    let (r, a, b) = ab(hedge_route);
    a.always(delay(120, Behavior::Answer));
    b.always(delay(1000, Behavior::Answer));
    let (res, hook) = chat(&r, "hedged", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!((a.calls(), b.calls(), b.cancelled()), (1, 1, 1));
    let ctx = hook.only();
    assert_eq!(ctx.provider.as_deref(), Some("a"));
    assert_eq!(ctx.model.as_deref(), Some("m1"));
    assert!(!ctx.is_fallback());

    // A fast first target never starts the hedge.
    a.always(delay(20, Behavior::Answer));
    let (res, _) = chat(&r, "hedged", RequestOptions::default()).await;
    assert_eq!(res.unwrap(), "answer from a");
    assert_eq!(b.calls(), 1);

    // Both fail: the request fails listing both.
    a.always(delay(200, upstream(ErrorCode::ServerError, 500)));
    b.always(upstream(ErrorCode::ServerError, 500));
    let (res, hook) = chat(&r, "hedged", RequestOptions::default()).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, ErrorCode::AllProvidersFailed);
    assert!(e.message.contains("a: server_error") && e.message.contains("b: server_error"));
    assert_eq!(hook.only().state, State::Failed);
}

async fn embed(r: &Router, model: &str) -> (Result<usize, GatewayError>, Hook) {
    let (mut t, hook) = tracked();
    let res = r
        .embed(&embed_request(model), &RequestOptions::default(), &mut t)
        .await;
    t.finish();
    (res.map(|e| e.data.len()), hook)
}

#[tokio::test(start_paused = true)]
async fn embeddings_use_the_same_loop_over_route_targets() {
    let (r, a, b) = ab(|c| {
        c.circuit_threshold = 100;
        c.providers[0].models.push("text-embedding-*".into());
        c.routes.push(RouteConfig {
            name: "embed".into(),
            strategy: Strategy::Fallback,
            targets: vec![
                TargetRef::parse("a/text-embedding-3-small"),
                TargetRef::parse("b/embed-v2"),
            ],
            hedge_after: None,
        });
    });
    a.always(upstream(ErrorCode::NetworkError, 0));
    b.script([Behavior::AnswerNoUsage]);
    let (res, hook) = embed(&r, "embed").await;
    assert_eq!(res.unwrap(), 2);
    assert_eq!((a.calls(), b.calls()), (3, 1));
    assert_eq!(*b.models.lock().unwrap(), vec!["embed-v2"]);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert!(ctx.is_fallback());
    assert!(ctx.tokens_estimated);
    // "alpha" + "beta gamma" = 15 characters: 4 tokens.
    assert_eq!(ctx.usage.input_tokens, 4);

    // The fallback chain is not used for embeddings: its targets are chat models.
    let (res, hook) = embed(&r, "text-embedding-3-small").await;
    assert_eq!(res.unwrap_err().code, ErrorCode::NetworkError);
    assert_eq!((a.calls(), b.calls()), (6, 1));
    assert_eq!(hook.only().state, State::Failed);

    // A client error stops at once.
    a.script([upstream(ErrorCode::InvalidRequest, 400)]);
    let (res, _) = embed(&r, "embed").await;
    assert_eq!(res.unwrap_err().code, ErrorCode::InvalidRequest);
    assert_eq!((a.calls(), b.calls()), (7, 1));
}

#[tokio::test(start_paused = true)]
async fn unknown_model_fails_the_request() {
    let (r, _, _) = ab(|_| {});
    let (res, hook) = chat(&r, "nope/xyz", RequestOptions::default()).await;
    assert_eq!(res.unwrap_err().code, ErrorCode::NotFound);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.attempts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_context_is_initiated_by_the_router() {
    let (r, _, _) = ab(|_| {});
    let hook = Hook::default();
    let h = hook.clone();
    let mut t = ax_router::Tracked::new(
        ax_core::lifecycle::Context::new(ax_core::RequestId::new()),
        Box::new(move |c| h.0.lock().unwrap().push(c)),
    );
    r.chat(&chat_request("gpt-4o"), &RequestOptions::default(), &mut t)
        .await
        .unwrap();
    t.finish();
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert_eq!(ctx.timeline[0].state, State::Validating);
}

#[test]
fn provider_status_has_exactly_the_contract_fields() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (r, a, _) = ab(|c| c.providers[0].max_retries = 0);
        a.script([upstream(ErrorCode::ServerError, 500)]);
        let _ = chat(&r, "gpt-4o", OFF).await;
        let json = serde_json::to_value(r.providers_status()).unwrap();
        let first = json[0].as_object().unwrap();
        let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec![
                "circuit",
                "consecutive_failures",
                "consecutive_successes",
                "enabled",
                "health",
                "kind",
                "last_error",
                "latency_ema_ms",
                "name"
            ]
        );
        assert_eq!(first["name"], "a");
        assert_eq!(first["kind"], "openai");
        assert_eq!(first["health"], "degraded");
        assert_eq!(first["circuit"]["state"], "closed");
        assert_eq!(first["circuit"]["consecutive_failures"], 1);
        assert!(first["circuit"]["opened_at"].is_null());
        assert_eq!(first["last_error"]["code"], "server_error");
        assert!(json[1]["latency_ema_ms"].is_null());
    });
}

#[test]
fn request_futures_and_streams_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_unpin_static<T: Send + Unpin + 'static>() {}
    send_unpin_static::<ax_router::RoutedStream>();
    let (r, _, _) = ab(|_| {});
    let (mut t, _) = tracked();
    let req = chat_request("gpt-4o");
    let opts = RequestOptions::default();
    send(&r.chat(&req, &opts, &mut t));
    let (t2, _) = tracked();
    send(&r.chat_stream(&req, &opts, t2));
    let ereq = embed_request("gpt-4o");
    send(&r.embed(&ereq, &opts, &mut t));
}
