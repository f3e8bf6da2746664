//! Anthropic endpoints: messages (plain, streamed, tool use), models, auth headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use common::{json, sse, start};
use serde_json::{Value, json};

fn body(extra: Value) -> Value {
    let mut b = json!({
        "model": "claude-3-5-sonnet-20241022",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [{"role": "user", "content": "ping pong from the test"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

#[tokio::test]
async fn requires_api_key_and_version() {
    let t = start();
    let (status, _, v) = json(t.http.post(t.url("/v1/messages")).json(&body(json!({})))).await;
    assert_eq!(status, 401);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    assert!(v["error"]["message"].is_string());

    let (status, _, v) = json(
        t.http
            .post(t.url("/v1/messages"))
            .header("x-api-key", "k")
            .json(&body(json!({}))),
    )
    .await;
    // The real API: 400 invalid_request_error "anthropic-version: header is required".
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    // anthropic-sdk-python 2.x authenticates with a bearer token.
    let (status, _, _) = json(
        t.http
            .post(t.url("/v1/messages"))
            .bearer_auth("k")
            .header("anthropic-version", "2023-06-01")
            .json(&body(json!({}))),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn message_shape() {
    let t = start();
    let (status, _, v) = json(t.anthropic(&body(json!({})))).await;
    assert_eq!(status, 200);
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-3-5-sonnet-20241022");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello from mock-anthropic: ping pong from the test"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
}

#[tokio::test]
async fn missing_max_tokens_and_bad_role_are_invalid() {
    let t = start();
    let mut b = body(json!({}));
    b.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, v) = json(t.anthropic(&b)).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let (status, _, _) = json(t.anthropic(&body(
        json!({"messages": [{"role": "tool", "content": "x"}]}),
    )))
    .await;
    assert_eq!(status, 400);
}

fn names(events: &[common::Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_deref().unwrap()).collect()
}

#[tokio::test]
async fn stream_event_sequence() {
    let t = start();
    let events = sse(t
        .anthropic(&body(json!({"stream": true})))
        .header("x-mock-chunks", "3"))
    .await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    for (e, d) in events.iter().zip(&data) {
        assert_eq!(
            d["type"],
            e.name.as_deref().unwrap(),
            "data.type matches the event name"
        );
    }
    let m = &data[0]["message"];
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["content"], json!([]));
    assert!(m["stop_reason"].is_null());
    let input = m["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 0);
    assert_eq!(
        data[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    let text: String = data[3..6]
        .iter()
        .map(|d| {
            assert_eq!(d["index"], 0);
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hello from mock-anthropic: ping pong from the test");
    assert_eq!(data[6], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(data[7]["delta"]["stop_reason"], "end_turn");
    assert!(data[7]["delta"]["stop_sequence"].is_null());
    assert_eq!(
        data[7]["usage"]["input_tokens"].as_u64().unwrap(),
        input,
        "cumulative usage"
    );
    assert!(data[7]["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(data[8], json!({"type": "message_stop"}));
}

fn tools() -> Value {
    json!([
        {"name": "get_weather", "description": "w", "input_schema": {"type": "object"}},
        {"name": "get_time", "description": "t", "input_schema": {"type": "object"}}
    ])
}

#[tokio::test]
async fn tool_use_any_non_stream() {
    let t = start();
    let (status, _, v) = json(t.anthropic(&body(
        json!({"tools": tools(), "tool_choice": {"type": "any"}}),
    )))
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"location": "Paris"}));
}

#[tokio::test]
async fn tool_use_named_stream() {
    let t = start();
    let b = body(
        json!({"stream": true, "tools": tools(), "tool_choice": {"type": "tool", "name": "get_time"}}),
    );
    let events = sse(t.anthropic(&b).header("x-mock-chunks", "4")).await;
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    assert_eq!(names(&events).len(), 3 + 4 + 3);
    let start = &data[1]["content_block"];
    assert_eq!(start["type"], "tool_use");
    assert_eq!(start["name"], "get_time");
    assert_eq!(start["input"], json!({}));
    let partial: String = data[3..7]
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"location": "Paris"})
    );
    assert_eq!(data[8]["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn tool_choice_auto_answers_text() {
    let t = start();
    let (_, _, v) = json(t.anthropic(&body(
        json!({"tools": tools(), "tool_choice": {"type": "auto"}}),
    )))
    .await;
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn models_list_with_anthropic_headers() {
    let t = start();
    let (status, _, v) = json(
        t.http
            .get(t.url("/v1/models"))
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["has_more"], false);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["type"] == "model")
    );
    assert_eq!(v["first_id"], v["data"][0]["id"]);
}
