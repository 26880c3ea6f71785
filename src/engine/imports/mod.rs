//! Running an import: fetch from the source (a file, a database), combine the
//! fetch with the previous version as the load mode says (replace, append,
//! incremental upsert by key past a stored cursor), write the new version's
//! Parquet file and commit it to the catalogue; with retries and backoff, a
//! timeout that cancels the work, and every attempt in the run history.
//!
//! Runs on the caller's thread (the CLI's, or a scheduler worker's); never on
//! the UI thread. Owns no SQL (the catalogue does) and no schedule (the
//! scheduler decides when).

pub mod browse;
pub mod columns;
mod csv_rows;
pub(crate) mod database;
pub(crate) mod db_tls;
pub mod file;
mod http;
mod json_array;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub mod preview;
mod spool;
mod sqlite;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use polars::prelude::*;

use crate::engine::store::tables::{NewVersion, RunOutcome, RunResult, RunTrigger, TableCatalog, TableVersion};
use crate::engine::store::{StoreError, StreamKey, StreamLock};
use crate::model::imports::{ImportSource, ImportSpec, LoadMode};

use database::Since;

/// A row that did not parse or fit, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// `file.csv, line 12` or `row 5031`.
    pub location: String,
    pub why: String,
    /// The row's text, shortened (files only).
    pub text: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.why)?;
        if !self.text.is_empty() {
            write!(f, " — {}", self.text)?;
        }
        Ok(())
    }
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source could not be read (the message names it and what failed).
    #[error("{0}")]
    Source(String),
    /// Something only the user can fix: retrying would fail the same way.
    #[error("{0}")]
    Config(String),
    #[error("{count} bad row{} (the import's bad_rows = \"fail\"; set it to \"skip\" to leave them out): {}",
        if *count == 1 { "" } else { "s" }, first.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadRows { count: u64, first: Vec<BadRow> },
    #[error("the run took longer than its timeout of {0}s and was cancelled")]
    TimedOut(u64),
    #[error("the run was cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A secret that cannot be had is the user's to fix (store it, set the variable): not retried.
impl From<crate::engine::secrets::SecretError> for ImportError {
    fn from(err: crate::engine::secrets::SecretError) -> Self {
        Self::Config(err.to_string())
    }
}

impl ImportError {
    /// Whether another attempt could succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Source(_) | Self::TimedOut(_) | Self::Store(_))
    }

    /// How a run that ended with this error is recorded in the history.
    pub fn outcome(&self) -> RunOutcome {
        match self {
            Self::TimedOut(_) => RunOutcome::TimedOut,
            Self::Cancelled => RunOutcome::Cancelled,
            _ => RunOutcome::Failed,
        }
    }
}

/// Stops a run: at its deadline (the timeout) or when asked.
#[derive(Debug, Clone)]
pub struct Cancel {
    stop: Arc<AtomicBool>,
    deadline: Instant,
    timeout: Duration,
}

impl Cancel {
    pub fn new(stop: Arc<AtomicBool>, timeout: Duration) -> Self {
        Self { stop, deadline: Instant::now() + timeout, timeout }
    }

    pub fn check(&self) -> Result<(), ImportError> {
        if self.stop.load(Ordering::Relaxed) {
            Err(ImportError::Cancelled)
        } else if Instant::now() >= self.deadline {
            Err(ImportError::TimedOut(self.timeout.as_secs()))
        } else {
            Ok(())
        }
    }

    /// What is left of the timeout, for the sources' own limits (statement timeouts).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1))
    }
}

/// How far a run has come, for progress bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    pub bytes_read: u64,
}

/// What a source fetched in one attempt.
pub struct Fetched {
    /// A preview's rows, in memory.
    frames: Vec<DataFrame>,
    /// A run's rows, on disk as they arrive (set for runs, not for previews).
    spool: Option<spool::Spool>,
    rows: u64,
    pub bytes_read: u64,
    pub log: Vec<String>,
    kept_bad_rows: Vec<BadRow>,
    bad_row_count: u64,
    progress: ProgressSink,
    /// A preview wants only this many rows: the fetch stops once it has them.
    limit: Option<u64>,
}

/// Hears how far a run has come (from the thread doing the work).
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("rows", &self.rows)
            .field("bad_rows", &self.bad_row_count)
            .finish_non_exhaustive()
    }
}

impl Fetched {
    fn new(progress: ProgressSink) -> Self {
        Self {
            frames: Vec::new(),
            spool: None,
            rows: 0,
            bytes_read: 0,
            log: Vec::new(),
            kept_bad_rows: Vec::new(),
            bad_row_count: 0,
            progress,
            limit: None,
        }
    }

