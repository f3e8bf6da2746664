//! Snapshots of every Anthropic encoder: upstream request (translation), complete
//! response, stream (event sequences as OpenAI, Anthropic, Gemini and the mock provider
//! produce them, interleaved blocks, an error mid-way), and error bodies.

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
use ax_providers::anthropic::{AnthropicCodec, encode_request};
use ax_providers::{ClientCodec, ProviderConfig};
use serde_json::{Value, json};

mod common;
use common::canon;

fn cfg() -> ProviderConfig {
    ProviderConfig::new("claude", ProviderKind::Anthropic)
}

/// A request as an OpenAI client would send it, with everything the unified model has.
fn rich_request() -> ChatRequest {
    ChatRequest {
        model: "claude/claude-sonnet-4-5".into(),
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
                        source: ImageSource::Url {
                            url: "data:image/png;base64,iVBORw0KGgo=".into(),
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
                        signature: Some("EqQBCgIYAhIM".into()),
                        redacted: None,
                    },
                    ContentPart::Reasoning {
                        text: "unsigned, from an OpenAI-compatible server".into(),
                        signature: None,
                        redacted: None,
                    },
                    ContentPart::Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: Some("EmwKAhgBEgy3".into()),
                    },
                    ContentPart::text("Checking."),
                    ContentPart::ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                    ContentPart::ToolCall {
                        id: "call_2".into(),
                        name: "get_time".into(),
                        arguments: String::new(),
                    },
                ],
                name: None,
            },
            // OpenAI style: one tool message per result, then the user speaks again.
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: "call_1".into(),
                    name: None,
                    content: vec![ContentPart::text("18C, sunny")],
                    is_error: false,
                }],
                name: None,
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    tool_call_id: "call_2".into(),
                    name: None,
                    content: vec![ContentPart::text("clock unavailable")],
                    is_error: true,
                }],
                name: None,
            },
            Message::text(Role::User, "And tomorrow?"),
            // A second system message mid-conversation joins the top-level system.
            Message::text(Role::System, "Answer in French."),
        ],
        tools: vec![
            ToolDefinition {
                name: "get_weather".into(),
                description: Some("Current weather".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
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
        ],
        tool_choice: Some(ToolChoice::Function("get_weather".into())),
        parallel_tool_calls: Some(false),
        params: GenerationParams {
            temperature: Some(1.4),
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
fn request_translated_streaming() {
    let body = encode_request(&rich_request(), "claude-sonnet-4-5", true, &cfg()).unwrap();
    insta::assert_snapshot!(canon(&body));
}

#[test]
fn minimal_request_gets_the_default_max_tokens() {
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "Hello!")],
        ..Default::default()
    };
    let body = encode_request(&req, "claude-3-5-sonnet-20241022", false, &cfg()).unwrap();
    // No translation noise: only what was asked for, plus the required max_tokens.
    insta::assert_snapshot!(String::from_utf8(body.to_vec()).unwrap(), @r#"{"model":"claude-3-5-sonnet-20241022","max_tokens":4096,"messages":[{"role":"user","content":"Hello!"}]}"#);
}

/// A request that thinks with `budget` and wants `max_tokens` output, with one tool and
/// `choice`.
fn thinking_request(
    budget: u32,
    max_tokens: Option<u32>,
    choice: Option<ToolChoice>,
) -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "Weather?")],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}}),
            strict: None,
            freeform: None,
        }],
        tool_choice: choice,
        params: GenerationParams {
            max_tokens,
            ..Default::default()
        },
        reasoning: Some(ReasoningConfig {
            budget_tokens: Some(budget),
            effort: None,
        }),
        ..Default::default()
    }
}

fn encoded(req: &ChatRequest) -> Value {
    serde_json::from_slice(&encode_request(req, "claude-sonnet-4-5", false, &cfg()).unwrap())
        .unwrap()
}

#[test]
fn max_tokens_stays_above_the_thinking_budget() {
    // Anthropic wants budget_tokens < max_tokens: the budget goes on top of the
    // client's wanted output when that is not already larger.
    for (budget, wanted, expect) in [
        (2048, Some(256), 2048 + 256),
        (2048, Some(2048), 4096),
        (1024, Some(8192), 8192),
        (5000, None, 5000 + 4096),
        (1024, None, 4096),
    ] {
        let v = encoded(&thinking_request(budget, wanted, None));
        assert_eq!(
            v["max_tokens"], expect,
            "budget {budget}, wanted {wanted:?}"
        );
        assert_eq!(v["thinking"]["budget_tokens"], budget);
        assert!(v["thinking"]["budget_tokens"].as_u64() < v["max_tokens"].as_u64());
    }
}

