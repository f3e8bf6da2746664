//! Wire-protocol codecs and upstream provider adapters.
//!
//! One module per wire protocol — [`openai`], [`anthropic`], [`gemini`] — each with the
//! same outline: private serde wire types, pure functions between them and the unified
//! model of `ax-core`, and I/O only in the provider adapter. The same module serves the
//! client side ([`ClientCodec`]) and the upstream side (its `Provider`). `mock` is the
//! built-in deterministic provider; openai-compatible servers use the OpenAI module with
//! their own base URL. The [`registry`] lists every kind with its environment variables,
//! its own settings, its defaults and its builder.

pub mod adapter;
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
pub mod registry;
pub mod responses;
pub mod secrets;
pub mod sse;
pub mod tool_ids;

use std::sync::Arc;

use ax_core::{ErrorCode, GatewayError, Provider};

pub use codec::{
    ClientCodec, DecodeOptions, EmbeddingReply, StreamDecoder, StreamEncoder, client_codec,
};
pub use config::{ProviderConfig, Timeouts};
pub use mock::MockSettings;
pub use registry::{KindSettings, ProviderKindSpec, SettingsError, SettingsMap};
pub use secrets::{Secrets, mask_secrets};
pub use sse::{SseDecoder, SseFrame};

/// Builds the adapter for a configured provider with its kind's registry entry;
/// everything else holds an `Arc<dyn Provider>`.
pub fn build_provider(cfg: ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    match registry::spec(cfg.kind) {
        Some(spec) => (spec.build)(cfg),
        None => Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            format!("provider kind `{}` has no registry entry", cfg.kind),
        )),
    }
}
