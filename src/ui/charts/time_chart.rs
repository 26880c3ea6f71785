//! Draws a [`TimeChart`] honestly: the x-axis is the chosen window (until the
//! user pans or zooms; a double click goes back), empty buckets read as the
//! engine says (zeros or gaps), the bucket still filling is dashed with a
//! hollow marker, the axes say what and per how long, with round times in
//! the local zone and compact numbers, the legend is ordered by size with a
//! stable colour per value and "other" quieter, and hovering shows every
//! series' exact value at that time. Only draws: the points come ready.

use egui::{Color32, Id, RichText, Sense, Ui, vec2};
use egui_plot::{Corner, ItemId, Legend, Line, LineStyle, MarkerShape, Plot, PlotMemory, PlotPoints, Points, VLine};

use super::colours::StableColours;
use super::decimate::decimate_min_max;
use super::format::{axis_number, exact_number, full_time, time_label, time_marks, value_marks, zone_words};
use crate::engine::chart::{BucketValue, TimeChart};

const SECONDS: f64 = 1e6;

/// Draws `chart` filling the space left; `id_salt` names the chart (its
/// zoom and hidden series are remembered under it). Colours are shared by
/// every chart, so a value has one colour throughout the window.
pub fn time_chart_ui(ui: &mut Ui, id_salt: &str, chart: &TimeChart) {
    let plot_id = ui.make_persistent_id(id_salt);
    let colours_id = Id::unique("tidepool_series_colours");
    let labels: Vec<(&str, bool)> = chart.series.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    let colours = ui.data_mut(|data| data.get_temp_mut_or_default::<StableColours>(colours_id).assign(&labels));
    let hidden = PlotMemory::load(ui.ctx(), plot_id).map(|memory| memory.hidden_items).unwrap_or_default();
    let offset = chart.utc_offset_seconds;
    let (x_min, x_max) = (chart.start_micros as f64 / SECONDS, chart.end_micros as f64 / SECONDS);
    let (y_min, y_max) = y_bounds(chart);
    let integral = chart.integral;
    let columns = (ui.available_width() as usize).max(100);
    let stroke = ui.visuals().weak_text_color();
    let response = Plot::new(id_salt)
        .id(plot_id)
        .legend(Legend::default().position(Corner::LeftTop).follow_insertion_order(true))
        .default_x_bounds(x_min, x_max.max(x_min + 1.0))
        .default_y_bounds(y_min, y_max)
        .x_grid_spacer(move |input| time_marks(&input, offset))
        .x_axis_formatter(move |mark, _| time_label(mark.value, mark.step_size, offset))
        .y_grid_spacer(move |input| value_marks(input, integral))
        .y_axis_formatter(|mark, _| axis_number(mark.value, mark.step_size))
        .y_axis_min_width(44.0)
        .x_axis_label(format!("time ({})", zone_words(offset)))
        .y_axis_label(chart.y_label.clone())
        .label_formatter(|_| None)
        .show(ui, |plot| {
            for (series, colour) in chart.series.iter().zip(&colours) {
                let (colour, width) = if series.is_other { (colour.gamma_multiply(0.6), 1.0) } else { (*colour, 1.8) };
                for run in chart.runs(series) {
                    let points: Vec<[f64; 2]> =
                        run.points.iter().map(|(bucket, value)| [*bucket as f64 / SECONDS, *value]).collect();
                    if points.len() == 1 && !run.filling {
                        plot.points(
                            Points::new(series.label.clone(), PlotPoints::from(points)).color(colour).radius(2.5),
                        );
                        continue;
                    }
                    let last = points.last().copied();
                    let points = decimate_min_max(&points, columns);
                    let style = if run.filling { LineStyle::dashed_dense() } else { LineStyle::Solid };
                    let line = Line::new(series.label.clone(), PlotPoints::from(points))
                        .color(colour)
                        .width(width)
                        .style(style);
                    plot.line(if chart.filled { line.fill(0.0).fill_alpha(0.2) } else { line });
                    if run.filling
                        && let Some(last) = last
                    {
                        plot.points(
                            Points::new(series.label.clone(), PlotPoints::from(vec![last]))
                                .color(colour)
                                .shape(MarkerShape::Circle)
                                .filled(false)
                                .radius(3.5),
                        );
                    }
                }
            }
            let hovered = plot.pointer_coordinate().map(|at| chart.bucket_of((at.x * SECONDS) as i64));
            if let Some(bucket) = hovered {
                plot.vline(VLine::new("", bucket as f64 / SECONDS).color(stroke).width(1.0));
            }
            hovered
        });
    if let Some(bucket) = response.inner
        && response.response.hovered()
    {
        response.response.on_hover_ui_at_pointer(|ui| tooltip_ui(ui, chart, &colours, &hidden, bucket));
    }
}

/// The y-axis range: from zero for values that are never negative, with room above.
fn y_bounds(chart: &TimeChart) -> (f64, f64) {
    let (low, high) = chart.value_range().unwrap_or((0.0, 1.0));
    let low = if low >= 0.0 { 0.0 } else { low - (high - low).abs() * 0.05 };
    let high = if high > low { high + (high - low) * 0.08 } else { low + 1.0 };
    (low, high)
}

/// Every shown series' exact value in `bucket`, largest first.
fn tooltip_ui(ui: &mut Ui, chart: &TimeChart, colours: &[Color32], hidden: &egui_plot::ItemIdSet, bucket: i64) {
    let mut heading = full_time(bucket as f64 / SECONDS, chart.utc_offset_seconds);
    if chart.is_filling(bucket) {
        heading.push_str(" · still filling");
    }
    ui.label(RichText::new(heading).strong());
    ui.weak(&chart.y_label);
    let mut rows: Vec<(f64, &str, Color32, String)> = chart
        .series
        .iter()
        .zip(colours)
        .filter(|(series, _)| !hidden.contains(&ItemId::new(series.label.as_str())))
        .filter_map(|(series, colour)| {
            let (sort_key, text) = match chart.value_at(series, bucket)? {
                BucketValue::Value(value) => (value, exact_number(value, chart.integral)),
                BucketValue::NoData => (f64::NEG_INFINITY, "no data".to_string()),
            };
            let sort_key = if series.is_other { f64::NEG_INFINITY } else { sort_key };
            Some((sort_key, series.label.as_str(), *colour, text))
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    egui::Grid::new("chart_tooltip").num_columns(3).spacing(vec2(6.0, 2.0)).show(ui, |ui| {
        for (_, label, colour, value) in rows {
            let (rect, _) = ui.allocate_exact_size(vec2(10.0, 10.0), Sense::hover());
            ui.painter().rect_filled(rect, 2.0, colour);
            ui.label(label);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| ui.monospace(value));
            ui.end_row();
        }
    });
}
