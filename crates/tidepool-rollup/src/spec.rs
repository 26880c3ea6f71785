//! What a rollup keeps, as the workbook defines it: the metric kinds, the
//! ranks of quantile metrics, and [`RollupShape`], the workbook's rollup
//! definition reduced to what the state needs. The workbook model (in the app)
//! parses and validates these; this crate only builds state from them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a metric computes per (bucket, dimensions) row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Number of events.
    Count,
    /// Sum of a numeric field.
    Sum,
    /// Smallest value of a numeric field.
    Min,
    /// Largest value of a numeric field.
    Max,
    /// Arithmetic mean of a numeric field.
    Mean,
    /// Value of a numeric field in the earliest event (by event time, then partition and offset).
    First,
    /// Value of a numeric field in the latest event (by event time, then partition and offset).
    Last,
    /// Number of distinct values of a field (Apache `DataSketches` HLL, as Druid's
    /// `HLLSketchBuild`): exact up to about a thousand values per row, ~0.8% standard error beyond.
    ApproxDistinct,
    /// Quantiles of a numeric field (Apache `DataSketches` KLL, as Druid's
    /// `KllDoublesSketch`), one output column per rank: `latency_p50`, `latency_p99`…
    Quantiles,
}

impl MetricKind {
    pub fn needs_field(self) -> bool {
        self != Self::Count
    }

    /// Whether the field must hold numbers (distinct counts take any scalar).
    pub fn needs_number(self) -> bool {
        !matches!(self, Self::Count | Self::ApproxDistinct)
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::Mean => "mean",
            Self::First => "first",
            Self::Last => "last",
            Self::ApproxDistinct => "approx_distinct",
            Self::Quantiles => "quantiles",
        };
        f.write_str(text)
    }
}

/// A rank of a `quantiles` metric, kept in millionths (0.99 → 990,000) so that
/// specs compare and hash exactly; written in the workbook as a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuantileRank(u32);

impl QuantileRank {
    pub fn from_fraction(fraction: f64) -> Result<Self, String> {
        if fraction.is_finite() && fraction > 0.0 && fraction <= 1.0 {
            Ok(Self((fraction * 1e6).round() as u32))
        } else {
            Err(format!("quantile {fraction} is not between 0 and 1 (e.g. 0.99 for p99)"))
        }
    }

    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 1e6
    }

    /// `p50`, `p99`, `p99.9`: how the rank names its output column.
    pub fn label(self) -> String {
        let percent = f64::from(self.0) / 1e4;
        format!("p{percent}")
    }
}

/// The shape of a rollup: its time grain, its dimensions and its metrics, in workbook order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupShape {
    pub granularity_micros: i64,
    pub dimensions: Vec<String>,
    pub metrics: Vec<MetricShape>,
}

/// One metric of a [`RollupShape`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricShape {
    pub name: String,
    pub kind: MetricKind,
    /// The ranks a `quantiles` metric reports (empty for other kinds).
    pub ranks: Vec<QuantileRank>,
}
