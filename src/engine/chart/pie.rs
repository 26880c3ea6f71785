//! What a pie (or donut) shows: the parts of one whole — a slice per value
//! of a report's field, sized by its share of the total. Only a measure that
//! adds up (a count or a sum) has parts that make a whole; the report's checks
//! refuse the others, and a negative part is refused here. Largest slice
//! first, clockwise from twelve o'clock; past [`NAMED_SLICES`] the smallest
//! are merged into one quieter "other" slice that says how many values it
//! holds (a pie of thirty slivers reads as nothing). No egui, no I/O.

use std::f64::consts::TAU;

/// Slices with a name and a colour of their own; the rest are "other".
pub const NAMED_SLICES: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub label: String,
    pub value: f64,
    /// Of the total, 0–1.
    pub share: f64,
    /// The merge of the smallest values (or of a report's own "other").
    pub is_other: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PieChart {
    /// What the slices measure.
    pub value_label: String,
    /// What the slices are (the field's name).
    pub category_label: String,
    pub total: f64,
    /// Whole numbers (counts): integer values.
    pub integral: bool,
    /// Drawn as a ring, the total in the middle.
    pub donut: bool,
    /// Largest first, "other" last.
    pub slices: Vec<Slice>,
}

impl PieChart {
    /// The chart of `parts` (label, value, whether it is a report's own
    /// "other"); refused when a part is negative.
    pub fn of(
        parts: Vec<(String, f64, bool)>,
        value_label: String,
        category_label: String,
        integral: bool,
        donut: bool,
    ) -> Result<Self, String> {
        if let Some((label, value, _)) = parts.iter().find(|(_, value, _)| *value < 0.0) {
            return Err(format!(
                "a pie shows parts of a whole, and `{label}` has {value} of {value_label}: draw bars instead"
            ));
        }
        let mut parts: Vec<(String, f64, bool)> = parts.into_iter().filter(|(_, value, _)| *value > 0.0).collect();
        parts.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.total_cmp(&a.1)));
        let total: f64 = parts.iter().map(|(_, value, _)| value).sum();
        let mut other: Option<(usize, f64)> = None;
        let mut slices = Vec::new();
        for (index, (label, value, is_other)) in parts.into_iter().enumerate() {
            if is_other || index >= NAMED_SLICES {
                let merged = usize::from(!is_other);
                other = Some(other.map_or((merged, value), |(count, sum)| (count + merged, sum + value)));
            } else {
                slices.push(Slice { label, value, share: value / total, is_other: false });
            }
        }
        if let Some((merged, value)) = other {
            let label = if merged == 0 { "other".to_string() } else { format!("other ({merged} values)") };
            slices.push(Slice { label, value, share: value / total, is_other: true });
        }
        Ok(Self { value_label, category_label, total, integral, donut, slices })
    }

    /// The pie of the slices `keep` keeps, their shares of what is left (a
    /// legend click hides a slice; the rest then share out the shown total).
    #[must_use]
    pub fn keeping(&self, keep: impl Fn(&Slice) -> bool) -> Self {
        let slices: Vec<Slice> = self.slices.iter().filter(|slice| keep(slice)).cloned().collect();
        let total: f64 = slices.iter().map(|slice| slice.value).sum();
        let slices = slices.into_iter().map(|slice| Slice { share: slice.value / total, ..slice }).collect();
        Self { total, slices, ..self.clone() }
    }

    /// Where each slice starts and ends, in radians clockwise from twelve o'clock.
    pub fn angles(&self) -> Vec<(f64, f64)> {
        let mut start = 0.0;
        self.slices
            .iter()
            .map(|slice| {
                let end = start + slice.share * TAU;
                let span = (start, end);
                start = end;
                span
            })
            .collect()
    }

    /// The slice at `angle` (radians clockwise from twelve o'clock).
    pub fn slice_at(&self, angle: f64) -> Option<usize> {
        let angle = angle.rem_euclid(TAU);
        self.angles().iter().position(|(start, end)| angle >= *start && angle < *end)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // shares of round numbers are exact
mod tests {
    use super::*;

    fn parts(values: &[(&str, f64)]) -> Vec<(String, f64, bool)> {
        values.iter().map(|(label, value)| ((*label).to_string(), *value, false)).collect()
    }

    #[test]
    fn slices_are_shares_of_the_total_largest_first_and_fill_the_circle() {
        let pie = PieChart::of(
            parts(&[("FR", 25.0), ("DE", 50.0), ("IT", 0.0), ("US", 25.0)]),
            "n".into(),
            "c".into(),
            true,
            false,
        )
        .unwrap();
        assert_eq!(pie.total, 100.0);
        let labels: Vec<&str> = pie.slices.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["DE", "FR", "US"], "largest first, an empty part has no slice");
        assert_eq!(pie.slices[0].share, 0.5);
        let angles = pie.angles();
        assert!((angles[0].1 - std::f64::consts::PI).abs() < 1e-12, "half the circle");
        assert!((angles[2].1 - TAU).abs() < 1e-12, "the slices close the circle");
        assert_eq!(pie.slice_at(0.1), Some(0));
        assert_eq!(pie.slice_at(std::f64::consts::PI + 0.1), Some(1));
        assert_eq!(pie.slice_at(-0.1), Some(2), "just before twelve o'clock is the last slice");
    }

    #[test]
    fn past_the_named_slices_the_smallest_merge_into_other_with_their_count() {
        let values: Vec<(String, f64, bool)> = (0..12)
            .map(|i| (format!("v{i}"), f64::from(100 - i), false))
            .chain([("other".into(), 7.0, true)])
            .collect();
        let pie = PieChart::of(values, "n".into(), "c".into(), true, true).unwrap();
        assert_eq!(pie.slices.len(), NAMED_SLICES + 1);
        let other = pie.slices.last().unwrap();
        assert!(other.is_other);
        assert_eq!(other.label, "other (4 values)", "the report's own other merges in uncounted");
        assert_eq!(other.value, f64::from(92 + 91 + 90 + 89) + 7.0);
        let shares: f64 = pie.slices.iter().map(|s| s.share).sum();
        assert!((shares - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hiding_a_slice_shares_the_rest_out_of_what_is_shown() {
        let pie = PieChart::of(parts(&[("DE", 50.0), ("FR", 30.0), ("US", 20.0)]), "n".into(), "c".into(), true, false)
            .unwrap();
        let shown = pie.keeping(|slice| slice.label != "DE");
        assert_eq!(shown.total, 50.0);
        let shares: Vec<(&str, f64)> = shown.slices.iter().map(|s| (s.label.as_str(), s.share)).collect();
        assert_eq!(shares, [("FR", 0.6), ("US", 0.4)]);
        assert_eq!(pie.slices.len(), 3, "the pie itself is unchanged");
    }

    #[test]
    fn a_negative_part_is_refused_by_name() {
        let err = PieChart::of(parts(&[("DE", 5.0), ("refunds", -2.0)]), "revenue".into(), "c".into(), false, false)
            .unwrap_err();
        assert!(err.contains("`refunds` has -2 of revenue"), "{err}");
    }
}