    /// Rows per batch: `full` for a run, no more than a preview needs for a preview.
    fn batch_rows(&self, full: usize) -> usize {
        self.limit.map_or(full, |limit| (limit as usize).clamp(1, full))
    }

    /// Whether a preview has all the rows it wants.
    fn is_full(&self) -> bool {
        self.limit.is_some_and(|limit| self.rows >= limit)
    }

    fn push(&mut self, frame: DataFrame) -> Result<(), ImportError> {
        self.rows += frame.height() as u64;
        match &mut self.spool {
            Some(spool) => spool.write(&frame)?,
            None => self.frames.push(frame),
        }
        (self.progress)(Progress { rows: self.rows, bytes_read: self.bytes_read });
        if self.is_full() {
            // Enough for a preview: stop the source the way a cancel does.
            return Err(ImportError::Cancelled);
        }
        Ok(())
    }

    fn batches(&self) -> usize {
        if let Some(spool) = &self.spool { spool.parts() } else { self.frames.len() }
    }

    /// Counts bad rows (keeping the first few); under `fail` that ends the attempt.
    fn note_bad_rows(
        &mut self,
        rows: Vec<BadRow>,
        policy: crate::model::imports::BadRowPolicy,
    ) -> Result<(), ImportError> {
        self.bad_row_count += rows.len() as u64;
        let room = file::KEPT_BAD_ROWS.saturating_sub(self.kept_bad_rows.len());
        self.kept_bad_rows.extend(rows.into_iter().take(room));
        if policy == crate::model::imports::BadRowPolicy::Fail {
            return Err(ImportError::BadRows {
                count: self.bad_row_count,
                first: self.kept_bad_rows.iter().take(5).cloned().collect(),
            });
        }
        Ok(())
    }

    /// Everything fetched as one frame (the parts are handed over).
    fn take_frame(&mut self) -> Result<DataFrame, ImportError> {
        let frames = std::mem::take(&mut self.frames);
        match frames.len() {
            0 => Ok(DataFrame::empty()),
            1 => Ok(frames.into_iter().next().unwrap_or_default()),
            _ => polars::functions::concat_df_diagonal(&frames)
                .map_err(|err| ImportError::Source(format!("the fetched parts do not fit together: {err}"))),
        }
    }
}

/// Where an import runs: the data directory, the workbook's id and folder.
#[derive(Debug, Clone)]
pub struct ImportContext {
    pub data_dir: PathBuf,
    pub workbook_id: String,
    /// Relative file and SQLite paths start here (the workbook's folder).
    pub base_dir: PathBuf,
}

