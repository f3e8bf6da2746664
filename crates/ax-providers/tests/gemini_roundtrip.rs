//! Round-trip properties: unified → Gemini wire → unified is the identity on the subset
//! the Gemini format carries — for complete answers (client encoder → upstream decoder)
//! and for requests (upstream encoder → client decoder) — plus stream encoder → stream
//! decoder for event sequences.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken encoder output should fail the test loudly"
)]

use std::collections::BTreeMap;

use ax_core::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, GenerationParams, ImageSource, Message,
    ProviderKind, ReasoningConfig, RequestMetadata, ResponseFormat, Role, StreamEvent, ToolChoice,
    ToolDefinition, Usage,
};
use ax_providers::gemini::{GeminiCodec, GeminiStreamDecoder, decode_response, encode_request};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig, SseDecoder, StreamDecoder};
use proptest::prelude::*;
use serde_json::json;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.!?éü\n]{1,24}"
}

/// Tool-result text that is not itself a JSON object.
fn result_text() -> impl Strategy<Value = String> {
    "[a-z ]{1,16}"
}

fn args() -> impl Strategy<Value = String> {
    prop::collection::btree_map("[a-z]{1,5}", any::<i32>(), 0..3)
        .prop_map(|m: BTreeMap<String, i32>| serde_json::to_string(&m).unwrap())
}

fn image() -> impl Strategy<Value = ContentPart> {
    prop_oneof![
        ("[a-z]{1,6}", "[A-Za-z0-9+/]{4,12}").prop_map(|(sub, data)| ContentPart::Image {
            source: ImageSource::Base64 {
                media_type: format!("image/{sub}"),
                data
            },
            detail: None
        }),
        "[a-z]{1,8}".prop_map(|p| ContentPart::Image {
            source: ImageSource::Url {
                url: format!("https://example.com/{p}.png")
            },
            detail: None
        }),
    ]
}

/// Signatures are opaque bytes, base64 on the wire.
fn signature() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    prop::collection::vec(any::<u8>(), 1..24)
        .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// One visible part, possibly followed by its signature carrier.
fn answer_part(calls: bool) -> impl Strategy<Value = Vec<ContentPart>> {
    let carrier = prop::option::of(signature()).prop_map(|s| {
        s.map(|sig| ContentPart::Reasoning {
            text: String::new(),
            signature: Some(sig),
            redacted: None,
        })
    });
    let part = if calls {
        prop_oneof![
            text().prop_map(ContentPart::text),
            ("[a-z0-9]{6}", "[a-z_]{1,8}", args()).prop_map(|(id, name, arguments)| {
                ContentPart::ToolCall {
                    id: format!("call_{id}"),
                    name,
                    arguments,
                }
            }),
        ]
        .boxed()
    } else {
        prop_oneof![text().prop_map(ContentPart::text), image()].boxed()
    };
    let reasoning = (text(), prop::option::of(signature())).prop_map(|(text, signature)| {
        vec![ContentPart::Reasoning {
            text,
            signature,
            redacted: None,
        }]
    });
    prop_oneof![
        3 => (part, carrier).prop_map(|(p, c)| {
            let mut v = vec![p];
            v.extend(c);
            v
        }),
        1 => reasoning,
    ]
}

fn usage() -> impl Strategy<Value = Usage> {
    (0u64..1 << 40, 0u64..1 << 40, 0u64..1 << 40, 0u64..1 << 40).prop_map(
        |(input, cached, output, reasoning)| Usage {
            input_tokens: input,
            output_tokens: output + reasoning,
            cached_tokens: cached,
            cache_creation_tokens: 0,
            reasoning_tokens: reasoning,
        },
    )
}

