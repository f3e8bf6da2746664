//! Tenancy through real HTTP: gateway keys in every header form, 401/403/429 in each
//! client's own error format, revoke within a second, tenant and key IDs in the log
//! rows, no raw key anywhere in the store, and the admin API's key check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ax_core::tenant::{Quotas, TenantStatus};
use ax_server::{Config, RunningServer, ServeOptions};
use ax_store::tenancy::{CreatedKey, NewApiKey, NewTenant, Tenant, TenantStore};
use ax_store::{ProviderConfigStore, Store};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "test-admin-key-0123456789";

struct Gw {
    server: Option<RunningServer>,
    url: String,
    http: reqwest::Client,
    store: Store,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn gateway(env: &[(&str, &str)]) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ax.db");
    let url = format!("sqlite://{}", db.display());
    let toml = format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n");
    let mut envmap: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    envmap.insert("AX_ADMIN_KEY".into(), ADMIN_KEY.into());
    let config = Config::from_toml_str(&toml, &envmap).unwrap();
    let server = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .unwrap();
    let store = Store::connect(&url).await.unwrap();
    Gw {
        url: format!("http://{}", server.addr),
        server: Some(server),
        http: reqwest::Client::new(),
        store,
        db,
        _dir: dir,
    }
}

impl Gw {
    async fn tenant(&self, slug: &str, status: TenantStatus, quotas: Quotas) -> Tenant {
        self.store
            .create_tenant(
                &NewTenant {
                    slug: slug.into(),
                    name: None,
                    status,
                    quotas,
                },
                "test",
            )
            .await
            .unwrap()
    }

    async fn key(&self, tenant: &Tenant, new: NewApiKey) -> CreatedKey {
        self.store
            .create_key(tenant.id, &new, "test")
            .await
            .unwrap()
    }

