//! Schema tests that need raw SQL on the store's own connections: CHECK constraints,
//! foreign keys and cascades, `updated_at` triggers, the analytics views, and the
//! query plans of the analytics queries.

use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use sqlx::Row;
use tempfile::TempDir;
use time::OffsetDateTime;

use crate::{LogRecord, LogSink, Store, StoreError, timestamp};

async fn fresh() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

async fn exec(store: &Store, sql: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(sql)
        .execute(&store.write)
        .await
        .map_err(StoreError::from)?
        .rows_affected())
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&store.read)
        .await
        .unwrap()
}

fn log_insert(state: &str, error_code: &str) -> String {
    format!(
        "INSERT INTO provider_logs (id, request_id, state, error_code, start_time) \
         VALUES (lower(hex(randomblob(16))), 'r', {state}, {error_code}, '2025-01-01T00:00:00.000Z')"
    )
}

#[tokio::test]
async fn checks_refuse_bad_enumerations() {
    let (_dir, store) = fresh().await;
    for s in State::ALL {
        exec(&store, &log_insert(&format!("'{s}'"), "NULL"))
            .await
            .unwrap();
    }
    for c in ErrorCode::ALL {
        exec(&store, &log_insert("'failed'", &format!("'{c}'")))
            .await
            .unwrap();
    }
    for bad in [
        log_insert("'Completed'", "NULL"),
        log_insert("'done'", "NULL"),
        log_insert("'failed'", "'oops'"),
        log_insert("'failed'", "'Timeout'"),
        "INSERT INTO tenants (id, slug, name, status) VALUES ('t', 's', 'n', 'paused')".into(),
        "INSERT INTO tenants (id, slug, name, status) VALUES ('t', 's', 'n', 'Active')".into(),
        "INSERT INTO provider_rate_limits (id, provider, limit_type, limit_value) \
         VALUES ('x', 'p', 'requests_per_hour', 1)"
            .into(),
        "INSERT INTO provider_configs (id, provider, fallback_providers) \
         VALUES ('x', 'p', '{\"not\":\"an array\"}')"
            .into(),
        "INSERT INTO audit_log (id, actor, action, target_type) VALUES ('x', 'a', 'b', 'moon')"
            .into(),
        "INSERT INTO provider_logs (id, request_id, state, start_time, is_fallback) \
         VALUES ('y', 'r', 'idle', '2025-01-01T00:00:00.000Z', 2)"
            .into(),
        "INSERT INTO provider_logs (id, request_id, state, start_time, tags) \
         VALUES ('z', 'r', 'idle', '2025-01-01T00:00:00.000Z', 'not json')"
            .into(),
    ] {
        let err = exec(&store, &bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad}: {err:?}");
    }
    // STRICT: a value of the wrong type is refused, not coerced.
    let err = exec(
        &store,
        "INSERT INTO provider_logs (id, request_id, state, start_time, duration) \
         VALUES ('s', 'r', 'idle', '2025-01-01T00:00:00.000Z', 'slow')",
    )
    .await
    .unwrap_err();
    assert!(!matches!(err, StoreError::Conflict(_)), "{err:?}");
    for ok in ["provisioning", "active", "suspended", "decommissioned"] {
        exec(
            &store,
            &format!(
                "INSERT INTO tenants (id, slug, name, status) VALUES ('{ok}', '{ok}', 'n', '{ok}')"
            ),
        )
        .await
        .unwrap();
    }
    let dup = exec(
        &store,
        "INSERT INTO tenants (id, slug, name) VALUES ('other', 'active', 'n')",
    )
    .await
    .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
}

#[tokio::test]
async fn deleting_a_tenant_deletes_its_keys() {
    let (_dir, store) = fresh().await;
    exec(
        &store,
        "INSERT INTO tenants (id, slug, name) VALUES ('t1', 'acme', 'Acme')",
    )
    .await
    .unwrap();
    exec(
        &store,
        "INSERT INTO tenants (id, slug, name) VALUES ('t2', 'other', 'Other')",
    )
    .await
    .unwrap();
    for (id, tenant) in [("k1", "t1"), ("k2", "t1"), ("k3", "t2")] {
        exec(
            &store,
            &format!(
                "INSERT INTO api_keys (id, tenant_id, key_hash, prefix) \
                 VALUES ('{id}', '{tenant}', 'hash-{id}', 'ax-{id}')"
            ),
        )
        .await
        .unwrap();
    }
    let orphan = exec(
        &store,
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix) VALUES ('k9', 'nope', 'h9', 'p')",
    )
    .await
    .unwrap_err();
    assert!(matches!(orphan, StoreError::Invalid(_)), "{orphan:?}");

    assert_eq!(
        exec(&store, "DELETE FROM tenants WHERE slug = 'acme'")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id = 't1'"
        )
        .await,
        0
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM api_keys").await, 1);
}

