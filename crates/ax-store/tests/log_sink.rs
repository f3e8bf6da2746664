//! The rusqlite log sink the server uses for a file database ([`SqliteLogSink`]) against
//! the sqlx one ([`Store`]): the same records give the same rows, column by column; a
//! record refused by a constraint costs only itself; a locked database is a transient
//! error that succeeds once the lock is released.

#![allow(
    clippy::unwrap_used,
    reason = "integration tests: a failure is a test failure"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ax_core::lifecycle::{Context, Event, State};
use ax_core::{ErrorCode, KeyId, RequestId, TenantId, Usage};
use ax_store::{
    LogQuery, LogRecord, LogSink, LogWriter, SqliteLogSink, Store, StoreError, WriterConfig,
};
use common::{ago_min, failed, fresh_store, ok};
use rusqlite::types::Value;
use tempfile::TempDir;

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("ax.db")
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", db_path(dir).display())
}

/// A streamed request through a fallback, with everything a record can carry.
fn rich(i: usize) -> LogRecord {
    let t0 = ago_min(3);
    let at = |ms: i64| t0 + time::Duration::milliseconds(ms);
    let mut c = Context::new(RequestId::new());
    c.conversation_id = Some(format!("conv-{i}"));
    c.user_id = Some("user-é".into());
    c.tags = vec!["a".into(), "b \"quoted\"".into()];
    let events = [
        Event::InitiateRequest,
        Event::ValidationPassed,
        Event::RequestSent {
            provider: "claude".into(),
            model: "gpt-4o-mini".into(),
        },
        Event::FirstChunkReceived,
        Event::ChunkReceived,
        Event::StreamCompleted {
            usage: Usage {
                input_tokens: 120,
                output_tokens: 48,
                cached_tokens: 7,
                reasoning_tokens: 3,
                ..Default::default()
            },
            estimated: true,
        },
    ];
    for (n, e) in events.into_iter().enumerate() {
        c.apply(e, at(n as i64 * 20)).unwrap();
    }
    let mut r = LogRecord::from_context(&c);
    r.tenant_id = Some(TenantId::new());
    r.key_id = Some(KeyId::new());
    r.request_data = Some(format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "héllo ".repeat(250)
    ));
    r.response_data = Some("{\"content\":\"ok\"}".into());
    r.is_fallback = true;
    r.fallback_from = Some("gemini".into());
    r.fallback_provider = Some("claude".into());
    r.retries = 2;
    r.attempts = 3;
    r.chunks = 42;
    r
}

/// Records covering every column, including values the write path must clamp.
fn records() -> Vec<LogRecord> {
    let mut v = vec![rich(0), rich(1)];
    // Negative durations (a clock step) become 0; costs that are not finite or are
    // negative become NULL.
    for (i, cost) in [f64::NAN, -1.0, f64::INFINITY, 0.25]
        .into_iter()
        .enumerate()
    {
        let mut r = ok(&format!("odd{i}"), "openai", "gpt-4o", ago_min(2), Some(-5));
        r.first_token_ms = Some(-3);
        r.cost_usd = Some(cost);
        v.push(r);
    }
    // Counters past i64::MAX are clamped.
    let mut big = ok("big", "gemini", "gemini-2.0-flash", ago_min(2), Some(10));
    big.usage.input_tokens = u64::MAX;
    big.usage.output_tokens = 5;
    big.chunks = u64::MAX;
    v.push(big);
    v.push(failed(
        "failed",
        Some("gemini"),
        Some("gemini-2.0-flash"),
        ago_min(1),
        ErrorCode::Overloaded,
    ));
    v.push(failed(
        "rejected",
        None,
        None,
        ago_min(1),
        ErrorCode::InvalidRequest,
    ));
    // Empty strings stay empty strings, not NULL.
    let mut empty = LogRecord::new("", State::Failed);
    empty.conversation_id = Some(String::new());
    empty.request_data = Some(String::new());
    v.push(empty);
    v.push(LogRecord::new("minimal", State::Completed));
    v
}

/// Every row of `table` (ordered by `order_by`) as (column, typed value) pairs, read
/// with a connection of our own; `skip` columns are left out.
fn rows(path: &Path, table: &str, order_by: &str, skip: &[&str]) -> Vec<Vec<(String, Value)>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY {order_by}"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    stmt.query_map([], |row| {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if !skip.contains(&name.as_str()) {
                out.push((name.clone(), row.get::<_, Value>(i)?));
            }
        }
        Ok(out)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn column<'a>(row: &'a [(String, Value)], name: &str) -> &'a Value {
    &row.iter().find(|(n, _)| n == name).unwrap().1
}

