//! The provider registry and `assemble` through the real binary: `ax serve` refuses a
//! key of another kind in ax.toml by name; a provider key stored with `ax provider
//! configure` counts as configured for `ax serve` (no "no provider" warning) and is
//! used by `ax provider test`, with the provider's other stored settings.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use ax_mock_upstream::{MockConfig, MockUpstream};
use ax_store::{ProviderConfigStore as _, Store};
use common::{ax, db_url, json_of, serve_command, stderr_until_listening};

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A migrated store in `dir`.
async fn migrated(dir: &std::path::Path) -> String {
    let url = db_url(dir, "ax.db");
    let store = Store::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    store.close().await;
    url
}

/// Stores `key` for `provider` with `ax provider configure`.
fn configure(db: &str, provider: &str, key: &str) {
    let out = ax()
        .env("AX_DATABASE_URL", db)
        .env("AX_MASTER_KEY", MASTER)
        .args(["provider", "configure", provider, "--api-key-stdin"])
        .write_stdin(format!("{key}\n"))
        .output()
        .expect("run configure");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `ax serve` writes to stderr until it listens (then it is killed).
fn serve_until_listening(db: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = serve_command(db);
    cmd.env("AX_LOG", "warn")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    stderr_until_listening(cmd)
}

#[test]
fn serve_refuses_a_key_of_another_kind_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ax.toml");
    std::fs::write(
        &path,
        "[[providers]]\nname = \"openai\"\nkind = \"openai\"\napi_key = \"sk-x\"\nsafety_threshold = \"BLOCK_NONE\"\n",
    )
    .expect("write ax.toml");
    let out = ax()
        .env("AX_DATABASE_URL", db_url(dir.path(), "ax.db"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("providers[0].safety_threshold")
            && stderr.contains("provider `openai` (openai)")
            && stderr.contains("unknown field `safety_threshold`"),
        "{stderr}"
    );
    // Refused before anything was created.
    assert!(!dir.path().join("ax.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_key_counts_as_configured_for_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = migrated(dir.path()).await;
    let warning = "no provider configured";
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || {
        // No key anywhere: the mock serves, and says so.
        let seen = serve_until_listening(&db2, &[("AX_MASTER_KEY", MASTER)]);
        assert!(seen.contains(warning), "{seen}");
        // A stored key enables its provider: no warning.
        configure(&db2, "openai", "sk-stored-key");
        let seen = serve_until_listening(&db2, &[("AX_MASTER_KEY", MASTER)]);
        assert!(!seen.contains(warning), "{seen}");
        assert!(!seen.contains("sk-stored-key"), "{seen}");
    })
    .await
    .expect("blocking part");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_test_uses_the_stored_key_and_settings() {
    let upstream = MockUpstream::start(MockConfig::default()).with_key("sk-stored-key");
    let base = format!("{}/v1", upstream.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let db = migrated(dir.path()).await;
    {
        let store = Store::connect(&db).await.expect("store");
        let mut row = store
            .provider_config("openai")
            .await
            .expect("read")
            .expect("seeded")
            .config;
        row.default_model = Some("gpt-stored-model".into());
        store.upsert_provider_config(&row).await.expect("write");
        store.close().await;
    }
    tokio::task::spawn_blocking(move || {
        configure(&db, "openai", "sk-stored-key");
        let test = |master: &str| {
            ax().env("AX_DATABASE_URL", &db)
                .env("AX_MASTER_KEY", master)
                .env("OPENAI_BASE_URL", &base)
                .args(["provider", "test", "openai", "--json", "--prompt", "ping"])
                .output()
                .expect("run provider test")
        };
        let out = test(MASTER);
        assert!(out.status.success(), "{out:?}");
        let t = json_of(&out);
        assert_eq!(t["ok"], true, "{t}");
        assert_eq!(t["model"], "gpt-stored-model");
        // The wrong master key: said, not a missing key.
        let out = test(&"f".repeat(64));
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("AX_MASTER_KEY is not the key"), "{stderr}");
    })
    .await
    .expect("blocking part");
    assert_eq!(upstream.hits("/v1/chat/completions"), 1);
    upstream.shutdown().await;
}
