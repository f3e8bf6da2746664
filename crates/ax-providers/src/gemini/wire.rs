//! Private serde types of the Gemini `generateContent` wire format.
//!
//! Incoming types (`In*`) serve both directions that *read* Gemini JSON: client request
//! bodies and upstream responses. They are lenient: every field is optional, `null` is
//! the same as absent, unknown fields are ignored, and every camelCase key also accepts
//! its snake_case spelling (protobuf JSON parsers accept both, and hand-written clients
//! use either). Integers accept an integral float (python-genai types `topK` as a float).
//!
//! Outgoing types (`Out*`) serialize fields in a fixed order, so encoder output is
//! deterministic byte for byte, and use camelCase only.
//!
//! Field names follow googleapis/python-genai `google/genai/models.py` (the
//! `_*_to_mldev` / `_*_from_mldev` converters) and `google/genai/types.py`.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ====================================================================== incoming

/// A `GenerateContentRequest` body as a client sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a GenerateContentRequest object"
)]
pub(crate) struct InRequest {
    #[serde(default)]
    pub contents: Option<Vec<InContent>>,
    /// A `Content`, or (leniently) a plain string; decoded by hand for precise errors.
    #[serde(default, alias = "system_instruction")]
    pub system_instruction: Option<Value>,
    #[serde(default)]
    pub tools: Option<Vec<InTool>>,
    #[serde(default, alias = "tool_config")]
    pub tool_config: Option<InToolConfig>,
    #[serde(default, alias = "generation_config")]
    pub generation_config: Option<InGenerationConfig>,
    /// Not part of the REST body (the model is in the URL) but accepted.
    #[serde(default)]
    pub model: Option<String>,
}

/// One `Content`: a role and its parts.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a Content object")]
pub(crate) struct InContent {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Option<Vec<InPart>>,
}

/// One `Part`. The proto makes the data fields a oneof; here they are all optional and
/// the decoder picks the first one present.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a Part object")]
pub(crate) struct InPart {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default, alias = "inline_data")]
    pub inline_data: Option<InBlob>,
    #[serde(default, alias = "file_data")]
    pub file_data: Option<InFileData>,
    #[serde(default, alias = "function_call")]
    pub function_call: Option<InFunctionCall>,
    #[serde(default, alias = "function_response")]
    pub function_response: Option<InFunctionResponse>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default, alias = "thought_signature")]
    pub thought_signature: Option<String>,
}

/// `inlineData`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a Blob object")]
pub(crate) struct InBlob {
    #[serde(default, alias = "mime_type")]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
}

/// `fileData` (its `mimeType` has no unified place and is not read).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a FileData object")]
pub(crate) struct InFileData {
    #[serde(default, alias = "file_uri")]
    pub file_uri: Option<String>,
}

/// `functionCall`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a FunctionCall object")]
pub(crate) struct InFunctionCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub args: Option<Value>,
}

/// `functionResponse`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a FunctionResponse object")]
pub(crate) struct InFunctionResponse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub response: Option<Value>,
}

/// One entry of `tools`; only function declarations are read (`googleSearch`,
/// `codeExecution`, … have no unified form).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a Tool object")]
pub(crate) struct InTool {
    #[serde(default, alias = "function_declarations")]
    pub function_declarations: Option<Vec<InFunctionDeclaration>>,
}

/// A `FunctionDeclaration`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a FunctionDeclaration object")]
pub(crate) struct InFunctionDeclaration {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default, alias = "parameters_json_schema")]
    pub parameters_json_schema: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a ToolConfig object")]
