//! What one request may cost the gateway's memory is bounded by its shape, not only by
//! its bytes (issue 12, defect 1). Before, one 9 MB body of 300,000 tiny messages took
//! `ax serve` from 13 MB to 277 MB, and eight at once to 1.88 GB; the body-size limit
//! did not bound memory because a decoded JSON object costs ~0.7 KB.
//!
//! The real binary is measured from outside (`/proc/PID/status`), so the test's own
//! buffers do not count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

/// A `/proc/PID/status` figure in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// POSTs `body` as JSON over a fresh connection; the status code and the body.
fn post(base: &str, path: &str, body: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before reading all of a refused body.
    let _ = tcp.write_all(body);
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `{"model":…,"messages":[{"role":"user","content":"x"} × n]}`.
fn many_messages(n: usize) -> Vec<u8> {
    let one = r#"{"role":"user","content":"x"}"#;
    let mut body = String::with_capacity(n * (one.len() + 1) + 64);
    body.push_str(r#"{"model":"mock/demo","messages":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(one);
    }
    body.push_str("]}");
    body.into_bytes()
}

#[test]
fn eight_bodies_of_tiny_messages_at_once_stay_under_200_mb() {
    let server = Server::start(&[], None);
    let body = std::sync::Arc::new(many_messages(300_000));
    assert!(body.len() > 9_000_000, "{}", body.len());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (server.url.clone(), body.clone());
            std::thread::spawn(move || post(&url, "/v1/chat/completions", &body))
        })
        .collect();
    for t in threads {
        let (status, answer) = t.join().unwrap();
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("max_messages"), "{answer}");
    }
    let peak_mb = status_kb(server.pid(), "VmHWM") / 1024;
    assert!(peak_mb < 200, "peak RSS {peak_mb} MB");
    // Still serving, and a conversation within the limits is served.
    let (status, answer) = post(&server.url, "/v1/chat/completions", &many_messages(2_000));
    assert_eq!(status, 200, "{answer}");
    // What the refused requests held went back to the allocator.
    let rss_mb = status_kb(server.pid(), "VmRSS") / 1024;
    assert!(rss_mb < 100, "RSS after {rss_mb} MB");
}

#[test]
fn unknown_fields_cannot_smuggle_millions_of_objects() {
    // Not messages but 500,000 small objects in a field the gateway ignores.
    let mut body =
        String::from(r#"{"model":"mock/demo","messages":[{"role":"user","content":"x"}],"junk":["#);
    for i in 0..500_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r#"{"a":1}"#);
    }
    body.push_str("]}");
    let server = Server::start(&[], None);
    let (status, answer) = post(&server.url, "/v1/chat/completions", body.as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("max_json_objects"), "{answer}");
    let peak_mb = status_kb(server.pid(), "VmHWM") / 1024;
    assert!(peak_mb < 150, "peak RSS {peak_mb} MB");
    // The limits are settings: with a lower message limit, a small body is refused.
    let server = Server::start(&[("AX_MAX_MESSAGES", "3")], None);
    let (status, answer) = post(&server.url, "/v1/messages", &{
        let mut b = many_messages(4);
        // Anthropic needs max_tokens.
        b.truncate(b.len() - 1);
        b.extend_from_slice(br#","max_tokens":16}"#);
        b
    });
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains(r#""type":"error""#),
        "Anthropic error shape: {answer}"
    );
    assert!(answer.contains("more than 3 messages"), "{answer}");
}