#[test]
fn forced_tool_choice_with_thinking_is_sent_as_auto() {
    for choice in [
        ToolChoice::Required,
        ToolChoice::Function("get_weather".into()),
    ] {
        let v = encoded(&thinking_request(2048, Some(4096), Some(choice.clone())));
        assert_eq!(v["tool_choice"], json!({"type": "auto"}), "{choice:?}");
        assert_eq!(v["thinking"]["type"], "enabled");
    }
    // Without thinking the forced choice stands.
    let mut req = thinking_request(2048, Some(4096), Some(ToolChoice::Required));
    req.reasoning = None;
    assert_eq!(encoded(&req)["tool_choice"], json!({"type": "any"}));
}

#[test]
fn reasoning_with_an_empty_signature_is_not_replayed() {
    let mut req = thinking_request(2048, Some(4096), None);
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            ContentPart::Reasoning {
                text: "from another provider".into(),
                signature: Some(String::new()),
                redacted: None,
            },
            ContentPart::text("Sunny."),
        ],
        name: None,
    });
    req.messages.push(Message::text(Role::User, "Thanks"));
    let v = encoded(&req);
    assert_eq!(v["messages"][1]["content"], "Sunny.", "{v}");
}

fn response(content: Vec<ContentPart>, finish_reason: FinishReason) -> ChatResponse {
    ChatResponse {
        id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(),
        model: "claude-sonnet-4-5-20250929".into(),
        created: 1_727_346_142,
        content,
        finish_reason,
        stop_sequence: None,
        usage: Usage {
            input_tokens: 2095,
            output_tokens: 503,
            cached_tokens: 1800,
            cache_creation_tokens: 200,
            reasoning_tokens: 0,
        },
    }
}

#[test]
fn response_text() {
    let r = response(
        vec![ContentPart::text("Hi! My name is Claude.")],
        FinishReason::Stop,
    );
    insta::assert_snapshot!(
        String::from_utf8(AnthropicCodec.encode_response(&ax_core::ChatRequest::default(), &r))
            .unwrap()
    );
}

#[test]
fn response_reasoning_and_tool_calls() {
    // As an OpenAI upstream answers a tool round (reasoning without a signature, `stop`
    // reported with calls) plus an Anthropic-style signed thinking block.
    let mut r = response(
        vec![
            ContentPart::Reasoning {
                text: "Two lookups.".into(),
                signature: Some("EqQBCkYIARgCIkA".into()),
                redacted: None,
            },
            ContentPart::Reasoning {
                text: "DeepSeek-style reasoning".into(),
                signature: None,
                redacted: None,
            },
            ContentPart::ToolCall {
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"city": "Paris"}"#.into(),
            },
            ContentPart::ToolCall {
                id: "call_02".into(),
                name: "get_weather".into(),
                arguments: "not json".into(),
            },
        ],
        FinishReason::Stop,
    );
    r.usage.reasoning_tokens = 120;
    insta::assert_snapshot!(
        String::from_utf8(AnthropicCodec.encode_response(&ax_core::ChatRequest::default(), &r))
            .unwrap()
    );
}

#[test]
fn response_stop_sequence() {
    let mut r = response(
        vec![ContentPart::text("1, 2, 3")],
        FinishReason::StopSequence,
    );
    r.stop_sequence = Some("4".into());
    let v: Value = serde_json::from_slice(
        &AnthropicCodec.encode_response(&ax_core::ChatRequest::default(), &r),
    )
    .unwrap();
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], "4");
}

/// Replaces generated ids (`msg_`/`toolu_` + 32 hex digits) with a placeholder, so
/// snapshots are stable.
fn redact_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = ["msg_", "toolu_"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let Some((i, plen)) = next else {
            out.push_str(rest);
            return out;
        };
        let tail = &rest[i + plen..];
        let hex = tail.chars().take_while(char::is_ascii_hexdigit).count();
        out.push_str(&rest[..i + plen]);
        if hex == 32 {
            out.push_str("<generated>");
            rest = &tail[32..];
        } else {
            rest = tail;
        }
    }
}

