//! The headless verbs behind the command line: `run`, `import`, `history`,
//! `export`, `quarantine`, `reset` and `secret`. Each loads the workbook, talks to the engine or the state
//! store, prints for a terminal and returns an error for `main` to show once.

mod imports;
mod run;
mod secrets;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::engine::export::write_frame;
use crate::engine::paths;
use crate::engine::rollup::RollupFrame;
use crate::engine::store::{StateStore, StreamKey};
use crate::model::fingerprint::RollupDefinition;
use crate::model::{StreamSpec, Workbook};

pub use imports::{history, import};
pub use run::{RunOptions, run};
pub use secrets::{SecretAction, secret};

/// Loads a workbook and finds one of its streams by name.
fn workbook_and_stream(path: &Path, name: &str) -> Result<(Workbook, StreamSpec)> {
    let workbook = Workbook::load(path)?;
    let stream = stream_of(&workbook, path, name)?;
    Ok((workbook, stream))
}

/// One of a loaded workbook's streams by name, or an error listing the others.
fn stream_of(workbook: &Workbook, path: &Path, name: &str) -> Result<StreamSpec> {
    let Some(stream) = workbook.stream(name).cloned() else {
        let mut known = String::new();
        for (index, stream) in workbook.streams.iter().enumerate() {
            let _ = write!(known, "{}`{}`", if index == 0 { "" } else { ", " }, stream.name);
        }
        if known.is_empty() {
            bail!("workbook {} has no stream named `{name}` (it declares no streams)", path.display());
        }
        bail!("workbook {} has no stream named `{name}`; its streams are {known}", path.display());
    };
    Ok(stream)
}

fn open_store(data_dir: &Path) -> Result<StateStore> {
    Ok(StateStore::open(data_dir)?)
}

/// How `export` draws a report's chart into a PNG file.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub dark: bool,
}

/// `tidepool export WORKBOOK NAME --out FILE`: writes a report's answer, a
/// stream's rollup or a table as CSV or Parquet, or a report's chart as PNG.
pub fn export(workbook_path: &Path, name: &str, out: Option<&Path>, picture: Picture, data_dir: &Path) -> Result<()> {
    let workbook = Workbook::load(workbook_path)?;
    if let Some(out) = out.filter(|out| out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))) {
        let report = workbook.report(name).ok_or_else(|| {
            anyhow::anyhow!("`{name}` is no report of the workbook: only a report's chart can be written as a PNG")
        })?;
        return imports::export_report_png(&workbook, workbook_path, report, out, picture, data_dir);
    }
    let Some(out) = out else {
        if workbook.export(name).is_some() {
            return imports::run_scheduled_export(&workbook, workbook_path, name, data_dir);
        }
        bail!(
            "`{name}` is not one of the workbook's [[exports]]: say where to write it with --out FILE (.csv or .parquet)"
        );
    };
    crate::engine::export::ExportFormat::of(out)?;
    if let Some(report) = workbook.report(name) {
        return imports::export_report(&workbook, workbook_path, report, out, data_dir);
    }
    if imports::export_table(&workbook, workbook_path, name, out, data_dir)?.is_some() {
        return Ok(());
    }
    let stream = stream_of(&workbook, workbook_path, name)?;
    let key = StreamKey { workbook_id: paths::workbook_id(&workbook, workbook_path), stream: name.to_string() };
    let store = open_store(data_dir)?;
    let Some(checkpoint) = store.load(&key)? else {
        bail!(
            "stream `{name}` has no rollup yet: run `tidepool run {} --until-caught-up` first",
            workbook_path.display()
        );
    };
    let definition = RollupDefinition::of(&stream);
    if checkpoint.fingerprint != definition.fingerprint() {
        let changes = serde_json::from_str::<RollupDefinition>(&checkpoint.definition)
            .map(|previous| definition.changes_since(&previous).join(", "))
            .unwrap_or_default();
        // The previous rollup stays readable until a rebuild for the new definition has caught up.
        eprintln!(
            "note: exporting the current rollup of `{name}`, built for the previous definition ({changes}); \
             `tidepool run {} --until-caught-up` rebuilds it for the workbook's definition",
            workbook_path.display()
        );
    }
    let mut frame = checkpoint.rollup.to_frame().context("building the rollup frame")?;
    write_frame(&mut frame, out)?;
    eprintln!("{name}: wrote {} rows to {}", frame.height(), out.display());
    Ok(())
}

/// `tidepool quarantine WORKBOOK NAME`: prints the kept quarantined records, one per line.
pub fn quarantine(workbook_path: &Path, name: &str, data_dir: &Path) -> Result<()> {
    let (workbook, _) = workbook_and_stream(workbook_path, name)?;
    let key = StreamKey { workbook_id: paths::workbook_id(&workbook, workbook_path), stream: name.to_string() };
    let store = open_store(data_dir)?;
    let records = store.quarantined(&key)?;
    let counts = store.load(&key)?.map(|checkpoint| checkpoint.progress.quarantined).unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    for record in &records {
        use std::io::Write as _;
        writeln!(stdout, "{record}")?;
    }
    let total: u64 = counts.values().sum();
    let by_reason: Vec<String> = counts.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
    eprintln!(
        "{name}: {total} quarantined{}; {} kept",
        if by_reason.is_empty() { String::new() } else { format!(" ({})", by_reason.join(", ")) },
        records.len()
    );
    Ok(())
}

/// `tidepool reset WORKBOOK NAME`: forgets a stream's checkpoint and quarantine.
pub fn reset(workbook_path: &Path, name: &str, data_dir: &Path) -> Result<()> {
    let (workbook, _) = workbook_and_stream(workbook_path, name)?;
    let key = StreamKey { workbook_id: paths::workbook_id(&workbook, workbook_path), stream: name.to_string() };
    let mut store = open_store(data_dir)?;
    if store.reset(&key)? {
        eprintln!("{name}: checkpoint and quarantine forgotten; the next run starts over");
    } else {
        eprintln!("{name}: nothing to reset (no checkpoint yet)");
    }
    Ok(())
}
