//! The one upstream adapter: [`UpstreamAdapter<P>`] is the [`Provider`] of every kind
//! that calls an HTTP upstream, generic over the kind's wire [`Protocol`].
//!
//! The adapter holds the call sequence every protocol shares — encode, sign and send
//! through the pooled [`UpstreamClient`], decode, fill the model, keep the raw body for
//! the same-format pass-through; a stream's body cut into frames and decoded as it
//! arrives — and a protocol supplies only what differs: its URLs, its body encoders and
//! decoders, and two hooks, [`Signer`] (authentication added to each request) and
//! [`Framing`] (how a streamed body is cut into frames).
//!
//! Adding a provider kind that speaks a new wire protocol is one `impl Protocol` in its
//! module's `provider.rs` (plus its codec functions) and its registry line; a kind with
//! another authentication scheme or stream framing (AWS Bedrock: SigV4 and the event
//! stream) brings its own `Signer` and `Framing` types, and nothing here changes.
//!
//! The protocol is a type parameter, not a trait object: each adapter is compiled for
//! its protocol, so a call costs no box, no dynamic dispatch and no allocation beyond
//! what the protocol's own code makes. (A `Box<dyn Protocol>` would have cost a virtual
//! call per step, and the stream decoder a box per stream.)

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ax_core::{
    ChatOutcome, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse,
    ErrorCode, GatewayError, Provider, ProviderKind, RawBody, TokenCount, WireFormat,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};
use secrecy::ExposeSecret;

use crate::codec::StreamDecoder;
use crate::config::ProviderConfig;
use crate::http::{UpstreamClient, parse_url};

pub use crate::http::{Framing, Signer};

