//! Tenancy persistence: tenants, their gateway keys and the audit log, behind the
//! [`TenantStore`] trait (SQLite now, PostgreSQL later).
//!
//! Invariants:
//! - A raw gateway key exists only in the [`CreatedKey`] returned by
//!   [`TenantStore::create_key`]; the store keeps its SHA-256 ([`hash_key`]) and a short
//!   visible prefix.
//! - Every mutation takes the acting operator and writes its `audit_log` row in the
//!   same transaction, so a change without its audit row cannot exist. Audit
//!   snapshots are the public row structs, which hold no secret.
//! - Status changes follow `ax_core::tenant::TRANSITIONS`, checked inside the writing
//!   transaction.

mod import;
mod keys;
pub mod secrets;
mod sqlite;

use async_trait::async_trait;
use ax_core::tenant::{IllegalTransition, Quotas, TenantStatus};
use ax_core::{KeyId, TenantId};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

pub use import::{ImportFile, ImportKey, ImportReport, ImportTenant};
pub use keys::{KEY_PREFIX, PREFIX_LEN, generate_key, hash_key, looks_like_key};

/// A tenant row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// ID (UUID v7).
    pub id: TenantId,
    /// Unique, URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Lifecycle status.
    pub status: TenantStatus,
    /// Limits.
    pub quotas: Quotas,
    /// Creation time (immutable).
    pub created_at: String,
    /// Last change (set by trigger).
    pub updated_at: String,
}

/// What [`TenantStore::create_tenant`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    /// Unique slug (validated).
    pub slug: String,
    /// Display name (defaults to the slug when `None`).
    pub name: Option<String>,
    /// Initial status (usually `active`).
    pub status: TenantStatus,
    /// Limits.
    pub quotas: Quotas,
}

/// A partial update; `None` leaves a field alone, `Some(None)` clears a limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantPatch {
    /// New display name.
    pub name: Option<String>,
    /// New requests-per-minute limit.
    pub rpm: Option<Option<u64>>,
    /// New tokens-per-minute limit.
    pub tpm: Option<Option<u64>>,
    /// New tokens-per-day limit.
    pub tpd: Option<Option<u64>>,
    /// New monthly budget.
    pub monthly_budget_usd: Option<Option<f64>>,
}

/// A gateway key row (never the raw key; the hash is not serialized).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// ID (UUID v7).
    pub id: KeyId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Operator's label.
    pub name: Option<String>,
    /// SHA-256 of the raw key, hex (kept out of every JSON output).
    #[serde(skip)]
    pub key_hash: String,
    /// The first characters of the raw key, to tell keys apart.
    pub prefix: String,
    /// Model patterns this key may use; `None` means every model.
    pub allowed_models: Option<Vec<String>>,
    /// The key's own requests-per-minute limit.
    pub rpm: Option<u64>,
    /// The key's own tokens-per-minute limit.
    pub tpm: Option<u64>,
    /// Expiry time (`YYYY-MM-DDTHH:MM:SS.sssZ`), if any.
    pub expires_at: Option<String>,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// When the key last authenticated a request (updated in batches).
    pub last_used_at: Option<String>,
    /// Creation time (immutable).
    pub created_at: String,
    /// Last change of a setting.
    pub updated_at: String,
}

/// What [`TenantStore::create_key`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewApiKey {
    /// Label.
    pub name: Option<String>,
    /// Model patterns (`None`: every model).
    pub allowed_models: Option<Vec<String>>,
    /// Own rpm limit.
    pub rpm: Option<u64>,
    /// Own tpm limit.
    pub tpm: Option<u64>,
    /// Expiry time in the store's timestamp format.
    pub expires_at: Option<String>,
}

/// A key just created: the row and the raw key, shown once. `Debug` hides the key.
#[derive(Clone)]
pub struct CreatedKey {
    /// The stored row.
    pub key: ApiKey,
    /// The raw key (`ax-…`); never stored, never shown again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A key with its tenant, as the authenticating cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyWithTenant {
    /// The key.
    pub key: ApiKey,
    /// Its tenant.
    pub tenant: Tenant,
}

/// What an audit row is about (`audit_log.target_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditTarget {
    /// A tenant.
    Tenant,
    /// A gateway key.
    ApiKey,
    /// A provider config row.
    ProviderConfig,
    /// A live provider (circuit reset and the like).
    Provider,
}

impl AuditTarget {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::ApiKey => "api_key",
            Self::ProviderConfig => "provider_config",
            Self::Provider => "provider",
        }
    }
}

