//! Coding agents through ax: the requests Claude Code, Codex and Gemini CLI really send
//! (recorded by `tests/agents/run.sh --record` between each agent and ax, stored under
//! `tests/fixtures/agents/`), replayed through the real server to the strict mock of each
//! upstream kind: 3 agents × 3 upstream kinds.
//!
//! Each agent's sequence is the one an agentic turn makes: a first prompt whose text asks
//! the mock for a tool call (`[[call NAME ARGS]]`, the mock's trigger), then the agent's
//! recorded follow-up carrying the tool's result (its call id replaced by the one this
//! replay got back, as the agent would). Both stream, as the agents do. For every pair:
//!
//! - the upstream got the model without its prefix, the agent's system prompt, every
//!   tool the agent declared (with its parameters), and in the follow-up a tool result
//!   linked to the call it answers;
//! - the agent gets 200 and a stream that parses in its own format, the tool call with
//!   the name and arguments asked for, then the `tool said: …` answer, with usage;
//! - the store has exactly one completed log row per request.
//!
//! Same-format pairs (Claude Code → Anthropic, Codex → OpenAI Responses, Gemini CLI →
//! Gemini) must reach the upstream unchanged but for the model.
//!
//! Two more recorded first prompts: Claude Code with a gateway model name (it then puts
//! its environment in a `system`-role message after the user's, with adaptive thinking
//! and `output_config.effort`), and Codex with its default tools (a `namespace` tool and
//! the built-in `web_search`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, LoggedRequest, sse_events};
use serde_json::{Value, json};

/// The coding agents whose recorded requests are replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    /// Claude Code 2.1.332: Anthropic Messages (`/v1/messages?beta=true`).
    ClaudeCode,
    /// Codex CLI 0.171.0: OpenAI Responses (`/v1/responses`).
    Codex,
    /// Gemini CLI 0.61.0: Gemini `streamGenerateContent?alt=sse`.
    GeminiCli,
}

/// The upstream kinds each agent is replayed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// Provider `openai` (kind openai).
    OpenAi,
    /// Provider `claude` (kind anthropic).
    Anthropic,
    /// Provider `gemini` (kind gemini).
    Gemini,
}

impl Upstream {
    /// The model the agent asks for (`provider/model`) and the model the upstream must get.
    fn models(self) -> (&'static str, &'static str) {
        match self {
            Upstream::OpenAi => ("openai/gpt-4o", "gpt-4o"),
            Upstream::Anthropic => ("claude/claude-sonnet-4-5", "claude-sonnet-4-5"),
            Upstream::Gemini => ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
        }
    }

    /// The provider name in ax's log rows.
    fn provider(self) -> &'static str {
        match self {
            Upstream::OpenAi => "openai",
            Upstream::Anthropic => "claude",
            Upstream::Gemini => "gemini",
        }
    }
}

/// One recorded request: path (with query), headers and body as the agent sent them.
struct Recorded {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// The recorded fixture `name` of `agent`.
fn recorded(agent: Agent, name: &str) -> Recorded {
    let text = match (agent, name) {
        (Agent::ClaudeCode, "tool-turn-1") => {
            include_str!("fixtures/agents/claude-code/tool-turn-1.json")
        }
        (Agent::ClaudeCode, "tool-turn-2") => {
            include_str!("fixtures/agents/claude-code/tool-turn-2.json")
        }
        (Agent::ClaudeCode, "gateway-model-1") => {
            include_str!("fixtures/agents/claude-code/gateway-model-1.json")
        }
        (Agent::Codex, "tool-turn-1") => include_str!("fixtures/agents/codex/tool-turn-1.json"),
        (Agent::Codex, "tool-turn-2") => include_str!("fixtures/agents/codex/tool-turn-2.json"),
        (Agent::Codex, "default-tools-1") => {
            include_str!("fixtures/agents/codex/default-tools-1.json")
        }
        (Agent::GeminiCli, "tool-turn-1") => {
            include_str!("fixtures/agents/gemini-cli/tool-turn-1.json")
        }
        (Agent::GeminiCli, "tool-turn-2") => {
            include_str!("fixtures/agents/gemini-cli/tool-turn-2.json")
        }
        _ => panic!("no fixture {name} for {agent:?}"),
    };
    let v: Value = serde_json::from_str(text).unwrap();
    Recorded {
        path: v["path"].as_str().unwrap().to_owned(),
        headers: v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        body: v["body"].clone(),
    }
}

impl Recorded {
    /// This request asking for `model`: in the body, or in the path for Gemini CLI.
    fn for_model(mut self, agent: Agent, model: &str) -> Self {
        match agent {
            Agent::GeminiCli => {
                let start = self.path.find("/models/").unwrap() + "/models/".len();
                let end = self.path.rfind(':').unwrap();
                self.path.replace_range(start..end, model);
            }
            Agent::ClaudeCode | Agent::Codex => self.body["model"] = json!(model),
        }
        self
    }

