//! The OpenAI Chat Completions wire protocol, both sides of the gateway; also used for
//! kind `openai-compatible` (vLLM, Ollama, llama.cpp, Groq…) with their base URL.
//!
//! Outline: private serde wire types (`wire`), pure functions between them and the
//! unified model (`request`, `response`, `stream`, `error`, `embeddings`), and I/O only
//! in the adapter (`provider`).
//!
//! # Client side ([`OpenAiCodec`])
//! `decode_request` reads `model`, `messages` (roles `system`/`developer` → System,
//! `user`, `assistant` with `tool_calls` and DeepSeek-style `reasoning_content`, `tool`
//! with `tool_call_id`; content as a string or `text`/`image_url` parts, `data:` URLs
//! becoming inline images), `tools`, `tool_choice`, `parallel_tool_calls`,
//! `response_format`, `stop`, `max_completion_tokens`/`max_tokens` (the former wins),
//! `temperature`, `top_p`, `top_k` (vLLM extension), `seed`, `presence_penalty`,
//! `frequency_penalty`, `user` (→ `metadata.user_id` unless the `x-ax-user-id` header
//! set it), `reasoning_effort`, `stream`, `stream_options.include_usage`; the body is
//! kept as `raw` for the fast path.
//!
//! **Not carried by the unified model** (kept in `raw`, so a same-format upstream gets
//! them unchanged; dropped when translating to another format): `n`, `logprobs`,
//! `top_logprobs`, `logit_bias`, `store`, `metadata`, `service_tier`, `modalities`,
//! `audio`, `prediction`, `web_search_options`, `verbosity`, `prompt_cache_key`,
//! `stream_options.include_obfuscation`; `input_audio` and `file` content parts; custom
//! (non-function) tools and tool calls; `response_format.json_schema.description`; the
//! refusal/content distinction (a refusal is read as text).
//!
//! # Upstream side
//! [`encode_request`] (fast path or translation), [`decode_response`],
//! [`OpenAiStreamDecoder`], [`decode_error`]; the adapter [`OpenAiProvider`] calls
//! `{base}/v1/chat/completions`, `/v1/embeddings`, and `GET /v1/models` as its probe, with
//! `Authorization: Bearer` (omitted for a keyless openai-compatible server) and
//! `OpenAI-Organization` when configured. Translation drops what OpenAI cannot take:
//! reasoning parts of earlier assistant turns (and their signatures), `is_error` of tool
//! results (images inside tool results go in a `user` message after the `tool`
//! messages), `top_k` for kind `openai`, and reasoning for
//! models that refuse `reasoning_effort` ([`NO_REASONING_MODELS`]: gpt-4o and the
//! other non-reasoning families). Otherwise `reasoning_effort` is the client's effort
//! (Anthropic's `max` as `xhigh`) or the one for its thinking budget
//! ([`ax_core::ReasoningConfig::effort_for_budget`]). Documents go as `file` parts
//! (base64 PDFs as `data:` URLs, with their title or `document.pdf` as the file name)
//! or text parts; a document given by URL cannot go (Chat Completions takes no file
//! URL): [`check_request`] refuses it with `invalid_request` before the call.
//!
//! # Streams
//! [`OpenAiStreamEncoder`] turns events from any upstream into chunks (same `id` and
//! `created` throughout, `role` on the first, tool calls renumbered from 0, one finish
//! chunk, `stop` after tool calls reported as `tool_calls`, reasoning as
//! `delta.reasoning_content`; usage merged by maximum and sent only when the client
//! asked, as the `choices: []` chunk before `[DONE]`; an error is a final
//! `data: {"error": …}` frame without `[DONE]`). [`OpenAiStreamDecoder`] is its inverse
//! for upstream streams and fails when the input ends before `[DONE]`.
//!
//! # Embeddings
//! [`decode_embedding_request`] / [`encode_embedding_response`] serve `/v1/embeddings`
//! (string or string-array input; `encoding_format: "base64"`, the official Python SDK's
//! default, is answered with little-endian `f32` base64); [`encode_embedding_request`] /
//! [`decode_embedding_response`] are the upstream side (the adapter asks OpenAI for
//! base64 and compatible servers for floats, and reads either).
//!
//! # Mapping tables
//! Finish reasons: [`FINISH_REASONS_IN`], [`FINISH_REASONS_OUT`]. Errors:
//! [`ERROR_CODES_OUT`], [`ERROR_CODES_IN`], [`ERROR_TYPES_IN`]. Usage is field for field
//! (OpenAI semantics are the unified ones): `prompt_tokens` ↔ `input_tokens`,
//! `completion_tokens` ↔ `output_tokens`, `prompt_tokens_details.cached_tokens` ↔
//! `cached_tokens`, `prompt_tokens_details.cache_write_tokens` ↔
//! `cache_creation_tokens`, `completion_tokens_details.reasoning_tokens` ↔
//! `reasoning_tokens`.

