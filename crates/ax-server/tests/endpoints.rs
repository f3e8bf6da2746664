//! Client-facing behaviour that is not about faults: model selection, routes, the
//! same-format fast path, dry run, rate limits, hedging, metrics and ops endpoints.

mod common;

use std::time::Duration;

use ax_mock_upstream::Scripted;
use common::{Client, Setup, gateway, gateway_with, sse_events};
use serde_json::{Value, json};

const CLAUDE: &str = "/v1/messages";
const GEMINI: &str = "/v1beta/models";
const OPENAI: &str = "/v1/chat/completions";

#[tokio::test]
async fn model_selection_by_prefix_kind_bare_name_and_route() {
    let mut gw = gateway_with(Setup {
        extra_toml: "[[routes]]\nname = \"default\"\nstrategy = \"fallback\"\ntargets = [\"gemini/gemini-2.0-flash\", \"openai/gpt-4o-mini\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let cases = [
        ("anthropic/claude-3-haiku", "claude", "claude-3-haiku"),
        ("claude/claude-3-haiku", "claude", "claude-3-haiku"),
        ("google/gemini-1.5-pro", "gemini", "gemini-1.5-pro"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        (
            "claude-3-5-sonnet-20241022",
            "claude",
            "claude-3-5-sonnet-20241022",
        ),
        ("gemini-2.0-flash", "gemini", "gemini-2.0-flash"),
        ("default", "gemini", "gemini-2.0-flash"),
    ];
    for (model, provider, upstream_model) in cases {
        let resp = gw.openai_chat(model, false, &[]).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(resp.headers()["x-ax-provider"], provider, "{model}");
        assert_eq!(resp.headers()["x-ax-model"], upstream_model, "{model}");
    }
    // The prefix is stripped before the model goes upstream.
    assert_eq!(
        gw.claude.last_body(CLAUDE).unwrap()["model"],
        "claude-3-5-sonnet-20241022"
    );
    let gemini_path = gw.gemini.last_headers(GEMINI).is_some();
    assert!(gemini_path);
    let unknown = gw.openai_chat("mistral-large", false, &[]).await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn same_format_fast_path_forwards_unknown_fields_and_forces_stream_usage() {
    let mut gw = gateway().await;
    let mut body = common::openai_body("openai/gpt-4o-mini", true);
    // A real OpenAI field the unified model does not carry (the strict mock refuses
    // made-up ones, as OpenAI does).
    body["web_search_options"] = json!({"search_context_size": "low"});
    body["seed"] = json!(7);
    let resp = gw.post(OPENAI, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let sent = gw.openai.last_body(OPENAI).unwrap();
    assert_eq!(
        sent["web_search_options"],
        json!({"search_context_size": "low"})
    );
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "usage always requested upstream"
    );
    // The client did not ask for usage: no `choices: []` usage chunk reaches it.
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    for (_, data) in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(data).unwrap();
        assert!(!v["choices"].as_array().unwrap().is_empty(), "{data}");
    }

    // A client that asks for it gets exactly one usage chunk, right before [DONE].
    body["stream_options"] = json!({"include_usage": true});
    let text = gw.post(OPENAI, &body, &[]).await.text().await.unwrap();
    let events = sse_events(&text);
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    gw.stop().await;
}

#[tokio::test]
async fn include_usage_is_honoured_whatever_the_upstream() {
    let mut gw = gateway().await;
    for model in [
        "claude/claude-3-5-sonnet-20241022",
        "gemini/gemini-2.0-flash",
    ] {
        let mut body = common::openai_body(model, true);
        body["stream_options"] = json!({"include_usage": true});
        let text = gw.post(OPENAI, &body, &[]).await.text().await.unwrap();
        let events = sse_events(&text);
        assert_eq!(events.last().unwrap().1, "[DONE]", "{model}");
        let usage: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
        assert_eq!(usage["choices"], json!([]), "{model}: {text}");
        assert!(
            usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{model}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn any_client_format_is_served_by_any_provider() {
    let mut gw = gateway().await;
    for client in Client::ALL {
        for (model, marker) in [
            ("claude/claude-3-5-sonnet-20241022", "mock-anthropic"),
            ("gemini/gemini-2.0-flash", "mock-gemini"),
            ("openai/gpt-4o-mini", "mock-openai"),
        ] {
            for stream in [false, true] {
                // Fallback off: a broken pair must fail here, not be answered by
                // another provider (every mock says "Hello from mock-…").
                let resp = client
                    .send_with(&gw, model, stream, &[("x-ax-fallback", "off")])
                    .await;
                assert_eq!(resp.status(), 200, "{client:?} {model} {stream}");
                let provider = model.split('/').next().unwrap();
                assert_eq!(
                    resp.headers()["x-ax-provider"],
                    provider,
                    "{client:?} {model} {stream}"
                );
                let body = resp.text().await.unwrap();
                // The client's view: the answer text as its SDK would assemble it.
                let text = if stream {
                    common::stream_text(client, &body)
                } else {
                    common::reply_text(client, &serde_json::from_str(&body).unwrap())
                };
                assert!(
                    text.starts_with(&format!("Hello from {marker}")),
                    "{client:?} {model} stream={stream}: {text:?} in {body}"
                );
            }
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn dry_run_returns_the_plan_and_calls_no_upstream() {
    let mut gw = gateway().await;
    let resp = gw
        .openai_chat(
            "claude/claude-3-5-sonnet-20241022",
            false,
            &[("x-ax-dry-run", "true")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let plan: Value = resp.json().await.unwrap();
    assert_eq!(plan["dry_run"], true);
    let providers: Vec<&str> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["claude", "gemini", "openai"]);
    for t in plan["plan"].as_array().unwrap() {
        assert!(
            t["model"].is_string() && t["health"].is_string() && t["circuit"].is_string(),
            "{t}"
        );
    }
    assert_eq!(
        gw.claude.total_hits() + gw.gemini.total_hits() + gw.openai.total_hits(),
        0
    );
    let explain: Value = gw
        .get("/admin/routes/explain?model=gpt-4o-mini")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(explain["plan"][0]["provider"], "openai", "{explain}");
    gw.stop().await;
}

#[tokio::test]
async fn a_rate_limited_provider_is_skipped_or_queued_then_429() {
    let mut gw = gateway_with(Setup {
        provider_lines: "max_retries = 0\nrpm = 1\n".into(),
        router: "retry_base_ms = 1\nretry_cap_ms = 5\nmax_queue_ms = 30000\n".into(),
        ..Setup::default()
    })
    .await;
    let model = "claude/claude-3-5-sonnet-20241022";
    assert_eq!(
        gw.openai_chat(model, false, &[]).await.headers()["x-ax-provider"],
        "claude"
    );
    // Fallback on: the limited provider is skipped.
    let second = gw.openai_chat(model, false, &[]).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["x-ax-provider"], "gemini");
    // Fallback off: it may queue up to max_queue_ms (30 s here), but with 1 rpm the next
    // slot is ~60 s away, so waiting cannot help: 429 at once, with the real
    // Retry-After. A gateway that queued anyway would hold the request for 30 s; the
    // client gives up after 20 s (a bound no loaded machine reaches for an immediate
    // answer).
    let third = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-ax-fallback", "off")
        .json(&common::openai_body(model, false))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("429 at once, not after queueing");
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(gw.claude.hits(CLAUDE), 1);
    assert!(gw.metrics().await.contains("ax_rate_limited_total"));
    let logs = gw.stop().await;
    assert_eq!(logs[2].error_code.as_deref(), Some("rate_limit_exceeded"));
    assert!(
        logs[2].timeline.contains(&"rate_limited".to_owned()),
        "{:?}",
        logs[2].timeline
    );
}

#[tokio::test]
async fn hedging_starts_the_next_target_when_the_first_is_slow() {
    let mut gw = gateway_with(Setup {
        extra_toml: "[[routes]]\nname = \"fast\"\nstrategy = \"fallback\"\nhedge_after_ms = 50\ntargets = [\"claude/claude-3-5-sonnet-20241022\", \"gemini/gemini-2.0-flash\"]\n".into(),
        ..Setup::default()
    })
    .await;
    // Claude never answers: only a hedge can serve this request.
    gw.claude.push_script(CLAUDE, vec![Scripted::hang()]);
    let resp = gw.openai_chat("fast", false, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ax-provider"], "gemini");
    assert_eq!(gw.claude.hits(CLAUDE), 1);
    gw.stop().await;
}

#[tokio::test]
async fn request_headers_reach_the_log_and_response_headers_say_who_served() {
    let mut gw = gateway().await;
    let resp = gw
        .openai_chat(
            "openai/gpt-4o-mini",
            false,
            &[
                ("x-ax-request-id", "req-abc-123"),
                ("x-ax-tags", "team-a,nightly"),
                ("x-ax-conversation-id", "conv-9"),
                ("x-ax-user-id", "user-7"),
            ],
        )
        .await;
    assert_eq!(resp.headers()["x-ax-request-id"], "req-abc-123");
    assert_eq!(resp.headers()["x-ax-provider"], "openai");
    assert_eq!(resp.headers()["x-ax-attempts"], "1");
    assert_eq!(resp.headers()["x-ax-fallback"], "false");
    let logs = gw.stop().await;
    assert_eq!(logs[0].request_id, "req-abc-123");
    assert_eq!(logs[0].tags, ["team-a", "nightly"]);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_in_the_client_format() {
    let mut gw = gateway().await;
    // Not JSON, in each format.
    for (path, check) in [
        (OPENAI, "/error/message"),
        (CLAUDE, "/error/message"),
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            "/error/message",
        ),
    ] {
        let resp = gw.post_raw(path, "[1, 2").await;
        assert_eq!(resp.status(), 400, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v.pointer(check).and_then(Value::as_str).is_some(),
            "{path}: {v}"
        );
    }
    // Anthropic's envelope.
    let v: Value = gw
        .post(CLAUDE, &json!({"model": "x"}), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["type"], "error", "{v}");
    // Gemini's status names.
    let v: Value = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            &json!({"contents": 5}),
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
    // Too large: 413.
    let big = "x".repeat(11 * 1024 * 1024);
    let resp = gw
        .post(
            OPENAI,
            &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]}),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 413);
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 6, "every rejected request is logged once");
    assert!(
        logs.iter()
            .all(|r| r.error_code.as_deref() == Some("invalid_request"))
    );
}

#[tokio::test]
async fn ops_endpoints_models_and_metrics() {
    let mut gw = gateway().await;
    assert_eq!(gw.get("/healthz").await.status(), 200);
    assert_eq!(gw.get("/readyz").await.status(), 200);
    let unknown = gw.get("/v2/whatever").await;
    assert_eq!(unknown.status(), 404);
    let v: Value = unknown.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v2/whatever"),
        "{v}"
    );
    let models: Value = gw.get("/v1/models").await.json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert!(models["data"].as_array().unwrap().len() >= 3, "{models}");

    gw.claude.push_script(
        CLAUDE,
        vec![
            Scripted::status(500),
            Scripted::status(500),
            Scripted::status(500),
        ],
    );
    assert_eq!(
        gw.openai_chat("claude/claude-3-5-sonnet-20241022", true, &[])
            .await
            .status(),
        200
    );
    let _ = gw
        .openai_chat("openai/gpt-4o-mini", false, &[])
        .await
        .text()
        .await;
    let m = gw.metrics().await;
    for needle in [
        "ax_requests_total{",
        "outcome=\"success\"",
        "ax_request_duration_seconds_bucket{",
        "ax_first_token_seconds_bucket{",
        "ax_tokens_total{",
        "ax_retries_total{provider=\"claude\"}",
        "ax_fallbacks_total{from=\"claude\",to=\"gemini\"}",
        "ax_circuit_state{provider=\"claude\"}",
        "ax_log_queue_depth",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    gw.stop().await;
}
