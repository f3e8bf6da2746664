//! Stored provider settings (`PUT /admin/provider-configs/{name}`) are applied at the
//! next start — base URL, default model, rate limit, priority, the kind's own settings —
//! and a row the start could not apply is refused when it is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use ax_mock_upstream::{MockConfig, MockUpstream};
use ax_server::{Config, RunningServer, ServeOptions};
use ax_store::{ProviderConfig, ProviderConfigStore as _, Store};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "admin-key-for-stored-configs";
const CHAT: &str = "/v1/chat/completions";

/// `ax.toml`: openai with a key but no base URL or model (the kind's defaults, which a
/// stored row may replace), two openai-compatible providers serving the same models,
/// fallback off so a rate limit shows as a 429.
fn toml(db: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{db}"

[router]
fallback_enabled = false

[[providers]]
name = "openai"
api_key = "sk-test"
max_retries = 0

[[providers]]
name = "a"
kind = "openai-compatible"
models = ["shared-*"]

[[providers]]
name = "b"
kind = "openai-compatible"
models = ["shared-*"]

[[routes]]
name = "stored"
targets = ["openai"]
"#
    )
}

/// A fresh SQLite database URL in a directory that lives as long as the guard.
fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ax.db").display());
    (dir, db)
}

async fn start(db: &str) -> RunningServer {
    let env: BTreeMap<String, String> = [("AX_ADMIN_KEY".to_owned(), ADMIN_KEY.to_owned())].into();
    let config = Config::from_toml_str(&toml(db), &env).expect("config");
    ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .expect("server starts")
}

async fn put(server: &RunningServer, name: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(format!(
            "http://{}/admin/provider-configs/{name}",
            server.addr
        ))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The stored `openai` row as it is in the store now.
async fn openai_row(store: &Store) -> ProviderConfig {
    store
        .provider_config("openai")
        .await
        .unwrap()
        .unwrap()
        .config
}

/// Stores one key of the `openai` row's `config_json` (no PUT field writes it), with
/// the server down; migrates first so a fresh database has the seeded row.
async fn store_openai_config_json(db: &str, key: &str, value: &str) {
    let store = Store::connect(db).await.unwrap();
    store.migrate().await.unwrap();
    let mut row = openai_row(&store).await;
    row.config_json.insert(key.into(), value.into());
    store.upsert_provider_config(&row).await.unwrap();
    store.close().await;
}

async fn chat(server: &RunningServer, model: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}{CHAT}", server.addr))
        .timeout(Duration::from_secs(20))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The plan a chat for `model` would follow (`x-ax-dry-run`).
async fn dry_run(server: &RunningServer, model: &str) -> Value {
    chat(server, model, &[("x-ax-dry-run", "true")])
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn stored_settings_are_applied_at_the_next_start() {
    let upstream = MockUpstream::start(MockConfig::default()).with_key("sk-test");
    let (_dir, db) = temp_db();

    // First run: the operator stores settings through the admin API.
    let server = start(&db).await;
    let (s, row) = put(
        &server,
        "openai",
        json!({
            "api_url": format!("{}/v1", upstream.url()),
            "default_model": "gpt-stored-model",
            "rate_limit_rpm": 1,
            "timeout_ms": 30000,
        }),
    )
    .await;
    assert_eq!(s, 200, "{row}");
    let (s, row) = put(&server, "b", json!({"priority": 1})).await;
    assert_eq!(s, 200, "{row}");
    // Not yet in effect: the running server keeps its configuration.
    let plan = dry_run(&server, "shared-x").await;
    assert_eq!(plan["plan"][0]["provider"], "a", "{plan}");
    server.shutdown().await.unwrap();

    // The kind's own settings come from config_json (no PUT field writes it).
    store_openai_config_json(&db, "organization", "org-stored").await;

    // Second run: the stored row is the provider's configuration.
    let server = start(&db).await;
    let r = chat(&server, "stored", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ax-model"], "gpt-stored-model");
    assert_eq!(upstream.hits(CHAT), 1, "the stored api_url is called");
    assert_eq!(
        upstream.last_body(CHAT).unwrap()["model"],
        "gpt-stored-model"
    );
    assert_eq!(
        upstream.last_headers(CHAT).unwrap()["openai-organization"],
        "org-stored"
    );
    // rate_limit_rpm = 1: the next request is refused at once.
    let r = chat(&server, "stored", &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(upstream.hits(CHAT), 1);
    // priority: b (1) now comes before a (10) for the models both serve.
    let plan = dry_run(&server, "shared-x").await;
    assert_eq!(plan["plan"][0]["provider"], "b", "{plan}");
    server.shutdown().await.unwrap();
    upstream.shutdown().await;
}

/// The rows the migrations seed hold the env providers' defaults: applying them changes
/// nothing (their `timeout_ms` was 60 s, never applied, while calls had 600 s).
#[tokio::test]
async fn the_seeded_rows_change_nothing() {
    let (_dir, db) = temp_db();
    let store = Store::connect(&db).await.unwrap();
    store.migrate().await.unwrap();
    let rows: Vec<_> = store
        .list_provider_configs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.config)
        .collect();
    store.close().await;
    assert_eq!(rows.len(), 3);
    for vars in [
        vec![],
        vec![
            ("OPENAI_API_KEY", "k"),
            ("ANTHROPIC_API_KEY", "k"),
            ("GEMINI_API_KEY", "k"),
        ],
    ] {
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let before = Config::load_with(None, &env).unwrap();
        let mut after = before.clone();
        let out = ax_server::assemble::apply_rows(&mut after, &rows).unwrap();
        assert_eq!(out, ax_server::assemble::Assembled::default());
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
    }
}

#[tokio::test]
async fn a_row_the_start_would_refuse_is_refused_when_written() {
    let (_dir, db) = temp_db();
    let server = start(&db).await;
    for (body, field) in [
        (json!({"api_url": "ftp://example.com"}), "api_url"),
        (
            json!({"fallback_providers": ["ghost"]}),
            "fallback_providers",
        ),
        (json!({"default_model": ""}), "default_model"),
        (json!({"rate_limit_tpm": 1u64 << 40}), "rate_limit_tpm"),
    ] {
        let (s, e) = put(&server, "openai", body.clone()).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["error"]["code"], "invalid_request", "{e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`openai`") && message.contains(field),
            "{body}: {message}"
        );
    }
    // Nothing was stored: the seeded row is as it was, and the next start works.
    server.shutdown().await.unwrap();
    let store = Store::connect(&db).await.unwrap();
    let row = openai_row(&store).await;
    assert_eq!(row.api_url.as_deref(), Some("https://api.openai.com"));
    assert!(row.rate_limit_tpm.is_none());
    store.close().await;
    start(&db).await.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stored_row_with_a_key_of_another_kind_stops_the_start_naming_it() {
    let (_dir, db) = temp_db();
    store_openai_config_json(&db, "safety_threshold", "BLOCK_NONE").await;
    let env = BTreeMap::new();
    let config = Config::from_toml_str(&toml(&db), &env).unwrap();
    let e = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("`openai`")
            && e.contains("config_json.safety_threshold")
            && e.contains("unknown field"),
        "{e}"
    );
}
