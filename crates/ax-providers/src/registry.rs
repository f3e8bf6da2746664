//! The provider registry: everything ax knows about a provider *kind*, in one entry per
//! kind — the environment variables of its env-only provider, its own settings (a typed
//! struct with `deny_unknown_fields`, so a key of another kind is an error naming it),
//! its defaults and its builder.
//!
//! Each kind's module declares its [`ProviderKindSpec`] next to its adapter; this file
//! only lists them. Adding a kind is its module plus one line in [`KINDS`] (and its name
//! in `ax_core::ProviderKind`). Configuration code (`ax-server`'s config loader and
//! `assemble`, the CLI's hints) reads kinds from here instead of matching on them.
//!
//! Settings common to every kind (key, base URL, default model, timeouts, routing) are
//! not here: they are fields of [`ProviderConfig`] and of the router's settings. A
//! kind's own settings arrive as a JSON object ([`SettingsMap`]) — from `ax.toml`, from
//! the environment ([`EnvProvider::settings_vars`]) and from a stored row's
//! `config_json` — and only its [`ProviderKindSpec::apply_settings`] knows their shape.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use ax_core::{GatewayError, Provider, ProviderKind};
use serde::de::DeserializeOwned;

use crate::config::ProviderConfig;
use crate::{anthropic, gemini, mock, openai};

/// A kind's own settings as given: key → value (JSON), before the kind parses them.
pub type SettingsMap = serde_json::Map<String, serde_json::Value>;

/// Every provider kind. The order is that of the env-only providers in listings
/// (`claude`, `gemini`, `openai`) and in the router's configuration.
static KINDS: &[&ProviderKindSpec] = &[
    &anthropic::KIND,
    &gemini::KIND,
    &openai::KIND,
    &openai::COMPATIBLE_KIND,
    &mock::KIND,
];

/// Every registered kind, in registry order.
pub fn kinds() -> &'static [&'static ProviderKindSpec] {
    KINDS
}

/// The registry entry of `kind`; `None` only for a kind added to `ProviderKind` but
/// not (yet) to [`KINDS`] — callers turn that into a configuration error.
pub fn spec(kind: ProviderKind) -> Option<&'static ProviderKindSpec> {
    KINDS.iter().copied().find(|s| s.kind == kind)
}

/// Whether a kind needs an API key to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// It cannot call its upstream without one (openai, anthropic, gemini).
    Required,
    /// Some servers want one, many do not (openai-compatible).
    Optional,
    /// It takes none (mock): a key given to it is not used.
    None,
}

/// The provider a kind brings up in env-only mode (DESIGN §5), with the variables that
/// configure it. Variable names are part of the public contract: never rename them.
#[derive(Debug)]
pub struct EnvProvider {
    /// Provider name (`claude`, `gemini`, `openai`).
    pub name: &'static str,
    /// Variables holding its key, the first set one wins.
    pub key_vars: &'static [&'static str],
    /// How messages name the key variable(s), e.g. `GEMINI_API_KEY (or GOOGLE_API_KEY)`.
    pub key_hint: &'static str,
    /// Variable overriding the base URL.
    pub base_url_var: &'static str,
    /// Variable overriding the default model.
    pub default_model_var: &'static str,
    /// Variables of the kind's own settings: (variable, settings key).
    pub settings_vars: &'static [(&'static str, &'static str)],
    /// Bare-model patterns it serves (`gpt-*`).
    pub models: &'static [&'static str],
    /// Its priority among providers matching the same bare model (lower first).
    pub priority: i32,
}

/// Everything ax knows about one provider kind.
pub struct ProviderKindSpec {
    /// The kind; its config and log name is `kind.as_str()`.
    pub kind: ProviderKind,
    /// Base URL when none is configured.
    pub default_base_url: &'static str,
    /// Model used when neither the request nor the configuration names one.
    pub default_model: &'static str,
    /// Whether it needs an API key.
    pub key: KeyUse,
    /// Its env-only provider, if it has one.
    pub env: Option<EnvProvider>,
    /// Parses the kind's own settings (typed, unknown keys refused) and applies the
    /// ones given to `cfg`; settings not in `settings` keep their value in `cfg`.
    pub apply_settings: fn(&SettingsMap, &mut ProviderConfig) -> Result<(), SettingsError>,
    /// Builds the adapter from its resolved configuration.
    pub build: fn(ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError>,
}

impl fmt::Debug for ProviderKindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderKindSpec")
            .field("kind", &self.kind)
            .field("default_base_url", &self.default_base_url)
            .field("default_model", &self.default_model)
            .field("key", &self.key)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

/// A kind's own setting that was refused: unknown for the kind, or a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// The key at fault (`safety_threshold`), or `.` when the error is about the whole.
    pub key: String,
    /// Why, e.g. "unknown field `safety_threshold`, expected `organization`".
    pub message: String,
}

