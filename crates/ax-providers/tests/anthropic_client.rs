//! The client side of the Anthropic codec: decoding what clients send (API docs and SDK
//! request examples), precise rejections, the same-format fast path, thinking blocks
//! and their signatures, tool rounds, and no panics on any input.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or decoder output should fail the test loudly"
)]

use ax_core::{
    ChatRequest, ContentPart, DocumentSource, ErrorCode, FinishReason, GatewayError, ImageSource,
    Message, ProviderKind, ReasoningConfig, RequestMetadata, ResponseFormat, Role, ToolChoice,
};
use ax_providers::anthropic::{AnthropicCodec, decode_response, encode_request};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

fn decode(body: &Value) -> Result<ChatRequest, GatewayError> {
    AnthropicCodec.decode_request(body.to_string().as_bytes(), DecodeOptions::default())
}

fn cfg() -> ProviderConfig {
    ProviderConfig::new("claude", ProviderKind::Anthropic)
}

fn sent(req: &ChatRequest, stream: bool) -> Value {
    serde_json::from_slice(&encode_request(req, "claude-sonnet-4-5", stream, &cfg()).unwrap())
        .unwrap()
}

#[test]
fn sdk_readme_example() {
    // anthropic-sdk-python README: messages.create(max_tokens=1024, messages=[...], model=...)
    let r = decode(&json!({
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello, Claude"}],
        "model": "claude-sonnet-4-5-20250929"
    }))
    .unwrap();
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    assert_eq!(r.params.max_tokens, Some(1024));
    assert_eq!(r.messages, vec![Message::text(Role::User, "Hello, Claude")]);
    assert!(!r.stream && !r.include_usage);
    assert_eq!(
        r.raw.as_ref().unwrap().format,
        ax_core::WireFormat::Anthropic
    );
}

#[test]
fn system_string_and_blocks() {
    let r = decode(&json!({"model": "m", "max_tokens": 5, "system": "be brief",
        "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    assert_eq!(r.messages[0], Message::text(Role::System, "be brief"));
    let r = decode(&json!({"model": "m", "max_tokens": 5,
        "system": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}],
        "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    assert_eq!(r.messages[0].role, Role::System);
    assert_eq!(
        r.messages[0].content,
        vec![ContentPart::text("a"), ContentPart::text("b")]
    );
    assert_eq!(r.system_text().as_deref(), Some("ab"));
}

#[test]
fn docs_multi_turn_and_images() {
    // Messages API docs, "Vision": a base64 image and a URL image before the question.
    let r = decode(&json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "Hello there."},
            {"role": "assistant", "content": "Hi, I'm Claude. How can I help you?"},
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
                {"type": "image", "source": {"type": "file", "file_id": "file_011"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
                {"type": "text", "text": "Compare these images."}
            ]}
        ]
    }))
    .unwrap();
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.messages[1].role, Role::Assistant);
    assert_eq!(
        r.messages[2].content,
        vec![
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/jpeg".into(),
                    data: "/9j/4AAQSkZJRg==".into()
                },
                detail: None
            },
            ContentPart::Image {
                source: ImageSource::Url {
                    url: "https://upload.wikimedia.org/a.jpg".into()
                },
                detail: None
            },
            // `file` sources have no unified form (fast path only); documents do.
            ContentPart::Document {
                source: DocumentSource::Text { text: "x".into() },
                title: None
            },
            ContentPart::text("Compare these images."),
        ]
    );
    assert_eq!(r.dropped_fields, ["messages[2].content[2].source (file)"]);
}

/// The SDK's tool runner round (tests/lib/tools/…/a8ac789b…json, second request).
fn tool_round() -> Value {
    json!({
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "What's the weather in SF in Celsius?"},
            {"role": "assistant", "content": [
                {"id": "toolu_013DU6hV4C1M8dJ32ybQFAFi", "input": {"location": "SF", "units": "c"},
                 "name": "get_weather", "type": "tool_use", "caller": {"type": "direct"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_013DU6hV4C1M8dJ32ybQFAFi",
                 "content": "{\"location\": \"SF\", \"temperature\": \"20\\u00b0C\", \"condition\": \"Sunny\"}"}
            ]}
        ],
        "model": "claude-haiku-4-5",
        "tools": [{
            "name": "get_weather", "description": "",
            "input_schema": {"additionalProperties": false, "properties": {"location": {"title": "Location", "type": "string"},
                "units": {"enum": ["c", "f"], "title": "Units", "type": "string"}}, "required": ["location", "units"], "type": "object"}
        }]
    })
}

