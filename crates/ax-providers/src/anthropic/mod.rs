//! The Anthropic Messages wire protocol, both sides of the gateway.
//!
//! Outline: private serde wire types (`wire`), pure functions between them and the
//! unified model (`request`, `response`, `stream`, `error`), and I/O only in the adapter
//! (`provider`). Field names, event sequences and example payloads come from
//! anthropics/anthropic-sdk-python (`src/anthropic/types/`, `lib/streaming/`) and the
//! API docs (streaming, extended thinking, errors); see
//! `tests/fixtures/anthropic/SOURCES.md`.
//!
//! # Client side ([`AnthropicCodec`])
//! `decode_request` reads `model`, `max_tokens` (**required**, as Anthropic requires it:
//! a body without it is `invalid_request` naming `max_tokens`), `system` (a string or
//! text blocks → one `Role::System` message first), `messages` (roles `user`,
//! `assistant` and `system`; content a string or blocks: `text`, `image` with a
//! `base64` or `url` source, `document` (a `base64` or `url` PDF or a `text` source →
//! `ContentPart::Document` with its `title`; a `content` source → its text and image
//! blocks), `tool_use` (its `input` object becomes JSON-text arguments), `tool_result`
//! (its own `Role::Tool` message, named after the matching `tool_use` when there is
//! one), `thinking` (→ `Reasoning` with its `signature`), `redacted_thinking` (→
//! `Reasoning` with `redacted`), `mid_conv_system` (its text blocks → a `Role::System`
//! message where it stands); a `system`-role entry is a `Role::System` message in
//! place), `tools` (client tools, with `strict`), `tool_choice`
//! (`auto`/`any`/`tool`/`none`; `disable_parallel_tool_use` → the negated
//! `parallel_tool_calls`), `stop_sequences`, `temperature`, `top_p`, `top_k`,
//! `metadata.user_id` (→ `metadata.user_id` unless the `x-ax-user-id` header set it),
//! `thinking` (`enabled` → a budget; `adaptive` → reasoning with no budget; `disabled`
//! → none), `output_config.effort` (→ reasoning effort), `output_config.format` (→ a
//! JSON-schema response format named `response`), `stream` (`include_usage` follows it:
//! Anthropic streams always carry usage), and from the headers ([`client_headers`],
//! through `DecodeOptions::anthropic`) `anthropic-version` and `anthropic-beta` (→
//! `ChatRequest::anthropic`). The body is kept as `raw`.
//!
//! **Not carried by the unified model** (kept in `raw`, so a same-format upstream gets
//! them unchanged; dropped when translating to another format, and each listed in
//! `ChatRequest::dropped_fields` by its path): `cache_control` on any block, tool or
//! system entry, and top-level; `citations`, and a document's `context`;
//! `search_result`, `container_upload`, `tool_addition` / `tool_removal` blocks; `file`
//! image and document sources; server tools (`web_search_…`, `code_execution_…`,
//! `bash_…`, …) and their `server_tool_use` / result blocks in history; `container`,
//! `context_management`, `mcp_servers`, `service_tier`, `inference_geo`, beta-only
//! fields (`speed`, `diagnostics`, …), `thinking.display`, any field or block type
//! unknown to ax; betas without an equivalent elsewhere (all but
//! [`TRANSLATED_BETAS`]). Not listed: the exact JSON text of `tool_use.input`
//! (re-serialized, so key order and spacing may change) and the split of one user turn
//! into tool results and text (kept as separate unified messages, merged again for
//! Anthropic).
//!
//! # Upstream side
//! [`encode_request`] (fast path or translation), [`decode_response`],
//! [`AnthropicStreamDecoder`], [`decode_error`]; the adapter [`AnthropicProvider`] calls
//! `{base}/v1/messages` with `x-api-key` and `anthropic-version` (the client's, else
//! [`ANTHROPIC_VERSION`]) plus the client's betas as one `anthropic-beta`, and
//! `GET {base}/v1/models` as its probe. Anthropic has no embeddings API: `embed` fails
//! with `invalid_request` ([`embeddings_unsupported`]).
//!
//! Translation sends `max_tokens` (the provider's `default_max_tokens` when the request
//! has none, raised above a thinking budget), the system messages as `system` (a string
//! when there is one text, else text blocks), turns merged for alternation with tool
//! results as `tool_result` blocks first in user turns (Anthropic rejects text before
//! them), tool-call arguments as `input` objects
//! (arguments that are not a JSON object are `invalid_request` naming the call),
//! `thinking: {type: enabled, budget_tokens}` for a reasoning budget, documents as
//! `document` blocks, and `output_config.format` for a JSON-schema response format. It drops what Anthropic
//! cannot take: `seed`, `presence_penalty`, `frequency_penalty`, a JSON-object (schema
//! less) response format, a reasoning `effort` without a budget (not every model accepts
//! `output_config.effort`), tool `strict`, message `name`s, image `detail`, images in
//! assistant or system messages, reasoning without a signature (Anthropic rejects
//! unsigned thinking), `tool_choice` when there are no tools, empty text. `temperature`
//! is clamped to Anthropic's 0–1. With a thinking budget (raised to Anthropic's minimum
//! of 1024; a zero budget means no thinking), `temperature` other than 1, `top_k` and
//! `top_p` below 0.95 are not sent: Anthropic rejects them with thinking on.
//!
//! # Mapping tables
//! Stop reasons: [`STOP_REASONS_IN`], [`STOP_REASONS_OUT`]. Usage: [`USAGE_FIELDS`]
//! (Anthropic `input_tokens` excludes cache reads and writes; the unified value
//! includes them). Errors: [`ERROR_TYPES_OUT`], [`ERROR_TYPES_IN`],
//! [`MESSAGE_REFINEMENTS`] (`prompt is too long` → `context_length_exceeded`), with the
//! HTTP status deciding when the body has no known type (529 → `overloaded`).

