//! `ax tenant`, `ax key`, `ax import tenants` and `ax provider configure` against a
//! real store: JSON shapes, exit codes, no raw key in any output, audit rows, import
//! dry run and rollback, encryption round trip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use ax_store::tenancy::{AuditFilter, TenantStore as _, hash_key};
use ax_store::{ProviderConfigStore as _, Store};
use serde_json::{Value, json};

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn ax(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ax"));
    for k in [
        "AX_DATABASE_URL",
        "AX_MASTER_KEY",
        "AX_ADMIN_KEY",
        "AX_CONFIG",
        "AX_URL",
    ] {
        c.env_remove(k);
    }
    c.env("NO_COLOR", "1")
        .env("USER", "tester")
        .env("AX_DATABASE_URL", db)
        .timeout(Duration::from_secs(60));
    c
}

fn json_out(c: &mut Command, args: &[&str]) -> Value {
    let out = c.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn migrated(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("ax.db").display());
    let s = Store::connect(&url).await.unwrap();
    s.migrate().await.unwrap();
    s.close().await;
    url
}

async fn counts(url: &str) -> (usize, usize, usize) {
    let s = Store::connect(url).await.unwrap();
    let t = s
        .list_tenants(ax_store::tenancy::Page {
            limit: Some(1000),
            after: None,
        })
        .await
        .unwrap()
        .len();
    let k = s.list_keys(None).await.unwrap().len();
    let a = s
        .audit_log(&AuditFilter {
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    s.close().await;
    (t, k, a)
}

#[tokio::test]
async fn tenant_commands_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    let t = json_out(
        &mut ax(&db),
        &[
            "tenant",
            "create",
            "team-a",
            "--name",
            "Team A",
            "--rpm",
            "60",
            "--budget-usd",
            "9.5",
            "--json",
        ],
    );
    assert_eq!(t["slug"], "team-a");
    assert_eq!(t["status"], "active");
    assert_eq!(t["quotas"]["rpm"], 60);
    json_out(
        &mut ax(&db),
        &[
            "tenant",
            "create",
            "team-b",
            "--status",
            "provisioning",
            "--json",
        ],
    );
    // Duplicate slug and bad slug: exit 1 with a message.
    ax(&db)
        .args(["tenant", "create", "team-a"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("team-a"));
    ax(&db)
        .args(["tenant", "create", "Team A"])
        .assert()
        .code(1);

    let list = json_out(&mut ax(&db), &["tenant", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let page = json_out(&mut ax(&db), &["tenant", "list", "--limit", "1", "--json"]);
    assert_eq!(page[0]["slug"], "team-a");
    let after = page[0]["id"].as_str().unwrap();
    let page2 = json_out(
        &mut ax(&db),
        &["tenant", "list", "--limit", "1", "--after", after, "--json"],
    );
    assert_eq!(page2[0]["slug"], "team-b");

    let u = json_out(
        &mut ax(&db),
        &[
            "tenant", "update", "team-a", "--rpm", "none", "--tpd", "1000", "--json",
        ],
    );
    assert_eq!(u["quotas"]["rpm"], Value::Null);
    assert_eq!(u["quotas"]["tpd"], 1000);
    ax(&db)
        .args(["tenant", "update", "team-a"])
        .assert()
        .code(2);

    assert_eq!(
        json_out(&mut ax(&db), &["tenant", "activate", "team-b", "--json"])["status"],
        "active"
    );
    assert_eq!(
        json_out(&mut ax(&db), &["tenant", "suspend", "team-a", "--json"])["status"],
        "suspended"
    );
    assert_eq!(
        json_out(&mut ax(&db), &["tenant", "activate", "team-a", "--json"])["status"],
        "active"
    );
    assert_eq!(
        json_out(
            &mut ax(&db),
            &["tenant", "decommission", "team-a", "--json"]
        )["status"],
        "decommissioned"
    );
    ax(&db)
        .args(["tenant", "activate", "team-a"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "cannot go from decommissioned to active",
        ));
    ax(&db).args(["tenant", "show", "nope"]).assert().code(2);

    json_out(
        &mut ax(&db),
        &["key", "create", "--tenant", "team-b", "--json"],
    );
    ax(&db)
        .args(["tenant", "delete", "team-b"])
        .assert()
        .code(2);
    let d = json_out(
        &mut ax(&db),
        &["tenant", "delete", "team-b", "--yes", "--json"],
    );
    assert_eq!(d["keys_deleted"], 1);
    assert_eq!(
        json_out(&mut ax(&db), &["tenant", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Plain output works too.
    ax(&db)
        .args(["tenant", "show", "team-a"])
        .assert()
        .success()
        .stdout(predicates::str::contains("team-a"));

    let s = Store::connect(&db).await.unwrap();
    let audit = s.audit_log(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().all(|a| a.actor == "cli:tester"), "{audit:?}");
    assert_eq!(audit[0].action, "tenant.delete");
    s.close().await;
}

#[tokio::test]
async fn keys_are_shown_once_and_never_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    json_out(&mut ax(&db), &["tenant", "create", "team-k", "--json"]);
    let created = json_out(
        &mut ax(&db),
        &[
            "key",
            "create",
            "--tenant",
            "team-k",
            "--name",
            "ci",
            "--models",
            "gpt-*,mock/*",
            "--rpm",
            "5",
            "--expires",
            "30d",
            "--json",
        ],
    );
    let mut fields: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["id", "key", "prefix", "tenant"]);
    let raw = created["key"].as_str().unwrap().to_owned();
    assert!(raw.starts_with("ax-") && raw.starts_with(created["prefix"].as_str().unwrap()));
    // Plain create prints the key alone on stdout.
    let out = ax(&db)
        .args(["key", "create", "--tenant", "team-k"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let raw2 = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(raw2.starts_with("ax-") && raw2.len() == 46, "{raw2}");

    let list_out = ax(&db).args(["key", "list", "--json"]).output().unwrap();
    let text = String::from_utf8(list_out.stdout).unwrap();
    assert!(!text.contains(&raw) && !text.contains(&raw2));
    assert!(
        !text.contains(&hash_key(&raw)),
        "the hash is not shown either"
    );
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["tenant"], "team-k");
    assert_eq!(list[0]["allowed_models"], json!(["gpt-*", "mock/*"]));
    assert!(list[0]["expires_at"].as_str().unwrap().ends_with('Z'));
    let plain = ax(&db)
        .args(["key", "list", "--tenant", "team-k"])
        .output()
        .unwrap();
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(!plain.contains(&raw) && plain.contains(created["prefix"].as_str().unwrap()));

    let prefix = created["prefix"].as_str().unwrap();
    let revoked = json_out(&mut ax(&db), &["key", "revoke", prefix, "--json"]);
    assert_eq!(revoked["revoked"], true);
    ax(&db)
        .args(["key", "revoke", "ax-nothing"])
        .assert()
        .code(2);
    ax(&db)
        .args([
            "key",
            "create",
            "--tenant",
            "team-k",
            "--expires",
            "someday",
        ])
        .assert()
        .code(2);

    // Nowhere in the audit log or the database file.
    let s = Store::connect(&db).await.unwrap();
    let audit =
        serde_json::to_string(&s.audit_log(&AuditFilter::default()).await.unwrap()).unwrap();
    assert!(!audit.contains(&raw) && !audit.contains(&raw2));
    s.close().await;
    let path = dir.path().join("ax.db");
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    for r in [&raw, &raw2] {
        assert!(
            !bytes.windows(r.len()).any(|w| w == r.as_bytes()),
            "raw key stored"
        );
    }
}

fn import_json(raw_key: &str) -> Value {
    json!({
        "version": 1,
        "counts": {"tenants": 2, "keys": 2},
        "tenants": [
            {"slug": "imp-a", "name": "Imported A", "rpm": 100, "tpd": 1000000},
            {"slug": "imp-b", "status": "suspended"}
        ],
        "keys": [
            {"tenant": "imp-a", "name": "ci", "key": raw_key, "allowed_models": ["gpt-*"]},
            {"tenant": "imp-b", "key_hash": "ab".repeat(32), "prefix": "ax-Legacy01"}
        ]
    })
}

#[tokio::test]
async fn import_dry_run_changes_nothing_then_imports() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    let raw = "ax-ImportedKey0000000000000000000000000000000";
    let file = dir.path().join("export.json");
    std::fs::write(&file, import_json(raw).to_string()).unwrap();
    let before = counts(&db).await;

    let out = ax(&db)
        .args([
            "import",
            "tenants",
            file.to_str().unwrap(),
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["tenants_created"], json!(["imp-a", "imp-b"]));
    assert_eq!(report["keys_created"].as_array().unwrap().len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[4/4]"), "progress: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(raw));
    assert_eq!(counts(&db).await, before, "a dry run changes nothing");

    ax(&db)
        .args(["import", "tenants", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "imported 2 tenant(s) and 2 key(s)",
        ));
    let after = counts(&db).await;
    assert_eq!((after.0, after.1), (before.0 + 2, before.1 + 2));
    let s = Store::connect(&db).await.unwrap();
    let k = s.key_by_hash(&hash_key(raw)).await.unwrap().unwrap();
    assert_eq!(k.tenant.slug, "imp-a");
    let audit = s.audit_log(&AuditFilter::default()).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "key.import" && a.actor == "cli:tester:import")
    );
    s.close().await;

    // A directory: every *.json, merged.
    let d = dir.path().join("many");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("1.json"),
        json!({"version": 1, "tenants": [{"slug": "dir-a"}]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        d.join("2.json"),
        json!({"version": 1, "keys": [{"tenant": "dir-a", "key_hash": "cd".repeat(32), "prefix": "ax-Legacy02"}]}).to_string(),
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "ignored").unwrap();
    let r = json_out(
        &mut ax(&db),
        &["import", "tenants", d.to_str().unwrap(), "--json"],
    );
    assert_eq!(r["keys_created"], json!(["dir-a/ax-Legacy02"]));
}

#[tokio::test]
async fn failing_import_rolls_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    json_out(&mut ax(&db), &["tenant", "create", "imp-b", "--json"]);
    let before = counts(&db).await;
    // imp-a would be created, then imp-b clashes: nothing may remain.
    let mut v = import_json("ax-ImportedKey0000000000000000000000000000001");
    v["counts"] = Value::Null;
    let file = dir.path().join("clash.json");
    std::fs::write(&file, v.to_string()).unwrap();
    ax(&db)
        .args(["import", "tenants", file.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("imp-b"))
        .stderr(predicates::str::contains("nothing was changed"));
    assert_eq!(counts(&db).await, before);

    // Invalid files: wrong counts, a dangling reference, bad JSON.
    let mut wrong = import_json("ax-ImportedKey0000000000000000000000000000002");
    wrong["counts"]["keys"] = json!(5);
    wrong["tenants"][1]["slug"] = json!("imp-c");
    let f2 = dir.path().join("counts.json");
    std::fs::write(&f2, wrong.to_string()).unwrap();
    ax(&db)
        .args(["import", "tenants", f2.to_str().unwrap(), "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("counts.keys is 5"));
    let f3 = dir.path().join("dangling.json");
    std::fs::write(
        &f3,
        json!({"version": 1, "keys": [{"tenant": "ghost", "key_hash": "ef".repeat(32), "prefix": "ax-Legacy03"}]}).to_string(),
    )
    .unwrap();
    ax(&db)
        .args(["import", "tenants", f3.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("ghost"));
    let f4 = dir.path().join("broken.json");
    std::fs::write(&f4, "{\"version\": 1, \"tenants\": [").unwrap();
    ax(&db)
        .args(["import", "tenants", f4.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("broken.json"));
    assert_eq!(counts(&db).await, before);
}

#[tokio::test]
async fn provider_configure_encrypts_under_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    let secret = "sk-live-upstream-secret-1234";
    let out = ax(&db)
        .env("AX_MASTER_KEY", MASTER)
        .args([
            "provider",
            "configure",
            "openai",
            "--api-key-stdin",
            "--json",
        ])
        .write_stdin(format!("{secret}\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains(secret));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["has_api_key"], true);

    let s = Store::connect(&db).await.unwrap();
    let sealed = s
        .provider_config("openai")
        .await
        .unwrap()
        .unwrap()
        .config
        .api_key_encrypted
        .unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let master = ax_store::tenancy::secrets::MasterKey::parse(Some(MASTER)).unwrap();
    assert_eq!(master.open("openai", &sealed).unwrap(), secret);
    let wrong = ax_store::tenancy::secrets::MasterKey::parse(Some(&"f".repeat(64))).unwrap();
    let e = wrong.open("openai", &sealed).unwrap_err().to_string();
    assert!(e.contains("AX_MASTER_KEY is not the key"), "{e}");
    let audit =
        serde_json::to_string(&s.audit_log(&AuditFilter::default()).await.unwrap()).unwrap();
    assert!(!audit.contains(secret));
    s.close().await;

    // Missing or malformed master key: a clear error, nothing stored.
    ax(&db)
        .args(["provider", "configure", "gemini", "--api-key-stdin"])
        .write_stdin("k")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("AX_MASTER_KEY is not set"));
    ax(&db)
        .env("AX_MASTER_KEY", "too-short")
        .args(["provider", "configure", "gemini", "--api-key-stdin"])
        .write_stdin("k")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("64 hex characters"));
}

#[tokio::test]
async fn doctor_checks_stored_provider_keys_against_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = migrated(dir.path()).await;
    let out = ax(&db)
        .env("AX_MASTER_KEY", MASTER)
        .args(["provider", "configure", "openai", "--api-key-stdin"])
        .write_stdin("sk-stored-key\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let doctor = |master: &str| {
        let out = ax(&db)
            .env_remove("OPENAI_API_KEY")
            .env("OPENAI_BASE_URL", format!("{dead}/v1"))
            .env("AX_MASTER_KEY", master)
            .args(["doctor", "--json", "--url", &dead])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "stored provider keys")
            .cloned()
            .unwrap_or_else(|| panic!("no stored-keys check in {report}"))
    };
    let ok = doctor(MASTER);
    assert_eq!(ok["status"], "ok", "{ok}");
    assert!(ok["detail"].as_str().unwrap().contains("openai"), "{ok}");

    let wrong = doctor(&"f".repeat(64));
    assert_eq!(wrong["status"], "fail", "{wrong}");
    assert!(
        wrong["fix"].as_str().unwrap().contains("AX_MASTER_KEY"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("sk-stored-key"));
}
