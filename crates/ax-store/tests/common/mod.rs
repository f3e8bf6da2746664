//! Helpers shared by the integration tests: a migrated store in a fresh temp file, and
//! records built to order.

#![allow(dead_code, reason = "each test binary uses a subset")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use ax_store::{LogFilter, LogQuery, LogRecord, LogRow, Store};
use tempfile::TempDir;
use time::OffsetDateTime;

/// A migrated store in its own temporary directory (kept alive by the `TempDir`).
pub async fn fresh_store() -> (TempDir, Store) {
    let (dir, store) = unmigrated_store().await;
    store.migrate().await.unwrap();
    (dir, store)
}

/// A store in its own temporary directory, not migrated.
pub async fn unmigrated_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// `minutes` minutes ago.
pub fn ago_min(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

/// A completed request to `provider`/`model` that started at `start` and took
/// `duration_ms`.
pub fn ok(
    request_id: &str,
    provider: &str,
    model: &str,
    start: OffsetDateTime,
    duration_ms: Option<i64>,
) -> LogRecord {
    let mut r = LogRecord::new(request_id, State::Completed);
    r.provider = Some(provider.into());
    r.model = Some(model.into());
    r.start_time = start;
    r.duration_ms = duration_ms;
    r.end_time = duration_ms.map(|d| start + time::Duration::milliseconds(d));
    r.attempts = 1;
    r
}

/// A request to `provider`/`model` that failed with `code`.
pub fn failed(
    request_id: &str,
    provider: Option<&str>,
    model: Option<&str>,
    start: OffsetDateTime,
    code: ErrorCode,
) -> LogRecord {
    let mut r = LogRecord::new(request_id, State::Failed);
    r.provider = provider.map(Into::into);
    r.model = model.map(Into::into);
    r.start_time = start;
    r.error_code = Some(code);
    r.error_message = Some(format!("{code} happened"));
    r.attempts = u32::from(provider.is_some());
    r
}

/// Requests counted by `stats` over the last 24 hours, all providers and models.
pub async fn stats_requests(store: &Store) -> u64 {
    store
        .stats(24)
        .await
        .unwrap()
        .iter()
        .map(|s| s.requests)
        .sum()
}

/// Every log row of `store`, newest first, through the query API.
pub async fn all_logs(store: &Store) -> Vec<LogRow> {
    store
        .recent_logs(LogFilter {
            limit: u32::MAX,
            ..Default::default()
        })
        .await
        .unwrap()
}
