//! Faults of every kind from real-format mock upstreams: what the client sees, what
//! the upstreams receive, and what the log records.

mod common;

use std::time::{Duration, Instant};

use ax_mock_upstream::Scripted;
use common::{Client, Setup, gateway, gateway_with, sse_events};
use serde_json::Value;

const CLAUDE: &str = "/v1/messages";
const GEMINI: &str = "/v1beta/models";
const OPENAI: &str = "/v1/chat/completions";

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn retryable_statuses_are_retried_on_the_same_provider() {
    for status in [500u16, 503, 529, 429] {
        let mut gw = gateway().await;
        gw.claude
            .push_script(CLAUDE, vec![Scripted::status(status), Scripted::ok()]);
        let resp = gw
            .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
            .await;
        assert_eq!(resp.status(), 200, "upstream {status} is retried");
        assert_eq!(header(&resp, "x-ax-provider"), "claude");
        assert_eq!(header(&resp, "x-ax-attempts"), "2");
        assert_eq!(header(&resp, "x-ax-fallback"), "false");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains("mock-anthropic")
        );
        assert_eq!(gw.claude.hits(CLAUDE), 2);
        assert_eq!(gw.gemini.total_hits() + gw.openai.total_hits(), 0);
        let logs = gw.stop().await;
        assert_eq!(logs.len(), 1);
        let row = &logs[0];
        assert_eq!(row.state, "completed");
        assert_eq!((row.attempts, row.retry_attempt), (2, 1), "{status}");
        assert!(
            row.timeline.contains(&"retrying".to_owned()),
            "{:?}",
            row.timeline
        );
        assert!(!row.is_fallback);
    }
}

#[tokio::test]
async fn retry_after_from_upstream_is_honoured() {
    let mut gw = gateway().await;
    gw.claude.push_script(
        CLAUDE,
        vec![Scripted::status(429).with_retry_after(1), Scripted::ok()],
    );
    let start = Instant::now();
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    let waited = start.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(gw.claude.hits(CLAUDE), 2);
    // The retry base is 1 ms and its cap 5 ms: only Retry-After explains a 1 s wait.
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn retries_exhausted_fall_back_along_the_chain() {
    let mut gw = gateway().await;
    gw.claude
        .push_script(CLAUDE, vec![Scripted::status(503); 3]);
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ax-provider"), "gemini");
    assert_eq!(header(&resp, "x-ax-fallback"), "true");
    assert_eq!(header(&resp, "x-ax-attempts"), "4");
    assert_eq!(gw.claude.hits(CLAUDE), 3, "one try and max_retries = 2");
    assert_eq!(gw.gemini.hits(GEMINI), 1);
    // The fallback uses the fallback provider's default model, not the Claude name.
    assert_eq!(header(&resp, "x-ax-model"), "gemini-2.0-flash");
    assert_eq!(
        gw.gemini
            .hits("/v1beta/models/gemini-2.0-flash:generateContent"),
        1
    );
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1);
    assert!(logs[0].is_fallback);
    assert_eq!(logs[0].provider.as_deref(), Some("gemini"));
    assert_eq!(logs[0].state, "completed");
}

#[tokio::test]
async fn connection_refused_falls_back() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut gw = gateway_with(Setup {
        claude_url: Some(url),
        ..Setup::default()
    })
    .await;
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ax-provider"), "gemini");
    let claude = gw.provider_status("claude").await;
    assert!(claude["last_error"]["code"] == "network_error", "{claude}");
    let logs = gw.stop().await;
    assert!(logs[0].is_fallback);
}

#[tokio::test]
async fn upstream_timeout_falls_back() {
    let mut gw = gateway_with(Setup {
        provider_lines: "max_retries = 1\nfirst_byte_timeout_ms = 200\n".into(),
        ..Setup::default()
    })
    .await;
    gw.claude
        .push_script(CLAUDE, vec![Scripted::hang(), Scripted::hang()]);
    let start = Instant::now();
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ax-provider"), "gemini");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(gw.claude.hits(CLAUDE), 2);
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["last_error"]["code"], "timeout", "{claude}");
    gw.stop().await;
}

