//! OpenAI Responses: `POST /v1/responses` (ax passes a Responses request through to an
//! OpenAI upstream's `/v1/responses`). Shapes follow openai-python `types/responses/` at
//! e43b422: `response.py` (`Response`), `response_output_message.py`,
//! `response_output_text.py`, `response_function_tool_call.py`,
//! `response_reasoning_item.py`, `response_usage.py`, and the stream events
//! `response_created_event.py`, `response_in_progress_event.py`,
//! `response_output_item_added_event.py`, `response_content_part_added_event.py`,
//! `response_text_delta_event.py`, `response_text_done_event.py`,
//! `response_content_part_done_event.py`, `response_output_item_done_event.py`,
//! `response_function_call_arguments_delta_event.py`,
//! `response_function_call_arguments_done_event.py`, `response_completed_event.py`,
//! `response_failed_event.py`. Every event is `event: <type>` + `data: {"type", …,
//! "sequence_number"}` (numbers from 0, one per event), as Codex's SSE reader
//! (`codex-api/src/sse/responses.rs`) and fixtures read them.
//!
//! Answers:
//! - text: `Hello from mock-openai: <first 40 chars of the last user text>`, or
//!   `tool said: …` after a `function_call_output` (see [`crate::trigger`]);
//! - a `function_call` item when `tool_choice` is `required` (first function tool), names
//!   a function, or the last user message holds a `[[call NAME ARGS]]` trigger;
//! - a `reasoning` item first, with `encrypted_content`, when `include` asks for
//!   `reasoning.encrypted_content` (what Codex sends with `store: false`).
//!
//! Request fields the answer echoes as the API does: `instructions`, `max_output_tokens`,
//! `max_tool_calls`, `metadata`, `parallel_tool_calls`, `previous_response_id`,
//! `prompt_cache_key`, `reasoning`, `store`, `temperature`, `text`, `tool_choice`,
//! `tools`, `top_logprobs`, `top_p`, `truncation`, `user`, `safety_identifier`.
//! Knobs: `error-after` sends `response.failed` (status `failed`, `error.code`
//! `server_error`); `cut-after`, `chunks`, `chunk-delay-ms` and `malformed` work as on
//! Chat Completions.

mod strict;

use std::cell::Cell;

use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::MockConfig;
use crate::openai::{finish, malformed_sse};
use crate::plan::{Emitter, Framing, Plan, drive};
use crate::server::Ctx;
use crate::trigger::{self, Reply};
use crate::util::{
    Format, answer_text, bad_request, malformed_json, now_secs, piece, to_json, tokens,
};

pub(crate) use strict::check as strict_check;

/// Reasoning tokens reported when the answer carries a reasoning item.
const REASONING_TOKENS: u64 = 8;

/// What the request says about its conversation.
#[derive(Debug, Default)]
struct Input<'a> {
    /// The last text of the last user message (or `input` itself when a string).
    last_user_text: Option<&'a str>,
    /// Bytes of text in `instructions` and every item.
    text_len: usize,
}

fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum(),
        _ => 0,
    }
}

fn read_input(req: &Value) -> Input<'_> {
    let mut inp = Input {
        last_user_text: None,
        text_len: req.get("instructions").map_or(0, text_len),
    };
    match req.get("input") {
        Some(Value::String(s)) => {
            inp.text_len += s.len();
            inp.last_user_text = Some(s);
        }
        Some(Value::Array(items)) => {
            for it in items {
                inp.text_len += ["content", "output", "arguments"]
                    .iter()
                    .filter_map(|k| it.get(*k))
                    .map(text_len)
                    .sum::<usize>();
                let user = it.get("role").and_then(Value::as_str) == Some("user");
                let last = match it.get("content") {
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .next_back(),
                    _ => None,
                };
                if let (true, Some(t)) = (user, last) {
                    inp.last_user_text = Some(t);
                }
            }
        }
        _ => {}
    }
    inp
}

/// The names of the request's `{"type":"function"}` tools.
fn function_tools(req: &Value) -> impl Iterator<Item = &str> {
    req.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        .filter_map(|t| t.get("name").and_then(Value::as_str))
}

/// The function `tool_choice` forces: `required` → the first function tool, `{"type":
/// "function", "name"}` → that one, `allowed_tools` in mode `required` → its first
/// function; `None` for `auto`/`none`/absent or a built-in tool.
fn forced_tool(req: &Value) -> Option<&str> {
    match req.get("tool_choice")? {
        Value::String(s) if s == "required" => function_tools(req).next(),
        Value::Object(o) => match o.get("type").and_then(Value::as_str)? {
            "function" => o.get("name").and_then(Value::as_str),
            "allowed_tools" if o.get("mode").and_then(Value::as_str) == Some("required") => o
                .get("tools")
                .and_then(Value::as_array)?
                .iter()
                .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
                .find_map(|t| t.get("name").and_then(Value::as_str)),
            _ => None,
        },
        _ => None,
    }
}

