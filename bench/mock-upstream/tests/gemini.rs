//! Gemini endpoints: generateContent, streamGenerateContent (SSE and JSON array),
//! function calls, embeddings, models, API key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use common::{json, sse, start};
use serde_json::{Value, json};

const GEN: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";

fn body(extra: Value) -> Value {
    let mut b = json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "ping pong from the gemini test"}]}],
        "generationConfig": {"maxOutputTokens": 64},
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

const ANSWER: &str = "Hello from mock-gemini: ping pong from the gemini test";

#[tokio::test]
async fn requires_api_key() {
    let t = start();
    let (status, _, v) = json(t.http.post(t.url(GEN)).json(&body(json!({})))).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], 403);
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
    let (status, _, _) = json(
        t.http
            .post(t.url(&format!("{GEN}?key=abc")))
            .json(&body(json!({}))),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn generate_content_shape() {
    let t = start();
    let (status, _, v) = json(t.gemini(GEN, &body(json!({})))).await;
    assert_eq!(status, 200);
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(c["content"]["parts"], json!([{"text": ANSWER}]));
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    let u = &v["usageMetadata"];
    let (p, k) = (
        u["promptTokenCount"].as_u64().unwrap(),
        u["candidatesTokenCount"].as_u64().unwrap(),
    );
    assert!(p > 0 && k > 0);
    assert_eq!(u["totalTokenCount"].as_u64().unwrap(), p + k);
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");
    assert!(v["responseId"].is_string());
}

#[tokio::test]
async fn v1_path_and_bad_role() {
    let t = start();
    let (status, _, _) = json(t.gemini(
        "/v1/models/gemini-2.0-flash:generateContent",
        &body(json!({})),
    ))
    .await;
    assert_eq!(status, 200);
    let (status, _, v) = json(t.gemini(
        GEN,
        &json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn stream_sse_events() {
    let t = start();
    let events = sse(t
        .gemini(STREAM, &body(json!({})))
        .header("x-mock-chunks", "4"))
    .await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e.name.is_none() && e.data != "[DONE]")
    );
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    let text: String = data
        .iter()
        .map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, ANSWER);
    for d in &data[..3] {
        assert!(d["candidates"][0].get("finishReason").is_none());
        assert!(d.get("usageMetadata").is_none());
        assert_eq!(d["candidates"][0]["content"]["role"], "model");
    }
    let last = &data[3];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(last["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0);
    assert_eq!(last["modelVersion"], "gemini-2.0-flash");
    assert_eq!(last["responseId"], data[0]["responseId"]);
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let t = start();
    let (status, _, v) = json(
        t.gemini(
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
            &body(json!({})),
        )
        .header("x-mock-chunks", "3"),
    )
    .await;
    assert_eq!(status, 200);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[2]["candidates"][0]["finishReason"], "STOP");
}

fn any_tools() -> Value {
    json!({
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    })
}

#[tokio::test]
async fn function_call_non_stream_and_stream() {
    let t = start();
    let (_, _, v) = json(t.gemini(GEN, &body(any_tools()))).await;
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part,
        &json!({"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}})
    );
    assert!(
        part["functionCall"].get("id").is_none(),
        "Gemini API sends no call id"
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let events = sse(t.gemini(STREAM, &body(any_tools()))).await;
    assert_eq!(events.len(), 1);
    let d = events[0].json();
    assert_eq!(
        d["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(d["candidates"][0]["finishReason"], "STOP");
    assert!(d["usageMetadata"].is_object());

    // AUTO mode answers text.
    let mut auto = any_tools();
    auto["toolConfig"]["functionCallingConfig"]["mode"] = json!("AUTO");
    let (_, _, v) = json(t.gemini(GEN, &body(auto))).await;
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], ANSWER);
}

#[tokio::test]
async fn embed_and_batch_embed() {
    let t = start();
    let (status, _, v) = json(t.gemini(
        "/v1beta/models/text-embedding-004:embedContent",
        &json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "alpha"}]}}),
    ))
    .await;
    assert_eq!(status, 200);
    let one = v["embedding"]["values"].as_array().unwrap().clone();
    assert_eq!(one.len(), 16);

    let (status, _, v) = json(t.gemini(
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        &json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "alpha"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "beta"}]}, "outputDimensionality": 4}
        ]}),
    ))
    .await;
    assert_eq!(status, 200);
    let e = v["embeddings"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[0]["values"].as_array().unwrap(),
        &one,
        "deterministic per text"
    );
    assert_eq!(e[1]["values"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn models_list() {
    let t = start();
    let (status, _, v) = json(
        t.http
            .get(t.url("/v1beta/models"))
            .header("x-goog-api-key", "k"),
    )
    .await;
    assert_eq!(status, 200);
    let models = v["models"].as_array().unwrap();
    assert!(
        models
            .iter()
            .all(|m| m["name"].as_str().unwrap().starts_with("models/"))
    );
    assert!(models[0]["supportedGenerationMethods"].is_array());
}
