//! The time-series chart of one metric, split by one dimension (top N plus
//! "other"), over a chosen window. Points come ready from the engine; they
//! are only decimated here to the plot's width.

use egui::Ui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{Action, TimeWindow};
use crate::engine::rollup::series::OTHER_LABEL;
use crate::ui::TidepoolApp;
use crate::ui::plots::decimate_min_max;
use crate::ui::session::StreamState;
use crate::ui::theme::series_colour;

pub fn chart_ui(ui: &mut Ui, app: &TidepoolApp, state: &StreamState) -> Vec<Action> {
    let mut actions = Vec::new();
    let spec = app.current_view_spec().map(|(_, spec)| spec);
    let metric_index = spec.as_ref().map_or(0, |s| s.metric);
    let split_index = spec.as_ref().and_then(|s| s.split_by);
    let metrics = &state.spec.rollup.metrics;
    let dimensions = &state.spec.rollup.dimensions;
    ui.horizontal(|ui| {
        ui.label("Metric");
        egui::ComboBox::from_id_salt("metric")
            .selected_text(metrics.get(metric_index).map_or("", |m| m.name.as_str()))
            .show_ui(ui, |ui| {
                for (index, metric) in metrics.iter().enumerate() {
                    if ui
                        .selectable_label(index == metric_index, format!("{} ({})", metric.name, metric.kind))
                        .clicked()
                    {
                        actions.push(Action::SetMetric(metric.name.clone()));
                    }
                }
            });
        ui.label("split by");
        egui::ComboBox::from_id_salt("split")
            .selected_text(split_index.and_then(|i| dimensions.get(i)).map_or("nothing", String::as_str))
            .show_ui(ui, |ui| {
                if ui.selectable_label(split_index.is_none(), "nothing").clicked() {
                    actions.push(Action::SetSplit(None));
                }
                for (index, dimension) in dimensions.iter().enumerate() {
                    if ui.selectable_label(split_index == Some(index), dimension).clicked() {
                        actions.push(Action::SetSplit(Some(dimension.clone())));
                    }
                }
            });
        ui.separator();
        ui.label("window");
        for window in TimeWindow::ALL {
            if ui.selectable_label(app.persisted.window == window, window.label()).clicked() {
                actions.push(Action::SetWindow(window));
            }
        }
        ui.separator();
        ui.weak(format!("{} buckets", state.spec.rollup.granularity));
    });
    let Some(view) = &state.view else {
        ui.weak("Waiting for the first data…");
        return actions;
    };
    let outdated = spec.as_ref().is_some_and(|wanted| {
        wanted.metric != view.spec.metric || wanted.split_by != view.spec.split_by || wanted.window != view.spec.window
    });
    if outdated {
        ui.weak("Updating…");
    }
    let columns = (ui.available_width() as usize).max(100);
    Plot::new("stream_chart")
        .legend(Legend::default())
        .x_axis_formatter(|mark, _| format_time(mark.value))
        .label_formatter(|hover| match hover {
            egui_plot::HoverPosition::NearDataPoint { plot_name, position, .. } => {
                Some(format!("{plot_name}\n{}\n{:.2}", format_time(position.x), position.y))
            }
            egui_plot::HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            for (index, series) in view.series.iter().enumerate() {
                let points: Vec<[f64; 2]> =
                    series.points.iter().map(|(bucket, value)| [*bucket as f64 / 1e6, *value]).collect();
                let points = decimate_min_max(&points, columns);
                let colour = series_colour(index, series.label == OTHER_LABEL);
                plot.line(Line::new(series.label.clone(), PlotPoints::from(points)).color(colour).width(1.5));
            }
        });
    actions
}

/// Seconds since the epoch as UTC `HH:MM:SS` (with the date when not today).
fn format_time(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0).map_or_else(String::new, |time| {
        if time.date_naive() == chrono::Utc::now().date_naive() {
            time.format("%H:%M:%S").to_string()
        } else {
            time.format("%m-%d %H:%M").to_string()
        }
    })
}
