//! What a heatmap shows: a measure as colour in a grid — one row per value
//! of a report's series field, one column per time bucket (every bucket of
//! the span, so quiet time shows as it is: zero for counts and sums, an empty
//! cell for min/max/mean) or per value of a second field. Rows and categories
//! largest first, "other" last. No egui, no I/O.

use crate::model::reports::Grain;

#[derive(Debug, Clone, PartialEq)]
pub enum HeatColumns {
    /// Bucket starts, µs since the epoch, one per bucket of the span.
    Times {
        grain: Grain,
        starts: Vec<i64>,
        utc_offset_seconds: i32,
    },
    Categories(Vec<String>),
}

impl HeatColumns {
    pub fn len(&self) -> usize {
        match self {
            Self::Times { starts, .. } => starts.len(),
            Self::Categories(names) => names.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub columns: HeatColumns,
    pub column_label: String,
    pub rows: Vec<String>,
    pub row_label: String,
    pub value_label: String,
    pub integral: bool,
    /// `cells[row][column]`; `None`: no value there.
    pub cells: Vec<Vec<Option<f64>>>,
}

impl Heatmap {
    /// The smallest and largest value of any cell.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        self.cells.iter().flatten().flatten().fold(None, |range, &value| match range {
            None => Some((value, value)),
            Some((low, high)) => Some((f64::min(low, value), f64::max(high, value))),
        })
    }

    /// Where `value` lies between the smallest and largest cell, 0–1: from
    /// zero when no value is negative, so twice the colour is twice the value's distance from nothing.
    pub fn intensity(&self, value: f64) -> f64 {
        let Some((low, high)) = self.value_range() else { return 0.0 };
        let low = if low >= 0.0 { 0.0 } else { low };
        if high <= low { 1.0 } else { ((value - low) / (high - low)).clamp(0.0, 1.0) }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // halves are exact
mod tests {
    use super::*;

    #[test]
    fn intensity_runs_from_zero_to_the_largest_cell() {
        let map = Heatmap {
            columns: HeatColumns::Categories(vec!["a".into(), "b".into()]),
            column_label: "c".into(),
            rows: vec!["r".into()],
            row_label: "r".into(),
            value_label: "n".into(),
            integral: true,
            cells: vec![vec![Some(50.0), Some(100.0)], vec![None, Some(75.0)]],
        };
        assert_eq!(map.value_range(), Some((50.0, 100.0)));
        assert_eq!(map.intensity(50.0), 0.5, "half the largest is half the colour, not the palest");
        assert_eq!(map.intensity(100.0), 1.0);
        assert_eq!(map.columns.len(), 2);
    }
}
