//! Wire-protocol codecs and upstream provider adapters.
//!
//! One module per wire protocol — [`openai`], [`anthropic`], [`gemini`] — each with the
//! same outline: private serde wire types, pure functions between them and the unified
//! model of `ax-core`, and I/O only in the provider adapter. The same module serves the
//! client side ([`ClientCodec`]) and the upstream side (its `Provider`). `mock` is the
//! built-in deterministic provider; openai-compatible servers use the OpenAI module with
//! their own base URL.

pub mod anthropic;
mod bounded;
pub mod codec;
pub mod config;
mod fields;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod openai;
mod passthrough;
pub mod secrets;
pub mod sse;

use std::sync::Arc;

use ax_core::{GatewayError, Provider, ProviderKind};

pub use codec::{ClientCodec, DecodeOptions, StreamDecoder, StreamEncoder, client_codec};
pub use config::{MockSettings, ProviderConfig, Timeouts};
pub use secrets::{Secrets, mask_secrets};
pub use sse::{SseDecoder, SseFrame};

/// Builds the adapter for a configured provider. This is the one place that matches on
/// the provider kind; everything else holds an `Arc<dyn Provider>`.
pub fn build_provider(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    match cfg.kind {
        ProviderKind::Mock => Ok(Arc::new(mock::MockProvider::new(&cfg))),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => openai::build(cfg),
        ProviderKind::Anthropic => anthropic::build(cfg),
        ProviderKind::Gemini => gemini::build(cfg),
    }
}
