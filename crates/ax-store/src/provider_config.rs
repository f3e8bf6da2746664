//! Provider configuration rows (`provider_configs`). The API key is opaque ciphertext
//! here: encryption belongs to the caller (DESIGN §8), and `Debug` never prints it.

use std::fmt;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::StoreError;
use crate::store::Store;
use crate::traits::ProviderConfigStore;

/// The settable fields of one provider's stored configuration.
#[derive(Clone, PartialEq)]
pub struct ProviderConfig {
    /// Provider name (unique).
    pub provider: String,
    /// Whether the provider may be routed to.
    pub enabled: bool,
    /// Lower is tried first.
    pub priority: i64,
    /// The provider API key, encrypted by the caller.
    pub api_key_encrypted: Option<Vec<u8>>,
    /// Base URL of the provider's API.
    pub api_url: Option<String>,
    /// Model used when none is named.
    pub default_model: Option<String>,
    /// Retries per request.
    pub max_retries: u32,
    /// Whole-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// Requests per minute allowed upstream.
    pub rate_limit_rpm: Option<u64>,
    /// Tokens per minute allowed upstream.
    pub rate_limit_tpm: Option<u64>,
    /// Providers to fall back to, in order.
    pub fallback_providers: Vec<String>,
    /// Anything else, as a JSON object.
    pub config_json: serde_json::Map<String, serde_json::Value>,
}

impl ProviderConfig {
    /// A config for `provider` with the gateway's defaults: the server applies a row's
    /// values, so a row created only to hold a key must carry
    /// the values a provider has anyway — priority 10, 2 retries, a 600 s call — not
    /// the SQL column defaults (priority 100, 60 s), which only raw inserts get.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            enabled: true,
            priority: 10,
            api_key_encrypted: None,
            api_url: None,
            default_model: None,
            max_retries: 2,
            timeout_ms: 600_000,
            rate_limit_rpm: None,
            rate_limit_tpm: None,
            fallback_providers: Vec::new(),
            config_json: serde_json::Map::new(),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self
            .api_key_encrypted
            .as_ref()
            .map(|k| format!("<{} encrypted bytes>", k.len()));
        f.debug_struct("ProviderConfig")
            .field("provider", &self.provider)
            .field("enabled", &self.enabled)
            .field("priority", &self.priority)
            .field("api_key_encrypted", &key)
            .field("api_url", &self.api_url)
            .field("default_model", &self.default_model)
            .field("max_retries", &self.max_retries)
            .field("timeout_ms", &self.timeout_ms)
            .field("rate_limit_rpm", &self.rate_limit_rpm)
            .field("rate_limit_tpm", &self.rate_limit_tpm)
            .field("fallback_providers", &self.fallback_providers)
            .field("config_json", &self.config_json)
            .finish()
    }
}

/// A provider config as stored, with its row ID and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProviderConfig {
    /// Row ID (UUID v7).
    pub id: String,
    /// The configuration.
    pub config: ProviderConfig,
    /// When the row was created (`YYYY-MM-DDTHH:MM:SS.sssZ`).
    pub created_at: String,
    /// When the row last changed.
    pub updated_at: String,
}

const COLUMNS: &str = "id, provider, enabled, priority, api_key_encrypted, api_url, \
    default_model, max_retries, timeout_ms, rate_limit_rpm, rate_limit_tpm, \
    fallback_providers, config_json, created_at, updated_at";

#[async_trait]
impl ProviderConfigStore for Store {
    async fn list_provider_configs(&self) -> Result<Vec<StoredProviderConfig>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM provider_configs ORDER BY priority, provider"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn provider_config(
        &self,
        provider: &str,
    ) -> Result<Option<StoredProviderConfig>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM provider_configs WHERE provider = ?"
        ))
        .bind(provider)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn upsert_provider_config(
        &self,
        config: &ProviderConfig,
    ) -> Result<StoredProviderConfig, StoreError> {
        let fallbacks = serde_json::to_string(&config.fallback_providers)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let extra = serde_json::to_string(&config.config_json)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // updated_at is set explicitly so RETURNING shows the new value (RETURNING does
        // not see what the AFTER UPDATE trigger writes).
        let row = sqlx::query(&format!(
            "INSERT INTO provider_configs (id, provider, enabled, priority, api_key_encrypted, \
             api_url, default_model, max_retries, timeout_ms, rate_limit_rpm, rate_limit_tpm, \
             fallback_providers, config_json) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (provider) DO UPDATE SET \
             enabled = excluded.enabled, priority = excluded.priority, \
             api_key_encrypted = excluded.api_key_encrypted, api_url = excluded.api_url, \
             default_model = excluded.default_model, max_retries = excluded.max_retries, \
             timeout_ms = excluded.timeout_ms, rate_limit_rpm = excluded.rate_limit_rpm, \
             rate_limit_tpm = excluded.rate_limit_tpm, \
             fallback_providers = excluded.fallback_providers, \
             config_json = excluded.config_json, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             RETURNING {COLUMNS}"
        ))
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(config.provider.as_str())
        .bind(config.enabled)
        .bind(config.priority)
        .bind(config.api_key_encrypted.as_deref())
        .bind(config.api_url.as_deref())
        .bind(config.default_model.as_deref())
        .bind(i64::from(config.max_retries))
        .bind(i64::try_from(config.timeout_ms).unwrap_or(i64::MAX))
        .bind(
            config
                .rate_limit_rpm
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        )
        .bind(
            config
                .rate_limit_tpm
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        )
        .bind(fallbacks)
        .bind(extra)
        .fetch_one(&self.write)
        .await?;
        decode(&row)
    }

    async fn set_provider_api_key(
        &self,
        provider: &str,
        api_key_encrypted: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE provider_configs SET api_key_encrypted = ? WHERE provider = ?")
                .bind(api_key_encrypted)
                .bind(provider)
                .execute(&self.write)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "provider config `{provider}`"
            )));
        }
        Ok(())
    }
}

fn decode(r: &SqliteRow) -> Result<StoredProviderConfig, StoreError> {
    let invalid = |what: &str| StoreError::Invalid(format!("provider_configs.{what}"));
    let fallbacks: String = r.try_get("fallback_providers")?;
    let extra: String = r.try_get("config_json")?;
    let unsigned = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
    let config = ProviderConfig {
        provider: r.try_get("provider")?,
        enabled: r.try_get("enabled")?,
        priority: r.try_get("priority")?,
        api_key_encrypted: r.try_get("api_key_encrypted")?,
        api_url: r.try_get("api_url")?,
        default_model: r.try_get("default_model")?,
        max_retries: u32::try_from(r.try_get::<i64, _>("max_retries")?)
            .map_err(|_| invalid("max_retries"))?,
        timeout_ms: u64::try_from(r.try_get::<i64, _>("timeout_ms")?)
            .map_err(|_| invalid("timeout_ms"))?,
        rate_limit_rpm: unsigned(r.try_get("rate_limit_rpm")?),
        rate_limit_tpm: unsigned(r.try_get("rate_limit_tpm")?),
        fallback_providers: serde_json::from_str(&fallbacks)
            .map_err(|_| invalid("fallback_providers"))?,
        config_json: serde_json::from_str(&extra).map_err(|_| invalid("config_json"))?,
    };
    Ok(StoredProviderConfig {
        id: r.try_get("id")?,
        config,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let mut c = ProviderConfig::new("openai");
        c.api_key_encrypted = Some(b"sk-secret-ciphertext".to_vec());
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<20 encrypted bytes>"), "{shown}");
    }
}
