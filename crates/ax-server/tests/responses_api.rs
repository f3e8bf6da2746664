//! `POST /v1/responses` (the OpenAI Responses API) through the real server to the
//! strict mock of each provider kind: passed through to an OpenAI upstream's own
//! `/v1/responses` (every field the client sent reaches it, `model` rewritten),
//! translated for Anthropic and Gemini; streamed as the Responses event sequence;
//! answers ax translated are kept for `previous_response_id`, `GET` and `DELETE`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, sse_events};
use serde_json::{Value, json};

/// A Responses request as Codex CLI shapes it (instructions, a developer message, a
/// user message, function tools, the fields it always sends).
fn codex_like(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "Say hello."}]}
        ],
        "tools": [{
            "type": "function", "name": "shell", "description": "Runs a command.",
            "strict": false,
            "parameters": {"type": "object",
                           "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                           "required": ["command"]}
        }],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": stream,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-1"
    })
}

/// The text of every `output_text` part of a `response` object.
fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter(|part| part["type"] == "output_text")
        .filter_map(|part| part["text"].as_str())
        .collect()
}

/// Checks a Responses event stream as an SDK reads it and returns the final response
/// (from `response.completed`) and the text of the deltas.
fn read_stream(body: &str) -> (Value, String) {
    let events = sse_events(body);
    assert!(!events.is_empty(), "empty stream");
    let mut text = String::new();
    let mut completed = None;
    let mut last_seq = -1i64;
    for (i, (event, data)) in events.iter().enumerate() {
        let v: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
        let kind = v["type"].as_str().unwrap_or_default().to_owned();
        assert_eq!(event.as_deref(), Some(kind.as_str()), "event name = type");
        let seq = v["sequence_number"].as_i64().expect("sequence_number");
        assert!(
            seq > last_seq,
            "sequence numbers increase: {seq} after {last_seq}"
        );
        last_seq = seq;
        match (i, kind.as_str()) {
            (0, k) => assert_eq!(k, "response.created"),
            (_, "response.output_text.delta") => text.push_str(v["delta"].as_str().unwrap()),
            (_, "response.completed") => completed = Some(v["response"].clone()),
            (_, "response.failed" | "error") => panic!("stream failed: {data}"),
            _ => {}
        }
    }
    let completed = completed.expect("a response.completed event");
    assert_eq!(
        events.last().unwrap().0.as_deref(),
        Some("response.completed")
    );
    (completed, text)
}

#[tokio::test]
async fn each_upstream_kind_answers_a_responses_request() {
    let mut gw = gateway().await;
    for model in [
        "openai/gpt-5",
        "claude/claude-sonnet-4-5",
        "gemini/gemini-2.5-flash",
    ] {
        let resp = gw
            .post(
                "/v1/responses",
                &codex_like(model, false),
                &[("x-ax-fallback", "off")],
            )
            .await;
        let status = resp.status();
        let provider = resp.headers()["x-ax-provider"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["object"], "response", "{model}: {body}");
        assert_eq!(body["status"], "completed", "{model}: {body}");
        assert!(!output_text(&body).is_empty(), "{model}: {body}");
        assert!(
            body["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
        assert!(
            body["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
        assert_eq!(provider, model.split('/').next().unwrap());
    }

    // OpenAI: the client's body went to /v1/responses, every field kept, model bare.
    let sent = gw
        .openai
        .last_body("/v1/responses")
        .expect("openai /v1/responses called");
    let mut expected = codex_like("gpt-5", false);
    expected.as_object_mut().unwrap().remove("stream");
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&sent[k], v, "field {k} passed through");
    }
    assert_eq!(gw.openai.hits("/v1/chat/completions"), 0);

    // Anthropic: translated; instructions and the developer message are the system.
    let sent = gw.claude.last_body("/v1/messages").unwrap();
    let system = sent["system"].to_string();
    assert!(system.contains("You are a coding agent."), "{sent}");
    assert!(system.contains("Sandbox: read-only."), "{sent}");
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["tools"][0]["name"], "shell");
    assert_eq!(sent["messages"][0]["role"], "user");

    // Gemini: translated too.
    let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
    assert!(
        sent["systemInstruction"]
            .to_string()
            .contains("coding agent"),
        "{sent}"
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"], "shell",
        "{sent}"
    );

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 3, "one row per request");
    for row in &logs {
        assert_eq!(row.state, "completed", "{row:?}");
        assert!(
            row.input_tokens.unwrap() > 0 && row.output_tokens.unwrap() > 0,
            "{row:?}"
        );
    }
}

