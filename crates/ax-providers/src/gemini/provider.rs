//! The upstream side of the Gemini protocol for the generic adapter
//! (generativelanguage.googleapis.com). The calls themselves (all the module's I/O) are
//! [`UpstreamAdapter`]'s; this file says where they go and how they are signed.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use ax_core::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, GatewayError, Provider,
    TokenCount, WireFormat,
};
use bytes::Bytes;
use http::{HeaderMap, Uri};

use super::count::{decode_token_count, encode_count_request};
use super::embeddings::{decode_embedding_response, encode_embedding_request, resource_name};
use super::error::decode_error;
use super::request::encode_request;
use super::response::decode_response;
use super::stream::GeminiStreamDecoder;
use crate::adapter::{
    CountCall, Protocol, UpstreamAdapter, api_key, config_error, secret_header, upstream_url,
};
use crate::config::ProviderConfig;
use crate::sse::SseDecoder;

/// The Gemini wire protocol, upstream side (kind `gemini`).
#[derive(Debug)]
pub struct Gemini {
    /// `x-goog-api-key` (marked sensitive), built once.
    headers: HeaderMap,
    /// `{base}/v1beta`.
    api: String,
    /// The probe URL, parsed once at start-up (which also refuses a bad base URL).
    models_url: Uri,
}

/// A provider speaking the Gemini API.
pub type GeminiProvider = UpstreamAdapter<Gemini>;

/// Builds the Gemini adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    GeminiProvider::build(cfg)
}

impl Gemini {
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
        })
    }
}

impl Protocol for Gemini {
    const FORMAT: WireFormat = WireFormat::Gemini;
    type Signer = HeaderMap;
    type Framing = SseDecoder;
    type StreamDecoder = GeminiStreamDecoder;

    /// An API key is required.
    fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let key = api_key(cfg).ok_or_else(|| {
            config_error(
                cfg,
                "no API key configured (set GEMINI_API_KEY or GOOGLE_API_KEY)",
            )
        })?;
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", secret_header(cfg, key)?);
        // Accept a base URL given with or without an API version.
        let base = cfg.base_without("/v1beta");
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let api = format!("{base}/v1beta");
        let models_url = upstream_url(cfg, &api, "/models?pageSize=1")?;
        Ok(Self {
            headers,
            api,
            models_url,
        })
    }

    fn signer(&self) -> &HeaderMap {
        &self.headers
    }

    /// The model is in the path; a stream asks for SSE (`alt=sse`: Gemini's default
    /// stream is one JSON array, not events).
    fn chat_url(&self, model: &str, stream: bool) -> Result<Cow<'_, Uri>, GatewayError> {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        self.url(model, method).map(Cow::Owned)
    }

    fn probe_url(&self) -> &Uri {
        &self.models_url
    }

    fn encode_chat(
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
        stream: bool,
    ) -> Result<Bytes, GatewayError> {
        Ok(encode_request(request, model, stream, cfg))
    }

    fn decode_chat(body: &[u8]) -> Result<ChatResponse, GatewayError> {
        decode_response(body)
    }

    fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        decode_error(status, headers, body)
    }

    fn stream_decoder() -> GeminiStreamDecoder {
        GeminiStreamDecoder::new()
    }

    /// One input is `:embedContent`, several `:batchEmbedContents`.
    fn encode_embeddings(
        &self,
        _cfg: &ProviderConfig,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<(Cow<'_, Uri>, Vec<u8>), GatewayError> {
        let (method, body) = encode_embedding_request(request, model);
        Ok((Cow::Owned(self.url(model, method.as_str())?), body))
    }

    fn decode_embeddings(
        body: &[u8],
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        decode_embedding_response(body, request.input.texts().len(), model)
    }

    /// Asked natively: `POST {base}/v1beta/models/{model}:countTokens`
    /// ([`encode_count_request`]).
    fn count_tokens_call(
        &self,
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
    ) -> Result<CountCall<'_>, GatewayError> {
        Ok(CountCall::Native {
            url: Cow::Owned(self.url(model, "countTokens")?),
            body: encode_count_request(request, model, cfg)?,
        })
    }

    fn decode_token_count(body: &[u8]) -> Result<TokenCount, GatewayError> {
        decode_token_count(body)
    }
}
