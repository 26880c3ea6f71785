//! Computing a report: the dataset it starts from (a stream's rollup rows or
//! an imported table), joined with imported tables (`join`), with derived
//! columns (`derive`), filtered in Polars, then grouped by its fields and time
//! grain. A stream's metrics are re-aggregated with combining aggregators
//! (`combine`): counts and sums add, a mean is Σsum / Σcount, distinct counts
//! unite their sketches — never a sum of per-row estimates or a mean of means.
//! A table's fields are aggregated by Polars. A report that reads few of a
//! stream's dimensions, or none of its time, first reads the rollup merged
//! over the rest (`coarse`), which answers the same from far fewer rows; a
//! first join that looks a dimension up in a table can become dimensions of
//! that merged rollup (`lookup_join`).
//!
//! `compute` is pure (frames in, frame out); `run_report` reads the datasets
//! from [`ReportSources`]: a running stream's live snapshot (only the buckets
//! the report's range needs), else its last checkpoint, and a table's current
//! version. Runs on the caller's thread, never the UI's nor a stream's.

pub mod chart;
mod coarse;
mod combine;
mod derive;
mod dimension_join;
mod join;
pub mod live;
mod lookup_join;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use polars::prelude::*;

use crate::engine::exports::dataset_frame;
use crate::engine::imports::{ImportContext, ImportError, read_version};
use crate::engine::rollup::{RollupFrame, RollupState};
use crate::engine::snapshots::Snapshots;
use crate::engine::store::tables::TableCatalog;
use crate::engine::store::{StateStore, StreamKey};
use crate::model::Workbook;
use crate::model::reports::{
    Aggregation, FilterOp, FilterSpec, MeasureSpec, ReportSpec, TimeGrouping, TimeRange, TopSpec,
};
use crate::model::workbook::BUCKET_COLUMN;
use combine::Combining;
pub use join::JoinStats;
pub use live::LiveAnswer;

/// The column that carries each rollup row's index through joins and filters.
const ROW: &str = "__tidepool_rollup_row";

/// A report's answer and what each of its joins matched.
#[derive(Debug, Clone)]
pub struct ReportAnswer {
    pub frame: DataFrame,
    pub joins: Vec<JoinStats>,
    /// A pivot's totals, each the report computed again over fewer fields.
    pub totals: Option<PivotTotals>,
}

/// A pivot's totals, computed as the report itself is — the measures over
/// every row of a total's group, never a sum of the cells (a distinct count
/// or a mean does not add up across cells).
#[derive(Debug, Clone)]
pub struct PivotTotals {
    /// Per row of the pivot (its row fields), over every column.
    pub by_rows: DataFrame,
    /// Per column (the field across), over every row.
    pub by_columns: DataFrame,
    /// Over everything: one row.
    pub grand: DataFrame,
}

/// Where a report starts.
#[derive(Clone)]
pub enum Base<'a> {
    /// A stream's rollup, whose metrics combine.
    Stream(&'a RollupState),
    /// An imported table.
    Table(DataFrame),
}

fn failed(what: &str) -> impl Fn(PolarsError) -> ImportError + '_ {
    move |err| ImportError::Source(format!("{what}: {err}"))
}

/// Where a report reads its datasets: the stored tables and checkpoints of
/// `context`, and the live snapshots of the streams running in this process
/// (none on the command line, which reads checkpoints).
#[derive(Debug, Clone)]
pub struct ReportSources {
    pub context: ImportContext,
    pub live: Snapshots,
}

impl ReportSources {
    /// Stored datasets only (no stream runs here).
    pub fn stored(context: ImportContext) -> Self {
        Self { context, live: Snapshots::default() }
    }
}

