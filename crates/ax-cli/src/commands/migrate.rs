//! `ax migrate [--dry-run]`.

use std::process::ExitCode;

use anyhow::Context as _;
use ax_store::Store;

use crate::cli::MigrateArgs;
use crate::output::{outln, spinner};
use crate::store::redact;

/// Applies (or with `--dry-run` lists) pending migrations.
pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let shown = redact(&args.store.database_url);
    if args.dry_run
        && let Some(path) = crate::store::sqlite_path(&args.store.database_url)
        && !path.exists()
    {
        // A dry run creates nothing: a missing database has every migration pending.
        print(&args, &Store::known_migrations())?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::connect(&args.store.database_url)
        .await
        .with_context(|| format!("cannot open the store {shown}"))?;
    let bar = spinner(format!("migrating {shown}"));
    let list = if args.dry_run {
        store.pending_migrations().await
    } else {
        store.migrate().await
    };
    bar.finish_and_clear();
    let list = match list {
        Ok(l) => l,
        Err(e) => {
            store.close().await;
            return Err(anyhow::Error::new(e).context(format!("cannot migrate {shown}")));
        }
    };
    store.close().await;
    print(&args, &list)?;
    Ok(ExitCode::SUCCESS)
}

fn print(args: &MigrateArgs, list: &[ax_store::AppliedMigration]) -> anyhow::Result<()> {
    if args.json {
        let rows: Vec<_> = list
            .iter()
            .map(|m| serde_json::json!({"version": m.version, "description": m.description}))
            .collect();
        let out = serde_json::json!({
            "database_url": redact(&args.store.database_url),
            "dry_run": args.dry_run,
            "migrations": rows,
        });
        outln!("{out:#}")?;
    } else if list.is_empty() {
        outln!("{}: schema is up to date", redact(&args.store.database_url))?;
    } else {
        let verb = if args.dry_run { "pending" } else { "applied" };
        for m in list {
            outln!("{verb} {:>14}  {}", m.version, m.description)?;
        }
        outln!("{} migration(s) {verb}", list.len())?;
    }
    Ok(())
}