impl ImportContext {
    /// The folder relative paths of a workbook start at: its file's folder (`.` for the demo's).
    pub fn base_dir_of(workbook_path: Option<&Path>) -> PathBuf {
        workbook_path
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// A successful run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub version: TableVersion,
    /// Rows fetched by this run (the version may hold more: append, incremental).
    pub fetched_rows: u64,
    pub bad_rows: u64,
    pub kept_bad_rows: Vec<BadRow>,
    pub attempts: u32,
    pub log: String,
}

/// A run whose every attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} `{name}` failed{}: {error}", if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() })]
pub struct RunFailure {
    /// `import` or `export`.
    pub what: &'static str,
    pub name: String,
    pub attempts: u32,
    pub error: Box<ImportError>,
}

/// Runs an import now, retrying as its spec says. `stop` cancels the run
/// (also while waiting to retry); `progress` hears how far each attempt is;
/// `retrying` hears each failed attempt that will be retried, and the wait.
pub fn run_import(
    spec: &ImportSpec,
    context: &ImportContext,
    trigger: RunTrigger,
    stop: &Arc<AtomicBool>,
    progress: &ProgressSink,
    retrying: &mut dyn FnMut(u32, &ImportError, Duration),
) -> Result<RunSummary, RunFailure> {
    with_retries(
        "import",
        &spec.name,
        spec.attempts,
        |attempt, jitter| spec.retry_wait(attempt, jitter),
        stop,
        retrying,
        |attempt| attempt_import(spec, context, trigger, attempt, stop, progress),
    )
    .map(|(mut summary, attempts)| {
        summary.attempts = attempts;
        summary
    })
}

/// Runs `attempt` until it succeeds, fails in a way retrying cannot fix, or
/// `attempts` are used up, waiting `wait(attempt, jitter)` between tries;
/// `stop` ends the waiting too. Answers the result and the attempts made.
pub fn with_retries<T>(
    what: &'static str,
    name: &str,
    attempts: u32,
    wait: impl Fn(u32, f64) -> Duration,
    stop: &Arc<AtomicBool>,
    retrying: &mut dyn FnMut(u32, &ImportError, Duration),
    mut attempt_once: impl FnMut(u32) -> Result<T, ImportError>,
) -> Result<(T, u32), RunFailure> {
    let mut attempt = 1;
    loop {
        match attempt_once(attempt) {
            Ok(value) => return Ok((value, attempt)),
            Err(error) if error.retryable() && attempt < attempts => {
                let pause = wait(attempt, jitter_unit());
                retrying(attempt, &error, pause);
                let until = Instant::now() + pause;
                while Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        return Err(RunFailure {
                            what,
                            name: name.to_string(),
                            attempts: attempt,
                            error: Box::new(error),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
                }
                attempt += 1;
            }
            Err(error) => {
                return Err(RunFailure { what, name: name.to_string(), attempts: attempt, error: Box::new(error) });
            }
        }
    }
}

/// A number in [0, 1) that differs between calls, for retry jitter.
fn jitter_unit() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    f64::from(xxhash_rust::xxh3::xxh3_64(&nanos.to_le_bytes()) as u32) / f64::from(u32::MAX)
}

/// Marks as interrupted the unfinished runs of the workbook's imports and
/// exports that no process holds any more (killed or crashed): at start and
/// when the history is shown, rather than only when the job next runs.
pub fn settle_abandoned_runs(context: &ImportContext, workbook: &crate::model::Workbook) -> Result<(), ImportError> {
    let catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let jobs = workbook.imports.iter().map(|i| (import_key(context, &i.name), i.name.as_str())).chain(
        workbook.exports.iter().map(|e| (crate::engine::exports::export_key(context, &e.name), e.name.as_str())),
    );
    for (key, name) in jobs {
        // Held: a run is really going on (here or in another process); leave it.
        if let Ok(_lock) = StreamLock::acquire(&context.data_dir, &key) {
            catalog.mark_interrupted(name)?;
        }
    }
    Ok(())
}

/// The lock an import's runs take: one run of an import at a time, across processes.
fn import_key(context: &ImportContext, name: &str) -> StreamKey {
    StreamKey { workbook_id: context.workbook_id.clone(), stream: format!("import {name}") }
}

fn attempt_import(
    spec: &ImportSpec,
    context: &ImportContext,
    trigger: RunTrigger,
    attempt: u32,
    stop: &Arc<AtomicBool>,
    progress: &ProgressSink,
) -> Result<RunSummary, ImportError> {
    let _lock = StreamLock::acquire(&context.data_dir, &import_key(context, &spec.name))?;
    let mut catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let run_id = catalog.start_run(&spec.name, trigger, attempt)?;
    let started = Instant::now();
    let cancel = Cancel::new(stop.clone(), Duration::from_secs(spec.timeout.seconds().max(1) as u64));
    let mut fetched = Fetched::new(progress.clone());
    let outcome = fetch_and_commit(spec, context, &mut catalog, run_id, &cancel, &mut fetched);
    let mut log = fetched.log.join("\n");
    let elapsed = started.elapsed();
    match outcome {
        Ok(version) => {
            let _ = write!(
                log,
                "\nversion {} committed: {} rows in {:.1}s",
                version.version,
                version.rows,
                elapsed.as_secs_f64()
            );
            if fetched.bad_row_count > 0 {
                let _ = write!(log, "\n{} bad rows left out:", fetched.bad_row_count);
                for row in &fetched.kept_bad_rows {
                    let _ = write!(log, "\n  {row}");
                }
            }
            let result = RunResult {
                rows: Some(version.rows),
                bytes: Some(version.bytes),
                bad_rows: Some(fetched.bad_row_count),
                version: Some(version.version),
                error: None,
                log: log.clone(),
            };
            catalog.finish_run(run_id, RunOutcome::Succeeded, &result)?;
            Ok(RunSummary {
                run_id,
                fetched_rows: fetched.rows,
                bad_rows: fetched.bad_row_count,
                kept_bad_rows: fetched.kept_bad_rows,
                version,
                attempts: attempt,
                log,
            })
        }
        Err(error) => {
            let result = RunResult {
                rows: Some(fetched.rows),
                bytes: None,
                bad_rows: Some(fetched.bad_row_count),
                version: None,
                error: Some(error.to_string()),
                log,
            };
            catalog.finish_run(run_id, error.outcome(), &result)?;
            Err(error)
        }
    }
}

fn fetch_and_commit(
    spec: &ImportSpec,
    context: &ImportContext,
    catalog: &mut TableCatalog,
    run_id: i64,
    cancel: &Cancel,
    fetched: &mut Fetched,
) -> Result<TableVersion, ImportError> {
    let previous = catalog.current(&spec.name)?;
    let since = match (&spec.mode, &previous) {
        (LoadMode::Incremental { cursor, .. }, Some(previous)) => {
            previous.cursor.clone().map(|literal| Since { column: cursor.clone(), literal })
        }
        _ => None,
    };
    let dir = catalog.table_dir(&spec.name)?;
    spool::remove_leftovers(&dir, &mut fetched.log);
    // Every batch goes to disk as it arrives: no table is ever held in memory.
    fetched.spool = Some(spool::Spool::new(&dir));
    fetch(spec, context, since.as_ref(), cancel, fetched)?;
    cancel.check()?;
    let parts = fetched.spool.take().ok_or_else(|| ImportError::Source("the fetched rows went missing".into()))?;
    let parts = parts.finish()?;
    cancel.check()?;
    let check = || cancel.check();
    let (built, cursor) = match (&spec.mode, &previous) {
        (LoadMode::Replace, _) | (LoadMode::Append, None) => {
            if parts.len() == 1 {
                // One part is the new version as it is: renamed, not rewritten.
                let part = parts.into_iter().next().ok_or_else(|| ImportError::Source("no part".into()))?;
                let (schema, rows) = (part.schema.clone(), part.rows);
                (spool::Built { written: part.into_version_file(), schema, rows, max: None }, None)
            } else {
                (build_from(&dir, &parts, None, None, &check)?, None)
            }
        }
        (LoadMode::Append, Some(previous)) => {
            (build_from(&dir, &parts, Some(version_input(previous)), None, &check)?, None)
        }
        (LoadMode::Incremental { cursor, .. }, None) => {
            let built = build_from(&dir, &parts, None, Some(cursor), &check)?;
            let literal = built.max.clone().and_then(cursor_literal);
            (built, literal)
        }
        (LoadMode::Incremental { cursor, key }, Some(previous)) => {
            // Files and APIs cannot be asked for rows past the cursor: filter here.
            let past = since.as_ref().filter(|_| !is_database(&spec.source));
            let fresh = fresh_rows(&parts, key, cursor, past)?;
            drop(parts);
            let what = format!("version {} of `{}`", previous.version, previous.name);
            let built = if fresh.height() == 0 {
                spool::build(&dir, &[version_input(previous)], None, &check)?
            } else {
                let keys = fresh.select(key.iter().map(String::as_str)).map_err(|err| {
                    ImportError::Source(format!("cannot take the key columns of the fetched rows: {err}"))
                })?;
                let inputs = [
                    spool::Input::FileWithout { path: &previous.file, what, keys: &keys },
                    spool::Input::Frame(&fresh),
                ];
                spool::build(&dir, &inputs, Some(cursor), &check)?
            };
            let literal = built.max.clone().and_then(cursor_literal).or(since.map(|s| s.literal));
            (built, literal)
        }
    };
    cancel.check()?;
    let version = catalog.commit(NewVersion {
        name: &spec.name,
        written: built.written,
        rows: built.rows,
        schema: schema_text(&built.schema),
        source: spec.source.describe(),
        run_id,
        cursor,
    })?;
    Ok(version)
}

/// A committed version as the input of the next.
fn version_input(version: &TableVersion) -> spool::Input<'_> {
    spool::Input::File { path: &version.file, what: format!("version {} of `{}`", version.version, version.name) }
}

