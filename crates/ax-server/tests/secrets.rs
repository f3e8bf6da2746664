//! Provider keys never leave the gateway (issue 12, defect 4): an upstream that echoes
//! the credentials it got in a 401 — for every provider kind, with keys of no
//! recognisable shape — and the key appears nowhere: not in the client's answer (body
//! or headers), not in `provider_logs`, not in `/admin/providers` or `/metrics`, not in
//! the server's tracing output. The client gets a 502 saying the gateway's credentials
//! were refused, in its own format; the operator's log names the provider.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on failure

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use ax_mock_upstream::{MockConfig, MockUpstream};
use common::{Client, Setup, gateway_with};
use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

/// One provider behind an upstream that echoes its key: name, kind, key, model, and
/// whether its base URL takes `/v1`.
struct Echoing {
    name: &'static str,
    kind: &'static str,
    key: &'static str,
    model: &'static str,
    v1: bool,
}

/// The issue's own key (from `OPENAI_API_KEY`), an Azure-style hex key, a Gemini key
/// without the `AIza` prefix, and a vLLM token: none has a shape a pattern would catch.
const ECHOING: [Echoing; 4] = [
    Echoing {
        name: "acme",
        kind: "openai",
        key: "plainTESTSECRETkey99",
        model: "gpt-4o",
        v1: true,
    },
    Echoing {
        name: "azure-claude",
        kind: "anthropic",
        key: "0123456789abcdef0123456789abcdef",
        model: "claude-3-5-sonnet-20241022",
        v1: false,
    },
    Echoing {
        name: "gem",
        kind: "gemini",
        key: "gemTESTSECRET-42",
        model: "gemini-2.0-flash",
        v1: false,
    },
    Echoing {
        name: "vllm",
        kind: "openai-compatible",
        key: "vllmTESTSECRETtoken5",
        model: "llama-3.1-8b",
        v1: true,
    },
];

/// Everything the process traces (every level down to debug, spans included), for
/// checking that no key reaches a log line. One global subscriber for the binary.
fn traced() -> Arc<Mutex<String>> {
    static BUF: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(String::new()));
        let capture = Capture {
            buf: Arc::clone(&buf),
            next_id: std::sync::atomic::AtomicU64::new(1),
        };
        tracing::subscriber::set_global_default(capture).expect("one global subscriber");
        buf
    })
    .clone()
}

