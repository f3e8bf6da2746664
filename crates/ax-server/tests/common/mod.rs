//! Test harness: the real ax server on loopback in front of three mock upstreams
//! (one per provider, each speaking that provider's real wire format), with a
//! temporary SQLite store that tests read back after a graceful shutdown.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ax_mock_upstream::{MockConfig, MockUpstream};
use ax_server::{Config, RunningServer, ServeOptions};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;

/// Knobs for one gateway under test.
pub struct Setup {
    /// Extra TOML appended to the generated config (e.g. `[[routes]]`).
    pub extra_toml: String,
    /// `[router]` table lines.
    pub router: String,
    /// Per-provider TOML lines added to every provider entry.
    pub provider_lines: String,
    /// Environment seen by the config loader.
    pub env: BTreeMap<String, String>,
    /// Default behaviour of every mock upstream.
    pub mock: MockConfig,
    /// Replaces the `claude` upstream's URL (e.g. a closed port).
    pub claude_url: Option<String>,
    /// Tuning of the log writer (e.g. a long flush interval).
    pub log_writer: ax_store::WriterConfig,
    /// An admission implementation to use instead of the in-memory one.
    pub admission: Option<std::sync::Arc<dyn ax_router::admission::Admission>>,
    /// Provider state to use instead of the server's own (e.g. shared with another).
    pub provider_state: Option<std::sync::Arc<dyn ax_router::ProviderState>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            extra_toml: String::new(),
            router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 3\ncircuit_timeout_ms = 400\n"
                .into(),
            provider_lines: "max_retries = 2\n".into(),
            env: BTreeMap::new(),
            mock: MockConfig::default(),
            claude_url: None,
            log_writer: ax_store::WriterConfig::default(),
            admission: None,
            provider_state: None,
        }
    }
}

/// A running gateway with its upstreams and store.
pub struct Gateway {
    /// The server (taken by [`Gateway::stop`]).
    pub server: Option<RunningServer>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The Anthropic-format upstream behind provider `claude`.
    pub claude: MockUpstream,
    /// The Gemini-format upstream behind provider `gemini`.
    pub gemini: MockUpstream,
    /// The OpenAI-format upstream behind provider `openai`.
    pub openai: MockUpstream,
    /// A client with pooled connections.
    pub http: reqwest::Client,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts a gateway with the default setup.
pub async fn gateway() -> Gateway {
    gateway_with(Setup::default()).await
}

/// Starts a gateway with `setup`.
pub async fn gateway_with(setup: Setup) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ax.db");
    // Strict mocks (MockConfig::default()) accept only the key configured below.
    let claude = MockUpstream::start(setup.mock).with_key("test-anthropic");
    let gemini = MockUpstream::start(setup.mock).with_key("test-gemini");
    let openai = MockUpstream::start(setup.mock).with_key("test-openai");
    let lines = &setup.provider_lines;
    let toml = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}"

[router]
{router}

[[providers]]
name = "claude"
kind = "anthropic"
api_key = "test-anthropic"
base_url = "{claude}"
{lines}

[[providers]]
name = "gemini"
kind = "gemini"
api_key = "test-gemini"
base_url = "{gemini}"
{lines}

[[providers]]
name = "openai"
kind = "openai"
api_key = "test-openai"
base_url = "{openai}/v1"
{lines}

{extra}
"#,
        db = db.display(),
        router = setup.router,
        claude = setup.claude_url.as_deref().unwrap_or(claude.url()),
        gemini = gemini.url(),
        openai = openai.url(),
        extra = setup.extra_toml,
    );
    let config = Config::from_toml_str(&toml, &setup.env).expect("test config parses");
    let options = ServeOptions {
        drain_timeout: Duration::from_secs(10),
        log_writer: setup.log_writer.clone(),
        admission: setup.admission.clone(),
        provider_state: setup.provider_state.clone(),
        ..ServeOptions::default()
    };
    let server = ax_server::start(config, options, std::future::pending())
        .await
        .expect("server starts");
    let url = format!("http://{}", server.addr);
    Gateway {
        server: Some(server),
        url,
        claude,
        gemini,
        openai,
        http: reqwest::Client::new(),
        db,
        _dir: dir,
    }
}

