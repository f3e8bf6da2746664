//! Chat requests: client body → [`ChatRequest`] (client side) and [`ChatRequest`] →
//! upstream body (upstream side), including the same-format fast path.

use std::borrow::Cow;

use ax_core::{
    ChatRequest, ContentPart, DocumentSource, GatewayError, GenerationParams, ImageSource, Message,
    ProviderKind, RawRequest, ReasoningConfig, ResponseFormat, Role, ToolChoice, ToolDefinition,
    WireFormat,
};
use serde_json::{Map, Value};

use super::fields::{Obj, index, invalid, join, type_name};
use super::wire::{
    OutContent, OutFile, OutFunctionCall, OutFunctionDef, OutImageUrl, OutJsonSchema, OutMessage,
    OutNamedFunction, OutPart, OutRequest, OutResponseFormat, OutStreamOptions, OutTool,
    OutToolCall, OutToolChoice,
};
use crate::codec::DecodeOptions;
use crate::config::ProviderConfig;
use crate::passthrough::patched_body;
use crate::tool_ids::{self, Attachment, ReasoningBlock};
use bytes::Bytes;

// ====================================================================== client side

/// Decodes a client's Chat Completions body. Every rejection is `invalid_request` and
/// names the field. Fields the unified model cannot carry are accepted and ignored
/// here; they stay in `raw` and reach a same-format upstream unchanged.
pub(crate) fn decode_request(
    body: &bytes::Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let map = crate::bounded::parse_object(body, crate::bounded::Shape::OpenAi, &opts.limits)?;
    let mut req = decode_map(&map, opts)?;
    req.raw = Some(RawRequest {
        format: WireFormat::OpenAi,
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

    let Some(raw_messages) = o.array_opt("messages")? else {
        return Err(invalid("messages", "is required"));
    };
    if raw_messages.is_empty() {
        return Err(invalid("messages", "must contain at least one message"));
    }
    let mut messages = Vec::with_capacity(raw_messages.len());
    for (i, m) in raw_messages.iter().enumerate() {
        let path = index("messages", i);
        if let Some(msg) = decode_message(m, &path)? {
            messages.push(msg);
        }
    }

    let mut tools = Vec::new();
    if let Some(raw_tools) = o.array_opt("tools")? {
        for (i, t) in raw_tools.iter().enumerate() {
            let path = index("tools", i);
            if let Some(tool) = decode_tool(t, &path)? {
                tools.push(tool);
            }
        }
    }

    let max_tokens = match o.u32_opt("max_completion_tokens")? {
        Some(n) => Some(n),
        None => o.u32_opt("max_tokens")?,
    };
    let params = GenerationParams {
        temperature: o.f64_opt("temperature")?,
        top_p: o.f64_opt("top_p")?,
        // Not an OpenAI parameter; vLLM and other compatible servers accept it.
        top_k: o.u32_opt("top_k")?,
        max_tokens,
        stop: decode_stop(&o)?,
        seed: o.i64_opt("seed")?,
        presence_penalty: o.f64_opt("presence_penalty")?,
        frequency_penalty: o.f64_opt("frequency_penalty")?,
    };

    let stream = match opts.path_stream {
        Some(s) => s,
        None => o.bool_opt("stream")?.unwrap_or(false),
    };
    let include_usage = match o.object_opt("stream_options")? {
        Some(v) => {
            let path = o.path_of("stream_options");
            Obj::new(v, &path)?
                .bool_opt("include_usage")?
                .unwrap_or(false)
        }
        None => false,
    };

    let mut metadata = opts.metadata;
    let user = match o.str_opt("user")? {
        Some(u) => Some(u),
        None => o.str_opt("safety_identifier")?,
    };
    if metadata.user_id.is_none() {
        metadata.user_id = user.map(str::to_owned);
    }

    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice: decode_tool_choice(&o)?,
        parallel_tool_calls: o.bool_opt("parallel_tool_calls")?,
        params,
        response_format: decode_response_format(&o)?,
        reasoning: o.str_opt("reasoning_effort")?.map(|e| ReasoningConfig {
            budget_tokens: None,
            effort: Some(e.to_owned()),
        }),
        stream,
        include_usage: stream && include_usage,
        metadata,
        raw: None,
        // Listed by the Anthropic decoder only.
        dropped_fields: Vec::new(),
        anthropic: None,
        passthrough_only: None,
    })
}

fn decode_stop(o: &Obj<'_>) -> Result<Vec<String>, GatewayError> {
    match o.get("stop") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    &index("stop", i),
                    format!("expected a string, got {}", type_name(other)),
                )),
            })
            .collect(),
        Some(other) => Err(invalid(
            "stop",
            format!(
                "expected a string or an array of strings, got {}",
                type_name(other)
            ),
        )),
    }
}