mod count;
mod error;
use crate::fields;
mod provider;
mod request;
mod response;
mod stream;
mod wire;

use ax_core::{ChatRequest, ChatResponse, GatewayError, ProviderKind, WireFormat};
use serde::Deserialize;

use crate::codec::{ClientCodec, DecodeOptions, StreamEncoder};
use crate::config::ProviderConfig;
use crate::registry::{
    EnvProvider, KeyUse, ProviderKindSpec, SettingsError, SettingsMap, parse_settings,
};

pub use count::{COUNT_FIELDS, decode_token_count, encode_count_request, encode_token_count};
pub use error::{ERROR_TYPES_IN, ERROR_TYPES_OUT, MESSAGE_REFINEMENTS, decode_error, encode_error};
pub use provider::{
    ANTHROPIC_VERSION, Anthropic, AnthropicProvider, build, embeddings_unsupported,
};
pub use request::{TRANSLATED_BETAS, client_headers, encode_request};
pub use response::{
    STOP_REASONS_IN, STOP_REASONS_OUT, USAGE_FIELDS, decode_response, encode_response,
};
pub use stream::{AnthropicStreamDecoder, AnthropicStreamEncoder};

/// Kind `anthropic`: api.anthropic.com, the env-only provider `claude`.
pub static KIND: ProviderKindSpec = ProviderKindSpec {
    kind: ProviderKind::Anthropic,
    default_base_url: "https://api.anthropic.com",
    default_model: "claude-3-5-sonnet-20241022",
    key: KeyUse::Required,
    env: Some(EnvProvider {
        name: "claude",
        key_vars: &["ANTHROPIC_API_KEY"],
        key_hint: "ANTHROPIC_API_KEY",
        base_url_var: "ANTHROPIC_BASE_URL",
        default_model_var: "CLAUDE_DEFAULT_MODEL",
        settings_vars: &[],
        models: &["claude-*"],
        priority: 1,
    }),
    apply_settings,
    build,
};

/// The own settings of kind `anthropic` (`[[providers]]` keys beyond the common ones,
/// or a stored row's `config_json`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `max_tokens` sent when the client gave none (Anthropic requires it; 4096).
    pub default_max_tokens: Option<u32>,
    /// The `anthropic-beta` names a client may send on to this upstream; others are
    /// not forwarded. Absent: every beta the client sends is forwarded.
    pub allowed_betas: Option<Vec<String>>,
}

/// Which client betas reach an Anthropic upstream (its `allowed_betas` setting), held
/// in [`ProviderConfig::settings`].
#[derive(Debug, Clone, Default)]
pub struct BetaPolicy {
    /// The allowed names; `None` allows every one.
    pub allowed: Option<Vec<String>>,
}

fn apply_settings(given: &SettingsMap, cfg: &mut ProviderConfig) -> Result<(), SettingsError> {
    let s: Settings = parse_settings(given)?;
    if let Some(n) = s.default_max_tokens {
        cfg.default_max_tokens = n;
    }
    cfg.settings = crate::registry::KindSettings::new(BetaPolicy {
        allowed: s.allowed_betas,
    });
    Ok(())
}

/// The Anthropic client codec (`POST /v1/messages`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicCodec;

impl ClientCodec for AnthropicCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Anthropic
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
        Box::new(AnthropicStreamEncoder::new())
    }

    fn encode_error(&self, error: &GatewayError) -> Vec<u8> {
        error::encode_error(error)
    }

    /// A Messages body without `max_tokens` (`POST /v1/messages/count_tokens`).
    fn decode_count_tokens(
        &self,
        body: &bytes::Bytes,
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        request::decode_count_request(body, opts)
    }

    fn encode_token_count(&self, count: ax_core::TokenCount) -> Vec<u8> {
        count::encode_token_count(count)
    }
}