/// One `provider_logs` row joined with its `provider_metrics` row.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub request_id: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub state: String,
    pub error_code: Option<String>,
    pub attempts: i64,
    pub retry_attempt: i64,
    pub is_fallback: bool,
    pub timeline: Vec<String>,
    pub tags: Vec<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub tokens_estimated: Option<bool>,
    pub has_metrics: bool,
    pub request_data: Option<String>,
    pub response_data: Option<String>,
}

impl Gateway {
    /// POSTs JSON to `path` with extra headers.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request reaches ax")
    }

    /// POSTs `body` to `path` as it is, labelled JSON: for bodies that are not JSON.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request reaches ax")
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request reaches ax")
    }

    /// An OpenAI chat completion for `model`.
    pub async fn openai_chat(
        &self,
        model: &str,
        stream: bool,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post("/v1/chat/completions", &openai_body(model, stream), headers)
            .await
    }

    /// The admin view of one provider.
    pub async fn provider_status(&self, name: &str) -> Value {
        let v: Value = self
            .get("/admin/providers")
            .await
            .json()
            .await
            .expect("json");
        v["providers"]
            .as_array()
            .expect("providers array")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no provider {name} in {v}"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// Graceful shutdown (drains, flushes the log queue) and returns every logged request.
    pub async fn stop(&mut self) -> Vec<LoggedRequest> {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
        self.logs().await
    }

    /// Opens the store read-only and reads every log row (call after [`Gateway::stop`]).
    pub async fn logs(&self) -> Vec<LoggedRequest> {
        let mut conn = self.open_db().await;
        let rows = sqlx::query(
            "SELECT l.request_id, l.provider, l.model, l.state, l.error_code, l.attempts, \
             l.retry_attempt, l.is_fallback, l.state_timeline, l.tags, m.input_tokens, \
             m.output_tokens, m.tokens_estimated, m.id IS NOT NULL AS has_metrics, \
             l.request_data, l.response_data \
             FROM provider_logs l LEFT JOIN provider_metrics m ON m.log_id = l.id \
             ORDER BY l.start_time",
        )
        .fetch_all(&mut conn)
        .await
        .expect("query logs");
        rows.iter()
            .map(|r| {
                let timeline: Value = serde_json::from_str(&r.get::<String, _>("state_timeline"))
                    .expect("timeline json");
                let tags: Vec<String> =
                    serde_json::from_str(&r.get::<String, _>("tags")).expect("tags json");
                LoggedRequest {
                    request_id: r.get("request_id"),
                    provider: r.get("provider"),
                    model: r.get("model"),
                    state: r.get("state"),
                    error_code: r.get("error_code"),
                    attempts: r.get("attempts"),
                    retry_attempt: r.get("retry_attempt"),
                    is_fallback: r.get::<i64, _>("is_fallback") == 1,
                    timeline: timeline
                        .as_array()
                        .expect("timeline array")
                        .iter()
                        .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
                        .collect(),
                    tags,
                    input_tokens: r.get("input_tokens"),
                    output_tokens: r.get("output_tokens"),
                    tokens_estimated: r.get::<Option<i64>, _>("tokens_estimated").map(|v| v == 1),
                    has_metrics: r.get::<i64, _>("has_metrics") == 1,
                    request_data: r.get("request_data"),
                    response_data: r.get("response_data"),
                }
            })
            .collect()
    }

    /// The store's URL (`sqlite://…`), for tests that write tenants and keys.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.db.display())
    }

    /// Creates tenant `slug` (active, no quotas) with one key allowing `patterns`
    /// (`None`: every model), loads it into the server at once, and returns the raw key.
    pub async fn add_key(&self, slug: &str, patterns: Option<&[&str]>) -> String {
        let key = ax_store::tenancy::NewApiKey {
            allowed_models: patterns.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
            ..ax_store::tenancy::NewApiKey::default()
        };
        self.add_key_with(slug, ax_core::tenant::Quotas::default(), key)
            .await
    }

    /// Creates tenant `slug` (active) with `quotas` and one key `key`, loads it into
    /// the server at once, and returns the raw key.
    pub async fn add_key_with(
        &self,
        slug: &str,
        quotas: ax_core::tenant::Quotas,
        key: ax_store::tenancy::NewApiKey,
    ) -> String {
        use ax_core::tenant::TenantStatus;
        use ax_store::tenancy::{NewTenant, TenantStore};
        let store = ax_store::Store::connect(&self.database_url())
            .await
            .unwrap();
        let tenant = store
            .create_tenant(
                &NewTenant {
                    slug: slug.into(),
                    name: None,
                    status: TenantStatus::Active,
                    quotas,
                },
                "test",
            )
            .await
            .unwrap();
        let key = store.create_key(tenant.id, &key, "test").await.unwrap();
        // Load the key now rather than waiting for the background refresh.
        let server = self.server.as_ref().expect("server running");
        server.state.auth().refresh().await.unwrap();
        key.secret
    }

    /// `PRAGMA integrity_check` on the store.
    pub async fn integrity_check(&self) -> String {
        let mut conn = self.open_db().await;
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity_check")
    }

    async fn open_db(&self) -> sqlx::SqliteConnection {
        use sqlx::ConnectOptions;
        SqliteConnectOptions::new()
            .filename(&self.db)
            .read_only(true)
            .connect()
            .await
            .expect("open store")
    }
}

