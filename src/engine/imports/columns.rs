//! Rows to columns: the one builder every database source fills, cell by cell,
//! into typed Polars columns, a batch at a time. Each column appends straight
//! into a Polars builder of its type; text and bytes are borrowed from the
//! source's buffers until then (no allocation per value).
//!
//! Owns the mapping from a source's column kinds to Polars types. Must not
//! talk to a database: sources decode their values into [`Cell`]s first.

use std::borrow::Cow;

use polars::prelude::*;

/// The Polars type a database column becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    /// Exact decimals: precision (≤ 38) and scale.
    Decimal {
        precision: usize,
        scale: usize,
    },
    Text,
    Binary,
    Date,
    /// Time of day, nanoseconds since midnight.
    Time,
    /// Microseconds since the epoch; `utc` when the source said which instant (timestamptz).
    Datetime {
        utc: bool,
    },
}

impl ColumnKind {
    pub fn dtype(&self) -> DataType {
        match self {
            Self::Boolean => DataType::Boolean,
            Self::Int8 => DataType::Int8,
            Self::Int16 => DataType::Int16,
            Self::Int32 => DataType::Int32,
            Self::Int64 => DataType::Int64,
            Self::UInt8 => DataType::UInt8,
            Self::UInt16 => DataType::UInt16,
            Self::UInt32 => DataType::UInt32,
            Self::UInt64 => DataType::UInt64,
            Self::Float32 => DataType::Float32,
            Self::Float64 => DataType::Float64,
            Self::Decimal { precision, scale } => DataType::Decimal(*precision, *scale),
            Self::Text => DataType::String,
            Self::Binary => DataType::Binary,
            Self::Date => DataType::Date,
            Self::Time => DataType::Time,
            Self::Datetime { utc } => {
                DataType::Datetime(TimeUnit::Microseconds, utc.then(|| polars::prelude::TimeZone::UTC))
            }
        }
    }
}

/// One value as a source decoded it (text and bytes borrowed from the source where it can).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A decimal's digits as an integer, with its scale (123.45 = (12345, 2)).
    Decimal(i128, usize),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Microseconds since the epoch.
    Timestamp(i64),
}

/// Named, typed columns being filled for one batch.
#[derive(Debug)]
pub struct BatchBuilder {
    names: Vec<String>,
    kinds: Vec<ColumnKind>,
    columns: Vec<ColumnValues>,
    rows: usize,
}

/// A value that does not fit its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellMismatch {
    pub column: String,
    pub why: String,
}

impl BatchBuilder {
    pub fn new(names: Vec<String>, kinds: Vec<ColumnKind>) -> Self {
        let columns = names.iter().zip(&kinds).map(|(name, kind)| ColumnValues::new(name, kind)).collect();
        Self { names, kinds, columns, rows: 0 }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn width(&self) -> usize {
        self.kinds.len()
    }

    pub fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("?", String::as_str)
    }

    /// Adds one row; a cell that does not fit its column leaves the batch unchanged.
    pub fn push_row(&mut self, row: Vec<Cell<'_>>) -> Result<(), CellMismatch> {
        for (index, cell) in row.iter().enumerate() {
            if let Some(why) = misfit(&self.kinds[index], cell) {
                return Err(CellMismatch { column: self.names[index].clone(), why });
            }
        }
        for (column, cell) in self.columns.iter_mut().zip(row) {
            column.push(cell);
        }
        self.rows += 1;
        Ok(())
    }

    /// The batch as a frame; the builder is empty afterwards.
    pub fn take_frame(&mut self) -> PolarsResult<DataFrame> {
        let mut series = Vec::with_capacity(self.kinds.len());
        for ((name, kind), values) in self.names.iter().zip(&self.kinds).zip(&mut self.columns) {
            let full = std::mem::replace(values, ColumnValues::new(name, kind));
            series.push(full.finish()?);
        }
        let height = std::mem::take(&mut self.rows);
        DataFrame::new(height, series)
    }
}

