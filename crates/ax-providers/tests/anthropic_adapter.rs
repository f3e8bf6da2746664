//! The Anthropic adapter against a `wiremock` server on loopback: chat (fast path and
//! translation), streaming, error statuses with `Retry-After`, cut and failing streams,
//! embeddings, the probe, and what is (not) sent in headers.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use std::time::Duration;

use ax_core::{
    ChatRequest, EmbeddingInput, EmbeddingRequest, ErrorCode, FinishReason, Message, Provider,
    ProviderKind, Role, StreamChunk, StreamEvent, WireFormat,
};
use ax_providers::anthropic::{AnthropicCodec, AnthropicProvider, build};
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn config(server: &MockServer, key: &str) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("claude", ProviderKind::Anthropic);
    // A `/v1` suffix must not be doubled.
    cfg.base_url = format!("{}/v1/", server.uri());
    cfg.api_key = Some(SecretString::from(key.to_owned()));
    cfg.timeouts.idle = Duration::from_secs(5);
    cfg
}

fn client_request(body: Value) -> ChatRequest {
    AnthropicCodec
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

fn sse(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "text/event-stream; charset=utf-8")
}

#[tokio::test]
async fn chat_fast_path_with_headers_and_raw_body() {
    let server = MockServer::start().await;
    let answer = fixture("response_tool_use.json");
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "sk-ant-test-123"))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 1024,
            "cache_control": {"type": "ephemeral"},
            "future_field": [1]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer.clone(), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-test-123")).unwrap();
    assert_eq!(provider.wire_format(), Some(WireFormat::Anthropic));
    assert_eq!(provider.kind(), ProviderKind::Anthropic);

    let req = client_request(
        json!({"model": "claude/claude-haiku-4-5", "max_tokens": 1024,
        "cache_control": {"type": "ephemeral"}, "future_field": [1], "stream": true,
        "messages": [{"role": "user", "content": "What's the weather in SF in Celsius?"}]}),
    );
    let out = provider.chat(&req, "claude-haiku-4-5").await.unwrap();
    assert_eq!(out.response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.response.usage.input_tokens, 597);
    let raw = out.raw.unwrap();
    assert_eq!(raw.format, WireFormat::Anthropic);
    assert_eq!(raw.bytes.as_ref(), answer.as_slice());
    // A non-streamed call never asks the upstream for a stream.
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert!(sent.get("stream").is_none(), "{sent}");
}

#[tokio::test]
async fn chat_translated_from_another_format() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(body_partial_json(json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hi"}]
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("response_text.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let provider = AnthropicProvider::new(config(&server, "sk-ant-x")).unwrap();
    let req = ChatRequest {
        model: "claude/claude-sonnet-4-5".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Hi"),
        ],
        ..Default::default()
    };
    let out = provider.chat(&req, "claude-sonnet-4-5").await.unwrap();
    assert!(out.response.text().contains("Green Tea"));
}

#[tokio::test]
async fn invalid_tool_arguments_fail_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "x"),
            Message {
                role: Role::Assistant,
                content: vec![ax_core::ContentPart::ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    arguments: "{broken".into(),
                }],
                name: None,
            },
        ],
        ..Default::default()
    };
    for e in [
        provider.chat(&req, "m").await.unwrap_err(),
        provider.chat_stream(&req, "m").await.err().unwrap(),
    ] {
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.provider.as_deref(), Some("claude"));
        assert!(!e.counts_against_provider());
    }
}

#[tokio::test]
async fn chat_stream_delivers_every_frame() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("accept", "text/event-stream"))
        .and(body_partial_json(
            json!({"model": "claude-sonnet-4-20250514", "stream": true}),
        ))
        .respond_with(sse(fixture("stream_tool_use.sse")))
        .expect(1)
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = client_request(json!({"model": "x", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "Weather in Paris?"}]}));
    let items = collect(
        provider
            .chat_stream(&req, "claude-sonnet-4-20250514")
            .await
            .unwrap(),
    )
    .await;
    assert!(items.iter().all(Result::is_ok));
    // Each chunk carries its frame for same-format passthrough (pings included).
    assert!(items.iter().all(|i| i.as_ref().unwrap().raw.is_some()));
    assert!(items.iter().any(|i| {
        let c = i.as_ref().unwrap();
        c.events.is_empty()
            && c.raw.as_deref() == Some(b"event: ping\ndata: {\"type\": \"ping\"}\n\n".as_slice())
    }));
    let evs = events(&items);
    assert!(matches!(evs[0], StreamEvent::Start { .. }));
    let args: String = evs
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, r#"{"location": "Paris"}"#);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. }))
            .count(),
        1
    );
    assert_eq!(
        items.last().unwrap().as_ref().unwrap().raw.as_deref(),
        Some(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".as_slice())
    );
}

