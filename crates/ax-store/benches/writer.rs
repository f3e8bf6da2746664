//! Sustained throughput of the batched log writer into a file-backed SQLite database
//! (WAL): each iteration submits `RECORDS` records through a fresh `LogWriter` and
//! awaits `shutdown()`, so the time covers queueing and every record being committed.
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
use ax_store::{LogRecord, LogWriter, Store, WriterConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;

const RECORDS: usize = 50_000;

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

fn bench_writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        Ok::<_, ax_store::StoreError>(store)
    });
    let store = store.unwrap_or_else(|e| panic!("store: {e}"));

    let mut group = c.benchmark_group("log_writer");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.measurement_time(Duration::from_secs(35));
    group.bench_function("sqlite_wal_50k", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let records: Vec<LogRecord> = (0..RECORDS).map(sample_record).collect();
                    let start = Instant::now();
                    let writer = LogWriter::spawn(Arc::new(store.clone()), WriterConfig::default());
                    for r in records {
                        writer.submit(r).await;
                    }
                    writer.shutdown().await;
                    total += start.elapsed();
                }
                total
            }
        });
    });
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, bench_writer);
criterion_main!(benches);
