//! The rollup as a virtualized table: only visible rows are read from the
//! frame; a header click asks the engine for another sort order.

use egui::Ui;
use egui_extras::{Column, TableBuilder};

use super::Action;
use crate::ui::TidepoolApp;
use crate::ui::session::StreamState;

pub fn table_ui(ui: &mut Ui, app: &TidepoolApp, state: &StreamState) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(frame) = state.view.as_ref().and_then(|view| view.table.clone()) else {
        ui.weak("Loading the table…");
        return actions;
    };
    let names: Vec<String> = frame.get_column_names().iter().map(std::string::ToString::to_string).collect();
    let rows = frame.height();
    ui.weak(format!("{rows} rows · click a header to sort"));
    let sort = app.table_sort();
    egui::ScrollArea::horizontal().id_salt("rollup_table_scroll").show(ui, |ui| {
        TableBuilder::new(ui)
            .striped(true)
            .resizable(true)
            .column(Column::auto().at_least(150.0).clip(true))
            .columns(Column::auto().at_least(70.0).clip(true), names.len().saturating_sub(1))
            .header(20.0, |mut header| {
                for name in &names {
                    header.col(|ui| {
                        let arrow = match sort {
                            Some((column, true)) if column == name => " (desc)",
                            Some((column, false)) if column == name => " (asc)",
                            _ => "",
                        };
                        if ui.button(format!("{name}{arrow}")).clicked() {
                            actions.push(Action::SortTable(name.clone()));
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(18.0, rows, |mut row| {
                    let index = row.index();
                    for column in frame.columns() {
                        row.col(|ui| {
                            let text = column.get(index).map(|value| value.to_string()).unwrap_or_default();
                            ui.label(text.trim_matches('"'));
                        });
                    }
                });
            });
    });
    actions
}
