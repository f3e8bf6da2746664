//! Sustained throughput of the batched log writer into a file-backed SQLite database
//! (WAL): each iteration submits `RECORDS` records through a fresh `LogWriter` and
//! awaits `shutdown()`, so the time covers queueing and every record being committed.
//! `sqlite_wal_50k` uses the sink the server uses for a file database
//! ([`SqliteLogSink`], rusqlite); `sqlx_sqlite_wal_50k` the sqlx one ([`Store`]), for
//! comparison.
//!
//! Run: `cargo bench -p ax-store --bench writer -- --sample-size 10`

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ax_core::lifecycle::{Context, Event};
use ax_core::{RequestId, Usage};
use ax_store::{LogRecord, LogSink, LogWriter, SqliteLogSink, Store, WriterConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;

const RECORDS: usize = 50_000;

/// Records per `write_batch` in the `sink_batch` group.
const BATCH: usize = 512;

/// A realistic record: a streamed, completed request with a full timeline.
fn sample_record(i: usize) -> LogRecord {
    let t0 = OffsetDateTime::now_utc();
    let at = |ms: i64| t0 + time::Duration::milliseconds(ms);
    let mut c = Context::new(RequestId::new());
    c.conversation_id = Some(format!("conv-{}", i % 100));
    c.user_id = Some(format!("user-{}", i % 10));
    c.tags = vec!["bench".into(), "writer".into()];
    let provider = ["claude", "gemini", "openai"][i % 3];
    let events = [
        Event::InitiateRequest,
        Event::ValidationPassed,
        Event::RequestSent {
            provider: provider.into(),
            model: "gpt-4o-mini".into(),
        },
        Event::FirstChunkReceived,
        Event::ChunkReceived,
        Event::StreamCompleted {
            usage: Usage {
                input_tokens: 120,
                output_tokens: 48,
                ..Default::default()
            },
            estimated: false,
        },
    ];
    for (n, e) in events.into_iter().enumerate() {
        // The events above are a legal sequence; a failure would be a bug in the bench.
        if c.apply(e, at(n as i64 * 20)).is_err() {
            panic!("illegal bench event sequence");
        }
    }
    LogRecord::from_context(&c)
}

/// Writes `RECORDS` records through a fresh writer over `sink`, `iters` times.
async fn run(sink: Arc<dyn LogSink>, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let records: Vec<LogRecord> = (0..RECORDS).map(sample_record).collect();
        let start = Instant::now();
        let writer = LogWriter::spawn(Arc::clone(&sink), WriterConfig::default());
        for r in records {
            writer.submit(r).await;
        }
        writer.shutdown().await;
        total += start.elapsed();
    }
    total
}

fn bench_writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    // Each sink fills a database of its own, so neither is measured on the other's
    // larger indexes.
    let open = |name: &str| {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let store = rt.block_on(async {
            let store = Store::connect(&url).await?;
            store.migrate().await?;
            Ok::<_, ax_store::StoreError>(store)
        });
        (url, store.unwrap_or_else(|e| panic!("store: {e}")))
    };
    // The sink the server uses for a file database (rusqlite), and the sqlx one.
    let (url, store) = open("bench.db");
    let sink = SqliteLogSink::open(&url).unwrap_or_else(|e| panic!("log sink: {e}"));
    let sink: Arc<dyn LogSink> = Arc::new(sink);
    let (_, sqlx_store) = open("sqlx.db");
    let sqlx_sink: Arc<dyn LogSink> = Arc::new(sqlx_store.clone());

    let mut group = c.benchmark_group("log_writer");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.measurement_time(Duration::from_secs(35));
    group.bench_function("sqlite_wal_50k", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| run(Arc::clone(&sink), iters));
    });
    group.bench_function("sqlx_sqlite_wal_50k", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| run(Arc::clone(&sqlx_sink), iters));
    });
    group.finish();

    // The sinks alone, one `write_batch` of a full batch (the writer's default
    // `max_batch`), without the writer's queue and scheduling around them.
    let mut group = c.benchmark_group("sink_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(10));
    for (name, sink) in [("rusqlite_512", &sink), ("sqlx_512", &sqlx_sink)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let sink = Arc::clone(sink);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // Fresh records (fresh IDs) each time, built off the clock.
                        let batch: Vec<LogRecord> = (0..BATCH).map(sample_record).collect();
                        let start = Instant::now();
                        if let Err(e) = sink.write_batch(&batch).await {
                            panic!("write_batch: {e}");
                        }
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
    }
    group.finish();
    drop(sink);
    rt.block_on(store.close());
    rt.block_on(sqlx_store.close());
}

criterion_group!(benches, bench_writer);
criterion_main!(benches);
