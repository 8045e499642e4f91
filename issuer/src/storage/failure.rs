//! What a database failure says about the request that met it: transient (send it again), the request's own
//! data (correct it), or anything else. Every `sqlx::Error` becomes a [`crate::Error`] here, by the `From`
//! conversion that `?` applies.

use crate::Error;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match classify(&e) {
            Failure::Transient => Error::StorageUnavailable(e),
            Failure::BadData => Error::InvalidInput(e),
            Failure::Other => Error::Storage(e),
        }
    }
}

/// What a database failure says about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing about the request, only about reaching the database at this moment: it may be sent again.
    Transient,
    /// The request carried a value the database refuses as data (PostgreSQL class 22, such as a NUL character in
    /// text): sending it again fails again, so it is the client's to correct.
    BadData,
    /// Anything else: logged, and a 500 to HTTP clients.
    Other,
}

/// Classify a failure by the backend that reported it: SQLite's numeric result codes and PostgreSQL's SQLSTATEs
/// overlap as strings (PostgreSQL's `22021` has the low byte 5, SQLite's "busy"), so each code is read only by
/// its own backend's rules.
///
/// Transient: the connection broke or was closed (I/O, TLS, protocol; PostgreSQL class 08, an administrator's
/// termination 57P01-57P03), the pool had no connection in time, or the transaction lost a serialisation race
/// (40001, 40P01; SQLite busy or locked). A transaction that fails so before its commit was rolled back, so the
/// request may be sent again (503 to HTTP clients); a failed commit is settled first (see
/// [`super::transaction`]).
fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Transient,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_failure(pg.code())
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                d.code().map_or(Failure::Other, |code| sqlite_failure(&code))
            } else {
                Failure::Other
            }
        }
        _ => Failure::Other,
    }
}

/// A PostgreSQL SQLSTATE's meaning for the request.
fn postgres_failure(sqlstate: &str) -> Failure {
    if sqlstate.starts_with("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].contains(&sqlstate) {
        Failure::Transient
    } else if sqlstate.starts_with("22") {
        Failure::BadData
    } else {
        Failure::Other
    }
}

/// An SQLite result code's meaning for the request: the extended code as text, whose low byte is the primary
/// code (5 busy, 6 locked: another writer holds the database).
fn sqlite_failure(code: &str) -> Failure {
    match code.parse::<u32>() {
        Ok(n) if matches!(n & 0xff, 5 | 6) => Failure::Transient,
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_by_their_own_backend() {
        // PostgreSQL data exceptions are the request's fault, whatever their digits mean to SQLite (22021 has
        // the low byte 5, "busy"; 22022 has 6, "locked").
        for code in ["22021", "22022", "22001", "22P02", "22003"] {
            assert_eq!(postgres_failure(code), Failure::BadData, "{code}");
        }
        for code in ["08000", "08006", "08P01", "57P01", "57P02", "57P03", "40001", "40P01"] {
            assert_eq!(postgres_failure(code), Failure::Transient, "{code}");
        }
        // Permission denied, unique violation, undefined table: neither the client's to fix nor worth a retry.
        for code in ["42501", "23505", "42P01", "5", "517"] {
            assert_eq!(postgres_failure(code), Failure::Other, "{code}");
        }
        // SQLite: busy and locked in all their extended forms, nothing else.
        for code in ["5", "6", "261", "517", "773", "262"] {
            assert_eq!(sqlite_failure(code), Failure::Transient, "{code}");
        }
        for code in ["19", "2067", "1555", "11", "57P01", "08006", ""] {
            assert_eq!(sqlite_failure(code), Failure::Other, "{code}");
        }
    }

    #[test]
    fn connection_failures_are_transient_and_keep_their_source() {
        let e = Error::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, Error::StorageUnavailable(sqlx::Error::PoolTimedOut)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, Error::Storage(sqlx::Error::RowNotFound)), "{e:?}");
        assert_eq!(e.to_string(), format!("storage: {}", sqlx::Error::RowNotFound));
    }
}
