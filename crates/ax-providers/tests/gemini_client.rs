//! The client side of the Gemini codec: request bodies as google-genai and hand-written
//! clients send them (bodies written here, in the shape python-genai's
//! `_GenerateContentParameters_to_mldev` produces), precise rejections, and no panic on
//! any input.

use ax_core::{
    ChatRequest, ContentPart, ErrorCode, GatewayError, ImageSource, Message, ProviderKind,
    ReasoningConfig, RequestMetadata, ResponseFormat, Role, ToolChoice, WireFormat,
};
use ax_providers::gemini::{GeminiCodec, encode_request};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

fn opts(model: &str, stream: bool) -> DecodeOptions {
    DecodeOptions {
        path_model: Some(model.into()),
        path_stream: Some(stream),
        metadata: RequestMetadata::default(),
        ..DecodeOptions::default()
    }
}

fn decode(body: &Value) -> Result<ChatRequest, GatewayError> {
    GeminiCodec.decode_request(body.to_string().as_bytes(), opts("gemini-2.0-flash", false))
}

fn sdk_body() -> Value {
    json!({
        "contents": [
            {"parts": [{"text": "What's the weather in Boston?"}], "role": "user"}
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
        "tools": [{"functionDeclarations": [{
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "OBJECT", "properties": {
                "city": {"type": "STRING", "description": "City"},
                "days": {"type": "ARRAY", "items": {"type": "INTEGER"}}
            }, "required": ["city"]}
        }]}, {"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "generationConfig": {
            "temperature": 0.5, "topP": 0.9, "topK": 40.0, "maxOutputTokens": 100,
            "stopSequences": ["STOP!"], "seed": 5, "presencePenalty": 0.0, "frequencyPenalty": 0.25,
            "candidateCount": 1,
            "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": false}
        }
    })
}

#[test]
fn sdk_request() {
    let req = GeminiCodec
        .decode_request(
            sdk_body().to_string().as_bytes(),
            DecodeOptions {
                path_model: Some("openai/gpt-4o-mini".into()),
                path_stream: Some(true),
                metadata: RequestMetadata {
                    user_id: Some("u1".into()),
                    ..Default::default()
                },
                ..DecodeOptions::default()
            },
        )
        .unwrap();
    assert_eq!(req.model, "openai/gpt-4o-mini");
    assert!(req.stream && req.include_usage);
    assert_eq!(req.metadata.user_id.as_deref(), Some("u1"));
    assert_eq!(
        req.messages,
        vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "What's the weather in Boston?"),
        ]
    );
    assert_eq!(req.tools.len(), 1);
    assert_eq!(
        req.tools[0].parameters,
        json!({"type": "object", "properties": {
            "city": {"type": "string", "description": "City"},
            "days": {"type": "array", "items": {"type": "integer"}}
        }, "required": ["city"]})
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Function("get_weather".into()))
    );
    let p = &req.params;
    assert_eq!(
        (p.temperature, p.top_p, p.top_k, p.max_tokens, p.seed),
        (Some(0.5), Some(0.9), Some(40), Some(100), Some(5))
    );
    assert_eq!(p.stop, vec!["STOP!".to_owned()]);
    assert_eq!(
        (p.presence_penalty, p.frequency_penalty),
        (Some(0.0), Some(0.25))
    );
    assert_eq!(
        req.reasoning,
        Some(ReasoningConfig {
            budget_tokens: Some(0),
            effort: None
        })
    );
    let raw = req.raw.as_ref().unwrap();
    assert_eq!(raw.format, WireFormat::Gemini);
    assert_eq!(Value::Object(raw.body.clone()), sdk_body());
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_default()
}

