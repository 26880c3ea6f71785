//! Numbers and times as charts write them: axis ticks compact (`12k`,
//! `1.2M`) with as many decimals as the tick step needs, exact values with
//! thousands separators (integers for counts), and time ticks on round
//! local times with labels as precise as their step. Pure functions.

use egui_plot::{GridInput, GridMark};

use crate::ui::session::group_digits;

/// An axis tick: compact above ten thousand, as many decimals as `step` needs.
pub fn axis_number(value: f64, step: f64) -> String {
    let magnitude = value.abs().max(step.abs());
    let (divisor, suffix) = if magnitude >= 1e9 {
        (1e9, "B")
    } else if magnitude >= 1e6 {
        (1e6, "M")
    } else if magnitude >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let scaled_step = (step / divisor).abs();
    let decimals =
        if scaled_step >= 1.0 || scaled_step == 0.0 { 0 } else { ((-scaled_step.log10()).ceil() as usize).min(6) };
    let scaled = value / divisor;
    if decimals == 0 && suffix.is_empty() {
        return signed_grouped(scaled.round());
    }
    let text = format!("{scaled:.decimals$}");
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        return "0".to_string();
    }
    format!("{text}{suffix}")
}

/// An exact value: thousands separators; counts as integers, other values
/// with two decimals (three significant digits below one).
pub fn exact_number(value: f64, integral: bool) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if integral || (value.fract() == 0.0 && value.abs() < 1e15) {
        return signed_grouped(value.round());
    }
    if value.abs() >= 1.0 {
        let whole = signed_grouped(value.trunc());
        let decimals = format!("{:.2}", value.abs().fract());
        // `0.995` rounds to `1.00`: fall back to plain rounding then.
        if let Some(fraction) = decimals.strip_prefix("0.") {
            return format!("{whole}.{fraction}");
        }
        let rounded = (value * 100.0).round() / 100.0;
        return format!("{}.00", signed_grouped(rounded));
    }
    let significant = 3 - 1 - value.abs().log10().floor() as i32;
    format!("{value:.*}", significant.clamp(0, 12) as usize)
}

fn signed_grouped(whole: f64) -> String {
    let digits = group_digits(whole.abs() as u64);
    if whole < 0.0 { format!("-{digits}") } else { digits }
}

/// Round steps for a time axis, in seconds.
const TIME_STEPS: [f64; 24] = [
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1_800.0,
    3_600.0,
    7_200.0,
    10_800.0,
    21_600.0,
    43_200.0,
    86_400.0,
    172_800.0,
    604_800.0,
    1_209_600.0,
    2_592_000.0,
    7_776_000.0,
    31_536_000.0,
];

/// Grid marks of a time axis (seconds since the epoch) on round local times:
/// the smallest round step at least `base_step_size`, each mark sized by the
/// coarsest round step it falls on (thicker lines, and the labels that fit:
/// a week of hourly marks still labels its midnights).
pub fn time_marks(input: &GridInput, utc_offset_seconds: i32) -> Vec<GridMark> {
    let first = TIME_STEPS.iter().position(|step| *step >= input.base_step_size).unwrap_or(TIME_STEPS.len() - 1);
    let steps: Vec<f64> = TIME_STEPS[first..].to_vec();
    let offset = f64::from(utc_offset_seconds);
    let (low, high) = input.bounds;
    let finest = steps[0];
    let mut marks = Vec::new();
    let mut local = ((low + offset) / finest).ceil() * finest;
    while local <= high + offset && marks.len() < 2_000 {
        let step_size = steps.iter().rev().copied().find(|step| (local / step).fract().abs() < 1e-9).unwrap_or(finest);
        marks.push(GridMark { value: local - offset, step_size });
        local += finest;
    }
    marks
}

/// The label of a time tick: seconds only when ticks are seconds apart, the
/// date only when ticks are a day or more apart or the day changes there.
pub fn time_label(seconds: f64, step: f64, utc_offset_seconds: i32) -> String {
    let Some(time) = local_time(seconds, utc_offset_seconds) else { return String::new() };
    let midnight = time.time() == chrono::NaiveTime::MIN;
    if step >= 86_400.0 || midnight {
        time.format("%b %-d").to_string()
    } else if step < 60.0 {
        time.format("%H:%M:%S").to_string()
    } else {
        time.format("%H:%M").to_string()
    }
}

