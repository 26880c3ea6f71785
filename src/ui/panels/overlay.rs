//! The frame-time overlay (F12): last frame, p99 over the recent frames.

use std::collections::VecDeque;

pub fn frame_overlay_ui(ctx: &egui::Context, frame_ms: &VecDeque<f64>) {
    let mut sorted: Vec<f64> = frame_ms.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted.get(sorted.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(0.0);
    let last = frame_ms.back().copied().unwrap_or(0.0);
    egui::Area::new(egui::Id::unique("frame_overlay")).anchor(egui::Align2::RIGHT_BOTTOM, [-8.0, -8.0]).show(
        ctx,
        |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.monospace(format!("frame {last:5.2} ms  p99 {p99:5.2} ms  ({} frames)", sorted.len()));
            });
        },
    );
}
