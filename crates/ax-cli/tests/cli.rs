//! The operator CLI against a real `ax serve` (started from this package's binary on
//! an ephemeral loopback port) and against stores seeded with known records.

mod common;

use ax_mock_upstream::{MockConfig, MockUpstream};
use common::*;
use predicates::prelude::*;
use serde_json::Value;

const HEALTH_KEYS: &[&str] = &[
    "name",
    "kind",
    "enabled",
    "health",
    "circuit",
    "latency_ema_ms",
    "consecutive_successes",
    "consecutive_failures",
    "last_error",
];

const LOG_KEYS: &[&str] = &[
    "request_id",
    "created_at",
    "provider",
    "model",
    "state",
    "error_code",
    "duration_ms",
    "first_token_ms",
    "input_tokens",
    "output_tokens",
    "tokens_estimated",
    "is_fallback",
    "attempts",
    "conversation_id",
    "user_id",
    "tags",
    "cost_usd",
];

const STATS_KEYS: &[&str] = &[
    "provider",
    "model",
    "requests",
    "success_rate",
    "avg_latency_ms",
    "p95_latency_ms",
    "avg_first_token_ms",
    "input_tokens",
    "output_tokens",
    "fallbacks",
    "cost_usd",
    "unpriced_requests",
];

#[allow(clippy::expect_used, reason = "test helper")]
fn provider<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no provider {name} in {health}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn health_circuit_and_explain_against_a_running_server() {
    let server = Server::start(&[], None);
    let url = server.url.as_str();

    // health --json: DESIGN §3 shape.
    let out = ax()
        .args(["provider", "health", "--json", "--url", url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let health = json_of(&out);
    let names: Vec<&str> = health["providers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["claude", "gemini", "openai", "mock"]);
    for p in health["providers"].as_array().expect("array") {
        assert_eq!(keys(p), sorted(HEALTH_KEYS), "{p}");
        assert_eq!(
            keys(&p["circuit"]),
            sorted(&["state", "consecutive_failures", "opened_at"])
        );
        assert!(
            ["unknown", "degraded", "healthy", "unhealthy"]
                .contains(&p["health"].as_str().expect("health"))
        );
    }
    assert_eq!(provider(&health, "mock")["enabled"], true);
    assert_eq!(provider(&health, "claude")["enabled"], false);
    assert_eq!(provider(&health, "claude")["kind"], "anthropic");

    // health, plain: a table without escape codes when piped.
    ax().args(["provider", "health", "--url", url])
        .assert()
        .success()
        .stdout(predicate::str::contains("PROVIDER").and(predicate::str::contains("mock")))
        .stdout(predicate::str::contains("\u{1b}").not());

    // circuit status --json.
    let out = ax()
        .args(["provider", "circuit", "status", "--json", "--url", url])
        .output()
        .expect("run");
    assert!(out.status.success());
    let circuits = json_of(&out);
    let rows = circuits["circuits"].as_array().expect("circuits");
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert_eq!(
            keys(r),
            sorted(&[
                "provider",
                "enabled",
                "state",
                "consecutive_failures",
                "opened_at"
            ])
        );
        assert_eq!(r["state"], "closed");
    }

    // circuit reset --json, and an unknown provider (usage error: exit 2).
    let out = ax()
        .args([
            "provider", "circuit", "reset", "mock", "--json", "--url", url,
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let reset = json_of(&out);
    assert_eq!(
        keys(&reset),
        sorted(&["provider", "reset", "previous_state", "circuit"])
    );
    assert_eq!(reset["circuit"], "closed");
    assert_eq!(reset["reset"], true);
    ax().args(["provider", "circuit", "reset", "nosuch", "--url", url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown provider `nosuch` (known: claude, gemini, openai, mock)",
        ));

    // route explain --json: the dry-run shape.
    let out = ax()
        .args(["route", "explain", "mock/demo", "--json", "--url", url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let plan = json_of(&out);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["model"], "mock/demo");
    assert_eq!(plan["fallback"], true);
    let first = &plan["plan"][0];
    assert_eq!(
        keys(first),
        sorted(&["provider", "model", "health", "circuit", "is_fallback"])
    );
    assert_eq!(first["provider"], "mock");
    assert_eq!(first["model"], "demo");
    assert_eq!(first["circuit"], "closed");
    ax().args(["route", "explain", "default", "--no-fallback", "--url", url])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "default → 1 target(s) (fallback off)",
        ))
        .stdout(predicate::str::contains("mock"));
}

#[tokio::test]
async fn an_open_circuit_is_shown_diagnosed_and_reset() {
    let toml =
        "[[providers]]\nname = \"mock\"\nkind = \"mock\"\nfailure_rate = 1.0\nmax_retries = 0\n";
    let server = Server::start(&[("PROVIDER_CIRCUIT_THRESHOLD", "1")], Some(toml));
    let url = server.url.clone();
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let resp = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&serde_json::json!({"model": "mock/x", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_server_error(), "{}", resp.status());
    }

    let out = ax()
        .args(["provider", "circuit", "status", "--json", "--url", &url])
        .output()
        .expect("run");
    let circuits = json_of(&out);
    let mock = circuits["circuits"]
        .as_array()
        .expect("circuits")
        .iter()
        .find(|c| c["provider"] == "mock")
        .expect("mock")
        .clone();
    assert_eq!(mock["state"], "open", "{circuits}");
    assert!(mock["opened_at"].is_string());

    let out = ax()
        .args(["provider", "health", "--json", "--url", &url])
        .output()
        .expect("run");
    let health = json_of(&out);
    assert_eq!(
        provider(&health, "mock")["last_error"]["code"],
        "server_error"
    );

    // Doctor: the open circuit is a failure with the reset command as its fix.
    let config = server.dir.path().join("ax.toml");
    let out = ax()
        .args([
            "doctor",
            "--json",
            "--url",
            &url,
            "--database-url",
            &server.db_url,
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "mock: circuit")
        .expect("circuit check")
        .clone();
    assert_eq!(check["status"], "fail");
    assert!(
        check["fix"]
            .as_str()
            .expect("fix")
            .contains("ax provider circuit reset mock"),
        "{check}"
    );

    let out = ax()
        .args([
            "provider", "circuit", "reset", "mock", "--json", "--url", &url,
        ])
        .output()
        .expect("run");
    let reset = json_of(&out);
    assert_eq!(reset["previous_state"], "open");
    assert_eq!(reset["circuit"], "closed");
    ax().args(["provider", "circuit", "reset", "mock", "--url", &url])
        .assert()
        .success()
        .stdout("mock: circuit closed (was closed)\n");
}

#[test]
fn the_admin_key_is_sent_and_a_missing_one_is_explained() {
    let server = Server::start(&[("AX_ADMIN_KEY", "s3cret")], None);
    ax().args(["provider", "health", "--url", &server.url])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("set AX_ADMIN_KEY"));
    ax().args(["provider", "health", "--url", &server.url])
        .env("AX_ADMIN_KEY", "wrong")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("AX_ADMIN_KEY does not match"));
    ax().args(["provider", "health", "--json", "--url", &server.url])
        .env("AX_ADMIN_KEY", "s3cret")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"providers\""))
        .stdout(predicate::str::contains("s3cret").not());
}

