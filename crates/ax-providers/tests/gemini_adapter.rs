//! The Gemini adapter against a `wiremock` server on loopback: chat (fast path and
//! translation), streaming, content filtering, an error status with `Retry-After`, cut
//! and failing streams, embeddings, the probe, and what is (not) sent in headers.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use std::time::Duration;

use ax_core::{
    ChatRequest, ContentPart, EmbeddingInput, EmbeddingRequest, ErrorCode, FinishReason, Message,
    Provider, ProviderKind, Role, StreamChunk, StreamEvent, ToolChoice, ToolDefinition, WireFormat,
};
use ax_providers::gemini::{GeminiCodec, GeminiProvider, build};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn config(server: &MockServer, key: Option<&str>) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
    // A `/v1beta` suffix must not be doubled.
    cfg.base_url = format!("{}/v1beta/", server.uri());
    cfg.api_key = key.map(|k| SecretString::from(k.to_owned()));
    cfg.timeouts.idle = Duration::from_secs(5);
    cfg
}

fn client_request(body: Value, stream: bool) -> ChatRequest {
    GeminiCodec
        .decode_request(
            body.to_string().as_bytes(),
            DecodeOptions {
                path_model: Some("gemini/gemini-2.0-flash".into()),
                path_stream: Some(stream),
                ..Default::default()
            },
        )
        .unwrap()
}

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gemini/gemini-2.0-flash".into(),
        messages: vec![Message::text(Role::User, text)],
        ..Default::default()
    }
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

const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";

#[tokio::test]
async fn chat_fast_path_with_key_header_and_raw_body() {
    let server = MockServer::start().await;
    let answer = fixture("response_text.json");
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .and(header("x-goog-api-key", "AIza-test-key"))
        .and(body_partial_json(json!({
            "cachedContent": "cachedContents/abc",
            "contents": [{"role": "user", "parts": [{"text": "Where is Google?"}]}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer.clone(), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("AIza-test-key"))).unwrap();
    assert_eq!(provider.wire_format(), Some(WireFormat::Gemini));
    let req = client_request(
        json!({"cachedContent": "cachedContents/abc",
            "contents": [{"role": "user", "parts": [{"text": "Where is Google?"}]}]}),
        false,
    );
    let out = provider.chat(&req, "gemini-2.0-flash").await.unwrap();
    assert_eq!(out.response.finish_reason, FinishReason::Stop);
    assert!(out.response.text().contains("Mountain View"));
    assert_eq!(out.response.usage.input_tokens, 7);
    let raw = out.raw.unwrap();
    assert_eq!(raw.format, WireFormat::Gemini);
    assert_eq!(raw.bytes.as_ref(), answer.as_slice());
    // The key travels in its header only, never in the URL.
    let received = &server.received_requests().await.unwrap()[0];
    assert!(received.url.query().is_none());
    assert!(received.headers.get("authorization").is_none());
}

#[tokio::test]
async fn chat_translated_with_tools_and_safety_settings() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-2.5-pro:generateContent"))
        .and(body_partial_json(json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Days to NYE?"}]}],
            "tools": [{"functionDeclarations": [{"name": "now"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("response_thinking_function_call.json"),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server, Some("k"));
    cfg.safety_threshold = Some("BLOCK_NONE".into());
    let provider = GeminiProvider::new(cfg).unwrap();
    let req = ChatRequest {
        model: "anything".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Days to NYE?"),
        ],
        tools: vec![ToolDefinition {
            name: "now".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}}),
            strict: None,
            freeform: None,
        }],
        tool_choice: Some(ToolChoice::Required),
        ..Default::default()
    };
    let out = provider.chat(&req, "gemini-2.5-pro").await.unwrap();
    assert_eq!(out.response.finish_reason, FinishReason::ToolCalls);
    assert!(out.response.has_tool_calls());
    assert_eq!(out.response.model, "gemini-2.5-pro");
}

#[tokio::test]
async fn blocked_prompt_is_content_filtered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("response_prompt_feedback_only.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let e = provider
        .chat(&user("x"), "gemini-2.0-flash")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ContentFiltered);
    assert_eq!(e.provider.as_deref(), Some("gemini"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn chat_stream_delivers_every_frame() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(query_param("alt", "sse"))
        .and(header("accept", "text/event-stream"))
        .and(header("x-goog-api-key", "k"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("stream_thinking_function_call.sse"),
            "text/event-stream",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let req = client_request(
        json!({"contents": [{"parts": [{"text": "Days to NYE?"}]}]}),
        true,
    );
    let items = collect(
        provider
            .chat_stream(&req, "gemini-2.0-flash")
            .await
            .unwrap(),
    )
    .await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    // One chunk per frame, each with its raw frame for same-format passthrough; the
    // end of the body adds nothing (Gemini has no end marker).
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i.as_ref().unwrap().raw.is_some()));
    let evs = events(&items);
    assert!(matches!(evs[0], StreamEvent::Start { .. }));
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. }))
            .count(),
        1
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            ..
        }
    )));
    assert!(
        evs.iter()
            .any(|e| matches!(e, StreamEvent::ToolCallStart { name, .. } if name == "now"))
    );
}

