//! Small reusable drawing pieces.

pub mod frame_table;
pub mod sparkline;
pub mod status_pill;

/// Cancel for an editor form: a changed form asks "Discard your changes?"
/// first. Answers whether the editor should close now.
pub fn cancel_or_discard_ui(ui: &mut egui::Ui, confirming: &mut bool, changed: bool) -> bool {
    if *confirming {
        ui.colored_label(ui.visuals().warn_fg_color, "Discard your changes?");
        if ui.button("Discard").clicked() {
            return true;
        }
        if ui.button("Keep editing").clicked() {
            *confirming = false;
        }
        return false;
    }
    ui.button("Cancel").clicked() && ask_before_discarding(confirming, changed)
}

/// Closing a form (Cancel, Escape, the window's ×): at once when unchanged,
/// else it asks first (see [`cancel_or_discard_ui`]). Answers whether it closes now.
pub fn ask_before_discarding(confirming: &mut bool, changed: bool) -> bool {
    if changed {
        *confirming = true;
    }
    !changed
}
