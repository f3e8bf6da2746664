//! The one place where a provider's final configuration is put together: the
//! environment and `ax.toml` (merged by [`Config::load`]) completed by the store's
//! `provider_configs` rows (`PUT /admin/provider-configs/{name}`, `ax provider
//! configure`). `ax serve`, `ax doctor` and `ax provider test` all call [`assemble`],
//! so they agree on what a provider is.
//!
//! **Precedence, per setting: a value set explicitly in the environment or `ax.toml`
//! wins; else the stored row's value; else the kind's default.** Env and `ax.toml` are
//! what the operator deploys with, so a row in a database cannot silently override
//! them; the row replaces only what nobody set. A stored value not used because of
//! that is listed in [`Assembled::unused`] (logged at start, shown by `ax doctor`).
//!
//! What a row's columns become:
//! - `api_key_encrypted` → the API key (opened under `AX_MASTER_KEY`), used when the
//!   environment and `ax.toml` give none and the row is enabled; it enables the
//!   provider. A key that cannot be opened stops the start.
//! - `enabled = false` → the provider is disabled (unless `ax.toml` says `enabled`).
//! - `priority`, `api_url` (→ base URL), `default_model`, `max_retries`, `timeout_ms`
//!   (→ the whole upstream call; the first-byte timeout is capped by it),
//!   `rate_limit_rpm`, `rate_limit_tpm` → the same settings as in `ax.toml`.
//! - `config_json` → the kind's own settings (`organization`, `default_max_tokens`,
//!   `safety_threshold`, the mock's knobs), through the kind's typed settings: a key
//!   the kind does not have is refused.
//! - `fallback_providers` → the router has one fallback chain (`PRIMARY_PROVIDER` then
//!   `FALLBACK_CHAIN`), so the list of the primary provider's row is the
//!   `FALLBACK_CHAIN` when neither the environment nor `ax.toml` sets one; the lists of
//!   the other rows apply when their provider is made primary. An empty list is "not
//!   set" (turn fallback off with `PROVIDER_FALLBACK_ENABLED=false`).
//!
//! A row that cannot be applied — an unknown `config_json` key, a base URL that is not
//! http(s), a number out of range, a fallback to an unknown provider — is an error
//! naming the provider and the column, never skipped. [`check_row`] applies the same
//! checks to a row before the admin API stores it. A row for a provider that neither
//! the environment nor `ax.toml` defines (its kind is unknown) is listed as unused.

use std::time::Duration;

use ax_core::ProviderKind;
use ax_providers::registry::{self, KeyUse};
use ax_store::tenancy::secrets::{MasterKey, SecretError};
use ax_store::{ProviderConfig as StoredRow, ProviderConfigStore, StoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, ProviderEntry, is_http_url};

/// Why the stored rows cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The rows could not be read.
    #[error("cannot read provider configs: {0}")]
    Store(#[source] StoreError),
    /// `AX_MASTER_KEY` is missing or malformed while a stored key needs it.
    #[error("provider `{provider}` has an encrypted API key in the store: {source}")]
    MasterKey {
        /// The provider whose key needs it.
        provider: String,
        /// Missing or malformed.
        #[source]
        source: SecretError,
    },
    /// A stored key does not open under `AX_MASTER_KEY` (the message names the provider).
    #[error(transparent)]
    Open(SecretError),
    /// A row holds a value that cannot be applied.
    #[error("stored config of provider `{provider}`: {field}: {reason}")]
    Row {
        /// The row's provider.
        provider: String,
        /// The column (`api_url`, `config_json.safety_threshold`, …).
        field: String,
        /// Why.
        reason: String,
    },
}

impl AssembleError {
    /// Whether the fix is `AX_MASTER_KEY` (rather than the row).
    pub fn is_master_key(&self) -> bool {
        matches!(self, Self::MasterKey { .. } | Self::Open(_))
    }

