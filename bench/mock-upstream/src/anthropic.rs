//! Anthropic: `POST /v1/messages`, `GET /v1/models`. Shapes follow anthropic-sdk-python
//! `types/message.py`, `types/raw_*_event.py`, `types/usage.py`, `types/model_info.py`.

use axum::body::Body;
use axum::response::Response;
use serde::Serialize;

use crate::MockConfig;
use crate::openai::finish;
use crate::plan::{Emitter, Framing, Plan, drive};
use crate::request::{AnthropicMessages, role};
use crate::server::Ctx;
use crate::trigger::{self, ArgsObject, Reply};
use crate::util::{
    AnthropicErrorBody, Format, answer_text, bad_request, malformed_json, piece, response, to_json,
    tokens,
};

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [Block<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: Usage,
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
    service_tier: &'static str,
}

/// `message_delta.usage`: cumulative totals.
#[derive(Serialize)]
struct DeltaUsage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Input<'a>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    /// The call's arguments (non-streamed).
    Args(ArgsObject<'a>),
    /// `{}`: `content_block_start` carries no input; it streams as `input_json_delta`.
    Empty {},
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDeltaBody {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Message<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: DeltaUsage,
    },
    MessageStop,
    Error {
        error: AnthropicErrorBody<'a>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Error { .. } => "error",
        }
    }
}

fn emit(p: &mut Plan, e: &Event<'_>) {
    p.event(Some(e.name()), e);
}

struct Stream<'a> {
    id: &'a str,
    model: &'a str,
    /// Text answer, or the JSON arguments when `call` is set.
    text: &'a str,
    /// `(tool_use id, tool name)`.
    call: Option<(&'a str, &'a str)>,
    input_tokens: u64,
    output_tokens: u64,
}

impl Emitter for Stream<'_> {
    fn preamble(&self, p: &mut Plan) {
        emit(
            p,
            &Event::MessageStart {
                message: Message {
                    id: self.id,
                    kind: "message",
                    role: "assistant",
                    model: self.model,
                    content: &[],
                    stop_reason: None,
                    stop_sequence: None,
                    usage: Usage {
                        input_tokens: self.input_tokens,
                        cache_creation_input_tokens: 0,
                        cache_read_input_tokens: 0,
                        output_tokens: 1,
                        service_tier: "standard",
                    },
                },
            },
        );
        let content_block = match self.call {
            None => Block::Text { text: "" },
            Some((id, name)) => Block::ToolUse {
                id,
                name,
                input: Input::Empty {},
            },
        };
        emit(
            p,
            &Event::ContentBlockStart {
                index: 0,
                content_block,
            },
        );
        emit(p, &Event::Ping);
    }

    fn chunk(&self, p: &mut Plan, i: usize, n: usize) {
        let part = piece(self.text, i, n);
        let delta = match self.call {
            None => BlockDelta::TextDelta { text: part },
            Some(_) => BlockDelta::InputJsonDelta { partial_json: part },
        };
        emit(p, &Event::ContentBlockDelta { index: 0, delta });
    }

    fn error(&self, p: &mut Plan) {
        emit(
            p,
            &Event::Error {
                error: AnthropicErrorBody {
                    kind: "overloaded_error",
                    message: "Overloaded",
                },
            },
        );
    }

    fn tail(&self, p: &mut Plan) {
        emit(p, &Event::ContentBlockStop { index: 0 });
        emit(
            p,
            &Event::MessageDelta {
                delta: MessageDeltaBody {
                    stop_reason: if self.call.is_some() {
                        "tool_use"
                    } else {
                        "end_turn"
                    },
                    stop_sequence: None,
                },
                usage: DeltaUsage {
                    input_tokens: self.input_tokens,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 0,
                    output_tokens: self.output_tokens,
                },
            },
        );
        emit(p, &Event::MessageStop);
    }
}

