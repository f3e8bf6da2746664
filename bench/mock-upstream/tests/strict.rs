//! Strict mode, one test per rule: a deliberately malformed request is refused in the
//! provider's own error format, and the well-formed one next to it is accepted. The
//! rules and their sources are documented in `src/strict.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use ax_mock_upstream::{Api, MockConfig, MockUpstream};
use common::{T, json};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "test-openai";
const ANTHROPIC_KEY: &str = "test-anthropic";
const GEMINI_KEY: &str = "test-gemini";
const GEN: &str = "/v1beta/models/gemini-2.0-flash:generateContent";

fn strict() -> T {
    T {
        mock: MockUpstream::start(MockConfig::default())
            .with_api_key(Api::OpenAi, OPENAI_KEY)
            .with_api_key(Api::Anthropic, ANTHROPIC_KEY)
            .with_api_key(Api::Gemini, GEMINI_KEY),
        http: reqwest::Client::new(),
    }
}

// ----------------------------------------------------------------------- helpers

async fn openai(t: &T, path: &str, body: &Value) -> (u16, Value) {
    let req = t.http.post(t.url(path)).bearer_auth(OPENAI_KEY).json(body);
    let (s, _, v) = json(req).await;
    (s, v)
}

async fn anthropic(t: &T, body: &Value, beta: Option<&str>) -> (u16, Value) {
    let mut req = t
        .http
        .post(t.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body);
    if let Some(b) = beta {
        req = req.header("anthropic-beta", b);
    }
    let (s, _, v) = json(req).await;
    (s, v)
}

async fn gemini(t: &T, path: &str, body: &Value) -> (u16, Value) {
    let req = t
        .http
        .post(t.url(path))
        .header("x-goog-api-key", GEMINI_KEY)
        .json(body);
    let (s, _, v) = json(req).await;
    (s, v)
}

/// An OpenAI refusal: status, `{"error": {message, type, param, code}}`, message text.
fn openai_refused(got: &(u16, Value), status: u16, message: &str) {
    let (s, v) = got;
    assert_eq!(*s, status, "{v}");
    let e = &v["error"];
    assert_eq!(e["type"], "invalid_request_error", "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    assert!(
        e["message"].as_str().unwrap().contains(message),
        "{message:?} not in {v}"
    );
}

/// An Anthropic refusal: `{"type": "error", "error": {type, message}}`.
fn anthropic_refused(got: &(u16, Value), status: u16, kind: &str, message: &str) {
    let (s, v) = got;
    assert_eq!(*s, status, "{v}");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(message),
        "{message:?} not in {v}"
    );
}

/// A Gemini refusal: `{"error": {code, message, status}}`.
fn gemini_refused(got: &(u16, Value), status: u16, rpc: &str, message: &str) {
    let (s, v) = got;
    assert_eq!(*s, status, "{v}");
    assert_eq!(v["error"]["code"], status, "{v}");
    assert_eq!(v["error"]["status"], rpc, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(message),
        "{message:?} not in {v}"
    );
}

fn accepted(got: &(u16, Value)) {
    assert_eq!(got.0, 200, "{}", got.1);
}

