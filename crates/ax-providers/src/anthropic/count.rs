//! Token counting in the Anthropic protocol: `POST /v1/messages/count_tokens`, both
//! sides. Shapes from anthropics/anthropic-sdk-python (`resources/messages/messages.py`
//! `count_tokens`, `types/message_count_tokens_params.py`,
//! `types/message_tokens_count.py`): the body is a Messages body without `max_tokens`
//! and the generation settings, the answer `{"input_tokens": N}`.
//!
//! Client side: the body is decoded like a Messages body with `max_tokens` optional
//! ([`super::request::decode_count_request`]), the answer encoded by
//! [`encode_token_count`]. Upstream side: the request is encoded as for a Messages call
//! (same-format fast path or translation) and then cut down to the fields the count
//! endpoint takes ([`COUNT_FIELDS`]), since the API refuses any other ("Extra inputs are
//! not permitted"); the answer is read by [`decode_token_count`].

use ax_core::{ChatRequest, GatewayError, TokenCount};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::request::encode_request;
use crate::config::ProviderConfig;
use crate::fields::{bad_upstream, parse_upstream};

/// Every top-level field `POST /v1/messages/count_tokens` takes: `MessageCountTokensParams`
/// (`messages`, `model`, `cache_control`, `output_config`, `system`, `thinking`,
/// `tool_choice`, `tools`) and the beta variant's extra fields (`context_management`,
/// `mcp_servers`, `output_format`, `speed`), which only a client's own body can carry.
pub const COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "cache_control",
    "output_config",
    "system",
    "thinking",
    "tool_choice",
    "tools",
    "context_management",
    "mcp_servers",
    "output_format",
    "speed",
];

/// The client's answer: `{"input_tokens": N}` (`MessageTokensCount`).
pub fn encode_token_count(count: TokenCount) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"input_tokens\":");
    out.extend_from_slice(itoa::Buffer::new().format(count.input_tokens).as_bytes());
    out.push(b'}');
    out
}

/// The upstream count body for `request` as `model`: what a Messages call would send
/// (the client's own body on the fast path), keeping only [`COUNT_FIELDS`].
pub fn encode_count_request(
    request: &ChatRequest,
    model: &str,
    cfg: &ProviderConfig,
) -> Result<Bytes, GatewayError> {
    let full = encode_request(request, model, false, cfg)?;
    let mut map: Map<String, Value> = serde_json::from_slice(&full).map_err(|e| {
        GatewayError::new(
            ax_core::ErrorCode::ServerError,
            format!("the Messages body ax encoded is not a JSON object: {e}"),
        )
    })?;
    map.retain(|k, _| COUNT_FIELDS.contains(&k.as_str()));
    serde_json::to_vec(&map).map(Bytes::from).map_err(|e| {
        GatewayError::new(
            ax_core::ErrorCode::ServerError,
            format!("cannot serialize the count body: {e}"),
        )
    })
}

#[derive(Deserialize)]
struct InCount {
    input_tokens: Option<u64>,
}

/// Reads the upstream's `{"input_tokens": N}`: the model's own count, so exact.
pub fn decode_token_count(body: &[u8]) -> Result<TokenCount, GatewayError> {
    let count: InCount = parse_upstream(body, "token count")?;
    count
        .input_tokens
        .map(TokenCount::exact)
        .ok_or_else(|| bad_upstream("token count", "`input_tokens` is missing"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ax_core::{Message, Role, ToolDefinition};
    use serde_json::json;

    use super::*;
    use crate::codec::DecodeOptions;

    fn cfg() -> ProviderConfig {
        ProviderConfig::new("claude", ax_core::ProviderKind::Anthropic)
    }

    fn decode(body: Value) -> Result<ChatRequest, GatewayError> {
        let bytes = Bytes::from(body.to_string());
        super::super::request::decode_count_request(&bytes, DecodeOptions::default())
    }

    #[test]
    fn a_count_body_needs_no_max_tokens_but_a_messages_body_does() {
        let body = json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]});
        let r = decode(body.clone()).unwrap();
        assert_eq!(r.params.max_tokens, None);
        assert_eq!(r.messages[0].joined_text(), "hi");
        let e = super::super::request::decode_request(
            &Bytes::from(body.to_string()),
            DecodeOptions::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("max_tokens"), "{}", e.message);
        // The rest is checked as for Messages.
        let e = decode(json!({"model": "claude-x"})).unwrap_err();
        assert!(e.message.contains("messages"), "{}", e.message);
        let e = decode(json!({"messages": [{"role": "user", "content": "x"}]})).unwrap_err();
        assert!(e.message.contains("model"), "{}", e.message);
    }

    #[test]
    fn the_fast_path_keeps_the_clients_count_fields_with_the_model_rewritten() {
        let r = decode(json!({
            "model": "claude/claude-x",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",
                "cache_control": {"type": "ephemeral"}}]}],
            "system": "be brief",
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }))
        .unwrap();
        let body: Value =
            serde_json::from_slice(&encode_count_request(&r, "claude-x", &cfg()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-x",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",
                    "cache_control": {"type": "ephemeral"}}]}],
                "system": "be brief",
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            })
        );
    }

    #[test]
    fn a_translated_request_loses_max_tokens_stream_and_sampling() {
        let mut r = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::text(Role::System, "sys"),
                Message::text(Role::User, "hello"),
            ],
            tools: vec![ToolDefinition {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
                strict: None,
                freeform: None,
            }],
            ..ChatRequest::default()
        };
        r.params.temperature = Some(0.5);
        r.params.max_tokens = Some(100);
        r.params.stop = vec!["x".into()];
        let body: Value =
            serde_json::from_slice(&encode_count_request(&r, "claude-x", &cfg()).unwrap()).unwrap();
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["messages", "model", "system", "tools"]);
        assert_eq!(body["system"], "sys");
    }

    #[test]
    fn answers_both_ways() {
        assert_eq!(
            encode_token_count(TokenCount::estimated(42)),
            br#"{"input_tokens":42}"#
        );
        assert_eq!(
            decode_token_count(br#"{"input_tokens": 17, "context_management": null}"#).unwrap(),
            TokenCount::exact(17)
        );
        for bad in [&br#"{}"#[..], b"[]", b"nope", br#"{"input_tokens":-1}"#] {
            let e = decode_token_count(bad).unwrap_err();
            assert_eq!(e.code, ax_core::ErrorCode::ServerError, "{e:?}");
        }
    }
}
