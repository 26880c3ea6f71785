//! What a bar chart shows: one bar per category (the values of a report's
//! field, or every time bucket of the span), side by side or stacked per
//! series, always from zero (a bar that starts elsewhere misstates its size).
//! Prepared off the UI thread; the window only draws it. No egui, no I/O.

use crate::model::reports::Grain;

/// One series of bars: a value (or none) per category.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    pub label: String,
    /// The merge of the values outside the top N, drawn quieter.
    pub is_other: bool,
    /// Aligned with [`BarChart::categories`]; `None`: no bar there.
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Along the category axis, in order.
    pub categories: Vec<String>,
    /// When the categories are time buckets: their starts (µs since the
    /// epoch, aligned with `categories`), for the axis to label as times.
    pub times: Option<BarTimes>,
    /// What the categories are (the field's name).
    pub category_label: String,
    /// What the bars measure.
    pub value_label: String,
    /// Whole numbers (counts, distinct counts): integer ticks and values.
    pub integral: bool,
    pub stacked: bool,
    pub horizontal: bool,
    /// Largest first, "other" last.
    pub series: Vec<BarSeries>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BarTimes {
    pub grain: Grain,
    pub starts: Vec<i64>,
    pub utc_offset_seconds: i32,
    /// Buckets starting at or after this are still filling.
    pub filling_from: Option<i64>,
}

impl BarChart {
    /// Where each series' bar starts in each category: zero side by side;
    /// stacked, on the series before it (positive values up from the positive
    /// ones, negative down from the negative ones).
    pub fn bases(&self) -> Vec<Vec<f64>> {
        let mut above = vec![0.0; self.categories.len()];
        let mut below = vec![0.0; self.categories.len()];
        self.series
            .iter()
            .map(|series| {
                series
                    .values
                    .iter()
                    .enumerate()
                    .map(|(category, value)| {
                        let value = value.unwrap_or(0.0);
                        if !self.stacked {
                            return 0.0;
                        }
                        let stack = if value >= 0.0 { &mut above[category] } else { &mut below[category] };
                        let base = *stack;
                        *stack += value;
                        base
                    })
                    .collect()
            })
            .collect()
    }

    /// The smallest and largest value the axis must show, zero included.
    pub fn value_range(&self) -> (f64, f64) {
        let bases = self.bases();
        let ends = self.series.iter().zip(&bases).flat_map(|(series, bases)| {
            series.values.iter().zip(bases).filter_map(|(value, base)| value.map(|v| base + v))
        });
        ends.fold((0.0_f64, 0.0_f64), |(low, high), end| (low.min(end), high.max(end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(stacked: bool) -> BarChart {
        let series = |label: &str, values: &[Option<f64>]| BarSeries {
            label: label.into(),
            is_other: false,
            values: values.to_vec(),
        };
        BarChart {
            times: None,
            categories: vec!["a".into(), "b".into()],
            category_label: "field".into(),
            value_label: "revenue".into(),
            integral: false,
            stacked,
            horizontal: false,
            series: vec![
                series("x", &[Some(3.0), Some(-1.0)]),
                series("y", &[Some(2.0), Some(-4.0)]),
                series("z", &[None, Some(5.0)]),
            ],
        }
    }

    #[test]
    fn stacked_bars_start_on_the_ones_below_and_negative_ones_hang_down() {
        let stacked = chart(true);
        assert_eq!(stacked.bases(), [vec![0.0, 0.0], vec![3.0, -1.0], vec![5.0, 0.0]]);
        assert_eq!(stacked.value_range(), (-5.0, 5.0));
        let side_by_side = chart(false);
        assert!(side_by_side.bases().iter().flatten().all(|base| *base == 0.0));
        assert_eq!(side_by_side.value_range(), (-4.0, 5.0), "from zero, whatever the values");
    }
}
