//! Gemini 3 thought signatures through clients of another format, with no gateway
//! state: an OpenAI or an Anthropic client served by a Gemini 3 upstream (the mock signs
//! its calls and, like the API, refuses a follow-up whose call comes back unsigned) gets
//! a tool call, sends it back with its result in its own format, and the upstream's
//! follow-up request carries the same `thoughtSignature` on the `functionCall` part —
//! complete and streamed. The same conversation continued on an OpenAI upstream gets the
//! ids without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, sse_events};
use serde_json::{Value, json};

const MODEL: &str = "gemini/gemini-3-pro-preview";
const GEN: &str = "/v1beta/models/gemini-3-pro-preview:generateContent";
const STREAM: &str = "/v1beta/models/gemini-3-pro-preview:streamGenerateContent";

fn openai_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

fn anthropic_tools() -> Value {
    json!([{"name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
}

/// The signature the upstream got back is the one the client's call id carried (the
/// strict mock, answering 200, also checked that it is the one it issued).
fn assert_same_signature(sent: &Value, client_id: &str) {
    let carried = ax_providers::tool_ids::thought_signature(client_id)
        .1
        .unwrap_or_else(|| panic!("the call id carries no signature: {client_id}"));
    assert_eq!(sent.as_str(), Some(carried.as_str()), "{client_id}");
    assert!(carried.len() > 300, "{carried}");
}

/// The `functionCall` parts of the last request the Gemini upstream got on `path`.
fn upstream_calls(gw: &common::Gateway, path: &str) -> Vec<Value> {
    let body = gw.gemini.last_body(path).expect("gemini upstream called");
    body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .flat_map(|c| c["parts"].as_array().unwrap().clone())
        .filter(|p| p.get("functionCall").is_some())
        .collect()
}

/// An OpenAI client's streamed assistant message, put together as clients do.
fn openai_streamed_message(body: &str) -> Value {
    let mut calls: Vec<Value> = Vec::new();
    for (_, data) in sse_events(body) {
        if data == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(&data).unwrap();
        for tc in v["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                calls.push(json!({"id": "", "type": "function",
                    "function": {"name": "", "arguments": ""}}));
            }
            if let Some(id) = tc["id"].as_str() {
                calls[i]["id"] = json!(id);
            }
            if let Some(n) = tc["function"]["name"].as_str() {
                calls[i]["function"]["name"] = json!(n);
            }
            if let Some(a) = tc["function"]["arguments"].as_str() {
                let args = format!("{}{a}", calls[i]["function"]["arguments"].as_str().unwrap());
                calls[i]["function"]["arguments"] = json!(args);
            }
        }
    }
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}

/// An Anthropic client's streamed content blocks, put together as the SDK does.
fn anthropic_streamed_content(body: &str) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    for (_, data) in sse_events(body) {
        let v: Value = serde_json::from_str(&data).unwrap();
        match v["type"].as_str().unwrap_or("") {
            "content_block_start" => {
                blocks.push(v["content_block"].clone());
                args.push(String::new());
            }
            "content_block_delta" if v["delta"]["type"] == "input_json_delta" => {
                let i = v["index"].as_u64().unwrap() as usize;
                args[i].push_str(v["delta"]["partial_json"].as_str().unwrap());
            }
            "content_block_delta" if v["delta"]["type"] == "text_delta" => {
                let i = v["index"].as_u64().unwrap() as usize;
                let text = format!(
                    "{}{}",
                    blocks[i]["text"].as_str().unwrap_or(""),
                    v["delta"]["text"].as_str().unwrap()
                );
                blocks[i]["text"] = json!(text);
            }
            _ => {}
        }
    }
    for (b, a) in blocks.iter_mut().zip(args) {
        if b["type"] == "tool_use" && !a.is_empty() {
            b["input"] = serde_json::from_str(&a).unwrap();
        }
    }
    blocks
}