#[tokio::test]
async fn malformed_upstream_body_is_an_error_not_a_success() {
    let mut gw = gateway().await;
    gw.claude
        .push_script(CLAUDE, vec![Scripted::malformed(); 3]);
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    // The garbled answer is never passed on as a 200 from claude.
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ax-provider"), "gemini");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("mock-gemini")
    );
    gw.stop().await;
}

#[tokio::test]
async fn upstream_400_is_returned_not_retried_not_fallen_back() {
    for client in Client::ALL {
        let mut gw = gateway().await;
        gw.claude.push_script(CLAUDE, vec![Scripted::status(400)]);
        let resp = client
            .send(&gw, "claude/claude-3-5-sonnet-20241022", false)
            .await;
        assert_eq!(resp.status(), 400, "{client:?}");
        let body: Value = resp.json().await.unwrap();
        match client {
            Client::OpenAi => assert_eq!(body["error"]["type"], "invalid_request_error", "{body}"),
            Client::Anthropic => {
                assert_eq!(body["type"], "error");
                assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
            }
            Client::Gemini => {
                assert_eq!(body["error"]["code"], 400);
                assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
            }
        }
        assert_eq!(gw.claude.hits(CLAUDE), 1);
        assert_eq!(gw.gemini.total_hits() + gw.openai.total_hits(), 0);
        let logs = gw.stop().await;
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].error_code.as_deref(), Some("invalid_request"));
        assert_eq!(logs[0].state, "failed");
    }
}

#[tokio::test]
async fn upstream_auth_failure_marks_provider_unhealthy_and_falls_back() {
    let mut gw = gateway().await;
    gw.claude
        .push_script(CLAUDE, vec![Scripted::status(401); 3]);
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the operator's bad key is not the client's problem"
    );
    assert_eq!(header(&resp, "x-ax-provider"), "gemini");
    assert_eq!(
        gw.claude.hits(CLAUDE),
        1,
        "a 401 is not retried on the same provider"
    );
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["health"], "unhealthy", "{claude}");
    gw.stop().await;
}

#[tokio::test]
async fn every_provider_failing_gives_502_listing_each_attempt() {
    let mut gw = gateway().await;
    for (m, path) in [
        (&gw.claude, CLAUDE),
        (&gw.gemini, GEMINI),
        (&gw.openai, OPENAI),
    ] {
        m.push_script(path, vec![Scripted::status(500); 3]);
    }
    let resp = gw
        .openai_chat("claude/claude-3-5-sonnet-20241022", false, &[])
        .await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    for p in ["claude", "gemini", "openai"] {
        assert!(msg.contains(p), "{msg}");
    }
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].error_code.as_deref(), Some("all_providers_failed"));
    assert_eq!(logs[0].attempts, 9);
}

