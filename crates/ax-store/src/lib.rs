//! Persistence for ax: SQLite store, migrations, batched log writer, analytics.