/// The upstream side of one wire protocol, as [`UpstreamAdapter`] drives it. The value
/// is built once per provider at start-up ([`Protocol::new`]) and holds what never
/// changes between calls: parsed URLs and the signer.
///
/// Encoders and decoders are pure; every error they return about the client's request
/// is tagged with the provider by the adapter, every error about an upstream answer
/// leaves through [`UpstreamClient::upstream_error`] (tagged, the key masked).
pub trait Protocol: fmt::Debug + Send + Sync + Sized + 'static {
    /// The format of the raw bodies this protocol's upstreams answer with (what a
    /// same-format client can be sent unchanged).
    const FORMAT: WireFormat;
    /// The signing hook: adds authentication to each request.
    type Signer: Signer;
    /// The framing hook: how a streamed answer is cut into frames.
    type Framing: Framing;
    /// Reads the frames of one streamed answer.
    type StreamDecoder: StreamDecoder + 'static;

    /// Everything fixed at start-up: the signer (a missing or unusable key is refused
    /// here, with [`config_error`]) and the URLs, parsed once ([`upstream_url`]).
    fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError>;

    /// The signer built by [`new`](Self::new).
    fn signer(&self) -> &Self::Signer;

    /// The chat URL for `model`, streamed or not (borrowed when it depends on neither).
    fn chat_url(&self, model: &str, stream: bool) -> Result<Cow<'_, Uri>, GatewayError>;

    /// The URL `probe` GETs (a cheap model listing).
    fn probe_url(&self) -> &Uri;

    /// The upstream chat body for `request` as `model`.
    fn encode_chat(
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
        stream: bool,
    ) -> Result<Bytes, GatewayError>;

    /// Headers a chat request carries for itself (Anthropic: the client's
    /// `anthropic-version` and `anthropic-beta`), set after the signer ran and
    /// replacing what it set under the same names. None by default.
    fn chat_headers(&self, request: &ChatRequest) -> HeaderMap {
        let _ = request;
        HeaderMap::new()
    }

    /// The upstream's OpenAI Responses API endpoint, when it has one (kind `openai`): a
    /// Responses client's body passes through to it unchanged but for `model`. None by
    /// default: a Responses request is then translated like any other.
    fn responses_url(&self) -> Option<&Uri> {
        None
    }

    /// Reads a 2xx chat answer; an error in it is `Err`.
    fn decode_chat(body: &[u8]) -> Result<ChatResponse, GatewayError>;

    /// Turns a non-2xx answer (status, headers, body with the key already masked)
    /// into the gateway error.
    fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError;

    /// A fresh decoder for one streamed answer.
    fn stream_decoder() -> Self::StreamDecoder;

    /// The embeddings call for `request` as `model`: its URL and body. A protocol
    /// without an embeddings API answers its own error here, and nothing is sent.
    fn encode_embeddings(
        &self,
        cfg: &ProviderConfig,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<(Cow<'_, Uri>, Vec<u8>), GatewayError>;

    /// Reads a 2xx embeddings answer to `request`, asked of `model`.
    fn decode_embeddings(
        body: &[u8],
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError>;

    /// How `request`'s input tokens are counted for `model`: asked of the upstream's
    /// count endpoint (its URL and body), or counted here. By default the gateway's
    /// estimate, counted here and marked as estimated.
    fn count_tokens_call(
        &self,
        cfg: &ProviderConfig,
        request: &ChatRequest,
        model: &str,
    ) -> Result<CountCall<'_>, GatewayError> {
        let _ = (cfg, model);
        Ok(CountCall::Local(TokenCount::estimated(
            request.estimated_input_tokens(),
        )))
    }

    /// Reads a 2xx answer of the upstream's count endpoint. Never called for a protocol
    /// whose [`count_tokens_call`](Self::count_tokens_call) counts locally.
    fn decode_token_count(body: &[u8]) -> Result<TokenCount, GatewayError> {
        let _ = body;
        Err(GatewayError::new(
            ErrorCode::ServerError,
            format!("the {} protocol has no token count endpoint", Self::FORMAT),
        ))
    }
}

/// The [`Provider`] for a configured provider speaking protocol `P`: its configuration,
/// its pooled HTTP client and what `P` fixed at start-up.
#[derive(Debug)]
pub struct UpstreamAdapter<P> {
    cfg: ProviderConfig,
    client: UpstreamClient,
    protocol: P,
}

impl<P: Protocol> UpstreamAdapter<P> {
    /// Builds the adapter and its pooled HTTP client; the protocol checks the key and
    /// parses the URLs first, so a bad configuration fails at start-up, never per call.
    pub fn new(cfg: ProviderConfig) -> Result<Self, GatewayError> {
        let protocol = P::new(&cfg)?;
        let client = UpstreamClient::new(&cfg.name, cfg.timeouts, cfg.api_key.as_ref())?;
        Ok(Self {
            cfg,
            client,
            protocol,
        })
    }

    /// Builds the adapter as the `Arc<dyn Provider>` the registry hands out.
    pub fn build(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
        Ok(Arc::new(Self::new(cfg)?))
    }

    /// An error about the client's request (encoding it, a model that cannot go in a
    /// URL), tagged with this provider.
    fn tag(&self, e: GatewayError) -> GatewayError {
        e.with_provider(&self.cfg.name)
    }

    /// Where a request goes when it is not translated: a Responses client's body and
    /// this upstream's Responses endpoint, when it has one. A request only a
    /// same-format upstream can serve ([`ChatRequest::passthrough_only`]) is refused
    /// here when this upstream would have to translate it.
    fn responses_native<'r>(
        &self,
        request: &'r ChatRequest,
    ) -> Result<Option<(&'r ax_core::RawRequest, &Uri)>, GatewayError> {
        let raw = request.raw.as_ref();
        if let Some(raw) = raw.filter(|raw| raw.format == WireFormat::Responses)
            && let Some(url) = self.protocol.responses_url()
        {
            return Ok(Some((raw, url)));
        }
        match &request.passthrough_only {
            Some(why) if raw.map(|raw| raw.format) != Some(P::FORMAT) => {
                Err(self.tag(GatewayError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "{why}; provider `{}` would have to translate it",
                        self.cfg.name
                    ),
                )))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl<P: Protocol> Provider for UpstreamAdapter<P> {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    fn passes_through(&self, format: WireFormat) -> bool {
        format == P::FORMAT
            || (format == WireFormat::Responses && self.protocol.responses_url().is_some())
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        if let Some((raw, url)) = self.responses_native(request)? {
            let body = crate::responses::passthrough_body(raw, model, false);
            let bytes = self
                .client
                .post_json(url, self.protocol.signer(), body, P::decode_error)
                .await?;
            let mut response = crate::responses::decode_response(&bytes)
                .map_err(|e| self.client.upstream_error(e))?;
            if response.model.is_empty() {
                response.model = model.to_owned();
            }
            return Ok(ChatOutcome {
                response,
                raw: Some(RawBody {
                    format: WireFormat::Responses,
                    bytes,
                }),
            });
        }
        let body = P::encode_chat(&self.cfg, request, model, false).map_err(|e| self.tag(e))?;
        let url = self
            .protocol
            .chat_url(model, false)
            .map_err(|e| self.tag(e))?;
        let signer = WithHeaders {
            signer: self.protocol.signer(),
            headers: self.protocol.chat_headers(request),
        };
        let bytes = self
            .client
            .post_json(&url, &signer, body, P::decode_error)
            .await?;
        let mut response = P::decode_chat(&bytes).map_err(|e| self.client.upstream_error(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(ChatOutcome {
            response,
            raw: Some(RawBody {
                format: P::FORMAT,
                bytes,
            }),
        })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError> {
        if let Some((raw, url)) = self.responses_native(request)? {
            let body = crate::responses::passthrough_body(raw, model, true);
            return self
                .client
                .post_stream(
                    url,
                    self.protocol.signer(),
                    body,
                    P::decode_error,
                    crate::sse::SseDecoder::new(),
                    crate::responses::ResponsesStreamDecoder::default(),
                )
                .await;
        }
        let body = P::encode_chat(&self.cfg, request, model, true).map_err(|e| self.tag(e))?;
        let url = self
            .protocol
            .chat_url(model, true)
            .map_err(|e| self.tag(e))?;
        let signer = WithHeaders {
            signer: self.protocol.signer(),
            headers: self.protocol.chat_headers(request),
        };
        self.client
            .post_stream(
                &url,
                &signer,
                body,
                P::decode_error,
                P::Framing::new(),
                P::stream_decoder(),
            )
            .await
    }

    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        let (url, body) = self
            .protocol
            .encode_embeddings(&self.cfg, request, model)
            .map_err(|e| self.tag(e))?;
        let bytes = self
            .client
            .post_json(&url, self.protocol.signer(), body, P::decode_error)
            .await?;
        let mut response = P::decode_embeddings(&bytes, request, model)
            .map_err(|e| self.client.upstream_error(e))?;
        if response.model.is_empty() {
            response.model = model.to_owned();
        }
        Ok(response)
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        self.client
            .get(
                self.protocol.probe_url(),
                self.protocol.signer(),
                P::decode_error,
            )
            .await
            .map(|_| ())
    }

    /// The protocol's count: its upstream endpoint (signed and with the request's own
    /// headers, as a chat call) or its local count.
    async fn count_tokens(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<TokenCount, GatewayError> {
        let call = self
            .protocol
            .count_tokens_call(&self.cfg, request, model)
            .map_err(|e| self.tag(e))?;
        let (url, body) = match call {
            CountCall::Local(count) => return Ok(count),
            CountCall::Blocking(count) => {
                return tokio::task::spawn_blocking(count).await.map_err(|e| {
                    self.tag(GatewayError::new(
                        ErrorCode::ServerError,
                        format!("token counting failed: {e}"),
                    ))
                });
            }
            CountCall::Native { url, body } => (url, body),
        };
        let signer = WithHeaders {
            signer: self.protocol.signer(),
            headers: self.protocol.chat_headers(request),
        };
        let bytes = self
            .client
            .post_json(&url, &signer, body, P::decode_error)
            .await?;
        P::decode_token_count(&bytes).map_err(|e| self.client.upstream_error(e))
    }
}

/// How a protocol counts a request's input tokens ([`Protocol::count_tokens_call`]).
pub enum CountCall<'a> {
    /// POST `body` to the upstream's count endpoint at `url`.
    Native {
        /// The count endpoint.
        url: Cow<'a, Uri>,
        /// The request body.
        body: Bytes,
    },
    /// Counted here already, no call made.
    Local(TokenCount),
    /// Counted here by this function, on the blocking thread pool: a long text would
    /// hold a runtime worker for too long.
    Blocking(Box<dyn FnOnce() -> TokenCount + Send + 'static>),
}

impl fmt::Debug for CountCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Native { url, body } => f
                .debug_struct("Native")
                .field("url", url)
                .field("body_bytes", &body.len())
                .finish(),
            Self::Local(count) => f.debug_tuple("Local").field(count).finish(),
            Self::Blocking(_) => f.write_str("Blocking"),
        }
    }
}

/// A protocol's signer, then a request's own headers ([`Protocol::chat_headers`]),
/// each replacing a header of the same name. An empty map adds nothing and allocates
/// nothing.
struct WithHeaders<'a, S: ?Sized> {
    signer: &'a S,
    headers: HeaderMap,
}

impl<S: Signer + ?Sized> Signer for WithHeaders<'_, S> {
    fn sign(
        &self,
        method: &http::Method,
        url: &Uri,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), GatewayError> {
        self.signer.sign(method, url, headers, body)?;
        for name in self.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        Ok(())
    }

    fn header_count(&self) -> usize {
        self.signer.header_count() + self.headers.len()
    }
}

