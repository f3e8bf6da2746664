//! The command line, as clap-derive types: one enum variant per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ax — a multi-provider LLM gateway.
#[derive(Debug, Parser)]
#[command(name = "ax", version, about, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every `ax` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    ///
    /// With no provider key in the environment and no ax.toml, it serves the built-in
    /// mock provider.
    #[command(
        after_help = "Examples:\n  ax serve\n  ax serve --config ax.toml --listen 127.0.0.1:9000"
    )]
    Serve(ServeArgs),
    /// Apply the store's schema migrations.
    #[command(after_help = "Examples:\n  ax migrate\n  ax migrate --dry-run --json")]
    Migrate(MigrateArgs),
}

/// Options shared by commands that read the store.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The store (default sqlite://ax.db).
    #[arg(long, env = "AX_DATABASE_URL", default_value = "sqlite://ax.db")]
    pub database_url: String,
}

/// `ax serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// ax.toml to read (else AX_CONFIG, else environment only).
    #[arg(long, env = "AX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080; AX_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
    /// Allow a non-loopback address with no client authentication.
    #[arg(long)]
    pub insecure_no_auth: bool,
}

/// `ax migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// List pending migrations without applying them.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
