//! Draws a [`PieChart`]: slices clockwise from twelve o'clock, largest first,
//! in the stable colours every chart shares ("other" grey), a thin gap of the
//! background between slices, a donut's total in its middle, a legend with
//! each slice's exact value and share (click an entry to hide its slice: the
//! rest then share out what is shown, and the legend says so), and the hovered
//! slice's exact value.
//! Only draws: the slices come ready.

use std::collections::HashSet;
use std::f64::consts::{FRAC_PI_2, TAU};

use egui::{Color32, Id, Mesh, Pos2, RichText, Sense, Shape, Stroke, Ui, Vec2, vec2};

use super::colours::StableColours;
use super::format::exact_number;
use crate::engine::chart::pie::PieChart;

/// Radians per straight step of a slice's arc.
const ARC_STEP: f64 = TAU / 180.0;
/// A donut's hole, as a share of its radius.
const HOLE: f32 = 0.55;

pub fn pie_chart_ui(ui: &mut Ui, id_salt: &str, whole: &PieChart) {
    let labels: Vec<(&str, bool)> = whole.slices.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    let colours_id = Id::unique("tidepool_series_colours");
    let colours = ui.data_mut(|data| data.get_temp_mut_or_default::<StableColours>(colours_id).assign(&labels));
    if whole.slices.is_empty() {
        ui.weak(format!("no {} to share out", whole.value_label));
        return;
    }
    // Slices hidden by a click on their legend entry, remembered per chart.
    let hidden_id = Id::unique(("tidepool_pie_hidden", id_salt));
    let mut hidden: HashSet<String> = ui.data(|data| data.get_temp(hidden_id)).unwrap_or_default();
    let chart = whole.keeping(|slice| !hidden.contains(&slice.label));
    let shown_colours: Vec<Color32> =
        whole.slices.iter().zip(&colours).filter(|(s, _)| !hidden.contains(&s.label)).map(|(_, c)| *c).collect();
    ui.horizontal_top(|ui| {
        let side = ui.available_height().min(ui.available_width() * 0.6).max(120.0);
        let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
        let centre = rect.center();
        let radius = side / 2.0 - 4.0;
        let inner = if chart.donut { radius * HOLE } else { 0.0 };
        let background = ui.visuals().panel_fill;
        let painter = ui.painter_at(rect);
        let angles = chart.angles();
        for ((start, end), colour) in angles.iter().zip(&shown_colours) {
            painter.add(Shape::mesh(slice_mesh(centre, inner, radius, *start, *end, *colour)));
        }
        for (start, _) in angles.iter().skip(usize::from(angles.len() == 1)) {
            let from = point(centre, inner, *start);
            painter.line_segment([from, point(centre, radius + 1.0, *start)], Stroke::new(1.5, background));
        }
        if chart.donut {
            let total = exact_number(chart.total, chart.integral);
            painter.text(
                centre,
                egui::Align2::CENTER_CENTER,
                format!("{total}\n{}", chart.value_label),
                egui::FontId::proportional((radius * 0.16).clamp(11.0, 28.0)),
                ui.visuals().strong_text_color(),
            );
        }
        if let Some(pointer) = response.hover_pos() {
            let offset = pointer - centre;
            let distance = offset.length();
            if distance <= radius && distance >= inner {
                let angle = f64::from(offset.y).atan2(f64::from(offset.x)) + FRAC_PI_2;
                if let Some(index) = chart.slice_at(angle) {
                    let slice = &chart.slices[index];
                    response.on_hover_text_at_pointer(format!(
                        "{}: {} ({:.1}% of {})",
                        slice.label,
                        exact_number(slice.value, chart.integral),
                        slice.share * 100.0,
                        exact_number(chart.total, chart.integral)
                    ));
                }
            }
        }
        if legend_ui(ui, whole, &chart, &colours, &mut hidden) {
            ui.data_mut(|data| data.insert_temp(hidden_id, hidden));
        }
    });
}

/// Every slice with its exact value and its share of what is shown; a click
/// hides or shows it. Answers whether one was clicked.
fn legend_ui(
    ui: &mut Ui,
    whole: &PieChart,
    shown: &PieChart,
    colours: &[Color32],
    hidden: &mut HashSet<String>,
) -> bool {
    let mut clicked = false;
    ui.vertical(|ui| {
        ui.label(RichText::new(format!("{} by {}", whole.value_label, whole.category_label)).strong());
        for (slice, colour) in whole.slices.iter().zip(colours) {
            let is_hidden = hidden.contains(&slice.label);
            ui.horizontal(|ui| {
                let (swatch, _) = ui.allocate_exact_size(vec2(12.0, 12.0), Sense::hover());
                ui.painter().rect_filled(swatch, 2.0, if is_hidden { colour.gamma_multiply(0.25) } else { *colour });
                let share = shown.slices.iter().find(|s| s.label == slice.label).map(|s| s.share);
                let text = match share {
                    Some(share) => {
                        format!("{}  {}  {:.1}%", slice.label, exact_number(slice.value, whole.integral), share * 100.0)
                    }
                    None => format!("{}  {}  (hidden)", slice.label, exact_number(slice.value, whole.integral)),
                };
                let text = if slice.is_other || is_hidden { RichText::new(text).weak() } else { RichText::new(text) };
                let entry = ui.add(egui::Label::new(text).sense(Sense::click()));
                if entry.on_hover_text(if is_hidden { "click to show it" } else { "click to hide it" }).clicked() {
                    if is_hidden {
                        hidden.remove(&slice.label);
                    } else {
                        hidden.insert(slice.label.clone());
                    }
                    clicked = true;
                }
            });
        }
        if hidden.is_empty() {
            ui.weak(format!("total {}", exact_number(whole.total, whole.integral)));
        } else {
            ui.weak(format!(
                "shown {} of the total {}; shares are of what is shown",
                exact_number(shown.total, whole.integral),
                exact_number(whole.total, whole.integral)
            ));
        }
    });
    clicked
}

/// The point at `angle` (radians clockwise from twelve o'clock) `radius` from `centre`.
fn point(centre: Pos2, radius: f32, angle: f64) -> Pos2 {
    let angle = angle - FRAC_PI_2;
    centre + vec2(angle.cos() as f32, angle.sin() as f32) * radius
}

/// A slice (a ring segment when `inner` > 0) as triangles, so adjacent slices meet without seams.
fn slice_mesh(centre: Pos2, inner: f32, outer: f32, start: f64, end: f64, colour: Color32) -> Mesh {
    let mut mesh = Mesh::default();
    let steps = (((end - start) / ARC_STEP).ceil() as usize).max(1);
    for step in 0..=steps {
        let angle = start + (end - start) * step as f64 / steps as f64;
        mesh.colored_vertex(point(centre, inner, angle), colour);
        mesh.colored_vertex(point(centre, outer, angle), colour);
    }
    for step in 0..steps as u32 {
        let (a, b, c, d) = (2 * step, 2 * step + 1, 2 * step + 2, 2 * step + 3);
        mesh.add_triangle(a, b, d);
        mesh.add_triangle(a, d, c);
    }
    mesh
}