/// The datasets of `report` read and the report computed over them.
pub fn run_report(
    workbook: &Workbook,
    report: &ReportSpec,
    sources: &ReportSources,
) -> Result<ReportAnswer, ImportError> {
    let context = &sources.context;
    let catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let mut tables = BTreeMap::new();
    for join in &report.joins {
        tables.insert(join.with.clone(), dataset_frame(workbook, &join.with, context, &catalog)?);
    }
    let now = now_micros();
    if workbook.stream(&report.from).is_some() {
        if let Some(snapshot) = sources.live.serving(&report.from) {
            let rollup = snapshot
                .rollup(buckets_needed(report, now))
                .map_err(|why| ImportError::Source(format!("the live rollup of stream `{}`: {why}", report.from)))?;
            return answered(report, Base::Stream(&rollup), &tables, now);
        }
        let store = StateStore::open(&context.data_dir)?;
        let key = StreamKey { workbook_id: context.workbook_id.clone(), stream: report.from.clone() };
        let checkpoint = store.load(&key)?.ok_or_else(|| {
            ImportError::Config(format!("stream `{}` has no rollup yet (it has not checkpointed)", report.from))
        })?;
        return answered(report, Base::Stream(&checkpoint.rollup), &tables, now);
    }
    let version = catalog.current(&report.from)?.ok_or_else(|| {
        ImportError::Config(format!("table `{}` has no version yet (its import has not succeeded)", report.from))
    })?;
    answered(report, Base::Table(read_version(&version)?), &tables, now)
}

/// The report's answer, with a pivot's totals when it is drawn as one.
fn answered(
    report: &ReportSpec,
    base: Base<'_>,
    tables: &BTreeMap<String, DataFrame>,
    now: i64,
) -> Result<ReportAnswer, ImportError> {
    if report.chart_or_default().kind != crate::model::reports::ChartKind::Pivot {
        return compute(report, base, tables, now);
    }
    let mut answer = compute(report, base.clone(), tables, now)?;
    answer.totals = Some(pivot_totals(report, &base, tables, now)?);
    Ok(answer)
}

/// A pivot's totals: the report computed again grouped by its row fields
/// only, by its field across only, and by nothing.
pub fn pivot_totals(
    report: &ReportSpec,
    base: &Base<'_>,
    tables: &BTreeMap<String, DataFrame>,
    now: i64,
) -> Result<PivotTotals, ImportError> {
    let layout = report.pivot_layout();
    let time_field = report.time.as_ref().map(|time| time.field_name().to_string());
    let regrouped = |keep: &dyn Fn(&String) -> bool| {
        let mut spec = report.clone();
        (spec.chart, spec.limit) = (None, None);
        spec.sort.clear();
        spec.group_by.retain(|field| keep(field));
        if let Some(range) = &mut spec.range
            && range.field.is_none()
        {
            // The range stays on the field it limited, time grouping or not.
            range.field = time_field.clone().or_else(|| Some(BUCKET_COLUMN.to_string()));
        }
        if time_field.as_ref().is_some_and(|time| !keep(time)) {
            spec.time = None;
        }
        if spec.top.as_ref().is_some_and(|top| !spec.group_by.contains(&top.field)) {
            spec.top = None;
        }
        compute(&spec, base.clone(), tables, now).map(|answer| answer.frame)
    };
    Ok(PivotTotals {
        by_rows: regrouped(&|field| layout.rows.contains(field))?,
        by_columns: regrouped(&|field| layout.across.as_ref() == Some(field))?,
        grand: regrouped(&|_| false)?,
    })
}