impl SettingsError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Parses a kind's settings into its typed struct `T` (which should deny unknown
/// fields); the error names the key at fault.
pub fn parse_settings<T: DeserializeOwned>(settings: &SettingsMap) -> Result<T, SettingsError> {
    // Settings are parsed at start and on admin writes, never per request: the copy
    // into a `Value` costs nothing that matters.
    let value = serde_json::Value::Object(settings.clone());
    // The path names the key at fault, an unknown one included.
    serde_path_to_error::deserialize(value).map_err(|e| SettingsError {
        key: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A kind's own typed settings, held for its adapter without this crate's config types
/// knowing every kind: the kind's `apply_settings` stores them with [`KindSettings::new`]
/// and its adapter reads them back with [`KindSettings::get`]. (An enum of every kind's
/// settings was the alternative; it would make each new kind edit a shared type.)
#[derive(Clone, Default)]
pub struct KindSettings(Option<Arc<dyn AnySettings>>);

/// What [`KindSettings`] can hold.
trait AnySettings: Any + fmt::Debug + Send + Sync {}

impl<T: Any + fmt::Debug + Send + Sync> AnySettings for T {}

impl KindSettings {
    /// Holds `settings`.
    pub fn new<T: Any + fmt::Debug + Send + Sync>(settings: T) -> Self {
        Self(Some(Arc::new(settings)))
    }

    /// The settings if they are a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        let any: &dyn Any = self.0.as_deref()?;
        any.downcast_ref()
    }
}

impl fmt::Debug for KindSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => s.fmt(f),
            None => f.write_str("default"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: serde_json::Value) -> SettingsMap {
        match v {
            serde_json::Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn every_kind_has_one_entry() {
        for name in ["openai", "anthropic", "gemini", "openai-compatible", "mock"] {
            let kind: ProviderKind = name.parse().unwrap_or_else(|e| panic!("{e}"));
            let n = kinds().iter().filter(|s| s.kind == kind).count();
            assert_eq!(n, 1, "{name}");
        }
        let env: Vec<&str> = kinds()
            .iter()
            .filter_map(|s| s.env.as_ref().map(|e| e.name))
            .collect();
        assert_eq!(env, ["claude", "gemini", "openai"]);
    }

    #[test]
    fn a_key_of_another_kind_is_refused_by_name() {
        let spec = spec(ProviderKind::OpenAi).unwrap_or_else(|| panic!("openai"));
        let mut cfg = ProviderConfig::new("openai", ProviderKind::OpenAi);
        let e = (spec.apply_settings)(
            &map(serde_json::json!({"organization": "org", "safety_threshold": "BLOCK_NONE"})),
            &mut cfg,
        )
        .unwrap_err();
        assert_eq!(e.key, "safety_threshold");
        assert!(
            e.message.contains("unknown field `safety_threshold`"),
            "{e}"
        );

        let e = (spec.apply_settings)(&map(serde_json::json!({"organization": 5})), &mut cfg)
            .unwrap_err();
        assert_eq!(e.key, "organization");
    }

    #[test]
    fn each_kind_applies_its_own_settings() {
        let cases = [
            (
                ProviderKind::OpenAi,
                serde_json::json!({"organization": "org-1"}),
            ),
            (
                ProviderKind::OpenAiCompatible,
                serde_json::json!({"organization": "org-1"}),
            ),
            (
                ProviderKind::Anthropic,
                serde_json::json!({"default_max_tokens": 99}),
            ),
            (
                ProviderKind::Gemini,
                serde_json::json!({"safety_threshold": "BLOCK_NONE"}),
            ),
            (
                ProviderKind::Mock,
                serde_json::json!({"latency_ms": 5, "chunk_delay_ms": 1, "chunks": 3, "failure_rate": 0.5}),
            ),
        ];
        for (kind, settings) in cases {
            let spec = spec(kind).unwrap_or_else(|| panic!("{kind}"));
            let mut cfg = ProviderConfig::new("p", kind);
            (spec.apply_settings)(&map(settings), &mut cfg).unwrap_or_else(|e| panic!("{e}"));
            match kind {
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                    assert_eq!(cfg.organization.as_deref(), Some("org-1"));
                }
                ProviderKind::Anthropic => assert_eq!(cfg.default_max_tokens, 99),
                ProviderKind::Gemini => {
                    assert_eq!(cfg.safety_threshold.as_deref(), Some("BLOCK_NONE"));
                }
                ProviderKind::Mock => {
                    let m = cfg
                        .settings
                        .get::<crate::MockSettings>()
                        .unwrap_or_else(|| panic!("mock settings"));
                    assert_eq!(m.chunks, 3);
                    assert_eq!(m.failure_rate, 0.5);
                    assert_eq!(m.latency, std::time::Duration::from_millis(5));
                }
            }
        }
    }

    #[test]
    fn defaults_come_from_the_kind() {
        let cfg = ProviderConfig::new("claude", ProviderKind::Anthropic);
        assert_eq!(cfg.base_url, "https://api.anthropic.com");
        assert_eq!(cfg.default_model, "claude-3-5-sonnet-20241022");
        assert_eq!(cfg.default_max_tokens, 4096);
        let cfg = ProviderConfig::new("local", ProviderKind::OpenAiCompatible);
        assert_eq!(cfg.base_url, "http://127.0.0.1:8000");
        assert_eq!(cfg.default_model, "default");
    }
}