fn oai_chat(extra: Value) -> Value {
    let mut b = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn ant(extra: Value) -> Value {
    let mut b = json!({"model": "claude-sonnet-4-5", "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn gem(extra: Value) -> Value {
    let mut b = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

// ------------------------------------------------------------------------ OpenAI

#[tokio::test]
async fn openai_needs_the_configured_bearer_key() {
    let t = strict();
    let body = oai_chat(json!({}));
    let (s, _, v) = json(t.http.post(t.url("/v1/chat/completions")).json(&body)).await;
    openai_refused(&(s, v), 401, "You didn't provide an API key");
    let (s, _, v) = json(
        t.http
            .post(t.url("/v1/chat/completions"))
            .bearer_auth("sk-wrong")
            .json(&body),
    )
    .await;
    openai_refused(&(s, v.clone()), 401, "Incorrect API key provided");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    accepted(&openai(&t, "/v1/chat/completions", &body).await);
}

#[tokio::test]
async fn openai_refuses_unknown_fields_and_accepts_every_real_one() {
    let t = strict();
    openai_refused(
        &openai(
            &t,
            "/v1/chat/completions",
            &oai_chat(json!({"x_future": 1})),
        )
        .await,
        400,
        "Unrecognized request argument supplied: x_future",
    );
    // Newer fields the SDK sends (completion_create_params.py) pass.
    // A reasoning model: `reasoning_effort` is refused for gpt-4o-mini.
    let real = oai_chat(json!({
        "model": "o4-mini", "store": false, "metadata": {"k": "v"}, "modalities": ["text"],
        "prediction": {"type": "content", "content": "x"}, "service_tier": "auto",
        "reasoning_effort": "low", "max_completion_tokens": 64, "parallel_tool_calls": true,
        "web_search_options": {}, "verbosity": "low", "safety_identifier": "u",
        "prompt_cache_key": "k", "seed": 1, "stop": ["x"], "n": 1, "logprobs": false,
        "top_logprobs": 0, "logit_bias": {}, "user": "u", "response_format": {"type": "text"},
        "frequency_penalty": 0, "presence_penalty": 0, "temperature": 1, "top_p": 1,
        "max_tokens": 64, "audio": null, "stream": false
    }));
    accepted(&openai(&t, "/v1/chat/completions", &real).await);
    openai_refused(
        &openai(
            &t,
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "a", "x_future": 1}),
        )
        .await,
        400,
        "Unrecognized request argument supplied: x_future",
    );
    accepted(
        &openai(
            &t,
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "a", "dimensions": 8,
                "encoding_format": "float", "user": "u"}),
        )
        .await,
    );
}

#[tokio::test]
async fn openai_stream_options_only_with_stream() {
    let t = strict();
    let opts = json!({"include_usage": true});
    openai_refused(
        &openai(
            &t,
            "/v1/chat/completions",
            &oai_chat(json!({"stream_options": opts})),
        )
        .await,
        400,
        "'stream_options' parameter is only allowed when 'stream' is enabled",
    );
    let r = t
        .http
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(OPENAI_KEY)
        .json(&oai_chat(json!({"stream": true, "stream_options": opts})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn tool_call(id: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}})
}

#[tokio::test]
async fn openai_tool_messages_answer_earlier_tool_calls() {
    let t = strict();
    let user = json!({"role": "user", "content": "hi"});
    let calls = json!({"role": "assistant", "content": null,
        "tool_calls": [tool_call("call_a"), tool_call("call_b")]});
    let answer = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "1"});
    let chat = |messages: Vec<Value>| oai_chat(json!({"messages": messages}));

    openai_refused(
        &openai(
            &t,
            "/v1/chat/completions",
            &chat(vec![user.clone(), answer("call_a")]),
        )
        .await,
        400,
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    );
    openai_refused(
        &openai(
            &t,
            "/v1/chat/completions",
            &chat(vec![user.clone(), calls.clone(), answer("call_x")]),
        )
        .await,
        400,
        "'tool_call_id' of 'call_x' not found in 'tool_calls' of previous message",
    );
    openai_refused(
        &openai(
            &t,
            "/v1/chat/completions",
            &chat(vec![
                user.clone(),
                calls.clone(),
                answer("call_a"),
                user.clone(),
            ]),
        )
        .await,
        400,
        "The following tool_call_ids did not have response messages: call_b",
    );
    accepted(
        &openai(
            &t,
            "/v1/chat/completions",
            &chat(vec![
                user.clone(),
                calls,
                answer("call_b"),
                answer("call_a"),
                user,
            ]),
        )
        .await,
    );
}

// --------------------------------------------------------------------- Anthropic

#[tokio::test]
async fn anthropic_needs_the_configured_key() {
    let t = strict();
    let body = ant(json!({}));
    let send = |key: Option<(&'static str, String)>| {
        let mut req = t
            .http
            .post(t.url("/v1/messages"))
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some((h, v)) = key {
            req = req.header(h, v);
        }
        async move {
            let (s, _, v) = json(req).await;
            (s, v)
        }
    };
    anthropic_refused(
        &send(None).await,
        401,
        "authentication_error",
        "x-api-key header is required",
    );
    anthropic_refused(
        &send(Some(("x-api-key", "sk-ant-wrong".into()))).await,
        401,
        "authentication_error",
        "invalid x-api-key",
    );
    accepted(&send(Some(("x-api-key", ANTHROPIC_KEY.into()))).await);
    // anthropic-sdk-python's auth-token mode: `Authorization: Bearer`.
    accepted(&send(Some(("authorization", format!("Bearer {ANTHROPIC_KEY}")))).await);
}

