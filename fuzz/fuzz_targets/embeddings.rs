//! Embeddings bodies: a client's OpenAI request, and OpenAI and Gemini upstream answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((req, base64)) = ax_providers::openai::decode_embedding_request(data) {
        let _ = ax_providers::openai::encode_embedding_request(&req, "m", base64);
        let _ = ax_providers::gemini::encode_embedding_request(&req, "m");
    }
    if let Ok(resp) = ax_providers::openai::decode_embedding_response(data) {
        let _ = ax_providers::openai::encode_embedding_response(&resp, true);
        let _ = ax_providers::openai::encode_embedding_response(&resp, false);
    }
    let expected = data.len() % 4;
    if let Ok(resp) = ax_providers::gemini::decode_embedding_response(data, expected, "m") {
        let _ = ax_providers::openai::encode_embedding_response(&resp, false);
    }
});
