//! What a time chart shows, prepared off the UI thread and shared by the
//! stream view and reports: series of `(bucket start, value)` points over a
//! window, how an empty bucket reads (zero for counts and sums, a gap for
//! extremes, means and quantiles), which bucket is still filling, and the
//! axis wording. The window only draws it (`ui::charts`), splitting the
//! points into [`Run`]s with [`TimeChart::runs`]. A report may instead be
//! drawn as bars (`bars.rs`) or one number with its trend (`big_number.rs`):
//! [`ReportChart`]. No egui, no I/O.

pub mod bars;
pub mod big_number;
pub mod heatmap;
pub mod pie;
pub mod pivot;
pub mod scatter;

use chrono::{DateTime, Datelike, NaiveDate};

use crate::model::reports::Grain;
use crate::model::workbook::{MetricKind, MetricSpec};

/// How a bucket without rows reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyBuckets {
    /// Nothing happened there: zero (counts, sums, distinct counts).
    Zero,
    /// Nothing to measure there: a gap in the line (min, max, mean, first, last, quantiles).
    Gap,
}

impl EmptyBuckets {
    /// The rule for a rollup metric of this kind.
    pub fn of_metric(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Count | MetricKind::Sum | MetricKind::ApproxDistinct => Self::Zero,
            MetricKind::Min
            | MetricKind::Max
            | MetricKind::Mean
            | MetricKind::First
            | MetricKind::Last
            | MetricKind::Quantiles => Self::Gap,
        }
    }
}

/// One line of a chart (computed from a rollup by the rollup crate's series).
pub use crate::engine::rollup::series::ChartSeries;

/// A time chart, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeChart {
    pub grain: Grain,
    /// The x-axis is the chosen window: from here (µs since the epoch)…
    pub start_micros: i64,
    /// …to here (excluded).
    pub end_micros: i64,
    /// Buckets starting at or after this are still filling.
    pub filling_from: Option<i64>,
    pub empty: EmptyBuckets,
    /// What the y-axis measures, per how much time ("events per 10 s").
    pub y_label: String,
    /// Whole numbers (counts, distinct counts): integer ticks and values.
    pub integral: bool,
    /// Areas (filled down to zero) instead of lines.
    pub filled: bool,
    /// The local time zone's offset from UTC when the chart was made, for the x-axis.
    pub utc_offset_seconds: i32,
    /// Largest first, "other" last.
    pub series: Vec<ChartSeries>,
}

/// How a report is drawn: over time, as bars per category, or as one number.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportChart {
    Time(TimeChart),
    Bars(bars::BarChart),
    Number(big_number::BigNumber),
    Pie(pie::PieChart),
    Scatter(scatter::ScatterChart),
    Heatmap(heatmap::Heatmap),
    Pivot(pivot::PivotTable),
}

impl ReportChart {
    pub fn as_time(&self) -> Option<&TimeChart> {
        match self {
            Self::Time(chart) => Some(chart),
            _ => None,
        }
    }
}

/// A stretch of line without gaps: `(bucket µs, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub points: Vec<(i64, f64)>,
    /// The stretch into buckets still filling (drawn dashed).
    pub filling: bool,
}

/// What a bucket of a series holds at a point in time, for tooltips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BucketValue {
    Value(f64),
    /// An empty bucket of a metric whose empty buckets are gaps.
    NoData,
}

impl TimeChart {
    /// A chart of one stream metric over `[start, end)`, the bucket holding
    /// `now` still filling.
    pub fn of_metric(
        metric: &MetricSpec,
        granularity_seconds: i64,
        (start_micros, end_micros): (i64, i64),
        now_micros: i64,
        series: Vec<ChartSeries>,
    ) -> Self {
        let grain = Grain::Span(crate::model::SpanDuration::from_seconds(granularity_seconds));
        let measured = match metric.kind {
            MetricKind::Count => metric.name.clone(),
            MetricKind::Quantiles => {
                let rank = metric.quantiles.first().map_or_else(|| "p50".to_string(), |rank| rank.label());
                format!("{} ({rank})", metric.name)
            }
            MetricKind::ApproxDistinct => format!("{} (distinct)", metric.name),
            kind => format!("{} ({kind})", metric.name),
        };
        Self {
            grain,
            start_micros,
            end_micros,
            filling_from: Some(bucket_floor(grain, now_micros)),
            empty: EmptyBuckets::of_metric(metric.kind),
            y_label: format!("{measured} per {}", grain_words(grain)),
            integral: matches!(metric.kind, MetricKind::Count | MetricKind::ApproxDistinct),
            filled: false,
            utc_offset_seconds: local_utc_offset_seconds(now_micros),
            series,
        }
    }

