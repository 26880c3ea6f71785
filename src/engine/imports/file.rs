//! File imports: CSV/TSV (delimiter, header, quoting, null markers, UTF-8 or
//! Latin-1, types inferred from a sample unless overridden, date formats),
//! Parquet, JSON arrays and NDJSON; one path or a glob, files concatenated,
//! the file name optionally a column. Polars' readers parse. NDJSON and JSON
//! arrays are read a block of records at a time, never the whole file.
//!
//! CSV values are read as text first and typed afterwards, so that every value
//! that does not fit its column's type is a bad row with its line number, the
//! same as a row with the wrong number of fields. A CSV file is parsed and
//! typed a chunk of records at a time, each chunk handed on as it is done.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::csv_rows::{self, Record};
use super::{BadRow, Cancel, Fetched, ImportError};
use crate::model::imports::{BadRowPolicy, ColumnType, FileFormat, FileSource, TextEncoding};

/// Values looked at to infer a CSV column's type.
const INFERENCE_SAMPLE: usize = 1_000;
/// Bytes of NDJSON (or of a JSON array's records) parsed at a time (whole records).
const NDJSON_BLOCK_BYTES: usize = 16 * 1024 * 1024;
/// Bad rows kept (with their text) in a run's report; all are counted.
pub const KEPT_BAD_ROWS: usize = 100;

const DATE_FORMATS: [&str; 1] = ["%Y-%m-%d"];
const DATETIME_FORMATS: [&str; 6] = [
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
];

/// The files a source's path or glob names, relative paths from `base_dir`, sorted.
pub fn matching_files(source: &FileSource, base_dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let pattern =
        if Path::new(&source.path).is_absolute() { PathBuf::from(&source.path) } else { base_dir.join(&source.path) };
    let text = pattern.to_string_lossy().into_owned();
    let is_glob = source.path.contains(['*', '?', '[']);
    if !is_glob {
        return if pattern.is_file() {
            Ok(vec![pattern])
        } else {
            Err(ImportError::Source(format!("file {text} does not exist (or is not a file)")))
        };
    }
    let paths = glob::glob(&text).map_err(|err| ImportError::Source(format!("glob `{text}`: {err}")))?;
    let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(ImportError::Source(format!("no file matches `{text}`")));
    }
    Ok(files)
}

/// Reads every matching file into `fetched`.
pub fn fetch(
    source: &FileSource,
    base_dir: &Path,
    policy: BadRowPolicy,
    cancel: &Cancel,
    fetched: &mut Fetched,
) -> Result<(), ImportError> {
    let format = source
        .resolved_format()
        .ok_or_else(|| ImportError::Source(format!("cannot tell the format of {}", source.path)))?;
    for path in matching_files(source, base_dir)? {
        cancel.check()?;
        let shown = path.display().to_string();
        let polars_error = |err: PolarsError| ImportError::Source(format!("{shown}: {err}"));
        let with_file_name = |frame: DataFrame| with_file_name(frame, source, &path).map_err(polars_error);
        match format {
            FileFormat::Csv | FileFormat::Tsv => {
                let rows = read_csv(source, format, &path, policy, cancel, fetched, &with_file_name)?;
                fetched.log.push(format!("read {rows} rows from {shown}"));
            }
            FileFormat::Parquet => {
                fetched.bytes_read += std::fs::metadata(&path).map_or(0, |m| m.len());
                // A row group at a time, never the whole file.
                let mut rows = 0;
                super::spool::each_row_group(&path, &shown, &mut |batch| {
                    cancel.check()?;
                    rows += batch.height();
                    fetched.push(with_file_name(batch)?)
                })?;
                fetched.log.push(format!("read {rows} rows from {shown}"));
            }
            FileFormat::Ndjson => {
                let rows = read_ndjson(&path, NDJSON_BLOCK_BYTES, cancel, fetched, &with_file_name)?;
                fetched.log.push(format!("read {rows} rows from {shown}"));
            }
            FileFormat::Json => {
                let rows = read_json(&path, NDJSON_BLOCK_BYTES, cancel, fetched, &with_file_name)?;
                fetched.log.push(format!("read {rows} rows from {shown}"));
            }
        }
    }
    Ok(())
}

