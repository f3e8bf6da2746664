//! Chat requests: client body → [`ChatRequest`] (client side) and [`ChatRequest`] →
//! upstream body (upstream side), including the same-format fast path.

use std::collections::HashMap;

use ax_core::{
    ChatRequest, ContentPart, GatewayError, GenerationParams, ImageSource, Message, RawRequest,
    ReasoningConfig, ResponseFormat, Role, ToolChoice, ToolDefinition, WireFormat,
};
use serde_json::{Map, Value};

use super::fields::{Obj, index, invalid, type_name};
use super::response::{image_source_out, input_object};
use super::wire::{
    OutBlock, OutContent, OutImage, OutJsonFormat, OutMessage, OutMetadata, OutOutputConfig,
    OutRedactedThinking, OutRequest, OutSystem, OutText, OutThinking, OutThinkingConfig, OutTool,
    OutToolChoice, OutToolResult, OutToolUse,
};
use crate::codec::DecodeOptions;
use crate::config::ProviderConfig;
use crate::passthrough::patched_body;
use bytes::Bytes;

/// The name given to an Anthropic `output_config.format` schema, which has none.
pub(crate) const SCHEMA_NAME: &str = "response";

/// Anthropic's smallest thinking budget; smaller (non-zero) budgets are raised to it.
pub(crate) const MIN_THINKING_BUDGET: u32 = 1024;

// ====================================================================== client side

/// Decodes a client's Messages body. Every rejection is `invalid_request` and names
/// the field. Fields the unified model cannot carry are accepted and ignored here;
/// they stay in `raw` and reach a same-format upstream unchanged.
pub(crate) fn decode_request(
    body: &bytes::Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let value = crate::bounded::parse(body, crate::bounded::Shape::Anthropic, &opts.limits)?;
    let Value::Object(map) = value else {
        return Err(GatewayError::invalid(format!(
            "the request body must be a JSON object, got {}",
            type_name(&value)
        )));
    };
    let mut req = decode_map(&map, opts)?;
    req.raw = Some(RawRequest {
        format: WireFormat::Anthropic,
        body: map,
        bytes: body.clone(),
    });
    Ok(req)
}

fn decode_map(map: &Map<String, Value>, opts: DecodeOptions) -> Result<ChatRequest, GatewayError> {
    let o = Obj { map, path: "" };
    let model = match (o.str_opt("model")?, opts.path_model) {
        (Some(m), _) if !m.is_empty() => m.to_owned(),
        (_, Some(m)) => m,
        _ => return Err(invalid("model", "is required")),
    };
    // Required by Anthropic, which rejects a request without it; so do we, rather than
    // invent a limit the client did not choose.
    let max_tokens = o
        .u32_opt("max_tokens")?
        .ok_or_else(|| invalid("max_tokens", "is required"))?;

    let Some(raw_messages) = o.array_opt("messages")? else {
        return Err(invalid("messages", "is required"));
    };
    if raw_messages.is_empty() {
        return Err(invalid("messages", "must contain at least one message"));
    }
    let mut messages = decode_system(&o)?;
    // Tool-use id → tool name, so tool results can name their function (Gemini needs it).
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, m) in raw_messages.iter().enumerate() {
        decode_message(m, &index("messages", i), &mut messages, &mut call_names)?;
    }

    let mut tools = Vec::new();
    if let Some(raw_tools) = o.array_opt("tools")? {
        for (i, t) in raw_tools.iter().enumerate() {
            if let Some(tool) = decode_tool(t, &index("tools", i))? {
                tools.push(tool);
            }
        }
    }
    let (tool_choice, parallel_tool_calls) = decode_tool_choice(&o)?;

    let output_path = o.path_of("output_config");
    let output = o.obj_opt("output_config", &output_path)?;
    let effort = match &output {
        Some(oc) => oc.str_opt("effort")?.map(str::to_owned),
        None => None,
    };
    let response_format = match &output {
        Some(oc) => decode_output_format(oc)?,
        None => None,
    };

    let params = GenerationParams {
        temperature: o.f64_opt("temperature")?,
        top_p: o.f64_opt("top_p")?,
        top_k: o.u32_opt("top_k")?,
        max_tokens: Some(max_tokens),
        stop: decode_stop_sequences(&o)?,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
    };

    let stream = match opts.path_stream {
        Some(s) => s,
        None => o.bool_opt("stream")?.unwrap_or(false),
    };

    let mut metadata = opts.metadata;
    let meta_path = o.path_of("metadata");
    if let Some(meta) = o.obj_opt("metadata", &meta_path)?
        && let Some(user) = meta.str_opt("user_id")?
        && metadata.user_id.is_none()
    {
        metadata.user_id = Some(user.to_owned());
    }

    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        params,
        response_format,
        reasoning: decode_thinking(&o, effort)?,
        stream,
        // Anthropic streams always carry usage (`message_start`, `message_delta`).
        include_usage: stream,
        metadata,
        raw: None,
    })
}

