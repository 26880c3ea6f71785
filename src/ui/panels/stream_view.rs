//! The central area: the selected stream's header, tabs, and the chart,
//! table or quarantine view.

use egui::{RichText, Ui};

use super::{Action, Tab, chart, quarantine, table};
use crate::ui::TidepoolApp;
use crate::ui::session::group_digits;

pub fn central_ui(ui: &mut Ui, app: &TidepoolApp) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::CentralPanel::default().show(ui, |ui| {
        let Some(session) = &app.session else {
            empty_ui(ui, app.notice.as_deref());
            return;
        };
        let Some(state) = app.persisted.selected_stream.as_ref().and_then(|name| session.streams.get(name)) else {
            ui.label("This workbook declares no streams.");
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
        ui.label(format!(
            "{} events · {} rows · {} late · {} quarantined",
            group_digits(state.stats.events),
            group_digits(state.stats.rows as u64),
            group_digits(state.stats.late),
            group_digits(state.stats.quarantined)
        ));
        if state.stats.skipped_offsets > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} offsets were never delivered by the broker (compaction, transactions, or data deleted before it was read)",
                    group_digits(state.stats.skipped_offsets)
                ),
            );
        }
        if let Some(changes) = &state.definition_changes {
            ui.label(
                RichText::new(format!("Rollup definition changed ({}): rebuilt from the start.", changes.join(", ")))
                    .italics(),
            );
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