/// Reads an NDJSON file a block of whole lines at a time (about
/// `block_bytes`), each block parsed, flattened and pushed on its own;
/// answers the rows read. An error names the lines of the block it is in.
fn read_ndjson(
    path: &Path,
    block_bytes: usize,
    cancel: &Cancel,
    fetched: &mut Fetched,
    decorate: &dyn Fn(DataFrame) -> Result<DataFrame, ImportError>,
) -> Result<u64, ImportError> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let mut file = open(path)?;
    let mut block: Vec<u8> = Vec::with_capacity(block_bytes + 4096);
    let mut buffer = vec![0u8; block_bytes.clamp(1, 64 * 1024)];
    let (mut rows, mut first_line, mut at_end) = (0u64, 1u64, false);
    while !at_end {
        cancel.check()?;
        while block.len() < block_bytes {
            let read =
                file.read(&mut buffer).map_err(|err| ImportError::Source(format!("cannot read {shown}: {err}")))?;
            if read == 0 {
                at_end = true;
                break;
            }
            block.extend_from_slice(&buffer[..read]);
            fetched.bytes_read += read as u64;
        }
        // Whole lines only: the rest waits for the next block.
        let cut =
            if at_end { block.len() } else { block.iter().rposition(|&b| b == b'\n').map_or(block.len(), |i| i + 1) };
        let rest = block.split_off(cut);
        let lines = block.split(|&b| b == b'\n').count() as u64 - 1;
        if block.iter().any(|b| !b.is_ascii_whitespace()) {
            let last_line = first_line + lines.saturating_sub(1);
            let failed =
                |err: PolarsError| ImportError::Source(format!("{shown}, lines {first_line}-{last_line}: {err}"));
            let frame = parse_json_lines(&block).map_err(failed)?;
            rows += frame.height() as u64;
            fetched.push(decorate(frame)?)?;
        }
        first_line += lines;
        block = rest;
    }
    if rows == 0 {
        // An empty file is an empty table.
        fetched.push(decorate(DataFrame::empty())?)?;
    }
    Ok(rows)
}

/// One record a line, parsed and flattened; types from every line (Polars'
/// default looks at 100, and a column null in those fails on the first value after).
fn parse_json_lines(block: &[u8]) -> PolarsResult<DataFrame> {
    let frame =
        JsonReader::new(Cursor::new(block)).with_json_format(JsonFormat::JsonLines).infer_schema_len(None).finish()?;
    flatten_structs(frame)
}

/// Reads a JSON file: an array of records a block at a time (never the whole
/// document in memory); a document that is one object is one record.
/// Answers the rows read; an error names the records of its block.
fn read_json(
    path: &Path,
    block_bytes: usize,
    cancel: &Cancel,
    fetched: &mut Fetched,
    decorate: &dyn Fn(DataFrame) -> Result<DataFrame, ImportError>,
) -> Result<u64, ImportError> {
    let shown = path.display().to_string();
    let mut file = std::io::BufReader::new(open(path)?);
    let starts_with_object = {
        use std::io::BufRead as _;
        let head = file.fill_buf().map_err(|err| ImportError::Source(format!("cannot read {shown}: {err}")))?;
        head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    };
    fetched.bytes_read += std::fs::metadata(path).map_or(0, |m| m.len());
    if starts_with_object {
        let frame = JsonReader::new(file).with_json_format(JsonFormat::Json).finish();
        let frame = frame.and_then(flatten_structs).map_err(|err| ImportError::Source(format!("{shown}: {err}")))?;
        let rows = frame.height() as u64;
        fetched.push(decorate(frame)?)?;
        return Ok(rows);
    }
    let mut rows = 0u64;
    super::json_array::split_blocks(
        &mut file,
        block_bytes,
        |block, first_record| {
            cancel.check()?;
            let frame = parse_json_lines(block).map_err(|err| {
                let last_record = first_record + memchr::memchr_iter(b'\n', block).count() as u64 - 1;
                ImportError::Source(format!("{shown}, records {first_record}-{last_record}: {err}"))
            })?;
            rows += frame.height() as u64;
            fetched.push(decorate(frame)?)
        },
        |why| ImportError::Source(format!("{shown}: {why}")),
    )?;
    if rows == 0 {
        fetched.push(decorate(DataFrame::empty())?)?;
    }
    Ok(rows)
}

/// `frame` with the file's name as a column, when the source asks for one.
fn with_file_name(mut frame: DataFrame, source: &FileSource, path: &Path) -> PolarsResult<DataFrame> {
    if let Some(column) = &source.file_name_column {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let names = Column::new_scalar(column.as_str().into(), Scalar::from(PlSmallStr::from(name)), frame.height());
        frame.with_column(names)?;
    }
    Ok(frame)
}

fn open(path: &Path) -> Result<std::fs::File, ImportError> {
    std::fs::File::open(path).map_err(|err| ImportError::Source(format!("cannot open {}: {err}", path.display())))
}

/// Nested objects become dotted columns: `{"a": {"b": 1}}` → `a.b`.
pub fn flatten_structs(frame: DataFrame) -> PolarsResult<DataFrame> {
    if !frame.columns().iter().any(|c| matches!(c.dtype(), DataType::Struct(_))) {
        return Ok(frame);
    }
    let mut columns = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        flatten_into(column.as_materialized_series().clone(), &mut columns)?;
    }
    DataFrame::new_infer_height(columns)
}

fn flatten_into(series: Series, out: &mut Vec<Column>) -> PolarsResult<()> {
    if let DataType::Struct(_) = series.dtype() {
        let parent = series.name().to_string();
        for field in series.struct_()?.fields_as_series() {
            let name = format!("{parent}.{}", field.name());
            flatten_into(field.with_name(name.into()), out)?;
        }
    } else {
        out.push(series.into_column());
    }
    Ok(())
}

