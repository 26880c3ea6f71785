//! The left panel: the workbook's streams with a live status pill, counters
//! and sparklines of rate and lag over the session; a search box filters them;
//! below them the imports and exports with their last outcome, progress, next
//! run, Run now and Pause.

use egui::{RichText, Ui, vec2};

use super::{Action, SHORTCUT_NEW_IMPORT, SHORTCUT_NEW_STREAM, SHORTCUT_SEARCH};
use crate::ui::TidepoolApp;
use crate::ui::session::group_digits;
use crate::ui::theme::{StatusKind, status_colour};
use crate::ui::widgets::{sparkline::sparkline_ui, status_pill::status_pill_ui};

/// Id of the search box, focused by the search shortcut.
pub const SEARCH_ID: &str = "stream_search";

pub fn streams_panel_ui(ui: &mut Ui, app: &mut TidepoolApp) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::Panel::left("streams").resizable(true).default_size(260.0).show(ui, |ui| {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Streams").strong());
            let add = ui.add_enabled(app.session.is_some(), egui::Button::new("+ New stream"));
            if add.on_hover_text(format!("Add a stream ({})", ui.ctx().format_shortcut(&SHORTCUT_NEW_STREAM))).clicked()
            {
                actions.push(Action::OpenEditor(None));
            }
        });
        let hint = format!("Search ({})", ui.ctx().format_shortcut(&SHORTCUT_SEARCH));
        ui.add(egui::TextEdit::singleline(&mut app.search).id(egui::Id::unique(SEARCH_ID)).hint_text(hint));
        ui.separator();
        let Some(session) = &app.session else {
            ui.weak("No workbook open.");
            return;
        };
        let needle = app.search.to_lowercase();
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (name, state) in &session.streams {
                if !needle.is_empty()
                    && !name.to_lowercase().contains(&needle)
                    && !state.spec.topic.to_lowercase().contains(&needle)
                {
                    continue;
                }
                let selected = app.persisted.selected_table.is_none()
                    && app.persisted.selected_stream.as_deref() == Some(name.as_str());
                // Ids of their own: a row that appears above (a progress bar) must not move another's clicks.
                let response = ui
                    .push_id(("stream_row", name.as_str()), |ui| {
                        egui::Frame::group(ui.style())
                            .fill(if selected {
                                ui.visuals().selection.bg_fill.gamma_multiply(0.35)
                            } else {
                                egui::Color32::TRANSPARENT
                            })
                            .show(ui, |ui| {
                                ui.set_width(ui.available_width());
                                ui.horizontal(|ui| {
                                    let label = ui.selectable_label(selected, RichText::new(name).strong());
                                    if label.clicked() {
                                        actions.push(Action::SelectStream(name.clone()));
                                    }
                                    status_pill_ui(ui, state.status_kind(), &state.status_text());
                                });
                                ui.weak(format!("topic {}", state.spec.topic));
                                ui.label(format!(
                                    "{} events · {} quarantined · {} late",
                                    group_digits(state.stats.events),
                                    group_digits(state.stats.quarantined),
                                    group_digits(state.stats.late)
                                ));
                                ui.horizontal(|ui| {
                                    ui.weak("rate");
                                    sparkline_ui(
                                        ui,
                                        &state.rate_history,
                                        vec2(80.0, 18.0),
                                        status_colour(StatusKind::Live),
                                    )
                                    .on_hover_text("events per second over this session");
                                    ui.weak("lag");
                                    sparkline_ui(
                                        ui,
                                        &state.lag_history,
                                        vec2(80.0, 18.0),
                                        status_colour(StatusKind::Connecting),
                                    )
                                    .on_hover_text("messages behind the end of the topic over this session");
                                });
                                if let Some(problem) = state.problem() {
                                    ui.colored_label(status_colour(StatusKind::Failed), problem);
                                }
                            })
                            .response
                    })
                    .inner;
                if response.interact(egui::Sense::click()).clicked() {
                    actions.push(Action::SelectStream(name.clone()));
                }
            }
            jobs_ui(ui, &session.jobs, &needle, app.persisted.selected_table.as_deref(), &mut actions);
            reports_ui(ui, &session.workbook.reports, &needle, app.selected_report.as_deref(), &mut actions);
        });
    });
    actions
}

