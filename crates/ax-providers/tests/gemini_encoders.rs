//! Snapshots of every Gemini encoder: upstream request (translation and fast path),
//! complete response, stream (event sequences as OpenAI, Anthropic, Gemini and the mock
//! provider produce them, and a mid-stream error), and error bodies.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use std::time::Duration;

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError,
    GenerationParams, ImageSource, Message, ProviderKind, ReasoningConfig, ResponseFormat, Role,
    StreamEvent, ToolChoice, ToolDefinition, Usage,
};
use ax_providers::gemini::{GeminiCodec, GeminiStreamDecoder, encode_request};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig, SseDecoder, StreamDecoder};
use serde_json::json;

mod common;
use common::canon;

fn config() -> ProviderConfig {
    let mut cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
    cfg.safety_threshold = Some("BLOCK_ONLY_HIGH".into());
    cfg
}

fn rich_request() -> ChatRequest {
    ChatRequest {
        model: "gemini/gemini-2.5-flash".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("What is in these images?"),
                    ContentPart::Image {
                        source: ImageSource::Url {
                            url: "https://example.com/a.png".into(),
                        },
                        detail: Some("low".into()),
                    },
                    ContentPart::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo=".into(),
                        },
                        detail: None,
                    },
                    ContentPart::Image {
                        source: ImageSource::Url {
                            url: "data:image/jpeg;base64,/9j/4AAQ".into(),
                        },
                        detail: None,
                    },
                ],
                name: Some("alice".into()),
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    // Not base64, so not a signature Gemini can take: dropped.
                    ContentPart::Reasoning {
                        text: "Look up the weather.".into(),
                        signature: Some("not base64!".into()),
                        redacted: None,
                    },
                    ContentPart::text("Checking."),
                    // An id a Gemini upstream issued: sent back without its mark.
                    ContentPart::ToolCall {
                        id: "gmid_Xy12".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                    // Gemini's signature for that call, carried after it.
                    ContentPart::Reasoning {
                        text: String::new(),
                        signature: Some("c2lnbmF0dXJl".into()),
                        redacted: None,
                    },
                    // A call id this codec synthesized: not sent upstream.
                    ContentPart::ToolCall {
                        id: "call_gx1_0123456789abcdef".into(),
                        name: "get_time".into(),
                        arguments: String::new(),
                    },
                    // Anthropic's opaque reasoning has no Gemini form.
                    ContentPart::Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some("opaque".into()),
                    },
                ],
                name: None,
            },
            // OpenAI style: tool messages without names.
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: "gmid_Xy12".into(),
                    name: None,
                    content: vec![ContentPart::text("sunny, 24C")],
                    is_error: false,
                }],
                name: None,
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: "call_gx1_0123456789abcdef".into(),
                    name: None,
                    content: vec![ContentPart::text(r#"{"time":"12:00"}"#)],
                    is_error: false,
                }],
                name: None,
            },
            // Anthropic style: a result with a name (and an id Gemini cannot take), then
            // more text, in one user turn.
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::ToolResult {
                        tool_call_id: "toolu_01".into(),
                        name: Some("lookup".into()),
                        content: vec![ContentPart::text("not found")],
                        is_error: true,
                    },
                    ContentPart::text("And tomorrow?"),
                ],
                name: None,
            },
            // A system message in the middle goes to systemInstruction as well.
            Message::text(Role::System, "Answer in French."),
        ],
        tools: vec![
            ToolDefinition {
                name: "get_weather".into(),
                description: Some("Weather for a city".into()),
                parameters: json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "city": {"type": "string", "description": "City name"},
                        "unit": {"type": ["string", "null"], "enum": ["c", "f"]}
                    },
                    "required": ["city"]
                }),
                strict: Some(true),
                freeform: None,
            },
            ToolDefinition {
                name: "get_time".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
                strict: None,
                freeform: None,
            },
            ToolDefinition {
                name: "lookup".into(),
                description: Some("Uses $ref".into()),
                parameters: json!({
                    "type": "object",
                    "$defs": {"key": {"type": "string"}},
                    "properties": {"k": {"$ref": "#/$defs/key"}}
                }),
                strict: None,
                freeform: None,
            },
        ],
        tool_choice: Some(ToolChoice::Function("get_weather".into())),
        parallel_tool_calls: Some(false),
        params: GenerationParams {
            temperature: Some(0.2),
            top_p: Some(0.9),
            top_k: Some(40),
            max_tokens: Some(256),
            stop: vec!["END".into()],
            seed: Some(7),
            presence_penalty: Some(0.5),
            frequency_penalty: Some(-0.5),
        },
        response_format: Some(ResponseFormat::JsonSchema {
            name: "weather".into(),
            schema: json!({"type": "object", "properties": {"summary": {"type": "string"}},
                "required": ["summary"], "additionalProperties": false}),
            strict: Some(true),
        }),
        reasoning: Some(ReasoningConfig {
            budget_tokens: Some(1024),
            effort: None,
        }),
        stream: false,
        include_usage: false,
        metadata: Default::default(),
        raw: None,
        ..Default::default()
    }
}

