//! The `response` object: encoded from the unified answer, decoded from an upstream's.
//!
//! Field names follow openai-python `types/responses/response.py` and the item types
//! it references (`response_output_message.py`, `response_output_text.py`,
//! `response_reasoning_item.py`, `response_function_tool_call.py`,
//! `response_custom_tool_call.py`, `response_usage.py`, `response_error.py`).
//!
//! # Encoding
//! Output items follow the content order: each reasoning part is one `reasoning` item
//! (`summary: [{type: "summary_text", text}]`, the signature as `encrypted_content`),
//! each run of adjacent text parts one `message` item with one `output_text` part,
//! each tool call one `function_call` item (`call_id` is the unified call id) — or,
//! when the request declared the called tool as freeform (a `custom` tool,
//! `ToolDefinition::freeform`), one `custom_tool_call` item whose `input` is the
//! `input` string of the call's arguments (the raw arguments when a model ignored the
//! schema: [`FreeformTool::input_of`]). A call of a function the request declared
//! inside a `namespace` tool is a `function_call` with the function's own `name` and
//! its `namespace` (openai-python `ResponseFunctionToolCall.namespace`), as Codex CLI
//! reads it ([`namespace_of`]). A reasoning part with neither text nor
//! signature (Anthropic redacted thinking) has no Responses form and is dropped. Item
//! ids are derived from the response id and the item's output index
//! (`msg_<suffix>_<n>`, `rs_…`, `fc_…`, `ctc_…`), so the streamed and the complete form
//! of one answer name their items alike and tests can pin them.
//!
//! The finish reason becomes `status` ([`INCOMPLETE_REASONS`]): `Length` and
//! `ContentFilter` are `incomplete` with `incomplete_details.reason`; everything else is
//! `completed` (a tool-call turn is `completed` too: the Responses API has no
//! separate stop reason for it). The request-echo fields the SDKs declare
//! (`tools`, `tool_choice`, `parallel_tool_calls`, `text`, `temperature`, …) carry
//! the API's defaults, as the unified answer does not know the request.
//!
//! # Decoding (an OpenAI upstream's answer, read for usage and the log)
//! `message` items give text (`output_text` and `refusal` parts), `function_call`
//! items tool calls (`call_id` as the id), `custom_tool_call` items tool calls whose
//! arguments are `{"input": <input>}`, `reasoning` items reasoning (summaries
//! joined by blank lines, else the raw `reasoning_text` content; `encrypted_content`
//! as the signature); other item types (built-in tool calls) are not carried. An
//! `error` object fails with the mapped code ([`FAILED_CODES_IN`], then the Chat
//! Completions tables).

use std::borrow::Cow;

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, FreeformTool, GatewayError,
    Usage, WireFormat,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::namespaced_tools;
use crate::fields::{bad_upstream, parse_upstream};
use crate::openai::{ERROR_CODES_OUT, decode_stream_error};

// ====================================================================== tables

/// `incomplete_details.reason` ↔ unified finish reason, both directions. Any other
/// finish reason is `status: "completed"`; an unknown incomplete reason decodes as
/// [`FinishReason::Other`].
pub const INCOMPLETE_REASONS: &[(&str, FinishReason)] = &[
    ("max_output_tokens", FinishReason::Length),
    ("content_filter", FinishReason::ContentFilter),
];

/// `response.error.code` values of a failed response that decide the gateway code
/// (openai-python `response_error.py`; `server_is_overloaded` and `slow_down` are
/// what Codex CLI treats as overload). Codes not listed go through the Chat
/// Completions tables ([`crate::openai::ERROR_CODES_IN`], the gateway's own code
/// names, [`crate::openai::ERROR_TYPES_IN`]).
pub const FAILED_CODES_IN: &[(&str, ErrorCode)] = &[
    ("invalid_prompt", ErrorCode::InvalidRequest),
    ("server_is_overloaded", ErrorCode::Overloaded),
    ("slow_down", ErrorCode::Overloaded),
    ("vector_store_timeout", ErrorCode::Timeout),
    ("bio_policy", ErrorCode::ContentFiltered),
    ("image_content_policy_violation", ErrorCode::ContentFiltered),
    ("data_residency_mismatch", ErrorCode::InvalidRequest),
    ("invalid_image", ErrorCode::InvalidRequest),
    ("invalid_image_format", ErrorCode::InvalidRequest),
    ("invalid_base64_image", ErrorCode::InvalidRequest),
    ("invalid_image_url", ErrorCode::InvalidRequest),
    ("image_too_large", ErrorCode::InvalidRequest),
    ("image_too_small", ErrorCode::InvalidRequest),
    ("image_parse_error", ErrorCode::InvalidRequest),
    ("invalid_image_mode", ErrorCode::InvalidRequest),
    ("image_file_too_large", ErrorCode::InvalidRequest),
    ("unsupported_image_media_type", ErrorCode::InvalidRequest),
    ("empty_image_file", ErrorCode::InvalidRequest),
    ("failed_to_download_image", ErrorCode::InvalidRequest),
    ("image_file_not_found", ErrorCode::InvalidRequest),
];