#[tokio::test]
async fn error_status_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .set_body_raw(fixture("error_rate_limit.json"), "application/json"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let e = provider
        .chat(&user("x"), "gemini-2.0-flash")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(e.upstream_status, Some(429));
    assert_eq!(e.provider.as_deref(), Some("gemini"));
    assert!(e.is_retryable());
    assert!(e.message.starts_with("You exceeded your current quota"));
    // The same before a stream starts.
    let e = provider
        .chat_stream(&user("x"), "gemini-2.0-flash")
        .await
        .err()
        .unwrap();
    assert_eq!(
        (e.code, e.retry_after),
        (ErrorCode::RateLimitExceeded, Some(Duration::from_secs(3)))
    );
}

#[tokio::test]
async fn mid_stream_cut_ends_in_an_error() {
    let server = MockServer::start().await;
    let full = String::from_utf8(fixture("stream_text.sse")).unwrap();
    // The connection closes before the chunk with the finishReason.
    let cut = &full[..full.rfind("data: ").unwrap()];
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(cut.to_owned(), "text/event-stream"))
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let items = collect(
        provider
            .chat_stream(&user("x"), "gemini-2.0-flash")
            .await
            .unwrap(),
    )
    .await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.code, ErrorCode::ServerError);
    assert!(
        last.message.contains("without a finishReason"),
        "{}",
        last.message
    );
    assert_eq!(last.provider.as_deref(), Some("gemini"));
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    // What arrived was delivered.
    let text: String = events(&items)
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "The capital of Wyoming");
}

#[tokio::test]
async fn mid_stream_error_frame_ends_in_an_error() {
    let server = MockServer::start().await;
    // Synthetic: a first chunk, then a google.rpc.Status frame.
    let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"}}]}\n\n\
                data: {\"error\": {\"code\": 500, \"message\": \"An internal error has occurred.\", \"status\": \"INTERNAL\"}}\n\n";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let items = collect(
        provider
            .chat_stream(&user("x"), "gemini-2.0-flash")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap().events[1],
        StreamEvent::TextDelta { text: "Hel".into() }
    );
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert_eq!(e.message, "An internal error has occurred.");
}

#[tokio::test]
async fn embeddings_single_and_batch() {
    let server = MockServer::start().await;
    // Synthetic answers in the documented shapes.
    Mock::given(method("POST"))
        .and(path("/v1beta/models/text-embedding-004:embedContent"))
        .and(body_partial_json(
            json!({"model": "models/text-embedding-004",
            "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"embedding": {"values": [1.0, 0.5]}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/text-embedding-004:batchEmbedContents"))
        .and(body_partial_json(json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"embeddings": [{"values": [1.0]}, {"values": [0.5]}]}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let one = EmbeddingRequest {
        model: "gemini/text-embedding-004".into(),
        input: EmbeddingInput::Single("a".into()),
        dimensions: Some(2),
        user: None,
    };
    let r = provider.embed(&one, "text-embedding-004").await.unwrap();
    assert_eq!(r.data[0].vector, vec![1.0, 0.5]);
    assert_eq!(r.model, "text-embedding-004");
    let batch = EmbeddingRequest {
        input: EmbeddingInput::Batch(vec!["a".into(), "b".into()]),
        dimensions: None,
        ..one
    };
    let r = provider.embed(&batch, "text-embedding-004").await.unwrap();
    assert_eq!(
        r.data.iter().map(|e| e.vector.clone()).collect::<Vec<_>>(),
        vec![vec![1.0], vec![0.5]]
    );
}

#[tokio::test]
async fn probe_lists_models() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .and(header("x-goog-api-key", "good"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"models": []}"#, "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_raw(fixture("error_api_key.json"), "application/json"),
        )
        .mount(&server)
        .await;
    build(config(&server, Some("good")))
        .unwrap()
        .probe()
        .await
        .unwrap();
    let e = build(config(&server, Some("bad")))
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    assert!(e.counts_against_provider());
}

#[test]
fn build_checks_keys_and_never_shows_them() {
    let mut cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
    let e = build(cfg.clone()).err().unwrap();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    cfg.api_key = Some(SecretString::from("AIza-line\nbreak".to_owned()));
    let e = build(cfg.clone()).err().unwrap();
    assert!(!e.message.contains("AIza-line"), "{}", e.message);
    cfg.api_key = Some(SecretString::from("AIza-secret-value".to_owned()));
    let p = GeminiProvider::new(cfg).unwrap();
    assert!(!format!("{p:?}").contains("AIza-secret-value"));
    assert_eq!(p.default_model(), "gemini-2.0-flash");
    assert_eq!(p.kind(), ProviderKind::Gemini);
    assert_eq!(p.name(), "gemini");
}

#[tokio::test]
async fn invalid_success_body_is_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"candidates": "nope"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let provider = build(config(&server, Some("k"))).unwrap();
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentPart::text("x")],
            name: None,
        }],
        ..Default::default()
    };
    let e = provider.chat(&req, "gemini-2.0-flash").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert_eq!(e.provider.as_deref(), Some("gemini"));
    assert!(e.message.contains("candidates"), "{}", e.message);
}
