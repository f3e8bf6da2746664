//! Background WAL checkpointing for a file database.
//!
//! In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies
//! them back into the database (with two fsyncs). Left to SQLite, the committing
//! connection runs the checkpoint itself, inside the commit: the log writer would stall
//! on that copy and its fsyncs every few batches (about a third of its time under
//! sustained load). Instead a separate connection runs a PASSIVE checkpoint every
//! [`INTERVAL`]; PASSIVE never blocks the writer or readers. The writer keeps a high
//! `wal_autocheckpoint` only as a safety net for when this task falls behind.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::sync::watch;

/// How often the WAL is checkpointed.
pub(crate) const INTERVAL: Duration = Duration::from_millis(500);

/// Stops the task when closed or when the last store handle is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: watch::Sender<bool>,
    pool: SqlitePool,
}

impl Checkpointer {
    /// Starts checkpointing the database `options` opens, on a connection of its own.
    pub(crate) fn spawn(options: SqliteConnectOptions) -> Arc<Checkpointer> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(options);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(run(pool.clone(), stopped));
        Arc::new(Checkpointer { stop, pool })
    }

    /// Stops the task and closes its connection.
    pub(crate) async fn close(&self) {
        self.stop.send_replace(true);
        self.pool.close().await;
    }
}

async fn run(pool: SqlitePool, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Err: every store handle is gone; Ok: closed.
            _ = stop.wait_for(|s| *s) => break,
        }
        if pool.is_closed() {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "WAL checkpoint failed; retrying later");
        }
    }
    pool.close().await;
}
