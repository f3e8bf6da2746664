//! The client side of the OpenAI codec: decoding what clients send (API reference
//! request examples), precise rejections, the same-format fast path, embeddings, and
//! no panics on any input.

use ax_core::{
    ContentPart, Embedding, EmbeddingInput, EmbeddingResponse, ErrorCode, ImageSource,
    ProviderKind, RequestMetadata, ResponseFormat, Role, ToolChoice, Usage,
};
use ax_providers::openai::{
    OpenAiCodec, decode_embedding_request, decode_embedding_response, decode_response,
    encode_embedding_request, encode_embedding_response, encode_request,
};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig, SseFrame, StreamDecoder};
use proptest::prelude::*;
use serde_json::{Value, json};

fn decode(body: &Value) -> Result<ax_core::ChatRequest, ax_core::GatewayError> {
    OpenAiCodec.decode_request(body.to_string().as_bytes(), DecodeOptions::default())
}

#[test]
fn api_reference_default_example() {
    // platform.openai.com/docs/api-reference/chat/create, "Default" example.
    let r = decode(&json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"}
        ]
    }))
    .unwrap();
    assert_eq!(r.model, "gpt-4.1");
    assert_eq!(r.messages.len(), 2);
    assert_eq!(r.messages[0].role, Role::System);
    assert_eq!(
        r.system_text().as_deref(),
        Some("You are a helpful assistant.")
    );
    assert_eq!(r.messages[1].joined_text(), "Hello!");
    assert!(!r.stream && !r.include_usage);
    assert!(r.raw.is_some());
}

#[test]
fn api_reference_image_input_example() {
    let url = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg";
    let r = decode(&json!({
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}}
        ]}],
        "max_tokens": 300
    }))
    .unwrap();
    assert_eq!(r.params.max_tokens, Some(300));
    assert_eq!(
        r.messages[0].content[1..],
        [
            ContentPart::Image {
                source: ImageSource::Url { url: url.into() },
                detail: None
            },
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/jpeg".into(),
                    data: "/9j/4AAQ".into()
                },
                detail: Some("high".into())
            },
        ]
    );
}

#[test]
fn api_reference_functions_example_and_tool_round() {
    let r = decode(&json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "user", "content": "What is the weather like in Boston today?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc123", "type": "function",
                 "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "22C"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {"type": "object", "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            }, "required": ["location"]}
        }}],
        "tool_choice": "auto",
        "stream": true,
        "stream_options": {"include_usage": true},
        "user": "user-1234",
        "reasoning_effort": "low",
        "max_completion_tokens": 100,
        "max_tokens": 5,
        "stop": "\n\n",
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}}
    }))
    .unwrap();
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.tools[0].name, "get_current_weather");
    assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
    assert!(r.stream && r.include_usage);
    assert_eq!(r.metadata.user_id.as_deref(), Some("user-1234"));
    assert_eq!(
        r.reasoning.as_ref().and_then(|x| x.effort.as_deref()),
        Some("low")
    );
    // max_completion_tokens wins over the deprecated max_tokens.
    assert_eq!(r.params.max_tokens, Some(100));
    assert_eq!(r.params.stop, vec!["\n\n".to_owned()]);
    assert!(
        matches!(r.response_format, Some(ResponseFormat::JsonSchema { ref name, .. }) if name == "w")
    );
    assert_eq!(
        r.messages[1].content,
        vec![ContentPart::ToolCall {
            id: "call_abc123".into(),
            name: "get_current_weather".into(),
            arguments: "{\n\"location\": \"Boston, MA\"\n}".into()
        }]
    );
    assert_eq!(r.messages[2].role, Role::Tool);
    assert_eq!(
        r.messages[2].content,
        vec![ContentPart::ToolResult {
            tool_call_id: "call_abc123".into(),
            name: None,
            content: vec![ContentPart::text("22C")],
            is_error: false
        }]
    );
}

#[test]
fn header_user_wins_and_path_overrides() {
    let body = json!({"messages": [{"role": "user", "content": "x"}], "user": "body-user",
                      "stream_options": {"include_usage": true}});
    let opts = DecodeOptions {
        path_model: Some("from-path".into()),
        path_stream: None,
        metadata: RequestMetadata {
            user_id: Some("header-user".into()),
            ..Default::default()
        },
        ..DecodeOptions::default()
    };
    let r = OpenAiCodec
        .decode_request(body.to_string().as_bytes(), opts)
        .unwrap();
    assert_eq!(r.model, "from-path");
    assert_eq!(r.metadata.user_id.as_deref(), Some("header-user"));
    // include_usage means nothing without stream.
    assert!(!r.include_usage);
}

