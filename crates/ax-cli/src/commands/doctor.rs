//! `ax doctor`: configuration, keys, provider probes, store, admin key, open circuits.
//! Every failing check carries a concrete fix. Exit 1 when any check fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ax_core::ProviderKind;
use ax_server::assemble::{AssembleError, Assembled, assemble};
use ax_server::{Config, ConfigError};
use serde::Serialize;

use crate::api::ProvidersStatus;
use crate::cli::DoctorArgs;
use crate::client::{AdminClient, CallError, DEFAULT_URL};
use crate::commands::provider::{open_if_migrated, test_fix};
use crate::error::usage;
use crate::hints;
use crate::output::{StdoutError, Style, Tone, outln, print_json, spinner};
use crate::store::{redact, sqlite_path};

/// How long one provider probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One check, as `ax doctor --json` prints it.
#[derive(Debug, Serialize)]
struct Check {
    name: String,
    status: Status,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// `ax doctor --json`.
#[derive(Serialize)]
struct Report {
    ok: bool,
    failures: usize,
    warnings: usize,
    checks: Vec<Check>,
}

/// `ax doctor`.
pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let listen_flag: Option<SocketAddr> = match args.listen.as_deref() {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            usage(format!(
                "--listen: `{text}` is not an address like 127.0.0.1:8080"
            ))
        })?),
    };
    let mut checks = Vec::new();
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(mut c) => {
            // The same precedence as `ax serve`: --listen over AX_LISTEN over ax.toml.
            if let Some(addr) = listen_flag {
                c.listen = addr;
            }
            let source = c.source.as_ref().map_or_else(
                || "environment only (no ax.toml)".to_owned(),
                |p| format!("{} parsed", p.display()),
            );
            let enabled = c.providers.iter().filter(|p| p.routing.enabled).count();
            checks.push(Check::new(
                "config",
                Status::Ok,
                format!(
                    "{source}; {enabled} of {} providers enabled",
                    c.providers.len()
                ),
            ));
            Some(c)
        }
        Err(e) => {
            checks.push(config_failure(&e));
            None
        }
    };
    let db_url = args
        .database_url
        .clone()
        .or_else(|| config.as_ref().map(|c| c.database_url.clone()))
        .unwrap_or_else(|| ax_server::config::DEFAULT_DATABASE_URL.to_owned());
    if let Some(c) = config.as_mut() {
        // The stored provider configs (keys and settings) apply as in `ax serve`.
        checks.extend(stored_config_checks(c, &db_url).await);
        checks.extend(provider_checks(c).await);
        checks.push(admin_key_check(c, listen_source(&args, c)));
    }
    checks.push(store_check(&db_url).await);
    // The server checked is the one named by --url/AX_URL, else the one this
    // configuration would run (its listen address), so that both checks agree.
    let url = args.url.clone().unwrap_or_else(|| match &config {
        Some(c) => url_of(c.listen),
        None => listen_flag.map_or_else(|| DEFAULT_URL.to_owned(), url_of),
    });
    checks.extend(circuit_checks(&url).await?);

    let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    if args.json {
        print_json(&Report {
            ok: failures == 0,
            failures,
            warnings,
            checks,
        })?;
    } else {
        print_human(&checks, failures, warnings)?;
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_human(checks: &[Check], failures: usize, warnings: usize) -> Result<(), StdoutError> {
    let s = Style::detect();
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let (label, tone) = match c.status {
            Status::Ok => ("ok  ", Tone::Good),
            Status::Warn => ("warn", Tone::Warn),
            Status::Fail => ("FAIL", Tone::Bad),
            Status::Skip => ("skip", Tone::Dim),
        };
        outln!("[{}] {:width$}  {}", s.paint(label, tone), c.name, c.detail)?;
        if let Some(fix) = &c.fix {
            outln!(
                "       {:width$}  {} {fix}",
                "",
                s.paint("fix:", Tone::Warn)
            )?;
        }
    }
    let summary = match (failures, warnings) {
        (0, 0) => s.paint("all checks passed", Tone::Good),
        (0, w) => s.paint(&format!("no failures, {w} warning(s)"), Tone::Warn),
        (f, w) => s.paint(&format!("{f} check(s) failed, {w} warning(s)"), Tone::Bad),
    };
    outln!("{summary}")
}

