//! A rounded, coloured status label ("live 2,000 ev/s", "caught up", "failed").

use egui::{Color32, RichText, Ui};

use crate::ui::theme::{StatusKind, status_colour};

pub fn status_pill_ui(ui: &mut Ui, kind: StatusKind, text: &str) -> egui::Response {
    let colour = status_colour(kind);
    egui::Frame::new()
        .fill(colour.gamma_multiply(0.25))
        .stroke(egui::Stroke::new(1.0, colour))
        .corner_radius(8.0)
        .inner_margin(egui::Margin::symmetric(6, 1))
        .show(ui, |ui| ui.label(RichText::new(text).color(text_colour(ui, colour)).small()))
        .inner
}

fn text_colour(ui: &Ui, colour: Color32) -> Color32 {
    if ui.visuals().dark_mode { colour.gamma_multiply(1.4) } else { colour }
}
