//! Chat requests: client body → [`ChatRequest`] (client side) and [`ChatRequest`] →
//! upstream body (upstream side), including the same-format fast path.

use std::collections::HashMap;

use ax_core::{
    AnthropicHeaders, ChatRequest, ContentPart, DocumentSource, GatewayError, GenerationParams,
    ImageSource, MAX_DROPPED_FIELDS, Message, RawRequest, ReasoningConfig, ResponseFormat, Role,
    ToolChoice, ToolDefinition, WireFormat,
};
use serde_json::{Map, Value};

use super::fields::{Obj, index, invalid, type_name};
use super::response::{image_source_out, input_object};
use super::wire::{
    OutBlock, OutContent, OutDocument, OutImage, OutJsonFormat, OutMessage, OutMetadata,
    OutOutputConfig, OutRedactedThinking, OutRequest, OutSource, OutSystem, OutText, OutThinking,
    OutThinkingConfig, OutTool, OutToolChoice, OutToolResult, OutToolUse,
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

/// Every top-level field the unified model carries; any other is listed in
/// `dropped_fields` (and reaches a same-format upstream unchanged).
const CARRIED_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "thinking",
    "output_config",
    "stream",
];

/// `anthropic-beta` names (prefixes, the date left out) whose feature the translation
/// carries: structured outputs and effort (`output_config`), interleaved thinking
/// (reasoning parts in any order) and PDFs (documents). Any other beta has no
/// equivalent in another format and is listed as dropped.
pub const TRANSLATED_BETAS: &[&str] = &[
    "structured-outputs-",
    "effort-",
    "interleaved-thinking-",
    "pdfs-",
];

/// The Anthropic protocol headers of a client request (`anthropic-version`, every
/// `anthropic-beta` split at commas); `None` when it sent neither. Values that are not
/// visible ASCII are skipped: they could not be sent on anyway.
pub fn client_headers(headers: &http::HeaderMap) -> Option<AnthropicHeaders> {
    fn text(v: &http::HeaderValue) -> Option<&str> {
        v.to_str().ok().map(str::trim)
    }
    let version = headers
        .get("anthropic-version")
        .and_then(text)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let betas: Vec<String> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(text)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .collect();
    (version.is_some() || !betas.is_empty()).then_some(AnthropicHeaders { version, betas })
}

/// What the decoder saw and the unified model does not carry, collected for
/// [`ChatRequest::dropped_fields`]: at most [`MAX_DROPPED_FIELDS`] entries, then a count.
#[derive(Debug, Default)]
struct Dropped {
    fields: Vec<String>,
    more: usize,
}

impl Dropped {
    fn add(&mut self, entry: String) {
        if self.fields.len() < MAX_DROPPED_FIELDS {
            self.fields.push(entry);
        } else {
            self.more += 1;
        }
    }

    /// A whole block, named with its type (`messages[3].content[1] (server_tool_use)`).
    fn block(&mut self, path: &str, kind: &str) {
        self.add(format!("{path} ({kind})"));
    }

    /// Every key of `o` outside `carried` (`null` values count as absent).
    fn extra(&mut self, o: &Obj<'_>, carried: &[&str]) {
        for (k, v) in o.map {
            if !v.is_null() && !carried.contains(&k.as_str()) {
                self.add(o.path_of(k));
            }
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.fields.push(format!("+{} more", self.more));
        }
        self.fields
    }
}

/// Decodes a client's Messages body. Every rejection is `invalid_request` and names
/// the field. Fields the unified model cannot carry are accepted, listed in
/// `dropped_fields` and otherwise ignored here; they stay in `raw` and reach a
/// same-format upstream unchanged.
pub(crate) fn decode_request(
    body: &bytes::Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    decode_body(body, opts, MaxTokens::Required)
}

/// Decodes a client's `POST /v1/messages/count_tokens` body: a Messages body without
/// `max_tokens` (`MessageCountTokensParams` has none; one sent anyway is read).
pub(crate) fn decode_count_request(
    body: &bytes::Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    decode_body(body, opts, MaxTokens::Optional)
}

/// Whether a body must carry `max_tokens`: a Messages body must, a count body need not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MaxTokens {
    Required,
    Optional,
}

fn decode_body(
    body: &bytes::Bytes,
    opts: DecodeOptions,
    max_tokens: MaxTokens,
) -> Result<ChatRequest, GatewayError> {
    let map = crate::bounded::parse_object(body, crate::bounded::Shape::Anthropic, &opts.limits)?;
    let mut req = decode_map(&map, opts, max_tokens)?;
    req.raw = Some(RawRequest {
        format: WireFormat::Anthropic,
        body: map,
        bytes: body.clone(),
    });
    Ok(req)
}

