//! SQLite imports (rusqlite): a table or a query of a database file, typed by
//! the columns' declared types (SQLite's affinity rules), streamed in batches.
//!
//! Opens the file read-only; never writes to it.

use std::borrow::Cow;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::columns::{Cell, ColumnKind, parse_decimal, parse_temporal};
use super::database::{Batcher, Quoting, Since, declared_decimal, source_sql};
use super::{Cancel, Fetched, ImportError};
use crate::model::imports::{BadRowPolicy, DatabaseSource};

pub fn fetch(
    source: &DatabaseSource,
    base_dir: &Path,
    since: Option<&Since>,
    policy: BadRowPolicy,
    cancel: &Cancel,
    fetched: &mut Fetched,
) -> Result<(), ImportError> {
    let path =
        if Path::new(&source.url).is_absolute() { source.url.clone().into() } else { base_dir.join(&source.url) };
    let shown = path.display().to_string();
    let error = |err: rusqlite::Error| ImportError::Source(format!("SQLite database {shown}: {err}"));
    if !path.is_file() {
        return Err(ImportError::Source(format!("SQLite database {shown} does not exist")));
    }
    let connection = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(error)?;
    connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
    let sql = source_sql(source, since, Quoting::DoubleQuotes);
    let mut statement = connection.prepare(&sql).map_err(error)?;
    let names: Vec<String> = statement.column_names().map(str::to_string).collect();
    let declared: Vec<Option<String>> = statement.columns().map(|c| c.decl_type().map(str::to_string)).collect();
    let mut kinds: Vec<Option<ColumnKind>> = declared.iter().map(|d| d.as_deref().map(kind_of_declared)).collect();
    for (name, declared) in names.iter().zip(&declared) {
        if declared.as_deref().is_some_and(|d| d.to_ascii_uppercase().starts_with("NUMERIC") && !d.contains('(')) {
            fetched.log.push(format!(
                "column `{name}` is NUMERIC without precision: read as a float (about 15 significant digits)"
            ));
        }
    }
    let mut rows = statement.query([]).map_err(error)?;
    let first = rows.next().map_err(error)?;
    // Columns without a declared type (expressions) take the type of their first value.
    if let Some(row) = first {
        for (index, kind) in kinds.iter_mut().enumerate() {
            if kind.is_none() {
                *kind = Some(match row.get_ref(index).map_err(error)? {
                    ValueRef::Integer(_) => ColumnKind::Int64,
                    ValueRef::Real(_) => ColumnKind::Float64,
                    ValueRef::Blob(_) => ColumnKind::Binary,
                    ValueRef::Null | ValueRef::Text(_) => ColumnKind::Text,
                });
            }
        }
    }
    let kinds: Vec<ColumnKind> = kinds.into_iter().map(|k| k.unwrap_or(ColumnKind::Text)).collect();
    let mut batcher = Batcher::new(names.clone(), kinds.clone(), fetched, policy);
    if let Some(row) = first {
        push_row(&mut batcher, row, &names, &kinds, cancel)?;
    }
    while let Some(row) = rows.next().map_err(error)? {
        push_row(&mut batcher, row, &names, &kinds, cancel)?;
    }
    batcher.finish()
}

/// One row into the batch, or a bad row when a value does not fit its column.
fn push_row(
    batcher: &mut Batcher<'_>,
    row: &rusqlite::Row<'_>,
    names: &[String],
    kinds: &[ColumnKind],
    cancel: &Cancel,
) -> Result<(), ImportError> {
    let mut cells = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        let value = row.get_ref(index).map_err(|err| ImportError::Source(format!("SQLite: {err}")))?;
        let Some(cell) = cell_of(kind, value) else {
            let why = format!("{} does not fit {kind:?}", describe(value));
            return batcher.push_undecodable(&names[index], &why);
        };
        cells.push(cell);
    }
    batcher.push(cells, cancel)
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(v) => format!("integer {v}"),
        ValueRef::Real(v) => format!("real {v}"),
        ValueRef::Text(t) => format!("text `{}`", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a {}-byte blob", b.len()),
    }
}

