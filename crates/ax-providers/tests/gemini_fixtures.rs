//! Decoding of recorded Gemini answers and streams (see `fixtures/gemini/SOURCES.md`)
//! into the unified values they mean, and the stream decoder's independence from how
//! bytes are split.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or decoder output should fail the test loudly"
)]

use ax_core::{ContentPart, ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use ax_providers::gemini::{GeminiStreamDecoder, decode_error, decode_response};
use ax_providers::{SseDecoder, StreamDecoder};
use http::HeaderMap;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Feeds `parts` through the SSE decoder and a fresh Gemini decoder; returns every
/// event and how the stream ended (the first error, or `finish()`'s verdict). `Start`
/// ids and times that the upstream did not send are generated, so they are blanked.
fn decode_stream(parts: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), GatewayError>) {
    let mut sse = SseDecoder::new();
    let mut dec = GeminiStreamDecoder::new();
    let mut frames = Vec::new();
    for p in parts {
        sse.feed(p, &mut frames).unwrap();
    }
    sse.finish(&mut frames).unwrap();
    let mut events = Vec::new();
    for f in &frames {
        match dec.decode(f) {
            Ok(ev) => events.extend(ev),
            Err(e) => return (normalize(events), Err(e)),
        }
    }
    let end = dec.finish().map(|ev| events.extend(ev));
    (normalize(events), end)
}

fn normalize(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::Start { id, model, .. } => StreamEvent::Start {
                id: if id.starts_with("gemini-") {
                    "generated".into()
                } else {
                    id
                },
                model,
                created: 0,
            },
            other => other,
        })
        .collect()
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn last_usage(events: &[StreamEvent]) -> Usage {
    let mut u = Usage::default();
    for e in events {
        if let StreamEvent::Usage(x) = e {
            u.merge_max(x);
        }
    }
    u
}

fn finishes(events: &[StreamEvent]) -> Vec<FinishReason> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Finish { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn text_response() {
    let r = decode_response(&fixture("response_text.json")).unwrap();
    assert_eq!(
        r.content,
        vec![ContentPart::text(
            "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n"
        )]
    );
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.model, "gemini-2.0-flash");
    assert!(r.id.starts_with("gemini-"), "generated id {}", r.id);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 7,
            output_tokens: 22,
            ..Default::default()
        }
    );
}

#[test]
fn thinking_and_function_call_response() {
    let r = decode_response(&fixture("response_thinking_function_call.json")).unwrap();
    assert_eq!(r.id, "38CHaLjMG6TujrEPtvTiuQk");
    assert_eq!(r.model, "gemini-2.5-pro");
    // STOP with a function call is a tool-call finish.
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.content.len(), 2, "{:#?}", r.content);
    match &r.content[0] {
        ContentPart::Reasoning {
            text, signature, ..
        } => {
            assert!(text.starts_with("**Thinking Through the New Year's Eve Calculation**"));
            assert_eq!(signature, &None);
        }
        other => panic!("expected reasoning, got {other:?}"),
    }
    match &r.content[1] {
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        } => {
            assert_eq!((name.as_str(), arguments.as_str()), ("now", "{}"));
            // The call's signature rides in its id, for clients of every format.
            let (base, sig) = ax_providers::tool_ids::thought_signature(id);
            assert!(base.starts_with("call_gx0_"), "{id}");
            let sig = sig.unwrap();
            assert!(sig.starts_with("CtQOAVSoXO74") && sig.ends_with("Zdw=="));
        }
        other => panic!("expected a tool call, got {other:?}"),
    }
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 38,
            output_tokens: 8 + 501,
            reasoning_tokens: 501,
            ..Default::default()
        }
    );
    // Identical answers get identical ids.
    let again = decode_response(&fixture("response_thinking_function_call.json")).unwrap();
    assert_eq!(again.content, r.content);
}

