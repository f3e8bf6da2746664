//! The Gemini `generateContent` wire protocol, both sides of the gateway.
//!
//! Outline: private serde wire types (`wire`), parsing helpers (`fields`), JSON Schema
//! conversion (`schema`), `Part` conversion (`parts`), pure functions between the wire
//! and the unified model (`request`, `response`, `stream`, `error`, `embeddings`), and
//! I/O only in the adapter (`provider`). Sources: googleapis/python-genai
//! `google/genai/models.py` (`_*_to_mldev` converters), `types.py`, `errors.py`; the
//! recorded API answers in FirebaseExtended/vertexai-sdk-test-data.
//!
//! # Client side ([`GeminiCodec`])
//! `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`: the model
//! and streaming come from the URL, never from the body. `decode_request` reads
//! `contents` (role `user` — the default — or `model`; parts `text`, `thought` +
//! `thoughtSignature`, `inlineData` → base64 image, `fileData` → image URL,
//! `functionCall` → tool call, `functionResponse` → tool result in a `Role::Tool`
//! message), `systemInstruction` → a System message, `tools[].functionDeclarations`
//! (`parameters` with google-genai's upper-case types lower-cased, or
//! `parametersJsonSchema`), `toolConfig.functionCallingConfig`, and `generationConfig`
//! (`temperature`, `topP`, `topK`, `maxOutputTokens`, `stopSequences`, `seed`,
//! `presencePenalty`, `frequencyPenalty`, `responseMimeType` + `responseSchema` |
//! `responseJsonSchema`, `thinkingConfig.thinkingBudget` | `thinkingLevel`). Every key
//! is also accepted in snake_case. Calls without ids get synthesized ones, and a
//! `functionResponse` without an id answers the first open call of its name in the
//! latest turn that made calls.
//!
//! **Not carried by the unified model** (kept in `raw`, so a same-format upstream gets
//! them unchanged; dropped when translating to another format): `safetySettings`,
//! `cachedContent`, `generationConfig.candidateCount`, `responseModalities`,
//! `responseLogprobs`, `logprobs`, `mediaResolution`, `speechConfig`, `imageConfig`,
//! `thinkingConfig.includeThoughts`, a `thinkingBudget` of `-1` (dynamic, the default),
//! response MIME types other than JSON and plain text (`text/x.enum`); tools other than
//! function declarations (`googleSearch`, `codeExecution`, `urlContext`, …);
//! `FunctionDeclaration.response`/`responseJsonSchema`/`behavior`;
//! `toolConfig.retrievalConfig`; `allowedFunctionNames` beyond "exactly one under
//! `ANY`"; mode `VALIDATED` (read as `AUTO`); the response schema's lack of a name (it
//! is called `response`); parts `executableCode`, `codeExecutionResult`,
//! `videoMetadata`, `fileData.mimeType`; non-text parts of `systemInstruction`;
//! `functionResponse` fields other than `id`, `name`, `response`. Non-image
//! `inlineData` (audio, PDF) is carried as an image with its MIME type.
//!
//! # Upstream side
//! [`encode_request`] (fast path or translation), [`decode_response`],
//! [`GeminiStreamDecoder`], [`decode_error`]; the adapter [`GeminiProvider`] calls
//! `{base}/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:embedContent`, `:batchEmbedContents`, and `GET /v1beta/models` as its probe, with
//! the key in `x-goog-api-key`. With `safety_threshold` configured, `safetySettings`
//! for the four harm categories ([`SAFETY_CATEGORIES`]) are sent.
//!
//! Translation drops what Gemini cannot take: message `name`s, `parallel_tool_calls`,
//! image `detail` (images inside tool results go as parts after the `functionResponse`s), opaque (redacted) reasoning, reasoning
//! signatures that are not base64 (Gemini's are bytes), a reasoning `effort` that is not
//! in [`EFFORT_BUDGETS`], `thinkingConfig` for models that refuse it
//! ([`NO_THINKING_MODELS`]: gemini-1.x and 2.0), `strict` and the schema name of a JSON-schema response
//! format, call ids Gemini did not issue (its API rejects foreign `functionCall.id`s;
//! calls and results are matched by name and order instead — see the `parts` module
//! docs), the JSON-Schema keywords listed in the `schema` module docs, and a
//! `tool_choice` when there are no tools. An empty-object parameter schema is left
//! out (Gemini rejects an `OBJECT` without properties).
//!
//! The `thoughtSignature` Gemini puts on a `functionCall` of an answer rides in the
//! call's id ([`crate::tool_ids`]), so that OpenAI and Anthropic clients hand it back
//! with the call and its result (Gemini 3 refuses the next turn without it); the
//! encoder puts it back on the `functionCall` part, for a Gemini upstream and for a
//! Gemini client (which sees the id without it).
//!
//! From answers, only the first candidate is kept; `safetyRatings`,
//! `citationMetadata`, `groundingMetadata`, `urlContextMetadata`, `avgLogprobs`,
//! `logprobsResult` and per-modality token details are not carried (a same-format client
//! still gets the raw body). Content filtering is an error: a blocked prompt, or a
//! filter finish (`SAFETY`, `RECITATION`, …) before any content, is `content_filtered`.
//!
//! # Mapping tables
//! Finish reasons: [`FINISH_REASONS_IN`], [`FINISH_REASONS_OUT`]. Errors:
//! [`ERROR_STATUSES_IN`], [`ERROR_CODES_OUT`]. Usage (Gemini → unified; the encoder
//! reverses): `promptTokenCount + toolUsePromptTokenCount` → `input_tokens`,
//! `candidatesTokenCount + thoughtsTokenCount` → `output_tokens`,
//! `cachedContentTokenCount` → `cached_tokens`, `thoughtsTokenCount` →
//! `reasoning_tokens`.