#[test]
fn sdk_tool_round() {
    let r = decode(&tool_round()).unwrap();
    assert_eq!(
        r.messages[1].content,
        vec![ContentPart::ToolCall {
            id: "toolu_013DU6hV4C1M8dJ32ybQFAFi".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"SF","units":"c"}"#.into(),
        }]
    );
    // The result is its own tool message, named after the call it answers.
    assert_eq!(
        r.messages[2],
        Message {
            role: Role::Tool,
            content: vec![ContentPart::ToolResult {
                tool_call_id: "toolu_013DU6hV4C1M8dJ32ybQFAFi".into(),
                name: Some("get_weather".into()),
                content: vec![ContentPart::text(
                    r#"{"location": "SF", "temperature": "20\u00b0C", "condition": "Sunny"}"#
                )],
                is_error: false,
            }],
            name: None,
        }
    );
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.tools[0].description.as_deref(), Some(""));
    assert_eq!(
        r.tools[0].parameters["required"],
        json!(["location", "units"])
    );
}

#[test]
fn user_turn_with_results_and_text_splits_and_merges_back() {
    let r = decode(&json!({"model": "m", "max_tokens": 9, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "a", "name": "f", "input": {}},
            {"type": "tool_use", "id": "b", "name": "g", "input": {"k": [1, 2]}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "1"}, {"type": "text", "text": "2"}]},
            {"type": "tool_result", "tool_use_id": "b", "is_error": true},
            {"type": "text", "text": "thanks"}
        ]}
    ]}))
    .unwrap();
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::User
        ]
    );
    assert!(matches!(
        &r.messages[3].content[0],
        ContentPart::ToolResult { name: Some(n), is_error: true, content, .. } if n == "g" && content.is_empty()
    ));
    // Translated back (as if the client spoke another format), the results and the text
    // are one user turn again, in order.
    let mut translated = r.clone();
    translated.raw = None;
    let body = sent(&translated, false);
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "1"}, {"type": "text", "text": "2"}]},
            {"type": "tool_result", "tool_use_id": "b", "is_error": true},
            {"type": "text", "text": "thanks"}
        ]})
    );
    assert_eq!(
        body["messages"][1]["content"][1]["input"],
        json!({"k": [1, 2]})
    );
}

