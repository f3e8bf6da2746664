//! The upstream side of the Anthropic protocol for the generic adapter: api.anthropic.com
//! (or anything speaking the Messages API at another base URL). The calls themselves
//! (all the module's I/O) are [`UpstreamAdapter`]'s; this file says where they go and
//! how they are signed.

use std::borrow::Cow;
use std::sync::Arc;

use ax_core::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, ErrorCode, GatewayError,
    Provider, TokenCount, WireFormat,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};

use super::count::{decode_token_count, encode_count_request};
use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::AnthropicStreamDecoder;
use crate::adapter::{
    CountCall, Protocol, UpstreamAdapter, api_key, config_error, secret_header, upstream_url,
};
use crate::config::ProviderConfig;
use crate::sse::SseDecoder;

/// The `anthropic-version` header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The Anthropic Messages protocol, upstream side (kind `anthropic`).
#[derive(Debug)]
pub struct Anthropic {
    /// `x-api-key` (marked sensitive) and `anthropic-version`, built once.
    headers: HeaderMap,
    /// Parsed once at start-up, never per call.
    messages_url: Uri,
    models_url: Uri,
    /// `{base}/v1/messages/count_tokens`.
    count_url: Uri,
    /// The client betas that may reach this upstream (`allowed_betas`; `None`: all).
    allowed_betas: Option<Vec<String>>,
}

/// A provider speaking the Anthropic Messages API.
pub type AnthropicProvider = UpstreamAdapter<Anthropic>;

/// Builds the Anthropic adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    AnthropicProvider::build(cfg)
}

/// What `embed` answers: Anthropic has no embeddings API. `invalid_request` (not
/// retryable, not counted against the provider) naming the model.
pub fn embeddings_unsupported(provider: &str) -> GatewayError {
    GatewayError::invalid_param(
        "model",
        format!(
            "provider `{provider}` (Anthropic) has no embeddings API; route embedding models to an OpenAI, Gemini or openai-compatible provider"
        ),
    )
    .with_provider(provider)
}

impl Protocol for Anthropic {
    const FORMAT: WireFormat = WireFormat::Anthropic;
    type Signer = HeaderMap;
    type Framing = SseDecoder;
    type StreamDecoder = AnthropicStreamDecoder;