/// `system`: a string or text blocks → one System message (none when absent or empty).
fn decode_system(o: &Obj<'_>) -> Result<Vec<Message>, GatewayError> {
    let parts = match o.get("system") {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![ContentPart::text(s.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let path = index("system", i);
                let bo = Obj::new(b, &path)?;
                match bo.str_req("type")? {
                    "text" => parts.push(ContentPart::text(bo.str_req("text")?)),
                    other => {
                        return Err(invalid(
                            &bo.path_of("type"),
                            format!("system blocks must be `text`, got `{other}`"),
                        ));
                    }
                }
            }
            parts
        }
        Some(other) => {
            return Err(invalid(
                "system",
                format!(
                    "expected a string or an array of text blocks, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Message {
        role: Role::System,
        content: parts,
        name: None,
    }])
}

/// One client message → unified messages appended to `out`. A user turn is split at
/// each `tool_result` block: every result becomes its own `Role::Tool` message (the
/// OpenAI shape), the text and images around them `Role::User` messages, in order.
fn decode_message(
    v: &Value,
    path: &str,
    out: &mut Vec<Message>,
    call_names: &mut HashMap<String, String>,
) -> Result<(), GatewayError> {
    let o = Obj::new(v, path)?;
    let role = o.str_req("role")?;
    let content_path = o.path_of("content");
    let blocks: Vec<&Value> = match o.get("content") {
        None => return Err(invalid(&content_path, "is required")),
        Some(Value::String(s)) => {
            let part = ContentPart::text(s.clone());
            match role {
                "user" => out.push(Message {
                    role: Role::User,
                    content: vec![part],
                    name: None,
                }),
                "assistant" => out.push(Message {
                    role: Role::Assistant,
                    content: vec![part],
                    name: None,
                }),
                other => return Err(unknown_role(&o, other)),
            }
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks.iter().collect(),
        Some(other) => {
            return Err(invalid(
                &content_path,
                format!(
                    "expected a string or an array of content blocks, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    match role {
        "user" => decode_user_blocks(&blocks, &content_path, out, call_names),
        "assistant" => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let bpath = index(&content_path, i);
                let bo = Obj::new(b, &bpath)?;
                match bo.str_req("type")? {
                    "text" => parts.push(ContentPart::text(bo.str_req("text")?)),
                    "tool_use" => {
                        let id = bo.str_req("id")?.to_owned();
                        let name = bo.str_req("name")?.to_owned();
                        let arguments = match bo.get("input") {
                            None => "{}".to_owned(),
                            Some(input @ Value::Object(_)) => input.to_string(),
                            Some(other) => {
                                return Err(invalid(
                                    &bo.path_of("input"),
                                    format!("expected an object, got {}", type_name(other)),
                                ));
                            }
                        };
                        call_names.insert(id.clone(), name.clone());
                        parts.push(ContentPart::ToolCall {
                            id,
                            name,
                            arguments,
                        });
                    }
                    "thinking" => parts.push(ContentPart::Reasoning {
                        text: bo.str_opt("thinking")?.unwrap_or_default().to_owned(),
                        signature: bo
                            .str_opt("signature")?
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        redacted: None,
                    }),
                    "redacted_thinking" => parts.push(ContentPart::Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some(bo.str_req("data")?.to_owned()),
                    }),
                    // Server tools, their results, and future block types have no unified
                    // form; a same-format upstream still receives them.
                    _ => {}
                }
            }
            out.push(Message {
                role: Role::Assistant,
                content: parts,
                name: None,
            });
            Ok(())
        }
        other => Err(unknown_role(&o, other)),
    }
}

fn unknown_role(o: &Obj<'_>, role: &str) -> GatewayError {
    let hint = if role == "system" {
        "; system prompts go in the top-level `system` field"
    } else {
        ""
    };
    invalid(
        &o.path_of("role"),
        format!("unknown role `{role}` (expected user or assistant){hint}"),
    )
}

fn decode_user_blocks(
    blocks: &[&Value],
    content_path: &str,
    out: &mut Vec<Message>,
    call_names: &HashMap<String, String>,
) -> Result<(), GatewayError> {
    let mut pending: Vec<ContentPart> = Vec::new();
    let mut emitted = false;
    for (i, b) in blocks.iter().enumerate() {
        let bpath = index(content_path, i);
        let bo = Obj::new(b, &bpath)?;
        match bo.str_req("type")? {
            "text" => pending.push(ContentPart::text(bo.str_req("text")?)),
            "image" => {
                if let Some(part) = decode_image(&bo)? {
                    pending.push(part);
                }
            }
            "tool_result" => {
                if !pending.is_empty() {
                    out.push(Message {
                        role: Role::User,
                        content: std::mem::take(&mut pending),
                        name: None,
                    });
                }
                let tool_call_id = bo.str_req("tool_use_id")?.to_owned();
                let content = decode_tool_result_content(&bo)?;
                out.push(Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolResult {
                        name: call_names.get(&tool_call_id).cloned(),
                        tool_call_id,
                        content,
                        is_error: bo.bool_opt("is_error")?.unwrap_or(false),
                    }],
                    name: None,
                });
                emitted = true;
            }
            // `document`, `search_result` and future types: no unified form.
            _ => {}
        }
    }
    if !pending.is_empty() || !emitted {
        out.push(Message {
            role: Role::User,
            content: pending,
            name: None,
        });
    }
    Ok(())
}

/// An `image` block; `None` for sources the unified model cannot hold (`file`).
fn decode_image(bo: &Obj<'_>) -> Result<Option<ContentPart>, GatewayError> {
    let spath = bo.path_of("source");
    let Some(so) = bo.obj_opt("source", &spath)? else {
        return Err(invalid(&spath, "is required"));
    };
    let source = match so.str_req("type")? {
        "base64" => ImageSource::Base64 {
            media_type: so.str_req("media_type")?.to_owned(),
            data: so.str_req("data")?.to_owned(),
        },
        "url" => ImageSource::Url {
            url: so.str_req("url")?.to_owned(),
        },
        _ => return Ok(None),
    };
    Ok(Some(ContentPart::Image {
        source,
        detail: None,
    }))
}

/// `tool_result.content`: absent, a string, or text and image blocks.
fn decode_tool_result_content(bo: &Obj<'_>) -> Result<Vec<ContentPart>, GatewayError> {
    let path = bo.path_of("content");
    match bo.get("content") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ipath = index(&path, i);
                let io = Obj::new(item, &ipath)?;
                match io.str_req("type")? {
                    "text" => parts.push(ContentPart::text(io.str_req("text")?)),
                    "image" => {
                        if let Some(part) = decode_image(&io)? {
                            parts.push(part);
                        }
                    }
                    _ => {}
                }
            }
            Ok(parts)
        }
        Some(other) => Err(invalid(
            &path,
            format!(
                "expected a string or an array of content blocks, got {}",
                type_name(other)
            ),
        )),
    }
}

