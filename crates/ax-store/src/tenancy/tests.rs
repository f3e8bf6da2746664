//! Store tests for tenancy: lifecycle, constraints, triggers, cascade, keys, audit and
//! import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ax_core::tenant::{Quotas, TenantStatus};
use ax_core::{KeyId, TenantId};

use super::*;
use crate::Store;
use crate::error::StoreError;

async fn store() -> Store {
    let s = Store::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s
}

fn new_tenant(slug: &str) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        name: None,
        status: TenantStatus::Active,
        quotas: Quotas::default(),
    }
}

#[tokio::test]
async fn tenant_lifecycle() {
    let s = store().await;
    let t = s
        .create_tenant(
            &NewTenant {
                name: Some("Team A".into()),
                quotas: Quotas {
                    rpm: Some(10),
                    tpm: None,
                    tpd: Some(1000),
                    monthly_budget_usd: Some(12.5),
                },
                ..new_tenant("team-a")
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(t.id.as_uuid().get_version_num(), 7);
    assert_eq!(t.name, "Team A");
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.quotas.rpm, Some(10));
    assert_eq!(t.created_at, t.updated_at);

    assert_eq!(s.tenant(t.id).await.unwrap().unwrap(), t);
    assert_eq!(s.tenant_by_slug("team-a").await.unwrap().unwrap(), t);
    assert!(s.tenant_by_slug("nope").await.unwrap().is_none());
    assert!(s.tenant(TenantId::new()).await.unwrap().is_none());

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let u = s
        .update_tenant(
            t.id,
            &TenantPatch {
                name: Some("Team A2".into()),
                rpm: Some(None),
                tpm: Some(Some(500)),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(u.name, "Team A2");
    assert_eq!(u.quotas.rpm, None);
    assert_eq!(u.quotas.tpm, Some(500));
    assert_eq!(u.quotas.tpd, Some(1000));
    assert_eq!(u.created_at, t.created_at);
    assert!(
        u.updated_at > t.updated_at,
        "{} vs {}",
        u.updated_at,
        t.updated_at
    );

    // Every status change, legal and illegal, through the store.
    let p = s
        .create_tenant(
            &NewTenant {
                status: TenantStatus::Provisioning,
                ..new_tenant("team-p")
            },
            "test",
        )
        .await
        .unwrap();
    for from in TenantStatus::ALL {
        for to in TenantStatus::ALL {
            // Put a fresh tenant into `from` by a legal path.
            let slug = format!("t-{}-{}", from.as_str(), to.as_str());
            let x = s
                .create_tenant(
                    &NewTenant {
                        status: from,
                        ..new_tenant(&slug)
                    },
                    "test",
                )
                .await
                .unwrap();
            let r = s.set_tenant_status(x.id, to, "test").await;
            if from.can_transition_to(to) {
                assert_eq!(r.unwrap().status, to);
            } else {
                assert!(
                    matches!(r, Err(TenancyError::Transition(_))),
                    "{from}->{to}: {r:?}"
                );
                assert_eq!(s.tenant(x.id).await.unwrap().unwrap().status, from);
            }
        }
    }
    assert_eq!(
        s.set_tenant_status(p.id, TenantStatus::Active, "test")
            .await
            .unwrap()
            .status,
        TenantStatus::Active
    );
    assert!(matches!(
        s.set_tenant_status(TenantId::new(), TenantStatus::Active, "test")
            .await,
        Err(TenancyError::Store(StoreError::NotFound(_)))
    ));
}

#[tokio::test]
async fn list_paginates_in_creation_order() {
    let s = store().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            s.create_tenant(&new_tenant(&format!("t{i}")), "test")
                .await
                .unwrap()
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_tenants(Page {
                limit: Some(3),
                after,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|t| t.id);
        seen.extend(page.into_iter().map(|t| t.id));
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn slugs_are_unique_and_validated() {
    let s = store().await;
    s.create_tenant(&new_tenant("a"), "test").await.unwrap();
    let e = s.create_tenant(&new_tenant("a"), "test").await.unwrap_err();
    assert!(
        matches!(e, TenancyError::Store(StoreError::Conflict(_))),
        "{e:?}"
    );
    let e = s
        .create_tenant(&new_tenant("Bad Slug"), "test")
        .await
        .unwrap_err();
    assert!(matches!(e, TenancyError::Invalid(_)), "{e:?}");
    // The CHECK holds even for raw SQL.
    let raw = sqlx::query(
        "INSERT INTO tenants (id, slug, name, status) VALUES ('x', 'y', 'y', 'zombie')",
    )
    .execute(&s.write)
    .await;
    assert!(matches!(
        raw.map_err(StoreError::from),
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn foreign_keys_and_cascade() {
    let s = store().await;
    let t = s.create_tenant(&new_tenant("a"), "test").await.unwrap();
    let other = s.create_tenant(&new_tenant("b"), "test").await.unwrap();
    let k1 = s
        .create_key(t.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    let k2 = s
        .create_key(t.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    let k3 = s
        .create_key(other.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    // A key for a tenant that does not exist: refused (by us, and by the FK).
    let e = s
        .create_key(TenantId::new(), &NewApiKey::default(), "test")
        .await
        .unwrap_err();
    assert!(matches!(e, TenancyError::Store(StoreError::NotFound(_))));
    let raw = sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix) VALUES ('k', 'no-such', 'h', 'p')",
    )
    .execute(&s.write)
    .await;
    assert!(matches!(
        raw.map_err(StoreError::from),
        Err(StoreError::Invalid(_))
    ));

    s.delete_tenant(t.id, "test").await.unwrap();
    assert!(s.key(k1.key.id).await.unwrap().is_none());
    assert!(s.key(k2.key.id).await.unwrap().is_none());
    assert!(s.key(k3.key.id).await.unwrap().is_some());
    assert!(s.tenant(t.id).await.unwrap().is_none());
    let audit = s
        .audit_log(&AuditFilter {
            target_id: Some(t.id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].action, "tenant.delete");
    assert_eq!(audit[0].before.as_ref().unwrap()["keys_deleted"], 2);
}

#[tokio::test]
async fn timestamps_are_managed_by_the_schema() {
    let s = store().await;
    let t = s.create_tenant(&new_tenant("a"), "test").await.unwrap();
    let k = s
        .create_key(t.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    // created_at is immutable.
    let e = sqlx::query("UPDATE tenants SET created_at = '2000-01-01T00:00:00.000Z'")
        .execute(&s.write)
        .await
        .map_err(StoreError::from);
    assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
    let e = sqlx::query("UPDATE api_keys SET created_at = '2000-01-01T00:00:00.000Z'")
        .execute(&s.write)
        .await
        .map_err(StoreError::from);
    assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
    // updated_at moves by trigger even when the writer does not set it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sqlx::query("UPDATE tenants SET name = 'x'")
        .execute(&s.write)
        .await
        .unwrap();
    let after = s.tenant(t.id).await.unwrap().unwrap();
    assert!(after.updated_at > t.updated_at);
    // Recording use is not a change: neither updated_at nor the version moves.
    let v = s.tenancy_version().await.unwrap();
    s.touch_keys(&[(k.key.id, crate::timestamp::now())])
        .await
        .unwrap();
    let touched = s.key(k.key.id).await.unwrap().unwrap();
    assert!(touched.last_used_at.is_some());
    assert_eq!(touched.updated_at, k.key.updated_at);
    assert_eq!(s.tenancy_version().await.unwrap(), v);
    // The audit log is append-only.
    let e = sqlx::query("UPDATE audit_log SET actor = 'mallory'")
        .execute(&s.write)
        .await
        .map_err(StoreError::from);
    assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
}

#[tokio::test]
async fn keys_hash_prefix_lookup_revoke() {
    let s = store().await;
    let t = s.create_tenant(&new_tenant("a"), "test").await.unwrap();
    let v0 = s.tenancy_version().await.unwrap();
    let created = s
        .create_key(
            t.id,
            &NewApiKey {
                name: Some("ci".into()),
                allowed_models: Some(vec!["gpt-*".into()]),
                rpm: Some(5),
                tpm: None,
                expires_at: Some("2999-01-01T00:00:00.000Z".into()),
            },
            "test",
        )
        .await
        .unwrap();
    assert!(s.tenancy_version().await.unwrap() > v0);
    let raw = created.secret.clone();
    assert!(raw.starts_with("ax-"));
    assert!(!format!("{created:?}").contains(&raw));
    let k = &created.key;
    assert_eq!(k.key_hash, hash_key(&raw));
    assert!(raw.starts_with(&k.prefix));
    let json = serde_json::to_string(k).unwrap();
    assert!(
        !json.contains(&k.key_hash) && !json.contains(&raw),
        "{json}"
    );

    let found = s.key_by_hash(&hash_key(&raw)).await.unwrap().unwrap();
    assert_eq!(found.key.id, k.id);
    assert_eq!(found.tenant.id, t.id);
    assert!(
        s.key_by_hash(&hash_key("ax-wrong"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.keys_by_prefix(&k.prefix).await.unwrap().len(), 1);
    assert_eq!(s.keys_by_prefix(&k.prefix[..6]).await.unwrap()[0].id, k.id);
    assert_eq!(s.list_keys(Some(t.id)).await.unwrap().len(), 1);
    assert_eq!(s.list_keys(None).await.unwrap().len(), 1);

    let v1 = s.tenancy_version().await.unwrap();
    let r = s.revoke_key(k.id, "test").await.unwrap();
    assert!(r.revoked);
    assert!(s.tenancy_version().await.unwrap() > v1);
    assert!(s.revoke_key(k.id, "test").await.unwrap().revoked);
    assert!(matches!(
        s.revoke_key(KeyId::new(), "test").await,
        Err(TenancyError::Store(StoreError::NotFound(_)))
    ));
    let snap = s.auth_snapshot().await.unwrap();
    assert_eq!(snap.len(), 1);
    assert!(snap[0].key.revoked);

    // Bad patterns and expiries are refused.
    let bad = NewApiKey {
        allowed_models: Some(vec!["".into()]),
        ..Default::default()
    };
    assert!(matches!(
        s.create_key(t.id, &bad, "test").await,
        Err(TenancyError::Invalid(_))
    ));
    let bad = NewApiKey {
        expires_at: Some("tomorrow".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.create_key(t.id, &bad, "test").await,
        Err(TenancyError::Invalid(_))
    ));

    // No secret in the audit log.
    let all = s.audit_log(&AuditFilter::default()).await.unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(&raw));
    assert!(!text.contains(&k.key_hash));
    assert!(
        all.iter()
            .any(|a| a.action == "key.revoke" && a.actor == "test")
    );
}

#[tokio::test]
async fn every_mutation_is_audited() {
    let s = store().await;
    let t = s.create_tenant(&new_tenant("a"), "alice").await.unwrap();
    s.update_tenant(t.id, &TenantPatch::default(), "alice")
        .await
        .unwrap();
    s.set_tenant_status(t.id, TenantStatus::Suspended, "alice")
        .await
        .unwrap();
    let k = s
        .create_key(t.id, &NewApiKey::default(), "alice")
        .await
        .unwrap();
    s.revoke_key(k.key.id, "alice").await.unwrap();
    s.delete_tenant(t.id, "alice").await.unwrap();
    let rows = s.audit_log(&AuditFilter::default()).await.unwrap();
    let actions: Vec<_> = rows.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "tenant.update",
            "tenant.status.suspended",
            "key.create",
            "key.revoke",
            "tenant.delete"
        ]
    );
    assert!(rows.iter().all(|r| r.actor == "alice"));
    let suspended = rows
        .iter()
        .find(|r| r.action == "tenant.status.suspended")
        .unwrap();
    assert_eq!(suspended.before.as_ref().unwrap()["status"], "active");
    assert_eq!(suspended.after.as_ref().unwrap()["status"], "suspended");
    let only_keys = s
        .audit_log(&AuditFilter {
            target_type: Some(AuditTarget::ApiKey),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only_keys.len(), 1);
    assert_eq!(only_keys[0].action, "key.revoke");
}

fn import_file(json: serde_json::Value) -> ImportFile {
    serde_json::from_value(json).unwrap()
}

async fn counts(s: &Store) -> (i64, i64, i64) {
    let q = |t: &'static str| {
        let s = s.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {t}"))
                .fetch_one(&s.read)
                .await
                .unwrap()
        }
    };
    (
        q("tenants").await,
        q("api_keys").await,
        q("audit_log").await,
    )
}

#[tokio::test]
async fn import_dry_run_changes_nothing_and_import_applies() {
    let s = store().await;
    s.create_tenant(&new_tenant("existing"), "test")
        .await
        .unwrap();
    let (raw, _) = generate_key();
    let file = import_file(serde_json::json!({
        "version": 1,
        "counts": {"tenants": 2, "keys": 3},
        "tenants": [
            {"slug": "team-a", "name": "Team A", "rpm": 60},
            {"slug": "team-b", "status": "suspended"}
        ],
        "keys": [
            {"tenant": "team-a", "name": "ci", "key": raw, "allowed_models": ["gpt-*"]},
            {"tenant": "team-b", "key_hash": "a".repeat(64), "prefix": "ax-abcdefgh"},
            {"tenant": "existing", "key_hash": "b".repeat(64), "prefix": "ax-bcdefghi"}
        ]
    }));
    let before = counts(&s).await;
    let lines = std::sync::Mutex::new(Vec::new());
    let report = s
        .import_tenancy(&file, "import", true, &|l| {
            lines.lock().unwrap().push(l.to_owned())
        })
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.tenants_created, ["team-a", "team-b"]);
    assert_eq!(report.keys_created.len(), 3);
    assert_eq!(lines.lock().unwrap().len(), 5);
    assert_eq!(counts(&s).await, before, "a dry run changes nothing");

    let report = s
        .import_tenancy(&file, "import", false, &|_| {})
        .await
        .unwrap();
    assert!(!report.dry_run);
    let after = counts(&s).await;
    assert_eq!(after.0, before.0 + 2);
    assert_eq!(after.1, before.1 + 3);
    assert_eq!(after.2, before.2 + 5);
    let a = s.key_by_hash(&hash_key(&raw)).await.unwrap().unwrap();
    assert_eq!(a.tenant.slug, "team-a");
    assert_eq!(a.key.allowed_models, Some(vec!["gpt-*".to_owned()]));
    let b = s.tenant_by_slug("team-b").await.unwrap().unwrap();
    assert_eq!(b.status, TenantStatus::Suspended);
    // No raw key in the report or the audit log.
    assert!(!serde_json::to_string(&report).unwrap().contains(&raw));
    let audit =
        serde_json::to_string(&s.audit_log(&AuditFilter::default()).await.unwrap()).unwrap();
    assert!(!audit.contains(&raw));
}

#[tokio::test]
async fn failing_import_leaves_the_store_untouched() {
    let s = store().await;
    s.create_tenant(&new_tenant("taken"), "test").await.unwrap();
    let before = counts(&s).await;
    // Valid on its own, but the second tenant's slug exists: the first must roll back.
    let clash = import_file(serde_json::json!({
        "version": 1,
        "tenants": [{"slug": "fresh"}, {"slug": "taken"}],
        "keys": [{"tenant": "fresh", "key_hash": "c".repeat(64), "prefix": "ax-cdefghij"}]
    }));
    let e = s
        .import_tenancy(&clash, "import", false, &|_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("taken"), "{e}");
    assert_eq!(counts(&s).await, before);
    assert!(s.tenant_by_slug("fresh").await.unwrap().is_none());

    // A key referring to an unknown tenant.
    let dangling = import_file(serde_json::json!({
        "version": 1,
        "tenants": [{"slug": "fresh"}],
        "keys": [{"tenant": "ghost", "key_hash": "d".repeat(64), "prefix": "ax-defghijk"}]
    }));
    let e = s
        .import_tenancy(&dangling, "import", false, &|_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ghost"), "{e}");
    assert_eq!(counts(&s).await, before);

    // Validation problems are all reported, before touching the store.
    let bad = import_file(serde_json::json!({
        "version": 2,
        "counts": {"tenants": 3, "keys": 0},
        "tenants": [{"slug": "x"}, {"slug": "x"}, {"slug": "Bad"}],
        "keys": [{"tenant": "x", "key_hash": "zz"}]
    }));
    let e = s
        .import_tenancy(&bad, "import", false, &|_| {})
        .await
        .unwrap_err();
    let msg = e.to_string();
    for needle in [
        "version 2",
        "counts.keys",
        "duplicate slug",
        "Bad",
        "64 hex",
        "prefix",
    ] {
        assert!(msg.contains(needle), "{needle} missing in {msg}");
    }
    assert_eq!(counts(&s).await, before);
    // Unknown fields are refused by the parser.
    assert!(
        serde_json::from_value::<ImportFile>(serde_json::json!({"version": 1, "tenantz": []}))
            .is_err()
    );
}