/// A start-up error about `cfg`'s key or base URL: `authentication_error` naming the
/// provider (what every adapter has always answered, so `ax doctor` reads it alike).
pub fn config_error(cfg: &ProviderConfig, msg: &str) -> GatewayError {
    GatewayError::new(
        ErrorCode::AuthenticationError,
        format!("provider `{}`: {msg}", cfg.name),
    )
    .with_provider(&cfg.name)
}

/// The configured API key, when one is set and not empty.
pub fn api_key(cfg: &ProviderConfig) -> Option<&str> {
    cfg.api_key
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .filter(|k| !k.is_empty())
}

/// `value` (a key, or a header carrying one) as a header value marked sensitive, so
/// no `Debug` output shows it. The error never repeats the value.
pub fn secret_header(cfg: &ProviderConfig, value: &str) -> Result<HeaderValue, GatewayError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        config_error(
            cfg,
            "the API key contains characters not allowed in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `{base}{path}` parsed once at start-up; the error names the `base_url` setting and
/// what is wrong with it.
pub fn upstream_url(cfg: &ProviderConfig, base: &str, path: &str) -> Result<Uri, GatewayError> {
    parse_url(&format!("{base}{path}")).map_err(|e| config_error(cfg, &format!("base_url: {e}")))
}

#[cfg(test)]
mod tests {
    //! The adapter driven by a fake protocol whose signer and framing are not today's
    //! (a per-request signature over the body, newline-delimited frames), against a
    //! loopback upstream: proof that both hooks are the protocol's, not hard-wired.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use ax_core::{FinishReason, Message, Role, StreamEvent, Usage};
    use futures::StreamExt;
    use http::Method;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::sse::SseFrame;

    /// Signs each request with a counter, the method and the body's length, as a
    /// per-request signer (AWS SigV4) would compute over the request.
    #[derive(Debug, Default)]
    struct CountingSigner {
        calls: AtomicUsize,
    }

    impl Signer for CountingSigner {
        fn sign(
            &self,
            method: &Method,
            url: &Uri,
            headers: &mut HeaderMap,
            body: &[u8],
        ) -> Result<(), GatewayError> {
            if body == b"refuse" {
                return Err(GatewayError::new(ErrorCode::ServerError, "cannot sign"));
            }
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let sig = format!("{n} {method} {} {}", url.path(), body.len());
            headers.insert("x-signature", HeaderValue::from_str(&sig).unwrap());
            Ok(())
        }

        fn header_count(&self) -> usize {
            1
        }
    }

    /// Newline-delimited frames (not SSE): each line is a frame; a last line without
    /// its newline is one too.
    #[derive(Debug, Default)]
    struct Lines {
        partial: Vec<u8>,
    }

    impl Framing for Lines {
        const MEDIA_TYPE: &'static str = "application/x-ndjson";
        type Error = String;

        fn new() -> Self {
            Self::default()
        }

        fn feed(&mut self, chunk: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), String> {
            for &b in chunk {
                if b == b'\n' {
                    self.finish(frames)?;
                } else {
                    self.partial.push(b);
                }
            }
            Ok(())
        }

        fn finish(&mut self, frames: &mut Vec<SseFrame>) -> Result<(), String> {
            if !self.partial.is_empty() {
                let line = String::from_utf8(std::mem::take(&mut self.partial))
                    .map_err(|e| e.to_string())?;
                frames.push(SseFrame::data(line));
            }
            Ok(())
        }
    }

    /// Each frame's data is a text delta.
    struct Texts;

    impl StreamDecoder for Texts {
        fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
            Ok(vec![StreamEvent::TextDelta {
                text: frame.data.clone(),
            }])
        }

        fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError> {
            Ok(Vec::new())
        }
    }

    #[derive(Debug)]
    struct Fake {
        signer: CountingSigner,
        chat: Uri,
        stream: Uri,
        models: Uri,
    }

    impl Protocol for Fake {
        const FORMAT: WireFormat = WireFormat::Anthropic;
        type Signer = CountingSigner;
        type Framing = Lines;
        type StreamDecoder = Texts;

        fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
            let base = cfg.base_url.trim_end_matches('/');
            Ok(Self {
                signer: CountingSigner::default(),
                chat: upstream_url(cfg, base, "/chat")?,
                stream: upstream_url(cfg, base, "/stream")?,
                models: upstream_url(cfg, base, "/models")?,
            })
        }

        fn signer(&self) -> &CountingSigner {
            &self.signer
        }

        fn chat_url(&self, _model: &str, stream: bool) -> Result<Cow<'_, Uri>, GatewayError> {
            Ok(Cow::Borrowed(if stream {
                &self.stream
            } else {
                &self.chat
            }))
        }

        fn probe_url(&self) -> &Uri {
            &self.models
        }

        fn encode_chat(
            _cfg: &ProviderConfig,
            request: &ChatRequest,
            model: &str,
            _stream: bool,
        ) -> Result<Bytes, GatewayError> {
            let text = request.messages.first().map(Message::joined_text);
            match text.as_deref() {
                Some("bad") => Err(GatewayError::invalid_param("messages", "bad")),
                Some("refuse") => Ok(Bytes::from_static(b"refuse")),
                _ => Ok(Bytes::from(format!("{model}:{}", text.unwrap_or_default()))),
            }
        }

        fn decode_chat(body: &[u8]) -> Result<ChatResponse, GatewayError> {
            Ok(ChatResponse {
                id: String::from_utf8_lossy(body).into_owned(),
                model: String::new(),
                created: 0,
                content: Vec::new(),
                finish_reason: FinishReason::Stop,
                stop_sequence: None,
                usage: Usage::default(),
            })
        }

        fn decode_error(status: u16, _headers: &HeaderMap, body: &[u8]) -> GatewayError {
            GatewayError::new(
                crate::http::status_to_code(status),
                String::from_utf8_lossy(body).into_owned(),
            )
        }

        fn stream_decoder() -> Texts {
            Texts
        }

        fn encode_embeddings(
            &self,
            _cfg: &ProviderConfig,
            _request: &EmbeddingRequest,
            _model: &str,
        ) -> Result<(Cow<'_, Uri>, Vec<u8>), GatewayError> {
            Err(GatewayError::invalid_param("model", "no embeddings"))
        }

        fn decode_embeddings(
            _body: &[u8],
            _request: &EmbeddingRequest,
            _model: &str,
        ) -> Result<EmbeddingResponse, GatewayError> {
            Err(GatewayError::new(ErrorCode::ServerError, "unreachable"))
        }
    }

    fn adapter(server: &MockServer) -> UpstreamAdapter<Fake> {
        let mut cfg = ProviderConfig::new("fake", ProviderKind::OpenAiCompatible);
        cfg.base_url = server.uri();
        UpstreamAdapter::<Fake>::new(cfg).unwrap()
    }

    fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message::text(Role::User, text)],
            ..Default::default()
        }
    }

    fn signature(req: &wiremock::Request) -> String {
        req.headers
            .get("x-signature")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_signer_signs_every_request_over_its_own_method_url_and_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat"))
            .respond_with(ResponseTemplate::new(200).set_body_string("resp-1"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/models"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let p = adapter(&server);

        let out = p.chat(&ask("hi"), "m1").await.unwrap();
        assert_eq!(out.response.id, "resp-1");
        assert_eq!(out.response.model, "m1", "an empty model is filled");
        let raw = out.raw.unwrap();
        assert_eq!(raw.format, WireFormat::Anthropic);
        assert_eq!(&raw.bytes[..], b"resp-1");
        p.chat(&ask("hello"), "m2").await.unwrap();
        p.probe().await.unwrap();

        let seen: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(signature)
            .collect();
        // One signature per request, each over that request: "m1:hi" is 5 bytes,
        // "m2:hello" 8, the probe's empty body 0.
        assert_eq!(
            seen,
            ["1 POST /chat 5", "2 POST /chat 8", "3 GET /models 0"]
        );
        assert_eq!(p.protocol.signer.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_signer_error_stops_the_request_before_it_is_sent() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let p = adapter(&server);
        let e = p.chat(&ask("refuse"), "m").await.unwrap_err();
        assert_eq!(e.message, "cannot sign");
        assert_eq!(e.provider.as_deref(), Some("fake"));
        // An encoding error is the client's, tagged with the provider, and sends nothing.
        let e = p.chat(&ask("bad"), "m").await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.provider.as_deref(), Some("fake"));
        let e = p
            .embed(
                &EmbeddingRequest {
                    model: "m".into(),
                    input: ax_core::EmbeddingInput::Single("x".into()),
                    dimensions: None,
                    user: None,
                },
                "m",
            )
            .await
            .unwrap_err();
        assert_eq!(e.message, "no embeddings");
        assert_eq!(e.provider.as_deref(), Some("fake"));
    }

    #[tokio::test]
    async fn the_protocols_framing_cuts_the_stream_and_names_its_media_type() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/stream"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("one\ntwo\nthree", "application/x-ndjson"),
            )
            .mount(&server)
            .await;
        let p = adapter(&server);
        let stream = p.chat_stream(&ask("hi"), "m").await.unwrap();
        let chunks: Vec<_> = stream.map(Result::unwrap).collect().await;
        let texts: Vec<String> = chunks
            .iter()
            .flat_map(|c| &c.events)
            .map(|e| match e {
                StreamEvent::TextDelta { text } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let requests = server.received_requests().await.unwrap();
        let accept = requests[0].headers.get("accept").unwrap();
        assert_eq!(accept, "application/x-ndjson");
        assert_eq!(signature(&requests[0]), "1 POST /stream 4");
    }

    #[tokio::test]
    async fn a_stream_of_another_media_type_is_refused() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("data: x\n\n", "text/event-stream"),
            )
            .mount(&server)
            .await;
        let p = adapter(&server);
        let Err(e) = p.chat_stream(&ask("hi"), "m").await else {
            panic!("an SSE body was taken for the protocol's framing");
        };
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(
            e.message
                .starts_with("upstream answered a stream request without an event stream"),
            "{}",
            e.message
        );
    }
}
