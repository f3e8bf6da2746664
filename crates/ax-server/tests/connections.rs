//! The accept loop through real sockets: HTTP/1.1 and HTTP/2 with prior knowledge on
//! the same port, a request whose first byte arrives alone, and a stop that neither
//! waits for a silent connection nor cuts a stream in flight.

mod common;

use std::time::{Duration, Instant};

use ax_mock_upstream::Scripted;
use common::{gateway, openai_body};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPENAI: &str = "/v1/chat/completions";

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_on_the_same_port() {
    let mut gw = gateway().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let post = |stream: bool| {
        h2.post(format!("{}{OPENAI}", gw.url))
            .json(&openai_body("openai/gpt-4o-mini", stream))
            .send()
    };
    let resp = post(false).await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");

    let resp = post(true).await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // HTTP/1.1 still works beside it.
    let resp = gw.get("/healthz").await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);
    assert_eq!(gw.stop().await.len(), 2);
}

#[tokio::test]
async fn a_request_whose_first_byte_arrives_alone_is_served() {
    let mut gw = gateway().await;
    let body = openai_body("openai/gpt-4o-mini", false).to_string();
    let request = format!(
        "POST {OPENAI} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    // "P" is also how the HTTP/2 preface starts, so the protocol cannot be told yet.
    tcp.write_all(&request.as_bytes()[..1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(&request.as_bytes()[1..]).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"chat.completion\""), "{response}");
    assert_eq!(gw.stop().await.len(), 1);
}

#[tokio::test]
async fn a_stop_skips_silent_connections_and_lets_a_stream_finish() {
    let mut gw = gateway().await;
    // A connection that never sends a byte, and an idle keep-alive one.
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let _silent = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(gw.get("/healthz").await.status(), 200);
    // A stream of 10 chunks 100 ms apart, in flight when the stop begins.
    gw.openai.push_script(
        OPENAI,
        vec![Scripted::ok().with_chunks(10).with_chunk_delay_ms(100)],
    );
    let resp = gw.openai_chat("openai/gpt-4o-mini", true, &[]).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());

    let server = gw.server.take().unwrap();
    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    let mut rest = Vec::from(first);
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(rest).unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    stopping.await.unwrap().unwrap();
    // The drain bound is 10 s; neither idle connection may hold the stop that long.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    let logs = gw.logs().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].state, "completed");
}
