//! The batched writer against a real SQLite file: exactly N rows in each table for N
//! records submitted, including records still queued when `shutdown()` is called.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of integration tests: a failure is a test failure"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use ax_core::ErrorCode;
use ax_store::{LogQuery, LogRecord, LogWriter, Store, WriterConfig};
use common::{ago_min, failed, fresh_store, ok};

/// Rows in (provider_logs, provider_metrics), read through a connection of our own.
async fn counts(store: &Store) -> (usize, usize) {
    let logs = common::all_logs(store).await;
    let metrics: u64 = store
        .stats(24 * 365)
        .await
        .unwrap()
        .iter()
        .map(|r| r.requests)
        .sum();
    (logs.len(), metrics as usize)
}

fn record(i: usize) -> LogRecord {
    if i.is_multiple_of(7) {
        failed(
            &format!("w{i}"),
            Some("gemini"),
            Some("gemini-2.0-flash"),
            ago_min(1),
            ErrorCode::Overloaded,
        )
    } else {
        ok(
            &format!("w{i}"),
            "claude",
            "sonnet",
            ago_min(1),
            Some(i as i64),
        )
    }
}

#[tokio::test]
async fn persists_exactly_every_record() {
    let (_dir, store) = fresh_store().await;
    let writer = LogWriter::spawn(
        Arc::new(store.clone()),
        WriterConfig {
            capacity: 256,
            max_batch: 100,
            flush_interval: Duration::from_millis(20),
            ..Default::default()
        },
    );
    const N: usize = 3_000;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..N).step_by(4) {
                w.submit(record(i)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    writer.shutdown().await;
    assert_eq!(writer.depth(), 0);
    assert_eq!(counts(&store).await, (N, N));
}

#[tokio::test]
async fn shutdown_drains_records_still_queued() {
    let (_dir, store) = fresh_store().await;
    // Batches never fill and the interval never passes: everything waits in the queue
    // until shutdown.
    let writer = LogWriter::spawn(
        Arc::new(store.clone()),
        WriterConfig {
            max_batch: 100_000,
            flush_interval: Duration::from_secs(3_600),
            ..Default::default()
        },
    );
    const N: usize = 5_000;
    for i in 0..N {
        writer.submit(record(i)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(writer.depth(), N);
    assert_eq!(
        counts(&store).await,
        (0, 0),
        "nothing written before shutdown"
    );

    writer.shutdown().await;
    assert_eq!(writer.depth(), 0);
    assert_eq!(counts(&store).await, (N, N));
    assert!(store.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn shutdown_with_a_full_queue_and_small_batches() {
    let (_dir, store) = fresh_store().await;
    let writer = LogWriter::spawn(
        Arc::new(store.clone()),
        WriterConfig {
            capacity: 64,
            max_batch: 16,
            flush_interval: Duration::from_secs(3_600),
            ..Default::default()
        },
    );
    const N: usize = 1_000;
    for i in 0..N {
        writer.submit(record(i)).await; // backpressure, never a drop
    }
    writer.shutdown().await;
    assert_eq!(counts(&store).await, (N, N));
}