#[test]
fn assistant_reasoning_content_and_empty_text_with_calls() {
    let r = decode(&json!({"model": "m", "messages": [
        {"role": "assistant", "content": "", "reasoning_content": "hmm",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    ]}))
    .unwrap();
    assert_eq!(
        r.messages[0].content,
        vec![
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: None,
                redacted: None
            },
            ContentPart::ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into()
            },
        ]
    );
}

#[test]
fn rejections_name_the_field() {
    let m =
        |content: Value| json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    let cases: Vec<(Value, Option<&str>, &str)> = vec![
        (json!([1, 2]), None, "must be a JSON object, got an array"),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            Some("model"),
            "is required",
        ),
        (
            json!({"model": 5, "messages": []}),
            Some("model"),
            "expected a string, got a number",
        ),
        (json!({"model": "m"}), Some("messages"), "is required"),
        (
            json!({"model": "m", "messages": []}),
            Some("messages"),
            "at least one",
        ),
        (
            json!({"model": "m", "messages": {}}),
            Some("messages"),
            "expected an array",
        ),
        (
            json!({"model": "m", "messages": [5]}),
            Some("messages[0]"),
            "expected an object",
        ),
        (
            json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
            Some("messages[0].role"),
            "unknown role `bot`",
        ),
        (
            m(json!(5)),
            Some("messages[0].content"),
            "expected a string or an array",
        ),
        (
            m(json!([{"type": "image_url", "image_url": {}}])),
            Some("messages[0].content[0].image_url.url"),
            "is required",
        ),
        (
            m(json!([{"type": "text", "text": 3}])),
            Some("messages[0].content[0].text"),
            "expected a string",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            Some("messages[0].tool_call_id"),
            "is required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]}),
            Some("messages[0].tool_calls[0].function"),
            "is required",
        ),
        (
            json!({"model": "m", "max_tokens": -1, "messages": [{"role": "user", "content": "x"}]}),
            Some("max_tokens"),
            "non-negative integer",
        ),
        (
            json!({"model": "m", "max_tokens": 99999999999u64, "messages": [{"role": "user", "content": "x"}]}),
            Some("max_tokens"),
            "at most 4294967295",
        ),
        (
            json!({"model": "m", "max_completion_tokens": "100", "messages": [{"role": "user", "content": "x"}]}),
            Some("max_completion_tokens"),
            "expected an integer, got a string",
        ),
        (
            json!({"model": "m", "seed": 1e30, "messages": [{"role": "user", "content": "x"}]}),
            Some("seed"),
            "must be an integer",
        ),
        (
            json!({"model": "m", "temperature": "hot", "messages": [{"role": "user", "content": "x"}]}),
            Some("temperature"),
            "expected a number",
        ),
        (
            json!({"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}),
            Some("stream"),
            "expected a boolean",
        ),
        (
            json!({"model": "m", "stop": [1], "messages": [{"role": "user", "content": "x"}]}),
            Some("stop[0]"),
            "expected a string",
        ),
        (
            json!({"model": "m", "tool_choice": "sometimes", "messages": [{"role": "user", "content": "x"}]}),
            Some("tool_choice"),
            "unknown value `sometimes`",
        ),
        (
            json!({"model": "m", "tools": [{"type": "function"}], "messages": [{"role": "user", "content": "x"}]}),
            Some("tools[0].function"),
            "is required",
        ),
        (
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}], "messages": [{"role": "user", "content": "x"}]}),
            Some("tools[0].function.parameters"),
            "JSON Schema object",
        ),
        (
            json!({"model": "m", "response_format": {"type": "json_schema", "json_schema": {}}, "messages": [{"role": "user", "content": "x"}]}),
            Some("response_format.json_schema.name"),
            "is required",
        ),
        (
            json!({"model": "m", "response_format": {"type": "yaml"}, "messages": [{"role": "user", "content": "x"}]}),
            Some("response_format.type"),
            "unknown value `yaml`",
        ),
        (
            json!({"model": "m", "stream_options": {"include_usage": 1}, "messages": [{"role": "user", "content": "x"}]}),
            Some("stream_options.include_usage"),
            "expected a boolean",
        ),
    ];
    for (body, param, needle) in cases {
        let e = decode(&body).expect_err(&body.to_string());
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{body}");
        assert_eq!(e.param.as_deref(), param, "{body}");
        assert!(e.message.contains(needle), "{body}: {}", e.message);
        if let Some(p) = param {
            assert!(
                e.message.contains(p),
                "message names the field: {}",
                e.message
            );
        }
    }
    let e = OpenAiCodec
        .decode_request(b"{\"model\": ", DecodeOptions::default())
        .unwrap_err();
    assert!(e.message.contains("not valid JSON"), "{}", e.message);
}