    /// Sends it to ax as the agent would (its headers, its body) and reads the answer.
    async fn send(&self, gw: &Gateway) -> (u16, String, String) {
        let mut req = gw.http.post(format!("{}{}", gw.url, self.path));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req
            .body(serde_json::to_vec(&self.body).unwrap())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, resp.text().await.unwrap())
    }
}

/// What the first prompt of each agent's sequence asks the mock to call.
fn expected_call(agent: Agent) -> (&'static str, Value) {
    match agent {
        Agent::ClaudeCode => ("Read", json!({"file_path": "/home/dev/project/notes.txt"})),
        Agent::Codex => ("exec_command", json!({"cmd": "cat notes.txt"})),
        Agent::GeminiCli => ("read_file", json!({"file_path": "notes.txt"})),
    }
}

/// A line of each agent's system prompt, which must reach every upstream.
fn system_marker(agent: Agent) -> &'static str {
    match agent {
        Agent::ClaudeCode => "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
        Agent::Codex => "You are a coding agent running in the Codex CLI",
        Agent::GeminiCli => "You are Gemini CLI, an autonomous CLI agent",
    }
}

/// What the tool returned in the recorded follow-up (the file's content).
const TOOL_OUTPUT: &str = "The secret word is PELICAN-42.";

/// A tool call as the client saw it, plus whether the stream reported usage.
#[derive(Debug)]
struct ClientTurn {
    /// `(id, name, arguments)` of each tool call.
    calls: Vec<(Option<String>, String, Value)>,
    /// The answer's text.
    text: String,
    /// Input and output tokens the stream reported.
    usage: (u64, u64),
}

/// Reads an answer stream as Claude Code's SDK does: Anthropic Messages events.
fn read_anthropic(body: &str) -> ClientTurn {
    let events = sse_events(body);
    let names: Vec<&str> = events.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{body}");
    assert_eq!(names.last(), Some(&"message_stop"), "{body}");
    let mut blocks: Vec<(Value, String)> = Vec::new();
    let (mut input, mut output) = (0, 0);
    let mut text = String::new();
    for (event, data) in &events {
        let v: Value = serde_json::from_str(data).unwrap();
        // Every frame names its event the way the SDK dispatches on it.
        assert_eq!(v["type"].as_str(), event.as_deref(), "{data}");
        match event.as_deref() {
            Some("message_start") => {
                input = v["message"]["usage"]["input_tokens"].as_u64().unwrap();
            }
            Some("content_block_start") => {
                assert_eq!(v["index"].as_u64(), Some(blocks.len() as u64), "{data}");
                blocks.push((v["content_block"].clone(), String::new()));
            }
            Some("content_block_delta") => {
                let i = v["index"].as_u64().unwrap() as usize;
                let delta = &v["delta"];
                match delta["type"].as_str() {
                    Some("input_json_delta") => {
                        blocks[i]
                            .1
                            .push_str(delta["partial_json"].as_str().unwrap());
                    }
                    Some("text_delta") => text.push_str(delta["text"].as_str().unwrap()),
                    _ => {}
                }
            }
            Some("message_delta") => {
                output = v["usage"]["output_tokens"].as_u64().unwrap();
                // Usage is cumulative; a translated stream knows its input only here.
                if let Some(n) = v["usage"]["input_tokens"].as_u64() {
                    input = input.max(n);
                }
            }
            _ => {}
        }
    }
    let calls = blocks
        .into_iter()
        .filter(|(b, _)| b["type"] == "tool_use")
        .map(|(b, json)| {
            let args = if json.is_empty() {
                b["input"].clone()
            } else {
                serde_json::from_str(&json).unwrap()
            };
            (
                b["id"].as_str().map(str::to_owned),
                b["name"].as_str().unwrap().to_owned(),
                args,
            )
        })
        .collect();
    ClientTurn {
        calls,
        text,
        usage: (input, output),
    }
}