#[tokio::test]
async fn fallback_off_header_keeps_the_request_on_its_provider() {
    let mut gw = gateway().await;
    gw.claude
        .push_script(CLAUDE, vec![Scripted::status(500); 3]);
    let resp = gw
        .openai_chat(
            "claude/claude-3-5-sonnet-20241022",
            false,
            &[("x-ax-fallback", "off")],
        )
        .await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(gw.claude.hits(CLAUDE), 3);
    assert_eq!(gw.gemini.total_hits() + gw.openai.total_hits(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn a_failure_before_the_first_chunk_is_invisible_to_a_streaming_client() {
    for client in Client::ALL {
        let mut gw = gateway().await;
        gw.claude
            .push_script(CLAUDE, vec![Scripted::status(500), Scripted::ok()]);
        let resp = client
            .send(&gw, "claude/claude-3-5-sonnet-20241022", true)
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ax-attempts"), "2");
        let text = resp.text().await.unwrap();
        assert!(!text.contains("error"), "{client:?}: {text}");
        let events = sse_events(&text);
        match client {
            Client::OpenAi => assert_eq!(events.last().unwrap().1, "[DONE]"),
            Client::Anthropic => {
                assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"))
            }
            Client::Gemini => {
                let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
                assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{last}");
            }
        }
        let logs = gw.stop().await;
        assert_eq!(logs[0].state, "completed");
        assert!(logs[0].output_tokens.unwrap_or(0) > 0);
    }
}

/// A stream that breaks after chunks reached the client ends with an error event in the
/// client's own format, never a clean end; tokens are estimated and marked so.
#[tokio::test]
async fn a_mid_stream_disconnect_ends_with_an_error_event_in_the_client_format() {
    for fault in [Scripted::cut_after(2), Scripted::error_after(2)] {
        for client in Client::ALL {
            let mut gw = gateway().await;
            gw.claude.push_script(CLAUDE, vec![fault.with_chunks(5)]);
            let resp = client
                .send(&gw, "claude/claude-3-5-sonnet-20241022", true)
                .await;
            assert_eq!(resp.status(), 200);
            let text = resp.text().await.unwrap();
            let events = sse_events(&text);
            let (name, data) = events.last().unwrap().clone();
            let last: Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("{client:?} last frame {data:?}: {e}\n{text}"));
            match client {
                Client::OpenAi => {
                    assert!(last["error"]["message"].is_string(), "{text}");
                    assert!(!text.contains("[DONE]"), "{text}");
                }
                Client::Anthropic => {
                    assert_eq!(name.as_deref(), Some("error"), "{text}");
                    assert_eq!(last["type"], "error");
                    assert!(!text.contains("message_stop"), "{text}");
                }
                Client::Gemini => {
                    assert!(last["error"]["message"].is_string(), "{text}");
                    assert!(!text.contains("\"STOP\""), "{text}");
                }
            }
            // Content before the break did reach the client: the answer's beginning.
            let got = common::stream_text(client, &text);
            assert!(
                !got.is_empty() && "Hello from mock-anthropic".starts_with(got.as_str())
                    || got.starts_with("Hello from mock-anthropic"),
                "{client:?}: {got:?} in {text}"
            );
            assert_eq!(gw.claude.hits(CLAUDE), 1, "no retry after the first byte");
            assert_eq!(gw.gemini.total_hits() + gw.openai.total_hits(), 0);
            let logs = gw.stop().await;
            assert_eq!(logs.len(), 1);
            let row = &logs[0];
            assert_eq!(row.state, "failed", "{client:?} {fault:?}");
            assert!(row.error_code.is_some());
            assert!(
                row.output_tokens.unwrap_or(0) > 0,
                "a streamed request is never logged with zero tokens: {row:?}"
            );
            if fault.cut_after.is_some() {
                assert_eq!(row.tokens_estimated, Some(true), "{row:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_stalled_stream_fails_after_the_idle_timeout() {
    let mut gw = gateway_with(Setup {
        provider_lines: "max_retries = 0\nidle_timeout_ms = 150\n".into(),
        ..Setup::default()
    })
    .await;
    gw.claude.push_script(
        CLAUDE,
        vec![Scripted::ok().with_chunks(4).with_chunk_delay_ms(1000)],
    );
    let resp = Client::Anthropic
        .send(&gw, "claude/claude-3-5-sonnet-20241022", true)
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().0.as_deref(), Some("error"), "{text}");
    // The first chunk came at once, the second would have come 1 s later: the idle
    // timeout (150 ms) ended the stream between them. No wall clock is read here.
    let deltas = events
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("content_block_delta"))
        .count();
    assert_eq!(deltas, 1, "{text}");
    let logs = gw.stop().await;
    assert_eq!(logs[0].error_code.as_deref(), Some("timeout"));
}