fn encode_stream(events: &[StreamEvent], error: Option<GatewayError>) -> String {
    let req = ChatRequest {
        stream: true,
        ..Default::default()
    };
    let mut enc = AnthropicCodec.stream_encoder(&req);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    match error {
        Some(e) => enc.error(&e, &mut out),
        None => enc.finish(&mut out),
    }
    redact_ids(&String::from_utf8(out).unwrap())
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
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

fn call(index: u32, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        index,
        id: id.into(),
        name: name.into(),
    }
}

fn args(index: u32, a: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        index,
        arguments: a.into(),
    }
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish {
        reason,
        stop_sequence: None,
    }
}

#[test]
fn stream_from_openai_upstream_with_tool_calls() {
    // Usage only after Finish, as OpenAI sends it: it must reach the final message_delta.
    let events = [
        start("chatcmpl-abc", "gpt-4o"),
        text("Let me check."),
        call(0, "call_1", "get_weather"),
        args(0, "{\"city\":"),
        args(0, "\"Paris\"}"),
        call(1, "call_2", "get_time"),
        args(1, "{}"),
        finish(FinishReason::ToolCalls),
        StreamEvent::Usage(Usage {
            input_tokens: 50,
            output_tokens: 30,
            cached_tokens: 20,
            cache_creation_tokens: 0,
            reasoning_tokens: 0,
        }),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_from_anthropic_upstream_with_thinking() {
    // Usage right after Start (message_start carries it), reasoning first with its
    // signature, cumulative usage with the finish.
    let events = [
        start("msg_01", "claude-sonnet-4-5-20250929"),
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
        call(0, "toolu_01", "get_weather"),
        args(0, "{\"city\": \"Paris\"}"),
        finish(FinishReason::ToolCalls),
        usage(25, 40),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_from_gemini_upstream() {
    // Whole text per chunk, a call with whole arguments, STOP although a function was
    // called (sent as tool_use), usage repeated.
    let events = [
        start("gemini-resp-1", "gemini-2.0-flash"),
        text("Paris is sunny. "),
        usage(10, 4),
        call(0, "call_0", "get_time"),
        args(0, "{\"tz\":\"CET\"}"),
        usage(10, 9),
        finish(FinishReason::Stop),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_from_mock_provider() {
    let events = [
        start("mock-1", "mock-1"),
        text("This is "),
        text("a mock"),
        text(""),
        text(" response."),
        finish(FinishReason::Length),
        usage(3, 5),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_with_interleaved_blocks() {
    // Text, a call, text again, a fragment for a call never started, a signature with
    // no reasoning before it, a fragment for the closed first call; no Start, no Finish.
    let events = [
        text("A"),
        call(0, "call_a", "f"),
        args(0, "{\"x\":"),
        text("B"),
        args(3, "{}"),
        StreamEvent::ReasoningSignature {
            signature: "sig".into(),
        },
        args(0, "1}"),
    ];
    insta::assert_snapshot!(encode_stream(&events, None));
}

#[test]
fn stream_error_mid_way() {
    let events = [start("msg_1", "claude"), text("Partial")];
    let err =
        GatewayError::new(ErrorCode::Overloaded, "upstream overloaded").with_provider("claude");
    insta::assert_snapshot!(encode_stream(&events, Some(err)));
}

#[test]
fn stream_encoder_ignores_everything_after_the_end() {
    let mut enc = AnthropicCodec.stream_encoder(&ChatRequest::default());
    let mut out = Vec::new();
    enc.encode(&text("x"), &mut out);
    enc.finish(&mut out);
    let done = out.len();
    enc.encode(&text("late"), &mut out);
    enc.finish(&mut out);
    enc.error(&GatewayError::invalid("late"), &mut out);
    assert_eq!(out.len(), done);
    // Events after Finish (but usage) are dropped too.
    let s = encode_stream(&[text("a"), finish(FinishReason::Stop), text("b")], None);
    assert!(!s.contains("\"b\""), "{s}");
}

#[test]
fn error_bodies() {
    let mut all = String::new();
    for code in ErrorCode::ALL {
        let e = GatewayError::new(code, format!("{code} happened"));
        all.push_str(&format!(
            "{} {}\n",
            code.http_status(),
            String::from_utf8(AnthropicCodec.encode_error(&e)).unwrap()
        ));
    }
    let e = GatewayError::invalid_param("max_tokens", "`max_tokens`: is required");
    all.push_str(&String::from_utf8(AnthropicCodec.encode_error(&e)).unwrap());
    insta::assert_snapshot!(all);
}
