//! The adapter: an [`ax_core::Provider`] for api.anthropic.com (or anything speaking the
//! Messages API at another base URL). All I/O of the module is here; everything else
//! is pure.

use std::sync::Arc;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorCode,
    GatewayError, Provider, ProviderKind, RawBody, WireFormat,
};
use http::{HeaderMap, HeaderValue, Uri};
use secrecy::ExposeSecret;

use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::AnthropicStreamDecoder;
use crate::config::ProviderConfig;
use crate::http::{UpstreamClient, parse_url};

/// The `anthropic-version` header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A provider speaking the Anthropic Messages API (kind `anthropic`).
#[derive(Debug)]
pub struct AnthropicProvider {
    cfg: ProviderConfig,
    client: UpstreamClient,
    /// `x-api-key` (marked sensitive) and `anthropic-version`, built once.
    headers: HeaderMap,
    /// Parsed once at start-up, never per call.
    messages_url: Uri,
    models_url: Uri,
}

impl AnthropicProvider {
    /// Builds the adapter and its pooled HTTP client. An API key is required; it goes in
    /// `x-api-key` and never into an error message.
    pub fn new(cfg: ProviderConfig) -> Result<Self, GatewayError> {
        let config_error = |msg: &str| {
            GatewayError::new(
                ErrorCode::AuthenticationError,
                format!("provider `{}`: {msg}", cfg.name),
            )
            .with_provider(&cfg.name)
        };
        let key = cfg
            .api_key
            .as_ref()
            .map(|k| k.expose_secret())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| config_error("no API key configured (set ANTHROPIC_API_KEY)"))?;
        let mut key = HeaderValue::from_str(key).map_err(|_| {
            config_error("the API key contains characters not allowed in an HTTP header")
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        let base = cfg.base_without("/v1").to_owned();
        let url = |path: &str| {
            parse_url(&format!("{base}{path}")).map_err(|e| config_error(&format!("base_url: {e}")))
        };
        let (messages_url, models_url) = (url("/v1/messages")?, url("/v1/models")?);
        let client = UpstreamClient::new(&cfg.name, cfg.timeouts, cfg.api_key.as_ref())?;
        Ok(Self {
            messages_url,
            models_url,
            cfg,
            client,
            headers,
        })
    }

    fn tag(&self, e: GatewayError) -> GatewayError {
        e.with_provider(&self.cfg.name)
    }
}

/// Builds the Anthropic adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    Ok(Arc::new(AnthropicProvider::new(cfg)?))
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

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        let body = encode_request(request, model, false, &self.cfg).map_err(|e| self.tag(e))?;
        let bytes = self
            .client
            .post_json(&self.messages_url, &self.headers, body, decode_error)
            .await?;
        let mut response = decode_response(&bytes).map_err(|e| self.client.upstream_error(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(ChatOutcome {
            response,
            raw: Some(RawBody {
                format: WireFormat::Anthropic,
                bytes,
            }),
        })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError> {
        let body = encode_request(request, model, true, &self.cfg).map_err(|e| self.tag(e))?;
        self.client
            .post_sse(
                &self.messages_url,
                &self.headers,
                body,
                decode_error,
                Box::new(AnthropicStreamDecoder::new()),
            )
            .await
    }

    async fn embed(
        &self,
        _request: &EmbeddingRequest,
        _model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        Err(embeddings_unsupported(&self.cfg.name))
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        self.client
            .get(&self.models_url, &self.headers, decode_error)
            .await
            .map(|_| ())
    }
}
