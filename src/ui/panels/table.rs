//! The rollup as a virtualized table: only visible rows are read from the
//! frame; a header click asks the engine for another sort order.

use egui::Ui;

use super::Action;
use crate::ui::TidepoolApp;
use crate::ui::session::StreamState;
use crate::ui::widgets::frame_table::{Header, frame_table_ui};

pub fn table_ui(ui: &mut Ui, app: &TidepoolApp, state: &StreamState) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(frame) = state.view.as_ref().and_then(|view| view.table.clone()) else {
        ui.weak("Loading the table…");
        return actions;
    };
    ui.weak(format!("{} rows · click a header to sort", frame.height()));
    if let Some(column) = frame_table_ui(ui, "rollup_table", &frame, Header::Sortable(app.table_sort()), f32::INFINITY)
    {
        actions.push(Action::SortTable(column));
    }
    actions
}
