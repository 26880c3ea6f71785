//! Time series for charts, computed exactly from the rollup state: rows are
//! re-aggregated per (bucket, split value) by merging their accumulators (sums
//! add, extremes compare, sketches merge), the top N split values are kept and
//! the rest merged into "other" (labelled with how many values it holds, so a
//! real value called "other" keeps its own line).

use std::collections::HashMap;

use super::RollupState;
use super::merged::Merged;
use super::metrics::MetricColumn;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    pub label: String,
    /// The merge of the values outside the top N, drawn quieter.
    pub is_other: bool,
    /// `(bucket start µs, value)` in time order, one per bucket that has rows.
    pub points: Vec<(i64, f64)>,
}

/// Which series to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesQuery {
    /// Index of the metric in workbook order.
    pub metric: usize,
    /// Index of the dimension to split by, if any.
    pub split_by: Option<usize>,
    /// Only buckets starting at or after this (µs); `None` for all.
    pub since_micros: Option<i64>,
    /// How many split values get their own series.
    pub top_n: usize,
}

/// Label of the series that merges the values outside the top N.
pub const OTHER_LABEL: &str = "other";
/// Label for rows whose split dimension has no value.
pub const NULL_LABEL: &str = "(none)";

/// The plain aggregation of a metric's frame column that equals combining its
/// accumulators (see [`RollupState::column_combiner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnCombiner {
    /// Σ of the rows' values (null when no row has one).
    Sum,
    Min,
    Max,
}

impl RollupState {
    /// Metric `metric` combined over `rows` exactly as one coarser rollup row
    /// would hold it (the report engine's combining aggregator); `quantile`
    /// picks the rank of a quantiles metric (its first rank otherwise).
    pub fn combine(&self, metric: usize, rows: impl IntoIterator<Item = usize>, quantile: Option<f64>) -> Option<f64> {
        let column = self.columns.get(metric)?;
        let mut merged = Merged::empty(column);
        if let (Merged::Quantile(_, rank), Some(wanted)) = (&mut merged, quantile) {
            *rank = wanted;
        }
        for row in rows {
            if row < self.event_counts.len() {
                merged.add_row(column, row, self.event_counts[row]);
            }
        }
        merged.value()
    }

    /// How metric `metric` combines over rows that each count once, as a plain
    /// aggregation of its frame column: counts and sums add, min of mins, max
    /// of maxes. `None` for the metrics that only [`Self::combine`] merges
    /// (means need Σsum / Σcount, first/last the event order, sketches a union).
    pub fn column_combiner(&self, metric: usize) -> Option<ColumnCombiner> {
        match self.columns.get(metric)? {
            MetricColumn::Count | MetricColumn::Sum(_) => Some(ColumnCombiner::Sum),
            MetricColumn::Min(_) => Some(ColumnCombiner::Min),
            MetricColumn::Max(_) => Some(ColumnCombiner::Max),
            _ => None,
        }
    }

    /// Whether metric `metric` holds whole numbers (counts, distinct counts).
    pub fn metric_is_integral(&self, metric: usize) -> bool {
        self.columns.get(metric).is_some_and(MetricColumn::is_integral)
    }

    /// The oldest bucket start, if any row exists.
    pub fn earliest_bucket(&self) -> Option<i64> {
        self.buckets.iter().copied().min()
    }

    /// The newest bucket start, if any row exists.
    pub fn latest_bucket(&self) -> Option<i64> {
        self.buckets.iter().copied().max()
    }