fn chat_response() -> impl Strategy<Value = ChatResponse> {
    (
        "[a-zA-Z0-9-]{1,12}",
        "[a-z0-9.-]{1,12}",
        prop::collection::vec(answer_part(true), 1..5),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::Length),
            Just(FinishReason::ContentFilter),
            Just(FinishReason::Other)
        ],
        usage(),
    )
        .prop_map(|(id, model, parts, finish, usage)| {
            let content: Vec<ContentPart> = parts.into_iter().flatten().collect();
            let has_calls = content
                .iter()
                .any(|p| matches!(p, ContentPart::ToolCall { .. }));
            let visible = content
                .iter()
                .any(|p| matches!(p, ContentPart::Text { .. } | ContentPart::ToolCall { .. }));
            let finish_reason = match finish {
                FinishReason::Stop if has_calls => FinishReason::ToolCalls,
                FinishReason::ContentFilter if !visible => FinishReason::Stop,
                other => other,
            };
            ChatResponse {
                id,
                model,
                created: 0,
                content,
                finish_reason,
                stop_sequence: None,
                usage,
            }
        })
        // A leading carrier has no part to ride on.
        .prop_filter("no leading carrier", |r| {
            !matches!(r.content.first(), Some(ContentPart::Reasoning { text, .. }) if text.is_empty())
        })
}

fn schema() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_set("[a-z]{1,6}", 0..3).prop_map(|keys| {
        let props: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| (k.clone(), json!({"type": "string", "description": k})))
            .collect();
        let required: Vec<&String> = keys.iter().take(1).collect();
        if keys.is_empty() {
            json!({"type": "object", "properties": {}})
        } else {
            json!({"type": "object", "properties": props, "required": required})
        }
    })
}

/// A conversation of turns: user, assistant, and tool results for the assistant's calls.
fn messages() -> impl Strategy<Value = Vec<Message>> {
    let user = prop::collection::vec(
        prop_oneof![3 => text().prop_map(ContentPart::text), 1 => image()],
        1..3,
    );
    let assistant = prop::collection::vec(answer_part(true), 1..4);
    let turn = (user, assistant, any::<bool>(), any::<bool>())
        .prop_map(|(user, assistant, answer, is_error)| (user, assistant, answer, is_error));
    (
        prop::option::of(prop::collection::vec(text(), 1..3)),
        prop::collection::vec(turn, 1..4),
        prop::collection::vec(result_text(), 8),
    )
        .prop_map(|(system, turns, results)| {
            let mut out = Vec::new();
            if let Some(texts) = system {
                out.push(Message {
                    role: Role::System,
                    content: texts.into_iter().map(ContentPart::text).collect(),
                    name: None,
                });
            }
            let mut n = 0usize;
            for (user, assistant, answer, is_error) in turns {
                out.push(Message {
                    role: Role::User,
                    content: user,
                    name: None,
                });
                let content: Vec<ContentPart> = assistant
                    .into_iter()
                    .flatten()
                    .map(|p| match p {
                        // Ids unique across the conversation.
                        ContentPart::ToolCall {
                            name, arguments, ..
                        } => {
                            n += 1;
                            ContentPart::ToolCall {
                                id: if n.is_multiple_of(2) {
                                    format!("gmid_{n}")
                                } else {
                                    format!("call_{n}")
                                },
                                name,
                                arguments,
                            }
                        }
                        other => other,
                    })
                    .collect();
                let results: Vec<ContentPart> = content
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::ToolCall { id, name, .. } => Some(ContentPart::ToolResult {
                            tool_call_id: id.clone(),
                            name: Some(name.clone()),
                            content: vec![ContentPart::text(results[n % results.len()].clone())],
                            is_error,
                        }),
                        _ => None,
                    })
                    .collect();
                let leading_carrier = matches!(content.first(), Some(ContentPart::Reasoning { text, .. }) if text.is_empty());
                if !leading_carrier {
                    out.push(Message {
                        role: Role::Assistant,
                        content,
                        name: None,
                    });
                }
                if answer && !results.is_empty() && !leading_carrier {
                    out.push(Message {
                        role: Role::Tool,
                        content: results,
                        name: None,
                    });
                }
            }
            out
        })
}

