//! The stream's chart: picking the metric, the split and the window, and
//! drawing what the engine computed with the shared honest time chart
//! (`ui::charts`).

use egui::Ui;

use super::{Action, TimeWindow};
use crate::ui::TidepoolApp;
use crate::ui::charts::time_chart_ui;
use crate::ui::session::StreamState;

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
        ui.weak(format!("{} buckets; dashed: still filling", state.spec.rollup.granularity))
            .on_hover_text("the newest bucket is still receiving events; hover the chart for exact values");
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
    // One chart per stream and window: a pan or zoom in one does not carry over.
    time_chart_ui(
        ui,
        &format!("stream_chart {} {}", state.spec.name, view.spec.window.map_or(0, |w| w.as_secs())),
        &view.chart,
    );
    actions
}
