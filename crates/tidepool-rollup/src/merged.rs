//! One metric's accumulator merged over several rollup rows — the combining
//! aggregator that chart series, reports and coarser rollups share: counts
//! and sums add, extremes compare, first/last go by event order, distinct
//! counts unite their sketches and quantile sketches merge. Owns no I/O.

use super::distinct::DistinctUnion;
use super::metrics::{EventOrder, MetricColumn};
use super::quantiles::QuantileSketch;

/// A merged accumulator of one metric over several rows.
#[derive(Debug, Clone)]
pub(crate) enum Merged {
    Count(u64),
    Sum {
        total: f64,
        values: u64,
    },
    Mean {
        total: f64,
        values: u64,
    },
    Min(Option<f64>),
    Max(Option<f64>),
    First(Option<(EventOrder, f64)>),
    Last(Option<(EventOrder, f64)>),
    Distinct(DistinctUnion),
    /// The merged sketch and the rank the chart shows.
    Quantile(QuantileSketch, f64),
}

impl Merged {
    pub(crate) fn empty(column: &MetricColumn) -> Self {
        match column {
            MetricColumn::Count => Self::Count(0),
            MetricColumn::Sum(_) => Self::Sum { total: 0.0, values: 0 },
            MetricColumn::Mean(_) => Self::Mean { total: 0.0, values: 0 },
            MetricColumn::Min(_) => Self::Min(None),
            MetricColumn::Max(_) => Self::Max(None),
            MetricColumn::First(_) => Self::First(None),
            MetricColumn::Last(_) => Self::Last(None),
            MetricColumn::ApproxDistinct(_) => Self::Distinct(DistinctUnion::default()),
            MetricColumn::Quantiles(column) => {
                Self::Quantile(QuantileSketch::default(), column.ranks.first().map_or(0.5, |rank| rank.fraction()))
            }
        }
    }

    pub(crate) fn add_row(&mut self, column: &MetricColumn, row: usize, events: u64) {
        match (self, column) {
            (Self::Count(n), MetricColumn::Count) => *n = n.saturating_add(events),
            (
                Self::Sum { total, values } | Self::Mean { total, values },
                MetricColumn::Sum(sum) | MetricColumn::Mean(sum),
            ) => {
                if let Some(row_total) = sum.total(row) {
                    *total += row_total;
                    *values = values.saturating_add(sum.values[row]);
                }
            }
            (Self::Min(best), MetricColumn::Min(extreme)) if extreme.values[row] > 0 => {
                *best = Some(best.map_or(extreme.value[row], |b| b.min(extreme.value[row])));
            }
            (Self::Max(best), MetricColumn::Max(extreme)) if extreme.values[row] > 0 => {
                *best = Some(best.map_or(extreme.value[row], |b| b.max(extreme.value[row])));
            }
            (Self::First(best), MetricColumn::First(positioned)) => {
                if let Some(order) = positioned.order[row]
                    && best.is_none_or(|(held, _)| order < held)
                {
                    *best = Some((order, positioned.value[row]));
                }
            }
            (Self::Last(best), MetricColumn::Last(positioned)) => {
                if let Some(order) = positioned.order[row]
                    && best.is_none_or(|(held, _)| order > held)
                {
                    *best = Some((order, positioned.value[row]));
                }
            }
            (Self::Distinct(union), MetricColumn::ApproxDistinct(sketches)) => union.add(&sketches[row]),
            (Self::Quantile(sketch, _), MetricColumn::Quantiles(column)) => sketch.merge(&column.sketches[row]),
            _ => {}
        }
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        match (self, other) {
            (Self::Count(a), Self::Count(b)) => *a = a.saturating_add(*b),
            (
                Self::Sum { total, values } | Self::Mean { total, values },
                Self::Sum { total: t, values: v } | Self::Mean { total: t, values: v },
            ) => {
                *total += t;
                *values = values.saturating_add(*v);
            }
            (Self::Min(a), Self::Min(b)) => *a = [*a, *b].into_iter().flatten().reduce(f64::min),
            (Self::Max(a), Self::Max(b)) => *a = [*a, *b].into_iter().flatten().reduce(f64::max),
            (Self::First(a), Self::First(b)) => *a = [*a, *b].into_iter().flatten().min_by_key(|(order, _)| *order),
            (Self::Last(a), Self::Last(b)) => *a = [*a, *b].into_iter().flatten().max_by_key(|(order, _)| *order),
            (Self::Distinct(a), Self::Distinct(b)) => a.merge(b),
            (Self::Quantile(a, _), Self::Quantile(b, _)) => a.merge(b),
            _ => {}
        }
    }

    pub(crate) fn value(&self) -> Option<f64> {
        match self {
            Self::Count(n) => Some(*n as f64),
            Self::Sum { total, values } => (*values > 0).then_some(*total),
            Self::Mean { total, values } => (*values > 0).then(|| total / *values as f64),
            Self::Min(v) | Self::Max(v) => *v,
            Self::First(v) | Self::Last(v) => v.map(|(_, value)| value),
            Self::Distinct(union) => Some(union.estimate() as f64),
            Self::Quantile(sketch, rank) => sketch.quantile(*rank),
        }
    }
}

impl Merged {
    /// Appends the merged accumulator to `column` (a column of the same kind)
    /// as one more row, which holds what the merged rows held together.
    pub(crate) fn push_into(self, column: &mut MetricColumn) {
        match (self, column) {
            (Self::Count(_), MetricColumn::Count) => {}
            (
                Self::Sum { total, values } | Self::Mean { total, values },
                MetricColumn::Sum(sum) | MetricColumn::Mean(sum),
            ) => {
                sum.exact.push(0);
                sum.inexact.push(if values > 0 { total } else { 0.0 });
                sum.values.push(values);
            }
            (Self::Min(best), MetricColumn::Min(extreme)) => {
                extreme.value.push(best.unwrap_or(f64::INFINITY));
                extreme.values.push(u64::from(best.is_some()));
            }
            (Self::Max(best), MetricColumn::Max(extreme)) => {
                extreme.value.push(best.unwrap_or(f64::NEG_INFINITY));
                extreme.values.push(u64::from(best.is_some()));
            }
            (
                Self::First(best) | Self::Last(best),
                MetricColumn::First(positioned) | MetricColumn::Last(positioned),
            ) => {
                positioned.value.push(best.map_or(f64::NAN, |(_, value)| value));
                positioned.order.push(best.map(|(order, _)| order));
            }
            (Self::Distinct(union), MetricColumn::ApproxDistinct(sketches)) => sketches.push(union.into_sketch()),
            (Self::Quantile(sketch, _), MetricColumn::Quantiles(quantiles)) => quantiles.sketches.push(sketch),
            // `empty` made the accumulator from this very column's kind.
            (_, column) => column.push_row(),
        }
    }
}
