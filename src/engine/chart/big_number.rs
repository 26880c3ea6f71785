//! What a big number shows: one value — a report's only row, or over time
//! its last whole bucket (the one still filling would read low) — with the
//! change against the bucket before and the trend as a small time chart.
//! Prepared off the UI thread; the window only draws it. No egui, no I/O.

use super::{BucketValue, EmptyBuckets, TimeChart, bucket_step};

#[derive(Debug, Clone, PartialEq)]
pub struct BigNumber {
    /// What the number is (the measure's name).
    pub label: String,
    pub value: Option<f64>,
    /// Whole numbers (counts, distinct counts).
    pub integral: bool,
    /// Over time: the bucket the value is of, the one before, and the trend.
    pub over_time: Option<OverTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OverTime {
    /// The start (µs) of the bucket the value is of.
    pub bucket: i64,
    /// The value of the bucket before it.
    pub previous: Option<f64>,
    /// Every bucket of the window, for the sparkline.
    pub trend: TimeChart,
}

impl BigNumber {
    /// The value of the last whole bucket of `trend`'s window (its first
    /// series), an empty one reading as its measure says (zero, or none).
    pub fn of_trend(label: String, trend: TimeChart) -> Self {
        let last_whole = match trend.filling_from {
            Some(filling) if filling <= trend.last_bucket() => bucket_step(trend.grain, filling, -1),
            _ => trend.last_bucket(),
        };
        let value_at = |bucket: i64| {
            if bucket < trend.first_bucket() || bucket > trend.last_bucket() {
                return None;
            }
            match trend.series.first() {
                Some(series) => match trend.value_at(series, bucket)? {
                    BucketValue::Value(value) => Some(value),
                    BucketValue::NoData => None,
                },
                None => (trend.empty == EmptyBuckets::Zero).then_some(0.0),
            }
        };
        let (value, previous) = (value_at(last_whole), value_at(bucket_step(trend.grain, last_whole, -1)));
        let integral = trend.integral;
        Self { label, value, integral, over_time: Some(OverTime { bucket: last_whole, previous, trend }) }
    }

    /// The change from the bucket before, as a share of it (`None` without
    /// both values, or from zero, where a share has no meaning).
    pub fn change(&self) -> Option<f64> {
        let previous = self.over_time.as_ref()?.previous?;
        let value = self.value?;
        (previous != 0.0).then(|| (value - previous) / previous.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::chart::ChartSeries;
    use crate::model::reports::Grain;

    const MINUTE: i64 = 60_000_000;

    fn trend(empty: EmptyBuckets, points: Vec<(i64, f64)>) -> TimeChart {
        TimeChart {
            grain: Grain::Span(crate::model::SpanDuration::from_seconds(60)),
            start_micros: 0,
            end_micros: 10 * MINUTE,
            filling_from: Some(9 * MINUTE),
            empty,
            y_label: "events per 1 min".into(),
            integral: true,
            filled: false,
            utc_offset_seconds: 0,
            series: vec![ChartSeries { label: "events".into(), is_other: false, points }],
        }
    }

    #[test]
    fn the_number_is_the_last_whole_bucket_against_the_one_before() {
        let number = BigNumber::of_trend(
            "events".into(),
            trend(EmptyBuckets::Zero, vec![(7 * MINUTE, 80.0), (8 * MINUTE, 100.0), (9 * MINUTE, 3.0)]),
        );
        assert_eq!(number.value, Some(100.0), "minute 9 is still filling: minute 8 is shown");
        assert_eq!(number.over_time.as_ref().map(|o| (o.bucket, o.previous)), Some((8 * MINUTE, Some(80.0))));
        assert_eq!(number.change(), Some(0.25));
        let quiet = BigNumber::of_trend("events".into(), trend(EmptyBuckets::Zero, vec![(5 * MINUTE, 4.0)]));
        assert_eq!(
            (quiet.value, quiet.change()),
            (Some(0.0), None),
            "a quiet minute counts zero; a change from zero has no share"
        );
        let gap = BigNumber::of_trend("p99".into(), trend(EmptyBuckets::Gap, vec![(7 * MINUTE, 4.0)]));
        assert_eq!(gap.value, None, "an extreme of nothing is no value");
    }
}