fn decode_message(v: &Value, path: &str) -> Result<Option<Message>, GatewayError> {
    let o = Obj::new(v, path)?;
    let role_name = o.str_req("role")?;
    let name = o.str_opt("name")?.map(str::to_owned);
    let content_path = o.path_of("content");
    let content = o.get("content");
    match role_name {
        "system" | "developer" => Ok(Some(Message {
            role: Role::System,
            content: decode_text_content(content, &content_path)?,
            name,
        })),
        "user" => Ok(Some(Message {
            role: Role::User,
            content: decode_user_content(content, &content_path)?,
            name,
        })),
        "assistant" => {
            let reasoning = o.str_opt("reasoning_content")?.unwrap_or_default();
            let calls = decode_tool_calls(&o)?;
            let text = decode_text_content(content, &content_path)?;
            // `content: ""` next to tool calls is how many clients say "no text".
            let empty_text =
                matches!(text.as_slice(), [ContentPart::Text { text }] if text.is_empty());
            let text = if !empty_text || calls.is_empty() {
                text
            } else {
                Vec::new()
            };
            let mut parts = Vec::new();
            match replayed_reasoning(reasoning, &calls) {
                Some((unsigned, mut blocks)) => {
                    parts.extend(unsigned_reasoning(unsigned));
                    // The first call's blocks lead the message: Anthropic wants an
                    // assistant turn with tool use to start with its thinking.
                    if let Some(first) = blocks.first_mut() {
                        parts.append(first);
                    }
                    parts.extend(text);
                    for (call, before) in calls.into_iter().zip(blocks) {
                        parts.extend(before);
                        parts.push(call);
                    }
                }
                None => {
                    parts.extend(unsigned_reasoning(reasoning.to_owned()));
                    parts.extend(text);
                    parts.extend(calls);
                }
            }
            Ok(Some(Message {
                role: Role::Assistant,
                content: parts,
                name,
            }))
        }
        "tool" => {
            let tool_call_id = o.str_req("tool_call_id")?.to_owned();
            Ok(Some(Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id,
                    name: None,
                    content: decode_text_content(content, &content_path)?,
                    is_error: false,
                }],
                name: None,
            }))
        }
        // Deprecated function-calling: the function's result, keyed by its name.
        "function" => {
            let fname = o.str_req("name")?.to_owned();
            Ok(Some(Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: fname.clone(),
                    name: Some(fname),
                    content: decode_text_content(content, &content_path)?,
                    is_error: false,
                }],
                name: None,
            }))
        }
        other => Err(invalid(
            &o.path_of("role"),
            format!("unknown role `{other}` (expected system, developer, user, assistant or tool)"),
        )),
    }
}

/// `reasoning_content` as one unsigned reasoning part (none when empty).
fn unsigned_reasoning(text: String) -> Option<ContentPart> {
    (!text.is_empty()).then_some(ContentPart::Reasoning {
        text,
        signature: None,
        redacted: None,
    })
}

/// The reasoning blocks an answer of ax put in these calls' ids ([`tool_ids`] kind `r`,
/// see `response::client_call_ids`), rebuilt with their text from `reasoning`: per
/// call, the blocks that came before it; and the text no block claims. `None` when no
/// call carries blocks, or when a block's range does not fit `reasoning` (the client
/// sent other text, or none): the reasoning is then read as before, one unsigned part,
/// rather than replayed with a signature that does not match it.
fn replayed_reasoning(
    reasoning: &str,
    calls: &[ContentPart],
) -> Option<(String, Vec<Vec<ContentPart>>)> {
    let mut per_call = Vec::with_capacity(calls.len());
    let mut unclaimed = String::new();
    let mut end = 0;
    let mut any = false;
    for call in calls {
        let mut before = Vec::new();
        if let ContentPart::ToolCall { id, .. } = call
            && let (_, Some(Attachment::Reasoning(blocks))) = tool_ids::split(id)
        {
            any = true;
            for block in blocks {
                before.push(match block {
                    ReasoningBlock::Thinking {
                        start,
                        len,
                        signature,
                    } => {
                        let stop = start.checked_add(len)?;
                        let text = reasoning.get(start..stop).filter(|t| !t.is_empty())?;
                        unclaimed.push_str(reasoning.get(end..start)?);
                        end = stop;
                        ContentPart::Reasoning {
                            text: text.to_owned(),
                            signature: Some(signature),
                            redacted: None,
                        }
                    }
                    ReasoningBlock::Redacted { data } => ContentPart::Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some(data),
                    },
                });
            }
        }
        per_call.push(before);
    }
    if !any {
        return None;
    }
    unclaimed.push_str(reasoning.get(end..)?);
    Some((unclaimed, per_call))
}