fn decode_map(
    map: &Map<String, Value>,
    opts: DecodeOptions,
    need_max_tokens: MaxTokens,
) -> Result<ChatRequest, GatewayError> {
    let o = Obj { map, path: "" };
    let mut dropped = Dropped::default();
    dropped.extra(&o, CARRIED_FIELDS);
    let model = match (o.str_opt("model")?, opts.path_model) {
        (Some(m), _) if !m.is_empty() => m.to_owned(),
        (_, Some(m)) => m,
        _ => return Err(invalid("model", "is required")),
    };
    // Required by Anthropic, which rejects a request without it; so do we, rather than
    // invent a limit the client did not choose.
    let max_tokens = match (o.u32_opt("max_tokens")?, need_max_tokens) {
        (None, MaxTokens::Required) => return Err(invalid("max_tokens", "is required")),
        (max_tokens, _) => max_tokens,
    };

    let Some(raw_messages) = o.array_opt("messages")? else {
        return Err(invalid("messages", "is required"));
    };
    if raw_messages.is_empty() {
        return Err(invalid("messages", "must contain at least one message"));
    }
    let mut messages = decode_system(&o, &mut dropped)?;
    // Tool-use id → tool name, so tool results can name their function (Gemini needs it).
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, m) in raw_messages.iter().enumerate() {
        let path = index("messages", i);
        let mut cx = MessageCx {
            out: &mut messages,
            call_names: &mut call_names,
            dropped: &mut dropped,
        };
        decode_message(m, &path, &mut cx)?;
    }

    let mut tools = Vec::new();
    if let Some(raw_tools) = o.array_opt("tools")? {
        for (i, t) in raw_tools.iter().enumerate() {
            if let Some(tool) = decode_tool(t, &index("tools", i), &mut dropped)? {
                tools.push(tool);
            }
        }
    }
    let (tool_choice, parallel_tool_calls) = decode_tool_choice(&o, &mut dropped)?;

    let output_path = o.path_of("output_config");
    let output = o.obj_opt("output_config", &output_path)?;
    if let Some(oc) = &output {
        dropped.extra(oc, &["effort", "format"]);
    }
    let effort = match &output {
        Some(oc) => oc.str_opt("effort")?.map(str::to_owned),
        None => None,
    };
    let response_format = match &output {
        Some(oc) => decode_output_format(oc, &mut dropped)?,
        None => None,
    };

    let params = GenerationParams {
        temperature: o.f64_opt("temperature")?,
        top_p: o.f64_opt("top_p")?,
        top_k: o.u32_opt("top_k")?,
        max_tokens,
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
    if let Some(meta) = o.obj_opt("metadata", &meta_path)? {
        dropped.extra(&meta, &["user_id"]);
        if let Some(user) = meta.str_opt("user_id")?
            && metadata.user_id.is_none()
        {
            metadata.user_id = Some(user.to_owned());
        }
    }

    if let Some(h) = &opts.anthropic {
        for beta in &h.betas {
            if !TRANSLATED_BETAS.iter().any(|p| beta.starts_with(p)) {
                dropped.add(format!("anthropic-beta: {beta}"));
            }
        }
    }

    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        params,
        response_format,
        reasoning: decode_thinking(&o, effort, &mut dropped)?,
        stream,
        // Anthropic streams always carry usage (`message_start`, `message_delta`).
        include_usage: stream,
        metadata,
        raw: None,
        dropped_fields: dropped.finish(),
        anthropic: opts.anthropic,
        passthrough_only: None,
    })
}

