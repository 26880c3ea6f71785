//! `tidepool import` and `tidepool history`, and exporting imported tables:
//! run one import now with progress on stderr, print the run history.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context as _, Result, bail};

use crate::engine::imports::{ImportContext, Progress, ProgressSink, run_import};
use crate::engine::paths;
use crate::engine::store::tables::{RunTrigger, TableCatalog};
use crate::model::Workbook;

/// Where the workbook's imports run.
pub fn context_of(workbook: &Workbook, workbook_path: &Path, data_dir: &Path) -> ImportContext {
    ImportContext {
        data_dir: data_dir.to_path_buf(),
        workbook_id: paths::workbook_id(workbook, workbook_path),
        base_dir: ImportContext::base_dir_of(Some(workbook_path)),
    }
}

/// `tidepool import WORKBOOK NAME`: runs one import now, with its retries.
pub fn import(workbook_path: &Path, name: &str, data_dir: &Path) -> Result<()> {
    let workbook = Workbook::load(workbook_path)?;
    let Some(spec) = workbook.import(name).cloned() else {
        let known: Vec<String> = workbook.imports.iter().map(|i| format!("`{}`", i.name)).collect();
        if known.is_empty() {
            bail!("workbook {} declares no imports", workbook_path.display());
        }
        bail!(
            "workbook {} has no import named `{name}`; its imports are {}",
            workbook_path.display(),
            known.join(", ")
        );
    };
    let context = context_of(&workbook, workbook_path, data_dir);
    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = stop.clone();
    let _ = ctrlc::set_handler(move || interrupt.store(true, std::sync::atomic::Ordering::Relaxed));
    let terminal = std::io::stderr().is_terminal();
    let shown = spec.name.clone();
    let progress: ProgressSink = Arc::new(move |p: Progress| {
        if terminal {
            eprint!("\r{shown}: {} rows, {} read   ", p.rows, bytes_text(p.bytes_read));
        }
    });
    let result = run_import(&spec, &context, RunTrigger::Manual, &stop, &progress, &mut |attempt, error, wait| {
        eprintln!("{}: attempt {attempt} failed: {error}; retrying in {:.0}s", spec.name, wait.as_secs_f64());
    });
    if terminal {
        eprintln!();
    }
    let summary = result?;
    let bad = if summary.bad_rows > 0 {
        format!(", {} bad rows left out (see `tidepool history`)", summary.bad_rows)
    } else {
        String::new()
    };
    eprintln!(
        "{}: version {} with {} rows ({} fetched{bad}), {}",
        spec.name,
        summary.version.version,
        summary.version.rows,
        summary.fetched_rows,
        bytes_text(summary.version.bytes)
    );
    Ok(())
}

fn bytes_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `tidepool history WORKBOOK [NAME]`: the run history, newest first.
pub fn history(workbook_path: &Path, name: Option<&str>, data_dir: &Path) -> Result<()> {
    let workbook = Workbook::load(workbook_path)?;
    if let Some(name) = name
        && workbook.import(name).is_none()
        && workbook.export(name).is_none()
    {
        bail!("workbook {} has no import or export named `{name}`", workbook_path.display());
    }
    // A run killed with its process says so now, not only when it next runs.
    crate::engine::imports::settle_abandoned_runs(&context_of(&workbook, workbook_path, data_dir), &workbook)?;
    let catalog = TableCatalog::open(data_dir, &paths::workbook_id(&workbook, workbook_path))?;
    let runs = catalog.runs(name, 200)?;
    if runs.is_empty() {
        eprintln!("no runs yet");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "run\timport\tstarted\tfinished\toutcome\ttrigger\tattempt\trows\tbad_rows\tversion\terror")?;
    for run in &runs {
        let number = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            run.id,
            run.name,
            run.started_at,
            run.finished_at.as_deref().unwrap_or(""),
            run.outcome.code(),
            run.trigger,
            run.attempt,
            number(run.rows),
            number(run.bad_rows),
            run.version.map(|v| v.to_string()).unwrap_or_default(),
            run.error.as_deref().unwrap_or("").replace('\n', " ")
        )?;
    }
    // The newest run that failed or left bad rows out: its log says which and why.
    if let Some(name) = name
        && let Some(run) = runs.iter().find(|run| run.error.is_some() || run.bad_rows.is_some_and(|bad| bad > 0))
        && !run.log.is_empty()
    {
        let what = if run.error.is_some() { "failed run" } else { "run with bad rows" };
        eprintln!("log of the last {what} of {name} (run {}):\n{}", run.id, run.log);
    }
    Ok(())
}

