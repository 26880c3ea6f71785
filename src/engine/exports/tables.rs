//! Writing a frame into a database table, in one transaction: SQLite and
//! PostgreSQL replace or append inside a transaction; MariaDB/MySQL (whose
//! DDL commits by itself) replace by filling a new table and swapping it in
//! with one atomic `RENAME TABLE`. Column types follow the frame's.
//!
//! Knows nothing of schedules or datasets: the export runner calls it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use mysql::prelude::Queryable as _;
use polars::prelude::*;

use crate::engine::imports::columns::decimal_text;
use crate::engine::imports::{
    Cancel, ImportError, database::password, mysql as mysql_source, postgres as postgres_source,
};
use crate::model::exports::{TableTarget, TableWriteMode};

/// Rows per INSERT statement (MariaDB) and between two looks at the cancel.
const ROWS_PER_STATEMENT: usize = 500;

/// A cell as the databases take it: dates, times and decimals as their exact text.
#[derive(Debug, Clone, PartialEq)]
enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

fn sql_type(dtype: &DataType, dialect: Dialect) -> String {
    use Dialect::{Mysql, Postgres, Sqlite};
    match (dtype, dialect) {
        (DataType::Boolean, _) => "BOOLEAN".into(),
        (DataType::Int8 | DataType::Int16, Mysql) | (DataType::Int8 | DataType::Int16 | DataType::UInt8, Postgres) => {
            "SMALLINT".into()
        }
        (DataType::Int32 | DataType::UInt16, Postgres | Mysql) => "INTEGER".into(),
        (DataType::UInt64, Mysql) => "BIGINT UNSIGNED".into(),
        (DataType::UInt64, Postgres) => "NUMERIC(20, 0)".into(),
        (dt, _) if dt.is_integer() => {
            if dialect == Sqlite {
                "INTEGER".into()
            } else {
                "BIGINT".into()
            }
        }
        (DataType::Float32, Mysql) => "FLOAT".into(),
        (DataType::Float32, Postgres) => "REAL".into(),
        (dt, Sqlite) if dt.is_float() => "REAL".into(),
        (dt, _) if dt.is_float() => "DOUBLE PRECISION".into(),
        (DataType::Decimal(precision, scale), _) => format!("DECIMAL({precision}, {scale})"),
        (DataType::Binary, Postgres) => "BYTEA".into(),
        (DataType::Binary, _) => "BLOB".into(),
        (DataType::Date, _) => "DATE".into(),
        (DataType::Time, Mysql) => "TIME(6)".into(),
        (DataType::Time, _) => "TIME".into(),
        (DataType::Datetime(_, Some(_)), Postgres) => "TIMESTAMPTZ".into(),
        (DataType::Datetime(..), Postgres) => "TIMESTAMP".into(),
        (DataType::Datetime(..), Mysql) => "DATETIME(6)".into(),
        (DataType::Datetime(..), Sqlite) => "DATETIME".into(),
        (_, Mysql) => "LONGTEXT".into(),
        _ => "TEXT".into(),
    }
}