#[test]
fn parallel_calls_get_distinct_ids() {
    let r = decode_response(&fixture("response_parallel_calls.json")).unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    let calls: Vec<(String, String, String)> = r
        .content
        .iter()
        .map(|p| match p {
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => (id.clone(), name.clone(), arguments.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(names, ["sum", "multiply", "subtract"]);
    let args: serde_json::Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(args, serde_json::json!({"y": 1, "x": 2}));
    let mut ids: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(r.usage.is_empty());
}

#[test]
fn cached_and_thinking_usage() {
    let r = decode_response(&fixture("response_implicit_caching.json")).unwrap();
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 12013,
            output_tokens: 15 + 73,
            cached_tokens: 11243,
            reasoning_tokens: 73,
            cache_creation_tokens: 0,
        }
    );
}

#[test]
fn length_and_filtered_with_content() {
    let r = decode_response(&fixture("response_max_tokens.json")).unwrap();
    assert_eq!(r.finish_reason, FinishReason::Length);
    assert_eq!(r.text(), "Safety Failure incoming: ");
    // A filter that stopped an answer which already said something: a success with a
    // content-filter finish (the client gets what was produced).
    let r = decode_response(&fixture("response_finish_safety.json")).unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.text(), "Safety error incoming in 5, 4, 3, 2...");
}

#[test]
fn prompt_feedback_without_candidates_is_content_filtered() {
    let e = decode_response(&fixture("response_prompt_feedback_only.json")).unwrap_err();
    assert_eq!(e.code, ErrorCode::ContentFiltered);
    assert!(e.message.contains("Message"), "{}", e.message);
    assert!(!e.is_retryable());
}

#[test]
fn text_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_text.sse")]);
    end.unwrap();
    assert_eq!(
        events[0],
        StreamEvent::Start {
            id: "generated".into(),
            model: "gemini-3.1-flash-lite".into(),
            created: 0
        }
    );
    assert_eq!(
        text_of(&events),
        "The capital of Wyoming is **Cheyenne**.\n"
    );
    assert_eq!(finishes(&events), vec![FinishReason::Stop]);
    assert_eq!(
        last_usage(&events),
        Usage {
            input_tokens: 7,
            output_tokens: 10,
            ..Default::default()
        }
    );
    // The last event is the final usage, after the finish.
    assert!(matches!(events.last(), Some(StreamEvent::Usage(_))));
}

#[test]
fn thinking_function_call_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_thinking_function_call.sse")]);
    end.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            StreamEvent::Start { .. } => "start",
            StreamEvent::ReasoningDelta { .. } => "reasoning",
            StreamEvent::ReasoningSignature { .. } => "signature",
            StreamEvent::ToolCallStart { .. } => "call",
            StreamEvent::ToolCallDelta { .. } => "args",
            StreamEvent::Finish { .. } => "finish",
            StreamEvent::Usage(_) => "usage",
            StreamEvent::TextDelta { .. } => "text",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "start",
            "reasoning",
            "usage",
            "reasoning",
            "usage",
            "call",
            "args",
            "finish",
            "usage"
        ]
    );
    assert_eq!(
        events[0],
        StreamEvent::Start {
            id: "48SHaPHpHKbG-8YPtZCawAk".into(),
            model: "gemini-2.5-flash".into(),
            created: 0
        }
    );
    match (&events[5], &events[6]) {
        (
            StreamEvent::ToolCallStart { index: 0, id, name },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments,
            },
        ) => {
            assert_eq!((name.as_str(), arguments.as_str()), ("now", "{}"));
            // The signature rides in the id (no `ReasoningSignature` after the call).
            let (base, sig) = ax_providers::tool_ids::thought_signature(id);
            assert!(base.starts_with("call_gx0_"), "{id}");
            assert!(sig.unwrap().starts_with("CiIBVKhc7vB+"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(finishes(&events), vec![FinishReason::ToolCalls]);
    assert_eq!(
        last_usage(&events),
        Usage {
            input_tokens: 38,
            output_tokens: 6 + 168,
            reasoning_tokens: 168,
            ..Default::default()
        }
    );
}

#[test]
fn blocked_prompt_mid_stream_is_an_error() {
    let (events, end) = decode_stream(&[&fixture("stream_prompt_blocked.sse")]);
    assert_eq!(text_of(&events), "text1text2text3");
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::ContentFiltered);
    assert!(e.message.contains("SAFETY"), "{}", e.message);
}

#[test]
fn recitation_after_content_is_a_content_filter_finish() {
    let (events, end) = decode_stream(&[&fixture("stream_recitation.sse")]);
    end.unwrap();
    assert_eq!(text_of(&events), "text1text2text3text4text5text6text7text8");
    assert_eq!(finishes(&events), vec![FinishReason::ContentFilter]);
    assert_eq!(last_usage(&events).output_tokens, 261);
}

#[test]
fn recitation_before_any_content_is_an_error() {
    // Synthetic: the recitation fixture's last chunk alone.
    let stream = b"data: {\"candidates\": [{\"finishReason\": \"RECITATION\"}],\"usageMetadata\": {\"promptTokenCount\": 9}}\n\n";
    let (_, end) = decode_stream(&[stream]);
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::ContentFiltered);
    assert!(e.message.contains("RECITATION"));
}