/// Content that may only hold text: a string, or an array of `text` (and `refusal`)
/// parts. Other part types are ignored (they cannot be expressed here anyway).
fn decode_text_content(
    content: Option<&Value>,
    path: &str,
) -> Result<Vec<ContentPart>, GatewayError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, p) in parts.iter().enumerate() {
                let ppath = index(path, i);
                let po = Obj::new(p, &ppath)?;
                match po.str_req("type")? {
                    "text" => out.push(ContentPart::text(po.str_req("text")?)),
                    "refusal" => out.push(ContentPart::text(po.str_req("refusal")?)),
                    _ => {}
                }
            }
            Ok(out)
        }
        Some(other) => Err(invalid(
            path,
            format!(
                "expected a string or an array of content parts, got {}",
                type_name(other)
            ),
        )),
    }
}

/// User content: text and images. `input_audio` and `file` parts have no unified form
/// and are left to the raw body (same-format upstreams still receive them).
fn decode_user_content(
    content: Option<&Value>,
    path: &str,
) -> Result<Vec<ContentPart>, GatewayError> {
    match content {
        None => Err(invalid(path, "is required")),
        Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, p) in parts.iter().enumerate() {
                let ppath = index(path, i);
                let po = Obj::new(p, &ppath)?;
                match po.str_req("type")? {
                    "text" => out.push(ContentPart::text(po.str_req("text")?)),
                    "image_url" => out.push(decode_image(&po)?),
                    _ => {}
                }
            }
            Ok(out)
        }
        Some(other) => Err(invalid(
            path,
            format!(
                "expected a string or an array of content parts, got {}",
                type_name(other)
            ),
        )),
    }
}

fn decode_image(po: &Obj<'_>) -> Result<ContentPart, GatewayError> {
    let ipath = po.path_of("image_url");
    let (url, detail) = match po.get("image_url") {
        // An early, still-accepted shorthand: `"image_url": "https://…"`.
        Some(Value::String(url)) => (url.as_str(), None),
        Some(v @ Value::Object(_)) => {
            let io = Obj::new(v, &ipath)?;
            (io.str_req("url")?, io.str_opt("detail")?)
        }
        Some(other) => {
            return Err(invalid(
                &ipath,
                format!("expected an object, got {}", type_name(other)),
            ));
        }
        None => return Err(invalid(&ipath, "is required")),
    };
    Ok(ContentPart::Image {
        source: image_source(url),
        detail: detail.map(str::to_owned),
    })
}