#[tokio::test]
async fn anthropic_version_must_be_a_real_one() {
    let t = strict();
    let send = |version: Option<&'static str>| {
        let mut req = t
            .http
            .post(t.url("/v1/messages"))
            .header("x-api-key", ANTHROPIC_KEY)
            .json(&ant(json!({})));
        if let Some(v) = version {
            req = req.header("anthropic-version", v);
        }
        async move {
            let (s, _, v) = json(req).await;
            (s, v)
        }
    };
    anthropic_refused(
        &send(None).await,
        400,
        "invalid_request_error",
        "anthropic-version: header is required",
    );
    anthropic_refused(
        &send(Some("2024-10-22")).await,
        400,
        "invalid_request_error",
        "anthropic-version: \"2024-10-22\" is not a valid version",
    );
    accepted(&send(Some("2023-06-01")).await);
}

#[tokio::test]
async fn anthropic_refuses_unknown_fields_and_beta_fields_without_the_header() {
    let t = strict();
    anthropic_refused(
        &anthropic(&t, &ant(json!({"response_format": {"type": "text"}})), None).await,
        400,
        "invalid_request_error",
        "response_format: Extra inputs are not permitted",
    );
    let beta = ant(json!({"context_management": {"edits": []}}));
    anthropic_refused(
        &anthropic(&t, &beta, None).await,
        400,
        "invalid_request_error",
        "context_management: Extra inputs are not permitted",
    );
    accepted(&anthropic(&t, &beta, Some("context-management-2025-06-27")).await);
    let real = ant(json!({
        "system": "s", "metadata": {"user_id": "u"}, "stop_sequences": ["x"], "top_k": 5,
        "top_p": 0.9, "temperature": 0.5, "service_tier": "auto", "container": null,
        "inference_geo": "us", "cache_control": {"type": "ephemeral"},
        "output_config": {"effort": "low"}, "stream": false,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"}, "thinking": {"type": "disabled"}
    }));
    accepted(&anthropic(&t, &real, None).await);
}

#[tokio::test]
async fn anthropic_required_fields_and_ranges() {
    let t = strict();
    let mut no_max = ant(json!({}));
    no_max.as_object_mut().unwrap().remove("max_tokens");
    anthropic_refused(
        &anthropic(&t, &no_max, None).await,
        400,
        "invalid_request_error",
        "max_tokens: Field required",
    );
    anthropic_refused(
        &anthropic(&t, &ant(json!({"max_tokens": -1})), None).await,
        400,
        "invalid_request_error",
        "max_tokens: Input should be a valid integer greater than or equal to 0",
    );
    anthropic_refused(
        &anthropic(&t, &ant(json!({"messages": []})), None).await,
        400,
        "invalid_request_error",
        "messages: List should have at least 1 item",
    );
    accepted(&anthropic(&t, &ant(json!({"max_tokens": 1})), None).await);
}

#[tokio::test]
async fn anthropic_thinking_budget_is_at_least_1024_and_below_max_tokens() {
    let t = strict();
    let thinking = |budget: u64, max: u64| {
        ant(json!({"max_tokens": max, "thinking": {"type": "enabled", "budget_tokens": budget}}))
    };
    anthropic_refused(
        &anthropic(&t, &thinking(1000, 4096), None).await,
        400,
        "invalid_request_error",
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    );
    anthropic_refused(
        &anthropic(&t, &thinking(2048, 256), None).await,
        400,
        "invalid_request_error",
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    );
    anthropic_refused(
        &anthropic(&t, &thinking(2048, 2048), None).await,
        400,
        "invalid_request_error",
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    );
    // Interleaved thinking lets the budget exceed max_tokens.
    accepted(
        &anthropic(
            &t,
            &thinking(2048, 256),
            Some("interleaved-thinking-2025-05-14"),
        )
        .await,
    );
    accepted(&anthropic(&t, &thinking(1024, 1025), None).await);
}

