//! Cost of authenticating a request on a cache hit (issue 6 target: p99 < 20 µs):
//! SHA-256 of the presented key, the cache lookup, the expiry/status checks and the
//! quota counters, over a cache of 10 000 keys.
//!
//! `cargo bench -p ax-server --bench auth` prints p50/p99/max per call. Under `cargo
//! test --all-targets` (no `--bench` argument) it runs a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use ax_core::tenant::{Quotas, TenantStatus};
use ax_server::auth::Auth;
use ax_store::Store;
use ax_store::tenancy::{NewApiKey, NewTenant, TenantStore};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (keys, samples_n) = if full {
        (10_000, 200_000)
    } else {
        (200, 2_000)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (auth, raws) = rt.block_on(async {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let mut raws = Vec::new();
        for t in 0..100 {
            let tenant = store
                .create_tenant(
                    &NewTenant {
                        slug: format!("t{t}"),
                        name: None,
                        status: TenantStatus::Active,
                        // Limits high enough never to refuse, so every check runs.
                        quotas: Quotas {
                            rpm: Some(u64::MAX),
                            tpm: Some(u64::MAX),
                            tpd: Some(u64::MAX),
                            monthly_budget_usd: Some(1e12),
                        },
                    },
                    "bench",
                )
                .await
                .unwrap();
            for _ in 0..keys / 100 {
                let k = store
                    .create_key(
                        tenant.id,
                        &NewApiKey {
                            rpm: Some(u64::MAX),
                            allowed_models: Some(vec!["gpt-*".into()]),
                            ..Default::default()
                        },
                        "bench",
                    )
                    .await
                    .unwrap();
                raws.push(k.secret);
            }
        }
        let auth = Auth::new(store, false);
        auth.reload().await.unwrap();
        (auth, raws)
    });
    assert_eq!(auth.key_count(), keys);

    // Warm up, then time each call.
    for raw in raws.iter().take(samples_n / 20) {
        assert!(auth.authenticate(Some(raw)).unwrap().is_some());
    }
    let mut samples = Vec::with_capacity(samples_n);
    for i in 0..samples_n {
        let raw = &raws[(i * 7919) % raws.len()];
        let start = Instant::now();
        let id = auth.authenticate(Some(raw));
        samples.push(start.elapsed());
        std::hint::black_box(id.ok());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "auth cache hit over {keys} keys, {samples_n} calls: mean {mean:?}  p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );
    // A miss (unknown key) costs the same hash and one lookup.
    let start = Instant::now();
    for _ in 0..10_000 {
        std::hint::black_box(
            auth.authenticate(Some("ax-unknown-key-000000000000000000000000000000"))
                .is_err(),
        );
    }
    println!("auth miss: mean {:?}", start.elapsed() / 10_000);
}
