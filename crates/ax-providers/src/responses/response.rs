//! The `response` object: encoded from the unified answer, decoded from an upstream's.

use ax_core::{ChatResponse, GatewayError};

/// The Responses id ax gives an answer whose upstream id is `upstream_id`.
pub fn response_id(upstream_id: &str) -> String {
    let _ = upstream_id;
    todo!("response id")
}

/// Encodes a complete answer as a `response` object.
pub(crate) fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let _ = response;
    todo!("responses encode")
}

/// Reads an upstream `response` object (for usage and the log).
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, GatewayError> {
    let _ = body;
    todo!("responses decode")
}
