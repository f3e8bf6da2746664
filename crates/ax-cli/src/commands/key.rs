//! `ax key create | list | revoke`: gateway keys, written straight to the store. The
//! raw key is printed once, by `create`, and is stored only as its SHA-256.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context as _;
use ax_core::KeyId;
use ax_store::Store;
use ax_store::tenancy::{ApiKey, NewApiKey, TenantStore as _};
use clap::{Args, Subcommand};
use serde_json::json;
use time::OffsetDateTime;

use super::tenant::{actor, find, print_keys};
use crate::cli::StoreArgs;
use crate::error::usage;
use crate::output::{outln, print_json};

/// `ax key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key for a tenant; the key is shown this once.
    #[command(
        after_help = "Examples:\n  ax key create --tenant team-a --name ci --models 'gpt-*,claude-*' --rpm 60 --expires 90d\n  ax key create --tenant team-a --json   # {\"id\",\"key\",\"prefix\",\"tenant\"}"
    )]
    Create(CreateArgs),
    /// List keys (never the keys themselves: prefix, limits, state).
    #[command(after_help = "Examples:\n  ax key list\n  ax key list --tenant team-a --json")]
    List(ListArgs),
    /// Revoke a key by ID or prefix; the gateway refuses it within a second.
    #[command(after_help = "Examples:\n  ax key revoke ax-3fK9qL2x\n  ax key revoke 0192f5e4-…")]
    Revoke(RevokeArgs),
}

/// `ax key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant's slug (or ID).
    #[arg(long)]
    pub tenant: String,
    /// A label for the key.
    #[arg(long)]
    pub name: Option<String>,
    /// Allowed model patterns, comma-separated (`*` wildcard); default every model.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// The key's own requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// The key's own tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Expiry: a duration from now (`30d`, `12h`, `45m`) or an RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON: {"id","key","prefix","tenant"}.
    #[arg(long)]
    pub json: bool,
}

/// `ax key list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this tenant's keys.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax key revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Key ID or prefix (as `ax key list` shows it).
    pub key: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--expires` into the store's timestamp format.
pub fn parse_expiry(s: &str, now: OffsetDateTime) -> Result<String, String> {
    let s = s.trim();
    let unit = s.chars().last().unwrap_or(' ');
    let n = s[..s.len().saturating_sub(1)].parse::<i64>().ok();
    let span = match (n, unit) {
        (Some(n), 'd') if n > 0 => Some(time::Duration::days(n)),
        (Some(n), 'h') if n > 0 => Some(time::Duration::hours(n)),
        (Some(n), 'm') if n > 0 => Some(time::Duration::minutes(n)),
        _ => None,
    };
    if let Some(span) = span {
        return now
            .checked_add(span)
            .map(ax_store::timestamp::format)
            .ok_or_else(|| format!("--expires {s} is too far away"));
    }
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(ax_store::timestamp::format)
        .map_err(|_| {
            format!("--expires `{s}`: use a duration (30d, 12h, 45m) or an RFC 3339 time (2026-12-31T00:00:00Z)")
        })
}

/// A key by ID or unambiguous prefix.
async fn find_key(store: &Store, which: &str) -> anyhow::Result<ApiKey> {
    if let Ok(id) = which.parse::<KeyId>() {
        return store
            .key(id)
            .await?
            .ok_or_else(|| usage(format!("no key {which}")));
    }
    let mut found = store.keys_by_prefix(which).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(usage(format!(
            "no key with prefix `{which}` (see `ax key list`)"
        ))),
        n => Err(usage(format!(
            "prefix `{which}` matches {n} keys: give more characters or the key ID"
        ))),
    }
}

/// Runs `ax key …`.
pub async fn run(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Create(a) => {
            let expires_at = a
                .expires
                .as_deref()
                .map(|e| parse_expiry(e, OffsetDateTime::now_utc()))
                .transpose()
                .map_err(usage)?;
            let models = a.models.map(|m| {
                m.into_iter()
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            });
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let t = find(&store, &a.tenant).await?;
            let created = store
                .create_key(
                    t.id,
                    &NewApiKey {
                        name: a.name,
                        allowed_models: models,
                        rpm: a.rpm,
                        tpm: a.tpm,
                        expires_at,
                    },
                    &actor(),
                )
                .await
                .with_context(|| format!("cannot create a key for `{}`", t.slug))?;
            store.close().await;
            if a.json {
                print_json(&json!({
                    "id": created.key.id,
                    "key": created.secret,
                    "prefix": created.key.prefix,
                    "tenant": t.slug,
                }))?;
            } else {
                // The only copy of the key: losing it is a failure, not a quiet `| head`.
                outln!("{}", created.secret).map_err(|e| {
                    anyhow::anyhow!(
                        "key {} was created but could not be shown ({e}: {}); revoke it with `ax key revoke {}`",
                        created.key.prefix,
                        std::error::Error::source(&e).map_or_else(String::new, ToString::to_string),
                        created.key.prefix
                    )
                })?;
                eprintln!(
                    "created key {} ({}) for tenant {}; this is the only time it is shown",
                    created.key.prefix, created.key.id, t.slug
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::List(a) => {
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let tenant = match a.tenant.as_deref() {
                Some(w) => Some(find(&store, w).await?),
                None => None,
            };
            let keys = store.list_keys(tenant.as_ref().map(|t| t.id)).await?;
            let mut slugs = HashMap::new();
            for k in &keys {
                if let std::collections::hash_map::Entry::Vacant(slot) = slugs.entry(k.tenant_id) {
                    let slug = store
                        .tenant(k.tenant_id)
                        .await?
                        .map(|t| t.slug)
                        .unwrap_or_default();
                    slot.insert(slug);
                }
            }
            store.close().await;
            if a.json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        let mut v = serde_json::to_value(k).unwrap_or_default();
                        if let serde_json::Value::Object(m) = &mut v {
                            m.insert("tenant".into(), json!(slugs.get(&k.tenant_id)));
                        }
                        v
                    })
                    .collect();
                print_json(&rows)?;
            } else if keys.is_empty() {
                outln!("no keys (create one: ax key create --tenant <slug>)")?;
            } else {
                let rows: Vec<_> = keys
                    .into_iter()
                    .map(|k| {
                        let slug = slugs.get(&k.tenant_id).cloned().unwrap_or_default();
                        (k, slug)
                    })
                    .collect();
                print_keys(&rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Revoke(a) => {
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let k = find_key(&store, &a.key).await?;
            let k = store.revoke_key(k.id, &actor()).await?;
            store.close().await;
            if a.json {
                print_json(&k)?;
            } else {
                outln!("revoked key {} ({})", k.prefix, k.id)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn expiries() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(
            parse_expiry("30d", now).unwrap(),
            "2026-01-31T00:00:00.000Z"
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            "2026-01-01T12:00:00.000Z"
        );
        assert_eq!(
            parse_expiry("45m", now).unwrap(),
            "2026-01-01T00:45:00.000Z"
        );
        assert_eq!(
            parse_expiry("2026-12-31T01:00:00+01:00", now).unwrap(),
            "2026-12-31T00:00:00.000Z"
        );
        assert!(parse_expiry("tomorrow", now).is_err());
        assert!(parse_expiry("0d", now).is_err());
    }
}