/// A moment in full, for tooltips: `2026-12-03 14:05:10 UTC+01:00`.
pub fn full_time(seconds: f64, utc_offset_seconds: i32) -> String {
    local_time(seconds, utc_offset_seconds).map_or_else(String::new, |time| {
        format!("{} {}", time.format("%Y-%m-%d %H:%M:%S"), zone_words(utc_offset_seconds))
    })
}

/// A time zone offset in words: `UTC`, `UTC+01:00`, `UTC-05:30`.
pub fn zone_words(utc_offset_seconds: i32) -> String {
    if utc_offset_seconds == 0 {
        return "UTC".to_string();
    }
    let sign = if utc_offset_seconds < 0 { '-' } else { '+' };
    let minutes = utc_offset_seconds.unsigned_abs() / 60;
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

fn local_time(seconds: f64, utc_offset_seconds: i32) -> Option<chrono::NaiveDateTime> {
    let utc = chrono::DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)?;
    let offset = chrono::FixedOffset::east_opt(utc_offset_seconds)?;
    Some(utc.with_timezone(&offset).naive_local())
}

/// Marks of a value axis in powers of ten; whole numbers only when the values are.
pub fn value_marks(input: GridInput, integral: bool) -> Vec<GridMark> {
    let marks = (egui_plot::log_grid_spacer(10))(input);
    if integral { marks.into_iter().filter(|mark| mark.value.fract() == 0.0).collect() } else { marks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ticks_are_compact_and_as_precise_as_their_step() {
        assert_eq!(axis_number(1_700_000.0, 100_000.0), "1.7M");
        assert_eq!(axis_number(2_000_000.0, 1_000_000.0), "2M");
        assert_eq!(axis_number(12_000.0, 2_000.0), "12k");
        assert_eq!(axis_number(2_500.0, 500.0), "2,500");
        assert_eq!(axis_number(0.25, 0.05), "0.25");
        assert_eq!(axis_number(0.0, 100_000.0), "0");
        assert_eq!(axis_number(-3_000_000.0, 1_000_000.0), "-3M");
        assert_eq!(axis_number(3.0e9, 1.0e9), "3B");
    }

    #[test]
    fn exact_values_have_separators_and_counts_no_decimals() {
        assert_eq!(exact_number(2535.0, true), "2,535");
        assert_eq!(exact_number(1_700_000.0, true), "1,700,000");
        assert_eq!(exact_number(12_345.678, false), "12,345.68");
        assert_eq!(exact_number(-12_345.5, false), "-12,345.50");
        assert_eq!(exact_number(0.012_345, false), "0.0123");
        assert_eq!(exact_number(99.999, false), "100.00");
        assert_eq!(exact_number(42.0, false), "42");
    }

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        // 5 minutes of axis at ~40 s per mark width: ticks every minute.
        let start = 1_764_770_000.0;
        let marks = time_marks(&GridInput { bounds: (start, start + 300.0), base_step_size: 40.0 }, 3_600);
        assert!(!marks.is_empty());
        for mark in &marks {
            assert_eq!((mark.value as i64 + 3_600) % 60, 0, "on whole minutes");
            assert!(mark.value >= start && mark.value <= start + 300.0);
        }
        assert!(marks.iter().any(|mark| mark.step_size > 60.0), "coarser marks are thicker");
        let hours = time_marks(&GridInput { bounds: (0.0, 86_400.0), base_step_size: 3_000.0 }, 19_800);
        for mark in &hours {
            assert_eq!((mark.value as i64 + 19_800) % 3_600, 0, "whole local hours in UTC+05:30");
        }
    }

    #[test]
    fn time_labels_and_zones() {
        assert_eq!(time_label(3_600.0 * 14.0 + 5.0, 5.0, 0), "14:00:05");
        assert_eq!(time_label(3_600.0 * 14.0, 3_600.0, 3_600), "15:00");
        assert_eq!(time_label(86_400.0, 3_600.0, 0), "Jan 2", "midnight shows the date");
        assert_eq!(zone_words(0), "UTC");
        assert_eq!(zone_words(3_600), "UTC+01:00");
        assert_eq!(zone_words(-19_800), "UTC-05:30");
        assert_eq!(full_time(0.0, 3_600), "1970-01-01 01:00:00 UTC+01:00");
    }

    #[test]
    fn integer_axes_have_no_fractional_ticks() {
        let marks = value_marks(GridInput { bounds: (0.0, 3.0), base_step_size: 0.01 }, true);
        assert!(!marks.is_empty());
        assert!(marks.iter().all(|mark| mark.value.fract() == 0.0));
    }
}