fn chat_request() -> impl Strategy<Value = ChatRequest> {
    let tools = prop::collection::vec(("[a-z_]{1,8}", prop::option::of(text()), schema()), 0..3);
    // serde_json's default float parser may be off by one ulp on long decimals (not
    // the codec's doing), so parameters have a few decimals, as real ones do.
    let float = |lo: i32, hi: i32| (lo..hi).prop_map(|n| f64::from(n) / 100.0);
    let params = (
        prop::option::of(float(-200, 200)),
        prop::option::of(float(0, 100)),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::collection::vec(text(), 0..3),
        prop::option::of(any::<i64>()),
        prop::option::of(float(-200, 200)),
        prop::option::of(float(-200, 200)),
    )
        .prop_map(|(t, p, k, m, stop, seed, pp, fp)| GenerationParams {
            temperature: t,
            top_p: p,
            top_k: k,
            max_tokens: m,
            stop,
            seed,
            presence_penalty: pp,
            frequency_penalty: fp,
        });
    let format = prop_oneof![
        Just(None),
        Just(Some(ResponseFormat::Text)),
        Just(Some(ResponseFormat::JsonObject)),
        schema().prop_map(|s| Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: s,
            strict: None
        })),
    ];
    (
        "[a-z0-9/.-]{1,16}",
        messages(),
        tools,
        0u8..5,
        params,
        format,
        prop::option::of(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(
            |(model, messages, tools, choice, params, response_format, budget, stream)| {
                let mut seen = std::collections::HashSet::new();
                let tools: Vec<ToolDefinition> = tools
                    .into_iter()
                    .filter(|(n, _, _)| seen.insert(n.clone()))
                    .map(|(name, description, parameters)| ToolDefinition {
                        name,
                        description,
                        parameters,
                        strict: None,
                        freeform: None,
                    })
                    .collect();
                let tool_choice = match (choice, tools.first()) {
                    (_, None) | (0, _) => None,
                    (1, _) => Some(ToolChoice::Auto),
                    (2, _) => Some(ToolChoice::None),
                    (3, _) => Some(ToolChoice::Required),
                    (_, Some(t)) => Some(ToolChoice::Function(t.name.clone())),
                };
                ChatRequest {
                    model,
                    messages,
                    tools,
                    tool_choice,
                    parallel_tool_calls: None,
                    params,
                    response_format,
                    reasoning: budget.map(|b| ReasoningConfig {
                        budget_tokens: Some(b),
                        effort: None,
                    }),
                    stream,
                    include_usage: stream,
                    metadata: RequestMetadata::default(),
                    raw: None,
                    ..Default::default()
                }
            },
        )
}

/// Call ids read from a Gemini answer are marked as Gemini-issued (`gmid_`); the
/// client encoder leaves the mark out. Strip it to compare.
fn unmark(id: &str) -> String {
    id.strip_prefix("gmid_").unwrap_or(id).to_owned()
}

/// A call's thought signature read from a Gemini answer rides in its id; the parts
/// generated here carry it the other way Gemini answers are represented, as a carrier
/// after the call. Back to that form (and unmarked) to compare.
fn carriers_after_calls(content: Vec<ContentPart>) -> Vec<ContentPart> {
    let mut out = Vec::with_capacity(content.len());
    for p in content {
        match p {
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                let (base, sig) = ax_providers::tool_ids::thought_signature(&id);
                out.push(ContentPart::ToolCall {
                    id: unmark(base),
                    name,
                    arguments,
                });
                out.extend(sig.map(|sig| ContentPart::Reasoning {
                    text: String::new(),
                    signature: Some(sig),
                    redacted: None,
                }));
            }
            other => out.push(other),
        }
    }
    out
}

/// The same for stream events: the signature follows the call's arguments.
fn signatures_after_calls(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut out = Vec::with_capacity(events.len());
    let mut pending = None;
    for e in events {
        match e {
            StreamEvent::ToolCallStart { index, id, name } => {
                let (base, sig) = ax_providers::tool_ids::thought_signature(&id);
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: unmark(base),
                    name,
                });
                pending = sig;
            }
            e @ StreamEvent::ToolCallDelta { .. } => {
                out.push(e);
                out.extend(
                    pending
                        .take()
                        .map(|signature| StreamEvent::ReasoningSignature { signature }),
                );
            }
            other => out.push(other),
        }
    }
    out
}