/// `system`: a string or text blocks → one System message (none when absent or empty).
fn decode_system(o: &Obj<'_>, dropped: &mut Dropped) -> Result<Vec<Message>, GatewayError> {
    let parts = match o.get("system") {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![ContentPart::text(s.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let path = index("system", i);
                let bo = Obj::new(b, &path)?;
                match bo.str_req("type")? {
                    "text" => parts.push(text_block(&bo, dropped)?),
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

/// Where decoded messages go, and what the decoder learns on the way.
struct MessageCx<'a> {
    out: &'a mut Vec<Message>,
    /// Tool-use id → tool name, so tool results can name their function.
    call_names: &'a mut HashMap<String, String>,
    dropped: &'a mut Dropped,
}

impl MessageCx<'_> {
    fn push(&mut self, role: Role, content: Vec<ContentPart>) {
        self.out.push(Message {
            role,
            content,
            name: None,
        });
    }
}

/// One client message → unified messages appended to `cx.out`. A user turn is split at
/// each `tool_result` block (every result becomes its own `Role::Tool` message, the
/// OpenAI shape) and at each `mid_conv_system` block (a `Role::System` message in
/// place); the text, images and documents around them are `Role::User` messages, in
/// order. A `system`-role entry is a `Role::System` message where it stands.
fn decode_message(v: &Value, path: &str, cx: &mut MessageCx<'_>) -> Result<(), GatewayError> {
    let o = Obj::new(v, path)?;
    cx.dropped.extra(&o, &["role", "content"]);
    let role = match o.str_req("role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        other => {
            return Err(invalid(
                &o.path_of("role"),
                format!("unknown role `{other}` (expected user, assistant or system)"),
            ));
        }
    };
    let content_path = o.path_of("content");
    let blocks: Vec<&Value> = match o.get("content") {
        None => return Err(invalid(&content_path, "is required")),
        Some(Value::String(s)) => {
            cx.push(role, vec![ContentPart::text(s.clone())]);
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
        Role::User => decode_user_blocks(&blocks, &content_path, cx),
        Role::Assistant => decode_assistant_blocks(&blocks, &content_path, cx),
        _ => decode_system_blocks(&blocks, &content_path, cx),
    }
}

fn decode_assistant_blocks(
    blocks: &[&Value],
    content_path: &str,
    cx: &mut MessageCx<'_>,
) -> Result<(), GatewayError> {
    let mut parts = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let bpath = index(content_path, i);
        let bo = Obj::new(b, &bpath)?;
        match bo.str_req("type")? {
            "text" => parts.push(text_block(&bo, cx.dropped)?),
            "tool_use" => {
                cx.dropped.extra(&bo, &["type", "id", "name", "input"]);
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
                cx.call_names.insert(id.clone(), name.clone());
                parts.push(ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
            "thinking" => {
                cx.dropped.extra(&bo, &["type", "thinking", "signature"]);
                parts.push(ContentPart::Reasoning {
                    text: bo.str_opt("thinking")?.unwrap_or_default().to_owned(),
                    signature: bo
                        .str_opt("signature")?
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    redacted: None,
                });
            }
            "redacted_thinking" => {
                cx.dropped.extra(&bo, &["type", "data"]);
                parts.push(ContentPart::Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some(bo.str_req("data")?.to_owned()),
                });
            }
            // Server tools, their results, mid-conversation system blocks in an
            // assistant turn and future block types have no unified form; a
            // same-format upstream still receives them.
            other => cx.dropped.block(&bpath, other),
        }
    }
    cx.push(Role::Assistant, parts);
    Ok(())
}

/// A `system`-role entry's blocks: `text`, and the text blocks of `mid_conv_system`;
/// tool changes (`tool_addition`, `tool_removal`) and other blocks are dropped.
fn decode_system_blocks(
    blocks: &[&Value],
    content_path: &str,
    cx: &mut MessageCx<'_>,
) -> Result<(), GatewayError> {
    let mut parts = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let bpath = index(content_path, i);
        let bo = Obj::new(b, &bpath)?;
        match bo.str_req("type")? {
            "text" => parts.push(text_block(&bo, cx.dropped)?),
            "mid_conv_system" => parts.extend(mid_conv_system(&bo, cx.dropped)?),
            other => cx.dropped.block(&bpath, other),
        }
    }
    if !parts.is_empty() {
        cx.push(Role::System, parts);
    }
    Ok(())
}

/// A `mid_conv_system` block: `{type, content: [text blocks], cache_control}` →
/// its texts.
fn mid_conv_system(bo: &Obj<'_>, dropped: &mut Dropped) -> Result<Vec<ContentPart>, GatewayError> {
    dropped.extra(bo, &["type", "content"]);
    let path = bo.path_of("content");
    let items = match bo.get("content") {
        None => return Err(invalid(&path, "is required")),
        Some(Value::String(s)) => return Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(
                &path,
                format!("expected an array of text blocks, got {}", type_name(other)),
            ));
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ipath = index(&path, i);
        let io = Obj::new(item, &ipath)?;
        match io.str_req("type")? {
            "text" => parts.push(text_block(&io, dropped)?),
            other => dropped.block(&ipath, other),
        }
    }
    Ok(parts)
}

fn decode_user_blocks(
    blocks: &[&Value],
    content_path: &str,
    cx: &mut MessageCx<'_>,
) -> Result<(), GatewayError> {
    let mut pending: Vec<ContentPart> = Vec::new();
    let mut emitted = false;
    for (i, b) in blocks.iter().enumerate() {
        let bpath = index(content_path, i);
        let bo = Obj::new(b, &bpath)?;
        match bo.str_req("type")? {
            "text" => pending.push(text_block(&bo, cx.dropped)?),
            "image" => {
                if let Some(part) = decode_image(&bo, cx.dropped)? {
                    pending.push(part);
                }
            }
            "document" => pending.extend(decode_document(&bo, cx.dropped)?),
            "tool_result" => {
                cx.dropped
                    .extra(&bo, &["type", "tool_use_id", "content", "is_error"]);
                if !pending.is_empty() {
                    cx.push(Role::User, std::mem::take(&mut pending));
                }
                let tool_call_id = bo.str_req("tool_use_id")?.to_owned();
                let content = decode_tool_result_content(&bo, cx.dropped)?;
                let part = ContentPart::ToolResult {
                    name: cx.call_names.get(&tool_call_id).cloned(),
                    tool_call_id,
                    content,
                    is_error: bo.bool_opt("is_error")?.unwrap_or(false),
                };
                cx.push(Role::Tool, vec![part]);
                emitted = true;
            }
            "mid_conv_system" => {
                let texts = mid_conv_system(&bo, cx.dropped)?;
                if !texts.is_empty() {
                    if !pending.is_empty() {
                        cx.push(Role::User, std::mem::take(&mut pending));
                    }
                    cx.push(Role::System, texts);
                    emitted = true;
                }
            }
            // `search_result`, `container_upload` and future types: no unified form.
            other => cx.dropped.block(&bpath, other),
        }
    }
    if !pending.is_empty() || !emitted {
        cx.push(Role::User, pending);
    }
    Ok(())
}

/// A `text` block: its text (`citations` and `cache_control` are listed as dropped).
fn text_block(o: &Obj<'_>, dropped: &mut Dropped) -> Result<ContentPart, GatewayError> {
    dropped.extra(o, &["type", "text"]);
    Ok(ContentPart::text(o.str_req("text")?))
}

/// The `source` object an image or a document block requires, viewed at `spath`.
fn required_source<'a: 'p, 'p>(bo: &Obj<'a>, spath: &'p str) -> Result<Obj<'p>, GatewayError> {
    bo.obj_opt("source", spath)?
        .ok_or_else(|| invalid(spath, "is required"))
}

/// An `image` block; `None` (listed as dropped) for sources the unified model cannot
/// hold (`file`).
fn decode_image(bo: &Obj<'_>, dropped: &mut Dropped) -> Result<Option<ContentPart>, GatewayError> {
    dropped.extra(bo, &["type", "source"]);
    let spath = bo.path_of("source");
    let so = required_source(bo, &spath)?;
    let source = match so.str_req("type")? {
        "base64" => ImageSource::Base64 {
            media_type: so.str_req("media_type")?.to_owned(),
            data: so.str_req("data")?.to_owned(),
        },
        "url" => ImageSource::Url {
            url: so.str_req("url")?.to_owned(),
        },
        other => {
            dropped.block(&spath, other);
            return Ok(None);
        }
    };
    Ok(Some(ContentPart::Image {
        source,
        detail: None,
    }))
}

/// A `document` block (`source`: `base64` PDF, `url` PDF, `text`, or `content` made of
/// text and image blocks, which is decoded as those blocks). `title` is kept;
/// `context`, `citations` and `cache_control` are dropped, and so is a `file` source.
fn decode_document(bo: &Obj<'_>, dropped: &mut Dropped) -> Result<Vec<ContentPart>, GatewayError> {
    dropped.extra(bo, &["type", "source", "title"]);
    let title = bo.str_opt("title")?.map(str::to_owned);
    let spath = bo.path_of("source");
    let so = required_source(bo, &spath)?;
    let source = match so.str_req("type")? {
        "base64" => DocumentSource::Base64 {
            media_type: so.str_req("media_type")?.to_owned(),
            data: so.str_req("data")?.to_owned(),
        },
        "url" => DocumentSource::Url {
            url: so.str_req("url")?.to_owned(),
        },
        "text" => DocumentSource::Text {
            text: so.str_req("data")?.to_owned(),
        },
        "content" => {
            let cpath = so.path_of("content");
            return match so.get("content") {
                None => Err(invalid(&cpath, "is required")),
                Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
                Some(Value::Array(items)) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let ipath = index(&cpath, i);
                        let io = Obj::new(item, &ipath)?;
                        match io.str_req("type")? {
                            "text" => parts.push(text_block(&io, dropped)?),
                            "image" => parts.extend(decode_image(&io, dropped)?),
                            other => dropped.block(&ipath, other),
                        }
                    }
                    Ok(parts)
                }
                Some(other) => Err(invalid(
                    &cpath,
                    format!(
                        "expected a string or an array of content blocks, got {}",
                        type_name(other)
                    ),
                )),
            };
        }
        other => {
            dropped.block(&spath, other);
            return Ok(Vec::new());
        }
    };
    Ok(vec![ContentPart::Document { source, title }])
}

