//! The one error type of the store. Every sqlx error is mapped to it here, in
//! [`From<sqlx::Error>`], so callers match on meaning (not found, conflict, unavailable)
//! and never see a sqlx type.

/// A store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique or primary-key constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The data broke a constraint (CHECK, foreign key, NOT NULL) or a stored row could
    /// not be decoded.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// The database could not be reached or was busy: I/O error, lock timeout, closed
    /// or exhausted pool. Usually transient; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Migrations could not be read, validated or applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database URL or connection options are wrong.
    #[error("bad database configuration: {0}")]
    Config(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// SQLite primary result codes that mean "try again later" (busy, locked, I/O, full,
/// cannot open, protocol): `SQLITE_BUSY` 5, `SQLITE_LOCKED` 6, `SQLITE_IOERR` 10,
/// `SQLITE_FULL` 13, `SQLITE_CANTOPEN` 14, `SQLITE_PROTOCOL` 15.
const TRANSIENT_SQLITE_CODES: [i64; 6] = [5, 6, 10, 13, 14, 15];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match e {
            sqlx::Error::RowNotFound => Self::NotFound("no such row".into()),
            sqlx::Error::Database(db) => {
                let message = db.message().to_owned();
                match db.kind() {
                    ErrorKind::UniqueViolation => Self::Conflict(message),
                    ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation => Self::Invalid(message),
                    _ => {
                        // Extended result codes carry the primary code in the low byte.
                        let primary = db
                            .code()
                            .and_then(|c| c.parse::<i64>().ok())
                            .map(|c| c & 0xff);
                        match primary {
                            Some(c) if TRANSIENT_SQLITE_CODES.contains(&c) => {
                                Self::Unavailable(message)
                            }
                            // SQLITE_CONSTRAINT of a kind sqlx does not classify.
                            Some(19) => Self::Invalid(message),
                            _ => Self::Database(message),
                        }
                    }
                }
            }
            sqlx::Error::Io(e) => Self::Unavailable(e.to_string()),
            sqlx::Error::PoolTimedOut => {
                Self::Unavailable("timed out waiting for a connection".into())
            }
            sqlx::Error::PoolClosed => Self::Unavailable("the store is closed".into()),
            sqlx::Error::WorkerCrashed => {
                Self::Unavailable("the SQLite worker thread crashed".into())
            }
            sqlx::Error::Configuration(e) => Self::Config(e.to_string()),
            sqlx::Error::Migrate(e) => Self::Migration(e.to_string()),
            e @ (sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. }) => Self::Invalid(e.to_string()),
            e => Self::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => match Self::from(e) {
                Self::Unavailable(m) => Self::Unavailable(m),
                other => Self::Migration(other.to_string()),
            },
            sqlx::migrate::MigrateError::VersionMissing(v) => Self::Migration(format!(
                "the database has migration {v}, which this build of ax does not know: \
                 it was migrated by a newer ax"
            )),
            e => Self::Migration(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_errors_are_transient() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(StoreError::from(sqlx::Error::PoolClosed).is_transient());
        assert_eq!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::NotFound("no such row".into())
        );
        assert!(!StoreError::Conflict("x".into()).is_transient());
    }
}