/// A `data:<mime>;base64,<data>` URL becomes inline data (so formats without URL
/// support can use it); anything else stays a URL.
fn image_source(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
        && !media_type.is_empty()
        && !media_type.contains(';')
    {
        return ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url {
        url: url.to_owned(),
    }
}

fn decode_tool_calls(o: &Obj<'_>) -> Result<Vec<ContentPart>, GatewayError> {
    let mut out = Vec::new();
    let Some(calls) = o.array_opt("tool_calls")? else {
        // Deprecated single `function_call`.
        if let Some(fc) = o.object_opt("function_call")? {
            let path = o.path_of("function_call");
            let fo = Obj::new(fc, &path)?;
            let name = fo.str_req("name")?.to_owned();
            out.push(ContentPart::ToolCall {
                id: name.clone(),
                name,
                arguments: fo.str_opt("arguments")?.unwrap_or("{}").to_owned(),
            });
        }
        return Ok(out);
    };
    let base = o.path_of("tool_calls");
    for (i, c) in calls.iter().enumerate() {
        let path = index(&base, i);
        let co = Obj::new(c, &path)?;
        if co.str_opt("type")?.is_some_and(|t| t != "function") {
            // Custom tools have no unified form; same-format upstreams still get them.
            continue;
        }
        let id = co.str_req("id")?.to_owned();
        let Some(f) = co.object_opt("function")? else {
            return Err(invalid(&co.path_of("function"), "is required"));
        };
        let fpath = co.path_of("function");
        let fo = Obj::new(f, &fpath)?;
        out.push(ContentPart::ToolCall {
            id,
            name: fo.str_req("name")?.to_owned(),
            arguments: fo.str_opt("arguments")?.unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

fn decode_tool(v: &Value, path: &str) -> Result<Option<ToolDefinition>, GatewayError> {
    let o = Obj::new(v, path)?;
    if o.str_opt("type")?.is_some_and(|t| t != "function") {
        return Ok(None);
    }
    let Some(f) = o.object_opt("function")? else {
        return Err(invalid(&o.path_of("function"), "is required"));
    };
    let fpath = o.path_of("function");
    let fo = Obj::new(f, &fpath)?;
    let parameters = match fo.get("parameters") {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(other) => {
            return Err(invalid(
                &fo.path_of("parameters"),
                format!("expected a JSON Schema object, got {}", type_name(other)),
            ));
        }
    };
    Ok(Some(ToolDefinition {
        name: fo.str_req("name")?.to_owned(),
        description: fo.str_opt("description")?.map(str::to_owned),
        parameters,
        strict: fo.bool_opt("strict")?,
        freeform: None,
    }))
}

fn decode_tool_choice(o: &Obj<'_>) -> Result<Option<ToolChoice>, GatewayError> {
    match o.get("tool_choice") {
        None => Ok(None),
        Some(Value::String(s)) => crate::fields::tool_choice_mode(s).map(Some),
        Some(v @ Value::Object(_)) => {
            let co = Obj::new(v, "tool_choice")?;
            match co.str_req("type")? {
                "function" => {
                    let Some(f) = co.object_opt("function")? else {
                        return Err(invalid("tool_choice.function", "is required"));
                    };
                    let fo = Obj::new(f, "tool_choice.function")?;
                    Ok(Some(ToolChoice::Function(fo.str_req("name")?.to_owned())))
                }
                // `{"type":"allowed_tools","allowed_tools":{"mode":…}}`: the mode is
                // what the unified model can keep.
                "allowed_tools" => {
                    let mode = match co.object_opt("allowed_tools")? {
                        Some(a) => Obj::new(a, "tool_choice.allowed_tools")?.str_opt("mode")?,
                        None => None,
                    };
                    Ok(Some(if mode == Some("required") {
                        ToolChoice::Required
                    } else {
                        ToolChoice::Auto
                    }))
                }
                _ => Ok(None),
            }
        }
        Some(other) => Err(invalid(
            "tool_choice",
            format!("expected a string or an object, got {}", type_name(other)),
        )),
    }
}

fn decode_response_format(o: &Obj<'_>) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(v) = o.object_opt("response_format")? else {
        return Ok(None);
    };
    let ro = Obj::new(v, "response_format")?;
    match ro.str_req("type")? {
        "text" => Ok(Some(ResponseFormat::Text)),
        "json_object" => Ok(Some(ResponseFormat::JsonObject)),
        "json_schema" => {
            let path = join("response_format", "json_schema");
            let Some(js) = ro.object_opt("json_schema")? else {
                return Err(invalid(&path, "is required"));
            };
            let jo = Obj::new(js, &path)?;
            let schema = match jo.get("schema") {
                None => Value::Object(Map::new()),
                Some(s @ Value::Object(_)) => s.clone(),
                Some(other) => {
                    return Err(invalid(
                        &jo.path_of("schema"),
                        format!("expected a JSON Schema object, got {}", type_name(other)),
                    ));
                }
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name: jo.str_req("name")?.to_owned(),
                schema,
                strict: jo.bool_opt("strict")?,
            }))
        }
        other => Err(invalid(
            "response_format.type",
            format!("unknown value `{other}` (expected text, json_object or json_schema)"),
        )),
    }
}

// ==================================================================== upstream side

/// Encodes `req` for an OpenAI-format upstream, as `model`, streaming or not.
///
/// **Fast path**: when the client spoke OpenAI (`req.raw` is an OpenAI body), that body
/// is sent with every field unchanged, unknown ones included, except: `model` is
/// rewritten; when streaming, `stream` is `true` and `stream_options.include_usage` is
/// forced on (other `stream_options` keys kept) so usage is never lost; when not
/// streaming, `stream` and `stream_options` are removed (the adapter asked for one
/// complete answer, and OpenAI rejects `stream_options` without `stream`); call ids lose
/// what another provider's answer put in them ([`tool_ids`]), which OpenAI would refuse
/// as too long.
///
/// **Translation** (any other client format): see the module docs for what is sent.
/// The output-token limit goes out as `max_completion_tokens` to kind `openai` (OpenAI
/// deprecated `max_tokens`, and its reasoning models reject it) and as `max_tokens` to
/// kind `openai-compatible` (vLLM, Ollama, llama.cpp and older servers only know
/// that one). `top_k` is sent only to openai-compatible servers (OpenAI rejects it).
pub fn encode_request(req: &ChatRequest, model: &str, stream: bool, cfg: &ProviderConfig) -> Bytes {
    if let Some(raw) = req.raw.as_ref().filter(|r| r.format == WireFormat::OpenAi) {
        return fast_path(raw, model, stream);
    }
    let compatible = cfg.kind != ProviderKind::OpenAi;
    // OpenAI's reasoning models refuse the sampling knobs other clients send as a
    // matter of course (Gemini CLI: temperature 1, topP 0.95): those are not sent.
    let samples = compatible || !is_reasoning_family(model);
    let p = &req.params;
    let labels = image_labels(&req.messages);
    let body = OutRequest {
        model,
        messages: encode_messages(&req.messages, &labels),
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutFunctionDef {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: &t.parameters,
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => OutToolChoice::Mode("auto"),
            ToolChoice::None => OutToolChoice::Mode("none"),
            ToolChoice::Required => OutToolChoice::Mode("required"),
            ToolChoice::Function(name) => OutToolChoice::Named {
                kind: "function",
                function: OutNamedFunction { name },
            },
        }),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => OutResponseFormat::Text,
            ResponseFormat::JsonObject => OutResponseFormat::JsonObject,
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => OutResponseFormat::JsonSchema {
                json_schema: OutJsonSchema {
                    name,
                    schema,
                    strict: *strict,
                },
            },
        }),
        stop: &p.stop,
        max_tokens: p.max_tokens.filter(|_| compatible),
        max_completion_tokens: p.max_tokens.filter(|_| !compatible),
        temperature: p.temperature.filter(|t| samples || *t == 1.0),
        top_p: p.top_p.filter(|_| samples),
        top_k: p.top_k.filter(|_| compatible),
        seed: p.seed,
        presence_penalty: p.presence_penalty.filter(|_| samples),
        frequency_penalty: p.frequency_penalty.filter(|_| samples),
        user: req.metadata.user_id.as_deref(),
        reasoning_effort: reasoning_effort(req, model),
        stream: stream.then_some(true),
        stream_options: stream.then_some(OutStreamOptions {
            include_usage: true,
        }),
    };
    serde_json::to_vec(&body).unwrap_or_default().into()
}