/// Reads an answer stream as Codex does: Responses events, the final state from
/// `response.completed`, checked against the items the deltas built.
fn read_responses(body: &str) -> ClientTurn {
    let events = sse_events(body);
    let mut last_seq = None;
    let mut streamed_args = std::collections::BTreeMap::new();
    let mut completed = None;
    let mut text = String::new();
    for (event, data) in &events {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"].as_str(), event.as_deref(), "{data}");
        let seq = v["sequence_number"].as_u64().unwrap();
        assert!(
            last_seq.is_none_or(|s| seq > s),
            "sequence_number {seq} after {last_seq:?}"
        );
        last_seq = Some(seq);
        match event.as_deref() {
            Some("response.function_call_arguments.done") => {
                streamed_args.insert(
                    v["item_id"].as_str().unwrap().to_owned(),
                    v["arguments"].as_str().unwrap().to_owned(),
                );
            }
            Some("response.output_text.delta") => text.push_str(v["delta"].as_str().unwrap()),
            Some("response.completed") => completed = Some(v["response"].clone()),
            _ => {}
        }
    }
    assert_eq!(
        events.first().and_then(|(e, _)| e.as_deref()),
        Some("response.created")
    );
    let response = completed.unwrap_or_else(|| panic!("no response.completed in {body}"));
    assert_eq!(response["status"], "completed");
    let mut calls = Vec::new();
    for item in response["output"].as_array().unwrap() {
        if item["type"] == "function_call" {
            let args = item["arguments"].as_str().unwrap();
            assert_eq!(
                streamed_args
                    .get(item["id"].as_str().unwrap())
                    .map(String::as_str),
                Some(args),
                "the streamed arguments are the final ones"
            );
            calls.push((
                item["call_id"].as_str().map(str::to_owned),
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(args).unwrap(),
            ));
        }
    }
    let usage = &response["usage"];
    ClientTurn {
        calls,
        text,
        usage: (
            usage["input_tokens"].as_u64().unwrap(),
            usage["output_tokens"].as_u64().unwrap(),
        ),
    }
}

/// Reads an answer stream as Gemini CLI does: `data:` chunks of GenerateContentResponse,
/// no `[DONE]`, usage from the last chunk that has it.
fn read_gemini(body: &str) -> ClientTurn {
    let mut calls = Vec::new();
    let mut text = String::new();
    let mut usage = None;
    for (event, data) in sse_events(body) {
        assert_eq!(event, None, "Gemini frames have no event name");
        let v: Value = serde_json::from_str(&data).unwrap();
        for part in v["candidates"][0]["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(call) = part.get("functionCall") {
                calls.push((
                    call["id"].as_str().map(str::to_owned),
                    call["name"].as_str().unwrap().to_owned(),
                    call["args"].clone(),
                ));
            }
            if part["thought"] != true {
                text.push_str(part["text"].as_str().unwrap_or_default());
            }
        }
        if let Some(u) = v.get("usageMetadata") {
            usage = Some((
                u["promptTokenCount"].as_u64().unwrap(),
                u["candidatesTokenCount"].as_u64().unwrap_or(0),
            ));
        }
    }
    ClientTurn {
        calls,
        text,
        usage: usage.unwrap_or_else(|| panic!("no usageMetadata in {body}")),
    }
}

/// Checks status and content type, then reads the stream in `agent`'s format.
fn client_turn(agent: Agent, (status, content_type, body): (u16, String, String)) -> ClientTurn {
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}: {body}"
    );
    let turn = match agent {
        Agent::ClaudeCode => read_anthropic(&body),
        Agent::Codex => read_responses(&body),
        Agent::GeminiCli => read_gemini(&body),
    };
    assert!(
        turn.usage.0 > 0 && turn.usage.1 > 0,
        "usage {:?}: {body}",
        turn.usage
    );
    turn
}

/// The last request body the upstream of `kind` got.
fn upstream_body(gw: &Gateway, agent: Agent, kind: Upstream) -> Value {
    match kind {
        Upstream::OpenAi if agent == Agent::Codex => gw.openai.last_body("/v1/responses"),
        Upstream::OpenAi => gw.openai.last_body("/v1/chat/completions"),
        Upstream::Anthropic => gw.claude.last_body("/v1/messages"),
        Upstream::Gemini => gw.gemini.last_body("/v1beta/models/"),
    }
    .unwrap_or_else(|| panic!("{kind:?} upstream got nothing"))
}

