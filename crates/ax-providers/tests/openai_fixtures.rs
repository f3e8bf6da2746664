//! Decoding real OpenAI payloads (see `fixtures/openai/SOURCES.md`) into the unified
//! values they mean, and the stream decoder's independence from how bytes are split.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use ax_core::{ContentPart, ErrorCode, FinishReason, GatewayError, StreamEvent, Usage};
use ax_providers::StreamDecoder;
use ax_providers::openai::{OpenAiStreamDecoder, decode_error, decode_response};
use ax_providers::sse::{SseDecoder, SseFrame};
use http::HeaderMap;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/openai/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Feeds `parts` through the shared SSE decoder and then the OpenAI decoder; the
/// result is every event, then the outcome of `finish`.
fn decode_stream(parts: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), GatewayError>) {
    let mut sse = SseDecoder::new();
    let mut frames: Vec<SseFrame> = Vec::new();
    for p in parts {
        sse.feed(p, &mut frames).unwrap();
    }
    sse.finish(&mut frames).unwrap();
    let mut dec = OpenAiStreamDecoder::new();
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

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn args_of(events: &[StreamEvent], index: u32) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta {
                index: i,
                arguments,
            } if *i == index => Some(arguments.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn text_response() {
    let r = decode_response(&fixture("response_text.json")).unwrap();
    assert_eq!(r.id, "chatcmpl-ABfvaueLEMLNYbT8YzpJxsmiQ6HSY");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    assert_eq!(r.created, 1727346142);
    assert_eq!(
        r.content,
        vec![ContentPart::text(
            "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or app like the Weather Channel or a local news station."
        )]
    );
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.stop_sequence, None);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 14,
            output_tokens: 37,
            ..Default::default()
        }
    );
}

#[test]
fn tool_call_response() {
    let r = decode_response(&fixture("response_tool_calls.json")).unwrap();
    assert_eq!(
        r.content,
        vec![
            ContentPart::ToolCall {
                id: "call_fdNz3vOBKYgOIpMdWotB9MjY".into(),
                name: "GetWeatherArgs".into(),
                arguments: r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#.into(),
            },
            ContentPart::ToolCall {
                id: "call_h1DWI1POMJLb0KwIyQHWXD4p".into(),
                name: "get_stock_price".into(),
                arguments: r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#.into(),
            },
        ]
    );
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (149, 60));
}

#[test]
fn refusal_and_length_responses() {
    let r = decode_response(&fixture("response_refusal.json")).unwrap();
    assert_eq!(r.text(), "I'm very sorry, but I can't assist with that.");
    assert_eq!(r.finish_reason, FinishReason::Stop);

    let r = decode_response(&fixture("response_length.json")).unwrap();
    assert_eq!(r.text(), "{\"");
    assert_eq!(r.finish_reason, FinishReason::Length);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (79, 1));
}

#[test]
fn api_reference_response_with_usage_details() {
    let r = decode_response(&fixture("response_api_reference.json")).unwrap();
    assert_eq!(r.text(), "Hello! How can I assist you today?");
    assert_eq!(r.model, "gpt-4.1-2025-04-14");
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 19,
            output_tokens: 10,
            cached_tokens: 0,
            cache_creation_tokens: 0,
            reasoning_tokens: 0,
        }
    );
}

#[test]
fn text_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_text.sse")]);
    end.unwrap();
    assert_eq!(
        events.first(),
        Some(&StreamEvent::Start {
            id: "chatcmpl-9tXjg9DdaOfymTPDrSLfxslQEH0C2".into(),
            model: "gpt-4o-2024-08-06".into(),
            created: 1723024748,
        })
    );
    assert_eq!(
        text_of(&events),
        "I'm unable to provide real-time updates, including current weather information. For the latest weather in San Francisco, I recommend checking a reliable weather website or app such as the Weather Channel, BBC Weather, or a local San Francisco news station."
    );
    let n = events.len();
    assert_eq!(
        events[n - 2..],
        [
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input_tokens: 14,
                output_tokens: 47,
                ..Default::default()
            }),
        ]
    );
    let starts = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Start { .. }))
        .count();
    let finishes = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Finish { .. }))
        .count();
    assert_eq!((starts, finishes), (1, 1));
}

#[test]
fn tool_call_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_tool_call.sse")]);
    end.unwrap();
    assert_eq!(
        events[1],
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_7PhhveOvvpPK53s1fV8TWhoV".into(),
            name: "GetWeatherArgs".into(),
        }
    );
    assert_eq!(
        args_of(&events, 0),
        r#"{"city":"Edinburgh","country":"GB","units":"c"}"#
    );
    assert!(events.contains(&StreamEvent::Finish {
        reason: FinishReason::ToolCalls,
        stop_sequence: None
    }));
    assert_eq!(text_of(&events), "");
}

#[test]
fn parallel_tool_calls_stream() {
    let (events, end) = decode_stream(&[&fixture("stream_parallel_tools.sse")]);
    end.unwrap();
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, id, name } => {
                Some((*index, id.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (0, "call_lQnnsesjFMWMQ5IeWPHzR4th", "GetWeatherArgs"),
            (1, "call_2xjOUgaCdiwAcl9ZBL9LyMUU", "get_stock_price"),
        ]
    );
    assert_eq!(
        args_of(&events, 0),
        r#"{"city": "Edinburgh", "country": "UK", "units": "c"}"#
    );
    assert_eq!(
        args_of(&events, 1),
        r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Usage(Usage {
            input_tokens: 149,
            output_tokens: 60,
            ..Default::default()
        }))
    );
}