/// The rollup buckets a report over a stream can use: those its range keeps
/// when the range is on the bucket time (the filter in [`compute`] is exact;
/// this only spares reading the rest).
fn buckets_needed(report: &ReportSpec, now: i64) -> (Bound<i64>, Bound<i64>) {
    let on_buckets = |range: &&TimeRange| {
        range.field.as_deref().or_else(|| report.time.as_ref().map(TimeGrouping::field_name)).unwrap_or(BUCKET_COLUMN)
            == BUCKET_COLUMN
    };
    match report.range.as_ref().filter(on_buckets).and_then(|range| range.bounds(now).ok()) {
        Some((start, end)) => {
            (start.map_or(Bound::Unbounded, Bound::Included), end.map_or(Bound::Unbounded, Bound::Excluded))
        }
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Computes `report` and writes its whole answer to `path` (CSV or Parquet by
/// the extension, atomically): the command line and the window write the same bytes.
pub fn export_report(
    workbook: &Workbook,
    report: &ReportSpec,
    sources: &ReportSources,
    path: &std::path::Path,
) -> Result<ReportAnswer, ImportError> {
    let mut answer = run_report(workbook, report, sources)?;
    crate::engine::export::write_frame(&mut answer.frame, path).map_err(|err| ImportError::Source(err.to_string()))?;
    Ok(answer)
}

/// The report's answer: one row per group (time, then `group_by` fields), one
/// column per measure; `now_micros` ends a `range = { last = … }`.
pub fn compute(
    report: &ReportSpec,
    base: Base<'_>,
    tables: &BTreeMap<String, DataFrame>,
    now_micros: i64,
) -> Result<ReportAnswer, ImportError> {
    match compute_over(report, base.clone(), tables, now_micros, true) {
        // Rows built with only the columns the report reads would name only
        // those where a field is missing: say it with every field there is.
        Err(_) if matches!(base, Base::Stream(_)) => compute_over(report, base, tables, now_micros, false),
        answer => answer,
    }
}

/// [`compute`], over a rollup's rows built with only the columns the report
/// reads when `pruned`.
fn compute_over(
    report: &ReportSpec,
    base: Base<'_>,
    tables: &BTreeMap<String, DataFrame>,
    now_micros: i64,
    pruned: bool,
) -> Result<ReportAnswer, ImportError> {
    let mut join_stats = Vec::with_capacity(report.joins.len());
    // Not when naming every field after an error: a first join done as a
    // lookup, else rows merged over what the report does not read.
    let looked_up = match &base {
        Base::Stream(state) if pruned => lookup_join::through_lookup(state, report, tables)?,
        _ => None,
    };
    let coarse = match &base {
        Base::Stream(state) if pruned && looked_up.is_none() => coarse::coarse_rollup(state, report, tables),
        _ => None,
    };
    let report = match &looked_up {
        Some(looked_up) => {
            join_stats.push(looked_up.matched.clone());
            &looked_up.rest
        }
        None => report,
    };
    let merged = looked_up.as_ref().map(|looked_up| &looked_up.merged).or(coarse.as_ref());
    let weights = join::RowWeights(merged.map(|merged| merged.rows_merged.as_slice()));
    let base = match merged {
        Some(merged) => Base::Stream(&merged.rollup),
        None => base,
    };
    let mut joins_done = 0;
    let (frame, state) = match base {
        Base::Stream(state) => {
            let first_table = report.joins.first().and_then(|join| tables.get(&join.with));
            let through_dictionary = match first_table {
                Some(table) => dimension_join::through_dictionary(state, report, table, pruned, weights)?,
                None => None,
            };
            match through_dictionary {
                Some((rows, matched)) => {
                    join_stats.push(matched);
                    joins_done = 1;
                    (rows, Some(state))
                }
                None => (rollup_rows(state, report, pruned)?, Some(state)),
            }
        }
        Base::Table(frame) => (frame, None),
    };
    let joined = joined_with(frame, &report.joins[joins_done..], tables, weights, &mut join_stats)?;
    // Each rollup row is in the joined rows at most once unless a join met several table rows for it.
    let combining =
        state.map(|state| Combining { state, each_row_once: join_stats.iter().all(|stats| stats.repeated_left == 0) });
    let schema = joined.schema().clone();
    let mut lazy = derive::with_derived(joined.lazy(), &schema, &report.derive)?;
    for filter in &report.filters {
        lazy = lazy.filter(filter_expr(filter)?);
    }
    if let Some(range) = &report.range {
        let field = range
            .field
            .as_deref()
            .or_else(|| report.time.as_ref().map(TimeGrouping::field_name))
            .unwrap_or(BUCKET_COLUMN);
        let (start, end) =
            range.bounds(now_micros).map_err(|problem| ImportError::Config(format!("range: {problem}")))?;
        let micros = || col(field).dt().timestamp(TimeUnit::Microseconds);
        if let Some(start) = start {
            lazy = lazy.filter(micros().gt_eq(lit(start)));
        }
        if let Some(end) = end {
            lazy = lazy.filter(micros().lt(lit(end)));
        }
    }
    if let Some(top) = &report.top {
        lazy = with_top_values(lazy, report, top, combining.as_ref())?;
    }
    let mut keys: Vec<Expr> = Vec::new();
    let mut key_names: Vec<String> = Vec::new();
    if let Some(time) = &report.time {
        let field = time.field_name();
        let every = time.grain.polars_every();
        keys.push(col(field).dt().truncate(lit(every)).alias(field));
        key_names.push(field.to_string());
    }
    for field in &report.group_by {
        keys.push(col(field.as_str()));
        key_names.push(field.clone());
    }
    let answer = grouped(lazy, keys, &report.measures, report, combining.as_ref())?;
    let mut order: Vec<PlSmallStr> = key_names.iter().map(|n| PlSmallStr::from(n.as_str())).collect();
    order.extend(report.measures.iter().map(|m| PlSmallStr::from(m.name.as_str())));
    let answer = answer.select(order).map_err(failed("ordering the report's columns"))?;
    Ok(ReportAnswer { frame: sorted_and_cut(answer, report, &key_names)?, joins: join_stats, totals: None })
}

/// `frame` joined as `joins` say, what each matched appended to `matched`.
/// Each join runs on the materialized result of the ones before, so that
/// counting what it matched does not run the joins before it again.
fn joined_with(
    frame: DataFrame,
    joins: &[crate::model::reports::JoinSpec],
    tables: &BTreeMap<String, DataFrame>,
    weights: join::RowWeights<'_>,
    matched: &mut Vec<JoinStats>,
) -> Result<DataFrame, ImportError> {
    let mut joined = frame;
    for join in joins {
        let right = tables
            .get(&join.with)
            .ok_or_else(|| ImportError::Config(format!("the joined table `{}` was not read", join.with)))?;
        let (next, stats) = join::joined(&joined, right, join, weights)?;
        joined = next;
        matched.push(stats);
    }
    Ok(joined)
}

/// The rollup's rows numbered in `ROW`, with only the columns the report reads when `pruned`.
fn rollup_rows(state: &RollupState, report: &ReportSpec, pruned: bool) -> Result<DataFrame, ImportError> {
    let read = if pruned { report.fields_read(None) } else { None };
    let rows = state
        .to_unsorted_frame_of(&|name| read.as_ref().is_none_or(|read| read.contains(name)))
        .map_err(failed("building the rollup rows"))?;
    rows.with_row_index(ROW.into(), None).map_err(failed("numbering the rollup rows"))
}

/// `lazy` grouped by `keys` (one row over everything without keys), with
/// `measures`: a table's fields aggregated by Polars, a stream's metrics
/// combined as `combining` says.
fn grouped(
    lazy: LazyFrame,
    keys: Vec<Expr>,
    measures: &[MeasureSpec],
    report: &ReportSpec,
    combining: Option<&Combining<'_>>,
) -> Result<DataFrame, ImportError> {
    let mut aggregations: Vec<Expr> = Vec::new();
    let mut by_rows: Vec<&MeasureSpec> = Vec::new();
    for measure in measures {
        let name = measure.name.as_str();
        match (&measure.metric, combining) {
            (Some(metric), Some(combining)) => match combining.as_column_aggregation(metric, report) {
                Some(aggregation) => aggregations.push(aggregation.alias(name)),
                None => by_rows.push(measure),
            },
            _ => aggregations.extend(measure.agg.map(|agg| aggregation(agg, measure.field.as_deref()).alias(name))),
        }
    }
    if !by_rows.is_empty() {
        aggregations.push(if keys.is_empty() { col(ROW).implode(true) } else { col(ROW) }.alias(ROW));
    }
    let grouped = if keys.is_empty() { lazy.select(aggregations) } else { lazy.group_by(keys).agg(aggregations) };
    let answer = grouped.collect().map_err(failed(&format!("computing report `{}`", report.name)))?;
    match combining {
        Some(combining) if !by_rows.is_empty() => combining.by_rows(answer, &by_rows, report),
        _ => Ok(answer),
    }
}

/// The label of the values outside a report's top N.
pub const OTHER: &str = "other";

/// A report whose computation took `T` is computed again no sooner than
/// `BUSY_SHARE × T` after that computation started: a refreshing report
/// takes at most an eighth of a core, which the streams it reads need (a
/// live refresh of a few ms still follows every 100 ms snapshot)…
pub const BUSY_SHARE: u32 = 8;
/// …but a live report is computed again at least this often, unless a
/// computation takes more than half of it (then it waits twice its time).
pub const REFRESH_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

/// How long after the start of a computation that took `took` the report's
/// next computation may start (see [`BUSY_SHARE`]).
pub fn refresh_back_off(took: Duration) -> Duration {
    (took * BUSY_SHARE).min(REFRESH_AT_LEAST_EVERY).max(took * 2)
}

/// `lazy` with the values of `top.field` outside its top N (by the measure
/// `top.by` over the whole range) replaced by "other", so that they group together.
fn with_top_values(
    lazy: LazyFrame,
    report: &ReportSpec,
    top: &TopSpec,
    combining: Option<&Combining<'_>>,
) -> Result<LazyFrame, ImportError> {
    let by: Vec<MeasureSpec> = report.measures.iter().filter(|m| m.name == top.by).cloned().collect();
    let field = top.field.as_str();
    let ranking = grouped(lazy.clone(), vec![col(field)], &by, report, combining)?;
    let options = SortMultipleOptions::default()
        .with_order_descending_multi([true, false])
        .with_nulls_last(true)
        .with_maintain_order(true);
    let ranking = ranking.sort([top.by.as_str(), field], options).map_err(failed("ranking the top values"))?;
    let leaders = ranking
        .column(field)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(failed("ranking the top values"))?
        .as_materialized_series()
        .head(Some(top.n));
    let text = || col(field).cast(DataType::String);
    Ok(lazy.with_column(
        when(col(field).is_null())
            .then(text())
            .when(text().is_in(lit(leaders).implode(true), false))
            .then(text())
            .otherwise(lit(OTHER))
            .alias(field),
    ))
}

/// Sorted as the report says (by its groups otherwise, so the answer is the same every time), then cut.
fn sorted_and_cut(answer: DataFrame, report: &ReportSpec, key_names: &[String]) -> Result<DataFrame, ImportError> {
    // The report's own order first, then its groups: ties come out the same every time.
    let (by, descending): (Vec<PlSmallStr>, Vec<bool>) = report
        .sort
        .iter()
        .map(|s| (s.field.as_str(), s.descending))
        .chain(key_names.iter().filter(|k| !report.sort.iter().any(|s| &s.field == *k)).map(|k| (k.as_str(), false)))
        .map(|(field, descending)| (PlSmallStr::from(field), descending))
        .unzip();
    let answer = if by.is_empty() {
        answer
    } else {
        let options = SortMultipleOptions::default()
            .with_order_descending_multi(descending)
            .with_nulls_last(true)
            .with_maintain_order(true);
        answer.sort(by, options).map_err(failed("sorting the report"))?
    };
    Ok(match report.limit {
        Some(limit) => answer.head(Some(limit)),
        None => answer,
    })
}

fn aggregation(agg: Aggregation, field: Option<&str>) -> Expr {
    // Only `count` goes without a field (the model checks): it counts rows.
    let Some(field) = field else { return len().cast(DataType::Int64) };
    let field = col(field);
    match agg {
        Aggregation::Count => field.count().cast(DataType::Int64),
        Aggregation::CountDistinct => field.drop_nulls().n_unique().cast(DataType::Int64),
        Aggregation::Sum => field.sum(),
        Aggregation::Mean => field.mean(),
        Aggregation::Min => field.min(),
        Aggregation::Max => field.max(),
        Aggregation::Median => field.median(),
    }
}

fn filter_expr(filter: &FilterSpec) -> Result<Expr, ImportError> {
    let field = col(filter.field.as_str());
    if filter.op == FilterOp::In {
        let toml::Value::Array(values) = &filter.value else {
            return Err(ImportError::Config(format!("the filter on `{}`: `in` takes a list", filter.field)));
        };
        let mut any = lit(false);
        for value in values {
            any = any.or(field.clone().eq(literal(value, &filter.field)?));
        }
        return Ok(any);
    }
    let value = literal(&filter.value, &filter.field)?;
    Ok(match filter.op {
        FilterOp::Equal | FilterOp::In => field.eq(value),
        FilterOp::NotEqual => field.neq(value),
        FilterOp::Less => field.lt(value),
        FilterOp::AtMost => field.lt_eq(value),
        FilterOp::Greater => field.gt(value),
        FilterOp::AtLeast => field.gt_eq(value),
    })
}

fn literal(value: &toml::Value, field: &str) -> Result<Expr, ImportError> {
    Ok(match value {
        toml::Value::String(text) => lit(text.clone()),
        toml::Value::Integer(number) => lit(*number),
        toml::Value::Float(number) => lit(*number),
        toml::Value::Boolean(flag) => lit(*flag),
        other => {
            return Err(ImportError::Config(format!(
                "the filter on `{field}` compares with {other}: use a text, a number or true/false"
            )));
        }
    })
}

#[cfg(test)]
mod tests;
