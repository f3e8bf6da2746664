//! Decoding real Anthropic payloads (see `fixtures/anthropic/SOURCES.md`) into the
//! unified values they mean, and the stream decoder's independence from how bytes are
//! split.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or decoder output should fail the test loudly"
)]

use ax_core::{ContentPart, ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use ax_providers::StreamDecoder;
use ax_providers::anthropic::{AnthropicStreamDecoder, decode_error, decode_response};
use ax_providers::sse::{SseDecoder, SseFrame};
use http::HeaderMap;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds `parts` through the shared SSE decoder and then the Anthropic decoder; the
/// result is every event, then the outcome of `finish`.
fn decode_stream(parts: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), GatewayError>) {
    let mut sse = SseDecoder::new();
    let mut frames: Vec<SseFrame> = Vec::new();
    for p in parts {
        sse.feed(p, &mut frames).unwrap();
    }
    sse.finish(&mut frames).unwrap();
    let mut dec = AnthropicStreamDecoder::new();
    let mut events = Vec::new();
    for f in &frames {
        match dec.decode(f) {
            Ok(evs) => events.extend(evs),
            Err(e) => return (events, Err(e)),
        }
    }
    match dec.finish() {
        Ok(evs) => {
            events.extend(evs);
            (events, Ok(()))
        }
        Err(e) => (events, Err(e)),
    }
}

/// `Start`'s `created` is the decoding time (Anthropic sends none): zero it to compare.
fn without_time(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    for e in &mut events {
        if let StreamEvent::Start { created, .. } = e {
            *created = 0;
        }
    }
    events
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
        created: 0,
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta { text: t.into() }
}

fn args(t: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        index: 0,
        arguments: t.into(),
    }
}

fn usage(input: u64, output: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    })
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish {
        reason,
        stop_sequence: None,
    }
}

#[test]
fn basic_text_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_basic.sse")]);
    end.unwrap();
    assert_eq!(
        without_time(events),
        vec![
            start(
                "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK",
                "claude-3-opus-latest"
            ),
            // message_start's output count is a placeholder, not carried.
            usage(11, 0),
            text("Hello"),
            text(" there"),
            text("!"),
            finish(FinishReason::Stop),
            // Cumulative: the input from message_start is kept.
            usage(11, 6),
        ]
    );
}

#[test]
fn tool_use_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_tool_use.sse")]);
    end.unwrap();
    assert_eq!(
        without_time(events),
        vec![
            start("msg_019Q1hrJbZG26Fb9BQhrkHEr", "claude-sonnet-4-20250514"),
            usage(377, 0),
            text("I"),
            text("'ll check the current weather in Paris for you."),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01NRLabsLyVHZPKxbKvkfSMn".into(),
                name: "get_weather".into(),
            },
            args("{\"locati"),
            args("on\": \"P"),
            args("ar"),
            args("is\"}"),
            finish(FinishReason::ToolCalls),
            usage(377, 65),
        ]
    );
}

#[test]
fn recorded_tool_use_stream_with_padding_and_delta_usage() {
    let (events, end) = decode_stream(&[&fixture("stream_tool_use_recorded.sse")]);
    end.unwrap();
    let events = without_time(events);
    assert_eq!(
        events[..3],
        [
            start("msg_01R4hRKPvDP3eyHsaAgs1gBn", "claude-haiku-4-5-20251001"),
            // The output count of record comes with message_delta only.
            usage(656, 0),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01TJoxvFknVdnV9XpWFPaRmY".into(),
                name: "get_weather".into(),
            },
        ]
    );
    let arguments: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        arguments,
        r#"{"location": "San Francisco, CA", "units": "f"}"#
    );
    assert_eq!(
        events[events.len() - 2..],
        [finish(FinishReason::ToolCalls), usage(656, 74)]
    );
}

#[test]
fn docs_tool_use_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_docs_tool_use.sse")]);
    end.unwrap();
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Okay, let's check the weather for San Francisco, CA:");
    let arguments: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments,
            } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        arguments,
        r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#
    );
    let n = events.len();
    assert_eq!(
        without_time(events)[n - 2..],
        [finish(FinishReason::ToolCalls), usage(472, 89)]
    );
}

#[test]
fn docs_thinking_stream_without_usage() {
    let (events, end) = decode_stream(&[&fixture("stream_docs_thinking.sse")]);
    end.unwrap();
    let events = without_time(events);
    let reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ReasoningDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(reasoning.starts_with("Let me solve this step by step:\n\n1. First break down"));
    assert!(reasoning.ends_with("10,800 + 1,350 + 81 = 12,231"));
    // The signature closes the thinking block, before the answer text.
    let sig = events
        .iter()
        .position(|e| {
            *e == StreamEvent::ReasoningSignature {
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into(),
            }
        })
        .unwrap();
    let answer = events
        .iter()
        .position(|e| *e == text("27 * 453 = 12,231"))
        .unwrap();
    assert!(sig < answer);
    assert_eq!(events[0], start("msg_01...", "claude-sonnet-4-5-20250929"));
    // No usage anywhere in this stream, and exactly one Finish at the end.
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Usage(_))));
    assert_eq!(events.last(), Some(&finish(FinishReason::Stop)));
}