fn quote(name: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

fn create_sql(frame: &DataFrame, table: &str, dialect: Dialect) -> String {
    let columns: Vec<String> = frame
        .columns()
        .iter()
        .map(|c| format!("{} {}", quote(c.name(), dialect), sql_type(c.dtype(), dialect)))
        .collect();
    format!("CREATE TABLE IF NOT EXISTS {} ({})", quote(table, dialect), columns.join(", "))
}

fn value_of(value: AnyValue<'_>) -> SqlValue {
    match value {
        AnyValue::Null => SqlValue::Null,
        AnyValue::Boolean(v) => SqlValue::Bool(v),
        AnyValue::Int8(v) => SqlValue::Int(i64::from(v)),
        AnyValue::Int16(v) => SqlValue::Int(i64::from(v)),
        AnyValue::Int32(v) => SqlValue::Int(i64::from(v)),
        AnyValue::Int64(v) => SqlValue::Int(v),
        AnyValue::UInt8(v) => SqlValue::Int(i64::from(v)),
        AnyValue::UInt16(v) => SqlValue::Int(i64::from(v)),
        AnyValue::UInt32(v) => SqlValue::Int(i64::from(v)),
        AnyValue::UInt64(v) => SqlValue::UInt(v),
        AnyValue::Float32(v) => SqlValue::Float(f64::from(v)),
        AnyValue::Float64(v) => SqlValue::Float(v),
        AnyValue::String(v) => SqlValue::Text(v.to_string()),
        AnyValue::StringOwned(v) => SqlValue::Text(v.to_string()),
        AnyValue::Binary(v) => SqlValue::Bytes(v.to_vec()),
        AnyValue::BinaryOwned(v) => SqlValue::Bytes(v),
        AnyValue::Date(days) => chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map_or(SqlValue::Null, |d| SqlValue::Text(d.format("%Y-%m-%d").to_string())),
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
            let micros = match unit {
                TimeUnit::Nanoseconds => v / 1_000,
                TimeUnit::Microseconds => v,
                TimeUnit::Milliseconds => v.saturating_mul(1_000),
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map_or(SqlValue::Null, |t| SqlValue::Text(t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()))
        }
        AnyValue::Time(nanos) => {
            let seconds = nanos / 1_000_000_000;
            let micros = (nanos % 1_000_000_000) / 1_000;
            SqlValue::Text(format!("{:02}:{:02}:{:02}.{micros:06}", seconds / 3600, seconds / 60 % 60, seconds % 60))
        }
        AnyValue::Decimal(digits, _, scale) => SqlValue::Text(decimal_text(digits, scale)),
        other => SqlValue::Text(other.to_string()),
    }
}

fn rows(frame: &DataFrame, from: usize, to: usize) -> Vec<Vec<SqlValue>> {
    (from..to)
        .map(|row| frame.columns().iter().map(|c| c.get(row).map_or(SqlValue::Null, value_of)).collect())
        .collect()
}

pub fn write_sqlite(target: &TableTarget, frame: &DataFrame, base_dir: &Path) -> Result<String, ImportError> {
    let path = base_dir.join(&target.url);
    let shown = format!("SQLite {} table {}", path.display(), target.table);
    let error = |err: rusqlite::Error| ImportError::Source(format!("{shown}: {err}"));
    let mut connection = rusqlite::Connection::open(&path).map_err(error)?;
    connection.busy_timeout(Duration::from_secs(30)).map_err(error)?;
    let transaction = connection.transaction().map_err(error)?;
    let table = quote(&target.table, Dialect::Sqlite);
    if target.mode == TableWriteMode::Replace {
        transaction.execute_batch(&format!("DROP TABLE IF EXISTS {table}")).map_err(error)?;
    }
    transaction.execute_batch(&create_sql(frame, &target.table, Dialect::Sqlite)).map_err(error)?;
    {
        let marks = vec!["?"; frame.width()].join(", ");
        let mut insert = transaction.prepare(&format!("INSERT INTO {table} VALUES ({marks})")).map_err(error)?;
        for row in rows(frame, 0, frame.height()) {
            let values: Vec<rusqlite::types::Value> = row
                .into_iter()
                .map(|value| match value {
                    SqlValue::Null => rusqlite::types::Value::Null,
                    SqlValue::Bool(v) => rusqlite::types::Value::Integer(i64::from(v)),
                    SqlValue::Int(v) => rusqlite::types::Value::Integer(v),
                    SqlValue::UInt(v) => i64::try_from(v)
                        .map_or_else(|_| rusqlite::types::Value::Text(v.to_string()), rusqlite::types::Value::Integer),
                    SqlValue::Float(v) => rusqlite::types::Value::Real(v),
                    SqlValue::Text(v) => rusqlite::types::Value::Text(v),
                    SqlValue::Bytes(v) => rusqlite::types::Value::Blob(v),
                })
                .collect();
            insert.execute(rusqlite::params_from_iter(values)).map_err(error)?;
        }
    }
    transaction.commit().map_err(error)?;
    Ok(shown)
}

/// PostgreSQL's COPY text format for one value.
fn copy_text(value: &SqlValue, out: &mut String) {
    match value {
        SqlValue::Null => out.push_str("\\N"),
        SqlValue::Bool(v) => out.push_str(if *v { "t" } else { "f" }),
        SqlValue::Int(v) => {
            let _ = write!(out, "{v}");
        }
        SqlValue::UInt(v) => {
            let _ = write!(out, "{v}");
        }
        SqlValue::Float(v) => {
            let _ = write!(out, "{v}");
        }
        SqlValue::Text(text) => {
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        SqlValue::Bytes(bytes) => {
            out.push_str("\\\\x");
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

pub fn write_postgres(
    target: &TableTarget,
    export: &str,
    frame: &DataFrame,
    cancel: &Cancel,
) -> Result<String, ImportError> {
    use std::io::Write as _;
    let shown = format!("PostgreSQL {} table {}", target.url, target.table);
    let error =
        |err: postgres::Error| ImportError::Source(format!("{shown}: {}", postgres_source::describe_error(&err)));
    let password =
        password(target.password_env.as_ref(), target.password_keyring.as_ref(), &format!("export `{export}`"))?;
    let mut client = postgres_source::connect(&target.url, password)?;
    let mut transaction = client.transaction().map_err(error)?;
    transaction.batch_execute("SET LOCAL TimeZone = 'UTC'").map_err(error)?;
    let table = quote(&target.table, Dialect::Postgres);
    if target.mode == TableWriteMode::Replace {
        transaction.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).map_err(error)?;
    }
    transaction.batch_execute(&create_sql(frame, &target.table, Dialect::Postgres)).map_err(error)?;
    let mut writer = transaction.copy_in(&format!("COPY {table} FROM STDIN")).map_err(error)?;
    let mut start = 0;
    while start < frame.height() {
        cancel.check()?;
        let end = (start + 10_000).min(frame.height());
        let mut text = String::new();
        for row in rows(frame, start, end) {
            for (index, value) in row.iter().enumerate() {
                if index > 0 {
                    text.push('\t');
                }
                copy_text(value, &mut text);
            }
            text.push('\n');
        }
        writer.write_all(text.as_bytes()).map_err(|err| ImportError::Source(format!("{shown}: {err}")))?;
        start = end;
    }
    writer.finish().map_err(error)?;
    transaction.commit().map_err(error)?;
    Ok(shown)
}

pub fn write_mysql(
    target: &TableTarget,
    export: &str,
    frame: &DataFrame,
    cancel: &Cancel,
) -> Result<String, ImportError> {
    let shown = format!("MariaDB/MySQL {} table {}", target.url, target.table);
    let error = |err: mysql::Error| ImportError::Source(format!("{shown}: {err}"));
    let password =
        password(target.password_env.as_ref(), target.password_keyring.as_ref(), &format!("export `{export}`"))?;
    let mut connection = mysql_source::connect(&target.url, password, None)?;
    // Replace: fill a new table, then swap it in with one atomic RENAME.
    let fill = if target.mode == TableWriteMode::Replace {
        format!("{}__tidepool_new", target.table)
    } else {
        target.table.clone()
    };
    if target.mode == TableWriteMode::Replace {
        connection.query_drop(format!("DROP TABLE IF EXISTS {}", quote(&fill, Dialect::Mysql))).map_err(error)?;
    }
    connection.query_drop(create_sql(frame, &fill, Dialect::Mysql)).map_err(error)?;
    {
        let mut transaction = connection.start_transaction(mysql::TxOpts::default()).map_err(error)?;
        let row_marks = format!("({})", vec!["?"; frame.width()].join(", "));
        let mut start = 0;
        while start < frame.height() {
            cancel.check()?;
            let end = (start + ROWS_PER_STATEMENT).min(frame.height());
            let batch = rows(frame, start, end);
            let marks = vec![row_marks.as_str(); batch.len()].join(", ");
            let values: Vec<mysql::Value> = batch
                .into_iter()
                .flatten()
                .map(|value| match value {
                    SqlValue::Null => mysql::Value::NULL,
                    SqlValue::Bool(v) => mysql::Value::Int(i64::from(v)),
                    SqlValue::Int(v) => mysql::Value::Int(v),
                    SqlValue::UInt(v) => mysql::Value::UInt(v),
                    SqlValue::Float(v) => mysql::Value::Double(v),
                    SqlValue::Text(v) => mysql::Value::Bytes(v.into_bytes()),
                    SqlValue::Bytes(v) => mysql::Value::Bytes(v),
                })
                .collect();
            transaction
                .exec_drop(format!("INSERT INTO {} VALUES {marks}", quote(&fill, Dialect::Mysql)), values)
                .map_err(error)?;
            start = end;
        }
        transaction.commit().map_err(error)?;
    }
    if target.mode == TableWriteMode::Replace {
        let (table, new, old) = (
            quote(&target.table, Dialect::Mysql),
            quote(&fill, Dialect::Mysql),
            quote(&format!("{}__tidepool_old", target.table), Dialect::Mysql),
        );
        connection.query_drop(format!("DROP TABLE IF EXISTS {old}")).map_err(error)?;
        connection.query_drop(format!("CREATE TABLE IF NOT EXISTS {table} LIKE {new}")).map_err(error)?;
        connection.query_drop(format!("RENAME TABLE {table} TO {old}, {new} TO {table}")).map_err(error)?;
        connection.query_drop(format!("DROP TABLE {old}")).map_err(error)?;
    }
    Ok(shown)
}