#[tokio::test]
async fn each_upstream_kind_streams_the_responses_event_sequence() {
    let mut gw = gateway().await;
    for model in [
        "openai/gpt-5",
        "claude/claude-sonnet-4-5",
        "gemini/gemini-2.5-flash",
    ] {
        let resp = gw
            .post(
                "/v1/responses",
                &codex_like(model, true),
                &[("x-ax-fallback", "off")],
            )
            .await;
        assert_eq!(resp.status(), 200, "{model}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let body = resp.text().await.unwrap();
        let (completed, text) = read_stream(&body);
        assert!(!text.is_empty(), "{model}: {body}");
        assert_eq!(output_text(&completed), text, "{model}: {body}");
        assert_eq!(completed["status"], "completed");
        assert!(
            completed["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
    }
    assert_eq!(
        gw.openai.last_body("/v1/responses").unwrap()["stream"],
        true
    );
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 3);
    assert!(
        logs.iter()
            .all(|r| r.state == "completed" && r.output_tokens.unwrap() > 0)
    );
}

#[tokio::test]
async fn a_function_call_and_its_output_travel_both_ways() {
    let gw = gateway().await;
    for model in [
        "claude/claude-sonnet-4-5",
        "gemini/gemini-2.5-flash",
        "openai/gpt-5",
    ] {
        for stream in [false, true] {
            let mut body = codex_like(model, stream);
            // Anthropic refuses a forced tool with thinking on, which the effort turns
            // on (ax then sends `auto`): this turn asks for no reasoning.
            body.as_object_mut().unwrap().remove("reasoning");
            body["tool_choice"] = json!({"type": "function", "name": "shell"});
            let resp = gw
                .post("/v1/responses", &body, &[("x-ax-fallback", "off")])
                .await;
            assert_eq!(resp.status(), 200, "{model}");
            let text = resp.text().await.unwrap();
            let response = if stream {
                read_stream(&text).0
            } else {
                serde_json::from_str(&text).unwrap()
            };
            let call = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "function_call")
                .unwrap_or_else(|| panic!("{model} stream={stream}: no function_call in {text}"))
                .clone();
            assert_eq!(call["name"], "shell");
            let call_id = call["call_id"].as_str().unwrap().to_owned();
            assert!(serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).is_ok());

            // The next turn: the call and its output go back.
            let mut next = codex_like(model, false);
            next["input"].as_array_mut().unwrap().extend([
                call.clone(),
                json!({"type": "function_call_output", "call_id": call_id, "output": "hello\n"}),
            ]);
            let resp = gw
                .post("/v1/responses", &next, &[("x-ax-fallback", "off")])
                .await;
            let status = resp.status();
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(status, 200, "{model}: {answer}");
            match model.split('/').next().unwrap() {
                "claude" => {
                    let sent = gw.claude.last_body("/v1/messages").unwrap();
                    let msgs = sent["messages"].as_array().unwrap();
                    let last = &msgs[msgs.len() - 1];
                    assert_eq!(last["content"][0]["type"], "tool_result", "{sent}");
                    assert_eq!(
                        last["content"][0]["tool_use_id"],
                        msgs[msgs.len() - 2]["content"][0]["id"]
                    );
                }
                "gemini" => {
                    let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
                    let contents = sent["contents"].as_array().unwrap();
                    let last = &contents[contents.len() - 1];
                    assert_eq!(
                        last["parts"][0]["functionResponse"]["name"], "shell",
                        "{sent}"
                    );
                }
                _ => {
                    let sent = gw.openai.last_body("/v1/responses").unwrap();
                    let input = sent["input"].as_array().unwrap();
                    assert_eq!(input[input.len() - 1]["type"], "function_call_output");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_built_in_tool_goes_to_openai_and_is_refused_clearly_elsewhere() {
    let gw = gateway().await;
    let mut body = codex_like("claude/claude-sonnet-4-5", false);
    body["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "web_search"}));
    let resp = gw
        .post("/v1/responses", &body, &[("x-ax-fallback", "off")])
        .await;
    let status = resp.status();
    let err: Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("web_search"), "{message}");
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert_eq!(gw.claude.hits("/v1/messages"), 0, "nothing sent upstream");

    body["model"] = json!("openai/gpt-5");
    let resp = gw
        .post("/v1/responses", &body, &[("x-ax-fallback", "off")])
        .await;
    assert_eq!(resp.status(), 200);
    let sent = gw.openai.last_body("/v1/responses").unwrap();
    assert_eq!(sent["tools"][1], json!({"type": "web_search"}));
}

#[tokio::test]
async fn a_stored_conversation_continues_on_a_stateless_upstream() {
    let mut gw = gateway().await;
    for stream in [false, true] {
        let first = json!({
            "model": "claude/claude-sonnet-4-5",
            "instructions": "Be brief.",
            "input": "My name is Ada.",
            "stream": stream,
        });
        let resp = gw.post("/v1/responses", &first, &[]).await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        let response = if stream {
            read_stream(&text).0
        } else {
            serde_json::from_str(&text).unwrap()
        };
        let id = response["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("resp_"), "{id}");

        // Kept: GET returns the same object.
        let got = gw.get(&format!("/v1/responses/{id}")).await;
        assert_eq!(got.status(), 200);
        let got: Value = got.json().await.unwrap();
        assert_eq!(got["id"], id.as_str());
        assert_eq!(output_text(&got), output_text(&response));

        // Continued on Gemini: the upstream sees the earlier turns.
        let next = json!({
            "model": "gemini/gemini-2.5-flash",
            "previous_response_id": id,
            "input": "What is my name?",
            "store": false,
        });
        let resp = gw.post("/v1/responses", &next, &[]).await;
        let status = resp.status();
        let second: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{second}");
        let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
        let contents = sent["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3, "{sent}");
        assert_eq!(contents[0]["parts"][0]["text"], "My name is Ada.");
        assert_eq!(contents[1]["role"], "model");
        assert_eq!(
            contents[1]["parts"][0]["text"].as_str().unwrap(),
            output_text(&response)
        );
        assert_eq!(contents[2]["parts"][0]["text"], "What is my name?");
        // Instructions are not carried over (the API's rule), and store:false kept nothing.
        assert!(sent.get("systemInstruction").is_none(), "{sent}");
        let second_id = second["id"].as_str().unwrap();
        assert_eq!(
            gw.get(&format!("/v1/responses/{second_id}")).await.status(),
            404
        );

        // DELETE forgets it.
        let url = format!("{}/v1/responses/{id}", gw.url);
        let deleted = gw.http.delete(&url).send().await.unwrap();
        assert_eq!(deleted.status(), 200);
        let deleted: Value = deleted.json().await.unwrap();
        assert_eq!(deleted["deleted"], true);
        let gone = gw.get(&format!("/v1/responses/{id}")).await;
        assert_eq!(gone.status(), 404);
        let gone: Value = gone.json().await.unwrap();
        assert!(gone["error"]["message"].as_str().unwrap().contains(&id));
    }
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 4, "GET and DELETE are not model requests");
}

#[tokio::test]
async fn an_unknown_previous_response_is_refused_by_a_translating_upstream() {
    let gw = gateway().await;
    let body = json!({
        "model": "claude/claude-sonnet-4-5",
        "previous_response_id": "resp_nope",
        "input": "and then?",
    });
    let resp = gw
        .post("/v1/responses", &body, &[("x-ax-fallback", "off")])
        .await;
    let status = resp.status();
    let err: Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resp_nope"),
        "{err}"
    );
    assert_eq!(gw.claude.hits("/v1/messages"), 0);
}

#[tokio::test]
async fn a_bad_responses_request_gets_an_openai_shaped_error_and_a_log_row() {
    let mut gw = gateway().await;
    let resp = gw
        .post(
            "/v1/responses",
            &json!({"model": "claude/claude-sonnet-4-5", "input": 42}),
            &[],
        )
        .await;
    let status = resp.status();
    let err: Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("input"),
        "{err}"
    );
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].error_code.as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn a_stored_response_belongs_to_the_tenant_that_made_it() {
    let gw = gateway().await;
    let key_a = gw.add_key("team-a", None).await;
    let key_b = gw.add_key("team-b", None).await;
    let bearer_a = format!("Bearer {key_a}");
    let bearer_b = format!("Bearer {key_b}");
    let first = json!({"model": "claude/claude-sonnet-4-5", "input": "My name is Ada."});
    let resp = gw
        .post("/v1/responses", &first, &[("authorization", &bearer_a)])
        .await;
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/v1/responses/{id}", gw.url);
    let get = |bearer: &str| gw.http.get(&url).header("authorization", bearer).send();
    assert_eq!(get(&bearer_a).await.unwrap().status(), 200);
    // Another tenant neither sees it, nor continues it, nor deletes it.
    assert_eq!(get(&bearer_b).await.unwrap().status(), 404);
    let next = json!({
        "model": "claude/claude-sonnet-4-5",
        "previous_response_id": id,
        "input": "What is my name?",
    });
    let resp = gw
        .post("/v1/responses", &next, &[("authorization", &bearer_b)])
        .await;
    assert_eq!(resp.status(), 400);
    let deleted = gw
        .http
        .delete(&url)
        .header("authorization", &bearer_b)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    // Without a key at all: 401, as every /v1 endpoint once keys exist.
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).await.status(), 401);
    assert_eq!(get(&bearer_a).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_retention_of_zero_keeps_nothing() {
    let mut setup = common::Setup::default();
    setup
        .env
        .insert("AX_RESPONSES_RETENTION_HOURS".into(), "0".into());
    let gw = common::gateway_with(setup).await;
    let body = json!({"model": "claude/claude-sonnet-4-5", "input": "My name is Ada."});
    let resp = gw.post("/v1/responses", &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(gw.get(&format!("/v1/responses/{id}")).await.status(), 404);
}

/// Codex CLI's freeform `apply_patch` tool (codex-rs `tool_apply_patch.lark`).
fn apply_patch_tool() -> Value {
    json!({
        "type": "custom",
        "name": "apply_patch",
        "description": "Use the `apply_patch` tool to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.",
        "format": {"type": "grammar", "syntax": "lark", "definition": concat!(
            "start: begin_patch hunk+ end_patch\n",
            "begin_patch: \"*** Begin Patch\" LF\n",
            "end_patch: \"*** End Patch\" LF?\n",
            "hunk: add_hunk | delete_hunk | update_hunk\n",
            "add_hunk: \"*** Add File: \" filename LF add_line+\n",
            "delete_hunk: \"*** Delete File: \" filename LF\n",
            "update_hunk: \"*** Update File: \" filename LF change_move? change?\n",
            "filename: /(.+)/\n",
            "add_line: \"+\" /(.*)/ LF -> line\n",
            "change_move: \"*** Move to: \" filename LF\n",
            "change: (change_context | change_line)+ eof_line?\n",
            "change_context: (\"@@\" | \"@@ \" /(.+)/) LF\n",
            "change_line: (\"+\" | \"-\" | \" \") /(.*)/ LF\n",
            "eof_line: \"*** End of File\" LF\n",
            "%import common.LF\n"
        )}
    })
}

#[tokio::test]
async fn a_custom_tool_call_and_its_output_travel_both_ways() {
    // Codex CLI declares apply_patch as a custom (freeform) tool; translated, it is a
    // function with one string, `input`, and its calls come back as custom_tool_calls.
    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+Hello, \"world\"\n*** End Patch\n";
    let gw = gateway().await;
    for model in ["claude/claude-sonnet-4-5", "gemini/gemini-2.5-flash"] {
        for stream in [false, true] {
            let mut body = codex_like(model, stream);
            // Anthropic refuses a forced tool with thinking on, which the effort turns
            // on (ax then sends `auto`): this turn asks for no reasoning.
            body.as_object_mut().unwrap().remove("reasoning");
            body["tools"]
                .as_array_mut()
                .unwrap()
                .push(apply_patch_tool());
            body["tool_choice"] = json!({"type": "custom", "name": "apply_patch"});
            // Kept, so that the stored copy (encoded again for a stream) is checked too.
            body["store"] = json!(true);
            // The mock calls the forced tool with the arguments this trigger names.
            let trigger = format!(
                "Add hello.txt. [[call apply_patch {}]]",
                json!({"input": patch})
            );
            body["input"][1]["content"][0]["text"] = json!(trigger);
            let resp = gw
                .post("/v1/responses", &body, &[("x-ax-fallback", "off")])
                .await;
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 200, "{model} stream={stream}: {text}");
            let response = if stream {
                // The input is streamed decoded, as the real API streams it.
                let inputs: Vec<Value> = sse_events(&text)
                    .iter()
                    .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap())
                    .filter(|v| v["type"] == "response.custom_tool_call_input.done")
                    .collect();
                assert_eq!(inputs.len(), 1, "{text}");
                assert_eq!(inputs[0]["input"], patch, "{text}");
                read_stream(&text).0
            } else {
                serde_json::from_str(&text).unwrap()
            };
            let call = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "custom_tool_call")
                .unwrap_or_else(|| panic!("{model} stream={stream}: no custom_tool_call in {text}"))
                .clone();
            assert_eq!(call["name"], "apply_patch", "{call}");
            assert_eq!(call["input"], patch, "{call}");
            assert_eq!(call["status"], "completed", "{call}");
            assert!(call["id"].as_str().unwrap().starts_with("ctc_"), "{call}");
            let call_id = call["call_id"].as_str().unwrap().to_owned();
            let id = response["id"].as_str().unwrap();
            let stored: Value = gw
                .get(&format!("/v1/responses/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let kept = stored["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "custom_tool_call")
                .unwrap_or_else(|| panic!("stored: {stored}"));
            assert_eq!(kept, &call);

            // The upstream saw an ordinary function taking one string, `input`, forced.
            let input_schema = json!({"type": "string"});
            match model.split('/').next().unwrap() {
                "claude" => {
                    let sent = gw.claude.last_body("/v1/messages").unwrap();
                    let tool = sent["tools"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|t| t["name"] == "apply_patch")
                        .unwrap_or_else(|| panic!("{sent}"))
                        .clone();
                    assert_eq!(tool["input_schema"]["properties"]["input"], input_schema);
                    assert_eq!(tool["input_schema"]["required"], json!(["input"]));
                    assert!(
                        tool["description"].as_str().unwrap().contains("`input`"),
                        "{tool}"
                    );
                    assert_eq!(sent["tool_choice"]["name"], "apply_patch", "{sent}");
                }
                _ => {
                    let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
                    let decl = sent["tools"][0]["functionDeclarations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|d| d["name"] == "apply_patch")
                        .unwrap_or_else(|| panic!("{sent}"))
                        .clone();
                    let params = decl
                        .get("parametersJsonSchema")
                        .or_else(|| decl.get("parameters"))
                        .unwrap_or_else(|| panic!("{decl}"));
                    assert_eq!(
                        params["properties"]["input"]["type"]
                            .as_str()
                            .map(str::to_ascii_lowercase)
                            .as_deref(),
                        Some("string"),
                        "{decl}"
                    );
                    assert_eq!(
                        sent["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"],
                        json!(["apply_patch"]),
                        "{sent}"
                    );
                }
            }

            // The next turn, as Codex sends it: the call as received and its output.
            let mut next = codex_like(model, false);
            next["tools"]
                .as_array_mut()
                .unwrap()
                .push(apply_patch_tool());
            next["input"].as_array_mut().unwrap().extend([
                call.clone(),
                json!({"type": "custom_tool_call_output", "call_id": call_id,
                       "output": "Success. Updated the following files:\nA hello.txt\n"}),
            ]);
            let resp = gw
                .post("/v1/responses", &next, &[("x-ax-fallback", "off")])
                .await;
            let status = resp.status();
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(status, 200, "{model}: {answer}");
            assert!(output_text(&answer).contains("Success."), "{answer}");
            match model.split('/').next().unwrap() {
                "claude" => {
                    let sent = gw.claude.last_body("/v1/messages").unwrap();
                    let msgs = sent["messages"].as_array().unwrap();
                    let (use_msg, result_msg) = (&msgs[msgs.len() - 2], &msgs[msgs.len() - 1]);
                    let tool_use = &use_msg["content"][0];
                    assert_eq!(tool_use["type"], "tool_use", "{sent}");
                    assert_eq!(tool_use["name"], "apply_patch");
                    assert_eq!(tool_use["input"], json!({"input": patch}));
                    let result = &result_msg["content"][0];
                    assert_eq!(result["type"], "tool_result", "{sent}");
                    assert_eq!(result["tool_use_id"], tool_use["id"]);
                }
                _ => {
                    let sent = gw.gemini.last_body("/v1beta/models/").unwrap();
                    let contents = sent["contents"].as_array().unwrap();
                    let (call_turn, result_turn) =
                        (&contents[contents.len() - 2], &contents[contents.len() - 1]);
                    let function_call = &call_turn["parts"][0]["functionCall"];
                    assert_eq!(function_call["name"], "apply_patch", "{sent}");
                    assert_eq!(function_call["args"], json!({"input": patch}));
                    let response = &result_turn["parts"][0]["functionResponse"];
                    assert_eq!(response["name"], "apply_patch", "{sent}");
                }
            }
        }
    }
}
