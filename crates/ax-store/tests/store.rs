//! Connection settings, migrations, provider configs and the JSON contract of the rows.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of integration tests: a failure is a test failure"
)]

mod common;

use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use ax_store::{
    LogFilter, LogQuery, LogRow, LogSink, ProviderConfig, ProviderConfigStore, StatsRow, Store,
    StoreError,
};
use common::{fresh_store, unmigrated_store};

#[tokio::test]
async fn migrations_apply_once() {
    let (_dir, store) = unmigrated_store().await;
    let known = Store::known_migrations();
    assert!(!store.is_migrated().await.unwrap());
    assert_eq!(store.pending_migrations().await.unwrap(), known);

    let applied = store.migrate().await.unwrap();
    assert_eq!(applied, known);
    assert!(
        applied
            .iter()
            .any(|m| m.description.contains("provider logs"))
    );

    assert!(
        store.migrate().await.unwrap().is_empty(),
        "second run applies nothing"
    );
    assert!(store.pending_migrations().await.unwrap().is_empty());
    assert!(store.is_migrated().await.unwrap());
    assert!(store.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn migrated_state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let again = Store::connect(&url).await.unwrap();
    assert!(again.is_migrated().await.unwrap());
    assert!(again.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn close_releases_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ax.db");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let recs: Vec<_> = (0..500)
        .map(|i| common::ok(&format!("c{i}"), "p", "m", common::ago_min(1), Some(1)))
        .collect();
    store.write_batch(&recs).await.unwrap();
    // Give the background checkpointer a turn while the store is open.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(db.with_extension("db-wal").exists());
    store.close().await;
    // SQLite checkpoints and removes the WAL when its last connection closes, so a
    // leftover WAL would mean a connection (the checkpointer's, say) stayed open.
    assert!(
        !db.with_extension("db-wal").exists(),
        "a connection is still open"
    );
    let again = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(
        again
            .recent_logs(LogFilter {
                limit: 1_000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        500
    );
    assert!(again.integrity_check().await.unwrap().is_empty());
}

#[tokio::test]
async fn connections_use_wal_and_foreign_keys() {
    let (_dir, store) = fresh_store().await;
    let p = store.pragmas().await.unwrap();
    assert_eq!(p.journal_mode, "wal");
    assert!(p.foreign_keys);
    assert_eq!(p.synchronous, "normal");
    assert_eq!(p.busy_timeout_ms, 5_000);
    store.ping().await.unwrap();
}

/// `PRAGMA page_size` of the database file at `path`, read through its own connection.
fn page_size(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn new_files_use_8_kib_pages_and_old_files_keep_theirs() {
    let (dir, store) = fresh_store().await;
    store.close().await;
    assert_eq!(page_size(&dir.path().join("ax.db")), 8192);

    // A file made before the change (4 KiB pages, already in WAL) opens, migrates and
    // takes logs without being rewritten.
    let old = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&old).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);",
        )
        .unwrap();
    }
    let store = Store::connect(&format!("sqlite://{}", old.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let record = common::ok(
        "req-old-file",
        "openai",
        "gpt-4o-mini",
        common::ago_min(1),
        Some(5),
    );
    store.log_sink().write_batch(&[record]).await.unwrap();
    assert_eq!(common::all_logs(&store).await.len(), 1);
    assert!(store.integrity_check().await.unwrap().is_empty());
    store.close().await;
    assert_eq!(page_size(&old), 4096);
}

#[tokio::test]
async fn in_memory_store_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.pragmas().await.unwrap().foreign_keys);
    let r = common::ok("mem-1", "mock", "m", common::ago_min(1), Some(5));
    store.write_batch(&[r]).await.unwrap();
    let rows = store.recent_logs(LogFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id, "mem-1");
}

#[tokio::test]
async fn bad_urls_are_config_errors() {
    assert!(matches!(
        Store::connect("postgres://localhost/ax").await,
        Err(StoreError::Config(_))
    ));
}

#[tokio::test]
async fn provider_configs_are_seeded() {
    let (_dir, store) = fresh_store().await;
    let all = store.list_provider_configs().await.unwrap();
    let seen: Vec<_> = all
        .iter()
        .map(|c| {
            (
                c.config.provider.as_str(),
                c.config.priority,
                c.config.default_model.as_deref().unwrap(),
                c.config.api_url.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "claude",
                1,
                "claude-3-5-sonnet-20241022",
                "https://api.anthropic.com"
            ),
            (
                "gemini",
                2,
                "gemini-2.0-flash",
                "https://generativelanguage.googleapis.com"
            ),
            ("openai", 3, "gpt-4o", "https://api.openai.com"),
        ]
    );
    assert_eq!(all[0].config.fallback_providers, vec!["gemini", "openai"]);
    assert!(all.iter().all(|c| c.config.api_key_encrypted.is_none()));
}

#[tokio::test]
async fn provider_config_upsert_get_and_key() {
    let (_dir, store) = fresh_store().await;
    let mut c = ProviderConfig::new("groq");
    c.priority = 7;
    c.api_url = Some("https://api.groq.com/openai".into());
    c.fallback_providers = vec!["openai".into()];
    c.config_json
        .insert("kind".into(), "openai-compatible".into());
    c.rate_limit_rpm = Some(30);
    let stored = store.upsert_provider_config(&c).await.unwrap();
    assert_eq!(stored.config, c);
    assert_eq!(
        stored.id.parse::<uuid::Uuid>().unwrap().get_version_num(),
        7
    );

    c.enabled = false;
    c.priority = 8;
    let again = store.upsert_provider_config(&c).await.unwrap();
    assert_eq!(again.id, stored.id, "upsert keeps the row");
    assert_eq!(again.created_at, stored.created_at);
    assert!(again.updated_at >= stored.updated_at);
    assert!(!again.config.enabled);

    store
        .set_provider_api_key("groq", Some(vec![1, 2, 3, 0, 255]))
        .await
        .unwrap();
    let got = store.provider_config("groq").await.unwrap().unwrap();
    assert_eq!(got.config.api_key_encrypted, Some(vec![1, 2, 3, 0, 255]));
    assert_eq!(got.config.priority, 8);

    assert!(store.provider_config("nope").await.unwrap().is_none());
    assert!(matches!(
        store.set_provider_api_key("nope", None).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_provider_configs().await.unwrap().len(), 4);
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let Some(object) = v.as_object() else {
        panic!("not a JSON object: {v}")
    };
    let mut k: Vec<String> = object.keys().cloned().collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

#[tokio::test]
async fn log_rows_have_the_design_json_shape() {
    let (_dir, store) = fresh_store().await;
    let mut r = common::failed(
        "req-json",
        Some("openai"),
        Some("gpt-4o"),
        common::ago_min(1),
        ErrorCode::RateLimitExceeded,
    );
    r.tags = vec!["a".into()];
    r.conversation_id = Some("c".into());
    store.write_batch(&[r]).await.unwrap();
    let rows = store.recent_logs(LogFilter::default()).await.unwrap();
    let v = serde_json::to_value(&rows[0]).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "request_id",
            "created_at",
            "provider",
            "model",
            "state",
            "error_code",
            "duration_ms",
            "first_token_ms",
            "input_tokens",
            "output_tokens",
            "tokens_estimated",
            "is_fallback",
            "attempts",
            "conversation_id",
            "user_id",
            "tags",
            "cost_usd"
        ])
    );
    assert_eq!(v["state"], "failed");
    assert_eq!(v["error_code"], "rate_limit_exceeded");
    assert_eq!(v["tags"], serde_json::json!(["a"]));
    assert_eq!(v["is_fallback"], false);
    let back: LogRow = serde_json::from_value(v).unwrap();
    assert_eq!(back, rows[0]);
    assert_eq!(back.state, State::Failed);
}

#[tokio::test]
async fn stats_rows_have_the_design_json_shape() {
    let (_dir, store) = fresh_store().await;
    store
        .write_batch(&[common::ok("s", "gemini", "g", common::ago_min(1), Some(3))])
        .await
        .unwrap();
    let rows: Vec<StatsRow> = store.stats(24).await.unwrap();
    let v = serde_json::to_value(&rows[0]).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&[
            "provider",
            "model",
            "requests",
            "success_rate",
            "avg_latency_ms",
            "p95_latency_ms",
            "avg_first_token_ms",
            "input_tokens",
            "output_tokens",
            "fallbacks",
            "cost_usd",
            "unpriced_requests"
        ])
    );
}
