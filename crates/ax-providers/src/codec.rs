//! The shape every wire-protocol module fills in. One protocol module serves both sides
//! of the gateway: the client side (decode what a client sent, encode what it gets back)
//! and the upstream side (encode what we send a provider, decode what it answers).
//!
//! The server picks a [`ClientCodec`] by endpoint; provider adapters use their
//! protocol's upstream functions directly. Translation always goes through the
//! unified model, so any client codec pairs with any upstream.

use ax_core::{
    AnthropicHeaders, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, ErrorCode,
    GatewayError, RequestLimits, RequestMetadata, StreamChunk, StreamEvent, TokenCount, WireFormat,
};
use bytes::Bytes;

use crate::sse::SseFrame;

/// What the HTTP layer knows about a client request beyond its body.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// The model from the URL path (Gemini puts it there, not in the body).
    pub path_model: Option<String>,
    /// Whether the endpoint itself implies streaming (Gemini `streamGenerateContent`).
    pub path_stream: Option<bool>,
    /// Metadata from `x-ax-*` headers; decoders may fill `user_id` from the body when
    /// the header is absent.
    pub metadata: RequestMetadata,
    /// The request-shape limits, enforced while the body is parsed.
    pub limits: RequestLimits,
    /// The client's `anthropic-version` / `anthropic-beta` headers
    /// ([`crate::anthropic::client_headers`]); the Anthropic decoder keeps them for an
    /// Anthropic upstream, the others ignore them.
    pub anthropic: Option<AnthropicHeaders>,
}

/// Turns unified stream events into client SSE bytes. Stateful: it tracks open content
/// blocks, tool-call indexes and whatever its format needs at the end.
pub trait StreamEncoder: Send {
    /// Appends the frames for `event` to `out` (possibly none).
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
    /// Appends the frames that end a successful stream (OpenAI usage chunk and
    /// `[DONE]`; Anthropic `message_delta` and `message_stop`; …).
    fn finish(&mut self, out: &mut Vec<u8>);
    /// Appends an error event in this format; the stream ends after it.
    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>);
}

/// Turns upstream SSE frames into unified stream events. Stateful.
pub trait StreamDecoder: Send {
    /// Decodes one frame. An upstream error event becomes `Err`.
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError>;
    /// Called at end of input. Formats with an explicit end marker fail here when it
    /// never came (a cut stream must not look complete); Gemini, which ends at
    /// connection close, emits whatever is still pending.
    fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError>;
}

/// The client-facing half of a wire protocol.
pub trait ClientCodec: Send + Sync {
    /// The format.
    fn format(&self) -> WireFormat;
    /// Decodes a client's request body held in `body`; the decoded request's raw copy
    /// shares those bytes instead of copying them. Errors are `invalid_request` with a
    /// message that names the offending field or the request-shape limit crossed.
    fn decode_shared(&self, body: &Bytes, opts: DecodeOptions)
    -> Result<ChatRequest, GatewayError>;
    /// [`decode_shared`](Self::decode_shared) for a borrowed body (copied once).
    fn decode_request(
        &self,
        body: &[u8],
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        self.decode_shared(&Bytes::copy_from_slice(body), opts)
    }
    /// Encodes a complete answer to `request` (the Responses format needs the request's
    /// freeform tools to shape their calls; the others ignore it).
    fn encode_response(&self, request: &ChatRequest, response: &ChatResponse) -> Vec<u8>;
    /// A fresh encoder for one streamed answer to `request`.
    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder>;
    /// The error body for `error` (the status comes from `GatewayError::http_status`).
    fn encode_error(&self, error: &GatewayError) -> Vec<u8>;

    /// Whether an upstream frame of this same format is forwarded to the client as it
    /// came (the same-format pass-through); `include_usage` is what the client asked
    /// for. Formats that never add frames of their own forward everything.
    fn forwards(&self, _chunk: &StreamChunk, _include_usage: bool) -> bool {
        true
    }

    /// Decodes an embeddings request (`path_model`: the model named by the URL, where
    /// the format puts it there), with how its answer must be shaped. Formats without
    /// an embeddings endpoint refuse with `not_found`.
    fn decode_embeddings(
        &self,
        _body: &[u8],
        _path_model: Option<&str>,
        _limits: &RequestLimits,
    ) -> Result<(EmbeddingRequest, EmbeddingReply), GatewayError> {
        Err(GatewayError::new(
            ErrorCode::NotFound,
            format!("embeddings are not served in the {} format", self.format()),
        ))
    }

    /// Encodes embeddings in the shape the request asked for.
    fn encode_embeddings(&self, response: &EmbeddingResponse, reply: EmbeddingReply) -> Vec<u8> {
        let _ = (response, reply);
        self.encode_error(&GatewayError::new(
            ErrorCode::NotFound,
            format!("embeddings are not served in the {} format", self.format()),
        ))
    }

    /// Decodes a token counting request (Anthropic `count_tokens`, Gemini
    /// `:countTokens`): a chat request that need not say how much to generate. By
    /// default the chat decoder.
    fn decode_count_tokens(
        &self,
        body: &Bytes,
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        self.decode_shared(body, opts)
    }

    /// Encodes a token count. By default `{"input_tokens": N}`, the shape Anthropic's
    /// and OpenAI's count answers share.
    fn encode_token_count(&self, count: TokenCount) -> Vec<u8> {
        format!("{{\"input_tokens\":{}}}", count.input_tokens).into_bytes()
    }
}

/// How an embeddings answer goes back, as its request decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddingReply {
    /// Vectors as base64 of little-endian `f32`s (OpenAI `encoding_format: "base64"`).
    pub base64: bool,
    /// A list answer for a list request (Gemini `batchEmbedContents`).
    pub batch: bool,
}

/// The client codec for `format`.
pub fn client_codec(format: WireFormat) -> &'static dyn ClientCodec {
    match format {
        WireFormat::OpenAi => &crate::openai::OpenAiCodec,
        WireFormat::Anthropic => &crate::anthropic::AnthropicCodec,
        WireFormat::Gemini => &crate::gemini::GeminiCodec,
        WireFormat::Responses => &crate::responses::ResponsesCodec,
    }
}