/// Bodies recorded from google-genai 3.4.0 (see `fixtures/gemini/SOURCES.md`).
#[test]
fn bodies_recorded_from_the_sdk() -> Result<(), GatewayError> {
    let req = GeminiCodec.decode_request(
        &fixture("client_request_sdk.json"),
        opts("gemini-2.5-flash", false),
    )?;
    assert_eq!(
        req.messages,
        vec![
            Message::text(Role::System, "be brief"),
            Message::text(Role::User, "What is the weather in Paris?"),
        ]
    );
    assert_eq!(
        req.tools[0].parameters,
        json!({"properties": {"location": {"type": "string"}, "days": {"items": {"type": "integer"}, "type": "array"}},
            "required": ["location"], "type": "object"})
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Function("get_weather".into()))
    );
    assert_eq!(
        (req.params.top_k, req.params.max_tokens, req.params.seed),
        (Some(40), Some(64), Some(3))
    );
    // `thinkingConfig` arrives with snake_case keys inside a camelCase object.
    assert_eq!(
        req.reasoning,
        Some(ReasoningConfig {
            budget_tokens: Some(1024),
            effort: None
        })
    );

    let req = GeminiCodec.decode_request(
        &fixture("client_request_sdk_history.json"),
        opts("gemini-2.5-flash", false),
    )?;
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::User]);
    assert_eq!(
        req.messages[1].content,
        vec![
            ContentPart::Reasoning {
                text: "Need the weather.".into(),
                signature: Some("EqQBCgIYAhIM".into()),
                redacted: None
            },
            ContentPart::text("Let me check."),
            ContentPart::ToolCall {
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ContentPart::ToolCall {
                id: "toolu_02".into(),
                name: "get_time".into(),
                arguments: "{}".into()
            },
        ]
    );
    // The SDK's function response has no id: it answers the call of that name.
    assert_eq!(
        req.messages[2].content,
        vec![ContentPart::ToolResult {
            tool_call_id: "toolu_01".into(),
            name: Some("get_weather".into()),
            content: vec![ContentPart::text(r#"{"temp_c":21}"#)],
            is_error: false
        }]
    );
    assert_eq!(
        req.messages[3].content,
        vec![
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw==".into()
                },
                detail: None
            },
            ContentPart::Image {
                source: ImageSource::Url {
                    url: "gs://b/c.jpg".into()
                },
                detail: None
            },
        ]
    );
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"properties": {"a": {"type": "string"}}, "type": "object"}),
            strict: None
        })
    );
    Ok(())
}

/// Every key in snake_case, as protobuf JSON parsers also accept.
#[test]
fn snake_case_keys_mean_the_same() {
    let snake = json!({
        "contents": [{"parts": [
            {"text": "Look"},
            {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}},
            {"file_data": {"mime_type": "image/jpeg", "file_uri": "gs://b/cat.jpg"}}
        ]}],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}]}],
        "tool_config": {"function_calling_config": {"mode": "auto"}},
        "generation_config": {"max_output_tokens": 10, "top_k": 3, "stop_sequences": ["x"],
            "response_mime_type": "application/json",
            "response_schema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
            "thinking_config": {"thinking_budget": 512}}
    });
    let camel = json!({
        "contents": [{"parts": [
            {"text": "Look"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://b/cat.jpg"}}
        ]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 10, "topK": 3, "stopSequences": ["x"],
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
            "thinkingConfig": {"thinkingBudget": 512}}
    });
    let mut a = decode(&snake).unwrap();
    let mut b = decode(&camel).unwrap();
    a.raw = None;
    b.raw = None;
    assert_eq!(a, b);
    assert_eq!(
        b.messages[1].content,
        vec![
            ContentPart::text("Look"),
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                },
                detail: None
            },
            ContentPart::Image {
                source: ImageSource::Url {
                    url: "gs://b/cat.jpg".into()
                },
                detail: None
            },
        ]
    );
    assert_eq!(b.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(
        b.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            strict: None
        })
    );
}