#[tokio::test]
async fn anthropic_forced_tool_use_is_refused_with_thinking() {
    let t = strict();
    let with = |choice: Value| {
        ant(json!({
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": choice
        }))
    };
    for forced in [json!({"type": "any"}), json!({"type": "tool", "name": "f"})] {
        anthropic_refused(
            &anthropic(&t, &with(forced), None).await,
            400,
            "invalid_request_error",
            "Thinking may not be enabled when tool_choice forces tool use.",
        );
    }
    accepted(&anthropic(&t, &with(json!({"type": "auto"})), None).await);
    accepted(&anthropic(&t, &with(json!({"type": "none"})), None).await);
}

#[tokio::test]
async fn anthropic_thinking_blocks_carry_a_signature() {
    let t = strict();
    let history = |block: Value| {
        ant(json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [block, {"type": "text", "text": "yes"}]},
            {"role": "user", "content": "and?"}
        ]}))
    };
    anthropic_refused(
        &anthropic(
            &t,
            &history(json!({"type": "thinking", "thinking": "t", "signature": ""})),
            None,
        )
        .await,
        400,
        "invalid_request_error",
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    );
    anthropic_refused(
        &anthropic(
            &t,
            &history(json!({"type": "thinking", "thinking": "t"})),
            None,
        )
        .await,
        400,
        "invalid_request_error",
        "messages.1.content.0.thinking.signature: Field required",
    );
    accepted(
        &anthropic(
            &t,
            &history(json!({"type": "thinking", "thinking": "t", "signature": "EqQBCgIYAhIM"})),
            None,
        )
        .await,
    );
}

#[tokio::test]
async fn anthropic_tool_results_answer_the_previous_tool_uses() {
    let t = strict();
    let uses = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}},
        {"type": "tool_use", "id": "toolu_b", "name": "f", "input": {}}
    ]});
    let results = |ids: &[&str]| {
        let blocks: Vec<Value> = ids
            .iter()
            .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "1"}))
            .collect();
        json!({"role": "user", "content": blocks})
    };
    let conv = |messages: Vec<Value>| ant(json!({"messages": messages}));
    let user = json!({"role": "user", "content": "hi"});
    anthropic_refused(
        &anthropic(
            &t,
            &conv(vec![
                user.clone(),
                uses.clone(),
                results(&["toolu_a", "toolu_x"]),
            ]),
            None,
        )
        .await,
        400,
        "invalid_request_error",
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x",
    );
    anthropic_refused(
        &anthropic(&t, &conv(vec![results(&["toolu_a"])]), None).await,
        400,
        "invalid_request_error",
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_a",
    );
    anthropic_refused(
        &anthropic(
            &t,
            &conv(vec![user.clone(), uses.clone(), results(&["toolu_a"])]),
            None,
        )
        .await,
        400,
        "invalid_request_error",
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_b",
    );
    accepted(
        &anthropic(
            &t,
            &conv(vec![user, uses, results(&["toolu_b", "toolu_a"])]),
            None,
        )
        .await,
    );
}

// ------------------------------------------------------------------------ Gemini

#[tokio::test]
async fn gemini_needs_the_configured_key() {
    let t = strict();
    let body = gem(json!({}));
    let (s, _, v) = json(t.http.post(t.url(GEN)).json(&body)).await;
    gemini_refused(
        &(s, v),
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers",
    );
    let (s, _, v) = json(
        t.http
            .post(t.url(GEN))
            .header("x-goog-api-key", "AIza-wrong")
            .json(&body),
    )
    .await;
    gemini_refused(
        &(s, v.clone()),
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
    );
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
    accepted(&gemini(&t, GEN, &body).await);
    let (s, _, v) = json(
        t.http
            .post(t.url(&format!("{GEN}?key={GEMINI_KEY}")))
            .json(&body),
    )
    .await;
    accepted(&(s, v));
}

#[tokio::test]
async fn gemini_refuses_unknown_models() {
    let t = strict();
    gemini_refused(
        &gemini(&t, "/v1beta/models/gpt-4o:generateContent", &gem(json!({}))).await,
        404,
        "NOT_FOUND",
        "models/gpt-4o is not found for API version v1beta, or is not supported for generateContent",
    );
    gemini_refused(
        &gemini(
            &t,
            "/v1/models/x:embedContent",
            &json!({"content": {"parts": [{"text": "a"}]}}),
        )
        .await,
        404,
        "NOT_FOUND",
        "models/x is not found for API version v1, or is not supported for embedContent",
    );
    for model in ["gemini-2.5-pro", "gemma-3-27b-it"] {
        accepted(
            &gemini(
                &t,
                &format!("/v1beta/models/{model}:generateContent"),
                &gem(json!({})),
            )
            .await,
        );
    }
    accepted(
        &gemini(
            &t,
            "/v1beta/models/text-embedding-004:embedContent",
            &json!({"content": {"parts": [{"text": "a"}]}, "taskType": "RETRIEVAL_QUERY"}),
        )
        .await,
    );
}

