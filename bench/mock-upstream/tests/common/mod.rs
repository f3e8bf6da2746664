//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ax_mock_upstream::{MockConfig, MockUpstream};
use serde_json::Value;

/// A started mock and an HTTP client.
pub struct T {
    pub mock: MockUpstream,
    pub http: reqwest::Client,
}

pub fn start() -> T {
    start_with(MockConfig::default())
}

pub fn start_with(cfg: MockConfig) -> T {
    T {
        mock: MockUpstream::start(cfg),
        http: reqwest::Client::new(),
    }
}

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.mock.url())
    }

    pub fn openai(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth("sk-test")
            .json(body)
    }

    pub fn anthropic(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/messages"))
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(body)
    }

    pub fn gemini(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("x-goog-api-key", "g-test")
            .json(body)
    }
}

/// One SSE event: optional `event:` name and the `data:` payload.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// Parses a complete `text/event-stream` body (events end with a blank line).
pub fn parse_sse(body: &str) -> Vec<Event> {
    assert!(
        body.is_empty() || body.ends_with("\n\n"),
        "stream must end on an event boundary: {body:?}"
    );
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = Vec::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}

/// Sends, checks status 200 and `text/event-stream`, and parses the events.
pub async fn sse(req: reqwest::RequestBuilder) -> Vec<Event> {
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    parse_sse(&r.text().await.unwrap())
}

/// Sends and returns status, headers and the JSON body.
pub async fn json(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, v)
}

/// Reads a body that the server cuts: returns what arrived before the error.
pub async fn read_until_cut(req: reqwest::RequestBuilder) -> String {
    let mut r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut got = Vec::new();
    loop {
        match r.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => panic!(
                "stream ended cleanly; expected a cut. Got: {}",
                String::from_utf8_lossy(&got)
            ),
            Err(_) => break,
        }
    }
    String::from_utf8(got).unwrap()
}
