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
    /// Provider health, statistics, request logs, circuits and test requests.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Routing: which targets a request would try.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Check configuration, keys, providers, store and circuits; suggest fixes.
    ///
    /// Exits 1 when a check fails (warnings do not fail).
    #[command(after_help = "Examples:\n  ax doctor\n  ax doctor --config ax.toml --json")]
    Doctor(DoctorArgs),
    /// Tenants: create, list, show, update, suspend, activate, decommission, delete
    /// (writes the store directly; works with the server down).
    #[command(subcommand)]
    Tenant(crate::commands::tenant::TenantCommand),
    /// Gateway keys: create (shown once), list, revoke (writes the store directly).
    #[command(subcommand)]
    Key(crate::commands::key::KeyCommand),
    /// Bring tenants and keys from a JSON export into the store (docs/import.md).
    #[command(subcommand)]
    Import(crate::commands::import::ImportCommand),
}

/// Options shared by commands that talk to a running gateway.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// URL of the running gateway; its admin key is read from AX_ADMIN_KEY.
    #[arg(long, env = "AX_URL", default_value = crate::client::DEFAULT_URL)]
    pub url: String,
}

/// `ax provider …`.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Every provider's health, circuit, latency and last error (from the running server).
    #[command(
        after_help = "Examples:\n  ax provider health\n  ax provider health --json --url http://127.0.0.1:9000"
    )]
    Health(HealthArgs),
    /// Per provider and model: requests, success rate, latency, tokens, fallbacks, cost
    /// (from the store; works with the server down).
    #[command(after_help = "Examples:\n  ax provider stats\n  ax provider stats --time 1 --json")]
    Stats(StatsArgs),
    /// Recent requests, newest first (from the store; works with the server down).
    #[command(
        after_help = "Examples:\n  ax provider logs\n  ax provider logs --provider claude --failed -n 50\n  ax provider logs --json | jq '.[].error_code'"
    )]
    Logs(LogsArgs),
    /// Circuit breakers: status, or a manual reset.
    #[command(subcommand)]
    Circuit(CircuitCommand),
    /// Send one real request through a provider's adapter (works with the server down).
    ///
    /// Ends with the latency, first-token latency and tokens. Exits 1 if the request fails.
    #[command(
        after_help = "Examples:\n  ax provider test claude\n  ax provider test openai --stream --model gpt-4o-mini --prompt 'Say hi'\n  ax provider test mock --json"
    )]
    Test(TestArgs),
    /// Store a provider's API key, encrypted under AX_MASTER_KEY (read from stdin).
    #[command(
        after_help = "Examples:\n  printf %s \"$OPENAI_API_KEY\" | ax provider configure openai --api-key-stdin"
    )]
    Configure(crate::commands::provider_configure::ConfigureArgs),
}

/// `ax provider circuit …`.
#[derive(Debug, Subcommand)]
pub enum CircuitCommand {
    /// Every provider's circuit state.
    #[command(
        after_help = "Examples:\n  ax provider circuit status\n  ax provider circuit status --json"
    )]
    Status(CircuitStatusArgs),
    /// Close a provider's circuit now.
    #[command(after_help = "Examples:\n  ax provider circuit reset claude")]
    Reset(CircuitResetArgs),
}

/// `ax route …`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// The plan a request for MODEL would follow, with each target's health and circuit.
    #[command(
        after_help = "Examples:\n  ax route explain default\n  ax route explain claude-3-5-sonnet-20241022 --json\n  ax route explain gemini/gemini-2.0-flash --no-fallback"
    )]
    Explain(ExplainArgs),
}

/// `ax provider health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The gateway.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax provider stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The window, in hours back from now.
    #[arg(long, value_name = "HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=87_600))]
    pub time: u32,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax provider logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this provider's requests.
    #[arg(long, short = 'p', value_name = "P")]
    pub provider: Option<String>,
    /// How many requests.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub number: u32,
    /// Only failed requests.
    #[arg(long)]
    pub failed: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax provider circuit status`.
#[derive(Debug, Args)]
pub struct CircuitStatusArgs {
    /// The gateway.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax provider circuit reset`.
#[derive(Debug, Args)]
pub struct CircuitResetArgs {
    /// The provider whose circuit to close.
    pub provider: String,
    /// The gateway.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax provider test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The provider (a name from `ax provider health`, e.g. claude, gemini, openai, mock).
    pub provider: String,
    /// Stream the answer, printing text as it arrives.
    #[arg(long)]
    pub stream: bool,
    /// The model (default: the provider's default model).
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// The prompt.
    #[arg(long, value_name = "TEXT", default_value = "Say hello in five words.")]
    pub prompt: String,
    /// Maximum output tokens.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_tokens: u32,
    /// ax.toml to read (else AX_CONFIG, else environment only).
    #[arg(long, env = "AX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON (the text is not streamed to the terminal).
    #[arg(long)]
    pub json: bool,
}

/// `ax route explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A model as a client would send it: provider/model, a route name or a bare model.
    pub model: String,
    /// The plan with fallback off (as with `x-ax-fallback: off`).
    #[arg(long)]
    pub no_fallback: bool,
    /// The gateway.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// ax.toml to read (else AX_CONFIG, else environment only).
    #[arg(long, env = "AX_CONFIG")]
    pub config: Option<PathBuf>,
    /// The store to check (default: the configuration's, sqlite://ax.db).
    #[arg(long, env = "AX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The address `ax serve` listens on, as given to `ax serve --listen` (default:
    /// AX_LISTEN, else ax.toml's `listen`, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The running gateway whose circuits to check (default: http:// and the listen
    /// address).
    #[arg(long, env = "AX_URL")]
    pub url: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