#[test]
fn every_split_point_gives_the_same_events() {
    for name in [
        "stream_text.sse",
        "stream_thinking_function_call.sse",
        "stream_prompt_blocked.sse",
        "stream_recitation.sse",
    ] {
        let bytes = fixture(name);
        let whole = decode_stream(&[&bytes]);
        for i in 0..=bytes.len() {
            let split = decode_stream(&[&bytes[..i], &bytes[i..]]);
            assert_eq!(split.0, whole.0, "{name}: split at {i}");
            assert_eq!(
                split.1.as_ref().map_err(|e| e.code),
                whole.1.as_ref().map_err(|e| e.code),
                "{name}: split at {i}"
            );
        }
    }
    // Three-way splits of the shortest recording, sampled.
    let bytes = fixture("stream_text.sse");
    let whole = decode_stream(&[&bytes]);
    for i in (0..bytes.len()).step_by(7) {
        for j in (i..=bytes.len()).step_by(11) {
            let split = decode_stream(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
            assert_eq!(split.0, whole.0, "split at {i},{j}");
        }
    }
}

#[test]
fn cut_stream_fails_at_the_end() {
    // The text recording without its last chunk: no finishReason ever came.
    let bytes = fixture("stream_text.sse");
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.rfind("data: ").unwrap();
    let (events, end) = decode_stream(&[&text.as_bytes()[..cut]]);
    assert_eq!(text_of(&events), "The capital of Wyoming");
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(e.is_retryable());
    // An empty body is cut too.
    assert!(decode_stream(&[b""]).1.is_err());
}

#[test]
fn mid_stream_error_frame_is_an_error() {
    // Synthetic: a google.rpc.Status after a first chunk.
    let stream = b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"}}]}\n\ndata: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\n\n";
    let (events, end) = decode_stream(&[stream]);
    assert_eq!(text_of(&events), "Hi");
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::Overloaded);
    assert_eq!(
        e.message,
        "The model is overloaded. Please try again later."
    );
}

#[test]
fn malformed_chunks_are_server_errors_naming_the_field() {
    let (_, end) = decode_stream(&[
        b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": 5}]}}]}\n\n",
    ]);
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(
        e.message.contains("candidates[0].content.parts[0].text"),
        "{}",
        e.message
    );
    let (_, end) = decode_stream(&[b"data: not json\n\n"]);
    assert_eq!(end.unwrap_err().code, ErrorCode::ServerError);
    let e = decode_response(b"{\"candidates\": 3}").unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(e.message.contains("candidates"), "{}", e.message);
}

#[test]
fn error_fixtures() {
    let rows = [
        (
            "error_api_key.json",
            400,
            ErrorCode::AuthenticationError,
            "API key not valid. Please pass a valid API key.",
        ),
        (
            "error_unknown_model.json",
            404,
            ErrorCode::NotFound,
            "models/gemini-5.0-flash is not found",
        ),
        (
            "error_api_not_enabled.json",
            403,
            ErrorCode::PermissionDenied,
            "Generative Language API has not been used",
        ),
        (
            "error_rate_limit.json",
            429,
            ErrorCode::RateLimitExceeded,
            "You exceeded your current quota",
        ),
    ];
    for (name, status, code, message) in rows {
        let e = decode_error(status, &HeaderMap::new(), &fixture(name));
        assert_eq!(e.code, code, "{name}");
        assert!(e.message.starts_with(message), "{name}: {}", e.message);
        assert_eq!(e.upstream_status, Some(status));
    }
}