/// `tool_result.content`: absent, a string, or text and image blocks (documents,
/// search results and tool references in a result are dropped).
fn decode_tool_result_content(
    bo: &Obj<'_>,
    dropped: &mut Dropped,
) -> Result<Vec<ContentPart>, GatewayError> {
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
                    "text" => parts.push(text_block(&io, dropped)?),
                    "image" => {
                        if let Some(part) = decode_image(&io, dropped)? {
                            parts.push(part);
                        }
                    }
                    other => dropped.block(&ipath, other),
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

/// A client tool; server tools (`web_search_…`, `bash_…`, …) have no unified form and
/// are listed as dropped. `strict` is kept (OpenAI has the same flag).
fn decode_tool(
    v: &Value,
    path: &str,
    dropped: &mut Dropped,
) -> Result<Option<ToolDefinition>, GatewayError> {
    let o = Obj::new(v, path)?;
    if let Some(kind) = o.str_opt("type")?.filter(|t| *t != "custom") {
        dropped.block(path, kind);
        return Ok(None);
    }
    dropped.extra(
        &o,
        &["type", "name", "description", "input_schema", "strict"],
    );
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
        strict: o.bool_opt("strict")?,
        freeform: None,
    }))
}

/// `tool_choice` → the choice and OpenAI's `parallel_tool_calls` (the negation of
/// `disable_parallel_tool_use`).
fn decode_tool_choice(
    o: &Obj<'_>,
    dropped: &mut Dropped,
) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    let path = o.path_of("tool_choice");
    let Some(co) = o.obj_opt("tool_choice", &path)? else {
        return Ok((None, None));
    };
    dropped.extra(&co, &["type", "name", "disable_parallel_tool_use"]);
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