    /// Exact chart series for `query`, largest first (by events), "other" last.
    pub fn series(&self, query: &SeriesQuery) -> Vec<ChartSeries> {
        let Some(column) = self.columns.get(query.metric) else { return Vec::new() };
        let width = self.dimension_names.len();
        let mut cells: HashMap<(i64, u32), Merged> = HashMap::new();
        let mut weight_by_value: HashMap<u32, u64> = HashMap::new();
        for row in 0..self.buckets.len() {
            let bucket = self.buckets[row];
            if query.since_micros.is_some_and(|since| bucket < since) {
                continue;
            }
            let split = query.split_by.map_or(0, |dimension| self.dimension_ids[row * width + dimension]);
            let events = self.event_counts[row];
            cells.entry((bucket, split)).or_insert_with(|| Merged::empty(column)).add_row(column, row, events);
            let weight = weight_by_value.entry(split).or_default();
            *weight = weight.saturating_add(events);
        }
        let mut ranked: Vec<(u32, u64)> = weight_by_value.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<u32> = ranked.iter().take(query.top_n.max(1)).map(|(id, _)| *id).collect();
        let mut by_series: HashMap<Option<u32>, HashMap<i64, Merged>> = HashMap::new();
        for ((bucket, split), merged) in cells {
            let key = top.contains(&split).then_some(split);
            let slot = by_series.entry(key).or_default();
            match slot.get_mut(&bucket) {
                Some(existing) => existing.merge(&merged),
                None => {
                    slot.insert(bucket, merged);
                }
            }
        }
        let others = ranked.len() - top.len();
        let label_of = |key: Option<u32>| match (key, query.split_by) {
            (None, _) => format!("{OTHER_LABEL} ({others} values)"),
            (Some(_), None) => self.metric_names[query.metric].clone(),
            (Some(id), Some(dimension)) => self.dictionaries[dimension].value(id).unwrap_or(NULL_LABEL).to_string(),
        };
        let mut order: Vec<Option<u32>> = top.iter().map(|id| Some(*id)).collect();
        order.push(None);
        order
            .into_iter()
            .filter_map(|key| {
                let buckets = by_series.remove(&key)?;
                let mut points: Vec<(i64, f64)> =
                    buckets.into_iter().filter_map(|(bucket, merged)| Some((bucket, merged.value()?))).collect();
                points.sort_unstable_by_key(|(bucket, _)| *bucket);
                Some(ChartSeries { label: label_of(key), is_other: key.is_none(), points })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetricInput;
    use crate::metrics::EventOrder;
    use crate::spec::{MetricKind, MetricShape, RollupShape};

    fn state() -> RollupState {
        let metric = |name: &str, kind| MetricShape { name: name.into(), kind, ranks: Vec::new() };
        RollupState::new(&RollupShape {
            granularity_micros: 60_000_000,
            dimensions: vec!["country".into(), "device".into()],
            metrics: vec![
                metric("events", MetricKind::Count),
                metric("revenue", MetricKind::Sum),
                metric("avg", MetricKind::Mean),
                metric("users", MetricKind::ApproxDistinct),
            ],
        })
    }

    fn add(state: &mut RollupState, minute: i64, country: &str, device: &str, price: f64, user: u64, offset: i64) {
        let inputs = [
            MetricInput::Absent,
            MetricInput::Number { value: price, exact: None },
            MetricInput::Number { value: price, exact: None },
            MetricInput::Distinct(crate::distinct::coupon_of(&user.to_string())),
        ];
        state.merge(
            minute * 60_000_000,
            &[Some(country), Some(device)],
            &inputs,
            EventOrder { micros: minute * 60_000_000, partition: 0, offset },
        );
    }

    #[test]
    fn merges_rows_across_other_dimensions_exactly() {
        let mut state = state();
        add(&mut state, 0, "DE", "mobile", 10.0, 1, 0);
        add(&mut state, 0, "DE", "desktop", 30.0, 1, 1);
        add(&mut state, 0, "FR", "mobile", 5.0, 2, 2);
        add(&mut state, 1, "FR", "mobile", 7.0, 3, 3);
        let query = |metric| SeriesQuery { metric, split_by: Some(0), since_micros: None, top_n: 5 };
        let events = state.series(&query(0));
        assert_eq!(events[0].label, "DE");
        assert_eq!(events[0].points, vec![(0, 2.0)]);
        assert_eq!(events[1].points, vec![(0, 1.0), (60_000_000, 1.0)]);
        let mean = state.series(&query(2));
        assert_eq!(mean[0].points, vec![(0, 20.0)], "mean over both devices, not a mean of means");
        let users = state.series(&query(3));
        assert_eq!(users[0].points, vec![(0, 1.0)], "the same user on two devices counts once");
    }

    #[test]
    fn values_beyond_the_top_n_merge_into_other() {
        let mut state = state();
        for (offset, country) in ["DE", "DE", "DE", "FR", "FR", "JP", "US"].into_iter().enumerate() {
            add(&mut state, 0, country, "mobile", 1.0, offset as u64, offset as i64);
        }
        let series = state.series(&SeriesQuery { metric: 1, split_by: Some(0), since_micros: None, top_n: 2 });
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["DE", "FR", "other (2 values)"]);
        assert!(series[2].is_other && !series[0].is_other);
        assert_eq!(series[2].points, vec![(0, 2.0)]);
    }

    #[test]
    fn the_window_drops_older_buckets() {
        let mut state = state();
        add(&mut state, 0, "DE", "mobile", 1.0, 1, 0);
        add(&mut state, 5, "DE", "mobile", 1.0, 1, 1);
        let series = state.series(&SeriesQuery { metric: 0, split_by: None, since_micros: Some(60_000_000), top_n: 5 });
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].label, "events");
        assert_eq!(series[0].points, vec![(300_000_000, 1.0)]);
    }
}