/// A client tool; server tools (`web_search_…`, `bash_…`, …) have no unified form.
fn decode_tool(v: &Value, path: &str) -> Result<Option<ToolDefinition>, GatewayError> {
    let o = Obj::new(v, path)?;
    if o.str_opt("type")?.is_some_and(|t| t != "custom") {
        return Ok(None);
    }
    let parameters = match o.get("input_schema") {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(other) => {
            return Err(invalid(
                &o.path_of("input_schema"),
                format!("expected a JSON Schema object, got {}", type_name(other)),
            ));
        }
    };
    Ok(Some(ToolDefinition {
        name: o.str_req("name")?.to_owned(),
        description: o.str_opt("description")?.map(str::to_owned),
        parameters,
        strict: None,
    }))
}

/// `tool_choice` → the choice and OpenAI's `parallel_tool_calls` (the negation of
/// `disable_parallel_tool_use`).
fn decode_tool_choice(o: &Obj<'_>) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    let path = o.path_of("tool_choice");
    let Some(co) = o.obj_opt("tool_choice", &path)? else {
        return Ok((None, None));
    };
    let choice = match co.str_req("type")? {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Function(co.str_req("name")?.to_owned()),
        other => {
            return Err(invalid(
                "tool_choice.type",
                format!("unknown value `{other}` (expected auto, any, tool or none)"),
            ));
        }
    };
    let parallel = co.bool_opt("disable_parallel_tool_use")?.map(|d| !d);
    Ok((Some(choice), parallel))
}

