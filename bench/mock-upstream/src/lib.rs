//! A fast, independent fake of the OpenAI, Anthropic and Gemini HTTP APIs.
//!
//! Used in-process by ax's integration tests, by the official-SDK tests and as the
//! benchmark harness's upstream. It deliberately depends on no ax crate: every response
//! is hand-written in the provider's own wire format, so it checks ax's codecs
//! independently.
//!
//! Endpoints:
//! - OpenAI: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`
//!   (without Anthropic headers), `POST /v1/responses` (the Responses API: a `response`
//!   object, or its `response.*` event stream with `sequence_number`s; see `responses`).
//! - Anthropic: `POST /v1/messages`, `POST /v1/messages/count_tokens` (`{"input_tokens"}`:
//!   the input tokens `/v1/messages` would report), `GET /v1/models` (with `x-api-key` or
//!   `anthropic-version`); requires `anthropic-version` and a key (`x-api-key`, or
//!   `Authorization: Bearer` as anthropic-sdk-python 2.x sends it).
//! - Gemini: `POST /v1beta/models/{model}:generateContent`,
//!   `:streamGenerateContent[?alt=sse]`, `:embedContent`, `:batchEmbedContents`,
//!   `:countTokens` (`contents` or `generateContentRequest`; `{"totalTokens"}`: the
//!   `promptTokenCount` `:generateContent` would report),
//!   `GET /v1beta/models` (also under `/v1/`); requires `x-goog-api-key` (or `?key=`).
//! - Control: `GET /_mock/stats`, `POST /_mock/reset`.
//!
//! Tool calls: besides a `tool_choice` that forces a tool (arguments
//! `{"location":"Paris"}`), every generation endpoint calls a tool when the last user turn
//! contains `[[call NAME ARGS_JSON]]` and `NAME` is one of the request's function tools
//! (`[[call shell {"command":["echo","hi"]}]]`: `shell` with exactly those arguments), and
//! answers `tool said: <first 200 chars>` when the last turn is a tool result, so an
//! agent's "prompt → tool call → tool result → answer" loop runs against the mock (see
//! `trigger`; only requests that declare tools are looked at).
//!
//! Behaviour knobs come from the server-wide [`MockConfig`] (changeable at runtime with
//! [`MockUpstream::set_default`]), then the next [`Scripted`] entry queued for the path
//! ([`MockUpstream::push_script`]), then `x-mock-*` request headers — later wins.

mod anthropic;
mod gemini;
mod knobs;
mod openai;
mod plan;
mod request;
mod responses;
mod server;
mod strict;
mod trigger;
mod util;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::HeaderMap;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Server-wide behaviour; every field can be overridden per call by a [`Scripted`]
/// entry or an `x-mock-*` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockConfig {
    /// Delay before the response headers are sent (`x-mock-latency-ms`).
    pub latency_ms: u64,
    /// Number of content chunks a streamed answer is split into (`x-mock-chunks`).
    pub chunks: usize,
    /// Delay before each streamed chunk after the first, and before the terminal
    /// frames (`x-mock-chunk-delay-ms`).
    pub chunk_delay_ms: u64,
    /// Forced HTTP status with the provider's error body (`x-mock-status`); a 2xx
    /// value means "answer normally".
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with a forced status (`x-mock-retry-after`).
    pub retry_after_secs: Option<u64>,
    /// Abort the connection after this many content chunks, without the terminal
    /// frame (`x-mock-cut-after`); non-streamed bodies are cut halfway.
    pub cut_after: Option<usize>,
    /// Send the provider's mid-stream error event after this many content chunks and
    /// end the stream (`x-mock-error-after`).
    pub error_after: Option<usize>,
    /// Answer 200 with an invalid JSON body / SSE frame (`x-mock-malformed: 1`).
    pub malformed: bool,
    /// Never answer (`x-mock-hang: 1`), for timeout tests.
    pub hang: bool,
    /// With a forced status, the error message echoes every credential the request
    /// carried (`Authorization`, `x-api-key`, `x-goog-api-key`, `?key=`), as some
    /// servers and proxies do in a 401 (`x-mock-echo-auth: 1`): for secret-masking
    /// tests.
    pub echo_auth: bool,
    /// Embedding vector length when the request does not ask for one.
    pub embedding_dims: usize,
    /// Turns the strict checks off (`--lenient`): credentials need only be present, any
    /// `anthropic-version` and any Gemini model pass, and request bodies are not
    /// checked beyond what the answer needs. The benchmark runs lenient; tests run strict
    /// (the default), see the `strict` module for every rule.
    pub lenient: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            chunks: 5,
            chunk_delay_ms: 0,
            status: None,
            retry_after_secs: None,
            cut_after: None,
            error_after: None,
            malformed: false,
            hang: false,
            echo_auth: false,
            embedding_dims: 16,
            lenient: false,
        }
    }
}

