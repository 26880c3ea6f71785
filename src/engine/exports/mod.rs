//! Scheduled exports: a stream's rollup or an imported table written to a
//! CSV/Parquet file (atomically) or a database table (in one transaction),
//! with the same attempts, backoff, history and lock as imports.
//!
//! Reads datasets as they are stored (the checkpointed rollup, the current
//! table version); never touches a running stream. `engine::export` writes
//! files; `tables` writes database tables.

mod tables;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use polars::prelude::DataFrame;

use crate::engine::imports::{Cancel, ImportContext, ImportError, RunFailure, read_version, with_retries};
use crate::engine::rollup::RollupFrame;
use crate::engine::store::tables::{RunOutcome, RunResult, RunTrigger, TableCatalog};
use crate::engine::store::{StateStore, StreamKey, StreamLock};
use crate::model::Workbook;
use crate::model::exports::{ExportSpec, ExportTarget};

/// A successful export.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub run_id: i64,
    pub rows: u64,
    pub attempts: u32,
    /// Where it went, in words.
    pub destination: String,
}

/// Runs an export now, retrying as its spec says.
pub fn run_export(
    spec: &ExportSpec,
    workbook: &Workbook,
    context: &ImportContext,
    trigger: RunTrigger,
    stop: &Arc<AtomicBool>,
    retrying: &mut dyn FnMut(u32, &ImportError, Duration),
) -> Result<ExportSummary, RunFailure> {
    with_retries(
        "export",
        &spec.name,
        spec.attempts,
        |attempt, jitter| spec.retry_wait(attempt, jitter),
        stop,
        retrying,
        |attempt| attempt_export(spec, workbook, context, trigger, attempt, stop),
    )
    .map(|(mut summary, attempts)| {
        summary.attempts = attempts;
        summary
    })
}

fn attempt_export(
    spec: &ExportSpec,
    workbook: &Workbook,
    context: &ImportContext,
    trigger: RunTrigger,
    attempt: u32,
    stop: &Arc<AtomicBool>,
) -> Result<ExportSummary, ImportError> {
    let _lock = StreamLock::acquire(&context.data_dir, &export_key(context, &spec.name))?;
    let mut catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let run_id = catalog.start_run(&spec.name, trigger, attempt)?;
    let cancel = Cancel::new(stop.clone(), Duration::from_secs(spec.timeout.seconds().max(1) as u64));
    let data = match workbook.report(&spec.from) {
        Some(report) => {
            // Scheduled exports read stored datasets: a stream's last checkpoint.
            let sources = crate::engine::report::ReportSources::stored(context.clone());
            crate::engine::report::run_report(workbook, report, &sources).map(|answer| answer.frame)
        }
        None => dataset_frame(workbook, &spec.from, context, &catalog),
    };
    let outcome = data.and_then(|mut frame| {
        write(spec, &mut frame, context, &cancel).map(|destination| (frame.height(), destination))
    });
    match outcome {
        Ok((rows, destination)) => {
            let log = format!("wrote {rows} rows of `{}` to {destination}", spec.from);
            let result = RunResult { rows: Some(rows as u64), log, ..RunResult::default() };
            catalog.finish_run(run_id, RunOutcome::Succeeded, &result)?;
            Ok(ExportSummary { run_id, rows: rows as u64, attempts: attempt, destination })
        }
        Err(error) => {
            let result = RunResult { error: Some(error.to_string()), ..RunResult::default() };
            catalog.finish_run(run_id, error.outcome(), &result)?;
            Err(error)
        }
    }
}

/// The lock an export's runs take: one run of an export at a time, across processes.
pub(crate) fn export_key(context: &ImportContext, name: &str) -> StreamKey {
    StreamKey { workbook_id: context.workbook_id.clone(), stream: format!("export {name}") }
}

/// The stored data of a stream (its checkpointed rollup) or an import (its current version).
pub fn dataset_frame(
    workbook: &Workbook,
    name: &str,
    context: &ImportContext,
    catalog: &TableCatalog,
) -> Result<DataFrame, ImportError> {
    if workbook.stream(name).is_some() {
        let store = StateStore::open(&context.data_dir)?;
        let key = StreamKey { workbook_id: context.workbook_id.clone(), stream: name.to_string() };
        let checkpoint = store.load(&key)?.ok_or_else(|| {
            ImportError::Config(format!("stream `{name}` has no rollup yet (it has not checkpointed)"))
        })?;
        return checkpoint
            .rollup
            .to_frame()
            .map_err(|err| ImportError::Source(format!("building the rollup of `{name}`: {err}")));
    }
    let version = catalog.current(name)?.ok_or_else(|| {
        ImportError::Config(format!("table `{name}` has no version yet (its import has not succeeded)"))
    })?;
    read_version(&version)
}

fn write(
    spec: &ExportSpec,
    frame: &mut DataFrame,
    context: &ImportContext,
    cancel: &Cancel,
) -> Result<String, ImportError> {
    cancel.check()?;
    match &spec.to {
        ExportTarget::File { path } => {
            let path = context.base_dir.join(path);
            crate::engine::export::write_frame(frame, &path).map_err(|err| ImportError::Source(err.to_string()))?;
            Ok(path.display().to_string())
        }
        ExportTarget::Sqlite(target) => tables::write_sqlite(target, frame, &context.base_dir),
        ExportTarget::Postgres(target) => tables::write_postgres(target, &spec.name, frame, cancel),
        ExportTarget::Mysql(target) => tables::write_mysql(target, &spec.name, frame, cancel),
    }
}
