//! The OpenAI adapter against a `wiremock` server on loopback: chat (fast path and
//! translation), streaming, an error status with `Retry-After`, cut and failing streams,
//! embeddings, the probe, and what is (not) sent in headers.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use std::time::Duration;

use ax_core::{
    ChatRequest, ContentPart, EmbeddingInput, EmbeddingRequest, ErrorCode, FinishReason, Message,
    Provider, ProviderKind, Role, StreamChunk, StreamEvent, WireFormat,
};
use ax_providers::openai::{OpenAiCodec, OpenAiProvider, build};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/openai/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn config(server: &MockServer, kind: ProviderKind, key: Option<&str>) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("openai", kind);
    // A `/v1` suffix must not be doubled.
    cfg.base_url = format!("{}/v1/", server.uri());
    cfg.api_key = key.map(|k| SecretString::from(k.to_owned()));
    cfg.timeouts.idle = Duration::from_secs(5);
    cfg
}

fn client_request(body: Value) -> ChatRequest {
    OpenAiCodec
        .decode_request(body.to_string().as_bytes(), DecodeOptions::default())
        .unwrap()
}

async fn collect(mut s: ax_core::ChatStream) -> Vec<Result<StreamChunk, ax_core::GatewayError>> {
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        out.push(item);
    }
    out
}

fn events(items: &[Result<StreamChunk, ax_core::GatewayError>]) -> Vec<StreamEvent> {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c| c.events.clone())
        .collect()
}

#[tokio::test]
async fn chat_fast_path_with_headers_and_raw_body() {
    let server = MockServer::start().await;
    let answer = fixture("response_tool_calls.json");
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test-123"))
        .and(header("openai-organization", "org-ax"))
        .and(body_partial_json(
            json!({"model": "gpt-4o", "logit_bias": {"1": 5}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer.clone(), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server, ProviderKind::OpenAi, Some("sk-test-123"));
    cfg.organization = Some("org-ax".into());
    let provider = build(cfg).unwrap();
    assert_eq!(provider.wire_format(), Some(WireFormat::OpenAi));

    let req = client_request(json!({"model": "openai/gpt-4o", "logit_bias": {"1": 5},
        "stream": true, "messages": [{"role": "user", "content": "Weather in Edinburgh? AAPL?"}]}));
    let out = provider.chat(&req, "gpt-4o").await.unwrap();
    assert_eq!(out.response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.response.content.len(), 2);
    let raw = out.raw.unwrap();
    assert_eq!(raw.format, WireFormat::OpenAi);
    assert_eq!(raw.bytes.as_ref(), answer.as_slice());

    // A non-streamed call never asks the upstream for a stream.
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert!(
        sent.get("stream").is_none() && sent.get("stream_options").is_none(),
        "{sent}"
    );
}

#[tokio::test]
async fn chat_translated_to_a_keyless_compatible_server() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({
            "model": "llama3",
            "max_tokens": 64,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("response_text.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let provider =
        OpenAiProvider::new(config(&server, ProviderKind::OpenAiCompatible, None)).unwrap();
    let req = ChatRequest {
        model: "ollama/llama3".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Hi"),
        ],
        params: ax_core::GenerationParams {
            max_tokens: Some(64),
            ..Default::default()
        },
        ..Default::default()
    };
    let out = provider.chat(&req, "llama3").await.unwrap();
    assert!(
        out.response
            .text()
            .starts_with("I'm unable to provide real-time weather")
    );
    let received = &server.received_requests().await.unwrap()[0];
    assert!(received.headers.get("authorization").is_none());
}

#[tokio::test]
async fn chat_stream_forces_usage_and_delivers_every_frame() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("accept", "text/event-stream"))
        .and(body_partial_json(
            json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("stream_tool_call.sse"), "text/event-stream"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req = client_request(json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Weather in Edinburgh?"}]}));
    assert!(!req.include_usage);
    let items = collect(provider.chat_stream(&req, "gpt-4o").await.unwrap()).await;
    assert!(items.iter().all(Result::is_ok));
    // Each chunk carries its raw frame for same-format passthrough; the usage chunk
    // yields only a Usage event so the server can withhold it from this client.
    assert!(items.iter().all(|i| i.as_ref().unwrap().raw.is_some()));
    let usage_only: Vec<_> = items
        .iter()
        .map(|i| i.as_ref().unwrap())
        .filter(|c| {
            !c.events.is_empty() && c.events.iter().all(|e| matches!(e, StreamEvent::Usage(_)))
        })
        .collect();
    assert_eq!(usage_only.len(), 1);
    let evs = events(&items);
    assert!(matches!(evs[0], StreamEvent::Start { .. }));
    let args: String = evs
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, r#"{"city":"Edinburgh","country":"GB","units":"c"}"#);
    assert_eq!(
        items.last().unwrap().as_ref().unwrap().raw.as_deref(),
        Some(b"data: [DONE]\n\n".as_slice())
    );
}

#[tokio::test]
async fn error_status_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .set_body_raw(
                    r#"{"error":{"message":"Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                    "application/json",
                ),
        )
        .expect(2)
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req =
        client_request(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}));
    let e = provider.chat(&req, "gpt-4o").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(e.upstream_status, Some(429));
    assert_eq!(e.provider.as_deref(), Some("openai"));
    assert!(e.is_retryable());
    assert!(e.message.starts_with("Rate limit reached"));
    // The same before a stream starts.
    let e = provider.chat_stream(&req, "gpt-4o").await.err().unwrap();
    assert_eq!(
        (e.code, e.retry_after),
        (ErrorCode::RateLimitExceeded, Some(Duration::from_secs(3)))
    );
}

#[tokio::test]
async fn quota_error_is_not_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_raw(fixture("error_insufficient_quota.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req =
        client_request(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}));
    let e = provider.chat(&req, "gpt-4o").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::QuotaExceeded);
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn mid_stream_cut_ends_in_an_error() {
    let server = MockServer::start().await;
    let full = String::from_utf8(fixture("stream_text.sse")).unwrap();
    // The connection closes after the finish chunk: no usage chunk, no [DONE].
    let cut = &full[..full.find("data: {\"id\":\"chatcmpl-9tXjg9DdaOfymTPDrSLfxslQEH0C2\",\"object\":\"chat.completion.chunk\",\"created\":1723024748,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_845eaabc1f\",\"choices\":[]").unwrap()];
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(cut.to_owned(), "text/event-stream"))
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req = client_request(
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    );
    let items = collect(provider.chat_stream(&req, "gpt-4o").await.unwrap()).await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.code, ErrorCode::ServerError);
    assert_eq!(last.message, "stream ended before [DONE]");
    assert_eq!(last.provider.as_deref(), Some("openai"));
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    // What arrived was delivered, the finish included.
    assert!(
        events(&items)
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
}

