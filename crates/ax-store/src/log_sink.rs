//! The log writer's sink for a file database: [`SqliteLogSink`], on rusqlite.
//!
//! Deviation from DESIGN, deliberate and measured, for this hot write path only: DESIGN
//! picks sqlx for the store, and everything else in this crate uses it. Through sqlx a
//! log record pays for binding into owned `'static` arguments (every string copied,
//! request and response bodies included), statement resets and query building on the
//! Tokio side, and a hop to sqlx's worker thread per statement. Here one
//! `spawn_blocking` call writes a whole batch on a connection of our own, binding
//! borrowed values straight into SQLite: one `BEGIN IMMEDIATE` transaction, the cached
//! INSERTs, one commit. Numbers: `benches/writer.rs` (`sink_batch` isolates the sinks).
//!
//! The INSERTs are multi-row, cut into the same power-of-two chunks as the sqlx path
//! (so a batch uses at most ten cached texts per table), not one single-row INSERT per
//! record: measured with callgrind, single-row statements cost SQLite itself ~125k
//! instructions a record against ~75k multi-row (each statement reopens and reseeks a
//! cursor on every index and runs its own statement journal), more than everything the
//! driver change saves.
//!
//! Invariants:
//! - The column values are exactly those of the sqlx path: both bind
//!   [`Prepared::log_values`] and [`Prepared::metrics_values`] (clamping, IDs,
//!   timestamps and JSON are done once, in `logs.rs`).
//! - The sink never creates or migrates a database: it opens an existing, migrated file
//!   read-write (the server migrates through sqlx first) and refuses anything else.
//! - Errors keep the writer's contract: busy, locked and I/O failures are transient
//!   (retried); constraint violations and bad data are not (the writer then retries the
//!   batch record by record). A panic while writing becomes an error, never a panic of
//!   the writer; the transaction it interrupted is rolled back.
//! - This connection is a second writer beside the store's sqlx write pool (which does
//!   everything but logs): `BEGIN IMMEDIATE` takes SQLite's write lock up front, and
//!   the 5 s busy timeout waits out the other writer instead of failing.
//!
//! The log writer hands each batch over ([`LogSink::write_shared`]), and it moves into
//! the blocking task as it is. A batch only lent ([`LogSink::write_batch`]: tests, the
//! writer's record-by-record retry) is cloned first, since `spawn_blocking` needs owned
//! data and this crate forbids `unsafe`. SQLite still copies bound text
//! itself (rusqlite binds with `SQLITE_TRANSIENT`), as it did under sqlx.
//!
//! In-memory databases keep the sqlx sink ([`Store`] itself): a second connection would
//! open a different, empty database. [`Store::log_sink`] picks.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params_from_iter};

use crate::error::StoreError;
use crate::logs::{
    LOG_COLUMN_COUNT, LOG_COLUMNS, METRICS_COLUMN_COUNT, METRICS_COLUMNS, Prepared,
    ROWS_PER_STATEMENT, Value, chunk_len,
};
use crate::record::LogRecord;
use crate::store::{
    BUSY_TIMEOUT, Store, WAL_SIZE_LIMIT_BYTES, WRITER_CACHE_KIB, WRITER_CHECKPOINT_PAGES,
    connect_options, is_memory,
};
use crate::traits::LogSink;

/// A [`LogSink`] writing into a migrated SQLite file through one rusqlite connection.
#[derive(Debug)]
pub struct SqliteLogSink {
    /// Shared with the blocking task that writes a batch; one batch at a time.
    conn: Arc<Mutex<Connection>>,
    /// The INSERT texts, made once.
    sql: Arc<Statements>,
}

impl SqliteLogSink {
    /// Opens the migrated database file at `url` (`sqlite://path` or a bare path, as
    /// [`Store::connect`] takes). Refuses an in-memory URL, a missing file and an
    /// unmigrated database.
    pub fn open(url: &str) -> Result<SqliteLogSink, StoreError> {
        let options = connect_options(url)?;
        if is_memory(url) {
            return Err(StoreError::Config(
                "the rusqlite log sink needs a database file; an in-memory database is \
                 written through the store itself"
                    .into(),
            ));
        }
        Self::open_path(options.get_filename())
    }

