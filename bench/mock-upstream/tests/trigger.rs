//! The tool-call trigger in every API: `[[call NAME ARGS]]` in the last user turn makes
//! the mock call that tool (streamed or not), and a tool result as the last turn is
//! answered `tool said: …` with a normal stop — the loop a coding agent runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use common::{json, sse, start};
use serde_json::{Value, json};

const ARGS: &str = r#"{"command":["echo","hi"]}"#;
const ASK: &str = r#"please run [[call shell {"command":["echo","hi"]}]] now"#;
const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

fn args() -> Value {
    serde_json::from_str(ARGS).unwrap()
}

// ----------------------------------------------------------------- Chat Completions

fn chat(messages: Value, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}
        ]
    })
}

#[tokio::test]
async fn chat_completions_call_then_answer() {
    let t = start();
    let ask = json!([{"role": "user", "content": ASK}]);
    let (status, _, v) = json(t.openai("/v1/chat/completions", &chat(ask.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert!(c["message"]["content"].is_null());
    let call = &c["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "shell");
    assert_eq!(call["function"]["arguments"], ARGS);

    let events = sse(t
        .openai("/v1/chat/completions", &chat(ask, true))
        .header("x-mock-chunks", "3"))
    .await;
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["function"]["name"], "shell");
    let streamed: String = chunks[1..4]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(streamed, ARGS);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");

    // The agent runs the tool and sends its output back.
    let id = call["id"].as_str().unwrap();
    let result = json!([
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "hi\n"}
    ]);
    let (status, _, v) = json(t.openai("/v1/chat/completions", &chat(result.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["choices"][0]["message"]["content"], "tool said: hi\n");
    let events = sse(t.openai("/v1/chat/completions", &chat(result, true))).await;
    let text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "tool said: hi\n");
}

#[tokio::test]
async fn chat_completions_trigger_needs_a_declared_tool_and_yields_to_a_forced_one() {
    let t = start();
    // An undeclared tool is plain text.
    let unknown = json!([{"role": "user", "content": "[[call rm {}]]"}]);
    let (_, _, v) = json(t.openai("/v1/chat/completions", &chat(unknown, false))).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // A forced tool other than the trigger's wins, with the mock's fixed arguments.
    let mut forced = chat(json!([{"role": "user", "content": ASK}]), false);
    forced["tool_choice"] = json!({"type": "function", "function": {"name": "read_file"}});
    let (_, _, v) = json(t.openai("/v1/chat/completions", &forced)).await;
    let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "read_file");
    assert_eq!(call["arguments"], r#"{"location":"Paris"}"#);
    // The trigger's own tool, forced: the trigger's arguments.
    forced["tool_choice"] = json!({"type": "function", "function": {"name": "shell"}});
    let (_, _, v) = json(t.openai("/v1/chat/completions", &forced)).await;
    let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["arguments"], ARGS);
    // A long result is cut at 200 characters.
    let long = "x".repeat(500);
    let result = chat(
        json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
             "function": {"name": "shell", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": long}]}
        ]),
        false,
    );
    let (_, _, v) = json(t.openai("/v1/chat/completions", &result)).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        format!("tool said: {}", "x".repeat(200))
    );
}

// ------------------------------------------------------------------------ Anthropic

fn messages(messages: Value, stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": stream,
        "messages": messages,
        "tools": [{"name": "shell", "description": "run", "input_schema": {"type": "object"}}]
    })
}

#[tokio::test]
async fn anthropic_messages_call_then_answer() {
    let t = start();
    let ask = json!([{"role": "user", "content": [{"type": "text", "text": ASK}]}]);
    let (status, _, v) = json(t.anthropic(&messages(ask.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "shell");
    assert_eq!(block["input"], args());

    let events = sse(t.anthropic(&messages(ask, true))).await;
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    assert_eq!(data[1]["content_block"]["name"], "shell");
    let partial: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(partial, ARGS);
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    let id = block["id"].as_str().unwrap();
    let result = json!([
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "hi"}]}
    ]);
    let (status, _, v) = json(t.anthropic(&messages(result.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(
        v["content"][0],
        json!({"type": "text", "text": "tool said: hi"})
    );
    let events = sse(t.anthropic(&messages(result, true))).await;
    let text: String = events
        .iter()
        .map(|e| e.json())
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "tool said: hi");
}

// --------------------------------------------------------------------------- Gemini

fn generate(contents: Value) -> Value {
    json!({
        "contents": contents,
        "tools": [{"functionDeclarations": [{"name": "shell", "parameters": {"type": "OBJECT"}}]}]
    })
}

#[tokio::test]
async fn gemini_call_then_answer() {
    let t = start();
    let ask = json!([{"role": "user", "parts": [{"text": ASK}]}]);
    let (status, _, v) = json(t.gemini(GEN, &generate(ask.clone()))).await;
    assert_eq!(status, 200, "{v}");
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "shell");
    assert_eq!(part["functionCall"]["args"], args());

    let events = sse(t.gemini(STREAM, &generate(ask))).await;
    assert_eq!(events.len(), 1, "a function call is one part");
    let d = events[0].json();
    assert_eq!(
        d["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
        args()
    );

    let result = json!([
        {"role": "user", "parts": [{"text": ASK}]},
        {"role": "model", "parts": [part]},
        {"role": "user", "parts": [{"functionResponse": {"name": "shell",
            "response": {"output": "hi"}}}]}
    ]);
    let (status, _, v) = json(t.gemini(GEN, &generate(result.clone()))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "tool said: hi"
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    let events = sse(t.gemini(STREAM, &generate(result))).await;
    let text: String = events
        .iter()
        .map(|e| {
            e.json()["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "tool said: hi");
}

// ------------------------------------------------------------------------ Responses

fn responses(input: Value, stream: bool) -> Value {
    json!({
        "model": "gpt-5",
        "stream": stream,
        "input": input,
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}]
    })
}

#[tokio::test]
async fn responses_call_then_answer() {
    let t = start();
    let ask = json!([{"role": "user", "content": [{"type": "input_text", "text": ASK}]}]);
    let (status, _, v) = json(t.openai("/v1/responses", &responses(ask.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    let call = &v["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "shell");
    assert_eq!(call["arguments"], ARGS);

    let events = sse(t.openai("/v1/responses", &responses(ask, true))).await;
    let streamed: String = events
        .iter()
        .map(|e| e.json())
        .filter(|d| d["type"] == "response.function_call_arguments.delta")
        .map(|d| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(streamed, ARGS);

    let result = json!([
        {"role": "user", "content": ASK},
        {"type": "function_call", "call_id": call["call_id"], "name": "shell", "arguments": ARGS},
        {"type": "function_call_output", "call_id": call["call_id"],
         "output": [{"type": "input_text", "text": "hi"}]}
    ]);
    let (status, _, v) = json(t.openai("/v1/responses", &responses(result.clone(), false))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["output"][0]["content"][0]["text"], "tool said: hi");
    let events = sse(t.openai("/v1/responses", &responses(result, true))).await;
    let done = events
        .iter()
        .map(|e| e.json())
        .find(|d| d["type"] == "response.output_text.done")
        .unwrap();
    assert_eq!(done["text"], "tool said: hi");
}