    /// The first bucket on the x-axis.
    pub fn first_bucket(&self) -> i64 {
        first_whole_bucket(self.grain, self.start_micros)
    }

    /// The last bucket on the x-axis (the one holding its end).
    pub fn last_bucket(&self) -> i64 {
        bucket_floor(self.grain, self.end_micros - 1)
    }

    /// The bucket holding `micros`.
    pub fn bucket_of(&self, micros: i64) -> i64 {
        bucket_floor(self.grain, micros)
    }

    /// Whether `bucket` is still filling.
    pub fn is_filling(&self, bucket: i64) -> bool {
        self.filling_from.is_some_and(|from| bucket >= from)
    }

    /// The stretches to draw for `series`: empty buckets as zeros or as gaps,
    /// and the stretch into the buckets still filling on its own.
    pub fn runs(&self, series: &ChartSeries) -> Vec<Run> {
        let points = match self.empty {
            EmptyBuckets::Zero => self.zero_filled(&series.points),
            EmptyBuckets::Gap => series.points.clone(),
        };
        let mut stretches: Vec<Vec<(i64, f64)>> = Vec::new();
        for point in points {
            match stretches.last_mut() {
                // Zero-filled points are continuous: a quiet stretch is its two end points.
                Some(stretch)
                    if self.empty == EmptyBuckets::Zero
                        || stretch.last().is_some_and(|last| bucket_step(self.grain, last.0, 1) >= point.0) =>
                {
                    stretch.push(point);
                }
                _ => stretches.push(vec![point]),
            }
        }
        let mut runs = Vec::with_capacity(stretches.len() + 1);
        for stretch in stretches {
            let filling_at = stretch.iter().position(|(bucket, _)| self.is_filling(*bucket));
            match filling_at {
                None => runs.push(Run { points: stretch, filling: false }),
                Some(0) => runs.push(Run { points: stretch, filling: true }),
                Some(at) => {
                    runs.push(Run { points: stretch[..at].to_vec(), filling: false });
                    runs.push(Run { points: stretch[at - 1..].to_vec(), filling: true });
                }
            }
        }
        runs
    }

    /// `points` with the empty buckets of the window as zeros: only the first
    /// and last bucket of each empty stretch is added, so a long quiet time
    /// costs two points.
    fn zero_filled(&self, points: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let mut out = Vec::with_capacity(points.len() + 4);
        let mut expected = self.first_bucket();
        let add_zeros_before = |out: &mut Vec<(i64, f64)>, expected: i64, next: i64| {
            if next > expected {
                out.push((expected, 0.0));
                let before = bucket_step(self.grain, next, -1);
                if before > expected {
                    out.push((before, 0.0));
                }
            }
        };
        for &(bucket, value) in points {
            add_zeros_before(&mut out, expected, bucket);
            out.push((bucket, value));
            expected = expected.max(bucket_step(self.grain, bucket, 1));
        }
        let end = bucket_step(self.grain, self.last_bucket(), 1);
        add_zeros_before(&mut out, expected, end);
        out
    }

    /// What `series` holds in `bucket`, or `None` outside the window (and
    /// outside its data when empty buckets are gaps).
    pub fn value_at(&self, series: &ChartSeries, bucket: i64) -> Option<BucketValue> {
        match series.points.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(index) => Some(BucketValue::Value(series.points[index].1)),
            Err(_) if bucket < self.first_bucket() || bucket > self.last_bucket() => None,
            Err(_) => Some(match self.empty {
                EmptyBuckets::Zero => BucketValue::Value(0.0),
                EmptyBuckets::Gap => BucketValue::NoData,
            }),
        }
    }

    /// The largest and smallest value drawn (zeros of empty buckets included).
    pub fn value_range(&self) -> Option<(f64, f64)> {
        let values = self.series.iter().flat_map(|series| series.points.iter().map(|(_, value)| *value));
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)));
        if low > high {
            return None;
        }
        Some(if self.empty == EmptyBuckets::Zero { (low.min(0.0), high.max(0.0)) } else { (low, high) })
    }
}

/// The start of the bucket of `grain` holding `micros` (UTC; weeks start on
/// Mondays, months on the first), as Polars truncates.
pub fn bucket_floor(grain: Grain, micros: i64) -> i64 {
    match grain {
        Grain::Span(span) => {
            let width = span.micros().max(1);
            micros.div_euclid(width) * width
        }
        Grain::Weeks(weeks) => {
            // 1970-01-01 was a Thursday: Mondays are 3 days before multiples of 7 days.
            let width = i64::from(weeks.max(1)) * 7 * DAY_MICROS;
            let monday = -3 * DAY_MICROS;
            (micros - monday).div_euclid(width) * width + monday
        }
        Grain::Months(months) => {
            let index = month_index(micros);
            let months = i64::from(months.max(1));
            month_start(index.div_euclid(months) * months)
        }
    }
}

