//! The Anthropic wire protocol (placeholder until the codec lands).

use ax_core::{ChatRequest, ChatResponse, GatewayError, WireFormat};

use crate::codec::{ClientCodec, DecodeOptions, StreamEncoder};

/// The Anthropic client codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicCodec;

impl ClientCodec for AnthropicCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Anthropic
    }
    fn decode_request(
        &self,
        _body: &[u8],
        _opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        Err(GatewayError::invalid("not implemented yet"))
    }
    fn encode_response(&self, _response: &ChatResponse) -> Vec<u8> {
        Vec::new()
    }
    fn stream_encoder(&self, _request: &ChatRequest) -> Box<dyn StreamEncoder> {
        unimplemented!()
    }
    fn encode_error(&self, _error: &GatewayError) -> Vec<u8> {
        Vec::new()
    }
}

/// Builds the Anthropic provider adapter (placeholder until the adapter lands).
pub fn build(
    cfg: crate::config::ProviderConfig,
) -> Result<std::sync::Arc<dyn ax_core::Provider>, GatewayError> {
    Err(GatewayError::new(
        ax_core::ErrorCode::ServerError,
        format!("provider kind {} is not built yet", cfg.kind),
    ))
}
