//! Any sequence of unified stream events, as an upstream decoder might produce it,
//! through every client stream encoder; the bytes each encoder writes must be a stream
//! that the same format's upstream decoder reads back without error and sees complete.
//!
//! Input: a list of operations, one byte each, with a few following bytes as text,
//! indexes or usage counts.
#![no_main]

use ax_core::{ChatRequest, ErrorCode, FinishReason, StreamEvent, Usage, WireFormat};
use ax_providers::{SseDecoder, StreamDecoder, StreamEncoder, client_codec};
use libfuzzer_sys::fuzz_target;

const REASONS: [FinishReason; 7] = [
    FinishReason::Stop,
    FinishReason::StopSequence,
    FinishReason::Length,
    FinishReason::ToolCalls,
    FinishReason::ContentFilter,
    FinishReason::Pause,
    FinishReason::Other,
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn text(&mut self) -> String {
        let n = usize::from(self.byte().unwrap_or(0) % 12).min(self.0.len());
        let (t, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(t).into_owned()
    }

    fn count(&mut self) -> u64 {
        let hi = u64::from(self.byte().unwrap_or(0));
        let lo = u64::from(self.byte().unwrap_or(0));
        if hi == 255 {
            u64::MAX - lo
        } else {
            hi * 256 + lo
        }
    }
}

fn events(data: &[u8]) -> Vec<StreamEvent> {
    let mut input = Input(data);
    let mut out = Vec::new();
    while let Some(op) = input.byte() {
        out.push(match op % 9 {
            0 => StreamEvent::Start {
                id: input.text(),
                model: input.text(),
                created: i64::from(input.byte().unwrap_or(0)),
            },
            1 => StreamEvent::TextDelta { text: input.text() },
            2 => StreamEvent::ReasoningDelta { text: input.text() },
            3 => StreamEvent::ReasoningSignature {
                signature: input.text(),
            },
            4 => StreamEvent::ToolCallStart {
                index: u32::from(input.byte().unwrap_or(0) % 4),
                id: input.text(),
                name: input.text(),
            },
            5 => StreamEvent::ToolCallDelta {
                index: u32::from(input.byte().unwrap_or(0) % 4),
                arguments: input.text(),
            },
            6 => StreamEvent::Finish {
                reason: REASONS[usize::from(input.byte().unwrap_or(0)) % REASONS.len()],
                stop_sequence: Some(input.text()).filter(|s| !s.is_empty()),
            },
            _ => StreamEvent::Usage(Usage {
                input_tokens: input.count(),
                output_tokens: input.count(),
                cached_tokens: input.count(),
                cache_creation_tokens: input.count(),
                reasoning_tokens: input.count(),
            }),
        });
    }
    out
}

fn decoder(format: WireFormat) -> Box<dyn StreamDecoder> {
    match format {
        WireFormat::OpenAi => Box::new(ax_providers::openai::OpenAiStreamDecoder::new()),
        WireFormat::Anthropic => Box::new(ax_providers::anthropic::AnthropicStreamDecoder::new()),
        WireFormat::Gemini => Box::new(ax_providers::gemini::GeminiStreamDecoder::new()),
    }
}

fn check(format: WireFormat, include_usage: bool, evs: &[StreamEvent]) {
    let req = ChatRequest {
        stream: true,
        include_usage,
        ..Default::default()
    };
    let mut enc: Box<dyn StreamEncoder> = client_codec(format).stream_encoder(&req);
    let mut out = Vec::new();
    for e in evs {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);

    let mut sse = SseDecoder::new();
    let mut frames = Vec::new();
    sse.feed(&out, &mut frames).expect("encoder output is SSE");
    sse.finish(&mut frames).expect("encoder output is SSE");
    let mut dec = decoder(format);
    let mut finishes = 0;
    for f in &frames {
        let got = match dec.decode(f) {
            // A filter finish before any content is how Gemini reports a filtered
            // answer; its decoder turns it into `content_filtered`, as it should.
            Err(e) if format == WireFormat::Gemini && e.code == ErrorCode::ContentFiltered => {
                return;
            }
            other => other,
        };
        let got = got.unwrap_or_else(|e| {
            panic!(
                "{format:?} decoder rejects its encoder's frame {f:?}: {e:?}\n{}",
                String::from_utf8_lossy(&out)
            )
        });
        finishes += got
            .iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. }))
            .count();
    }
    let tail = dec.finish().unwrap_or_else(|e| {
        panic!(
            "{format:?} stream from its encoder is incomplete: {e:?}\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    finishes += tail
        .iter()
        .filter(|e| matches!(e, StreamEvent::Finish { .. }))
        .count();
    assert_eq!(
        finishes,
        1,
        "{format:?}: one finish\n{}",
        String::from_utf8_lossy(&out)
    );
}

fuzz_target!(|data: &[u8]| {
    let evs = events(data);
    check(WireFormat::OpenAi, true, &evs);
    check(WireFormat::OpenAi, false, &evs);
    check(WireFormat::Anthropic, true, &evs);
    check(WireFormat::Gemini, true, &evs);
});
