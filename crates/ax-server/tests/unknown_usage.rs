//! Unknown is not zero, through the real server: an upstream usage object missing its
//! output count is logged with an estimate and `tokens_estimated`, for every provider
//! codec, streamed or not; an unpriced model's cost is `null` in `/admin/logs` and
//! `/admin/stats`; and quota counters restored at start count a log row whose tenant
//! ID cannot be read against the tenant of its key.
//!
//! The upstreams here are a small axum stub, not the shared mock upstream: each reply
//! is a valid answer in its provider's format whose usage lacks the output count.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "integration tests: a failure is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{Setup, eventually, gateway_with, openai_body};
use serde_json::{Value, json};

/// The answer every stub reply carries: 40 characters, so 10 estimated tokens.
const TEXT: &str = "Partial usage: no output count was sent.";
/// The estimate of [`TEXT`]: characters / 4, rounded up.
const TEXT_TOKENS: i64 = 10;
/// The prompt count every stub reply does report.
const PROMPT_TOKENS: i64 = 11;
const ADMIN_KEY: &str = "admin-unknown-usage";

fn sse(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn wants_stream(body: &Value) -> bool {
    body["stream"].as_bool().unwrap_or(false)
}

/// OpenAI: `usage` with `prompt_tokens` only (no `completion_tokens`, no total).
async fn openai(axum::Json(body): axum::Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or("m").to_owned();
    if !wants_stream(&body) {
        return axum::Json(json!({
            "id": "chatcmpl-partial", "object": "chat.completion", "created": 1,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": PROMPT_TOKENS}
        }))
        .into_response();
    }
    let chunk = |choices: Value, usage: Value| {
        let mut c = json!({"id": "chatcmpl-partial", "object": "chat.completion.chunk",
                           "created": 1, "model": model, "choices": choices});
        if !usage.is_null() {
            c["usage"] = usage;
        }
        format!("data: {c}\n\n")
    };
    let (a, b) = TEXT.split_at(20);
    let mut out = String::new();
    out += &chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": a}, "finish_reason": null}]),
        Value::Null,
    );
    out += &chunk(
        json!([{"index": 0, "delta": {"content": b}, "finish_reason": null}]),
        Value::Null,
    );
    out += &chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        Value::Null,
    );
    out += &chunk(json!([]), json!({"prompt_tokens": PROMPT_TOKENS}));
    out += "data: [DONE]\n\n";
    sse(out)
}

/// Anthropic: `usage` with `input_tokens` only; streamed, `message_start` carries its
/// usual `output_tokens: 1` and `message_delta` no output count at all.
async fn anthropic(axum::Json(body): axum::Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or("m").to_owned();
    if !wants_stream(&body) {
        return axum::Json(json!({
            "id": "msg_partial", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": PROMPT_TOKENS}
        }))
        .into_response();
    }
    let frames = [
        json!({"type": "message_start", "message": {
            "id": "msg_partial", "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": TEXT}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {}}),
        json!({"type": "message_stop"}),
    ];
    let out: String = frames
        .iter()
        .map(|f| format!("event: {}\ndata: {f}\n\n", f["type"].as_str().unwrap_or("")))
        .collect();
    sse(out)
}

/// Gemini: `usageMetadata` with the prompt count only.
async fn gemini(Path(rest): Path<String>) -> Response {
    let reply = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": TEXT}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS},
        "modelVersion": "m"
    });
    if rest.contains(":streamGenerateContent") {
        sse(format!("data: {reply}\n\n"))
    } else {
        axum::Json(reply).into_response()
    }
}

/// Starts the stub on loopback and returns its base URL.
async fn stub() -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .route("/v1beta/models/{*rest}", post(gemini));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A gateway with three more providers, `stub-openai`, `stub-claude` and
/// `stub-gemini`, all served by the stub, and an admin key.
async fn gateway_with_stub() -> common::Gateway {
    let base = stub().await;
    let extra_toml = format!(
        r#"
[[providers]]
name = "stub-openai"
kind = "openai"
api_key = "k"
base_url = "{base}/v1"
max_retries = 0

[[providers]]
name = "stub-claude"
kind = "anthropic"
api_key = "k"
base_url = "{base}"
max_retries = 0

[[providers]]
name = "stub-gemini"
kind = "gemini"
api_key = "k"
base_url = "{base}"
max_retries = 0
"#
    );
    let mut env = BTreeMap::new();
    env.insert("AX_ADMIN_KEY".to_owned(), ADMIN_KEY.to_owned());
    gateway_with(Setup {
        extra_toml,
        env,
        ..Setup::default()
    })
    .await
}

/// Sends one OpenAI-format request for `model` (fallback off) and reads the whole
/// answer; returns the request ID.
async fn ask(gw: &common::Gateway, model: &str, stream: bool) -> String {
    let r = gw
        .post(
            "/v1/chat/completions",
            &openai_body(model, stream),
            &[("x-ax-fallback", "off")],
        )
        .await;
    assert_eq!(r.status(), 200, "{model} stream={stream}");
    let id = r.headers()["x-ax-request-id"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Partial usa"),
        "{model} stream={stream}: {body}"
    );
    id
}