fn decode_stop_sequences(o: &Obj<'_>) -> Result<Vec<String>, GatewayError> {
    let Some(items) = o.array_opt("stop_sequences")? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(invalid(
                &index("stop_sequences", i),
                format!("expected a string, got {}", type_name(other)),
            )),
        })
        .collect()
}

/// `thinking` (+ `output_config.effort`) → the reasoning configuration.
fn decode_thinking(
    o: &Obj<'_>,
    effort: Option<String>,
) -> Result<Option<ReasoningConfig>, GatewayError> {
    let path = o.path_of("thinking");
    let budget = match o.obj_opt("thinking", &path)? {
        None => None,
        Some(to) => match to.str_req("type")? {
            "enabled" => Some(
                to.u32_opt("budget_tokens")?
                    .ok_or_else(|| invalid(&to.path_of("budget_tokens"), "is required"))?,
            ),
            "disabled" => return Ok(None),
            // `adaptive` (and future modes): thinking on, the model picks the budget.
            _ => {
                return Ok(Some(ReasoningConfig {
                    budget_tokens: None,
                    effort,
                }));
            }
        },
    };
    Ok(
        (budget.is_some() || effort.is_some()).then_some(ReasoningConfig {
            budget_tokens: budget,
            effort,
        }),
    )
}

/// `output_config.format` (`{"type": "json_schema", "schema"}`) → a JSON-schema format.
fn decode_output_format(oc: &Obj<'_>) -> Result<Option<ResponseFormat>, GatewayError> {
    let path = oc.path_of("format");
    let Some(fo) = oc.obj_opt("format", &path)? else {
        return Ok(None);
    };
    if fo.str_req("type")? != "json_schema" {
        return Ok(None);
    }
    let schema = match fo.get("schema") {
        Some(s @ Value::Object(_)) => s.clone(),
        Some(other) => {
            return Err(invalid(
                &fo.path_of("schema"),
                format!("expected a JSON Schema object, got {}", type_name(other)),
            ));
        }
        None => return Err(invalid(&fo.path_of("schema"), "is required")),
    };
    Ok(Some(ResponseFormat::JsonSchema {
        name: SCHEMA_NAME.to_owned(),
        schema,
        strict: None,
    }))
}