/// `response.error.code` of a failed response ax sends, where it differs from the Chat
/// Completions `error.code` ([`ERROR_CODES_OUT`]): Codex CLI stops retrying on
/// `invalid_prompt` and reports `server_is_overloaded` as overload; every other code
/// it retries.
pub const FAILED_CODES_OUT: &[(ErrorCode, &str)] = &[
    (ErrorCode::InvalidRequest, "invalid_prompt"),
    (ErrorCode::Overloaded, "server_is_overloaded"),
];

/// The `(status, incomplete_details.reason)` of an answer that stopped for `reason`.
pub(crate) fn status_out(reason: FinishReason) -> (&'static str, Option<&'static str>) {
    match INCOMPLETE_REASONS.iter().find(|(_, f)| *f == reason) {
        Some((wire, _)) => ("incomplete", Some(wire)),
        None => ("completed", None),
    }
}

/// The unified finish reason of a response with `status` and `incomplete_details`.
pub(crate) fn finish_in(
    status: Option<&str>,
    incomplete_reason: Option<&str>,
    has_tool_calls: bool,
) -> FinishReason {
    match status {
        Some("incomplete") => incomplete_reason
            .and_then(|r| INCOMPLETE_REASONS.iter().find(|(w, _)| *w == r))
            .map_or(FinishReason::Other, |(_, f)| *f),
        None | Some("completed") if has_tool_calls => FinishReason::ToolCalls,
        None | Some("completed") => FinishReason::Stop,
        // cancelled, or still queued / in progress (background mode).
        Some(_) => FinishReason::Other,
    }
}

/// The `response.error.code` for `error` (see [`FAILED_CODES_OUT`]).
pub(crate) fn failed_code(error: &GatewayError) -> &'static str {
    let code = error.client_code();
    FAILED_CODES_OUT
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, w)| *w)
        .or_else(|| {
            ERROR_CODES_OUT
                .iter()
                .find(|(c, _, _)| *c == code)
                .map(|(_, _, w)| *w)
        })
        .unwrap_or("server_error")
}

/// The `response.error.message` for `error`. A rate limit with a known wait says
/// "try again in Ns", the phrase Codex CLI reads its retry delay from.
pub(crate) fn failed_message(error: &GatewayError) -> Cow<'_, str> {
    match error.retry_after {
        Some(after)
            if error.client_code() == ErrorCode::RateLimitExceeded
                && !error.message.to_ascii_lowercase().contains("try again in") =>
        {
            let secs = after.as_secs_f64();
            let sep = if error.message.is_empty() { "" } else { " " };
            Cow::Owned(format!(
                "{}{sep}Please try again in {secs}s.",
                error.message
            ))
        }
        _ => Cow::Borrowed(&error.message),
    }
}

/// The gateway error for a Responses `error` object (`response.error` of a failed
/// response, or an `error` stream event: `{code, message, param}`).
pub(crate) fn error_in(error: &Value) -> GatewayError {
    let specific = error
        .get("code")
        .and_then(Value::as_str)
        .and_then(|c| FAILED_CODES_IN.iter().find(|(w, _)| *w == c))
        .map(|(_, code)| *code);
    let mut err = decode_stream_error(error);
    if let Some(code) = specific {
        err.code = code;
    }
    err
}

// ====================================================================== ids

/// The Responses id ax gives an answer whose upstream id is `upstream_id`: the id
/// itself when it already is a Responses id, else `resp_` and the upstream id without
/// the characters an id in a URL path must not have (anything outside
/// `[A-Za-z0-9_-]`); a fresh UUID v7 when nothing is left.
pub fn response_id(upstream_id: &str) -> String {
    let rest = upstream_id.strip_prefix("resp_").unwrap_or(upstream_id);
    let mut id = String::with_capacity(rest.len() + 5);
    id.push_str("resp_");
    id.extend(
        rest.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-'),
    );
    if id.len() == "resp_".len() {
        id.push_str(&uuid::Uuid::now_v7().simple().to_string());
    }
    id
}

/// The id of the output item at `index` of the response `response_id`, with the item
/// type's prefix (`msg`, `rs`, `fc`, `ctc`).
pub(crate) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let suffix = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{suffix}_{index}")
}

// ====================================================================== wire (out)

/// `[]`: an always-empty list (`annotations`, `logprobs`).
pub(crate) type EmptyList = [(); 0];

/// An output item, as `output` and the `output_item.*` events carry it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutItem<'a> {
    /// An assistant message.
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutPart<'a>>,
    },
    /// Reasoning.
    Reasoning {
        id: &'a str,
        summary: Vec<OutPart<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
    },
    /// A function call (`namespace` names the `namespace` tool of the function
    /// `name`, when it is one of its).
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        arguments: &'a str,
        status: &'static str,
    },
    /// A call of a freeform (`custom`) tool: its input is free text.
    CustomToolCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        input: &'a str,
        status: &'static str,
    },
}