/// The first bucket of `grain` starting at or after `micros` (the first one
/// a span starting there holds whole).
pub fn first_whole_bucket(grain: Grain, micros: i64) -> i64 {
    let floor = bucket_floor(grain, micros);
    if floor < micros { bucket_step(grain, floor, 1) } else { floor }
}

/// The start of the bucket `steps` buckets after (or, negative, before) the
/// bucket starting at `bucket`.
pub fn bucket_step(grain: Grain, bucket: i64, steps: i64) -> i64 {
    match grain {
        Grain::Span(span) => bucket.saturating_add(span.micros().max(1).saturating_mul(steps)),
        Grain::Weeks(weeks) => bucket.saturating_add(i64::from(weeks.max(1)) * 7 * DAY_MICROS * steps),
        Grain::Months(months) => month_start(month_index(bucket) + i64::from(months.max(1)) * steps),
    }
}

/// A grain in words for an axis: "10 s", "1 min", "1 h", "1 day", "1 week", "3 months".
pub fn grain_words(grain: Grain) -> String {
    match grain {
        Grain::Span(span) => {
            let seconds = span.seconds();
            for (unit, size) in [("day", 86_400), ("h", 3_600), ("min", 60)] {
                if seconds >= size && seconds % size == 0 {
                    let count = seconds / size;
                    let plural = if unit == "day" && count > 1 { "s" } else { "" };
                    return format!("{count} {unit}{plural}");
                }
            }
            format!("{seconds} s")
        }
        Grain::Weeks(1) => "1 week".to_string(),
        Grain::Weeks(n) => format!("{n} weeks"),
        Grain::Months(1) => "1 month".to_string(),
        Grain::Months(3) => "quarter".to_string(),
        Grain::Months(n) => format!("{n} months"),
    }
}

