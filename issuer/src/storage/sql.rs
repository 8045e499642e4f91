//! The SQL both backends run, and the one place that tells them apart: a statement with its parameters
//! ([`Statement`]), run on whichever pool or transaction backs the database, and the rows it returns ([`Row`]).
//!
//! Both backends take the same SQL (positional `$n` parameters, which both accept); what differs is the byte
//! string type in migrations ([`bytes_type`]) and the placeholders of multi-row inserts ([`placeholders`]).

use std::borrow::Cow;

use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};

use super::Database;
use crate::Error;

/// A value bound to a statement parameter: the few types the schema uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// `BIGINT`.
    Int(i64),
    /// `BIGINT`, nullable.
    OptionalInt(Option<i64>),
    /// `TEXT`.
    Text(&'a str),
    /// Bytes (`BLOB`/`BYTEA`).
    Bytes(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<u32> for Param<'_> {
    fn from(value: u32) -> Self {
        Param::Int(i64::from(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Param::OptionalInt(value)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(value)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(value: &'a String) -> Self {
        Param::Text(value)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(value: &'a [u8]) -> Self {
        Param::Bytes(value)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(value: &'a Vec<u8>) -> Self {
        Param::Bytes(value)
    }
}

/// An SQL statement and the values of its parameters, in order.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    sql: Cow<'a, str>,
    params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    /// A statement of our own text (never built from input: values go in parameters).
    pub(crate) fn new(sql: impl Into<Cow<'a, str>>) -> Self {
        Statement { sql: sql.into(), params: Vec::new() }
    }

    /// The same with one more parameter.
    pub(crate) fn bind(mut self, value: impl Into<Param<'a>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// The statement as sqlx runs it on backend `DB`.
    fn query<DB>(&self) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>>
    where
        DB: sqlx::Database,
        for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut query = sqlx::query::<DB>(&self.sql);
        for param in &self.params {
            query = match *param {
                Param::Int(v) => query.bind(v),
                Param::OptionalInt(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
                Param::Bytes(v) => query.bind(v),
            };
        }
        query
    }

    pub(crate) fn sqlite(&self) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
        self.query::<Sqlite>()
    }

    pub(crate) fn postgres(&self) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
        self.query::<Postgres>()
    }
}

/// A row read from either backend.
pub(crate) enum Row {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Postgres(PgRow),
}

impl Row {
    /// The value of a column, by name or position.
    pub(crate) fn get<T, I>(&self, column: I) -> Result<T, Error>
    where
        T: for<'r> sqlx::Decode<'r, Sqlite>
            + sqlx::Type<Sqlite>
            + for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>,
        I: sqlx::ColumnIndex<SqliteRow> + sqlx::ColumnIndex<PgRow>,
    {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
        .map_err(Error::from)
    }
}

impl Database {
    /// Run a read on the pool for reads.
    pub(crate) async fn fetch_all(&self, statement: Statement<'_>) -> Result<Vec<Row>, Error> {
        Ok(match self {
            Database::Sqlite { pool, .. } => {
                statement.sqlite().fetch_all(pool).await?.into_iter().map(Row::Sqlite).collect()
            }
            Database::Postgres(pool) => {
                statement.postgres().fetch_all(pool).await?.into_iter().map(Row::Postgres).collect()
            }
        })
    }

    /// Run a read that returns at most one row on the pool for reads.
    pub(crate) async fn fetch_optional(&self, statement: Statement<'_>) -> Result<Option<Row>, Error> {
        Ok(match self {
            Database::Sqlite { pool, .. } => statement.sqlite().fetch_optional(pool).await?.map(Row::Sqlite),
            Database::Postgres(pool) => statement.postgres().fetch_optional(pool).await?.map(Row::Postgres),
        })
    }

    /// Run a read that returns exactly one row on the pool for reads.
    pub(crate) async fn fetch_one(&self, statement: Statement<'_>) -> Result<Row, Error> {
        Ok(match self {
            Database::Sqlite { pool, .. } => Row::Sqlite(statement.sqlite().fetch_one(pool).await?),
            Database::Postgres(pool) => Row::Postgres(statement.postgres().fetch_one(pool).await?),
        })
    }

    /// The SQL dialect of the database's backend.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite { .. } => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run one write, in a transaction of its own, on the connection for writes; returns the rows it changed.
    pub(crate) async fn execute(&self, statement: Statement<'_>) -> Result<u64, Error> {
        Ok(match self {
            Database::Sqlite { writer, .. } => statement.sqlite().execute(writer).await?.rows_affected(),
            Database::Postgres(pool) => statement.postgres().execute(pool).await?.rows_affected(),
        })
    }
}

/// How the two backends' SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The backend's type for byte strings, substituted for `BYTES_TYPE` in migrations.
    pub(crate) fn bytes_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        }
    }

    /// The VALUES list of a multi-row INSERT: `($1, ..., $c), ($c+1, ...)` for PostgreSQL; anonymous `?` for
    /// SQLite, whose binding looks each numbered parameter up by name in a list as long as the statement
    /// (quadratic in the rows per statement; measured at 12% of bulk issuance with `$n`).
    pub(crate) fn placeholders(self, columns: usize, rows: usize) -> String {
        let mut n = 0;
        let mut row = || {
            let params: Vec<String> = (0..columns)
                .map(|_| {
                    n += 1;
                    match self {
                        Dialect::Sqlite => "?".to_string(),
                        Dialect::Postgres => format!("${n}"),
                    }
                })
                .collect();
            format!("({})", params.join(", "))
        };
        (0..rows).map(|_| row()).collect::<Vec<_>>().join(", ")
    }
}

/// Rows per multi-row INSERT (at most 9 columns each: far below either backend's bound-parameter limit).
pub(crate) const ROWS_PER_INSERT: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_and_anonymous_for_sqlite() {
        assert_eq!(Dialect::Postgres.placeholders(3, 2), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(Dialect::Sqlite.placeholders(3, 2), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(Dialect::Postgres.placeholders(1, 1), "($1)");
        assert_eq!(Dialect::Sqlite.placeholders(2, 0), "");
    }

    #[test]
    fn statements_keep_their_parameters_in_order() {
        let bytes = vec![1u8, 2];
        let s = Statement::new("SELECT $1, $2, $3, $4").bind(7i64).bind("x").bind(&bytes).bind(None::<i64>);
        let kinds: Vec<String> = s.params.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(kinds, ["Int(7)", "Text(\"x\")", "Bytes([1, 2])", "OptionalInt(None)"]);
    }
}
