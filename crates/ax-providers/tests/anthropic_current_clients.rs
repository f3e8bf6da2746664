//! Anthropic Messages as current clients send it, translated for OpenAI and Gemini
//! upstreams: a Claude Code 2.x-shaped request (`fixtures/anthropic/claude_code_request.json`)
//! snapshotted as each upstream gets it, documents, `tool_choice: none`, and thinking
//! for models that reason and models that do not.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a broken fixture or encoder output should fail the test loudly"
)]

use ax_core::{ChatRequest, ErrorCode, ProviderKind};
use ax_providers::anthropic::AnthropicCodec;
use ax_providers::{ClientCodec, DecodeOptions, ProviderConfig, gemini, openai};
use serde_json::{Value, json};

mod common;
use common::canon;

const CLAUDE_CODE: &str = include_str!("fixtures/anthropic/claude_code_request.json");

fn decode(body: &Value) -> ChatRequest {
    AnthropicCodec
        .decode_request(body.to_string().as_bytes(), DecodeOptions::default())
        .unwrap()
}

fn claude_code() -> ChatRequest {
    decode(&serde_json::from_str(CLAUDE_CODE).unwrap())
}

fn for_openai(req: &ChatRequest, model: &str) -> Value {
    let cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
    openai::check_request(req).unwrap();
    serde_json::from_slice(&openai::encode_request(req, model, true, &cfg)).unwrap()
}

fn for_gemini(req: &ChatRequest, model: &str) -> Value {
    let cfg = ProviderConfig::new("gemini", ProviderKind::Gemini);
    serde_json::from_slice(&gemini::encode_request(req, model, true, &cfg)).unwrap()
}

#[test]
fn claude_code_request_for_openai() {
    let body = for_openai(&claude_code(), "gpt-4o");
    insta::assert_snapshot!(canon(body.to_string().as_bytes()));
}

#[test]
fn claude_code_request_for_gemini() {
    let body = for_gemini(&claude_code(), "gemini-2.0-flash");
    insta::assert_snapshot!(canon(body.to_string().as_bytes()));
}

