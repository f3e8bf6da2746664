//! The SQLite store: connection setup, embedded migrations and diagnostics.
//!
//! Invariants:
//! - Every connection runs with WAL, `foreign_keys=ON`, `synchronous=NORMAL` and a 5 s
//!   busy timeout.
//! - Writes go through a pool of exactly one connection, so ax never races itself for
//!   SQLite's single write lock (no `SQLITE_BUSY` between our own writers) — except the
//!   log writer's rusqlite sink ([`crate::log_sink`]), a second writer that takes the
//!   lock with `BEGIN IMMEDIATE` and waits out the busy timeout; reads use
//!   a separate pool and, under WAL, never block on the writer. An in-memory database
//!   lives in one connection, so there both pools are the same one-connection pool.
//! - [`Store::connect`] never migrates; the server calls [`Store::migrate`] at start and
//!   `ax migrate` does it on demand. Migrations are never edited once committed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::checkpoint::Checkpointer;
use crate::error::StoreError;

/// The schema migrations, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a connection waits for SQLite's lock before giving up with `SQLITE_BUSY`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the read pool of a file database.
const READ_CONNECTIONS: u32 = 4;

/// Page cache of the write connections (the sqlx writer and the log sink), KiB. Log
/// inserts touch only the right-hand edges of each B-tree (IDs and timestamps are
/// time-ordered, other index keys have few values), a few hundred pages; a larger
/// cache only fills with pages never read again: 16 MiB took the gateway's peak RSS at
/// concurrency 64 from ~40 to ~55 MB for the same instructions per request.
pub(crate) const WRITER_CACHE_KIB: u32 = 2 * 1024;

/// Page cache of each read connection, KiB. Small on purpose: under sustained logging
/// the readers' caches filled towards their limit for minutes. Between seconds 20 and
/// 120 of a c16 load, glibc's in-use heap grew 13.5 → 19.0 MB with 2 MiB per reader
/// and 13.8 → 15.0 MB with 128 KiB. Readers serve the CLI, admin API and dashboard,
/// whose pages the OS page cache holds anyway.
const READER_CACHE_KIB: u32 = 256;

/// Page size of a new database file. A log row with its bodies is about 2.1 KB, so a
/// 4 KiB page held one row and wasted the rest: 8 KiB pages hold three, which took the
/// file from 4.9 to 3.5 KB per logged request and the bytes written (WAL and
/// checkpoints) from 12.3 to 9.8 KB, for the same CPU. An existing file keeps its page
/// size (SQLite cannot change it in WAL mode).
pub(crate) const PAGE_SIZE_BYTES: u32 = 8 * 1024;

/// WAL pages (8 KiB each) after which a commit checkpoints by itself: a safety net for
/// when the background checkpointer falls behind.
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 8_000;

/// Size the WAL file is truncated back to after a checkpoint.
pub(crate) const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// A migration, applied or pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Version (the numeric prefix of the file name).
    pub version: i64,
    /// Description (the rest of the file name).
    pub description: String,
}

