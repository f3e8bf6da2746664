//! OpenAI Responses (`POST /v1/responses`): the `response` object, the streaming event
//! sequence, tool calls, reasoning items, knobs, recorded requests and strict refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use ax_mock_upstream::{MockConfig, Scripted};
use common::{json, read_until_cut, sse, start, start_with};
use serde_json::{Value, json};

const PATH: &str = "/v1/responses";
const PROMPT: &str = "What is the weather like in Paris today, in great detail please?";

fn answer() -> String {
    format!("Hello from mock-openai: {}", &PROMPT[..40])
}

fn shell_tool() -> Value {
    json!({
        "type": "function",
        "name": "shell",
        "description": "Runs a shell command and returns its output.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            "required": ["command"],
            "additionalProperties": false
        }
    })
}

/// A first turn as Codex CLI sends it (`codex-api` `ResponsesApiRequest`): instructions,
/// developer and user messages of `input_text`, function and built-in tools, reasoning,
/// `store: false`, `include` of encrypted reasoning, a prompt cache key and `text`.
fn codex_turn(user_text: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-5-codex",
        "instructions": "You are a coding agent running in the Codex CLI.",
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "<permissions instructions>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": user_text}]}
        ],
        "tools": [shell_tool(), {"type": "web_search"}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": stream,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a0f2-cache-key",
        "text": {"verbosity": "medium"},
        "client_metadata": {"session_id": "0199a0f2", "turn_id": "1"}
    })
}

fn plain(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "input": PROMPT, "stream": stream})
}

/// The JSON of every event, checking that each carries its name as `type` and that
/// `sequence_number` counts from 0.
fn events_json(events: &[common::Event]) -> Vec<Value> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let v = e.json();
            assert_eq!(Some(v["type"].as_str().unwrap()), e.name.as_deref(), "{v}");
            assert_eq!(v["sequence_number"], i, "{v}");
            v
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn response_object_shape() {
    let t = start();
    let body = json!({
        "model": "gpt-4o-mini",
        "instructions": "be brief",
        "input": [{"role": "user", "content": PROMPT}],
        "metadata": {"k": "v"},
        "max_output_tokens": 256
    });
    let (status, headers, v) = json(t.openai(PATH, &body)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["content-type"], "application/json");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert!(v["created_at"].is_u64());
    assert_eq!(v["completed_at"], v["created_at"]);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["error"].is_null() && v["incomplete_details"].is_null());
    // Echoed request settings, and the API's defaults for the rest.
    assert_eq!(v["instructions"], "be brief");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["max_output_tokens"], 256);
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["parallel_tool_calls"], true);
    assert_eq!(v["store"], true);
    assert_eq!(v["text"]["format"]["type"], "text");
    let out = v["output"].as_array().unwrap();
    assert_eq!(out.len(), 1);
    let msg = &out[0];
    assert_eq!(msg["type"], "message");
    assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(msg["status"], "completed");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(
        msg["content"],
        json!([{"type": "output_text", "text": answer(), "annotations": [], "logprobs": []}])
    );
    let u = &v["usage"];
    let (i, o) = (
        u["input_tokens"].as_u64().unwrap(),
        u["output_tokens"].as_u64().unwrap(),
    );
    assert!(i > 0 && o > 0);
    assert_eq!(u["total_tokens"].as_u64().unwrap(), i + o);
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    // A string `input` is the user's text too.
    let (_, _, v) = json(t.openai(PATH, &plain(false))).await;
    assert_eq!(v["output"][0]["content"][0]["text"], answer());
}

