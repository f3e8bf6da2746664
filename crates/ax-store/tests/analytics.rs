//! `recent_logs`, `stats` and `failed_requests` against a known data set.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of integration tests: a failure is a test failure"
)]

mod common;

use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use ax_core::{TenantId, Usage};
use ax_store::{LogFilter, LogQuery, LogRecord, LogSink};
use common::{ago_min, failed, fresh_store, ok};

/// The data set the stats test is checked against:
/// - claude / sonnet: 20 requests in the last hour, durations 10, 20, …, 200 ms, first
///   token at half the duration, the first 15 completed and the last 5 failed, 4 served
///   by a fallback, 100 in / 10 out tokens and $0.01 each;
/// - gemini / flash: durations 100, 300, 200 and one request that never ended (no
///   duration), 2 completed;
/// - one claude / sonnet request 30 hours ago (outside a 24 h window);
/// - one request rejected before any provider (not a provider's stat).
fn data_set() -> Vec<LogRecord> {
    let mut out = Vec::new();
    for i in 0..20i64 {
        let d = (i + 1) * 10;
        let mut r = ok(
            &format!("c{i}"),
            "claude",
            "sonnet",
            ago_min(50 - i),
            Some(d),
        );
        if i >= 15 {
            r.state = State::Failed;
            r.success = false;
            r.error_code = Some(ErrorCode::ServerError);
        }
        r.first_token_ms = Some(d / 2);
        r.is_fallback = i % 5 == 0;
        r.usage = Usage {
            input_tokens: 100,
            output_tokens: 10,
            ..Default::default()
        };
        r.cost_usd = Some(0.01);
        out.push(r);
    }
    for (i, d) in [Some(100), Some(300), Some(200), None]
        .into_iter()
        .enumerate()
    {
        let mut r = ok(&format!("g{i}"), "gemini", "flash", ago_min(20), d);
        if i >= 2 {
            r.state = State::Failed;
            r.success = false;
            r.error_code = Some(ErrorCode::Timeout);
        }
        out.push(r);
    }
    out.push(ok("old", "claude", "sonnet", ago_min(30 * 60), Some(5_000)));
    out.push(failed(
        "rejected",
        None,
        None,
        ago_min(5),
        ErrorCode::InvalidRequest,
    ));
    out
}