    /// Brings the server's key cache up to date with the store now (what its
    /// background refresher does every 250 ms), instead of sleeping and hoping it ran.
    async fn synced(&self) {
        let server = self.server.as_ref().expect("server running");
        server.state.auth().refresh().await.unwrap();
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    OpenAi,
    Anthropic,
    Gemini,
}

const FORMATS: [Fmt; 3] = [Fmt::OpenAi, Fmt::Anthropic, Fmt::Gemini];

/// Where a client of `fmt` puts its key.
#[derive(Clone, Copy, Debug)]
enum KeyIn {
    None,
    Bearer,
    XApiKey,
    XGoogApiKey,
    Query,
}

fn natural(fmt: Fmt) -> KeyIn {
    match fmt {
        Fmt::OpenAi => KeyIn::Bearer,
        Fmt::Anthropic => KeyIn::XApiKey,
        Fmt::Gemini => KeyIn::XGoogApiKey,
    }
}

async fn call(gw: &Gw, fmt: Fmt, model: &str, key: &str, how: KeyIn) -> reqwest::Response {
    let (path, body) = match fmt {
        Fmt::OpenAi => (
            "/v1/chat/completions".to_owned(),
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        Fmt::Anthropic => (
            "/v1/messages".to_owned(),
            json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        Fmt::Gemini => (
            format!("/v1beta/models/{model}:generateContent"),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        ),
    };
    let mut url = format!("{}{path}", gw.url);
    let mut req = gw.http.post(&url);
    match how {
        KeyIn::None => {}
        KeyIn::Bearer => req = req.bearer_auth(key),
        KeyIn::XApiKey => req = req.header("x-api-key", key),
        KeyIn::XGoogApiKey => req = req.header("x-goog-api-key", key),
        KeyIn::Query => {
            url.push_str(&format!("?key={key}"));
            req = gw.http.post(&url);
        }
    }
    req.json(&body).send().await.unwrap()
}

/// Checks the status and that the body has `fmt`'s error shape; returns the message.
async fn expect_error(resp: reqwest::Response, fmt: Fmt, status: u16) -> (String, Option<String>) {
    assert_eq!(resp.status().as_u16(), status, "{fmt:?}");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap();
    let message = match fmt {
        Fmt::OpenAi => {
            assert!(body["error"]["type"].is_string(), "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
        Fmt::Anthropic => {
            assert_eq!(body["type"], "error", "{body}");
            assert!(body["error"]["type"].is_string(), "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
        Fmt::Gemini => {
            assert_eq!(body["error"]["code"], status, "{body}");
            assert!(body["error"]["status"].is_string(), "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    (message, retry_after)
}

#[tokio::test]
async fn open_until_a_key_exists_then_every_header_form_works() {
    let gw = gateway(&[]).await;
    for fmt in FORMATS {
        let r = call(&gw, fmt, "gpt-4o", "sk-whatever", natural(fmt)).await;
        assert_eq!(r.status(), 200, "no keys yet: open ({fmt:?})");
    }
    let t = gw
        .tenant("team-a", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw.key(&t, NewApiKey::default()).await;
    gw.synced().await;
    for fmt in FORMATS {
        let r = call(&gw, fmt, "gpt-4o", "", KeyIn::None).await;
        let (msg, _) = expect_error(r, fmt, 401).await;
        assert!(msg.contains("missing gateway key"), "{msg}");
        let r = call(&gw, fmt, "gpt-4o", "ax-not-a-real-key-000000", natural(fmt)).await;
        expect_error(r, fmt, 401).await;
    }
    for (fmt, how) in [
        (Fmt::OpenAi, KeyIn::Bearer),
        (Fmt::Anthropic, KeyIn::XApiKey),
        (Fmt::Anthropic, KeyIn::Bearer),
        (Fmt::Gemini, KeyIn::XGoogApiKey),
        (Fmt::Gemini, KeyIn::Query),
    ] {
        let r = call(&gw, fmt, "gpt-4o", &k.secret, how).await;
        assert_eq!(r.status(), 200, "{fmt:?} {how:?}");
    }
    // GET /v1/models needs a key too.
    let r = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(&k.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn require_keys_with_no_key_refuses() {
    let gw = gateway(&[("AX_REQUIRE_KEYS", "true")]).await;
    for fmt in FORMATS {
        let r = call(&gw, fmt, "gpt-4o", "sk-anything", natural(fmt)).await;
        expect_error(r, fmt, 401).await;
    }
}

#[tokio::test]
async fn non_loopback_without_auth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"0.0.0.0:0\"\ndatabase_url = \"sqlite://{}\"\n",
        dir.path().join("ax.db").display()
    );
    let config = Config::from_toml_str(&toml, &BTreeMap::new()).unwrap();
    let err = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--insecure-no-auth"), "{err}");
}

#[tokio::test]
async fn suspended_or_decommissioned_tenant_and_disallowed_model_get_403() {
    let gw = gateway(&[]).await;
    let t = gw
        .tenant("team-s", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw
        .key(
            &t,
            NewApiKey {
                // `mock/any*`, not `mock/*`: in this mock-only gateway the mock serves
                // every bare name, and `mock/*` allows whatever it serves.
                allowed_models: Some(vec!["gpt-*".into(), "mock/any*".into()]),
                ..Default::default()
            },
        )
        .await;
    gw.synced().await;
    for fmt in FORMATS {
        assert_eq!(
            call(&gw, fmt, "gpt-4o-mini", &k.secret, natural(fmt))
                .await
                .status(),
            200
        );
        assert_eq!(
            call(&gw, fmt, "mock/anything", &k.secret, natural(fmt))
                .await
                .status(),
            200
        );
        let r = call(
            &gw,
            fmt,
            "claude-3-5-sonnet-20241022",
            &k.secret,
            natural(fmt),
        )
        .await;
        let (msg, _) = expect_error(r, fmt, 403).await;
        assert!(msg.contains("may not use model"), "{msg}");
    }
    gw.store
        .set_tenant_status(t.id, TenantStatus::Suspended, "test")
        .await
        .unwrap();
    gw.synced().await;
    for fmt in FORMATS {
        let r = call(&gw, fmt, "gpt-4o", &k.secret, natural(fmt)).await;
        let (msg, _) = expect_error(r, fmt, 403).await;
        assert!(msg.contains("suspended"), "{msg}");
    }
    gw.store
        .set_tenant_status(t.id, TenantStatus::Decommissioned, "test")
        .await
        .unwrap();
    gw.synced().await;
    for fmt in FORMATS {
        let r = call(&gw, fmt, "gpt-4o", &k.secret, natural(fmt)).await;
        let (msg, _) = expect_error(r, fmt, 403).await;
        assert!(msg.contains("decommissioned"), "{msg}");
    }
}

#[tokio::test]
async fn every_quota_answers_429_with_retry_after_in_each_format() {
    let gw = gateway(&[]).await;
    // Per format: a key rpm, a tenant rpm, a tenant tpm, a key tpm and a tenant tpd.
    let mut cases = Vec::new();
    for fmt in FORMATS {
        let f = format!("{fmt:?}").to_lowercase();
        let t = gw
            .tenant(
                &format!("{f}-krpm"),
                TenantStatus::Active,
                Quotas::default(),
            )
            .await;
        let k = gw
            .key(
                &t,
                NewApiKey {
                    rpm: Some(1),
                    ..Default::default()
                },
            )
            .await;
        cases.push((fmt, k, "requests-per-minute", "rate_limit"));
        let t = gw
            .tenant(
                &format!("{f}-trpm"),
                TenantStatus::Active,
                Quotas {
                    rpm: Some(1),
                    ..Default::default()
                },
            )
            .await;
        let k = gw.key(&t, NewApiKey::default()).await;
        cases.push((fmt, k, "requests-per-minute", "rate_limit"));
        let t = gw
            .tenant(
                &format!("{f}-ttpm"),
                TenantStatus::Active,
                Quotas {
                    tpm: Some(1),
                    ..Default::default()
                },
            )
            .await;
        let k = gw.key(&t, NewApiKey::default()).await;
        cases.push((fmt, k, "tokens-per-minute", "rate_limit"));
        let t = gw
            .tenant(
                &format!("{f}-ktpm"),
                TenantStatus::Active,
                Quotas::default(),
            )
            .await;
        let k = gw
            .key(
                &t,
                NewApiKey {
                    tpm: Some(1),
                    ..Default::default()
                },
            )
            .await;
        cases.push((fmt, k, "tokens-per-minute", "rate_limit"));
        let t = gw
            .tenant(
                &format!("{f}-ttpd"),
                TenantStatus::Active,
                Quotas {
                    tpd: Some(1),
                    ..Default::default()
                },
            )
            .await;
        let k = gw.key(&t, NewApiKey::default()).await;
        cases.push((fmt, k, "tokens-per-day", "quota"));
    }
    gw.synced().await;
    for (fmt, k, what, _) in &cases {
        let first = call(&gw, *fmt, "gpt-4o", &k.secret, natural(*fmt)).await;
        assert_eq!(first.status(), 200, "{fmt:?} {what}");
        let second = call(&gw, *fmt, "gpt-4o", &k.secret, natural(*fmt)).await;
        let (msg, retry_after) = expect_error(second, *fmt, 429).await;
        assert!(msg.contains(what), "{fmt:?}: {msg}");
        let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=86_400).contains(&secs), "{secs}");
    }
}

#[tokio::test]
async fn revoke_and_expiry() {
    let gw = gateway(&[]).await;
    let t = gw
        .tenant("team-r", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw.key(&t, NewApiKey::default()).await;
    let expired = gw
        .key(
            &t,
            NewApiKey {
                expires_at: Some("2001-01-01T00:00:00.000Z".into()),
                ..Default::default()
            },
        )
        .await;
    gw.synced().await;
    let r = call(&gw, Fmt::OpenAi, "gpt-4o", &expired.secret, KeyIn::Bearer).await;
    let (msg, _) = expect_error(r, Fmt::OpenAi, 401).await;
    assert!(msg.contains("expired"), "{msg}");
    assert_eq!(
        call(&gw, Fmt::OpenAi, "gpt-4o", &k.secret, KeyIn::Bearer)
            .await
            .status(),
        200
    );

    gw.store.revoke_key(k.key.id, "test").await.unwrap();
    let revoked_at = Instant::now();
    loop {
        let r = call(&gw, Fmt::Anthropic, "gpt-4o", &k.secret, KeyIn::XApiKey).await;
        if r.status() == 401 {
            let (msg, _) = expect_error(r, Fmt::Anthropic, 401).await;
            assert!(msg.contains("revoked"), "{msg}");
            break;
        }
        // The background refresher (not the test) must pick the revoke up. It polls
        // every 250 ms; 10 s only bounds a stuck refresher on a loaded machine.
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "revoke never took effect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The refused attempts' log rows still name the key.
    let mut gw = gw;
    gw.stop().await;
    let pool = sqlx_pool(&gw).await;
    let named: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provider_logs WHERE error_code = 'authentication_error' AND key_id = ?",
    )
    .bind(expired.key.id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(named, 1);
}

#[tokio::test]
async fn log_rows_carry_tenant_and_key_and_no_secret_is_stored() {
    let mut gw = gateway(&[]).await;
    let t = gw
        .tenant("team-l", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw
        .key(
            &t,
            NewApiKey {
                allowed_models: Some(vec!["gpt-*".into()]),
                ..Default::default()
            },
        )
        .await;
    gw.synced().await;
    for fmt in FORMATS {
        assert_eq!(
            call(&gw, fmt, "gpt-4o", &k.secret, natural(fmt))
                .await
                .status(),
            200
        );
    }
    // Refused ones get their rows too: 403 with the IDs, 401 without.
    expect_error(
        call(&gw, Fmt::OpenAi, "claude-3", &k.secret, KeyIn::Bearer).await,
        Fmt::OpenAi,
        403,
    )
    .await;
    expect_error(
        call(&gw, Fmt::OpenAi, "gpt-4o", "", KeyIn::None).await,
        Fmt::OpenAi,
        401,
    )
    .await;
    // last_used_at is written back at shutdown at the latest.
    gw.stop().await;

    let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT tenant_id, key_id, error_code FROM provider_logs ORDER BY created_at",
    )
    .fetch_all(&sqlx_pool(&gw).await)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    let with_ids = rows
        .iter()
        .filter(|r| {
            r.0.as_deref() == Some(&t.id.to_string())
                && r.1.as_deref() == Some(&k.key.id.to_string())
        })
        .count();
    assert_eq!(with_ids, 4, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.2.as_deref() == Some("permission_denied") && r.0.is_some())
    );
    assert!(
        rows.iter()
            .any(|r| r.2.as_deref() == Some("authentication_error") && r.0.is_none())
    );
    let key = gw.store.key(k.key.id).await.unwrap().unwrap();
    assert!(key.last_used_at.is_some());
    gw.store.close().await;

    // The raw key is nowhere in the database files.
    let mut bytes = std::fs::read(&gw.db).unwrap();
    if let Ok(wal) = std::fs::read(gw.db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let needle = k.secret.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "raw key found in the store"
    );
}

async fn sqlx_pool(gw: &Gw) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", gw.db.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_api_needs_the_admin_key() {
    let gw = gateway(&[]).await;
    let url = format!("{}/admin/providers", gw.url);
    let r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(!body.contains("providers\":"), "{body}");
    let r = gw.http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = gw
        .http
        .get(&url)
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn admin(gw: &Gw, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .bearer_auth(ADMIN_KEY)
        .header("x-ax-actor", "alice");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn admin_tenancy_crud_is_audited_and_enforced_at_once() {
    use reqwest::Method;
    let gw = gateway(&[("AX_MASTER_KEY", &"11".repeat(32))]).await;
    // Without the admin key: 401 and no data.
    let r = gw
        .http
        .get(format!("{}/admin/tenants", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("tenants\":"));

    let (s, t) = admin(
        &gw,
        Method::POST,
        "/admin/tenants",
        Some(json!({"slug": "team-x", "rpm": 100})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["status"], "active");
    let (s, _) = admin(
        &gw,
        Method::POST,
        "/admin/tenants",
        Some(json!({"slug": "team-x"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = admin(
        &gw,
        Method::POST,
        "/admin/tenants",
        Some(json!({"slug": "Bad Slug"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, k) = admin(
        &gw,
        Method::POST,
        "/admin/tenants/team-x/keys",
        Some(json!({"name": "ci", "allowed_models": ["gpt-*"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let raw = k["key"].as_str().unwrap().to_owned();
    assert_eq!(k["tenant"], "team-x");
    assert!(raw.starts_with(k["prefix"].as_str().unwrap()));
    // The key works right away (the admin API refreshes the cache).
    assert_eq!(
        call(&gw, Fmt::OpenAi, "gpt-4o", &raw, KeyIn::Bearer)
            .await
            .status(),
        200
    );

    let (s, shown) = admin(&gw, Method::GET, "/admin/tenants/team-x", None).await;
    assert_eq!(s, 200);
    assert_eq!(shown["keys"].as_array().unwrap().len(), 1);
    let (s, page) = admin(&gw, Method::GET, "/admin/tenants?limit=1", None).await;
    assert_eq!(s, 200);
    assert_eq!(page["tenants"].as_array().unwrap().len(), 1);
    let (s, up) = admin(
        &gw,
        Method::PATCH,
        "/admin/tenants/team-x",
        Some(json!({"rpm": null, "tpd": 5000, "name": "Team X"})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["quotas"]["rpm"], Value::Null);
    assert_eq!(up["quotas"]["tpd"], 5000);
    let (s, _) = admin(
        &gw,
        Method::PATCH,
        "/admin/tenants/team-x",
        Some(json!({"colour": "red"})),
    )
    .await;
    assert_eq!(s, 400);

    let (s, _) = admin(&gw, Method::POST, "/admin/tenants/team-x/suspend", None).await;
    assert_eq!(s, 200);
    expect_error(
        call(&gw, Fmt::Gemini, "gpt-4o", &raw, KeyIn::Query).await,
        Fmt::Gemini,
        403,
    )
    .await;
    let (s, _) = admin(&gw, Method::POST, "/admin/tenants/team-x/activate", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        call(&gw, Fmt::Gemini, "gpt-4o", &raw, KeyIn::Query)
            .await
            .status(),
        200
    );
    let (s, _) = admin(
        &gw,
        Method::POST,
        "/admin/tenants/team-x/decommission",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, e) = admin(&gw, Method::POST, "/admin/tenants/team-x/activate", None).await;
    assert_eq!(s, 409, "{e}");

    let prefix = k["prefix"].as_str().unwrap();
    let (s, rk) = admin(
        &gw,
        Method::POST,
        &format!("/admin/keys/{prefix}/revoke"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{rk}");
    assert_eq!(rk["revoked"], true);
    let (s, _) = admin(&gw, Method::DELETE, "/admin/tenants/team-x", None).await;
    assert_eq!(s, 200);
    let (s, _) = admin(&gw, Method::GET, "/admin/tenants/team-x", None).await;
    assert_eq!(s, 404);

    // Provider configs: the key is encrypted, never shown, and audited without it.
    let (s, pc) = admin(
        &gw,
        Method::PUT,
        "/admin/provider-configs/openai",
        Some(json!({"api_key": "sk-upstream-secret-42", "priority": 7})),
    )
    .await;
    assert_eq!(s, 200, "{pc}");
    assert_eq!(pc["has_api_key"], true);
    assert_eq!(pc["priority"], 7);
    let stored = gw.store.provider_config("openai").await.unwrap().unwrap();
    let master = ax_store::tenancy::secrets::MasterKey::parse(Some(&"11".repeat(32))).unwrap();
    assert_eq!(
        master
            .open("openai", stored.config.api_key_encrypted.as_ref().unwrap())
            .unwrap(),
        "sk-upstream-secret-42"
    );
    let (s, _) = admin(
        &gw,
        Method::POST,
        "/admin/providers/mock/circuit/reset",
        None,
    )
    .await;
    assert_eq!(s, 200);

    let (s, audit) = admin(&gw, Method::GET, "/admin/audit?limit=100", None).await;
    assert_eq!(s, 200);
    let rows = audit["audit"].as_array().unwrap();
    let actions: Vec<&str> = rows
        .iter()
        .rev()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "key.create",
            "tenant.update",
            "tenant.status.suspended",
            "tenant.status.active",
            "tenant.status.decommissioned",
            "key.revoke",
            "tenant.delete",
            "provider_config.put",
            "provider.circuit.reset",
        ]
    );
    assert!(
        rows.iter().all(|r| r["actor"] == "admin-api:alice"),
        "{audit}"
    );
    let text = audit.to_string();
    assert!(!text.contains(&raw) && !text.contains("sk-upstream-secret-42"));
    // Nor in the admin reads.
    for path in [
        "/admin/keys",
        "/admin/provider-configs",
        "/admin/logs?limit=100",
        "/admin/stats",
    ] {
        let (s, body) = admin(&gw, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}");
        let text = body.to_string();
        assert!(
            !text.contains(&raw) && !text.contains("sk-upstream-secret-42"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn provider_key_without_master_key_is_a_clear_error() {
    let gw = gateway(&[]).await;
    let (s, e) = admin(
        &gw,
        reqwest::Method::PUT,
        "/admin/provider-configs/openai",
        Some(json!({"api_key": "sk-x"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AX_MASTER_KEY is not set"),
        "{e}"
    );
    assert!(!e.to_string().contains("sk-x"));
}

#[tokio::test]
async fn stored_provider_keys_are_used_and_a_wrong_master_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let master_hex = "22".repeat(32);
    {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let master = ax_store::tenancy::secrets::MasterKey::parse(Some(&master_hex)).unwrap();
        let sealed = master.seal("openai", "sk-from-the-store").unwrap();
        store
            .set_provider_api_key("openai", Some(sealed))
            .await
            .unwrap();
        store.close().await;
    }
    let toml = format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n");
    let start = |env: Vec<(&'static str, String)>| {
        let toml = toml.clone();
        async move {
            let envmap: BTreeMap<String, String> =
                env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let config = Config::from_toml_str(&toml, &envmap).unwrap();
            assert!(config.mock_only);
            ax_server::start(config, ServeOptions::default(), std::future::pending()).await
        }
    };
    // Missing and wrong master keys: the start stops, saying why.
    let e = start(vec![]).await.err().expect("refused").to_string();
    assert!(
        e.contains("openai") && e.contains("AX_MASTER_KEY is not set"),
        "{e}"
    );
    let e = start(vec![("AX_MASTER_KEY", "33".repeat(32))])
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("AX_MASTER_KEY is not the key"), "{e}");
    assert!(!e.contains("sk-from-the-store"));
    // The right one: openai is enabled with the stored key.
    let server = start(vec![
        ("AX_MASTER_KEY", master_hex.clone()),
        ("AX_ADMIN_KEY", ADMIN_KEY.into()),
    ])
    .await
    .unwrap();
    let v: Value = reqwest::Client::new()
        .get(format!("http://{}/admin/providers", server.addr))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let openai = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "openai")
        .unwrap();
    assert_eq!(openai["enabled"], true, "{v}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn monthly_budget_and_daily_quota_survive_a_restart() {
    let mut gw = gateway(&[]).await;
    let t = gw
        .tenant(
            "team-budget",
            TenantStatus::Active,
            Quotas {
                monthly_budget_usd: Some(0.000_000_1),
                ..Default::default()
            },
        )
        .await;
    let k = gw.key(&t, NewApiKey::default()).await;
    let t2 = gw
        .tenant(
            "team-day",
            TenantStatus::Active,
            Quotas {
                tpd: Some(1),
                ..Default::default()
            },
        )
        .await;
    let k2 = gw.key(&t2, NewApiKey::default()).await;
    gw.synced().await;
    // gpt-4o is priced, so one answer spends more than the budget.
    assert_eq!(
        call(&gw, Fmt::OpenAi, "gpt-4o", &k.secret, KeyIn::Bearer)
            .await
            .status(),
        200
    );
    let (msg, retry) = expect_error(
        call(&gw, Fmt::Anthropic, "gpt-4o", &k.secret, KeyIn::XApiKey).await,
        Fmt::Anthropic,
        429,
    )
    .await;
    assert!(msg.contains("monthly budget"), "{msg}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        call(&gw, Fmt::OpenAi, "gpt-4o", &k2.secret, KeyIn::Bearer)
            .await
            .status(),
        200
    );
    gw.stop().await;

    // A new server on the same store restores the day's tokens and the month's spend.
    let url = format!("sqlite://{}", gw.db.display());
    let toml = format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n");
    let config = Config::from_toml_str(&toml, &BTreeMap::new()).unwrap();
    let server = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .unwrap();
    gw.url = format!("http://{}", server.addr);
    let (msg, _) = expect_error(
        call(&gw, Fmt::Gemini, "gpt-4o", &k2.secret, KeyIn::XGoogApiKey).await,
        Fmt::Gemini,
        429,
    )
    .await;
    assert!(msg.contains("tokens-per-day"), "{msg}");
    let (msg, _) = expect_error(
        call(&gw, Fmt::OpenAi, "gpt-4o", &k.secret, KeyIn::Bearer).await,
        Fmt::OpenAi,
        429,
    )
    .await;
    assert!(msg.contains("monthly budget"), "{msg}");
    // Error bodies never echo the presented key.
    let r = call(&gw, Fmt::OpenAi, "gpt-4o", &k.secret, KeyIn::Bearer).await;
    assert!(!r.text().await.unwrap().contains(&k.secret));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn embeddings_follow_the_key_patterns() {
    let gw = gateway(&[]).await;
    let t = gw
        .tenant("team-e", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw
        .key(
            &t,
            NewApiKey {
                // In this mock-only gateway every bare name is served by the mock,
                // so `mock/*` would allow them all: the pattern names the models.
                allowed_models: Some(vec!["mock/emb*".into()]),
                ..Default::default()
            },
        )
        .await;
    gw.synced().await;
    let embed = |model: &'static str| {
        gw.http
            .post(format!("{}/v1/embeddings", gw.url))
            .bearer_auth(&k.secret)
            .json(&json!({"model": model, "input": "hello"}))
            .send()
    };
    assert_eq!(embed("mock/embed").await.unwrap().status(), 200);
    let r = embed("text-embedding-3-small").await.unwrap();
    let (msg, _) = expect_error(r, Fmt::OpenAi, 403).await;
    assert!(msg.contains("may not use model"), "{msg}");
}

#[tokio::test]
async fn tenancy_admin_needs_a_configured_admin_key_even_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n",
        dir.path().join("ax.db").display()
    );
    let config = Config::from_toml_str(&toml, &BTreeMap::new()).unwrap();
    let server = ax_server::start(config, ServeOptions::default(), std::future::pending())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    // The read-only provider view stays open on loopback (docs/decisions.md)…
    assert_eq!(
        http.get(format!("{base}/admin/providers"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // …but nothing that mints keys or shows the audit log.
    for (method, path) in [
        (reqwest::Method::GET, "/admin/tenants"),
        (reqwest::Method::POST, "/admin/tenants"),
        (reqwest::Method::GET, "/admin/audit"),
        (reqwest::Method::PUT, "/admin/provider-configs/openai"),
    ] {
        let r = http
            .request(method, format!("{base}{path}"))
            .json(&json!({"slug": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_get_exactly_the_rpm() {
    let gw = gateway(&[]).await;
    let t = gw
        .tenant("team-c", TenantStatus::Active, Quotas::default())
        .await;
    let k = gw
        .key(
            &t,
            NewApiKey {
                rpm: Some(5),
                ..Default::default()
            },
        )
        .await;
    gw.synced().await;
    // Per-minute limits are token buckets (a full minute's allowance at once, then
    // one request per 12 s): the 20 requests need no alignment with the clock.
    let calls = (0..20).map(|_| call(&gw, Fmt::OpenAi, "mock/x", &k.secret, KeyIn::Bearer));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15);
}
