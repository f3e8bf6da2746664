//! `ax import tenants <FILE.json|DIR> [--dry-run]`: tenants and keys from a JSON export
//! (format: docs/import.md), in one transaction. Everything is validated first (format
//! version, declared counts, slugs, unique slugs and keys, references, patterns,
//! expiries); any error — in validation or while writing — leaves the store exactly
//! as it was. `--dry-run` performs the same writes and rolls them back, so it reports
//! exactly what would change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ax_store::tenancy::{ImportFile, TenantStore as _};
use clap::{Args, Subcommand};

use super::tenant::actor;
use crate::cli::StoreArgs;
use crate::output::{outln, print_json};

/// `ax import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import tenants and their keys from a JSON file or a directory of them.
    #[command(
        after_help = "Examples:\n  ax import tenants export.json --dry-run\n  ax import tenants exports/ --json\n\nFormat: docs/import.md"
    )]
    Tenants(TenantsArgs),
}

/// `ax import tenants`.
#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// A JSON file, or a directory whose *.json files are imported together.
    pub path: PathBuf,
    /// Report what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the report as JSON (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The files to read: `path` itself, or the `*.json` files of a directory, by name.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut out: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
            .collect();
        out.sort();
        if out.is_empty() {
            bail!("{} has no .json files", path.display());
        }
        Ok(out)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Reads and parses every file; errors name the file, line and column.
pub fn read(path: &Path) -> anyhow::Result<ImportFile> {
    let mut parsed = Vec::new();
    for f in files(path)? {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let file: ImportFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid import file (see docs/import.md)",
                f.display()
            )
        })?;
        parsed.push(file);
    }
    Ok(if parsed.len() == 1 {
        parsed.remove(0)
    } else {
        ImportFile::merge(parsed)
    })
}

/// Runs `ax import …`.
pub async fn run(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Tenants(a) = cmd;
    let file = read(&a.path)?;
    eprintln!(
        "importing {} tenant(s) and {} key(s) from {}{}",
        file.tenants.len(),
        file.keys.len(),
        a.path.display(),
        if a.dry_run { " (dry run)" } else { "" }
    );
    let store = crate::store::open_existing(&a.store.database_url).await?;
    let progress = |line: &str| eprintln!("  {line}");
    let result = store
        .import_tenancy(&file, &format!("{}:import", actor()), a.dry_run, &progress)
        .await;
    store.close().await;
    let report = result.context("import failed; nothing was changed")?;
    if a.json {
        print_json(&report)?;
    } else if a.dry_run {
        outln!(
            "dry run: would create {} tenant(s) and {} key(s); nothing was changed",
            report.tenants_created.len(),
            report.keys_created.len()
        )?;
    } else {
        outln!(
            "imported {} tenant(s) and {} key(s)",
            report.tenants_created.len(),
            report.keys_created.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