#[tokio::test]
async fn stats_match_the_data_set() {
    let (_dir, store) = fresh_store().await;
    store.write_batch(&data_set()).await.unwrap();
    let rows = store.stats(24).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");

    let c = &rows[0];
    assert_eq!(
        (c.provider.as_str(), c.model.as_str()),
        ("claude", "sonnet")
    );
    assert_eq!(c.requests, 20);
    assert!((c.success_rate - 0.75).abs() < 1e-9);
    assert_eq!(c.avg_latency_ms, Some(105.0));
    // Nearest rank: ceil(0.95 * 20) = 19th of 10..=200 → 190.
    assert_eq!(c.p95_latency_ms, Some(190));
    assert_eq!(c.avg_first_token_ms, Some(52.5));
    assert_eq!((c.input_tokens, c.output_tokens), (2_000, 200));
    assert_eq!(c.fallbacks, 4);
    let cost = c.cost_usd.expect("every claude request is priced");
    assert!((cost - 0.20).abs() < 1e-9, "{cost}");
    assert_eq!(c.unpriced_requests, 0);

    let g = &rows[1];
    assert_eq!((g.provider.as_str(), g.model.as_str()), ("gemini", "flash"));
    assert_eq!(g.requests, 4);
    assert!((g.success_rate - 0.5).abs() < 1e-9);
    assert_eq!(
        g.avg_latency_ms,
        Some(200.0),
        "the unfinished request is skipped"
    );
    // ceil(0.95 * 3) = 3rd of 100, 200, 300 → 300.
    assert_eq!(g.p95_latency_ms, Some(300));
    assert_eq!(g.avg_first_token_ms, None);
    assert_eq!(g.fallbacks, 0);
    // No gemini request has a cost: unknown, not 0.
    assert_eq!(g.cost_usd, None);
    assert_eq!(g.unpriced_requests, 4);

    // A wider window takes in the old request.
    let wide = store.stats(48).await.unwrap();
    let c = wide.iter().find(|r| r.provider == "claude").unwrap();
    assert_eq!(c.requests, 21);
    // ceil(0.95 * 21) = 20th of 10..=200, 5000 → 200.
    assert_eq!(c.p95_latency_ms, Some(200));
    assert!((c.success_rate - 16.0 / 21.0).abs() < 1e-9);

    assert!(store.stats(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_costs_are_counted_not_summed_as_zero() {
    let (_dir, store) = fresh_store().await;
    let mut recs = Vec::new();
    for (i, cost) in [Some(0.25), None, Some(0.5), None, None]
        .into_iter()
        .enumerate()
    {
        let mut r = ok(&format!("m{i}"), "mixed", "m", ago_min(1), Some(10));
        r.cost_usd = cost;
        recs.push(r);
    }
    // A known cost of 0 (a free model) is a cost, not an unknown one.
    let mut free = ok("free", "free", "m", ago_min(1), Some(10));
    free.cost_usd = Some(0.0);
    recs.push(free);
    store.write_batch(&recs).await.unwrap();
    let rows = store.stats(1).await.unwrap();
    let get = |p: &str| rows.iter().find(|r| r.provider == p).unwrap();
    let mixed = get("mixed");
    assert_eq!(mixed.cost_usd, Some(0.75));
    assert_eq!(mixed.unpriced_requests, 3);
    let free = get("free");
    assert_eq!((free.cost_usd, free.unpriced_requests), (Some(0.0), 0));

    let logs = store
        .recent_logs(LogFilter {
            limit: 100,
            ..LogFilter::default()
        })
        .await
        .unwrap();
    let cost_of = |id: &str| logs.iter().find(|r| r.request_id == id).unwrap().cost_usd;
    assert_eq!(cost_of("m0"), Some(0.25));
    assert_eq!(cost_of("m1"), None);
    assert_eq!(cost_of("free"), Some(0.0));
}

#[tokio::test]
async fn p95_is_nearest_rank_for_small_and_large_sets() {
    let (_dir, store) = fresh_store().await;
    let mut recs = vec![ok("one", "solo", "m", ago_min(1), Some(42))];
    // 1..=100 ms shuffled by a fixed stride: p95 = 95th value = 95.
    for i in 0..100i64 {
        let d = (i * 37) % 100 + 1;
        recs.push(ok(&format!("h{i}"), "hundred", "m", ago_min(2), Some(d)));
    }
    store.write_batch(&recs).await.unwrap();
    let rows = store.stats(1).await.unwrap();
    let get = |p: &str| rows.iter().find(|r| r.provider == p).unwrap();
    assert_eq!(get("solo").p95_latency_ms, Some(42));
    assert_eq!(get("hundred").p95_latency_ms, Some(95));
    assert_eq!(get("hundred").avg_latency_ms, Some(50.5));
}

#[tokio::test]
async fn recent_logs_filter_limit_and_order() {
    let (_dir, store) = fresh_store().await;
    store.write_batch(&data_set()).await.unwrap();

    let all = store
        .recent_logs(LogFilter {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 26);
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    assert_eq!(all[0].request_id, "rejected");
    assert_eq!(all.last().unwrap().request_id, "old");

    let three = store
        .recent_logs(LogFilter {
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = three.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(
        ids,
        all[..3]
            .iter()
            .map(|r| r.request_id.as_str())
            .collect::<Vec<_>>()
    );

    let gemini = store
        .recent_logs(LogFilter {
            provider: Some("gemini".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(gemini.len(), 4);
    assert!(
        gemini
            .iter()
            .all(|r| r.provider.as_deref() == Some("gemini"))
    );

    let failed_only = store
        .recent_logs(LogFilter {
            failed_only: true,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    // 5 claude, 2 gemini, 1 rejected.
    assert_eq!(failed_only.len(), 8);
    assert!(failed_only.iter().all(|r| r.state == State::Failed));

    let claude_failed = store
        .recent_logs(LogFilter {
            provider: Some("claude".into()),
            failed_only: true,
            limit: 2,
        })
        .await
        .unwrap();
    let ids: Vec<_> = claude_failed
        .iter()
        .map(|r| r.request_id.as_str())
        .collect();
    assert_eq!(ids, vec!["c19", "c18"]);
    assert_eq!(claude_failed[0].error_code, Some(ErrorCode::ServerError));
    assert_eq!(claude_failed[0].duration_ms, Some(200));
    assert_eq!(claude_failed[0].first_token_ms, Some(100));
    assert_eq!(claude_failed[0].input_tokens, Some(100));

    let none = store
        .recent_logs(LogFilter {
            provider: Some("nobody".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn rows_within_one_millisecond_keep_insertion_order() {
    let (_dir, store) = fresh_store().await;
    let t = ago_min(1);
    let recs: Vec<_> = (0..5)
        .map(|i| ok(&format!("same{i}"), "p", "m", t, Some(1)))
        .collect();
    store.write_batch(&recs).await.unwrap();
    let rows = store.recent_logs(LogFilter::default()).await.unwrap();
    let ids: Vec<_> = rows.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, vec!["same4", "same3", "same2", "same1", "same0"]);
}

#[tokio::test]
async fn every_field_round_trips_through_a_log_row() {
    let (_dir, store) = fresh_store().await;
    let mut r = ok("full", "openai", "gpt-4o", ago_min(3), Some(321));
    r.conversation_id = Some("conv-9".into());
    r.user_id = Some("user-9".into());
    r.tenant_id = Some(TenantId::new());
    r.first_token_ms = Some(123);
    r.usage = Usage {
        input_tokens: 11,
        output_tokens: 22,
        cached_tokens: 5,
        reasoning_tokens: 7,
        ..Default::default()
    };
    r.tokens_estimated = true;
    r.is_fallback = true;
    r.fallback_from = Some("claude".into());
    r.fallback_provider = Some("openai".into());
    r.attempts = 3;
    r.retries = 2;
    r.tags = vec!["x".into(), "y z".into()];
    store.write_batch(&[r.clone()]).await.unwrap();
    let row = &store.recent_logs(LogFilter::default()).await.unwrap()[0];
    assert_eq!(row.request_id, "full");
    assert_eq!(row.created_at, ax_store::timestamp::format(r.start_time));
    assert_eq!(row.provider.as_deref(), Some("openai"));
    assert_eq!(row.model.as_deref(), Some("gpt-4o"));
    assert_eq!(row.state, State::Completed);
    assert_eq!(row.error_code, None);
    assert_eq!(row.duration_ms, Some(321));
    assert_eq!(row.first_token_ms, Some(123));
    assert_eq!((row.input_tokens, row.output_tokens), (Some(11), Some(22)));
    assert!(row.tokens_estimated);
    assert!(row.is_fallback);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.conversation_id.as_deref(), Some("conv-9"));
    assert_eq!(row.user_id.as_deref(), Some("user-9"));
    assert_eq!(row.tags, vec!["x", "y z"]);
}

#[tokio::test]
async fn odd_values_do_not_fail_a_batch() {
    let (_dir, store) = fresh_store().await;
    let mut r = ok("odd", "p", "m", ago_min(1), Some(-5));
    r.first_token_ms = Some(-1);
    r.cost_usd = Some(f64::NAN);
    r.usage.input_tokens = u64::MAX;
    store.write_batch(&[r]).await.unwrap();
    let row = &store.recent_logs(LogFilter::default()).await.unwrap()[0];
    assert_eq!(row.duration_ms, Some(0));
    assert_eq!(row.first_token_ms, Some(0));
    assert_eq!(row.input_tokens, Some(i64::MAX as u64));
    // A cost that is not a number is dropped: unknown, not 0.
    assert_eq!(row.cost_usd, None);
}

#[tokio::test]
async fn a_row_without_metrics_has_unknown_tokens_and_cost() {
    let (dir, store) = fresh_store().await;
    store
        .write_batch(&[ok("bare", "p", "m", ago_min(1), Some(5))])
        .await
        .unwrap();
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM provider_metrics")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let row = &store.recent_logs(LogFilter::default()).await.unwrap()[0];
    assert_eq!(row.request_id, "bare");
    assert_eq!((row.input_tokens, row.output_tokens), (None, None));
    assert_eq!(row.cost_usd, None);
    let v = serde_json::to_value(row).unwrap();
    assert!(
        v["input_tokens"].is_null() && v["cost_usd"].is_null(),
        "{v}"
    );
}

#[tokio::test]
async fn failed_requests_carry_their_errors() {
    let (_dir, store) = fresh_store().await;
    let mut recs = data_set();
    let fb = recs.iter_mut().find(|r| r.request_id == "c19").unwrap();
    fb.fallback_provider = Some("gemini".into());
    store.write_batch(&recs).await.unwrap();
    let rows = store.failed_requests(100).await.unwrap();
    assert_eq!(rows.len(), 8);
    assert!(rows.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    let rejected = &rows[0];
    assert_eq!(rejected.request_id, "rejected");
    assert_eq!(rejected.provider, None);
    assert_eq!(rejected.error_code, Some(ErrorCode::InvalidRequest));
    assert_eq!(
        rejected.error_message.as_deref(),
        Some("invalid_request happened")
    );
    let c19 = rows.iter().find(|r| r.request_id == "c19").unwrap();
    assert_eq!(c19.fallback_provider.as_deref(), Some("gemini"));
    assert_eq!(store.failed_requests(2).await.unwrap().len(), 2);
}
