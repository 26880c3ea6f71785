//! The central area for a report: its chart (unless it is a table),
//! its answer as a virtualized table, when it was computed and over what,
//! Refresh, and the error if it failed.

use egui::Ui;

use super::Action;
use crate::ui::charts::report_chart_ui;
use crate::ui::report_state::ReportState;
use crate::ui::session::group_digits;
use crate::ui::widgets::frame_table::{Header, frame_table_ui};

pub fn report_view_ui(ui: &mut Ui, report: &ReportState) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.horizontal(|ui| {
        ui.heading(&report.name);
        let refresh = ui.add_enabled(!report.is_computing(), egui::Button::new("Refresh"));
        if refresh.on_hover_text("compute the report again").clicked() {
            actions.push(Action::RefreshReport);
        }
        if ui.button("Edit").on_hover_text("change the report in the builder").clicked() {
            actions.push(Action::OpenReportBuilder(Some(report.name.clone())));
        }
        let export = ui.add_enabled(report.answer.is_some(), egui::Button::new("Export…").small());
        if export.on_hover_text("write the whole answer to a CSV or Parquet file").clicked() {
            actions.push(Action::ExportReport(report.name.clone()));
        }
        let png = ui.add_enabled(report.chart.is_some(), egui::Button::new("PNG…").small());
        if png.on_hover_text("write the chart to a PNG file of the size beside, for slides").clicked() {
            actions.push(Action::ExportReportPng(report.name.clone()));
        }
        let (max, mut png) = (f64::from(crate::ui::png::MAX_SIDE), report.png);
        ui.add(egui::DragValue::new(&mut png.width).range(16.0..=max).suffix(" px")).on_hover_text("the PNG's width");
        ui.label("×");
        ui.add(egui::DragValue::new(&mut png.height).range(16.0..=max).suffix(" px")).on_hover_text("the PNG's height");
        ui.checkbox(&mut png.dark, "dark").on_hover_text("draw the PNG in the dark theme (light by default)");
        if png != report.png {
            actions.push(Action::SetReportPng(png));
        }
        if report.is_computing() {
            ui.spinner();
        }
    });
    if let Some(at) = report.computed_at {
        let over = if report.live {
            "the running stream's live rollup and the tables' current versions; again as new events arrive"
        } else {
            "the streams' last checkpoints and the tables' current versions; again every few seconds"
        };
        ui.weak(format!("computed {} over {over}", at.format("%H:%M:%S")));
    }
    for join in &report.joins {
        let text = join.to_string();
        if join.multiplies_rows() {
            ui.colored_label(ui.visuals().warn_fg_color, text);
        } else {
            ui.weak(text);
        }
    }
    if let Some(error) = &report.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if let Some(error) = &report.chart_error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if let Some(chart) = &report.chart {
        if let Some(limit) = report.cut_at {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The chart draws the answer's rows only, and the report stops at {limit} rows (its `limit`)."),
            );
        }
        let height = (ui.available_height() * 0.55).max(160.0);
        ui.allocate_ui(egui::vec2(ui.available_width(), height), |ui| {
            report_chart_ui(ui, &format!("report_chart {}", report.name), chart);
        });
        ui.separator();
    }
    match &report.answer {
        Some(answer) => {
            ui.weak(format!("{} rows", group_digits(answer.height() as u64)));
            frame_table_ui(ui, "report_answer", answer, Header::Typed, f32::INFINITY);
        }
        None if report.error.is_none() => {
            ui.weak("Computing the report…");
        }
        None => {}
    }
    actions
}