/// One of the three provider APIs the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`).
    OpenAi,
    /// Anthropic (`/v1/messages`).
    Anthropic,
    /// Gemini (`/v1beta/models/…`, `/v1/models/…`).
    Gemini,
}

/// One scripted behaviour for one call; `None` fields inherit the server default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scripted {
    /// Forced status (2xx = answer normally, overriding a failing default).
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with a forced status.
    pub retry_after_secs: Option<u64>,
    /// Delay before the response headers.
    pub latency_ms: Option<u64>,
    /// Number of streamed content chunks.
    pub chunks: Option<usize>,
    /// Delay between streamed chunks.
    pub chunk_delay_ms: Option<u64>,
    /// Abort the connection after this many content chunks.
    pub cut_after: Option<usize>,
    /// Mid-stream provider error event after this many content chunks.
    pub error_after: Option<usize>,
    /// Answer 200 with an invalid JSON body.
    pub malformed: Option<bool>,
    /// Never answer.
    pub hang: Option<bool>,
    /// Echo the request's credentials in the forced error's message.
    pub echo_auth: Option<bool>,
}

impl Scripted {
    /// A normal 200 answer, whatever the server default says.
    pub fn ok() -> Self {
        Self {
            status: Some(200),
            cut_after: None,
            error_after: None,
            malformed: Some(false),
            hang: Some(false),
            ..Self::default()
        }
    }

    /// The provider's error body with this HTTP status.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Abort the connection after `k` content chunks.
    pub fn cut_after(k: usize) -> Self {
        Self {
            cut_after: Some(k),
            ..Self::default()
        }
    }

    /// A mid-stream provider error event after `k` content chunks.
    pub fn error_after(k: usize) -> Self {
        Self {
            error_after: Some(k),
            ..Self::default()
        }
    }

    /// 200 with an invalid JSON body.
    pub fn malformed() -> Self {
        Self {
            malformed: Some(true),
            ..Self::default()
        }
    }

    /// Never answer.
    pub fn hang() -> Self {
        Self {
            hang: Some(true),
            ..Self::default()
        }
    }

    /// Only a delay before the response headers; otherwise the defaults.
    pub fn latency(ms: u64) -> Self {
        Self {
            latency_ms: Some(ms),
            ..Self::default()
        }
    }

    /// A forced `status` whose error message echoes the request's credentials.
    pub fn echo_auth(status: u16) -> Self {
        Self {
            status: Some(status),
            echo_auth: Some(true),
            ..Self::default()
        }
    }

    /// Adds a `Retry-After` header (seconds) to a forced status.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Sets the delay before the response headers.
    pub fn with_latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    /// Sets the number of streamed content chunks.
    pub fn with_chunks(mut self, n: usize) -> Self {
        self.chunks = Some(n);
        self
    }

    /// Sets the delay between streamed chunks.
    pub fn with_chunk_delay_ms(mut self, ms: u64) -> Self {
        self.chunk_delay_ms = Some(ms);
        self
    }
}

/// Counters and the last request seen on one path.
#[derive(Debug)]
struct RouteStats {
    hits: u64,
    last_seq: u64,
    last_body: Bytes,
    last_headers: HeaderMap,
}