/// Reads one CSV file into `fetched` a chunk of [`CSV_CHUNK_ROWS`] records at
/// a time, from the file as it is read (the file is never held whole), typed
/// with the column types the first chunk decides; answers the rows read.
fn read_csv(
    source: &FileSource,
    format: FileFormat,
    path: &Path,
    policy: BadRowPolicy,
    cancel: &Cancel,
    fetched: &mut Fetched,
    decorate: &dyn Fn(DataFrame) -> Result<DataFrame, ImportError>,
) -> Result<u64, ImportError> {
    let shown = path.display().to_string();
    let file = open(path)?;
    let delimiter = source.delimiter.map_or(if format == FileFormat::Tsv { b'\t' } else { b',' }, |c| c as u8);
    let quote = Some(source.quote.map_or(b'"', |c| c as u8));
    let latin1 = source.encoding == TextEncoding::Latin1;
    let mut reader = csv_rows::RecordReader::new(file, latin1, delimiter, quote);
    let read_error = |err: std::io::Error| ImportError::Source(format!("cannot read {shown}: {err}"));
    let first = reader.next_chunk(1).map_err(read_error)?;
    let Some(first_record) = first.records.first().copied() else {
        fetched.push(decorate(DataFrame::empty())?)?;
        return Ok(0);
    };
    check_utf8(&first.text, 1, &shown)?;
    let expected = first_record.fields;
    let header = source.header.then(|| first.text[first_record.start..first_record.end].to_vec());
    let mut pending = if source.header { None } else { Some(first) };
    let csv = CsvText::new(source, header.as_deref(), delimiter, quote, &shown);
    let mut bad: Vec<BadRow> = Vec::new();
    let mut plans: Option<Vec<ColumnPlan>> = None;
    let (mut rows, mut chunks) = (0, 0);
    let chunk_rows = fetched.batch_rows(CSV_CHUNK_ROWS);
    // Bytes of the files read before this one (a glob's).
    let read_before = fetched.bytes_read;
    // The next chunk is read and scanned on a thread of its own while this one
    // is parsed, typed and written; at most one waits in between.
    std::thread::scope(|scope| -> Result<u64, ImportError> {
        let (sender, chunks_read) = std::sync::mpsc::sync_channel::<std::io::Result<(csv_rows::Chunk, u64)>>(1);
        scope.spawn(move || {
            loop {
                let next = reader.next_chunk(chunk_rows).map(|chunk| (chunk, reader.bytes_read));
                let last = next.as_ref().map_or(true, |(chunk, _)| chunk.records.is_empty());
                // A closed channel: the import stopped (failed, cancelled, or a preview has its rows).
                if sender.send(next).is_err() || last {
                    return;
                }
            }
        });
        loop {
            cancel.check()?;
            let (mut chunk, bytes_read) = match chunks_read.recv() {
                Ok(next) => next.map_err(read_error)?,
                Err(_) => (csv_rows::Chunk::default(), fetched.bytes_read - read_before),
            };
            if let Some(mut first) = pending.take() {
                // Without a header the first record is data: it joins the first chunk.
                let shift = first.text.len();
                first.text.append(&mut chunk.text);
                first.records.extend(chunk.records.iter().map(|r| csv_rows::Record {
                    start: r.start + shift,
                    end: r.end + shift,
                    ..*r
                }));
                chunk = first;
            }
            fetched.bytes_read = read_before + bytes_read;
            // An empty body still gives the table its columns (once).
            if chunk.records.is_empty() && chunks > 0 {
                break;
            }
            chunks += 1;
            if let Some(record) = chunk.records.first() {
                check_utf8(&chunk.text, record.line, &shown)?;
            }
            let mut structural = Vec::new();
            chunk.records.retain(|record| {
                let fits = record.fields == expected;
                if !fits {
                    structural.push(BadRow {
                        location: format!("{shown}, line {}", record.line),
                        why: format!("has {} fields, the {} has {expected}", record.fields, header_word(source.header)),
                        text: excerpt(&chunk.text[record.start..record.end]),
                    });
                }
                fits
            });
            let (frame, misfits) = type_chunk(&csv, &mut plans, &chunk, structural.is_empty())?;
            rows += frame.height() as u64;
            structural.extend(misfits);
            match policy {
                BadRowPolicy::Skip => {
                    if !structural.is_empty() {
                        structural.sort_by_key(|row| line_of(&row.location));
                        fetched.note_bad_rows(structural, policy)?;
                    }
                    fetched.push(decorate(frame)?)?;
                }
                // The attempt fails once every bad row is counted: nothing more to keep.
                BadRowPolicy::Fail if !bad.is_empty() || !structural.is_empty() => bad.extend(structural),
                BadRowPolicy::Fail => fetched.push(decorate(frame)?)?,
            }
        }
        if !bad.is_empty() {
            bad.sort_by_key(|row| line_of(&row.location));
            fetched.note_bad_rows(bad, policy)?;
        }
        Ok(rows)
    })
}

