//! Provider API keys stored in the database (`ax provider configure`, `PUT
//! /admin/provider-configs/{name}`), encrypted under `AX_MASTER_KEY` (DESIGN §8).
//!
//! At start, a provider with no API key from the environment or ax.toml takes the one
//! stored for its name, if its `provider_configs` row is enabled; that enables it. A
//! stored key that cannot be opened — `AX_MASTER_KEY` missing, malformed or not the key
//! it was sealed with — stops the start with a message saying exactly that; a key from
//! the environment or ax.toml always wins and is never compared with the stored one.

use ax_core::ProviderKind;
use ax_store::tenancy::secrets::MasterKey;
use ax_store::{ProviderConfigStore, Store};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

/// Fills in missing provider keys from the store; returns the providers that got one.
pub async fn apply_stored(config: &mut Config, store: &Store) -> Result<Vec<String>, String> {
    let stored = store
        .list_provider_configs()
        .await
        .map_err(|e| format!("cannot read provider configs: {e}"))?;
    let mut master: Option<MasterKey> = None;
    let mut applied = Vec::new();
    for entry in config.providers.iter_mut() {
        if entry.adapter.api_key.is_some() || entry.routing.kind == ProviderKind::Mock {
            continue;
        }
        let Some(row) = stored
            .iter()
            .find(|r| r.config.provider == entry.routing.name && r.config.enabled)
        else {
            continue;
        };
        let Some(sealed) = row.config.api_key_encrypted.as_deref() else {
            continue;
        };
        if master.is_none() {
            let key = MasterKey::parse(config.master_key.as_ref().map(|k| k.expose_secret()))
                .map_err(|e| {
                    format!(
                        "provider `{}` has an encrypted API key in the store: {e}",
                        entry.routing.name
                    )
                })?;
            master = Some(key);
        }
        let Some(m) = master.as_ref() else { continue };
        let plain = m
            .open(&entry.routing.name, sealed)
            .map_err(|e| e.to_string())?;
        entry.adapter.api_key = Some(SecretString::from(plain));
        entry.routing.enabled = true;
        for p in config
            .router
            .providers
            .iter_mut()
            .filter(|p| p.name == entry.routing.name)
        {
            p.enabled = true;
        }
        applied.push(entry.routing.name.clone());
    }
    if !applied.is_empty() {
        config.mock_only = !config
            .providers
            .iter()
            .any(|e| e.routing.enabled && e.routing.kind != ProviderKind::Mock);
    }
    Ok(applied)
}
