//! PostgreSQL imports over PostgreSQL's own protocol (the `postgres` client):
//! a table or a query, its columns typed from the prepared statement's
//! declared types and modifiers, its rows streamed by `COPY (…) TO STDOUT` in
//! binary format and decoded as they arrive.
//!
//! Runs in a read-only transaction with the session in UTC and the import's
//! timeout as `statement_timeout`. Never writes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::types::Type;
use postgres::{Config, NoTls};

use super::columns::{Cell, ColumnKind, parse_decimal};
use super::database::{Batcher, Quoting, Since, password, source_sql};
use super::db_tls::{TlsMode, TlsSettings, with_causes};
use super::{Cancel, Fetched, ImportError};
use crate::model::imports::{BadRowPolicy, DatabaseSource};

/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

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
    let error = |err: postgres::Error| {
        // The server cancelled the query at our statement_timeout: the run's timeout.
        if err.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) {
            return ImportError::TimedOut(timeout.as_secs());
        }
        ImportError::Source(format!("PostgreSQL {shown}: {}", describe_error(&err)))
    };
    let password =
        password(source.password_env.as_ref(), source.password_keyring.as_ref(), &format!("import `{import}`"))?;
    let mut client = connect(&source.url, password)?;
    let mut transaction = client.transaction().map_err(error)?;
    transaction
        .batch_execute(&format!(
            "SET TRANSACTION READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL statement_timeout = {}",
            timeout.as_millis().max(1)
        ))
        .map_err(error)?;
    let sql = source_sql(source, since, Quoting::DoubleQuotes);
    let statement = transaction.prepare(&sql).map_err(error)?;
    let names: Vec<String> = statement.columns().iter().map(|c| c.name().to_string()).collect();
    let mut kinds = Vec::with_capacity(names.len());
    for column in statement.columns() {
        let kind = kind_of(column.type_(), column.type_modifier()).ok_or_else(|| {
            ImportError::Source(format!(
                "PostgreSQL {shown}: column `{}` has type {}, which tidepool does not read yet; \
                 cast it in a query, e.g. {}::text",
                column.name(),
                column.type_(),
                column.name()
            ))
        })?;
        if *column.type_() == Type::NUMERIC && kind == ColumnKind::Float64 {
            fetched.log.push(format!(
                "column `{}` is numeric without a declared scale: read as a float (about 15 significant digits); \
                 declare numeric(p, s) or cast it in a query to keep it exact",
                column.name()
            ));
        }
        kinds.push(kind);
    }
    let types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
    // COPY … TO STDOUT in binary: the rows arrive as one stream in the same
    // binary encodings as the portal's, without a protocol message per row.
    let copy = transaction.copy_out(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)")).map_err(error)?;
    let mut reader = CopyRows::new(std::io::BufReader::with_capacity(1 << 20, copy), types.len())
        .map_err(|err| ImportError::Source(format!("PostgreSQL {shown}: {err}")))?;
    let mut batcher = Batcher::new(names.clone(), kinds.clone(), fetched, policy);
    loop {
        let more =
            reader.next_row().map_err(|err| match err.get_ref().and_then(|e| e.downcast_ref::<postgres::Error>()) {
                Some(pg) if pg.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) => {
                    ImportError::TimedOut(timeout.as_secs())
                }
                _ => ImportError::Source(format!("PostgreSQL {shown}: reading the rows: {err}")),
            })?;
        if !more {
            break;
        }
        let values = kinds.iter().zip(&types).enumerate().map(|(index, (kind, ty))| match reader.value(index) {
            None => Some(Cell::Null),
            Some(bytes) => decode(ty, kind, bytes),
        });
        batcher.push_decoded(values, cancel)?;
    }
    batcher.finish()?;
    drop(reader);
    transaction.commit().map_err(error)
}

/// The rows of a binary `COPY … TO STDOUT`: a signature and header, then per
/// row a field count and each field's length (−1 for NULL) and bytes, then a
/// count of −1. One row's values are held at a time, in reused buffers.
struct CopyRows<R> {
    reader: R,
    /// All values of the current row, back to back; `spans` says where each one is.
    values: Vec<u8>,
    spans: Vec<Option<(usize, usize)>>,
    columns: usize,
}

const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