/// `POST /v1/messages`.
pub(crate) fn messages(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: AnthropicMessages<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => return bad_request(Format::Anthropic, &format!("invalid request body: {e}")),
    };
    let Some(model) = req.model.as_ref() else {
        return bad_request(Format::Anthropic, "model: Field required");
    };
    if req.max_tokens.is_none() {
        return bad_request(Format::Anthropic, "max_tokens: Field required");
    }
    let Some(conv) = req.messages.as_ref() else {
        return bad_request(Format::Anthropic, "messages: Field required");
    };
    if conv.turns == 0 {
        return bad_request(
            Format::Anthropic,
            "messages: at least one message is required",
        );
    }
    // `MessageParam.role: Literal["user", "assistant", "system"]` (anthropic-sdk-python
    // `types/message_param.py` since 2b82676, 2026-05-28: mid-conversation system
    // entries).
    if let Some(bad) = conv.bad_role(role::USER | role::ASSISTANT | role::SYSTEM) {
        return bad_request(
            Format::Anthropic,
            &format!(
                "messages: Input tag '{bad}' found using 'role' does not match any of the expected tags: 'user', 'assistant', 'system'"
            ),
        );
    }
    let stream = req.stream.unwrap_or(false);
    if cfg.malformed {
        return if stream {
            crate::openai::malformed_sse()
        } else {
            malformed_json()
        };
    }
    // Only a request with tools can hold a trigger or a tool result: the others never
    // build a JSON tree.
    let turn = if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        trigger::anthropic(ctx.body)
    } else {
        None
    };
    let reply = trigger::decide(req.forced_tool(), turn);
    let answer;
    let call_id;
    let (text, call) = match &reply {
        Reply::Call { name, args } => {
            call_id = format!("toolu_mock{}", ctx.shared.next_id());
            (args.as_ref(), Some((call_id.as_str(), name.as_ref())))
        }
        Reply::Text(t) => (t.as_str(), None),
        Reply::Answer => {
            answer = answer_text(Format::Anthropic, conv.last_user_text.as_deref());
            (answer.as_str(), None)
        }
    };
    let system_len = req.system.as_ref().map_or(0, |s| s.len);
    let input_tokens = tokens(conv.text_len + system_len);
    let output_tokens = tokens(text.len() + call.map_or(0, |(_, n)| n.len()));
    let id = format!("msg_mock{}", ctx.shared.next_id());
    let model = model.as_str();

    if stream {
        let s = Stream {
            id: &id,
            model,
            text,
            call,
            input_tokens,
            output_tokens,
        };
        return drive(&s, Framing::Sse, cfg.chunks, cfg).into_response(cfg, ctx.cancel());
    }
    let block = match call {
        None => Block::Text { text },
        Some((id, name)) => Block::ToolUse {
            id,
            name,
            input: Input::Args(ArgsObject(text)),
        },
    };
    let body = to_json(&Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model,
        content: &[block],
        stop_reason: Some(if call.is_some() {
            "tool_use"
        } else {
            "end_turn"
        }),
        stop_sequence: None,
        usage: Usage {
            input_tokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens,
            service_tier: "standard",
        },
    });
    finish(body, cfg, ctx)
}

/// `{"input_tokens": N}` (anthropic-sdk-python `types/message_tokens_count.py`).
#[derive(Serialize)]
struct TokensCount {
    input_tokens: u64,
}

/// `POST /v1/messages/count_tokens`: the input tokens a Messages call with this body
/// would report (the same count from the text length).
pub(crate) fn count_tokens(ctx: &Ctx<'_>, cfg: &MockConfig) -> Response {
    let req: AnthropicMessages<'_> = match serde_json::from_slice(ctx.body) {
        Ok(r) => r,
        Err(e) => return bad_request(Format::Anthropic, &format!("invalid request body: {e}")),
    };
    if req.model.is_none() {
        return bad_request(Format::Anthropic, "model: Field required");
    }
    let Some(conv) = req.messages.as_ref().filter(|c| c.turns > 0) else {
        return bad_request(Format::Anthropic, "messages: Field required");
    };
    if let Some(bad) = conv.bad_role(role::USER | role::ASSISTANT | role::SYSTEM) {
        return bad_request(
            Format::Anthropic,
            &format!(
                "messages: Input tag '{bad}' found using 'role' does not match any of the expected tags: 'user', 'assistant', 'system'"
            ),
        );
    }
    if cfg.malformed {
        return malformed_json();
    }
    let system_len = req.system.as_ref().map_or(0, |s| s.len);
    let input_tokens = tokens(conv.text_len + system_len);
    finish(to_json(&TokensCount { input_tokens }), cfg, ctx)
}

/// `GET /v1/models` (Anthropic headers).
pub(crate) fn models() -> Response {
    response(
        200,
        "application/json",
        Body::from(&br#"{"data":[{"type":"model","id":"claude-sonnet-4-20250514","display_name":"Claude Sonnet 4","created_at":"2025-05-22T00:00:00Z"},{"type":"model","id":"claude-3-5-sonnet-20241022","display_name":"Claude Sonnet 3.5 (New)","created_at":"2024-10-22T00:00:00Z"},{"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude Haiku 3.5","created_at":"2024-10-22T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-20250514","last_id":"claude-3-5-haiku-20241022"}"#[..]),
    )
}
