//! Anthropic Messages as current clients send it (a Claude Code 2.x-shaped request:
//! system blocks and a `system`-role entry in `messages`, `cache_control` on blocks,
//! adaptive thinking with `output_config.effort`, `context_management`,
//! `disable_parallel_tool_use`, a beta-only field ax does not know), through the real
//! server to the strict mock of each provider kind: translated for OpenAI and Gemini
//! (200 and text back, in a body each real API accepts), forwarded unchanged to
//! Anthropic with the client's `anthropic-version` and `anthropic-beta`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Client, gateway, reply_text, stream_text};
use serde_json::{Value, json};

const CLAUDE_CODE: &str =
    include_str!("../../ax-providers/tests/fixtures/anthropic/claude_code_request.json");

const BETAS: &str =
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27";

fn claude_code(model: &str, stream: bool) -> Value {
    let mut body: Value = serde_json::from_str(CLAUDE_CODE).unwrap();
    body["model"] = json!(model);
    body["stream"] = json!(stream);
    body
}

/// Sends the request in Anthropic format with Claude Code's headers; the reply's text.
async fn ask(gw: &common::Gateway, model: &str, stream: bool) -> String {
    let resp = gw
        .post(
            "/v1/messages",
            &claude_code(model, stream),
            &[
                ("x-ax-fallback", "off"),
                ("anthropic-version", "2023-01-01"),
                ("anthropic-beta", BETAS),
            ],
        )
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{model} stream={stream}: {text}");
    if stream {
        stream_text(Client::Anthropic, &text)
    } else {
        reply_text(Client::Anthropic, &serde_json::from_str(&text).unwrap())
    }
}

/// Whether `key` appears anywhere in `v`.
fn has_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k == key || has_key(v, key)),
        Value::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

#[tokio::test]
async fn a_claude_code_request_is_served_by_openai() {
    let mut gw = gateway().await;
    for stream in [true, false] {
        let text = ask(&gw, "openai/gpt-4o", stream).await;
        assert!(!text.is_empty(), "stream={stream}");
        let sent = gw.openai.last_body("/v1/chat/completions").unwrap();
        let roles: Vec<&str> = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        // The system-role entry stays where the client put it.
        assert_eq!(
            roles,
            ["system", "user", "assistant", "tool", "system", "user"]
        );
        assert_eq!(
            sent["messages"][4]["content"],
            "Plan mode is active: do not edit files."
        );
        assert_eq!(sent["parallel_tool_calls"], false);
        // gpt-4o does not reason: no `reasoning_effort` (the real API refuses it).
        assert!(sent.get("reasoning_effort").is_none(), "{sent}");
        for dropped in ["cache_control", "context_management", "speed", "thinking"] {
            assert!(!has_key(&sent, dropped), "{dropped} in {sent}");
        }
    }
    // Each log row lists what the translation dropped, streamed or not.
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 2);
    for row in &logs {
        assert!(
            row.tags.iter().any(|t| t == "dropped:context_management"),
            "{:?}",
            row.tags
        );
        assert!(
            row.tags
                .iter()
                .any(|t| t.starts_with("dropped:") && t.ends_with("cache_control")),
            "{:?}",
            row.tags
        );
    }
}

#[tokio::test]
async fn a_claude_code_request_is_served_by_gemini() {
    let mut gw = gateway().await;
    for stream in [true, false] {
        let text = ask(&gw, "gemini/gemini-2.0-flash", stream).await;
        assert!(!text.is_empty(), "stream={stream}");
        let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
        // Gemini's one place for instructions gets both, in order.
        assert_eq!(
            sent["systemInstruction"]["parts"],
            json!([
                {"text": "You are Claude Code, Anthropic's official CLI for Claude."},
                {"text": "You are an interactive CLI tool that helps users with software engineering tasks."},
                {"text": "Plan mode is active: do not edit files."}
            ])
        );
        // gemini-2.0-flash does not think: no `thinkingConfig` (the real API refuses it).
        assert!(!has_key(&sent, "thinkingConfig"), "{sent}");
        assert!(!has_key(&sent, "cache_control"), "{sent}");
    }
    // A model that thinks gets the client's effort as a budget.
    ask(&gw, "gemini/gemini-2.5-flash", false).await;
    let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        24576
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_claude_code_request_reaches_anthropic_unchanged_with_its_headers() {
    let mut gw = gateway().await;
    for stream in [true, false] {
        let text = ask(&gw, "claude/claude-sonnet-4-5", stream).await;
        assert!(!text.is_empty(), "stream={stream}");
        let sent = gw.claude.last_body("/v1/messages").unwrap();
        let mut expected = claude_code("claude-sonnet-4-5", stream);
        if !stream {
            expected.as_object_mut().unwrap().remove("stream");
        }
        // Every field, `cache_control`, the system entry, `context_management` and the
        // beta-only `speed` included, as the client sent them.
        assert_eq!(sent, expected);
        let headers = gw.claude.last_headers("/v1/messages").unwrap();
        assert_eq!(headers["anthropic-version"], "2023-01-01");
        assert_eq!(headers["anthropic-beta"], BETAS);
        assert_eq!(headers.get_all("anthropic-version").iter().count(), 1);
    }
    // The same-format path drops nothing, so its rows list nothing.
    // (Checked on the rows below, after the last request.)
    // Without the client's headers: the fixed version, no beta.
    let resp = gw
        .post(
            "/v1/messages",
            &json!({"model": "claude/claude-sonnet-4-5", "max_tokens": 64,
                    "messages": [{"role": "user", "content": "hi"}]}),
            &[("x-ax-fallback", "off")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let headers = gw.claude.last_headers("/v1/messages").unwrap();
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers.get("anthropic-beta").is_none());
    let logs = gw.stop().await;
    assert!(
        logs.iter()
            .all(|row| row.tags.iter().all(|t| !t.starts_with("dropped:"))),
        "{logs:?}"
    );
}

#[tokio::test]
async fn the_log_keeps_the_body_as_the_client_sent_it() {
    let mut gw = gateway().await;
    let body = claude_code("openai/gpt-4o", false);
    let resp = gw
        .post("/v1/messages", &body, &[("x-ax-fallback", "off")])
        .await;
    assert_eq!(resp.status(), 200);
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1);
    let logged: Value = serde_json::from_str(logs[0].request_data.as_deref().unwrap()).unwrap();
    // The system entry is still the fourth message, between the tool result and the
    // next question.
    assert_eq!(logged, body);
    assert_eq!(logged["messages"][3]["role"], "system");
}
