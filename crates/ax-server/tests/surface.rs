//! Endpoints that had no test through HTTP (issue 15): the Gemini `/v1/models/*` path,
//! `/readyz` with the store down, `/metrics` with telemetry off, the admin key and
//! provider-config reads, and the bodies of `/admin/logs` and `/admin/stats`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Client, Gateway, Setup, gateway, gateway_with};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "test-admin-key";

fn with_admin_key() -> Setup {
    let mut setup = Setup::default();
    setup.env.insert("AX_ADMIN_KEY".into(), ADMIN_KEY.into());
    setup
}

/// An admin call; the status and the JSON body (`null` when there is none).
async fn admin(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .bearer_auth(ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn gemini_under_the_v1_api_version_path() {
    let mut gw = gateway().await;
    for (model, provider) in [
        ("gemini-2.0-flash", "gemini"),
        ("openai/gpt-4o-mini", "openai"),
    ] {
        let r = gw
            .post(
                &format!("/v1/models/{model}:generateContent"),
                &common::gemini_body(),
                &[],
            )
            .await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["x-ax-provider"], provider);
        let body: Value = r.json().await.unwrap();
        assert!(
            common::reply_text(Client::Gemini, &body).starts_with("Hello from mock-"),
            "{body}"
        );
        let r = gw
            .post(
                &format!("/v1/models/{model}:streamGenerateContent?alt=sse"),
                &common::gemini_body(),
                &[],
            )
            .await;
        assert_eq!(r.status(), 200, "{model}");
        let text = r.text().await.unwrap();
        assert!(
            common::stream_text(Client::Gemini, &text).starts_with("Hello from mock-"),
            "{text}"
        );
    }
    // An unknown action under /v1/models is a Gemini-shaped 404.
    let r = gw
        .post(
            "/v1/models/gemini-2.0-flash:summon",
            &common::gemini_body(),
            &[],
        )
        .await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404, "{body}");
    assert_eq!(body["error"]["status"], "NOT_FOUND", "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn readyz_says_not_ready_when_the_store_is_down() {
    let mut gw = gateway().await;
    let r = gw.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    // Close the server's store: every query fails from now on.
    gw.server.as_ref().unwrap().state.store().close().await;
    let r = gw.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready", "{body}");
    assert!(
        body["store"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    // Liveness does not depend on the store.
    assert_eq!(gw.get("/healthz").await.status(), 200);
    gw.server.take();
}

#[tokio::test]
async fn metrics_with_telemetry_off_is_404_and_says_why() {
    let mut setup = Setup::default();
    setup
        .env
        .insert("PROVIDER_TELEMETRY_ENABLED".into(), "false".into());
    let mut gw = gateway_with(setup).await;
    let r = gw.get("/metrics").await;
    assert_eq!(r.status(), 404);
    let text = r.text().await.unwrap();
    assert!(text.contains("PROVIDER_TELEMETRY_ENABLED=false"), "{text}");
    // Requests are still served (and logged).
    assert_eq!(gw.openai_chat("mock/x", false, &[]).await.status(), 200);
    assert_eq!(gw.stop().await.len(), 1);
}

#[tokio::test]
async fn admin_logs_and_stats_bodies_describe_the_traffic() {
    let mut gw = gateway_with(with_admin_key()).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = gw.openai_chat("openai/gpt-4o-mini", false, &[]).await;
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["x-ax-request-id"].to_str().unwrap().to_owned());
    }
    let r = gw.openai_chat("no-such-model", false, &[]).await;
    assert_eq!(r.status(), 404);
    let failed_id = r.headers()["x-ax-request-id"].to_str().unwrap().to_owned();
    // The rows reach the store through the batched writer: wait for them.
    let all_there = common::eventually(Duration::from_secs(30), async || {
        admin(&gw, reqwest::Method::GET, "/admin/logs?limit=10", None)
            .await
            .1["logs"]
            .as_array()
            .is_some_and(|l| l.len() == 3)
    })
    .await;
    assert!(all_there);
    let (status, body) = admin(&gw, reqwest::Method::GET, "/admin/logs?limit=10", None).await;
    assert_eq!(status, 200);
    let logs = body["logs"].as_array().unwrap();
    // Newest first.
    assert_eq!(logs[0]["request_id"], failed_id.as_str(), "{body}");
    assert_eq!(logs[0]["state"], "failed");
    assert_eq!(logs[0]["error_code"], "not_found");
    for row in &logs[1..] {
        assert!(
            ids.iter().any(|id| row["request_id"] == id.as_str()),
            "{row}"
        );
        assert_eq!(row["provider"], "openai");
        assert_eq!(row["model"], "gpt-4o-mini");
        assert_eq!(row["state"], "completed");
        assert_eq!(row["error_code"], Value::Null);
        assert!(row["input_tokens"].as_u64().unwrap() > 0, "{row}");
        assert!(row["output_tokens"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["is_fallback"], false);
    }
    let (_, failed) = admin(&gw, reqwest::Method::GET, "/admin/logs?failed=true", None).await;
    let failed = failed["logs"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["request_id"], failed_id.as_str());
    let (_, only) = admin(
        &gw,
        reqwest::Method::GET,
        "/admin/logs?provider=openai",
        None,
    )
    .await;
    assert_eq!(only["logs"].as_array().unwrap().len(), 2);

    let (status, stats) = admin(&gw, reqwest::Method::GET, "/admin/stats?hours=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["window_hours"], 1);
    let rows = stats["rows"].as_array().unwrap();
    let openai = rows
        .iter()
        .find(|r| r["provider"] == "openai")
        .unwrap_or_else(|| panic!("no openai row in {stats}"));
    assert_eq!(openai["model"], "gpt-4o-mini");
    assert_eq!(openai["requests"], 2);
    assert_eq!(openai["success_rate"].as_f64(), Some(1.0), "{openai}");
    assert_eq!(openai["fallbacks"], 0);
    assert!(openai["input_tokens"].as_u64().unwrap() > 0);
    gw.stop().await;
}

#[tokio::test]
async fn admin_key_reads_and_revoke_through_http() {
    let mut gw = gateway_with(with_admin_key()).await;
    let (status, _) = admin(
        &gw,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({"slug": "team-x"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, created) = admin(
        &gw,
        reqwest::Method::POST,
        "/admin/tenants/team-x/keys",
        Some(json!({"name": "ci", "allowed_models": ["gpt-*"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let raw = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();

    let (status, listed) = admin(
        &gw,
        reqwest::Method::GET,
        "/admin/tenants/team-x/keys",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["name"], "ci");
    assert_eq!(keys[0]["allowed_models"], json!(["gpt-*"]));
    assert_eq!(keys[0]["revoked"], false);
    // The raw key is shown once, at creation, never again.
    assert!(!listed.to_string().contains(&raw));
    let (status, _) = admin(
        &gw,
        reqwest::Method::GET,
        "/admin/tenants/nobody/keys",
        None,
    )
    .await;
    assert_eq!(status, 404);

    for which in [id.as_str(), prefix.as_str()] {
        let (status, key) = admin(
            &gw,
            reqwest::Method::GET,
            &format!("/admin/keys/{which}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{which}");
        assert_eq!(key["id"], id.as_str(), "{which}");
        assert!(!key.to_string().contains(&raw));
    }
    let (status, _) = admin(&gw, reqwest::Method::GET, "/admin/keys/ax-nothing", None).await;
    assert_eq!(status, 404);

    // The key works until it is revoked by DELETE.
    let call = |key: String| {
        let gw = &gw;
        async move {
            gw.http
                .post(format!("{}/v1/chat/completions", gw.url))
                .bearer_auth(key)
                .json(&common::openai_body("gpt-4o-mini", false))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(call(raw.clone()).await.status(), 200);
    let (status, revoked) = admin(
        &gw,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    let (_, key) = admin(
        &gw,
        reqwest::Method::GET,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(key["revoked"], true, "{key}");
    let r = call(raw).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // Provider configs are seeded with the three providers; the key is never shown.
    let (status, claude) = admin(
        &gw,
        reqwest::Method::GET,
        "/admin/provider-configs/claude",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(claude["provider"], "claude", "{claude}");
    assert_eq!(claude["priority"], 1);
    assert_eq!(claude["default_model"], "claude-3-5-sonnet-20241022");
    assert_eq!(claude["has_api_key"], false);
    let (status, _) = admin(
        &gw,
        reqwest::Method::GET,
        "/admin/provider-configs/nobody",
        None,
    )
    .await;
    assert_eq!(status, 404);
    gw.stop().await;
}

#[tokio::test]
async fn an_error_body_names_the_status_sent() {
    // Before, a Gemini client got HTTP 413 with `"code": 400` in the body.
    let mut setup = Setup::default();
    setup.env.insert("AX_MAX_BODY_BYTES".into(), "1024".into());
    let mut gw = gateway_with(setup).await;
    let big = json!({"contents": [{"role": "user", "parts": [{"text": "x".repeat(4096)}]}]});
    let r = gw
        .post("/v1beta/models/gemini-2.0-flash:generateContent", &big, &[])
        .await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 413, "{body}");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
    // The other formats say it in their own words, with the same status.
    let r = gw
        .post(
            "/v1/messages",
            &json!({"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": "x".repeat(4096)}]}),
            &[],
        )
        .await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn gemini_stream_without_alt_sse_is_one_json_array() {
    // What the REST API sends without `?alt=sse` (ax used to send SSE regardless).
    let mut gw = gateway().await;
    for model in ["gemini-2.0-flash", "openai/gpt-4o-mini"] {
        let r = gw
            .post(
                &format!("/v1beta/models/{model}:streamGenerateContent"),
                &common::gemini_body(),
                &[],
            )
            .await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["content-type"], "application/json", "{model}");
        let text = r.text().await.unwrap();
        let items: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{model}: {e}: {text}"));
        assert!(items.len() > 1, "{model}: {text}");
        let answer: String = items
            .iter()
            .map(|i| common::reply_text(Client::Gemini, i))
            .collect();
        assert!(answer.starts_with("Hello from mock-"), "{model}: {answer}");
        assert_eq!(
            items.last().unwrap()["candidates"][0]["finishReason"],
            "STOP",
            "{model}: {text}"
        );
    }
    // A stream that fails midway ends the array with the error.
    gw.gemini.push_script(
        "/v1beta/models",
        vec![ax_mock_upstream::Scripted::error_after(2)],
    );
    let r = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
            &common::gemini_body(),
            &[("x-ax-fallback", "off")],
        )
        .await;
    let text = r.text().await.unwrap();
    let items: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        items.last().unwrap()["error"]["message"].is_string(),
        "{text}"
    );
    gw.stop().await;
}
