//! Token counting end to end: Anthropic `POST /v1/messages/count_tokens` and Gemini
//! `:countTokens` (under `/v1beta/models/…` and `/v1/models/…`), each served by every
//! upstream kind through the real server against the strict mock upstreams. Anthropic
//! and Gemini upstreams are asked at their own count endpoints (the test checks the body
//! they got); an OpenAI upstream is never called: ax counts with tiktoken, and the test
//! computes the same number independently. Each request is one log row tagged
//! `count_tokens` with the count as its input tokens, no output and no cost; bad bodies
//! and unknown models are refused in the client's own format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, gateway};
use serde_json::{Value, json};
use sqlx::{Connection, Row};

const SYSTEM: &str = "You are terse.";
const QUESTION: &str = "How many tokens does this sentence hold?";

/// What the mock upstreams count for the prompt (their generation endpoints report the
/// same): text bytes / 4, rounded up.
fn mock_count(texts: &[&str]) -> u64 {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    (bytes as u64).div_ceil(4)
}

/// The OpenAI cookbook's count for a chat of `(role, content)` messages, with the
/// `o200k_base` encoding (gpt-4o): 3 tokens per message, its role and content, and 3
/// priming the reply.
fn cookbook_count(messages: &[(&str, &str)]) -> u64 {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let t = |s: &str| bpe.encode_ordinary(s).len() as u64;
    messages.iter().map(|(r, c)| 3 + t(r) + t(c)).sum::<u64>() + 3
}

fn anthropic_body(model: &str) -> Value {
    json!({
        "model": model,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": QUESTION}],
    })
}

fn gemini_contents() -> Value {
    json!([{"role": "user", "parts": [{"text": QUESTION}]}])
}

async fn count(gw: &Gateway, path: &str, body: &Value) -> (u16, http_parts::Parts, Value) {
    let r = gw
        .post(path, body, &[("anthropic-version", "2023-06-01")])
        .await;
    let status = r.status().as_u16();
    let parts = http_parts::Parts::of(&r);
    let body: Value = r.json().await.unwrap();
    (status, parts, body)
}

/// The response headers a test reads.
mod http_parts {
    #[derive(Debug)]
    pub struct Parts {
        pub provider: String,
        pub exact: String,
        pub request_id: String,
    }

    impl Parts {
        pub fn of(r: &reqwest::Response) -> Self {
            let h = |n: &str| {
                r.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            Self {
                provider: h("x-ax-provider"),
                exact: h("x-ax-tokens-exact"),
                request_id: h("x-ax-request-id"),
            }
        }
    }
}

/// `(request_id, cost_usd)` of every metrics row, read after the server stopped.
async fn costs(gw: &Gateway) -> Vec<(String, Option<f64>)> {
    let mut conn = sqlx::SqliteConnection::connect(&gw.database_url())
        .await
        .unwrap();
    sqlx::query(
        "SELECT l.request_id, m.cost_usd FROM provider_logs l \
         JOIN provider_metrics m ON m.log_id = l.id ORDER BY l.start_time",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("request_id"), r.get("cost_usd")))
    .collect()
}