/// Every text of a content value: a string, or the `text` of its parts or blocks.
fn texts(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().map(texts).collect::<Vec<_>>().join("\n"),
        Value::Object(o) => o.get("text").map(texts).unwrap_or_default(),
        _ => String::new(),
    }
}

/// The instructions an upstream request carries, in that upstream's format.
fn upstream_system(agent: Agent, kind: Upstream, body: &Value) -> String {
    match kind {
        Upstream::OpenAi if agent == Agent::Codex => body["input"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["role"] == "developer" || i["role"] == "system")
            .map(|i| texts(&i["content"]))
            .chain(body["instructions"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("\n"),
        Upstream::OpenAi => body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "system" || m["role"] == "developer")
            .map(|m| texts(&m["content"]))
            .collect::<Vec<_>>()
            .join("\n"),
        // Anthropic also takes `system`-role entries in `messages`.
        Upstream::Anthropic => std::iter::once(texts(&body["system"]))
            .chain(
                body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["role"] == "system")
                    .map(|m| texts(&m["content"])),
            )
            .collect::<Vec<_>>()
            .join("\n"),
        Upstream::Gemini => texts(&body["systemInstruction"]["parts"]),
    }
}

/// `(name, declaration)` of every function tool in a request shaped for `kind` (the
/// Responses shape when `responses`), sorted by name.
fn tool_decls(kind: Upstream, responses: bool, body: &Value) -> Vec<(String, Value)> {
    let tools = match kind {
        Upstream::Gemini => body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
            .cloned()
            .collect(),
        _ => body["tools"].as_array().cloned().unwrap_or_default(),
    };
    let mut out: Vec<(String, Value)> = tools
        .into_iter()
        .filter_map(|t| {
            let name = match kind {
                Upstream::OpenAi if responses => {
                    (t["type"] == "function").then(|| t["name"].as_str().unwrap().to_owned())
                }
                Upstream::OpenAi => t["function"]["name"].as_str().map(str::to_owned),
                Upstream::Anthropic | Upstream::Gemini => t["name"].as_str().map(str::to_owned),
            }?;
            Some((name, t))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The agent's own format, as an upstream kind (for reading its request's tools).
fn own_kind(agent: Agent) -> Upstream {
    match agent {
        Agent::ClaudeCode => Upstream::Anthropic,
        Agent::Codex => Upstream::OpenAi,
        Agent::GeminiCli => Upstream::Gemini,
    }
}

/// Whether `agent` talking to `kind` is the same-format path.
fn same_format(agent: Agent, kind: Upstream) -> bool {
    own_kind(agent) == kind
}

/// Turn one, upstream side: model, system prompt, tools.
fn check_first_upstream(gw: &Gateway, agent: Agent, kind: Upstream, sent: &Recorded) {
    let (_, bare) = kind.models();
    let body = upstream_body(gw, agent, kind);
    if same_format(agent, kind) {
        // Same format: every field as the agent sent it, the model rewritten.
        let mut expected = sent.body.clone();
        if agent != Agent::GeminiCli {
            expected["model"] = json!(bare);
        }
        assert_eq!(body, expected, "{agent:?} → {kind:?} changed the body");
    }
    match kind {
        // Gemini names the model in the path.
        Upstream::Gemini => assert!(
            gw.gemini.hits(&format!("/v1beta/models/{bare}:")) > 0,
            "{agent:?} → {kind:?}: no call for models/{bare}"
        ),
        _ => assert_eq!(body["model"], bare, "{agent:?} → {kind:?}"),
    }
    let system = upstream_system(agent, kind, &body);
    assert!(
        system.contains(system_marker(agent)),
        "{agent:?} → {kind:?}: system prompt missing from {system:.300}"
    );
    // Every function tool the agent declared, each with its parameters.
    let theirs = tool_decls(own_kind(agent), agent == Agent::Codex, &sent.body);
    let ours = tool_decls(kind, agent == Agent::Codex, &body);
    let names = |v: &[(String, Value)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs), "{agent:?} → {kind:?} tools");
    for ((name, decl), (_, original)) in ours.iter().zip(&theirs) {
        let props = original
            .get("input_schema")
            .or_else(|| original.get("parameters"))
            .or_else(|| original.get("parametersJsonSchema"))
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object);
        for prop in props.into_iter().flatten().map(|(k, _)| k) {
            assert!(
                decl.to_string().contains(&format!("\"{prop}\"")),
                "{agent:?} → {kind:?}: tool {name} lost parameter {prop}: {decl}"
            );
        }
    }
}