#[test]
fn a_server_that_is_not_running_is_one_line_and_exit_1() {
    let url = dead_url();
    for args in [
        vec!["provider", "health"],
        vec!["provider", "circuit", "status"],
        vec!["provider", "circuit", "reset", "claude"],
        vec!["route", "explain", "default"],
    ] {
        let out = ax()
            .args(&args)
            .args(["--url", &url])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr,
            format!("ax: cannot reach ax at {url} (is `ax serve` running?)\n"),
            "{args:?}"
        );
    }
    // AX_URL is honoured.
    ax().args(["provider", "health"])
        .env("AX_URL", &url)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot reach ax at {url}"
        )));
}

#[tokio::test]
async fn logs_json_shape_and_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_store(dir.path()).await;

    let out = ax()
        .args(["provider", "logs", "--json", "--database-url", &db])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let rows = json_of(&out);
    let rows = rows.as_array().expect("array");
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["r1", "g2", "g1", "c4", "c3", "c2", "c1", "old-1"]);
    for r in rows {
        assert_eq!(keys(r), sorted(LOG_KEYS), "{r}");
    }
    let c1 = rows.iter().find(|r| r["request_id"] == "c1").expect("c1");
    assert_eq!(c1["provider"], "claude");
    assert_eq!(c1["model"], CLAUDE);
    assert_eq!(c1["state"], "completed");
    assert_eq!(c1["duration_ms"], 100);
    assert_eq!(c1["first_token_ms"], 40);
    assert_eq!(c1["input_tokens"], 10);
    assert_eq!(c1["output_tokens"], 20);
    assert_eq!(c1["tags"], serde_json::json!(["batch"]));
    assert_eq!(c1["conversation_id"], "conv-1");
    assert_eq!(c1["user_id"], "alice");
    assert_eq!(c1["error_code"], Value::Null);
    assert!(close(c1["cost_usd"].as_f64().expect("cost"), 0.001));
    // g1 has no cost in the seed: unknown is null, never 0.
    let g1 = rows.iter().find(|r| r["request_id"] == "g1").expect("g1");
    assert_eq!(g1["cost_usd"], Value::Null, "{g1}");
    let c4 = rows.iter().find(|r| r["request_id"] == "c4").expect("c4");
    assert_eq!(c4["is_fallback"], true);
    assert_eq!(c4["attempts"], 2);

    // --failed: only failed requests, newest first, rejected ones included.
    let out = ax()
        .args([
            "provider",
            "logs",
            "--failed",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .expect("run");
    let failed = json_of(&out);
    let failed = failed.as_array().expect("array");
    let ids: Vec<&str> = failed
        .iter()
        .map(|r| r["request_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["r1", "g2", "c3"]);
    assert!(failed.iter().all(|r| r["state"] == "failed"));
    let codes: Vec<&str> = failed
        .iter()
        .map(|r| r["error_code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["invalid_request", "timeout", "server_error"]);

    // --provider.
    let out = ax()
        .args([
            "provider",
            "logs",
            "--provider",
            "gemini",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .expect("run");
    let ids: Vec<String> = json_of(&out)
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["request_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ["g2", "g1"]);

    // --provider with --failed, and --number.
    let out = ax()
        .args([
            "provider",
            "logs",
            "-p",
            "claude",
            "--failed",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .expect("run");
    let both = json_of(&out);
    assert_eq!(both.as_array().expect("array").len(), 1);
    assert_eq!(both[0]["request_id"], "c3");
    let out = ax()
        .args([
            "provider",
            "logs",
            "--number",
            "2",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .expect("run");
    let two = json_of(&out);
    assert_eq!(two.as_array().expect("array").len(), 2);
    assert_eq!(two[0]["request_id"], "r1");

    // Plain table.
    ax().args(["provider", "logs", "--failed", "--database-url", &db])
        .assert()
        .success()
        .stdout(predicate::str::contains("REQUEST ID"))
        .stdout(predicate::str::contains("server_error"))
        .stdout(predicate::str::contains("c1").not())
        .stdout(predicate::str::contains("\u{1b}").not());
    ax().args([
        "provider",
        "logs",
        "--provider",
        "nobody",
        "--database-url",
        &db,
    ])
    .assert()
    .success()
    .stdout("no requests match\n");
}

#[tokio::test]
async fn stats_equal_what_the_seed_implies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_store(dir.path()).await;

    let out = ax()
        .args([
            "provider",
            "stats",
            "--time",
            "1",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let stats = json_of(&out);
    assert_eq!(keys(&stats), sorted(&["window_hours", "rows"]));
    assert_eq!(stats["window_hours"], 1);
    let rows = stats["rows"].as_array().expect("rows");
    // The rejected request (no provider) is not a provider's request; old-1 is outside
    // the window.
    assert_eq!(rows.len(), 2, "{stats}");
    for r in rows {
        assert_eq!(keys(r), sorted(STATS_KEYS));
    }
    let claude = &rows[0];
    assert_eq!(claude["provider"], "claude");
    assert_eq!(claude["model"], CLAUDE);
    assert_eq!(claude["requests"], 4);
    assert!(close(claude["success_rate"].as_f64().expect("rate"), 0.75));
    assert!(close(
        claude["avg_latency_ms"].as_f64().expect("avg"),
        250.0
    ));
    assert_eq!(claude["p95_latency_ms"], 400);
    assert!(close(
        claude["avg_first_token_ms"].as_f64().expect("ttft"),
        200.0 / 3.0
    ));
    assert_eq!(claude["input_tokens"], 90);
    assert_eq!(claude["output_tokens"], 120);
    assert_eq!(claude["fallbacks"], 1);
    // c3 has no cost in the seed: the sum is of the priced three, and says so.
    assert!(close(claude["cost_usd"].as_f64().expect("cost"), 0.006));
    assert_eq!(claude["unpriced_requests"], 1);
    let gemini = &rows[1];
    assert_eq!(gemini["provider"], "gemini");
    assert_eq!(gemini["requests"], 2);
    assert!(close(gemini["success_rate"].as_f64().expect("rate"), 0.5));
    assert!(close(
        gemini["avg_latency_ms"].as_f64().expect("avg"),
        525.0
    ));
    assert_eq!(gemini["p95_latency_ms"], 1000);
    assert!(close(
        gemini["avg_first_token_ms"].as_f64().expect("ttft"),
        20.0
    ));
    assert_eq!(gemini["fallbacks"], 0);
    // No gemini request has a cost in the seed: unknown is null, never 0.
    assert_eq!(gemini["cost_usd"], Value::Null, "{gemini}");
    assert_eq!(gemini["unpriced_requests"], 2);

    // The default window (24 h) takes in old-1.
    let out = ax()
        .args(["provider", "stats", "--json", "--database-url", &db])
        .output()
        .expect("run");
    let day = json_of(&out);
    assert_eq!(day["window_hours"], 24);
    assert_eq!(day["rows"][0]["requests"], 5);
    assert_eq!(day["rows"][0]["p95_latency_ms"], 5000);
    assert!(close(
        day["rows"][0]["cost_usd"].as_f64().expect("cost"),
        0.506
    ));

    ax().args(["provider", "stats", "--time", "1", "--database-url", &db])
        .assert()
        .success()
        .stdout(predicate::str::contains("75.0%"))
        .stdout(predicate::str::contains("50.0%"))
        .stdout(predicate::str::contains("window: last 1 h"))
        .stdout(predicate::str::contains("\u{1b}").not());
    // The cost column: a lower bound marked `+` for claude, `-` (unknown) for gemini.
    let out = ax()
        .args(["provider", "stats", "--time", "1", "--database-url", &db])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let cost_of = |provider: &str| {
        text.lines()
            .find(|l| l.starts_with(provider))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_owned)
    };
    assert_eq!(cost_of("claude").as_deref(), Some("0.006000+"), "{text}");
    assert_eq!(cost_of("gemini").as_deref(), Some("-"), "{text}");
    assert!(text.contains("cost unknown for 3 requests"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    ax().args(["provider", "logs", "--number", "abc"])
        .assert()
        .code(2);
    ax().args(["provider", "stats", "--time", "0"])
        .assert()
        .code(2);
    ax().args(["provider", "bogus"]).assert().code(2);
    ax().args(["route", "explain"]).assert().code(2);
    ax().args(["provider", "health", "--url", "not a url"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--url"));
    ax().args(["provider", "test", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown provider `nosuch`"));
    ax().args(["provider", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("health").and(predicate::str::contains("circuit")));
}

#[test]
fn history_commands_refuse_a_missing_store_without_creating_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = db_url(dir.path(), "missing.db");
    for args in [["provider", "logs"], ["provider", "stats"]] {
        ax().args(args)
            .args(["--database-url", &db])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("run `ax migrate`"));
    }
    assert!(!dir.path().join("missing.db").exists());
    // A dry run creates nothing either, and lists every migration.
    let out = ax()
        .args(["migrate", "--dry-run", "--json", "--database-url", &db])
        .output()
        .expect("run");
    assert!(out.status.success());
    let m = json_of(&out);
    assert_eq!(m["dry_run"], true);
    assert!(!m["migrations"].as_array().expect("array").is_empty());
    assert!(!dir.path().join("missing.db").exists());
}

#[tokio::test]
async fn doctor_and_migrate_on_an_unmigrated_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = unmigrated_store(dir.path()).await;
    let dead = dead_url();

    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    assert_eq!(
        keys(&report),
        sorted(&["ok", "failures", "warnings", "checks"])
    );
    assert_eq!(report["ok"], false);
    for c in report["checks"].as_array().expect("checks") {
        assert_eq!(keys(c), sorted(&["name", "status", "detail", "fix"]));
    }
    let store = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "store")
        .expect("store check")
        .clone();
    assert_eq!(store["status"], "fail");
    assert_eq!(store["fix"], "run `ax migrate`");
    ax().args(["doctor", "--database-url", &db, "--url", &dead])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fix: run `ax migrate`"));

    // migrate --dry-run lists, migrate applies, then doctor passes (warnings only: the
    // mock is the only provider and no server runs).
    let out = ax()
        .args(["migrate", "--dry-run", "--json", "--database-url", &db])
        .output()
        .expect("run");
    let pending = json_of(&out)["migrations"].as_array().expect("array").len();
    assert!(pending >= 4);
    ax().args(["migrate", "--database-url", &db])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{pending} migration(s) applied"
        )));
    let out = ax()
        .args(["migrate", "--dry-run", "--json", "--database-url", &db])
        .output()
        .expect("run");
    assert_eq!(json_of(&out)["migrations"], serde_json::json!([]));
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json_of(&out);
    let status = |name: &str| {
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().expect("status").to_owned())
    };
    assert_eq!(status("store").as_deref(), Some("ok"));
    assert_eq!(status("providers").as_deref(), Some("warn"));
    assert_eq!(status("circuits").as_deref(), Some("skip"));
    assert_eq!(status("mock: probe").as_deref(), Some("ok"));
}

#[tokio::test]
async fn doctor_names_the_missing_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_store(dir.path()).await;
    let dead = dead_url();

    // Enabled in ax.toml, but no key anywhere.
    let toml = write_file(
        dir.path(),
        "enabled.toml",
        "[[providers]]\nname = \"claude\"\nenabled = true\n",
    );
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .arg("--config")
        .arg(&toml)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "claude: key")
        .expect("key check")
        .clone();
    assert_eq!(check["status"], "fail");
    assert_eq!(check["fix"], "set ANTHROPIC_API_KEY");
    ax().args(["doctor", "--database-url", &db, "--url", &dead])
        .arg("--config")
        .arg(&toml)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fix: set ANTHROPIC_API_KEY"));

    // `api_key_env` naming a variable that is not set: the config itself fails.
    let toml = write_file(
        dir.path(),
        "env.toml",
        "[[providers]]\nname = \"claude\"\napi_key_env = \"ANTHROPIC_API_KEY\"\nenabled = true\n",
    );
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .arg("--config")
        .arg(&toml)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    assert_eq!(report["checks"][0]["name"], "config");
    assert_eq!(report["checks"][0]["status"], "fail");
    assert_eq!(report["checks"][0]["fix"], "set ANTHROPIC_API_KEY");

    // A provider in the fallback chain without its key is a warning with the variable.
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &dead)
        .output()
        .expect("run");
    let report = json_of(&out);
    let gemini = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "gemini: key")
        .expect("gemini check")
        .clone();
    assert_eq!(gemini["status"], "warn");
    assert!(
        gemini["fix"]
            .as_str()
            .expect("fix")
            .starts_with("set GEMINI_API_KEY"),
        "{gemini}"
    );
    // ... and the unreachable openai upstream fails its probe.
    let probe = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "openai: probe")
        .expect("probe")
        .clone();
    assert_eq!(probe["status"], "fail", "{probe}");
    assert!(
        probe["fix"]
            .as_str()
            .expect("fix")
            .contains("check the network"),
        "{probe}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_probes_and_provider_test_against_a_mock_upstream() {
    let upstream = MockUpstream::start(MockConfig::default());
    let base = upstream.url().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_store(dir.path()).await;
    let dead = dead_url();
    let base2 = base.clone();
    let db2 = db.clone();
    let dead2 = dead.clone();

    tokio::task::spawn_blocking(move || {
        let with_openai = |mut c: assert_cmd::Command| {
            c.env("OPENAI_API_KEY", "sk-test")
                .env("OPENAI_BASE_URL", &base2);
            c
        };
        // Probe passes.
        let out = with_openai(ax())
            .args(["doctor", "--json", "--database-url", &db2, "--url", &dead2])
            .output()
            .expect("run");
        let report = json_of(&out);
        let probe = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "openai: probe")
            .expect("probe")
            .clone();
        assert_eq!(probe["status"], "ok", "{report}");

        // provider test, plain and JSON, streamed and not.
        let out = with_openai(ax())
            .args(["provider", "test", "openai", "--json", "--prompt", "ping"])
            .output()
            .expect("run");
        assert!(out.status.success(), "{out:?}");
        let t = json_of(&out);
        assert_eq!(
            keys(&t),
            sorted(&[
                "ok",
                "provider",
                "kind",
                "model",
                "stream",
                "text",
                "finish_reason",
                "latency_ms",
                "first_token_ms",
                "input_tokens",
                "output_tokens",
                "error"
            ])
        );
        assert_eq!(t["ok"], true);
        assert_eq!(t["model"], "gpt-4o");
        assert_eq!(t["text"], "Hello from mock-openai: ping");
        assert!(t["output_tokens"].as_u64().expect("tokens") > 0);

        let out = with_openai(ax())
            .args([
                "provider",
                "test",
                "openai",
                "--stream",
                "--model",
                "gpt-4o-mini",
                "--prompt",
                "ping",
            ])
            .output()
            .expect("run");
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("Hello from mock-openai: ping\n"),
            "{stdout}"
        );
        assert!(stdout.contains("openai/gpt-4o-mini · latency "), "{stdout}");
        assert!(stdout.contains("first token "), "{stdout}");
        let out = with_openai(ax())
            .args([
                "provider", "test", "openai", "--stream", "--json", "--prompt", "ping",
            ])
            .output()
            .expect("run");
        let t = json_of(&out);
        assert_eq!(t["stream"], true);
        assert_eq!(t["text"], "Hello from mock-openai: ping");
        assert!(t["first_token_ms"].is_u64());
        assert!(t["input_tokens"].as_u64().expect("tokens") > 0);
    })
    .await
    .expect("blocking part");

    // The upstream refuses the key: doctor and provider test say which variable.
    upstream.set_default(MockConfig {
        status: Some(401),
        ..MockConfig::default()
    });
    tokio::task::spawn_blocking(move || {
        let out = ax()
            .env("OPENAI_API_KEY", "sk-bad")
            .env("OPENAI_BASE_URL", &base)
            .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        let report = json_of(&out);
        let probe = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "openai: probe")
            .expect("probe")
            .clone();
        assert_eq!(probe["status"], "fail");
        assert_eq!(
            probe["fix"],
            "check OPENAI_API_KEY: the upstream rejected it"
        );

        let out = ax()
            .env("OPENAI_API_KEY", "sk-bad")
            .env("OPENAI_BASE_URL", &base)
            .args(["provider", "test", "openai", "--json"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        let t = json_of(&out);
        assert_eq!(t["ok"], false);
        assert_eq!(t["error"]["code"], "authentication_error");
        assert_eq!(t["error"]["upstream_status"], 401);
        ax().env("OPENAI_API_KEY", "sk-bad")
            .env("OPENAI_BASE_URL", &base)
            .args(["provider", "test", "openai"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("fix: check OPENAI_API_KEY"));
    })
    .await
    .expect("blocking part");
    upstream.shutdown().await;
}

#[test]
fn provider_test_without_a_key_or_with_the_mock() {
    ax().args(["provider", "test", "claude"])
        .assert()
        .code(1)
        .stderr("ax: provider `claude` has no API key: set ANTHROPIC_API_KEY\n");
    let out = ax()
        .args(["provider", "test", "mock", "--json", "--prompt", "hi"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let t = json_of(&out);
    assert_eq!(t["ok"], true);
    assert_eq!(t["kind"], "mock");
    assert_eq!(t["error"], Value::Null);
    assert!(t["text"].as_str().expect("text").contains("hi"));
}

#[tokio::test]
async fn doctor_wants_an_admin_key_beyond_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_store(dir.path()).await;
    let dead = dead_url();
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .env("AX_LISTEN", "0.0.0.0:8080")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "admin key")
        .expect("admin key check")
        .clone();
    assert_eq!(check["status"], "fail");
    assert!(
        check["fix"]
            .as_str()
            .expect("fix")
            .starts_with("set AX_ADMIN_KEY"),
        "{check}"
    );
    // With the key set it passes, and the key never appears in the output.
    let out = ax()
        .args(["doctor", "--json", "--database-url", &db, "--url", &dead])
        .env("AX_LISTEN", "0.0.0.0:8080")
        .env("AX_ADMIN_KEY", "very-secret-admin-key")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("very-secret-admin-key"));
}

#[test]
fn route_explain_of_a_model_nothing_serves_exits_1() {
    let dead = dead_url();
    let server = Server::start(
        &[("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", &dead)],
        None,
    );
    ax().args(["route", "explain", "default", "--url", &server.url])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("unknown model `default`"));
    let out = ax()
        .args([
            "route",
            "explain",
            "gpt-4o-mini",
            "--json",
            "--url",
            &server.url,
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let plan = json_of(&out);
    assert_eq!(plan["plan"][0]["provider"], "openai");
    assert_eq!(plan["plan"][0]["model"], "gpt-4o-mini");
}

/// The soft and hard "Max open files" of process `pid`, from `/proc/PID/limits`.
#[cfg(target_os = "linux")]
#[allow(clippy::expect_used, clippy::unwrap_used, reason = "test helper")]
fn open_file_limits(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut numbers = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
#[cfg(target_os = "linux")]
fn serve_raises_the_open_file_soft_limit_to_the_hard_limit() {
    let (_, hard) = open_file_limits(std::process::id());
    // The soft limit is lowered first (to 256, or half of a lower hard limit) so that
    // there is something to raise; a machine where even that is impossible cannot run
    // this test, which says so instead of passing.
    assert!(
        hard >= 64,
        "cannot run: the open-file hard limit here is {hard}, too low to lower and raise"
    );
    let server = Server::start_with(&[], None, Some(256.min(hard / 2)));
    assert_eq!(open_file_limits(server.pid()), (hard, hard));
    // And the server still answers.
    let out = ax()
        .args(["provider", "health", "--json", "--url", &server.url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
}