#[test]
fn thinking_reaches_models_that_reason_only() {
    let req = claude_code();
    // `output_config.effort: high` with adaptive thinking.
    assert_eq!(for_openai(&req, "o4-mini")["reasoning_effort"], "high");
    assert_eq!(for_openai(&req, "gpt-5")["reasoning_effort"], "high");
    for model in [
        "gpt-4o",
        "gpt-4.1-mini",
        "ft:gpt-4o-mini:org::id",
        "gpt-3.5-turbo",
    ] {
        assert!(
            for_openai(&req, model).get("reasoning_effort").is_none(),
            "{model}"
        );
    }
    assert_eq!(
        for_gemini(&req, "gemini-2.5-flash")["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 24576, "includeThoughts": true})
    );
    for model in [
        "gemini-2.0-flash",
        "gemini-1.5-pro",
        "models/gemini-2.0-flash-lite",
    ] {
        let body = for_gemini(&req, model);
        assert!(
            body["generationConfig"].get("thinkingConfig").is_none(),
            "{model}: {body}"
        );
    }
}

#[test]
fn a_thinking_budget_becomes_an_effort() {
    let mut body: Value = serde_json::from_str(CLAUDE_CODE).unwrap();
    body.as_object_mut().unwrap().remove("output_config");
    for (budget, effort) in [(1024, "low"), (10_000, "medium"), (31_999, "high")] {
        body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
        let req = decode(&body);
        assert_eq!(
            for_openai(&req, "o3")["reasoning_effort"],
            effort,
            "{budget}"
        );
        assert_eq!(
            for_gemini(&req, "gemini-2.5-pro")["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            budget
        );
    }
    body["thinking"] = json!({"type": "disabled"});
    assert!(
        for_openai(&decode(&body), "o3")
            .get("reasoning_effort")
            .is_none()
    );
    // Anthropic's `max` effort is OpenAI's `xhigh`.
    body["output_config"] = json!({"effort": "max"});
    body["thinking"] = json!({"type": "adaptive"});
    assert_eq!(
        for_openai(&decode(&body), "gpt-5.2")["reasoning_effort"],
        "xhigh"
    );
}

fn with_user_content(content: Value) -> ChatRequest {
    decode(
        &json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": content}]}),
    )
}

#[test]
fn documents_for_openai_and_gemini() {
    let req = with_user_content(json!([
        {"type": "document", "title": "spec.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0y"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "Summarize."}
    ]));
    assert_eq!(
        for_openai(&req, "gpt-4o")["messages"][0]["content"],
        json!([
            {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
            {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0y"}},
            {"type": "text", "text": "notes"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "text", "text": "Summarize."}
        ])
    );
    assert_eq!(
        for_gemini(&req, "gemini-2.5-flash")["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0y"}},
            {"text": "notes"},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
            {"text": "Summarize."}
        ])
    );
}

#[test]
fn a_url_document_goes_to_gemini_and_is_refused_for_openai() {
    let req = with_user_content(json!([
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "text", "text": "Summarize."}
    ]));
    assert_eq!(
        for_gemini(&req, "gemini-2.5-flash")["contents"][0]["parts"][0],
        json!({"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}})
    );
    let e = openai::check_request(&req).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(
        e.message.contains("`document` block") && e.message.contains("https://example.com/a.pdf"),
        "{}",
        e.message
    );
    // An OpenAI client's own body is never refused here.
    let own = openai::OpenAiCodec
        .decode_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
            DecodeOptions::default(),
        )
        .unwrap();
    assert!(openai::check_request(&own).is_ok());
}

#[test]
fn tool_choice_none_and_disabled_parallel_use() {
    let mut body: Value = serde_json::from_str(CLAUDE_CODE).unwrap();
    let req = decode(&body);
    assert_eq!(for_openai(&req, "gpt-4o")["parallel_tool_calls"], false);
    assert_eq!(for_openai(&req, "gpt-4o")["tool_choice"], "auto");
    body["tool_choice"] = json!({"type": "none"});
    let req = decode(&body);
    assert_eq!(for_openai(&req, "gpt-4o")["tool_choice"], "none");
    assert!(
        for_openai(&req, "gpt-4o")
            .get("parallel_tool_calls")
            .is_none()
    );
    assert_eq!(
        for_gemini(&req, "gemini-2.0-flash")["toolConfig"],
        json!({"functionCallingConfig": {"mode": "NONE"}})
    );
}

mod adapter {
    //! The Anthropic adapter sends the client's `anthropic-version` and betas (and its
    //! own fixed version when the client sent none), once each.

    use std::time::Duration;

    use ax_core::Provider;
    use ax_providers::anthropic::{AnthropicProvider, client_headers};
    use secrecy::SecretString;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    async fn sent_headers(client: &[(&str, &str)]) -> http::HeaderMap {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                include_bytes!("fixtures/anthropic/response_text.json").to_vec(),
                "application/json",
            ))
            .mount(&server)
            .await;
        let mut cfg = ProviderConfig::new("claude", ProviderKind::Anthropic);
        cfg.base_url = server.uri();
        cfg.api_key = Some(SecretString::from("sk-ant-test".to_owned()));
        cfg.timeouts.idle = Duration::from_secs(5);
        let provider = AnthropicProvider::new(cfg).unwrap();

        let mut h = http::HeaderMap::new();
        for (k, v) in client {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let opts = DecodeOptions {
            anthropic: client_headers(&h),
            ..DecodeOptions::default()
        };
        let req = AnthropicCodec
            .decode_request(CLAUDE_CODE.as_bytes(), opts)
            .unwrap();
        provider.chat(&req, "claude-sonnet-4-5").await.unwrap();
        let got = server.received_requests().await.unwrap();
        let mut out = http::HeaderMap::new();
        for (k, v) in got[0].headers.iter() {
            out.append(
                http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        out
    }

    fn all<'a>(h: &'a http::HeaderMap, name: &str) -> Vec<&'a str> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_clients_version_and_betas_reach_anthropic() {
        let h = sent_headers(&[
            ("anthropic-version", "2023-01-01"),
            (
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            ),
            ("anthropic-beta", "context-management-2025-06-27"),
        ])
        .await;
        assert_eq!(all(&h, "anthropic-version"), ["2023-01-01"]);
        assert_eq!(
            all(&h, "anthropic-beta"),
            ["claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"]
        );
        assert_eq!(all(&h, "x-api-key"), ["sk-ant-test"]);
    }

    #[tokio::test]
    async fn without_client_headers_the_fixed_version_and_no_beta() {
        let h = sent_headers(&[]).await;
        assert_eq!(all(&h, "anthropic-version"), ["2023-06-01"]);
        assert!(h.get("anthropic-beta").is_none());
    }

    #[tokio::test]
    async fn a_url_document_is_refused_before_any_openai_call() {
        let server = MockServer::start().await;
        let mut cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
        cfg.base_url = format!("{}/v1", server.uri());
        cfg.api_key = Some(SecretString::from("sk-test".to_owned()));
        let provider = ax_providers::openai::OpenAiProvider::new(cfg).unwrap();
        let req = with_user_content(json!([
            {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
        ]));
        let e = provider.chat(&req, "gpt-4o").await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.provider.as_deref(), Some("openai"));
        assert!(server.received_requests().await.unwrap().is_empty());
    }
}
