//! MariaDB / MySQL imports (the `mysql` client, binary protocol): a table or
//! a query, streamed row by row into batches, each column typed from its
//! declared type, flags and character set.
//!
//! The session runs in UTC (so TIMESTAMP columns are instants) with the
//! import's timeout as the statement limit. Never writes.

use std::borrow::Cow;
use std::time::Duration;

use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::Queryable as _;
use mysql::{Conn, Opts, OptsBuilder, SslOpts, Value};

use super::columns::{Cell, ColumnKind, days_from_civil, parse_decimal};
use super::database::{Batcher, Quoting, Since, password, source_sql};
use super::db_tls::{TlsMode, TlsSettings};
use super::{Cancel, Fetched, ImportError};
use crate::model::imports::{BadRowPolicy, DatabaseSource};

/// The character set number MySQL uses for binary strings.
const BINARY_CHARSET: u16 = 63;

#[allow(clippy::too_many_arguments)] // one call per run: the source and where its rows go
pub fn fetch(
    source: &DatabaseSource,
    import: &str,
    since: Option<&Since>,
    policy: BadRowPolicy,
    timeout: Duration,
    cancel: &Cancel,
    fetched: &mut Fetched,
) -> Result<(), ImportError> {
    let shown = source.url.clone();
    let error = |err: mysql::Error| ImportError::Source(format!("MariaDB/MySQL {shown}: {err}"));
    let password =
        password(source.password_env.as_ref(), source.password_keyring.as_ref(), &format!("import `{import}`"))?;
    let mut connection = connect(&source.url, password, Some(timeout))?;
    // MariaDB's limit, then MySQL's; each server ignores the other's by failing.
    let _ = connection.query_drop(format!("SET SESSION max_statement_time = {}", timeout.as_secs().max(1)));
    let _ = connection.query_drop(format!("SET SESSION max_execution_time = {}", timeout.as_millis().max(1)));
    let sql = source_sql(source, since, Quoting::Backticks);
    let mut result = connection.exec_iter(sql, ()).map_err(error)?;
    let columns = result.columns().as_ref().to_vec();
    let names: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    let kinds: Vec<ColumnKind> = columns.iter().map(kind_of).collect();
    let mut batcher = Batcher::new(names.clone(), kinds.clone(), fetched, policy);
    for row in result.by_ref() {
        let row = row.map_err(error)?;
        let values = kinds.iter().enumerate().map(|(index, kind)| row.as_ref(index).and_then(|v| cell_of(kind, v)));
        batcher.push_decoded(values, cancel)?;
    }
    batcher.finish()
}

/// A session with the server at `url` (no password in it), in UTC, so that
/// TIMESTAMP columns are instants, over TLS when its `ssl-mode` asks;
/// `read_timeout` bounds each read. A TLS failure is not retried.
pub(crate) fn connect(
    url: &str,
    password: Option<String>,
    read_timeout: Option<Duration>,
) -> Result<Conn, ImportError> {
    let error = |err: mysql::Error| ImportError::Source(format!("MariaDB/MySQL {url}: {err}"));
    let tls = TlsSettings::mysql(url)?;
    let opts =
        Opts::from_url(&tls.url).map_err(|err| ImportError::Source(format!("MariaDB/MySQL url `{url}`: {err}")))?;
    let mut builder = OptsBuilder::from_opts(opts)
        .tcp_connect_timeout(Some(Duration::from_secs(10)))
        .read_timeout(read_timeout)
        .prefer_socket(false);
    if let Some(password) = password {
        builder = builder.pass(Some(password));
    }
    // The client identity's PKCS#12 file must live until the handshake is done.
    let (ssl, _identity_file) = ssl_options(&tls)?.unzip();
    if let Some(ssl) = ssl {
        builder = builder.ssl_opts(ssl);
    }
    let mut connection = Conn::new(builder).map_err(|err| match err {
        mysql::Error::TlsError(_) | mysql::Error::DriverError(mysql::DriverError::TlsNotSupported) => {
            ImportError::Config(format!("MariaDB/MySQL {url}: TLS failed ({err}); check ssl-mode and ssl-ca"))
        }
        other => error(other),
    })?;
    connection.query_drop("SET time_zone = '+00:00'").map_err(error)?;
    Ok(connection)
}

/// The client's TLS options for the URL's `ssl-mode`, `ssl-ca`, `ssl-cert`
/// and `ssl-key` (none: plaintext), with the temporary PKCS#12 file the
/// client reads its identity from (the `mysql` client takes no other form).
fn ssl_options(tls: &TlsSettings) -> Result<Option<(SslOpts, Option<tempfile::NamedTempFile>)>, ImportError> {
    let ssl = match tls.mode {
        TlsMode::Disable | TlsMode::Prefer => return Ok(None),
        TlsMode::Require => {
            SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true)
        }
        TlsMode::VerifyCa => SslOpts::default().with_danger_skip_domain_validation(true),
        TlsMode::VerifyFull => SslOpts::default(),
    };
    let ssl = match &tls.root_certificate {
        Some(path) => {
            if !path.is_file() {
                return Err(ImportError::Config(format!("the CA certificate {} does not exist", path.display())));
            }
            ssl.with_root_cert_path(Some(path.clone()))
        }
        None => ssl,
    };
    let Some(client) = &tls.client else { return Ok(Some((ssl, None))) };
    let archive = client.pkcs12()?;
    let written = || -> std::io::Result<tempfile::NamedTempFile> {
        // Created readable by this user only.
        let mut file = tempfile::Builder::new().prefix("tidepool-identity").suffix(".p12").tempfile()?;
        std::io::Write::write_all(&mut file, &archive)?;
        Ok(file)
    };
    let file = written().map_err(|err| ImportError::Source(format!("cannot write the client identity: {err}")))?;
    let identity = mysql::ClientIdentity::new(file.path().to_path_buf()).with_password("");
    Ok(Some((ssl.with_client_identity(Some(identity)), Some(file))))
}

