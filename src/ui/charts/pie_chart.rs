//! Draws a [`PieChart`]: slices clockwise from twelve o'clock, largest first,
//! in the stable colours every chart shares ("other" grey), a thin gap of the
//! background between slices, a donut's total in its middle, a legend with
//! each slice's exact value and share, and the hovered slice's exact value.
//! Only draws: the slices come ready.

use std::f64::consts::{FRAC_PI_2, TAU};

use egui::{Color32, Id, Mesh, Pos2, RichText, Sense, Shape, Stroke, Ui, Vec2, vec2};

use super::colours::StableColours;
use super::format::exact_number;
use crate::engine::chart::pie::PieChart;

/// Radians per straight step of a slice's arc.
const ARC_STEP: f64 = TAU / 180.0;
/// A donut's hole, as a share of its radius.
const HOLE: f32 = 0.55;

pub fn pie_chart_ui(ui: &mut Ui, _id_salt: &str, chart: &PieChart) {
    let labels: Vec<(&str, bool)> = chart.slices.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    let colours_id = Id::unique("tidepool_series_colours");
    let colours = ui.data_mut(|data| data.get_temp_mut_or_default::<StableColours>(colours_id).assign(&labels));
    if chart.slices.is_empty() {
        ui.weak(format!("no {} to share out", chart.value_label));
        return;
    }
    ui.horizontal_top(|ui| {
        let side = ui.available_height().min(ui.available_width() * 0.6).max(120.0);
        let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
        let centre = rect.center();
        let radius = side / 2.0 - 4.0;
        let inner = if chart.donut { radius * HOLE } else { 0.0 };
        let background = ui.visuals().panel_fill;
        let painter = ui.painter_at(rect);
        let angles = chart.angles();
        for ((start, end), colour) in angles.iter().zip(&colours) {
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
        ui.vertical(|ui| {
            ui.label(RichText::new(format!("{} by {}", chart.value_label, chart.category_label)).strong());
            for (slice, colour) in chart.slices.iter().zip(&colours) {
                ui.horizontal(|ui| {
                    let (swatch, _) = ui.allocate_exact_size(vec2(12.0, 12.0), Sense::hover());
                    ui.painter().rect_filled(swatch, 2.0, *colour);
                    let text = format!(
                        "{}  {}  {:.1}%",
                        slice.label,
                        exact_number(slice.value, chart.integral),
                        slice.share * 100.0
                    );
                    if slice.is_other {
                        ui.weak(text)
                    } else {
                        ui.label(text)
                    };
                });
            }
            ui.weak(format!("total {}", exact_number(chart.total, chart.integral)));
        });
    });
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