/// The workbook's reports: a click shows one's answer; "+ New report" opens the builder.
fn reports_ui(
    ui: &mut Ui,
    reports: &[crate::model::reports::ReportSpec],
    needle: &str,
    selected: Option<&str>,
    actions: &mut Vec<Action>,
) {
    let shown: Vec<_> =
        reports.iter().filter(|r| needle.is_empty() || r.name.to_lowercase().contains(needle)).collect();
    ui.add_space(8.0);
    // Ids of their own: widgets above (an import's progress bar) come and go,
    // and a click must reach the row it was aimed at in the next frame.
    ui.push_id("reports_header", |ui| {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Reports").strong());
            let new = ui.small_button("+ New report");
            if new.on_hover_text("build a report by dragging fields onto shelves").clicked() {
                actions.push(Action::OpenReportBuilder(None));
            }
        });
    });
    for report in shown {
        ui.push_id(("report_row", &report.name), |ui| report_row_ui(ui, report, selected, actions));
    }
}

fn report_row_ui(
    ui: &mut Ui,
    report: &crate::model::reports::ReportSpec,
    selected: Option<&str>,
    actions: &mut Vec<Action>,
) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        let label = ui.selectable_label(selected == Some(report.name.as_str()), RichText::new(&report.name).strong());
        if label.on_hover_text("show the report's answer").clicked() {
            actions.push(Action::SelectReport(report.name.clone()));
        }
        let joined: Vec<&str> = report.joins.iter().map(|j| j.with.as_str()).collect();
        let with = if joined.is_empty() { String::new() } else { format!(" joined with {}", joined.join(", ")) };
        ui.weak(format!("from {}{with}", report.from));
    });
}

/// The imports and exports, each with its status, next run and controls.
fn jobs_ui(
    ui: &mut Ui,
    jobs: &std::collections::BTreeMap<String, crate::ui::imports_state::JobState>,
    needle: &str,
    selected_table: Option<&str>,
    actions: &mut Vec<Action>,
) {
    use crate::ui::imports_state::JobKind;
    for (heading, kind) in [("Imports", JobKind::Import), ("Exports", JobKind::Export)] {
        let shown: Vec<_> = jobs
            .iter()
            .filter(|(name, job)| job.kind == kind && (needle.is_empty() || name.to_lowercase().contains(needle)))
            .collect();
        if shown.is_empty() && kind == JobKind::Export {
            continue;
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            ui.label(RichText::new(heading).strong());
            if kind == JobKind::Import {
                let hint = format!("Add an import ({})", ui.ctx().format_shortcut(&SHORTCUT_NEW_IMPORT));
                if ui.button("+ New import").on_hover_text(hint).clicked() {
                    actions.push(Action::OpenImportEditor(None));
                }
                let pick = ui.button("Import file…");
                if pick.on_hover_text("choose a CSV, Parquet or JSON file (or drop one on the window)").clicked() {
                    actions.push(Action::ChooseImportFile);
                }
            }
        });
        for (name, job) in shown {
            ui.push_id(("job_row", name.as_str()), |ui| job_row_ui(ui, name, job, kind, selected_table, actions));
        }
    }
}

/// One import or export: its status, progress, next run, Run now / Pause and its last failure.
fn job_row_ui(
    ui: &mut Ui,
    name: &str,
    job: &crate::ui::imports_state::JobState,
    kind: crate::ui::imports_state::JobKind,
    selected_table: Option<&str>,
    actions: &mut Vec<Action>,
) {
    use crate::ui::imports_state::JobKind;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            if kind == JobKind::Import {
                let label = ui.selectable_label(selected_table == Some(name), RichText::new(name).strong());
                if label.on_hover_text("show the table and its run history").clicked() {
                    actions.push(Action::SelectTable(name.to_string()));
                }
            } else {
                ui.label(RichText::new(name).strong());
            }
            let status = if job.failure.is_some() && !job.running {
                StatusKind::Failed
            } else if job.running {
                StatusKind::Connecting
            } else {
                StatusKind::Live
            };
            status_pill_ui(ui, status, &job.status_text());
        });
        if job.running {
            ui.add(egui::ProgressBar::new(0.0).animate(true).text(format!("{} rows", group_digits(job.progress_rows))));
        }
        if let Some(next) = job.next_run.filter(|_| !job.paused) {
            ui.weak(format!("next run {}", next.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")));
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(!job.running, egui::Button::new("Run now")).clicked() {
                actions.push(Action::RunJobNow(name.to_string()));
            }
            let (label, paused) = if job.paused { ("Resume", false) } else { ("Pause", true) };
            if ui.button(label).on_hover_text("pause or resume its schedule").clicked() {
                actions.push(Action::PauseJob(name.to_string(), paused));
            }
        });
        if let Some(failure) = &job.failure {
            ui.colored_label(status_colour(StatusKind::Failed), failure);
        }
    });
}