async fn openai_round_trip(gw: &common::Gateway, stream: bool) {
    let user = json!({"role": "user", "content": "Weather in Paris? [[call get_weather {\"city\":\"Paris\"}]]"});
    let first = json!({"model": MODEL, "stream": stream, "messages": [user],
        "tools": openai_tools(), "tool_choice": "required"});
    let r = gw.post("/v1/chat/completions", &first, &[]).await;
    assert_eq!(r.status(), 200);
    let message = if stream {
        openai_streamed_message(&r.text().await.unwrap())
    } else {
        let v: Value = r.json().await.unwrap();
        v["choices"][0]["message"].clone()
    };
    let id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();

    let next = json!({"model": MODEL, "stream": stream, "tools": openai_tools(), "messages": [
        user, message,
        {"role": "tool", "tool_call_id": id, "content": "sunny"}
    ]});
    let r = gw.post("/v1/chat/completions", &next, &[]).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    // The strict Gemini 3 mock refuses a follow-up whose call lost its signature.
    assert_eq!(status, 200, "{text}");
    let calls = upstream_calls(gw, if stream { STREAM } else { GEN });
    assert_eq!(calls.len(), 1);
    assert_same_signature(&calls[0]["thoughtSignature"], &id);
}

#[tokio::test]
async fn an_openai_client_hands_gemini_3_its_signature_back() {
    let mut gw = gateway().await;
    openai_round_trip(&gw, false).await;
    openai_round_trip(&gw, true).await;

    // Without the signature (a client that rewrote the id) Gemini 3 refuses the turn:
    // the check above has teeth.
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let next = json!({"model": MODEL, "tools": openai_tools(), "messages": [
        user,
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]});
    let r = gw.post("/v1/chat/completions", &next, &[]).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing a thought_signature"),
        "{body}"
    );

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 5);
}

async fn anthropic_round_trip(gw: &common::Gateway, stream: bool) {
    let user = json!({"role": "user", "content": "Weather in Paris? [[call get_weather {\"city\":\"Paris\"}]]"});
    let first = json!({"model": MODEL, "max_tokens": 256, "stream": stream, "messages": [user],
        "tools": anthropic_tools(), "tool_choice": {"type": "any"}});
    let r = gw.post("/v1/messages", &first, &[]).await;
    assert_eq!(r.status(), 200);
    let content = if stream {
        anthropic_streamed_content(&r.text().await.unwrap())
    } else {
        let v: Value = r.json().await.unwrap();
        v["content"].as_array().unwrap().clone()
    };
    let call = content
        .iter()
        .find(|b| b["type"] == "tool_use")
        .expect("a tool_use block")
        .clone();
    let id = call["id"].as_str().unwrap();
    // Anthropic's tool_use.id pattern holds for the id that carries the signature.
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );
    let next = json!({"model": MODEL, "max_tokens": 256, "stream": stream,
        "tools": anthropic_tools(), "messages": [
        user,
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "sunny"}]}
    ]});
    let r = gw.post("/v1/messages", &next, &[]).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let calls = upstream_calls(gw, if stream { STREAM } else { GEN });
    assert_eq!(calls.len(), 1);
    assert_same_signature(&calls[0]["thoughtSignature"], id);
}

#[tokio::test]
async fn an_anthropic_client_hands_gemini_3_its_signature_back() {
    let mut gw = gateway().await;
    anthropic_round_trip(&gw, false).await;
    anthropic_round_trip(&gw, true).await;
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 4);
    assert!(logs.iter().all(|l| l.error_code.is_none()), "{logs:?}");
}

#[tokio::test]
async fn the_conversation_continued_on_openai_gets_plain_ids() {
    // A fallback or a route over several providers: the next turn goes to OpenAI (the
    // fast path, which forwards the client's body), which refuses ids over 40 characters.
    let gw = gateway().await;
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let first = json!({"model": MODEL, "messages": [user], "tools": openai_tools(),
        "tool_choice": "required"});
    let v: Value = gw
        .post("/v1/chat/completions", &first, &[])
        .await
        .json()
        .await
        .unwrap();
    let message = v["choices"][0]["message"].clone();
    let id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    assert!(id.len() > 40, "{id}");
    let next = json!({"model": "openai/gpt-4o", "tools": openai_tools(), "messages": [
        user, message, {"role": "tool", "tool_call_id": id, "content": "sunny"}
    ]});
    let r = gw.post("/v1/chat/completions", &next, &[]).await;
    assert_eq!(r.status(), 200);
    let up = gw
        .openai
        .last_body("/v1/chat/completions")
        .expect("openai upstream called");
    let sent_call = up["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
    let sent_result = up["messages"][2]["tool_call_id"].as_str().unwrap();
    assert_eq!(sent_call, sent_result);
    assert!(sent_call.len() <= 40 && !sent_call.contains("__ax"), "{up}");
    assert!(id.starts_with(sent_call), "{id} / {sent_call}");
}
