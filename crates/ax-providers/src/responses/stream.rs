//! The Responses streaming event sequence, both directions.

use ax_core::{ChatRequest, GatewayError, StreamEvent};

use crate::codec::{StreamDecoder, StreamEncoder};
use crate::sse::SseFrame;

/// Turns unified stream events into Responses events, each with its `sequence_number`.
#[derive(Debug)]
pub struct ResponsesStreamEncoder {}

impl ResponsesStreamEncoder {
    /// A fresh encoder for one streamed answer to `request`.
    pub fn new(request: &ChatRequest) -> Self {
        let _ = request;
        Self {}
    }
}

impl StreamEncoder for ResponsesStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        let _ = (event, out);
        todo!()
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }
    fn error(&mut self, error: &GatewayError, out: &mut Vec<u8>) {
        let _ = (error, out);
        todo!()
    }
}

/// Reads an upstream Responses event stream into unified events.
#[derive(Debug, Default)]
pub struct ResponsesStreamDecoder {}

impl StreamDecoder for ResponsesStreamDecoder {
    fn decode(&mut self, frame: &SseFrame) -> Result<Vec<StreamEvent>, GatewayError> {
        let _ = frame;
        todo!()
    }
    fn finish(&mut self) -> Result<Vec<StreamEvent>, GatewayError> {
        todo!()
    }
}