/// One column's values so far, in a Polars builder of its type.
enum ColumnValues {
    Boolean(BooleanChunkedBuilder),
    Int8(PrimitiveChunkedBuilder<Int8Type>),
    Int16(PrimitiveChunkedBuilder<Int16Type>),
    Int32(PrimitiveChunkedBuilder<Int32Type>),
    Int64(PrimitiveChunkedBuilder<Int64Type>),
    UInt8(PrimitiveChunkedBuilder<UInt8Type>),
    UInt16(PrimitiveChunkedBuilder<UInt16Type>),
    UInt32(PrimitiveChunkedBuilder<UInt32Type>),
    UInt64(PrimitiveChunkedBuilder<UInt64Type>),
    Float32(PrimitiveChunkedBuilder<Float32Type>),
    Float64(PrimitiveChunkedBuilder<Float64Type>),
    Decimal { digits: PrimitiveChunkedBuilder<Int128Type>, precision: usize, scale: usize },
    Text(StringChunkedBuilder),
    Binary(BinaryChunkedBuilder),
    Date(PrimitiveChunkedBuilder<Int32Type>),
    Time(PrimitiveChunkedBuilder<Int64Type>),
    Datetime { micros: PrimitiveChunkedBuilder<Int64Type>, utc: bool },
}

impl std::fmt::Debug for ColumnValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ColumnValues")
    }
}

/// Rows a column's builder makes room for at first (a batch grows past it as needed).
const FIRST_CAPACITY: usize = 4_096;

