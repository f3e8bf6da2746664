//! A client's gemini-format chat request body: decode, then encode for every upstream.
#![no_main]

use ax_providers::{ClientCodec, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions {
        path_model: Some("gemini-2.0-flash".to_owned()),
        path_stream: Some(data.len() % 2 == 0),
        ..Default::default()
    };
    if let Ok(req) = ax_providers::gemini::GeminiCodec.decode_request(data, opts) {
        ax_fuzz::exercise_request(&req);
    }
});
