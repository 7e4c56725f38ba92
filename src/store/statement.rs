//! SQL with named parameters, bound by name for both drivers: sqlx (every read, and every
//! PostgreSQL write) and rusqlite (the SQLite writer thread).
//!
//! A statement is written once, as a `static Sql`, with `:name` placeholders, and run with
//! the values its helper names: `Statement::new(&SQL, [("now", now.into()), ...])`. The
//! text is turned into `$1, $2, ...` in order of first appearance (which both engines
//! accept, SQLite numbering `$N` the same way) the first time it is used, and the values
//! are put in that order by name. A placeholder without a value, or a value without a
//! placeholder, is an error, so nothing is numbered by hand and a column added to a
//! statement cannot shift another's parameters (`README.md` here: adding a column).

use std::sync::OnceLock;

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, FromRow};

use super::StoreError;

/// A statement's text with `:name` placeholders, compiled once for the drivers.
pub(super) struct Sql {
    text: &'static str,
    /// Whether running it again after it landed leaves the rows as running it once did
    /// (`Sql::repeatable`).
    repeatable: bool,
    compiled: OnceLock<Result<Compiled, String>>,
}

struct Compiled {
    /// The text with `$N` placeholders.
    positional: String,
    /// Parameter names in `$N` order.
    names: Vec<&'static str>,
    /// Whether the statement returns rows (`RETURNING`): its first column is collected.
    returns_rows: bool,
    /// A `SELECT` inside a write: its rows are collected whole (`Outcome::rows`), read in
    /// the write's own transaction. On SQLite that is the writer's connection, which waits
    /// for no lock, where a pool read can wait behind a stream of commits.
    selects: bool,
}

impl Sql {
    pub(super) const fn new(text: &'static str) -> Self {
        Sql {
            text,
            repeatable: false,
            compiled: OnceLock::new(),
        }
    }

    /// A statement that may run twice: a second run after the first landed changes nothing
    /// more (it sets values, deletes, or matches what it wrote itself). On PostgreSQL a
    /// write made only of these is tried again even when the connection broke after it was
    /// sent, when it may have landed (`Db::write`); any other write is then left to fail.
    pub(super) const fn repeatable(text: &'static str) -> Self {
        Sql {
            text,
            repeatable: true,
            compiled: OnceLock::new(),
        }
    }

    fn compiled(&'static self) -> Result<&'static Compiled, StoreError> {
        self.compiled
            .get_or_init(|| compile(self.text))
            .as_ref()
            .map_err(|problem| StoreError::Statement(problem.clone()))
    }
}

/// Replaces each `:name` (outside quoted strings, and not a `::` cast) with `$N`, where N
/// is the position of the name's first appearance.
fn compile(text: &'static str) -> Result<Compiled, String> {
    let bytes = text.as_bytes();
    let mut positional = String::with_capacity(text.len());
    let mut names: Vec<&'static str> = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    let mut quoted = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b':' if !quoted && bytes.get(i + 1) == Some(&b':') => i += 1,
            b':' if !quoted && bytes.get(i + 1).is_some_and(|b| b.is_ascii_lowercase()) => {
                let end = bytes[i + 1..]
                    .iter()
                    .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_'))
                    .map_or(bytes.len(), |n| i + 1 + n);
                let name = &text[i + 1..end];
                let number = match names.iter().position(|known| *known == name) {
                    Some(index) => index + 1,
                    None => {
                        names.push(name);
                        names.len()
                    }
                };
                positional.push_str(&text[copied..i]);
                positional.push('$');
                positional.push_str(&number.to_string());
                copied = end;
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err(format!("an unclosed quote in `{text}`"));
    }
    positional.push_str(&text[copied..]);
    Ok(Compiled {
        returns_rows: text.contains("RETURNING"),
        selects: text.trim_start().starts_with("SELECT"),
        positional,
        names,
    })
}

/// One parameter's value, typed even when null: PostgreSQL will not take an untyped null
/// for a text column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(Some(value.to_owned()))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(Some(value))
    }
}

impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        Value::Text(value.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Value::Text(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        Value::Int(value)
    }
}

impl From<crate::clock::EpochMs> for Value {
    fn from(value: crate::clock::EpochMs) -> Self {
        Value::Int(Some(value.get()))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Int(Some(i64::from(value)))
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value::Blob(value.to_vec())
    }
}