fn echo(req: &Value, key: &str, default: Value) -> Value {
    match req.get(key) {
        Some(v) if !v.is_null() => v.clone(),
        _ => default,
    }
}

/// The `response` object; `status`, `output`, `usage` and `error` vary with the event.
fn response_object(req: &Value, id: &str, created_at: u64, model: &str) -> Value {
    let reasoning = req.get("reasoning").filter(|r| r.is_object());
    let field = |k: &str| {
        reasoning
            .and_then(|r| r.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": false,
        "completed_at": null,
        "error": null,
        "incomplete_details": null,
        "instructions": echo(req, "instructions", Value::Null),
        "max_output_tokens": echo(req, "max_output_tokens", Value::Null),
        "max_tool_calls": echo(req, "max_tool_calls", Value::Null),
        "metadata": echo(req, "metadata", json!({})),
        "model": model,
        "output": [],
        "parallel_tool_calls": echo(req, "parallel_tool_calls", json!(true)),
        "previous_response_id": echo(req, "previous_response_id", Value::Null),
        "prompt_cache_key": echo(req, "prompt_cache_key", Value::Null),
        "reasoning": {"effort": field("effort"), "summary": field("summary")},
        "safety_identifier": echo(req, "safety_identifier", Value::Null),
        "service_tier": "default",
        "store": echo(req, "store", json!(true)),
        "temperature": echo(req, "temperature", json!(1.0)),
        "text": echo(req, "text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": echo(req, "tool_choice", json!("auto")),
        "tools": echo(req, "tools", json!([])),
        "top_logprobs": echo(req, "top_logprobs", json!(0)),
        "top_p": echo(req, "top_p", json!(1.0)),
        "truncation": echo(req, "truncation", json!("disabled")),
        "usage": null,
        "user": echo(req, "user", Value::Null),
    })
}

/// `ResponseUsage`.
fn usage(input: u64, output: u64, reasoning: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input + output,
    })
}

/// The answer's main output item, finished (`completed`) or just added (`in_progress`,
/// empty).
struct Item<'a> {
    id: &'a str,
    /// The text answer, or the arguments of `call`.
    text: &'a str,
    /// `(call_id, name)` for a function call.
    call: Option<(&'a str, &'a str)>,
}

impl Item<'_> {
    fn json(&self, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match self.call {
            Some((call_id, name)) => json!({
                "id": self.id,
                "type": "function_call",
                "status": status,
                "call_id": call_id,
                "name": name,
                "arguments": if done { self.text } else { "" },
            }),
            None => json!({
                "id": self.id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": if done { json!([self.part(self.text)]) } else { json!([]) },
            }),
        }
    }

    fn part(&self, text: &str) -> Value {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    }
}

struct Stream<'a> {
    seq: Cell<u64>,
    /// The response while in progress (no output, no usage).
    start: &'a Value,
    done: &'a Value,
    failed: &'a Value,
    /// The reasoning item, when there is one (output index 0).
    reasoning: Option<&'a Value>,
    item: Item<'a>,
    output_index: u64,
}

impl Stream<'_> {
    /// One event: `fields` plus `type` and the next `sequence_number`.
    fn emit(&self, p: &mut Plan, kind: &str, fields: Value) {
        let mut m = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("type".into(), kind.into());
        let n = self.seq.get();
        self.seq.set(n + 1);
        m.insert("sequence_number".into(), n.into());
        p.event(Some(kind), &Value::Object(m));
    }
}

