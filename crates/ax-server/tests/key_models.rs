//! A gateway key's model allow-list applies to every target its plan may call:
//! fallbacks, routes, hedges and `provider/model` prefixes (issue 12, defect 3).
//! Before, only the requested name was checked, so a `gpt-*` key reached Claude through
//! the fallback chain, through a route named `gpt-smart`, or as `claude/gpt-4o`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ax_mock_upstream::MockConfig;
use common::{Gateway, Setup, gateway_with, openai_body};
use serde_json::Value;

/// A gateway whose only key allows `patterns`, and that key.
async fn gateway_with_key(setup: Setup, patterns: &[&str]) -> (Gateway, String) {
    let gw = gateway_with(setup).await;
    let key = gw.add_key("team", Some(patterns)).await;
    (gw, key)
}

async fn chat(gw: &Gateway, key: &str, model: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&openai_body(model, false));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn expect_403(r: reqwest::Response, model: &str) {
    assert_eq!(r.status(), 403, "{model}");
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("may not use model"), "{model}: {body}");
}

#[tokio::test]
async fn fallback_skips_providers_the_key_may_not_use() {
    let (mut gw, key) = gateway_with_key(Setup::default(), &["gpt-*"]).await;
    gw.openai.set_default(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    });
    let r = chat(&gw, &key, "gpt-4o", &[]).await;
    // OpenAI failed; Claude and Gemini (the fallback chain's defaults) are not allowed,
    // so the request fails instead of being answered by Claude.
    assert_eq!(r.status(), 502, "{:?}", r.headers());
    assert_ne!(header(&r, "x-ax-provider"), Some("claude"));
    assert_eq!(gw.claude.total_hits(), 0);
    assert_eq!(gw.gemini.total_hits(), 0);
    assert!(gw.openai.hits("/v1/chat/completions") >= 1);

    // With OpenAI healthy again, the same key is served by OpenAI.
    gw.openai.set_default(MockConfig::default());
    gw.server
        .as_ref()
        .unwrap()
        .state
        .router()
        .reset_circuit("openai");
    let r = chat(&gw, &key, "gpt-4o", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ax-provider"), Some("openai"));

    // The dry run shows the restricted plan: OpenAI only.
    let r = chat(&gw, &key, "gpt-4o", &[("x-ax-dry-run", "true")]).await;
    assert_eq!(r.status(), 200);
    let plan: Value = r.json().await.unwrap();
    let providers: Vec<&str> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["openai"], "{plan}");
    let rows = gw.stop().await;
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn a_route_whose_targets_the_key_may_not_use_is_refused() {
    let setup = Setup {
        extra_toml: r#"
[[routes]]
name = "gpt-smart"
targets = ["claude"]

[[routes]]
name = "gpt-hedged"
targets = ["claude", "openai/gpt-4o-mini"]
hedge_after_ms = 1
"#
        .into(),
        ..Setup::default()
    };
    let (mut gw, key) = gateway_with_key(setup, &["gpt-*"]).await;
    expect_403(chat(&gw, &key, "gpt-smart", &[]).await, "gpt-smart").await;
    // A hedged route keeps only the allowed target: Claude is never started, even
    // when the hedge delay has passed long before OpenAI answers.
    gw.openai.set_default(MockConfig {
        latency_ms: 200,
        ..MockConfig::default()
    });
    let r = chat(&gw, &key, "gpt-hedged", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ax-provider"), Some("openai"));
    assert_eq!(gw.claude.total_hits(), 0);
    let rows = gw.stop().await;
    assert_eq!(rows[0].error_code.as_deref(), Some("permission_denied"));
}

#[tokio::test]
async fn a_provider_prefix_does_not_carry_an_allowed_name_to_another_provider() {
    let (mut gw, key) = gateway_with_key(Setup::default(), &["gpt-*"]).await;
    for model in ["claude/gpt-4o", "anthropic/gpt-4o", "gemini/gpt-4o"] {
        expect_403(chat(&gw, &key, model, &[]).await, model).await;
    }
    assert_eq!(gw.claude.total_hits(), 0);
    assert_eq!(gw.gemini.total_hits(), 0);
    // The prefix of the provider that serves the name is fine.
    let r = chat(&gw, &key, "openai/gpt-4o", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ax-provider"), Some("openai"));
    gw.stop().await;
}

#[tokio::test]
async fn provider_patterns_allow_a_provider_by_name_or_kind() {
    let (mut gw, key) =
        gateway_with_key(Setup::default(), &["openai/*", "anthropic/claude-3-*"]).await;
    for (model, provider) in [
        ("openai/o3-mini", "openai"),
        ("gpt-4o", "openai"),
        ("claude-3-haiku-20240307", "claude"),
    ] {
        let r = chat(&gw, &key, model, &[("x-ax-fallback", "off")]).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(header(&r, "x-ax-provider"), Some(provider), "{model}");
    }
    expect_403(
        chat(&gw, &key, "gemini-2.0-flash", &[]).await,
        "gemini-2.0-flash",
    )
    .await;
    expect_403(
        chat(&gw, &key, "claude/claude-opus-4", &[]).await,
        "claude/claude-opus-4",
    )
    .await;
    assert_eq!(gw.gemini.total_hits(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn embeddings_are_restricted_too() {
    let (mut gw, key) = gateway_with_key(Setup::default(), &["gpt-*"]).await;
    let r = gw
        .http
        .post(format!("{}/v1/embeddings", gw.url))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "gemini/text-embedding-004", "input": "hi"}))
        .send()
        .await
        .unwrap();
    expect_403(r, "gemini/text-embedding-004").await;
    assert_eq!(gw.gemini.total_hits(), 0);
    gw.stop().await;
}
