//! Translations the real APIs would refuse, driven through the real server against
//! strict mock upstreams (the default `MockConfig`): each request here was sent
//! upstream in a form the provider rejects before ax's translation fixes (issue 15).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::gateway;
use serde_json::{Value, json};

const GEMINI_CLAUDE: &str = "/v1beta/models/claude/claude-sonnet-4-5:generateContent";

async fn ok_json(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_thinking_budget_above_max_tokens_reaches_anthropic_valid() {
    let mut gw = gateway().await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "generationConfig": {"maxOutputTokens": 256, "thinkingConfig": {"thinkingBudget": 2048}}
    });
    let v = ok_json(
        gw.post(GEMINI_CLAUDE, &body, &[("x-ax-fallback", "off")])
            .await,
    )
    .await;
    assert!(v["candidates"][0]["content"]["parts"].is_array(), "{v}");
    let sent = gw.claude.last_body("/v1/messages").unwrap();
    assert_eq!(sent["thinking"]["budget_tokens"], 2048);
    assert_eq!(sent["max_tokens"], 2048 + 256);
    gw.stop().await;
}

#[tokio::test]
async fn a_forced_tool_with_thinking_reaches_anthropic_as_auto() {
    let mut gw = gateway().await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
            "type": "OBJECT", "properties": {"location": {"type": "STRING"}}}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"maxOutputTokens": 4096, "thinkingConfig": {"thinkingBudget": 1024}}
    });
    ok_json(
        gw.post(GEMINI_CLAUDE, &body, &[("x-ax-fallback", "off")])
            .await,
    )
    .await;
    let sent = gw.claude.last_body("/v1/messages").unwrap();
    assert_eq!(sent["tool_choice"]["type"], "auto", "{sent}");
    assert_eq!(sent["thinking"]["type"], "enabled");
    gw.stop().await;
}

#[tokio::test]
async fn an_unsigned_thinking_block_sent_back_never_reaches_anthropic() {
    let mut gw = gateway().await;
    // What ax gave this client on an earlier turn served by a provider without
    // signatures, sent back as it was.
    let body = json!({
        "model": "claude/claude-sonnet-4-5",
        "max_tokens": 512,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Look it up.", "signature": ""},
                {"type": "text", "text": "Sunny."}
            ]},
            {"role": "user", "content": "Thanks"}
        ]
    });
    ok_json(
        gw.post("/v1/messages", &body, &[("x-ax-fallback", "off")])
            .await,
    )
    .await;
    let sent = gw.claude.last_body("/v1/messages").unwrap();
    assert_eq!(
        sent["messages"][1]["content"],
        json!([{"type": "text", "text": "Sunny."}])
    );
    gw.stop().await;
}

/// One finished tool round in OpenAI format: the strict mocks check that every result
/// answers a call of the turn before it, in each provider's terms.
fn openai_tool_round(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "user", "content": "Weather in Paris and the time?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather",
             "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time",
             "parameters": {"type": "object", "properties": {}}}}
        ]
    })
}

#[tokio::test]
async fn a_tool_round_is_valid_for_every_upstream() {
    let mut gw = gateway().await;
    for model in [
        "openai/gpt-4o-mini",
        "claude/claude-sonnet-4-5",
        "gemini/gemini-2.0-flash",
    ] {
        for stream in [false, true] {
            let mut body = openai_tool_round(model);
            body["stream"] = json!(stream);
            let resp = gw
                .post("/v1/chat/completions", &body, &[("x-ax-fallback", "off")])
                .await;
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 200, "{model} stream={stream}: {text}");
            assert!(
                !text.contains("\"error\""),
                "{model} stream={stream}: {text}"
            );
        }
    }
    gw.stop().await;
}
