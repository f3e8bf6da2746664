//! Request lifecycles end to end: client disconnects cancel the upstream call, a
//! graceful shutdown in the middle of a burst loses no log row, and the log holds one
//! row per request with its timeline.

mod common;

use std::time::Duration;

use ax_mock_upstream::{MockConfig, Scripted};
use common::{Client, Setup, gateway, gateway_with};
use futures::StreamExt;
use serde_json::Value;

const CLAUDE: &str = "/v1/messages";
const MODEL: &str = "claude/claude-3-5-sonnet-20241022";

async fn cancelled_rows(gw: &common::Gateway) -> usize {
    gw.logs()
        .await
        .iter()
        .filter(|r| r.error_code.as_deref() == Some("cancelled"))
        .count()
}

#[tokio::test]
async fn a_client_leaving_mid_stream_cancels_the_upstream_call() {
    for client in Client::ALL {
        let mut gw = gateway().await;
        // 40 chunks 100 ms apart: four seconds of stream if nobody cancels it.
        gw.claude.push_script(
            CLAUDE,
            vec![Scripted::ok().with_chunks(40).with_chunk_delay_ms(100)],
        );
        let resp = client.send(&gw, MODEL, true).await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.bytes_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        drop(body);
        // The row (state failed, code cancelled) is written long before the stream
        // would have ended: the upstream stream was dropped with the client.
        let found = common::eventually(Duration::from_secs(2), async || {
            cancelled_rows(&gw).await == 1
        })
        .await;
        assert!(
            found,
            "{client:?}: no cancelled row within 2 s: {:?}",
            gw.logs().await
        );
        let logs = gw.stop().await;
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].state, "failed");
    }
}

#[tokio::test]
async fn a_client_leaving_before_the_answer_cancels_the_upstream_call() {
    let mut gw = gateway().await;
    gw.claude.push_script(CLAUDE, vec![Scripted::latency(3000)]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = http
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&common::openai_body(MODEL, false))
        .send()
        .await;
    assert!(err.is_err(), "the client gave up");
    let found = common::eventually(Duration::from_secs(2), async || {
        cancelled_rows(&gw).await == 1
    })
    .await;
    assert!(found, "no cancelled row within 2 s: {:?}", gw.logs().await);
    // A cancelled request is not the provider's fault.
    let claude = gw.provider_status("claude").await;
    assert_eq!(claude["consecutive_failures"], 0, "{claude}");
    assert_eq!(claude["circuit"]["state"], "closed");
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_in_the_middle_of_a_burst_loses_no_log_row() {
    let mut gw = gateway_with(Setup {
        mock: MockConfig {
            latency_ms: 50,
            chunks: 5,
            chunk_delay_ms: 20,
            ..MockConfig::default()
        },
        ..Setup::default()
    })
    .await;
    // Set just before the stop begins; a task that completes after seeing it was in
    // flight when the shutdown started, and must still be answered in full.
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..60 {
        let http = gw.http.clone();
        let url = gw.url.clone();
        let stream = i % 2 == 0;
        let client = Client::ALL[i % 3];
        let stopping = stopping.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((i as u64 % 20) * 5)).await;
            let model = [
                "claude/claude-3-5-sonnet-20241022",
                "gemini/gemini-2.0-flash",
                "openai/gpt-4o-mini",
            ][i % 3];
            let (path, body) = match client {
                Client::OpenAi => (
                    "/v1/chat/completions".to_owned(),
                    common::openai_body(model, stream),
                ),
                Client::Anthropic => (
                    "/v1/messages".to_owned(),
                    common::anthropic_body(model, stream),
                ),
                Client::Gemini => (
                    if stream {
                        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
                    } else {
                        format!("/v1beta/models/{model}:generateContent")
                    },
                    common::gemini_body(),
                ),
            };
            let resp = http.post(format!("{url}{path}")).json(&body).send().await?;
            let id = resp.headers()["x-ax-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let status = resp.status();
            let text = resp.text().await?;
            let drained = stopping.load(std::sync::atomic::Ordering::SeqCst);
            Ok::<_, reqwest::Error>((id, status, text, stream, client, drained))
        }));
    }
    // Stop once requests are in flight upstream (an event, not a guess at the time).
    let in_flight = common::eventually(Duration::from_secs(30), async || {
        gw.claude.total_hits() + gw.gemini.total_hits() + gw.openai.total_hits() >= 6
    })
    .await;
    assert!(in_flight, "no request reached an upstream");
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    let logs = gw.stop().await;
    let (mut answered, mut drained) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok((id, status, text, stream, client, was_in_flight)) => {
                answered += 1;
                drained += usize::from(was_in_flight);
                assert_eq!(status, 200, "{id}: {text}");
                // Answered in full: a stream ends with its format's end, not a cut.
                if stream {
                    let events = common::sse_events(&text);
                    let done = match client {
                        Client::OpenAi => events.last().is_some_and(|e| e.1 == "[DONE]"),
                        Client::Anthropic => events
                            .last()
                            .is_some_and(|e| e.0.as_deref() == Some("message_stop")),
                        Client::Gemini => text.contains("\"STOP\""),
                    };
                    assert!(done, "{id} was cut at shutdown: {text}");
                }
                assert!(
                    logs.iter().any(|r| r.request_id == id),
                    "request {id} ({status}) was answered but has no log row"
                );
            }
            // Only a request the stopped server no longer accepted may fail, and only
            // at the connection, never with an HTTP error or a cut body.
            Err(e) => assert!(e.is_connect() || e.is_request(), "{e:?}"),
        }
    }
    assert!(answered > 0, "no request was answered");
    assert!(
        drained > 0,
        "no request was in flight when the shutdown began, so draining was not shown"
    );
    assert!(
        logs.iter().all(|r| r.has_metrics),
        "every log row has its metrics row"
    );
    assert_eq!(gw.integrity_check().await, "ok");
}

