//! Gemini `:embedContent` and `:batchEmbedContents` ingress (issue 14): a Gemini
//! client's embeddings reach any embedding upstream — a Gemini one natively, an OpenAI
//! one translated — and come back in Gemini's shape, with one log row each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::gateway;
use serde_json::{Value, json};

#[tokio::test]
async fn gemini_clients_embed_through_any_embedding_upstream() {
    let mut gw = gateway().await;
    let single = json!({"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8});
    let batch = json!({"requests": [
        {"model": "models/x", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/x", "content": {"parts": [{"text": "b"}]}},
    ]});

    // A Gemini upstream, natively.
    let r = gw
        .post(
            "/v1beta/models/gemini/text-embedding-004:embedContent",
            &single,
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ax-provider"], "gemini");
    let body: Value = r.json().await.unwrap();
    assert!(
        !body["embedding"]["values"].as_array().unwrap().is_empty(),
        "{body}"
    );
    let up = gw
        .gemini
        .last_body("/v1beta/models/text-embedding-004:embedContent")
        .expect("gemini upstream called");
    assert_eq!(up["content"]["parts"][0]["text"], "hello");
    assert_eq!(up["outputDimensionality"], 8);

    // An OpenAI upstream, translated both ways.
    let r = gw
        .post(
            "/v1beta/models/openai/text-embedding-3-small:batchEmbedContents",
            &batch,
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ax-provider"], "openai");
    let body: Value = r.json().await.unwrap();
    let list = body["embeddings"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{body}");
    assert!(!list[1]["values"].as_array().unwrap().is_empty());
    let up = gw
        .openai
        .last_body("/v1/embeddings")
        .expect("openai upstream called");
    assert_eq!(up["model"], "text-embedding-3-small");
    assert_eq!(up["input"], json!(["a", "b"]));

    // A body that is not an embeddings request: Gemini's 400, logged.
    let r = gw
        .post(
            "/v1beta/models/gemini/text-embedding-004:embedContent",
            &json!({"contents": []}),
            &[],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 3);
    assert!(
        logs.iter()
            .all(|l| l.tags.contains(&"embeddings".to_owned()))
    );
    assert_eq!(logs[0].provider.as_deref(), Some("gemini"));
    assert_eq!(logs[1].provider.as_deref(), Some("openai"));
    assert_eq!(logs[2].error_code.as_deref(), Some("invalid_request"));
}
