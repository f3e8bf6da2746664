//! Gemini 3 thought signatures: models named `gemini-3*` sign their function calls and,
//! in strict mode, refuse a later turn whose calls come back without the signature or
//! with one they did not issue, as the real API does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use common::{json, sse, start};
use serde_json::{Value, json};

const GEN3: &str = "/v1beta/models/gemini-3-pro-preview:generateContent";
const STREAM3: &str = "/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse";
const GEN2: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

fn tools(mode: &str) -> Value {
    json!({
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": mode}},
    })
}

fn first_turn() -> Value {
    let mut b = tools("ANY");
    b["contents"] = json!([{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]);
    b
}

/// The follow-up: the call as `call` (the part the model sent, possibly altered) and its
/// result.
fn follow_up(call: &Value) -> Value {
    let mut b = tools("AUTO");
    b["contents"] = json!([
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [call]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
            "response": {"output": "sunny"}}}]}
    ]);
    b
}

#[tokio::test]
async fn gemini_3_signs_its_calls_and_wants_them_back() {
    let t = start();
    let (status, _, v) = json(t.gemini(GEN3, &first_turn())).await;
    assert_eq!(status, 200, "{v}");
    let part = v["candidates"][0]["content"]["parts"][0].clone();
    let sig = part["thoughtSignature"]
        .as_str()
        .expect("a signature")
        .to_owned();
    assert!(sig.len() > 300, "as long as real ones: {sig}");

    // Sent back as received: answered.
    let (status, _, v) = json(t.gemini(GEN3, &follow_up(&part))).await;
    assert_eq!(status, 200, "{v}");
    // Without it: the API's refusal.
    let mut unsigned = part.clone();
    unsigned.as_object_mut().unwrap().remove("thoughtSignature");
    let (status, _, v) = json(t.gemini(GEN3, &follow_up(&unsigned))).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Function call is missing a thought_signature in functionCall parts.")
            && msg.contains("`default_api:get_weather` , position 2"),
        "{msg}"
    );
    // Another provider's signature: corrupted.
    let mut foreign = part.clone();
    foreign["thoughtSignature"] = json!("EqQBCgIYAhIM1gbcDa9GJwZA2b3h");
    let (status, _, v) = json(t.gemini(GEN3, &follow_up(&foreign))).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["message"], "Corrupted thought signature.");
    // Google's documented skip value passes; so does the URL-safe spelling.
    let mut skip = part.clone();
    skip["thoughtSignature"] = json!("skip_thought_signature_validator");
    let (status, _, _) = json(t.gemini(GEN3, &follow_up(&skip))).await;
    assert_eq!(status, 200);
    let mut url_safe = part;
    let s = sig.replace('+', "-").replace('/', "_");
    url_safe["thoughtSignature"] = json!(s.trim_end_matches('='));
    let (status, _, v) = json(t.gemini(GEN3, &follow_up(&url_safe))).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn only_the_current_turn_is_checked_and_older_models_do_not_sign() {
    let t = start();
    // An unsigned call in an earlier turn (a new user message followed it): accepted.
    let mut b = tools("AUTO");
    b["contents"] = json!([
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]},
        {"role": "model", "parts": [{"text": "Sunny."}]},
        {"role": "user", "parts": [{"text": "Thanks!"}]}
    ]);
    let (status, _, v) = json(t.gemini(GEN3, &b)).await;
    assert_eq!(status, 200, "{v}");
    // Gemini 2.x neither signs nor checks.
    let (_, _, v) = json(t.gemini(GEN2, &first_turn())).await;
    let part = v["candidates"][0]["content"]["parts"][0].clone();
    assert!(part.get("thoughtSignature").is_none(), "{part}");
    let (status, _, _) = json(t.gemini(GEN2, &follow_up(&part))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn streamed_calls_are_signed_too() {
    let t = start();
    let events = sse(t.gemini(STREAM3, &first_turn())).await;
    assert_eq!(events.len(), 1);
    let part = &events[0].json()["candidates"][0]["content"]["parts"][0];
    assert!(
        part["thoughtSignature"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}
