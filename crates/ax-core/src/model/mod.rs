//! The unified model: one representation of chat and embedding traffic that every wire
//! format decodes into and encodes from. Any client format can be served by any
//! upstream because translation always goes A → unified → B, never A → B.
//!
//! Conventions every codec relies on:
//! - system prompts are `Role::System` messages, usually at the front of `messages`
//!   (an Anthropic client may put them anywhere; see [`ChatRequest::messages`]);
//! - tool call arguments are JSON *text* (what OpenAI sends), parsed only by codecs
//!   whose wire format wants an object;
//! - `Usage::input_tokens` is the whole prompt, cached tokens included (OpenAI
//!   semantics); see [`Usage`].

mod count;
mod embedding;
mod request;
mod response;
mod stream;
mod usage;

pub use count::TokenCount;
pub use embedding::{Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse};
pub use request::{
    AnthropicHeaders, ChatRequest, ContentPart, DocumentSource, EFFORT_BUDGETS, FreeformTool,
    GenerationParams, ImageSource, MAX_DROPPED_FIELDS, Message, RawRequest, ReasoningConfig,
    RequestMetadata, ResponseFormat, Role, ToolChoice, ToolDefinition,
};
pub use response::{ChatResponse, FinishReason};
pub use stream::StreamEvent;
pub use usage::Usage;