/// The new version from `before` (the previous version, or nothing) and then
/// the fetched parts (an empty table when nothing was fetched at all).
fn build_from(
    dir: &Path,
    parts: &[spool::Part],
    before: Option<spool::Input<'_>>,
    max_of: Option<&str>,
    check: &dyn Fn() -> Result<(), ImportError>,
) -> Result<spool::Built, ImportError> {
    let empty = DataFrame::empty();
    let mut inputs: Vec<spool::Input<'_>> = before.into_iter().collect();
    inputs.extend(parts.iter().map(spool::Part::as_input));
    if inputs.is_empty() {
        inputs.push(spool::Input::Frame(&empty));
    }
    spool::build(dir, &inputs, max_of, check)
}

/// An upsert's fetched rows, in memory (only the rows past the cursor: the
/// table itself is never read into memory), each key once (its last row).
fn fresh_rows(
    parts: &[spool::Part],
    key: &[String],
    cursor: &str,
    past: Option<&Since>,
) -> Result<DataFrame, ImportError> {
    let mut batches = Vec::new();
    for part in parts {
        spool::each_row_group(part.path(), "the fetched rows", &mut |batch| {
            batches.push(match past {
                Some(since) => filter_past_cursor(batch, cursor, since)?,
                None => batch,
            });
            Ok(())
        })?;
    }
    let failed = |err: PolarsError| ImportError::Source(format!("the fetched parts do not fit together: {err}"));
    let fetched = match batches.len() {
        0 => return Ok(DataFrame::empty()),
        1 => batches.remove(0),
        _ => polars::functions::concat_df_diagonal(&batches).map_err(failed)?,
    };
    for column in key {
        if fetched.column(column).is_err() {
            return Err(ImportError::Config(format!("the key column `{column}` is not among the fetched columns")));
        }
    }
    if fetched.height() == 0 {
        return Ok(fetched);
    }
    fetched.unique_stable(Some(key), UniqueKeepStrategy::Last, None).map_err(failed)
}