mod count;
mod embeddings;
mod error;
mod fields;
mod parts;
mod provider;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

use ax_core::{ChatRequest, ChatResponse, GatewayError, ProviderKind, WireFormat};
use serde::Deserialize;

use crate::codec::{ClientCodec, DecodeOptions, StreamEncoder};
use crate::config::ProviderConfig;
use crate::registry::{
    EnvProvider, KeyUse, ProviderKindSpec, SettingsError, SettingsMap, parse_settings,
};

pub use count::{decode_token_count, encode_count_request, encode_token_count};
pub use embeddings::{EmbedMethod, decode_embedding_response, encode_embedding_request};
pub use error::{AX_ERROR_DOMAIN, ERROR_CODES_OUT, ERROR_STATUSES_IN, decode_error, encode_error};
pub use provider::{Gemini, GeminiProvider, build};
pub use request::{
    EFFORT_BUDGETS, NO_THINKING_MODELS, SAFETY_CATEGORIES, encode_request, takes_thinking_config,
};
pub use response::{FINISH_REASONS_IN, FINISH_REASONS_OUT, decode_response, encode_response};
pub use stream::{GeminiStreamDecoder, GeminiStreamEncoder};

/// Kind `gemini`: the Gemini API, the env-only provider `gemini`.
pub static KIND: ProviderKindSpec = ProviderKindSpec {
    kind: ProviderKind::Gemini,
    default_base_url: "https://generativelanguage.googleapis.com",
    default_model: "gemini-2.0-flash",
    key: KeyUse::Required,
    env: Some(EnvProvider {
        name: "gemini",
        key_vars: &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
        key_hint: "GEMINI_API_KEY (or GOOGLE_API_KEY)",
        base_url_var: "GEMINI_BASE_URL",
        default_model_var: "GEMINI_DEFAULT_MODEL",
        settings_vars: &[],
        models: &["gemini-*", "text-embedding-004", "embedding-*"],
        priority: 2,
    }),
    apply_settings,
    build,
};

/// The own settings of kind `gemini` (`[[providers]]` keys beyond the common ones, or a
/// stored row's `config_json`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `safetySettings` threshold for the four harm categories ([`SAFETY_CATEGORIES`]),
    /// e.g. `BLOCK_MEDIUM_AND_ABOVE`; none: no safety settings are sent.
    pub safety_threshold: Option<String>,
}

fn apply_settings(given: &SettingsMap, cfg: &mut ProviderConfig) -> Result<(), SettingsError> {
    let s: Settings = parse_settings(given)?;
    if s.safety_threshold.is_some() {
        cfg.safety_threshold = s.safety_threshold;
    }
    Ok(())
}

/// The Gemini client codec (`POST /v1beta/models/{model}:generateContent`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiCodec;

impl ClientCodec for GeminiCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Gemini
    }

    fn decode_shared(
        &self,
        body: &bytes::Bytes,
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        request::decode_request(body, opts)
    }

    fn encode_response(&self, _request: &ChatRequest, response: &ChatResponse) -> Vec<u8> {
        response::encode_response(response)
    }

    fn stream_encoder(&self, _request: &ChatRequest) -> Box<dyn StreamEncoder> {
        Box::new(GeminiStreamEncoder::new())
    }

    fn encode_error(&self, error: &GatewayError) -> Vec<u8> {
        error::encode_error(error)
    }

    fn decode_embeddings(
        &self,
        body: &[u8],
        path_model: Option<&str>,
        limits: &ax_core::RequestLimits,
    ) -> Result<(ax_core::EmbeddingRequest, crate::codec::EmbeddingReply), GatewayError> {
        embeddings::decode_client_request(body, path_model, limits)
    }

    fn encode_embeddings(
        &self,
        response: &ax_core::EmbeddingResponse,
        reply: crate::codec::EmbeddingReply,
    ) -> Vec<u8> {
        embeddings::encode_client_response(response, reply)
    }

    /// `{"contents": …}` or `{"generateContentRequest": {…}}` (`:countTokens`).
    fn decode_count_tokens(
        &self,
        body: &bytes::Bytes,
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        count::decode_client_request(body, opts)
    }

    fn encode_token_count(&self, count: ax_core::TokenCount) -> Vec<u8> {
        count::encode_token_count(count)
    }
}
