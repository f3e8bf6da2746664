//! [`TenantStore`] for the SQLite [`Store`]. Every mutation runs in one write
//! transaction together with its audit row.

use std::collections::HashMap;

use async_trait::async_trait;
use ax_core::tenant::{Quotas, TenantStatus, validate_pattern, validate_slug};
use ax_core::{KeyId, TenantId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::import::ImportFile;
use super::{
    ApiKey, AuditEntry, AuditFilter, AuditTarget, CreatedKey, ImportReport, KeyWithTenant,
    NewApiKey, NewAudit, NewTenant, Page, TenancyError, Tenant, TenantPatch, TenantStore,
    UsageTotals, generate_key, hash_key,
};
use crate::error::StoreError;
use crate::store::Store;

const TENANT_COLS: &str =
    "id, slug, name, status, rpm, tpm, tpd, monthly_budget_usd, created_at, updated_at";
const KEY_COLS: &str = "id, tenant_id, name, key_hash, prefix, allowed_models, rpm, tpm, \
    expires_at, revoked, last_used_at, created_at, updated_at";

fn to_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

/// Whom a group of log rows is counted against when quotas are restored.
struct Attributed {
    tenant_id: TenantId,
    key_id: Option<KeyId>,
    /// Why the attribution is not the rows' own, for a warning.
    note: Option<&'static str>,
}

/// Reads a log group's tenant and key IDs, counting what can be counted: a key ID that
/// cannot be read leaves the usage with the tenant alone; a tenant ID that cannot be
/// read falls back to the tenant owning the (readable, existing) key. `None` when no
/// tenant can be named at all. Skipping such rows silently was rejected (a quota would
/// reset on restart without a trace), and so was refusing to start (one damaged row
/// would take the gateway down).
fn attribute_usage(
    tenant: &str,
    key: Option<&str>,
    key_tenant: Option<&str>,
) -> Option<Attributed> {
    let key_id = key.and_then(|k| k.parse::<KeyId>().ok());
    let key_unreadable = key.is_some() && key_id.is_none();
    if let Ok(tenant_id) = tenant.parse::<TenantId>() {
        return Some(Attributed {
            tenant_id,
            key_id,
            note: key_unreadable
                .then_some("log rows name a key that cannot be read; counted for the tenant only"),
        });
    }
    let tenant_id = key_id.and(key_tenant)?.parse::<TenantId>().ok()?;
    Some(Attributed {
        tenant_id,
        key_id,
        note: Some(
            "log rows name a tenant that cannot be read; counted for the tenant of their key",
        ),
    })
}

fn invalid(what: &str) -> StoreError {
    StoreError::Invalid(format!("cannot decode {what}"))
}

fn decode_tenant(r: &SqliteRow) -> Result<Tenant, StoreError> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    Ok(Tenant {
        id: id.parse().map_err(|_| invalid("tenants.id"))?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        status: status.parse().map_err(|_| invalid("tenants.status"))?,
        quotas: Quotas {
            rpm: to_u64(r.try_get("rpm")?),
            tpm: to_u64(r.try_get("tpm")?),
            tpd: to_u64(r.try_get("tpd")?),
            monthly_budget_usd: r.try_get("monthly_budget_usd")?,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn decode_key(r: &SqliteRow) -> Result<ApiKey, StoreError> {
    let id: String = r.try_get("id")?;
    let tenant: String = r.try_get("tenant_id")?;
    let models: Option<String> = r.try_get("allowed_models")?;
    Ok(ApiKey {
        id: id.parse().map_err(|_| invalid("api_keys.id"))?,
        tenant_id: tenant.parse().map_err(|_| invalid("api_keys.tenant_id"))?,
        name: r.try_get("name")?,
        key_hash: r.try_get("key_hash")?,
        prefix: r.try_get("prefix")?,
        allowed_models: models
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|_| invalid("api_keys.allowed_models"))?,
        rpm: to_u64(r.try_get("rpm")?),
        tpm: to_u64(r.try_get("tpm")?),
        expires_at: r.try_get("expires_at")?,
        revoked: r.try_get("revoked")?,
        last_used_at: r.try_get("last_used_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn decode_audit(r: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let target: String = r.try_get("target_type")?;
    let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let v: Option<String> = r.try_get(col)?;
        v.map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|_| invalid("audit_log json"))
    };
    Ok(AuditEntry {
        id: r.try_get("id")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target_type: serde_json::from_value(serde_json::Value::String(target))
            .map_err(|_| invalid("audit_log.target_type"))?,
        target_id: r.try_get("target_id")?,
        before: json("before_json")?,
        after: json("after_json")?,
        created_at: r.try_get("created_at")?,
    })
}

fn snapshot<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

async fn insert_audit(
    tx: &mut Transaction<'_, Sqlite>,
    e: &NewAudit,
) -> Result<AuditEntry, StoreError> {
    let row = sqlx::query(
        "INSERT INTO audit_log (id, actor, action, target_type, target_id, before_json, after_json) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&e.actor)
    .bind(&e.action)
    .bind(e.target_type.as_str())
    .bind(e.target_id.as_deref())
    .bind(e.before.as_ref().map(|v| v.to_string()))
    .bind(e.after.as_ref().map(|v| v.to_string()))
    .fetch_one(&mut **tx)
    .await?;
    decode_audit(&row)
}

async fn audit(
    tx: &mut Transaction<'_, Sqlite>,
    actor: &str,
    action: &str,
    target_type: AuditTarget,
    target_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    insert_audit(
        tx,
        &NewAudit {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_type,
            target_id: Some(target_id),
            before,
            after,
        },
    )
    .await
    .map(|_| ())
}

async fn tenant_in(tx: &mut Transaction<'_, Sqlite>, id: TenantId) -> Result<Tenant, TenancyError> {
    let row = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) => Ok(decode_tenant(&r)?),
        None => Err(StoreError::NotFound(format!("tenant {id}")).into()),
    }
}

async fn key_in(tx: &mut Transaction<'_, Sqlite>, id: KeyId) -> Result<ApiKey, TenancyError> {
    let row = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) => Ok(decode_key(&r)?),
        None => Err(StoreError::NotFound(format!("key {id}")).into()),
    }
}

/// Inserts a tenant row inside `tx`.
async fn insert_tenant(
    tx: &mut Transaction<'_, Sqlite>,
    id: TenantId,
    new: &NewTenant,
) -> Result<Tenant, TenancyError> {
    validate_slug(&new.slug).map_err(|e| TenancyError::Invalid(e.to_string()))?;
    if new
        .quotas
        .monthly_budget_usd
        .is_some_and(|b| !b.is_finite() || b < 0.0)
    {
        return Err(TenancyError::Invalid(
            "monthly budget must be a number >= 0".into(),
        ));
    }
    let row = sqlx::query(&format!(
        "INSERT INTO tenants (id, slug, name, status, rpm, tpm, tpd, monthly_budget_usd) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {TENANT_COLS}"
    ))
    .bind(id.to_string())
    .bind(&new.slug)
    .bind(new.name.as_deref().unwrap_or(&new.slug))
    .bind(new.status.as_str())
    .bind(to_i64(new.quotas.rpm))
    .bind(to_i64(new.quotas.tpm))
    .bind(to_i64(new.quotas.tpd))
    .bind(new.quotas.monthly_budget_usd)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a tenant with slug `{}` exists", new.slug))
        }
        other => other,
    })?;
    Ok(decode_tenant(&row)?)
}