async fn write_through(sink: Arc<dyn LogSink>, records: &[LogRecord]) {
    let writer = LogWriter::spawn(
        sink,
        WriterConfig {
            max_batch: 4,
            flush_interval: Duration::from_millis(5),
            ..Default::default()
        },
    );
    for r in records {
        writer.submit(r.clone()).await;
    }
    writer.shutdown().await;
}

#[tokio::test]
async fn writes_every_column_as_the_sqlx_sink_does() {
    let records = records();
    let (dir_a, store_a) = fresh_store().await;
    let (dir_b, store_b) = fresh_store().await;
    let sink = Arc::new(SqliteLogSink::open(&url(&dir_a)).unwrap());
    write_through(sink, &records).await;
    write_through(Arc::new(store_b.clone()), &records).await;

    // Every column of every row, with its SQLite type: only the metrics row's own ID
    // (a fresh UUID v7) and `updated_at` (a default of the time of insert) differ.
    let logs_a = rows(&db_path(&dir_a), "provider_logs", "id", &["updated_at"]);
    let logs_b = rows(&db_path(&dir_b), "provider_logs", "id", &["updated_at"]);
    assert_eq!(logs_a.len(), records.len());
    assert_eq!(logs_a, logs_b);
    let metrics_a = rows(&db_path(&dir_a), "provider_metrics", "log_id", &["id"]);
    let metrics_b = rows(&db_path(&dir_b), "provider_metrics", "log_id", &["id"]);
    assert_eq!(metrics_a.len(), records.len());
    assert_eq!(metrics_a, metrics_b);
    for row in rows(&db_path(&dir_a), "provider_metrics", "log_id", &[]) {
        let Value::Text(id) = column(&row, "id") else {
            panic!("metrics id is not text")
        };
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    }

    // The values themselves, not only agreement: the clamped ones and a body.
    let by_request = |request_id: &str| {
        let log = logs_a
            .iter()
            .find(|r| column(r, "request_id") == &Value::Text(request_id.into()))
            .unwrap();
        let id = column(log, "id");
        let metrics = metrics_a
            .iter()
            .find(|m| column(m, "log_id") == id)
            .unwrap();
        (log.clone(), metrics.clone())
    };
    for (i, cost) in [Value::Null, Value::Null, Value::Null, Value::Real(0.25)]
        .iter()
        .enumerate()
    {
        let (log, metrics) = by_request(&format!("odd{i}"));
        assert_eq!(column(&log, "duration"), &Value::Integer(0));
        assert_eq!(column(&metrics, "first_token_latency"), &Value::Integer(0));
        assert_eq!(column(&metrics, "cost_usd"), cost);
    }
    let (_, big) = by_request("big");
    assert_eq!(column(&big, "input_tokens"), &Value::Integer(i64::MAX));
    assert_eq!(column(&big, "total_tokens"), &Value::Integer(i64::MAX));
    let (log, metrics) = by_request(&records[0].request_id);
    assert_eq!(
        column(&log, "request_data"),
        &Value::Text(records[0].request_data.clone().unwrap())
    );
    assert_eq!(column(&log, "is_fallback"), &Value::Integer(1));
    assert_eq!(column(&metrics, "tokens_estimated"), &Value::Integer(1));
    assert_eq!(column(&metrics, "cached_tokens"), &Value::Integer(7));
    assert_eq!(
        column(&log, "tags"),
        &Value::Text(r#"["a","b \"quoted\""]"#.into())
    );
    let (log, _) = by_request("");
    assert_eq!(column(&log, "conversation_id"), &Value::Text(String::new()));
    assert_eq!(column(&log, "user_id"), &Value::Null);

    // And through the query API.
    let recent = common::all_logs(&store_a).await;
    assert_eq!(recent.len(), records.len());
    assert_eq!(recent, common::all_logs(&store_b).await);
    let stats = store_a.stats(24).await.unwrap();
    assert!(!stats.is_empty());
    assert_eq!(stats, store_b.stats(24).await.unwrap());
    assert_eq!(
        store_a.failed_requests(100).await.unwrap(),
        store_b.failed_requests(100).await.unwrap()
    );
    assert!(store_a.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_record_refused_by_a_constraint_costs_only_itself() {
    let (dir, store) = fresh_store().await;
    let sink = Arc::new(SqliteLogSink::open(&url(&dir)).unwrap());
    let a = ok("a", "claude", "sonnet", ago_min(1), Some(10));
    let mut dup = a.clone(); // same row ID: the primary key refuses it
    dup.request_id = "dup".into();
    let batch = vec![
        a,
        ok("b", "claude", "sonnet", ago_min(1), Some(11)),
        dup,
        ok("c", "claude", "sonnet", ago_min(1), Some(12)),
    ];

    // The sink itself: all or none, refused for its data (not worth retrying), the
    // same error the sqlx sink gives.
    let e = sink.write_batch(&batch).await.unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    let (_dir_b, store_b) = fresh_store().await;
    let e_sqlx = store_b.write_batch(&batch).await.unwrap_err();
    assert_eq!(
        std::mem::discriminant(&e),
        std::mem::discriminant(&e_sqlx),
        "{e:?} vs {e_sqlx:?}"
    );
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(common::all_logs(&store).await.is_empty());

    // Through the writer: the batch is retried record by record; only `dup` is lost.
    write_through(sink, &batch).await;
    let mut written: Vec<String> = common::all_logs(&store)
        .await
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    written.sort();
    assert_eq!(written, ["a", "b", "c"]);
    let requests = common::stats_requests(&store).await;
    assert_eq!(requests, 3, "one metrics row per log row");
    assert!(store.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_locked_database_is_transient_and_succeeds_once_released() {
    let (dir, store) = fresh_store().await;
    let sink = SqliteLogSink::open(&url(&dir)).unwrap();
    let batch = vec![
        ok("l1", "claude", "sonnet", ago_min(1), Some(10)),
        ok("l2", "claude", "sonnet", ago_min(1), Some(11)),
    ];

    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let e = sink.write_batch(&batch).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(4_500),
        "gave up after {:?}, before the busy timeout",
        started.elapsed()
    );
    other.execute_batch("COMMIT").unwrap();

    sink.write_batch(&batch).await.unwrap();
    let logs = common::all_logs(&store).await;
    assert_eq!(logs.len(), 2);
    assert!(store.integrity_check().await.unwrap().is_empty());
}

/// A sink that counts the writes it passes on and how many of them failed.
struct Counting {
    inner: Arc<dyn LogSink>,
    calls: std::sync::atomic::AtomicUsize,
    failures: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl LogSink for Counting {
    async fn write_batch(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        let r = self.inner.write_batch(records).await;
        if r.is_err() {
            self.failures.fetch_add(1, SeqCst);
        }
        r
    }
}

#[tokio::test]
async fn the_writer_retries_through_a_lock_held_past_the_busy_timeout() {
    use std::sync::atomic::Ordering::SeqCst;
    let (dir, store) = fresh_store().await;
    let sink = Arc::new(Counting {
        inner: store.log_sink(),
        calls: 0.into(),
        failures: 0.into(),
    });
    let writer = LogWriter::spawn(
        sink.clone(),
        WriterConfig {
            flush_interval: Duration::from_millis(1),
            retry_backoff: Duration::from_millis(10),
            ..Default::default()
        },
    );
    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer
        .submit(ok("held", "claude", "sonnet", ago_min(1), Some(1)))
        .await;
    // The first attempt waits out the 5 s busy timeout and fails: wait for that failure
    // (the event), then release the lock while the retry waits for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.failures.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first write never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.execute_batch("COMMIT").unwrap();
    writer.shutdown().await;
    let logs = common::all_logs(&store).await;
    assert_eq!(logs.len(), 1, "written by a retry");
    assert!(sink.calls.load(SeqCst) >= 2, "a retry happened");
    assert!(store.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_in_memory_store_logs_through_sqlx() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    write_through(store.log_sink(), &records()).await;
    let logs = common::all_logs(&store).await;
    assert_eq!(logs.len(), records().len());
}

#[tokio::test]
async fn a_large_batch_is_written_whole_in_chunks() {
    let (dir, store) = fresh_store().await;
    let sink = SqliteLogSink::open(&url(&dir)).unwrap();
    // 1500 = 512 + 512 + 256 + 128 + 64 + 16 + 8 + 4: most chunk sizes, and the largest.
    let batch: Vec<LogRecord> = (0..1500)
        .map(|i| ok(&format!("r{i}"), "claude", "sonnet", ago_min(1), Some(i)))
        .collect();
    sink.write_batch(&batch).await.unwrap();
    let logs = common::all_logs(&store).await;
    assert_eq!(logs.len(), 1500);
    let requests = common::stats_requests(&store).await;
    assert_eq!(requests, 1500);
    assert!(store.integrity_check().await.unwrap().is_empty());
}
