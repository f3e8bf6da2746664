//! `/metrics` carries only configured label values: model names clients make up are
//! counted as `model="other"`, so they add no series and are not shown to anyone who
//! can read `/metrics` (issue 12, defect 5).
//!
//! One test in this file: the Prometheus recorder is process-wide, so a second server
//! in the same test binary would count into the same series.

#![allow(clippy::expect_used, reason = "tests: a failure is a test failure")]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{anthropic_body, eventually, gateway, gemini_body, openai_body};
use serde_json::Value;
use tokio::task::JoinSet;

/// Requests sent at once.
const CONCURRENCY: usize = 8;

/// The kinds of request a client can make up a model name in, and the status each gets.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// OpenAI format, `mock/<name>`: the mock answers any model (200).
    MockPrefixed,
    /// Anthropic format, a bare name no provider serves (404).
    BareUnknown,
    /// Gemini format, `mock/<name>` in the path (200).
    GeminiMock,
    /// OpenAI format, `openai/<name>`: the upstream answers any model (200).
    OpenAiPrefixed,
}

const KINDS: [Kind; 4] = [
    Kind::MockPrefixed,
    Kind::BareUnknown,
    Kind::GeminiMock,
    Kind::OpenAiPrefixed,
];

/// Sends one request of `kind` for the made-up `name`; returns its status.
async fn send(http: reqwest::Client, base: String, kind: Kind, name: String) -> u16 {
    let (path, body): (String, Value) = match kind {
        Kind::MockPrefixed => (
            "/v1/chat/completions".into(),
            openai_body(&format!("mock/{name}"), false),
        ),
        Kind::BareUnknown => ("/v1/messages".into(), anthropic_body(&name, false)),
        Kind::GeminiMock => (
            format!("/v1beta/models/mock/{name}:generateContent"),
            gemini_body(),
        ),
        Kind::OpenAiPrefixed => (
            "/v1/chat/completions".into(),
            openai_body(&format!("openai/{name}"), false),
        ),
    };
    let resp = http
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .expect("request reaches ax");
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    status
}

/// Series (sample lines) in a `/metrics` text.
fn series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// The sum of every `ax_requests_total` series.
fn requests_counted(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("ax_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Sends `n` requests with fresh names `<prefix><i>`, cycling through [`KINDS`].
async fn made_up_requests(gw: &common::Gateway, prefix: &str, n: usize) {
    let mut i = 0;
    while i < n {
        let mut batch = JoinSet::new();
        for j in i..(i + CONCURRENCY).min(n) {
            let kind = KINDS[j % KINDS.len()];
            let name = format!("{prefix}{j}");
            batch.spawn(send(gw.http.clone(), gw.url.clone(), kind, name));
        }
        while let Some(status) = batch.join_next().await {
            let status = status.expect("request task");
            assert!(
                status == 200 || status == 404,
                "made-up model: status {status}"
            );
        }
        i += CONCURRENCY;
    }
}

/// Waits until `/metrics` has counted at least `n` requests; returns its text.
async fn metrics_after(gw: &common::Gateway, n: f64) -> String {
    let mut text = String::new();
    let counted = eventually(Duration::from_secs(30), async || {
        text = gw.metrics().await;
        requests_counted(&text) >= n
    })
    .await;
    assert!(
        counted,
        "only {} of {n} requests counted",
        requests_counted(&text)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_model_names_add_no_series() {
    let mut gw = gateway().await;
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("madeup{nonce:x}n");

    // Configured names keep their own label.
    for model in ["openai/gpt-4o", "claude-3-5-sonnet-20241022"] {
        let resp = gw.openai_chat(model, false, &[]).await;
        assert_eq!(resp.status(), 200, "{model}");
        let _ = resp.bytes().await;
    }
    // One request of each kind first, so every (provider, outcome, format) series a
    // made-up name can reach exists before counting.
    made_up_requests(&gw, &format!("{prefix}warm"), KINDS.len()).await;
    let warm = 2.0 + KINDS.len() as f64;
    let before = metrics_after(&gw, warm).await;
    assert!(
        before.contains("model=\"gpt-4o\"")
            && before.contains("model=\"claude-3-5-sonnet-20241022\""),
        "configured models lose their label:\n{before}"
    );

    made_up_requests(&gw, &prefix, 1000).await;
    let after = metrics_after(&gw, warm + 1000.0).await;

    let (b, a) = (series(&before), series(&after));
    eprintln!(
        "/metrics: {b} series ({} bytes) before 1,000 made-up names, {a} ({} bytes) after",
        before.len(),
        after.len()
    );
    assert!(
        a <= b + 4,
        "1,000 made-up model names grew /metrics from {b} to {a} series ({} to {} bytes)",
        before.len(),
        after.len()
    );
    let leaked: Vec<&str> = after
        .lines()
        .filter(|l| l.contains(&prefix))
        .take(5)
        .collect();
    assert!(
        leaked.is_empty(),
        "made-up model names in /metrics: {leaked:#?}"
    );
    assert!(after.contains("model=\"other\""), "{after}");
    gw.stop().await;
}