// ==================================================================== upstream side

/// Encodes `req` for an Anthropic upstream, as `model`, streaming or not.
///
/// **Fast path**: when the client spoke Anthropic (`req.raw` is an Anthropic body),
/// that body is sent with every field unchanged, unknown ones included, except that
/// `model` is rewritten and `stream` is set to `true` (streaming) or removed (one
/// complete answer). A body without `max_tokens` (never one a client sent: the decoder
/// rejects it) gets the provider's default.
///
/// **Translation** (any other client format): see the module docs. Fails with
/// `invalid_request` naming the tool call when tool-call arguments are not a JSON
/// object (Anthropic's `input` must be one).
pub fn encode_request(
    req: &ChatRequest,
    model: &str,
    stream: bool,
    cfg: &ProviderConfig,
) -> Result<Bytes, GatewayError> {
    if let Some(raw) = req
        .raw
        .as_ref()
        .filter(|r| r.format == WireFormat::Anthropic)
    {
        return Ok(fast_path(raw, model, stream, cfg.default_max_tokens));
    }
    let p = &req.params;
    let (system, messages) = encode_messages(&req.messages)?;
    // A zero budget means "no thinking" (Gemini's `thinkingBudget: 0`); Anthropic's
    // minimum is 1024.
    let budget = req
        .reasoning
        .as_ref()
        .and_then(|r| r.budget_tokens)
        .filter(|b| *b > 0)
        .map(|b| b.max(MIN_THINKING_BUDGET));
    let max_tokens = thinking_max_tokens(p.max_tokens.unwrap_or(cfg.default_max_tokens), budget);
    let tool_choice = if req.tools.is_empty() {
        // Anthropic rejects `tool_choice` without `tools`.
        None
    } else {
        let choice = match req.tool_choice.as_ref() {
            Some(ToolChoice::Required | ToolChoice::Function(_)) if budget.is_some() => {
                // Anthropic refuses a forced tool with thinking on ("Thinking may not
                // be enabled when tool_choice forces tool use"). The client asked for
                // both; thinking stays and the model chooses (`auto`), rather than a
                // 400 for a request every other provider serves.
                tracing::info!(
                    model,
                    "tool_choice forces a tool call, which Anthropic refuses with thinking \
                     on: sent as auto"
                );
                Some(&ToolChoice::Auto)
            }
            other => other,
        };
        encode_tool_choice(choice, req.parallel_tool_calls)
    };
    let body = OutRequest {
        model,
        max_tokens,
        system,
        messages,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                name: &t.name,
                description: t.description.as_deref(),
                input_schema: &t.parameters,
            })
            .collect(),
        tool_choice,
        stop_sequences: &p.stop,
        // Anthropic's range is 0–1 (OpenAI's 0–2): clamp rather than have every OpenAI
        // client that sends 1.2 rejected. With thinking on, Anthropic accepts only
        // temperature 1, no top_k and top_p ≥ 0.95: other values are not sent.
        temperature: p
            .temperature
            .map(|t| t.clamp(0.0, 1.0))
            .filter(|t| budget.is_none() || *t == 1.0),
        top_p: p.top_p.filter(|t| budget.is_none() || *t >= 0.95),
        top_k: p.top_k.filter(|_| budget.is_none()),
        metadata: req
            .metadata
            .user_id
            .as_deref()
            .map(|user_id| OutMetadata { user_id }),
        thinking: budget.map(|budget_tokens| OutThinkingConfig {
            kind: "enabled",
            budget_tokens,
        }),
        output_config: match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutOutputConfig {
                format: OutJsonFormat {
                    kind: "json_schema",
                    schema,
                },
            }),
            _ => None,
        },
        stream: stream.then_some(true),
    };
    Ok(serde_json::to_vec(&body).unwrap_or_default().into())
}