    /// An API key is required; it goes in `x-api-key` and never into an error message.
    fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let key = api_key(cfg)
            .ok_or_else(|| config_error(cfg, "no API key configured (set ANTHROPIC_API_KEY)"))?;
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", secret_header(cfg, key)?);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        let base = cfg.base_without("/v1");
        Ok(Self {
            messages_url: upstream_url(cfg, base, "/v1/messages")?,
            models_url: upstream_url(cfg, base, "/v1/models")?,
            count_url: upstream_url(cfg, base, "/v1/messages/count_tokens")?,
            allowed_betas: cfg
                .settings
                .get::<super::BetaPolicy>()
                .and_then(|p| p.allowed.clone()),
            headers,
        })
    }

    fn signer(&self) -> &HeaderMap {
        &self.headers
    }

    fn chat_url(&self, _model: &str, _stream: bool) -> Result<Cow<'_, Uri>, GatewayError> {
        Ok(Cow::Borrowed(&self.messages_url))
    }

    fn probe_url(&self) -> &Uri {
        &self.models_url
    }

    /// Fails (`invalid_request`) on tool-call arguments that are not a JSON object.
    fn encode_chat(
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
        stream: bool,
    ) -> Result<Bytes, GatewayError> {
        encode_request(request, model, stream, cfg)
    }

    /// The client's `anthropic-version` (instead of [`ANTHROPIC_VERSION`]) and its
    /// betas as one `anthropic-beta`, when an Anthropic-format client sent them. A value
    /// that cannot be a header is not sent (the fixed version stays).
    /// The client's `anthropic-version` and its `anthropic-beta` names, those the
    /// provider's `allowed_betas` lists when it has one.
    fn chat_headers(&self, request: &ChatRequest) -> HeaderMap {
        let mut h = HeaderMap::new();
        let Some(client) = &request.anthropic else {
            return h;
        };
        let allowed = |beta: &&String| {
            self.allowed_betas
                .as_ref()
                .is_none_or(|list| list.iter().any(|a| a == *beta))
        };
        let betas: Vec<&str> = client
            .betas
            .iter()
            .filter(allowed)
            .map(String::as_str)
            .collect();
        if let Some(v) = client
            .version
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert("anthropic-version", v);
        }
        if !betas.is_empty()
            && let Ok(v) = HeaderValue::from_str(&betas.join(","))
        {
            h.insert("anthropic-beta", v);
        }
        h
    }

    fn decode_chat(body: &[u8]) -> Result<ChatResponse, GatewayError> {
        decode_response(body)
    }

    fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        decode_error(status, headers, body)
    }

    fn stream_decoder() -> AnthropicStreamDecoder {
        AnthropicStreamDecoder::new()
    }

    /// Anthropic has no embeddings API: [`embeddings_unsupported`], nothing sent.
    fn encode_embeddings(
        &self,
        cfg: &ProviderConfig,
        _request: &EmbeddingRequest,
        _model: &str,
    ) -> Result<(Cow<'_, Uri>, Vec<u8>), GatewayError> {
        Err(embeddings_unsupported(&cfg.name))
    }

    /// Never called: [`encode_embeddings`](Self::encode_embeddings) sends nothing.
    fn decode_embeddings(
        _body: &[u8],
        _request: &EmbeddingRequest,
        _model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        Err(GatewayError::new(
            ErrorCode::ServerError,
            "Anthropic has no embeddings API",
        ))
    }

    /// Asked natively: `POST {base}/v1/messages/count_tokens` with the Messages body cut
    /// down to the count fields ([`encode_count_request`]), with the client's
    /// `anthropic-version` and betas as for a chat call.
    fn count_tokens_call(
        &self,
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
    ) -> Result<CountCall<'_>, GatewayError> {
        Ok(CountCall::Native {
            url: Cow::Borrowed(&self.count_url),
            body: encode_count_request(request, model, cfg)?,
        })
    }

    fn decode_token_count(body: &[u8]) -> Result<TokenCount, GatewayError> {
        decode_token_count(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SettingsMap;

    fn anthropic(settings: serde_json::Value) -> Anthropic {
        let mut cfg = ProviderConfig::new("claude", ax_core::ProviderKind::Anthropic);
        cfg.api_key = Some("k".to_owned().into());
        let given: SettingsMap = serde_json::from_value(settings).unwrap_or_default();
        (super::super::KIND.apply_settings)(&given, &mut cfg).unwrap_or_else(|e| panic!("{e}"));
        Anthropic::new(&cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    fn asking(betas: &[&str]) -> ChatRequest {
        ChatRequest {
            anthropic: Some(ax_core::AnthropicHeaders {
                version: Some("2026-10-21".into()),
                betas: betas.iter().map(|b| (*b).to_owned()).collect(),
            }),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn client_betas_pass_unless_an_allow_list_leaves_them_out() {
        let betas = ["claude-code-20250219", "context-management-2025-06-27"];
        let open = anthropic(serde_json::json!({}));
        let h = open.chat_headers(&asking(&betas));
        assert_eq!(h["anthropic-version"], "2026-10-21");
        assert_eq!(h["anthropic-beta"], betas.join(","));

        let strict = anthropic(serde_json::json!({"allowed_betas": ["claude-code-20250219"]}));
        let h = strict.chat_headers(&asking(&betas));
        assert_eq!(h["anthropic-beta"], "claude-code-20250219");
        let h = strict.chat_headers(&asking(&["context-management-2025-06-27"]));
        assert!(
            h.get("anthropic-beta").is_none(),
            "no allowed beta: no header"
        );
    }
}
