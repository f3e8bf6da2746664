//! `ax provider configure <name> --api-key-stdin`: stores a provider API key in the
//! store, encrypted with AES-256-GCM under `AX_MASTER_KEY` (DESIGN §8). The key is
//! read from stdin so it never appears in shell history or `ps`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ax_store::tenancy::secrets::MasterKey;
use ax_store::tenancy::{AuditTarget, NewAudit, TenantStore as _};
use ax_store::{ProviderConfig, ProviderConfigStore as _};
use clap::Args;
use serde_json::json;

use super::tenant::actor;
use crate::cli::StoreArgs;
use crate::output::{outln, print_json};

/// `ax provider configure`.
#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Provider name (`claude`, `gemini`, `openai`, or a name from ax.toml).
    pub name: String,
    /// Read the provider's API key from stdin (one line).
    #[arg(long)]
    pub api_key_stdin: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ax provider configure`.
pub async fn run(a: ConfigureArgs) -> anyhow::Result<ExitCode> {
    if !a.api_key_stdin {
        return Err(crate::error::usage(
            "nothing to configure: pass --api-key-stdin and pipe the key in",
        ));
    }
    let master = MasterKey::parse(std::env::var("AX_MASTER_KEY").ok().as_deref())?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the API key from stdin")?;
    let key = input.trim();
    if key.is_empty() {
        bail!("no API key on stdin");
    }
    let sealed = master.seal(&a.name, key)?;
    let store = crate::store::open_existing(&a.store.database_url).await?;
    let before = store.provider_config(&a.name).await?;
    let mut config = before
        .as_ref()
        .map(|c| c.config.clone())
        .unwrap_or_else(|| ProviderConfig::new(a.name.clone()));
    config.api_key_encrypted = Some(sealed);
    let stored = store.upsert_provider_config(&config).await?;
    store
        .record_audit(&NewAudit {
            actor: actor(),
            action: "provider_config.api_key.set".into(),
            target_type: AuditTarget::ProviderConfig,
            target_id: Some(a.name.clone()),
            before: Some(json!({"has_api_key": before.is_some_and(|b| b.config.api_key_encrypted.is_some())})),
            after: Some(json!({"has_api_key": true, "master_key_id": master.fingerprint()})),
        })
        .await?;
    store.close().await;
    if a.json {
        print_json(&json!({
            "provider": stored.config.provider,
            "has_api_key": true,
            "master_key_id": master.fingerprint(),
            "updated_at": stored.updated_at,
        }))?;
    } else {
        outln!(
            "stored the API key of {} (encrypted; master key id {})",
            a.name,
            master.fingerprint()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