/// Fails when `text` (starting at line `first_line` of the file) is not UTF-8, naming the line.
fn check_utf8(text: &[u8], first_line: u64, shown: &str) -> Result<(), ImportError> {
    match std::str::from_utf8(text) {
        Ok(_) => Ok(()),
        Err(err) => {
            let line = first_line + text[..err.valid_up_to()].split(|&b| b == b'\n').count() as u64 - 1;
            Err(ImportError::Source(format!(
                "{shown}, line {line}: not UTF-8 text; if the file is Latin-1, set encoding = \"latin1\""
            )))
        }
    }
}

/// CSV records typed and handed on at a time.
const CSV_CHUNK_ROWS: usize = 500_000;

/// How a CSV file's records are parsed: its dialect, header and null markers.
struct CsvText<'a> {
    source: &'a FileSource,
    header: Option<&'a [u8]>,
    delimiter: u8,
    quote: Option<u8>,
    nulls: Vec<PlSmallStr>,
    shown: &'a str,
}

impl<'a> CsvText<'a> {
    fn new(source: &'a FileSource, header: Option<&'a [u8]>, delimiter: u8, quote: Option<u8>, shown: &'a str) -> Self {
        let mut nulls: Vec<PlSmallStr> = source.null_values.iter().map(|v| PlSmallStr::from(v.as_str())).collect();
        nulls.push(PlSmallStr::EMPTY);
        Self { source, header, delimiter, quote, nulls, shown }
    }

    /// The `records` of `text` parsed by Polars: every column as text
    /// (`plans` none, with the header line), or into the planned types
    /// (numbers, booleans; dates and times stay text) — straight from `text`
    /// when the records are `contiguous` in it (none left out between them).
    /// Fails when a value does not fit its type or Polars saw other rows than `records`.
    fn parse(
        &self,
        text: &[u8],
        records: &[Record],
        plans: Option<&[ColumnPlan]>,
        contiguous: bool,
    ) -> PolarsResult<DataFrame> {
        let options = CsvReadOptions::default().map_parse_options(|parse| {
            parse
                .with_separator(self.delimiter)
                .with_quote_char(self.quote)
                .with_null_values(Some(NullValues::AllColumns(self.nulls.clone())))
        });
        let frame = match plans {
            // Typed: the records' own text, without the header (the plan names the columns).
            Some(plans) => {
                let schema: Schema =
                    plans.iter().map(|plan| Field::new(plan.name.clone(), parsed_type(plan.target))).collect();
                let options = options.with_has_header(false).with_schema(Some(Arc::new(schema)));
                match (contiguous, records.first(), records.last()) {
                    (true, Some(first), Some(last)) => {
                        options.into_reader_with_file_handle(Cursor::new(&text[first.start..last.end])).finish()?
                    }
                    _ => options.into_reader_with_file_handle(Cursor::new(self.body(text, records, false))).finish()?,
                }
            }
            None => options
                .with_has_header(self.source.header)
                .with_infer_schema_length(Some(0))
                .into_reader_with_file_handle(Cursor::new(self.body(text, records, true)))
                .finish()?,
        };
        polars_ensure!(
            frame.height() == records.len(),
            ComputeError: "{} rows parsed where {} records were found", frame.height(), records.len()
        );
        Ok(frame)
    }

    /// The records one a line (after the header line, when asked and there is one).
    fn body(&self, text: &[u8], records: &[Record], with_header: bool) -> Vec<u8> {
        let header = self.header.filter(|_| with_header);
        let length = records.iter().map(|r| r.end - r.start + 1).sum::<usize>() + header.map_or(0, |h| h.len() + 1);
        let mut body = Vec::with_capacity(length);
        if let Some(header) = header {
            body.extend_from_slice(header);
            body.push(b'\n');
        }
        for record in records {
            body.extend_from_slice(&text[record.start..record.end]);
            body.push(b'\n');
        }
        body
    }
}

fn header_word(header: bool) -> &'static str {
    if header { "header" } else { "first row" }
}