    /// Opens the migrated database file at `path`, with the settings of the store's
    /// write connection.
    pub(crate) fn open_path(path: &Path) -> Result<SqliteLogSink, StoreError> {
        // No SQLITE_OPEN_CREATE: a missing file is an error, never a new database. The
        // connection is only used under our own mutex, so SQLite's is not needed.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "{}: journal mode is `{mode}`, not WAL",
                path.display()
            )));
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -{WRITER_CACHE_KIB};
             PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
        ))?;
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('provider_logs', 'provider_metrics')",
            [],
            |r| r.get(0),
        )?;
        if tables != 2 {
            return Err(StoreError::Migration(format!(
                "{}: no log tables; migrate the database first (ax migrate)",
                path.display()
            )));
        }
        // Every chunk size's two statements stay cached, plus room for a few more.
        let sql = Statements::new();
        conn.set_prepared_statement_cache_capacity(sql.logs.len() + sql.metrics.len() + 4);
        // Fail now, not on the first batch, if the schema lacks a column we write.
        conn.prepare_cached(&sql.logs[0])?;
        conn.prepare_cached(&sql.metrics[0])?;
        Ok(SqliteLogSink {
            conn: Arc::new(Mutex::new(conn)),
            sql: Arc::new(sql),
        })
    }
}

#[async_trait]
impl LogSink for SqliteLogSink {
    async fn write_batch(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        // Borrowed records must be copied to cross into the blocking pool; the log
        // writer hands its batches over through `write_shared` instead.
        self.write_shared(records.into()).await
    }

    async fn write_shared(&self, records: Arc<[LogRecord]>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let conn = Arc::clone(&self.conn);
        let sql = Arc::clone(&self.sql);
        blocking(move || {
            // A panic while writing poisons the mutex; the connection is still sound
            // (see `write`), so carry on with it.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            write(&mut conn, &sql, &records)
        })
        .await
    }
}

impl Store {
    /// The sink the log writer should write into: a [`SqliteLogSink`] on a connection
    /// of its own for a file database, the store itself (sqlx) for an in-memory one or
    /// should the file fail to open that way. Call after migrating.
    pub fn log_sink(&self) -> Arc<dyn LogSink> {
        match self.rusqlite_log_sink() {
            Ok(Some(sink)) => Arc::new(sink),
            Ok(None) => Arc::new(self.clone()),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot open the rusqlite log sink; writing logs through sqlx instead"
                );
                Arc::new(self.clone())
            }
        }
    }

    /// The rusqlite sink on this store's file; `None` in memory.
    fn rusqlite_log_sink(&self) -> Result<Option<SqliteLogSink>, StoreError> {
        self.file
            .as_deref()
            .map(SqliteLogSink::open_path)
            .transpose()
    }
}

/// `INSERT INTO table (columns) VALUES (?, ...), ...`: `rows` rows of `count` parameters.
fn insert_sql(table: &str, columns: &str, count: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; count].join(", "));
    let values = vec![row.as_str(); rows].join(", ");
    format!("INSERT INTO {table} ({columns}) VALUES {values}")
}

/// The INSERT texts for every chunk size [`chunk_len`] cuts: index `k` holds `2^k` rows.
#[derive(Debug)]
struct Statements {
    logs: Vec<String>,
    metrics: Vec<String>,
}

impl Statements {
    fn new() -> Statements {
        let sizes = (0..=ROWS_PER_STATEMENT.ilog2()).map(|k| 1usize << k);
        Statements {
            logs: sizes
                .clone()
                .map(|n| insert_sql("provider_logs", LOG_COLUMNS, LOG_COLUMN_COUNT, n))
                .collect(),
            metrics: sizes
                .map(|n| insert_sql("provider_metrics", METRICS_COLUMNS, METRICS_COLUMN_COUNT, n))
                .collect(),
        }
    }
}

