//! Command implementations; each calls into the library crates.

mod doctor;
pub(crate) mod import;
pub(crate) mod key;
mod migrate;
mod provider;
pub(crate) mod provider_configure;
mod route;
mod serve;
pub(crate) mod tenant;

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
                ProviderCommand::Configure(args) => provider_configure::run(args).await,
            },
            Command::Route(cmd) => match cmd {
                RouteCommand::Explain(args) => route::explain(args).await,
            },
            Command::Doctor(args) => doctor::run(args).await,
            Command::Tenant(cmd) => tenant::run(cmd).await,
            Command::Key(cmd) => key::run(cmd).await,
            Command::Import(cmd) => import::run(cmd).await,
        }
    })
}