/// The local time zone's offset from UTC at `micros` (0 when unknown).
pub fn local_utc_offset_seconds(micros: i64) -> i32 {
    DateTime::from_timestamp_micros(micros)
        .map_or(0, |utc| utc.with_timezone(&chrono::Local).offset().local_minus_utc())
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Months since January 1970 of the UTC date holding `micros`.
fn month_index(micros: i64) -> i64 {
    let date = DateTime::from_timestamp_micros(micros).unwrap_or_default().date_naive();
    i64::from(date.year() - 1970) * 12 + i64::from(date.month0())
}

fn month_start(index: i64) -> i64 {
    let year = i32::try_from(1970 + index.div_euclid(12)).unwrap_or(i32::MAX);
    let month = u32::try_from(index.rem_euclid(12)).unwrap_or(0) + 1;
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map_or(i64::MAX, |start| start.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpanDuration;

    const S: i64 = 1_000_000;

    fn chart(empty: EmptyBuckets, points: Vec<(i64, f64)>) -> TimeChart {
        TimeChart {
            grain: Grain::Span(SpanDuration::from_seconds(10)),
            start_micros: 0,
            end_micros: 100 * S,
            filling_from: Some(90 * S),
            empty,
            y_label: "events per 10 s".into(),
            integral: true,
            filled: false,
            utc_offset_seconds: 0,
            series: vec![ChartSeries { label: "events".into(), is_other: false, points }],
        }
    }

    #[test]
    fn empty_buckets_of_counts_are_zero_across_the_whole_window() {
        let chart = chart(EmptyBuckets::Zero, vec![(30 * S, 5.0), (40 * S, 7.0), (70 * S, 2.0)]);
        let runs = chart.runs(&chart.series[0]);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(
            runs[0].points,
            vec![
                (0, 0.0),
                (20 * S, 0.0),
                (30 * S, 5.0),
                (40 * S, 7.0),
                (50 * S, 0.0),
                (60 * S, 0.0),
                (70 * S, 2.0),
                (80 * S, 0.0)
            ],
            "the line drops to zero in the quiet buckets instead of a straight ramp from 40 s to 70 s"
        );
        assert!(!runs[0].filling);
        assert_eq!(runs[1].points, vec![(80 * S, 0.0), (90 * S, 0.0)], "the bucket still filling is its own stretch");
        assert!(runs[1].filling);
        assert_eq!(chart.value_at(&chart.series[0], 50 * S), Some(BucketValue::Value(0.0)));
        assert_eq!(chart.value_at(&chart.series[0], 40 * S), Some(BucketValue::Value(7.0)));
        assert_eq!(chart.value_at(&chart.series[0], 200 * S), None);
    }

    #[test]
    fn empty_buckets_of_extremes_are_gaps() {
        let chart =
            chart(EmptyBuckets::Gap, vec![(30 * S, 5.0), (40 * S, 7.0), (70 * S, 2.0), (80 * S, 3.0), (90 * S, 1.0)]);
        let runs = chart.runs(&chart.series[0]);
        let stretches: Vec<(Vec<i64>, bool)> =
            runs.iter().map(|run| (run.points.iter().map(|(b, _)| b / S).collect(), run.filling)).collect();
        assert_eq!(stretches, vec![(vec![30, 40], false), (vec![70, 80], false), (vec![80, 90], true)]);
        assert_eq!(chart.value_at(&chart.series[0], 50 * S), Some(BucketValue::NoData));
    }

    #[test]
    fn a_lone_late_event_far_before_the_rest_stays_alone() {
        let chart = chart(EmptyBuckets::Gap, vec![(0, 1.0), (60 * S, 9.0), (70 * S, 9.0)]);
        let runs = chart.runs(&chart.series[0]);
        assert_eq!(runs[0].points, vec![(0, 1.0)], "no line from the lone point to the others");
        assert_eq!(runs[1].points.len(), 2);
    }

    #[test]
    fn a_window_not_on_a_bucket_boundary_starts_at_the_first_whole_bucket() {
        let mut chart = chart(EmptyBuckets::Zero, vec![(50 * S, 1.0)]);
        chart.start_micros = 25 * S;
        chart.end_micros = 61 * S;
        chart.filling_from = Some(60 * S);
        assert_eq!(chart.first_bucket(), 30 * S);
        assert_eq!(chart.last_bucket(), 60 * S);
        let runs = chart.runs(&chart.series[0]);
        assert_eq!(runs[0].points, vec![(30 * S, 0.0), (40 * S, 0.0), (50 * S, 1.0)]);
        assert_eq!(runs[1].points, vec![(50 * S, 1.0), (60 * S, 0.0)]);
    }

    #[test]
    fn calendar_grains_floor_and_step_like_polars() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().timestamp_micros();
        let wednesday = at("2026-12-02T15:30:00Z");
        assert_eq!(bucket_floor(Grain::Weeks(1), wednesday), at("2026-11-30T00:00:00Z"), "weeks start on Monday");
        assert_eq!(bucket_floor(Grain::Months(1), wednesday), at("2026-12-01T00:00:00Z"));
        assert_eq!(bucket_floor(Grain::Months(3), wednesday), at("2026-10-01T00:00:00Z"), "quarters");
        assert_eq!(bucket_step(Grain::Months(1), at("2026-12-01T00:00:00Z"), 1), at("2027-01-01T00:00:00Z"));
        assert_eq!(bucket_step(Grain::Months(1), at("2026-03-01T00:00:00Z"), -1), at("2026-02-01T00:00:00Z"));
        assert_eq!(bucket_floor(Grain::Weeks(1), at("1969-12-28T12:00:00Z")), at("1969-12-22T00:00:00Z"));
    }

    #[test]
    fn the_y_axis_says_what_and_per_how_long() {
        let metric = |kind, name: &str| MetricSpec {
            name: name.into(),
            kind,
            field: None,
            quantiles: vec![crate::model::workbook::QuantileRank::from_fraction(0.9).unwrap()],
        };
        let chart = |spec: &MetricSpec| TimeChart::of_metric(spec, 10, (0, 60 * S), 55 * S, Vec::new());
        assert_eq!(chart(&metric(MetricKind::Count, "events")).y_label, "events per 10 s");
        assert_eq!(chart(&metric(MetricKind::Sum, "revenue")).y_label, "revenue (sum) per 10 s");
        assert_eq!(chart(&metric(MetricKind::Quantiles, "latency")).y_label, "latency (p90) per 10 s");
        assert!(chart(&metric(MetricKind::Count, "events")).integral);
        assert!(!chart(&metric(MetricKind::Mean, "avg")).integral);
        assert_eq!(chart(&metric(MetricKind::Count, "events")).filling_from, Some(50 * S));
        assert_eq!(grain_words(Grain::Span(SpanDuration::from_seconds(3600))), "1 h");
        assert_eq!(grain_words(Grain::Span(SpanDuration::from_seconds(300))), "5 min");
    }
}
