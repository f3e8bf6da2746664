//! `kill -9` of a loaded `ax serve` with `AX_LOG_DURABILITY=acknowledged`: every request
//! whose client received its complete answer has its log row, and the file passes
//! SQLite's integrity check. (In the default buffered mode an adversarial probe found
//! 3.3 % of such rows missing.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ax_store::{LogFilter, LogQuery, Store};
use common::Server;
use serde_json::json;

/// Clients sending requests back to back.
const CLIENTS: usize = 8;
/// Complete answers to collect before the kill.
const ANSWERED_BEFORE_KILL: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_acknowledged_answer_has_its_row() {
    let server = Server::start(&[("AX_LOG_DURABILITY", "acknowledged")], None);
    let http = reqwest::Client::new();
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, answered) = (http.clone(), server.url.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("kill-{c}-{i}");
                let stream = i % 2 == 1;
                let body = json!({
                    "model": "mock/any",
                    "stream": stream,
                    "messages": [{"role": "user", "content": "hello"}],
                });
                let sent = http
                    .post(format!("{url}/v1/chat/completions"))
                    .header("x-ax-request-id", &id)
                    .json(&body)
                    .send()
                    .await;
                // Once the server is gone every request fails: the client stops.
                let Ok(resp) = sent else { return };
                if resp.status() != 200 {
                    return;
                }
                let Ok(text) = resp.text().await else { return };
                // A complete answer: the stream's end marker, or the whole JSON body.
                let complete = if stream {
                    text.contains("data: [DONE]")
                } else {
                    serde_json::from_str::<serde_json::Value>(&text).is_ok()
                };
                if complete {
                    answered.lock().unwrap().push(id);
                }
            }
        }));
    }
    // Load until enough answers are in (bounded), then kill -9 mid-load.
    for _ in 0..600 {
        if answered.lock().unwrap().len() >= ANSWERED_BEFORE_KILL {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(server.pid().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("clients stop once the server is gone")
            .unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= ANSWERED_BEFORE_KILL,
        "only {} answers before the kill",
        answered.len()
    );

    let store = Store::connect(&server.db_url).await.expect("store opens");
    let rows: HashSet<String> = store
        .recent_logs(LogFilter {
            limit: u32::MAX,
            ..LogFilter::default()
        })
        .await
        .expect("read logs")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    let missing: Vec<_> = answered.iter().filter(|id| !rows.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no row after kill -9: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(10)]
    );
    let problems = store.integrity_check().await.expect("integrity check runs");
    assert!(problems.is_empty(), "integrity_check: {problems:?}");
}
