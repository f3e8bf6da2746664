//! The one error type of the store. Every sqlx error is mapped to it here, in
//! [`From<sqlx::Error>`] (and the log sink's rusqlite errors in
//! [`From<rusqlite::Error>`], by the same SQLite result codes), so callers match on
//! meaning (not found, conflict, unavailable) and never see a driver's type.

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

/// `SQLITE_CONSTRAINT`, and its extended codes for a primary-key and a unique violation.
const SQLITE_CONSTRAINT: i64 = 19;
const SQLITE_CONSTRAINT_PRIMARYKEY: i64 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i64 = 2067;

impl StoreError {
    /// Classifies a failure by its SQLite (extended) result code, for both drivers.
    fn from_sqlite_code(code: i64, message: String) -> Self {
        // Extended result codes carry the primary code in the low byte.
        let primary = code & 0xff;
        match code {
            SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE => Self::Conflict(message),
            _ if primary == SQLITE_CONSTRAINT => Self::Invalid(message),
            _ if TRANSIENT_SQLITE_CODES.contains(&primary) => Self::Unavailable(message),
            _ => Self::Database(message),
        }
    }
}

/// The log sink's rusqlite errors (see [`crate::log_sink`]), classified like sqlx's.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            E::SqliteFailure(err, message) => Self::from_sqlite_code(
                i64::from(err.extended_code),
                message.unwrap_or_else(|| err.to_string()),
            ),
            E::QueryReturnedNoRows => Self::NotFound("no such row".into()),
            e @ (E::ToSqlConversionFailure(_)
            | E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(_)
            | E::NulError(_)
            | E::InvalidColumnType(..)
            | E::InvalidParameterCount(..)) => Self::Invalid(e.to_string()),
            e => Self::Database(e.to_string()),
        }
    }
}

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
                    _ => match db.code().and_then(|c| c.parse::<i64>().ok()) {
                        Some(code) => Self::from_sqlite_code(code, message),
                        None => Self::Database(message),
                    },
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

    fn sqlite_failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn rusqlite_errors_keep_the_writer_contract() {
        // Busy (and its extended BUSY_SNAPSHOT), locked, I/O (and IOERR_FSYNC): retry.
        for code in [5, 517, 6, 10, 1034, 13, 14, 15] {
            let e = StoreError::from(sqlite_failure(code));
            assert!(e.is_transient(), "{code}: {e:?}");
        }
        // Constraint violations: refused for the data, never retried as a batch.
        assert!(matches!(
            StoreError::from(sqlite_failure(1555)),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            StoreError::from(sqlite_failure(2067)),
            StoreError::Conflict(_)
        ));
        for code in [19, 275, 787, 1299] {
            // CHECK, FOREIGNKEY, NOTNULL.
            let e = StoreError::from(sqlite_failure(code));
            assert!(matches!(e, StoreError::Invalid(_)), "{code}: {e:?}");
        }
        assert!(matches!(
            StoreError::from(rusqlite::Error::InvalidParameterCount(1, 2)),
            StoreError::Invalid(_)
        ));
        let corrupt = StoreError::from(sqlite_failure(11));
        assert!(matches!(corrupt, StoreError::Database(_)) && !corrupt.is_transient());
    }
}
