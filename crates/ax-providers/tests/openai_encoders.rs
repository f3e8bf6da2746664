//! Snapshots of every OpenAI encoder: upstream request (both kinds), complete response,
//! stream (event sequences as OpenAI, Anthropic, Gemini and the mock provider produce
//! them), and error bodies.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError,
    GenerationParams, ImageSource, Message, ProviderKind, ReasoningConfig, RequestMetadata,
    ResponseFormat, Role, StreamEvent, ToolChoice, ToolDefinition, Usage,
};
use ax_providers::openai::{OpenAiCodec, encode_request};
use ax_providers::{ClientCodec, ProviderConfig};
use serde_json::json;

mod common;
use common::canon;

fn rich_request() -> ChatRequest {
    ChatRequest {
        model: "claude/whatever".into(),
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
                ],
                name: Some("alice".into()),
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::Reasoning {
                        text: "Look up the weather.".into(),
                        signature: Some("sig".into()),
                        redacted: None,
                    },
                    ContentPart::text("Checking."),
                    ContentPart::ToolCall {
                        id: "toolu_01".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                ],
                name: None,
            },
            // Anthropic style: the result sits in a user turn, followed by more text.
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::ToolResult {
                        tool_call_id: "toolu_01".into(),
                        name: Some("get_weather".into()),
                        content: vec![ContentPart::text("18C, sunny")],
                        is_error: false,
                    },
                    ContentPart::text("And tomorrow?"),
                ],
                name: None,
            },
        ],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: Some("Current weather".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            strict: Some(true),
            freeform: None,
        }],
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
            schema: json!({"type": "object"}),
            strict: Some(true),
        }),
        reasoning: Some(ReasoningConfig {
            budget_tokens: Some(2048),
            effort: Some("low".into()),
        }),
        stream: true,
        include_usage: false,
        metadata: RequestMetadata {
            user_id: Some("user-42".into()),
            ..Default::default()
        },
        raw: None,
        ..Default::default()
    }
}

#[test]
fn request_for_openai_streaming() {
    let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
    insta::assert_snapshot!(canon(&encode_request(
        &rich_request(),
        "gpt-4o",
        true,
        &cfg
    )));
}

#[test]
fn request_for_openai_compatible() {
    let cfg = ProviderConfig::new("vllm", ProviderKind::OpenAiCompatible);
    insta::assert_snapshot!(canon(&encode_request(
        &rich_request(),
        "llama-3.1-8b",
        false,
        &cfg
    )));
}

#[test]
fn minimal_request() {
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "Hello!")],
        ..Default::default()
    };
    let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
    // No translation noise: only what was asked for.
    insta::assert_snapshot!(String::from_utf8(encode_request(&req, "gpt-4o-mini", false, &cfg).to_vec()).unwrap(), @r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#);
}

fn response(content: Vec<ContentPart>, finish_reason: FinishReason) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-123".into(),
        model: "gpt-4o-2024-08-06".into(),
        created: 1_727_346_142,
        content,
        finish_reason,
        stop_sequence: None,
        usage: Usage {
            input_tokens: 120,
            output_tokens: 40,
            cached_tokens: 100,
            cache_creation_tokens: 0,
            reasoning_tokens: 12,
        },
    }
}

#[test]
fn response_text() {
    let r = response(vec![ContentPart::text("Hello there.")], FinishReason::Stop);
    insta::assert_snapshot!(
        String::from_utf8(OpenAiCodec.encode_response(&ax_core::ChatRequest::default(), &r))
            .unwrap()
    );
}

#[test]
fn response_reasoning_and_tool_calls() {
    // From an Anthropic upstream: thinking with a signature, no text, two calls, and
    // `end_turn` mapped to Stop (reported as tool_calls because calls are present).
    let r = response(
        vec![
            ContentPart::Reasoning {
                text: "Two lookups.".into(),
                signature: Some("EqQBCkYIARgCIkA".into()),
                redacted: None,
            },
            ContentPart::ToolCall {
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
            ContentPart::ToolCall {
                id: "toolu_02".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Rome"}"#.into(),
            },
        ],
        FinishReason::Stop,
    );
    insta::assert_snapshot!(
        String::from_utf8(OpenAiCodec.encode_response(&ax_core::ChatRequest::default(), &r))
            .unwrap()
    );
}

fn encode_stream(
    events: &[StreamEvent],
    include_usage: bool,
    error: Option<GatewayError>,
) -> String {
    let req = ChatRequest {
        include_usage,
        stream: true,
        ..Default::default()
    };
    let mut enc = OpenAiCodec.stream_encoder(&req);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    match error {
        Some(e) => enc.error(&e, &mut out),
        None => enc.finish(&mut out),
    }
    String::from_utf8(out).unwrap()
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "chatcmpl-abc".into(),
        model: "gpt-4o".into(),
        created: 1_700_000_000,
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta { text: t.into() }
}

fn usage(i: u64, o: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens: i,
        output_tokens: o,
        ..Default::default()
    })
}

