//! `ax doctor` reports the listen address it was told about (`--listen`, `AX_LISTEN`)
//! and checks the server there; `ax serve` writes no colour codes into a piped stderr.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use common::{Server, ax, dead_url, json_of};
use serde_json::Value;

/// The check named `name` of an `ax doctor --json` report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {report:#}"))
}

fn detail(report: &Value, name: &str) -> String {
    check(report, name)["detail"]
        .as_str()
        .expect("detail")
        .to_owned()
}

#[test]
fn doctor_reports_and_checks_the_listen_address_it_was_given() {
    let server = Server::start(&[], None);
    let addr = server.url.strip_prefix("http://").expect("http URL");
    let db = server.db_url.as_str();

    // `--listen`, as given to `ax serve`: the admin-key check names that address and
    // its source, and the circuit check asks the server listening there.
    let out = ax()
        .args(["doctor", "--json", "--database-url", db, "--listen", addr])
        .output()
        .expect("run doctor");
    let report = json_of(&out);
    let admin = detail(&report, "admin key");
    assert!(
        admin.contains(&format!("{addr} (--listen)")),
        "admin key check: {admin}"
    );
    assert!(!admin.contains("8080"), "admin key check: {admin}");
    assert_eq!(check(&report, "circuits")["status"], "ok", "{report:#}");
    assert!(
        detail(&report, "circuits").starts_with(&server.url),
        "{report:#}"
    );

    // `AX_LISTEN`, as `ax serve` reads it.
    let out = ax()
        .args(["doctor", "--json", "--database-url", db])
        .env("AX_LISTEN", addr)
        .output()
        .expect("run doctor");
    let report = json_of(&out);
    let admin = detail(&report, "admin key");
    assert!(
        admin.contains(&format!("{addr} (AX_LISTEN)")),
        "admin key check: {admin}"
    );
    assert_eq!(check(&report, "circuits")["status"], "ok", "{report:#}");
    assert!(
        detail(&report, "circuits").starts_with(&server.url),
        "{report:#}"
    );

    // `--url` names the server to check, and the report says which one it was.
    let dead = dead_url();
    let out = ax()
        .args(["doctor", "--json", "--database-url", db, "--listen", addr])
        .args(["--url", &dead])
        .output()
        .expect("run doctor");
    let report = json_of(&out);
    assert_eq!(check(&report, "circuits")["status"], "skip", "{report:#}");
    assert!(detail(&report, "circuits").contains(&dead), "{report:#}");

    // Nothing given: the default, said to be the default.
    let out = ax()
        .args(["doctor", "--json", "--database-url", db])
        .output()
        .expect("run doctor");
    let admin = detail(&json_of(&out), "admin key");
    assert!(
        admin.contains("127.0.0.1:8080 (default)"),
        "admin key check: {admin}"
    );

    // A bad address is a usage error, as for `ax serve`.
    ax().args(["doctor", "--listen", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--listen: `nowhere`"));
}

#[test]
fn serve_writes_no_colour_codes_to_a_piped_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = common::serve_command(&common::db_url(dir.path(), "ax.db"));
    // NO_COLOR unset: a piped stderr alone must turn colours off.
    cmd.env_remove("NO_COLOR").env("AX_LOG", "info");
    let seen = common::stderr_until_listening(cmd);
    // The mock warning (WARN) and the start line (INFO) are tracing log lines.
    assert!(seen.contains("WARN"), "{seen}");
    assert!(seen.contains("INFO"), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "colour codes in a piped stderr:\n{seen:?}"
    );
}