#[tokio::test]
async fn anthropic_clients_count_through_every_upstream_kind() {
    let mut gw = gateway().await;
    let path = "/v1/messages/count_tokens";

    // An Anthropic upstream, asked natively with the client's own body: the fields a
    // Messages call takes and the count endpoint refuses are left out.
    let mut body = anthropic_body("claude/claude-3-5-sonnet-20241022");
    body["max_tokens"] = json!(1024);
    body["temperature"] = json!(0.2);
    body["stream"] = json!(true);
    let (status, h, v) = count(&gw, path, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"input_tokens": mock_count(&[SYSTEM, QUESTION])}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("claude", "true"));
    assert_eq!(gw.claude.hits("/v1/messages/count_tokens"), 1);
    assert_eq!(
        gw.claude.last_body("/v1/messages/count_tokens").unwrap(),
        anthropic_body("claude-3-5-sonnet-20241022")
    );
    let sent = gw.claude.last_headers("/v1/messages/count_tokens").unwrap();
    assert_eq!(sent["anthropic-version"], "2023-06-01");

    // A Gemini upstream, natively: the system prompt makes it a generateContentRequest.
    let (status, h, v) = count(&gw, path, &anthropic_body("gemini/gemini-2.0-flash")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"input_tokens": mock_count(&[SYSTEM, QUESTION])}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("gemini", "true"));
    let up = gw
        .gemini
        .last_body("/v1beta/models/gemini-2.0-flash:countTokens")
        .expect("gemini upstream asked");
    let inner = &up["generateContentRequest"];
    assert_eq!(up.as_object().unwrap().len(), 1, "{up}");
    assert_eq!(inner["model"], "models/gemini-2.0-flash");
    assert_eq!(inner["systemInstruction"]["parts"][0]["text"], SYSTEM);
    assert_eq!(inner["contents"][0]["parts"][0]["text"], QUESTION);
    assert!(inner.get("generationConfig").is_none(), "{up}");

    // An OpenAI upstream: counted by ax with tiktoken, no call made.
    let (status, h, v) = count(&gw, path, &anthropic_body("openai/gpt-4o")).await;
    assert_eq!(status, 200, "{v}");
    let expected = cookbook_count(&[("system", SYSTEM), ("user", QUESTION)]);
    assert_eq!(v, json!({"input_tokens": expected}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("openai", "true"));
    // A model tiktoken does not know: counted all the same, and said to be an estimate.
    let (status, h, v) = count(&gw, path, &anthropic_body("openai/my-local-llama")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["input_tokens"], expected);
    assert_eq!(h.exact, "false");
    assert_eq!(gw.openai.total_hits(), 0);

    // A body that is no count request, an unknown model: Anthropic's errors.
    let (status, _, v) = count(&gw, path, &json!({"model": "claude/x"})).await;
    assert_eq!(status, 400);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let (status, _, v) = count(&gw, path, &anthropic_body("no-such-model")).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["type"], "not_found_error", "{v}");

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 6, "one row per request");
    assert!(
        logs.iter()
            .all(|l| l.tags.contains(&"count_tokens".to_owned()))
    );
    let counted = [
        ("claude", mock_count(&[SYSTEM, QUESTION]), false),
        ("gemini", mock_count(&[SYSTEM, QUESTION]), false),
        ("openai", expected, false),
        ("openai", expected, true),
    ];
    for (log, (provider, tokens, estimated)) in logs.iter().zip(counted) {
        assert_eq!(log.state, "completed", "{log:?}");
        assert_eq!(log.provider.as_deref(), Some(provider));
        assert_eq!(log.input_tokens, Some(tokens as i64), "{log:?}");
        assert_eq!(log.output_tokens, Some(0));
        assert_eq!(log.tokens_estimated, Some(estimated), "{log:?}");
    }
    assert_eq!(logs[4].error_code.as_deref(), Some("invalid_request"));
    assert_eq!(logs[5].error_code.as_deref(), Some("not_found"));
    // Counting is free: the rows cost nothing, though the models have prices.
    for (id, cost) in costs(&gw).await.iter().take(4) {
        assert_eq!(*cost, Some(0.0), "{id}");
    }
}

