//! The adapter: an [`ax_core::Provider`] for the Gemini API
//! (generativelanguage.googleapis.com). All I/O of the module is here; everything else
//! is pure.

use std::sync::Arc;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorCode,
    GatewayError, Provider, ProviderKind, RawBody, WireFormat,
};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

use super::embeddings::{decode_embedding_response, encode_embedding_request, resource_name};
use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::GeminiStreamDecoder;
use crate::config::ProviderConfig;
use crate::http::UpstreamClient;

/// A provider speaking the Gemini API.
#[derive(Debug)]
pub struct GeminiProvider {
    cfg: ProviderConfig,
    client: UpstreamClient,
    /// `x-goog-api-key` (marked sensitive), built once.
    headers: HeaderMap,
    /// `{base}/v1beta`.
    api: String,
}

impl GeminiProvider {
    /// Builds the adapter and its pooled HTTP client. An API key is required.
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
                let mut v = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                    config_error("the API key contains characters not allowed in an HTTP header")
                })?;
                v.set_sensitive(true);
                headers.insert("x-goog-api-key", v);
            }
            _ => {
                return Err(config_error(
                    "no API key configured (set GEMINI_API_KEY or GOOGLE_API_KEY)",
                ));
            }
        }
        // Accept a base URL given with or without an API version.
        let base = cfg.base_without("/v1beta");
        let base = base.strip_suffix("/v1").unwrap_or(base).to_owned();
        let client = UpstreamClient::new(&cfg.name, cfg.timeouts)?;
        Ok(Self {
            api: format!("{base}/v1beta"),
            cfg,
            client,
            headers,
        })
    }

    /// `{base}/v1beta/models/{model}:{method}`.
    fn url(&self, model: &str, method: &str) -> String {
        format!("{}/{}:{method}", self.api, resource_name(model))
    }

    fn tag(&self, e: GatewayError) -> GatewayError {
        e.with_provider(&self.cfg.name)
    }
}

/// Builds the Gemini adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    Ok(Arc::new(GeminiProvider::new(cfg)?))
}

#[async_trait]
impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        let body = encode_request(request, model, false, &self.cfg);
        let bytes = self
            .client
            .post_json(
                &self.url(model, "generateContent"),
                self.headers.clone(),
                body,
                decode_error,
            )
            .await?;
        let mut response = decode_response(&bytes).map_err(|e| self.tag(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(ChatOutcome {
            response,
            raw: Some(RawBody {
                format: WireFormat::Gemini,
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
                &self.url(model, "streamGenerateContent?alt=sse"),
                self.headers.clone(),
                body,
                decode_error,
                Box::new(GeminiStreamDecoder::new()),
            )
            .await
    }

    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        let (method, body) = encode_embedding_request(request, model);
        let bytes = self
            .client
            .post_json(
                &self.url(model, method.as_str()),
                self.headers.clone(),
                body,
                decode_error,
            )
            .await?;
        decode_embedding_response(&bytes, request.input.texts().len(), model)
            .map_err(|e| self.tag(e))
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        self.client
            .get(
                &format!("{}/models?pageSize=1", self.api),
                self.headers.clone(),
                decode_error,
            )
            .await
            .map(|_| ())
    }
}
