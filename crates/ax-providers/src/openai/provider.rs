//! The upstream side of the OpenAI protocol for the generic adapter: api.openai.com and
//! openai-compatible servers. The calls themselves (all the module's I/O) are
//! [`UpstreamAdapter`]'s; this file says where they go and how they are signed.

use std::borrow::Cow;
use std::sync::Arc;

use ax_core::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, GatewayError, Provider,
    ProviderKind, WireFormat,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};

use super::embeddings::{decode_embedding_response, encode_embedding_request};
use super::error::decode_error;
use super::request::{check_request, encode_request};
use super::response::decode_response;
use super::stream::OpenAiStreamDecoder;
use super::tokens::Counting;
use crate::adapter::{
    CountCall, Protocol, UpstreamAdapter, api_key, config_error, secret_header, upstream_url,
};
use crate::config::ProviderConfig;
use crate::sse::SseDecoder;

/// The OpenAI wire protocol, upstream side (kinds `openai` and `openai-compatible`).
#[derive(Debug)]
pub struct OpenAi {
    /// `Authorization` (marked sensitive) and `OpenAI-Organization`, built once.
    headers: HeaderMap,
    /// Parsed once at start-up, never per call.
    chat_url: Uri,
    embeddings_url: Uri,
    models_url: Uri,
    /// `/v1/responses`, for kind `openai` only: openai-compatible servers are not
    /// assumed to have the Responses API, so Responses clients are translated for them.
    responses_url: Option<Uri>,
}

/// A provider speaking the OpenAI wire format.
pub type OpenAiProvider = UpstreamAdapter<OpenAi>;

/// Builds the OpenAI (or openai-compatible) adapter for `cfg`.
pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    OpenAiProvider::build(cfg)
}

impl Protocol for OpenAi {
    const FORMAT: WireFormat = WireFormat::OpenAi;
    type Signer = HeaderMap;
    type Framing = SseDecoder;
    type StreamDecoder = OpenAiStreamDecoder;

    /// Kind `openai` needs an API key; openai-compatible servers may have none (then no
    /// `Authorization` is sent).
    fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let mut headers = HeaderMap::new();
        match api_key(cfg) {
            Some(key) => {
                let v = secret_header(cfg, &format!("Bearer {key}"))?;
                headers.insert(http::header::AUTHORIZATION, v);
            }
            None if cfg.kind == ProviderKind::OpenAi => {
                return Err(config_error(
                    cfg,
                    "no API key configured (set OPENAI_API_KEY)",
                ));
            }
            None => {}
        }
        if let Some(org) = cfg.organization.as_deref().filter(|o| !o.is_empty()) {
            let v = HeaderValue::from_str(org).map_err(|_| {
                config_error(cfg, "the organization is not a valid HTTP header value")
            })?;
            headers.insert("openai-organization", v);
        }
        let base = cfg.base_without("/v1");
        Ok(Self {
            chat_url: upstream_url(cfg, base, "/v1/chat/completions")?,
            embeddings_url: upstream_url(cfg, base, "/v1/embeddings")?,
            models_url: upstream_url(cfg, base, "/v1/models")?,
            responses_url: match cfg.kind {
                ProviderKind::OpenAi => Some(upstream_url(cfg, base, "/v1/responses")?),
                _ => None,
            },
            headers,
        })
    }

    fn signer(&self) -> &HeaderMap {
        &self.headers
    }

    fn chat_url(&self, _model: &str, _stream: bool) -> Result<Cow<'_, Uri>, GatewayError> {
        Ok(Cow::Borrowed(&self.chat_url))
    }

    fn probe_url(&self) -> &Uri {
        &self.models_url
    }

    fn responses_url(&self) -> Option<&Uri> {
        self.responses_url.as_ref()
    }

    /// Refuses (`invalid_request`) what Chat Completions cannot take ([`check_request`]).
    fn encode_chat(
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
        stream: bool,
    ) -> Result<Bytes, GatewayError> {
        check_request(request)?;
        Ok(encode_request(request, model, stream, cfg))
    }

    fn decode_chat(body: &[u8]) -> Result<ChatResponse, GatewayError> {
        decode_response(body)
    }

    fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        decode_error(status, headers, body)
    }

    fn stream_decoder() -> OpenAiStreamDecoder {
        OpenAiStreamDecoder::new()
    }

    fn encode_embeddings(
        &self,
        cfg: &ProviderConfig,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<(Cow<'_, Uri>, Vec<u8>), GatewayError> {
        // Base64 halves the parsing work and a quarter of the bytes; only OpenAI itself
        // is known to support it everywhere.
        let base64 = cfg.kind == ProviderKind::OpenAi;
        let body = encode_embedding_request(request, model, base64);
        Ok((Cow::Borrowed(&self.embeddings_url), body))
    }

    fn decode_embeddings(
        body: &[u8],
        _request: &EmbeddingRequest,
        _model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        decode_embedding_response(body)
    }

    /// Chat Completions has no count endpoint: counted here with the model's tiktoken
    /// encoding ([`Counting`]); a long text on the blocking thread pool.
    fn count_tokens_call(
        &self,
        _cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
    ) -> Result<CountCall<'_>, GatewayError> {
        let counting = Counting::of(request, model);
        if counting.runs_long() {
            return Ok(CountCall::Blocking(Box::new(move || counting.count())));
        }
        Ok(CountCall::Local(counting.count()))
    }
}