/// Inserts a key row inside `tx`.
#[allow(clippy::too_many_arguments)]
async fn insert_key(
    tx: &mut Transaction<'_, Sqlite>,
    id: KeyId,
    tenant: TenantId,
    new: &NewApiKey,
    key_hash: &str,
    prefix: &str,
    revoked: bool,
) -> Result<ApiKey, TenancyError> {
    for p in new.allowed_models.iter().flatten() {
        validate_pattern(p).map_err(|e| TenancyError::Invalid(e.to_string()))?;
    }
    if let Some(e) = &new.expires_at
        && crate::timestamp::parse(e).is_none()
    {
        return Err(TenancyError::Invalid(format!(
            "expiry `{e}` is not YYYY-MM-DDTHH:MM:SS.sssZ"
        )));
    }
    let models = new
        .allowed_models
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| TenancyError::Invalid(e.to_string()))?;
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, allowed_models, rpm, tpm, \
         expires_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {KEY_COLS}"
    ))
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(new.name.as_deref())
    .bind(key_hash)
    .bind(prefix)
    .bind(models)
    .bind(to_i64(new.rpm))
    .bind(to_i64(new.tpm))
    .bind(new.expires_at.as_deref())
    .bind(revoked)
    .fetch_one(&mut **tx)
    .await?;
    Ok(decode_key(&row)?)
}