/// Whether `request` declares the tool `name` as freeform (a Responses `custom` tool),
/// whose calls are `custom_tool_call` items.
pub(crate) fn is_freeform(request: &ChatRequest, name: &str) -> bool {
    request
        .tools
        .iter()
        .any(|t| t.freeform.is_some() && t.name == name)
}

/// The namespace and own name of the tool `name` of `request` when it is a function
/// of a `namespace` tool, derived from the client's raw body as the decoder derived the
/// flat name. Without a raw Responses body (a stored conversation continued) there is
/// nothing to derive from: `None`, and the call keeps its flat name.
pub(crate) fn namespace_of(request: &ChatRequest, name: &str) -> Option<(String, String)> {
    let raw = request
        .raw
        .as_ref()
        .filter(|r| r.format == WireFormat::Responses)?;
    namespaced_tools(&raw.body)
        .into_iter()
        .find(|t| t.flat == name)
        .map(|t| (t.namespace, t.name))
}

/// A content part of a message (`output_text`) or of a reasoning summary
/// (`summary_text`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutPart<'a> {
    /// Visible text.
    OutputText {
        text: &'a str,
        annotations: EmptyList,
        logprobs: EmptyList,
    },
    /// A reasoning summary.
    SummaryText { text: &'a str },
}

impl<'a> OutPart<'a> {
    /// An `output_text` part.
    pub(crate) fn output_text(text: &'a str) -> Self {
        Self::OutputText {
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// `{code, message}` of a failed response.
#[derive(Debug, Serialize)]
pub(crate) struct OutError<'a> {
    pub(crate) code: &'static str,
    pub(crate) message: &'a str,
}

/// `incomplete_details`.
#[derive(Debug, Serialize)]
pub(crate) struct OutIncomplete {
    pub(crate) reason: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct OutUsage {
    input_tokens: u64,
    input_tokens_details: OutInputDetails,
    output_tokens: u64,
    output_tokens_details: OutOutputDetails,
    total_tokens: u64,
}

#[derive(Debug, Serialize)]
struct OutInputDetails {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

#[derive(Debug, Serialize)]
struct OutOutputDetails {
    reasoning_tokens: u64,
}

/// Unified usage → Responses usage (the semantics are the same: `input_tokens`
/// includes cached and cache-written tokens, `output_tokens` reasoning tokens).
pub(crate) fn usage_out(u: &Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.input_tokens,
        input_tokens_details: OutInputDetails {
            cached_tokens: u.cached_tokens,
            cache_write_tokens: u.cache_creation_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutOutputDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.total_tokens(),
    }
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
struct OutReasoningConfig {
    effort: Option<()>,
    summary: Option<()>,
}

#[derive(Debug, Serialize)]
struct OutTextConfig {
    format: OutFormat,
}

#[derive(Debug, Serialize)]
struct OutFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A `response` object.
#[derive(Debug, Serialize)]
pub(crate) struct OutResponse<'a> {
    id: &'a str,
    object: &'static str,
    created_at: i64,
    status: &'static str,
    background: bool,
    error: Option<OutError<'a>>,
    incomplete_details: Option<OutIncomplete>,
    instructions: Option<()>,
    max_output_tokens: Option<()>,
    metadata: Empty,
    model: &'a str,
    output: Vec<OutItem<'a>>,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: OutReasoningConfig,
    temperature: Option<()>,
    text: OutTextConfig,
    tool_choice: &'static str,
    tools: EmptyList,
    top_p: Option<()>,
    truncation: &'static str,
    usage: Option<OutUsage>,
    user: Option<()>,
}

/// What varies between the `response` objects ax writes.
#[derive(Debug)]
pub(crate) struct ResponseParts<'a> {
    pub(crate) id: &'a str,
    pub(crate) created_at: i64,
    pub(crate) model: &'a str,
    pub(crate) status: &'static str,
    pub(crate) error: Option<OutError<'a>>,
    pub(crate) incomplete_reason: Option<&'static str>,
    pub(crate) output: Vec<OutItem<'a>>,
    pub(crate) usage: Option<OutUsage>,
}

impl<'a> OutResponse<'a> {
    /// A `response` object with the API's defaults for the request-echo fields.
    pub(crate) fn new(p: ResponseParts<'a>) -> Self {
        Self {
            id: p.id,
            object: "response",
            created_at: p.created_at,
            status: p.status,
            background: false,
            error: p.error,
            incomplete_details: p.incomplete_reason.map(|reason| OutIncomplete { reason }),
            instructions: None,
            max_output_tokens: None,
            metadata: Empty {},
            model: p.model,
            output: p.output,
            parallel_tool_calls: true,
            previous_response_id: None,
            reasoning: OutReasoningConfig {
                effort: None,
                summary: None,
            },
            temperature: None,
            text: OutTextConfig {
                format: OutFormat { kind: "text" },
            },
            tool_choice: "auto",
            tools: [],
            top_p: None,
            truncation: "disabled",
            usage: p.usage,
            user: None,
        }
    }
}

// ====================================================================== encode

/// One output item of a complete answer, owning what had to be joined.
enum Item<'a> {
    Message(Cow<'a, str>),
    Reasoning {
        text: &'a str,
        signature: Option<&'a str>,
    },
    /// A function call; a function of a `namespace` tool has its own name and its
    /// namespace back.
    Call {
        id: &'a str,
        name: Cow<'a, str>,
        namespace: Option<String>,
        arguments: &'a str,
    },
    /// A call of a freeform tool, with the input taken out of its arguments.
    Custom {
        id: &'a str,
        name: &'a str,
        input: Cow<'a, str>,
    },
}

/// The output items of `content` answering `request`, in order (see the module docs).
fn items_of<'a>(request: &ChatRequest, content: &'a [ContentPart]) -> Vec<Item<'a>> {
    let mut items: Vec<Item<'_>> = Vec::new();
    for part in content {
        match part {
            ContentPart::Text { text } => match items.last_mut() {
                Some(Item::Message(run)) => run.to_mut().push_str(text),
                _ => items.push(Item::Message(Cow::Borrowed(text))),
            },
            ContentPart::Reasoning {
                text, signature, ..
            } => {
                let signature = signature.as_deref().filter(|s| !s.is_empty());
                if !text.is_empty() || signature.is_some() {
                    items.push(Item::Reasoning { text, signature });
                }
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } if is_freeform(request, name) => items.push(Item::Custom {
                id,
                name,
                input: FreeformTool::input_of(arguments),
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => items.push(match namespace_of(request, name) {
                Some((namespace, own)) => Item::Call {
                    id,
                    name: Cow::Owned(own),
                    namespace: Some(namespace),
                    arguments,
                },
                None => Item::Call {
                    id,
                    name: Cow::Borrowed(name),
                    namespace: None,
                    arguments,
                },
            }),
            // Inputs only (images, documents, tool results): not part of an answer.
            _ => {}
        }
    }
    items
}

/// Encodes a complete answer to `request` as a `response` object (see the module docs).
pub(crate) fn encode_response(request: &ChatRequest, response: &ChatResponse) -> Vec<u8> {
    let id = response_id(&response.id);
    let items = items_of(request, &response.content);
    let ids: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let prefix = match item {
                Item::Message(_) => "msg",
                Item::Reasoning { .. } => "rs",
                Item::Call { .. } => "fc",
                Item::Custom { .. } => "ctc",
            };
            item_id(prefix, &id, n)
        })
        .collect();
    let output = items
        .iter()
        .zip(&ids)
        .map(|(item, item_id)| match item {
            Item::Message(text) => OutItem::Message {
                id: item_id,
                status: "completed",
                role: "assistant",
                content: vec![OutPart::output_text(text)],
            },
            Item::Reasoning { text, signature } => OutItem::Reasoning {
                id: item_id,
                summary: summary_of(text),
                encrypted_content: *signature,
            },
            Item::Call {
                id,
                name,
                namespace,
                arguments,
            } => OutItem::FunctionCall {
                id: item_id,
                call_id: id,
                name,
                namespace: namespace.as_deref(),
                arguments,
                status: "completed",
            },
            Item::Custom { id, name, input } => OutItem::CustomToolCall {
                id: item_id,
                call_id: id,
                name,
                input,
                status: "completed",
            },
        })
        .collect();
    let (status, incomplete_reason) = status_out(response.finish_reason);
    let body = OutResponse::new(ResponseParts {
        id: &id,
        created_at: response.created,
        model: &response.model,
        status,
        error: None,
        incomplete_reason,
        output,
        usage: Some(usage_out(&response.usage)),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The `summary` list of a reasoning item with `text` (empty text: no summary).
pub(crate) fn summary_of(text: &str) -> Vec<OutPart<'_>> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![OutPart::SummaryText { text }]
    }
}

// ====================================================================== wire (in)

/// An upstream `response` object: only what ax reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InResponse {
    pub(crate) id: Option<String>,
    pub(crate) created_at: Option<f64>,
    pub(crate) model: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) incomplete_details: Option<InIncomplete>,
    pub(crate) error: Option<Value>,
    /// Items stay loose: built-in tool items of every shape may appear.
    pub(crate) output: Option<Vec<Value>>,
    pub(crate) usage: Option<InUsage>,
}

