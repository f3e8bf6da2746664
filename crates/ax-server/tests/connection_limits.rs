//! Connection limits through real sockets: the header-read and idle timeouts close what
//! a client leaves open (silent, dripping, idle keep-alive, HTTP/2 with no request)
//! without cutting a long stream; past the connection cap idle connections make room
//! and a reserve still serves `/healthz` and the admin API; with a low open-file limit
//! idle sockets no longer starve real requests. Also the 431 for too many headers and
//! `GET /v1/models/{id}`.

#![allow(
    clippy::unwrap_used,
    reason = "the socket helpers fail the test on any I/O error"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ax_mock_upstream::Scripted;
use common::{Gateway, Setup, gateway, gateway_with, openai_body};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPENAI: &str = "/v1/chat/completions";

/// Generous bound for the server to close a connection whose timeout is ~300 ms.
const CLOSE_BOUND: Duration = Duration::from_secs(20);

/// A gateway with these `AX_*` settings.
async fn gateway_env(settings: &[(&str, &str)]) -> Gateway {
    let env: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    gateway_with(Setup {
        env,
        ..Setup::default()
    })
    .await
}

async fn connect(gw: &Gateway) -> TcpStream {
    TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (end of stream or reset); false if it
/// is still open after `within`. Whatever the server sends first (HTTP/2 frames) is
/// skipped.
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until_closed = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, until_closed).await.is_ok()
}

/// Reads one HTTP/1.1 response with a `content-length` body: (head, body).
async fn read_response(tcp: &mut TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response: {data:?}");
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed inside a body");
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8(data[head_end..head_end + length].to_vec()).unwrap();
    (head, body)
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let mut gw = gateway_env(&[("AX_HEADER_READ_TIMEOUT_MS", "300")]).await;
    let mut silent = connect(&gw).await;
    assert!(
        closed_by_server(&mut silent, CLOSE_BOUND).await,
        "a connection that sends nothing is still open after {CLOSE_BOUND:?}"
    );
    // The server itself is fine.
    assert_eq!(gw.get("/healthz").await.status(), 200);
    gw.stop().await;
}

/// Sends `head` one byte every 100 ms (never finishing it) until the server closes the
/// connection; true if it did within [`CLOSE_BOUND`].
async fn drip_until_closed(tcp: TcpStream, head: &'static [u8]) -> bool {
    let (mut read, mut write) = tcp.into_split();
    let drip = async move {
        for byte in head.iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let closed = async move {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(CLOSE_BOUND, async {
        tokio::select! {
            () = drip => {}
            () = closed => {}
        }
    })
    .await
    .is_ok()
}

/// A head that never ends: the header value goes on forever.
const ENDLESS_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-drip: ";

#[tokio::test]
async fn a_dripping_connection_is_closed_after_the_header_read_timeout() {
    let mut gw = gateway_env(&[("AX_HEADER_READ_TIMEOUT_MS", "300")]).await;
    let tcp = connect(&gw).await;
    assert!(
        drip_until_closed(tcp, ENDLESS_HEAD).await,
        "a head dripping one byte per 100 ms is still being read after {CLOSE_BOUND:?}"
    );

    // The same on a keep-alive connection, after a first request was served: the
    // second head is timed from its first byte.
    let mut tcp = connect(&gw).await;
    tcp.write_all(HEALTHZ).await.unwrap();
    let (head, _) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        drip_until_closed(tcp, ENDLESS_HEAD).await,
        "a second head dripping one byte per 100 ms is still being read after {CLOSE_BOUND:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_long_stream_is_not_cut() {
    // The header read timeout is far longer than this test, so only the idle timeout
    // can close the connection.
    let mut gw = gateway_env(&[
        ("AX_IDLE_TIMEOUT_MS", "300"),
        ("AX_HEADER_READ_TIMEOUT_MS", "600000"),
    ])
    .await;
    let mut tcp = connect(&gw).await;
    tcp.write_all(HEALTHZ).await.unwrap();
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!body.is_empty());
    assert!(
        closed_by_server(&mut tcp, CLOSE_BOUND).await,
        "an idle keep-alive connection is still open after {CLOSE_BOUND:?}"
    );

    // A stream of 10 chunks 150 ms apart lasts five idle timeouts: it is in flight
    // from its head to its last byte, so it is not idle.
    gw.openai.push_script(
        OPENAI,
        vec![Scripted::ok().with_chunks(10).with_chunk_delay_ms(150)],
    );
    let resp = gw.openai_chat("openai/gpt-4o-mini", true, &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let logs = gw.stop().await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].state, "completed");
}

