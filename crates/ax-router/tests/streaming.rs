//! Streamed chat: an attempt is answered once its first chunk arrives. Failures before
//! it fall back invisibly; after it the stream ends with an error and nothing is
//! retried. The RoutedStream owns the request's Tracked and finishes it exactly once:
//! completed, failed, timed out, or cancelled when dropped.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ax_core::lifecycle::{EventKind, State};
use ax_core::{ErrorCode, GatewayError, StreamChunk};
use ax_router::{Health, RequestOptions, RouteConfig, RoutedStream, Router, Strategy, TargetRef};
use common::*;
use futures::StreamExt;
use tokio::time::Instant;

async fn open(r: &Router, model: &str) -> (Result<RoutedStream, GatewayError>, Hook) {
    let (t, hook) = tracked();
    let res = r
        .chat_stream(&chat_request(model), &RequestOptions::default(), t)
        .await
        .map_err(|(e, t)| {
            t.finish();
            e
        });
    (res, hook)
}

async fn drain(s: RoutedStream) -> Vec<Result<StreamChunk, GatewayError>> {
    s.collect().await
}

#[tokio::test(start_paused = true)]
async fn a_stream_completes_with_its_usage() {
    let (r, a, _) = ab(|_| {});
    let (s, hook) = open(&r, "gpt-4o").await;
    let s = s.unwrap();
    assert_eq!(s.provider(), "a");
    assert_eq!(s.context().state, State::Streaming);
    assert_eq!(s.wire_format(), Some(ax_core::WireFormat::OpenAi));
    assert_eq!(hook.count(), 0, "not finished while streaming");
    let items = drain(s).await;
    assert_eq!(items.len(), 4);
    assert_eq!(text(&items), "hello world");
    assert_eq!(a.calls(), 1);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert_eq!(ctx.chunks, 4);
    assert_eq!((ctx.usage.input_tokens, ctx.usage.output_tokens), (7, 3));
    assert!(!ctx.tokens_estimated);
    assert!(ctx.first_token_at.is_some());
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::FirstChunkReceived,
            EventKind::StreamCompleted
        ]
    );
    assert_eq!(
        states(&ctx),
        vec![State::Requesting, State::Streaming, State::Completed]
    );
    assert_eq!(a.streams_dropped(), 0);
}

#[tokio::test(start_paused = true)]
async fn usage_is_estimated_when_the_stream_reports_none() {
    let (r, a, _) = ab(|_| {});
    a.script([Behavior::AnswerNoUsage]);
    let (s, hook) = open(&r, "gpt-4o").await;
    drain(s.unwrap()).await;
    let ctx = hook.only();
    assert!(ctx.tokens_estimated);
    assert!(ctx.usage.input_tokens > 0);
    // "hello world": 11 characters → 3 tokens.
    assert_eq!(ctx.usage.output_tokens, 3);
}