fn kind_of(column: &mysql::Column) -> ColumnKind {
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = column.character_set() == BINARY_CHARSET;
    let pick = |signed: ColumnKind, unsigned_kind: ColumnKind| if unsigned { unsigned_kind } else { signed };
    match column.column_type() {
        // MariaDB's BOOLEAN is TINYINT(1).
        ColumnType::MYSQL_TYPE_TINY if column.column_length() == 1 && !unsigned => ColumnKind::Boolean,
        ColumnType::MYSQL_TYPE_TINY => pick(ColumnKind::Int8, ColumnKind::UInt8),
        ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR => pick(ColumnKind::Int16, ColumnKind::UInt16),
        ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG => pick(ColumnKind::Int32, ColumnKind::UInt32),
        ColumnType::MYSQL_TYPE_LONGLONG | ColumnType::MYSQL_TYPE_BIT => pick(ColumnKind::Int64, ColumnKind::UInt64),
        ColumnType::MYSQL_TYPE_FLOAT => ColumnKind::Float32,
        ColumnType::MYSQL_TYPE_DOUBLE => ColumnKind::Float64,
        ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
            let scale = usize::from(column.decimals());
            let length = column.column_length() as usize;
            let precision = length.saturating_sub(usize::from(scale > 0)).saturating_sub(usize::from(!unsigned));
            ColumnKind::Decimal { precision: precision.clamp(1, 38), scale: scale.min(38) }
        }
        ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => ColumnKind::Date,
        ColumnType::MYSQL_TYPE_TIME | ColumnType::MYSQL_TYPE_TIME2 => ColumnKind::Time,
        ColumnType::MYSQL_TYPE_DATETIME | ColumnType::MYSQL_TYPE_DATETIME2 => ColumnKind::Datetime { utc: false },
        ColumnType::MYSQL_TYPE_TIMESTAMP | ColumnType::MYSQL_TYPE_TIMESTAMP2 => ColumnKind::Datetime { utc: true },
        ColumnType::MYSQL_TYPE_TINY_BLOB
        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
        | ColumnType::MYSQL_TYPE_LONG_BLOB
        | ColumnType::MYSQL_TYPE_BLOB
        | ColumnType::MYSQL_TYPE_VAR_STRING
        | ColumnType::MYSQL_TYPE_VARCHAR
        | ColumnType::MYSQL_TYPE_STRING
        | ColumnType::MYSQL_TYPE_GEOMETRY
            if binary =>
        {
            ColumnKind::Binary
        }
        _ => ColumnKind::Text,
    }
}

fn cell_of<'a>(kind: &ColumnKind, value: &'a Value) -> Option<Cell<'a>> {
    Some(match (kind, value) {
        (_, Value::NULL) => Cell::Null,
        (ColumnKind::Boolean, Value::Int(v)) => Cell::Bool(*v != 0),
        (ColumnKind::UInt8 | ColumnKind::UInt16 | ColumnKind::UInt32 | ColumnKind::UInt64, Value::Int(v)) => {
            Cell::UInt(u64::try_from(*v).ok()?)
        }
        (_, Value::Int(v)) => Cell::Int(*v),
        (ColumnKind::Int64, Value::UInt(v)) => Cell::Int(i64::try_from(*v).ok()?),
        (_, Value::UInt(v)) => Cell::UInt(*v),
        (_, Value::Float(v)) => Cell::Float(f64::from(*v)),
        (_, Value::Double(v)) => Cell::Float(*v),
        (ColumnKind::Decimal { .. }, Value::Bytes(bytes)) => {
            let (digits, scale) = parse_decimal(std::str::from_utf8(bytes).ok()?)?;
            Cell::Decimal(digits, scale)
        }
        (ColumnKind::UInt64 | ColumnKind::Int64, Value::Bytes(bytes)) => {
            // BIT(n) arrives as big-endian bytes.
            Cell::UInt(bytes.iter().fold(0_u64, |acc, b| (acc << 8) | u64::from(*b)))
        }
        (ColumnKind::Binary, Value::Bytes(bytes)) => Cell::Bytes(Cow::Borrowed(bytes)),
        (ColumnKind::Text, Value::Bytes(bytes)) => Cell::Text(Cow::Borrowed(std::str::from_utf8(bytes).ok()?)),
        (ColumnKind::Date, Value::Date(year, month, day, ..)) => Cell::Date(days_from_civil(
            chrono::NaiveDate::from_ymd_opt(i32::from(*year), u32::from(*month), u32::from(*day))?,
        )),
        (ColumnKind::Datetime { .. }, Value::Date(year, month, day, hour, minute, second, micros)) => {
            let date = chrono::NaiveDate::from_ymd_opt(i32::from(*year), u32::from(*month), u32::from(*day))?;
            let time = date.and_hms_micro_opt(u32::from(*hour), u32::from(*minute), u32::from(*second), *micros)?;
            Cell::Timestamp(time.and_utc().timestamp_micros())
        }
        (ColumnKind::Time, Value::Time(negative, days, hours, minutes, seconds, micros)) => {
            // A TIME is a time of day only when it lies within one day.
            if *negative || *days > 0 {
                return None;
            }
            let seconds = i64::from(*hours) * 3_600 + i64::from(*minutes) * 60 + i64::from(*seconds);
            Cell::Time(seconds * 1_000_000_000 + i64::from(*micros) * 1_000)
        }
        _ => return None,
    })
}