#[tokio::test]
async fn deleting_a_log_row_deletes_its_metrics() {
    let (_dir, store) = fresh().await;
    let r = LogRecord::new("req", State::Completed);
    store.write_batch(std::slice::from_ref(&r)).await.unwrap();
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM provider_metrics").await,
        1
    );
    exec(
        &store,
        &format!("DELETE FROM provider_logs WHERE id = '{}'", r.id),
    )
    .await
    .unwrap();
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM provider_metrics").await,
        0
    );
}

#[tokio::test]
async fn updated_at_follows_updates() {
    let (_dir, store) = fresh().await;
    exec(
        &store,
        "INSERT INTO tenants (id, slug, name) VALUES ('t1', 'acme', 'Acme')",
    )
    .await
    .unwrap();
    let old = "2000-01-01T00:00:00.000Z";
    // An explicit value is kept (the trigger only fills in what an UPDATE left alone).
    exec(
        &store,
        &format!("UPDATE tenants SET updated_at = '{old}' WHERE id = 't1'"),
    )
    .await
    .unwrap();
    let read = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&store.read)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        read("SELECT updated_at FROM tenants WHERE id = 't1'").await,
        old
    );
    exec(
        &store,
        "UPDATE tenants SET name = 'Acme Inc' WHERE id = 't1'",
    )
    .await
    .unwrap();
    let updated = read("SELECT updated_at FROM tenants WHERE id = 't1'").await;
    let created = read("SELECT created_at FROM tenants WHERE id = 't1'").await;
    assert!(updated.as_str() > old);
    assert!(updated >= created);
    let t = timestamp::parse(&updated).expect("stored in the store's format");
    assert!((OffsetDateTime::now_utc() - t).abs() < time::Duration::minutes(1));

    // Same on every table with updated_at.
    let r = LogRecord::new("req", State::Completed);
    store.write_batch(std::slice::from_ref(&r)).await.unwrap();
    for (table, key) in [
        ("provider_logs", format!("id = '{}'", r.id)),
        ("provider_configs", "provider = 'claude'".to_owned()),
    ] {
        exec(
            &store,
            &format!("UPDATE {table} SET updated_at = '{old}' WHERE {key}"),
        )
        .await
        .unwrap();
        exec(
            &store,
            &format!("UPDATE {table} SET created_at = created_at WHERE {key}"),
        )
        .await
        .unwrap();
        let v: String = sqlx::query_scalar(&format!("SELECT updated_at FROM {table} WHERE {key}"))
            .fetch_one(&store.read)
            .await
            .unwrap();
        assert!(v.as_str() > old, "{table}: {v}");
    }
}

fn at(minutes_ago: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago)
}

fn rec(provider: Option<&str>, model: &str, start: OffsetDateTime, ok: bool, ms: i64) -> LogRecord {
    let mut r = LogRecord::new("v", if ok { State::Completed } else { State::Failed });
    r.provider = provider.map(Into::into);
    r.model = Some(model.into());
    r.start_time = start;
    r.duration_ms = Some(ms);
    r.first_token_ms = Some(ms / 4);
    r.usage.input_tokens = 10;
    r.usage.output_tokens = 3;
    if !ok {
        r.error_code = Some(ErrorCode::ServerError);
        r.error_message = Some("upstream 500".into());
    }
    r
}

#[tokio::test]
async fn success_rate_view_covers_seven_days() {
    let (_dir, store) = fresh().await;
    let day = 24 * 60;
    store
        .write_batch(&[
            rec(Some("claude"), "s", at(60), true, 10),
            rec(Some("claude"), "s", at(3 * day), true, 10),
            rec(Some("claude"), "s", at(6 * day), false, 10),
            rec(Some("claude"), "s", at(8 * day), false, 10), // outside 7 days
            rec(Some("claude"), "h", at(60), false, 10),
            rec(Some("openai"), "g", at(60), true, 10),
            rec(None, "x", at(60), false, 10), // never reached a provider
        ])
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT provider, model, requests, successes, failures, success_rate \
         FROM provider_success_rate ORDER BY provider, model",
    )
    .fetch_all(&store.read)
    .await
    .unwrap();
    let got: Vec<(String, String, i64, i64, i64, f64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("claude".into(), "h".into(), 1, 0, 1, 0.0),
            ("claude".into(), "s".into(), 3, 2, 1, 2.0 / 3.0),
            ("openai".into(), "g".into(), 1, 1, 0, 1.0),
        ]
    );
}

