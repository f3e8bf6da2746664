//! Behaviour knobs (headers, scripts, runtime defaults), counters, recorded requests,
//! control endpoints and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use std::time::{Duration, Instant};

use ax_mock_upstream::{MockConfig, MockUpstream, Scripted};
use common::{json, parse_sse, read_until_cut, sse, start, start_with};
use serde_json::{Value, json};

fn oai_body(stream: bool) -> Value {
    json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn ant_body(stream: bool) -> Value {
    json!({"model": "claude-x", "max_tokens": 10, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn gem_body() -> Value {
    json!({"contents": [{"parts": [{"text": "hi"}]}]})
}

const GEN: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";

#[tokio::test]
async fn forced_status_with_retry_after_in_each_format() {
    let t = start();
    let (status, headers, v) = json(
        t.openai("/v1/chat/completions", &oai_body(false))
            .header("x-mock-status", "429")
            .header("x-mock-retry-after", "2"),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].is_string());
    assert!(v["error"].get("param").is_some());

    let (status, headers, v) =
        json(t.anthropic(&ant_body(false)).header("x-mock-status", "529")).await;
    assert_eq!(status, 529);
    assert!(headers.get("retry-after").is_none());
    assert_eq!(
        v,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_mock"})
    );

    let (status, _, v) = json(t.anthropic(&ant_body(true)).header("x-mock-status", "429")).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");

    let (status, _, v) = json(t.gemini(GEN, &gem_body()).header("x-mock-status", "503")).await;
    assert_eq!(status, 503);
    assert_eq!(v["error"]["code"], 503);
    assert_eq!(v["error"]["status"], "UNAVAILABLE");

    let (status, _, v) = json(
        t.openai("/v1/chat/completions", &oai_body(true))
            .header("x-mock-status", "500"),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(v["error"]["type"], "server_error");

    // Forced status applies to every endpoint, models included.
    let (status, _, _) = json(
        t.http
            .get(t.url("/v1/models"))
            .bearer_auth("sk-test")
            .header("x-mock-status", "502"),
    )
    .await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn cut_after_aborts_without_terminal_frame() {
    let t = start();
    let got = read_until_cut(
        t.openai("/v1/chat/completions", &oai_body(true))
            .header("x-mock-cut-after", "2"),
    )
    .await;
    let events = parse_sse(&got);
    assert_eq!(events.len(), 3, "role chunk + 2 content chunks: {got}");
    assert!(!got.contains("[DONE]") && !got.contains("finish_reason\":\"stop"));

    let got = read_until_cut(t.anthropic(&ant_body(true)).header("x-mock-cut-after", "1")).await;
    let names: Vec<_> = parse_sse(&got)
        .into_iter()
        .map(|e| e.name.unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );

    let got = read_until_cut(
        t.gemini(STREAM, &gem_body())
            .header("x-mock-cut-after", "4"),
    )
    .await;
    let events = parse_sse(&got);
    assert_eq!(events.len(), 4);
    assert!(
        !got.contains("finishReason"),
        "the final event never arrives"
    );

    // Past the last chunk: everything but the terminal frames.
    let got = read_until_cut(
        t.openai("/v1/chat/completions", &oai_body(true))
            .header("x-mock-cut-after", "99"),
    )
    .await;
    assert_eq!(parse_sse(&got).len(), 6);
    assert!(!got.contains("[DONE]"));

    // Non-streamed bodies are cut halfway.
    let r = t
        .openai("/v1/chat/completions", &oai_body(false))
        .header("x-mock-cut-after", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.is_err());
}

#[tokio::test]
async fn error_after_sends_the_provider_error_event() {
    let t = start();
    let events = sse(t
        .openai("/v1/chat/completions", &oai_body(true))
        .header("x-mock-error-after", "2"))
    .await;
    assert_eq!(events.len(), 4);
    let err = events[3].json();
    assert_eq!(err["error"]["type"], "server_error");
    assert!(err["error"]["message"].is_string());
    assert!(events.iter().all(|e| e.data != "[DONE]"));

    let events = sse(t
        .anthropic(&ant_body(true))
        .header("x-mock-error-after", "1"))
    .await;
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("error"));
    assert_eq!(
        last.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(events.len(), 5);

    let events = sse(t
        .gemini(STREAM, &gem_body())
        .header("x-mock-error-after", "0"))
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].json()["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn malformed_bodies() {
    let t = start();
    for req in [
        t.openai("/v1/chat/completions", &oai_body(false)),
        t.anthropic(&ant_body(false)),
        t.gemini(GEN, &gem_body()),
        t.openai("/v1/embeddings", &json!({"model": "m", "input": "x"})),
    ] {
        let r = req.header("x-mock-malformed", "1").send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    }
    let r = t
        .openai("/v1/chat/completions", &oai_body(true))
        .header("x-mock-malformed", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = parse_sse(&r.text().await.unwrap());
    assert!(serde_json::from_str::<Value>(&events[0].data).is_err());
}

#[tokio::test]
async fn latency_and_chunk_delay() {
    let t = start();
    let started = Instant::now();
    let r = t
        .openai("/v1/chat/completions", &oai_body(false))
        .header("x-mock-latency-ms", "150")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status(), 200);

    // Headers and the first chunk come at once: with a minute between chunks, the
    // first still arrives (a mock that waited before it would time out here).
    let mut r = t
        .anthropic(&ant_body(true))
        .header("x-mock-chunks", "4")
        .header("x-mock-chunk-delay-ms", "60000")
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), r.chunk())
        .await
        .expect("the first chunk does not wait for the chunk delay")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    drop(r);

    let started = Instant::now();
    let mut r = t
        .anthropic(&ant_body(true))
        .header("x-mock-chunks", "4")
        .header("x-mock-chunk-delay-ms", "40")
        .send()
        .await
        .unwrap();
    while r.chunk().await.unwrap().is_some() {}
    // 3 gaps between 4 chunks + 1 before the terminal frames.
    assert!(started.elapsed() >= Duration::from_millis(160));
}

#[tokio::test]
async fn hang_never_answers_until_shutdown() {
    let t = start();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .post(t.url("/v1/chat/completions"))
        .header("x-mock-hang", "1")
        .json(&oai_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());

    // A hanging call in flight does not block shutdown.
    let url = t.url("/v1/chat/completions");
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("x-mock-hang", "1")
            .json(&oai_body(false))
            .send()
            .await
    });
    while t.mock.hits("/v1/chat/completions") < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = t.mock.addr();
    tokio::time::timeout(Duration::from_secs(5), t.mock.shutdown())
        .await
        .expect("shutdown completes");
    let _ = pending.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn scripts_pop_in_order_then_fall_back() {
    let t = start();
    t.mock.push_script(
        "/v1/messages",
        vec![
            Scripted::status(500),
            Scripted::status(429).with_retry_after(1),
            Scripted::ok(),
        ],
    );
    // A call rejected for credentials does not consume the script.
    let r = t
        .http
        .post(t.url("/v1/messages"))
        .json(&ant_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let mut got = Vec::new();
    let mut retry = Vec::new();
    for _ in 0..4 {
        let r = t.anthropic(&ant_body(false)).send().await.unwrap();
        got.push(r.status().as_u16());
        retry.push(
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
    }
    assert_eq!(got, [500, 429, 200, 200]);
    assert_eq!(retry[1].as_deref(), Some("1"));

    // Other paths are unaffected; a prefix script covers every Gemini model.
    t.mock.push_script(
        "/v1beta/models/",
        vec![Scripted::cut_after(1), Scripted::error_after(0)],
    );
    let (status, _, _) = json(t.openai("/v1/chat/completions", &oai_body(false))).await;
    assert_eq!(status, 200);
    let got = read_until_cut(t.gemini(STREAM, &gem_body())).await;
    assert_eq!(parse_sse(&got).len(), 1);
    let events = sse(t.gemini(STREAM, &gem_body())).await;
    assert!(events[0].json().get("error").is_some());
    let events = sse(t.gemini(STREAM, &gem_body())).await;
    assert_eq!(events.len(), 5);
}

#[tokio::test]
async fn scripts_cover_latency_and_chunks_and_headers_override_them() {
    let t = start();
    t.mock.push_script(
        "/v1/chat/completions",
        vec![
            Scripted::latency(120).with_chunks(2),
            Scripted::ok().with_chunks(2),
        ],
    );
    let started = Instant::now();
    let events = sse(t.openai("/v1/chat/completions", &oai_body(true))).await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(events.len(), 1 + 2 + 1 + 1);
    let events = sse(t
        .openai("/v1/chat/completions", &oai_body(true))
        .header("x-mock-chunks", "3"))
    .await;
    assert_eq!(events.len(), 1 + 3 + 1 + 1, "headers win over the script");
}

#[tokio::test]
async fn runtime_defaults_and_reset() {
    let t = start_with(MockConfig {
        chunks: 2,
        ..MockConfig::default()
    });
    assert_eq!(t.mock.default_config().chunks, 2);
    t.mock.set_default(MockConfig {
        status: Some(503),
        retry_after_secs: Some(7),
        ..MockConfig::default()
    });
    let (status, headers, v) = json(t.gemini(GEN, &gem_body())).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
    // A script can still force success over a failing default.
    t.mock.push_script(GEN, vec![Scripted::ok()]);
    let (status, _, _) = json(t.gemini(GEN, &gem_body())).await;
    assert_eq!(status, 200);
    let (status, _, _) = json(t.gemini(GEN, &gem_body())).await;
    assert_eq!(status, 503);

    t.mock.push_script("/", vec![Scripted::status(500)]);
    t.mock.reset();
    assert_eq!(t.mock.total_hits(), 0);
    assert_eq!(
        t.mock.default_config().chunks,
        2,
        "reset restores the start config"
    );
    let events = sse(t.openai("/v1/chat/completions", &oai_body(true))).await;
    assert_eq!(
        events.len(),
        1 + 2 + 1 + 1,
        "script cleared, start config back"
    );
}

#[tokio::test]
async fn counters_last_body_and_headers() {
    // Lenient: the body below carries a field the real API refuses, to show it is
    // recorded verbatim.
    let t = start_with(MockConfig {
        lenient: true,
        ..MockConfig::default()
    });
    assert_eq!(t.mock.total_hits(), 0);
    assert!(t.mock.last_body("/v1/messages").is_none());

    let sent = json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
        "stream_options": {"include_usage": true},
        "x_unknown_field": [1, 2, 3]
    });
    let _ = sse(t
        .openai("/v1/chat/completions", &sent)
        .header("x-trace", "abc"))
    .await;
    let _ = json(t.anthropic(&ant_body(false))).await;
    let _ = json(t.anthropic(&ant_body(false))).await;
    let _ = json(t.gemini(GEN, &gem_body())).await;
    let _ = json(t.gemini("/v1beta/models/gemini-1.5-pro:generateContent", &gem_body())).await;
    let _ = json(t.http.get(t.url("/v1/nowhere"))).await;

    assert_eq!(t.mock.hits("/v1/chat/completions"), 1);
    assert_eq!(t.mock.hits("/v1/messages"), 2);
    assert_eq!(t.mock.hits(GEN), 1);
    assert_eq!(t.mock.hits("/v1beta/models/"), 2);
    assert_eq!(t.mock.hits("/v1/nowhere"), 1);
    assert_eq!(t.mock.hits("/v1/embeddings"), 0);
    assert_eq!(t.mock.total_hits(), 6);

    assert_eq!(t.mock.last_body("/v1/chat/completions").unwrap(), sent);
    let h = t.mock.last_headers("/v1/chat/completions").unwrap();
    assert_eq!(h["x-trace"], "abc");
    assert_eq!(h["authorization"], "Bearer sk-test");
    assert_eq!(
        t.mock.last_headers("/v1/messages").unwrap()["anthropic-version"],
        "2023-06-01"
    );
    // Prefix lookups return the most recent call among the matching paths.
    assert_eq!(
        t.mock
            .last_headers("/v1beta/")
            .unwrap()
            .get("x-goog-api-key")
            .unwrap(),
        "g-test"
    );
    assert!(t.mock.last_body("/v1beta/models/gemini-1.5-pro").is_some());

    let (status, _, stats) = json(t.http.get(t.url("/_mock/stats"))).await;
    assert_eq!(status, 200);
    assert_eq!(stats["total_hits"], 6);
    assert_eq!(stats["routes"]["/v1/messages"], 2);
    assert_eq!(stats["routes"][GEN], 1);

    let r = t.http.post(t.url("/_mock/reset")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.mock.total_hits(), 0);
    assert!(t.mock.last_body("/v1/chat/completions").is_none());
    let (_, _, stats) = json(t.http.get(t.url("/_mock/stats"))).await;
    assert_eq!(stats, json!({"total_hits": 0, "routes": {}}));
}

#[tokio::test]
async fn unknown_route_is_404() {
    let t = start();
    let (status, _, v) = json(t.http.post(t.url("/v2/whatever")).json(&json!({}))).await;
    assert_eq!(status, 404);
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let mock = MockUpstream::start(MockConfig::default());
    let addr = mock.addr();
    assert_eq!(mock.url(), format!("http://{addr}"));
    drop(mock);
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_all_counted() {
    let t = start();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let req = if i % 2 == 0 {
            t.openai("/v1/chat/completions", &oai_body(true))
        } else {
            t.anthropic(&ant_body(true))
        };
        tasks.push(tokio::spawn(async move { sse(req).await.len() }));
    }
    for task in tasks {
        assert!(task.await.unwrap() > 5);
    }
    assert_eq!(t.mock.total_hits(), 64);
    assert_eq!(t.mock.hits("/v1/messages"), 32);
}

#[tokio::test]
async fn echo_auth_repeats_the_credentials_in_the_forced_error() {
    let t = start();
    let (status, _, v) = json(
        t.http
            .post(t.url("/v1/chat/completions"))
            .bearer_auth("plainTESTSECRETkey99")
            .json(&oai_body(false))
            .header("x-mock-status", "401")
            .header("x-mock-echo-auth", "1"),
    )
    .await;
    assert_eq!(status, 401);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("authorization: Bearer plainTESTSECRETkey99"),
        "{msg}"
    );

    // From a script, in the Gemini format, with the key in the query.
    t.mock
        .push_script("/v1beta/models", vec![Scripted::echo_auth(401)]);
    let (status, _, v) = json(
        reqwest::Client::new()
            .post(format!("{}?key=gem-key-1", t.url(GEN)))
            .json(&gem_body()),
    )
    .await;
    assert_eq!(status, 401);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("key=gem-key-1"), "{msg}");

    // Without the knob the message is the provider's usual one.
    let (_, _, v) = json(
        t.openai("/v1/chat/completions", &oai_body(false))
            .header("x-mock-status", "401"),
    )
    .await;
    assert!(!v["error"]["message"].as_str().unwrap().contains("sk-test"));
}
