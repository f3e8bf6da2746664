//! Command implementations; each calls into the library crates.

mod doctor;
mod migrate;
mod provider;
mod route;
mod serve;

use std::process::ExitCode;

use crate::cli::{Cli, Command, ProviderCommand, RouteCommand};

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Migrate(args) => migrate::run(args).await,
            Command::Provider(cmd) => match cmd {
                ProviderCommand::Health(args) => provider::health(args).await,
                ProviderCommand::Stats(args) => provider::stats(args).await,
                ProviderCommand::Logs(args) => provider::logs(args).await,
                ProviderCommand::Circuit(cmd) => provider::circuit(cmd).await,
                ProviderCommand::Test(args) => provider::test(args).await,
            },
            Command::Route(cmd) => match cmd {
                RouteCommand::Explain(args) => route::explain(args).await,
            },
            Command::Doctor(args) => doctor::run(args).await,
        }
    })
}
