//! Draws a report's chart, whichever kind it is: over time, bars, a pie, a
//! scatter, a heatmap or a big number — in the window, or offscreen as a PNG for slides.

use egui::Ui;

use super::heatmap::heatmap_ui;
use super::pie_chart::pie_chart_ui;
use super::pivot_table::pivot_table_ui;
use super::scatter_chart::scatter_chart_ui;
use super::{bar_chart::bar_chart_ui, big_number::big_number_ui, time_chart_ui};
use crate::engine::chart::ReportChart;
use crate::ui::png::{PngOptions, render_png};

pub fn report_chart_ui(ui: &mut Ui, id_salt: &str, chart: &ReportChart) {
    match chart {
        ReportChart::Time(chart) => time_chart_ui(ui, id_salt, chart),
        ReportChart::Bars(chart) => bar_chart_ui(ui, id_salt, chart),
        ReportChart::Number(number) => big_number_ui(ui, id_salt, number),
        ReportChart::Pie(chart) => pie_chart_ui(ui, id_salt, chart),
        ReportChart::Scatter(chart) => scatter_chart_ui(ui, id_salt, chart),
        ReportChart::Heatmap(map) => heatmap_ui(ui, id_salt, map),
        ReportChart::Pivot(table) => pivot_table_ui(ui, id_salt, table),
    }
}

/// A report's chart as a PNG for slides: the report's name as its title and
/// the chart filling the rest, drawn as the window draws it.
pub fn report_chart_png(title: &str, chart: &ReportChart, options: &PngOptions) -> Result<Vec<u8>, String> {
    render_png(options, |ui| {
        ui.heading(title);
        report_chart_ui(ui, "png_chart", chart);
    })
}

/// Computes `report` over the stored datasets, draws its chart and writes it
/// to `path` as a PNG (atomically): the window and `tidepool export … --out
/// FILE.png` both do it this way. Answers what was written, in words.
pub fn export_report_png(
    workbook: &crate::model::Workbook,
    report: &crate::model::reports::ReportSpec,
    sources: &crate::engine::report::ReportSources,
    path: &std::path::Path,
    options: &PngOptions,
) -> Result<String, String> {
    let (_, chart) = crate::ui::report_state::compute_with_chart(workbook, report, sources, None)?;
    let chart = chart?.ok_or_else(|| {
        format!(
            "report `{}` is drawn as a table, which has no picture: give it a chart (`chart = {{ kind = \"line\" }}`, \"bar\" or \"big_number\") or export it as CSV",
            report.name
        )
    })?;
    let png = report_chart_png(&report.name, &chart, options)?;
    crate::engine::files::write_atomically(path, |file| std::io::Write::write_all(file, &png))
        .map_err(|err: std::io::Error| format!("cannot write {}: {err}", path.display()))?;
    Ok(format!(
        "wrote the chart of report `{}` to {} ({} × {} pixels)",
        report.name,
        path.display(),
        options.width,
        options.height
    ))
}