impl ColumnValues {
    fn new(name: &str, kind: &ColumnKind) -> Self {
        let name = PlSmallStr::from(name);
        let capacity = FIRST_CAPACITY;
        match kind {
            ColumnKind::Boolean => Self::Boolean(BooleanChunkedBuilder::new(name, capacity)),
            ColumnKind::Int8 => Self::Int8(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Int16 => Self::Int16(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Int32 => Self::Int32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Int64 => Self::Int64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::UInt8 => Self::UInt8(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::UInt16 => Self::UInt16(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::UInt32 => Self::UInt32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::UInt64 => Self::UInt64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Float32 => Self::Float32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Float64 => Self::Float64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Decimal { precision, scale } => Self::Decimal {
                digits: PrimitiveChunkedBuilder::new(name, capacity),
                precision: *precision,
                scale: *scale,
            },
            ColumnKind::Text => Self::Text(StringChunkedBuilder::new(name, capacity)),
            ColumnKind::Binary => Self::Binary(BinaryChunkedBuilder::new(name, capacity)),
            ColumnKind::Date => Self::Date(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Time => Self::Time(PrimitiveChunkedBuilder::new(name, capacity)),
            ColumnKind::Datetime { utc } => {
                Self::Datetime { micros: PrimitiveChunkedBuilder::new(name, capacity), utc: *utc }
            }
        }
    }

    /// Appends a cell that [`misfit`] accepted (anything else is a null).
    fn push(&mut self, cell: Cell<'_>) {
        macro_rules! integer {
            ($builder:expr, $native:ty) => {
                $builder.append_option(match cell {
                    Cell::Int(v) => <$native>::try_from(v).ok(),
                    Cell::UInt(v) => <$native>::try_from(v).ok(),
                    _ => None,
                })
            };
        }
        match self {
            Self::Boolean(builder) => builder.append_option(if let Cell::Bool(v) = cell { Some(v) } else { None }),
            Self::Int8(builder) => integer!(builder, i8),
            Self::Int16(builder) => integer!(builder, i16),
            Self::Int32(builder) => integer!(builder, i32),
            Self::Int64(builder) => integer!(builder, i64),
            Self::UInt8(builder) => integer!(builder, u8),
            Self::UInt16(builder) => integer!(builder, u16),
            Self::UInt32(builder) => integer!(builder, u32),
            Self::UInt64(builder) => integer!(builder, u64),
            Self::Float32(builder) => builder.append_option(match cell {
                Cell::Float(v) => Some(v as f32),
                Cell::Int(v) => Some(v as f32),
                _ => None,
            }),
            Self::Float64(builder) => builder.append_option(match cell {
                Cell::Float(v) => Some(v),
                Cell::Int(v) => Some(v as f64),
                _ => None,
            }),
            Self::Decimal { digits, scale, .. } => digits.append_option(match cell {
                Cell::Decimal(value, from) => rescale(value, from, *scale),
                Cell::Int(v) => rescale(i128::from(v), 0, *scale),
                _ => None,
            }),
            Self::Text(builder) => match cell {
                Cell::Text(text) => builder.append_value(text.as_ref()),
                _ => builder.append_null(),
            },
            Self::Binary(builder) => match cell {
                Cell::Bytes(bytes) => builder.append_value(bytes.as_ref()),
                Cell::Text(text) => builder.append_value(text.as_bytes()),
                _ => builder.append_null(),
            },
            Self::Date(builder) => builder.append_option(if let Cell::Date(v) = cell { Some(v) } else { None }),
            Self::Time(builder) => builder.append_option(if let Cell::Time(v) = cell { Some(v) } else { None }),
            Self::Datetime { micros, .. } => {
                micros.append_option(if let Cell::Timestamp(v) = cell { Some(v) } else { None });
            }
        }
    }

    fn finish(self) -> PolarsResult<Column> {
        let series = match self {
            Self::Boolean(builder) => builder.finish().into_series(),
            Self::Int8(builder) => builder.finish().into_series(),
            Self::Int16(builder) => builder.finish().into_series(),
            Self::Int32(builder) => builder.finish().into_series(),
            Self::Int64(builder) => builder.finish().into_series(),
            Self::UInt8(builder) => builder.finish().into_series(),
            Self::UInt16(builder) => builder.finish().into_series(),
            Self::UInt32(builder) => builder.finish().into_series(),
            Self::UInt64(builder) => builder.finish().into_series(),
            Self::Float32(builder) => builder.finish().into_series(),
            Self::Float64(builder) => builder.finish().into_series(),
            Self::Decimal { digits, precision, scale } => digits.finish().into_decimal(precision, scale)?.into_series(),
            Self::Text(builder) => builder.finish().into_series(),
            Self::Binary(builder) => builder.finish().into_series(),
            Self::Date(builder) => builder.finish().into_date().into_series(),
            Self::Time(builder) => builder.finish().into_time().into_series(),
            Self::Datetime { micros, utc } => micros
                .finish()
                .into_datetime(TimeUnit::Microseconds, utc.then_some(polars::prelude::TimeZone::UTC))
                .into_series(),
        };
        Ok(series.into_column())
    }
}

/// Why `cell` cannot be stored in a column of `kind` (`None` when it fits).
fn misfit(kind: &ColumnKind, cell: &Cell<'_>) -> Option<String> {
    let fits = match (kind, cell) {
        (_, Cell::Null)
        | (ColumnKind::Boolean, Cell::Bool(_))
        | (ColumnKind::Text, Cell::Text(_))
        | (ColumnKind::Binary, Cell::Bytes(_) | Cell::Text(_))
        | (ColumnKind::Date, Cell::Date(_))
        | (ColumnKind::Time, Cell::Time(_))
        | (ColumnKind::Datetime { .. }, Cell::Timestamp(_))
        | (ColumnKind::Float32 | ColumnKind::Float64, Cell::Float(_) | Cell::Int(_))
        | (ColumnKind::Int64 | ColumnKind::Decimal { .. }, Cell::Int(_))
        | (ColumnKind::UInt64, Cell::UInt(_)) => true,
        (ColumnKind::Int8, Cell::Int(v)) => i8::try_from(*v).is_ok(),
        (ColumnKind::Int16, Cell::Int(v)) => i16::try_from(*v).is_ok(),
        (ColumnKind::Int32, Cell::Int(v)) => i32::try_from(*v).is_ok(),
        (ColumnKind::Int64, Cell::UInt(v)) => i64::try_from(*v).is_ok(),
        (ColumnKind::UInt8, Cell::UInt(v)) => u8::try_from(*v).is_ok(),
        (ColumnKind::UInt16, Cell::UInt(v)) => u16::try_from(*v).is_ok(),
        (ColumnKind::UInt32, Cell::UInt(v)) => u32::try_from(*v).is_ok(),
        (ColumnKind::UInt8 | ColumnKind::UInt16 | ColumnKind::UInt32 | ColumnKind::UInt64, Cell::Int(v)) => {
            return if *v < 0 { Some(format!("{v} is negative in an unsigned column")) } else { None };
        }
        (ColumnKind::Decimal { precision, scale }, Cell::Decimal(digits, cell_scale)) => {
            return rescale(*digits, *cell_scale, *scale)
                .as_ref()
                .is_none_or(|value| value.unsigned_abs() >= 10u128.pow(*precision as u32))
                .then(|| format!("{} does not fit decimal({precision}, {scale})", decimal_text(*digits, *cell_scale)));
        }
        _ => false,
    };
    (!fits).then(|| format!("a {} value in a {:?} column", cell_kind(cell), kind))
}

fn cell_kind(cell: &Cell<'_>) -> &'static str {
    match cell {
        Cell::Null => "null",
        Cell::Bool(_) => "boolean",
        Cell::Int(_) | Cell::UInt(_) => "integer",
        Cell::Float(_) => "float",
        Cell::Decimal(..) => "decimal",
        Cell::Text(_) => "text",
        Cell::Bytes(_) => "binary",
        Cell::Date(_) => "date",
        Cell::Time(_) => "time",
        Cell::Timestamp(_) => "timestamp",
    }
}

/// `digits` at `from` scale expressed at `to` scale; `None` when digits would be lost or it overflows.
pub fn rescale(digits: i128, from: usize, to: usize) -> Option<i128> {
    if to >= from {
        digits.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let divisor = 10i128.checked_pow((from - to) as u32)?;
        (digits % divisor == 0).then_some(digits / divisor)
    }
}

/// The exact text of a decimal's digits at `scale` (`-0.05` for (-5, 2)).
pub fn decimal_text(digits: i128, scale: usize) -> String {
    let text = digits.unsigned_abs().to_string();
    let sign = if digits < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{text}");
    }
    let padded = format!("{text:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// Parses decimal text (`-12.340`, `5`, `1e3` is refused) into digits and scale.
pub fn parse_decimal(text: &str) -> Option<(i128, usize)> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    Some((if negative { -digits } else { digits }, fraction.len()))
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(date: chrono::NaiveDate) -> i32 {
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Parses the date and time texts databases write (`2026-11-20`, `2026-11-20 07:42:10.5`,
/// `07:42:10`) into cells of the given kind.
pub fn parse_temporal(kind: &ColumnKind, text: &str) -> Option<Cell<'static>> {
    let text = text.trim();
    match kind {
        ColumnKind::Date => {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| Cell::Date(days_from_civil(d)))
        }
        ColumnKind::Time => chrono::NaiveTime::parse_from_str(text, "%H:%M:%S%.f").ok().map(|t| {
            use chrono::Timelike as _;
            Cell::Time(i64::from(t.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(t.nanosecond()))
        }),
        ColumnKind::Datetime { .. } => {
            if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
                return Some(Cell::Timestamp(instant.timestamp_micros()));
            }
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
                .iter()
                .find_map(|format| {
                    chrono::NaiveDateTime::parse_from_str(text, format).ok().or_else(|| {
                        chrono::NaiveDate::parse_from_str(text, format).ok().and_then(|d| d.and_hms_opt(0, 0, 0))
                    })
                })
                .map(|t| Cell::Timestamp(t.and_utc().timestamp_micros()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_kind_with_nulls() {
        let kinds = vec![
            ColumnKind::Int16,
            ColumnKind::Decimal { precision: 10, scale: 2 },
            ColumnKind::Text,
            ColumnKind::Datetime { utc: true },
            ColumnKind::Date,
        ];
        let names = ["small", "price", "name", "at", "day"].map(String::from).to_vec();
        let mut batch = BatchBuilder::new(names, kinds);
        batch
            .push_row(vec![
                Cell::Int(-7),
                Cell::Decimal(12_345, 3),
                Cell::Null,
                Cell::Timestamp(1_000_000),
                Cell::Date(20_000),
            ])
            .expect_err("12.345 does not fit scale 2");
        batch
            .push_row(vec![
                Cell::Int(-7),
                Cell::Decimal(1_234, 2),
                Cell::Text(Cow::Borrowed("ä")),
                Cell::Timestamp(1_000_000),
                Cell::Date(20_000),
            ])
            .unwrap();
        batch.push_row(vec![Cell::Null, Cell::Null, Cell::Null, Cell::Null, Cell::Null]).unwrap();
        let mismatch = batch.push_row(vec![Cell::Int(70_000), Cell::Null, Cell::Null, Cell::Null, Cell::Null]);
        assert_eq!(mismatch.unwrap_err().column, "small");
        let frame = batch.take_frame().unwrap();
        assert_eq!(frame.height(), 2);
        assert_eq!(frame.column("price").unwrap().dtype(), &DataType::Decimal(10, 2));
        assert_eq!(frame.column("small").unwrap().null_count(), 1);
        assert_eq!(frame.column("name").unwrap().str().unwrap().get(0), Some("ä"));
        assert_eq!(batch.rows(), 0, "taking the frame empties the builder");
    }

    #[test]
    fn decimals_parse_and_rescale_exactly() {
        assert_eq!(parse_decimal("-12.340"), Some((-12_340, 3)));
        assert_eq!(parse_decimal("5"), Some((5, 0)));
        assert_eq!(parse_decimal("1e3"), None);
        assert_eq!(rescale(-12_340, 3, 2), Some(-1_234));
        assert_eq!(rescale(12_345, 3, 2), None, "a digit would be lost");
        assert_eq!(decimal_text(-5, 2), "-0.05");
    }
}