/// `tidepool export WORKBOOK EXPORT`: runs one of the workbook's `[[exports]]` now.
pub fn run_scheduled_export(workbook: &Workbook, workbook_path: &Path, name: &str, data_dir: &Path) -> Result<()> {
    let Some(spec) = workbook.export(name) else {
        bail!("workbook {} has no export named `{name}`", workbook_path.display())
    };
    let context = context_of(workbook, workbook_path, data_dir);
    let stop = Arc::new(AtomicBool::new(false));
    let summary = crate::engine::exports::run_export(
        spec,
        workbook,
        &context,
        RunTrigger::Manual,
        &stop,
        &mut |attempt, error, wait| {
            eprintln!("{name}: attempt {attempt} failed: {error}; retrying in {:.0}s", wait.as_secs_f64());
        },
    )?;
    eprintln!("{name}: wrote {} rows to {}", summary.rows, summary.destination);
    Ok(())
}

/// Exports the current version of an imported table; `None` when `name` is no import.
pub fn export_table(
    workbook: &Workbook,
    workbook_path: &Path,
    name: &str,
    out: &Path,
    data_dir: &Path,
) -> Result<Option<()>> {
    if workbook.import(name).is_none() {
        return Ok(None);
    }
    let context = context_of(workbook, workbook_path, data_dir);
    let rows = crate::engine::imports::browse::export_table(&context, name, out)
        .with_context(|| format!("run `tidepool import {} {name}` first if it never ran", workbook_path.display()))?;
    eprintln!("{name}: wrote {rows} rows to {}", out.display());
    Ok(Some(()))
}

/// `tidepool export WORKBOOK REPORT --out FILE`: the report's whole answer,
/// computed over the stored datasets (a stream's last checkpoint).
pub fn export_report(
    workbook: &Workbook,
    workbook_path: &Path,
    report: &crate::model::reports::ReportSpec,
    out: &Path,
    data_dir: &Path,
) -> Result<()> {
    let sources = crate::engine::report::ReportSources::stored(context_of(workbook, workbook_path, data_dir));
    let answer = crate::engine::report::export_report(workbook, report, &sources, out)
        .with_context(|| format!("report `{}`", report.name))?;
    for join in &answer.joins {
        eprintln!("report `{}`: {join}", report.name);
    }
    eprintln!("report `{}`: wrote {} rows to {}", report.name, answer.frame.height(), out.display());
    Ok(())
}

/// `tidepool export WORKBOOK REPORT --out FILE.png`: the report's chart, drawn
/// as the window draws it (the window's code: the default build only).
pub fn export_report_png(
    workbook: &Workbook,
    workbook_path: &Path,
    report: &crate::model::reports::ReportSpec,
    out: &Path,
    picture: super::Picture,
    data_dir: &Path,
) -> Result<()> {
    #[cfg(feature = "gui")]
    {
        let sources = crate::engine::report::ReportSources::stored(context_of(workbook, workbook_path, data_dir));
        let options = crate::ui::png::PngOptions {
            width: picture.width,
            height: picture.height,
            dark: picture.dark,
            ..crate::ui::png::PngOptions::default()
        };
        let said = crate::ui::charts::report_chart::export_report_png(workbook, report, &sources, out, &options)
            .map_err(anyhow::Error::msg)?;
        eprintln!("{said}");
        Ok(())
    }
    #[cfg(not(feature = "gui"))]
    {
        let _ = (workbook, workbook_path, out, picture, data_dir);
        anyhow::bail!(
            "report `{}`: charts are drawn by the window's code, which this headless build leaves out; \
             build tidepool with its default features to write a PNG",
            report.name
        )
    }
}
