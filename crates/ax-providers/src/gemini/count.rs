//! Token counting in the Gemini protocol: `POST /v1beta/models/{model}:countTokens`,
//! both sides. Shapes from googleapis/python-genai (`models.py` `count_tokens`,
//! `_CountTokensParameters_to_mldev`, `_CountTokensResponse_from_mldev`) and the REST
//! reference of `CountTokensRequest`: the body is `{"contents": [...]}` or
//! `{"generateContentRequest": {model, contents, systemInstruction, tools, ...}}` (the
//! two are mutually exclusive; `contents` is ignored when the other is set); the answer
//! is `{"totalTokens": N, "cachedContentTokenCount"?, "promptTokensDetails"?}`.
//!
//! Client side: [`decode_client_request`] decodes either body shape as a chat request
//! (the model comes from the URL), [`encode_token_count`] answers `{"totalTokens": N}`.
//! Upstream side: [`encode_count_request`] sends what a `generateContent` call would
//! (the client's own body on the same-format fast path): as `contents` alone when that
//! is all there is, which is what python-genai sends, else as a `generateContentRequest`
//! so that the system instruction and tools are counted too. Generation and safety
//! settings are left out: they hold no input tokens. [`decode_token_count`] reads the
//! answer (a missing `totalTokens` is 0: protobuf JSON leaves zero values out).

use ax_core::{ChatRequest, ErrorCode, GatewayError, TokenCount};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::embeddings::resource_name;
use super::fields::{invalid, parse_upstream, type_name};
use super::request::{decode_request, encode_request};
use crate::codec::DecodeOptions;
use crate::config::ProviderConfig;

/// The `GenerateContentRequest` fields that hold input tokens, in both spellings the API
/// accepts; the count body carries only these.
const INPUT_FIELDS: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "tool_config",
    "cachedContent",
    "cached_content",
];

/// Decodes a client's `:countTokens` body (either shape) as a chat request.
pub(crate) fn decode_client_request(
    body: &Bytes,
    opts: DecodeOptions,
) -> Result<ChatRequest, GatewayError> {
    let value = crate::bounded::parse(body, crate::bounded::Shape::Gemini, &opts.limits)?;
    let wrapped = match &value {
        Value::Object(map) => map
            .get("generateContentRequest")
            .or_else(|| map.get("generate_content_request"))
            .filter(|v| !v.is_null()),
        _ => None,
    };
    match wrapped {
        // The inner request is decoded as a `generateContent` body (and checked against
        // the request-shape limits again, at its own depth).
        Some(Value::Object(inner)) => {
            let bytes = serde_json::to_vec(inner).map_err(|e| {
                GatewayError::new(ErrorCode::ServerError, format!("cannot re-encode: {e}"))
            })?;
            decode_request(&Bytes::from(bytes), opts)
        }
        Some(other) => Err(invalid(
            "generateContentRequest",
            format!("expected an object, got {}", type_name(other)),
        )),
        None => decode_request(body, opts),
    }
}

/// The client's answer: `{"totalTokens": N}` (`CountTokensResponse`).
pub fn encode_token_count(count: TokenCount) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"totalTokens\":");
    out.extend_from_slice(itoa::Buffer::new().format(count.input_tokens).as_bytes());
    out.push(b'}');
    out
}

