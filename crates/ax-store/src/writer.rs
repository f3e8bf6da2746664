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
//! - Acknowledged records ([`LogWriter::submit_acknowledged`], the server's
//!   `AX_LOG_DURABILITY=acknowledged`) carry a [`Commit`] signal that resolves once the
//!   transaction holding the record has committed (or failed for good). Such a record
//!   wakes the worker at once instead of waiting out `flush_interval`: group commit,
//!   where every record that arrives while one transaction is being written joins the
//!   next one, so many waiting requests share a transaction and an idle gateway pays
//!   one transaction per request. Plain records ([`LogWriter::submit`],
//!   [`LogWriter::try_submit`]) carry no signal and cost no channel.
//! - A failed write never panics. A transient failure (busy, I/O) is retried with
//!   exponential backoff; a batch refused for its data is retried record by record so
//!   one bad record costs only itself; what still fails is reported with
//!   `tracing::error!`.
//!
//! Rejected alternative: writing each record from its own spawned task. It contends for
//! the single write connection and pays a transaction per record, roughly ten times
//! slower than batching.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
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

/// The sending half of a [`Commit`].
type Ack = oneshot::Sender<Result<(), StoreError>>;

/// A record on its way to the worker, with the signal of an acknowledged one.
struct Queued {
    record: LogRecord,
    ack: Option<Ack>,
}

impl Queued {
    fn plain(record: LogRecord) -> Self {
        Self { record, ack: None }
    }
}

/// Resolves once an acknowledged record's transaction has committed (`Ok`), or once the
/// record is known lost (`Err`: refused after shutdown, or not written after retries).
/// Dropping it does not withdraw the record.
#[derive(Debug)]
#[must_use = "a commit signal does nothing unless awaited"]
pub struct Commit {
    rx: oneshot::Receiver<Result<(), StoreError>>,
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| Err(stopped("the log writer stopped before writing the record")))
        })
    }
}

fn stopped(why: &str) -> StoreError {
    StoreError::Unavailable(why.to_owned())
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
    tx: mpsc::Sender<Queued>,
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
        let accepted = match self.tx.try_send(Queued::plain(record)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(q)) => self.tx.send(q).await.is_ok(),
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
        self.tx.try_send(Queued::plain(record)).map_err(|e| {
            self.shared.depth.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(q) => TrySubmitError::Full(Box::new(q.record)),
                mpsc::error::TrySendError::Closed(q) => TrySubmitError::Closed(Box::new(q.record)),
            }
        })
    }

    /// Queues `record` and returns the signal that resolves once its transaction has
    /// committed. Never waits: with a full queue the wait for room happens on a task of
    /// the current runtime (the record is still never dropped to make room), so it may
    /// be called from a `Drop`. The worker is woken at once (group commit, see the
    /// module docs). After [`shutdown`](Self::shutdown), or with a full queue and no
    /// runtime, the signal resolves to an error at once.
    pub fn submit_acknowledged(&self, record: LogRecord) -> Commit {
        let (ack, rx) = oneshot::channel();
        self.shared.add_one();
        let queued = Queued {
            record,
            ack: Some(ack),
        };
        match self.tx.try_send(queued) {
            Ok(()) => self.shared.full.notify_one(),
            Err(mpsc::error::TrySendError::Full(queued)) => {
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        let writer = self.clone();
                        rt.spawn(async move {
                            match writer.tx.send(queued).await {
                                Ok(()) => writer.shared.full.notify_one(),
                                Err(mpsc::error::SendError(queued)) => {
                                    writer.refuse(queued, "log writer is shut down");
                                }
                            }
                        });
                    }
                    Err(_) => self.refuse(queued, "log queue full and no runtime to wait on"),
                }
            }
            Err(mpsc::error::TrySendError::Closed(queued)) => {
                self.refuse(queued, "log writer is shut down");
            }
        }
        Commit { rx }
    }

    /// Gives up on a record that never reached the queue: uncounted, reported, and its
    /// signal (if any) resolved with the reason.
    fn refuse(&self, queued: Queued, why: &str) {
        self.shared.depth.fetch_sub(1, Ordering::Relaxed);
        tracing::error!(request_id = %queued.record.request_id, "{why}: log record refused");
        if let Some(ack) = queued.ack {
            let _ = ack.send(Err(stopped(why)));
        }
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
    rx: mpsc::Receiver<Queued>,
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
                    Ok(queued) => batch.push(queued),
                    Err(_) => break,
                }
            }
            // The signals of acknowledged records, by position (none in buffered use:
            // the empty Vec does not allocate).
            let mut acks = Vec::new();
            // Handed over whole: a sink writing on another thread moves it there.
            let full: Arc<[LogRecord]> = batch
                .drain(..)
                .enumerate()
                .map(|(i, q)| {
                    if let Some(ack) = q.ack {
                        acks.push((i, ack));
                    }
                    q.record
                })
                .collect();
            let outcomes = persist(&*self.sink, Arc::clone(&full), &self.config).await;
            if let Some(shared) = self.shared.upgrade() {
                shared.depth.fetch_sub(full.len(), Ordering::Relaxed);
            }
            for (i, ack) in acks {
                // A receiver that went away (the client left) does not mind.
                let _ = ack.send(outcomes.of(i));
            }
        }
    }
}

/// What became of each record of a batch.
enum Outcomes {
    /// The same for every record (the batch's transaction committed, or failed whole).
    All(Result<(), StoreError>),
    /// Record by record, after the batch was refused for its data.
    Each(Vec<Result<(), StoreError>>),
}

impl Outcomes {
    fn of(&self, i: usize) -> Result<(), StoreError> {
        match self {
            Self::All(r) => r.clone(),
            Self::Each(v) => v
                .get(i)
                .cloned()
                .unwrap_or_else(|| Err(stopped("log record outcome missing"))),
        }
    }
}

