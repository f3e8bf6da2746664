//! `ax serve`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use ax_core::ProviderKind;
use ax_server::{Config, ServeOptions};

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    crate::fd_limit::report(&crate::fd_limit::raise_to_hard());
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen.parse().with_context(|| {
            format!("--listen: `{listen}` is not an address like 127.0.0.1:8080")
        })?;
    }
    let options = ServeOptions {
        insecure_no_auth: args.insecure_no_auth,
        ..ServeOptions::default()
    };
    let server = ax_server::start(config, options, shutdown_signal()).await?;
    // Decided on what the server runs: a key stored with `ax provider configure` is only
    // applied by `start` (with the rest of the stored provider settings).
    let providers = server.state.router().providers_status();
    let enabled: Vec<&str> = providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.name.as_str())
        .collect();
    if !providers
        .iter()
        .any(|p| p.enabled && p.kind != ProviderKind::Mock)
    {
        tracing::warn!(
            "NO PROVIDER CONFIGURED: serving the built-in mock provider for every model. \
             Set ANTHROPIC_API_KEY, GEMINI_API_KEY or OPENAI_API_KEY (or write ax.toml) to use real providers."
        );
        eprintln!(
            "\n  ax: no provider configured; serving the built-in MOCK provider (answers are fake).\n"
        );
    }
    tracing::info!(addr = %server.addr, providers = ?enabled, "ax listening");
    eprintln!("ax listening on http://{}", server.addr);
    server.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// Log lines on stderr; colour codes only for a terminal and without `NO_COLOR` (a
/// log file or journald would otherwise store raw escape sequences).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
