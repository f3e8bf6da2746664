//! Embedding answers say who served them, as chat answers do (issue 12): the
//! `x-ax-provider`, `x-ax-model`, `x-ax-attempts` and `x-ax-fallback` headers next to
//! `x-ax-request-id`, on success and on failure.

mod common;

use ax_mock_upstream::Scripted;
use common::gateway;
use serde_json::json;

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn embedding_answers_name_the_provider_and_model() {
    let mut gw = gateway().await;
    let body = json!({"model": "openai/text-embedding-3-small", "input": ["a", "b"]});
    let resp = gw.post("/v1/embeddings", &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ax-provider"), "openai");
    assert_eq!(header(&resp, "x-ax-model"), "text-embedding-3-small");
    assert_eq!(header(&resp, "x-ax-attempts"), "1");
    assert_eq!(header(&resp, "x-ax-fallback"), "false");
    assert!(!header(&resp, "x-ax-request-id").is_empty());

    // A failed call names the provider it failed on too.
    gw.openai
        .push_script("/v1/embeddings", vec![Scripted::status(400)]);
    let resp = gw.post("/v1/embeddings", &body, &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "x-ax-provider"), "openai");
    assert_eq!(header(&resp, "x-ax-model"), "text-embedding-3-small");
    assert!(!header(&resp, "x-ax-request-id").is_empty());
    gw.stop().await;
}
