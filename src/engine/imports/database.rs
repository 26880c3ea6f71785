//! What the database sources share: the SQL they run (a table, a query, and
//! for incremental imports the query wrapped to fetch past the stored cursor),
//! batching rows into frames, and turning misfit values into bad rows.
//!
//! Must not know any one database's protocol: `sqlite`, `postgres` and
//! `mysql` do.

use super::columns::{BatchBuilder, Cell, CellMismatch, ColumnKind};
use super::{BadRow, Cancel, Fetched, ImportError};
use crate::model::imports::{BadRowPolicy, DatabaseSource};

/// Rows per batch: memory while importing is bounded by this, not the table's size.
pub const BATCH_ROWS: usize = 50_000;

/// How a database writes identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// `"name"` (SQLite, PostgreSQL).
    DoubleQuotes,
    /// `` `name` `` (MariaDB, MySQL).
    Backticks,
}

/// The stored cursor of an incremental import, and the column it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    pub column: String,
    /// The cursor as a SQL literal (a number, or quoted text).
    pub literal: String,
}

pub fn quote_identifier(name: &str, quoting: Quoting) -> String {
    let (open, close) = match quoting {
        Quoting::DoubleQuotes => ('"', '"'),
        Quoting::Backticks => ('`', '`'),
    };
    name.split('.')
        .map(|part| format!("{open}{}{close}", part.replace(close, &format!("{close}{close}"))))
        .collect::<Vec<_>>()
        .join(".")
}

/// The SQL an import runs.
pub fn source_sql(source: &DatabaseSource, since: Option<&Since>, quoting: Quoting) -> String {
    let base = match (&source.table, &source.query) {
        (Some(table), _) => format!("SELECT * FROM {}", quote_identifier(table, quoting)),
        (None, Some(query)) => query.trim().trim_end_matches(';').to_string(),
        (None, None) => String::new(),
    };
    match since {
        None => base,
        Some(since) => format!(
            "SELECT * FROM ({base}) AS tidepool_source WHERE {} > {}",
            quote_identifier(&since.column, quoting),
            since.literal
        ),
    }
}

/// The database password where the workbook says it is (an environment
/// variable or a keyring entry), or an error naming that place; `job` says
/// who asks, e.g. "import `orders`".
pub fn password(env: Option<&String>, keyring: Option<&String>, job: &str) -> Result<Option<String>, ImportError> {
    let place = crate::engine::secrets::SecretPlace::from_fields(env, keyring);
    Ok(crate::engine::secrets::read_optional(place, &format!("{job} reads its database password"))?)
}

/// Fills batches from rows and hands each full one to `fetched`.
#[derive(Debug)]
pub struct Batcher<'a> {
    builder: BatchBuilder,
    fetched: &'a mut Fetched,
    policy: BadRowPolicy,
    row_number: u64,
}

impl<'a> Batcher<'a> {
    pub fn new(names: Vec<String>, kinds: Vec<ColumnKind>, fetched: &'a mut Fetched, policy: BadRowPolicy) -> Self {
        Self { builder: BatchBuilder::new(names, kinds), fetched, policy, row_number: 0 }
    }

    /// Adds one row; after every [`BATCH_ROWS`] the batch goes on and the cancel is looked at.
    pub fn push(&mut self, row: Vec<Cell<'_>>, cancel: &Cancel) -> Result<(), ImportError> {
        if let Err(CellMismatch { column, why }) = self.builder.push_row(row) {
            return self.push_undecodable(&column, &why);
        }
        self.row_number += 1;
        if self.builder.rows() >= self.fetched.batch_rows(BATCH_ROWS) {
            self.flush()?;
            cancel.check()?;
        }
        Ok(())
    }

    /// Adds one row from its decoded values; a value that could not be
    /// decoded (`None`) makes the row a bad row naming its column.
    pub fn push_decoded<'c>(
        &mut self,
        values: impl Iterator<Item = Option<Cell<'c>>>,
        cancel: &Cancel,
    ) -> Result<(), ImportError> {
        let mut cells = Vec::with_capacity(self.builder.width());
        for (index, value) in values.enumerate() {
            let Some(cell) = value else {
                let column = self.builder.name(index).to_string();
                return self.push_undecodable(&column, "a value tidepool cannot decode");
            };
            cells.push(cell);
        }
        self.push(cells, cancel)
    }

    /// Counts a row whose value in `column` could not be decoded or does not fit, as a bad row.
    pub fn push_undecodable(&mut self, column: &str, why: &str) -> Result<(), ImportError> {
        self.row_number += 1;
        let row = BadRow {
            location: format!("row {}", self.row_number),
            why: format!("column `{column}`: {why}"),
            text: String::new(),
        };
        self.fetched.note_bad_rows(vec![row], self.policy)
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        let frame = self.builder.take_frame().map_err(|err| ImportError::Source(err.to_string()))?;
        self.fetched.push(frame)
    }

    /// Hands on the last batch (also when empty, so the table has its columns).
    pub fn finish(mut self) -> Result<(), ImportError> {
        if self.builder.rows() > 0 || self.fetched.batches() == 0 {
            self.flush()?;
        }
        self.fetched.log.push(format!("read {} rows", self.row_number));
        Ok(())
    }
}

/// Decimal precision and scale from a declared type such as `DECIMAL(10, 2)`.
pub fn declared_decimal(declared: &str) -> Option<(usize, usize)> {
    let inside = declared.split_once('(')?.1.split_once(')')?.0;
    let mut parts = inside.split(',').map(|part| part.trim().parse::<usize>().ok());
    let precision = parts.next()??;
    let scale = parts.next().flatten().unwrap_or(0);
    (1..=38).contains(&precision).then_some((precision, scale.min(precision)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_queries_wrap_the_source_and_quote_names() {
        let source = DatabaseSource {
            url: "x".into(),
            password_env: None,
            password_keyring: None,
            table: Some("shop.order\"s".into()),
            query: None,
        };
        let since = Since { column: "updated_at".into(), literal: "'2026-11-20 00:00:00'".into() };
        assert_eq!(
            source_sql(&source, Some(&since), Quoting::DoubleQuotes),
            "SELECT * FROM (SELECT * FROM \"shop\".\"order\"\"s\") AS tidepool_source WHERE \"updated_at\" > '2026-11-20 00:00:00'"
        );
        assert_eq!(declared_decimal("DECIMAL(10, 2)"), Some((10, 2)));
        assert_eq!(declared_decimal("NUMERIC"), None);
    }
}
