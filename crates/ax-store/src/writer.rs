//! The batched asynchronous log writer: requests hand their finished record to a
//! bounded queue and move on; one background task writes the queue out in batches,
//! one transaction per batch.
//!
//! Invariants:
//! - Nothing is dropped for lack of room: a full queue makes `submit` wait
//!   (backpressure). Only a record submitted after [`LogWriter::shutdown`] began is
//!   refused (and logged).
//! - A batch is written when it holds `max_batch` records or when `flush_interval` has
//!   passed since its first record arrived, whichever comes first. Under load batches
//!   fill at once; when idle, a record waits at most `flush_interval`.
//! - The worker is woken once per batch, not once per record: after the first record of
//!   a batch it sleeps until the deadline, and only the submit that fills a batch
//!   (`max_batch` records queued) wakes it early. A wakeup per record costs a context
//!   switch per request on a loaded gateway, more than the record's INSERT.
//! - [`LogWriter::shutdown`] closes intake, then writes every queued record before it
//!   returns: zero loss on a graceful stop.
//! - A failed write never panics. A transient failure (busy, I/O) is retried with
//!   exponential backoff; a batch refused for its data is retried record by record so
//!   one bad record costs only itself; what still fails is reported with
//!   `tracing::error!`.
//!
//! Rejected alternative: writing each record from its own spawned task. It contends for
//! the single write connection and pays a transaction per record, roughly ten times
//! slower than batching.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::error::StoreError;
use crate::record::LogRecord;
use crate::traits::LogSink;

/// Tuning of a [`LogWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Records the queue holds before `submit` waits.
    pub capacity: usize,
    /// Most records written in one transaction.
    pub max_batch: usize,
    /// Longest a queued record waits for its batch to fill.
    pub flush_interval: Duration,
    /// Retries of a batch after a transient failure.
    pub max_retries: u32,
    /// Wait before the first retry; each further retry waits four times longer.
    pub retry_backoff: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            max_batch: 512,
            flush_interval: Duration::from_millis(200),
            max_retries: 3,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Why [`LogWriter::try_submit`] did not take a record; the record is handed back.
#[derive(Debug)]
pub enum TrySubmitError {
    /// The queue is full: `submit` would wait.
    Full(Box<LogRecord>),
    /// The writer is shut down.
    Closed(Box<LogRecord>),
}

struct Shared {
    /// Records accepted and not yet written (or given up on).
    depth: AtomicUsize,
    /// Set to `true` to close intake and drain.
    close: watch::Sender<bool>,
    /// Becomes `true` when the worker has written everything and stopped.
    done: watch::Receiver<bool>,
    /// Records per batch: the submit that brings `depth` to a multiple of it wakes the
    /// worker through `full`.
    max_batch: usize,
    /// Wakes a worker sleeping out its flush interval when a batch is full.
    full: Arc<Notify>,
}

impl Shared {
    /// Counts one more queued record, waking the worker when that fills a batch.
    fn add_one(&self) {
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        if depth.is_multiple_of(self.max_batch) {
            self.full.notify_one();
        }
    }
}

/// Handle to the background log writer. Cheap to clone; every clone feeds the same
/// queue.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<LogRecord>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("depth", &self.depth())
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl LogWriter {
    /// Starts the writer task on the current Tokio runtime, writing into `sink`.
    pub fn spawn(sink: Arc<dyn LogSink>, config: WriterConfig) -> LogWriter {
        let config = WriterConfig {
            capacity: config.capacity.max(1),
            max_batch: config.max_batch.max(1),
            ..config
        };
        let (tx, rx) = mpsc::channel(config.capacity);
        let (close_tx, close_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let full = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            depth: AtomicUsize::new(0),
            close: close_tx,
            done: done_rx,
            max_batch: config.max_batch,
            full: Arc::clone(&full),
        });
        let worker = Worker {
            sink,
            rx,
            close: close_rx,
            config,
            shared: Arc::downgrade(&shared),
            full,
        };
        tokio::spawn(async move {
            worker.run().await;
            done_tx.send_replace(true);
        });
        LogWriter { tx, shared }
    }

    /// Queues `record`. Returns at once unless the queue is full, in which case it
    /// waits for room (it never drops a record to make room). After
    /// [`shutdown`](Self::shutdown) the record is refused and an error is logged.
    pub async fn submit(&self, record: LogRecord) {
        self.shared.add_one();
        let accepted = match self.tx.try_send(record) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(record)) => self.tx.send(record).await.is_ok(),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        if !accepted {
            self.shared.depth.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("log writer is shut down: log record refused");
        }
    }

    /// Queues `record` if there is room right now, without waiting; for callers that
    /// cannot await (a `Drop`). On failure the record is handed back.
    pub fn try_submit(&self, record: LogRecord) -> Result<(), TrySubmitError> {
        self.shared.add_one();
        self.tx.try_send(record).map_err(|e| {
            self.shared.depth.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(r) => TrySubmitError::Full(Box::new(r)),
                mpsc::error::TrySendError::Closed(r) => TrySubmitError::Closed(Box::new(r)),
            }
        })
    }

    /// Records accepted but not yet written: the `ax_log_queue_depth` gauge.
    pub fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// Closes intake and returns once every record queued before the call has been
    /// written (or, after retries, reported as lost). Safe to call from any clone, and
    /// more than once.
    pub async fn shutdown(&self) {
        self.shared.close.send_replace(true);
        let mut done = self.shared.done.clone();
        // An error means the worker is gone, which is what we wait for anyway.
        let _ = done.wait_for(|d| *d).await;
    }
}

