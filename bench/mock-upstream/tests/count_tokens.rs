//! The native token count endpoints: Anthropic `POST /v1/messages/count_tokens` and
//! Gemini `:countTokens` answer the input tokens their generation endpoint would report
//! for the same prompt, and refuse what the real endpoints refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use common::{json, start};
use serde_json::json;

#[tokio::test]
async fn anthropic_counts_what_messages_reports_as_input() {
    let t = start();
    let prompt = json!({
        "model": "claude-3-5-sonnet-20241022",
        "system": "be brief",
        "messages": [{"role": "user", "content": "count the tokens of this sentence"}],
    });
    let count = t
        .http
        .post(t.url("/v1/messages/count_tokens"))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&prompt);
    let (status, _, v) = json(count).await;
    assert_eq!(status, 200, "{v}");
    let mut messages = prompt.clone();
    messages["max_tokens"] = json!(16);
    let (_, _, m) = json(t.anthropic(&messages)).await;
    assert_eq!(v, json!({"input_tokens": m["usage"]["input_tokens"]}));

    // A Messages body is not a count body: `max_tokens` is refused.
    let count = t
        .http
        .post(t.url("/v1/messages/count_tokens"))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&messages);
    let (status, _, v) = json(count).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "max_tokens: Extra inputs are not permitted"
    );
    assert_eq!(t.mock.hits("/v1/messages/count_tokens"), 2);
}

#[tokio::test]
async fn gemini_counts_contents_or_a_generate_content_request() {
    let t = start();
    let contents = json!([{"role": "user", "parts": [{"text": "count the tokens of this"}]}]);
    let path = "/v1beta/models/gemini-2.0-flash:countTokens";
    let (status, _, plain) = json(t.gemini(path, &json!({"contents": contents}))).await;
    assert_eq!(status, 200, "{plain}");
    let generate = json!({"contents": contents, "systemInstruction": {"parts": [{"text": "sys"}]}});
    let (_, _, g) =
        json(t.gemini("/v1beta/models/gemini-2.0-flash:generateContent", &generate)).await;
    let mut wrapped = generate.clone();
    wrapped["model"] = json!("models/gemini-2.0-flash");
    let (status, _, w) = json(t.gemini(path, &json!({"generateContentRequest": wrapped}))).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["totalTokens"], g["usageMetadata"]["promptTokenCount"]);
    assert!(w["totalTokens"].as_u64().unwrap() > plain["totalTokens"].as_u64().unwrap());

    // No contents, an unknown model, generation settings at the top: refused.
    let (status, _, v) = json(t.gemini(path, &json!({}))).await;
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (status, _, _) = json(t.gemini(
        "/v1beta/models/gpt-4o:countTokens",
        &json!({"contents": contents}),
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _, v) = json(t.gemini(
        path,
        &json!({"contents": contents, "generationConfig": {"temperature": 1}}),
    ))
    .await;
    assert_eq!(status, 400, "{v}");
}