fn client_body() -> Value {
    json!({
        "model": "openai/gpt-4o",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}
            ]}
        ],
        "n": 2,
        "logit_bias": {"50256": -100},
        "metadata": {"team": "a"},
        "x_future_field": {"nested": [1, 2, {"k": null}]},
        "tools": [{"type": "custom", "custom": {"name": "grammar"}}],
        "stream": true,
        "stream_options": {"include_obfuscation": false}
    })
}

#[test]
fn fast_path_keeps_every_field_but_model_and_usage() {
    let body = client_body();
    let req = decode(&body).unwrap();
    // The unified view drops what it cannot carry…
    assert_eq!(req.messages[0].content, vec![ContentPart::text("hi")]);
    assert!(req.tools.is_empty());
    assert!(req.stream && !req.include_usage);

    for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible] {
        let cfg = ProviderConfig::new("p", kind);
        // …but a same-format upstream gets the whole body.
        let sent: Value =
            serde_json::from_slice(&encode_request(&req, "gpt-4o", true, &cfg)).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("gpt-4o");
        expected["stream_options"] = json!({"include_obfuscation": false, "include_usage": true});
        assert_eq!(sent, expected);

        let sent: Value =
            serde_json::from_slice(&encode_request(&req, "gpt-4o", false, &cfg)).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("gpt-4o");
        let o = expected.as_object_mut().unwrap();
        o.remove("stream");
        o.remove("stream_options");
        assert_eq!(sent, expected);
    }
}