/// The failed `config` check, with the fix the error implies.
fn config_failure(e: &ConfigError) -> Check {
    let fix = match e {
        ConfigError::Read { path, .. } => format!(
            "create {} or point --config/AX_CONFIG at an existing file",
            path.display()
        ),
        ConfigError::Invalid { path, key, reason } => {
            // `api_key_env`: "`VAR` is not set".
            match reason
                .strip_prefix('`')
                .and_then(|r| r.strip_suffix("` is not set"))
            {
                Some(var) => format!("set {var}"),
                None if path == "environment" => format!("fix the environment variable {key}"),
                None => format!("fix `{key}` in {path}"),
            }
        }
    };
    Check::new("config", Status::Fail, e.to_string()).fix(fix)
}

/// Keys, references to disabled providers, and one probe per enabled provider.
async fn provider_checks(c: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    if c.mock_only {
        checks.push(
            Check::new(
                "providers",
                Status::Warn,
                "no real provider configured: only the built-in mock answers",
            )
            .fix("set ANTHROPIC_API_KEY, GEMINI_API_KEY or OPENAI_API_KEY (or add [[providers]] to ax.toml)"),
        );
    }
    let mut to_probe = Vec::new();
    for e in &c.providers {
        let name = &e.routing.name;
        let kind = e.routing.kind;
        let missing_key = e.adapter.api_key.is_none() && hints::needs_key(kind);
        if e.routing.enabled {
            if missing_key {
                checks.push(
                    Check::new(
                        format!("{name}: key"),
                        Status::Fail,
                        format!("{name} ({kind}) is enabled but has no API key"),
                    )
                    .fix(hints::set_key_fix(name, kind)),
                );
            } else {
                to_probe.push(e);
            }
            continue;
        }
        if c.mock_only {
            continue;
        }
        // Disabled: does anything still send traffic its way?
        let in_route = c
            .router
            .routes
            .iter()
            .find(|r| r.targets.iter().any(|t| &t.provider == name));
        let in_chain = c.router.primary_provider.as_deref() == Some(name.as_str())
            || c.router.fallback_chain.iter().any(|p| p == name);
        let why = if missing_key {
            "it has no API key"
        } else {
            "it is disabled"
        };
        let fix = if missing_key {
            hints::set_key_fix(name, kind)
        } else {
            format!("set `enabled = true` for provider `{name}` in ax.toml")
        };
        if let Some(route) = in_route {
            checks.push(
                Check::new(
                    format!("{name}: key"),
                    Status::Fail,
                    format!("route `{}` targets {name}, but {why}", route.name),
                )
                .fix(fix),
            );
        } else if in_chain {
            checks.push(
                Check::new(
                    format!("{name}: key"),
                    Status::Warn,
                    format!(
                        "{name} is in PRIMARY_PROVIDER/FALLBACK_CHAIN, but {why} (it is skipped)"
                    ),
                )
                .fix(format!(
                    "{fix}, or remove {name} from PRIMARY_PROVIDER/FALLBACK_CHAIN"
                )),
            );
        }
    }
    if to_probe.is_empty() {
        return checks;
    }
    let bar = spinner(format!("probing {} provider(s)", to_probe.len()));
    let probes = to_probe.iter().map(|e| async move {
        let name = e.routing.name.clone();
        let kind = e.routing.kind;
        let base = e.adapter.base_url.clone();
        let started = Instant::now();
        let result = match ax_providers::build_provider(e.adapter.clone()) {
            Err(err) => Err(err),
            Ok(p) => match tokio::time::timeout(PROBE_TIMEOUT, p.probe()).await {
                Ok(r) => r,
                Err(_) => Err(ax_core::GatewayError::new(
                    ax_core::ErrorCode::Timeout,
                    format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
                )),
            },
        };
        probe_check(&name, kind, &base, started.elapsed(), result)
    });
    let results = futures::future::join_all(probes).await;
    bar.finish_and_clear();
    checks.extend(results);
    checks
}

fn probe_check(
    name: &str,
    kind: ProviderKind,
    base_url: &str,
    took: Duration,
    result: Result<(), ax_core::GatewayError>,
) -> Check {
    let label = format!("{name}: probe");
    match result {
        Ok(()) if kind == ProviderKind::Mock => {
            Check::new(label, Status::Ok, "built-in mock (no network)")
        }
        Ok(()) => Check::new(
            label,
            Status::Ok,
            format!("{base_url} answered in {} ms", took.as_millis()),
        ),
        Err(e) => {
            let status = if matches!(
                e.code,
                ax_core::ErrorCode::RateLimitExceeded | ax_core::ErrorCode::QuotaExceeded
            ) {
                Status::Warn
            } else {
                Status::Fail
            };
            let check = Check::new(
                label,
                status,
                format!("{base_url}: {}: {}", e.code.as_str(), e.message),
            );
            match test_fix(&e, name, kind, base_url) {
                Some(fix) => check.fix(fix),
                None => check.fix(format!("try `ax provider test {name}` for details")),
            }
        }
    }
}

