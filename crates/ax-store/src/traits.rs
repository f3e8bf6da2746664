//! The narrow traits callers program against. Each is implemented by the SQLite
//! [`Store`](crate::Store) now; a PostgreSQL store can implement the same traits later
//! without callers changing. No sqlx type appears in any signature.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::provider_config::{ProviderConfig, StoredProviderConfig};
use crate::query::{FailedRow, LogFilter, LogRow, StatsRow};
use crate::record::LogRecord;

/// Where log records go. Used by the batched [`LogWriter`](crate::LogWriter), never on
/// a request's path directly.
#[async_trait]
pub trait LogSink: Send + Sync + 'static {
    /// Writes every record (log row and metrics row) in one transaction: all or none.
    async fn write_batch(&self, records: &[LogRecord]) -> Result<(), StoreError>;

    /// [`write_batch`](Self::write_batch) for a batch the caller hands over, so that a
    /// sink writing on another thread can move it there instead of copying it.
    async fn write_shared(&self, records: Arc<[LogRecord]>) -> Result<(), StoreError> {
        self.write_batch(&records).await
    }
}

/// Reads over request history (`ax provider logs`, `ax provider stats`, dashboard).
#[async_trait]
pub trait LogQuery: Send + Sync {
    /// The newest log rows matching `filter`, newest first.
    async fn recent_logs(&self, filter: LogFilter) -> Result<Vec<LogRow>, StoreError>;

    /// Per provider and model aggregates over the last `window_hours` hours, busiest
    /// first. Requests that never reached a provider are not counted.
    async fn stats(&self, window_hours: u32) -> Result<Vec<StatsRow>, StoreError>;

    /// The newest failed requests with their errors, newest first.
    async fn failed_requests(&self, limit: u32) -> Result<Vec<FailedRow>, StoreError>;
}

/// Provider configuration rows (`provider_configs`). The API key is stored as opaque
/// ciphertext; sealing and opening it is the caller's job.
#[async_trait]
pub trait ProviderConfigStore: Send + Sync {
    /// Every provider config, by priority then name.
    async fn list_provider_configs(&self) -> Result<Vec<StoredProviderConfig>, StoreError>;

    /// The config of `provider`, if there is one.
    async fn provider_config(
        &self,
        provider: &str,
    ) -> Result<Option<StoredProviderConfig>, StoreError>;

    /// Inserts or replaces (by provider name) a config; returns it as stored.
    async fn upsert_provider_config(
        &self,
        config: &ProviderConfig,
    ) -> Result<StoredProviderConfig, StoreError>;

    /// Sets (or with `None` clears) only the encrypted API key of an existing provider.
    /// [`StoreError::NotFound`] if there is no such provider.
    async fn set_provider_api_key(
        &self,
        provider: &str,
        api_key_encrypted: Option<Vec<u8>>,
    ) -> Result<(), StoreError>;
}
