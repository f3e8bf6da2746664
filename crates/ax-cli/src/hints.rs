//! Concrete fixes for provider problems: which variable holds which provider's key, as
//! the provider registry declares it.

use ax_core::ProviderKind;
use ax_providers::registry::{self, KeyUse};

/// The environment variable(s) that hold the key of an env-mode provider, by name.
fn env_key_var(name: &str) -> Option<&'static str> {
    registry::kinds()
        .iter()
        .filter_map(|s| s.env.as_ref())
        .find(|e| e.name == name)
        .map(|e| e.key_hint)
}

/// Whether a provider of `kind` cannot work without an API key.
pub fn needs_key(kind: ProviderKind) -> bool {
    registry::spec(kind).is_some_and(|s| s.key == KeyUse::Required)
}

/// The variable or setting that holds `name`'s key, for messages like "check X".
pub fn key_source(name: &str, kind: ProviderKind) -> String {
    match env_key_var(name) {
        Some(var) => var.to_owned(),
        None => format!("the {kind} key of provider `{name}` (its `api_key_env` in ax.toml)"),
    }
}

/// The fix for a provider that has no key: "set ANTHROPIC_API_KEY", or the ax.toml
/// setting for providers named there.
pub fn set_key_fix(name: &str, kind: ProviderKind) -> String {
    match env_key_var(name) {
        Some(var) => format!("set {var}"),
        None => format!(
            "set `api_key_env` (or `api_key`) of provider `{name}` in ax.toml, and export that variable ({kind} key)"
        ),
    }
}