#[test]
fn fast_path_is_not_used_for_other_formats() {
    let mut req = decode(&client_body()).unwrap();
    if let Some(raw) = req.raw.as_mut() {
        raw.format = ax_core::WireFormat::Anthropic;
    }
    let cfg = ProviderConfig::new("p", ProviderKind::OpenAi);
    let sent: Value = serde_json::from_slice(&encode_request(&req, "gpt-4o", true, &cfg)).unwrap();
    assert!(sent.get("x_future_field").is_none());
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[test]
fn embeddings_client_side() {
    let (r, b64) = decode_embedding_request(
        br#"{"model":"text-embedding-3-small","input":"The food was delicious","encoding_format":"base64","dimensions":256,"user":"u"}"#,
        &limits(),
    )
    .unwrap();
    assert!(b64);
    assert_eq!(
        r.input,
        EmbeddingInput::Single("The food was delicious".into())
    );
    assert_eq!((r.dimensions, r.user.as_deref()), (Some(256), Some("u")));
    let (r, b64) =
        decode_embedding_request(br#"{"model":"m","input":["a","b"]}"#, &limits()).unwrap();
    assert!(!b64);
    assert_eq!(r.input, EmbeddingInput::Batch(vec!["a".into(), "b".into()]));

    let bad: [(&[u8], &str); 7] = [
        (br#"{"model":"m","input":[1,2,3]}"#, "token-array"),
        (br#"{"model":"m","input":[[1,2],[3]]}"#, "token-array"),
        (br#"{"model":"m","input":[]}"#, "empty"),
        (br#"{"model":"m","input":["a",null]}"#, "input[1]"),
        (br#"{"model":"m"}"#, "`input`: is required"),
        (
            br#"{"model":"m","input":"x","encoding_format":"int8"}"#,
            "encoding_format",
        ),
        (br#"{"input":"x"}"#, "`model`: is required"),
    ];
    for (body, needle) in bad {
        let e = decode_embedding_request(body, &limits()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }

    let resp = EmbeddingResponse {
        model: "text-embedding-3-small".into(),
        data: vec![
            Embedding {
                index: 0,
                vector: vec![0.0023064255, -0.009327292, 1.0],
            },
            Embedding {
                index: 1,
                vector: vec![0.5],
            },
        ],
        usage: Usage {
            input_tokens: 8,
            ..Default::default()
        },
    };
    insta::assert_snapshot!(
        String::from_utf8(encode_embedding_response(&resp, false)).unwrap(),
        @r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,1.0]},{"object":"embedding","index":1,"embedding":[0.5]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#
    );
    insta::assert_snapshot!(
        String::from_utf8(encode_embedding_response(&resp, true)).unwrap(),
        @r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"ZicXO4DRGLwAAIA/"},{"object":"embedding","index":1,"embedding":"AAAAPw=="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#
    );
    // What we encode in base64, the upstream decoder reads back exactly.
    let back = decode_embedding_response(&encode_embedding_response(&resp, true)).unwrap();
    assert_eq!(back, resp);
}

#[test]
fn embeddings_upstream_side() {
    let (req, _) = decode_embedding_request(
        br#"{"model":"x","input":["a","b"],"dimensions":3}"#,
        &limits(),
    )
    .unwrap();
    let sent: Value = serde_json::from_slice(&encode_embedding_request(
        &req,
        "text-embedding-3-small",
        true,
    ))
    .unwrap();
    assert_eq!(
        sent,
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 3, "encoding_format": "base64"})
    );
    // Out-of-order data and float vectors (what compatible servers send).
    let r = decode_embedding_response(
        br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[2.0]},{"object":"embedding","index":0,"embedding":[1.0]}],"model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}"#,
    )
    .unwrap();
    assert_eq!(
        r.data.iter().map(|e| e.vector[0]).collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    assert_eq!(r.usage.input_tokens, 3);
    let e = decode_embedding_response(br#"{"data":[{"embedding":"!!"}]}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(e.message.contains("data[0].embedding"), "{}", e.message);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("user".to_owned()),
            Just("assistant".to_owned()),
            Just("tool".to_owned()),
            Just("system".to_owned()),
            Just("function".to_owned()),
            Just("text".to_owned()),
            Just("image_url".to_owned()),
            Just("json_schema".to_owned()),
            Just("data:image/png;base64,AAAA".to_owned()),
            ".{0,8}",
        ]
        .prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("model"),
        Just("messages"),
        Just("role"),
        Just("content"),
        Just("type"),
        Just("text"),
        Just("image_url"),
        Just("url"),
        Just("tool_calls"),
        Just("id"),
        Just("function"),
        Just("name"),
        Just("arguments"),
        Just("tools"),
        Just("tool_choice"),
        Just("stop"),
        Just("max_tokens"),
        Just("seed"),
        Just("stream"),
        Just("stream_options"),
        Just("include_usage"),
        Just("response_format"),
        Just("json_schema"),
        Just("schema"),
        Just("tool_call_id"),
        Just("parameters"),
        Just("input"),
        Just("encoding_format"),
        Just("choices"),
        Just("delta"),
        Just("message"),
        Just("usage"),
        Just("error"),
        Just("finish_reason"),
        Just("index"),
        Just("prompt_tokens"),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_input_panics_any_decoder(v in arb_json()) {
        let bytes = v.to_string();
        // Any refusal of a client's body is the client's mistake, named as such.
        if let Err(e) = OpenAiCodec.decode_request(bytes.as_bytes(), DecodeOptions::default()) {
            prop_assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.message);
        }
        let _ = decode_embedding_request(bytes.as_bytes(), &limits());
        let _ = decode_response(bytes.as_bytes());
        let _ = decode_embedding_response(bytes.as_bytes());
        let _ = ax_providers::openai::decode_error(400, &http::HeaderMap::new(), bytes.as_bytes());
        let mut dec = ax_providers::openai::OpenAiStreamDecoder::new();
        let _ = dec.decode(&SseFrame::data(bytes.clone()));
        let _ = dec.finish();
        // Whatever decodes also encodes, for both kinds, without panicking.
        if let Ok(req) = OpenAiCodec.decode_request(bytes.as_bytes(), DecodeOptions::default()) {
            let mut req = req;
            req.raw = None;
            for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible] {
                let out = encode_request(&req, "m", true, &ProviderConfig::new("p", kind));
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_rejected_not_panicked(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        // A client's garbage is its mistake (invalid_request); an upstream's is a
        // server error; an upstream error keeps its status.
        let e = OpenAiCodec.decode_request(&bytes, DecodeOptions::default()).unwrap_err();
        prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = decode_embedding_request(&bytes, &limits()).unwrap_err();
        prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = decode_response(&bytes).unwrap_err();
        prop_assert!(
            e.code == ErrorCode::ServerError || serde_json::from_slice::<Value>(&bytes).is_ok(),
            "{:?}", e
        );
        let e = ax_providers::openai::decode_error(500, &http::HeaderMap::new(), &bytes);
        prop_assert_eq!(e.upstream_status, Some(500));
        prop_assert!(e.code.is_retryable(), "{:?}", e);
    }
}

/// The default request-shape limits.
fn limits() -> ax_core::RequestLimits {
    ax_core::RequestLimits::default()
}