/// Turn two, upstream side: the tool result follows the call it answers, linked by id
/// (or by name, for Gemini calls without one).
fn check_tool_result_upstream(gw: &Gateway, agent: Agent, kind: Upstream, call_id: Option<&str>) {
    let (name, args) = expected_call(agent);
    let body = upstream_body(gw, agent, kind);
    match kind {
        Upstream::OpenAi if agent == Agent::Codex => {
            let input = body["input"].as_array().unwrap();
            let call = input.iter().find(|i| i["type"] == "function_call").unwrap();
            let output = input
                .iter()
                .find(|i| i["type"] == "function_call_output")
                .unwrap();
            assert_eq!(call["name"], name);
            assert_eq!(call["call_id"], output["call_id"]);
            assert_eq!(call["call_id"].as_str(), call_id);
            assert!(
                output["output"].to_string().contains(TOOL_OUTPUT),
                "{output}"
            );
        }
        Upstream::OpenAi => {
            let messages = body["messages"].as_array().unwrap();
            let (at, assistant) = messages
                .iter()
                .enumerate()
                .find(|(_, m)| m["role"] == "assistant" && m.get("tool_calls").is_some())
                .unwrap_or_else(|| panic!("no assistant tool call in {body}"));
            let call = &assistant["tool_calls"][0];
            assert_eq!(call["function"]["name"], name);
            let sent_args: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
            assert_eq!(sent_args, args);
            assert_eq!(call["id"].as_str(), call_id);
            let result = messages[at + 1..]
                .iter()
                .find(|m| m["role"] == "tool")
                .unwrap_or_else(|| panic!("no tool message after the call in {body}"));
            assert_eq!(result["tool_call_id"], call["id"]);
            assert!(texts(&result["content"]).contains(TOOL_OUTPUT), "{result}");
        }
        Upstream::Anthropic => {
            let messages = body["messages"].as_array().unwrap();
            let n = messages.len();
            let call = messages[n - 2]["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_use")
                .unwrap_or_else(|| panic!("no tool_use before the result in {body}"));
            assert_eq!(call["name"], name);
            assert_eq!(call["input"], args);
            assert_eq!(call["id"].as_str(), call_id);
            let result = messages[n - 1]["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_result")
                .unwrap_or_else(|| panic!("no tool_result in {body}"));
            assert_eq!(result["tool_use_id"], call["id"]);
            assert!(texts(&result["content"]).contains(TOOL_OUTPUT), "{result}");
        }
        Upstream::Gemini => {
            let contents = body["contents"].as_array().unwrap();
            let n = contents.len();
            let part_with = |c: &Value, key: &str| {
                c["parts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find_map(|p| p.get(key).cloned())
            };
            assert_eq!(contents[n - 2]["role"], "model");
            let call = part_with(&contents[n - 2], "functionCall")
                .unwrap_or_else(|| panic!("no functionCall before the response in {body}"));
            let response = part_with(&contents[n - 1], "functionResponse")
                .unwrap_or_else(|| panic!("no functionResponse in {body}"));
            assert_eq!(call["name"], name);
            assert_eq!(call["args"], args);
            assert_eq!(response["name"], name);
            if let Some(id) = call.get("id") {
                assert_eq!(response.get("id"), Some(id));
            }
            assert!(
                response["response"].to_string().contains(TOOL_OUTPUT),
                "{response}"
            );
        }
    }
}

/// Replaces the call id the recording got with the one this replay got, everywhere in
/// the follow-up (the call and its result), as the agent would have sent it.
fn relink(agent: Agent, mut follow_up: Recorded, new_id: Option<&str>) -> Recorded {
    let Some(new_id) = new_id else {
        return follow_up;
    };
    let old = match agent {
        Agent::ClaudeCode => {
            let messages = follow_up.body["messages"].as_array().unwrap();
            messages[messages.len() - 2]["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_use")
                .unwrap()["id"]
                .clone()
        }
        Agent::Codex => follow_up.body["input"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap()["call_id"]
            .clone(),
        Agent::GeminiCli => {
            let contents = follow_up.body["contents"].as_array().unwrap();
            contents[contents.len() - 2]["parts"][0]["functionCall"]["id"].clone()
        }
    };
    let old = old.as_str().unwrap();
    let text = serde_json::to_string(&follow_up.body).unwrap().replace(
        &format!("\"{old}\""),
        &serde_json::to_string(new_id).unwrap(),
    );
    follow_up.body = serde_json::from_str(&text).unwrap();
    follow_up
}

/// Exactly one completed row per request, on `kind`'s provider, with tokens.
fn check_rows(rows: &[LoggedRequest], requests: usize, kind: Upstream) {
    assert_eq!(rows.len(), requests, "{rows:#?}");
    for row in rows {
        assert_eq!(row.state, "completed", "{row:?}");
        assert_eq!(row.provider.as_deref(), Some(kind.provider()), "{row:?}");
        assert!(row.input_tokens.unwrap_or(0) > 0, "{row:?}");
        assert!(row.output_tokens.unwrap_or(0) > 0, "{row:?}");
    }
}

/// The whole sequence of `agent` against `kind`.
async fn replay(agent: Agent, kind: Upstream) {
    let (model, _) = kind.models();
    let mut gw = common::gateway().await;

    // Turn one: the prompt; the mock calls the tool it names.
    let first = recorded(agent, "tool-turn-1").for_model(agent, model);
    let turn = client_turn(agent, first.send(&gw).await);
    check_first_upstream(&gw, agent, kind, &first);
    let (name, args) = expected_call(agent);
    assert_eq!(turn.calls.len(), 1, "{agent:?} → {kind:?}: {turn:?}");
    let (id, got_name, got_args) = &turn.calls[0];
    assert_eq!(got_name, name);
    assert_eq!(got_args, &args);
    if agent != Agent::GeminiCli {
        assert!(id.as_deref().is_some_and(|s| !s.is_empty()), "{turn:?}");
    }

    // Turn two: the recorded follow-up with the tool's output, linked to this call.
    let second = relink(
        agent,
        recorded(agent, "tool-turn-2").for_model(agent, model),
        id.as_deref(),
    );
    let answer = client_turn(agent, second.send(&gw).await);
    assert!(answer.calls.is_empty(), "{answer:?}");
    assert!(
        answer.text.starts_with("tool said: ") && answer.text.contains("PELICAN-42"),
        "{agent:?} → {kind:?}: {:?}",
        answer.text
    );
    let linked_id = match (agent, id) {
        // Gemini CLI names a call without an id itself; the recording kept that name.
        (Agent::GeminiCli, None) => relink_id_of(&second),
        (_, id) => id.clone(),
    };
    check_tool_result_upstream(&gw, agent, kind, linked_id.as_deref());

    check_rows(&gw.stop().await, 2, kind);
}

/// The call id a Gemini CLI follow-up carries (its own, when the model gave none).
fn relink_id_of(follow_up: &Recorded) -> Option<String> {
    let contents = follow_up.body["contents"].as_array()?;
    contents[contents.len() - 2]["parts"][0]["functionCall"]["id"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn claude_code_through_openai() {
    replay(Agent::ClaudeCode, Upstream::OpenAi).await;
}

#[tokio::test]
async fn claude_code_through_anthropic() {
    replay(Agent::ClaudeCode, Upstream::Anthropic).await;
}

#[tokio::test]
async fn claude_code_through_gemini() {
    replay(Agent::ClaudeCode, Upstream::Gemini).await;
}

#[tokio::test]
async fn codex_through_openai() {
    replay(Agent::Codex, Upstream::OpenAi).await;
}

#[tokio::test]
async fn codex_through_anthropic() {
    replay(Agent::Codex, Upstream::Anthropic).await;
}

#[tokio::test]
async fn codex_through_gemini() {
    replay(Agent::Codex, Upstream::Gemini).await;
}

#[tokio::test]
async fn gemini_cli_through_openai() {
    replay(Agent::GeminiCli, Upstream::OpenAi).await;
}

#[tokio::test]
async fn gemini_cli_through_anthropic() {
    replay(Agent::GeminiCli, Upstream::Anthropic).await;
}

#[tokio::test]
async fn gemini_cli_through_gemini() {
    replay(Agent::GeminiCli, Upstream::Gemini).await;
}

/// Claude Code with a model name it does not know (`openai/gpt-4o`): its environment
/// arrives as a `system`-role message after the user's, with adaptive thinking and
/// `output_config.effort`. Every upstream answers; the environment reaches each one.
#[tokio::test]
async fn claude_code_with_a_gateway_model_name() {
    let mut gw = common::gateway().await;
    for kind in [Upstream::OpenAi, Upstream::Anthropic, Upstream::Gemini] {
        let (model, bare) = kind.models();
        let sent =
            recorded(Agent::ClaudeCode, "gateway-model-1").for_model(Agent::ClaudeCode, model);
        let turn = client_turn(Agent::ClaudeCode, sent.send(&gw).await);
        assert!(
            turn.text.starts_with("Hello from mock-"),
            "{kind:?}: {turn:?}"
        );
        let body = upstream_body(&gw, Agent::ClaudeCode, kind);
        let system = upstream_system(Agent::ClaudeCode, kind, &body);
        assert!(
            system.contains(system_marker(Agent::ClaudeCode)),
            "{kind:?}"
        );
        assert!(
            system.contains("Primary working directory: /home/dev/project"),
            "{kind:?}: {system:.300}"
        );
        match kind {
            // Chat Completions keeps the system message where the agent put it: last.
            Upstream::OpenAi => {
                let messages = body["messages"].as_array().unwrap();
                assert_eq!(messages.last().unwrap()["role"], "system");
                assert_eq!(body["model"], bare);
            }
            Upstream::Anthropic => {
                let mut expected = sent.body.clone();
                expected["model"] = json!(bare);
                assert_eq!(body, expected);
            }
            Upstream::Gemini => {
                assert_eq!(
                    body["contents"].as_array().unwrap().last().unwrap()["role"],
                    "user"
                );
            }
        }
    }
    let rows = gw.stop().await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows.iter().all(|r| r.state == "completed"), "{rows:#?}");
}

/// Codex with its default tools (a `namespace` of sub-agent functions and the built-in
/// `web_search`) reaches an OpenAI upstream's Responses API unchanged but for the model.
#[tokio::test]
async fn codex_default_tools_reach_openai_unchanged() {
    let mut gw = common::gateway().await;
    let (model, bare) = Upstream::OpenAi.models();
    let sent = recorded(Agent::Codex, "default-tools-1").for_model(Agent::Codex, model);
    let types: Vec<&str> = sent.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert!(
        types.contains(&"namespace") && types.contains(&"web_search"),
        "{types:?}"
    );
    let turn = client_turn(Agent::Codex, sent.send(&gw).await);
    assert!(turn.text.starts_with("Hello from mock-"), "{turn:?}");
    let mut expected = sent.body.clone();
    expected["model"] = json!(bare);
    assert_eq!(gw.openai.last_body("/v1/responses").unwrap(), expected);
    check_rows(&gw.stop().await, 1, Upstream::OpenAi);
}

/// Codex with its default tools but the built-in `web_search` (which stays OpenAI-only)
/// reaches Anthropic and Gemini upstreams: the `namespace` of sub-agent functions is
/// flattened into ordinary function declarations.
#[tokio::test]
async fn codex_default_tools_without_web_search_reach_anthropic_and_gemini() {
    for kind in [Upstream::Anthropic, Upstream::Gemini] {
        let mut gw = common::gateway().await;
        let (model, _) = kind.models();
        let mut sent = recorded(Agent::Codex, "default-tools-1").for_model(Agent::Codex, model);
        let tools = sent.body["tools"].as_array_mut().unwrap();
        tools.retain(|t| t["type"] != "web_search");
        assert!(tools.iter().any(|t| t["type"] == "namespace"), "{tools:?}");
        let turn = client_turn(Agent::Codex, sent.send(&gw).await);
        assert!(
            turn.text.starts_with("Hello from mock-"),
            "{kind:?}: {turn:?}"
        );
        let names: Vec<String> = tool_decls(kind, false, &upstream_body(&gw, Agent::Codex, kind))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for name in ["exec_command", "spawn_agent", "wait_agent", "close_agent"] {
            assert!(names.iter().any(|n| n == name), "{kind:?}: {names:?}");
        }
        check_rows(&gw.stop().await, 1, kind);
    }
}