#[test]
fn parameters_metadata_and_thinking() {
    let r = decode(&json!({
        "model": "claude-sonnet-4-5", "max_tokens": 20000, "stream": true,
        "messages": [{"role": "user", "content": "What is 27 * 453?"}],
        "thinking": {"type": "enabled", "budget_tokens": 16000},
        "stop_sequences": ["\n\nHuman:"], "temperature": 1, "top_p": 0.99, "top_k": 5,
        "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "tools": [{"name": "calc", "input_schema": {"type": "object"}},
                  {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "service_tier": "auto"
    }))
    .unwrap();
    assert!(r.stream && r.include_usage);
    assert_eq!(
        r.reasoning,
        Some(ReasoningConfig {
            budget_tokens: Some(16000),
            effort: Some("high".into())
        })
    );
    assert_eq!(r.params.stop, vec!["\n\nHuman:".to_owned()]);
    assert_eq!(
        (r.params.temperature, r.params.top_p, r.params.top_k),
        (Some(1.0), Some(0.99), Some(5))
    );
    assert_eq!(
        r.metadata.user_id.as_deref(),
        Some("13803d75-b4b5-4c3e-b2a2-6f21399b021b")
    );
    assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(r.parallel_tool_calls, Some(false));
    // The server tool has no unified form.
    assert_eq!(r.tools.len(), 1);
    assert!(matches!(
        r.response_format,
        Some(ResponseFormat::JsonSchema { ref name, .. }) if name == "response"
    ));
    // The header's user id wins over the body's.
    let opts = DecodeOptions {
        metadata: RequestMetadata {
            user_id: Some("from-header".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let body = json!({"model": "m", "max_tokens": 1, "metadata": {"user_id": "body"},
        "messages": [{"role": "user", "content": "x"}]});
    let r = AnthropicCodec
        .decode_request(body.to_string().as_bytes(), opts)
        .unwrap();
    assert_eq!(r.metadata.user_id.as_deref(), Some("from-header"));
    // Adaptive thinking: on, budget chosen by the model.
    let r = decode(
        &json!({"model": "m", "max_tokens": 1, "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap();
    assert_eq!(
        r.reasoning,
        Some(ReasoningConfig {
            budget_tokens: None,
            effort: None
        })
    );
    let r = decode(
        &json!({"model": "m", "max_tokens": 1, "thinking": {"type": "disabled"},
        "messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap();
    assert_eq!(r.reasoning, None);
}

#[test]
fn tool_choice_forms() {
    let base = |choice: Value| {
        decode(
            &json!({"model": "m", "max_tokens": 1, "tool_choice": choice,
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "x"}]}),
        )
    };
    assert_eq!(
        base(json!({"type": "any"})).unwrap().tool_choice,
        Some(ToolChoice::Required)
    );
    assert_eq!(
        base(json!({"type": "none"})).unwrap().tool_choice,
        Some(ToolChoice::None)
    );
    assert_eq!(
        base(json!({"type": "tool", "name": "f"}))
            .unwrap()
            .tool_choice,
        Some(ToolChoice::Function("f".into()))
    );
    let e = base(json!({"type": "sometimes"})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tool_choice.type"));
    let e = base(json!({"type": "tool"})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tool_choice.name"));
}

#[test]
fn rejections_name_the_field() {
    let ok =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let with = |path: &[&str], v: Value| {
        let mut body = ok.clone();
        let mut slot = &mut body;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                if v.is_null() {
                    slot.as_object_mut().unwrap().remove(*key);
                } else {
                    slot[*key] = v.clone();
                }
                break;
            }
            slot = &mut slot[*key];
        }
        decode(&body).unwrap_err()
    };
    let cases: Vec<(GatewayError, &str, &str)> = vec![
        (
            with(&["max_tokens"], Value::Null),
            "max_tokens",
            "is required",
        ),
        (
            with(&["max_tokens"], json!(-1)),
            "max_tokens",
            "non-negative",
        ),
        (
            with(&["max_tokens"], json!(1e300)),
            "max_tokens",
            "non-negative integer",
        ),
        (
            with(&["max_tokens"], json!(u64::MAX)),
            "max_tokens",
            "at most",
        ),
        (
            with(&["max_tokens"], json!("10")),
            "max_tokens",
            "expected an integer",
        ),
        (with(&["model"], Value::Null), "model", "is required"),
        (with(&["model"], json!(5)), "model", "expected a string"),
        (with(&["messages"], json!([])), "messages", "at least one"),
        (
            with(&["messages"], json!({"role": "user"})),
            "messages",
            "expected an array",
        ),
        (
            with(&["messages"], json!([{"role": "tool", "content": "x"}])),
            "messages[0].role",
            "unknown role `tool`",
        ),
        (
            with(&["messages"], json!([{"role": "user"}])),
            "messages[0].content",
            "is required",
        ),
        (
            with(&["messages"], json!([{"role": "user", "content": 7}])),
            "messages[0].content",
            "expected a string or an array",
        ),
        (
            with(
                &["messages"],
                json!([{"role": "user", "content": [{"text": "x"}]}]),
            ),
            "messages[0].content[0].type",
            "is required",
        ),
        (
            with(
                &["messages"],
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}]),
            ),
            "messages[0].content[0].source.media_type",
            "is required",
        ),
        (
            with(
                &["messages"],
                json!([{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": "{}"}]}]),
            ),
            "messages[0].content[0].input",
            "expected an object",
        ),
        (
            with(
                &["messages"],
                json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": 1}]}]),
            ),
            "messages[0].content[0].tool_use_id",
            "expected a string",
        ),
        (
            with(&["temperature"], json!("hot")),
            "temperature",
            "expected a number",
        ),
        (
            with(&["top_k"], json!(1.5)),
            "top_k",
            "non-negative integer",
        ),
        (
            with(&["stream"], json!("yes")),
            "stream",
            "expected a boolean",
        ),
        (
            with(&["stop_sequences"], json!(["a", 1])),
            "stop_sequences[1]",
            "expected a string",
        ),
        (
            with(&["system"], json!(5)),
            "system",
            "expected a string or an array",
        ),
        (
            with(&["system"], json!([{"type": "image"}])),
            "system[0].type",
            "must be `text`",
        ),
        (
            with(&["metadata"], json!("u")),
            "metadata",
            "expected an object",
        ),
        (
            with(&["thinking"], json!({"type": "enabled"})),
            "thinking.budget_tokens",
            "is required",
        ),
        (
            with(&["tools"], json!([{"input_schema": {}}])),
            "tools[0].name",
            "is required",
        ),
        (
            with(&["tools"], json!([{"name": "f", "input_schema": []}])),
            "tools[0].input_schema",
            "JSON Schema object",
        ),
    ];
    for (e, param, fragment) in cases {
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{param}");
        assert_eq!(e.param.as_deref(), Some(param), "{}", e.message);
        assert!(e.message.contains(fragment), "{param}: {}", e.message);
        assert!(
            e.message.starts_with(&format!("`{param}`")),
            "{}",
            e.message
        );
    }
    for bad in [
        &b"not json"[..],
        b"[1,2]",
        b"",
        b"{\"model\": \"m\"",
        b"null",
    ] {
        let e = AnthropicCodec
            .decode_request(bad, DecodeOptions::default())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
}

#[test]
fn fast_path_keeps_unknown_fields_and_rewrites_only_the_model() {
    let body = json!({
        "model": "claude/claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}},
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}, "citations": {"enabled": true}}
        ]}],
        "container": "container_011CYVPF4iP8oD6Vsz1NhVih",
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}],
        "a_field_from_the_future": {"nested": [1, 2, {"deep": null}]},
        "temperature": 0.3,
        "stream": true
    });
    let req = decode(&body).unwrap();
    // Streaming: the body as sent, model rewritten.
    let mut expected = body.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(sent(&req, true), expected);
    // Not streaming (the adapter asked for one answer): `stream` removed, nothing else.
    expected.as_object_mut().unwrap().remove("stream");
    assert_eq!(sent(&req, false), expected);
}

#[test]
fn fast_path_drops_thinking_blocks_without_a_signature() {
    // ax gives an Anthropic client unsigned reasoning (from another provider) as a
    // thinking block with `"signature": ""`; sent back as it is, Anthropic would refuse
    // the whole request. Only those blocks go; the rest of the body is unchanged.
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "unsigned", "signature": ""},
                {"type": "thinking", "thinking": "no signature at all"},
                {"type": "thinking", "thinking": "signed", "signature": "EqQBCgIYAhIM"},
                {"type": "text", "text": "Sunny."}
            ]},
            {"role": "user", "content": "Thanks"}
        ],
        "a_field_from_the_future": 1
    });
    let req = decode(&body).unwrap();
    let mut expected = body.clone();
    expected["messages"][1]["content"] = json!([
        {"type": "thinking", "thinking": "signed", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Sunny."}
    ]);
    assert_eq!(sent(&req, false), expected);
}