/// `incomplete_details`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InIncomplete {
    pub(crate) reason: Option<String>,
}

/// Responses usage.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_tokens_details: Option<InInputDetails>,
    output_tokens_details: Option<InOutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct InInputDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct InOutputDetails {
    reasoning_tokens: Option<u64>,
}

/// Responses usage → unified, field for field (`total_tokens` is not read). A missing
/// count is 0, "not reported" (see [`Usage`]).
pub(crate) fn usage_in(u: &InUsage) -> Usage {
    let input = u.input_tokens_details.as_ref();
    Usage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
        cached_tokens: input.and_then(|d| d.cached_tokens).unwrap_or(0),
        cache_creation_tokens: input.and_then(|d| d.cache_write_tokens).unwrap_or(0),
        reasoning_tokens: u
            .output_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
    }
}

impl InResponse {
    /// The finish reason this response reports (`has_tool_calls`: its output calls
    /// functions).
    pub(crate) fn finish_reason(&self, has_tool_calls: bool) -> FinishReason {
        finish_in(
            self.status.as_deref(),
            self.incomplete_details
                .as_ref()
                .and_then(|d| d.reason.as_deref()),
            has_tool_calls,
        )
    }

    /// The failure this response reports, if any: its `error` object, or a
    /// `failed` status without one.
    pub(crate) fn failure(&self) -> Option<GatewayError> {
        match &self.error {
            Some(e @ Value::Object(_)) => Some(error_in(e)),
            _ if self.status.as_deref() == Some("failed") => Some(GatewayError::new(
                ErrorCode::ServerError,
                "upstream response failed without an error object",
            )),
            _ => None,
        }
    }
}