    fn row(provider: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Row {
            provider: provider.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What [`assemble`] took from the store, for the start-up log and `ax doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assembled {
    /// Providers that use the API key stored for them.
    pub stored_keys: Vec<String>,
    /// Stored settings that changed the configuration, as `provider.setting`.
    pub applied: Vec<String>,
    /// Stored values not used, each with the reason.
    pub unused: Vec<String>,
}

impl Assembled {
    /// Logs what was applied and what was not (at start).
    pub fn log(&self) {
        for name in &self.stored_keys {
            tracing::info!(provider = %name, "using the API key stored (encrypted) in the store");
        }
        if !self.applied.is_empty() {
            tracing::info!(settings = ?self.applied, "applied stored provider settings");
        }
        for note in &self.unused {
            tracing::info!("stored provider setting not used: {note}");
        }
    }
}

/// Completes `config` (environment + `ax.toml`) with the store's `provider_configs`
/// rows, by the precedence in the module docs.
pub async fn assemble(
    config: &mut Config,
    store: &(impl ProviderConfigStore + ?Sized),
) -> Result<Assembled, AssembleError> {
    let rows: Vec<StoredRow> = store
        .list_provider_configs()
        .await
        .map_err(AssembleError::Store)?
        .into_iter()
        .map(|r| r.config)
        .collect();
    apply_rows(config, &rows)
}

/// [`assemble`] with the rows already read.
pub fn apply_rows(config: &mut Config, rows: &[StoredRow]) -> Result<Assembled, AssembleError> {
    let mut out = Assembled::default();
    let known: Vec<String> = config
        .providers
        .iter()
        .map(|e| e.routing.name.clone())
        .collect();
    let mut master: Option<MasterKey> = None;
    for row in rows {
        let Some(entry) = config
            .providers
            .iter_mut()
            .find(|e| e.routing.name == row.provider)
        else {
            out.unused.push(format!(
                "{}: no provider of that name in the environment or ax.toml (add it to ax.toml with its kind)",
                row.provider
            ));
            continue;
        };
        apply_settings(entry, row, &mut out)?;
        apply_key(
            entry,
            row,
            config.master_key.as_ref(),
            &mut master,
            &mut out,
        )?;
        apply_enabled(entry, row, &mut out);
        if config.router.primary_provider.as_deref() != Some(row.provider.as_str()) {
            // A dormant list (used once its provider is primary) is checked, not refused:
            // it does not affect this start.
            if let Some(name) = unknown_fallback(row, &known) {
                out.unused.push(format!(
                    "{}.fallback_providers: names unknown provider `{name}`",
                    row.provider
                ));
            }
        }
    }
    apply_fallback_chain(config, rows, &known, &mut out)?;
    config.router.providers = config.providers.iter().map(|e| e.routing.clone()).collect();
    config.mock_only = !config
        .providers
        .iter()
        .any(|e| e.routing.enabled && e.routing.kind != ProviderKind::Mock);
    Ok(out)
}

/// Checks `row` as [`assemble`] would apply it to a provider of `kind` (`None`: no
/// provider of that name is configured), `known` being the configured provider names.
/// The admin API calls it before storing a row, so a row it accepts does not stop the
/// next start (unless the configuration changes under it).
pub fn check_row(
    row: &StoredRow,
    kind: Option<ProviderKind>,
    known: &[String],
) -> Result<(), AssembleError> {
    if let Some(name) = unknown_fallback(row, known) {
        return Err(AssembleError::row(
            &row.provider,
            "fallback_providers",
            format!("unknown provider `{name}` (known: {})", known.join(", ")),
        ));
    }
    match kind {
        Some(kind) => {
            let mut scratch = ProviderEntry::new(&row.provider, kind);
            apply_settings(&mut scratch, row, &mut Assembled::default())?;
            let takes_key = registry::spec(kind).is_none_or(|s| s.key != KeyUse::None);
            if row.api_key_encrypted.is_some() && !takes_key {
                return Err(AssembleError::row(
                    &row.provider,
                    "api_key",
                    format!("a provider of kind {kind} takes no API key"),
                ));
            }
            Ok(())
        }
        None if !row.config_json.is_empty() => Err(AssembleError::row(
            &row.provider,
            "config_json",
            "no provider of that name is configured, so its kind's settings cannot be checked (define it in ax.toml first)",
        )),
        None => common_values(row).map(|_| ()),
    }
}

/// A row's kind-independent values, checked and converted to the configuration's types.
struct Common {
    priority: i32,
    base_url: Option<String>,
    default_model: Option<String>,
    timeout: Duration,
    rpm: Option<u32>,
    tpm: Option<u32>,
}

fn common_values(row: &StoredRow) -> Result<Common, AssembleError> {
    let p = row.provider.as_str();
    let priority = i32::try_from(row.priority)
        .map_err(|_| AssembleError::row(p, "priority", "out of range"))?;
    if let Some(url) = &row.api_url
        && !is_http_url(url)
    {
        return Err(AssembleError::row(
            p,
            "api_url",
            format!("`{url}` must start with http:// or https://"),
        ));
    }
    if row
        .default_model
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return Err(AssembleError::row(p, "default_model", "must not be empty"));
    }
    if row.timeout_ms == 0 {
        return Err(AssembleError::row(p, "timeout_ms", "must be at least 1 ms"));
    }
    let limit = |field: &str, v: Option<u64>| {
        v.map(u32::try_from)
            .transpose()
            .map_err(|_| AssembleError::row(p, field, format!("at most {}", u32::MAX)))
    };
    Ok(Common {
        priority,
        base_url: row.api_url.clone(),
        default_model: row.default_model.clone(),
        timeout: Duration::from_millis(row.timeout_ms),
        rpm: limit("rate_limit_rpm", row.rate_limit_rpm)?,
        tpm: limit("rate_limit_tpm", row.rate_limit_tpm)?,
    })
}

/// Sets `slot` to `stored` unless the environment or ax.toml set it (`explicit`);
/// records which happened when the value differs.
fn take<T: PartialEq>(
    out: &mut Assembled,
    provider: &str,
    field: &str,
    explicit: bool,
    slot: &mut T,
    stored: T,
) -> bool {
    if *slot == stored {
        return false;
    }
    if explicit {
        out.unused.push(format!(
            "{provider}.{field}: the environment or ax.toml sets it"
        ));
        return false;
    }
    *slot = stored;
    out.applied.push(format!("{provider}.{field}"));
    true
}

/// Every stored setting but the key and `enabled`.
fn apply_settings(
    entry: &mut ProviderEntry,
    row: &StoredRow,
    out: &mut Assembled,
) -> Result<(), AssembleError> {
    let c = common_values(row)?;
    let p = row.provider.as_str();
    let (a, r, x) = (&mut entry.adapter, &mut entry.routing, &entry.explicit);
    take(out, p, "priority", x.priority, &mut r.priority, c.priority);
    if let Some(url) = c.base_url {
        take(out, p, "api_url", x.base_url, &mut a.base_url, url);
    }
    if let Some(model) = c.default_model {
        take(
            out,
            p,
            "default_model",
            x.default_model,
            &mut a.default_model,
            model,
        );
    }
    take(
        out,
        p,
        "max_retries",
        x.max_retries,
        &mut r.max_retries,
        row.max_retries,
    );
    if take(
        out,
        p,
        "timeout_ms",
        x.timeout,
        &mut a.timeouts.total,
        c.timeout,
    ) && !x.first_byte_timeout
    {
        a.timeouts.first_byte = a.timeouts.first_byte.min(a.timeouts.total);
    }
    if c.rpm.is_some() {
        take(out, p, "rate_limit_rpm", x.rpm, &mut r.rpm, c.rpm);
    }
    if c.tpm.is_some() {
        take(out, p, "rate_limit_tpm", x.tpm, &mut r.tpm, c.tpm);
    }
    if row.config_json.is_empty() {
        return Ok(());
    }
    let kind = r.kind;
    let spec = registry::spec(kind).ok_or_else(|| {
        AssembleError::row(
            p,
            "config_json",
            format!("kind `{kind}` has no registry entry"),
        )
    })?;
    // The kind's own settings: stored under the explicit ones, parsed as one.
    let mut merged = row.config_json.clone();
    merged.extend(x.settings.clone());
    (spec.apply_settings)(&merged, a).map_err(|e| {
        AssembleError::row(
            p,
            format!("config_json.{}", e.key),
            format!("{} (kind {kind})", e.message),
        )
    })?;
    for key in row.config_json.keys() {
        if x.settings.contains_key(key) {
            out.unused.push(format!(
                "{p}.config_json.{key}: the environment or ax.toml sets it"
            ));
        } else {
            out.applied.push(format!("{p}.{key}"));
        }
    }
    Ok(())
}

/// The stored key, when the environment and ax.toml give none.
fn apply_key(
    entry: &mut ProviderEntry,
    row: &StoredRow,
    master_key: Option<&SecretString>,
    master: &mut Option<MasterKey>,
    out: &mut Assembled,
) -> Result<(), AssembleError> {
    let Some(sealed) = row.api_key_encrypted.as_deref() else {
        return Ok(());
    };
    let p = row.provider.as_str();
    let takes_key = registry::spec(entry.routing.kind).is_none_or(|s| s.key != KeyUse::None);
    let why_not = if !takes_key {
        Some(format!(
            "a provider of kind {} takes none",
            entry.routing.kind
        ))
    } else if !row.enabled {
        Some("the row is disabled".to_owned())
    } else if entry.explicit.api_key {
        // Never opened, so never compared: the deployed key wins as it is.
        Some("the environment or ax.toml gives a key".to_owned())
    } else {
        None
    };
    if let Some(why) = why_not {
        out.unused.push(format!("{p}.api_key: {why}"));
        return Ok(());
    }
    let m = match master {
        Some(m) => m,
        None => master.insert(
            MasterKey::parse(master_key.map(|k| k.expose_secret())).map_err(|source| {
                AssembleError::MasterKey {
                    provider: p.to_owned(),
                    source,
                }
            })?,
        ),
    };
    let plain = m.open(p, sealed).map_err(AssembleError::Open)?;
    entry.adapter.api_key = Some(SecretString::from(plain));
    out.stored_keys.push(p.to_owned());
    Ok(())
}

/// `enabled`: the row may turn a provider off; a provider is on when it has what it
/// needs (a key, for kinds that need one) and nothing turned it off. ax.toml's
/// `enabled` wins.
fn apply_enabled(entry: &mut ProviderEntry, row: &StoredRow, out: &mut Assembled) {
    let p = row.provider.as_str();
    if entry.explicit.enabled {
        if entry.routing.enabled != row.enabled {
            out.unused.push(format!("{p}.enabled: ax.toml sets it"));
        }
        return;
    }
    let needs_key = registry::spec(entry.routing.kind).is_some_and(|s| s.key == KeyUse::Required);
    let usable = entry.adapter.api_key.is_some() || !needs_key;
    if !row.enabled && usable {
        out.applied.push(format!("{p}.enabled"));
    }
    entry.routing.enabled = row.enabled && usable;
}

/// The first name in `row.fallback_providers` that is not a configured provider.
fn unknown_fallback<'a>(row: &'a StoredRow, known: &[String]) -> Option<&'a str> {
    row.fallback_providers
        .iter()
        .find(|n| !known.contains(n))
        .map(String::as_str)
}

/// The primary provider's stored list as `FALLBACK_CHAIN`, unless one was given.
fn apply_fallback_chain(
    config: &mut Config,
    rows: &[StoredRow],
    known: &[String],
    out: &mut Assembled,
) -> Result<(), AssembleError> {
    let Some(primary) = config.router.primary_provider.as_deref() else {
        return Ok(());
    };
    let Some(row) = rows
        .iter()
        .find(|r| r.provider == primary && !r.fallback_providers.is_empty())
    else {
        return Ok(());
    };
    if let Some(name) = unknown_fallback(row, known) {
        return Err(AssembleError::row(
            primary,
            "fallback_providers",
            format!("unknown provider `{name}` (known: {})", known.join(", ")),
        ));
    }
    if config.router.fallback_chain == row.fallback_providers {
        return Ok(());
    }
    if config.fallback_chain_set {
        out.unused.push(format!(
            "{primary}.fallback_providers: FALLBACK_CHAIN or router.fallback_chain sets the chain"
        ));
    } else {
        config.router.fallback_chain = row.fallback_providers.clone();
        out.applied.push(format!("{primary}.fallback_providers"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{env, provider};

    #[test]
    fn stored_settings_apply_where_env_and_toml_are_silent() {
        let mut c = Config::from_toml_str(
            r#"
            [[providers]]
            name = "openai"
            base_url = "http://127.0.0.1:1/v1"
            rpm = 5
            "#,
            &env(&[("OPENAI_API_KEY", "k"), ("GEMINI_API_KEY", "g")]),
        )
        .unwrap();
        let mut openai = StoredRow::new("openai");
        openai.priority = 7;
        openai.api_url = Some("http://127.0.0.1:2".into());
        openai.default_model = Some("gpt-4o-mini".into());
        openai.max_retries = 0;
        openai.timeout_ms = 1500;
        openai.rate_limit_rpm = Some(60);
        openai.rate_limit_tpm = Some(1000);
        openai
            .config_json
            .insert("organization".into(), "org-stored".into());
        let mut gemini = StoredRow::new("gemini");
        gemini.enabled = false;
        let out = apply_rows(&mut c, &[openai, gemini]).unwrap();

        let o = provider(&c, "openai");
        assert_eq!(o.routing.priority, 7);
        assert_eq!(o.adapter.default_model, "gpt-4o-mini");
        assert_eq!(o.routing.max_retries, 0);
        assert_eq!(o.adapter.timeouts.total, Duration::from_millis(1500));
        assert_eq!(o.adapter.timeouts.first_byte, Duration::from_millis(1500));
        assert_eq!(o.routing.tpm, Some(1000));
        assert_eq!(o.adapter.organization.as_deref(), Some("org-stored"));
        // ax.toml set these: they win, and the report says so.
        assert_eq!(o.adapter.base_url, "http://127.0.0.1:1/v1");
        assert_eq!(o.routing.rpm, Some(5));
        assert!(
            out.unused
                .contains(&"openai.api_url: the environment or ax.toml sets it".to_owned())
                && out.unused.contains(
                    &"openai.rate_limit_rpm: the environment or ax.toml sets it".to_owned()
                ),
            "{out:?}"
        );
        // A disabled row turns off a provider its env key enabled.
        assert!(!provider(&c, "gemini").routing.enabled);
        assert!(
            out.applied.contains(&"gemini.enabled".to_owned()),
            "{out:?}"
        );
        // The router sees the same.
        let r = c
            .router
            .providers
            .iter()
            .find(|p| p.name == "openai")
            .unwrap();
        assert_eq!((r.priority, r.tpm), (7, Some(1000)));
    }

    #[test]
    fn a_row_that_cannot_apply_is_an_error_naming_provider_and_column() {
        let c = Config::load_with(None, &env(&[("OPENAI_API_KEY", "k")])).unwrap();
        let bad = |f: &dyn Fn(&mut StoredRow)| {
            let mut row = StoredRow::new("openai");
            f(&mut row);
            apply_rows(&mut c.clone(), &[row]).unwrap_err().to_string()
        };
        let e = bad(&|r| {
            r.config_json
                .insert("safety_threshold".into(), "BLOCK_NONE".into());
        });
        assert!(
            e.contains("`openai`")
                && e.contains("config_json.safety_threshold")
                && e.contains("unknown field"),
            "{e}"
        );
        let e = bad(&|r| r.api_url = Some("ftp://x".into()));
        assert!(e.contains("api_url"), "{e}");
        let e = bad(&|r| r.rate_limit_rpm = Some(u64::MAX));
        assert!(e.contains("rate_limit_rpm"), "{e}");
        let e = bad(&|r| r.default_model = Some(" ".into()));
        assert!(e.contains("default_model"), "{e}");
        // The primary's chain is applied, so an unknown name in it stops the start.
        let mut row = StoredRow::new("claude");
        row.fallback_providers = vec!["ghost".into()];
        let e = apply_rows(&mut c.clone(), &[row]).unwrap_err().to_string();
        assert!(
            e.contains("fallback_providers") && e.contains("ghost"),
            "{e}"
        );
    }

    #[test]
    fn the_primary_rows_fallbacks_are_the_chain_unless_one_is_given() {
        let mut row = StoredRow::new("claude");
        row.fallback_providers = vec!["openai".into()];
        let mut c = Config::load_with(None, &env(&[])).unwrap();
        apply_rows(&mut c, std::slice::from_ref(&row)).unwrap();
        assert_eq!(c.router.fallback_chain, ["openai"]);
        let mut c = Config::load_with(None, &env(&[("FALLBACK_CHAIN", "gemini")])).unwrap();
        let out = apply_rows(&mut c, &[row]).unwrap();
        assert_eq!(c.router.fallback_chain, ["gemini"]);
        assert_eq!(out.unused.len(), 1, "{out:?}");
    }

    #[test]
    fn stored_keys_need_the_master_key_and_lose_to_deployed_ones() {
        let master_hex = "44".repeat(32);
        let master = MasterKey::parse(Some(&master_hex)).unwrap();
        let mut row = StoredRow::new("openai");
        row.api_key_encrypted = Some(master.seal("openai", "sk-stored").unwrap());
        let rows = [row];

        let mut c = Config::load_with(None, &env(&[])).unwrap();
        let e = apply_rows(&mut c, &rows).unwrap_err();
        assert!(
            e.is_master_key() && e.to_string().contains("AX_MASTER_KEY is not set"),
            "{e}"
        );

        let mut c = Config::load_with(None, &env(&[("AX_MASTER_KEY", &master_hex)])).unwrap();
        assert!(c.mock_only);
        let out = apply_rows(&mut c, &rows).unwrap();
        assert_eq!(out.stored_keys, ["openai"]);
        let o = provider(&c, "openai");
        assert!(o.routing.enabled && !c.mock_only);
        assert_eq!(
            o.adapter.api_key.as_ref().unwrap().expose_secret(),
            "sk-stored"
        );

        let mut c = Config::load_with(None, &env(&[("OPENAI_API_KEY", "sk-env")])).unwrap();
        let out = apply_rows(&mut c, &rows).unwrap();
        assert!(out.stored_keys.is_empty());
        assert_eq!(
            provider(&c, "openai")
                .adapter
                .api_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            "sk-env"
        );
    }

    #[test]
    fn check_row_refuses_what_assemble_would() {
        let known: Vec<String> = ["claude", "gemini", "openai", "mock"]
            .map(String::from)
            .to_vec();
        let mut row = StoredRow::new("openai");
        row.config_json.insert("organization".into(), "o".into());
        assert!(check_row(&row, Some(ProviderKind::OpenAi), &known).is_ok());
        row.config_json.insert("chunks".into(), 3.into());
        let e = check_row(&row, Some(ProviderKind::OpenAi), &known).unwrap_err();
        assert!(e.to_string().contains("config_json.chunks"), "{e}");
        // Unknown provider: kind-independent checks only, no config_json.
        let mut row = StoredRow::new("later");
        assert!(check_row(&row, None, &known).is_ok());
        row.fallback_providers = vec!["nobody".into()];
        assert!(check_row(&row, None, &known).is_err());
        let mut mock = StoredRow::new("mock");
        mock.api_key_encrypted = Some(vec![1, 2, 3]);
        assert!(check_row(&mock, Some(ProviderKind::Mock), &known).is_err());
    }
}
