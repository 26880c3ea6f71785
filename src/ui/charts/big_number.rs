//! Draws a [`BigNumber`]: the value large and exact (thousands separators,
//! integers for counts), what it is and of which bucket, the change against
//! the bucket before ("up"/"down" and a colour, so it reads without the colour too),
//! and the trend as a small line under it. Only draws.

use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use super::format::{exact_number, full_time};
use crate::engine::chart::big_number::BigNumber;
use crate::engine::chart::grain_words;

const SECONDS: f64 = 1e6;

pub fn big_number_ui(ui: &mut Ui, id_salt: &str, number: &BigNumber) {
    ui.vertical_centered(|ui| {
        let value = number.value.map_or_else(|| "no data".to_string(), |v| exact_number(v, number.integral));
        ui.label(RichText::new(value).size(48.0).strong());
        let Some(over_time) = &number.over_time else {
            ui.weak(&number.label);
            return;
        };
        let trend = &over_time.trend;
        ui.weak(format!(
            "{} in the {} from {}",
            number.label,
            grain_words(trend.grain),
            full_time(over_time.bucket as f64 / SECONDS, trend.utc_offset_seconds)
        ));
        match (number.change(), over_time.previous) {
            (Some(change), Some(previous)) => {
                let (direction, colour) = if change >= 0.0 {
                    ("up", egui::Color32::from_rgb(0x2e, 0x9e, 0x5b))
                } else {
                    ("down", ui.visuals().error_fg_color)
                };
                ui.colored_label(
                    colour,
                    format!(
                        "{direction} {:.1}% against the {} before ({})",
                        change.abs() * 100.0,
                        grain_words(trend.grain),
                        exact_number(previous, number.integral)
                    ),
                );
            }
            _ => {
                ui.weak(format!("no change to compare: the {} before had no value", grain_words(trend.grain)));
            }
        }
        let points: Vec<[f64; 2]> = trend
            .series
            .first()
            .map(|series| trend.runs(series).into_iter().flat_map(|run| run.points))
            .into_iter()
            .flatten()
            .map(|(bucket, value)| [bucket as f64 / SECONDS, value])
            .collect();
        let colour = crate::ui::theme::series_colour(0, false);
        Plot::new(id_salt)
            .height((ui.available_height() - 8.0).clamp(40.0, 120.0))
            .show_axes(false)
            .show_grid(false)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .label_formatter(|_| None)
            .show(ui, |plot| {
                plot.line(Line::new(number.label.clone(), PlotPoints::from(points)).color(colour).width(1.5));
            });
    });
}
