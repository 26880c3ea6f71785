//! What tidepool set aside: counters of late and quarantined events, and the
//! most recent quarantined records with reason, position and payload excerpt.

use egui::Ui;
use egui_extras::{Column, TableBuilder};

use crate::ui::session::{StreamState, group_digits};

pub fn quarantine_ui(ui: &mut Ui, state: &StreamState) {
    ui.label(format!(
        "{} quarantined · {} late (merged into their buckets)",
        group_digits(state.stats.quarantined),
        group_digits(state.stats.late)
    ));
    let records = state.view.as_ref().map(|view| view.recent_quarantine.as_slice()).unwrap_or_default();
    if records.is_empty() {
        ui.weak("Nothing quarantined in this session.");
        return;
    }
    ui.weak(format!("the {} most recent records, newest first (all are kept in the state store)", records.len()));
    TableBuilder::new(ui)
        .striped(true)
        .resizable(true)
        .column(Column::auto().at_least(90.0))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::initial(260.0).clip(true))
        .column(Column::remainder().clip(true))
        .header(20.0, |mut header| {
            for title in ["reason", "partition", "offset", "detail", "payload"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(18.0, records.len(), |mut row| {
                let record = &records[records.len() - 1 - row.index()];
                row.col(|ui| {
                    ui.label(record.reason.code());
                });
                row.col(|ui| {
                    ui.label(record.partition.to_string());
                });
                row.col(|ui| {
                    ui.label(record.offset.to_string());
                });
                row.col(|ui| {
                    ui.label(&record.detail);
                });
                row.col(|ui| {
                    ui.monospace(record.excerpt_text());
                });
            });
        });
}
