//! OpenAI endpoints: chat (plain, streamed, tool calls), embeddings, models.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use base64::Engine as _;
use common::{json, sse, start};
use serde_json::{Value, json};

const PROMPT: &str = "What is the weather like in Paris today, in great detail please?";

fn chat_body(extra: Value) -> Value {
    let mut b = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": PROMPT},
        ],
        // A real field the mock does not use (strict mode refuses unknown ones).
        "metadata": {"kept": "true"},
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn expected_answer() -> String {
    format!("Hello from mock-openai: {}", &PROMPT[..40])
}

#[tokio::test]
async fn chat_completion_shape() {
    let t = start();
    let (status, headers, v) = json(t.openai("/v1/chat/completions", &chat_body(json!({})))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "gpt-4o-mini");
    let c = &v["choices"][0];
    assert_eq!(c["index"], 0);
    assert_eq!(c["message"]["role"], "assistant");
    assert_eq!(c["message"]["content"], expected_answer());
    assert!(c["message"]["refusal"].is_null());
    assert!(c["message"].get("tool_calls").is_none());
    assert_eq!(c["finish_reason"], "stop");
    let u = &v["usage"];
    let (p, k) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && k > 0);
    assert_eq!(u["total_tokens"].as_u64().unwrap(), p + k);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);

    // Deterministic: the same request gets the same answer and usage.
    let (_, _, again) = json(t.openai("/v1/chat/completions", &chat_body(json!({})))).await;
    assert_eq!(again["choices"], v["choices"]);
    assert_eq!(again["usage"], v["usage"]);
}

#[tokio::test]
async fn chat_stream_event_sequence_without_usage() {
    let t = start();
    let events = sse(t
        .openai("/v1/chat/completions", &chat_body(json!({"stream": true})))
        .header("x-mock-chunks", "4"))
    .await;
    assert!(
        events.iter().all(|e| e.name.is_none()),
        "OpenAI uses no event names"
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    // role chunk + 4 content chunks + finish chunk
    assert_eq!(chunks.len(), 6);
    let id = &chunks[0]["id"];
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(&c["id"], id);
        assert_eq!(c["created"], chunks[0]["created"]);
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(
            c.get("usage").is_none(),
            "no usage key unless include_usage"
        );
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let text: String = chunks[1..5]
        .iter()
        .map(|c| {
            assert!(c["choices"][0]["finish_reason"].is_null());
            assert!(c["choices"][0]["delta"].get("role").is_none());
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, expected_answer());
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn chat_stream_include_usage_adds_usage_chunk() {
    let t = start();
    let body = chat_body(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let events = sse(t.openai("/v1/chat/completions", &body)).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    // role + 5 (default) content + finish + usage
    assert_eq!(chunks.len(), 8);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let u = &usage_chunk["usage"];
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    for c in &chunks[..chunks.len() - 1] {
        assert!(
            c["usage"].is_null() && c.get("usage").is_some(),
            "usage: null on other chunks"
        );
    }
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ])
}

#[tokio::test]
async fn tool_call_required_non_stream() {
    let t = start();
    let body = chat_body(json!({"tools": weather_tools(), "tool_choice": "required"}));
    let (status, _, v) = json(t.openai("/v1/chat/completions", &body)).await;
    assert_eq!(status, 200);
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert!(c["message"]["content"].is_null());
    let call = &c["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"]["name"], "get_time",
        "required → first tool"
    );
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));
}

#[tokio::test]
async fn tool_call_named_stream() {
    let t = start();
    let body = chat_body(json!({
        "stream": true,
        "tools": weather_tools(),
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }));
    let events = sse(t
        .openai("/v1/chat/completions", &body)
        .header("x-mock-chunks", "3"))
    .await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert_eq!(
        chunks.len(),
        5,
        "header chunk + 3 argument fragments + finish"
    );
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let tc = &first["tool_calls"][0];
    assert_eq!(tc["index"], 0);
    assert!(tc["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(tc["type"], "function");
    assert_eq!(tc["function"]["name"], "get_weather");
    let mut args = String::new();
    for c in &chunks[1..4] {
        let tc = &c["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(tc["index"], 0);
        assert!(tc.get("id").is_none() && tc["function"].get("name").is_none());
        args.push_str(tc["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "Paris"})
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn a_tool_result_is_repeated_and_without_tools_the_earlier_user_text_is_used() {
    let t = start();
    let mut body = json!({
        "model": "gpt-4o",
        "tools": weather_tools(),
        "tool_choice": "auto",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"temp_c\": 21}"}
        ]
    });
    // The last turn is a tool result: the mock repeats it (the trigger's second half).
    let (_, _, v) = json(t.openai("/v1/chat/completions", &body)).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "tool said: {\"temp_c\": 21}"
    );
    // Without tools the trigger is not looked at: the usual answer, from the last user
    // text.
    body.as_object_mut().unwrap().remove("tools");
    body.as_object_mut().unwrap().remove("tool_choice");
    let (_, _, v) = json(t.openai("/v1/chat/completions", &body)).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from mock-openai: weather?"
    );
}

#[tokio::test]
async fn invalid_requests_get_openai_errors() {
    let t = start();
    let (status, _, v) = json(t.openai(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("wizard"));

    let (status, _, v) = json(t.openai("/v1/chat/completions", &json!({"messages": []}))).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("model"));

    let r = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth("sk-test")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let t = start();
    let (status, _, floats) = json(t.openai(
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"]}),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["model"], "text-embedding-3-small");
    let data = floats["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["index"], i);
        assert_eq!(d["embedding"].as_array().unwrap().len(), 16);
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert!(floats["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        floats["usage"]["total_tokens"],
        floats["usage"]["prompt_tokens"]
    );

    let (_, _, b64) = json(t.openai(
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"], "encoding_format": "base64"}),
    ))
    .await;
    for i in 0..2 {
        let s = b64["data"][i]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let expected: Vec<f32> = floats["data"][i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(decoded, expected);
    }

    let (_, _, dims) = json(t.openai(
        "/v1/embeddings",
        &json!({"model": "m", "input": "one", "dimensions": 3}),
    ))
    .await;
    assert_eq!(dims["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let (status, _, _) = json(t.openai("/v1/embeddings", &json!({"model": "m"}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn models_list() {
    let t = start();
    let (status, _, v) = json(t.http.get(t.url("/v1/models")).bearer_auth("k")).await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini"));
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model")
    );
}