#[async_trait]
impl TenantStore for Store {
    async fn create_tenant(&self, new: &NewTenant, actor: &str) -> Result<Tenant, TenancyError> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let t = insert_tenant(&mut tx, TenantId::new(), new).await?;
        audit(
            &mut tx,
            actor,
            "tenant.create",
            AuditTarget::Tenant,
            t.id.to_string(),
            None,
            snapshot(&t),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(t)
    }

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, TenancyError> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(decode_tenant).transpose()?)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, TenancyError> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE slug = ?"))
            .bind(slug)
            .fetch_optional(&self.read)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(decode_tenant).transpose()?)
    }

    async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, TenancyError> {
        let limit = page.limit.unwrap_or(100).clamp(1, 1000);
        let rows = sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(page.after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::from)?;
        Ok(rows.iter().map(decode_tenant).collect::<Result<_, _>>()?)
    }

    async fn update_tenant(
        &self,
        id: TenantId,
        patch: &TenantPatch,
        actor: &str,
    ) -> Result<Tenant, TenancyError> {
        if patch
            .monthly_budget_usd
            .flatten()
            .is_some_and(|b| !b.is_finite() || b < 0.0)
        {
            return Err(TenancyError::Invalid(
                "monthly budget must be a number >= 0".into(),
            ));
        }
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let before = tenant_in(&mut tx, id).await?;
        let q = &before.quotas;
        let row = sqlx::query(&format!(
            "UPDATE tenants SET name = ?, rpm = ?, tpm = ?, tpd = ?, monthly_budget_usd = ?, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? \
             RETURNING {TENANT_COLS}"
        ))
        .bind(patch.name.as_deref().unwrap_or(&before.name))
        .bind(to_i64(patch.rpm.unwrap_or(q.rpm)))
        .bind(to_i64(patch.tpm.unwrap_or(q.tpm)))
        .bind(to_i64(patch.tpd.unwrap_or(q.tpd)))
        .bind(patch.monthly_budget_usd.unwrap_or(q.monthly_budget_usd))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let after = decode_tenant(&row)?;
        audit(
            &mut tx,
            actor,
            "tenant.update",
            AuditTarget::Tenant,
            id.to_string(),
            snapshot(&before),
            snapshot(&after),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    async fn set_tenant_status(
        &self,
        id: TenantId,
        to: TenantStatus,
        actor: &str,
    ) -> Result<Tenant, TenancyError> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let before = tenant_in(&mut tx, id).await?;
        before.status.transition_to(to)?;
        let row = sqlx::query(&format!(
            "UPDATE tenants SET status = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE id = ? AND status = ? RETURNING {TENANT_COLS}"
        ))
        .bind(to.as_str())
        .bind(id.to_string())
        .bind(before.status.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let after = decode_tenant(&row)?;
        audit(
            &mut tx,
            actor,
            &format!("tenant.status.{}", to.as_str()),
            AuditTarget::Tenant,
            id.to_string(),
            snapshot(&before),
            snapshot(&after),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    async fn delete_tenant(&self, id: TenantId, actor: &str) -> Result<Tenant, TenancyError> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let before = tenant_in(&mut tx, id).await?;
        let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE tenant_id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query("DELETE FROM tenants WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let mut snap = snapshot(&before);
        if let Some(serde_json::Value::Object(m)) = snap.as_mut() {
            m.insert("keys_deleted".into(), keys.into());
        }
        audit(
            &mut tx,
            actor,
            "tenant.delete",
            AuditTarget::Tenant,
            id.to_string(),
            snap,
            None,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(before)
    }

    async fn create_key(
        &self,
        tenant: TenantId,
        new: &NewApiKey,
        actor: &str,
    ) -> Result<CreatedKey, TenancyError> {
        let (secret, prefix) = generate_key();
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        // A clear error rather than a foreign-key failure.
        tenant_in(&mut tx, tenant).await?;
        let key = insert_key(
            &mut tx,
            KeyId::new(),
            tenant,
            new,
            &hash_key(&secret),
            &prefix,
            false,
        )
        .await?;
        audit(
            &mut tx,
            actor,
            "key.create",
            AuditTarget::ApiKey,
            key.id.to_string(),
            None,
            snapshot(&key),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(CreatedKey { key, secret })
    }

    async fn key(&self, id: KeyId) -> Result<Option<ApiKey>, TenancyError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(decode_key).transpose()?)
    }

    async fn keys_by_prefix(&self, prefix: &str) -> Result<Vec<ApiKey>, TenancyError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE substr(prefix, 1, ?) = ? ORDER BY id"
        ))
        .bind(i64::try_from(prefix.len()).unwrap_or(i64::MAX))
        .bind(prefix)
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::from)?;
        Ok(rows.iter().map(decode_key).collect::<Result<_, _>>()?)
    }

    async fn list_keys(&self, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, TenancyError> {
        let rows = match tenant {
            Some(t) => sqlx::query(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = ? ORDER BY id"
            ))
            .bind(t.to_string())
            .fetch_all(&self.read)
            .await
            .map_err(StoreError::from)?,
            None => sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id"))
                .fetch_all(&self.read)
                .await
                .map_err(StoreError::from)?,
        };
        Ok(rows.iter().map(decode_key).collect::<Result<_, _>>()?)
    }

    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyWithTenant>, TenancyError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?"
        ))
        .bind(key_hash)
        .fetch_optional(&self.read)
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else { return Ok(None) };
        let key = decode_key(&row)?;
        let Some(tenant) = self.tenant(key.tenant_id).await? else {
            return Ok(None);
        };
        Ok(Some(KeyWithTenant { key, tenant }))
    }

    async fn revoke_key(&self, id: KeyId, actor: &str) -> Result<ApiKey, TenancyError> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let before = key_in(&mut tx, id).await?;
        if before.revoked {
            return Ok(before);
        }
        let row = sqlx::query(&format!(
            "UPDATE api_keys SET revoked = 1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE id = ? RETURNING {KEY_COLS}"
        ))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let after = decode_key(&row)?;
        audit(
            &mut tx,
            actor,
            "key.revoke",
            AuditTarget::ApiKey,
            id.to_string(),
            snapshot(&before),
            snapshot(&after),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    async fn touch_keys(&self, used: &[(KeyId, String)]) -> Result<(), TenancyError> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?1)",
            )
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn auth_snapshot(&self) -> Result<Vec<KeyWithTenant>, TenancyError> {
        let mut conn = self.read.acquire().await.map_err(StoreError::from)?;
        let tenants = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants"))
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from)?
            .iter()
            .map(|r| decode_tenant(r).map(|t| (t.id, t)))
            .collect::<Result<HashMap<_, _>, _>>()?;
        let keys = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys"))
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from)?;
        let mut out = Vec::with_capacity(keys.len());
        for r in &keys {
            let key = decode_key(r)?;
            if let Some(tenant) = tenants.get(&key.tenant_id) {
                out.push(KeyWithTenant {
                    key,
                    tenant: tenant.clone(),
                });
            }
        }
        Ok(out)
    }

    async fn tenancy_version(&self) -> Result<i64, TenancyError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM tenancy_version WHERE id = 1")
                .fetch_one(&self.read)
                .await
                .map_err(StoreError::from)?,
        )
    }

    async fn usage_since(
        &self,
        day_start: &str,
        month_start: &str,
    ) -> Result<Vec<UsageTotals>, TenancyError> {
        // `key_tenant_id` (the tenant owning the row's key) attributes a row whose own
        // `tenant_id` cannot be read; `first_log_id` names a row in warnings. `TOTAL`,
        // not `SUM(COALESCE(cost, 0))`: the latter is the INTEGER 0 when no row of the
        // group has a cost, which failed the whole restore. Unknown costs count as 0
        // against budgets here; how budgets should treat them is the spend issue's.
        let rows = sqlx::query(
            "SELECT l.tenant_id AS tenant_id, l.key_id AS key_id, \
             MIN(k.tenant_id) AS key_tenant_id, \
             SUM(CASE WHEN l.created_at >= ?1 THEN m.total_tokens ELSE 0 END) AS day_tokens, \
             TOTAL(m.cost_usd) AS month_cost, \
             COUNT(*) AS log_rows, MIN(l.id) AS first_log_id \
             FROM provider_logs l JOIN provider_metrics m ON m.log_id = l.id \
             LEFT JOIN api_keys k ON k.id = l.key_id \
             WHERE l.created_at >= ?2 AND l.tenant_id IS NOT NULL \
             GROUP BY l.tenant_id, l.key_id",
        )
        .bind(day_start)
        .bind(month_start)
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::from)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let get_text = |col: &str| -> Result<Option<String>, TenancyError> {
                Ok(r.try_get(col).map_err(StoreError::from)?)
            };
            let tenant = get_text("tenant_id")?.unwrap_or_default();
            let key = get_text("key_id")?;
            let key_tenant = get_text("key_tenant_id")?;
            let first_log_id = get_text("first_log_id")?.unwrap_or_default();
            let log_rows: i64 = r.try_get("log_rows").map_err(StoreError::from)?;
            let day: Option<i64> = r.try_get("day_tokens").map_err(StoreError::from)?;
            let cost: Option<f64> = r.try_get("month_cost").map_err(StoreError::from)?;
            let Some(attributed) = attribute_usage(&tenant, key.as_deref(), key_tenant.as_deref())
            else {
                tracing::warn!(
                    log_id = %first_log_id,
                    log_rows,
                    tenant_id = %tenant,
                    "quota restore: log rows name a tenant that cannot be read and no known \
                     key; their tokens and spend are not counted"
                );
                continue;
            };
            if let Some(why) = attributed.note {
                tracing::warn!(
                    log_id = %first_log_id,
                    log_rows,
                    tenant_id = %tenant,
                    key_id = key.as_deref().unwrap_or_default(),
                    "quota restore: {why}"
                );
            }
            out.push(UsageTotals {
                tenant_id: attributed.tenant_id,
                key_id: attributed.key_id,
                day_tokens: to_u64(day).unwrap_or(0),
                month_cost_usd: cost.unwrap_or(0.0),
            });
        }
        Ok(out)
    }

    async fn record_audit(&self, entry: &NewAudit) -> Result<AuditEntry, TenancyError> {
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let e = insert_audit(&mut tx, entry).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(e)
    }

    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, TenancyError> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 10_000);
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE (?1 IS NULL OR target_type = ?1) \
             AND (?2 IS NULL OR target_id = ?2) ORDER BY created_at DESC, id DESC LIMIT ?3",
        )
        .bind(filter.target_type.map(AuditTarget::as_str))
        .bind(filter.target_id.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::from)?;
        Ok(rows.iter().map(decode_audit).collect::<Result<_, _>>()?)
    }

    async fn import_tenancy(
        &self,
        file: &ImportFile,
        actor: &str,
        dry_run: bool,
        progress: &(dyn for<'p> Fn(&'p str) + Send + Sync),
    ) -> Result<ImportReport, TenancyError> {
        file.validate()?;
        let mut report = ImportReport {
            dry_run,
            ..Default::default()
        };
        let mut tx = self.write.begin().await.map_err(StoreError::from)?;
        let mut by_slug: HashMap<String, TenantId> = HashMap::new();
        let total = file.tenants.len() + file.keys.len();
        let mut done = 0usize;
        for t in &file.tenants {
            let new = NewTenant {
                slug: t.slug.clone(),
                name: t.name.clone(),
                status: t.status.unwrap_or(TenantStatus::Active),
                quotas: Quotas {
                    rpm: t.rpm,
                    tpm: t.tpm,
                    tpd: t.tpd,
                    monthly_budget_usd: t.monthly_budget_usd,
                },
            };
            let row = insert_tenant(&mut tx, t.id.unwrap_or_default(), &new)
                .await
                .map_err(|e| TenancyError::Invalid(format!("tenant `{}`: {e}", t.slug)))?;
            audit(
                &mut tx,
                actor,
                "tenant.import",
                AuditTarget::Tenant,
                row.id.to_string(),
                None,
                snapshot(&row),
            )
            .await?;
            by_slug.insert(row.slug.clone(), row.id);
            report.tenants_created.push(row.slug);
            done += 1;
            let line = format!("[{done}/{total}] tenant {}", t.slug);
            progress(&line);
        }
        for k in &file.keys {
            let tenant = match by_slug.get(&k.tenant) {
                Some(id) => *id,
                None => {
                    let row = sqlx::query("SELECT id FROM tenants WHERE slug = ?")
                        .bind(&k.tenant)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                    let id: Option<String> = row
                        .map(|r| r.try_get("id"))
                        .transpose()
                        .map_err(StoreError::from)?;
                    let id = id
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| {
                            TenancyError::Invalid(format!(
                                "a key refers to tenant `{}`, which is neither in the file nor in the store",
                                k.tenant
                            ))
                        })?;
                    by_slug.insert(k.tenant.clone(), id);
                    id
                }
            };
            let (hash, prefix) = k.hash_and_prefix()?;
            let new = NewApiKey {
                name: k.name.clone(),
                allowed_models: k.allowed_models.clone(),
                rpm: k.rpm,
                tpm: k.tpm,
                expires_at: k.expires_at.clone(),
            };
            let row = insert_key(
                &mut tx,
                k.id.unwrap_or_default(),
                tenant,
                &new,
                &hash,
                &prefix,
                k.revoked,
            )
            .await
            .map_err(|e| {
                TenancyError::Invalid(format!("key {prefix} of tenant `{}`: {e}", k.tenant))
            })?;
            audit(
                &mut tx,
                actor,
                "key.import",
                AuditTarget::ApiKey,
                row.id.to_string(),
                None,
                snapshot(&row),
            )
            .await?;
            report
                .keys_created
                .push(format!("{}/{}", k.tenant, row.prefix));
            done += 1;
            let line = format!("[{done}/{total}] key {} of {}", row.prefix, k.tenant);
            progress(&line);
        }
        if dry_run {
            tx.rollback().await.map_err(StoreError::from)?;
        } else {
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(report)
    }
}
