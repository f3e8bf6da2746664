//! `ax migrate [--dry-run]`.

use std::process::ExitCode;

use ax_store::Store;

use crate::cli::MigrateArgs;

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&args.store.database_url).await?;
    let list = if args.dry_run {
        store.pending_migrations().await?
    } else {
        store.migrate().await?
    };
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
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if list.is_empty() {
        println!("{}: schema is up to date", redact(&args.store.database_url));
    } else {
        let verb = if args.dry_run { "pending" } else { "applied" };
        for m in &list {
            println!("{verb} {:>14}  {}", m.version, m.description);
        }
        println!("{} migration(s) {verb}", list.len());
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// A database URL without any password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
