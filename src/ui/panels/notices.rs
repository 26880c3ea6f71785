//! Failure notices of background runs, in a corner of the window: visible,
//! never modal, dismissed by a click or after a while. A click on the import's
//! name opens its table (and its run history).

use std::time::Duration;

use egui::RichText;

use super::Action;
use crate::ui::session::Notice;
use crate::ui::theme::{StatusKind, status_colour};

/// How long a notice stays unless dismissed.
pub const NOTICE_SHOWN_FOR: Duration = Duration::from_secs(30);
/// Notices shown at once (the newest).
const SHOWN: usize = 3;

pub fn notices_ui(ctx: &egui::Context, notices: &[Notice]) -> Vec<Action> {
    let mut actions = Vec::new();
    if notices.is_empty() {
        return actions;
    }
    egui::Area::new(egui::Id::unique("failure_notices"))
        .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -12.0])
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            ui.set_max_width(380.0);
            let first = notices.len().saturating_sub(SHOWN);
            for (index, notice) in notices.iter().enumerate().skip(first) {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        let title = RichText::new(format!("{} failed", notice.job))
                            .strong()
                            .color(status_colour(StatusKind::Failed));
                        if ui.link(title).on_hover_text("show its table and run history").clicked() {
                            actions.push(Action::SelectTable(notice.job.clone()));
                        }
                        if ui.small_button("Dismiss").clicked() {
                            actions.push(Action::DismissNotice(index));
                        }
                    });
                    ui.label(&notice.message);
                });
            }
        });
    actions
}
