//! The top bar: workbook name, demo controls, activity, theme.

use egui::Ui;

use super::{Action, SHORTCUT_OPEN, SHORTCUT_SAVE, SHORTCUT_SAVE_AS, SHORTCUT_THEME};
use crate::ui::TidepoolApp;

pub fn top_bar_ui(ui: &mut Ui, app: &TidepoolApp) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::Panel::top("top_bar").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading("tidepool");
            ui.separator();
            let shortcut = |s| ui.ctx().format_shortcut(s);
            let (open_hint, save_hint, save_as_hint) =
                (shortcut(&SHORTCUT_OPEN), shortcut(&SHORTCUT_SAVE), shortcut(&SHORTCUT_SAVE_AS));
            if ui.button("Open…").on_hover_text(format!("Open a workbook ({open_hint})")).clicked() {
                actions.push(Action::OpenWorkbook);
            }
            let has_session = app.session.is_some();
            if ui
                .add_enabled(has_session, egui::Button::new("Save"))
                .on_hover_text(format!("Save ({save_hint})"))
                .clicked()
            {
                actions.push(Action::SaveWorkbook);
            }
            if ui
                .add_enabled(has_session, egui::Button::new("Save as…"))
                .on_hover_text(format!("Save to a new file ({save_as_hint})"))
                .clicked()
            {
                actions.push(Action::SaveWorkbookAs);
            }
            ui.separator();
            let name = app.session.as_ref().map_or_else(
                || "no workbook".to_string(),
                |s| s.workbook.display_name(s.path.as_deref().unwrap_or(std::path::Path::new("demo"))),
            );
            ui.label(egui::RichText::new(name).strong());
            if let Some(demo) = app.session.as_ref().and_then(|s| s.demo.as_ref()) {
                ui.separator();
                ui.label("demo rate");
                let mut rate = demo.controls.rate.load(std::sync::atomic::Ordering::Relaxed);
                let slider = egui::Slider::new(&mut rate, 0..=100_000).logarithmic(true).suffix(" ev/s");
                if ui.add(slider).changed() {
                    actions.push(Action::SetDemoRate(rate));
                }
                let mut malformed = demo.controls.malformed_per_mille.load(std::sync::atomic::Ordering::Relaxed);
                let slider = egui::Slider::new(&mut malformed, 0..=200).suffix(" ‰ bad");
                if ui.add(slider).on_hover_text("share of malformed events, per thousand").changed() {
                    actions.push(Action::SetDemoMalformed(malformed));
                }
                let mut late = demo.controls.late_per_mille.load(std::sync::atomic::Ordering::Relaxed);
                let slider = egui::Slider::new(&mut late, 0..=200).suffix(" ‰ late");
                if ui
                    .add(slider)
                    .on_hover_text("share of events stamped 5 to 30 minutes in the past, per thousand")
                    .changed()
                {
                    actions.push(Action::SetDemoLate(late));
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let theme_label = match app.persisted.theme {
                    crate::ui::theme::Theme::Dark => "Light theme",
                    crate::ui::theme::Theme::Light => "Dark theme",
                };
                if ui
                    .button(theme_label)
                    .on_hover_text(format!("Switch theme ({})", ui.ctx().format_shortcut(&SHORTCUT_THEME)))
                    .clicked()
                {
                    actions.push(Action::ToggleTheme);
                }
                match app.session.as_ref().and_then(|s| s.save_message.as_ref()) {
                    Some(Ok(message)) => {
                        ui.weak(message);
                    }
                    Some(Err(message)) => {
                        ui.colored_label(ui.visuals().error_fg_color, message);
                    }
                    None => {}
                }
                if app.session.as_ref().is_some_and(crate::ui::session::Session::is_busy) {
                    ui.spinner().on_hover_text("reading streams");
                }
            });
        });
    });
    actions
}
