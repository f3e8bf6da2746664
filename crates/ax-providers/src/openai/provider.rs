//! The adapter: an [`ax_core::Provider`] for api.openai.com and openai-compatible
//! servers. All I/O of the module is here; everything else is pure.

use std::sync::Arc;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorCode,
    GatewayError, Provider, ProviderKind, RawBody, WireFormat,
};
use http::{HeaderMap, HeaderValue, Uri};
use secrecy::ExposeSecret;

use super::embeddings::{decode_embedding_response, encode_embedding_request};
use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::OpenAiStreamDecoder;
use crate::config::ProviderConfig;
use crate::http::{UpstreamClient, parse_url};

/// A provider speaking the OpenAI wire format (kinds `openai` and `openai-compatible`).
#[derive(Debug)]
pub struct OpenAiProvider {
    cfg: ProviderConfig,
    client: UpstreamClient,
    /// `Authorization` (marked sensitive) and `OpenAI-Organization`, built once.
    headers: HeaderMap,
    /// Parsed once at start-up, never per call.
    chat_url: Uri,
    embeddings_url: Uri,
    models_url: Uri,
}

impl OpenAiProvider {
    /// Builds the adapter and its pooled HTTP client. Kind `openai` needs an API key;
    /// openai-compatible servers may have none (then no `Authorization` is sent).
    pub fn new(cfg: ProviderConfig) -> Result<Self, GatewayError> {
        let config_error = |msg: &str| {
            GatewayError::new(
                ErrorCode::AuthenticationError,
                format!("provider `{}`: {msg}", cfg.name),
            )
            .with_provider(&cfg.name)
        };
        let mut headers = HeaderMap::new();
        match &cfg.api_key {
            Some(key) if !key.expose_secret().is_empty() => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| {
                        config_error(
                            "the API key contains characters not allowed in an HTTP header",
                        )
                    })?;
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
            _ if cfg.kind == ProviderKind::OpenAi => {
                return Err(config_error("no API key configured (set OPENAI_API_KEY)"));
            }
            _ => {}
        }
        if let Some(org) = cfg.organization.as_deref().filter(|o| !o.is_empty()) {
            let v = HeaderValue::from_str(org)
                .map_err(|_| config_error("the organization is not a valid HTTP header value"))?;
            headers.insert("openai-organization", v);
        }
        let base = cfg.base_without("/v1").to_owned();
        let url = |path: &str| {
            parse_url(&format!("{base}{path}")).map_err(|e| config_error(&format!("base_url: {e}")))
        };
        let (chat_url, embeddings_url, models_url) = (
            url("/v1/chat/completions")?,
            url("/v1/embeddings")?,
            url("/v1/models")?,
        );
        let client = UpstreamClient::new(&cfg.name, cfg.timeouts, cfg.api_key.as_ref())?;
        Ok(Self {
            chat_url,
            embeddings_url,
            models_url,
            cfg,
            client,
            headers,
        })
    }
}

/// Builds the OpenAI (or openai-compatible) adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    Ok(Arc::new(OpenAiProvider::new(cfg)?))
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        let body = encode_request(request, model, false, &self.cfg);
        let bytes = self
            .client
            .post_json(&self.chat_url, &self.headers, body, decode_error)
            .await?;
        let mut response = decode_response(&bytes).map_err(|e| self.client.upstream_error(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(ChatOutcome {
            response,
            raw: Some(RawBody {
                format: WireFormat::OpenAi,
                bytes,
            }),
        })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError> {
        let body = encode_request(request, model, true, &self.cfg);
        self.client
            .post_sse(
                &self.chat_url,
                &self.headers,
                body,
                decode_error,
                Box::new(OpenAiStreamDecoder::new()),
            )
            .await
    }

    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        // Base64 halves the parsing work and a quarter of the bytes; only OpenAI itself
        // is known to support it everywhere.
        let base64 = self.cfg.kind == ProviderKind::OpenAi;
        let body = encode_embedding_request(request, model, base64);
        let bytes = self
            .client
            .post_json(&self.embeddings_url, &self.headers, body, decode_error)
            .await?;
        let mut response =
            decode_embedding_response(&bytes).map_err(|e| self.client.upstream_error(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(response)
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        self.client
            .get(&self.models_url, &self.headers, decode_error)
            .await
            .map(|_| ())
    }
}