#[tokio::test]
async fn mid_stream_error_frame_ends_in_an_error() {
    let server = MockServer::start().await;
    let body = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n\
                data: {\"error\":{\"message\":\"The server is overloaded.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req = client_request(
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    );
    let items = collect(provider.chat_stream(&req, "gpt-4o").await.unwrap()).await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap().events[1],
        StreamEvent::TextDelta { text: "Hel".into() }
    );
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert_eq!(e.message, "The server is overloaded.");
}

#[tokio::test]
async fn embeddings_in_base64() {
    let server = MockServer::start().await;
    // 1.0 and 0.5 as little-endian f32, base64.
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(body_partial_json(json!({"model": "text-embedding-3-small", "encoding_format": "base64", "input": ["a", "b"]})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPw=="},{"object":"embedding","index":1,"embedding":"AAAAPw=="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req = EmbeddingRequest {
        model: "openai/text-embedding-3-small".into(),
        input: EmbeddingInput::Batch(vec!["a".into(), "b".into()]),
        dimensions: None,
        user: None,
    };
    let r = provider
        .embed(&req, "text-embedding-3-small")
        .await
        .unwrap();
    assert_eq!(
        r.data.iter().map(|e| e.vector.clone()).collect::<Vec<_>>(),
        vec![vec![1.0], vec![0.5]]
    );
    assert_eq!(r.usage.input_tokens, 2);
}

#[tokio::test]
async fn probe_lists_models() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-good"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"object":"list","data":[]}"#, "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"error":{"message":"Incorrect API key provided: sk-bad. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let good = build(config(&server, ProviderKind::OpenAi, Some("sk-good"))).unwrap();
    good.probe().await.unwrap();
    let bad = build(config(&server, ProviderKind::OpenAi, Some("sk-bad"))).unwrap();
    let e = bad.probe().await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    assert!(e.counts_against_provider());
    assert!(!e.message.contains("sk-bad"), "{}", e.message);
}

#[test]
fn build_checks_keys_and_never_shows_them() {
    let mut cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
    let e = build(cfg.clone()).err().unwrap();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    cfg.api_key = Some(SecretString::from("sk-line\nbreak".to_owned()));
    let e = build(cfg.clone()).err().unwrap();
    assert!(!e.message.contains("sk-line"), "{}", e.message);
    cfg.api_key = Some(SecretString::from("sk-secret-value".to_owned()));
    let p = OpenAiProvider::new(cfg).unwrap();
    assert!(!format!("{p:?}").contains("sk-secret-value"));
    assert_eq!(p.default_model(), "gpt-4o");
    assert_eq!(p.kind(), ProviderKind::OpenAi);
    // Keyless compatible servers are fine.
    assert!(build(ProviderConfig::new("local", ProviderKind::OpenAiCompatible)).is_ok());
}

#[tokio::test]
async fn invalid_success_body_is_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"choices": "nope"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let provider = build(config(&server, ProviderKind::OpenAi, Some("sk-test"))).unwrap();
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentPart::text("x")],
            name: None,
        }],
        ..Default::default()
    };
    let e = provider.chat(&req, "gpt-4o").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert_eq!(e.provider.as_deref(), Some("openai"));
    assert!(e.message.contains("choices"), "{}", e.message);
}