/// The upstream `:countTokens` body for `request` as `model` (see the module docs).
pub fn encode_count_request(
    request: &ChatRequest,
    model: &str,
    cfg: &ProviderConfig,
) -> Result<Bytes, GatewayError> {
    let full = encode_request(request, model, false, cfg);
    let mut map: Map<String, Value> = serde_json::from_slice(&full).map_err(|e| {
        GatewayError::new(
            ErrorCode::ServerError,
            format!("the generateContent body ax encoded is not a JSON object: {e}"),
        )
    })?;
    map.retain(|k, v| INPUT_FIELDS.contains(&k.as_str()) && !v.is_null());
    let only_contents = map.keys().all(|k| k == "contents");
    let body = if only_contents {
        Value::Object(map)
    } else {
        // `GenerateContentRequest.model` is required there ("models/{model}").
        let mut inner = Map::with_capacity(map.len() + 1);
        inner.insert("model".into(), Value::String(resource_name(model)));
        inner.extend(map);
        let mut outer = Map::with_capacity(1);
        outer.insert("generateContentRequest".into(), Value::Object(inner));
        Value::Object(outer)
    };
    serde_json::to_vec(&body).map(Bytes::from).map_err(|e| {
        GatewayError::new(
            ErrorCode::ServerError,
            format!("cannot serialize the count body: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InCount {
    #[serde(default)]
    total_tokens: u64,
}

/// Reads the upstream's `{"totalTokens": N, …}`: the model's own count, so exact.
pub fn decode_token_count(body: &[u8]) -> Result<TokenCount, GatewayError> {
    let count: InCount = parse_upstream(body, "token count")?;
    Ok(TokenCount::exact(count.total_tokens))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ax_core::{Message, Role, ToolDefinition};
    use serde_json::json;

    use super::*;

    fn cfg() -> ProviderConfig {
        ProviderConfig::new("gemini", ax_core::ProviderKind::Gemini)
    }

    fn decode(body: Value) -> Result<ChatRequest, GatewayError> {
        let opts = DecodeOptions {
            path_model: Some("gemini-2.0-flash".into()),
            ..DecodeOptions::default()
        };
        decode_client_request(&Bytes::from(body.to_string()), opts)
    }

    fn encode(r: &ChatRequest) -> Value {
        serde_json::from_slice(&encode_count_request(r, "gemini-2.0-flash", &cfg()).unwrap())
            .unwrap()
    }

    #[test]
    fn both_body_shapes_decode() {
        let plain =
            decode(json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})).unwrap();
        assert_eq!(plain.model, "gemini-2.0-flash");
        assert_eq!(plain.messages[0].joined_text(), "hi");
        let wrapped = decode(json!({
            "contents": [{"parts": [{"text": "ignored"}]}],
            "generateContentRequest": {
                "model": "models/gemini-2.0-flash",
                "contents": [{"role": "user", "parts": [{"text": "counted"}]}],
                "systemInstruction": {"parts": [{"text": "sys"}]},
            },
        }))
        .unwrap();
        let texts: Vec<String> = wrapped.messages.iter().map(Message::joined_text).collect();
        assert_eq!(texts, ["sys", "counted"]);
        assert_eq!(wrapped.messages[0].role, Role::System);
        // Bad bodies are the client's 400, naming the field.
        for (body, field) in [
            (json!({}), "contents"),
            (json!({"contents": []}), "contents"),
            (
                json!({"generateContentRequest": 3}),
                "generateContentRequest",
            ),
            (json!({"generateContentRequest": {}}), "contents"),
        ] {
            let e = decode(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.message.contains(field), "{}", e.message);
        }
        let e = decode_client_request(&Bytes::from_static(b"[1]"), DecodeOptions::default())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn contents_alone_go_as_contents() {
        let r = decode(json!({
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"temperature": 0.1},
        }))
        .unwrap();
        assert_eq!(
            encode(&r),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        );
    }

    #[test]
    fn a_system_prompt_or_tools_go_as_a_generate_content_request() {
        let mut r = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::text(Role::System, "sys"),
                Message::text(Role::User, "hello"),
            ],
            tools: vec![ToolDefinition {
                name: "f".into(),
                description: Some("d".into()),
                parameters: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                strict: None,
                freeform: None,
            }],
            ..ChatRequest::default()
        };
        r.params.max_tokens = Some(10);
        let body = encode(&r);
        let inner = body["generateContentRequest"].as_object().unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(inner["model"], "models/gemini-2.0-flash");
        assert_eq!(inner["systemInstruction"]["parts"][0]["text"], "sys");
        assert_eq!(inner["contents"][0]["parts"][0]["text"], "hello");
        assert_eq!(inner["tools"][0]["functionDeclarations"][0]["name"], "f");
        assert!(inner.get("generationConfig").is_none());
    }

    #[test]
    fn answers_both_ways() {
        assert_eq!(
            encode_token_count(TokenCount::exact(9)),
            br#"{"totalTokens":9}"#
        );
        assert_eq!(
            decode_token_count(br#"{"totalTokens": 31, "promptTokensDetails": []}"#).unwrap(),
            TokenCount::exact(31)
        );
        assert_eq!(decode_token_count(b"{}").unwrap(), TokenCount::exact(0));
        for bad in [&b"[]"[..], b"x", br#"{"totalTokens":"many"}"#] {
            assert_eq!(
                decode_token_count(bad).unwrap_err().code,
                ErrorCode::ServerError
            );
        }
    }
}