#[test]
fn thinking_block_decode_then_encode_keeps_the_signature() {
    // A signature-bearing assistant turn, replayed in the next request, translated to
    // Anthropic (e.g. the conversation went through another format's client): the
    // `thinking` block and its signature must arrive byte-exact and first.
    let signature = "EuYBCkQYAiJAgCs1le6/Pol5Z4/JMomVOouGrWdhYNsH3ukzUECbB6iWrSQtsQuRHJID6lWV+/+==";
    let answer = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "I need the weather.\n\nCall the tool.", "signature": signature},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 20}
    });
    let resp = decode_response(answer.to_string().as_bytes()).unwrap();
    assert_eq!(resp.finish_reason, FinishReason::ToolCalls);
    // The client gets the blocks back unchanged…
    let client_view: Value = serde_json::from_slice(
        &AnthropicCodec.encode_response(&ax_core::ChatRequest::default(), &resp),
    )
    .unwrap();
    assert_eq!(client_view["content"], answer["content"]);
    // …and replays them in its next request, which reaches Anthropic unchanged.
    let next = ChatRequest {
        messages: vec![
            Message::text(Role::User, "Weather in Paris?"),
            Message {
                role: Role::Assistant,
                content: resp.content.clone(),
                name: None,
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: "toolu_1".into(),
                    name: None,
                    content: vec![ContentPart::text("18C")],
                    is_error: false,
                }],
                name: None,
            },
        ],
        ..Default::default()
    };
    let body = sent(&next, false);
    assert_eq!(body["messages"][1]["content"], answer["content"]);
    // And through the client codec: decode of the replayed body keeps it too.
    let replay = json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": answer["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
    ]});
    let mut decoded = decode(&replay).unwrap();
    assert_eq!(decoded.messages[1].content, resp.content);
    decoded.raw = None;
    assert_eq!(sent(&decoded, false)["messages"], replay["messages"]);
}

#[test]
fn unsigned_reasoning_is_not_replayed_to_anthropic() {
    // Reasoning from an OpenAI-compatible upstream reaches an Anthropic client as a
    // thinking block with an empty signature; replayed, it is dropped, not rejected.
    let req = decode(&json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "deepseek thoughts", "signature": ""},
            {"type": "text", "text": "a"}
        ]},
        {"role": "user", "content": "more"}
    ]}))
    .unwrap();
    assert_eq!(
        req.messages[1].content[0],
        ContentPart::Reasoning {
            text: "deepseek thoughts".into(),
            signature: None,
            redacted: None
        }
    );
    let mut translated = req;
    translated.raw = None;
    assert_eq!(
        sent(&translated, false)["messages"][1],
        json!({"role": "assistant", "content": "a"})
    );
}