#[test]
fn multi_turn_tools_without_ids_are_matched_by_name() {
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome, and the time?"}]},
        {"role": "model", "parts": [
            {"text": "Thinking about it", "thought": true, "thoughtSignature": "c2lnLXRob3VnaHQ="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLWNhbGw="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            {"functionCall": {"id": "t-1", "name": "get_time", "args": {}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
            {"functionResponse": {"id": "t-1", "name": "get_time", "response": {"error": "no clock"}}},
            {"text": "Thanks!"}
        ]}
    ]});
    let req = decode(&body).unwrap();
    assert_eq!(req.messages.len(), 4);
    let model = &req.messages[1];
    assert_eq!(model.role, Role::Assistant);
    let ids: Vec<&str> = model
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::ToolCall { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 3);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[2], "t-1");
    assert_eq!(
        model.content[0],
        ContentPart::Reasoning {
            text: "Thinking about it".into(),
            signature: Some("c2lnLXRob3VnaHQ=".into()),
            redacted: None
        }
    );
    assert_eq!(
        model.content[2],
        ContentPart::Reasoning {
            text: String::new(),
            signature: Some("c2lnLWNhbGw=".into()),
            redacted: None
        }
    );
    let tool = &req.messages[2];
    assert_eq!(tool.role, Role::Tool);
    assert_eq!(
        tool.content,
        vec![
            ContentPart::ToolResult {
                tool_call_id: ids[0].into(),
                name: Some("get_weather".into()),
                content: vec![ContentPart::text("sunny")],
                is_error: false
            },
            ContentPart::ToolResult {
                tool_call_id: ids[1].into(),
                name: Some("get_weather".into()),
                content: vec![ContentPart::text(r#"{"temp":20}"#)],
                is_error: false
            },
            ContentPart::ToolResult {
                tool_call_id: "t-1".into(),
                name: Some("get_time".into()),
                content: vec![ContentPart::text("no clock")],
                is_error: true
            },
        ]
    );
    assert_eq!(req.messages[3], Message::text(Role::User, "Thanks!"));

    // Translated back for a Gemini upstream (as if from another format): ids Gemini
    // did not issue stay home (this client's `t-1` included), signatures return to
    // their parts.
    let mut translated = req.clone();
    translated.raw = None;
    let out: Value = serde_json::from_slice(&encode_request(
        &translated,
        "gemini-2.5-flash",
        false,
        &ProviderConfig::new("gemini", ProviderKind::Gemini),
    ))
    .unwrap();
    let mut expected = body.clone();
    for (c, p) in [(1, 3), (2, 2)] {
        let part = &mut expected["contents"][c]["parts"][p];
        for key in ["functionCall", "functionResponse"] {
            if let Some(Value::Object(o)) = part.get_mut(key) {
                o.remove("id");
            }
        }
    }
    // Merged: the results and "Thanks!" were one user content already.
    expected["contents"][2]["parts"][1]["functionResponse"]["response"] = json!({"temp": 20});
    assert_eq!(out["contents"], expected["contents"]);
}

#[test]
fn response_formats_and_reasoning_levels() {
    let with = |g: Value| {
        decode(&json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": g})).unwrap()
    };
    assert_eq!(
        with(json!({"responseMimeType": "application/json"})).response_format,
        Some(ResponseFormat::JsonObject)
    );
    assert_eq!(
        with(json!({"responseMimeType": "text/plain"})).response_format,
        Some(ResponseFormat::Text)
    );
    assert_eq!(
        with(json!({"responseMimeType": "text/x.enum"})).response_format,
        None
    );
    let r = with(
        json!({"responseMimeType": "application/json", "responseJsonSchema": {"type": "object", "additionalProperties": false}}),
    );
    assert_eq!(
        r.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object", "additionalProperties": false}),
            strict: None
        })
    );
    assert_eq!(
        with(json!({"thinkingConfig": {"thinkingBudget": -1}})).reasoning,
        None
    );
    assert_eq!(
        with(json!({"thinkingConfig": {"thinkingLevel": "HIGH"}})).reasoning,
        Some(ReasoningConfig {
            budget_tokens: None,
            effort: Some("high".into())
        })
    );
    let modes = [
        ("NONE", vec![], Some(ToolChoice::None)),
        ("ANY", vec!["a", "b"], Some(ToolChoice::Required)),
        ("VALIDATED", vec![], Some(ToolChoice::Auto)),
        ("MODE_UNSPECIFIED", vec![], None),
    ];
    for (mode, names, want) in modes {
        let r = decode(&json!({"contents": [{"parts": [{"text": "x"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": mode, "allowedFunctionNames": names}}}))
        .unwrap();
        assert_eq!(r.tool_choice, want, "{mode}");
    }
}

#[test]
fn model_from_the_body_when_the_path_has_none() {
    let r = GeminiCodec
        .decode_request(
            br#"{"model": "models/gemini-x", "contents": [{"parts": [{"text": "x"}]}]}"#,
            DecodeOptions::default(),
        )
        .unwrap();
    assert_eq!((r.model.as_str(), r.stream), ("gemini-x", false));
    let e = GeminiCodec
        .decode_request(
            br#"{"contents": [{"parts": [{"text": "x"}]}]}"#,
            DecodeOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("model"));
}

#[test]
fn rejections_name_the_field() {
    let rows: Vec<(Value, &str, &str)> = vec![
        (json!({}), "contents", "is required"),
        (json!({"contents": []}), "contents", "at least one"),
        (json!({"contents": {}}), "contents", "expected a sequence"),
        (
            json!({"contents": [5]}),
            "contents[0]",
            "expected a Content object",
        ),
        (
            json!({"contents": [{"parts": ["hi"]}]}),
            "contents[0].parts[0]",
            "expected a Part object",
        ),
        (
            json!({"contents": [{"role": "system", "parts": []}]}),
            "contents[0].role",
            "unknown role `system`",
        ),
        (
            json!({"contents": [{"parts": [{"text": "a"}, {"text": 5}]}]}),
            "contents[0].parts[1].text",
            "expected a string",
        ),
        (
            json!({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}),
            "contents[0].parts[0].functionCall.name",
            "is required",
        ),
        (
            json!({"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}),
            "contents[0].parts[0].functionCall.args",
            "expected an object",
        ),
        (
            json!({"contents": [{"parts": [{"functionResponse": {"response": {}}}]}]}),
            "contents[0].parts[0].functionResponse.name",
            "is required",
        ),
        (
            json!({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]}),
            "contents[0].parts[0].inlineData.data",
            "is required",
        ),
        (
            json!({"contents": [{"parts": [{"fileData": {}}]}]}),
            "contents[0].parts[0].fileData.fileUri",
            "is required",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 5_000_000_000u64}}),
            "generationConfig.maxOutputTokens",
            "at most 4294967295",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topK": -1}}),
            "generationConfig.topK",
            "non-negative",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topK": 1.5}}),
            "generationConfig.topK",
            "non-negative integer",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}),
            "generationConfig.temperature",
            "expected f64",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"seed": 1e300}}),
            "generationConfig.seed",
            "64-bit integer",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": 5}),
            "systemInstruction",
            "expected a Content object or a string",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": {"parts": [{"text": 1}]}}),
            "systemInstruction.parts[0].text",
            "expected a string",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{"description": "d"}]}]}),
            "tools[0].functionDeclarations[0].name",
            "is required",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{"name": "f", "parameters": "object"}]}]}),
            "tools[0].functionDeclarations[0].parameters",
            "expected a schema object",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
            "toolConfig.functionCallingConfig.mode",
            "unknown value `SOMETIMES`",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseSchema": []}}),
            "generationConfig.responseSchema",
            "expected a schema object",
        ),
    ];
    for (body, param, msg) in rows {
        let e = decode(&body).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{body}");
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        assert!(e.message.contains(msg), "{body}: {}", e.message);
        assert!(e.message.contains(param), "{body}: {}", e.message);
    }
    for bad in [&b"not json"[..], b"[1,2]", b"\"x\"", b""] {
        let e = GeminiCodec
            .decode_request(bad, opts("m", false))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
}

