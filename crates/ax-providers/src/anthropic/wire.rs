//! Private serde types of the Anthropic Messages wire format.
//!
//! Outgoing types (`Out*`) borrow from the unified value and serialize fields in a fixed
//! order, so encoder output is deterministic byte for byte. Every content block carries
//! its `type` as an explicit first field (`kind`), rather than through a serde-tagged
//! enum, so that block structs can hold a `RawValue` (tool `input`, kept byte-exact)
//! without going through serde's buffered tagged-enum path.
//!
//! Incoming types (`In*`) are lenient: every field is optional or defaulted, `null` is
//! accepted wherever an absent field is, unknown fields are ignored, and content blocks
//! and deltas are first read as raw JSON and dispatched on their `type`, so a block type
//! added by Anthropic tomorrow is skipped instead of failing the whole answer.
//!
//! Field names follow anthropics/anthropic-sdk-python `src/anthropic/types/`
//! (`message.py`, `usage.py`, `message_delta_usage.py`, `output_tokens_details.py`,
//! `raw_message_*_event.py`, `raw_content_block_*_event.py`, `shared/error_*.py`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

// ---------------------------------------------------------------- outgoing: request

/// A Messages request body.
#[derive(Debug, Serialize)]
pub(crate) struct OutRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<OutSystem<'a>>,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<OutThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutOutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// `system`: a string, or text blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<OutText<'a>>),
}

/// One entry of `messages`.
#[derive(Debug, Serialize)]
pub(crate) struct OutMessage<'a> {
    pub role: &'static str,
    pub content: OutContent<'a>,
}

/// Message or tool-result content: a string (one text block), or blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

/// A content block (requests, complete responses and `content_block_start`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutBlock<'a> {
    Text(OutText<'a>),
    Image(OutImage<'a>),
    ToolUse(OutToolUse<'a>),
    ToolResult(OutToolResult<'a>),
    Thinking(OutThinking<'a>),
    RedactedThinking(OutRedactedThinking<'a>),
    Document(OutDocument<'a>),
}

/// `{"type": "text", "text"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutText<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

/// `{"type": "image", "source"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutImage<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: OutSource<'a>,
}

/// `source` of an image or a document block (`base64_image_source_param.py`,
/// `url_image_source_param.py`, `base64_pdf_source_param.py`, `url_pdf_source_param.py`,
/// `plain_text_source_param.py`): both block kinds share these two shapes.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutSource<'a> {
    /// `{"type": "base64", "media_type", "data"}`; also a document's `{"type": "text",
    /// "media_type": "text/plain", "data"}`.
    Data {
        #[serde(rename = "type")]
        kind: &'static str,
        media_type: &'a str,
        data: &'a str,
    },
    /// `{"type": "url", "url"}`.
    Url {
        #[serde(rename = "type")]
        kind: &'static str,
        url: &'a str,
    },
}

/// `{"type": "document", "source", "title"}` (`types/document_block_param.py`).
#[derive(Debug, Serialize)]
pub(crate) struct OutDocument<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: OutSource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
}

/// `{"type": "tool_use", "id", "name", "input"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutToolUse<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    pub name: &'a str,
    pub input: OutInput,
}

/// A tool `input` object: the exact JSON text of the arguments, or `{}` (stream start).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutInput {
    Raw(Box<RawValue>),
    Empty(Empty),
}

/// Serializes as `{}`.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

/// `{"type": "tool_result", "tool_use_id", "content", "is_error"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutToolResult<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tool_use_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

/// `{"type": "thinking", "thinking", "signature"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutThinking<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub thinking: &'a str,
    pub signature: &'a str,
}

/// `{"type": "redacted_thinking", "data"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutRedactedThinking<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: &'a str,
}

/// One entry of `tools` (a client tool).
#[derive(Debug, Serialize)]
pub(crate) struct OutTool<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: &'a Value,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
pub(crate) struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// `metadata`.
#[derive(Debug, Serialize)]
pub(crate) struct OutMetadata<'a> {
    pub user_id: &'a str,
}

/// `thinking: {"type": "enabled", "budget_tokens"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutThinkingConfig {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub budget_tokens: u32,
}

/// `output_config` (structured outputs).
#[derive(Debug, Serialize)]
pub(crate) struct OutOutputConfig<'a> {
    pub format: OutJsonFormat<'a>,
}

/// `output_config.format`.
#[derive(Debug, Serialize)]
pub(crate) struct OutJsonFormat<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema: &'a Value,
}

// ---------------------------------------------------------------- outgoing: response

/// A complete `message` body.
#[derive(Debug, Serialize)]
pub(crate) struct OutResponse<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<OutBlock<'a>>,
    /// `null` only in `message_start`.
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: OutUsage,
}

