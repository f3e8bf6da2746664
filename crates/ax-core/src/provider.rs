//! The `Provider` trait: what the router needs from an upstream, whatever its wire
//! format. Providers live in a registry as `Arc<dyn Provider>`; the router never
//! matches on which provider it holds.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::GatewayError;
use crate::format::{ProviderKind, WireFormat};
use crate::model::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, StreamEvent, TokenCount,
};

/// An upstream body exactly as the provider sent it, for the same-format fast path.
#[derive(Debug, Clone, PartialEq)]
pub struct RawBody {
    /// The format the bytes are in.
    pub format: WireFormat,
    /// The bytes.
    pub bytes: Bytes,
}

/// The result of a non-streamed chat call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOutcome {
    /// The decoded answer (always present: usage and logging need it).
    pub response: ChatResponse,
    /// The upstream body, when the provider speaks a wire format; a client of the same
    /// format may receive it unchanged.
    pub raw: Option<RawBody>,
}

/// One upstream stream frame, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChunk {
    /// The unified events the frame carried (possibly none, e.g. a ping).
    pub events: Vec<StreamEvent>,
    /// The frame as it arrived, re-serialized as one SSE frame (`event:`/`data:` lines
    /// and the blank line), for same-format passthrough. `None` for providers with no
    /// wire format and for synthesized events.
    pub raw: Option<Bytes>,
}

/// A streamed answer: frames as they arrive, then the end of the stream. An `Err` item
/// is a mid-stream failure and is always the last item.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, GatewayError>> + Send>>;

/// An upstream LLM provider.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The configured name (`claude`, `gemini`, `openai`, `mock`, or one from `ax.toml`).
    fn name(&self) -> &str;

    /// What kind of provider this is.
    fn kind(&self) -> ProviderKind;

    /// The model used when a plan names this provider without a model.
    fn default_model(&self) -> &str;

    /// The wire format the upstream speaks, if any.
    fn wire_format(&self) -> Option<WireFormat> {
        self.kind().wire_format()
    }

    /// Whether a client body in `format` reaches this upstream unchanged (but for
    /// `model`) and its answer comes back in that format: the same-format pass-through.
    /// By default, the provider's own wire format.
    fn passes_through(&self, format: WireFormat) -> bool {
        self.wire_format() == Some(format)
    }

    /// One non-streamed chat completion with `model` (already stripped of any prefix).
    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError>;

    /// One streamed chat completion. Returns once the upstream accepted the request
    /// (status and content type checked); frames follow on the stream.
    async fn chat_stream(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError>;

    /// Embeddings for every input, in order.
    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError>;

    /// A cheap liveness check (list models or equivalent) for `ax doctor`.
    async fn probe(&self) -> Result<(), GatewayError>;

    /// The input tokens `request` would use with `model` (already stripped of any
    /// prefix): messages, system prompt and tools. By default the gateway's estimate
    /// ([`ChatRequest::estimated_input_tokens`]), marked as estimated; providers with a
    /// count endpoint or a known tokenizer answer exactly.
    async fn count_tokens(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<TokenCount, GatewayError> {
        let _ = model;
        Ok(TokenCount::estimated(request.estimated_input_tokens()))
    }
}