/// A typical OpenAI chat request.
pub fn openai_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to the integration test."}
        ]
    })
}

/// A typical Anthropic Messages request.
pub fn anthropic_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello to the integration test."}]
    })
}

/// A typical Gemini generateContent request.
pub fn gemini_body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say hello to the integration test."}]}]
    })
}

/// The client formats, with how to send a request in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `/v1/chat/completions`.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
    /// `/v1beta/models/{m}:generateContent`.
    Gemini,
}

impl Client {
    /// All three.
    pub const ALL: [Client; 3] = [Client::OpenAi, Client::Anthropic, Client::Gemini];

    /// Sends a chat request for `model` in this format.
    pub async fn send(self, gw: &Gateway, model: &str, stream: bool) -> reqwest::Response {
        self.send_with(gw, model, stream, &[]).await
    }

    /// Sends a chat request for `model` in this format with extra headers.
    pub async fn send_with(
        self,
        gw: &Gateway,
        model: &str,
        stream: bool,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        match self {
            Client::OpenAi => {
                gw.post("/v1/chat/completions", &openai_body(model, stream), headers)
                    .await
            }
            Client::Anthropic => {
                gw.post("/v1/messages", &anthropic_body(model, stream), headers)
                    .await
            }
            Client::Gemini => {
                let path = if stream {
                    format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
                } else {
                    format!("/v1beta/models/{model}:generateContent")
                };
                gw.post(&path, &gemini_body(), headers).await
            }
        }
    }
}

/// Parses an SSE body into `(event name, data)` pairs, independently of the gateway's
/// own SSE codec (a test that decodes ax's output with ax's decoder cannot catch a bug
/// they share). Follows the HTML spec's event-stream rules for what ax may send:
/// frames end with a blank line, `data:` lines join with `\n`, one space after the
/// colon is dropped, `:` lines are comments. A body whose last frame is not ended by a
/// blank line panics: a client would never see that frame.
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    let body = body.replace("\r\n", "\n");
    let mut out = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Option<String> = None;
    let mut rest = body.as_str();
    while let Some((line, tail)) = rest.split_once('\n') {
        rest = tail;
        if line.is_empty() {
            if let Some(d) = data.take() {
                out.push((event.take(), d));
            }
            event = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    assert!(
        rest.is_empty() && data.is_none(),
        "SSE body ends inside a frame: {rest:?} / {data:?}"
    );
    out
}

/// The answer text of a streamed reply in `client`'s format, put together from its
/// events as that format's SDK would (OpenAI `choices[0].delta.content`, Anthropic
/// `text_delta`s, Gemini `candidates[0].content.parts[].text`).
pub fn stream_text(client: Client, body: &str) -> String {
    let mut text = String::new();
    for (event, data) in sse_events(body) {
        if data == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
        match client {
            Client::OpenAi => {
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    text.push_str(t);
                }
            }
            Client::Anthropic => {
                if event.as_deref() == Some("content_block_delta")
                    && v["delta"]["type"] == "text_delta"
                {
                    text.push_str(v["delta"]["text"].as_str().unwrap_or_default());
                }
            }
            Client::Gemini => {
                for part in v["candidates"][0]["content"]["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    text.push_str(part["text"].as_str().unwrap_or_default());
                }
            }
        }
    }
    text
}

/// The answer text of a non-streamed reply in `client`'s format.
pub fn reply_text(client: Client, body: &Value) -> String {
    match client {
        Client::OpenAi => body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Client::Anthropic => body["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect(),
        Client::Gemini => body["candidates"][0]["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect(),
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