#[tokio::test]
async fn a_missing_output_count_is_estimated_and_marked_for_every_codec() {
    let mut gw = gateway_with_stub().await;
    let mut asked = Vec::new();
    for provider in ["stub-openai", "stub-claude", "stub-gemini"] {
        for stream in [false, true] {
            let id = ask(&gw, &format!("{provider}/some-model"), stream).await;
            asked.push((provider, stream, id));
        }
    }
    let logs = gw.stop().await;
    for (provider, stream, id) in asked {
        let row = logs
            .iter()
            .find(|r| r.request_id == id)
            .unwrap_or_else(|| panic!("no log row for {provider} stream={stream}"));
        assert_eq!(row.state, "completed", "{provider} stream={stream}");
        assert_eq!(
            (row.input_tokens, row.output_tokens, row.tokens_estimated),
            (Some(PROMPT_TOKENS), Some(TEXT_TOKENS), Some(true)),
            "{provider} stream={stream}: the reported input is kept, the missing output \
             estimated (characters / 4) and the row marked estimated"
        );
    }
}

#[tokio::test]
async fn an_unpriced_model_has_null_cost_in_admin_logs_and_stats() {
    let gw = gateway_with_stub().await;
    let unpriced = ask(&gw, "stub-openai/my-local-model", false).await;
    let priced = ask(&gw, "stub-openai/gpt-4o-mini", false).await;
    let admin = |path: &'static str| {
        let gw = &gw;
        async move {
            let r = gw
                .http
                .get(format!("{}{path}", gw.url))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    // The log writer is asynchronous: wait for both rows.
    let mut logs = Value::Null;
    let written = eventually(Duration::from_secs(30), async || {
        logs = admin("/admin/logs?limit=100").await;
        let ids: Vec<&str> = logs["logs"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["request_id"].as_str()).collect())
            .unwrap_or_default();
        ids.contains(&unpriced.as_str()) && ids.contains(&priced.as_str())
    })
    .await;
    assert!(written, "rows never appeared: {logs}");
    let row = |id: &str| {
        logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap()
    };
    let u = row(&unpriced);
    assert_eq!(u["model"], "my-local-model", "{u}");
    assert_eq!(
        u["cost_usd"],
        Value::Null,
        "unknown cost is null, not 0: {u}"
    );
    assert_eq!(u["input_tokens"], PROMPT_TOKENS, "{u}");
    let p = row(&priced);
    let cost = p["cost_usd"].as_f64().unwrap_or_else(|| panic!("{p}"));
    // gpt-4o-mini: 11 input tokens at $0.15/M, 10 (estimated) output at $0.60/M.
    let want = (11.0 * 0.15 + 10.0 * 0.60) / 1e6;
    assert!((cost - want).abs() < 1e-12, "{cost} != {want}");

    let stats = admin("/admin/stats").await;
    let stat = |model: &str| {
        stats["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["provider"] == "stub-openai" && r["model"] == model)
            .cloned()
            .unwrap_or_else(|| panic!("no {model} row: {stats}"))
    };
    let u = stat("my-local-model");
    assert_eq!(u["cost_usd"], Value::Null, "{u}");
    assert_eq!(u["unpriced_requests"], 1, "{u}");
    let p = stat("gpt-4o-mini");
    assert!(p["cost_usd"].as_f64().is_some(), "{p}");
    assert_eq!(p["unpriced_requests"], 0, "{p}");
}

#[tokio::test]
async fn quota_restore_counts_a_row_whose_tenant_cannot_be_read_for_its_key() {
    use ax_core::tenant::{Quotas, TenantStatus};
    use ax_store::tenancy::{NewApiKey, NewTenant, TenantStore};
    use ax_store::{LogRecord, LogSink};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ax.db").display());
    let store = ax_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = store
        .create_tenant(
            &NewTenant {
                slug: "team-restore".into(),
                name: None,
                status: TenantStatus::Active,
                quotas: Quotas {
                    tpd: Some(100),
                    ..Default::default()
                },
            },
            "test",
        )
        .await
        .unwrap();
    let key = store
        .create_key(tenant.id, &NewApiKey::default(), "test")
        .await
        .unwrap();
    // Today the key used the whole daily quota, but the row's tenant ID is damaged
    // (an older format, a hand edit): only its key says whose usage it was.
    let mut r = LogRecord::new("spent-today", ax_core::lifecycle::State::Completed);
    r.provider = Some("mock".into());
    r.model = Some("m".into());
    r.tenant_id = Some(tenant.id);
    r.key_id = Some(key.key.id);
    r.usage = ax_core::Usage {
        input_tokens: 500,
        ..Default::default()
    };
    store.write_batch(&[r]).await.unwrap();
    sqlx::query("UPDATE provider_logs SET tenant_id = 'not-a-tenant-id'")
        .execute(&sqlx::SqlitePool::connect(&url).await.unwrap())
        .await
        .unwrap();
    store.close().await;

    let toml = format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n");
    let config = ax_server::Config::from_toml_str(&toml, &BTreeMap::new()).unwrap();
    let server = ax_server::start(
        config,
        ax_server::ServeOptions::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .bearer_auth(&key.secret)
        .json(&openai_body("mock/anything", false))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(
        status, 429,
        "the restored day's tokens must count against the quota: {body}"
    );
    assert!(body.contains("tokens-per-day"), "{body}");
    server.shutdown().await.unwrap();
}