/// Model families that do not reason and refuse `reasoning_effort` ("Unrecognized
/// request argument supplied: reasoning_effort", or "Unsupported parameter:
/// 'reasoning_effort' is not supported with this model."): a translated request's
/// thinking is not sent to them. A deny list rather than an allow list, so a new
/// reasoning model works the day it ships; `ft:` fine-tunes count as their base.
pub const NO_REASONING_MODELS: &[&str] = &["gpt-4", "gpt-3.5", "chatgpt-4o", "gpt-5-chat"];

/// The OpenAI reasoning families (o1, o3, o4, gpt-5 but its chat models), which refuse
/// `top_p`, the penalties and any temperature but 1 ("Unsupported parameter: 'top_p'
/// is not supported with this model."). An allow list, unlike
/// [`NO_REASONING_MODELS`]: a new model keeps its sampling parameters until it is
/// known to refuse them.
pub fn is_reasoning_family(model: &str) -> bool {
    let base = model.strip_prefix("ft:").unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| base.starts_with(p))
        && takes_reasoning_effort(base)
}

/// Whether `model` (an upstream model name) takes `reasoning_effort`.
pub fn takes_reasoning_effort(model: &str) -> bool {
    let base = model.strip_prefix("ft:").unwrap_or(model);
    !NO_REASONING_MODELS.iter().any(|p| base.starts_with(p))
}

/// `reasoning_effort` for a translated request: the effort the client named (Anthropic's
/// `max`, which OpenAI does not have, as `xhigh`), else the effort for its thinking
/// budget ([`ReasoningConfig::effort_for_budget`]; a zero budget, thinking off, sends
/// none). Nothing for a model that does not reason ([`takes_reasoning_effort`]).
fn reasoning_effort<'a>(req: &'a ChatRequest, model: &str) -> Option<&'a str> {
    let r = req.reasoning.as_ref()?;
    let effort = match (r.effort.as_deref(), r.budget_tokens) {
        (Some(e), _) if e.eq_ignore_ascii_case("max") => "xhigh",
        (Some(e), _) => e,
        (None, Some(b)) if b > 0 => ReasoningConfig::effort_for_budget(b),
        _ => return None,
    };
    if !takes_reasoning_effort(model) {
        tracing::debug!(
            model,
            effort,
            "reasoning_effort not sent: the model does not reason"
        );
        return None;
    }
    Some(effort)
}

/// What an OpenAI upstream cannot be sent from a translated request, refused before the
/// call: a document given by URL (Chat Completions takes PDFs only as `file_data` or an
/// uploaded `file_id`, never a URL). `invalid_request` naming the block. A same-format
/// request is never refused here: it goes as the client sent it.
pub fn check_request(req: &ChatRequest) -> Result<(), GatewayError> {
    if req
        .raw
        .as_ref()
        .is_some_and(|r| r.format == WireFormat::OpenAi)
    {
        return Ok(());
    }
    let url = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|p| match p {
            ContentPart::Document {
                source: DocumentSource::Url { url },
                ..
            } => Some(url),
            _ => None,
        });
    if let Some(url) = url {
        return Err(GatewayError::invalid_param(
            "messages",
            format!(
                "the `document` block with the URL source {url} cannot be sent to an OpenAI \
                 upstream: Chat Completions takes PDFs only as base64 data (send it as a \
                 `base64` source)"
            ),
        ));
    }
    Ok(())
}