/// Gemini carries no call ids it did not issue (they are matched by name and order), so
/// requests are compared with every id replaced by its call's position; a result keeps
/// pointing at the position of the call it answers.
fn by_position(mut req: ChatRequest) -> ChatRequest {
    let mut ids = std::collections::HashMap::new();
    for m in &mut req.messages {
        for p in &mut m.content {
            if let ContentPart::ToolCall { id, .. } = p {
                let n = format!("#{}", ids.len());
                ids.insert(id.clone(), n.clone());
                *id = n;
            }
        }
    }
    for m in &mut req.messages {
        for p in &mut m.content {
            if let ContentPart::ToolResult { tool_call_id, .. } = p {
                *tool_call_id = ids.get(tool_call_id).cloned().unwrap_or_else(|| "?".into());
            }
        }
    }
    req
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn responses_round_trip(r in chat_response()) {
        let bytes = GeminiCodec.encode_response(&ax_core::ChatRequest::default(), &r);
        let mut back = decode_response(&bytes).unwrap();
        back.created = 0;
        back.content = carriers_after_calls(back.content);
        prop_assert_eq!(back, r);
    }

    #[test]
    fn requests_round_trip(req in chat_request()) {
        let body = encode_request(&req, &req.model, req.stream, &ProviderConfig::new("g", ProviderKind::Gemini));
        let mut back = GeminiCodec
            .decode_request(
                &body,
                DecodeOptions {
                    path_model: Some(req.model.clone()),
                    path_stream: Some(req.stream),
                    metadata: RequestMetadata::default(),
                                    ..DecodeOptions::default()
                },
            )
            .unwrap();
        prop_assert!(back.raw.is_some());
        back.raw = None;
        prop_assert_eq!(by_position(back), by_position(req));
    }

    #[test]
    fn streams_round_trip(r in chat_response()) {
        // The answer as a stream of events, as a Gemini upstream decoder would give it.
        let mut events = vec![StreamEvent::Start { id: r.id.clone(), model: r.model.clone(), created: 0 }];
        let mut index = 0u32;
        for p in &r.content {
            match p {
                ContentPart::Text { text } => events.push(StreamEvent::TextDelta { text: text.clone() }),
                ContentPart::Reasoning { text, signature, .. } => {
                    if !text.is_empty() {
                        events.push(StreamEvent::ReasoningDelta { text: text.clone() });
                    }
                    if let Some(s) = signature {
                        events.push(StreamEvent::ReasoningSignature { signature: s.clone() });
                    }
                }
                ContentPart::ToolCall { id, name, arguments } => {
                    events.push(StreamEvent::ToolCallStart { index, id: id.clone(), name: name.clone() });
                    events.push(StreamEvent::ToolCallDelta { index, arguments: arguments.clone() });
                    index += 1;
                }
                _ => {}
            }
        }
        events.push(StreamEvent::Finish { reason: r.finish_reason, stop_sequence: None });
        events.push(StreamEvent::Usage(r.usage));
        let mut enc = GeminiCodec.stream_encoder(&ChatRequest::default());
        let mut out = Vec::new();
        for e in &events {
            enc.encode(e, &mut out);
        }
        enc.finish(&mut out);
        let mut sse = SseDecoder::new();
        let mut frames = Vec::new();
        sse.feed(&out, &mut frames).unwrap();
        sse.finish(&mut frames).unwrap();
        let mut dec = GeminiStreamDecoder::new();
        let mut back = Vec::new();
        for f in &frames {
            back.extend(dec.decode(f).unwrap());
        }
        back.extend(dec.finish().unwrap());
        // Gemini has no creation time; the decoder stamps its own.
        if let Some(StreamEvent::Start { created, .. }) = back.first_mut() {
            *created = 0;
        }
        let back = signatures_after_calls(back);
        // Usage arrives once, on the final chunk.
        prop_assert_eq!(back, events);
    }
}