/// Writes `records` in one transaction: all or none.
fn write(conn: &mut Connection, sql: &Statements, records: &[LogRecord]) -> Result<(), StoreError> {
    let prepared = records
        .iter()
        .map(Prepared::new)
        .collect::<Result<Vec<_>, _>>()?;
    // A panic mid-batch unwinds through the transaction's drop, which rolls it back;
    // should that rollback have failed, do not start inside the stale transaction.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rest = prepared.as_slice();
    while !rest.is_empty() {
        let n = chunk_len(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let k = n.ilog2() as usize;
        tx.prepare_cached(&sql.logs[k])?.execute(params_from_iter(
            chunk.iter().flat_map(Prepared::log_values),
        ))?;
        tx.prepare_cached(&sql.metrics[k])?
            .execute(params_from_iter(
                chunk.iter().flat_map(Prepared::metrics_values),
            ))?;
    }
    tx.commit()?;
    Ok(())
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let v = match *self {
            Value::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Value::Int(Some(i)) => ValueRef::Integer(i),
            Value::Real(Some(f)) => ValueRef::Real(f),
            Value::Bool(b) => ValueRef::Integer(i64::from(b)),
            Value::Text(None) | Value::Int(None) | Value::Real(None) => ValueRef::Null,
        };
        Ok(ToSqlOutput::Borrowed(v))
    }
}

/// Runs `f` on Tokio's blocking pool; a panic in it comes back as an error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(StoreError::Database(format!(
                "the log sink panicked while writing: {message}"
            )))
        }
        Err(_) => Err(StoreError::Unavailable(
            "the log sink's write was cancelled (runtime shutting down)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

    use super::*;
    use ax_core::lifecycle::State;

    async fn fresh() -> (tempfile::TempDir, Store, SqliteLogSink) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ax.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let sink = SqliteLogSink::open(&url).unwrap();
        (dir, store, sink)
    }

    async fn rows(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM provider_logs")
            .fetch_one(&store.read)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_panic_while_writing_is_an_error_and_the_sink_recovers() {
        let e = blocking::<()>(|| panic!("boom")).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Database(m) if m.contains("boom")),
            "{e:?}"
        );
        assert!(!e.is_transient());

        // Panic with a transaction open and the mutex held: the mutex is poisoned, the
        // transaction rolled back, and the next batch goes through.
        let (_dir, store, sink) = fresh().await;
        let conn = Arc::clone(&sink.conn);
        let r = blocking::<()>(move || {
            let mut conn = conn.lock().unwrap();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            let rec = LogRecord::new("half", State::Completed);
            let p = Prepared::new(&rec).unwrap();
            tx.execute(
                &insert_sql("provider_logs", LOG_COLUMNS, LOG_COLUMN_COUNT, 1),
                params_from_iter(p.log_values()),
            )
            .unwrap();
            panic!("mid-batch");
        })
        .await;
        assert!(r.is_err());
        assert!(sink.conn.is_poisoned());
        sink.write_batch(&[LogRecord::new("after", State::Completed)])
            .await
            .unwrap();
        assert_eq!(
            rows(&store).await,
            1,
            "the half-written batch was rolled back"
        );
    }

    #[tokio::test]
    async fn a_file_store_picks_the_rusqlite_sink_and_memory_the_sqlx_one() {
        let (_dir, store, _sink) = fresh().await;
        assert!(store.rusqlite_log_sink().unwrap().is_some());
        let memory = Store::connect("sqlite::memory:").await.unwrap();
        memory.migrate().await.unwrap();
        assert!(memory.rusqlite_log_sink().unwrap().is_none());
    }

    #[tokio::test]
    async fn the_connection_has_the_write_connection_settings() {
        let (_dir, _store, sink) = fresh().await;
        let conn = sink.conn.lock().unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma("synchronous"), "Integer(1)"); // NORMAL
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(pragma("busy_timeout"), "Integer(5000)");
        assert_eq!(pragma("temp_store"), "Integer(2)"); // MEMORY
        assert_eq!(
            pragma("cache_size"),
            format!("Integer(-{WRITER_CACHE_KIB})")
        );
    }

    #[tokio::test]
    async fn refuses_memory_missing_and_unmigrated_databases() {
        assert!(matches!(
            SqliteLogSink::open("sqlite::memory:"),
            Err(StoreError::Config(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.db");
        assert!(SqliteLogSink::open_path(&missing).is_err());
        assert!(!missing.exists(), "the sink must not create a database");

        let url = format!("sqlite://{}", dir.path().join("bare.db").display());
        let store = Store::connect(&url).await.unwrap();
        assert!(matches!(
            SqliteLogSink::open(&url),
            Err(StoreError::Migration(_))
        ));
        store.migrate().await.unwrap();
        assert!(SqliteLogSink::open(&url).is_ok());
    }
}