fn fast_path(raw: &RawRequest, model: &str, stream: bool) -> Bytes {
    let mut set = vec![("model", Value::String(model.to_owned()))];
    if let Some(messages) = without_id_attachments(raw) {
        set.push(("messages", messages));
    }
    if !stream {
        return patched_body(raw, &set, &["stream", "stream_options"]);
    }
    // Usage comes only in the final chunk the client may not have asked for.
    let mut options = match raw.body.get("stream_options") {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    options.insert("include_usage".into(), Value::Bool(true));
    set.push(("stream", Value::Bool(true)));
    set.push(("stream_options", Value::Object(options)));
    patched_body(raw, &set, &[])
}

/// The fast path's one content change: `messages` with the call ids' [`tool_ids`]
/// attachments taken off (`tool_calls[].id`, `tool_call_id`), or `None` (nothing
/// copied) when there are none — the usual case, found by a scan of the bytes. They
/// are there when an earlier turn of the conversation was answered by another provider
/// (a fallback, a route over several): OpenAI refuses ids longer than 40 characters
/// ("Invalid 'messages[2].tool_calls[0].id': string too long"), and the signature
/// they carry means nothing to it.
fn without_id_attachments(raw: &RawRequest) -> Option<Value> {
    if !tool_ids::may_carry(&raw.bytes) {
        return None;
    }
    let mut messages = raw.body.get("messages")?.as_array()?.clone();
    let mut changed = false;
    for m in &mut messages {
        changed |= tool_ids::strip_field(m, "tool_call_id");
        if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
            for call in calls {
                changed |= tool_ids::strip_field(call, "id");
            }
        }
    }
    changed.then_some(Value::Array(messages))
}

/// Unified messages → OpenAI messages. Tool results become `tool` messages wherever
/// they sit (Anthropic and Gemini carry them inside user turns), in order; reasoning
/// is not sent back (OpenAI has no input field for it, and DeepSeek rejects
/// `reasoning_content` in input messages).
///
/// A `tool` message takes text only, so the images of a tool result (Claude Code's
/// `Read` of a PNG, Codex's `view_image`) go in a `user` message after the run of
/// `tool` messages they belong to, each result's images behind its label from
/// `labels` ([`image_labels`], same order): OpenAI wants every `tool` message of a turn
/// right after the assistant message with the calls, so nothing may come between them.
fn encode_messages<'a>(messages: &'a [Message], labels: &'a [String]) -> Vec<OutMessage<'a>> {
    let mut out = Vec::with_capacity(messages.len());
    let mut labels = labels.iter();
    // Tool-result images waiting for the end of the current run of `tool` messages.
    let mut images: Vec<OutPart<'a>> = Vec::new();
    for m in messages {
        let mut pending: Vec<&ContentPart> = Vec::new();
        let mut emitted = false;
        for part in &m.content {
            match part {
                ContentPart::ToolResult {
                    tool_call_id,
                    content,
                    ..
                } => {
                    if !pending.is_empty() {
                        flush_images(&mut out, &mut images);
                        out.push(encode_message(m, &std::mem::take(&mut pending)));
                    }
                    let before = images.len();
                    images.extend(content.iter().filter_map(image_part));
                    let has_images = images.len() > before;
                    if has_images && let Some(label) = labels.next() {
                        images.insert(before, OutPart::Text { text: label });
                    }
                    out.push(OutMessage {
                        role: "tool",
                        name: None,
                        content: text_content(content, has_images),
                        tool_calls: Vec::new(),
                        tool_call_id: Some(tool_ids::base(tool_call_id)),
                    });
                    emitted = true;
                }
                ContentPart::Reasoning { .. } => {}
                other => pending.push(other),
            }
        }
        if !pending.is_empty() || !emitted {
            flush_images(&mut out, &mut images);
            out.push(encode_message(m, &pending));
        }
    }
    flush_images(&mut out, &mut images);
    out
}

/// The text a `tool` message carries when its result held images only (they follow in
/// a `user` message, see [`encode_messages`]).
pub const TOOL_IMAGES_PLACEHOLDER: &str = "[image attached below]";