/// Connection settings as SQLite reports them (for `ax doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragmas {
    /// `PRAGMA journal_mode` (`wal` for a file database, `memory` in memory).
    pub journal_mode: String,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA synchronous` (`off`, `normal`, `full` or `extra`).
    pub synchronous: String,
    /// `PRAGMA busy_timeout` in milliseconds.
    pub busy_timeout_ms: u64,
}

/// The SQLite implementation of every store trait. Cheap to clone (the pools are
/// shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    /// Background WAL checkpoints (file databases only).
    checkpointer: Option<Arc<Checkpointer>>,
    /// The database file (`None` in memory), for [`Store::log_sink`].
    pub(crate) file: Option<PathBuf>,
}

impl Store {
    /// Opens the database at `url` — `sqlite://path` (created if missing),
    /// `sqlite::memory:`, or a bare file path — without migrating it.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let options = connect_options(url)?
            .create_if_missing(true)
            // sqlx sets it before the journal mode, so it takes effect on a new file.
            .page_size(PAGE_SIZE_BYTES)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // Statement journals and sorter spills stay in memory, not temp files.
            .pragma("temp_store", "memory");

        if is_memory(url) {
            // One connection holds the database: it must never be closed while the
            // store lives, and a second connection would see another database.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            return Ok(Store {
                read: pool.clone(),
                write: pool,
                checkpointer: None,
                file: None,
            });
        }

        // The writer connects first: it creates the file and switches it to WAL. Its
        // page cache holds the hot right-hand edges of every index between commits.
        // Checkpoints are the background checkpointer's job; the writer's own
        // auto-checkpoint is only a safety net, set high.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string())
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string()),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{READER_CACHE_KIB}")),
            )
            .await?;
        let file = Some(options.get_filename().to_path_buf());
        let checkpointer = Some(Checkpointer::spawn(options));
        Ok(Store {
            read,
            write,
            checkpointer,
            file,
        })
    }

    /// Applies every pending migration; returns those applied (empty when the schema
    /// was already current).
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let pending = self.pending_migrations().await?;
        MIGRATOR.run(&self.write).await?;
        Ok(pending)
    }

    /// The migrations [`Store::migrate`] would apply (`ax migrate --dry-run`).
    pub async fn pending_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let applied = self.applied_versions().await?;
        Ok(MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect())
    }

    /// Whether every migration of this build has been applied (`ax doctor`).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        Ok(self.pending_migrations().await?.is_empty())
    }

    /// Every migration this build knows, in order.
    pub fn known_migrations() -> Vec<AppliedMigration> {
        MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect()
    }

    async fn applied_versions(&self) -> Result<HashSet<i64>, StoreError> {
        let table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.read)
        .await?;
        if table.is_none() {
            return Ok(HashSet::new());
        }
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.read)
                .await?;
        Ok(versions.into_iter().collect())
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The settings of the write connection, as SQLite reports them.
    pub async fn pragmas(&self) -> Result<Pragmas, StoreError> {
        let mut conn = self.write.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Pragmas {
            journal_mode: journal_mode.to_ascii_lowercase(),
            foreign_keys: foreign_keys == 1,
            synchronous: match synchronous {
                0 => "off",
                1 => "normal",
                2 => "full",
                3 => "extra",
                _ => "unknown",
            }
            .to_owned(),
            busy_timeout_ms: u64::try_from(busy_timeout_ms).unwrap_or(0),
        })
    }

    /// Runs `PRAGMA integrity_check`; returns the problems found (empty when sound).
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            c.close().await;
        }
        self.write.close().await;
        self.read.close().await;
    }
}

/// Parses a database URL into connection options.
pub(crate) fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    if url.starts_with("sqlite:") {
        return SqliteConnectOptions::from_str(url).map_err(StoreError::from);
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Err(StoreError::Config(
            "PostgreSQL is not supported yet; use a sqlite:// URL".into(),
        ));
    }
    if url.contains("://") {
        return Err(StoreError::Config(format!(
            "unsupported database URL scheme in `{}`; use sqlite://PATH",
            url.split("://").next().unwrap_or_default()
        )));
    }
    if url.is_empty() {
        return Err(StoreError::Config("the database URL is empty".into()));
    }
    Ok(SqliteConnectOptions::new().filename(url))
}

pub(crate) fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(connect_options("sqlite://ax.db").is_ok());
        assert!(connect_options("sqlite::memory:").is_ok());
        assert!(connect_options("ax.db").is_ok());
        assert!(matches!(
            connect_options("postgres://u@h/db"),
            Err(StoreError::Config(_))
        ));
        assert!(matches!(
            connect_options("mysql://h/db"),
            Err(StoreError::Config(_))
        ));
        assert!(is_memory("sqlite::memory:"));
        assert!(!is_memory("sqlite://ax.db"));
    }

    #[test]
    fn migrations_are_embedded_in_order() {
        let known = Store::known_migrations();
        assert!(known.len() >= 4);
        assert!(known.windows(2).all(|w| w[0].version < w[1].version));
    }
}