#[test]
fn request_translated_for_gemini() {
    let body = encode_request(&rich_request(), "gemini-2.5-flash", false, &config());
    insta::assert_snapshot!(canon(&body));
}

#[test]
fn request_with_effort_only_and_no_safety() {
    let req = ChatRequest {
        model: "x".into(),
        messages: vec![Message::text(Role::User, "Hi")],
        reasoning: Some(ReasoningConfig {
            budget_tokens: None,
            effort: Some("high".into()),
        }),
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    };
    let body = encode_request(
        &req,
        "gemini-2.5-pro",
        true,
        &ProviderConfig::new("gemini", ProviderKind::Gemini),
    );
    insta::assert_snapshot!(canon(&body));
}

#[test]
fn request_fast_path_keeps_every_field() {
    // A body as google-genai writes it, with fields the unified model cannot carry.
    let client = json!({
        "contents": [{"role": "user", "parts": [{"text": "Hi"}, {"executableCode": {"language": "PYTHON", "code": "print(1)"}}]}],
        "tools": [{"googleSearch": {}}],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"candidateCount": 2, "responseModalities": ["TEXT"], "futureKnob": {"x": 1}},
        "model": "models/client-model"
    });
    let req = GeminiCodec
        .decode_request(
            client.to_string().as_bytes(),
            DecodeOptions {
                path_model: Some("gemini/gemini-2.0-flash".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let body = encode_request(&req, "gemini-2.0-flash", false, &config());
    insta::assert_snapshot!(canon(&body));
}

fn response(content: Vec<ContentPart>, finish: FinishReason) -> ChatResponse {
    ChatResponse {
        id: "resp-1".into(),
        model: "claude-3-5-sonnet".into(),
        created: 1_700_000_000,
        content,
        finish_reason: finish,
        stop_sequence: None,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 40,
            cached_tokens: 60,
            cache_creation_tokens: 10,
            reasoning_tokens: 15,
        },
    }
}

#[test]
fn response_text() {
    let r = response(
        vec![ContentPart::text("Hello!")],
        FinishReason::StopSequence,
    );
    insta::assert_snapshot!(canon(
        &GeminiCodec.encode_response(&ax_core::ChatRequest::default(), &r)
    ));
}

#[test]
fn response_reasoning_and_tool_calls() {
    let r = response(
        vec![
            ContentPart::Reasoning {
                text: "Need the weather.".into(),
                signature: Some("EqQBCgIYAhIM".into()),
                redacted: None,
            },
            ContentPart::text("Let me check."),
            ContentPart::ToolCall {
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
            ContentPart::ToolCall {
                id: "toolu_02".into(),
                name: "get_time".into(),
                arguments: String::new(),
            },
        ],
        FinishReason::ToolCalls,
    );
    insta::assert_snapshot!(canon(
        &GeminiCodec.encode_response(&ax_core::ChatRequest::default(), &r)
    ));
}

fn encode_stream(events: &[StreamEvent], error: Option<GatewayError>) -> String {
    let req = ChatRequest::default();
    let mut enc = GeminiCodec.stream_encoder(&req);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    match error {
        Some(e) => enc.error(&e, &mut out),
        None => enc.finish(&mut out),
    }
    // Nothing after the end.
    let len = out.len();
    enc.finish(&mut out);
    enc.encode(&StreamEvent::TextDelta { text: "x".into() }, &mut out);
    assert_eq!(out.len(), len);
    String::from_utf8(out).unwrap()
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
        created: 1_700_000_001,
    }
}

#[test]
fn stream_from_openai_upstream_with_tool_calls() {
    let events = [
        start("chatcmpl-1", "gpt-4o"),
        StreamEvent::TextDelta {
            text: "Let me check.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_abc".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"ci".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "ty\":\"Paris\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_def".into(),
            name: "get_time".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        // OpenAI's usage chunk comes after the finish.
        StreamEvent::Usage(Usage {
            input_tokens: 20,
            output_tokens: 12,
            ..Default::default()
        }),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_from_anthropic_upstream_with_reasoning() {
    let events = [
        start("msg_01", "claude-sonnet-4"),
        StreamEvent::Usage(Usage {
            input_tokens: 30,
            output_tokens: 1,
            ..Default::default()
        }),
        StreamEvent::ReasoningDelta {
            text: "Thinking".into(),
        },
        StreamEvent::ReasoningDelta {
            text: " harder.".into(),
        },
        StreamEvent::ReasoningSignature {
            signature: "EqQBCgIYAhIM".into(),
        },
        StreamEvent::TextDelta {
            text: "Hello".into(),
        },
        StreamEvent::TextDelta {
            text: " there.".into(),
        },
        StreamEvent::Usage(Usage {
            input_tokens: 30,
            output_tokens: 25,
            ..Default::default()
        }),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_from_mock_provider() {
    let events = [
        start("mock-1", "mock-1"),
        StreamEvent::TextDelta {
            text: "This is ".into(),
        },
        StreamEvent::TextDelta {
            text: "a mock.".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 3,
            output_tokens: 4,
            ..Default::default()
        }),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_without_content_still_ends_properly() {
    let events = [start("empty-1", "gemini-2.0-flash")];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_error_mid_way() {
    let events = [
        start("x", "gemini-2.0-flash"),
        StreamEvent::TextDelta {
            text: "Partial".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"a\":".into(),
        },
    ];
    let err = GatewayError::new(ErrorCode::RateLimitExceeded, "slow down")
        .with_retry_after(Some(Duration::from_secs(3)));
    insta::assert_snapshot!(encode_stream(&events, Some(err)));
}

/// Decodes Gemini SSE bytes back into events (blanking generated ids and times).
fn redecode(bytes: &[u8]) -> Vec<StreamEvent> {
    let mut sse = SseDecoder::new();
    let mut frames = Vec::new();
    sse.feed(bytes, &mut frames).unwrap();
    sse.finish(&mut frames).unwrap();
    let mut dec = GeminiStreamDecoder::new();
    let mut events = Vec::new();
    for f in &frames {
        events.extend(dec.decode(f).unwrap());
    }
    events.extend(dec.finish().unwrap());
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::Start { id, model, .. } => StreamEvent::Start {
                id,
                model,
                created: 0,
            },
            other => other,
        })
        .collect()
}

#[test]
fn stream_from_gemini_upstream_round_trips() {
    let recorded = std::fs::read(format!(
        "{}/tests/fixtures/gemini/stream_thinking_function_call.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let events = redecode(&recorded);
    let encoded = encode_stream(&events, None);
    insta::assert_snapshot!(encoded);
    // What we write, we read back as the same events (usage once, at the end; the
    // call id, read from an "upstream", is marked as Gemini-issued).
    let again: Vec<StreamEvent> = redecode(encoded.as_bytes())
        .into_iter()
        .map(|e| match e {
            StreamEvent::ToolCallStart { index, id, name } => StreamEvent::ToolCallStart {
                index,
                id: id.strip_prefix("gmid_").unwrap_or(&id).to_owned(),
                name,
            },
            other => other,
        })
        .collect();
    let content = |ev: &[StreamEvent]| -> Vec<StreamEvent> {
        ev.iter()
            .filter(|e| !matches!(e, StreamEvent::Usage(_)))
            .cloned()
            .collect()
    };
    assert_eq!(content(&again), content(&events));
    let total = |ev: &[StreamEvent]| {
        let mut u = Usage::default();
        for e in ev {
            if let StreamEvent::Usage(x) = e {
                u.merge_max(x);
            }
        }
        u
    };
    assert_eq!(total(&again), total(&events));
}

#[test]
fn error_bodies() {
    let mut out = String::new();
    for code in ErrorCode::ALL {
        let e = GatewayError::new(code, format!("{code} happened"));
        out.push_str(&format!(
            "{} {}\n",
            e.http_status(),
            String::from_utf8(GeminiCodec.encode_error(&e)).unwrap()
        ));
    }
    insta::assert_snapshot!(out);
}
