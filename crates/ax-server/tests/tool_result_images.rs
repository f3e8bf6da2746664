//! Images inside tool results (Claude Code's `Read` of a PNG: an Anthropic `tool_result`
//! holding an `image` block) through the real server to the strict mocks of OpenAI and
//! Gemini: 200, and the upstream body carries the image — OpenAI in a `user` message
//! after the turn's `tool` messages, Gemini as `inlineData` after its `functionResponse`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::gateway;
use serde_json::{Value, json};

/// A 1×1 PNG, base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A Claude Code-shaped turn: `Read` called on a PNG, its result holding `content`.
fn read_png(model: &str, content: &Value) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "tools": [{
            "name": "Read",
            "description": "Reads a file",
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}
        }],
        "messages": [
            {"role": "user", "content": "What is in shot.png?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "shot.png"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": content}
            ]}
        ]
    })
}

fn image() -> Value {
    json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}})
}

async fn send(gw: &common::Gateway, body: &Value) {
    let resp = gw
        .post(
            "/v1/messages",
            body,
            &[
                ("x-ax-fallback", "off"),
                ("anthropic-version", "2023-06-01"),
            ],
        )
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{}: {text}", body["model"]);
}

#[tokio::test]
async fn tool_result_images_reach_openai() {
    let gw = gateway().await;
    for content in [
        json!([{"type": "text", "text": "shot.png"}, image()]),
        json!([image()]),
    ] {
        send(&gw, &read_png("openai/gpt-4o", &content)).await;
        let sent = gw.openai.last_body("/v1/chat/completions").unwrap();
        let m = sent["messages"].as_array().unwrap();
        let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "user"], "{content}");
        assert_eq!(m[2]["tool_call_id"], "toolu_01");
        assert!(m[2]["content"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(
            m[3]["content"],
            json!([
                {"type": "text", "text": "Images from tool call toolu_01:"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}
            ])
        );
    }
}

#[tokio::test]
async fn tool_result_images_reach_gemini() {
    let gw = gateway().await;
    for content in [
        json!([{"type": "text", "text": "shot.png"}, image()]),
        json!([image()]),
    ] {
        send(&gw, &read_png("gemini/gemini-2.5-flash", &content)).await;
        let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
        let last = sent["contents"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["role"], "user");
        let parts = last["parts"].as_array().unwrap();
        assert_eq!(parts[0]["functionResponse"]["name"], "Read", "{content}");
        assert_eq!(parts[1]["text"], "Images from the Read call:");
        assert_eq!(
            parts[2]["inlineData"],
            json!({"mimeType": "image/png", "data": PNG})
        );
        assert_eq!(parts.len(), 3);
    }
}