mod embeddings;
mod error;
use crate::fields;
mod provider;
mod request;
mod response;
mod stream;
pub mod tokens;
mod wire;

use ax_core::{ChatRequest, ChatResponse, GatewayError, ProviderKind, WireFormat};
use serde::Deserialize;

use crate::codec::{ClientCodec, DecodeOptions, StreamEncoder};
use crate::config::ProviderConfig;
use crate::registry::{
    EnvProvider, KeyUse, ProviderKindSpec, SettingsError, SettingsMap, parse_settings,
};

pub use embeddings::{
    decode_embedding_request, decode_embedding_response, encode_embedding_request,
    encode_embedding_response,
};
/// Read by the Responses decoders, whose error objects have the same fields.
pub(crate) use error::decode_stream_error;
pub use error::{ERROR_CODES_IN, ERROR_CODES_OUT, ERROR_TYPES_IN, decode_error, encode_error};
pub use provider::{OpenAi, OpenAiProvider, build};
pub use request::{
    NO_REASONING_MODELS, check_request, encode_request, is_reasoning_family, takes_reasoning_effort,
};
pub use response::{FINISH_REASONS_IN, FINISH_REASONS_OUT, decode_response, encode_response};
pub use stream::{OpenAiStreamDecoder, OpenAiStreamEncoder};

/// Kind `openai`: api.openai.com, the env-only provider `openai`.
pub static KIND: ProviderKindSpec = ProviderKindSpec {
    kind: ProviderKind::OpenAi,
    default_base_url: "https://api.openai.com",
    default_model: "gpt-4o",
    key: KeyUse::Required,
    env: Some(EnvProvider {
        name: "openai",
        key_vars: &["OPENAI_API_KEY"],
        key_hint: "OPENAI_API_KEY",
        base_url_var: "OPENAI_BASE_URL",
        default_model_var: "OPENAI_DEFAULT_MODEL",
        settings_vars: &[("OPENAI_ORGANIZATION", "organization")],
        models: &[
            "gpt-*",
            "o1*",
            "o3*",
            "o4*",
            "chatgpt-*",
            "text-embedding-*",
        ],
        priority: 3,
    }),
    apply_settings,
    build,
};

/// Kind `openai-compatible`: vLLM, Ollama, llama.cpp, Groq… at their own base URL, with
/// or without a key; no env-only provider.
pub static COMPATIBLE_KIND: ProviderKindSpec = ProviderKindSpec {
    kind: ProviderKind::OpenAiCompatible,
    default_base_url: "http://127.0.0.1:8000",
    default_model: "default",
    key: KeyUse::Optional,
    env: None,
    apply_settings,
    build,
};

/// The own settings of kinds `openai` and `openai-compatible` (`[[providers]]` keys
/// beyond the common ones, or a stored row's `config_json`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Sent as the `OpenAI-Organization` header.
    pub organization: Option<String>,
}

fn apply_settings(given: &SettingsMap, cfg: &mut ProviderConfig) -> Result<(), SettingsError> {
    let s: Settings = parse_settings(given)?;
    if s.organization.is_some() {
        cfg.organization = s.organization;
    }
    Ok(())
}

/// The OpenAI client codec (`POST /v1/chat/completions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiCodec;

impl ClientCodec for OpenAiCodec {
    fn format(&self) -> WireFormat {
        WireFormat::OpenAi
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

    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder> {
        Box::new(OpenAiStreamEncoder::new(request.include_usage))
    }

    fn encode_error(&self, error: &GatewayError) -> Vec<u8> {
        error::encode_error(error)
    }

    /// The usage chunk ax forces on upstream (`stream_options.include_usage`) reaches
    /// only a client that asked for it.
    fn forwards(&self, chunk: &ax_core::StreamChunk, include_usage: bool) -> bool {
        include_usage
            || chunk.events.is_empty()
            || !chunk
                .events
                .iter()
                .all(|e| matches!(e, ax_core::StreamEvent::Usage(_)))
    }

    fn decode_embeddings(
        &self,
        body: &[u8],
        _path_model: Option<&str>,
        limits: &ax_core::RequestLimits,
    ) -> Result<(ax_core::EmbeddingRequest, crate::codec::EmbeddingReply), GatewayError> {
        let (request, base64) = embeddings::decode_embedding_request(body, limits)?;
        let reply = crate::codec::EmbeddingReply {
            base64,
            batch: false,
        };
        Ok((request, reply))
    }

    fn encode_embeddings(
        &self,
        response: &ax_core::EmbeddingResponse,
        reply: crate::codec::EmbeddingReply,
    ) -> Vec<u8> {
        embeddings::encode_embedding_response(response, reply.base64)
    }
}