#[tokio::test]
async fn error_status_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_raw(
                    r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
                    "application/json",
                ),
        )
        .expect(2)
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = client_request(
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    let e = provider.chat(&req, "m").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimitExceeded);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(e.upstream_status, Some(429));
    assert_eq!(e.provider.as_deref(), Some("claude"));
    assert!(e.is_retryable());
    assert!(
        e.message
            .starts_with("This request would exceed the rate limit")
    );
    // The same before a stream starts.
    let e = provider.chat_stream(&req, "m").await.err().unwrap();
    assert_eq!(
        (e.code, e.retry_after),
        (ErrorCode::RateLimitExceeded, Some(Duration::from_secs(7)))
    );
}

#[tokio::test]
async fn overloaded_529_and_prompt_too_long() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "busy"})))
        .respond_with(ResponseTemplate::new(529).set_body_raw(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "small"})))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 207064 tokens > 200000 maximum"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = client_request(
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    let e = provider.chat(&req, "busy").await.unwrap_err();
    assert_eq!(
        (e.code, e.upstream_status),
        (ErrorCode::Overloaded, Some(529))
    );
    assert!(e.is_retryable());
    let e = provider.chat(&req, "small").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn mid_stream_cut_ends_in_an_error() {
    let server = MockServer::start().await;
    let full = String::from_utf8(fixture("stream_basic.sse")).unwrap();
    // The connection closes after message_delta: no message_stop.
    let cut = &full[..full.find("event: message_stop").unwrap()];
    Mock::given(method("POST"))
        .respond_with(sse(cut.to_owned()))
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = client_request(json!({"model": "m", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "x"}]}));
    let items = collect(provider.chat_stream(&req, "m").await.unwrap()).await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.code, ErrorCode::ServerError);
    assert_eq!(last.message, "stream ended before message_stop");
    assert_eq!(last.provider.as_deref(), Some("claude"));
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    // What arrived was delivered, the finish included.
    assert!(
        events(&items)
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
}

#[tokio::test]
async fn mid_stream_error_event_ends_in_an_error() {
    let server = MockServer::start().await;
    let full = String::from_utf8(fixture("stream_basic.sse")).unwrap();
    let head = &full[..full.find("event: content_block_delta").unwrap()];
    // The error event exactly as the streaming docs quote it.
    let body = format!(
        "{head}event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}}}\n\n"
    );
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = client_request(json!({"model": "m", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "x"}]}));
    let items = collect(provider.chat_stream(&req, "m").await.unwrap()).await;
    let e = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::Overloaded, "Overloaded")
    );
    assert!(e.is_retryable());
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
}

#[tokio::test]
async fn embeddings_are_not_offered() {
    let server = MockServer::start().await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = EmbeddingRequest {
        model: "claude/whatever".into(),
        input: EmbeddingInput::Single("x".into()),
        dimensions: None,
        user: None,
    };
    let e = provider.embed(&req, "whatever").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(!e.is_retryable() && !e.counts_against_provider());
    assert!(e.message.contains("no embeddings API"), "{}", e.message);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn probe_lists_models() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("x-api-key", "sk-ant-good"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"data":[],"has_more":false,"first_id":null,"last_id":null}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    build(config(&server, "sk-ant-good"))
        .unwrap()
        .probe()
        .await
        .unwrap();
    let e = build(config(&server, "sk-ant-bad"))
        .unwrap()
        .probe()
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    assert!(e.counts_against_provider());
    assert!(!e.message.contains("sk-ant-bad"), "{}", e.message);
}

#[test]
fn build_checks_keys_and_never_shows_them() {
    let mut cfg = ProviderConfig::new("claude", ProviderKind::Anthropic);
    let e = build(cfg.clone()).err().unwrap();
    assert_eq!(e.code, ErrorCode::AuthenticationError);
    assert!(e.message.contains("ANTHROPIC_API_KEY"));
    cfg.api_key = Some(SecretString::from(String::new()));
    assert!(build(cfg.clone()).is_err());
    cfg.api_key = Some(SecretString::from("sk-ant-line\nbreak".to_owned()));
    let e = build(cfg.clone()).err().unwrap();
    assert!(!e.message.contains("sk-ant-line"), "{}", e.message);
    cfg.api_key = Some(SecretString::from("sk-ant-secret-value".to_owned()));
    let p = AnthropicProvider::new(cfg).unwrap();
    assert!(!format!("{p:?}").contains("sk-ant-secret-value"));
    assert_eq!(p.default_model(), "claude-3-5-sonnet-20241022");
    assert_eq!(p.name(), "claude");
}

#[tokio::test]
async fn invalid_success_body_is_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"content": "nope"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let provider = build(config(&server, "sk-ant-x")).unwrap();
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "x")],
        ..Default::default()
    };
    let e = provider.chat(&req, "m").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServerError);
    assert_eq!(e.provider.as_deref(), Some("claude"));
    assert!(e.message.contains("content"), "{}", e.message);
}
