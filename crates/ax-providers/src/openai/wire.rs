//! Private serde types of the OpenAI Chat Completions wire format.
//!
//! Outgoing types (`Out*`) borrow from the unified value and serialize fields in a fixed
//! order (so encoder output is deterministic byte for byte). Incoming types (`In*`) are
//! lenient: every field is optional or defaulted and `null` is accepted wherever an
//! absent field is, because openai-compatible servers (vLLM, Ollama, llama.cpp, Groq…)
//! differ in what they omit. Unknown fields are ignored.
//!
//! Field names follow openai/openai-python `src/openai/types/chat/chat_completion*.py`
//! and `types/completion_usage.py`.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- outgoing: request

/// A Chat Completions request body.
#[derive(Debug, Serialize)]
pub(crate) struct OutRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<OutResponseFormat<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<OutStreamOptions>,
}

/// `stream_options`.
#[derive(Debug, Serialize)]
pub(crate) struct OutStreamOptions {
    pub include_usage: bool,
}

/// One message of `messages`.
#[derive(Debug, Serialize)]
pub(crate) struct OutMessage<'a> {
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub content: OutContent<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<&'a str>,
}

/// Message content: `null`, a string, or an array of parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutContent<'a> {
    Null,
    Text(Cow<'a, str>),
    Parts(Vec<OutPart<'a>>),
}

/// One content part.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl<'a> },
    File { file: OutFile<'a> },
}

/// `file` of a file part (openai-python `chat_completion_content_part_param.py`
/// `FileFile`): Chat Completions takes PDFs as a `data:` URL with a file name.
#[derive(Debug, Serialize)]
pub(crate) struct OutFile<'a> {
    pub filename: &'a str,
    pub file_data: String,
}

/// `image_url` of an image part.
#[derive(Debug, Serialize)]
pub(crate) struct OutImageUrl<'a> {
    pub url: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// An assistant tool call (requests and complete responses).
#[derive(Debug, Serialize)]
pub(crate) struct OutToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunctionCall<'a>,
}

/// `function` of a tool call.
#[derive(Debug, Serialize)]
pub(crate) struct OutFunctionCall<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// One entry of `tools`.
#[derive(Debug, Serialize)]
pub(crate) struct OutTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunctionDef<'a>,
}

/// A function definition.
#[derive(Debug, Serialize)]
pub(crate) struct OutFunctionDef<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode string or a named function.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutNamedFunction<'a>,
    },
}

/// `tool_choice.function`.
#[derive(Debug, Serialize)]
pub(crate) struct OutNamedFunction<'a> {
    pub name: &'a str,
}

/// `response_format`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: OutJsonSchema<'a> },
}

/// `response_format.json_schema`.
#[derive(Debug, Serialize)]
pub(crate) struct OutJsonSchema<'a> {
    pub name: &'a str,
    pub schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

// ---------------------------------------------------------------- outgoing: response

/// A `chat.completion` body.
#[derive(Debug, Serialize)]
pub(crate) struct OutResponse<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: [OutChoice<'a>; 1],
    pub usage: OutUsage,
}

/// `choices[0]` of a complete response.
#[derive(Debug, Serialize)]
pub(crate) struct OutChoice<'a> {
    pub index: u32,
    pub message: OutResponseMessage<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: &'static str,
}

/// The assistant message of a complete response.
#[derive(Debug, Serialize)]
pub(crate) struct OutResponseMessage<'a> {
    pub role: &'static str,
    pub content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
    pub refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall<'a>>,
}

/// `usage` (complete responses and the final stream chunk).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: OutPromptDetails,
    pub completion_tokens_details: OutCompletionDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutPromptDetails {
    pub cached_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutCompletionDetails {
    pub reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

// ---------------------------------------------------------------- outgoing: stream

/// A `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub(crate) struct OutChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: Vec<OutChunkChoice<'a>>,
    /// Absent unless the client asked for usage; then `null` on every chunk but the
    /// last, which carries the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<OutUsage>>,
}

/// `choices[0]` of a chunk.
#[derive(Debug, Serialize)]
pub(crate) struct OutChunkChoice<'a> {
    pub index: u32,
    pub delta: OutDelta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

/// `delta` of a chunk.
#[derive(Debug, Default, Serialize)]
pub(crate) struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutDeltaToolCall<'a>>,
}

/// A tool-call fragment of a chunk.
#[derive(Debug, Serialize)]
pub(crate) struct OutDeltaToolCall<'a> {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: OutDeltaFunction<'a>,
}

/// `function` of a tool-call fragment.
#[derive(Debug, Serialize)]
pub(crate) struct OutDeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

// ---------------------------------------------------------------- errors

/// `{"error": {...}}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutErrorBody<'a> {
    pub error: OutError<'a>,
}

/// The error object.
#[derive(Debug, Serialize)]
pub(crate) struct OutError<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}

// ---------------------------------------------------------------- incoming

/// A complete `chat.completion` from an upstream.
#[derive(Debug, Deserialize)]
pub(crate) struct InResponse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub created: Option<i64>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<InChoice>,
    #[serde(default)]
    pub usage: Option<InUsage>,
}

/// One choice of a complete response.
#[derive(Debug, Deserialize)]
pub(crate) struct InChoice {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub message: Option<InMessage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// vLLM: the stop string (or token id) that ended generation.
    #[serde(default)]
    pub stop_reason: Option<Value>,
}

/// The assistant message of a complete response.
#[derive(Debug, Deserialize)]
pub(crate) struct InMessage {
    #[serde(default)]
    pub content: Option<InContent>,
    #[serde(default)]
    pub refusal: Option<String>,
    /// DeepSeek / vLLM reasoning text.
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Newer vLLM and OpenRouter name for the same thing (a string there).
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<InToolCall>,
}

/// Response content: a string, or (some compatible servers) text parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum InContent {
    Text(String),
    Parts(Vec<InContentPart>),
}

/// A response content part; only text is kept.
#[derive(Debug, Deserialize)]
pub(crate) struct InContentPart {
    #[serde(default)]
    pub text: Option<String>,
}

/// A tool call of a complete response.
#[derive(Debug, Deserialize)]
pub(crate) struct InToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub function: Option<InFunctionCall>,
}

/// `function` of a tool call (complete or fragment).
#[derive(Debug, Deserialize)]
pub(crate) struct InFunctionCall {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// `usage` as any upstream reports it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<InPromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<InCompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InPromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InCompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// A `chat.completion.chunk` from an upstream.
#[derive(Debug, Deserialize)]
pub(crate) struct InChunk {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub created: Option<i64>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<InChunkChoice>,
    #[serde(default)]
    pub usage: Option<InUsage>,
    /// A mid-stream failure: `data: {"error": {...}}`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// One choice of a chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct InChunkChoice {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub delta: Option<InDelta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub stop_reason: Option<Value>,
}

/// `delta` of a chunk.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InDelta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<InDeltaToolCall>,
}

/// A tool-call fragment of a chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct InDeltaToolCall {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<InFunctionCall>,
}

/// `null` → `T::default()` (`#[serde(default)]` alone only covers an absent field).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An integer, a float (truncated and clamped) or `null`: some servers send `created`
/// as a float.
fn lenient_i64<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        }),
        _ => None,
    })
}

/// The text of an optional `reasoning` value when it is a string.
pub(crate) fn reasoning_text(
    reasoning_content: Option<String>,
    reasoning: Option<Value>,
) -> Option<String> {
    reasoning_content.or(match reasoning {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}