impl From<&[u8; 32]> for Value {
    fn from(value: &[u8; 32]) -> Self {
        Value::Blob(value.to_vec())
    }
}

/// A statement with its values, in `$N` order.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    sql: &'static Compiled,
    values: Vec<Value>,
    /// The rows it must change, or the whole write fails and is rolled back.
    expected_rows: Option<u64>,
    repeatable: bool,
}

/// What one statement of a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) rows_affected: u64,
    /// The first column of each row a `RETURNING` statement returned.
    pub(super) returned: Vec<i64>,
    /// Every row of a `SELECT` run inside a write, each column as a `Value`.
    pub(super) rows: Vec<Vec<Value>>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.positional)
    }
}

impl Statement {
    /// `sql` with the values of its named parameters, in any order.
    pub(super) fn new(
        sql: &'static Sql,
        named: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Result<Self, StoreError> {
        let compiled = sql.compiled()?;
        let mut named: Vec<Option<(&str, Value)>> = named.into_iter().map(Some).collect();
        let mut values = Vec::with_capacity(compiled.names.len());
        for name in &compiled.names {
            let value = named
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|(given, _)| given == name))
                .and_then(Option::take)
                .ok_or_else(|| {
                    StoreError::Statement(format!("no value for `:{name}` in `{}`", sql.text))
                })?;
            values.push(value.1);
        }
        if let Some((extra, _)) = named.into_iter().flatten().next() {
            return Err(StoreError::Statement(format!(
                "`{extra}` is not a parameter of `{}`",
                sql.text
            )));
        }
        Ok(Statement {
            sql: compiled,
            values,
            expected_rows: None,
            repeatable: sql.repeatable,
        })
    }

    /// The whole write fails (and changes nothing) unless this changes exactly one row.
    pub(super) fn changing_one_row(mut self) -> Self {
        self.expected_rows = Some(1);
        self
    }

    pub(super) fn text(&self) -> &'static str {
        &self.sql.positional
    }

    pub(super) fn values(&self) -> &[Value] {
        &self.values
    }

    pub(super) fn returns_rows(&self) -> bool {
        self.sql.returns_rows
    }

    /// Whether it is a `SELECT` whose rows the write returns whole.
    pub(super) fn selects(&self) -> bool {
        self.sql.selects
    }

    /// Whether it may run again after it may have landed (`Sql::repeatable`).
    pub(super) fn is_repeatable(&self) -> bool {
        self.repeatable
    }

    /// Whether the statement must run in a transaction even alone (it checks its rows).
    pub(super) fn is_guarded(&self) -> bool {
        self.expected_rows.is_some()
    }

    /// What the statement had to do, to check what it did.
    pub(super) fn guard(&self) -> Guard {
        Guard {
            expected_rows: self.expected_rows,
            text: &self.sql.positional,
        }
    }

    /// Runs the statement through sqlx, on a pool or inside a transaction.
    pub(super) async fn run<'c, E>(self, executor: E) -> Result<Outcome, StoreError>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        use sqlx::Row;
        let guard = self.guard();
        let outcome = if self.selects() {
            let rows = self
                .query()
                .fetch_all(executor)
                .await?
                .iter()
                .map(|row| (0..row.len()).map(|i| Value::read(row, i)).collect())
                .collect::<Vec<Vec<Value>>>();
            Outcome {
                rows_affected: u64::try_from(rows.len()).unwrap_or(u64::MAX),
                returned: Vec::new(),
                rows,
            }
        } else if self.returns_rows() {
            let returned = self
                .query()
                .fetch_all(executor)
                .await?
                .iter()
                .map(|row| row.try_get::<i64, _>(0))
                .collect::<Result<Vec<_>, _>>()?;
            Outcome {
                rows_affected: u64::try_from(returned.len()).unwrap_or(u64::MAX),
                returned,
                rows: Vec::new(),
            }
        } else {
            Outcome {
                rows_affected: self.query().execute(executor).await?.rows_affected(),
                returned: Vec::new(),
                rows: Vec::new(),
            }
        };
        guard.check(outcome)
    }

    /// For sqlx: a query with the values bound.
    pub(super) fn query(self) -> Query<'static, Any, AnyArguments> {
        self.values
            .into_iter()
            .fold(
                sqlx::query(self.sql.positional.as_str()),
                |query, value| match value {
                    Value::Text(text) => query.bind(text),
                    Value::Int(int) => query.bind(int),
                    Value::Blob(blob) => query.bind(blob),
                },
            )
    }

    /// For sqlx: a query of rows of `T`, with the values bound.
    pub(super) fn query_as<T>(self) -> QueryAs<'static, Any, T, AnyArguments>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        self.values.into_iter().fold(
            sqlx::query_as(self.sql.positional.as_str()),
            |query, value| match value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
                Value::Blob(blob) => query.bind(blob),
            },
        )
    }
}

