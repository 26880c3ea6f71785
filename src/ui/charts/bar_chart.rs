//! Draws a [`BarChart`]: one bar per category (side by side or stacked per
//! series), from zero, the category names along their axis, the measure's
//! name and compact numbers on the other, the legend ordered by size with the
//! stable colours every chart shares, "other" quieter, and each bar's exact
//! value on hover. Bars over time label their buckets as round local times
//! (as many as fit) and draw the bucket still filling pale with an outline.
//! Only draws: the bars come ready.

use egui::{Id, Ui};
use egui_plot::{Bar, BarChart as PlotBars, Corner, GridMark, Legend, Plot};

use super::colours::StableColours;
use super::format::{axis_number, exact_number, full_time, time_label, value_marks, zone_words};
use crate::engine::chart::bars::BarChart;

/// The share of a category's slot its bars fill.
const GROUP_WIDTH: f64 = 0.8;

pub fn bar_chart_ui(ui: &mut Ui, id_salt: &str, chart: &BarChart) {
    let labels: Vec<(&str, bool)> = chart.series.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    let colours_id = Id::unique("tidepool_series_colours");
    let colours = ui.data_mut(|data| data.get_temp_mut_or_default::<StableColours>(colours_id).assign(&labels));
    let (low, high) = chart.value_range();
    let room = (high - low).abs().max(1.0) * 0.08;
    let (low, high) = (if low < 0.0 { low - room } else { 0.0 }, if high > 0.0 { high + room } else { 0.0 });
    let count = chart.categories.len();
    // Over time, only every so many buckets gets a label (a label needs about six grid steps).
    let spaced = chart.times.is_some();
    let category_marks = move |input: egui_plot::GridInput| {
        let every = if spaced { (input.base_step_size * 6.0).ceil().max(1.0) as usize } else { 1 };
        (0..count).step_by(every).map(|i| GridMark { value: i as f64, step_size: every as f64 }).collect()
    };
    let (tick_names, names) = category_names(chart);
    let category_name = move |mark: GridMark, _: &std::ops::RangeInclusive<f64>| {
        let index = mark.value.round();
        if (mark.value - index).abs() > 1e-6 || index < 0.0 {
            return String::new();
        }
        tick_names.get(index as usize).cloned().unwrap_or_default()
    };
    let category_label = match &chart.times {
        Some(times) => format!("{} ({})", chart.category_label, zone_words(times.utc_offset_seconds)),
        None => chart.category_label.clone(),
    };
    let filling = |category: usize| {
        chart.times.as_ref().is_some_and(|t| t.filling_from.is_some_and(|from| t.starts[category] >= from))
    };
    let count = count as f64;
    let integral = chart.integral;
    let mut plot = Plot::new(id_salt)
        .legend(Legend::default().position(Corner::RightTop).follow_insertion_order(true))
        .label_formatter(|_| None)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_zoom(false)
        .allow_boxed_zoom(false);
    let (category_extent, value_extent) = ((-0.6, count - 0.4), (low, high));
    plot = if chart.horizontal {
        plot.default_y_bounds(category_extent.0, category_extent.1)
            .default_x_bounds(value_extent.0, value_extent.1)
            .y_grid_spacer(category_marks)
            .y_axis_formatter(category_name)
            .x_grid_spacer(move |input| value_marks(input, integral))
            .x_axis_formatter(|mark, _| axis_number(mark.value, mark.step_size))
            .y_axis_label(category_label.clone())
            .x_axis_label(chart.value_label.clone())
            .y_axis_min_width(80.0)
    } else {
        plot.default_x_bounds(category_extent.0, category_extent.1)
            .default_y_bounds(value_extent.0, value_extent.1)
            .x_grid_spacer(category_marks)
            .x_axis_formatter(category_name)
            .y_grid_spacer(move |input| value_marks(input, integral))
            .y_axis_formatter(|mark, _| axis_number(mark.value, mark.step_size))
            .x_axis_label(category_label)
            .y_axis_label(chart.value_label.clone())
            .y_axis_min_width(44.0)
    };
    let bases = chart.bases();
    let width = if chart.stacked { GROUP_WIDTH } else { GROUP_WIDTH / chart.series.len().max(1) as f64 };
    plot.show(ui, |plot| {
        for (index, ((series, colour), bases)) in chart.series.iter().zip(&colours).zip(&bases).enumerate() {
            let colour = if series.is_other { colour.gamma_multiply(0.55) } else { *colour };
            let offset = if chart.stacked { 0.0 } else { (index as f64 + 0.5) * width - GROUP_WIDTH / 2.0 };
            let bars: Vec<Bar> = series
                .values
                .iter()
                .zip(bases)
                .enumerate()
                .filter_map(|(category, (value, base))| {
                    let value = (*value)?;
                    let still_filling = if filling(category) { " (still filling)" } else { "" };
                    let bar =
                        Bar::new(category as f64 + offset, value).base_offset(*base).width(width * 0.95).name(format!(
                            "{} · {}: {}{still_filling}",
                            names[category],
                            series.label,
                            exact_number(value, integral)
                        ));
                    let bar = if filling(category) {
                        bar.fill(colour.gamma_multiply(0.3)).stroke(egui::Stroke::new(1.0, colour))
                    } else {
                        bar.fill(colour)
                    };
                    Some(if chart.horizontal { bar.horizontal() } else { bar })
                })
                .collect();
            let bars = PlotBars::new(series.label.clone(), bars)
                .color(colour)
                .element_formatter(Box::new(|bar, _| bar.name.clone()));
            plot.bar_chart(if chart.horizontal { bars.horizontal() } else { bars });
        }
    });
}

/// Each category's tick label and its full name for tooltips: over time, the
/// bucket's round local time and its full date and time.
fn category_names(chart: &BarChart) -> (Vec<String>, Vec<String>) {
    let Some(times) = &chart.times else { return (chart.categories.clone(), chart.categories.clone()) };
    let offset = times.utc_offset_seconds;
    let ticks = times
        .starts
        .iter()
        .map(|start| {
            let step = crate::engine::chart::bucket_step(times.grain, *start, 1) - start;
            time_label(*start as f64 / 1e6, step as f64 / 1e6, offset)
        })
        .collect();
    let names = times.starts.iter().map(|s| full_time(*s as f64 / 1e6, offset)).collect();
    (ticks, names)
}