#[tokio::test]
async fn an_http2_connection_that_sends_no_request_is_closed() {
    let mut gw = gateway_env(&[("AX_HEADER_READ_TIMEOUT_MS", "300")]).await;
    let mut tcp = connect(&gw).await;
    // The preface and an empty SETTINGS frame, then nothing; the server's GOAWAY (and
    // its PING) are never answered.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut tcp, CLOSE_BOUND).await,
        "an HTTP/2 connection with no request is still open after {CLOSE_BOUND:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn past_the_cap_idle_connections_make_room_and_the_reserve_serves_operators() {
    let mut gw = gateway_env(&[("AX_MAX_CONNECTIONS", "2")]).await;
    // Many silent connections (the timeouts are the defaults, far longer than this
    // test): each past the cap evicts the one idle longest.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect(&gw).await);
    }
    let resp = reqwest::Client::new()
        .post(format!("{}{OPENAI}", gw.url))
        .json(&openai_body("openai/gpt-4o-mini", false))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    // Two slow streams fill the cap with connections that are busy, not idle.
    gw.openai.push_script(
        OPENAI,
        vec![
            Scripted::ok().with_chunks(10).with_chunk_delay_ms(200),
            Scripted::ok().with_chunks(10).with_chunk_delay_ms(200),
        ],
    );
    let mut streams = Vec::new();
    for _ in 0..2 {
        let resp = reqwest::Client::new()
            .post(format!("{}{OPENAI}", gw.url))
            .json(&openai_body("openai/gpt-4o-mini", true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.bytes_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        streams.push(body);
    }

    // Now a request for a model gets a clear refusal in its client's format...
    let mut tcp = connect(&gw).await;
    let body = openai_body("openai/gpt-4o-mini", false).to_string();
    let request = format!(
        "POST {OPENAI} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 2 connections"),
        "{error}"
    );
    // ... and the connection is closed after it.
    assert!(closed_by_server(&mut tcp, CLOSE_BOUND).await);

    // ... while health and the admin API still answer, from the reserve.
    for path in ["/healthz", "/admin/providers"] {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", gw.url))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }

    // The streams were not disturbed, and once they end there is room again.
    for mut body in streams {
        let mut text = Vec::new();
        while let Some(chunk) = body.next().await {
            text.extend_from_slice(&chunk.unwrap());
        }
        let text = String::from_utf8(text).unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}{OPENAI}", gw.url))
        .json(&openai_body("openai/gpt-4o-mini", false))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(silent);
    let logs = gw.stop().await;
    let refused: Vec<_> = logs
        .iter()
        .filter(|l| l.error_code.as_deref() == Some("overloaded"))
        .collect();
    assert_eq!(refused.len(), 1, "{logs:?}");
    assert_eq!(logs.len(), 5, "{logs:?}");
}

/// Name of the environment variable that makes [`fd_limited_gateway`] run.
const CHILD: &str = "AX_TEST_FD_LIMITED_CHILD";

/// The child process of [`idle_sockets_do_not_starve_requests_under_a_low_open_file_limit`]:
/// a gateway with the open-file soft limit at 256 (and the default cap it derives from
/// it), whose URL it prints; it stops when its stdin closes.
#[test]
#[ignore = "run as a child process by idle_sockets_do_not_starve_requests_under_a_low_open_file_limit"]
fn fd_limited_gateway() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(256),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut gw = gateway().await;
        println!("URL={}", gw.url);
        // Until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        })
        .await
        .unwrap();
        gw.stop().await;
    });
}

/// Kills the child process if the test fails before it ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn idle_sockets_do_not_starve_requests_under_a_low_open_file_limit() {
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "fd_limited_gateway",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read the child's output to its end (libtest fails on a closed stdout), handing
    // over the URL when it comes.
    let stdout = child.0.stdout.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut url_tx = Some(url_tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints the test's name on the same line first.
            if let Some((_, url)) = line.split_once("URL=")
                && let Some(tx) = url_tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = url_rx.await.expect("the child gateway prints its URL");

    // More idle sockets than the child has descriptors.
    let addr = url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for _ in 0..3 {
        let resp = http
            .post(format!("{url}{OPENAI}"))
            .json(&openai_body("openai/gpt-4o-mini", false))
            .send()
            .await
            .expect("a request while 300 sockets sit idle");
        assert_eq!(resp.status(), 200);
    }
    let resp = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(idle);
    drop(child.0.stdin.take());
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "child gateway: {status}");
}

#[tokio::test]
async fn too_many_headers_get_a_431_in_the_client_format_with_a_log_row() {
    let mut gw = gateway().await;
    let send = |path: &'static str, body: Value, lines: usize| {
        let mut req = gw
            .http
            .post(format!("{}{path}", gw.url))
            .json(&body)
            .header(
                "x-ax-request-id",
                format!("too-many-{lines}-{}", path.len()),
            );
        for i in 0..lines {
            req = req.header(format!("x-extra-{i}"), "1");
        }
        req.send()
    };
    let resp = send(OPENAI, openai_body("openai/gpt-4o-mini", false), 150)
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{body}"
    );
    let resp = send(
        "/v1/messages",
        common::anthropic_body("claude/claude-3-5-haiku", false),
        150,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 431);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    // Within the limit nothing changes.
    let resp = send(OPENAI, openai_body("openai/gpt-4o-mini", false), 80)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let logs = gw.stop().await;
    let refused: Vec<_> = logs
        .iter()
        .filter(|l| l.request_id.starts_with("too-many-150"))
        .collect();
    assert_eq!(refused.len(), 2, "{logs:?}");
    assert!(
        refused
            .iter()
            .all(|l| l.error_code.as_deref() == Some("invalid_request")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_model_is_retrieved_in_openai_shape() {
    let mut gw = gateway().await;
    for (path, id) in [
        ("/v1/models/openai/gpt-4o-mini", "openai/gpt-4o-mini"),
        ("/v1/models/openai%2Fgpt-4o", "openai/gpt-4o"),
        ("/v1/models/gpt-4o", "gpt-4o"),
    ] {
        let resp = gw.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let model: Value = resp.json().await.unwrap();
        assert_eq!(model["id"], id, "{model}");
        assert_eq!(model["object"], "model", "{model}");
        assert_eq!(model["owned_by"], "openai", "{model}");
        assert!(model["created"].is_u64(), "{model}");
    }
    let resp = gw.get("/v1/models/no-such-model").await;
    assert_eq!(resp.status(), 404);
    let error: Value = resp.json().await.unwrap();
    assert!(error["error"]["message"].is_string(), "{error}");
    assert!(error["error"]["type"].is_string(), "{error}");
    // Gemini's POST on the same path is unchanged.
    let resp = gw
        .post(
            "/v1/models/gemini-2.0-flash:generateContent",
            &common::gemini_body(),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}
