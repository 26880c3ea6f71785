//! Per-row accumulators for each metric kind, stored column-wise.
//!
//! Sums keep integer inputs in an exact `i64` part and fractional inputs in an
//! `f64` part, so integer-valued metrics are exact whatever the merge order.

use datasketches::hll::Coupon;
use serde::{Deserialize, Serialize};

use super::distinct::DistinctSketch;
use super::quantiles::QuantileSketch;
use super::spec::{MetricKind, MetricShape, QuantileRank};

/// What one event contributes to one metric, after validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricInput {
    /// The field is missing or null: the metric is not touched (counts still are).
    Absent,
    /// A number; `exact` holds it when it is a whole number that fits an `i64`.
    Number { value: f64, exact: Option<i64> },
    /// The hashed value, for distinct counts.
    Distinct(Coupon),
}

/// The order of events for `first` and `last`: event time, then partition, then offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventOrder {
    pub micros: i64,
    pub partition: i32,
    pub offset: i64,
}

/// Accumulators of one metric for every row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MetricColumn {
    /// Reads the row's event count; keeps nothing of its own.
    Count,
    Sum(SumColumn),
    Mean(SumColumn),
    Min(ExtremeColumn),
    Max(ExtremeColumn),
    First(PositionedColumn),
    Last(PositionedColumn),
    ApproxDistinct(Vec<DistinctSketch>),
    Quantiles(QuantileColumn),
}

/// The ranks to report and one quantile sketch per row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuantileColumn {
    /// In output-column order.
    pub ranks: Vec<QuantileRank>,
    pub sketches: Vec<QuantileSketch>,
}

/// Exact integer part + floating part + number of values, per row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SumColumn {
    pub exact: Vec<i64>,
    pub inexact: Vec<f64>,
    pub values: Vec<u64>,
}

/// Smallest or largest value and number of values, per row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtremeColumn {
    pub value: Vec<f64>,
    pub values: Vec<u64>,
}

/// A value and the order of the event it came from, per row; `None` until a value arrives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PositionedColumn {
    pub value: Vec<f64>,
    pub order: Vec<Option<EventOrder>>,
}

impl SumColumn {
    fn push_row(&mut self) {
        self.exact.push(0);
        self.inexact.push(0.0);
        self.values.push(0);
    }

    fn add(&mut self, row: usize, value: f64, exact: Option<i64>) {
        self.values[row] = self.values[row].saturating_add(1);
        match exact.and_then(|whole| self.exact[row].checked_add(whole)) {
            Some(total) => self.exact[row] = total,
            None => self.inexact[row] += value,
        }
    }

    pub fn total(&self, row: usize) -> Option<f64> {
        (self.values[row] > 0).then(|| self.exact[row] as f64 + self.inexact[row])
    }

    pub fn mean(&self, row: usize) -> Option<f64> {
        self.total(row).map(|total| total / self.values[row] as f64)
    }
}

impl MetricColumn {
    pub fn new(metric: &MetricShape) -> Self {
        match metric.kind {
            MetricKind::Count => Self::Count,
            MetricKind::Sum => Self::Sum(SumColumn::default()),
            MetricKind::Mean => Self::Mean(SumColumn::default()),
            MetricKind::Min => Self::Min(ExtremeColumn::default()),
            MetricKind::Max => Self::Max(ExtremeColumn::default()),
            MetricKind::First => Self::First(PositionedColumn::default()),
            MetricKind::Last => Self::Last(PositionedColumn::default()),
            MetricKind::ApproxDistinct => Self::ApproxDistinct(Vec::new()),
            MetricKind::Quantiles => {
                Self::Quantiles(QuantileColumn { ranks: metric.ranks.clone(), sketches: Vec::new() })
            }
        }
    }

    /// The name of output `output` of the metric called `name`: the name
    /// itself, or `name_p99` for a quantile.
    pub fn output_name(&self, name: &str, output: usize) -> String {
        match self {
            Self::Quantiles(quantiles) => {
                let label = quantiles.ranks.get(output).map_or_else(|| format!("q{output}"), |rank| rank.label());
                format!("{name}_{label}")
            }
            _ => name.to_string(),
        }
    }

    /// Adds an empty accumulator for a new row.
    pub fn push_row(&mut self) {
        match self {
            Self::Count => {}
            Self::Sum(sum) | Self::Mean(sum) => sum.push_row(),
            Self::Min(extreme) => {
                extreme.value.push(f64::INFINITY);
                extreme.values.push(0);
            }
            Self::Max(extreme) => {
                extreme.value.push(f64::NEG_INFINITY);
                extreme.values.push(0);
            }
            Self::First(positioned) | Self::Last(positioned) => {
                positioned.value.push(f64::NAN);
                positioned.order.push(None);
            }
            Self::ApproxDistinct(sketches) => sketches.push(DistinctSketch::default()),
            Self::Quantiles(column) => column.sketches.push(QuantileSketch::default()),
        }
    }