impl<R: std::io::Read> CopyRows<R> {
    fn new(mut reader: R, columns: usize) -> std::io::Result<Self> {
        let mut header = [0_u8; 19];
        reader.read_exact(&mut header)?;
        if &header[..11] != COPY_SIGNATURE {
            return Err(std::io::Error::other("the server's COPY output is not in PostgreSQL's binary format"));
        }
        let extension = u32::from_be_bytes([header[15], header[16], header[17], header[18]]) as usize;
        // The header extension area: empty today, skipped whatever it holds.
        let mut skipped = vec![0_u8; extension.min(1 << 20)];
        reader.read_exact(&mut skipped)?;
        Ok(Self { reader, values: Vec::new(), spans: Vec::with_capacity(columns), columns })
    }

    /// Reads the next row; `false` at the end.
    fn next_row(&mut self) -> std::io::Result<bool> {
        let mut count = [0_u8; 2];
        match self.reader.read_exact(&mut count) {
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            other => other?,
        }
        let count = i16::from_be_bytes(count);
        if count == -1 {
            return Ok(false);
        }
        if count as usize != self.columns {
            return Err(std::io::Error::other(format!("a row has {count} fields, the query {}", self.columns)));
        }
        self.values.clear();
        self.spans.clear();
        for _ in 0..self.columns {
            let mut length = [0_u8; 4];
            self.reader.read_exact(&mut length)?;
            let length = i32::from_be_bytes(length);
            if length < 0 {
                self.spans.push(None);
                continue;
            }
            let start = self.values.len();
            self.values.resize(start + length as usize, 0);
            self.reader.read_exact(&mut self.values[start..])?;
            self.spans.push(Some((start, start + length as usize)));
        }
        Ok(true)
    }

    /// Column `index` of the current row (`None`: NULL).
    fn value(&self, index: usize) -> Option<&[u8]> {
        let (start, end) = self.spans.get(index).copied().flatten()?;
        Some(&self.values[start..end])
    }
}

/// A session with the server at `url` (no password in it), over TLS as its
/// `sslmode` asks, in a few seconds or an error naming the server. A TLS
/// failure (no TLS on the server, a certificate that does not verify) is the
/// user's to fix: it is not retried.
pub(crate) fn connect(url: &str, password: Option<String>) -> Result<postgres::Client, ImportError> {
    let tls = TlsSettings::postgres(url)?;
    let mut config: Config = tls
        .url
        .parse()
        .map_err(|err: postgres::Error| ImportError::Source(format!("PostgreSQL url `{url}`: {err}")))?;
    if let Some(password) = password {
        config.password(password);
    }
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("tidepool");
    config.ssl_mode(match tls.mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    let connected = match tls.connector()? {
        None => config.connect(NoTls),
        Some(connector) => config.connect(postgres_native_tls::MakeTlsConnector::new(connector)),
    };
    connected.map_err(|err| {
        let words = match err.as_db_error() {
            Some(_) => describe_error(&err),
            None => with_causes(&err),
        };
        if tls.mode != TlsMode::Prefer && tls.mode != TlsMode::Disable && is_tls_failure(&words) {
            ImportError::Config(format!("PostgreSQL {url}: TLS failed ({words}); check sslmode and sslrootcert"))
        } else {
            ImportError::Source(format!("PostgreSQL {url}: {words}"))
        }
    })
}

/// Whether a connection error is about TLS rather than the network or the login.
fn is_tls_failure(words: &str) -> bool {
    let words = words.to_ascii_lowercase();
    ["tls", "ssl", "certificate", "handshake"].iter().any(|w| words.contains(w))
}

/// The server's own words (with its detail) rather than "db error".
pub(crate) fn describe_error(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("{}{detail}", db.message())
        }
        None => err.to_string(),
    }
}