#[tokio::test]
async fn every_request_has_one_row_with_its_timeline() {
    let mut gw = gateway_with(Setup {
        router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 10\n".into(),
        ..Setup::default()
    })
    .await;
    // A success, a retried success, a fallback, a client error, an unknown model, bad
    // JSON and a dry run: seven requests, seven rows.
    assert_eq!(gw.openai_chat(MODEL, false, &[]).await.status(), 200);
    gw.claude
        .push_script(CLAUDE, vec![Scripted::status(503), Scripted::ok()]);
    assert_eq!(gw.openai_chat(MODEL, true, &[]).await.status(), 200);
    gw.claude
        .push_script(CLAUDE, vec![Scripted::status(503); 3]);
    assert_eq!(gw.openai_chat(MODEL, false, &[]).await.status(), 200);
    gw.claude.push_script(CLAUDE, vec![Scripted::status(400)]);
    assert_eq!(gw.openai_chat(MODEL, false, &[]).await.status(), 400);
    assert_eq!(
        gw.openai_chat("nope/model-x", false, &[]).await.status(),
        404
    );
    let bad = gw.post_raw("/v1/messages", "{not json").await;
    assert_eq!(bad.status(), 400);
    let dry = gw
        .openai_chat(MODEL, false, &[("x-ax-dry-run", "true")])
        .await;
    assert_eq!(dry.status(), 200);

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 7, "{logs:#?}");
    assert!(logs.iter().all(|r| r.has_metrics));
    let codes: Vec<_> = logs.iter().map(|r| r.error_code.as_deref()).collect();
    assert_eq!(
        codes,
        [
            None,
            None,
            None,
            Some("invalid_request"),
            Some("not_found"),
            Some("invalid_request"),
            Some("cancelled")
        ]
    );
    // Every state change, plus one `requesting` entry per attempt sent.
    assert_eq!(
        logs[0].timeline,
        ["validating", "requesting", "requesting", "completed"]
    );
    assert!(logs[1].timeline.contains(&"retrying".to_owned()));
    assert!(logs[1].timeline.contains(&"streaming".to_owned()));
    assert!(logs[2].is_fallback);
    assert!(logs[6].tags.contains(&"dry_run".to_owned()));
    // A streamed request is never logged with zero tokens.
    assert!(logs[1].output_tokens.unwrap_or(0) > 0);
}

#[tokio::test]
async fn logging_disabled_writes_no_rows() {
    let mut gw = gateway_with(Setup {
        env: [("PROVIDER_LOGGING_ENABLED".to_owned(), "false".to_owned())].into(),
        ..Setup::default()
    })
    .await;
    assert_eq!(gw.openai_chat(MODEL, false, &[]).await.status(), 200);
    assert!(gw.stop().await.is_empty());
}

#[tokio::test]
async fn request_and_answer_bodies_are_logged_as_sent() {
    let mut gw = gateway().await;
    let ok = common::openai_body(MODEL, false);
    let resp = gw.post("/v1/chat/completions", &ok, &[]).await;
    assert_eq!(resp.status(), 200);
    let answer = resp.text().await.unwrap();
    let streamed = common::openai_body(MODEL, true);
    let resp = gw.post("/v1/chat/completions", &streamed, &[]).await;
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await.unwrap();
    // Not JSON at all: refused before decoding, and still logged as received.
    let resp = gw.post_raw("/v1/chat/completions", "{not json").await;
    assert_eq!(resp.status(), 400);

    let logs = gw.stop().await;
    assert_eq!(logs.len(), 3, "{logs:?}");
    let sent = |row: &common::LoggedRequest| -> Value {
        serde_json::from_str(row.request_data.as_deref().expect("request body logged")).unwrap()
    };
    assert_eq!(sent(&logs[0]), ok);
    assert_eq!(logs[0].response_data.as_deref(), Some(answer.as_str()));
    assert_eq!(sent(&logs[1]), streamed);
    assert_eq!(
        logs[1].response_data, None,
        "streamed answers are not stored"
    );
    assert_eq!(logs[2].request_data.as_deref(), Some("{not json"));
    assert_eq!(logs[2].state, "failed");
}
