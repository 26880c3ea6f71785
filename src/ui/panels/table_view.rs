//! The central area for an imported table: its current version, its data
//! as a virtualized table (only visible rows are drawn; a header click sorts
//! on a background thread), its schema, and its run history with each
//! failed run's error and log. Run now, Edit and Delete (confirmed) above.

use egui::{RichText, Ui};

use super::{Action, TableTab};
use crate::engine::imports::browse::TableSnapshot;
use crate::engine::store::tables::{RunOutcome, RunRecord};
use crate::ui::TidepoolApp;
use crate::ui::session::{Session, group_digits};
use crate::ui::table_browser::TableBrowser;
use crate::ui::theme::{StatusKind, status_colour};
use crate::ui::widgets::frame_table::{Header, frame_table_ui};

/// Draws the table `browser` shows, with the app's pending delete confirmation.
pub fn table_view_ui(ui: &mut Ui, app: &TidepoolApp, session: &Session, browser: &TableBrowser) -> Vec<Action> {
    let mut actions = Vec::new();
    let name = &browser.name;
    let job = session.jobs.get(name);
    ui.horizontal(|ui| {
        ui.heading(name);
        let running = job.is_some_and(|job| job.running);
        if ui.add_enabled(!running, egui::Button::new("Run now")).clicked() {
            actions.push(Action::RunJobNow(name.clone()));
        }
        let has_version = browser.snapshot.as_ref().is_some_and(|s| s.version.is_some());
        let export = ui.add_enabled(has_version, egui::Button::new("Export…").small());
        if export.on_hover_text("write the current version to a CSV or Parquet file").clicked() {
            actions.push(Action::ExportTable(name.clone()));
        }
        if ui.small_button("Edit").on_hover_text("Edit this import").clicked() {
            actions.push(Action::OpenImportEditor(Some(name.clone())));
        }
        if app.confirming_delete.as_deref() == Some(name.as_str()) {
            ui.colored_label(ui.visuals().warn_fg_color, "Delete this import? Its stored versions stay on disk.");
            if ui.button("Delete").clicked() {
                actions.push(Action::DeleteImport(name.clone()));
            }
        } else if ui.small_button("Delete…").clicked() {
            actions.push(Action::AskDeleteImport(name.clone()));
        }
        if browser.is_loading() {
            ui.spinner();
        }
    });
    if let Some(import) = session.workbook.import(name) {
        let schedule = import
            .schedule
            .as_ref()
            .map_or_else(|| "runs when asked".into(), crate::model::imports::Schedule::describe);
        ui.weak(format!("{} · {schedule}", import.source.describe()));
    }
    if let Some(job) = job {
        if job.running {
            ui.add(
                egui::ProgressBar::new(0.0)
                    .animate(true)
                    .text(format!("running · {} rows so far", group_digits(job.progress_rows))),
            );
        }
        if let Some(failure) = &job.failure {
            ui.colored_label(status_colour(StatusKind::Failed), format!("Last run failed: {failure}"));
        }
    }
    if let Some(error) = &browser.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let Some(snapshot) = &browser.snapshot else {
        ui.weak("Reading the table…");
        return actions;
    };
    match &snapshot.version {
        Some(version) => {
            ui.label(format!(
                "version {} · {} rows · {} · committed {}",
                version.version,
                group_digits(version.rows),
                human_bytes(version.bytes),
                version.created_at
            ));
        }
        None => {
            ui.label("No version yet: the import has not succeeded. Press Run now, or see the history.");
        }
    }
    ui.horizontal(|ui| {
        for (tab, label) in [(TableTab::Data, "Data"), (TableTab::Schema, "Schema"), (TableTab::History, "History")] {
            if ui.selectable_label(app.table_tab == tab, label).clicked() {
                actions.push(Action::SetTableTab(tab));
            }
        }
    });
    ui.separator();
    match app.table_tab {
        TableTab::Data => data_ui(ui, snapshot, &mut actions),
        TableTab::Schema => schema_ui(ui, snapshot),
        TableTab::History => history_ui(ui, &snapshot.runs),
    }
    actions
}

fn data_ui(ui: &mut Ui, snapshot: &TableSnapshot, actions: &mut Vec<Action>) {
    let Some(frame) = &snapshot.frame else {
        ui.weak("No rows yet.");
        return;
    };
    ui.weak(format!("{} rows · click a header to sort", group_digits(frame.height() as u64)));
    let sort = Header::Sortable(snapshot.sort.as_ref());
    if let Some(column) = frame_table_ui(ui, "imported_table", frame, sort, f32::INFINITY) {
        actions.push(Action::SortImportTable(column));
    }
}

fn schema_ui(ui: &mut Ui, snapshot: &TableSnapshot) {
    let Some(version) = &snapshot.version else {
        ui.weak("No version yet.");
        return;
    };
    egui::Grid::new("table_schema").striped(true).num_columns(2).show(ui, |ui| {
        ui.strong("column");
        ui.strong("type");
        ui.end_row();
        for line in version.schema.lines() {
            let (name, dtype) = line.split_once(": ").unwrap_or((line, ""));
            ui.label(name);
            ui.monospace(dtype);
            ui.end_row();
        }
    });
    ui.add_space(6.0);
    ui.weak(format!("source: {}", version.source));
    if let Some(cursor) = &version.cursor {
        ui.weak(format!("incremental cursor stored with this version: {cursor}"));
    }
}

fn history_ui(ui: &mut Ui, runs: &[RunRecord]) {
    if runs.is_empty() {
        ui.weak("No runs yet.");
        return;
    }
    egui::ScrollArea::vertical().id_salt("run_history").show(ui, |ui| {
        for run in runs {
            let (kind, word) = match run.outcome {
                RunOutcome::Succeeded => (StatusKind::Live, "succeeded"),
                RunOutcome::Running => (StatusKind::Connecting, "running"),
                _ => (StatusKind::Failed, run.outcome.code()),
            };
            let rows = run.rows.map(|r| format!(" · {} rows", group_digits(r))).unwrap_or_default();
            let version = run.version.map(|v| format!(" · version {v}")).unwrap_or_default();
            let header = format!("{} · {} · attempt {}{rows}{version}", run.started_at, run.trigger, run.attempt);
            egui::CollapsingHeader::new(RichText::new(header).color(status_colour(kind)))
                .id_salt(("run", run.id))
                .default_open(run.outcome != RunOutcome::Succeeded && run.id == runs[0].id)
                .show(ui, |ui| {
                    ui.label(format!("outcome: {word}"));
                    if let Some(finished) = &run.finished_at {
                        ui.weak(format!("finished {finished}"));
                    }
                    if let Some(bad) = run.bad_rows.filter(|b| *b > 0) {
                        ui.label(format!("{} bad rows", group_digits(bad)));
                    }
                    if let Some(error) = &run.error {
                        ui.colored_label(status_colour(StatusKind::Failed), format!("error: {error}"));
                    }
                    if !run.log.is_empty() {
                        ui.label(RichText::new(&run.log).monospace().small());
                    }
                });
        }
    });
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1_000.0 && unit + 1 < UNITS.len() {
        value /= 1_000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