impl Emitter for Stream<'_> {
    fn preamble(&self, p: &mut Plan) {
        self.emit(p, "response.created", json!({"response": self.start}));
        self.emit(p, "response.in_progress", json!({"response": self.start}));
        if let Some(r) = self.reasoning {
            let added = json!({"id": r["id"], "type": "reasoning", "summary": []});
            self.emit(
                p,
                "response.output_item.added",
                json!({"output_index": 0, "item": added}),
            );
            self.emit(
                p,
                "response.output_item.done",
                json!({"output_index": 0, "item": r}),
            );
        }
        self.emit(
            p,
            "response.output_item.added",
            json!({"output_index": self.output_index, "item": self.item.json(false)}),
        );
        if self.item.call.is_none() {
            self.emit(
                p,
                "response.content_part.added",
                json!({
                    "item_id": self.item.id,
                    "output_index": self.output_index,
                    "content_index": 0,
                    "part": self.item.part(""),
                }),
            );
        }
    }

    fn chunk(&self, p: &mut Plan, i: usize, n: usize) {
        let delta = piece(self.item.text, i, n);
        match self.item.call {
            None => self.emit(
                p,
                "response.output_text.delta",
                json!({
                    "item_id": self.item.id,
                    "output_index": self.output_index,
                    "content_index": 0,
                    "delta": delta,
                    "logprobs": [],
                }),
            ),
            Some(_) => self.emit(
                p,
                "response.function_call_arguments.delta",
                json!({
                    "item_id": self.item.id,
                    "output_index": self.output_index,
                    "delta": delta,
                }),
            ),
        }
    }

    fn error(&self, p: &mut Plan) {
        self.emit(p, "response.failed", json!({"response": self.failed}));
    }

    fn tail(&self, p: &mut Plan) {
        match self.item.call {
            None => {
                self.emit(
                    p,
                    "response.output_text.done",
                    json!({
                        "item_id": self.item.id,
                        "output_index": self.output_index,
                        "content_index": 0,
                        "text": self.item.text,
                        "logprobs": [],
                    }),
                );
                self.emit(
                    p,
                    "response.content_part.done",
                    json!({
                        "item_id": self.item.id,
                        "output_index": self.output_index,
                        "content_index": 0,
                        "part": self.item.part(self.item.text),
                    }),
                );
            }
            Some((_, name)) => self.emit(
                p,
                "response.function_call_arguments.done",
                json!({
                    "item_id": self.item.id,
                    "output_index": self.output_index,
                    "name": name,
                    "arguments": self.item.text,
                }),
            ),
        }
        self.emit(
            p,
            "response.output_item.done",
            json!({"output_index": self.output_index, "item": self.item.json(true)}),
        );
        self.emit(p, "response.completed", json!({"response": self.done}));
    }
}

/// `POST /v1/responses`.
pub(crate) fn create(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: Value = match serde_json::from_slice(ctx.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request(Format::OpenAi, "The request body must be a JSON object."),
        Err(e) => {
            return bad_request(
                Format::OpenAi,
                &format!("We could not parse the JSON body of your request. ({e})"),
            );
        }
    };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return bad_request(Format::OpenAi, "Missing required parameter: 'model'.");
    };
    let stream = req.get("stream").and_then(Value::as_bool) == Some(true);
    if cfg.malformed {
        return if stream {
            malformed_sse()
        } else {
            malformed_json()
        };
    }
    let input = read_input(&req);
    let has_tools = function_tools(&req).next().is_some();
    let turn = if has_tools {
        trigger::responses(&req)
    } else {
        None
    };
    let reply = trigger::decide(forced_tool(&req).map(Into::into), turn);
    let answer;
    let call_id;
    let (text, call): (&str, Option<(&str, &str)>) = match &reply {
        Reply::Call { name, args } => {
            call_id = format!("call_mock{}", ctx.shared.next_id());
            (args, Some((call_id.as_str(), name)))
        }
        Reply::Text(t) => (t.as_str(), None),
        Reply::Answer => {
            answer = answer_text(Format::OpenAi, input.last_user_text);
            (answer.as_str(), None)
        }
    };
    let n = ctx.shared.next_id();
    let id = format!("resp_mock{n}");
    let item_id = match call {
        Some(_) => format!("fc_mock{n}"),
        None => format!("msg_mock{n}"),
    };
    let wants_reasoning = req
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "reasoning.encrypted_content"));
    let reasoning = wants_reasoning.then(|| {
        let sealed = base64::engine::general_purpose::STANDARD.encode(format!(
            "mock reasoning {id}: {}",
            input.last_user_text.unwrap_or("")
        ));
        json!({
            "id": format!("rs_mock{n}"),
            "type": "reasoning",
            "summary": [],
            "encrypted_content": sealed,
        })
    });
    let reasoning_tokens = if reasoning.is_some() {
        REASONING_TOKENS
    } else {
        0
    };
    let item = Item {
        id: &item_id,
        text,
        call,
    };
    let output_tokens =
        tokens(text.len() + call.map_or(0, |(_, name)| name.len())) + reasoning_tokens;
    let created_at = now_secs();
    let start = response_object(&req, &id, created_at, model);
    let mut done = start.clone();
    let mut output: Vec<Value> = reasoning.iter().cloned().collect();
    output.push(item.json(true));
    done["status"] = "completed".into();
    done["completed_at"] = created_at.into();
    done["output"] = output.into();
    done["usage"] = usage(tokens(input.text_len), output_tokens, reasoning_tokens);

    if stream {
        let mut failed = start.clone();
        failed["status"] = "failed".into();
        failed["error"] = json!({
            "code": "server_error",
            "message": "The server had an error while processing your request. Sorry about that!",
        });
        let s = Stream {
            seq: Cell::new(0),
            start: &start,
            done: &done,
            failed: &failed,
            reasoning: reasoning.as_ref(),
            output_index: u64::from(reasoning.is_some()),
            item,
        };
        return drive(&s, Framing::Sse, cfg.chunks, cfg).into_response(cfg, ctx.cancel());
    }
    finish(to_json(&done), cfg, ctx)
}