/// Writes `batch`, retrying transient failures and isolating bad records; never fails,
/// and says what became of each record.
async fn persist(sink: &dyn LogSink, batch: Arc<[LogRecord]>, config: &WriterConfig) -> Outcomes {
    match write_retrying(sink, &batch, config).await {
        Ok(()) => Outcomes::All(Ok(())),
        Err(e) if !e.is_transient() && batch.len() > 1 => {
            tracing::warn!(
                records = batch.len(),
                error = %e,
                "log batch refused; writing its records one by one"
            );
            let mut lost = 0usize;
            let mut each = Vec::with_capacity(batch.len());
            for record in batch.iter() {
                let one: Arc<[LogRecord]> = Arc::from(std::slice::from_ref(record));
                let result = write_retrying(sink, &one, config).await;
                if let Err(e) = &result {
                    lost += 1;
                    tracing::error!(
                        request_id = %record.request_id,
                        error = %e,
                        "log record could not be written; lost"
                    );
                }
                each.push(result);
            }
            if lost > 0 {
                tracing::error!(lost, "log records lost from a refused batch");
            }
            Outcomes::Each(each)
        }
        Err(e) => {
            tracing::error!(
                records = batch.len(),
                error = %e,
                "log batch could not be written after retries; lost"
            );
            Outcomes::All(Err(e))
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

    /// A writer over a memory sink whose flush interval is an hour: only a full batch
    /// or an acknowledged record gets anything written during a test.
    fn hour_interval_writer() -> (Arc<MemorySink>, LogWriter) {
        let sink = Arc::new(MemorySink::default());
        let w = LogWriter::spawn(
            sink.clone(),
            WriterConfig {
                flush_interval: Duration::from_secs(3600),
                ..config()
            },
        );
        (sink, w)
    }

    #[tokio::test]
    async fn a_full_batch_is_written_without_waiting_for_the_interval() {
        let (sink, w) = hour_interval_writer();
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

    /// Waits for `commit` with a generous bound (a hung signal fails, not hangs, the test).
    async fn settled(commit: Commit) -> Result<(), StoreError> {
        tokio::time::timeout(Duration::from_secs(30), commit)
            .await
            .expect("commit signal resolved")
    }

    #[tokio::test]
    async fn an_acknowledged_record_is_committed_before_its_signal_without_the_interval() {
        let (sink, w) = hour_interval_writer();
        // A plain record waits out the (hour-long) interval…
        w.submit(rec(0)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(sink.written.lock().unwrap().is_empty());
        // …an acknowledged one is written at once, taking the waiting one along.
        let commit = w.submit_acknowledged(rec(1));
        settled(commit).await.unwrap();
        assert_eq!(*sink.written.lock().unwrap(), ["r0", "r1"]);
        // Twice in a row: the second does not wait for the interval either.
        settled(w.submit_acknowledged(rec(2))).await.unwrap();
        assert_eq!(sink.written.lock().unwrap().len(), 3);
        w.shutdown().await;
    }

    /// Submits `n` acknowledged records at once to a writer over a sink that takes
    /// `delay_ms` per transaction, and waits for every commit signal.
    async fn acknowledge_all(
        n: usize,
        delay_ms: u64,
        capacity: usize,
        max_batch: usize,
    ) -> (Arc<MemorySink>, LogWriter) {
        let sink = Arc::new(MemorySink {
            delay: Some(Duration::from_millis(delay_ms)),
            ..Default::default()
        });
        let w = LogWriter::spawn(
            sink.clone(),
            WriterConfig {
                capacity,
                max_batch,
                ..config()
            },
        );
        let commits: Vec<_> = (0..n).map(|i| w.submit_acknowledged(rec(i))).collect();
        for c in commits {
            settled(c).await.unwrap();
        }
        assert_eq!(sink.written.lock().unwrap().len(), n);
        (sink, w)
    }

    #[tokio::test]
    async fn waiting_records_share_transactions() {
        let (sink, w) = acknowledge_all(200, 20, 1024, 512).await;
        // Group commit, not a transaction per record.
        let batches = sink.batches.load(Ordering::SeqCst);
        assert!(batches < 20, "{batches} transactions for 200 records");
        w.shutdown().await;
    }

    #[tokio::test]
    async fn a_full_queue_delays_the_commit_but_loses_nothing() {
        let (_, w) = acknowledge_all(50, 2, 2, 2).await;
        assert_eq!(w.depth(), 0);
        w.shutdown().await;
    }

    #[tokio::test]
    async fn a_record_not_written_resolves_its_signal_with_the_error() {
        // Refused for its data: only that record's signal fails.
        let sink = Arc::new(MemorySink {
            poison: Some("r3".into()),
            delay: Some(Duration::from_millis(5)),
            ..Default::default()
        });
        let w = LogWriter::spawn(sink.clone(), config());
        let commits: Vec<_> = (0..6).map(|i| w.submit_acknowledged(rec(i))).collect();
        for (i, c) in commits.into_iter().enumerate() {
            let r = settled(c).await;
            assert_eq!(r.is_err(), i == 3, "record {i}: {r:?}");
        }
        w.shutdown().await;

        // Unavailable beyond the retries: the signal fails, it does not hang.
        let sink = Arc::new(MemorySink {
            transient_failures: AtomicU32::new(100),
            ..Default::default()
        });
        let w = LogWriter::spawn(sink.clone(), config());
        let err = settled(w.submit_acknowledged(rec(1))).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        w.shutdown().await;

        // After shutdown: refused at once.
        let err = settled(w.submit_acknowledged(rec(2))).await.unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
        assert_eq!(w.depth(), 0);
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