pub(crate) struct InToolConfig {
    #[serde(default, alias = "function_calling_config")]
    pub function_calling_config: Option<InFunctionCallingConfig>,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a FunctionCallingConfig object")]
pub(crate) struct InFunctionCallingConfig {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default, alias = "allowed_function_names")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `generationConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a GenerationConfig object")]
pub(crate) struct InGenerationConfig {
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default, alias = "top_p")]
    pub top_p: Option<f64>,
    #[serde(default, alias = "top_k", deserialize_with = "de_opt_u32")]
    pub top_k: Option<u32>,
    #[serde(default, alias = "max_output_tokens", deserialize_with = "de_opt_u32")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, alias = "stop_sequences")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub seed: Option<i64>,
    #[serde(default, alias = "presence_penalty")]
    pub presence_penalty: Option<f64>,
    #[serde(default, alias = "frequency_penalty")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, alias = "response_mime_type")]
    pub response_mime_type: Option<String>,
    #[serde(default, alias = "response_schema")]
    pub response_schema: Option<Value>,
    #[serde(default, alias = "response_json_schema")]
    pub response_json_schema: Option<Value>,
    #[serde(default, alias = "thinking_config")]
    pub thinking_config: Option<InThinkingConfig>,
}

/// `generationConfig.thinkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a ThinkingConfig object")]
pub(crate) struct InThinkingConfig {
    /// `-1` is "dynamic", `0` turns thinking off.
    #[serde(default, alias = "thinking_budget", deserialize_with = "de_opt_i64")]
    pub thinking_budget: Option<i64>,
    /// Gemini 3: `low` / `high`.
    #[serde(default, alias = "thinking_level")]
    pub thinking_level: Option<String>,
}

/// A `GenerateContentResponse` (a whole answer, or one stream chunk).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InResponse {
    #[serde(default)]
    pub candidates: Option<Vec<InCandidate>>,
    #[serde(default, alias = "prompt_feedback")]
    pub prompt_feedback: Option<InPromptFeedback>,
    #[serde(default, alias = "usage_metadata")]
    pub usage_metadata: Option<InUsage>,
    #[serde(default, alias = "model_version")]
    pub model_version: Option<String>,
    #[serde(default, alias = "response_id")]
    pub response_id: Option<String>,
    /// Vertex AI only (RFC 3339).
    #[serde(default, alias = "create_time")]
    pub create_time: Option<String>,
    /// A failure reported in a 200 body or mid-stream: `{"error": {...}}`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// One candidate.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InCandidate {
    #[serde(default)]
    pub content: Option<InContent>,
    #[serde(default, alias = "finish_reason")]
    pub finish_reason: Option<String>,
    #[serde(default, alias = "finish_message")]
    pub finish_message: Option<String>,
    #[serde(default, deserialize_with = "de_opt_count")]
    pub index: Option<u64>,
}

/// `promptFeedback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InPromptFeedback {
    #[serde(default, alias = "block_reason")]
    pub block_reason: Option<String>,
    #[serde(default, alias = "block_reason_message")]
    pub block_reason_message: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InUsage {
    #[serde(
        default,
        alias = "prompt_token_count",
        deserialize_with = "de_opt_count"
    )]
    pub prompt_token_count: Option<u64>,
    #[serde(
        default,
        alias = "candidates_token_count",
        deserialize_with = "de_opt_count"
    )]
    pub candidates_token_count: Option<u64>,
    #[serde(
        default,
        alias = "cached_content_token_count",
        deserialize_with = "de_opt_count"
    )]
    pub cached_content_token_count: Option<u64>,
    #[serde(
        default,
        alias = "thoughts_token_count",
        deserialize_with = "de_opt_count"
    )]
    pub thoughts_token_count: Option<u64>,
    #[serde(
        default,
        alias = "tool_use_prompt_token_count",
        deserialize_with = "de_opt_count"
    )]
    pub tool_use_prompt_token_count: Option<u64>,
}

/// `embedContent` / `batchEmbedContents` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InEmbedResponse {
    #[serde(default)]
    pub embedding: Option<InEmbedding>,
    #[serde(default)]
    pub embeddings: Option<Vec<InEmbedding>>,
    #[serde(default, alias = "usage_metadata")]
    pub usage_metadata: Option<InUsage>,
}

/// One `ContentEmbedding`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InEmbedding {
    #[serde(default)]
    pub values: Option<Vec<f32>>,
}

// ------------------------------------------------------------ lenient numbers

fn number_error<E: serde::de::Error>(n: &serde_json::Number, want: &str) -> E {
    E::custom(format!("expected {want}, got {n}"))
}