#[test]
fn client_error_and_response_shapes() {
    let e = GatewayError::new(ErrorCode::NotFound, "unknown model `x`");
    let v: Value = serde_json::from_slice(&GeminiCodec.encode_error(&e)).unwrap();
    assert_eq!(v["error"]["code"], 404);
    assert_eq!(v["error"]["status"], "NOT_FOUND");
    assert_eq!(v["error"]["message"], "unknown model `x`");
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z_]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("contents".to_owned()),
                        Just("parts".to_owned()),
                        Just("role".to_owned()),
                        Just("text".to_owned()),
                        Just("functionCall".to_owned()),
                        Just("functionResponse".to_owned()),
                        Just("name".to_owned()),
                        Just("args".to_owned()),
                        Just("inlineData".to_owned()),
                        Just("generationConfig".to_owned()),
                        Just("topK".to_owned()),
                        Just("tools".to_owned()),
                        Just("functionDeclarations".to_owned()),
                        Just("parameters".to_owned()),
                        Just("type".to_owned()),
                        Just("systemInstruction".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(v in json_value()) {
        let body = json!({"contents": [v.clone()], "generationConfig": v.clone(), "tools": [v.clone()]});
        for b in [v, body] {
            let decoded = decode(&b);
            // A refusal is always the client's mistake, named as such.
            if let Err(e) = &decoded {
                prop_assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.message);
            }
            if let Ok(req) = decoded {
                // Whatever decodes also encodes, both ways.
                let mut translated = req.clone();
                translated.raw = None;
                let _ = encode_request(&translated, "m", true, &ProviderConfig::new("g", ProviderKind::Gemini));
                let _ = encode_request(&req, "m", false, &ProviderConfig::new("g", ProviderKind::Gemini));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        // Random bytes are never a request: refused as the client's mistake.
        let e = GeminiCodec.decode_request(&data, opts("m", true)).unwrap_err();
        prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
}