    /// Folds one event's input into `row`.
    #[inline]
    #[allow(clippy::match_same_arms)] // the no-op arms are different cases, kept apart for reading
    pub fn merge(&mut self, row: usize, input: MetricInput, order: EventOrder) {
        match (self, input) {
            (Self::Count, _) | (_, MetricInput::Absent) => {}
            (Self::Sum(sum) | Self::Mean(sum), MetricInput::Number { value, exact }) => sum.add(row, value, exact),
            (Self::Min(extreme), MetricInput::Number { value, .. }) => {
                extreme.value[row] = extreme.value[row].min(value);
                extreme.values[row] = extreme.values[row].saturating_add(1);
            }
            (Self::Max(extreme), MetricInput::Number { value, .. }) => {
                extreme.value[row] = extreme.value[row].max(value);
                extreme.values[row] = extreme.values[row].saturating_add(1);
            }
            (Self::First(positioned), MetricInput::Number { value, .. })
                if positioned.order[row].is_none_or(|held| order < held) =>
            {
                positioned.value[row] = value;
                positioned.order[row] = Some(order);
            }
            (Self::Last(positioned), MetricInput::Number { value, .. })
                if positioned.order[row].is_none_or(|held| order > held) =>
            {
                positioned.value[row] = value;
                positioned.order[row] = Some(order);
            }
            (Self::ApproxDistinct(sketches), MetricInput::Distinct(coupon)) => sketches[row].insert(coupon),
            (Self::Quantiles(column), MetricInput::Number { value, .. }) => column.sketches[row].insert(value),
            // Inputs are shaped by the metric kind before they get here; others cannot occur.
            _ => {}
        }
    }

    /// How many frame columns this metric fills (one per rank for quantiles).
    pub fn output_width(&self) -> usize {
        match self {
            Self::Quantiles(column) => column.ranks.len(),
            _ => 1,
        }
    }

    /// The finished value of output column `output` (see [`Self::output_width`];
    /// always 0 but for quantiles) of `row`, or `None` when no event gave it a
    /// value. Counts come from `event_count`.
    pub fn output_value(&self, output: usize, row: usize, event_count: u64) -> Option<f64> {
        match self {
            Self::Count => Some(event_count as f64),
            Self::Sum(sum) => sum.total(row),
            Self::Mean(sum) => sum.mean(row),
            Self::Min(extreme) | Self::Max(extreme) => (extreme.values[row] > 0).then(|| extreme.value[row]),
            Self::First(positioned) | Self::Last(positioned) => positioned.order[row].map(|_| positioned.value[row]),
            Self::ApproxDistinct(sketches) => Some(sketches[row].estimate() as f64),
            Self::Quantiles(column) => {
                column.ranks.get(output).and_then(|rank| column.sketches[row].quantile(rank.fraction()))
            }
        }
    }

    /// Keeps only the rows whose flag is set, in order.
    pub fn retain_rows(&mut self, keep: &[bool]) {
        fn retain<T>(values: &mut Vec<T>, keep: &[bool]) {
            let mut flags = keep.iter();
            values.retain(|_| flags.next().copied().unwrap_or(false));
        }
        match self {
            Self::Count => {}
            Self::Sum(sum) | Self::Mean(sum) => {
                retain(&mut sum.exact, keep);
                retain(&mut sum.inexact, keep);
                retain(&mut sum.values, keep);
            }
            Self::Min(extreme) | Self::Max(extreme) => {
                retain(&mut extreme.value, keep);
                retain(&mut extreme.values, keep);
            }
            Self::First(positioned) | Self::Last(positioned) => {
                retain(&mut positioned.value, keep);
                retain(&mut positioned.order, keep);
            }
            Self::ApproxDistinct(sketches) => retain(sketches, keep),
            Self::Quantiles(column) => retain(&mut column.sketches, keep),
        }
    }