#[derive(Debug)]
struct State {
    config: MockConfig,
    total: u64,
    seq: u64,
    routes: HashMap<Box<str>, RouteStats>,
    scripts: Vec<(Box<str>, VecDeque<Scripted>)>,
}

/// State shared by the server task and the [`MockUpstream`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    initial: MockConfig,
    keys: Mutex<strict::Keys>,
    state: Mutex<State>,
    ids: AtomicU64,
    cancel: CancellationToken,
}

impl Shared {
    fn new(config: MockConfig) -> Self {
        Self {
            initial: config,
            keys: Mutex::new(strict::Keys::default()),
            state: Mutex::new(State {
                config,
                total: 0,
                seq: 0,
                routes: HashMap::new(),
                scripts: Vec::new(),
            }),
            ids: AtomicU64::new(1),
            cancel: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the call, keeps its body and headers, and returns the server default plus
    /// the next script entry for `path` (popped only when `pop_script`).
    pub(crate) fn record(
        &self,
        path: &str,
        body: Bytes,
        headers: HeaderMap,
        pop_script: bool,
    ) -> (MockConfig, Option<Scripted>) {
        let mut st = self.lock();
        st.total += 1;
        st.seq += 1;
        let seq = st.seq;
        let old = match st.routes.get_mut(path) {
            Some(r) => {
                r.hits += 1;
                r.last_seq = seq;
                r.last_body = body;
                Some(std::mem::replace(&mut r.last_headers, headers))
            }
            None => {
                st.routes.insert(
                    path.into(),
                    RouteStats {
                        hits: 1,
                        last_seq: seq,
                        last_body: body,
                        last_headers: headers,
                    },
                );
                None
            }
        };
        let script = if pop_script && !st.scripts.is_empty() {
            pop_script_for(&mut st.scripts, path)
        } else {
            None
        };
        let config = st.config;
        drop(st);
        // The previous header map is freed outside the lock.
        drop(old);
        (config, script)
    }

    /// Whether the current defaults turn strict mode off.
    pub(crate) fn lenient(&self) -> bool {
        self.lock().config.lenient
    }

    /// The keys strict mode expects.
    pub(crate) fn keys(&self) -> strict::Keys {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A fresh number for response ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) fn stats_json(&self) -> serde_json::Value {
        let st = self.lock();
        let routes: serde_json::Map<String, serde_json::Value> = st
            .routes
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.hits)))
            .collect();
        serde_json::json!({ "total_hits": st.total, "routes": routes })
    }

    pub(crate) fn reset(&self) {
        let mut st = self.lock();
        st.config = self.initial;
        st.total = 0;
        st.routes.clear();
        st.scripts.clear();
    }
}

/// Pops the next entry of the longest non-empty script whose prefix matches `path`.
fn pop_script_for(scripts: &mut [(Box<str>, VecDeque<Scripted>)], path: &str) -> Option<Scripted> {
    scripts
        .iter_mut()
        .filter(|(p, q)| !q.is_empty() && path.starts_with(&**p))
        .max_by_key(|(p, _)| p.len())
        .and_then(|(_, q)| q.pop_front())
}

