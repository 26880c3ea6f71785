//! Draws a [`ScatterChart`]: a point per row, one measure across and one
//! up, both axes from zero when no value is negative, compact numbers on the
//! axes, the stable series colours ("other" grey), a legend you can click to
//! hide a series, the nearest point's row and exact values on hover, and how
//! many rows had no point to draw (a measure without a value).
//! Only draws: the points come ready.

use egui::{Id, Ui};
use egui_plot::{Corner, Legend, MarkerShape, Plot, PlotPoints, Points};

use super::colours::StableColours;
use super::format::{axis_number, exact_number, value_marks};
use crate::engine::chart::scatter::ScatterChart;

pub fn scatter_chart_ui(ui: &mut Ui, id_salt: &str, chart: &ScatterChart) {
    let labels: Vec<(&str, bool)> = chart.series.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    let colours_id = Id::unique("tidepool_series_colours");
    let colours = ui.data_mut(|data| data.get_temp_mut_or_default::<StableColours>(colours_id).assign(&labels));
    let ((x_low, x_high), (y_low, y_high)) = chart.bounds();
    let room = |low: f64, high: f64| (high - low).abs().max(1.0) * 0.06;
    let (x_room, y_room) = (room(x_low, x_high), room(y_low, y_high));
    let (x_integral, y_integral) = (chart.x_integral, chart.y_integral);
    if chart.left_out > 0 {
        let rows = if chart.left_out == 1 { "row has" } else { "rows have" };
        ui.weak(format!("{} {rows} no {} or no {}: not drawn", chart.left_out, chart.x_label, chart.y_label));
    }
    let response = Plot::new(id_salt)
        .legend(Legend::default().position(Corner::LeftTop).follow_insertion_order(true))
        .default_x_bounds(if x_low < 0.0 { x_low - x_room } else { 0.0 }, x_high + x_room)
        .default_y_bounds(if y_low < 0.0 { y_low - y_room } else { 0.0 }, y_high + y_room)
        .x_grid_spacer(move |input| value_marks(input, x_integral))
        .y_grid_spacer(move |input| value_marks(input, y_integral))
        .x_axis_formatter(|mark, _| axis_number(mark.value, mark.step_size))
        .y_axis_formatter(|mark, _| axis_number(mark.value, mark.step_size))
        .x_axis_label(chart.x_label.clone())
        .y_axis_label(chart.y_label.clone())
        .y_axis_min_width(44.0)
        .label_formatter(|_| None)
        .show(ui, |plot| {
            for (series, colour) in chart.series.iter().zip(&colours) {
                let colour = if series.is_other { colour.gamma_multiply(0.55) } else { *colour };
                let points: Vec<[f64; 2]> = series.points.iter().map(|p| [p.x, p.y]).collect();
                plot.points(
                    Points::new(series.label.clone(), PlotPoints::from(points))
                        .color(colour)
                        .shape(MarkerShape::Circle)
                        .filled(true)
                        .radius(3.5),
                );
            }
            let pointer = plot.pointer_coordinate()?;
            let bounds = plot.plot_bounds();
            let size = plot.transform().frame().size();
            let scale = (bounds.width() / f64::from(size.x.max(1.0)), bounds.height() / f64::from(size.y.max(1.0)));
            let (series, index) = chart.nearest((pointer.x, pointer.y), scale)?;
            let point = &chart.series[series].points[index];
            let near = ((point.x - pointer.x) / scale.0).hypot((point.y - pointer.y) / scale.1) <= 12.0;
            near.then_some((series, index))
        });
    if let Some((series, index)) = response.inner
        && let Some(point) = chart.series.get(series).and_then(|s| s.points.get(index))
    {
        response.response.on_hover_text_at_pointer(format!(
            "{}\n{}: {}\n{}: {}",
            point.label,
            chart.x_label,
            exact_number(point.x, x_integral),
            chart.y_label,
            exact_number(point.y, y_integral)
        ));
    }
}