#[tokio::test]
async fn gemini_refuses_unknown_fields() {
    let t = strict();
    gemini_refused(
        &gemini(&t, GEN, &gem(json!({"temperature": 0.5}))).await,
        400,
        "INVALID_ARGUMENT",
        "Invalid JSON payload received. Unknown name \"temperature\": Cannot find field.",
    );
    gemini_refused(
        &gemini(
            &t,
            GEN,
            &gem(json!({"generationConfig": {"max_tokens": 5}})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Unknown name \"max_tokens\" at 'generation_config': Cannot find field.",
    );
    gemini_refused(
        &gemini(
            &t,
            "/v1beta/models/text-embedding-004:batchEmbedContents",
            &json!({"requests": [{"content": {"parts": [{"text": "a"}]}, "dims": 3}]}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Unknown name \"dims\" at 'requests[0]'",
    );
    // camelCase and the proto's snake_case names both pass.
    accepted(
        &gemini(
            &t,
            GEN,
            &gem(json!({
                "systemInstruction": {"parts": [{"text": "s"}]},
                "generationConfig": {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 0},
                    "response_mime_type": "text/plain"},
                "safety_settings": [], "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
                "tools": [], "serviceTier": "standard"
            })),
        )
        .await,
    );
}

#[tokio::test]
async fn gemini_function_responses_answer_the_previous_calls() {
    let t = strict();
    let user = json!({"role": "user", "parts": [{"text": "hi"}]});
    let calls = json!({"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {}}},
        {"functionCall": {"name": "get_time", "args": {}}}
    ]});
    let responses = |names: &[&str]| {
        let parts: Vec<Value> = names
            .iter()
            .map(|n| json!({"functionResponse": {"name": n, "response": {"r": 1}}}))
            .collect();
        json!({"role": "user", "parts": parts})
    };
    let conv = |contents: Vec<Value>| json!({"contents": contents});
    gemini_refused(
        &gemini(
            &t,
            GEN,
            &conv(vec![user.clone(), responses(&["get_weather"])]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Please ensure that function response turn comes immediately after a function call turn.",
    );
    gemini_refused(
        &gemini(
            &t,
            GEN,
            &conv(vec![
                user.clone(),
                calls.clone(),
                responses(&["get_weather"]),
            ]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Please ensure that the number of function response parts is equal to the number of function call parts",
    );
    gemini_refused(
        &gemini(
            &t,
            GEN,
            &conv(vec![
                user.clone(),
                calls.clone(),
                responses(&["get_weather", "get_news"]),
            ]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "function response \"get_news\" does not answer any function call",
    );
    accepted(
        &gemini(
            &t,
            GEN,
            &conv(vec![user, calls, responses(&["get_time", "get_weather"])]),
        )
        .await,
    );
}

// ----------------------------------------------------------------------- lenient

#[tokio::test]
async fn lenient_mode_turns_every_check_off() {
    let t = T {
        mock: MockUpstream::start(MockConfig {
            lenient: true,
            ..MockConfig::default()
        })
        .with_key("the-only-key"),
        http: reqwest::Client::new(),
    };
    let (s, _, v) = json(
        t.http
            .post(t.url("/v1/chat/completions"))
            .json(&oai_chat(json!({"x_future": 1}))),
    )
    .await;
    accepted(&(s, v));
    let (s, _, v) = json(
        t.http
            .post(t.url("/v1/messages"))
            .header("x-api-key", "wrong")
            .header("anthropic-version", "1999-01-01")
            .json(&ant(json!({
                "max_tokens": 10, "x_future": 1,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"}
            }))),
    )
    .await;
    accepted(&(s, v));
    let (s, _, v) = json(
        t.http
            .post(t.url("/v1beta/models/gpt-4o:generateContent"))
            .header("x-goog-api-key", "wrong")
            .json(&gem(json!({"x_future": 1}))),
    )
    .await;
    accepted(&(s, v));
}