/// A running mock upstream; stops when dropped or [`MockUpstream::shutdown`].
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    url: String,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts a server on `127.0.0.1:0` (an ephemeral port) on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, or if loopback cannot be bound.
    pub fn start(config: MockConfig) -> MockUpstream {
        match Self::bind(config, SocketAddr::from(([127, 0, 0, 1], 0))) {
            Ok(m) => m,
            Err(e) => panic!("ax-mock-upstream: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a server on `addr` on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn bind(config: MockConfig, addr: SocketAddr) -> io::Result<MockUpstream> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(MockUpstream {
            addr,
            url: format!("http://{addr}"),
            shared,
            task: Some(task),
        })
    }

    /// Strict mode accepts only `key` as the API key, on every API (OpenAI `Authorization:
    /// Bearer`, Anthropic `x-api-key` or Bearer, Gemini `x-goog-api-key` or `?key=`);
    /// without a key any non-empty one passes.
    pub fn with_key(self, key: &str) -> Self {
        for api in [Api::OpenAi, Api::Anthropic, Api::Gemini] {
            self.set_key(api, key);
        }
        self
    }

    /// Strict mode accepts only `key` as `api`'s key.
    pub fn with_api_key(self, api: Api, key: &str) -> Self {
        self.set_key(api, key);
        self
    }

    /// Sets the key strict mode expects for `api`.
    pub fn set_key(&self, api: Api, key: &str) {
        let mut keys = self
            .shared
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = match api {
            Api::OpenAi => &mut keys.openai,
            Api::Anthropic => &mut keys.anthropic,
            Api::Gemini => &mut keys.gemini,
        };
        *slot = Some(key.to_owned());
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls whose path starts with `path_prefix` (exact paths work too, e.g.
    /// `hits("/v1/messages")`; `hits("/v1beta/models/")` counts every Gemini call).
    pub fn hits(&self, path_prefix: &str) -> u64 {
        self.shared
            .lock()
            .routes
            .iter()
            .filter(|(p, _)| p.starts_with(path_prefix))
            .map(|(_, r)| r.hits)
            .sum()
    }

    /// Every call received (control endpoints under `/_mock/` excluded).
    pub fn total_hits(&self) -> u64 {
        self.shared.lock().total
    }

    /// The most recent request body on a path starting with `path_prefix`, parsed as
    /// JSON (`None` when there was none or it was not JSON).
    pub fn last_body(&self, path_prefix: &str) -> Option<serde_json::Value> {
        let body = self.last_raw_body(path_prefix)?;
        serde_json::from_slice(&body).ok()
    }

    /// The most recent raw request body on a path starting with `path_prefix`.
    pub fn last_raw_body(&self, path_prefix: &str) -> Option<Bytes> {
        let st = self.shared.lock();
        latest(&st, path_prefix).map(|r| r.last_body.clone())
    }

    /// The most recent request headers on a path starting with `path_prefix`.
    pub fn last_headers(&self, path_prefix: &str) -> Option<HeaderMap> {
        let st = self.shared.lock();
        latest(&st, path_prefix).map(|r| r.last_headers.clone())
    }

    /// Queues behaviours for calls whose path starts with `path_prefix`: each call pops
    /// the next one (longest matching prefix first); an empty queue falls back to the
    /// defaults. Calls rejected for missing credentials do not pop.
    pub fn push_script(&self, path_prefix: &str, script: Vec<Scripted>) {
        let mut st = self.shared.lock();
        match st.scripts.iter_mut().find(|(p, _)| &**p == path_prefix) {
            Some((_, q)) => q.extend(script),
            None => st.scripts.push((path_prefix.into(), script.into())),
        }
    }

    /// Replaces the server-wide defaults from now on.
    pub fn set_default(&self, config: MockConfig) {
        self.shared.lock().config = config;
    }

    /// The current server-wide defaults.
    pub fn default_config(&self) -> MockConfig {
        self.shared.lock().config
    }

    /// Clears counters, recorded requests and scripts, and restores the start config.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, ends hanging or streaming responses, and waits for the server.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

fn latest<'a>(st: &'a State, prefix: &str) -> Option<&'a RouteStats> {
    st.routes
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, r)| r)
        .max_by_key(|r| r.last_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_script_wins() {
        let mut scripts: Vec<(Box<str>, VecDeque<Scripted>)> = vec![
            ("/v1".into(), vec![Scripted::status(500)].into()),
            ("/v1/messages".into(), vec![Scripted::status(429)].into()),
        ];
        let s = pop_script_for(&mut scripts, "/v1/messages").unwrap();
        assert_eq!(s.status, Some(429));
        let s = pop_script_for(&mut scripts, "/v1/messages").unwrap();
        assert_eq!(s.status, Some(500));
        assert!(pop_script_for(&mut scripts, "/v1/messages").is_none());
    }
}