#[tokio::test]
async fn performance_view_buckets_by_hour_over_a_day() {
    let (_dir, store) = fresh().await;
    let hour_of = |t: OffsetDateTime| format!("{}:00:00Z", &timestamp::format(t)[..13]);
    let (a, b) = (at(2 * 60), at(5 * 60));
    store
        .write_batch(&[
            rec(Some("claude"), "s", a, true, 100),
            rec(Some("claude"), "s", a, false, 300),
            rec(Some("claude"), "s", b, true, 40),
            rec(Some("gemini"), "f", a, true, 8),
            rec(Some("claude"), "s", at(25 * 60), true, 1), // outside 24 h
        ])
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT hour, provider, requests, successes, avg_duration_ms, avg_first_token_ms, \
         input_tokens, output_tokens, total_tokens \
         FROM provider_performance_hourly ORDER BY hour DESC, provider",
    )
    .fetch_all(&store.read)
    .await
    .unwrap();
    type Bucket = (String, String, i64, i64, f64, f64, i64, i64, i64);
    let got: Vec<Bucket> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (hour_of(a), "claude".into(), 2, 1, 200.0, 50.0, 20, 6, 26),
            (hour_of(a), "gemini".into(), 1, 1, 8.0, 2.0, 10, 3, 13),
            (hour_of(b), "claude".into(), 1, 1, 40.0, 10.0, 10, 3, 13),
        ]
    );
}

#[tokio::test]
async fn failed_requests_view_lists_failures_only() {
    let (_dir, store) = fresh().await;
    let mut no_provider = rec(None, "x", at(1), false, 1);
    no_provider.error_code = Some(ErrorCode::AuthenticationError);
    store
        .write_batch(&[
            rec(Some("claude"), "s", at(3), false, 10),
            rec(Some("claude"), "s", at(2), true, 10),
            no_provider,
        ])
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT provider, error_code, error_message FROM provider_failed_requests \
         ORDER BY created_at",
    )
    .fetch_all(&store.read)
    .await
    .unwrap();
    let got: Vec<(Option<String>, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some("claude".into()),
                "server_error".into(),
                Some("upstream 500".into())
            ),
            (
                None,
                "authentication_error".into(),
                Some("upstream 500".into())
            ),
        ]
    );
}

/// The analytics queries read an index, not the whole table.
#[tokio::test]
async fn queries_use_their_indexes() {
    let (_dir, store) = fresh().await;
    let plan = |sql: &'static str| {
        let store = store.clone();
        async move {
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.read)
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let recent = "SELECT l.id FROM provider_logs AS l \
                  LEFT JOIN provider_metrics AS m ON m.log_id = l.id \
                  WHERE 1 = 1 AND l.provider = 'x' ORDER BY l.created_at DESC, l.rowid DESC LIMIT 5";
    let p = plan(recent).await;
    assert!(p.contains("idx_provider_logs_provider_created"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    let failed = "SELECT l.id FROM provider_logs AS l WHERE 1 = 1 AND l.state = 'failed' \
                  ORDER BY l.created_at DESC, l.rowid DESC LIMIT 5";
    let p = plan(failed).await;
    assert!(p.contains("idx_provider_logs_state_created"), "{p}");
    let both = "SELECT l.id FROM provider_logs AS l WHERE 1 = 1 AND l.provider = 'x' \
                AND l.state = 'failed' ORDER BY l.created_at DESC, l.rowid DESC LIMIT 5";
    let p = plan(both).await;
    assert!(
        p.contains("idx_provider_logs_provider_state_created"),
        "{p}"
    );
    let stats = "SELECT provider FROM provider_metrics WHERE created_at >= '2025' \
                 AND provider IS NOT NULL";
    let p = plan(stats).await;
    assert!(p.contains("idx_provider_metrics_created_at"), "{p}");
    // The sparse (partial) ID indexes still serve equality lookups.
    let conv = "SELECT id FROM provider_logs WHERE conversation_id = 'c' ORDER BY created_at";
    let p = plan(conv).await;
    assert!(p.contains("idx_provider_logs_conversation_created"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    let user = "SELECT id FROM provider_logs WHERE user_id = 'u'";
    let p = plan(user).await;
    assert!(p.contains("idx_provider_logs_user_id"), "{p}");
}