/// The string at `key` of `v`, or `""`.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The texts of the parts in `v[key]` whose `type` is one of `kinds`, joined by `sep`.
fn texts(v: &Value, key: &str, kinds: &[&str], text_keys: &[&str], sep: &str) -> String {
    let mut out = String::new();
    let parts = v.get(key).and_then(Value::as_array).map_or(&[][..], |a| a);
    for part in parts {
        if !kinds.contains(&str_at(part, "type")) {
            continue;
        }
        if let Some(t) = text_keys
            .iter()
            .find_map(|k| part.get(*k).and_then(Value::as_str))
        {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(t);
        }
    }
    out
}

/// The visible text of a `message` item (`output_text` and `refusal` parts).
pub(crate) fn message_text(item: &Value) -> String {
    texts(
        item,
        "content",
        &["output_text", "refusal"],
        &["text", "refusal"],
        "",
    )
}

/// The reasoning text of a `reasoning` item: its summaries joined by blank lines (the
/// separator the stream decoder puts between summary parts), else its raw
/// `reasoning_text` content.
pub(crate) fn reasoning_text(item: &Value) -> String {
    let summary = texts(item, "summary", &["summary_text"], &["text"], "\n\n");
    if summary.is_empty() {
        texts(item, "content", &["reasoning_text"], &["text"], "\n\n")
    } else {
        summary
    }
}

/// The `encrypted_content` of a `reasoning` item, when it has one.
pub(crate) fn encrypted_content(item: &Value) -> Option<String> {
    item.get("encrypted_content")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The unified call id of a `function_call` or `custom_tool_call` item: `call_id`,
/// else the item `id`, else `call_<n>`.
pub(crate) fn call_id_of(item: &Value, n: usize) -> String {
    [str_at(item, "call_id"), str_at(item, "id")]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or_else(|| format!("call_{n}"), str::to_owned)
}

/// The unified arguments of a call item of type `kind`: a `function_call`'s
/// `arguments`; a `custom_tool_call`'s `input` as `{"input": …}`, the arguments its tool
/// has as a function.
pub(crate) fn call_arguments(kind: &str, item: &Value) -> String {
    if kind == "custom_tool_call" {
        FreeformTool::arguments(str_at(item, "input"))
    } else {
        str_at(item, "arguments").to_owned()
    }
}

/// Whether an output item of type `kind` is a tool call.
pub(crate) fn is_call(kind: &str) -> bool {
    matches!(kind, "function_call" | "custom_tool_call")
}

/// The content parts of upstream output items (see the module docs).
fn content_in(output: &[Value]) -> Vec<ContentPart> {
    let mut content = Vec::with_capacity(output.len());
    let mut calls = 0;
    for item in output {
        match str_at(item, "type") {
            "message" => {
                let text = message_text(item);
                if !text.is_empty() {
                    content.push(ContentPart::Text { text });
                }
            }
            kind @ ("function_call" | "custom_tool_call") => {
                content.push(ContentPart::ToolCall {
                    id: call_id_of(item, calls),
                    name: str_at(item, "name").to_owned(),
                    arguments: call_arguments(kind, item),
                });
                calls += 1;
            }
            "reasoning" => {
                let text = reasoning_text(item);
                let signature = encrypted_content(item);
                if !text.is_empty() || signature.is_some() {
                    content.push(ContentPart::Reasoning {
                        text,
                        signature,
                        redacted: None,
                    });
                }
            }
            _ => {}
        }
    }
    content
}

/// Reads an upstream `response` object (for usage and the log). A body with an
/// `error` object (or a `failed` status) fails with the mapped code; a body that is not
/// a response object is a `server_error` naming the field at fault.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, GatewayError> {
    let resp: InResponse = parse_upstream(body, "response")?;
    if let Some(err) = resp.failure() {
        return Err(err);
    }
    if resp.id.is_none() && resp.output.is_none() {
        return Err(bad_upstream("response", "neither `id` nor `output`"));
    }
    let content = content_in(resp.output.as_deref().unwrap_or_default());
    let has_calls = content
        .iter()
        .any(|p| matches!(p, ContentPart::ToolCall { .. }));
    Ok(ChatResponse {
        finish_reason: resp.finish_reason(has_calls),
        id: resp
            .id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| response_id("")),
        model: resp.model.unwrap_or_default(),
        created: created_in(resp.created_at),
        content,
        stop_sequence: None,
        usage: resp.usage.as_ref().map(usage_in).unwrap_or_default(),
    })
}