/// `thinking` (+ `output_config.effort`) → the reasoning configuration. `display` has
/// no equivalent elsewhere and is listed as dropped.
fn decode_thinking(
    o: &Obj<'_>,
    effort: Option<String>,
    dropped: &mut Dropped,
) -> Result<Option<ReasoningConfig>, GatewayError> {
    let path = o.path_of("thinking");
    let budget = match o.obj_opt("thinking", &path)? {
        None => None,
        Some(to) => {
            dropped.extra(&to, &["type", "budget_tokens"]);
            match to.str_req("type")? {
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
            }
        }
    };
    Ok(
        (budget.is_some() || effort.is_some()).then_some(ReasoningConfig {
            budget_tokens: budget,
            effort,
        }),
    )
}

/// `output_config.format` (`{"type": "json_schema", "schema"}`) → a JSON-schema format;
/// another format type is listed as dropped.
fn decode_output_format(
    oc: &Obj<'_>,
    dropped: &mut Dropped,
) -> Result<Option<ResponseFormat>, GatewayError> {
    let path = oc.path_of("format");
    let Some(fo) = oc.obj_opt("format", &path)? else {
        return Ok(None);
    };
    let kind = fo.str_req("type")?;
    if kind != "json_schema" {
        dropped.block(&path, kind);
        return Ok(None);
    }
    dropped.extra(&fo, &["type", "schema"]);
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
/// rejects it) gets the provider's default. In `messages`, `thinking` blocks without a
/// signature are removed and call ids lose what another provider's answer put in them
/// ([`crate::tool_ids`]); a body with neither goes out as its bytes.
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
    // A client that names an effort (OpenAI `reasoning_effort`, Responses
    // `reasoning.effort`) gets the budget for it.
    let budget = req
        .reasoning
        .as_ref()
        .and_then(|r| {
            r.budget_tokens.or_else(|| {
                r.effort
                    .as_deref()
                    .and_then(ax_core::ReasoningConfig::budget_for_effort)
            })
        })
        .filter(|b| *b > 0)
        .map(|b| b.max(MIN_THINKING_BUDGET))
        .filter(|_| replays_thinking(&req.messages));
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
    // Anthropic's range is 0–1 (OpenAI's 0–2): clamp rather than have every OpenAI
    // client that sends 1.2 rejected. With thinking on, Anthropic accepts only
    // temperature 1, no top_k and top_p ≥ 0.95: other values are not sent.
    let temperature = p
        .temperature
        .map(|t| t.clamp(0.0, 1.0))
        .filter(|t| budget.is_none() || *t == 1.0);
    // Claude Sonnet 4.5 and later refuse both at once ("`temperature` and `top_p`
    // cannot both be specified for this model"), and Gemini CLI always sends both:
    // temperature, the one every model takes, wins.
    let top_p = p
        .top_p
        .filter(|t| budget.is_none() || *t >= 0.95)
        .filter(|_| temperature.is_none());
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
        temperature,
        top_p,
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

/// Whether thinking can be on for this conversation. With thinking on, Anthropic
/// refuses a tool loop whose last assistant turn does not start with its signed
/// thinking ("a final `assistant` message must start with a thinking block"); a client
/// of another format that never kept that block (or a turn answered without thinking)
/// would get a 400 for a request every other provider serves, so thinking is left off
/// for that request instead, as LiteLLM does.
fn replays_thinking(messages: &[Message]) -> bool {
    let Some(last) = messages.iter().rev().find(|m| m.role == Role::Assistant) else {
        return true;
    };
    let calls = last
        .content
        .iter()
        .any(|p| matches!(p, ContentPart::ToolCall { .. }));
    !calls
        || matches!(
            last.content.first(),
            Some(ContentPart::Reasoning {
                signature: Some(_),
                ..
            }) | Some(ContentPart::Reasoning {
                redacted: Some(_),
                ..
            })
        )
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
    let cleaned = without_unsigned_thinking(&raw.body);
    if let Some(messages) = without_id_attachments(raw, cleaned.as_ref()).or(cleaned) {
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

/// The fast path's first content change: `messages` without unsigned `thinking` blocks,
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

/// `messages` (`cleaned`, or the client's) with the call ids' [`crate::tool_ids`]
/// attachments taken off (`tool_use.id`, `tool_result.tool_use_id`), or `None` when
/// there are none — the usual case, found by a scan of the bytes. They are there when
/// an earlier turn was answered by another provider (a fallback, a route over several);
/// the signature they carry means nothing to Anthropic.
fn without_id_attachments(raw: &RawRequest, cleaned: Option<&Value>) -> Option<Value> {
    if !crate::tool_ids::may_carry(&raw.bytes) {
        return None;
    }
    let mut messages = cleaned.or_else(|| raw.body.get("messages"))?.clone();
    let mut changed = false;
    for m in messages.as_array_mut()? {
        if let Some(Value::Array(blocks)) = m.get_mut("content") {
            for b in blocks {
                changed |= match b.get("type").and_then(Value::as_str) {
                    Some("tool_use") => crate::tool_ids::strip_field(b, "id"),
                    Some("tool_result") => crate::tool_ids::strip_field(b, "tool_use_id"),
                    _ => false,
                };
            }
        }
    }
    changed.then_some(messages)
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
            ContentPart::Document { source, title } => Some(OutBlock::Document(OutDocument {
                kind: "document",
                source: match source {
                    DocumentSource::Base64 { media_type, data } => OutSource::Data {
                        kind: "base64",
                        media_type,
                        data,
                    },
                    DocumentSource::Url { url } => OutSource::Url { kind: "url", url },
                    DocumentSource::Text { text } => OutSource::Data {
                        kind: "text",
                        media_type: "text/plain",
                        data: text,
                    },
                },
                title: title.as_deref(),
            })),
            ContentPart::ToolResult {
                tool_call_id,
                content,
                is_error,
                ..
            } => Some(OutBlock::ToolResult(OutToolResult {
                kind: "tool_result",
                tool_use_id: crate::tool_ids::base(tool_call_id),
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
                    // What another provider's answer put in the id is for that provider.
                    id: crate::tool_ids::base(id),
                    name,
                    input,
                }));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The client side as current clients use it: a request shaped like Claude Code
    //! 2.x's (`tests/fixtures/anthropic/claude_code_request.json`: system blocks and
    //! `system`-role entries in `messages`, `cache_control` on blocks, tools and system,
    //! adaptive thinking with `output_config.effort`, `context_management`,
    //! `disable_parallel_tool_use`, a beta-only field ax does not know), documents,
    //! and what a translation drops.

    use serde_json::json;

    use super::*;

    const CLAUDE_CODE: &str =
        include_str!("../../tests/fixtures/anthropic/claude_code_request.json");

    fn decode(body: &Value, anthropic: Option<AnthropicHeaders>) -> ChatRequest {
        let opts = DecodeOptions {
            anthropic,
            ..DecodeOptions::default()
        };
        decode_request(&Bytes::from(body.to_string()), opts).unwrap()
    }

    fn claude_code() -> Value {
        serde_json::from_str(CLAUDE_CODE).unwrap()
    }

    fn headers(version: &str, beta: &str) -> Option<AnthropicHeaders> {
        let mut h = http::HeaderMap::new();
        h.insert("anthropic-version", version.parse().unwrap());
        h.insert("anthropic-beta", beta.parse().unwrap());
        client_headers(&h)
    }

    #[test]
    fn a_claude_code_request_decodes_with_system_entries_in_place() {
        let r = decode(
            &claude_code(),
            headers(
                "2023-06-01",
                "claude-code-20250219,interleaved-thinking-2025-05-14, context-management-2025-06-27",
            ),
        );
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::System,
                Role::User
            ]
        );
        assert_eq!(
            r.messages[4].content,
            [ContentPart::text("Plan mode is active: do not edit files.")]
        );
        // Both system places, in order.
        assert_eq!(
            r.system_text().as_deref(),
            Some(
                "You are Claude Code, Anthropic's official CLI for Claude.You are an \
                 interactive CLI tool that helps users with software engineering tasks.\n\n\
                 Plan mode is active: do not edit files."
            )
        );
        assert_eq!(
            r.reasoning,
            Some(ReasoningConfig {
                budget_tokens: None,
                effort: Some("high".into())
            })
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.tools.len(), 2);
        assert_eq!(r.params.max_tokens, Some(32000));
        assert_eq!(
            r.metadata.user_id.as_deref(),
            Some("user_2f1c_account__session_7a4e")
        );
        assert!(r.stream && r.include_usage);
        assert_eq!(
            r.dropped_fields,
            [
                "context_management",
                "speed",
                "system[0].cache_control",
                "system[1].cache_control",
                "messages[0].content[1].cache_control",
                "messages[2].content[0].cache_control",
                "messages[4].content[0].cache_control",
                "tools[1].cache_control",
                "anthropic-beta: claude-code-20250219",
                "anthropic-beta: context-management-2025-06-27",
            ]
        );
        assert_eq!(
            r.anthropic,
            Some(AnthropicHeaders {
                version: Some("2023-06-01".into()),
                betas: vec![
                    "claude-code-20250219".into(),
                    "interleaved-thinking-2025-05-14".into(),
                    "context-management-2025-06-27".into()
                ],
            })
        );
    }

    #[test]
    fn unknown_fields_anywhere_are_listed_not_refused() {
        let mut body = claude_code();
        body["x_future_knob"] = json!({"a": 1});
        body["messages"][0]["x_turn_meta"] = json!(1);
        body["messages"][0]["content"][0]["x_block_meta"] = json!(true);
        body["messages"][1]["content"][2]["caller"] = json!({"type": "direct"});
        body["messages"][1]["content"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}));
        body["tools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "web_search_20250305", "name": "web_search"}));
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048, "display": "omitted"});
        body["output_config"]["x_output_knob"] = json!(1);
        body["metadata"]["x_meta"] = json!("m");
        body["tool_choice"]["x_choice"] = json!(0);
        let r = decode(&body, None);
        for listed in [
            "x_future_knob",
            "messages[0].x_turn_meta",
            "messages[0].content[0].x_block_meta",
            "messages[1].content[2].caller",
            "messages[1].content[3] (server_tool_use)",
            "tools[2] (web_search_20250305)",
            "thinking.display",
            "output_config.x_output_knob",
            "metadata.x_meta",
            "tool_choice.x_choice",
        ] {
            assert!(
                r.dropped_fields.iter().any(|f| f == listed),
                "{listed}: {:?}",
                r.dropped_fields
            );
        }
        assert_eq!(r.tools.len(), 2);
        assert_eq!(
            r.reasoning,
            Some(ReasoningConfig {
                budget_tokens: Some(2048),
                effort: Some("high".into())
            })
        );
    }

    #[test]
    fn the_dropped_list_is_capped() {
        let mut body =
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]});
        for i in 0..100 {
            body[format!("k{i:03}")] = json!(i);
        }
        let r = decode(&body, None);
        assert_eq!(r.dropped_fields.len(), MAX_DROPPED_FIELDS + 1);
        assert_eq!(r.dropped_fields[0], "k000");
        assert_eq!(
            r.dropped_fields.last().map(String::as_str),
            Some(format!("+{} more", 100 - MAX_DROPPED_FIELDS).as_str())
        );
    }

    #[test]
    fn system_entries_take_text_and_mid_conversation_blocks() {
        let r = decode(
            &json!({"model": "m", "max_tokens": 1, "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "a"},
                    {"type": "mid_conv_system", "content": [{"type": "text", "text": "s1"}], "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "b"}
                ]},
                {"role": "system", "content": [
                    {"type": "text", "text": "s2"},
                    {"type": "mid_conv_system", "content": [{"type": "text", "text": "s3"}]},
                    {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "Bash"}}
                ]},
                {"role": "system", "content": [{"type": "tool_addition", "tool": {"type": "tool_reference", "name": "Bash"}}]},
                {"role": "user", "content": "c"}
            ]}),
            None,
        );
        let got: Vec<(Role, String)> = r
            .messages
            .iter()
            .map(|m| (m.role, m.joined_text()))
            .collect();
        assert_eq!(
            got,
            [
                (Role::User, "a".into()),
                (Role::System, "s1".into()),
                (Role::User, "b".into()),
                (Role::System, "s2s3".into()),
                (Role::User, "c".into()),
            ]
        );
        assert_eq!(
            r.dropped_fields,
            [
                "messages[0].content[1].cache_control",
                "messages[1].content[2] (tool_removal)",
                "messages[2].content[0] (tool_addition)",
            ]
        );
    }

    #[test]
    fn documents_and_url_images_are_carried() {
        let r = decode(
            &json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
                 "title": "spec.pdf", "context": "the spec", "citations": {"enabled": true}},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
                {"type": "document", "source": {"type": "content", "content": [
                    {"type": "text", "text": "chunk"},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/i.png"}}
                ]}},
                {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ]}]}),
            None,
        );
        let url_image = |url: &str| ContentPart::Image {
            source: ImageSource::Url { url: url.into() },
            detail: None,
        };
        assert_eq!(
            r.messages[0].content,
            [
                ContentPart::Document {
                    source: DocumentSource::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBERi0x".into()
                    },
                    title: Some("spec.pdf".into())
                },
                ContentPart::Document {
                    source: DocumentSource::Url {
                        url: "https://example.com/a.pdf".into()
                    },
                    title: None
                },
                ContentPart::Document {
                    source: DocumentSource::Text {
                        text: "plain".into()
                    },
                    title: None
                },
                ContentPart::text("chunk"),
                url_image("https://example.com/i.png"),
                url_image("https://example.com/cat.jpg"),
            ]
        );
        assert_eq!(
            r.dropped_fields,
            [
                // In key order (the body is parsed into a sorted map).
                "messages[0].content[0].citations",
                "messages[0].content[0].context",
                "messages[0].content[4].source (file)",
            ]
        );
    }

    #[test]
    fn tool_choice_none_and_parallel_use() {
        let body = |choice: Value| {
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": choice})
        };
        let r = decode(&body(json!({"type": "none"})), None);
        assert_eq!(
            (r.tool_choice, r.parallel_tool_calls),
            (Some(ToolChoice::None), None)
        );
        let r = decode(
            &body(json!({"type": "any", "disable_parallel_tool_use": false})),
            None,
        );
        assert_eq!(
            (r.tool_choice, r.parallel_tool_calls),
            (Some(ToolChoice::Required), Some(true))
        );
    }

    #[test]
    fn client_headers_split_every_beta() {
        let mut h = http::HeaderMap::new();
        assert_eq!(client_headers(&h), None);
        h.append("anthropic-beta", " a-1 ,b-2,, ".parse().unwrap());
        h.append("anthropic-beta", "c-3".parse().unwrap());
        assert_eq!(
            client_headers(&h),
            Some(AnthropicHeaders {
                version: None,
                betas: vec!["a-1".into(), "b-2".into(), "c-3".into()]
            })
        );
        h.insert("anthropic-version", "2023-06-01".parse().unwrap());
        assert_eq!(
            client_headers(&h).and_then(|a| a.version).as_deref(),
            Some("2023-06-01")
        );
    }

    #[test]
    fn the_same_format_path_forwards_the_body_unchanged_but_for_the_model() {
        let body = claude_code();
        let req = decode(&body, None);
        let cfg = ProviderConfig::new("claude", ax_core::ProviderKind::Anthropic);
        let sent: Value = serde_json::from_slice(
            &encode_request(&req, "claude-sonnet-4-5-20250929", true, &cfg).unwrap(),
        )
        .unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("claude-sonnet-4-5-20250929");
        assert_eq!(sent, expected);
        // Not streaming: only `stream` goes.
        let sent: Value = serde_json::from_slice(
            &encode_request(&req, "claude-sonnet-4-5", false, &cfg).unwrap(),
        )
        .unwrap();
        let mut expected = body;
        if let Some(o) = expected.as_object_mut() {
            o.remove("stream");
        }
        assert_eq!(sent, expected);
    }

    #[test]
    fn a_translated_document_becomes_a_document_block() {
        let req = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![
                    ContentPart::Document {
                        source: DocumentSource::Base64 {
                            media_type: "application/pdf".into(),
                            data: "JVBERi0x".into(),
                        },
                        title: Some("spec.pdf".into()),
                    },
                    ContentPart::Document {
                        source: DocumentSource::Text { text: "t".into() },
                        title: None,
                    },
                    ContentPart::text("Summarize."),
                ],
                name: None,
            }],
            ..Default::default()
        };
        let cfg = ProviderConfig::new("claude", ax_core::ProviderKind::Anthropic);
        let sent: Value =
            serde_json::from_slice(&encode_request(&req, "m", false, &cfg).unwrap()).unwrap();
        assert_eq!(
            sent["messages"][0]["content"],
            json!([
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "spec.pdf"},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "t"}},
                {"type": "text", "text": "Summarize."}
            ])
        );
    }

    fn sent(req: &ChatRequest) -> Value {
        let cfg = ProviderConfig::new("claude", ax_core::ProviderKind::Anthropic);
        serde_json::from_slice(&encode_request(req, "m", false, &cfg).unwrap()).unwrap()
    }

    #[test]
    fn an_effort_alone_turns_thinking_on_with_its_budget() {
        let mut req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            reasoning: Some(ReasoningConfig {
                budget_tokens: None,
                effort: Some("high".into()),
            }),
            ..Default::default()
        };
        let body = sent(&req);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 24576})
        );
        // Thinking counts inside max_tokens, which must exceed the budget.
        assert!(body["max_tokens"].as_u64().unwrap() > 24576, "{body}");
        req.reasoning = Some(ReasoningConfig {
            budget_tokens: None,
            effort: Some("none".into()),
        });
        assert!(sent(&req).get("thinking").is_none());
    }

    #[test]
    fn temperature_and_top_p_never_go_together() {
        let mut req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..Default::default()
        };
        req.params.temperature = Some(1.0);
        req.params.top_p = Some(0.95);
        let body = sent(&req);
        assert_eq!(body["temperature"], json!(1.0));
        assert!(body.get("top_p").is_none(), "{body}");
        req.params.temperature = None;
        assert_eq!(sent(&req)["top_p"], json!(0.95));
    }

    #[test]
    fn thinking_stays_off_when_the_tool_loop_has_no_signed_thinking_to_replay() {
        let call = ContentPart::ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: "{}".into(),
        };
        let result = Message {
            role: Role::Tool,
            content: vec![ContentPart::ToolResult {
                tool_call_id: "c1".into(),
                name: Some("f".into()),
                content: vec![ContentPart::text("ok")],
                is_error: false,
            }],
            name: None,
        };
        let mut req = ChatRequest {
            messages: vec![
                Message::text(Role::User, "hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![call.clone()],
                    name: None,
                },
                result.clone(),
            ],
            reasoning: Some(ReasoningConfig {
                budget_tokens: None,
                effort: Some("high".into()),
            }),
            ..Default::default()
        };
        assert!(
            sent(&req).get("thinking").is_none(),
            "unsigned: thinking off"
        );
        req.messages[1].content.insert(
            0,
            ContentPart::Reasoning {
                text: "t".into(),
                signature: Some("sig".into()),
                redacted: None,
            },
        );
        assert_eq!(
            sent(&req)["thinking"]["type"],
            "enabled",
            "signed: replayed"
        );
    }
}