/// The label before a tool result's images in the `user` message that carries them, one
/// per result with images, in message order: the model can tell whose images they are.
fn image_labels(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::ToolResult {
                tool_call_id,
                content,
                ..
            } if content
                .iter()
                .any(|c| matches!(c, ContentPart::Image { .. })) =>
            {
                Some(format!(
                    "Images from tool call {}:",
                    tool_ids::base(tool_call_id)
                ))
            }
            _ => None,
        })
        .collect()
}

/// Sends the waiting tool-result `images` (labels and image parts) as one `user`
/// message, if there are any.
fn flush_images<'a>(out: &mut Vec<OutMessage<'a>>, images: &mut Vec<OutPart<'a>>) {
    if images.is_empty() {
        return;
    }
    out.push(OutMessage {
        role: "user",
        name: None,
        content: OutContent::Parts(std::mem::take(images)),
        tool_calls: Vec::new(),
        tool_call_id: None,
    });
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        // A tool-role message without results has nothing to answer: say it as the user.
        Role::Tool => "user",
    }
}

/// One OpenAI message from `parts` (no tool results, no reasoning) of `m`.
fn encode_message<'a>(m: &'a Message, parts: &[&'a ContentPart]) -> OutMessage<'a> {
    if m.role != Role::Assistant {
        return OutMessage {
            role: role_name(m.role),
            name: m.name.as_deref(),
            content: rich_content(parts),
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
    }
    let calls: Vec<_> = parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => Some(OutToolCall {
                // What another provider's answer put in the id is for that provider.
                id: tool_ids::base(id),
                kind: "function",
                function: OutFunctionCall { name, arguments },
            }),
            _ => None,
        })
        .collect();
    let content = match joined_refs(parts) {
        Some(t) => OutContent::Text(t),
        None if calls.is_empty() => OutContent::Text(Cow::Borrowed("")),
        None => OutContent::Null,
    };
    OutMessage {
        role: "assistant",
        name: m.name.as_deref(),
        content,
        tool_calls: calls,
        tool_call_id: None,
    }
}

/// The text of `parts` joined, borrowing when there is one piece.
fn joined_refs<'a>(parts: &[&'a ContentPart]) -> Option<Cow<'a, str>> {
    let texts: Vec<&'a str> = parts.iter().filter_map(|p| p.as_text()).collect();
    match texts.as_slice() {
        [] => None,
        [one] => Some(Cow::Borrowed(one)),
        many => Some(Cow::Owned(many.concat())),
    }
}

/// The file name a document without a title is sent under (Chat Completions wants
/// one with `file_data`).
const DOCUMENT_NAME: &str = "document.pdf";

/// Content for system/user messages: a single text part is a plain string (what every
/// OpenAI-compatible server understands); otherwise an array of text and image parts.
fn rich_content<'a>(parts: &[&'a ContentPart]) -> OutContent<'a> {
    match parts {
        [] => return OutContent::Text(Cow::Borrowed("")),
        [ContentPart::Text { text }] => return OutContent::Text(Cow::Borrowed(text)),
        _ => {}
    }
    OutContent::Parts(
        parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(OutPart::Text { text }),
                ContentPart::Image { .. } => image_part(p),
                ContentPart::Document { source, title } => match source {
                    DocumentSource::Base64 { media_type, data } => Some(OutPart::File {
                        file: OutFile {
                            filename: title.as_deref().unwrap_or(DOCUMENT_NAME),
                            file_data: format!("data:{media_type};base64,{data}"),
                        },
                    }),
                    DocumentSource::Text { text } => Some(OutPart::Text { text }),
                    // Refused by `check_request` before anything is sent.
                    DocumentSource::Url { .. } => None,
                },
                _ => None,
            })
            .collect(),
    )
}

/// An `image_url` part for an image (a `data:` URL for base64 data); `None` for any
/// other part.
fn image_part(part: &ContentPart) -> Option<OutPart<'_>> {
    let ContentPart::Image { source, detail } = part else {
        return None;
    };
    Some(OutPart::ImageUrl {
        image_url: OutImageUrl {
            url: match source {
                ImageSource::Url { url } => Cow::Borrowed(url.as_str()),
                ImageSource::Base64 { media_type, data } => {
                    Cow::Owned(format!("data:{media_type};base64,{data}"))
                }
            },
            detail: detail.as_deref(),
        },
    })
}

