//! Tenant and key CRUD latency through the store (issue 6 target: p95 < 5 ms), on a
//! file database with WAL, each write in its own transaction with its audit row.
//!
//! `cargo bench -p ax-store --bench tenancy` prints p50/p95/max per operation. Under
//! `cargo test --all-targets` (no `--bench` argument) it runs a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ax_core::tenant::{Quotas, TenantStatus};
use ax_store::Store;
use ax_store::tenancy::{NewApiKey, NewTenant, Page, TenantPatch, TenantStore};

fn main() {
    let n: usize = if std::env::args().any(|a| a == "--bench") {
        500
    } else {
        20
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let s = Store::connect(&url).await.unwrap();
        s.migrate().await.unwrap();
        let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        macro_rules! timed {
            ($name:expr, $e:expr) => {{
                let start = Instant::now();
                let v = $e;
                times.entry($name).or_default().push(start.elapsed());
                v
            }};
        }
        for i in 0..n {
            let t = timed!(
                "tenant create",
                s.create_tenant(
                    &NewTenant {
                        slug: format!("team-{i}"),
                        name: None,
                        status: TenantStatus::Active,
                        quotas: Quotas::default(),
                    },
                    "bench",
                )
                .await
                .unwrap()
            );
            timed!("tenant get by id", s.tenant(t.id).await.unwrap());
            timed!(
                "tenant get by slug",
                s.tenant_by_slug(&t.slug).await.unwrap()
            );
            timed!(
                "tenant update",
                s.update_tenant(
                    t.id,
                    &TenantPatch {
                        rpm: Some(Some(60)),
                        ..Default::default()
                    },
                    "bench",
                )
                .await
                .unwrap()
            );
            timed!(
                "tenant suspend",
                s.set_tenant_status(t.id, TenantStatus::Suspended, "bench")
                    .await
                    .unwrap()
            );
            let k = timed!(
                "key create",
                s.create_key(t.id, &NewApiKey::default(), "bench")
                    .await
                    .unwrap()
            );
            timed!("key list (tenant)", s.list_keys(Some(t.id)).await.unwrap());
            timed!("key revoke", s.revoke_key(k.key.id, "bench").await.unwrap());
            timed!(
                "tenant list (100)",
                s.list_tenants(Page {
                    limit: Some(100),
                    after: None
                })
                .await
                .unwrap()
            );
            if i % 2 == 0 {
                timed!(
                    "tenant delete (cascade)",
                    s.delete_tenant(t.id, "bench").await.unwrap()
                );
            }
        }
        println!("tenancy CRUD through the store, {n} runs each (file database, WAL):");
        for (name, mut v) in times {
            v.sort();
            let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
            println!(
                "  {name:<26} p50 {:>10.3?}  p95 {:>10.3?}  max {:>10.3?}",
                p(0.50),
                p(0.95),
                v[v.len() - 1]
            );
        }
        s.close().await;
    });
}