/// `created_at` (float seconds) as whole seconds; now when absent or not finite.
pub(crate) fn created_in(created_at: Option<f64>) -> i64 {
    match created_at.filter(|t| t.is_finite()) {
        // Float → int `as` saturates: an absurd timestamp cannot overflow.
        Some(t) => t as i64,
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

// ====================================================================== tests

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ChatResponse {
        ChatResponse {
            id: "chatcmpl-abc.123".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
            content: vec![
                ContentPart::Reasoning {
                    text: "Think first.".into(),
                    signature: Some("sig-1".into()),
                    redacted: None,
                },
                ContentPart::text("Let me "),
                ContentPart::text("check."),
                ContentPart::ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
                ContentPart::ToolCall {
                    id: "call_b".into(),
                    name: "get_time".into(),
                    arguments: r#"{"tz":"CET"}"#.into(),
                },
            ],
            finish_reason: FinishReason::ToolCalls,
            stop_sequence: None,
            usage: Usage {
                input_tokens: 120,
                output_tokens: 40,
                cached_tokens: 100,
                cache_creation_tokens: 0,
                reasoning_tokens: 12,
            },
        }
    }

    fn pretty(bytes: &[u8]) -> String {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        serde_json::to_string_pretty(&v).unwrap()
    }

    #[test]
    fn response_snapshot() {
        insta::assert_snapshot!(pretty(&encode_response(&ChatRequest::default(), &sample())));
    }

    #[test]
    fn ids() {
        assert_eq!(response_id("resp_abc123"), "resp_abc123");
        assert_eq!(response_id("chatcmpl-abc.123"), "resp_chatcmpl-abc123");
        assert_eq!(response_id("msg_01XyZ"), "resp_msg_01XyZ");
        assert_eq!(response_id("resp_a/b"), "resp_ab");
        for weird in ["", "...", "resp_", "résumé/é"] {
            let id = response_id(weird);
            assert!(id.starts_with("resp_") && id.len() > 5, "{weird} → {id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            );
        }
        assert_eq!(item_id("msg", "resp_x", 3), "msg_x_3");
    }

    #[test]
    fn status_follows_the_finish_reason() {
        for (reason, status, incomplete) in [
            (FinishReason::Stop, "completed", Value::Null),
            (FinishReason::ToolCalls, "completed", Value::Null),
            (
                FinishReason::Length,
                "incomplete",
                json!({"reason": "max_output_tokens"}),
            ),
            (
                FinishReason::ContentFilter,
                "incomplete",
                json!({"reason": "content_filter"}),
            ),
        ] {
            let mut r = sample();
            r.finish_reason = reason;
            let v: Value =
                serde_json::from_slice(&encode_response(&ChatRequest::default(), &r)).unwrap();
            assert_eq!(v["status"], status, "{reason}");
            assert_eq!(v["incomplete_details"], incomplete, "{reason}");
            let back = decode_response(&encode_response(&ChatRequest::default(), &r)).unwrap();
            let expected = if reason == FinishReason::Stop {
                FinishReason::ToolCalls
            } else {
                reason
            };
            assert_eq!(back.finish_reason, expected);
        }
    }

    #[test]
    fn the_sdk_required_fields_are_present() {
        let v: Value =
            serde_json::from_slice(&encode_response(&ChatRequest::default(), &sample())).unwrap();
        // openai-python Response: fields without a default.
        for key in [
            "id",
            "created_at",
            "model",
            "object",
            "output",
            "parallel_tool_calls",
            "tool_choice",
            "tools",
        ] {
            assert!(v.get(key).is_some_and(|x| !x.is_null()), "{key}");
        }
        assert_eq!(v["object"], "response");
        assert_eq!(v["usage"]["total_tokens"], 160);
    }

    #[test]
    fn redacted_reasoning_is_dropped_and_text_runs_split_by_items() {
        let mut r = sample();
        r.content = vec![
            ContentPart::text("a"),
            ContentPart::Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            },
            ContentPart::text("b"),
            ContentPart::Reasoning {
                text: String::new(),
                signature: Some("carrier".into()),
                redacted: None,
            },
            ContentPart::text("c"),
        ];
        let v: Value =
            serde_json::from_slice(&encode_response(&ChatRequest::default(), &r)).unwrap();
        let kinds: Vec<_> = v["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["message", "reasoning", "message"]);
        assert_eq!(v["output"][0]["content"][0]["text"], "ab");
        assert_eq!(v["output"][1]["summary"], json!([]));
        assert_eq!(v["output"][1]["encrypted_content"], "carrier");
        assert_eq!(v["output"][2]["id"], "msg_chatcmpl-abc123_2");
    }

    #[test]
    fn decodes_what_it_encodes() {
        let r = sample();
        let back = decode_response(&encode_response(&ChatRequest::default(), &r)).unwrap();
        let mut expected = r.content.clone();
        // Adjacent text parts are one message.
        expected.splice(1..3, [ContentPart::text("Let me check.")]);
        assert_eq!(back.content, expected);
        assert_eq!(back.usage, r.usage);
        assert_eq!(back.finish_reason, FinishReason::ToolCalls);
        assert_eq!(back.id, "resp_chatcmpl-abc123");
        assert_eq!(back.created, r.created);
    }

    #[test]
    fn decodes_an_openai_answer() {
        let body = json!({
            "id": "resp_67cb", "object": "response", "created_at": 1741476542.0,
            "status": "completed", "error": null, "incomplete_details": null,
            "model": "o4-mini-2025-04-16",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [
                    {"type": "summary_text", "text": "One."},
                    {"type": "summary_text", "text": "Two."}],
                 "encrypted_content": "gAAA"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hi", "annotations": []},
                             {"type": "refusal", "refusal": "!"}]}
            ],
            "usage": {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 4},
                      "output_tokens": 87, "output_tokens_details": {"reasoning_tokens": 64},
                      "total_tokens": 123}
        });
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            r.content,
            vec![
                ContentPart::Reasoning {
                    text: "One.\n\nTwo.".into(),
                    signature: Some("gAAA".into()),
                    redacted: None
                },
                ContentPart::text("Hi!"),
            ]
        );
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert_eq!(r.created, 1_741_476_542);
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.cached_tokens,
                r.usage.output_tokens,
                r.usage.reasoning_tokens
            ),
            (36, 4, 87, 64)
        );
    }

    /// A request declaring `apply_patch` freeform (as the decoder makes a `custom`
    /// tool) and `get_weather` an ordinary function.
    fn freeform_request() -> ChatRequest {
        ChatRequest {
            tools: vec![
                ax_core::ToolDefinition {
                    name: "apply_patch".into(),
                    description: None,
                    parameters: FreeformTool::parameters(),
                    strict: None,
                    freeform: Some(FreeformTool {
                        format: Some(json!({"type": "grammar", "syntax": "lark",
                            "definition": "start: /.+/"})),
                    }),
                },
                ax_core::ToolDefinition {
                    name: "get_weather".into(),
                    description: None,
                    parameters: json!({"type": "object"}),
                    strict: None,
                    freeform: None,
                },
            ],
            ..ChatRequest::default()
        }
    }

    const PATCH: &str = "*** Begin Patch\n*** Add File: a.txt\n+\"hi\"\n*** End Patch";

    #[test]
    fn a_freeform_call_is_a_custom_tool_call_with_the_decoded_input() {
        let mut r = sample();
        r.content = vec![
            ContentPart::text("Patching."),
            ContentPart::ToolCall {
                id: "toolu_1".into(),
                name: "apply_patch".into(),
                arguments: FreeformTool::arguments(PATCH),
            },
            // A model that ignored the schema: the arguments are the input.
            ContentPart::ToolCall {
                id: "toolu_2".into(),
                name: "apply_patch".into(),
                arguments: r#"{"location":"Paris"}"#.into(),
            },
            ContentPart::ToolCall {
                id: "toolu_3".into(),
                name: "get_weather".into(),
                arguments: FreeformTool::arguments("not freeform"),
            },
        ];
        let v: Value = serde_json::from_slice(&encode_response(&freeform_request(), &r)).unwrap();
        assert_eq!(
            v["output"][1],
            json!({"type": "custom_tool_call", "id": "ctc_chatcmpl-abc123_1",
                "call_id": "toolu_1", "name": "apply_patch", "input": PATCH,
                "status": "completed"})
        );
        assert_eq!(v["output"][2]["type"], "custom_tool_call");
        assert_eq!(v["output"][2]["input"], r#"{"location":"Paris"}"#);
        assert_eq!(v["output"][3]["type"], "function_call");
        assert_eq!(v["output"][3]["arguments"], r#"{"input":"not freeform"}"#);
        // Without the request's tool, the same call is a function call.
        let v: Value =
            serde_json::from_slice(&encode_response(&ChatRequest::default(), &r)).unwrap();
        assert_eq!(v["output"][1]["type"], "function_call");

        // And back: a custom tool call is a tool call with `{"input": …}`.
        let back = decode_response(&encode_response(&freeform_request(), &r)).unwrap();
        assert_eq!(back.content[..2], r.content[..2]);
        assert_eq!(
            back.content[2],
            ContentPart::ToolCall {
                id: "toolu_2".into(),
                name: "apply_patch".into(),
                arguments: FreeformTool::arguments(r#"{"location":"Paris"}"#),
            }
        );
        assert_eq!(back.content[3], r.content[3]);
        assert_eq!(back.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn decodes_an_openai_custom_tool_call() {
        let body = json!({
            "id": "resp_1", "object": "response", "created_at": 1.0, "status": "completed",
            "model": "gpt-5", "output": [
                {"type": "custom_tool_call", "id": "ctc_1", "status": "completed",
                 "call_id": "call_p", "name": "apply_patch", "input": PATCH}
            ]
        });
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            r.content,
            [ContentPart::ToolCall {
                id: "call_p".into(),
                name: "apply_patch".into(),
                arguments: FreeformTool::arguments(PATCH),
            }]
        );
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn errors_in_a_2xx_body() {
        let failed = json!({"id": "resp_1", "status": "failed", "output": [],
            "error": {"code": "rate_limit_exceeded", "message": "slow down"}});
        let e = decode_response(failed.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::RateLimitExceeded, "slow down")
        );
        let bare = json!({"error": {"type": "invalid_request_error", "code": "invalid_prompt",
            "message": "no", "param": "input"}});
        let e = decode_response(bare.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = decode_response(br#"{"id":"resp_1","status":"failed"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
        for junk in [&b"[]"[..], b"{}", b"nope", br#"{"output": 3}"#] {
            assert_eq!(
                decode_response(junk).unwrap_err().code,
                ErrorCode::ServerError
            );
        }
    }

    #[test]
    fn every_failed_code_reads_back() {
        for code in ErrorCode::ALL {
            let e = GatewayError::new(code, "boom");
            let wire = json!({"code": failed_code(&e), "message": "boom"});
            assert_eq!(error_in(&wire).code, code, "{code}");
        }
        for (wire, code) in FAILED_CODES_IN {
            assert_eq!(error_in(&json!({"code": wire, "message": "m"})).code, *code);
        }
    }

    #[test]
    fn rate_limit_messages_say_when_to_retry() {
        let e = GatewayError::new(ErrorCode::RateLimitExceeded, "Rate limited.")
            .with_retry_after(Some(std::time::Duration::from_millis(1500)));
        assert_eq!(
            failed_message(&e),
            "Rate limited. Please try again in 1.5s."
        );
        let e = GatewayError::new(ErrorCode::ServerError, "x")
            .with_retry_after(Some(std::time::Duration::from_secs(1)));
        assert_eq!(failed_message(&e), "x");
    }

    /// A request as the Responses decoder makes it from a body declaring Codex CLI's
    /// sub-agent namespace (its raw body kept, as the encoders read it).
    pub(crate) fn namespaced_request() -> ChatRequest {
        let body = json!({"model": "claude/x", "input": "hi", "tools": [
            {"type": "function", "name": "exec_command"},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
             "tools": [{"type": "function", "name": "spawn_agent"},
                       {"type": "function", "name": "exec_command"}]}
        ]});
        let bytes = bytes::Bytes::from(body.to_string());
        super::super::request::decode_request(&bytes, crate::codec::DecodeOptions::default())
            .unwrap()
    }

    #[test]
    fn a_namespaced_call_is_a_function_call_with_its_namespace() {
        let request = namespaced_request();
        let mut r = sample();
        r.content = vec![
            ContentPart::ToolCall {
                id: "toolu_1".into(),
                name: "spawn_agent".into(),
                arguments: "{}".into(),
            },
            ContentPart::ToolCall {
                id: "toolu_2".into(),
                name: "multi_agent_v1__exec_command".into(),
                arguments: "{}".into(),
            },
            ContentPart::ToolCall {
                id: "toolu_3".into(),
                name: "exec_command".into(),
                arguments: "{}".into(),
            },
        ];
        let v: Value = serde_json::from_slice(&encode_response(&request, &r)).unwrap();
        assert_eq!(
            v["output"][0],
            json!({"type": "function_call", "id": "fc_chatcmpl-abc123_0",
                "call_id": "toolu_1", "name": "spawn_agent", "namespace": "multi_agent_v1",
                "arguments": "{}", "status": "completed"})
        );
        assert_eq!(v["output"][1]["name"], "exec_command");
        assert_eq!(v["output"][1]["namespace"], "multi_agent_v1");
        assert_eq!(v["output"][2]["name"], "exec_command");
        assert!(v["output"][2].get("namespace").is_none());

        // Without the raw body (a stored conversation continued): the flat name.
        let bare = ChatRequest {
            raw: None,
            ..request
        };
        let v: Value = serde_json::from_slice(&encode_response(&bare, &r)).unwrap();
        assert_eq!(v["output"][0]["name"], "spawn_agent");
        assert!(v["output"][0].get("namespace").is_none());
    }
}