struct Capture {
    buf: Arc<Mutex<String>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::DEBUG
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut buf = self.buf.lock().unwrap();
        let _ = write!(buf, "span {}", span.metadata().name());
        span.record(&mut Fields(&mut buf));
        buf.push('\n');
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::span::Id::from_u64(id)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut buf = self.buf.lock().unwrap();
        values.record(&mut Fields(&mut buf));
        buf.push('\n');
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut buf = self.buf.lock().unwrap();
        let meta = event.metadata();
        let _ = write!(buf, "{} {}:", meta.level(), meta.target());
        event.record(&mut Fields(&mut buf));
        buf.push('\n');
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

fn assert_no_key(what: &str, text: &str) {
    for e in &ECHOING {
        assert!(
            !text.contains(e.key),
            "the `{}` key leaked into {what}: {text}",
            e.name
        );
    }
}

#[tokio::test]
async fn an_upstream_echoing_the_key_leaks_it_nowhere_and_the_client_gets_502() {
    let traced = traced();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secrets.db");
    let refusing = MockConfig {
        status: Some(401),
        echo_auth: true,
        ..MockConfig::default()
    };
    let upstreams: Vec<MockUpstream> = ECHOING
        .iter()
        .map(|_| MockUpstream::start(refusing))
        .collect();
    let mut extra = String::new();
    for (e, up) in ECHOING.iter().zip(&upstreams) {
        let key = if e.name == "acme" {
            "api_key_env = \"OPENAI_API_KEY\"".to_owned()
        } else {
            format!("api_key = \"{}\"", e.key)
        };
        let _ = write!(
            extra,
            "[[providers]]\nname = \"{}\"\nkind = \"{}\"\n{key}\nbase_url = \"{}{}\"\n\
             default_model = \"{}\"\nmax_retries = 0\n\n",
            e.name,
            e.kind,
            up.url(),
            if e.v1 { "/v1" } else { "" },
            e.model,
        );
    }
    let env = BTreeMap::from([
        ("OPENAI_API_KEY".to_owned(), ECHOING[0].key.to_owned()),
        (
            "AX_DATABASE_URL".to_owned(),
            format!("sqlite://{}", db.display()),
        ),
        // Each request stays on its provider: the single-target path is the one that
        // used to answer 401.
        ("PROVIDER_FALLBACK_ENABLED".to_owned(), "false".to_owned()),
    ]);
    let mut gw = gateway_with(Setup {
        extra_toml: extra,
        env,
        // Every failure here counts against the provider: keep the circuits closed.
        router: "retry_base_ms = 1\nretry_cap_ms = 5\ncircuit_threshold = 1000\n".into(),
        ..Setup::default()
    })
    .await;

    let mut requests = 0;
    for e in &ECHOING {
        for client in Client::ALL {
            for stream in [false, true] {
                let model = format!("{}/{}", e.name, e.model);
                let resp = client.send(&gw, &model, stream).await;
                requests += 1;
                let status = resp.status().as_u16();
                let headers = format!("{:?}", resp.headers());
                let text = resp.text().await.unwrap();
                let ctx = format!("{} {client:?} stream={stream}: {text}", e.name);
                assert_no_key("the client's headers", &headers);
                assert_no_key("the client's body", &text);
                assert_eq!(status, 502, "{ctx}");
                let want = format!(
                    "the gateway's credentials for provider `{}` were refused by the upstream \
                     (401); the operator must check its API key",
                    e.name
                );
                let body: Value = serde_json::from_str(&text).expect(&ctx);
                match client {
                    Client::OpenAi => {
                        assert_eq!(body["error"]["message"], want.as_str(), "{ctx}");
                        assert_eq!(body["error"]["type"], "server_error", "{ctx}");
                        assert_ne!(body["error"]["code"], "invalid_api_key", "{ctx}");
                    }
                    Client::Anthropic => {
                        assert_eq!(body["type"], "error", "{ctx}");
                        assert_eq!(body["error"]["message"], want.as_str(), "{ctx}");
                        assert_eq!(body["error"]["type"], "api_error", "{ctx}");
                    }
                    Client::Gemini => {
                        assert_eq!(body["error"]["message"], want.as_str(), "{ctx}");
                        assert_eq!(body["error"]["code"], 502, "{ctx}");
                        assert_ne!(body["error"]["status"], "UNAUTHENTICATED", "{ctx}");
                    }
                }
            }
        }
        // The upstream really did echo the key: each call reached it with its key.
        let up = &upstreams[ECHOING.iter().position(|x| x.name == e.name).unwrap()];
        assert_eq!(up.total_hits(), 6, "{}", e.name);
    }

    // The admin API: the provider's last error is the upstream's, masked.
    let admin = gw.get("/admin/providers").await.text().await.unwrap();
    assert_no_key("/admin/providers", &admin);
    for e in &ECHOING {
        let p = gw.provider_status(e.name).await;
        assert_eq!(p["last_error"]["code"], "authentication_error", "{p}");
        let msg = p["last_error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("***"), "the echo is there, masked: {p}");
        assert_eq!(p["health"], "unhealthy", "{p}");
    }
    let metrics = gw.metrics().await;
    assert_no_key("/metrics", &metrics);

    // The store, after every row is flushed: every text column, then the files whole.
    let server = gw.server.take().unwrap();
    server.shutdown().await.unwrap();
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT provider, error_code, error_message, state_timeline, request_data, \
         response_data FROM provider_logs",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), requests);
    for r in &rows {
        for col in [
            "error_message",
            "state_timeline",
            "request_data",
            "response_data",
        ] {
            let v: Option<String> = r.get(col);
            assert_no_key(&format!("provider_logs.{col}"), &v.unwrap_or_default());
        }
        // The stored code stays the upstream's: the operator sees why it failed.
        let code: Option<String> = r.get("error_code");
        assert_eq!(code.as_deref(), Some("authentication_error"));
        let message: Option<String> = r.get("error_message");
        assert!(
            message.unwrap_or_default().contains("were refused"),
            "{:?}",
            r.get::<Option<String>, _>("provider")
        );
    }
    drop(conn);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let path = f.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for e in &ECHOING {
            assert!(
                !bytes.windows(e.key.len()).any(|w| w == e.key.as_bytes()),
                "the `{}` key is in {}",
                e.name,
                path.display()
            );
        }
    }

    // The operator's log: a warning naming each provider, and no key anywhere.
    let traced = traced.lock().unwrap().clone();
    assert_no_key("the tracing output", &traced);
    for e in &ECHOING {
        let named = format!("provider=\"{}\"", e.name);
        assert!(
            traced.lines().any(|l| l.starts_with("WARN")
                && l.contains("refused the gateway's credentials")
                && l.contains(&named)),
            "no warning names `{}`:\n{traced}",
            e.name
        );
    }
    for up in upstreams {
        up.shutdown().await;
    }
}