/// An optional `u32`: an integer, or an integral float, in range.
fn de_opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = match n.as_u64() {
                Some(u) => u,
                None => match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 => f as u64,
                    _ => {
                        return Err(number_error(
                            &n,
                            "a non-negative integer of at most 4294967295",
                        ));
                    }
                },
            };
            u32::try_from(v)
                .map(Some)
                .map_err(|_| number_error(&n, "a non-negative integer of at most 4294967295"))
        }
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer, got {}",
            super::fields::type_name(&other)
        ))),
    }
}

/// An optional `i64`: an integer, or an integral float, in range.
fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
                    Ok(Some(f as i64))
                }
                _ => Err(number_error(&n, "a 64-bit integer")),
            },
        },
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer, got {}",
            super::fields::type_name(&other)
        ))),
    }
}

/// A token count from an upstream: integers as they are, floats truncated, negative
/// values as 0 (a count cannot be negative, and one bad field must not lose the answer).
fn de_opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(match n.as_u64() {
            Some(u) => u,
            None => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map_or(0, |f| f.clamp(0.0, u64::MAX as f64) as u64),
        })),
        // proto3 JSON writes int64 values as strings.
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected a count, got the string {s:?}"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected a count, got {}",
            super::fields::type_name(&other)
        ))),
    }
}

// ====================================================================== outgoing

/// A `GenerateContentRequest` body for an upstream.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutRequest<'a> {
    pub contents: Vec<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<OutToolConfig<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safety_settings: Vec<OutSafetySetting<'a>>,
    #[serde(skip_serializing_if = "OutGenerationConfig::is_empty")]
    pub generation_config: OutGenerationConfig<'a>,
}

/// One `Content` (requests and answers).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutContent<'a> {
    pub parts: Vec<OutPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
}

/// One `Part`; exactly one data field is set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<OutBlob<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<OutFileData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<OutFunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<OutFunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<Cow<'a, str>>,
}

/// `inlineData`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutBlob<'a> {
    pub mime_type: Cow<'a, str>,
    pub data: Cow<'a, str>,
}

/// `fileData`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutFileData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<&'static str>,
    pub file_uri: Cow<'a, str>,
}

/// `functionCall`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutFunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    pub args: Value,
}

/// `functionResponse`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutFunctionResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub name: &'a str,
    pub response: Value,
}

/// One entry of `tools`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutTool<'a> {
    pub function_declarations: Vec<OutFunctionDeclaration<'a>>,
}

/// A `FunctionDeclaration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutFunctionDeclaration<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutToolConfig<'a> {
    pub function_calling_config: OutFunctionCallingConfig<'a>,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutFunctionCallingConfig<'a> {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<&'a str>,
}

/// One entry of `safetySettings`.
#[derive(Debug, Serialize)]
pub(crate) struct OutSafetySetting<'a> {
    pub category: &'static str,
    pub threshold: &'a str,
}

/// `generationConfig`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutGenerationConfig<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<OutThinkingConfig>,
}

impl OutGenerationConfig<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.stop_sequences.is_empty()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.response_mime_type.is_none()
            && self.response_schema.is_none()
            && self.response_json_schema.is_none()
            && self.thinking_config.is_none()
    }
}

/// `generationConfig.thinkingConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutThinkingConfig {
    pub thinking_budget: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

/// A `GenerateContentResponse` for a client (whole answer or stream chunk).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutResponse<'a> {
    pub candidates: Vec<OutCandidate<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<OutUsage>,
    pub model_version: &'a str,
    pub response_id: &'a str,
}

/// One candidate of an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutCandidate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<&'static str>,
    pub index: u32,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutUsage {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cached_content_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub thoughts_token_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `{"error": {...}}`.
#[derive(Debug, Serialize)]
pub(crate) struct OutErrorBody<'a> {
    pub error: OutError<'a>,
}

/// The `google.rpc.Status`-shaped error object.
#[derive(Debug, Serialize)]
pub(crate) struct OutError<'a> {
    pub code: u16,
    pub message: &'a str,
    pub status: &'static str,
    pub details: Vec<Value>,
}
