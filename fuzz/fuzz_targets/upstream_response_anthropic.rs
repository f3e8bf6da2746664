//! An upstream anthropic answer body: decode it (as a success and as an error body), then
//! encode the result for every client format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ax_providers::anthropic::decode_response(data) {
        Ok(resp) => ax_fuzz::exercise_response(&resp),
        Err(e) => ax_fuzz::exercise_error(&e),
    }
    let (status, headers) = ax_fuzz::status_and_headers(data);
    let err = ax_providers::anthropic::decode_error(status, &headers, data);
    ax_fuzz::exercise_error(&err);
});