#[tokio::test]
async fn stream_event_sequence() {
    let t = start();
    let events = sse(t.openai(PATH, &plain(true)).header("x-mock-chunks", "4")).await;
    let ev = events_json(&events);
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let created = &ev[0]["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    assert!(created["usage"].is_null());
    let added = &ev[2];
    assert_eq!(added["output_index"], 0);
    assert_eq!(added["item"]["status"], "in_progress");
    assert_eq!(added["item"]["content"], json!([]));
    let item_id = added["item"]["id"].clone();
    assert_eq!(ev[3]["part"]["text"], "");
    let text: String = ev[4..8]
        .iter()
        .map(|d| {
            assert_eq!(d["item_id"], item_id);
            assert_eq!(d["output_index"], 0);
            assert_eq!(d["content_index"], 0);
            d["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, answer());
    assert_eq!(ev[8]["text"], answer());
    assert_eq!(ev[9]["part"]["text"], answer());
    assert_eq!(ev[10]["item"]["status"], "completed");
    let done = &ev[11]["response"];
    assert_eq!(done["id"], created["id"]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0], ev[10]["item"]);
    assert!(done["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn forced_tool_choice_streams_a_function_call() {
    let t = start();
    let body = json!({
        "model": "gpt-4.1", "input": "weather?", "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        "tool_choice": "required"
    });
    let ev = events_json(&sse(t.openai(PATH, &body).header("x-mock-chunks", "3")).await);
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added = &ev[2]["item"];
    assert_eq!(added["type"], "function_call");
    assert_eq!(added["name"], "get_weather");
    assert_eq!(added["arguments"], "");
    assert!(added["call_id"].as_str().unwrap().starts_with("call_"));
    assert!(added["id"].as_str().unwrap().starts_with("fc_"));
    let args: String = ev[3..6]
        .iter()
        .map(|d| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, r#"{"location":"Paris"}"#);
    assert_eq!(ev[6]["arguments"], args);
    assert_eq!(ev[6]["name"], "get_weather");
    let done = &ev[8]["response"];
    assert_eq!(done["output"][0]["arguments"], args);
    assert_eq!(done["output"][0]["call_id"], added["call_id"]);

    // A function named in `tool_choice`, not streamed.
    let mut named = body.clone();
    named["stream"] = json!(false);
    named["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "function", "name": "other"}));
    named["tool_choice"] = json!({"type": "function", "name": "other"});
    let (_, _, v) = json(t.openai(PATH, &named)).await;
    assert_eq!(v["output"][0]["type"], "function_call");
    assert_eq!(v["output"][0]["name"], "other");
    assert_eq!(v["output"][0]["status"], "completed");
}

#[tokio::test]
async fn codex_turns_get_reasoning_items_and_the_tool_loop_completes() {
    let t = start();
    // Turn 1: the trigger makes the mock call `shell`, after an encrypted reasoning item.
    let first = codex_turn(
        r#"list the files [[call shell {"command":["ls","-a"]}]]"#,
        true,
    );
    let ev = events_json(&sse(t.openai(PATH, &first)).await);
    assert_eq!(
        &types(&ev)[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
        ]
    );
    let reasoning = ev[3]["item"].clone();
    assert_eq!(reasoning["type"], "reasoning");
    assert!(reasoning["id"].as_str().unwrap().starts_with("rs_"));
    assert!(reasoning["encrypted_content"].as_str().unwrap().len() > 10);
    let done = &ev.last().unwrap()["response"];
    assert_eq!(done["store"], false);
    assert_eq!(done["prompt_cache_key"], "0199a0f2-cache-key");
    assert_eq!(
        done["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(
        done["usage"]["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap(),
        8
    );
    let call = &done["output"][1];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "shell");
    assert_eq!(call["arguments"], r#"{"command":["ls","-a"]}"#);
    let fc_done = ev
        .iter()
        .find(|e| e["type"] == "response.output_item.done" && e["output_index"] == 1)
        .unwrap();
    assert_eq!(&fc_done["item"], call);

    // Turn 2: Codex replays the reasoning item (without its id) and the call, then sends
    // the output; the mock repeats the output and stops.
    let mut second = first.clone();
    let input = second["input"].as_array_mut().unwrap();
    input.push(json!({"type": "reasoning", "summary": [],
        "encrypted_content": reasoning["encrypted_content"]}));
    input.push(json!({"type": "function_call", "name": "shell",
        "arguments": call["arguments"], "call_id": call["call_id"]}));
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"],
        "output": "Cargo.toml\nsrc"}),
    );
    second["stream"] = json!(false);
    let (status, _, v) = json(t.openai(PATH, &second)).await;
    assert_eq!(status, 200, "{v}");
    let out = v["output"].as_array().unwrap();
    assert_eq!(out.len(), 2, "{v}");
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[1]["type"], "message");
    assert_eq!(out[1]["content"][0]["text"], "tool said: Cargo.toml\nsrc");

    // The upstream side is recorded like every endpoint's.
    assert_eq!(t.mock.hits(PATH), 2);
    let sent = t.mock.last_body(PATH).unwrap();
    assert_eq!(sent["input"][5]["type"], "function_call_output");
    assert!(
        t.mock.last_headers(PATH).unwrap()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
}

#[tokio::test]
async fn knobs_apply_to_responses() {
    let t = start();
    // Forced status, with the OpenAI error body.
    let (status, _, v) = json(t.openai(PATH, &plain(false)).header("x-mock-status", "429")).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // Echoed credentials in a forced error.
    let (_, _, v) = json(
        t.openai(PATH, &plain(false))
            .header("x-mock-status", "401")
            .header("x-mock-echo-auth", "1"),
    )
    .await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer sk-test")
    );
    // A mid-stream failure is `response.failed`, and no `response.completed`.
    let ev = events_json(
        &sse(t
            .openai(PATH, &plain(true))
            .header("x-mock-chunks", "4")
            .header("x-mock-error-after", "2"))
        .await,
    );
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert_eq!(
        types(&ev)
            .iter()
            .filter(|t| **t == "response.output_text.delta")
            .count(),
        2
    );
    assert!(!types(&ev).contains(&"response.completed"));
    // A cut stream ends without the terminal event; a cut body is half a JSON object.
    let got = read_until_cut(
        t.openai(PATH, &plain(true))
            .header("x-mock-chunks", "4")
            .header("x-mock-cut-after", "1"),
    )
    .await;
    assert!(got.contains("response.output_text.delta"));
    assert!(!got.contains("response.completed"));
    let got = read_until_cut(
        t.openai(PATH, &plain(false))
            .header("x-mock-cut-after", "0"),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&got).is_err());
    // Malformed bodies, plain and streamed.
    for stream in [false, true] {
        let r = t
            .openai(PATH, &plain(stream))
            .header("x-mock-malformed", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        let data = text.strip_prefix("data: ").unwrap_or(&text).trim();
        assert!(serde_json::from_str::<Value>(data).is_err(), "{text}");
    }
    // Scripts pop per path like everywhere else.
    t.mock.push_script(PATH, vec![Scripted::status(503)]);
    let (status, _, _) = json(t.openai(PATH, &plain(false))).await;
    assert_eq!(status, 503);
    let (status, _, _) = json(t.openai(PATH, &plain(false))).await;
    assert_eq!(status, 200);
}

// ------------------------------------------------------------------------ strict

async fn post(t: &common::T, body: &Value) -> (u16, Value) {
    let (s, _, v) = json(t.openai(PATH, body)).await;
    (s, v)
}

/// A 400 with the OpenAI error object: message, `param` and `code` as the API sends them.
fn refused(got: &(u16, Value), message: &str, param: Option<&str>, code: Option<&str>) {
    let (s, v) = got;
    assert_eq!(*s, 400, "{v}");
    let e = &v["error"];
    assert_eq!(e["type"], "invalid_request_error", "{v}");
    assert_eq!(e["message"], message, "{v}");
    assert_eq!(e["param"].as_str(), param, "{v}");
    assert_eq!(e["code"].as_str(), code, "{v}");
}

fn with(extra: Value) -> Value {
    let mut b = json!({"model": "gpt-5", "input": "hi"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v.clone();
        }
    }
    b
}

#[tokio::test]
async fn strict_refuses_missing_and_unknown_fields() {
    let t = start();
    refused(
        &post(&t, &with(json!({"model": null}))).await,
        "Missing required parameter: 'model'.",
        Some("model"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &with(json!({"model": 7}))).await,
        "Invalid type for 'model': expected a string, but got an integer instead.",
        Some("model"),
        Some("invalid_type"),
    );
    refused(
        &post(&t, &with(json!({"input": null}))).await,
        "Missing required parameter: 'input'.",
        Some("input"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &with(json!({"input": []}))).await,
        "One of \"input\" or \"previous_response_id\" or 'prompt' or 'conversation' must be \
         provided.",
        None,
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &with(json!({"max_tokens": 16}))).await,
        "Unknown parameter: 'max_tokens'.",
        Some("max_tokens"),
        Some("unknown_parameter"),
    );
    refused(
        &post(&t, &with(json!({"stop": ["x"]}))).await,
        "Unknown parameter: 'stop'. Did you mean 'store'?",
        Some("stop"),
        Some("unknown_parameter"),
    );
    let chat_shaped = with(json!({"messages": [{"role": "user", "content": "hi"}]}));
    let got = post(&t, &chat_shaped).await;
    assert_eq!(got.1["error"]["code"], "unsupported_parameter", "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has moved to 'input'")
    );
    refused(
        &post(
            &t,
            &with(json!({"stream_options": {"include_usage": true}})),
        )
        .await,
        "Unknown parameter: 'stream_options.include_usage'.",
        Some("stream_options.include_usage"),
        Some("unknown_parameter"),
    );
    refused(
        &post(&t, &with(json!({"include": ["reasoning.secrets"]}))).await,
        "Invalid value: 'reasoning.secrets'. Supported values are: 'file_search_call.results', \
         'web_search_call.results', 'web_search_call.action.sources', \
         'message.input_image.image_url', 'computer_call_output.output.image_url', \
         'code_interpreter_call.outputs', 'reasoning.encrypted_content', and \
         'message.output_text.logprobs'.",
        Some("include[0]"),
        Some("invalid_value"),
    );
}

#[tokio::test]
async fn strict_refuses_chat_shapes_inside_input() {
    let t = start();
    let input = |items: Value| with(json!({"input": items}));
    refused(
        &post(
            &t,
            &input(json!([{"role": "tool", "tool_call_id": "c", "content": "x"}])),
        )
        .await,
        "Invalid value: 'tool'. Supported values are: 'assistant', 'system', 'developer', and \
         'user'.",
        Some("input[0]"),
        Some("invalid_value"),
    );
    refused(
        &post(
            &t,
            &input(json!([{"role": "user", "content": "hi", "tool_calls": []}])),
        )
        .await,
        "Unknown parameter: 'input[0].tool_calls'.",
        Some("input[0].tool_calls"),
        Some("unknown_parameter"),
    );
    refused(
        &post(
            &t,
            &input(json!([
                {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
                {"role": "user", "content": "hi"}
            ])),
        )
        .await,
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
        Some("input[0].content[0]"),
        Some("invalid_value"),
    );
    refused(
        &post(
            &t,
            &input(json!([{"role": "user", "content": [{"type": "text", "text": "x"}]}])),
        )
        .await,
        "Invalid value: 'text'. Supported values are: 'input_text', 'input_image', \
         'input_audio', 'output_text', 'refusal', 'input_file', 'computer_screenshot', \
         'summary_text', and 'encrypted_content'.",
        Some("input[0].content[0].type"),
        Some("invalid_value"),
    );
    refused(
        &post(&t, &input(json!([{"role": "user"}]))).await,
        "Missing required parameter: 'input[0].content'.",
        Some("input[0].content"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &input(json!([{"type": "bogus_item"}]))).await,
        &format!(
            "Invalid value: 'bogus_item'. Supported values are: {}.",
            "'additional_tools', 'agent_message', 'apply_patch_call', 'apply_patch_call_output', \
             'code_interpreter_call', 'compaction', 'compaction_trigger', 'computer_call', \
             'computer_call_output', 'custom_tool_call', 'custom_tool_call_output', \
             'file_search_call', 'function_call', 'function_call_output', \
             'image_generation_call', 'item_reference', 'local_shell_call', \
             'local_shell_call_output', 'mcp_approval_request', 'mcp_approval_response', \
             'mcp_call', 'mcp_list_tools', 'message', 'multi_agent_call', \
             'multi_agent_call_output', 'program', 'program_output', 'reasoning', \
             'shell_call', 'shell_call_output', 'tool_search_call', 'tool_search_output', and \
             'web_search_call'"
        ),
        Some("input[0]"),
        Some("invalid_value"),
    );
    refused(
        &post(
            &t,
            &input(json!([{"type": "function_call", "call_id": "c", "arguments": "{}"}])),
        )
        .await,
        "Missing required parameter: 'input[0].name'.",
        Some("input[0].name"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(
            &t,
            &input(json!([{"type": "reasoning", "encrypted_content": "x"}])),
        )
        .await,
        "Missing required parameter: 'input[0].summary'.",
        Some("input[0].summary"),
        Some("missing_required_parameter"),
    );
    // The `phase` of an assistant item is known, not that of a user item.
    let phased = input(json!([
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
         "phase": "final_answer",
         "content": [{"type": "output_text", "text": "ok", "annotations": [], "logprobs": []}]},
        {"role": "user", "content": "again", "phase": "final_answer"}
    ]));
    refused(
        &post(&t, &phased).await,
        "Unknown parameter: 'input[1].phase'.",
        Some("input[1].phase"),
        Some("unknown_parameter"),
    );
}

#[tokio::test]
async fn strict_pairs_function_calls_with_their_outputs() {
    let t = start();
    let call = json!({"type": "function_call", "call_id": "call_1", "name": "shell",
        "arguments": "{}"});
    let output = json!({"type": "function_call_output", "call_id": "call_1", "output": "ok"});
    let user = json!({"role": "user", "content": "go"});
    let tools = json!([shell_tool()]);
    refused(
        &post(&t, &with(json!({"input": [user, output], "tools": tools}))).await,
        "No tool call found for function call output with call_id call_1.",
        Some("input"),
        None,
    );
    refused(
        &post(
            &t,
            &with(json!({"input": [user, call, {"role": "user", "content": "?"}], "tools": tools})),
        )
        .await,
        "No tool output found for function call call_1.",
        Some("input"),
        None,
    );
    let (s, v) = post(
        &t,
        &with(json!({"input": [user, call, output], "tools": tools})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["output"][0]["content"][0]["text"], "tool said: ok");
    // With a previous response the call may be stored there.
    let (s, v) = post(
        &t,
        &with(json!({"input": [output], "previous_response_id": "resp_mock1"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    refused(
        &post(
            &t,
            &with(json!({"input": [output], "previous_response_id": "resp_elsewhere"})),
        )
        .await,
        "Previous response with id 'resp_elsewhere' not found.",
        Some("previous_response_id"),
        Some("previous_response_not_found"),
    );
}

#[tokio::test]
async fn strict_checks_tools_choice_and_reasoning() {
    let t = start();
    let chat_tool = json!({"type": "function", "function": {"name": "f", "parameters": {}}});
    refused(
        &post(&t, &with(json!({"tools": [chat_tool]}))).await,
        "Missing required parameter: 'tools[0].name'.",
        Some("tools[0].name"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &with(json!({"tools": [{}]}))).await,
        "Missing required parameter: 'tools[0].type'.",
        Some("tools[0].type"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(
            &t,
            &with(
                json!({"tools": [shell_tool()], "tool_choice": {"type": "function",
                "function": {"name": "shell"}}}),
            ),
        )
        .await,
        "Missing required parameter: 'tool_choice.name'.",
        Some("tool_choice.name"),
        Some("missing_required_parameter"),
    );
    refused(
        &post(&t, &with(json!({"tool_choice": "any"}))).await,
        "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'.",
        Some("tool_choice"),
        Some("invalid_value"),
    );
    refused(
        &post(&t, &with(json!({"reasoning": {"effort": "huge"}}))).await,
        "Invalid value: 'huge'. Supported values are: 'none', 'minimal', 'low', 'medium', \
         'high', 'xhigh', and 'max'.",
        Some("reasoning.effort"),
        Some("invalid_value"),
    );
    refused(
        &post(
            &t,
            &with(json!({"reasoning": {"effort": "low", "budget": 1}})),
        )
        .await,
        "Unknown parameter: 'reasoning.budget'.",
        Some("reasoning.budget"),
        Some("unknown_parameter"),
    );
    refused(
        &post(
            &t,
            &with(json!({"model": "gpt-4o-mini", "reasoning": {"effort": "low"}})),
        )
        .await,
        "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
        Some("reasoning.effort"),
        Some("unsupported_parameter"),
    );
    refused(
        &post(&t, &with(json!({"text": {"verbosity": "loud"}}))).await,
        "Invalid value: 'loud'. Supported values are: 'low', 'medium', and 'high'.",
        Some("text.verbosity"),
        Some("invalid_value"),
    );
    // Built-in tools and a reasoning model's settings pass.
    let (s, v) = post(
        &t,
        &with(
            json!({"tools": [{"type": "web_search"}, {"type": "local_shell"}],
            "reasoning": {"effort": "high", "summary": "detailed"}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn strict_accepts_a_full_codex_turn_and_lenient_accepts_anything() {
    let t = start();
    let (s, v) = post(&t, &codex_turn("hello", false)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["output"][1]["content"][0]["text"],
        "Hello from mock-openai: hello"
    );

    let lenient = start_with(MockConfig {
        lenient: true,
        ..MockConfig::default()
    });
    let (s, v) = post(
        &lenient,
        &json!({"model": "gpt-4o", "input": [{"role": "tool", "content": "x"}],
            "x_future": 1}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Even lenient, a body without a model cannot be answered.
    let (s, v) = post(&lenient, &json!({"input": "hi"})).await;
    assert_eq!(s, 400, "{v}");
}
