//! The central area: the selected stream's header, tabs, and the chart,
//! table or quarantine view — or, when an import is selected, its table, and
//! when a report is, its answer.

use egui::{RichText, Ui};

use super::{Action, Tab, chart, quarantine, report_view, table, table_view};
use crate::ui::TidepoolApp;
use crate::ui::session::group_digits;

pub fn central_ui(ui: &mut Ui, app: &TidepoolApp) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::CentralPanel::default().show(ui, |ui| {
        let Some(session) = &app.session else {
            empty_ui(ui, app.notice.as_deref());
            return;
        };
        if app.selected_report.is_some()
            && let Some(report) = &session.report
        {
            actions.extend(report_view::report_view_ui(ui, report));
            return;
        }
        if app.persisted.selected_table.is_some()
            && let Some(browser) = &session.table
        {
            actions.extend(table_view::table_view_ui(ui, app, session, browser));
            return;
        }
        let Some(state) = app.persisted.selected_stream.as_ref().and_then(|name| session.streams.get(name)) else {
            ui.label("This workbook declares no streams. Add one with + New stream, or pick an import on the left.");
            return;
        };
        ui.horizontal(|ui| {
            ui.heading(&state.spec.name);
            if ui.small_button("Edit").on_hover_text("Edit this stream").clicked() {
                actions.push(Action::OpenEditor(Some(state.spec.name.clone())));
            }
            ui.weak(format!(
                "{} · {} · granularity {}",
                state.spec.brokers, state.spec.topic, state.spec.rollup.granularity
            ));
        });
        let filtered = match &state.spec.rollup.filter {
            Some(filter) => {
                format!(" · {} left out (keeps events whose {})", group_digits(state.stats.filtered), filter.describe())
            }
            None => String::new(),
        };
        ui.label(format!(
            "{} events · {} rows · {} late · {} quarantined{filtered}",
            group_digits(state.stats.events),
            group_digits(state.stats.rows as u64),
            group_digits(state.stats.late),
            group_digits(state.stats.quarantined)
        ));
        if state.stats.skipped_offsets > 0 {
            let why = if session.demo.is_some() {
                "the embedded demo broker keeps only its newest ~100,000 messages per partition and dropped these \
                 before they were read; everything that was read is counted exactly"
            } else {
                "compaction, transaction markers, or data deleted by retention before it was read"
            };
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} offsets were never delivered by the broker ({why})",
                    group_digits(state.stats.skipped_offsets)
                ),
            );
        }
        if let Some(changes) = &state.definition_changes {
            let what = if state.rebuilding {
                "rebuilding from the start; the previous rollup stays until the rebuild has caught up"
            } else {
                "applied"
            };
            ui.label(RichText::new(format!("Rollup definition changed ({}): {what}.", changes.join(", "))).italics());
        }
        if let Some(lost) = state.rebuild_needs_consent {
            ui.horizontal(|ui| {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "Rebuilding would lose {} messages the topic no longer holds. The current rollup is kept.",
                        group_digits(lost)
                    ),
                );
                if ui.button("Rebuild anyway").clicked() {
                    actions.push(Action::RebuildAnyway(state.spec.name.clone()));
                }
            });
        }
        ui.horizontal(|ui| {
            for (tab, label) in [(Tab::Chart, "Chart"), (Tab::Table, "Table"), (Tab::Quarantine, "Quarantine")] {
                if ui.selectable_label(app.persisted.tab == tab, label).clicked() {
                    actions.push(Action::SetTab(tab));
                }
            }
        });
        ui.separator();
        match app.persisted.tab {
            Tab::Chart => actions.extend(chart::chart_ui(ui, app, state)),
            Tab::Table => actions.extend(table::table_ui(ui, app, state)),
            Tab::Quarantine => quarantine::quarantine_ui(ui, state),
        }
    });
    actions
}

fn empty_ui(ui: &mut Ui, notice: Option<&str>) {
    ui.vertical_centered(|ui| {
        ui.add_space(80.0);
        ui.heading("Nothing open");
        if let Some(notice) = notice {
            ui.colored_label(ui.visuals().error_fg_color, notice);
        }
        ui.label("Open a workbook with `tidepool open WORKBOOK`, or try the live demo with `tidepool demo`.");
    });
}