fn is_database(source: &ImportSource) -> bool {
    matches!(source, ImportSource::Sqlite(_) | ImportSource::Postgres(_) | ImportSource::Mysql(_))
}

fn fetch(
    spec: &ImportSpec,
    context: &ImportContext,
    since: Option<&Since>,
    cancel: &Cancel,
    fetched: &mut Fetched,
) -> Result<(), ImportError> {
    match &spec.source {
        ImportSource::File(source) => file::fetch(source, &context.base_dir, spec.bad_rows, cancel, fetched),
        ImportSource::Sqlite(source) => sqlite::fetch(source, &context.base_dir, since, spec.bad_rows, cancel, fetched),
        ImportSource::Postgres(source) => {
            postgres::fetch(source, &spec.name, since, spec.bad_rows, cancel.remaining(), cancel, fetched)
        }
        ImportSource::Mysql(source) => {
            mysql::fetch(source, &spec.name, since, spec.bad_rows, cancel.remaining(), cancel, fetched)
        }
        ImportSource::Http(source) => http::fetch(source, &spec.name, cancel, fetched),
    }
}

/// Reads a committed version back.
pub fn read_version(version: &TableVersion) -> Result<DataFrame, ImportError> {
    let file = std::fs::File::open(&version.file).map_err(|err| {
        ImportError::Source(format!("cannot open version {} of table `{}`: {err}", version.version, version.name))
    })?;
    ParquetReader::new(file).finish().map_err(|err| {
        ImportError::Source(format!("cannot read version {} of `{}`: {err}", version.version, version.name))
    })
}

/// Rows whose cursor is past the stored one (for sources that cannot filter).
fn filter_past_cursor(frame: DataFrame, cursor: &str, since: &Since) -> Result<DataFrame, ImportError> {
    let dtype = frame
        .column(cursor)
        .map_err(|_| ImportError::Config(format!("the cursor column `{cursor}` is not among the fetched columns")))?
        .dtype()
        .clone();
    let text = since.literal.trim_matches('\'').replace("''", "'");
    frame
        .lazy()
        .filter(col(cursor).gt(lit(text).strict_cast(dtype)))
        .collect()
        .map_err(|err| ImportError::Source(format!("cannot compare `{cursor}` with the stored cursor: {err}")))
}

/// The largest cursor value, as a SQL literal.
fn cursor_literal(value: AnyValue<'static>) -> Option<String> {
    match value {
        AnyValue::Null => None,
        AnyValue::Int8(_)
        | AnyValue::Int16(_)
        | AnyValue::Int32(_)
        | AnyValue::Int64(_)
        | AnyValue::UInt8(_)
        | AnyValue::UInt16(_)
        | AnyValue::UInt32(_)
        | AnyValue::UInt64(_)
        | AnyValue::Float32(_)
        | AnyValue::Float64(_) => Some(value.to_string()),
        AnyValue::Datetime(micros, TimeUnit::Microseconds, _)
        | AnyValue::DatetimeOwned(micros, TimeUnit::Microseconds, _) => chrono::DateTime::from_timestamp_micros(micros)
            .map(|t| format!("'{}'", t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"))),
        other => {
            let text = other.str_value().into_owned();
            Some(format!("'{}'", text.replace('\'', "''")))
        }
    }
}

/// `name: type` per line, for the catalogue and the schema view.
pub fn schema_text(schema: &Schema) -> String {
    schema.iter().map(|(name, dtype)| format!("{name}: {dtype}")).collect::<Vec<_>>().join("\n")
}
