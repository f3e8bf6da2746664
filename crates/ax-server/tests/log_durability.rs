//! `AX_LOG_DURABILITY=acknowledged`: once a client holds an answer's end (a whole
//! non-streamed body, a stream's `[DONE]` / `message_stop` / Gemini's last chunk, an
//! error answer, a refusal), the request's log row is already committed in the SQLite
//! file. Checked with a separate read-only connection while the server keeps running,
//! and with the writer's flush interval set to an hour so that buffered mode visibly
//! lags (the buffered test shows the same reads find nothing there). While each
//! answer is produced the test holds the database's write lock for a moment, so a
//! commit cannot win a race against the client's read by being quick: an end frame
//! sent before the commit is an end frame seen before the row.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Client, Gateway, Setup, gateway_with, sse_events, stream_text};
use futures::StreamExt;
use serde_json::{Value, json};

/// A gateway whose writer would hold a plain record for an hour.
async fn gateway_in(mode: &str) -> Gateway {
    gateway_with(Setup {
        env: BTreeMap::from([("AX_LOG_DURABILITY".to_owned(), mode.to_owned())]),
        log_writer: ax_store::WriterConfig {
            flush_interval: Duration::from_secs(3600),
            ..ax_store::WriterConfig::default()
        },
        ..Setup::default()
    })
    .await
}

/// The model served by the upstream of `client`'s own format (passthrough) or by
/// another one (translated).
fn model_for(client: Client, same_format: bool) -> &'static str {
    match (client, same_format) {
        (Client::OpenAi, true) | (Client::Gemini, false) => "openai/gpt-4o-mini",
        (Client::Anthropic, true) | (Client::OpenAi, false) => "claude/claude-3-5-sonnet-20241022",
        (Client::Gemini, true) | (Client::Anthropic, false) => "gemini/gemini-2.0-flash",
    }
}

/// What tells a client of `client`'s format that a stream is complete.
fn end_marker(client: Client) -> &'static str {
    match client {
        Client::OpenAi => "data: [DONE]",
        Client::Anthropic => "event: message_stop",
        Client::Gemini => "finishReason",
    }
}

/// Holds the store's write lock (as another writer would) for `hold`, from now.
async fn lock_writes_for(gw: &Gateway, hold: Duration) -> tokio::task::JoinHandle<()> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(gw.database_url().trim_start_matches("sqlite://"))
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    })
}

/// Whether the store holds a row for `request_id`, read from the file right now.
async fn logged(gw: &Gateway, request_id: &str) -> bool {
    gw.logs().await.iter().any(|r| r.request_id == request_id)
}