#[test]
fn every_split_point_gives_the_same_events() {
    for name in [
        "stream_basic.sse",
        "stream_tool_use.sse",
        "stream_tool_use_recorded.sse",
        "stream_docs_thinking.sse",
        "stream_docs_tool_use.sse",
    ] {
        let bytes = fixture(name);
        let (whole, end) = decode_stream(&[&bytes]);
        end.unwrap();
        let whole = without_time(whole);
        for i in 0..=bytes.len() {
            let (split, end) = decode_stream(&[&bytes[..i], &bytes[i..]]);
            assert_eq!(without_time(split), whole, "{name}: split at {i}");
            assert!(end.is_ok(), "{name}: split at {i}");
        }
        // Three-way splits, sampled.
        for i in (0..bytes.len()).step_by(97) {
            for j in (i..=bytes.len()).step_by(131) {
                let (split, _) = decode_stream(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(without_time(split), whole, "{name}: split at {i},{j}");
            }
        }
    }
}

#[test]
fn a_cut_stream_fails_at_the_end() {
    let text = String::from_utf8(fixture("stream_tool_use.sse")).unwrap();
    let stop = text.find("event: message_stop").unwrap();
    // Cut anywhere before message_stop: what arrived is decoded, then the stream fails
    // (a half line is a broken event; a whole one lacks the terminal marker).
    for cut in 0..stop {
        let (_, end) = decode_stream(&[&text.as_bytes()[..cut]]);
        assert_eq!(
            end.unwrap_err().code,
            ErrorCode::ServerError,
            "cut at {cut}"
        );
    }
    // Cut between events: the failure says which marker is missing.
    for (cut, _) in text[..stop].match_indices("\n\nevent:") {
        let (_, end) = decode_stream(&[&text.as_bytes()[..cut + 2]]);
        assert_eq!(end.unwrap_err().message, "stream ended before message_stop");
    }
}

#[test]
fn text_response() {
    let r = decode_response(&fixture("response_text.json")).unwrap();
    assert_eq!(r.id, "msg_01Egs18hRzhru3uGon3qesbA");
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    assert_eq!(
        r.content,
        vec![ContentPart::text(
            r#"{"product_name": "Green Tea", "price": 5.50, "quantity": 2}"#
        )]
    );
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.stop_sequence, None);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 249,
            output_tokens: 26,
            ..Default::default()
        }
    );
}

#[test]
fn tool_use_response_keeps_the_input_text() {
    let r = decode_response(&fixture("response_tool_use.json")).unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    let [
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        },
    ] = r.content.as_slice()
    else {
        panic!("{:?}", r.content);
    };
    assert_eq!(id, "toolu_013DU6hV4C1M8dJ32ybQFAFi");
    assert_eq!(name, "get_weather");
    // The exact JSON text of `input`, as the upstream formatted it.
    assert_eq!(
        arguments,
        "{\n        \"location\": \"SF\",\n        \"units\": \"c\"\n      }"
    );
    let v: serde_json::Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(v, serde_json::json!({"location": "SF", "units": "c"}));
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (597, 71));
}

#[test]
fn server_tool_blocks_are_skipped() {
    let r = decode_response(&fixture("response_server_tool.json")).unwrap();
    assert_eq!(r.content.len(), 2, "{:?}", r.content);
    assert_eq!(
        r.content[0],
        ContentPart::text("I'll check the weather for all three cities in Celsius simultaneously.")
    );
    assert!(matches!(
        &r.content[1],
        ContentPart::ToolCall { id, name, .. } if id == "toolu_011MDRpaZRMRRjtFkJizD6nS" && name == "get_weather"
    ));
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (3182, 237));
}

#[test]
fn docs_thinking_response() {
    let r = decode_response(&fixture("response_thinking_docs.json")).unwrap();
    assert_eq!(
        r.content,
        vec![
            ContentPart::Reasoning {
                text: "Let me analyze this step by step...".into(),
                signature: Some(
                    "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."
                        .into()
                ),
                redacted: None,
            },
            ContentPart::Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ...".into()),
            },
            ContentPart::text("Based on my analysis..."),
        ]
    );
    // A body with no id, model, stop_reason or usage still decodes.
    assert!(r.id.starts_with("msg_"));
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, Usage::default());
}

#[test]
fn docs_error_body() {
    let e = decode_error(404, &HeaderMap::new(), &fixture("error_not_found.json"));
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.message, "The requested resource could not be found.");
    assert_eq!(e.upstream_status, Some(404));
    assert!(!e.is_retryable());
}

#[test]
fn a_200_error_body_is_an_error() {
    let e = decode_response(
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::Overloaded, "Overloaded")
    );
}

#[test]
fn malformed_answers_are_server_errors_naming_the_field() {
    let e = decode_response(br#"{"content": "nope"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert!(e.message.contains("content"), "{}", e.message);
    let e = decode_response(br#"{"content": [], "usage": {"input_tokens": -1}}"#).unwrap_err();
    assert!(e.message.contains("usage.input_tokens"), "{}", e.message);
    let e = decode_response(br#"{"content": [{"type": "text", "text": 5}]}"#).unwrap_err();
    assert!(e.message.contains("content[0]"), "{}", e.message);
    assert!(e.message.contains("text"), "{}", e.message);
    let e = decode_response(b"not json").unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
}