/// `max_tokens` for a request that wants `wanted` output tokens and thinks with
/// `budget`. Anthropic counts thinking inside `max_tokens` and wants `budget_tokens <
/// max_tokens`, so the budget is added on top of what the client wanted, whenever
/// `wanted` does not already exceed it. Lowering the budget instead could not work for
/// small `wanted` (the smallest budget, 1024, must stay below `max_tokens`).
pub(crate) fn thinking_max_tokens(wanted: u32, budget: Option<u32>) -> u32 {
    match budget {
        Some(b) if b >= wanted => b.saturating_add(wanted.max(1)),
        _ => wanted,
    }
}

fn fast_path(raw: &RawRequest, model: &str, stream: bool, max_tokens: u32) -> Bytes {
    let mut set = vec![("model", Value::String(model.to_owned()))];
    if stream {
        set.push(("stream", Value::Bool(true)));
    }
    if !raw.body.contains_key("max_tokens") {
        set.push(("max_tokens", Value::from(max_tokens)));
    }
    if let Some(messages) = without_unsigned_thinking(&raw.body) {
        set.push(("messages", messages));
    }
    let remove: &[&str] = if stream { &[] } else { &["stream"] };
    patched_body(raw, &set, remove)
}

/// Whether `block` is a `thinking` block Anthropic would refuse: no signature, or an
/// empty one (ax gives Anthropic clients unsigned reasoning from other providers with
/// `"signature": ""`, and they send it back on the next turn).
fn is_unsigned_thinking(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("thinking")
        && block
            .get("signature")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

/// The fast path's one content change: `messages` without unsigned `thinking` blocks,
/// or `None` (nothing copied) when there are none. Sent as they are, Anthropic would
/// refuse the whole request.
fn without_unsigned_thinking(body: &Map<String, Value>) -> Option<Value> {
    let messages = body.get("messages")?.as_array()?;
    let has_unsigned = |m: &Value| {
        m.get("content")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(is_unsigned_thinking))
    };
    if !messages.iter().any(has_unsigned) {
        return None;
    }
    let cleaned = messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(Value::Array(b)) = m.get_mut("content") {
                b.retain(|block| !is_unsigned_thinking(block));
            }
            m
        })
        .collect();
    Some(Value::Array(cleaned))
}

fn encode_tool_choice(
    choice: Option<&ToolChoice>,
    parallel: Option<bool>,
) -> Option<OutToolChoice<'_>> {
    let disable = parallel.map(|p| !p);
    match choice {
        Some(ToolChoice::Auto) => Some(OutToolChoice {
            kind: "auto",
            name: None,
            disable_parallel_tool_use: disable,
        }),
        Some(ToolChoice::Required) => Some(OutToolChoice {
            kind: "any",
            name: None,
            disable_parallel_tool_use: disable,
        }),
        Some(ToolChoice::Function(name)) => Some(OutToolChoice {
            kind: "tool",
            name: Some(name),
            disable_parallel_tool_use: disable,
        }),
        Some(ToolChoice::None) => Some(OutToolChoice {
            kind: "none",
            name: None,
            disable_parallel_tool_use: None,
        }),
        // Only "no parallel calls" needs saying; `auto` is the default choice.
        None if parallel == Some(false) => Some(OutToolChoice {
            kind: "auto",
            name: None,
            disable_parallel_tool_use: Some(true),
        }),
        None => None,
    }
}