struct Worker {
    sink: Arc<dyn LogSink>,
    rx: mpsc::Receiver<LogRecord>,
    close: watch::Receiver<bool>,
    config: WriterConfig,
    /// Weak so the worker does not keep the handles' state alive: when every handle is
    /// dropped the queue closes and the worker drains and stops.
    shared: std::sync::Weak<Shared>,
    /// Notified when queued records fill a batch.
    full: Arc<Notify>,
}

impl Worker {
    async fn run(mut self) {
        let max = self.config.max_batch;
        let mut batch = Vec::with_capacity(max);
        let mut closing = false;
        loop {
            // Wait for the first record of a batch (or for the close signal).
            tokio::select! {
                biased;
                n = self.rx.recv_many(&mut batch, max) => {
                    if n == 0 {
                        break; // intake closed and queue empty: all written
                    }
                }
                _ = self.close.wait_for(|c| *c), if !closing => {
                    closing = true;
                    self.rx.close();
                    continue;
                }
            }
            // Let the batch fill until the flush deadline, or until a submit reports a
            // full batch, without polling the queue in between (see the module docs).
            // Once intake is closed nothing more arrives: drain at once.
            if batch.len() < max && !closing {
                let deadline = Instant::now() + self.config.flush_interval;
                tokio::select! {
                    biased;
                    _ = self.close.wait_for(|c| *c) => {
                        closing = true;
                        self.rx.close();
                    }
                    _ = self.full.notified() => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
            while batch.len() < max {
                match self.rx.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            // Handed over whole: a sink writing on another thread moves it there.
            let full: Arc<[LogRecord]> =
                std::mem::replace(&mut batch, Vec::with_capacity(max)).into();
            persist(&*self.sink, Arc::clone(&full), &self.config).await;
            if let Some(shared) = self.shared.upgrade() {
                shared.depth.fetch_sub(full.len(), Ordering::Relaxed);
            }
        }
    }
}

/// Writes `batch`, retrying transient failures and isolating bad records; never fails.
async fn persist(sink: &dyn LogSink, batch: Arc<[LogRecord]>, config: &WriterConfig) {
    match write_retrying(sink, &batch, config).await {
        Ok(()) => {}
        Err(e) if !e.is_transient() && batch.len() > 1 => {
            tracing::warn!(
                records = batch.len(),
                error = %e,
                "log batch refused; writing its records one by one"
            );
            let mut lost = 0usize;
            for record in batch.iter() {
                let one: Arc<[LogRecord]> = Arc::from(std::slice::from_ref(record));
                if let Err(e) = write_retrying(sink, &one, config).await {
                    lost += 1;
                    tracing::error!(
                        request_id = %record.request_id,
                        error = %e,
                        "log record could not be written; lost"
                    );
                }
            }
            if lost > 0 {
                tracing::error!(lost, "log records lost from a refused batch");
            }
        }
        Err(e) => {
            tracing::error!(
                records = batch.len(),
                error = %e,
                "log batch could not be written after retries; lost"
            );
        }
    }
}

async fn write_retrying(
    sink: &dyn LogSink,
    records: &Arc<[LogRecord]>,
    config: &WriterConfig,
) -> Result<(), StoreError> {
    let mut backoff = config.retry_backoff;
    let mut attempt = 0;
    loop {
        match sink.write_shared(Arc::clone(records)).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < config.max_retries => {
                attempt += 1;
                tracing::warn!(
                    records = records.len(),
                    attempt,
                    error = %e,
                    "log batch write failed; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(4);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::lifecycle::State;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU32;

    /// A sink that records what it was given, and can fail on demand.
    #[derive(Default)]
    struct MemorySink {
        written: Mutex<Vec<String>>,
        batches: AtomicU32,
        /// Fail this many calls with a transient error first.
        transient_failures: AtomicU32,
        /// Refuse any batch containing this request ID (permanently).
        poison: Option<String>,
        /// Slow each write down.
        delay: Option<Duration>,
    }

    #[async_trait::async_trait]
    impl LogSink for MemorySink {
        async fn write_batch(&self, records: &[LogRecord]) -> Result<(), StoreError> {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            if self
                .transient_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError::Unavailable("busy".into()));
            }
            if let Some(p) = &self.poison
                && records.iter().any(|r| &r.request_id == p)
            {
                return Err(StoreError::Invalid("poison".into()));
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            let mut w = self.written.lock().unwrap();
            w.extend(records.iter().map(|r| r.request_id.clone()));
            Ok(())
        }
    }

    fn rec(i: usize) -> LogRecord {
        LogRecord::new(format!("r{i}"), State::Completed)
    }

    fn config() -> WriterConfig {
        WriterConfig {
            capacity: 16,
            max_batch: 8,
            flush_interval: Duration::from_millis(50),
            max_retries: 3,
            retry_backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn writes_everything_in_order_with_backpressure() {
        let sink = Arc::new(MemorySink {
            delay: Some(Duration::from_millis(2)),
            ..Default::default()
        });
        let w = LogWriter::spawn(sink.clone(), config());
        for i in 0..200 {
            w.submit(rec(i)).await; // queue of 16: must wait, never drop
        }
        w.shutdown().await;
        let written = sink.written.lock().unwrap().clone();
        let expected: Vec<_> = (0..200).map(|i| format!("r{i}")).collect();
        assert_eq!(written, expected);
        assert!(sink.batches.load(Ordering::SeqCst) >= 200 / 8);
        assert_eq!(w.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_a_partial_batch_after_the_interval() {
        let sink = Arc::new(MemorySink::default());
        let w = LogWriter::spawn(sink.clone(), config());
        w.submit(rec(1)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(sink.written.lock().unwrap().is_empty(), "flushed too early");
        assert_eq!(w.depth(), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(sink.written.lock().unwrap().len(), 1);
        assert_eq!(w.depth(), 0);
        w.shutdown().await;
    }

    #[tokio::test]
    async fn a_full_batch_is_written_without_waiting_for_the_interval() {
        let sink = Arc::new(MemorySink::default());
        let w = LogWriter::spawn(
            sink.clone(),
            WriterConfig {
                flush_interval: Duration::from_secs(3600),
                ..config()
            },
        );
        // One record starts a batch; the worker then sleeps out the (hour-long)
        // interval unless the submit that fills the batch wakes it.
        w.submit(rec(0)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 1..8 {
            w.submit(rec(i)).await;
        }
        for _ in 0..200 {
            if sink.written.lock().unwrap().len() == 8 {
                w.shutdown().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("a full batch waited for the flush interval");
    }

    #[tokio::test]
    async fn transient_failures_are_retried() {
        let sink = Arc::new(MemorySink {
            transient_failures: AtomicU32::new(2),
            ..Default::default()
        });
        let w = LogWriter::spawn(sink.clone(), config());
        for i in 0..5 {
            w.submit(rec(i)).await;
        }
        w.shutdown().await;
        assert_eq!(sink.written.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn a_bad_record_costs_only_itself() {
        let sink = Arc::new(MemorySink {
            poison: Some("r3".into()),
            ..Default::default()
        });
        let w = LogWriter::spawn(sink.clone(), config());
        for i in 0..8 {
            w.submit(rec(i)).await;
        }
        w.shutdown().await;
        let written = sink.written.lock().unwrap().clone();
        assert_eq!(written.len(), 7);
        assert!(!written.contains(&"r3".to_owned()));
    }

    #[tokio::test]
    async fn submit_after_shutdown_is_refused_not_panicking() {
        let sink = Arc::new(MemorySink::default());
        let w = LogWriter::spawn(sink.clone(), config());
        let other = w.clone();
        w.shutdown().await;
        other.shutdown().await; // idempotent, from any clone
        other.submit(rec(1)).await;
        assert!(matches!(
            other.try_submit(rec(2)),
            Err(TrySubmitError::Closed(_))
        ));
        assert_eq!(other.depth(), 0);
        assert!(sink.written.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn dropping_every_handle_still_drains() {
        let sink = Arc::new(MemorySink::default());
        let w = LogWriter::spawn(sink.clone(), config());
        for i in 0..10 {
            w.try_submit(rec(i)).unwrap();
        }
        drop(w);
        for _ in 0..100 {
            if sink.written.lock().unwrap().len() == 10 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("records were not written after the handles were dropped");
    }
}
