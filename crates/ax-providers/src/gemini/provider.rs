//! The adapter: an [`ax_core::Provider`] for the Gemini API
//! (generativelanguage.googleapis.com). All I/O of the module is here; everything else
//! is pure.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorCode,
    GatewayError, Provider, ProviderKind, RawBody, WireFormat,
};
use http::{HeaderMap, HeaderValue, Uri};
use secrecy::ExposeSecret;

use super::embeddings::{decode_embedding_response, encode_embedding_request, resource_name};
use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::GeminiStreamDecoder;
use crate::config::ProviderConfig;
use crate::http::{UpstreamClient, parse_url};

/// A provider speaking the Gemini API.
#[derive(Debug)]
pub struct GeminiProvider {
    cfg: ProviderConfig,
    client: UpstreamClient,
    /// `x-goog-api-key` (marked sensitive), built once.
    headers: HeaderMap,
    /// `{base}/v1beta`.
    api: String,
    /// The probe URL, parsed once at start-up (which also refuses a bad base URL).
    models_url: Uri,
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
        let api = format!("{base}/v1beta");
        let models_url = parse_url(&format!("{api}/models?pageSize=1"))
            .map_err(|e| config_error(&format!("base_url: {e}")))?;
        let client = UpstreamClient::new(&cfg.name, cfg.timeouts, cfg.api_key.as_ref())?;
        Ok(Self {
            api,
            models_url,
            cfg,
            client,
            headers,
        })
    }

    /// `{base}/v1beta/models/{model}:{method}`, the model name percent-encoded where
    /// a URL path needs it. One parse per call; the base was checked at start-up.
    fn url(&self, model: &str, method: &str) -> Result<Uri, GatewayError> {
        let name = resource_name(model);
        let mut url = String::with_capacity(self.api.len() + name.len() + method.len() + 2);
        url.push_str(&self.api);
        url.push('/');
        for &b in name.as_bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
                url.push(char::from(b));
            } else {
                // Writing to a String cannot fail.
                let _ = write!(url, "%{b:02X}");
            }
        }
        url.push(':');
        url.push_str(method);
        url.parse::<Uri>().map_err(|e| {
            GatewayError::invalid_param("model", format!("model `{model}` cannot go in a URL: {e}"))
                .with_provider(&self.cfg.name)
        })
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
                &self.url(model, "generateContent")?,
                &self.headers,
                body,
                decode_error,
            )
            .await?;
        let mut response = decode_response(&bytes).map_err(|e| self.client.upstream_error(e))?;
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
                &self.url(model, "streamGenerateContent?alt=sse")?,
                &self.headers,
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
                &self.url(model, method.as_str())?,
                &self.headers,
                body,
                decode_error,
            )
            .await?;
        decode_embedding_response(&bytes, request.input.texts().len(), model)
            .map_err(|e| self.client.upstream_error(e))
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        self.client
            .get(&self.models_url, &self.headers, decode_error)
            .await
            .map(|_| ())
    }
}
