//! Fetched rows on disk, and the next version of a table built from them
//! without ever holding a table in memory.
//!
//! A run writes each batch it fetches straight into a temporary Parquet
//! *part* in the table's folder; a batch whose columns differ from the part's
//! (another file of a glob, a chunk of NDJSON with a new field, an API page
//! with another shape) starts a new part, so nothing is coerced while
//! fetching. The new version is then one Parquet file made from the inputs the
//! load mode names — the previous version (append; for an upsert without the
//! rows whose key came again) and the parts — read back a row group at a time,
//! each batch given the table's combined columns (first appearance order,
//! each column's type the supertype of its inputs', missing values null). A
//! replace with a single part is that part, renamed: no second write.
//!
//! Owns no catalogue (the caller commits the file) and no source (the readers
//! push batches).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::ImportError;

/// Rows per row group of a file this module writes, so that reading one back
/// a row group at a time stays small whatever the table's size.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// zstd's level 1 for table files: faster to write than its default (3),
/// which kept CSV imports behind `DuckDB`'s, for about half again the bytes
/// (the import benchmark's 10M rows: 64 MB instead of 42 MB, against 173 MB
/// for `DuckDB`'s snappy file); reading is as fast.
fn table_zstd_level() -> polars::polars_utils::compression::ZstdLevel {
    polars::polars_utils::compression::ZstdLevel::try_new(1).unwrap_or_default()
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(write_failed)`
fn write_failed(err: PolarsError) -> ImportError {
    ImportError::Source(format!("cannot write the table's Parquet file: {err}"))
}

/// A temporary Parquet file being written a batch at a time. The batches are
/// encoded and written on a thread of the part's own, so that the source
/// fetches and parses the next batch meanwhile; at most one batch waits.
struct PartWriter {
    /// The file; taken when the part is finished.
    file: Option<tempfile::NamedTempFile>,
    schema: Schema,
    rows: u64,
    /// Hands batches to the writing thread; `None` once finishing.
    batches: Option<std::sync::mpsc::SyncSender<DataFrame>>,
    /// The writing thread; it answers how writing and finishing went.
    writing: Option<std::thread::JoinHandle<Result<(), ImportError>>>,
}

impl PartWriter {
    fn create(dir: &Path, schema: Schema) -> Result<Self, ImportError> {
        let io = |err: std::io::Error| {
            ImportError::Source(format!("cannot create a table file in {}: {err}", dir.display()))
        };
        let file = tempfile::Builder::new().prefix(".").suffix(".parquet.partial").tempfile_in(dir).map_err(io)?;
        let mut writer = ParquetWriter::new(file.reopen().map_err(io)?)
            .with_compression(ParquetCompression::Zstd(Some(table_zstd_level())))
            .with_row_group_size(Some(ROW_GROUP_ROWS))
            .batched(&schema)
            .map_err(write_failed)?;
        let (batches, to_write) = std::sync::mpsc::sync_channel::<DataFrame>(1);
        let writing = std::thread::Builder::new()
            .name("import-part-writer".into())
            .spawn(move || {
                for frame in to_write {
                    write_row_groups(&mut writer, &frame)?;
                }
                writer
                    .finish()
                    .map(drop)
                    .map_err(|err| ImportError::Source(format!("cannot finish the table's Parquet file: {err}")))
            })
            .map_err(|err| ImportError::Source(format!("cannot start writing the table file: {err}")))?;
        Ok(Self { file: Some(file), schema, rows: 0, batches: Some(batches), writing: Some(writing) })
    }

    fn write(&mut self, frame: &DataFrame) -> Result<(), ImportError> {
        self.rows += frame.height() as u64;
        let sent = self.batches.as_ref().is_some_and(|batches| batches.send(frame.clone()).is_ok());
        if sent {
            return Ok(());
        }
        // The writing thread stopped: its error says why.
        self.join()?;
        Err(ImportError::Source("the table file's writer stopped".into()))
    }

    /// Lets the writing thread finish the file and answers how it went.
    fn join(&mut self) -> Result<(), ImportError> {
        self.batches = None;
        match self.writing.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(err))) => Err(err),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }

    /// Finishes and syncs the file.
    fn finish(mut self) -> Result<Part, ImportError> {
        self.join()?;
        let file = self.file.take().ok_or_else(|| ImportError::Source("the table file was finished twice".into()))?;
        file.as_file().sync_all().map_err(|err| ImportError::Source(format!("cannot sync the table file: {err}")))?;
        Ok(Part { path: file.into_temp_path(), schema: std::mem::take(&mut self.schema), rows: self.rows })
    }
}

impl Drop for PartWriter {
    /// A part given up (a failed or cancelled run): the thread ends before its file is removed.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Each `ROW_GROUP_ROWS` rows of `frame` as a row group.
fn write_row_groups(
    writer: &mut polars::io::parquet::write::BatchedWriter<std::fs::File>,
    frame: &DataFrame,
) -> Result<(), ImportError> {
    for start in (0..frame.height().max(1)).step_by(ROW_GROUP_ROWS) {
        let mut piece = frame.slice(start as i64, ROW_GROUP_ROWS);
        // Each chunk becomes a row group: every column needs the same chunks.
        if piece.should_rechunk() {
            piece.align_chunks_par();
        }
        writer.write_batch(&piece).map_err(write_failed)?;
    }
    Ok(())
}

/// Removes the temporary files a killed run left in a table's folder (the
/// caller holds the import's lock, so no run is writing them), saying so in `log`.
pub fn remove_leftovers(dir: &Path, log: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".parquet.partial") && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        log.push(format!("removed {removed} temporary file(s) an interrupted run left behind"));
    }
}

/// A finished temporary Parquet file of fetched rows (deleted when dropped).
#[derive(Debug)]
pub struct Part {
    path: tempfile::TempPath,
    pub schema: Schema,
    pub rows: u64,
}

/// The parts of one run, in the order their rows were fetched.
pub struct Spool {
    dir: PathBuf,
    done: Vec<Part>,
    open: Option<PartWriter>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).field("parts", &self.parts()).finish_non_exhaustive()
    }
}

impl Spool {
    /// Parts go into `dir` (the table's folder, so the final rename stays on one file system).
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), done: Vec::new(), open: None }
    }

    /// Parts begun so far.
    pub fn parts(&self) -> usize {
        self.done.len() + usize::from(self.open.is_some())
    }

    /// Writes a batch: into the open part when its columns are the part's (or
    /// fit them: a subset, with all-null columns of no type), else into a new part.
    pub fn write(&mut self, frame: &DataFrame) -> Result<(), ImportError> {
        if frame.width() == 0 {
            // No columns (an empty file or page): nothing to keep.
            return Ok(());
        }
        if let Some(open) = &mut self.open
            && let Some(fitted) = fit_to(frame, &open.schema)
        {
            return open.write(&fitted);
        }
        if let Some(open) = self.open.take() {
            self.done.push(open.finish()?);
        }
        let mut part = PartWriter::create(&self.dir, frame.schema().as_ref().clone())?;
        part.write(frame)?;
        self.open = Some(part);
        Ok(())
    }

    /// Finishes the open part; answers every part.
    pub fn finish(mut self) -> Result<Vec<Part>, ImportError> {
        if let Some(open) = self.open.take() {
            self.done.push(open.finish()?);
        }
        Ok(self.done)
    }
}

/// `frame` in `schema`'s columns when it fits them without coercing a value:
/// the same names and types, some missing (null), or typed `Null` (all null).
fn fit_to(frame: &DataFrame, schema: &Schema) -> Option<DataFrame> {
    if frame.schema().as_ref() == schema {
        return Some(frame.clone());
    }
    for (name, dtype) in frame.schema().iter() {
        let wanted = schema.get(name)?;
        if dtype != wanted && *dtype != DataType::Null {
            return None;
        }
    }
    in_columns(frame, schema).ok()
}

/// `frame` with exactly `schema`'s columns, in its order: cast where the type
/// differs (strictly: a value that does not fit fails), null where missing.
fn in_columns(frame: &DataFrame, schema: &Schema) -> PolarsResult<DataFrame> {
    let height = frame.height();
    let mut columns = Vec::with_capacity(schema.len());
    for (name, dtype) in schema.iter() {
        let column = match frame.column(name) {
            Ok(column) if column.dtype() == dtype => column.clone(),
            Ok(column) => column.strict_cast(dtype)?,
            Err(_) => Column::full_null(name.clone(), height, dtype),
        };
        columns.push(column);
    }
    DataFrame::new(height, columns)
}

/// Where a version's rows come from, in order.
#[derive(Debug)]
pub enum Input<'a> {
    /// A Parquet file (the previous version, or a part).
    File { path: &'a Path, what: String },
    /// The previous version without the rows whose key is in `keys`.
    FileWithout { path: &'a Path, what: String, keys: &'a DataFrame },
    /// Rows already in memory (an upsert's fresh rows).
    Frame(&'a DataFrame),
}

impl Part {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The part as the new version's file, without rewriting it.
    pub fn into_version_file(self) -> tempfile::TempPath {
        self.path
    }

    pub fn as_input(&self) -> Input<'_> {
        Input::File { path: &self.path, what: "the fetched rows".into() }
    }
}

/// A new version's file built from `inputs`.
#[derive(Debug)]
pub struct Built {
    pub written: tempfile::TempPath,
    pub schema: Schema,
    pub rows: u64,
    /// The largest value of the column asked for, over every row written.
    pub max: Option<AnyValue<'static>>,
}

/// Writes `inputs` one after another into one new Parquet file in `dir`, in
/// their combined columns; `check` runs between batches (cancellation);
/// `max_of` names a column whose largest value is wanted (an upsert's cursor).
pub fn build(
    dir: &Path,
    inputs: &[Input<'_>],
    max_of: Option<&str>,
    check: &dyn Fn() -> Result<(), ImportError>,
) -> Result<Built, ImportError> {
    let mut schemas = Vec::with_capacity(inputs.len());
    for input in inputs {
        schemas.push(match input {
            Input::File { path, what } | Input::FileWithout { path, what, .. } => file_schema(path, what)?,
            Input::Frame(frame) => frame.schema().as_ref().clone(),
        });
    }
    let schema = combined_schema(&schemas)?;
    let mut writer = PartWriter::create(dir, schema.clone())?;
    let mut maxima: Vec<AnyValue<'static>> = Vec::new();
    let mut write = |frame: DataFrame, what: &str| -> Result<(), ImportError> {
        check()?;
        let frame = in_columns(&frame, &schema).map_err(|err| {
            ImportError::Source(format!("{what} do not fit the table's columns ({}): {err}", describe(&schema)))
        })?;
        if let Some(column) = max_of.and_then(|name| frame.column(name).ok()) {
            let largest = column
                .as_materialized_series()
                .max_reduce()
                .map_err(|err| ImportError::Source(format!("cannot find the largest `{}`: {err}", column.name())))?;
            let value = largest.value().clone().into_static();
            if !value.is_null() {
                maxima.push(value);
            }
        }
        writer.write(&frame)
    };
    for input in inputs {
        match input {
            Input::File { path, what } => each_row_group(path, what, &mut |batch| write(batch, what))?,
            Input::FileWithout { path, what, keys } => {
                // Both sides in the table's types, so that an Int32 key meets its Int64 self.
                let key_schema: Schema =
                    keys.get_column_names().into_iter().filter_map(|n| schema.get_field(n)).collect();
                let keys = in_columns(keys, &key_schema)
                    .map_err(|err| ImportError::Source(format!("the fetched keys do not fit the table: {err}")))?;
                let names: Vec<Expr> = keys.get_column_names().into_iter().map(|n| col(n.clone())).collect();
                each_row_group(path, what, &mut |batch| {
                    let batch = in_columns(&batch, &schema)
                        .map_err(|err| ImportError::Source(format!("{what} do not fit the table's columns: {err}")))?;
                    let kept = batch
                        .lazy()
                        .join(keys.clone().lazy(), names.clone(), names.clone(), JoinArgs::new(JoinType::Anti))
                        .collect()
                        .map_err(|err| ImportError::Source(format!("cannot match the keys of {what}: {err}")))?;
                    write(kept, what)
                })?;
            }
            Input::Frame(frame) => write((*frame).clone(), "the fetched rows")?,
        }
    }
    let max = largest_of(&maxima)?;
    let part = writer.finish()?;
    Ok(Built { written: part.path, schema: part.schema, rows: part.rows, max })
}

/// The largest of some values of one column.
fn largest_of(values: &[AnyValue<'static>]) -> Result<Option<AnyValue<'static>>, ImportError> {
    if values.is_empty() {
        return Ok(None);
    }
    let series = Series::from_any_values(PlSmallStr::from_static("max"), values, true)
        .map_err(|err| ImportError::Source(format!("cannot compare the cursor's values: {err}")))?;
    let largest =
        series.max_reduce().map_err(|err| ImportError::Source(format!("cannot compare the cursor's values: {err}")))?;
    Ok(Some(largest.value().clone().into_static()))
}

/// The columns of a Parquet file, without reading its rows.
fn file_schema(path: &Path, what: &str) -> Result<Schema, ImportError> {
    let frame = reader(path, what)?
        .with_slice(Some((0, 0)))
        .finish()
        .map_err(|err| ImportError::Source(format!("cannot read {what}: {err}")))?;
    Ok(frame.schema().as_ref().clone())
}

fn reader(path: &Path, what: &str) -> Result<ParquetReader<std::fs::File>, ImportError> {
    let file = std::fs::File::open(path)
        .map_err(|err| ImportError::Source(format!("cannot open {what} ({}): {err}", path.display())))?;
    Ok(ParquetReader::new(file))
}

/// Calls `each` with every row group of a Parquet file, in order: one row
/// group is in memory at a time (a file without row groups gives its empty columns).
pub fn each_row_group(
    path: &Path,
    what: &str,
    each: &mut dyn FnMut(DataFrame) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let failed = |err: PolarsError| ImportError::Source(format!("cannot read {what}: {err}"));
    let metadata = reader(path, what)?.get_metadata().map_err(failed)?.clone();
    #[allow(clippy::redundant_closure_for_method_calls)] // the metadata type is not exported by polars
    let groups: Vec<usize> = metadata.row_groups.iter().map(|group| group.num_rows()).collect();
    if groups.iter().all(|&rows| rows == 0) {
        let mut reader = reader(path, what)?;
        reader.set_metadata(metadata);
        return each(reader.with_slice(Some((0, 0))).finish().map_err(failed)?);
    }
    let mut offset = 0;
    for rows in groups {
        let mut reader = reader(path, what)?;
        reader.set_metadata(metadata.clone());
        let batch = reader.with_slice(Some((offset, rows))).finish().map_err(failed)?;
        offset += rows;
        each(batch)?;
    }
    Ok(())
}

/// Columns in order of first appearance, each typed with the supertype of its inputs' types.
fn combined_schema(schemas: &[Schema]) -> Result<Schema, ImportError> {
    let mut combined = Schema::default();
    for schema in schemas {
        for (name, dtype) in schema.iter() {
            let merged = match combined.get(name) {
                None => dtype.clone(),
                Some(seen) if seen == dtype => continue,
                Some(seen) => polars_core::utils::try_get_supertype(seen, dtype).map_err(|_| {
                    ImportError::Source(format!(
                        "column `{name}` is {seen} in one part of the table and {dtype} in another, \
                         and no type holds both"
                    ))
                })?,
            };
            combined.with_column(name.clone(), merged);
        }
    }
    Ok(combined)
}

fn describe(schema: &Schema) -> String {
    schema.iter().map(|(name, dtype)| format!("{name}: {dtype}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(columns: Vec<Column>) -> DataFrame {
        DataFrame::new_infer_height(columns).unwrap()
    }

    fn names(frame: &DataFrame) -> Vec<String> {
        frame.get_column_names().into_iter().map(ToString::to_string).collect()
    }

    fn read(path: &Path) -> DataFrame {
        ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
    }

    #[test]
    fn batches_of_one_shape_share_a_part_and_a_new_shape_starts_another() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path());
        spool.write(&frame(vec![Column::new("a".into(), [1i64, 2]), Column::new("b".into(), ["x", "y"])])).unwrap();
        // A subset of the columns, one of them all null: fits the open part.
        spool
            .write(&frame(vec![Column::new("a".into(), [3i64]), Column::full_null("b".into(), 1, &DataType::Null)]))
            .unwrap();
        spool.write(&frame(vec![Column::new("a".into(), [4i64])])).unwrap();
        assert_eq!(spool.parts(), 1);
        // Another type of `a`: a new part, nothing coerced yet.
        spool.write(&frame(vec![Column::new("a".into(), [5.5f64]), Column::new("c".into(), [true])])).unwrap();
        assert_eq!(spool.parts(), 2);
        let parts = spool.finish().unwrap();
        assert_eq!(read(parts[0].path()).height(), 4);
        assert_eq!(read(parts[0].path()).column("b").unwrap().null_count(), 2);

        let inputs: Vec<Input<'_>> = parts.iter().map(Part::as_input).collect();
        let built = build(dir.path(), &inputs, Some("a"), &|| Ok(())).unwrap();
        let table = read(&built.written);
        assert_eq!(built.rows, 5);
        assert_eq!(names(&table), ["a", "b", "c"], "columns in order of first appearance");
        assert_eq!(table.column("a").unwrap().dtype(), &DataType::Float64, "Int64 and Float64 combine to Float64");
        let a: Vec<Option<f64>> = table.column("a").unwrap().f64().unwrap().iter().collect();
        assert_eq!(a, [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.5)], "rows in the order fetched");
        assert_eq!(table.column("c").unwrap().null_count(), 4);
        assert_eq!(built.max, Some(AnyValue::Float64(5.5)));
    }

    #[test]
    fn an_upsert_leaves_out_the_previous_rows_whose_key_came_again_a_row_group_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        // A previous version of several row groups.
        let ids: Vec<i64> = (0..(ROW_GROUP_ROWS as i64 * 2 + 10)).collect();
        let names: Vec<String> = ids.iter().map(|id| format!("old {id}")).collect();
        let mut spool = Spool::new(dir.path());
        spool.write(&frame(vec![Column::new("id".into(), &ids), Column::new("name".into(), &names)])).unwrap();
        let previous = spool.finish().unwrap().remove(0);
        let mut groups = 0;
        each_row_group(previous.path(), "the previous version", &mut |_| {
            groups += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(groups, 3);

        let fresh = frame(vec![
            Column::new("id".into(), [5i64, ROW_GROUP_ROWS as i64 + 1, -1]),
            Column::new("name".into(), ["new 5", "new middle", "new -1"]),
        ]);
        let keys = fresh.select(["id"]).unwrap();
        let inputs = [
            Input::FileWithout { path: previous.path(), what: "the previous version".into(), keys: &keys },
            Input::Frame(&fresh),
        ];
        let built = build(dir.path(), &inputs, Some("id"), &|| Ok(())).unwrap();
        let table = read(&built.written);
        assert_eq!(table.height(), ids.len() + 1, "two rows replaced, one added");
        let names_of = |id: i64| {
            let rows = table.clone().lazy().filter(col("id").eq(lit(id))).collect().unwrap();
            rows.column("name").unwrap().str().unwrap().iter().map(|n| n.unwrap().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names_of(5), ["new 5"]);
        assert_eq!(names_of(ROW_GROUP_ROWS as i64 + 1), ["new middle"]);
        assert_eq!(names_of(6), ["old 6"]);
        assert_eq!(built.max, Some(AnyValue::Int64(*ids.last().unwrap())));
    }

    #[test]
    fn columns_that_no_type_holds_together_are_an_error_naming_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path());
        spool.write(&frame(vec![Column::new("when".into(), [true])])).unwrap();
        let date = Column::new("when".into(), [1i32]).cast(&DataType::Date).unwrap();
        spool.write(&frame(vec![date])).unwrap();
        let parts = spool.finish().unwrap();
        let inputs: Vec<Input<'_>> = parts.iter().map(Part::as_input).collect();
        let err = build(dir.path(), &inputs, None, &|| Ok(())).unwrap_err().to_string();
        assert!(err.contains("`when`") && err.contains("bool") && err.contains("date"), "{err}");
    }

    #[test]
    fn a_cancelled_build_stops_between_batches() {
        let dir = tempfile::tempdir().unwrap();
        let table = frame(vec![Column::new("a".into(), [1i64])]);
        let err = build(dir.path(), &[Input::Frame(&table)], None, &|| Err(ImportError::Cancelled)).unwrap_err();
        assert!(matches!(err, ImportError::Cancelled));
    }
}
