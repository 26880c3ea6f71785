//! Combining a stream's metrics over the rollup rows of each report group
//! (Druid's combining aggregators): counts and sums add, min of mins, max of
//! maxes, a mean is Σsum / Σcount, first/last by event order, distinct counts
//! unite their sketches, quantiles merge theirs — never a sum of per-row
//! estimates or a mean of means.
//!
//! Counts, sums, mins and maxes are plain Polars aggregations of the metric's
//! column when every rollup row is in the joined rows at most once (no join
//! met several table rows for one); otherwise, and for the other metrics, each
//! group's rollup rows are merged with `RollupState::combine` — the code the
//! chart series use. Owns no I/O and never decides what a group is.

use polars::prelude::*;

use super::{ROW, failed};
use crate::engine::imports::ImportError;
use crate::engine::rollup::RollupState;
use crate::engine::rollup::series::ColumnCombiner;
use crate::model::reports::{MeasureSpec, ReportSpec};

/// How the metrics of the rollup a report starts from combine.
pub(super) struct Combining<'a> {
    pub state: &'a RollupState,
    /// No rollup row appears twice among the joined rows.
    pub each_row_once: bool,
}

impl Combining<'_> {
    /// The Polars aggregation that combines `metric` exactly, if one does.
    pub fn as_column_aggregation(&self, metric: &str, report: &ReportSpec) -> Option<Expr> {
        // A derived column of the same name would be aggregated instead of the metric.
        if !self.each_row_once || report.derive.iter().any(|derived| derived.name == metric) {
            return None;
        }
        let index = self.state.metric_names().iter().position(|name| name == metric)?;
        let column = || col(metric);
        Some(match self.state.column_combiner(index)? {
            // Σ over the rows that have a sum; none at all is no sum, not zero.
            ColumnCombiner::Sum => when(column().count().gt(lit(0))).then(column().sum()).otherwise(lit(NULL)),
            ColumnCombiner::Min => column().min(),
            ColumnCombiner::Max => column().max(),
        })
    }

    /// `answer` (grouped, with each group's rollup rows listed in `ROW`) with
    /// each of `measures` combined over its group's rows.
    pub fn by_rows(
        &self,
        mut answer: DataFrame,
        measures: &[&MeasureSpec],
        report: &ReportSpec,
    ) -> Result<DataFrame, ImportError> {
        let groups = answer.column(ROW).map_err(failed("the rollup rows of each group"))?.list().cloned();
        let groups = groups.map_err(failed("the rollup rows of each group"))?;
        let rows_of: Vec<Vec<usize>> = groups
            .amortized_iter()
            .map(|rows| {
                rows.and_then(|rows| rows.as_ref().cast(&DataType::UInt64).ok())
                    .map(|rows| {
                        rows.u64().map(|r| r.iter().flatten().map(|r| r as usize).collect()).unwrap_or_default()
                    })
                    .map(|mut rows: Vec<usize>| {
                        // A rollup row that met two table rows of the same group counts once in it.
                        rows.sort_unstable();
                        rows.dedup();
                        rows
                    })
                    .unwrap_or_default()
            })
            .collect();
        for measure in measures {
            let Some(metric) = &measure.metric else { continue };
            let state = self.state;
            let index = state.metric_names().iter().position(|name| name == metric).ok_or_else(|| {
                ImportError::Config(format!(
                    "the rollup of `{}` has no metric `{metric}` (it was built before the definition changed?)",
                    report.from
                ))
            })?;
            let values = rows_of.iter().map(|rows| state.combine(index, rows.iter().copied(), measure.quantile));
            let column = if state.metric_is_integral(index) {
                values.map(|v| v.map(|v| v as i64)).collect::<Int64Chunked>().into_column()
            } else {
                values.collect::<Float64Chunked>().into_column()
            };
            answer.with_column(column.with_name(measure.name.as_str().into())).map_err(failed("adding a measure"))?;
        }
        Ok(answer)
    }
}