#[tokio::test]
async fn gemini_clients_count_through_every_upstream_kind() {
    let mut gw = gateway().await;
    let contents = json!({"contents": gemini_contents()});

    // An Anthropic upstream, natively, the Gemini contents translated.
    let (status, h, v) = count(
        &gw,
        "/v1beta/models/claude/claude-3-5-sonnet-20241022:countTokens",
        &contents,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"totalTokens": mock_count(&[QUESTION])}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("claude", "true"));
    let up = gw.claude.last_body("/v1/messages/count_tokens").unwrap();
    assert_eq!(up["model"], "claude-3-5-sonnet-20241022");
    assert_eq!(up["messages"][0]["role"], "user");
    assert!(up.to_string().contains(QUESTION), "{up}");
    assert!(up.get("max_tokens").is_none(), "{up}");

    // A Gemini upstream, natively: the client's generateContentRequest as it sent it,
    // with the model the path named; also under /v1/models/.
    let request = json!({"generateContentRequest": {
        "model": "models/gemini-2.0-flash",
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": gemini_contents(),
    }});
    let (status, h, v) = count(
        &gw,
        "/v1/models/gemini/gemini-2.0-flash:countTokens",
        &request,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"totalTokens": mock_count(&[SYSTEM, QUESTION])}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("gemini", "true"));
    assert_eq!(
        gw.gemini
            .last_body("/v1beta/models/gemini-2.0-flash:countTokens")
            .unwrap(),
        request
    );

    // An OpenAI upstream: tiktoken.
    let (status, h, v) = count(&gw, "/v1beta/models/openai/gpt-4o:countTokens", &contents).await;
    assert_eq!(status, 200, "{v}");
    let expected = cookbook_count(&[("user", QUESTION)]);
    assert_eq!(v, json!({"totalTokens": expected}));
    assert_eq!((h.provider.as_str(), h.exact.as_str()), ("openai", "true"));
    assert!(!h.request_id.is_empty());
    assert_eq!(gw.openai.total_hits(), 0);

    // No contents, an unknown model: Gemini's errors.
    let (status, _, v) = count(
        &gw,
        "/v1beta/models/gemini/gemini-2.0-flash:countTokens",
        &json!({}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
    let (status, _, v) = count(&gw, "/v1beta/models/no-such-model:countTokens", &contents).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["status"], "NOT_FOUND", "{v}");

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 5, "one row per request");
    let counted = [
        ("claude", mock_count(&[QUESTION])),
        ("gemini", mock_count(&[SYSTEM, QUESTION])),
        ("openai", expected),
    ];
    for (log, (provider, tokens)) in logs.iter().zip(counted) {
        assert!(log.tags.contains(&"count_tokens".to_owned()), "{log:?}");
        assert_eq!(log.provider.as_deref(), Some(provider));
        assert_eq!(log.input_tokens, Some(tokens as i64), "{log:?}");
        assert_eq!(log.output_tokens, Some(0));
        assert_eq!(log.tokens_estimated, Some(false));
    }
    assert_eq!(logs[3].error_code.as_deref(), Some("invalid_request"));
    assert_eq!(logs[4].error_code.as_deref(), Some("not_found"));
}

#[tokio::test]
async fn an_upstream_refusal_comes_back_in_the_clients_format() {
    let mut gw = gateway().await;
    // The Anthropic count endpoint refuses the request (400: the client's making, so
    // neither retried nor sent elsewhere); a Gemini client gets it in Gemini's shape.
    gw.claude.push_script(
        "/v1/messages/count_tokens",
        vec![ax_mock_upstream::Scripted::status(400)],
    );
    let (status, _, v) = count(
        &gw,
        "/v1beta/models/claude/claude-3-5-sonnet-20241022:countTokens",
        &json!({"contents": gemini_contents()}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
    assert_eq!(gw.claude.hits("/v1/messages/count_tokens"), 1);
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].error_code.as_deref(), Some("invalid_request"));
    assert_eq!(logs[0].provider.as_deref(), Some("claude"));
    assert!(logs[0].tags.contains(&"count_tokens".to_owned()));
}

#[tokio::test]
async fn a_keys_allowed_models_and_the_key_itself_apply_to_counts() {
    let mut gw = gateway().await;
    let key = gw.add_key("team", Some(&["claude-*"])).await;
    let send = |model: &str, key: Option<&str>| {
        let mut req = gw
            .http
            .post(format!("{}/v1/messages/count_tokens", gw.url))
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic_body(model));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send()
    };
    let r = send("claude-3-5-sonnet-20241022", Some(&key))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = send("openai/gpt-4o", Some(&key)).await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "permission_error", "{v}");
    let r = send("claude-3-5-sonnet-20241022", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(gw.openai.total_hits(), 0);
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 3, "one row per request, refused ones included");
    assert_eq!(logs[1].error_code.as_deref(), Some("permission_denied"));
    assert_eq!(logs[2].error_code.as_deref(), Some("authentication_error"));
}