/// Where the listen address came from, in `ax serve`'s order of precedence.
fn listen_source(args: &DoctorArgs, c: &Config) -> &'static str {
    if args.listen.is_some() {
        "--listen"
    } else if std::env::var("AX_LISTEN").is_ok_and(|v| !v.trim().is_empty()) {
        "AX_LISTEN"
    } else if c.listen.to_string() == ax_server::config::DEFAULT_LISTEN {
        "default"
    } else {
        "ax.toml"
    }
}

/// `http://` and `addr`, a wildcard address (`0.0.0.0`, `::`) made loopback.
fn url_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Whether the admin API is usable at the address `ax serve` would listen on;
/// `source` says where that address came from (`--listen`, `AX_LISTEN`, …).
fn admin_key_check(c: &Config, source: &str) -> Check {
    let loopback = c.listen.ip().is_loopback();
    match (&c.admin_key, loopback) {
        (Some(_), _) => Check::new("admin key", Status::Ok, "AX_ADMIN_KEY is set"),
        (None, true) => Check::new(
            "admin key",
            Status::Ok,
            format!(
                "listen address {} ({source}) is loopback: the admin API is open to local users without a key",
                c.listen
            ),
        ),
        (None, false) => Check::new(
            "admin key",
            Status::Fail,
            format!(
                "listen address {} ({source}) is beyond loopback and AX_ADMIN_KEY is not set: the admin API is disabled",
                c.listen
            ),
        )
        .fix("set AX_ADMIN_KEY (e.g. `export AX_ADMIN_KEY=$(openssl rand -hex 32)`)"),
    }
}

async fn store_check(url: &str) -> Check {
    let shown = redact(url);
    if let Some(path) = sqlite_path(url)
        && !path.exists()
    {
        return Check::new(
            "store",
            Status::Fail,
            format!("{shown}: no database at {}", path.display()),
        )
        .fix("run `ax migrate` (or start `ax serve` once)");
    }
    let store = match ax_store::Store::connect(url).await {
        Ok(s) => s,
        Err(e) => {
            return Check::new("store", Status::Fail, format!("{shown}: {e}"))
                .fix("check AX_DATABASE_URL (e.g. sqlite://ax.db) and the file's permissions");
        }
    };
    let check = match store.ping().await {
        Err(e) => Check::new("store", Status::Fail, format!("{shown}: {e}"))
            .fix("check AX_DATABASE_URL and the file's permissions"),
        Ok(()) => match store.pending_migrations().await {
            Err(e) => Check::new("store", Status::Fail, format!("{shown}: {e}"))
                .fix("check that AX_DATABASE_URL points at an ax database"),
            Ok(pending) if pending.is_empty() => Check::new(
                "store",
                Status::Ok,
                format!(
                    "{shown}: reachable, schema current ({} migrations)",
                    ax_store::Store::known_migrations().len()
                ),
            ),
            Ok(pending) => Check::new(
                "store",
                Status::Fail,
                format!("{shown}: reachable, {} migration(s) pending", pending.len()),
            )
            .fix("run `ax migrate`"),
        },
    };
    store.close().await;
    check
}

/// The store's `provider_configs` rows applied to `config` by `assemble`, as `ax serve`
/// applies them: stored keys open under `AX_MASTER_KEY`, stored settings are valid.
/// Nothing when the store is missing or not migrated (the store check reports that).
async fn stored_config_checks(config: &mut Config, url: &str) -> Vec<Check> {
    let Some(store) = open_if_migrated(url).await else {
        return Vec::new();
    };
    let checks = match assemble(config, &store).await {
        Ok(out) => assembled_checks(&out),
        Err(e) if e.is_master_key() => vec![
            Check::new("stored provider keys", Status::Fail, e.to_string()).fix(
                "set AX_MASTER_KEY to the key the provider keys were stored under, or store them again with `ax provider configure <name> --api-key-stdin`",
            ),
        ],
        Err(e) => {
            let fix = match &e {
                AssembleError::Row {
                    provider, field, ..
                } => format!(
                    "correct `{field}` in the stored config of `{provider}` (PUT /admin/provider-configs/{provider})"
                ),
                _ => "check AX_DATABASE_URL and the file's permissions".to_owned(),
            };
            vec![Check::new("stored provider settings", Status::Fail, e.to_string()).fix(fix)]
        }
    };
    store.close().await;
    checks
}