fn kind_of(ty: &Type, modifier: i32) -> Option<ColumnKind> {
    Some(match *ty {
        Type::BOOL => ColumnKind::Boolean,
        Type::INT2 => ColumnKind::Int16,
        Type::INT4 => ColumnKind::Int32,
        Type::INT8 => ColumnKind::Int64,
        Type::OID => ColumnKind::UInt32,
        Type::FLOAT4 => ColumnKind::Float32,
        Type::NUMERIC if modifier >= 4 => {
            let precision = (((modifier - 4) >> 16) & 0xffff) as usize;
            let scale = ((modifier - 4) & 0xffff) as usize;
            if (1..=38).contains(&precision) { ColumnKind::Decimal { precision, scale } } else { ColumnKind::Float64 }
        }
        // Unconstrained numeric: no scale to keep; said in the run log.
        Type::FLOAT8 | Type::NUMERIC => ColumnKind::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB | Type::UUID => {
            ColumnKind::Text
        }
        Type::BYTEA => ColumnKind::Binary,
        Type::DATE => ColumnKind::Date,
        Type::TIME => ColumnKind::Time,
        Type::TIMESTAMP => ColumnKind::Datetime { utc: false },
        Type::TIMESTAMPTZ => ColumnKind::Datetime { utc: true },
        _ => return None,
    })
}

fn be<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

fn decode<'a>(ty: &Type, kind: &ColumnKind, bytes: &'a [u8]) -> Option<Cell<'a>> {
    Some(match *ty {
        Type::BOOL => Cell::Bool(*bytes.first()? != 0),
        Type::INT2 => Cell::Int(i64::from(i16::from_be_bytes(be(bytes)?))),
        Type::INT4 => Cell::Int(i64::from(i32::from_be_bytes(be(bytes)?))),
        Type::INT8 => Cell::Int(i64::from_be_bytes(be(bytes)?)),
        Type::OID => Cell::UInt(u64::from(u32::from_be_bytes(be(bytes)?))),
        Type::FLOAT4 => Cell::Float(f64::from(f32::from_be_bytes(be(bytes)?))),
        Type::FLOAT8 => Cell::Float(f64::from_be_bytes(be(bytes)?)),
        Type::NUMERIC if *kind != ColumnKind::Float64 => {
            let (digits, scale) = numeric_digits(bytes).or_else(|| parse_decimal(&numeric_text(bytes)?))?;
            Cell::Decimal(digits, scale)
        }
        // Unconstrained numeric, read as a float: through its exact text, so the float is the nearest one.
        Type::NUMERIC => Cell::Float(numeric_text(bytes)?.parse().ok()?),
        Type::JSONB => Cell::Text(Cow::Borrowed(std::str::from_utf8(bytes.get(1..)?).ok()?)),
        Type::UUID => {
            let hex = bytes.iter().fold(String::new(), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            });
            if hex.len() != 32 {
                return None;
            }
            Cell::Text(Cow::Owned(format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )))
        }
        Type::BYTEA => Cell::Bytes(Cow::Borrowed(bytes)),
        Type::DATE => {
            let days = i32::from_be_bytes(be(bytes)?);
            // ±infinity are i32::MAX / i32::MIN: no date to show.
            if days == i32::MAX || days == i32::MIN {
                return None;
            }
            Cell::Date(days.checked_add(PG_EPOCH_DAYS)?)
        }
        Type::TIME => Cell::Time(i64::from_be_bytes(be(bytes)?).checked_mul(1_000)?),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(be(bytes)?);
            if micros == i64::MAX || micros == i64::MIN {
                return None;
            }
            Cell::Timestamp(micros.checked_add(PG_EPOCH_MICROS)?)
        }
        _ => Cell::Text(Cow::Borrowed(std::str::from_utf8(bytes).ok()?)),
    })
}

/// The digits and scale of PostgreSQL's binary NUMERIC (base-10000 digit
/// groups) straight as an integer, without text; `None` for NaN, the
/// infinities and values beyond 38 digits (then the text path decides).
fn numeric_digits(bytes: &[u8]) -> Option<(i128, usize)> {
    let word = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let groups = word(0)? as usize;
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = word(6)? as usize;
    if sign != 0x0000 && sign != 0x4000 {
        return None;
    }
    let mut digits: i128 = 0;
    for index in 0..groups {
        digits = digits.checked_mul(10_000)?.checked_add(i128::from(word(8 + 2 * index)?))?;
    }
    // `digits` counts units of 10000^(weight + 1 - groups); the scale wants units of 10^-scale.
    let exponent = 4 * (weight + 1 - groups as i32) + scale as i32;
    let digits = if exponent >= 0 {
        digits.checked_mul(10_i128.checked_pow(exponent as u32)?)?
    } else {
        let divisor = 10_i128.checked_pow(exponent.unsigned_abs())?;
        (digits % divisor == 0).then_some(digits / divisor)?
    };
    Some((if sign == 0x4000 { -digits } else { digits }, scale))
}

