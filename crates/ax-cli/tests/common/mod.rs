//! Helpers of the CLI tests: the `ax` binary with a clean environment, a real
//! `ax serve` on an ephemeral loopback port, and a store seeded with known records.

#![allow(dead_code, reason = "each test uses a subset")]
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use ax_core::lifecycle::State;
use ax_core::{ErrorCode, Usage};
use ax_store::{LogRecord, LogSink as _, Store};
use tempfile::TempDir;
use time::OffsetDateTime;

/// Variables that would change what `ax` does; removed from every child.
pub const CLEARED: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_ORGANIZATION",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_DEFAULT_MODEL",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GEMINI_BASE_URL",
    "GEMINI_DEFAULT_MODEL",
    "PROVIDER_CIRCUIT_THRESHOLD",
    "PROVIDER_CIRCUIT_TIMEOUT",
    "PROVIDER_LOGGING_ENABLED",
    "PROVIDER_TELEMETRY_ENABLED",
    "PROVIDER_FALLBACK_ENABLED",
    "PRIMARY_PROVIDER",
    "FALLBACK_CHAIN",
    "AX_LISTEN",
    "AX_CONFIG",
    "AX_DATABASE_URL",
    "AX_ADMIN_KEY",
    "AX_MASTER_KEY",
    "AX_URL",
    "AX_REQUIRE_KEYS",
    "CLICOLOR_FORCE",
];

/// The `ax` binary with a clean environment, colours off.
pub fn ax() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ax"));
    for k in CLEARED {
        c.env_remove(k);
    }
    c.env("NO_COLOR", "1").env("AX_LOG", "warn");
    c.timeout(Duration::from_secs(60));
    c
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// `sqlite://` URL of `name` in `dir`.
pub fn db_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// A running `ax serve`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its store.
    pub db_url: String,
    /// Its temporary directory.
    pub dir: TempDir,
}

impl Server {
    /// Starts `ax serve --listen 127.0.0.1:0` with a fresh store, extra `env`, and
    /// `ax.toml` text when given.
    pub fn start(env: &[(&str, &str)], toml: Option<&str>) -> Server {
        Server::start_with(env, toml, None)
    }

