//! `ax-mock-upstream`: the mock OpenAI/Anthropic/Gemini upstream as a standalone server
//! (benchmark harness and official-SDK tests).

use std::net::SocketAddr;
use std::process::ExitCode;

use ax_mock_upstream::{Api, MockConfig, MockUpstream};
use clap::Parser;

/// A fast fake of the OpenAI, Anthropic and Gemini HTTP APIs.
#[derive(Debug, Parser)]
#[command(name = "ax-mock-upstream", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "AX_MOCK_LISTEN", default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Delay before response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 5)]
    chunks: usize,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Force this HTTP status (with the provider's error body) on every call.
    #[arg(long)]
    status: Option<u16>,
    /// `Retry-After` seconds sent with a forced status.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Abort streams after this many content chunks.
    #[arg(long)]
    cut_after: Option<usize>,
    /// Send the provider's mid-stream error after this many content chunks.
    #[arg(long)]
    error_after: Option<usize>,
    /// Answer 200 with invalid JSON.
    #[arg(long)]
    malformed: bool,
    /// Never answer.
    #[arg(long)]
    hang: bool,
    /// With --status, echo the request's credentials in the error message.
    #[arg(long)]
    echo_auth: bool,
    /// Embedding vector length when the request does not set one.
    #[arg(long, default_value_t = 16)]
    embedding_dims: usize,
    /// Turn the strict checks off (keys, `anthropic-version`, Gemini model names,
    /// request bodies): what the benchmark runs, so its numbers stay comparable.
    #[arg(long)]
    lenient: bool,
    /// The only OpenAI key strict mode accepts (default: any non-empty key).
    #[arg(long, env = "AX_MOCK_OPENAI_KEY")]
    openai_key: Option<String>,
    /// The only Anthropic key strict mode accepts (default: any non-empty key).
    #[arg(long, env = "AX_MOCK_ANTHROPIC_KEY")]
    anthropic_key: Option<String>,
    /// The only Gemini key strict mode accepts (default: any non-empty key).
    #[arg(long, env = "AX_MOCK_GEMINI_KEY")]
    gemini_key: Option<String>,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ax-mock-upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let config = MockConfig {
        latency_ms: args.latency_ms,
        chunks: args.chunks.max(1),
        chunk_delay_ms: args.chunk_delay_ms,
        status: args.status,
        retry_after_secs: args.retry_after,
        cut_after: args.cut_after,
        error_after: args.error_after,
        malformed: args.malformed,
        hang: args.hang,
        echo_auth: args.echo_auth,
        embedding_dims: args.embedding_dims.max(1),
        lenient: args.lenient,
    };
    let mut server = match MockUpstream::bind(config, args.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ax-mock-upstream: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    for (api, key) in [
        (Api::OpenAi, &args.openai_key),
        (Api::Anthropic, &args.anthropic_key),
        (Api::Gemini, &args.gemini_key),
    ] {
        if let Some(key) = key {
            server = server.with_api_key(api, key);
        }
    }
    let mode = if args.lenient { "lenient" } else { "strict" };
    println!("ax-mock-upstream listening on {} ({mode})", server.url());
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