/// A column's kind from its declared type, by SQLite's affinity rules plus the
/// common names for booleans, decimals, dates and times.
fn kind_of_declared(declared: &str) -> ColumnKind {
    let upper = declared.to_ascii_uppercase();
    if upper.starts_with("BOOL") {
        ColumnKind::Boolean
    } else if upper.contains("INT") {
        ColumnKind::Int64
    } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") || upper.contains("JSON") {
        ColumnKind::Text
    } else if upper.contains("BLOB") || upper.is_empty() {
        ColumnKind::Binary
    } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
        ColumnKind::Float64
    } else if upper.starts_with("DECIMAL") || upper.starts_with("NUMERIC") {
        declared_decimal(&upper)
            .map_or(ColumnKind::Float64, |(precision, scale)| ColumnKind::Decimal { precision, scale })
    } else if upper.starts_with("DATETIME") || upper.starts_with("TIMESTAMP") {
        ColumnKind::Datetime { utc: false }
    } else if upper.starts_with("DATE") {
        ColumnKind::Date
    } else if upper.starts_with("TIME") {
        ColumnKind::Time
    } else {
        ColumnKind::Float64
    }
}

fn cell_of<'a>(kind: &ColumnKind, value: ValueRef<'a>) -> Option<Cell<'a>> {
    Some(match (kind, value) {
        (_, ValueRef::Null) => Cell::Null,
        (ColumnKind::Boolean, ValueRef::Integer(v)) => Cell::Bool(v != 0),
        (ColumnKind::Boolean, ValueRef::Text(t)) => match t.to_ascii_lowercase().as_slice() {
            b"true" | b"t" | b"1" => Cell::Bool(true),
            b"false" | b"f" | b"0" => Cell::Bool(false),
            _ => return None,
        },
        (ColumnKind::Int64, ValueRef::Integer(v)) => Cell::Int(v),
        (ColumnKind::Float64, ValueRef::Integer(v)) => Cell::Float(v as f64),
        (ColumnKind::Float64, ValueRef::Real(v)) => Cell::Float(v),
        (ColumnKind::Decimal { .. }, ValueRef::Integer(v)) => Cell::Decimal(i128::from(v), 0),
        (ColumnKind::Decimal { .. }, ValueRef::Text(t)) => {
            let (digits, scale) = parse_decimal(std::str::from_utf8(t).ok()?)?;
            Cell::Decimal(digits, scale)
        }
        (ColumnKind::Decimal { .. }, ValueRef::Real(v)) => {
            let (digits, scale) = parse_decimal(&v.to_string())?;
            Cell::Decimal(digits, scale)
        }
        (ColumnKind::Text, ValueRef::Text(t)) => Cell::Text(Cow::Borrowed(std::str::from_utf8(t).ok()?)),
        (ColumnKind::Text, ValueRef::Integer(v)) => Cell::Text(Cow::Owned(v.to_string())),
        (ColumnKind::Text, ValueRef::Real(v)) => Cell::Text(Cow::Owned(v.to_string())),
        (ColumnKind::Binary, ValueRef::Blob(b) | ValueRef::Text(b)) => Cell::Bytes(Cow::Borrowed(b)),
        (ColumnKind::Binary, ValueRef::Integer(v)) => Cell::Bytes(Cow::Owned(v.to_string().into_bytes())),
        (ColumnKind::Binary, ValueRef::Real(v)) => Cell::Bytes(Cow::Owned(v.to_string().into_bytes())),
        (ColumnKind::Date | ColumnKind::Time | ColumnKind::Datetime { .. }, ValueRef::Text(t)) => {
            parse_temporal(kind, std::str::from_utf8(t).ok()?)?
        }
        // Integers in a date-time column are Unix seconds (SQLite's `unixepoch()`).
        (ColumnKind::Datetime { .. }, ValueRef::Integer(v)) => Cell::Timestamp(v.checked_mul(1_000_000)?),
        _ => return None,
    })
}