#[tokio::test(start_paused = true)]
async fn failure_before_the_first_chunk_falls_back_invisibly() {
    let (r, a, b) = ab(|c| c.providers[0].max_retries = 1);
    a.script([
        // The upstream refuses the stream…
        upstream(ErrorCode::ServerError, 500),
        // …then accepts it but fails before any chunk.
        Behavior::Stream(vec![Step::Err(err(ErrorCode::Overloaded))]),
    ]);
    let (s, hook) = open(&r, "gpt-4o").await;
    let s = s.unwrap();
    assert_eq!(s.provider(), "b");
    let items = drain(s).await;
    assert!(items.iter().all(Result::is_ok), "the client sees no error");
    assert_eq!(text(&items), "hello world");
    assert_eq!((a.calls(), b.calls()), (2, 1));
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Completed);
    assert!(ctx.is_fallback());
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::RetryScheduled,
            EventKind::RequestSent,
            EventKind::FallbackTriggered,
            EventKind::RequestSent,
            EventKind::FirstChunkReceived,
            EventKind::StreamCompleted
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_or_silent_stream_counts_as_a_failed_attempt() {
    let (r, a, b) = ab(|c| {
        c.providers[0].max_retries = 0;
        c.stream_idle_timeout = Duration::from_secs(5);
    });
    a.script([Behavior::Stream(vec![Step::Hang])]);
    let start = Instant::now();
    let (s, _) = open(&r, "gpt-4o").await;
    assert_eq!(s.unwrap().provider(), "b");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(a.streams_dropped(), 1);
    assert_eq!(
        r.providers_status()[0].last_error.as_ref().unwrap().code,
        ErrorCode::Timeout
    );

    a.script([Behavior::Stream(vec![])]);
    let (s, _) = open(&r, "gpt-4o").await;
    assert_eq!(s.unwrap().provider(), "b");
    assert_eq!(b.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn failure_after_the_first_chunk_is_an_error_item_and_not_retried() {
    let (r, a, b) = ab(|_| {});
    a.script([Behavior::Stream(vec![
        Step::Text("partial "),
        Step::Text("answer"),
        Step::Err(err(ErrorCode::Overloaded)),
    ])]);
    let (s, hook) = open(&r, "gpt-4o").await;
    let items = drain(s.unwrap()).await;
    assert_eq!(items.len(), 3);
    assert_eq!(text(&items), "partial answer");
    let e = items[2].as_ref().unwrap_err();
    assert_eq!(e.code, ErrorCode::Overloaded);
    assert_eq!(
        (a.calls(), b.calls()),
        (1, 0),
        "never retried after the first chunk"
    );
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Overloaded);
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::FirstChunkReceived,
            EventKind::RequestFailed
        ]
    );
    // The first chunk counted as a success, the mid-stream failure as a failure.
    let s = &r.providers_status()[0];
    assert_eq!(s.consecutive_failures, 1);
    assert_eq!(s.circuit.consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_stream_times_out() {
    let (r, a, _) = ab(|c| c.stream_idle_timeout = Duration::from_secs(10));
    a.script([Behavior::Stream(vec![Step::Text("one"), Step::Hang])]);
    let (s, hook) = open(&r, "gpt-4o").await;
    let start = Instant::now();
    let items = drain(s.unwrap()).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().code, ErrorCode::Timeout);
    assert_eq!(a.streams_dropped(), 1, "the stalled upstream is dropped");
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Timeout);
}

#[tokio::test(start_paused = true)]
async fn slow_but_steady_streams_are_not_idle() {
    let (r, a, _) = ab(|c| c.stream_idle_timeout = Duration::from_secs(10));
    a.script([Behavior::Stream(vec![
        Step::Text("a"),
        Step::Sleep(Duration::from_secs(8)),
        Step::Text("b"),
        Step::Sleep(Duration::from_secs(8)),
        Step::Text("c"),
    ])]);
    let (s, hook) = open(&r, "gpt-4o").await;
    let items = drain(s.unwrap()).await;
    assert_eq!(text(&items), "abc");
    assert_eq!(hook.only().state, State::Completed);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_once_and_drops_the_upstream() {
    let (r, a, _) = ab(|_| {});
    a.script([Behavior::Stream(vec![
        Step::Text("one"),
        Step::Text("two"),
        Step::Hang,
    ])]);
    let (s, hook) = open(&r, "gpt-4o").await;
    let mut s = s.unwrap();
    assert!(s.next().await.unwrap().is_ok());
    assert!(s.next().await.unwrap().is_ok());
    assert_eq!(hook.count(), 0);
    // The client goes away.
    drop(s);
    assert_eq!(a.streams_dropped(), 1);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Cancelled);
    assert_eq!(ctx.chunks, 2);
    assert_eq!(
        events(&ctx),
        vec![
            EventKind::RequestSent,
            EventKind::FirstChunkReceived,
            EventKind::Cancelled
        ]
    );
    // Cancellation is not the provider's fault.
    let s = &r.providers_status()[0];
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.health, Health::Degraded);
}