/// What the stored rows changed, as checks (none when they changed nothing).
fn assembled_checks(out: &Assembled) -> Vec<Check> {
    let mut checks = Vec::new();
    if !out.stored_keys.is_empty() {
        checks.push(Check::new(
            "stored provider keys",
            Status::Ok,
            format!(
                "{} open under AX_MASTER_KEY: {}",
                out.stored_keys.len(),
                out.stored_keys.join(", ")
            ),
        ));
    }
    let mut parts = Vec::new();
    if !out.applied.is_empty() {
        parts.push(format!("applied: {}", out.applied.join(", ")));
    }
    if !out.unused.is_empty() {
        parts.push(format!("not used: {}", out.unused.join("; ")));
    }
    if !parts.is_empty() {
        checks.push(Check::new(
            "stored provider settings",
            Status::Ok,
            parts.join("; "),
        ));
    }
    checks
}

/// Open circuits on the running server; skipped when no server answers.
async fn circuit_checks(url: &str) -> anyhow::Result<Vec<Check>> {
    let client = AdminClient::with_timeouts(url, Duration::from_secs(2), Duration::from_secs(5))?;
    let status: ProvidersStatus = match client.get("admin/providers", &[]).await {
        Ok(s) => s,
        Err(CallError::Unreachable(_)) => {
            return Ok(vec![Check::new(
                "circuits",
                Status::Skip,
                format!("no server at {url}; circuit check skipped"),
            )]);
        }
        Err(CallError::Api(e)) => {
            return Ok(vec![
                Check::new("circuits", Status::Warn, format!("{url}: {e}"))
                    .fix("check --url/AX_URL and AX_ADMIN_KEY"),
            ]);
        }
        Err(CallError::Other(e)) => {
            return Ok(vec![
                Check::new("circuits", Status::Warn, format!("{e}"))
                    .fix("check --url/AX_URL and AX_ADMIN_KEY"),
            ]);
        }
    };
    let mut checks = Vec::new();
    for p in status.providers.iter().filter(|p| p.enabled) {
        let last = p
            .last_error
            .as_ref()
            .map(|e| format!("; last error {}: {}", e.code, e.message))
            .unwrap_or_default();
        match p.circuit.state.as_str() {
            "open" => checks.push(
                Check::new(
                    format!("{}: circuit", p.name),
                    Status::Fail,
                    format!(
                        "open since {}{last}",
                        p.circuit.opened_at.as_deref().unwrap_or("?")
                    ),
                )
                .fix(format!(
                    "fix the upstream (`ax provider test {0}`), then `ax provider circuit reset {0}`",
                    p.name
                )),
            ),
            "half_open" => checks.push(Check::new(
                format!("{}: circuit", p.name),
                Status::Warn,
                format!("half-open: the next request is a probe{last}"),
            )),
            _ => {}
        }
    }
    if checks.is_empty() {
        checks.push(Check::new(
            "circuits",
            Status::Ok,
            format!("{url}: every enabled provider's circuit is closed"),
        ));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(path: &str, key: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            path: path.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn config_failures_carry_a_concrete_fix() {
        let c = config_failure(&invalid(
            "ax.toml",
            "providers[0].api_key_env",
            "`ANTHROPIC_API_KEY` is not set",
        ));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.as_deref(), Some("set ANTHROPIC_API_KEY"));
        let c = config_failure(&invalid("ax.toml", "listen", "not an address"));
        assert_eq!(c.fix.as_deref(), Some("fix `listen` in ax.toml"));
        let c = config_failure(&invalid(
            "environment",
            "PROVIDER_CIRCUIT_THRESHOLD",
            "expected a number, got `x`",
        ));
        assert_eq!(
            c.fix.as_deref(),
            Some("fix the environment variable PROVIDER_CIRCUIT_THRESHOLD")
        );
    }

    #[test]
    fn the_url_of_a_wildcard_listen_address_is_loopback() {
        let url = |a: &str| url_of(a.parse().unwrap_or_else(|_| panic!("{a}")));
        assert_eq!(url("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80");
    }

    #[test]
    fn probe_failures_map_to_fixes() {
        use ax_core::{ErrorCode, GatewayError};
        let took = Duration::from_millis(5);
        let c = probe_check(
            "claude",
            ProviderKind::Anthropic,
            "https://api.anthropic.com",
            took,
            Err(GatewayError::new(ErrorCode::AuthenticationError, "bad key")),
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.fix.as_deref(),
            Some("check ANTHROPIC_API_KEY: the upstream rejected it")
        );
        let c = probe_check(
            "openai",
            ProviderKind::OpenAi,
            "https://api.openai.com",
            took,
            Err(GatewayError::new(ErrorCode::RateLimitExceeded, "slow down")),
        );
        assert_eq!(c.status, Status::Warn);
        let c = probe_check("mock", ProviderKind::Mock, "", took, Ok(()));
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.fix, None);
    }
}
