//! `usage_since`, which restores quota counters at start, counts every log row it can
//! attribute: rows whose tenant or key ID cannot be read are neither dropped silently
//! nor allowed to stop the restore, and neither are rows without a known cost.

#![allow(
    clippy::unwrap_used,
    reason = "integration tests: a failure is a test failure"
)]

mod common;

use ax_core::Usage;
use ax_core::tenant::{Quotas, TenantStatus};
use ax_store::LogSink;
use ax_store::tenancy::{NewApiKey, NewTenant, TenantStore};
use common::{ago_min, fresh_store, ok};

#[tokio::test]
async fn rows_with_unreadable_ids_are_counted_where_they_can_be() {
    let (dir, store) = fresh_store().await;
    let tenant = store
        .create_tenant(
            &NewTenant {
                slug: "team-r".into(),
                name: None,
                status: TenantStatus::Active,
                quotas: Quotas::default(),
            },
            "test",
        )
        .await
        .unwrap();
    let key = store
        .create_key(tenant.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    // Four rows of the tenant's key, 10, 20, 40 and 80 tokens.
    let mut recs = Vec::new();
    for (i, tokens) in [10u64, 20, 40, 80].into_iter().enumerate() {
        let mut r = ok(&format!("r{i}"), "p", "m", ago_min(1), Some(5));
        r.tenant_id = Some(tenant.id);
        r.key_id = Some(key.key.id);
        r.usage = Usage {
            input_tokens: tokens,
            ..Default::default()
        };
        // r0 has no known cost: a group of unpriced rows must not fail the restore.
        r.cost_usd = (i > 0).then_some(0.5);
        recs.push(r);
    }
    store.write_batch(&recs).await.unwrap();
    // Damage them: r1's key ID, r2's tenant ID (its key is fine), r3's both.
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (id, set) in [
        ("r1", "key_id = 'not-a-key'"),
        ("r2", "tenant_id = 'not-a-tenant'"),
        ("r3", "tenant_id = 'not-a-tenant', key_id = 'not-a-key'"),
    ] {
        sqlx::query(&format!(
            "UPDATE provider_logs SET {set} WHERE request_id = ?"
        ))
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let start = ax_store::timestamp::format(time::OffsetDateTime::now_utc() - time::Duration::DAY);
    let totals = store.usage_since(&start, &start).await.unwrap();
    let tenant_tokens: u64 = totals
        .iter()
        .filter(|t| t.tenant_id == tenant.id)
        .map(|t| t.day_tokens)
        .sum();
    let key_tokens: u64 = totals
        .iter()
        .filter(|t| t.key_id == Some(key.key.id))
        .map(|t| t.day_tokens)
        .sum();
    // r0, r1 (tenant only) and r2 (through its key) count for the tenant; r3 names
    // neither a readable tenant nor a readable key and cannot be counted.
    assert_eq!(tenant_tokens, 10 + 20 + 40, "{totals:?}");
    assert_eq!(key_tokens, 10 + 40, "{totals:?}");
    // Unknown costs count as 0 here (r0); r3 cannot be counted.
    let spend: f64 = totals.iter().map(|t| t.month_cost_usd).sum();
    assert!((spend - 1.0).abs() < 1e-9, "{spend}");
}