#[test]
fn stream_from_openai_upstream_with_tool_calls() {
    // Usage after Finish, as OpenAI sends it; the client asked for usage.
    let events = [
        start(),
        text("Let me check."),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"Paris\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_2".into(),
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
        usage(50, 30),
    ];
    insta::assert_snapshot!(encode_stream(&events, true, None));
}

#[test]
fn stream_from_anthropic_upstream() {
    // Thinking with a signature, usage reported before and after the finish (merged by
    // maximum), tool-call indexes that start at 1 (after a text block); the client did
    // not ask for usage.
    let events = [
        start(),
        usage(25, 1),
        StreamEvent::ReasoningDelta {
            text: "The user wants".into(),
        },
        StreamEvent::ReasoningDelta {
            text: " weather.".into(),
        },
        StreamEvent::ReasoningSignature {
            signature: "EqQBCkYIARgC".into(),
        },
        text("Sure."),
        StreamEvent::ToolCallStart {
            index: 1,
            id: "toolu_01".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{\"city\": \"Paris\"}".into(),
        },
        usage(25, 40),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ];
    insta::assert_snapshot!(encode_stream(&events, false, None));
}

#[test]
fn stream_from_gemini_upstream() {
    // Whole text per chunk, a call with synthesized id and whole arguments, STOP
    // although a function was called (reported as tool_calls), usage repeated.
    let events = [
        StreamEvent::Start {
            id: "gemini-resp-1".into(),
            model: "gemini-2.0-flash".into(),
            created: 1_700_000_001,
        },
        text("Paris is sunny. "),
        usage(10, 4),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_0".into(),
            name: "get_time".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"tz\":\"CET\"}".into(),
        },
        usage(10, 9),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
    ];
    insta::assert_snapshot!(encode_stream(&events, true, None));
}

#[test]
fn stream_from_mock_provider() {
    let events = [
        start(),
        text("This is "),
        text("a mock"),
        text(""),
        text(" response."),
        StreamEvent::Finish {
            reason: FinishReason::Length,
            stop_sequence: None,
        },
        usage(3, 5),
    ];
    insta::assert_snapshot!(encode_stream(&events, true, None));
}

#[test]
fn stream_without_start_or_finish_is_still_well_formed() {
    let out = encode_stream(&[text("hi")], false, None);
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].contains(r#""delta":{"role":"assistant","content":""}"#));
    assert!(lines[2].contains(r#""finish_reason":"stop""#));
    assert_eq!(lines[3], "data: [DONE]");
}

#[test]
fn stream_error_mid_way() {
    let events = [start(), text("Partial")];
    let err =
        GatewayError::new(ErrorCode::Overloaded, "upstream overloaded").with_provider("claude");
    insta::assert_snapshot!(encode_stream(&events, true, Some(err)));
}

#[test]
fn error_bodies() {
    let mut all = String::new();
    for code in ErrorCode::ALL {
        let e = GatewayError::new(code, format!("{code} happened"));
        all.push_str(&format!(
            "{} {}\n",
            code.http_status(),
            String::from_utf8(OpenAiCodec.encode_error(&e)).unwrap()
        ));
    }
    let e =
        GatewayError::invalid_param("messages[0].role", "`messages[0].role`: unknown role `bot`");
    all.push_str(&String::from_utf8(OpenAiCodec.encode_error(&e)).unwrap());
    all.push('\n');
    let e = GatewayError::new(
        ErrorCode::RateLimitExceeded,
        "tokens per minute limit reached",
    );
    all.push_str(&String::from_utf8(OpenAiCodec.encode_error(&e)).unwrap());
    insta::assert_snapshot!(all);
}
