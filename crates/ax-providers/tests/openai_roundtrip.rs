//! Round-trip properties: unified → OpenAI wire → unified is the identity on the part of
//! the unified model the OpenAI format carries (requests, complete responses, streams,
//! errors).
//!
//! What is outside that subset, by design (see the module docs of `openai`): several
//! text parts of one assistant answer (OpenAI has one `content` string), reasoning in
//! requests and reasoning signatures anywhere, `stop_sequence`, tool-result `name` and
//! `is_error`, images in tool results, `top_k` for kind `openai`, a reasoning budget,
//! conversation id and tags (headers, not body).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorCode, FinishReason, GatewayError,
    GenerationParams, ImageSource, Message, ProviderKind, ReasoningConfig, RequestMetadata,
    ResponseFormat, Role, StreamEvent, ToolChoice, ToolDefinition, Usage,
};
use ax_providers::openai::{
    OpenAiCodec, OpenAiStreamDecoder, decode_error, decode_response, encode_request,
};
use ax_providers::sse::SseDecoder;
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig, StreamDecoder};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use serde_json::json;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?\"\\\\{}:\n\té😀]{1,16}"
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,9}"
}

fn text_part() -> impl Strategy<Value = ContentPart> {
    text().prop_map(ContentPart::text)
}

fn image_part() -> impl Strategy<Value = ContentPart> {
    let source = prop_oneof![
        "[a-z]{1,8}".prop_map(|p| ImageSource::Url {
            url: format!("https://example.com/{p}.png")
        }),
        (
            prop_oneof![Just("image/png"), Just("image/jpeg"), Just("image/webp")],
            "[A-Za-z0-9+/]{4,16}"
        )
            .prop_map(|(m, d)| ImageSource::Base64 {
                media_type: m.into(),
                data: d
            }),
    ];
    let detail = of(prop_oneof![Just("low"), Just("high"), Just("auto")].prop_map(String::from));
    (source, detail).prop_map(|(source, detail)| ContentPart::Image { source, detail })
}

fn tool_call() -> impl Strategy<Value = ContentPart> {
    ("call_[A-Za-z0-9]{4,10}", ident(), text()).prop_map(|(id, name, a)| ContentPart::ToolCall {
        id,
        name,
        arguments: json!({ "a": a }).to_string(),
    })
}

fn message() -> impl Strategy<Value = Message> {
    let name = || of("[a-z]{1,6}");
    prop_oneof![
        (vec(text_part(), 1..3), name()).prop_map(|(content, name)| Message {
            role: Role::System,
            content,
            name
        }),
        (vec(prop_oneof![text_part(), image_part()], 1..4), name()).prop_map(|(content, name)| {
            Message {
                role: Role::User,
                content,
                name,
            }
        }),
        (of(text_part()), vec(tool_call(), 0..3), name())
            .prop_filter("assistant says something", |(t, c, _)| t.is_some()
                || !c.is_empty())
            .prop_map(|(t, calls, name)| Message {
                role: Role::Assistant,
                content: t.into_iter().chain(calls).collect(),
                name
            }),
        ("call_[A-Za-z0-9]{4,10}", vec(text_part(), 1..3)).prop_map(|(id, content)| Message {
            role: Role::Tool,
            content: vec![ContentPart::ToolResult {
                tool_call_id: id,
                name: None,
                content,
                is_error: false
            }],
            name: None
        }),
    ]
}

fn hundredths(lo: i32, hi: i32) -> impl Strategy<Value = f64> {
    (lo..=hi).prop_map(|n| f64::from(n) / 100.0)
}

fn request(kind: ProviderKind) -> impl Strategy<Value = ChatRequest> {
    let tool = (ident(), of(text()), of(any::<bool>())).prop_map(|(name, description, strict)| {
        ToolDefinition {
            parameters: json!({"type": "object", "properties": {name.clone(): {"type": "string"}}}),
            name,
            description,
            strict,
            freeform: None,
        }
    });
    let tool_choice = of(prop_oneof![
        Just(ToolChoice::Auto),
        Just(ToolChoice::None),
        Just(ToolChoice::Required),
        ident().prop_map(ToolChoice::Function),
    ]);
    let params = (
        of(hundredths(0, 200)),
        of(hundredths(0, 100)),
        of(1u32..500),
        of(any::<u32>()),
        vec(text(), 0..4),
        of(any::<i64>()),
        of(hundredths(-200, 200)),
        of(hundredths(-200, 200)),
    )
        .prop_map(
            move |(temperature, top_p, top_k, max_tokens, stop, seed, pp, fp)| {
                GenerationParams {
                    temperature,
                    top_p,
                    // OpenAI itself has no top_k; only compatible servers get it.
                    top_k: top_k.filter(|_| kind == ProviderKind::OpenAiCompatible),
                    max_tokens,
                    stop,
                    seed,
                    presence_penalty: pp,
                    frequency_penalty: fp,
                }
            },
        );
    let response_format = of(prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (ident(), of(any::<bool>())).prop_map(|(name, strict)| ResponseFormat::JsonSchema {
            name,
            schema: json!({"type": "object", "properties": {}}),
            strict
        }),
    ]);
    let effort = of(
        prop_oneof![Just("low"), Just("medium"), Just("high")].prop_map(|e| ReasoningConfig {
            budget_tokens: None,
            effort: Some(e.into()),
        }),
    );
    (
        vec(message(), 1..6),
        vec(tool, 0..3),
        tool_choice,
        of(any::<bool>()),
        params,
        response_format,
        effort,
        any::<bool>(),
        of("[a-z0-9-]{1,12}"),
    )
        .prop_map(
            |(messages, tools, tool_choice, parallel, params, rf, reasoning, stream, user)| {
                ChatRequest {
                    // A reasoning model: gpt-4o is not sent `reasoning_effort`.
                    model: "o4-mini".into(),
                    messages,
                    tools,
                    tool_choice,
                    parallel_tool_calls: parallel,
                    params,
                    response_format: rf,
                    reasoning,
                    stream,
                    include_usage: stream,
                    metadata: RequestMetadata {
                        user_id: user,
                        ..Default::default()
                    },
                    raw: None,
                    ..Default::default()
                }
            },
        )
}

