//! The circuit breaker seen from outside: zero upstream calls while open, one probe
//! when half-open, closed again on success, re-opened on failure, manual reset.

mod common;

use std::time::Duration;

use ax_mock_upstream::{MockConfig, Scripted};
use common::{Setup, gateway_with};
use serde_json::Value;

const CLAUDE: &str = "/v1/messages";
const MODEL: &str = "claude/claude-3-5-sonnet-20241022";

/// Threshold 3, retries 0 (each request is one counted failure), open for 3 s: the
/// handful of local requests a test makes while it expects the circuit open take
/// milliseconds, so even a loaded machine stays well inside the window.
fn setup() -> Setup {
    Setup {
        provider_lines: "max_retries = 0\n".into(),
        router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 3\ncircuit_timeout_ms = 3000\n"
            .into(),
        ..Setup::default()
    }
}

/// Waits until the admin API reports claude's circuit half-open (the event itself,
/// not a guess at how long the open period takes to pass).
async fn until_half_open(gw: &common::Gateway) {
    let half_open = common::eventually(Duration::from_secs(30), async || {
        gw.provider_status("claude").await["circuit"]["state"] == "half_open"
    })
    .await;
    assert!(half_open, "the circuit never became half-open");
}

async fn open_claude(gw: &common::Gateway) {
    gw.claude.set_default(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    });
    for _ in 0..3 {
        let resp = gw.openai_chat(MODEL, false, &[]).await;
        assert_eq!(resp.status(), 200, "served by the fallback");
    }
    assert_eq!(gw.claude.hits(CLAUDE), 3);
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["circuit"]["state"], "open", "{claude}");
}

#[tokio::test]
async fn an_open_circuit_gets_zero_calls_then_one_half_open_probe_that_closes_it() {
    let mut gw = gateway_with(setup()).await;
    open_claude(&gw).await;
    assert!(
        gw.metrics()
            .await
            .contains("ax_circuit_state{provider=\"claude\"} 2")
    );

    // While open: requests are served by the fallback, claude receives nothing.
    for _ in 0..5 {
        let resp = gw.openai_chat(MODEL, false, &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ax-provider"], "gemini");
    }
    assert_eq!(
        gw.claude.hits(CLAUDE),
        3,
        "zero calls while the circuit is open"
    );

    // After the open time, exactly one probe goes through; it succeeds and closes.
    until_half_open(&gw).await;
    gw.claude.set_default(MockConfig::default());
    let resp = gw.openai_chat(MODEL, false, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ax-provider"], "claude");
    assert_eq!(gw.claude.hits(CLAUDE), 4, "one probe");
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["circuit"]["state"], "closed", "{claude}");
    assert!(
        gw.metrics()
            .await
            .contains("ax_circuit_state{provider=\"claude\"} 0")
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_failed_half_open_probe_reopens_the_circuit() {
    let mut gw = gateway_with(setup()).await;
    open_claude(&gw).await;
    until_half_open(&gw).await;
    let resp = gw.openai_chat(MODEL, false, &[]).await;
    assert_eq!(resp.status(), 200, "the probe fails, the fallback answers");
    assert_eq!(gw.claude.hits(CLAUDE), 4, "one probe");
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["circuit"]["state"], "open", "{claude}");
    let resp = gw.openai_chat(MODEL, false, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(gw.claude.hits(CLAUDE), 4, "open again: no call");
    gw.stop().await;
}

#[tokio::test]
async fn half_open_lets_one_probe_through_under_concurrency() {
    let mut gw = gateway_with(setup()).await;
    open_claude(&gw).await;
    until_half_open(&gw).await;
    // A slow, successful probe; requests made while it is in flight go elsewhere.
    gw.claude.set_default(MockConfig::default());
    gw.claude.push_script(CLAUDE, vec![Scripted::latency(3000)]);
    let probe = {
        let http = gw.http.clone();
        let url = format!("{}/v1/chat/completions", gw.url);
        tokio::spawn(async move {
            http.post(url)
                .json(&common::openai_body(MODEL, false))
                .send()
                .await
                .unwrap()
        })
    };
    // The probe has reached claude: from now until it answers (3 s), the circuit is
    // half-open with its one probe taken.
    assert!(
        common::eventually(Duration::from_secs(30), async || gw.claude.hits(CLAUDE)
            == 4)
        .await
    );
    let mut tasks = Vec::new();
    for _ in 0..7 {
        let http = gw.http.clone();
        let url = format!("{}/v1/chat/completions", gw.url);
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&common::openai_body(MODEL, false))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        gw.claude.hits(CLAUDE),
        4,
        "exactly one probe while half-open"
    );
    let probe = probe.await.unwrap();
    assert_eq!(probe.status(), 200);
    assert_eq!(probe.headers()["x-ax-provider"], "claude");
    gw.stop().await;
}

#[tokio::test]
async fn manual_reset_closes_the_circuit_at_once() {
    let mut gw = gateway_with(Setup {
        router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 3\ncircuit_timeout_ms = 60000\n".into(),
        ..setup()
    })
    .await;
    open_claude(&gw).await;
    gw.claude.set_default(MockConfig::default());
    let resp = gw
        .http
        .post(format!("{}/admin/providers/claude/circuit/reset", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["circuit"]["state"], "closed", "{claude}");
    let resp = gw.openai_chat(MODEL, false, &[]).await;
    assert_eq!(resp.headers()["x-ax-provider"], "claude");
    assert_eq!(gw.claude.hits(CLAUDE), 4);

    let unknown = gw
        .http
        .post(format!("{}/admin/providers/nope/circuit/reset", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    gw.stop().await;
}

#[tokio::test]
async fn open_circuit_with_fallback_off_is_503_circuit_open() {
    let mut gw = gateway_with(setup()).await;
    open_claude(&gw).await;
    let resp = gw
        .openai_chat(MODEL, false, &[("x-ax-fallback", "off")])
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("circuit"),
        "{body}"
    );
    assert_eq!(gw.claude.hits(CLAUDE), 3);
    let logs = gw.stop().await;
    let refused = logs.last().unwrap();
    assert_eq!(refused.error_code.as_deref(), Some("circuit_open"));
    // Refused before any call, the row still names the provider and the model.
    assert_eq!(refused.provider.as_deref(), Some("claude"));
    assert_eq!(
        refused.model.as_deref(),
        Some("claude-3-5-sonnet-20241022"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn client_errors_do_not_open_the_circuit() {
    let mut gw = gateway_with(setup()).await;
    gw.claude.set_default(MockConfig {
        status: Some(400),
        ..MockConfig::default()
    });
    for _ in 0..5 {
        assert_eq!(gw.openai_chat(MODEL, false, &[]).await.status(), 400);
    }
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["circuit"]["state"], "closed", "{claude}");
    assert_eq!(gw.claude.hits(CLAUDE), 5);
    gw.stop().await;
}
