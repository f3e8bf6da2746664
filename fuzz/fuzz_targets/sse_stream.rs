//! An upstream event stream, split into reads at fuzzer-chosen points.
//!
//! Input layout: byte 0 = number of split points (mod 8), then that many bytes giving
//! each split position as a fraction of the payload, then the payload. Checks that the
//! SSE decoder yields the same frames (and the same error) however the bytes are split,
//! then runs the frames through every upstream stream decoder and every client encoder.
#![no_main]

use ax_providers::{SseDecoder, SseFrame};
use libfuzzer_sys::fuzz_target;

fn decode(chunks: &[&[u8]]) -> (Vec<SseFrame>, bool) {
    let mut d = SseDecoder::new();
    let mut frames = Vec::new();
    for c in chunks {
        if d.feed(c, &mut frames).is_err() {
            return (frames, false);
        }
    }
    let ok = d.finish(&mut frames).is_ok();
    (frames, ok)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8).min(rest.len());
    let (cuts, payload) = rest.split_at(n);
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) * payload.len() / 256)
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(&payload[start..p]);
        start = p;
    }
    chunks.push(&payload[start..]);

    let whole = decode(&[payload]);
    let split = decode(&chunks);
    assert_eq!(
        whole, split,
        "SSE frames depend on how the bytes were split"
    );

    let frames = &whole.0;
    ax_fuzz::drive_stream(
        &mut ax_providers::openai::OpenAiStreamDecoder::new(),
        frames,
    );
    ax_fuzz::drive_stream(
        &mut ax_providers::anthropic::AnthropicStreamDecoder::new(),
        frames,
    );
    ax_fuzz::drive_stream(
        &mut ax_providers::gemini::GeminiStreamDecoder::new(),
        frames,
    );
});
