//! The import file format (`ax import tenants`, docs/import.md) and its validation.
//! Validation here is everything that needs no database; references to tenants that
//! already exist and uniqueness against stored rows are checked inside the import
//! transaction.

use std::collections::HashSet;

use ax_core::tenant::{TenantStatus, validate_pattern, validate_slug};
use ax_core::{KeyId, TenantId};
use serde::{Deserialize, Serialize};

use super::TenancyError;
use super::keys::{PREFIX_LEN, looks_like_key};

/// The only import format version.
pub const IMPORT_VERSION: u32 = 1;

/// One import file (or several merged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Expected counts, checked against the lists when present.
    #[serde(default)]
    pub counts: Option<ImportCounts>,
    /// Tenants to create.
    #[serde(default)]
    pub tenants: Vec<ImportTenant>,
    /// Keys to create, each naming its tenant by slug.
    #[serde(default)]
    pub keys: Vec<ImportKey>,
}

/// Declared row counts of an import file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCounts {
    /// Number of tenants.
    pub tenants: usize,
    /// Number of keys.
    pub keys: usize,
}

/// A tenant in an import file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTenant {
    /// Keep this ID (UUID); a new one when absent.
    #[serde(default)]
    pub id: Option<TenantId>,
    /// Unique slug.
    pub slug: String,
    /// Display name (the slug when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Status (`active` when absent).
    #[serde(default)]
    pub status: Option<TenantStatus>,
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Tokens per day.
    #[serde(default)]
    pub tpd: Option<u64>,
    /// Monthly budget, USD.
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
}

/// A gateway key in an import file: either its SHA-256 (`key_hash` + `prefix`, from
/// an export) or the raw `key` (hashed on import, never stored).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    /// Keep this ID (UUID); a new one when absent.
    #[serde(default)]
    pub id: Option<KeyId>,
    /// Slug of the owning tenant (in this file or already stored).
    pub tenant: String,
    /// Label.
    #[serde(default)]
    pub name: Option<String>,
    /// SHA-256 of the raw key, 64 hex characters.
    #[serde(default)]
    pub key_hash: Option<String>,
    /// Visible prefix (required with `key_hash`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The raw key (`ax-…`), instead of `key_hash`.
    #[serde(default)]
    pub key: Option<String>,
    /// Allowed model patterns (absent: every model).
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    /// Own rpm limit.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Own tpm limit.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Expiry (`YYYY-MM-DDTHH:MM:SS.sssZ`).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Import as revoked.
    #[serde(default)]
    pub revoked: bool,
}

impl std::fmt::Debug for ImportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportKey")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Whether everything was rolled back on purpose.
    pub dry_run: bool,
    /// Slugs of the tenants created.
    pub tenants_created: Vec<String>,
    /// `tenant-slug/prefix` of the keys created.
    pub keys_created: Vec<String>,
}

impl ImportKey {
    /// The hash and prefix to store.
    pub(crate) fn hash_and_prefix(&self) -> Result<(String, String), TenancyError> {
        match (&self.key, &self.key_hash) {
            (Some(raw), None) => Ok((super::hash_key(raw), raw[..PREFIX_LEN].to_owned())),
            (None, Some(h)) => Ok((
                h.to_ascii_lowercase(),
                self.prefix.clone().unwrap_or_default(),
            )),
            _ => Err(TenancyError::Invalid(
                "a key needs exactly one of `key` and `key_hash`".into(),
            )),
        }
    }
}

impl ImportFile {
    /// Merges several files (a directory) into one; counts are summed when every file
    /// declares them.
    pub fn merge(files: Vec<ImportFile>) -> ImportFile {
        let mut out = ImportFile {
            version: IMPORT_VERSION,
            counts: Some(ImportCounts::default()),
            ..Default::default()
        };
        for f in files {
            out.counts = match (out.counts, f.counts) {
                (Some(a), Some(b)) => Some(ImportCounts {
                    tenants: a.tenants + b.tenants,
                    keys: a.keys + b.keys,
                }),
                _ => None,
            };
            if f.version != IMPORT_VERSION {
                out.version = f.version;
            }
            out.tenants.extend(f.tenants);
            out.keys.extend(f.keys);
        }
        out
    }

    /// Checks everything that needs no database; every problem, not just the first.
    pub fn validate(&self) -> Result<(), TenancyError> {
        let mut problems = Vec::new();
        if self.version != IMPORT_VERSION {
            problems.push(format!(
                "version {} is not supported (expected {IMPORT_VERSION})",
                self.version
            ));
        }
        if let Some(c) = self.counts {
            if c.tenants != self.tenants.len() {
                problems.push(format!(
                    "counts.tenants is {} but the file has {} tenants",
                    c.tenants,
                    self.tenants.len()
                ));
            }
            if c.keys != self.keys.len() {
                problems.push(format!(
                    "counts.keys is {} but the file has {} keys",
                    c.keys,
                    self.keys.len()
                ));
            }
        }
        let mut slugs = HashSet::new();
        let mut ids = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}] ({})", t.slug);
            if let Err(e) = validate_slug(&t.slug) {
                problems.push(format!("{at}: {e}"));
            }
            if !slugs.insert(t.slug.as_str()) {
                problems.push(format!("{at}: duplicate slug"));
            }
            if let Some(id) = t.id
                && !ids.insert(id.to_string())
            {
                problems.push(format!("{at}: duplicate id {id}"));
            }
            if t.monthly_budget_usd
                .is_some_and(|b| !b.is_finite() || b < 0.0)
            {
                problems.push(format!("{at}: monthly_budget_usd must be >= 0"));
            }
        }
        let mut hashes = HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            let at = format!("keys[{i}] (tenant {})", k.tenant);
            if let Some(id) = k.id
                && !ids.insert(id.to_string())
            {
                problems.push(format!("{at}: duplicate id {id}"));
            }
            match (&k.key, &k.key_hash) {
                (Some(raw), None) => {
                    if !looks_like_key(raw) {
                        problems.push(format!("{at}: `key` is not an ax- key"));
                    }
                }
                (None, Some(h)) => {
                    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        problems.push(format!("{at}: key_hash must be 64 hex characters"));
                    }
                    if k.prefix.as_deref().is_none_or(str::is_empty) {
                        problems.push(format!("{at}: key_hash needs its prefix"));
                    }
                }
                _ => problems.push(format!("{at}: needs exactly one of `key` and `key_hash`")),
            }
            if let Ok((h, _)) = k.hash_and_prefix()
                && !hashes.insert(h)
            {
                problems.push(format!("{at}: the same key appears twice"));
            }
            for p in k.allowed_models.iter().flatten() {
                if let Err(e) = validate_pattern(p) {
                    problems.push(format!("{at}: {e}"));
                }
            }
            if let Some(e) = &k.expires_at
                && crate::timestamp::parse(e).is_none()
            {
                problems.push(format!(
                    "{at}: expires_at `{e}` is not YYYY-MM-DDTHH:MM:SS.sssZ"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TenancyError::Invalid(format!(
                "the import file is invalid:\n  - {}",
                problems.join("\n  - ")
            )))
        }
    }
}