/// `usage` (complete responses, `message_start` and `message_delta`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutUsage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutOutputDetails>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutOutputDetails {
    pub thinking_tokens: u64,
}

// ---------------------------------------------------------------- outgoing: stream

/// `message_start`.
#[derive(Debug, Serialize)]
pub(crate) struct OutMessageStart<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: OutResponse<'a>,
}

/// `content_block_start`.
#[derive(Debug, Serialize)]
pub(crate) struct OutBlockStart<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub index: u32,
    pub content_block: OutBlock<'a>,
}

/// `content_block_delta`.
#[derive(Debug, Serialize)]
pub(crate) struct OutBlockDelta<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub index: u32,
    pub delta: OutDelta<'a>,
}

/// The `delta` of a `content_block_delta`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutDelta<'a> {
    Text {
        #[serde(rename = "type")]
        kind: &'static str,
        text: &'a str,
    },
    InputJson {
        #[serde(rename = "type")]
        kind: &'static str,
        partial_json: &'a str,
    },
    Thinking {
        #[serde(rename = "type")]
        kind: &'static str,
        thinking: &'a str,
    },
    Signature {
        #[serde(rename = "type")]
        kind: &'static str,
        signature: &'a str,
    },
}

/// `content_block_stop`.
#[derive(Debug, Serialize)]
pub(crate) struct OutBlockStop {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub index: u32,
}

/// `message_delta`.
#[derive(Debug, Serialize)]
pub(crate) struct OutMessageDelta<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub delta: OutStop<'a>,
    pub usage: OutUsage,
}

/// `message_delta.delta`.
#[derive(Debug, Serialize)]
pub(crate) struct OutStop<'a> {
    pub stop_reason: &'static str,
    pub stop_sequence: Option<&'a str>,
}

/// Events with nothing but a type (`ping`, `message_stop`).
#[derive(Debug, Serialize)]
pub(crate) struct OutBare {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

// ---------------------------------------------------------------- errors

/// `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: OutError<'a>,
}

/// The error object.
#[derive(Debug, Serialize)]
pub(crate) struct OutError<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
}

// ---------------------------------------------------------------- incoming

/// A complete `message` from an upstream (also `message_start.message`).
#[derive(Debug, Deserialize)]
pub(crate) struct InMessage {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<Box<RawValue>>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: Option<InUsage>,
    /// Set when a 200 body is in fact an error (`"type": "error"`).
    #[serde(default)]
    pub error: Option<Value>,
}

/// `usage` (complete, `message_start`) or `message_delta.usage` (cumulative).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens_details: Option<InOutputDetails>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InOutputDetails {
    #[serde(default)]
    pub thinking_tokens: Option<u64>,
}

/// Just the `type` of a block or delta, read before dispatching on it.
#[derive(Debug, Deserialize)]
pub(crate) struct InTyped {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A `text` block or `text_delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct InText {
    #[serde(default)]
    pub text: Option<String>,
}

/// A `tool_use` block. `input` stays raw JSON text (byte-exact arguments).
#[derive(Debug, Deserialize)]
pub(crate) struct InToolUse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input: Option<Box<RawValue>>,
}

/// A `thinking` block (or `thinking_delta` / `signature_delta`).
#[derive(Debug, Deserialize)]
pub(crate) struct InThinking {
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
}

/// A `redacted_thinking` block.
#[derive(Debug, Deserialize)]
pub(crate) struct InRedacted {
    #[serde(default)]
    pub data: Option<String>,
}

/// An `input_json_delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct InJsonDelta {
    #[serde(default)]
    pub partial_json: Option<String>,
}

/// One server-sent event's `data`, whatever its type.
#[derive(Debug, Deserialize)]
pub(crate) struct InEvent {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `message_start`.
    #[serde(default)]
    pub message: Option<InStartMessage>,
    /// `content_block_*`.
    #[serde(default)]
    pub index: Option<u64>,
    /// `content_block_start`.
    #[serde(default)]
    pub content_block: Option<Box<RawValue>>,
    /// `content_block_delta` (a block delta) or `message_delta` (stop reason).
    #[serde(default)]
    pub delta: Option<Box<RawValue>>,
    /// `message_delta`.
    #[serde(default)]
    pub usage: Option<InUsage>,
    /// `error`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// `message_start.message`: what matters before any content.
#[derive(Debug, Deserialize)]
pub(crate) struct InStartMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub usage: Option<InUsage>,
}

/// `message_delta.delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct InStop {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// `null` → `T::default()` (`#[serde(default)]` alone only covers an absent field).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
