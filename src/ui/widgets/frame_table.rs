//! A frame as a virtualized table: only the rows in view are read and drawn,
//! so a million rows scroll smoothly. Headers either sort (a click reports
//! the column; the sorting itself happens off the UI thread) or show each
//! column's type.

use egui::Ui;
use egui_extras::{Column, TableBuilder};
use polars::prelude::{AnyValue, Column as FrameColumn, DataFrame};

/// What the header row offers.
#[derive(Debug, Clone, Copy)]
pub enum Header<'a> {
    /// Buttons that sort; the current sort (column, descending) is marked.
    Sortable(Option<&'a (String, bool)>),
    /// Each column's name over its type.
    Typed,
}

/// Draws `frame`; answers the header clicked, if one was.
pub fn frame_table_ui(
    ui: &mut Ui,
    id_salt: &str,
    frame: &DataFrame,
    header: Header<'_>,
    max_height: f32,
) -> Option<String> {
    let mut clicked = None;
    egui::ScrollArea::horizontal().id_salt((id_salt, "scroll")).show(ui, |ui| {
        TableBuilder::new(ui)
            .id_salt(id_salt)
            .striped(true)
            .resizable(true)
            .max_scroll_height(max_height)
            .columns(Column::auto().at_least(80.0).clip(true), frame.width())
            .header(if matches!(header, Header::Typed) { 36.0 } else { 20.0 }, |mut row| {
                for column in frame.columns() {
                    let name = column.name().to_string();
                    row.col(|ui| match header {
                        Header::Sortable(sort) => {
                            let arrow = match sort {
                                Some((sorted, true)) if *sorted == name => " (desc)",
                                Some((sorted, false)) if *sorted == name => " (asc)",
                                _ => "",
                            };
                            if ui.button(format!("{name}{arrow}")).clicked() {
                                clicked = Some(name.clone());
                            }
                        }
                        Header::Typed => {
                            ui.vertical(|ui| {
                                ui.strong(&name);
                                ui.weak(column.dtype().to_string());
                            });
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(18.0, frame.height(), |mut row| {
                    let index = row.index();
                    for column in frame.columns() {
                        row.col(|ui| {
                            ui.label(cell_text(column, index));
                        });
                    }
                });
            });
    });
    clicked
}

/// One cell as text: strings without quotes, missing values as an empty cell.
pub fn cell_text(column: &FrameColumn, index: usize) -> String {
    match column.get(index) {
        Ok(AnyValue::Null) | Err(_) => String::new(),
        Ok(AnyValue::String(text)) => text.to_string(),
        Ok(AnyValue::StringOwned(text)) => text.to_string(),
        Ok(value) => value.to_string(),
    }
}
