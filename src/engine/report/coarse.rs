//! Which rollup a report over a stream reads: the rollup merged over the
//! dimensions the report never looks at, and over time when it looks at no
//! time at all (`RollupState::coarsened`), whenever that cannot change its
//! answer — every measure is a rollup metric (which combines exactly however
//! rows are merged), and no filter, derived column, join key, group or range
//! reads a metric's per-row value. A report per category over a rollup per
//! minute and six dimensions then joins and groups one row per category
//! value, not millions.
//!
//! Decides only; the merging is the rollup crate's. Owns no I/O.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::{DataFrame, PlSmallStr};

use crate::engine::rollup::{Coarsened, RollupState};
use crate::model::reports::ReportSpec;
use crate::model::workbook::BUCKET_COLUMN;

/// `state` merged as far as `report` allows, or `None` when it reads every
/// dimension and the buckets (or when merging could change its answer).
pub(super) fn coarse_rollup(
    state: &RollupState,
    report: &ReportSpec,
    tables: &BTreeMap<String, DataFrame>,
) -> Option<Coarsened> {
    let deciding = fields_deciding_rows(state, report)?;
    let kept = kept_dimensions(state, report, tables, &deciding);
    let keep_buckets = keeps_buckets(report, &deciding);
    if keep_buckets && kept.len() == state.dimension_names().len() {
        return None;
    }
    state.coarsened(&kept, keep_buckets)
}

/// The fields that decide which rows there are and their groups
/// (`ReportSpec::fields_grouped_or_filtered`), when merging rows cannot
/// change `report`'s answer: every measure is a metric and none of those
/// fields is a metric's per-row value. `None` otherwise.
pub(super) fn fields_deciding_rows(state: &RollupState, report: &ReportSpec) -> Option<BTreeSet<String>> {
    let every_measure_a_metric =
        report.measures.iter().all(|measure| measure.metric.is_some() && measure.agg.is_none());
    let deciding = report.fields_grouped_or_filtered(None)?;
    (every_measure_a_metric && !reads_a_metric_per_row(state, &deciding)).then_some(deciding)
}

/// The dimensions a merged rollup keeps for `report`: those `deciding`
/// names, and those a joined table has a column named like (after the
/// join that column is `…_right` while the dimension is there, so it stays
/// and the names do not change).
pub(super) fn kept_dimensions(
    state: &RollupState,
    report: &ReportSpec,
    tables: &BTreeMap<String, DataFrame>,
    deciding: &BTreeSet<String>,
) -> Vec<usize> {
    let table_columns: BTreeSet<&str> = report
        .joins
        .iter()
        .filter_map(|join| tables.get(&join.with))
        .flat_map(|table| table.get_column_names().into_iter().map(PlSmallStr::as_str))
        .collect();
    state
        .dimension_names()
        .iter()
        .enumerate()
        .filter(|(_, name)| deciding.contains(*name) || table_columns.contains(name.as_str()))
        .map(|(dimension, _)| dimension)
        .collect()
}

/// Whether a merged rollup keeps its buckets for `report`: it reads them, or any time.
pub(super) fn keeps_buckets(report: &ReportSpec, deciding: &BTreeSet<String>) -> bool {
    deciding.contains(BUCKET_COLUMN) || report.time.is_some() || report.range.is_some()
}

/// Whether any of `fields` is a metric's per-row value (its frame column),
/// which merging rows would change.
fn reads_a_metric_per_row(state: &RollupState, fields: &BTreeSet<String>) -> bool {
    state.metric_names().iter().zip(state.metric_columns()).any(|(name, column)| {
        (0..column.output_width()).any(|output| fields.contains(&column.output_name(name, output)))
            || fields.contains(name)
    })
}