/// Unified messages → (`system`, `messages`). System messages (wherever they sit) join
/// the top-level `system`; tool results go as `tool_result` blocks in user turns, ahead
/// of the turn's text and images; consecutive user-side (or assistant) content merges
/// into one turn, because Anthropic requires alternation; empty text and messages left
/// empty are dropped.
fn encode_messages(
    messages: &[Message],
) -> Result<(Option<OutSystem<'_>>, Vec<OutMessage<'_>>), GatewayError> {
    let mut system: Vec<OutText<'_>> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<OutBlock<'_>>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System => {
                system.extend(m.content.iter().filter_map(|p| match p {
                    ContentPart::Text { text } if !text.is_empty() => {
                        Some(OutText { kind: "text", text })
                    }
                    _ => None,
                }));
                continue;
            }
            Role::User | Role::Tool => ("user", user_blocks(&m.content)),
            Role::Assistant => ("assistant", assistant_blocks(&m.content, i)?),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [one] => Some(OutSystem::Text(one.text)),
        _ => Some(OutSystem::Blocks(system)),
    };
    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // Anthropic wants a user turn's `tool_result` blocks first ("any text
                // must come after all tool results"); other formats allow any order.
                blocks.sort_by_key(|b| !matches!(b, OutBlock::ToolResult(_)));
            }
            OutMessage {
                role,
                content: compact(blocks),
            }
        })
        .collect();
    Ok((system, messages))
}

/// One text block is sent as a plain string (what most clients send).
fn compact(mut blocks: Vec<OutBlock<'_>>) -> OutContent<'_> {
    if let [OutBlock::Text(t)] = blocks.as_slice() {
        return OutContent::Text(t.text);
    }
    OutContent::Blocks(std::mem::take(&mut blocks))
}

fn user_blocks(parts: &[ContentPart]) -> Vec<OutBlock<'_>> {
    parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text { text } if !text.is_empty() => {
                Some(OutBlock::Text(OutText { kind: "text", text }))
            }
            ContentPart::Image { source, .. } => Some(OutBlock::Image(OutImage {
                kind: "image",
                source: image_source_out(source),
            })),
            ContentPart::ToolResult {
                tool_call_id,
                content,
                is_error,
                ..
            } => Some(OutBlock::ToolResult(OutToolResult {
                kind: "tool_result",
                tool_use_id: tool_call_id,
                content: tool_result_content(content),
                is_error: *is_error,
            })),
            // Tool calls and reasoning only exist in assistant turns.
            _ => None,
        })
        .collect()
}

fn tool_result_content(parts: &[ContentPart]) -> Option<OutContent<'_>> {
    let blocks: Vec<OutBlock<'_>> = parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text { text } if !text.is_empty() => {
                Some(OutBlock::Text(OutText { kind: "text", text }))
            }
            ContentPart::Image { source, .. } => Some(OutBlock::Image(OutImage {
                kind: "image",
                source: image_source_out(source),
            })),
            _ => None,
        })
        .collect();
    (!blocks.is_empty()).then(|| compact(blocks))
}

/// Assistant parts → blocks. Reasoning is replayed only when Anthropic can verify it:
/// with its signature (`thinking`) or as `redacted_thinking`; unsigned reasoning (from
/// OpenAI-compatible servers) is dropped, Anthropic would reject it.
fn assistant_blocks(parts: &[ContentPart], msg: usize) -> Result<Vec<OutBlock<'_>>, GatewayError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        match p {
            ContentPart::Text { text } if !text.is_empty() => {
                out.push(OutBlock::Text(OutText { kind: "text", text }));
            }
            ContentPart::Reasoning {
                redacted: Some(data),
                ..
            } => out.push(OutBlock::RedactedThinking(OutRedactedThinking {
                kind: "redacted_thinking",
                data,
            })),
            // An empty signature is no signature: Anthropic refuses the block.
            ContentPart::Reasoning {
                text,
                signature: Some(signature),
                ..
            } if !signature.is_empty() => out.push(OutBlock::Thinking(OutThinking {
                kind: "thinking",
                thinking: text,
                signature,
            })),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                let input = input_object(arguments).map_err(|reason| {
                    GatewayError::invalid_param(
                        format!("messages[{msg}].tool_calls[{j}].arguments"),
                        format!(
                            "the arguments of tool call `{id}` (`{name}`) must be a JSON object: {reason}"
                        ),
                    )
                })?;
                out.push(OutBlock::ToolUse(OutToolUse {
                    kind: "tool_use",
                    id,
                    name,
                    input,
                }));
            }
            _ => {}
        }
    }
    Ok(out)
}