/// An audit row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// Who (`admin-api`, `cli:alice`, `import`).
    pub actor: String,
    /// What (`tenant.create`, `key.revoke`, …).
    pub action: String,
    /// Kind of target.
    pub target_type: AuditTarget,
    /// Target ID or name.
    pub target_id: Option<String>,
    /// State before (no secrets).
    pub before: Option<serde_json::Value>,
    /// State after (no secrets).
    pub after: Option<serde_json::Value>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Row ID.
    pub id: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Kind of target.
    pub target_type: AuditTarget,
    /// Target ID or name.
    pub target_id: Option<String>,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// When.
    pub created_at: String,
}

/// Tokens and spend a tenant's key used in the current day and month, from the
/// request log (to restore quota counters when the server starts).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageTotals {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The key (`None` for rows without one).
    pub key_id: Option<KeyId>,
    /// Input + output tokens since the start of the day.
    pub day_tokens: u64,
    /// Cost since the start of the month, US dollars.
    pub month_cost_usd: f64,
}

/// Which audit rows to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Only this target kind.
    pub target_type: Option<AuditTarget>,
    /// Only this target.
    pub target_id: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// A page of a listing: up to `limit` rows after `after` (keyset pagination by ID).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Page {
    /// Rows to return (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Return rows with IDs after this one (the last ID of the previous page).
    pub after: Option<TenantId>,
}

/// Why a tenancy operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TenancyError {
    /// The store failed (not found, conflict, constraint, unavailable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A status change the lifecycle table does not allow.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// Input refused before reaching the store (slug, pattern, import file).
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for TenancyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Tenants, gateway keys and the audit log.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant (and its audit row).
    async fn create_tenant(&self, new: &NewTenant, actor: &str) -> Result<Tenant, TenancyError>;
    /// The tenant with this ID.
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, TenancyError>;
    /// The tenant with this slug.
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, TenancyError>;
    /// Tenants in creation order, one page.
    async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, TenancyError>;
    /// Applies a partial update.
    async fn update_tenant(
        &self,
        id: TenantId,
        patch: &TenantPatch,
        actor: &str,
    ) -> Result<Tenant, TenancyError>;
    /// Moves a tenant to `to` if the lifecycle table allows it.
    async fn set_tenant_status(
        &self,
        id: TenantId,
        to: TenantStatus,
        actor: &str,
    ) -> Result<Tenant, TenancyError>;
    /// Deletes a tenant and (cascade) its keys; returns the deleted row.
    async fn delete_tenant(&self, id: TenantId, actor: &str) -> Result<Tenant, TenancyError>;

    /// Creates a key for `tenant`; the raw key is in the result and nowhere else.
    async fn create_key(
        &self,
        tenant: TenantId,
        new: &NewApiKey,
        actor: &str,
    ) -> Result<CreatedKey, TenancyError>;
    /// The key with this ID.
    async fn key(&self, id: KeyId) -> Result<Option<ApiKey>, TenancyError>;
    /// Keys whose prefix starts with `prefix`.
    async fn keys_by_prefix(&self, prefix: &str) -> Result<Vec<ApiKey>, TenancyError>;
    /// Every key, or a tenant's keys, oldest first.
    async fn list_keys(&self, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, TenancyError>;
    /// The key (with its tenant) whose hash is `key_hash`.
    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyWithTenant>, TenancyError>;
    /// Revokes a key (idempotent); returns it.
    async fn revoke_key(&self, id: KeyId, actor: &str) -> Result<ApiKey, TenancyError>;
    /// Records when keys were last used (batched by the server; not audited).
    async fn touch_keys(&self, used: &[(KeyId, String)]) -> Result<(), TenancyError>;

    /// Every key with its tenant (the authenticating cache's load).
    async fn auth_snapshot(&self) -> Result<Vec<KeyWithTenant>, TenancyError>;
    /// A counter that moves whenever a tenant or key changes in a way that matters
    /// to authentication.
    async fn tenancy_version(&self) -> Result<i64, TenancyError>;

    /// Per tenant and key: tokens since `day_start` and cost since `month_start`
    /// (store timestamps; `month_start` <= `day_start`).
    async fn usage_since(
        &self,
        day_start: &str,
        month_start: &str,
    ) -> Result<Vec<UsageTotals>, TenancyError>;

    /// Writes an audit row on its own (for changes outside this trait).
    async fn record_audit(&self, entry: &NewAudit) -> Result<AuditEntry, TenancyError>;
    /// Audit rows, newest first.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, TenancyError>;

    /// Imports tenants and keys in one transaction; with `dry_run`, runs the same
    /// writes and rolls them back. `progress` is told about each row.
    async fn import_tenancy(
        &self,
        file: &ImportFile,
        actor: &str,
        dry_run: bool,
        progress: &(dyn for<'p> Fn(&'p str) + Send + Sync),
    ) -> Result<ImportReport, TenancyError>;
}

#[cfg(test)]
mod tests;