fn response() -> impl Strategy<Value = ChatResponse> {
    (
        "chatcmpl-[A-Za-z0-9]{4,12}",
        0i64..4_000_000_000,
        of(text()),
        of(text()),
        vec(tool_call(), 0..3),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::Length),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::ContentFilter),
        ],
        (
            0u64..1 << 32,
            0u64..1 << 32,
            0u64..1 << 32,
            0u64..1 << 32,
            0u64..1 << 32,
        ),
    )
        .prop_filter(
            "OpenAI reports stop with tool calls as tool_calls",
            |(_, _, _, _, calls, f, _)| calls.is_empty() || *f != FinishReason::Stop,
        )
        .prop_map(|(id, created, reasoning, text, calls, finish_reason, u)| {
            let mut content = Vec::new();
            if let Some(r) = reasoning {
                content.push(ContentPart::Reasoning {
                    text: r,
                    signature: None,
                    redacted: None,
                });
            }
            content.extend(text.map(ContentPart::text));
            content.extend(calls);
            ChatResponse {
                id,
                model: "gpt-4o-2024-08-06".into(),
                created,
                content,
                finish_reason,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: u.0,
                    output_tokens: u.1,
                    cached_tokens: u.2,
                    cache_creation_tokens: u.3,
                    reasoning_tokens: u.4,
                },
            }
        })
}

/// Content events of a stream: text, reasoning (with signatures the format drops) and
/// tool calls numbered from 0.
fn stream_events() -> impl Strategy<Value = (Vec<StreamEvent>, bool, Option<Usage>, FinishReason)> {
    #[derive(Debug, Clone)]
    enum Block {
        Text(String),
        Reasoning(String, bool),
        Call(String, String, Vec<String>),
    }
    let block = prop_oneof![
        text().prop_map(Block::Text),
        (text(), any::<bool>()).prop_map(|(t, s)| Block::Reasoning(t, s)),
        ("call_[A-Za-z0-9]{4,8}", ident(), vec(text(), 1..4))
            .prop_map(|(id, n, a)| Block::Call(id, n, a)),
    ];
    (
        vec(block, 0..8),
        any::<bool>(),
        of((0u64..1 << 40, 0u64..1 << 40, 0u64..1 << 20)),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::Length),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::ContentFilter),
        ],
        any::<bool>(),
    )
        .prop_map(|(blocks, include_usage, usage, finish, usage_first)| {
            let mut events = vec![StreamEvent::Start {
                id: "chatcmpl-x".into(),
                model: "gpt-4o".into(),
                created: 1_700_000_000,
            }];
            let usage = usage.map(|(i, o, c)| Usage {
                input_tokens: i,
                output_tokens: o,
                cached_tokens: c,
                ..Default::default()
            });
            let mut calls = 0u32;
            for b in blocks {
                match b {
                    Block::Text(t) => events.push(StreamEvent::TextDelta { text: t }),
                    Block::Reasoning(t, sig) => {
                        events.push(StreamEvent::ReasoningDelta { text: t });
                        if sig {
                            events.push(StreamEvent::ReasoningSignature {
                                signature: "sig".into(),
                            });
                        }
                    }
                    Block::Call(id, name, args) => {
                        events.push(StreamEvent::ToolCallStart {
                            index: calls,
                            id,
                            name,
                        });
                        for a in args {
                            events.push(StreamEvent::ToolCallDelta {
                                index: calls,
                                arguments: a,
                            });
                        }
                        calls += 1;
                    }
                }
            }
            let finish = if calls > 0 && finish == FinishReason::Stop {
                FinishReason::ToolCalls
            } else {
                finish
            };
            if usage_first && let Some(u) = usage {
                events.push(StreamEvent::Usage(u));
            }
            events.push(StreamEvent::Finish {
                reason: finish,
                stop_sequence: None,
            });
            if !usage_first && let Some(u) = usage {
                events.push(StreamEvent::Usage(u));
            }
            (events, include_usage, usage, finish)
        })
}