    /// A column of the same kind holding copies of `rows`, in that order (an
    /// empty `rows` gives an empty column that carries only the kind and ranks).
    #[must_use]
    pub fn select(&self, rows: &[usize]) -> Self {
        fn pick<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&row| values[row].clone()).collect()
        }
        let sum = |sum: &SumColumn| SumColumn {
            exact: pick(&sum.exact, rows),
            inexact: pick(&sum.inexact, rows),
            values: pick(&sum.values, rows),
        };
        let extreme = |extreme: &ExtremeColumn| ExtremeColumn {
            value: pick(&extreme.value, rows),
            values: pick(&extreme.values, rows),
        };
        let positioned = |positioned: &PositionedColumn| PositionedColumn {
            value: pick(&positioned.value, rows),
            order: pick(&positioned.order, rows),
        };
        match self {
            Self::Count => Self::Count,
            Self::Sum(column) => Self::Sum(sum(column)),
            Self::Mean(column) => Self::Mean(sum(column)),
            Self::Min(column) => Self::Min(extreme(column)),
            Self::Max(column) => Self::Max(extreme(column)),
            Self::First(column) => Self::First(positioned(column)),
            Self::Last(column) => Self::Last(positioned(column)),
            Self::ApproxDistinct(sketches) => Self::ApproxDistinct(pick(sketches, rows)),
            Self::Quantiles(column) => {
                Self::Quantiles(QuantileColumn { ranks: column.ranks.clone(), sketches: pick(&column.sketches, rows) })
            }
        }
    }

    /// Adds copies of the rows of `other`, a column of the same kind, after
    /// this one's (sketches are shared until changed, so this copies no sketch).
    pub fn append_from(&mut self, other: &Self) -> Result<(), String> {
        fn sum_into(into: &mut SumColumn, from: &SumColumn) {
            into.exact.extend_from_slice(&from.exact);
            into.inexact.extend_from_slice(&from.inexact);
            into.values.extend_from_slice(&from.values);
        }
        fn extreme_into(into: &mut ExtremeColumn, from: &ExtremeColumn) {
            into.value.extend_from_slice(&from.value);
            into.values.extend_from_slice(&from.values);
        }
        fn positioned_into(into: &mut PositionedColumn, from: &PositionedColumn) {
            into.value.extend_from_slice(&from.value);
            into.order.extend_from_slice(&from.order);
        }
        match (self, other) {
            (Self::Count, Self::Count) => {}
            (Self::Sum(into), Self::Sum(from)) | (Self::Mean(into), Self::Mean(from)) => sum_into(into, from),
            (Self::Min(into), Self::Min(from)) | (Self::Max(into), Self::Max(from)) => extreme_into(into, from),
            (Self::First(into), Self::First(from)) | (Self::Last(into), Self::Last(from)) => {
                positioned_into(into, from);
            }
            (Self::ApproxDistinct(into), Self::ApproxDistinct(from)) => into.extend_from_slice(from),
            (Self::Quantiles(into), Self::Quantiles(from)) if into.ranks == from.ranks => {
                into.sketches.extend_from_slice(&from.sketches);
            }
            (into, from) => {
                return Err(format!("a {} column cannot take the rows of a {} column", into.kind(), from.kind()));
            }
        }
        Ok(())
    }

    /// The metric kind this column accumulates.
    pub fn kind(&self) -> MetricKind {
        match self {
            Self::Count => MetricKind::Count,
            Self::Sum(_) => MetricKind::Sum,
            Self::Mean(_) => MetricKind::Mean,
            Self::Min(_) => MetricKind::Min,
            Self::Max(_) => MetricKind::Max,
            Self::First(_) => MetricKind::First,
            Self::Last(_) => MetricKind::Last,
            Self::ApproxDistinct(_) => MetricKind::ApproxDistinct,
            Self::Quantiles(_) => MetricKind::Quantiles,
        }
    }

    /// Rows held (`None` for counts, which keep nothing of their own); every
    /// per-row vector of the column has this length.
    pub fn rows(&self) -> Option<usize> {
        let (len, same) = match self {
            Self::Count => return None,
            Self::Sum(sum) | Self::Mean(sum) => {
                (sum.values.len(), sum.exact.len() == sum.values.len() && sum.inexact.len() == sum.values.len())
            }
            Self::Min(extreme) | Self::Max(extreme) => {
                (extreme.values.len(), extreme.value.len() == extreme.values.len())
            }
            Self::First(positioned) | Self::Last(positioned) => {
                (positioned.order.len(), positioned.value.len() == positioned.order.len())
            }
            Self::ApproxDistinct(sketches) => (sketches.len(), true),
            Self::Quantiles(column) => (column.sketches.len(), true),
        };
        // Vectors of different lengths: report a length no row count can match.
        Some(if same { len } else { usize::MAX })
    }

    /// Whether the finished value is a whole count (written as an integer column).
    pub fn is_integral(&self) -> bool {
        matches!(self, Self::Count | Self::ApproxDistinct(_))
    }
}