    /// Like [`Server::start`], with the open-file soft limit first lowered to
    /// `soft_fd_limit` (through `sh -c 'ulimit -Sn N; exec ax …'`) when given.
    pub fn start_with(
        env: &[(&str, &str)],
        toml: Option<&str>,
        soft_fd_limit: Option<u64>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = db_url(dir.path(), "ax.db");
        let mut cmd = match soft_fd_limit {
            None => std::process::Command::new(env!("CARGO_BIN_EXE_ax")),
            Some(n) => {
                let mut sh = std::process::Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -Sn {n} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_ax"));
                sh
            }
        };
        for k in CLEARED {
            cmd.env_remove(k);
        }
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("AX_DATABASE_URL", &db_url)
            .env("AX_LOG", "warn")
            .env("NO_COLOR", "1");
        if let Some(text) = toml {
            let path = dir.path().join("ax.toml");
            std::fs::write(&path, text).expect("write ax.toml");
            cmd.arg("--config").arg(path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (mut child, rx) = spawn_serve(cmd);
        let seen = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(url) = seen
            .lines()
            .find_map(|l| l.strip_prefix(LISTENING))
            .map(|addr| addr.trim().to_owned())
        else {
            let _ = child.kill();
            panic!("ax serve did not start");
        };
        Server {
            child,
            url,
            db_url,
            dir,
        }
    }
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ax serve --listen 127.0.0.1:0` on the store `db`, as a plain process with a clean
/// environment; the caller sets `AX_LOG`, colours and the rest.
pub fn serve_command(db: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ax"));
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.env("AX_DATABASE_URL", db)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    cmd
}

/// The line with which `ax serve` says where it listens.
const LISTENING: &str = "ax listening on ";

/// Spawns `cmd` (an `ax serve`) with stderr piped. A thread drains stderr for as long
/// as the process runs, so it never blocks on a full pipe, and sends what it wrote up
/// to its [`LISTENING`] line, or all of it when it stopped before saying that.
fn spawn_serve(mut cmd: std::process::Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ax serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Some(String::new());
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Some(text) = seen.as_mut() else { continue };
            text.push_str(&line);
            text.push('\n');
            if line.starts_with(LISTENING)
                && let Some(text) = seen.take()
            {
                let _ = tx.send(text);
            }
        }
        // Stopped before listening: what it said is the reason.
        if let Some(text) = seen {
            let _ = tx.send(text);
        }
    });
    (child, rx)
}

/// Runs `cmd` (an `ax serve`) until it says it listens, then kills it; returns what it
/// wrote to stderr up to then. Fails the test when it stops or stays silent first.
pub fn stderr_until_listening(cmd: std::process::Command) -> String {
    let (mut child, rx) = spawn_serve(cmd);
    let seen = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let seen = seen.expect("ax serve wrote nothing");
    assert!(seen.contains(LISTENING), "did not start: {seen}");
    seen
}

/// `minutes` minutes ago.
fn ago(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

/// A record of `provider`/`model` that started `minutes` ago.
#[allow(clippy::too_many_arguments, reason = "a table row")]
fn rec(
    id: &str,
    provider: Option<&str>,
    model: Option<&str>,
    minutes: i64,
    ok: bool,
    duration: i64,
    first_token: Option<i64>,
    tokens: (u64, u64),
) -> LogRecord {
    let mut r = LogRecord::new(id, if ok { State::Completed } else { State::Failed });
    r.provider = provider.map(Into::into);
    r.model = model.map(Into::into);
    r.start_time = ago(minutes);
    r.end_time = Some(r.start_time + time::Duration::milliseconds(duration));
    r.duration_ms = Some(duration);
    r.first_token_ms = first_token;
    r.attempts = u32::from(provider.is_some());
    r.usage = Usage {
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        ..Usage::default()
    };
    r
}

fn fail(mut r: LogRecord, code: ErrorCode) -> LogRecord {
    r.error_code = Some(code);
    r.error_message = Some(format!("{code} happened"));
    r
}

/// The claude model of the seed.
pub const CLAUDE: &str = "claude-3-5-sonnet-20241022";
/// The gemini model of the seed.
pub const GEMINI: &str = "gemini-2.0-flash";

/// The seeded records, newest last:
///
/// | id | provider | state | ms | first token | tokens | age |
/// |---|---|---|---|---|---|---|
/// | old-1 | claude | completed | 5000 | 1000 | 100/100 | 3 h |
/// | c1 | claude | completed | 100 | 40 | 10/20 | 10 min |
/// | c2 | claude | completed | 200 | 60 | 30/40 | 9 min |
/// | c3 | claude | failed server_error | 300 | - | 0/0 | 8 min |
/// | c4 | claude (fallback) | completed | 400 | 100 | 50/60 | 7 min |
/// | g1 | gemini | completed | 50 | 20 | 5/5 | 6 min |
/// | g2 | gemini | failed timeout | 1000 | - | 0/0 | 5 min |
/// | r1 | (none) | failed invalid_request | 1 | - | 0/0 | 4 min |
///
/// Costs: c1 0.001, c2 0.002, c4 0.003 (USD); old-1 0.5.
pub fn seed_records() -> Vec<LogRecord> {
    let mut old = rec(
        "old-1",
        Some("claude"),
        Some(CLAUDE),
        180,
        true,
        5000,
        Some(1000),
        (100, 100),
    );
    old.cost_usd = Some(0.5);
    let mut c1 = rec(
        "c1",
        Some("claude"),
        Some(CLAUDE),
        10,
        true,
        100,
        Some(40),
        (10, 20),
    );
    c1.cost_usd = Some(0.001);
    c1.tags = vec!["batch".into()];
    c1.conversation_id = Some("conv-1".into());
    c1.user_id = Some("alice".into());
    let mut c2 = rec(
        "c2",
        Some("claude"),
        Some(CLAUDE),
        9,
        true,
        200,
        Some(60),
        (30, 40),
    );
    c2.cost_usd = Some(0.002);
    let c3 = fail(
        rec(
            "c3",
            Some("claude"),
            Some(CLAUDE),
            8,
            false,
            300,
            None,
            (0, 0),
        ),
        ErrorCode::ServerError,
    );
    let mut c4 = rec(
        "c4",
        Some("claude"),
        Some(CLAUDE),
        7,
        true,
        400,
        Some(100),
        (50, 60),
    );
    c4.cost_usd = Some(0.003);
    c4.is_fallback = true;
    c4.fallback_from = Some("gemini".into());
    c4.fallback_provider = Some("claude".into());
    c4.attempts = 2;
    let g1 = rec(
        "g1",
        Some("gemini"),
        Some(GEMINI),
        6,
        true,
        50,
        Some(20),
        (5, 5),
    );
    let g2 = fail(
        rec(
            "g2",
            Some("gemini"),
            Some(GEMINI),
            5,
            false,
            1000,
            None,
            (0, 0),
        ),
        ErrorCode::Timeout,
    );
    let r1 = fail(
        rec("r1", None, None, 4, false, 1, None, (0, 0)),
        ErrorCode::InvalidRequest,
    );
    vec![old, c1, c2, c3, c4, g1, g2, r1]
}

/// A migrated store in `dir` holding [`seed_records`]; returns its URL.
pub async fn seeded_store(dir: &Path) -> String {
    let url = db_url(dir, "seed.db");
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.write_batch(&seed_records()).await.expect("seed");
    store.close().await;
    url
}

/// A store in `dir` that exists but was never migrated; returns its URL.
pub async fn unmigrated_store(dir: &Path) -> String {
    let url = db_url(dir, "raw.db");
    let store = Store::connect(&url).await.expect("connect");
    store.ping().await.expect("ping");
    store.close().await;
    url
}

/// stdout of a finished command, as JSON.
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// `names` sorted, as owned strings.
pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// A file in a fresh temp dir with `text`.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}
