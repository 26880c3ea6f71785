//! Rows to columns: the one builder every database source fills, cell by cell,
//! into typed Polars columns, a batch at a time.
//!
//! Owns the mapping from a source's column kinds to Polars types. Must not
//! talk to a database: sources decode their values into [`Cell`]s first.

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

/// One value as a source decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A decimal's digits as an integer, with its scale (123.45 = (12345, 2)).
    Decimal(i128, usize),
    Text(String),
    Bytes(Vec<u8>),
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
    columns: Vec<Vec<Cell>>,
}

/// A value that does not fit its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellMismatch {
    pub column: String,
    pub why: String,
}

impl BatchBuilder {
    pub fn new(names: Vec<String>, kinds: Vec<ColumnKind>) -> Self {
        let columns = kinds.iter().map(|_| Vec::new()).collect();
        Self { names, kinds, columns }
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn width(&self) -> usize {
        self.kinds.len()
    }

    pub fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("?", String::as_str)
    }

    /// Adds one row; a cell that does not fit its column leaves the batch unchanged.
    pub fn push_row(&mut self, row: Vec<Cell>) -> Result<(), CellMismatch> {
        for (index, cell) in row.iter().enumerate() {
            if let Some(why) = misfit(&self.kinds[index], cell) {
                return Err(CellMismatch { column: self.names[index].clone(), why });
            }
        }
        for (column, cell) in self.columns.iter_mut().zip(row) {
            column.push(cell);
        }
        Ok(())
    }

    /// The batch as a frame; the builder is empty afterwards.
    pub fn take_frame(&mut self) -> PolarsResult<DataFrame> {
        let mut series = Vec::with_capacity(self.kinds.len());
        for ((name, kind), cells) in self.names.iter().zip(&self.kinds).zip(&mut self.columns) {
            let cells = std::mem::take(cells);
            series.push(build_column(name, kind, cells)?);
        }
        DataFrame::new_infer_height(series)
    }
}

/// Why `cell` cannot be stored in a column of `kind` (`None` when it fits).
fn misfit(kind: &ColumnKind, cell: &Cell) -> Option<String> {
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

fn cell_kind(cell: &Cell) -> &'static str {
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

fn build_column(name: &str, kind: &ColumnKind, cells: Vec<Cell>) -> PolarsResult<Column> {
    let name = PlSmallStr::from(name);
    macro_rules! ints {
        ($chunked:ty, $native:ty) => {{
            let values: Vec<Option<$native>> = cells
                .into_iter()
                .map(|cell| match cell {
                    Cell::Int(v) => <$native>::try_from(v).ok(),
                    Cell::UInt(v) => <$native>::try_from(v).ok(),
                    _ => None,
                })
                .collect();
            <$chunked>::from_iter_options(name, values.into_iter()).into_series()
        }};
    }
    let series = match kind {
        ColumnKind::Boolean => {
            let values = cells.into_iter().map(|cell| if let Cell::Bool(v) = cell { Some(v) } else { None });
            BooleanChunked::from_iter_options(name, values).into_series()
        }
        ColumnKind::Int8 => ints!(Int8Chunked, i8),
        ColumnKind::Int16 => ints!(Int16Chunked, i16),
        ColumnKind::Int32 => ints!(Int32Chunked, i32),
        ColumnKind::Int64 => ints!(Int64Chunked, i64),
        ColumnKind::UInt8 => ints!(UInt8Chunked, u8),
        ColumnKind::UInt16 => ints!(UInt16Chunked, u16),
        ColumnKind::UInt32 => ints!(UInt32Chunked, u32),
        ColumnKind::UInt64 => ints!(UInt64Chunked, u64),
        ColumnKind::Float32 | ColumnKind::Float64 => {
            let values = cells.into_iter().map(|cell| match cell {
                Cell::Float(v) => Some(v),
                Cell::Int(v) => Some(v as f64),
                _ => None,
            });
            let series = Float64Chunked::from_iter_options(name, values).into_series();
            if *kind == ColumnKind::Float32 { series.cast(&DataType::Float32)? } else { series }
        }
        ColumnKind::Decimal { precision, scale } => {
            let values = cells.into_iter().map(|cell| match cell {
                Cell::Decimal(digits, from) => rescale(digits, from, *scale),
                Cell::Int(v) => rescale(i128::from(v), 0, *scale),
                _ => None,
            });
            Int128Chunked::from_iter_options(name, values).into_decimal(*precision, *scale)?.into_series()
        }
        ColumnKind::Text => {
            let values = cells.into_iter().map(|cell| if let Cell::Text(v) = cell { Some(v) } else { None });
            StringChunked::from_iter_options(name, values).into_series()
        }
        ColumnKind::Binary => {
            let values = cells.into_iter().map(|cell| match cell {
                Cell::Bytes(v) => Some(v),
                Cell::Text(v) => Some(v.into_bytes()),
                _ => None,
            });
            BinaryChunked::from_iter_options(name, values).into_series()
        }
        ColumnKind::Date => {
            let values = cells.into_iter().map(|cell| if let Cell::Date(v) = cell { Some(v) } else { None });
            Int32Chunked::from_iter_options(name, values).into_date().into_series()
        }
        ColumnKind::Time => {
            let values = cells.into_iter().map(|cell| if let Cell::Time(v) = cell { Some(v) } else { None });
            Int64Chunked::from_iter_options(name, values).into_time().into_series()
        }
        ColumnKind::Datetime { utc } => {
            let values = cells.into_iter().map(|cell| if let Cell::Timestamp(v) = cell { Some(v) } else { None });
            Int64Chunked::from_iter_options(name, values)
                .into_datetime(TimeUnit::Microseconds, utc.then_some(polars::prelude::TimeZone::UTC))
                .into_series()
        }
    };
    Ok(series.into_column())
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(date: chrono::NaiveDate) -> i32 {
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Parses the date and time texts databases write (`2026-11-20`, `2026-11-20 07:42:10.5`,
/// `07:42:10`) into cells of the given kind.
pub fn parse_temporal(kind: &ColumnKind, text: &str) -> Option<Cell> {
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
                Cell::Text("ä".into()),
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