/// Reads a streamed answer up to (and including) its end marker and returns the text
/// so far with the rest of the body, still open.
async fn read_to_end_marker(
    resp: reqwest::Response,
    marker: &str,
) -> (
    String,
    impl futures::Stream<Item = reqwest::Result<bytes::Bytes>>,
) {
    let mut body = Box::pin(resp.bytes_stream());
    let mut text = String::new();
    while !text.contains(marker) {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("stream goes on")
            .unwrap_or_else(|| panic!("stream ended without {marker}: {text}"))
            .expect("stream chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    (text, body)
}

/// Sends one chat request per client format, streamed and not, passthrough and
/// translated; returns, for each, whether its row was in the store as soon as the
/// client held the end of the answer.
async fn rows_at_answer_end(gw: &Gateway) -> Vec<(String, bool)> {
    let mut seen = Vec::new();
    for client in Client::ALL {
        for same_format in [true, false] {
            for stream in [false, true] {
                let id = format!("dur-{client:?}-{same_format}-{stream}");
                let lock = lock_writes_for(gw, Duration::from_millis(250)).await;
                let resp = client
                    .send_with(
                        gw,
                        model_for(client, same_format),
                        stream,
                        &[("x-ax-request-id", &id)],
                    )
                    .await;
                assert_eq!(resp.status(), 200, "{id}");
                if stream {
                    let (mut text, mut rest) = read_to_end_marker(resp, end_marker(client)).await;
                    seen.push((id.clone(), logged(gw, &id).await));
                    while let Some(chunk) = rest.next().await {
                        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
                    }
                    assert!(!stream_text(client, &text).is_empty(), "{id}: {text}");
                } else {
                    let body: Value = resp.json().await.expect("json answer");
                    seen.push((id.clone(), logged(gw, &id).await));
                    assert!(
                        !common::reply_text(client, &body).is_empty(),
                        "{id}: {body}"
                    );
                }
                lock.await.unwrap();
            }
        }
    }
    seen
}

#[tokio::test]
async fn acknowledged_answers_end_only_after_their_row_is_committed() {
    let mut gw = gateway_in("acknowledged").await;
    let seen = rows_at_answer_end(&gw).await;
    let missing: Vec<_> = seen.iter().filter(|(_, ok)| !ok).collect();
    assert!(
        missing.is_empty(),
        "rows missing at answer end: {missing:?}"
    );

    // Error answers are acknowledged answers too: an unknown model (404), a body that
    // is not JSON (400), and an embedding.
    let lock = lock_writes_for(&gw, Duration::from_millis(250)).await;
    let resp = gw
        .post(
            "/v1/chat/completions",
            &common::openai_body("mistral-large", false),
            &[("x-ax-request-id", "dur-404")],
        )
        .await;
    assert_eq!(resp.status(), 404);
    resp.bytes().await.unwrap();
    assert!(logged(&gw, "dur-404").await, "404 answered before its row");
    lock.await.unwrap();

    let lock = lock_writes_for(&gw, Duration::from_millis(250)).await;
    let resp = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .header("content-type", "application/json")
        .header("x-ax-request-id", "dur-400")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    resp.bytes().await.unwrap();
    assert!(logged(&gw, "dur-400").await, "400 answered before its row");
    lock.await.unwrap();

    let lock = lock_writes_for(&gw, Duration::from_millis(250)).await;
    let resp = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "openai/text-embedding-3-small", "input": "hi"}),
            &[("x-ax-request-id", "dur-embed")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert!(
        logged(&gw, "dur-embed").await,
        "embedding answered before its row"
    );
    lock.await.unwrap();

    // A refusal answered by the auth middleware (keys are required once one exists):
    // its body waits for the row.
    gw.add_key("dur-team", None).await;
    let lock = lock_writes_for(&gw, Duration::from_millis(250)).await;
    let resp = Client::Gemini
        .send_with(
            &gw,
            "gemini/gemini-2.0-flash",
            false,
            &[("x-ax-request-id", "dur-401")],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{body}");
    assert!(logged(&gw, "dur-401").await, "401 answered before its row");
    lock.await.unwrap();

    gw.stop().await;
}

#[tokio::test]
async fn buffered_answers_do_not_wait_for_their_row() {
    // The same reads as above find nothing yet: the writer holds plain records for its
    // flush interval (an hour here), so the acknowledged test is not passing by luck.
    let mut gw = gateway_in("buffered").await;
    let seen = rows_at_answer_end(&gw).await;
    let early: Vec<_> = seen.iter().filter(|(_, ok)| *ok).collect();
    assert!(
        early.is_empty(),
        "rows written before the interval: {early:?}"
    );
    // Nothing is lost: a graceful stop flushes them all.
    let rows = gw.stop().await;
    for (id, _) in &seen {
        assert!(rows.iter().any(|r| &r.request_id == id), "{id} lost");
    }
}

#[tokio::test]
async fn an_answer_whose_row_cannot_be_committed_is_not_a_success() {
    let mut gw = gateway_in("acknowledged").await;
    // Every insert into the log now fails (permanently, for its data).
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(gw.database_url().trim_start_matches("sqlite://"))
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse_logs BEFORE INSERT ON provider_logs \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }

    // Non-streamed: a 503 in the client's format instead of the answer.
    let resp = Client::OpenAi
        .send_with(
            &gw,
            "openai/gpt-4o-mini",
            false,
            &[("x-ax-request-id", "lost-1")],
        )
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-ax-request-id"], "lost-1");
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not acknowledged"), "{body}");

    let resp = Client::Gemini
        .send(&gw, "claude/claude-3-5-sonnet-20241022", false)
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503, "{body}");

    // Streamed (passthrough and translated): the end frames never come; the stream
    // ends with an error event in the client's format.
    let resp = Client::Anthropic
        .send(&gw, "claude/claude-3-5-sonnet-20241022", true)
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    assert!(!text.contains("message_stop"), "{text}");
    assert_eq!(events.last().unwrap().0.as_deref(), Some("error"), "{text}");

    let resp = Client::OpenAi
        .send(&gw, "gemini/gemini-2.0-flash", true)
        .await;
    let text = resp.text().await.unwrap();
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(text.contains("not acknowledged"), "{text}");

    gw.stop().await;
}
