//! The OpenAI Responses API wire protocol (`POST /v1/responses`), both sides of the
//! gateway.
//!
//! # Client side ([`ResponsesCodec`])
//! A Responses request decodes into the unified [`ChatRequest`] (`request`), so every
//! upstream can serve it; the answer is encoded as a `response` object (`response`)
//! or as the Responses streaming event sequence (`stream`, [`ResponsesStreamEncoder`]).
//! Errors have the OpenAI shape (`{"error":{message,type,param,code}}`).
//!
//! # Upstream side
//! Only kind `openai` speaks this protocol upstream: the client's body goes to its
//! `/v1/responses` with `model` rewritten ([`passthrough_body`]); the answer is read
//! for usage ([`decode_response`], [`ResponsesStreamDecoder`]) and forwarded unchanged.

mod request;
mod response;
mod stream;

use ax_core::{ChatRequest, ChatResponse, GatewayError, WireFormat};
use bytes::Bytes;

use crate::codec::{ClientCodec, DecodeOptions, StreamEncoder};

pub use request::passthrough_body;
pub use response::{decode_response, response_id};
pub use stream::{ResponsesStreamDecoder, ResponsesStreamEncoder};

/// The client-facing Responses codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponsesCodec;

impl ClientCodec for ResponsesCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Responses
    }

    fn decode_shared(
        &self,
        body: &Bytes,
        opts: DecodeOptions,
    ) -> Result<ChatRequest, GatewayError> {
        request::decode_request(body, opts)
    }

    fn encode_response(&self, request: &ChatRequest, response: &ChatResponse) -> Vec<u8> {
        response::encode_response(request, response)
    }

    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder> {
        Box::new(ResponsesStreamEncoder::new(request))
    }

    fn encode_error(&self, error: &GatewayError) -> Vec<u8> {
        // The Responses API answers errors in the Chat Completions error shape.
        crate::openai::OpenAiCodec.encode_error(error)
    }
}