#[test]
fn tool_call_arguments_must_be_objects() {
    for (arguments, ok) in [
        (r#"{"a": 1}"#, true),
        ("", true),
        ("  ", true),
        ("not json", false),
        ("[1, 2]", false),
        ("\"text\"", false),
        (r#"{"a": "#, false),
    ] {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::User, "x"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentPart::ToolCall {
                        id: "call_9".into(),
                        name: "lookup".into(),
                        arguments: arguments.into(),
                    }],
                    name: None,
                },
            ],
            ..Default::default()
        };
        match encode_request(&req, "m", false, &cfg()) {
            Ok(body) => {
                assert!(ok, "{arguments:?} accepted");
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert!(v["messages"][1]["content"][0]["input"].is_object());
            }
            Err(e) => {
                assert!(!ok, "{arguments:?} rejected: {}", e.message);
                assert_eq!(e.code, ErrorCode::InvalidRequest);
                assert_eq!(
                    e.param.as_deref(),
                    Some("messages[1].tool_calls[0].arguments")
                );
                assert!(e.message.contains("call_9") && e.message.contains("lookup"));
            }
        }
    }
}

#[test]
fn tool_results_go_first_in_their_user_turn() {
    // A Gemini-style user turn with text before the function responses.
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "q"),
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                }],
                name: None,
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("here you go"),
                    ContentPart::ToolResult {
                        tool_call_id: "c1".into(),
                        name: Some("f".into()),
                        content: vec![ContentPart::text("42")],
                        is_error: false,
                    },
                ],
                name: None,
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        sent(&req, false)["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "c1", "content": "42"},
            {"type": "text", "text": "here you go"}
        ])
    );
}

#[test]
fn translation_merges_turns_and_handles_thinking_budgets() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "a"),
            Message::text(Role::User, "b"),
            Message::text(Role::Assistant, ""),
            Message::text(Role::User, "c"),
        ],
        params: ax_core::GenerationParams {
            temperature: Some(0.5),
            top_k: Some(3),
            ..Default::default()
        },
        reasoning: Some(ReasoningConfig {
            budget_tokens: Some(8000),
            effort: None,
        }),
        tool_choice: Some(ToolChoice::Required),
        ..Default::default()
    };
    let body = sent(&req, false);
    // Empty assistant text dropped, so all user content merges into one turn.
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}, {"type": "text", "text": "c"}]}])
    );
    // Default max_tokens raised above the budget; sampling params thinking rejects are
    // not sent; no tool_choice without tools.
    assert_eq!(body["max_tokens"], 8000 + 4096);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 8000})
    );
    for absent in ["temperature", "top_k", "tool_choice"] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
    // Small budgets are raised to Anthropic's minimum; zero means no thinking.
    let mut small = req.clone();
    small.reasoning = Some(ReasoningConfig {
        budget_tokens: Some(100),
        effort: None,
    });
    assert_eq!(sent(&small, false)["thinking"]["budget_tokens"], 1024);
    small.reasoning = Some(ReasoningConfig {
        budget_tokens: Some(0),
        effort: Some("low".into()),
    });
    let body = sent(&small, false);
    assert!(body.get("thinking").is_none() && body.get("output_config").is_none());
    assert_eq!(body["temperature"], 0.5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary JSON-ish bytes never panic the decoder.
    #[test]
    fn arbitrary_bodies_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = AnthropicCodec.decode_request(&data, DecodeOptions::default());
    }

    /// Structurally plausible bodies with wrong types in random places never panic, and
    /// any rejection is an invalid_request naming a field or the body.
    #[test]
    fn wrong_types_never_panic(
        field in proptest::sample::select(vec!["model", "max_tokens", "messages", "system", "tools",
            "tool_choice", "thinking", "metadata", "stop_sequences", "temperature", "top_k", "stream",
            "output_config"]),
        value in prop_oneof![
            Just(json!(null)), Just(json!(true)), Just(json!(-1)), Just(json!(1e308)),
            Just(json!(u64::MAX)), Just(json!("s")), Just(json!([])), Just(json!({})),
            Just(json!([{"role": "user", "content": [{"type": "tool_result"}]}])),
            Just(json!([{"type": "text"}])), Just(json!({"type": "tool"})),
        ],
    ) {
        let mut body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
        body[field] = value;
        if let Err(e) = decode(&body) {
            prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
            prop_assert!(e.message.contains('`') || e.message.contains("body"), "{}", e.message);
        }
    }
}
