//! Persistence for ax: SQLite store, migrations, batched log writer, analytics.
//!
//! Callers program against narrow traits — [`LogSink`], [`LogQuery`],
//! [`ProviderConfigStore`] — implemented by the SQLite [`Store`] (WAL, one writer
//! connection, a read pool); a PostgreSQL store can implement the same traits later.
//! No sqlx type crosses this crate's boundary: errors are [`StoreError`], rows are
//! plain structs.
//!
//! Request logging never touches the database on the request's path: the final
//! lifecycle context becomes a [`LogRecord`] handed to the [`LogWriter`], which writes
//! batches in the background, one transaction per batch, and drains fully on shutdown.
//! For a file database it writes through [`SqliteLogSink`] (rusqlite, the one
//! deliberate exception to sqlx, for this hot path); [`Store::log_sink`] picks the sink.
//!
//! Schema: `migrations/` (embedded; see the first migration for the conventions:
//! STRICT tables, UUID v7 IDs, UTC millisecond RFC 3339 timestamps — [`timestamp`]).

mod checkpoint;
mod error;
mod log_sink;
mod logs;
mod provider_config;
mod query;
mod record;
#[cfg(test)]
mod schema_tests;
mod store;
mod stored_responses;
pub mod tenancy;
pub mod timestamp;
mod traits;
mod writer;

pub use error::StoreError;
pub use log_sink::SqliteLogSink;
pub use provider_config::{ProviderConfig, StoredProviderConfig};
pub use query::{FailedRow, LogFilter, LogRow, StatsRow};
pub use record::LogRecord;
pub use store::{AppliedMigration, Pragmas, Store};
pub use stored_responses::{ResponseStore, StoredResponse};
pub use tenancy::TenantStore;
pub use traits::{LogQuery, LogSink, ProviderConfigStore};
pub use writer::{Commit, LogWriter, TrySubmitError, WriterConfig};

/// The SQLite store under the name the PostgreSQL one will sit beside.
pub type SqliteStore = Store;