fn through_the_wire(events: &[StreamEvent], include_usage: bool) -> Vec<StreamEvent> {
    let req = ChatRequest {
        stream: true,
        include_usage,
        ..Default::default()
    };
    let mut enc = OpenAiCodec.stream_encoder(&req);
    let mut bytes = Vec::new();
    for e in events {
        enc.encode(e, &mut bytes);
    }
    enc.finish(&mut bytes);
    let mut sse = SseDecoder::new();
    let mut frames = Vec::new();
    sse.feed(&bytes, &mut frames).unwrap();
    sse.finish(&mut frames).unwrap();
    let mut dec = OpenAiStreamDecoder::new();
    let mut out = Vec::new();
    for f in &frames {
        out.extend(dec.decode(f).unwrap());
    }
    out.extend(dec.finish().unwrap());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn request_round_trip_openai(req in request(ProviderKind::OpenAi)) {
        let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
        let wire = encode_request(&req, &req.model, req.stream, &cfg);
        let mut back = OpenAiCodec.decode_request(&wire, DecodeOptions::default()).unwrap();
        back.raw = None;
        // OpenAI's reasoning models refuse the sampling knobs: they are not sent.
        let mut expected = req;
        if ax_providers::openai::is_reasoning_family(&expected.model) {
            let p = &mut expected.params;
            p.temperature = p.temperature.filter(|t| *t == 1.0);
            p.top_p = None;
            p.presence_penalty = None;
            p.frequency_penalty = None;
        }
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn request_round_trip_openai_compatible(req in request(ProviderKind::OpenAiCompatible)) {
        let cfg = ProviderConfig::new("vllm", ProviderKind::OpenAiCompatible);
        let wire = encode_request(&req, &req.model, req.stream, &cfg);
        let mut back = OpenAiCodec.decode_request(&wire, DecodeOptions::default()).unwrap();
        back.raw = None;
        prop_assert_eq!(back, req);
    }

    #[test]
    fn response_round_trip(resp in response()) {
        let back = decode_response(&OpenAiCodec.encode_response(&ax_core::ChatRequest::default(), &resp)).unwrap();
        prop_assert_eq!(back, resp);
    }

    #[test]
    fn stream_round_trip((events, include_usage, usage, _finish) in stream_events()) {
        let mut got = through_the_wire(&events, include_usage);
        // Signatures ride in the next call's id (`tool_ids`); compare the ids without.
        for e in &mut got {
            if let StreamEvent::ToolCallStart { id, .. } = e {
                *id = ax_providers::tool_ids::base(id).to_owned();
            }
        }
        // Expected: everything but usage and reasoning signatures, in order; then the
        // usage chunk (zeros when none was reported) if the client asked for it.
        let mut expected: Vec<StreamEvent> = events
            .iter()
            .filter(|e| !matches!(e, StreamEvent::Usage(_) | StreamEvent::ReasoningSignature { .. }))
            .cloned()
            .collect();
        if include_usage {
            expected.push(StreamEvent::Usage(usage.unwrap_or_default()));
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn error_round_trip(
        code in proptest::sample::select(ErrorCode::ALL.to_vec()),
        message in "[a-zA-Z0-9 .,]{1,40}",
        param in of("[a-z_.\\[\\]0-9]{1,12}"),
    ) {
        let mut e = GatewayError::new(code, message.clone());
        e.param = param.clone();
        let back = decode_error(code.http_status(), &http::HeaderMap::new(), &OpenAiCodec.encode_error(&e));
        prop_assert_eq!(back.code, code);
        prop_assert_eq!(back.message, message);
        let expected_param = param.or_else(|| (code == ErrorCode::ContextLengthExceeded).then(|| "messages".to_owned()));
        prop_assert_eq!(back.param, expected_param);
    }
}

#[test]
fn recorded_streams_survive_re_encoding() {
    for name in [
        "stream_text.sse",
        "stream_tool_call.sse",
        "stream_parallel_tools.sse",
    ] {
        let path = format!(
            "{}/tests/fixtures/openai/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(path).unwrap();
        let mut sse = SseDecoder::new();
        let mut frames = Vec::new();
        sse.feed(&bytes, &mut frames).unwrap();
        sse.finish(&mut frames).unwrap();
        let mut dec = OpenAiStreamDecoder::new();
        let mut events = Vec::new();
        for f in &frames {
            events.extend(dec.decode(f).unwrap());
        }
        events.extend(dec.finish().unwrap());
        assert_eq!(through_the_wire(&events, true), events, "{name}");
    }
}