#[tokio::test(start_paused = true)]
async fn dropping_chat_stream_before_the_first_chunk_cancels_once() {
    let (r, a, _) = ab(|_| {});
    a.always(Behavior::Hang);
    let (t, hook) = tracked();
    let req = chat_request("gpt-4o");
    let opts = RequestOptions::default();
    let fut = r.chat_stream(&req, &opts, t);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), fut)
            .await
            .is_err()
    );
    let ctx = hook.only();
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Cancelled);
    assert_eq!(a.cancelled(), 1);
    // The circuit is not wedged and nothing was counted.
    assert_eq!(r.providers_status()[0].circuit.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn stream_failure_returns_the_tracked_already_failed() {
    let (r, a, b) = ab(|c| c.providers[0].max_retries = 0);
    a.always(upstream(ErrorCode::ServerError, 500));
    b.always(upstream(ErrorCode::ServerError, 500));
    let (t, hook) = tracked();
    let (e, t) = r
        .chat_stream(&chat_request("gpt-4o"), &RequestOptions::default(), t)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AllProvidersFailed);
    assert_eq!(t.context().state, State::Failed);
    assert_eq!(hook.count(), 0);
    t.finish();
    assert_eq!(hook.only().attempts, 4);
}

#[tokio::test(start_paused = true)]
async fn hedged_streams_race_on_the_first_chunk() {
    let (r, a, b) = ab(|c| {
        c.routes.push(RouteConfig {
            name: "hedged".into(),
            strategy: Strategy::Fallback,
            targets: vec![TargetRef::parse("a"), TargetRef::parse("b")],
            hedge_after: Some(Duration::from_millis(200)),
        });
    });
    a.script([Behavior::Stream(vec![
        Step::Sleep(Duration::from_secs(2)),
        Step::Text("slow"),
    ])]);
    let start = Instant::now();
    let (s, hook) = open(&r, "hedged").await;
    let s = s.unwrap();
    assert_eq!(s.provider(), "b");
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(a.streams_dropped(), 1, "the losing stream is dropped");
    let items = drain(s).await;
    assert_eq!(text(&items), "hello world");
    assert_eq!((a.calls(), b.calls()), (1, 1));
    assert_eq!(hook.only().provider.as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_provider_s_own_idle_timeout_applies_to_its_streams() {
    // The router owns every stream deadline; a provider's `idle_timeout_ms` overrides
    // the router's for its streams, before the first chunk and between chunks.
    let (r, a, b) = ab(|c| {
        c.stream_idle_timeout = Duration::from_secs(60);
        c.providers[0].stream_idle_timeout = Some(Duration::from_secs(3));
        c.providers[0].max_retries = 0;
    });
    a.script([
        Behavior::Stream(vec![Step::Hang]),
        Behavior::Stream(vec![Step::Text("one"), Step::Hang]),
    ]);
    let start = Instant::now();
    let (s, _) = open(&r, "gpt-4o").await;
    assert_eq!(s.unwrap().provider(), "b");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(b.calls(), 1);

    let (s, hook) = open(&r, "gpt-4o").await;
    let start = Instant::now();
    let items = drain(s.unwrap()).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.message.contains("3000 ms"), "{}", e.message);
    assert_eq!(hook.only().error.as_ref().unwrap().0, ErrorCode::Timeout);
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_ends_a_steady_stream() {
    let (r, a, _) = ab(|c| c.stream_idle_timeout = Duration::from_secs(10));
    a.script([Behavior::Stream(vec![
        Step::Text("a"),
        Step::Sleep(Duration::from_secs(2)),
        Step::Text("b"),
        Step::Sleep(Duration::from_secs(2)),
        Step::Text("c"),
        Step::Sleep(Duration::from_secs(2)),
        Step::Text("d"),
    ])]);
    let opts = RequestOptions {
        deadline: Some(Instant::now() + Duration::from_secs(5)),
        ..RequestOptions::default()
    };
    let (t, hook) = tracked();
    let start = Instant::now();
    let s = r
        .chat_stream(&chat_request("gpt-4o"), &opts, t)
        .await
        .unwrap();
    let items = drain(s).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(text(&items), "abc");
    let e = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.message.contains("deadline"), "{}", e.message);
    let ctx = hook.only();
    assert_eq!(ctx.state, State::Failed);
    assert_eq!(ctx.error.as_ref().unwrap().0, ErrorCode::Timeout);
    // A deadline is not the provider's fault.
    assert_eq!(r.providers_status()[0].consecutive_failures, 0);
    assert_eq!(a.streams_dropped(), 1);
}
