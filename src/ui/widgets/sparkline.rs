//! A tiny line chart without axes, painted directly (cheap enough for every row of a list).

use egui::{Color32, Sense, Stroke, Ui, Vec2, pos2};

/// Draws `samples` ((x, y) pairs in x order) into a `size` box.
pub fn sparkline_ui(
    ui: &mut Ui,
    samples: &std::collections::VecDeque<[f64; 2]>,
    size: Vec2,
    colour: Color32,
) -> egui::Response {
    let (response, painter) = ui.allocate_painter(size, Sense::hover());
    let rect = response.rect;
    if samples.len() < 2 {
        painter.line_segment([rect.left_bottom(), rect.right_bottom()], Stroke::new(1.0, colour.gamma_multiply(0.4)));
        return response;
    }
    let (x0, x1) = (samples[0][0], samples[samples.len() - 1][0]);
    let y_max = samples.iter().map(|s| s[1]).fold(0.0_f64, f64::max).max(1.0);
    let points: Vec<egui::Pos2> = samples
        .iter()
        .map(|[x, y]| {
            let fx = ((x - x0) / (x1 - x0).max(f64::EPSILON)) as f32;
            let fy = (y / y_max) as f32;
            pos2(rect.left() + fx * rect.width(), rect.bottom() - fy * rect.height())
        })
        .collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.2, colour)));
    response
}