#[test]
fn every_split_point_gives_the_same_events() {
    for name in [
        "stream_tool_call.sse",
        "stream_parallel_tools.sse",
        "stream_text.sse",
    ] {
        let bytes = fixture(name);
        let whole = decode_stream(&[&bytes]);
        whole.1.as_ref().unwrap();
        let n = bytes.len();
        // Every split point of the tool-call recordings; for the long text recording,
        // every point of its first and last 1500 bytes (role chunk; finish, usage and
        // [DONE]) and every 7th in between, to keep the test fast in debug builds.
        let points: Vec<usize> = if name == "stream_text.sse" {
            (0..=n)
                .filter(|i| *i < 1500 || *i + 1500 > n || i % 7 == 0)
                .collect()
        } else {
            (0..=n).collect()
        };
        for i in points {
            let split = decode_stream(&[&bytes[..i], &bytes[i..]]);
            assert_eq!(split.0, whole.0, "{name}: split at {i}");
            assert!(split.1.is_ok(), "{name}: split at {i}");
        }
    }
    // Three-way splits on the shortest recording, sampled every few bytes.
    let bytes = fixture("stream_tool_call.sse");
    let whole = decode_stream(&[&bytes]).0;
    for i in (0..bytes.len()).step_by(211) {
        for j in (i..=bytes.len()).step_by(307) {
            assert_eq!(
                decode_stream(&[&bytes[..i], &bytes[i..j], &bytes[j..]]).0,
                whole,
                "split at {i},{j}"
            );
        }
    }
}

#[test]
fn cut_stream_fails_at_the_end() {
    let bytes = fixture("stream_text.sse");
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.replace("data: [DONE]\n\n", "");
    let (events, end) = decode_stream(&[cut.as_bytes()]);
    let err = end.unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerError);
    assert_eq!(err.message, "stream ended before [DONE]");
    // Everything before the cut was still delivered.
    assert!(text_of(&events).ends_with("news station."));
    // Cut in the middle of a chunk: the half line is dispatched at finish and is not JSON.
    let half = &text.as_bytes()[..text.len() / 2];
    assert!(decode_stream(&[half]).1.is_err());
}

#[test]
fn mid_stream_error_frame_is_an_error() {
    // Synthetic: the error shape OpenAI documents for failures after the 200.
    let body = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\
                data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
    let (events, end) = decode_stream(&[body.as_bytes()]);
    assert_eq!(text_of(&events), "Hi");
    let err = end.unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerError);
    assert!(err.message.contains("server had an error"));

    let overloaded = "data: {\"error\":{\"message\":\"slow down\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n";
    assert_eq!(
        decode_stream(&[overloaded.as_bytes()]).1.unwrap_err().code,
        ErrorCode::RateLimitExceeded
    );
}

#[test]
fn usage_null_chunks_and_reasoning_content() {
    // Synthetic, in the current API's include_usage form (`"usage": null` on every chunk)
    // with DeepSeek/vLLM-style `reasoning_content` deltas and a vLLM `stop_reason`.
    let body = concat!(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"Think\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Answer\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\",\"stop_reason\":\"END\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"deepseek-reasoner\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":12}}}\n\n",
        "data: [DONE]\n\n",
    );
    let (events, end) = decode_stream(&[body.as_bytes()]);
    end.unwrap();
    assert_eq!(
        events[1..],
        [
            StreamEvent::ReasoningDelta {
                text: "Think".into()
            },
            StreamEvent::TextDelta {
                text: "Answer".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::StopSequence,
                stop_sequence: Some("END".into())
            },
            StreamEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 20,
                cached_tokens: 4,
                cache_creation_tokens: 0,
                reasoning_tokens: 12,
            }),
        ]
    );
}

#[test]
fn error_fixtures() {
    let e = decode_error(
        400,
        &HeaderMap::new(),
        &fixture("error_context_length.json"),
    );
    assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
    assert_eq!(e.param.as_deref(), Some("messages"));
    assert!(
        e.message
            .starts_with("This model's maximum context length is 4097 tokens.")
    );
    assert_eq!(e.upstream_status, Some(400));

    let e = decode_error(
        429,
        &HeaderMap::new(),
        &fixture("error_insufficient_quota.json"),
    );
    assert_eq!(e.code, ErrorCode::QuotaExceeded);
    assert!(!e.is_retryable());
    assert!(e.message.starts_with("You exceeded your current quota"));
}

#[test]
fn malformed_upstream_bodies_are_server_errors_naming_the_field() {
    let cases: [(&[u8], &str); 5] = [
        (b"not json", "invalid chat completion"),
        (br#"{"choices": []}"#, "`choices` is empty"),
        (
            br#"{"choices": [{"message": {"content": 5}}]}"#,
            "choices[0].message.content",
        ),
        (
            br#"{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": -1}}"#,
            "usage.prompt_tokens",
        ),
        (
            br#"{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1e400}}"#,
            "invalid chat completion",
        ),
    ];
    for (body, needle) in cases {
        let e = decode_response(body).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }
    // Lenient where compatible servers differ: no id, float `created`, null choices fields.
    let r = decode_response(
        br#"{"created": 1.7e9, "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok", "tool_calls": null}, "finish_reason": null}]}"#,
    )
    .unwrap();
    assert_eq!((r.text().as_str(), r.created), ("ok", 1_700_000_000));
    assert!(r.id.starts_with("chatcmpl-"));
}
