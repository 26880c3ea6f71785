//! The rollup shape the crate's tests share: one metric of every kind over
//! the dimensions a test names. Test-only.

use crate::spec::{MetricKind, MetricShape, QuantileRank, RollupShape};

pub const MINUTE: i64 = 60_000_000;

/// Per minute, `dimensions`, and metrics events (count), revenue (sum), avg
/// (mean), cheapest (min), dearest (max), opening (first), closing (last),
/// users (distinct) and latency (quantiles, `rank`), in that order.
pub fn every_metric_kind(dimensions: &[&str], rank: f64) -> RollupShape {
    let metric = |name: &str, kind| MetricShape { name: name.into(), kind, ranks: Vec::new() };
    let mut quantiles = metric("latency", MetricKind::Quantiles);
    quantiles.ranks = vec![QuantileRank::from_fraction(rank).expect("rank")];
    RollupShape {
        granularity_micros: MINUTE,
        dimensions: dimensions.iter().map(|&name| name.into()).collect(),
        metrics: vec![
            metric("events", MetricKind::Count),
            metric("revenue", MetricKind::Sum),
            metric("avg", MetricKind::Mean),
            metric("cheapest", MetricKind::Min),
            metric("dearest", MetricKind::Max),
            metric("opening", MetricKind::First),
            metric("closing", MetricKind::Last),
            metric("users", MetricKind::ApproxDistinct),
            quantiles,
        ],
    }
}
