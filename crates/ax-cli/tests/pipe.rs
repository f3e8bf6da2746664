//! `ax` writing into a pipe whose reader went away (`ax provider logs | head -2`) exits
//! 0 without a word, as `ls | head` does, for tables, `--json` and every other output.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::io::Read as _;
use std::process::{Command, Output, Stdio};

use ax_core::lifecycle::State;
use ax_store::{LogRecord, LogSink as _, Store};
use common::{CLEARED, Server, db_url};

/// A migrated store in `dir` with `n` log rows; returns its URL.
async fn store_with_rows(dir: &std::path::Path, n: usize) -> String {
    let url = db_url(dir, "many.db");
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let rows: Vec<LogRecord> = (0..n)
        .map(|i| {
            let mut r = LogRecord::new(format!("req-{i:06}"), State::Completed);
            r.provider = Some("mock".into());
            r.model = Some("mock-model".into());
            r.duration_ms = Some(12);
            r
        })
        .collect();
    for chunk in rows.chunks(1000) {
        store.write_batch(chunk).await.expect("write rows");
    }
    store.close().await;
    url
}

/// `ax args…` with a clean environment (colours off).
fn ax(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ax"));
    for k in CLEARED {
        c.env_remove(k);
    }
    c.env("NO_COLOR", "1").env("AX_LOG", "warn").args(args);
    c
}

/// Runs `cmd` with stdout a pipe from which `read` bytes are read before the reader is
/// dropped (0: the reader is gone before `ax` starts).
fn with_closed_stdout(mut cmd: Command, read: usize) -> Output {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    if read == 0 {
        drop(reader);
        let out = cmd
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run ax");
        return out;
    }
    let child = cmd
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ax");
    // `cmd` still holds a copy of the write end: drop it, or the pipe never closes.
    drop(cmd);
    let mut buf = vec![0u8; read];
    reader.read_exact(&mut buf).expect("read the first bytes");
    drop(reader);
    child.wait_with_output().expect("wait for ax")
}

/// Exit status 0 and nothing on stderr (no panic, no "Broken pipe").
fn assert_quiet_success(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{what}: panicked on a closed stdout:\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit status on a closed stdout; stderr:\n{stderr}"
    );
    assert!(stderr.trim().is_empty(), "{what}: stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_into_a_pipe_closed_early_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = store_with_rows(dir.path(), 5000).await;
    // Far more than a pipe's buffer (64 KiB): `ax` is still writing when the reader goes.
    let table = with_closed_stdout(
        ax(&["provider", "logs", "-n", "5000", "--database-url", &db]),
        100,
    );
    assert_quiet_success("ax provider logs -n 5000 | head -c 100", &table);
    let json = with_closed_stdout(
        ax(&[
            "provider",
            "logs",
            "-n",
            "5000",
            "--json",
            "--database-url",
            &db,
        ]),
        100,
    );
    assert_quiet_success("ax provider logs --json | head -c 100", &json);
    for args in [
        &["provider", "logs", "--database-url", &db][..],
        &["provider", "stats", "--database-url", &db],
        &["provider", "stats", "--json", "--database-url", &db],
        &["migrate", "--dry-run", "--database-url", &db],
    ] {
        let out = with_closed_stdout(ax(args), 0);
        assert_quiet_success(&format!("ax {}", args.join(" ")), &out);
    }
    // Still a real error when the store is missing: the closed pipe hides nothing else.
    let missing = db_url(dir.path(), "missing.db");
    let out = with_closed_stdout(ax(&["provider", "logs", "--database-url", &missing]), 0);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn live_commands_into_a_closed_pipe_exit_0() {
    let server = Server::start(&[], None);
    let url = server.url.as_str();
    for args in [
        &["provider", "health", "--url", url][..],
        &["provider", "health", "--json", "--url", url],
        &["provider", "circuit", "status", "--url", url],
        &["route", "explain", "mock/any", "--url", url],
        &["doctor", "--url", url, "--database-url", &server.db_url],
    ] {
        let out = with_closed_stdout(ax(args), 0);
        assert_quiet_success(&format!("ax {}", args.join(" ")), &out);
    }
}