fn line_of(location: &str) -> u64 {
    location.rsplit("line ").next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// The type a CSV column gets, and the date or time format it is read with.
#[derive(Debug, Clone)]
struct ColumnPlan {
    name: PlSmallStr,
    target: ColumnType,
    format: Option<String>,
    /// The format was declared (`date_formats`), not found in the sample.
    declared: bool,
}

/// Each column's type (the override, else inferred from the first chunk's
/// sample) and format (the declared one, else the one the sample fits).
fn plan_columns(strings: &DataFrame, source: &FileSource) -> Vec<ColumnPlan> {
    strings
        .columns()
        .iter()
        .map(|column| {
            let name = column.name().as_str();
            let declared = source.date_formats.get(name).cloned();
            let Ok(values) = column.str() else {
                return ColumnPlan {
                    name: column.name().clone(),
                    target: ColumnType::Text,
                    format: None,
                    declared: false,
                };
            };
            let target = source.columns.get(name).copied().unwrap_or_else(|| infer_type(values, declared.as_deref()));
            let sample: Vec<&str> = values.iter().flatten().take(INFERENCE_SAMPLE).collect();
            let was_declared = declared.is_some();
            let format = declared.or_else(|| match target {
                ColumnType::Date => Some(date_format(&sample).unwrap_or("%Y-%m-%d").to_string()),
                ColumnType::Datetime => Some(datetime_format(&sample).unwrap_or("%Y-%m-%d %H:%M:%S").to_string()),
                _ => None,
            });
            ColumnPlan { name: column.name().clone(), target, format, declared: was_declared }
        })
        .collect()
}

/// Types each text column as planned and returns the rows whose values did
/// not fit, which are dropped from the frame.
fn type_columns(
    strings: &DataFrame,
    plans: &[ColumnPlan],
    records: &[Record],
    shown: &str,
    text: &[u8],
) -> Result<(DataFrame, Vec<BadRow>), ImportError> {
    let polars_error = |err: PolarsError| ImportError::Source(format!("{shown}: {err}"));
    let mut misfits = vec![None::<String>; strings.height()];
    let columns: Vec<&Column> = strings.columns().iter().collect();
    let plans: Vec<&ColumnPlan> = plans.iter().collect();
    let typed = convert_columns(&columns, &plans, &mut misfits).map_err(polars_error)?;
    let frame = DataFrame::new(strings.height(), typed).map_err(polars_error)?;
    drop_misfits(frame, &misfits, records, shown, text)
}

/// Converts text columns to their planned types, side by side (one thread a
/// column: a chunk is large enough to be worth it), noting in `misfits` the
/// first value of each row that does not fit.
fn convert_columns(
    columns: &[&Column],
    plans: &[&ColumnPlan],
    misfits: &mut [Option<String>],
) -> PolarsResult<Vec<Column>> {
    let texts: Vec<&StringChunked> = columns.iter().map(|c| c.str()).collect::<Result<_, _>>()?;
    let converted: Vec<Series> = std::thread::scope(|scope| {
        let workers: Vec<_> = texts
            .iter()
            .zip(plans)
            .map(|(values, plan)| scope.spawn(move || convert(values, plan.target, plan.format.as_deref())))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut typed = Vec::with_capacity(columns.len());
    for ((values, plan), converted) in texts.iter().zip(plans).zip(converted) {
        let name = values.name().to_string();
        let (target, format) = (plan.target, plan.format.as_deref());
        if converted.null_count() != values.null_count() {
            for (row, (before, after)) in values.iter().zip(converted.iter()).enumerate() {
                if before.is_some() && after.is_null() && misfits[row].is_none() {
                    misfits[row] = Some(format!(
                        "column `{name}`: `{}` is not {}",
                        before.unwrap_or_default(),
                        type_words(target, if plan.declared { format } else { None })
                    ));
                }
            }
        }
        typed.push(converted.into_column());
    }
    Ok(typed)
}

/// `frame` without the rows `misfits` names, and those rows as bad rows (with their lines).
fn drop_misfits(
    frame: DataFrame,
    misfits: &[Option<String>],
    records: &[Record],
    shown: &str,
    text: &[u8],
) -> Result<(DataFrame, Vec<BadRow>), ImportError> {
    let mut bad = Vec::new();
    for (row, why) in misfits.iter().enumerate() {
        if let (Some(why), Some(record)) = (why, records.get(row)) {
            bad.push(BadRow {
                location: format!("{shown}, line {}", record.line),
                why: why.clone(),
                text: excerpt(&text[record.start..record.end]),
            });
        }
    }
    if bad.is_empty() {
        return Ok((frame, bad));
    }
    let keep: BooleanChunked = misfits.iter().map(std::option::Option::is_none).collect();
    let frame = frame.filter(&keep).map_err(|err| ImportError::Source(format!("{shown}: {err}")))?;
    Ok((frame, bad))
}

/// A chunk's rows typed, and those whose values do not fit. The first chunk
/// is read as text to plan the columns' types; the next ones straight into
/// those types, value by value only when one does not fit (to name its line).
fn type_chunk(
    csv: &CsvText<'_>,
    plans: &mut Option<Vec<ColumnPlan>>,
    chunk: &csv_rows::Chunk,
    contiguous: bool,
) -> Result<(DataFrame, Vec<BadRow>), ImportError> {
    if let Some(plans) = plans
        && let Some(typed) = typed_chunk(csv, plans, chunk, contiguous)?
    {
        return Ok(typed);
    }
    let strings = csv
        .parse(&chunk.text, &chunk.records, None, false)
        .map_err(|err| ImportError::Source(format!("{}: {err}", csv.shown)))?;
    let plans = plans.get_or_insert_with(|| plan_columns(&strings, csv.source));
    type_columns(&strings, plans, &chunk.records, csv.shown, &chunk.text)
}

/// The chunk parsed by Polars straight into the planned types (numbers and
/// booleans by Polars' own parsers; dates and times as text, then with the
/// planned formats). `None` when a value does not fit its type: the caller
/// then types the chunk value by value, to name each bad row's line.
fn typed_chunk(
    csv: &CsvText<'_>,
    plans: &[ColumnPlan],
    chunk: &csv_rows::Chunk,
    contiguous: bool,
) -> Result<Option<(DataFrame, Vec<BadRow>)>, ImportError> {
    let polars_error = |err: PolarsError| ImportError::Source(format!("{}: {err}", csv.shown));
    let Ok(parsed) = csv.parse(&chunk.text, &chunk.records, Some(plans), contiguous) else { return Ok(None) };
    let dated: Vec<usize> = (0..plans.len())
        .filter(|&index| matches!(plans[index].target, ColumnType::Date | ColumnType::Datetime))
        .collect();
    if dated.is_empty() {
        return Ok(Some((parsed, Vec::new())));
    }
    let mut misfits = vec![None::<String>; parsed.height()];
    let texts: Vec<&Column> = dated.iter().map(|&index| &parsed.columns()[index]).collect();
    let date_plans: Vec<&ColumnPlan> = dated.iter().map(|&index| &plans[index]).collect();
    let converted = convert_columns(&texts, &date_plans, &mut misfits).map_err(polars_error)?;
    let mut columns = parsed.into_columns();
    for (index, column) in dated.into_iter().zip(converted) {
        columns[index] = column;
    }
    let height = chunk.records.len();
    let frame = DataFrame::new(height, columns).map_err(polars_error)?;
    drop_misfits(frame, &misfits, &chunk.records, csv.shown, &chunk.text).map(Some)
}

/// The Polars type a planned column is parsed as (dates and times as text, typed afterwards).
fn parsed_type(target: ColumnType) -> DataType {
    match target {
        ColumnType::Integer => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Text | ColumnType::Date | ColumnType::Datetime => DataType::String,
    }
}

fn type_words(target: ColumnType, format: Option<&str>) -> String {
    match (target, format) {
        (ColumnType::Date | ColumnType::Datetime, Some(format)) => format!("a date in the format `{format}`"),
        (ColumnType::Date, None) => "a date (YYYY-MM-DD)".into(),
        (ColumnType::Datetime, None) => "a date and time".into(),
        (ColumnType::Integer, _) => "an integer".into(),
        (ColumnType::Float, _) => "a number".into(),
        (ColumnType::Boolean, _) => "true or false".into(),
        (ColumnType::Text, _) => "text".into(),
    }
}

/// The narrowest type every sampled value fits.
fn infer_type(values: &StringChunked, format: Option<&str>) -> ColumnType {
    let sample: Vec<&str> = values.iter().flatten().take(INFERENCE_SAMPLE).collect();
    if sample.is_empty() {
        return ColumnType::Text;
    }
    if let Some(format) = format {
        return if format.contains("%H") || format.contains("%T") { ColumnType::Datetime } else { ColumnType::Date };
    }
    let all = |check: &dyn Fn(&str) -> bool| sample.iter().all(|v| check(v.trim()));
    if all(&|v| v.parse::<i64>().is_ok()) {
        ColumnType::Integer
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        ColumnType::Float
    } else if all(&|v| parse_bool(v).is_some()) {
        ColumnType::Boolean
    } else if date_format(&sample).is_some() {
        ColumnType::Date
    } else if datetime_format(&sample).is_some() {
        ColumnType::Datetime
    } else {
        ColumnType::Text
    }
}

fn date_format(sample: &[&str]) -> Option<&'static str> {
    DATE_FORMATS
        .into_iter()
        .find(|format| sample.iter().all(|v| chrono::NaiveDate::parse_from_str(v.trim(), format).is_ok()))
}

fn datetime_format(sample: &[&str]) -> Option<&'static str> {
    DATETIME_FORMATS
        .into_iter()
        .find(|format| sample.iter().all(|v| chrono::NaiveDateTime::parse_from_str(v.trim(), format).is_ok()))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Converts text to `target`; values that do not fit become null (the caller counts them).
fn convert(values: &StringChunked, target: ColumnType, format: Option<&str>) -> Series {
    let name = values.name().clone();
    match target {
        ColumnType::Text => values.clone().into_series(),
        ColumnType::Integer => {
            Int64Chunked::from_iter_options(name, values.iter().map(|v| v.and_then(|v| v.trim().parse().ok())))
                .into_series()
        }
        ColumnType::Float => {
            Float64Chunked::from_iter_options(name, values.iter().map(|v| v.and_then(|v| v.trim().parse().ok())))
                .into_series()
        }
        ColumnType::Boolean => {
            BooleanChunked::from_iter_options(name, values.iter().map(|v| v.and_then(|v| parse_bool(v.trim()))))
                .into_series()
        }
        ColumnType::Date => {
            let format = CompiledFormat::new(format.unwrap_or("%Y-%m-%d"));
            let days = values
                .iter()
                .map(|v| v.and_then(|v| format.as_ref()?.date(v.trim())).map(super::columns::days_from_civil));
            Int32Chunked::from_iter_options(name, days).into_date().into_series()
        }
        ColumnType::Datetime => {
            let format = CompiledFormat::new(format.unwrap_or("%Y-%m-%d %H:%M:%S"));
            let micros = values
                .iter()
                .map(|v| v.and_then(|v| format.as_ref()?.datetime(v.trim())).map(|t| t.and_utc().timestamp_micros()));
            Int64Chunked::from_iter_options(name, micros).into_datetime(TimeUnit::Microseconds, None).into_series()
        }
    }
}

/// A chrono format parsed once per column instead of once per value (the
/// same rules as `NaiveDateTime::parse_from_str`, at a fraction of the cost),
/// with a faster reader of its own for the two formats files use most.
struct CompiledFormat {
    items: Vec<chrono::format::Item<'static>>,
    shape: FixedShape,
}

/// Formats read by position, without chrono's general parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FixedShape {
    /// `%Y-%m-%d`
    Date,
    /// `%Y-%m-%d %H:%M:%S` or `%Y-%m-%dT%H:%M:%S` (this byte between the
    /// date and the time), also with `%.f` after it (read here when there
    /// is no fraction).
    DateTime(u8),
    /// Any other format: chrono reads it.
    Other,
}

impl CompiledFormat {
    fn new(format: &str) -> Option<Self> {
        let items = chrono::format::StrftimeItems::new(format).parse_to_owned().ok()?;
        let shape = match format.strip_suffix("%.f").unwrap_or(format) {
            "%Y-%m-%d" if format == "%Y-%m-%d" => FixedShape::Date,
            "%Y-%m-%d %H:%M:%S" => FixedShape::DateTime(b' '),
            "%Y-%m-%dT%H:%M:%S" => FixedShape::DateTime(b'T'),
            _ => FixedShape::Other,
        };
        Some(Self { items, shape })
    }

    fn parsed(&self, text: &str) -> Option<chrono::format::Parsed> {
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse(&mut parsed, text, self.items.iter()).ok()?;
        Some(parsed)
    }

    fn date(&self, text: &str) -> Option<chrono::NaiveDate> {
        if self.shape == FixedShape::Date
            && let Some(date) = fixed_date(text.as_bytes())
        {
            return Some(date);
        }
        self.parsed(text)?.to_naive_date().ok()
    }

    /// A date and time; a date alone is midnight.
    fn datetime(&self, text: &str) -> Option<chrono::NaiveDateTime> {
        if let FixedShape::DateTime(separator) = self.shape
            && let Some(time) = fixed_datetime(text.as_bytes(), separator)
        {
            return Some(time);
        }
        let parsed = self.parsed(text)?;
        parsed.to_naive_datetime_with_offset(0).ok().or_else(|| parsed.to_naive_date().ok()?.and_hms_opt(0, 0, 0))
    }
}

/// The number written by the ASCII digits `bytes` (none when another byte is there).
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0_u32, |value, &byte| byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0')))
}

