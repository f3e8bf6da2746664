//! Responses API requests → the unified model, and the pass-through body.

use ax_core::{ChatRequest, GatewayError, RawRequest};
use bytes::Bytes;

use crate::codec::DecodeOptions;

/// Decodes a Responses request body (see the module docs).
pub(crate) fn decode_request(
    body: &Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let _ = (body, opts);
    todo!("responses request decoding")
}

/// The body sent to an OpenAI upstream's `/v1/responses`: the client's own, with
/// `model` rewritten and `stream` set.
pub fn passthrough_body(raw: &RawRequest, model: &str, stream: bool) -> Bytes {
    let _ = (raw, model, stream);
    todo!("responses passthrough body")
}