/// The decimal text of PostgreSQL's binary NUMERIC (base-10000 digit groups); `None` for NaN and infinities.
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let groups = word(0)? as usize;
    let weight = word(2)? as i16;
    let sign = word(4)?;
    let scale = word(6)? as usize;
    if sign != 0x0000 && sign != 0x4000 {
        return None;
    }
    let digits: Vec<u16> = (0..groups).map(|i| word(8 + 2 * i)).collect::<Option<_>>()?;
    let mut whole = String::new();
    for index in 0..=i32::from(weight).max(0) {
        let group = if weight < 0 { 0 } else { digits.get(index as usize).copied().unwrap_or(0) };
        if whole.is_empty() {
            whole = group.to_string();
        } else {
            let _ = write!(whole, "{group:04}");
        }
    }
    let mut fraction = String::new();
    let mut index = i32::from(weight) + 1;
    while fraction.len() < scale {
        let group = if index < 0 { 0 } else { digits.get(index as usize).copied().unwrap_or(0) };
        let _ = write!(fraction, "{group:04}");
        index += 1;
    }
    fraction.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if scale == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(groups: &[u16], weight: i16, negative: bool, scale: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend((groups.len() as u16).to_be_bytes());
        bytes.extend(weight.to_be_bytes());
        bytes.extend((if negative { 0x4000_u16 } else { 0 }).to_be_bytes());
        bytes.extend(scale.to_be_bytes());
        for group in groups {
            bytes.extend(group.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn binary_copy_rows_are_split_into_values_and_nulls() {
        let mut stream = COPY_SIGNATURE.to_vec();
        stream.extend(0_u32.to_be_bytes());
        stream.extend(4_u32.to_be_bytes());
        stream.extend(b"skip");
        for (id, name) in [(7_i32, Some("seven")), (8, None)] {
            stream.extend(2_i16.to_be_bytes());
            stream.extend(4_i32.to_be_bytes());
            stream.extend(id.to_be_bytes());
            match name {
                Some(name) => {
                    stream.extend((name.len() as i32).to_be_bytes());
                    stream.extend(name.as_bytes());
                }
                None => stream.extend((-1_i32).to_be_bytes()),
            }
        }
        stream.extend((-1_i16).to_be_bytes());
        let mut rows = CopyRows::new(stream.as_slice(), 2).unwrap();
        assert!(rows.next_row().unwrap());
        assert_eq!(rows.value(0), Some(&7_i32.to_be_bytes()[..]));
        assert_eq!(rows.value(1), Some(&b"seven"[..]));
        assert!(rows.next_row().unwrap());
        assert_eq!(rows.value(1), None, "NULL");
        assert!(!rows.next_row().unwrap(), "the trailer ends the rows");
        assert!(CopyRows::new(&b"not a copy stream at all"[..], 2).is_err());
    }

    #[test]
    fn numeric_binary_becomes_exact_text() {
        assert_eq!(numeric_text(&numeric(&[1, 2345, 6700], 1, false, 4)).as_deref(), Some("12345.6700"));
        assert_eq!(numeric_text(&numeric(&[500], -1, true, 2)).as_deref(), Some("-0.05"));
        assert_eq!(numeric_text(&numeric(&[], 0, false, 0)).as_deref(), Some("0"));
        assert_eq!(numeric_text(&numeric(&[12], 2, false, 0)).as_deref(), Some("1200000000"));
        let mut nan = numeric(&[], 0, false, 0);
        nan[4] = 0xC0;
        assert_eq!(numeric_text(&nan), None, "NaN has no decimal");
        assert_eq!(numeric_digits(&nan), None);
        for (groups, weight, negative, scale) in [
            (&[1_u16, 2345, 6700][..], 1_i16, false, 4_u16),
            (&[500], -1, true, 2),
            (&[], 0, false, 0),
            (&[12], 2, false, 0),
            (&[9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999], 8, false, 0),
            (&[3, 1415, 9265, 3589, 7932], 0, false, 16),
            (&[1], -2, false, 8),
        ] {
            let bytes = numeric(groups, weight, negative, scale);
            let expected = parse_decimal(&numeric_text(&bytes).unwrap());
            assert_eq!(numeric_digits(&bytes), expected, "{groups:?} weight {weight} scale {scale}");
        }
    }
}
