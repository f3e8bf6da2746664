//! A client's openai-format chat request body: decode, then encode for every upstream.
#![no_main]

use ax_providers::{ClientCodec, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions::default();
    if let Ok(req) = ax_providers::openai::OpenAiCodec.decode_request(data, opts) {
        ax_fuzz::exercise_request(&req);
    }
});