/// `YYYY-MM-DD` exactly; anything else (other lengths, signs, spaces) is left to chrono.
fn fixed_date(text: &[u8]) -> Option<chrono::NaiveDate> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&text[..4])?).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, digits(&text[5..7])?, digits(&text[8..10])?)
}

/// `YYYY-MM-DD HH:MM:SS` exactly (`separator` between the date and the time);
/// anything else is left to chrono.
fn fixed_datetime(text: &[u8], separator: u8) -> Option<chrono::NaiveDateTime> {
    if text.len() != 19 || text[10] != separator || text[13] != b':' || text[16] != b':' {
        return None;
    }
    fixed_date(&text[..10])?.and_hms_opt(digits(&text[11..13])?, digits(&text[14..16])?, digits(&text[17..19])?)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;
    use crate::engine::imports::spool;

    /// The file as Polars reads it in one go (types from every record), flattened.
    fn polars_reads_whole(path: &Path, format: JsonFormat) -> DataFrame {
        let whole = JsonReader::new(std::fs::File::open(path).unwrap())
            .with_json_format(format)
            .infer_schema_len(None)
            .finish()
            .unwrap();
        flatten_structs(whole).unwrap()
    }

    /// Runs `read` (a reader of small blocks) into a spool in `dir`, checks it
    /// read `rows` rows in several parts (blocks of other shapes), and answers
    /// the table built from them.
    fn read_in_blocks(
        dir: &Path,
        rows: u64,
        read: &dyn Fn(&Cancel, &mut Fetched) -> Result<u64, ImportError>,
    ) -> DataFrame {
        let cancel = Cancel::new(Arc::new(AtomicBool::new(false)), Duration::from_mins(1));
        let mut fetched = Fetched::new(Arc::new(|_| {}));
        fetched.spool = Some(spool::Spool::new(dir));
        assert_eq!(read(&cancel, &mut fetched).unwrap(), rows);
        let spooled = fetched.spool.take().unwrap();
        assert!(spooled.parts() > 1, "the blocks' shapes differ, so the test exercises combining them");
        let parts = spooled.finish().unwrap();
        let inputs: Vec<spool::Input<'_>> = parts.iter().map(spool::Part::as_input).collect();
        let built = spool::build(dir, &inputs, None, &|| Ok(())).unwrap();
        ParquetReader::new(std::fs::File::open(&built.written).unwrap()).finish().unwrap()
    }

    #[test]
    fn ndjson_read_in_small_blocks_gives_the_table_a_whole_read_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        let mut file = std::fs::File::create(&path).unwrap();
        for i in 0..1_000 {
            // `score` is null in the first blocks, `device` appears only later,
            // some lines are blank: each block may see other columns and types.
            let score = if i < 300 { "null".to_string() } else { (i * 3).to_string() };
            let device = if i >= 700 { format!(r#","device":{{"os":"os{}"}}"#, i % 3) } else { String::new() };
            writeln!(file, r#"{{"id":{i},"name":"n{i}","score":{score}{device}}}"#).unwrap();
            if i % 97 == 0 {
                writeln!(file).unwrap();
            }
        }
        drop(file);

        let in_blocks = read_in_blocks(dir.path(), 1_000, &|cancel, fetched| {
            read_ndjson(&path, 2_048, cancel, fetched, &|frame| Ok(frame))
        });

        let whole = polars_reads_whole(&path, JsonFormat::JsonLines);
        let names =
            |frame: &DataFrame| frame.get_column_names().into_iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(names(&in_blocks), names(&whole));
        assert!(in_blocks.equals_missing(&whole), "{in_blocks}\n{whole}");
    }

    #[test]
    fn a_json_array_read_in_small_blocks_gives_the_table_polars_reads_from_the_whole_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.json");
        let mut records = Vec::new();
        for i in 0..600 {
            // Pretty-printed, `score` null in the first blocks, `device` only later.
            let score = if i < 200 { "null".to_string() } else { (i * 3).to_string() };
            let device =
                if i >= 400 { format!(",\n    \"device\": {{\"os\": \"os{}\"}}", i % 3) } else { String::new() };
            records.push(format!(
                "  {{\n    \"id\": {i},\n    \"name\": \"n{i} [x]\",\n    \"score\": {score}{device}\n  }}"
            ));
        }
        std::fs::write(&path, format!("[\n{}\n]\n", records.join(",\n"))).unwrap();

        let in_blocks = read_in_blocks(dir.path(), 600, &|cancel, fetched| {
            read_json(&path, 2_048, cancel, fetched, &|frame| Ok(frame))
        });

        let whole = polars_reads_whole(&path, JsonFormat::Json);
        assert!(in_blocks.equals_missing(&whole), "{in_blocks}\n{whole}");

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "[{\"id\": 1}, {\"id\": 2}, {\"id\": tru}]").unwrap();
        let cancel = Cancel::new(Arc::new(AtomicBool::new(false)), Duration::from_mins(1));
        let mut fetched = Fetched::new(Arc::new(|_| {}));
        let err = read_json(&broken, 1_024, &cancel, &mut fetched, &|frame| Ok(frame)).unwrap_err().to_string();
        assert!(err.contains("broken.json, records 1-3"), "{err}");
    }

    #[test]
    fn a_bad_ndjson_line_is_named_by_the_lines_of_its_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.ndjson");
        let mut text = "{\"id\":1}\n".repeat(200);
        text.push_str("{\"id\": oops}\n");
        std::fs::write(&path, text).unwrap();
        let cancel = Cancel::new(Arc::new(AtomicBool::new(false)), Duration::from_mins(1));
        let mut fetched = Fetched::new(Arc::new(|_| {}));
        let err = read_ndjson(&path, 1_024, &cancel, &mut fetched, &|frame| Ok(frame)).unwrap_err().to_string();
        assert!(err.contains("bad.ndjson, lines") && err.contains("201"), "{err}");
    }

    #[test]
    fn the_fixed_date_readers_agree_with_chrono_and_leave_the_rest_to_it() {
        let date = CompiledFormat::new("%Y-%m-%d").unwrap();
        let datetime = CompiledFormat::new("%Y-%m-%d %H:%M:%S").unwrap();
        let fraction = CompiledFormat::new("%Y-%m-%dT%H:%M:%S%.f").unwrap();
        assert_eq!(fraction.shape, FixedShape::DateTime(b'T'));
        for text in ["2026-01-01T23:59:59", "2026-01-01T23:59:59.25", "2026-01-01 23:59:59", "2026-01-01T23:59"] {
            assert_eq!(
                fraction.datetime(text),
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok(),
                "{text}"
            );
        }
        for text in [
            "2026-02-28",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            " 2026-01-01",
            "+2026-01-01",
            "20x6-01-01",
        ] {
            assert_eq!(date.date(text), chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(), "{text}");
        }
        for text in [
            "2026-01-01 23:59:59",
            "2026-01-01 24:00:00",
            "2026-01-01 12:60:00",
            "2026-01-01 1:02:03",
            "2026-01-01T01:02:03",
        ] {
            assert_eq!(
                datetime.datetime(text),
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok(),
                "{text}"
            );
        }
    }
}
