//! Stored Responses API objects (`stored_responses`): what the gateway keeps so that a
//! client's `previous_response_id` can be continued by any upstream, and so that
//! `GET` / `DELETE /v1/responses/{id}` work. Each row belongs to the tenant whose key
//! created it (none without gateway keys) and is visible to that tenant only.

use async_trait::async_trait;
use sqlx::Row;

use crate::StoreError;
use crate::store::Store;

/// One stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The id the client saw (`resp_…`).
    pub id: String,
    /// The owning tenant (`None` without gateway keys).
    pub tenant_id: Option<String>,
    /// The model the client asked for.
    pub model: String,
    /// The conversation so far in the unified model, as JSON (an array of messages).
    pub conversation: String,
    /// The `response` object as the client received it, as JSON.
    pub response: String,
    /// When it was stored (store timestamp format).
    pub created_at: String,
    /// When it expires (store timestamp format); an expired row is never returned.
    pub expires_at: String,
}

/// Where stored responses live.
#[async_trait]
pub trait ResponseStore: Send + Sync {
    /// Stores (or replaces) a response.
    async fn put_response(&self, response: &StoredResponse) -> Result<(), StoreError>;

    /// The unexpired response `id` owned by `tenant_id`, if any.
    async fn response(
        &self,
        id: &str,
        tenant_id: Option<&str>,
    ) -> Result<Option<StoredResponse>, StoreError>;

    /// Deletes the response `id` owned by `tenant_id`; whether there was one.
    async fn delete_response(&self, id: &str, tenant_id: Option<&str>) -> Result<bool, StoreError>;

    /// Deletes every expired response; how many.
    async fn prune_responses(&self) -> Result<u64, StoreError>;
}

/// The current time in the store's format.
fn now() -> String {
    crate::timestamp::format(time::OffsetDateTime::now_utc())
}

#[async_trait]
impl ResponseStore for Store {
    async fn put_response(&self, r: &StoredResponse) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO stored_responses \
             (id, tenant_id, model, conversation, response, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.model)
        .bind(&r.conversation)
        .bind(&r.response)
        .bind(&r.created_at)
        .bind(&r.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn response(
        &self,
        id: &str,
        tenant_id: Option<&str>,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, model, conversation, response, created_at, expires_at \
             FROM stored_responses WHERE id = ? AND tenant_id IS ? AND expires_at > ?",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(now())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(StoredResponse {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                model: row.try_get("model")?,
                conversation: row.try_get("conversation")?,
                response: row.try_get("response")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_response(&self, id: &str, tenant_id: Option<&str>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM stored_responses WHERE id = ? AND tenant_id IS ? AND expires_at > ?",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(now())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune_responses(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM stored_responses WHERE expires_at <= ?")
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, tenant: Option<&str>, expires_at: &str) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            tenant_id: tenant.map(str::to_owned),
            model: "m".into(),
            conversation: "[]".into(),
            response: r#"{"id":"x"}"#.into(),
            created_at: now(),
            expires_at: expires_at.into(),
        }
    }

    #[tokio::test]
    async fn a_response_is_read_and_deleted_by_its_owner_only_until_it_expires() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store
            .put_response(&row("resp_a", None, "9999-01-01T00:00:00.000Z"))
            .await
            .unwrap();
        store
            .put_response(&row("resp_old", None, "2000-01-01T00:00:00.000Z"))
            .await
            .unwrap();
        assert!(store.response("resp_a", None).await.unwrap().is_some());
        // Another tenant sees nothing, and cannot delete it.
        assert!(
            store
                .response("resp_a", Some("t1"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!store.delete_response("resp_a", Some("t1")).await.unwrap());
        // Expired rows are invisible, then pruned.
        assert!(store.response("resp_old", None).await.unwrap().is_none());
        assert_eq!(store.prune_responses().await.unwrap(), 1);
        assert!(store.delete_response("resp_a", None).await.unwrap());
        assert!(store.response("resp_a", None).await.unwrap().is_none());
        assert!(!store.delete_response("resp_a", None).await.unwrap());
    }
}
