//! Draws a [`Heatmap`]: one cell per row value and column (time bucket or
//! category), its colour from pale to the palette's first colour by the
//! cell's value (from zero), an empty cell left as background with a faint
//! outline, the labels that fit along both sides, a colour scale with its
//! exact ends, and the hovered cell's exact value. Only draws.

use egui::{Align2, Color32, FontId, Rect, Sense, Stroke, Ui, pos2, vec2};

use super::format::{exact_number, full_time, time_label, zone_words};
use crate::engine::chart::heatmap::{HeatColumns, Heatmap};
use crate::engine::chart::{bucket_step, grain_words};

const ROW_LABELS: f32 = 120.0;
const COLUMN_LABELS: f32 = 36.0;
const SCALE: f32 = 28.0;
/// Room a column label needs, so labels are thinned out to fit.
const LABEL_WIDTH: f32 = 64.0;

pub fn heatmap_ui(ui: &mut Ui, _id_salt: &str, map: &Heatmap) {
    let (rect, response) = ui.allocate_exact_size(ui.available_size().max(vec2(240.0, 120.0)), Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    let (text, weak) = (visuals.text_color(), visuals.weak_text_color());
    let (pale, strong) = (visuals.extreme_bg_color, crate::ui::theme::series_colour(0, false));
    let font = FontId::proportional(11.0);
    let grid = Rect::from_min_max(
        pos2(rect.left() + ROW_LABELS, rect.top() + SCALE),
        pos2(rect.right() - 4.0, rect.bottom() - COLUMN_LABELS),
    );
    let (columns, rows) = (map.columns.len().max(1), map.rows.len().max(1));
    let cell = vec2(grid.width() / columns as f32, grid.height() / rows as f32);
    let colour_of = |value: f64| pale.lerp_to_gamma(strong, map.intensity(value) as f32);
    for (r, cells) in map.cells.iter().enumerate() {
        for (c, value) in cells.iter().enumerate() {
            let at = Rect::from_min_size(grid.min + vec2(c as f32 * cell.x, r as f32 * cell.y), cell);
            let _ = match value {
                Some(value) => painter.rect_filled(at.shrink(0.5), 0.0, colour_of(*value)),
                None => painter.rect_stroke(
                    at.shrink(0.5),
                    0.0,
                    Stroke::new(0.5, weak.gamma_multiply(0.3)),
                    egui::StrokeKind::Inside,
                ),
            };
        }
    }
    let row_every = ((14.0 / cell.y).ceil() as usize).max(1);
    for (r, label) in map.rows.iter().enumerate().step_by(row_every) {
        let y = grid.top() + (r as f32 + 0.5) * cell.y;
        painter.text(pos2(grid.left() - 6.0, y), Align2::RIGHT_CENTER, short(label, 18), font.clone(), text);
    }
    let column_every = ((LABEL_WIDTH / cell.x).ceil() as usize).max(1);
    for c in (0..map.columns.len()).step_by(column_every) {
        let x = grid.left() + (c as f32 + 0.5) * cell.x;
        painter.text(
            pos2(x, grid.bottom() + 4.0),
            Align2::CENTER_TOP,
            column_name(map, c, column_every),
            font.clone(),
            text,
        );
    }
    let across = match &map.columns {
        HeatColumns::Times { grain, utc_offset_seconds, .. } => {
            format!("{} per {} ({})", map.column_label, grain_words(*grain), zone_words(*utc_offset_seconds))
        }
        HeatColumns::Categories(_) => map.column_label.clone(),
    };
    painter.text(pos2(grid.center().x, rect.bottom()), Align2::CENTER_BOTTOM, across, font.clone(), weak);
    painter.text(pos2(rect.left(), rect.top()), Align2::LEFT_TOP, &map.row_label, font.clone(), weak);
    if let Some((low, high)) = map.value_range() {
        let low = low.min(0.0);
        let bar = Rect::from_min_size(pos2(grid.right() - 160.0, rect.top() + 4.0), vec2(120.0, 10.0));
        for step in 0..24 {
            let t = f64::from(step) / 23.0;
            let slice = Rect::from_min_size(
                bar.min + vec2(bar.width() * step as f32 / 24.0, 0.0),
                vec2(bar.width() / 24.0 + 0.5, bar.height()),
            );
            painter.rect_filled(slice, 0.0, colour_of(low + (high - low) * t));
        }
        painter.text(
            bar.left_center() - vec2(4.0, 0.0),
            Align2::RIGHT_CENTER,
            exact_number(low, map.integral),
            font.clone(),
            weak,
        );
        painter.text(
            bar.right_center() + vec2(4.0, 0.0),
            Align2::LEFT_CENTER,
            exact_number(high, map.integral),
            font.clone(),
            weak,
        );
        painter.text(bar.left_center() - vec2(60.0, 0.0), Align2::RIGHT_CENTER, &map.value_label, font, weak);
    }
    if let Some(pointer) = response.hover_pos()
        && grid.contains(pointer)
    {
        let c = (((pointer.x - grid.left()) / cell.x) as usize).min(columns - 1);
        let r = (((pointer.y - grid.top()) / cell.y) as usize).min(rows - 1);
        if let Some(row) = map.rows.get(r) {
            let value = map.cells.get(r).and_then(|cells| cells.get(c)).copied().flatten();
            let value = value.map_or_else(|| "no value".to_string(), |v| exact_number(v, map.integral));
            let column = match &map.columns {
                HeatColumns::Times { starts, utc_offset_seconds, .. } => {
                    starts.get(c).map(|s| full_time(*s as f64 / 1e6, *utc_offset_seconds)).unwrap_or_default()
                }
                HeatColumns::Categories(names) => names.get(c).cloned().unwrap_or_default(),
            };
            response.on_hover_text_at_pointer(format!("{row} · {column}\n{}: {value}", map.value_label));
        }
    }
    let _: Color32 = text;
}

/// The label of column `c`, with labels `every` columns apart.
fn column_name(map: &Heatmap, c: usize, every: usize) -> String {
    match &map.columns {
        HeatColumns::Times { grain, starts, utc_offset_seconds } => starts.get(c).map_or_else(String::new, |start| {
            let step = (bucket_step(*grain, *start, every as i64) - start) as f64 / 1e6;
            time_label(*start as f64 / 1e6, step, *utc_offset_seconds)
        }),
        HeatColumns::Categories(names) => names.get(c).map(|name| short(name, 10)).unwrap_or_default(),
    }
}

/// `text` cut to `chars` characters, with an ellipsis when cut.
fn short(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(chars.saturating_sub(3)).collect::<String>())
    }
}
