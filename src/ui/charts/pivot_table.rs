//! Draws a [`PivotTable`]: the row fields' values down the left, a column
//! per value of the field across, a Total column and a Total row last (the
//! engine's totals, never sums of cells), exact numbers right-aligned, empty
//! cells blank; rows are virtualized, so a long pivot scrolls smoothly. Only
//! draws.

use egui::{Align, Layout, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::format::exact_number;
use crate::engine::chart::pivot::PivotTable;

const ROW_HEIGHT: f32 = 20.0;
/// About the width of one character of the body text.
const CHAR_WIDTH: f32 = 7.5;

pub fn pivot_table_ui(ui: &mut Ui, id_salt: &str, table: &PivotTable) {
    ui.weak(match &table.column_field {
        Some(across) => format!("{} by {} across {across}", table.value_label, table.row_fields.join(" · ")),
        None => format!("{} by {}", table.value_label, table.row_fields.join(" · ")),
    });
    let number = |ui: &mut Ui, value: Option<f64>, strong: bool| {
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let text = value.map_or_else(String::new, |v| exact_number(v, table.integral));
            if strong {
                ui.label(RichText::new(text).strong())
            } else {
                ui.label(text)
            };
        });
    };
    let mut builder = TableBuilder::new(ui).id_salt(id_salt).striped(true).min_scrolled_height(80.0);
    // Columns as wide as their longest text (numbers right-aligned would otherwise take every width offered).
    let width = |texts: &mut dyn Iterator<Item = usize>| {
        (texts.max().unwrap_or(4) as f32 * CHAR_WIDTH + 16.0).clamp(56.0, 260.0)
    };
    let formatted = |value: &Option<f64>| value.map_or(0, |v| exact_number(v, table.integral).len());
    for (position, field) in table.row_fields.iter().enumerate() {
        let keys = table.rows.iter().map(|row| row.keys.get(position).map_or(0, String::len));
        let shown = width(&mut keys.chain([field.len(), 5]));
        builder = builder.column(Column::initial(shown).at_least(40.0).resizable(true).clip(true));
    }
    for (position, column) in table.columns.iter().enumerate() {
        let cells = table.rows.iter().map(|row| formatted(&row.cells.get(position).copied().flatten()));
        let total = formatted(&table.column_totals.get(position).copied().flatten());
        builder = builder.column(
            Column::initial(width(&mut cells.chain([column.len(), total]))).at_least(40.0).resizable(true).clip(true),
        );
    }
    let totals = table.rows.iter().map(|row| formatted(&row.total)).chain([formatted(&table.grand_total), 5]);
    builder = builder.column(Column::initial(width(&mut totals.into_iter())).at_least(40.0).resizable(true).clip(true));
    builder
        .header(ROW_HEIGHT, |mut header| {
            for field in &table.row_fields {
                header.col(|ui| {
                    ui.strong(field);
                });
            }
            for column in &table.columns {
                header.col(|ui| {
                    ui.strong(column);
                });
            }
            header.col(|ui| {
                ui.strong("Total");
            });
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, table.rows.len() + 1, |mut row| {
                let index = row.index();
                let Some(pivot_row) = table.rows.get(index) else {
                    // The last row: the totals per column and overall.
                    for (position, _) in table.row_fields.iter().enumerate() {
                        row.col(|ui| {
                            if position == 0 {
                                ui.strong("Total");
                            }
                        });
                    }
                    for total in &table.column_totals {
                        row.col(|ui| number(ui, *total, true));
                    }
                    row.col(|ui| number(ui, table.grand_total, true));
                    return;
                };
                for key in &pivot_row.keys {
                    row.col(|ui| {
                        ui.with_layout(Layout::left_to_right(Align::Center), |ui| ui.label(key));
                    });
                }
                for cell in &pivot_row.cells {
                    row.col(|ui| number(ui, *cell, false));
                }
                row.col(|ui| number(ui, pivot_row.total, true));
            });
        });
}
