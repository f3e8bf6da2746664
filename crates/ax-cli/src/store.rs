//! Opening the store for commands that read history: an existing, migrated database
//! only — a typo in `--database-url` must not create an empty database.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use ax_store::Store;

/// The file behind a SQLite URL (`sqlite://PATH`, `sqlite:PATH` or a bare path), or
/// `None` for in-memory and non-SQLite URLs.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = if let Some(r) = url.strip_prefix("sqlite://") {
        r
    } else if let Some(r) = url.strip_prefix("sqlite:") {
        r
    } else if url.contains("://") {
        return None;
    } else {
        url
    };
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// A database URL without any password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Opens the existing, migrated store at `url`.
pub async fn open_existing(url: &str) -> anyhow::Result<Store> {
    let shown = redact(url);
    if let Some(path) = sqlite_path(url)
        && !path.exists()
    {
        bail!(
            "no database at {} ({shown}): run `ax migrate` or start `ax serve` first, or pass --database-url",
            path.display()
        );
    }
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open the store {shown}"))?;
    let pending = store
        .pending_migrations()
        .await
        .with_context(|| format!("cannot read the schema of {shown}"))?;
    if !pending.is_empty() {
        store.close().await;
        bail!(
            "the store {shown} is not migrated ({} pending migration(s)): run `ax migrate`",
            pending.len()
        );
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_urls() {
        assert_eq!(sqlite_path("sqlite://ax.db"), Some(PathBuf::from("ax.db")));
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a.db"))
        );
        assert_eq!(sqlite_path("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_path("plain.db"), Some(PathBuf::from("plain.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:p@h/db"), "postgres://***@h/db");
        assert_eq!(redact("sqlite://ax.db"), "sqlite://ax.db");
    }
}