/// Tool-result content: a string for one text part, text parts otherwise. OpenAI tool
/// messages take text only: a result's images go in a `user` message after it (see
/// [`encode_messages`]); one with images and no text says so
/// ([`TOOL_IMAGES_PLACEHOLDER`]) rather than look empty.
fn text_content(parts: &[ContentPart], has_images: bool) -> OutContent<'_> {
    let texts: Vec<&str> = parts.iter().filter_map(ContentPart::as_text).collect();
    match texts.as_slice() {
        [] if has_images => OutContent::Text(Cow::Borrowed(TOOL_IMAGES_PLACEHOLDER)),
        [] => OutContent::Text(Cow::Borrowed("")),
        [one] => OutContent::Text(Cow::Borrowed(one)),
        many => OutContent::Parts(many.iter().map(|t| OutPart::Text { text: t }).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ClientCodec;
    use serde_json::json;

    /// The translated OpenAI body for a client `body` decoded by `codec`.
    fn upstream(codec: &dyn ClientCodec, body: &Value) -> Value {
        let req = codec
            .decode_request(body.to_string().as_bytes(), DecodeOptions::default())
            .expect("the client body decodes");
        let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
        serde_json::from_slice(&encode_request(&req, "gpt-4o", false, &cfg))
            .expect("the upstream body is JSON")
    }

    /// An Anthropic request whose last user turn answers two calls: `first` and
    /// `second` are the two `tool_result` contents.
    fn anthropic(first: Value, second: Value) -> Value {
        json!({
            "model": "openai/gpt-4o",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "look at both"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.png"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "b.txt"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": first},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": second},
                    {"type": "text", "text": "what do you see?"}
                ]}
            ]
        })
    }

    fn png() -> Value {
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    }

    #[test]
    fn anthropic_tool_result_with_text_and_image() {
        let body = upstream(
            &crate::anthropic::AnthropicCodec,
            &anthropic(
                json!([{"type": "text", "text": "a 1x1 PNG"}, png()]),
                json!("hello"),
            ),
        );
        insta::assert_json_snapshot!(body["messages"]);
    }

    #[test]
    fn anthropic_tool_result_with_only_an_image() {
        let body = upstream(
            &crate::anthropic::AnthropicCodec,
            &anthropic(json!([png()]), json!([png()])),
        );
        let m = &body["messages"];
        // Both tool messages right after the assistant's calls, then the images.
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(m[2]["role"], "tool");
        assert_eq!(m[2]["content"], TOOL_IMAGES_PLACEHOLDER);
        assert_eq!(m[3]["role"], "tool");
        assert_eq!(m[3]["tool_call_id"], "toolu_2");
        assert_eq!(
            m[4],
            json!({"role": "user", "content": [
                {"type": "text", "text": "Images from tool call toolu_1:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "Images from tool call toolu_2:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]})
        );
        assert_eq!(m[5], json!({"role": "user", "content": "what do you see?"}));
        assert_eq!(m.as_array().map(Vec::len), Some(6));
    }

    #[test]
    fn responses_function_call_output_with_input_image() {
        let body = upstream(
            &crate::responses::ResponsesCodec,
            &json!({
                "model": "openai/gpt-4o",
                "input": [
                    {"type": "message", "role": "user", "content": "show me"},
                    {"type": "function_call", "call_id": "call_1", "name": "view_image", "arguments": "{\"path\":\"a.png\"}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": [
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
                    ]},
                    {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_2", "output": "ok"}
                ]
            }),
        );
        insta::assert_json_snapshot!(body["messages"]);
    }

    #[test]
    fn reasoning_models_get_no_sampling_knobs_others_keep_them() {
        let mut req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..Default::default()
        };
        req.params.temperature = Some(1.0);
        req.params.top_p = Some(0.95);
        req.params.presence_penalty = Some(0.5);
        let sent = |req: &ChatRequest, model: &str, kind: ProviderKind| -> Value {
            let cfg = ProviderConfig::new("p", kind);
            serde_json::from_slice(&encode_request(req, model, false, &cfg))
                .expect("the upstream body is JSON")
        };
        for model in ["o3", "gpt-5", "o4-mini", "gpt-5.1-codex"] {
            let body = sent(&req, model, ProviderKind::OpenAi);
            assert_eq!(
                body["temperature"],
                json!(1.0),
                "{model}: 1 is the default it takes"
            );
            assert!(body.get("top_p").is_none(), "{model}: {body}");
            assert!(body.get("presence_penalty").is_none(), "{model}: {body}");
        }
        for (model, kind) in [
            ("gpt-4o", ProviderKind::OpenAi),
            ("gpt-5-chat-latest", ProviderKind::OpenAi),
            ("o3", ProviderKind::OpenAiCompatible),
        ] {
            let body = sent(&req, model, kind);
            assert_eq!(body["top_p"], json!(0.95), "{model}: {body}");
            assert_eq!(body["presence_penalty"], json!(0.5), "{model}: {body}");
        }
        req.params.temperature = Some(0.2);
        assert!(
            sent(&req, "gpt-5", ProviderKind::OpenAi)
                .get("temperature")
                .is_none()
        );
    }
}