/// What a statement had to do.
#[derive(Clone, Copy)]
pub(super) struct Guard {
    expected_rows: Option<u64>,
    text: &'static str,
}

impl Guard {
    /// Checks what the statement did against what it had to do.
    pub(super) fn check(self, outcome: Outcome) -> Result<Outcome, StoreError> {
        match self.expected_rows {
            Some(expected) if outcome.rows_affected != expected => {
                Err(StoreError::Changed(format!(
                    "a statement changed {} rows instead of {expected}: `{}`",
                    outcome.rows_affected, self.text
                )))
            }
            _ => Ok(outcome),
        }
    }
}

impl Value {
    /// Column `i` of a sqlx row: an integer, else text, else bytes (NULL as text).
    fn read(row: &sqlx::any::AnyRow, i: usize) -> Value {
        use sqlx::Row;
        if let Ok(int) = row.try_get::<Option<i64>, _>(i) {
            return Value::Int(int);
        }
        if let Ok(text) = row.try_get::<Option<String>, _>(i) {
            return Value::Text(text);
        }
        Value::Blob(row.try_get::<Vec<u8>, _>(i).unwrap_or_default())
    }

    /// Column `i` of a rusqlite row, as `read`.
    pub(super) fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Value> {
        use rusqlite::types::ValueRef;
        Ok(match row.get_ref(i)? {
            ValueRef::Null => Value::Text(None),
            ValueRef::Integer(n) => Value::Int(Some(n)),
            ValueRef::Real(x) => Value::Text(Some(x.to_string())),
            ValueRef::Text(text) => Value::Text(Some(String::from_utf8_lossy(text).into_owned())),
            ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
        })
    }

    pub(super) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => *n,
            Value::Text(Some(text)) => text.parse().ok(),
            _ => None,
        }
    }

    pub(super) fn text(&self) -> Option<String> {
        match self {
            Value::Text(text) => text.clone(),
            Value::Int(Some(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Text(text) => text.to_sql(),
            Value::Int(int) => int.to_sql(),
            Value::Blob(blob) => blob.to_sql(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_numbers_in_order_of_first_appearance() {
        let compiled = compile(
            "UPDATE t SET a = :now, b = :why, c = :now WHERE x::text = ':not' AND id = :id",
        )
        .unwrap();
        assert_eq!(
            compiled.positional,
            "UPDATE t SET a = $1, b = $2, c = $1 WHERE x::text = ':not' AND id = $3"
        );
        assert_eq!(compiled.names, ["now", "why", "id"]);
        assert!(!compiled.returns_rows);
    }

    static PAIR: Sql = Sql::new("INSERT INTO t (a, b) VALUES (:b, :a) RETURNING id");

    #[test]
    fn values_are_put_in_the_statements_order_by_name() {
        let statement =
            Statement::new(&PAIR, [("a", Value::from(1)), ("b", Value::from("two"))]).unwrap();
        assert_eq!(
            statement.text(),
            "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id"
        );
        assert_eq!(statement.values(), [Value::from("two"), Value::from(1)]);
        assert!(statement.returns_rows());
    }

    #[test]
    fn a_missing_or_unknown_name_is_an_error_not_a_shifted_parameter() {
        let missing = Statement::new(&PAIR, [("a", Value::from(1))]).unwrap_err();
        assert!(
            missing.to_string().contains("no value for `:b`"),
            "{missing}"
        );
        let extra = Statement::new(
            &PAIR,
            [
                ("a", Value::from(1)),
                ("b", Value::from(2)),
                ("c", Value::from(3)),
            ],
        )
        .unwrap_err();
        assert!(
            extra.to_string().contains("`c` is not a parameter"),
            "{extra}"
        );
    }
}
