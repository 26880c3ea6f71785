//! Computing a report: the dataset it starts from (a stream's rollup rows or
//! an imported table), joined with imported tables and filtered in Polars,
//! then grouped by its fields and time grain. A stream's metrics are
//! re-aggregated with combining aggregators — the rollup's own accumulators
//! merged over the rows of each group (`RollupState::combine`, the code the
//! chart series use): counts and sums add, a mean is Σsum / Σcount, min of
//! mins, first/last by event order, distinct counts unite their HLL sketches
//! and quantiles merge their KLL sketches — never a sum of per-row estimates
//! or a mean of means. A table's fields are aggregated by Polars.
//!
//! `compute` is pure (frames in, frame out); `run_report` reads the datasets
//! from [`ReportSources`]: a running stream's live snapshot (only the buckets
//! the report's range needs), else its last checkpoint, and a table's current
//! version. Runs on the caller's thread, never the UI's nor a stream's.

pub mod chart;
mod derive;

use std::collections::BTreeMap;
use std::ops::Bound;

use polars::prelude::*;

use crate::engine::exports::dataset_frame;
use crate::engine::imports::{ImportContext, ImportError, read_version};
use crate::engine::rollup::RollupState;
use crate::engine::snapshots::Snapshots;
use crate::engine::store::tables::TableCatalog;
use crate::engine::store::{StateStore, StreamKey};
use crate::model::Workbook;
use crate::model::reports::{
    Aggregation, AsofSpec, FilterOp, FilterSpec, JoinKind, JoinSpec, MeasureSpec, ReportSpec, TimeGrouping, TimeRange,
    TopSpec,
};
use crate::model::workbook::BUCKET_COLUMN;

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

/// What a join matched, for the user to trust it (or not): what an inner join
/// drops, what a left join leaves without values, whether keys repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinStats {
    pub with: String,
    pub left_rows: u64,
    /// Left rows with at least one match.
    pub matched_left: u64,
    pub right_rows: u64,
    /// Table rows matching at least one left row.
    pub matched_right: u64,
    /// Rows after the join.
    pub joined_rows: u64,
}

impl JoinStats {
    /// Whether some left rows met several table rows (keys repeat in the table).
    pub fn multiplies_rows(&self) -> bool {
        self.joined_rows > self.left_rows
    }
}

impl std::fmt::Display for JoinStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "join with `{}`: {} of {} rows matched ({} without a match), {} of {} table rows used ({} unused); {} rows after the join",
            self.with,
            self.matched_left,
            self.left_rows,
            self.left_rows - self.matched_left,
            self.matched_right,
            self.right_rows,
            self.right_rows - self.matched_right,
            self.joined_rows
        )?;
        if self.multiplies_rows() {
            write!(
                f,
                " — more than it was given: keys repeat in `{}`, so some rows meet several of its rows",
                self.with
            )?;
        }
        Ok(())
    }
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
    let (frame, state) = match base {
        Base::Stream(state) => {
            let rows = state.to_unsorted_frame().map_err(failed("building the rollup rows"))?;
            (rows.with_row_index(ROW.into(), None).map_err(failed("numbering the rollup rows"))?, Some(state))
        }
        Base::Table(frame) => (frame, None),
    };
    // Each join runs on the materialized result of the ones before, so that
    // counting what it matched does not run the joins before it again.
    let mut joined = frame;
    let mut join_stats = Vec::with_capacity(report.joins.len());
    for join in &report.joins {
        let right = tables
            .get(&join.with)
            .ok_or_else(|| ImportError::Config(format!("the joined table `{}` was not read", join.with)))?;
        check_join_keys(&joined, right, join)?;
        let (next, matched) = match (join.how, &join.asof) {
            (JoinKind::Asof, Some(asof)) => asof_join(&joined, right, join, asof)?,
            _ => equi_join(&joined, right, join)?,
        };
        joined = next;
        join_stats.push(matched);
    }
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
        lazy = with_top_values(lazy, report, top, state)?;
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
    let answer = grouped(lazy, keys, &report.measures, report, state)?;
    let mut order: Vec<PlSmallStr> = key_names.iter().map(|n| PlSmallStr::from(n.as_str())).collect();
    order.extend(report.measures.iter().map(|m| PlSmallStr::from(m.name.as_str())));
    let answer = answer.select(order).map_err(failed("ordering the report's columns"))?;
    Ok(ReportAnswer { frame: sorted_and_cut(answer, report, &key_names)?, joins: join_stats, totals: None })
}

/// `lazy` grouped by `keys` (one row over everything without keys), with `measures`.
fn grouped(
    lazy: LazyFrame,
    keys: Vec<Expr>,
    measures: &[MeasureSpec],
    report: &ReportSpec,
    state: Option<&RollupState>,
) -> Result<DataFrame, ImportError> {
    let mut aggregations: Vec<Expr> = measures
        .iter()
        .filter_map(|measure| Some(aggregation(measure.agg?, measure.field.as_deref()).alias(measure.name.as_str())))
        .collect();
    if state.is_some() {
        aggregations.push(if keys.is_empty() { col(ROW).implode(true) } else { col(ROW) }.alias(ROW));
    }
    let grouped = if keys.is_empty() { lazy.select(aggregations) } else { lazy.group_by(keys).agg(aggregations) };
    let answer = grouped.collect().map_err(failed(&format!("computing report `{}`", report.name)))?;
    match state {
        Some(state) => with_combined_metrics(answer, measures, report, state),
        None => Ok(answer),
    }
}

/// The label of the values outside a report's top N.
pub const OTHER: &str = "other";

/// `lazy` with the values of `top.field` outside its top N (by the measure
/// `top.by` over the whole range) replaced by "other", so that they group together.
fn with_top_values(
    lazy: LazyFrame,
    report: &ReportSpec,
    top: &TopSpec,
    state: Option<&RollupState>,
) -> Result<LazyFrame, ImportError> {
    let by: Vec<MeasureSpec> = report.measures.iter().filter(|m| m.name == top.by).cloned().collect();
    let field = top.field.as_str();
    let ranking = grouped(lazy.clone(), vec![col(field)], &by, report, state)?;
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

/// `left` joined with `right` on the `on` fields, and what the join matched.
fn equi_join(left: &DataFrame, right: &DataFrame, join: &JoinSpec) -> Result<(DataFrame, JoinStats), ImportError> {
    let left_on: Vec<Expr> = join.on.keys().map(|k| col(k.as_str())).collect();
    let right_on: Vec<Expr> = join.on.values().map(|v| col(v.as_str())).collect();
    let how = match join.how {
        JoinKind::Inner => JoinType::Inner,
        JoinKind::Left | JoinKind::Asof => JoinType::Left,
        JoinKind::Full => JoinType::Full,
    };
    let semi = || JoinArgs::new(JoinType::Semi);
    let matched_left =
        count_rows(left.clone().lazy().join(right.clone().lazy(), left_on.clone(), right_on.clone(), semi()))?;
    let matched_right =
        count_rows(right.clone().lazy().join(left.clone().lazy(), right_on.clone(), left_on.clone(), semi()))?;
    let joined = left
        .clone()
        .lazy()
        .join(right.clone().lazy(), left_on, right_on, JoinArgs::new(how).with_coalesce(JoinCoalesce::CoalesceColumns))
        .collect()
        .map_err(failed(&format!("the join with `{}`", join.with)))?;
    let stats = JoinStats {
        with: join.with.clone(),
        left_rows: left.height() as u64,
        matched_left,
        right_rows: right.height() as u64,
        matched_right,
        joined_rows: joined.height() as u64,
    };
    Ok((joined, stats))
}

/// The column an as-of join adds for a moment to count what it matched.
const MATCHED_ROW: &str = "__tidepool_matched_row";

/// Each left row with the table row nearest in time as `asof` says (and equal
/// in the `on` fields); both sides sorted by time first, the table's time cast
/// to the left side's type (a table in ms meets a rollup in µs).
fn asof_join(
    left: &DataFrame,
    right: &DataFrame,
    join: &JoinSpec,
    asof: &AsofSpec,
) -> Result<(DataFrame, JoinStats), ImportError> {
    let schema = left.schema();
    let left_time = asof.left_field();
    let config = |message: String| ImportError::Config(format!("the as-of join with `{}`: {message}", join.with));
    let left_type =
        schema.get(left_time).cloned().ok_or_else(|| config(format!("no field `{left_time}` on the left")))?;
    let right_type = right
        .schema()
        .get(asof.right.as_str())
        .cloned()
        .ok_or_else(|| config(format!("table `{}` has no column `{}`", join.with, asof.right)))?;
    // A JSON API's times arrive as text (RFC 3339): read as UTC datetimes.
    let right_is_text = right_type == DataType::String && matches!(left_type, DataType::Datetime(_, _));
    if !(left_type.is_temporal() || left_type.is_primitive_numeric())
        || !(right_type.is_temporal() || right_type.is_primitive_numeric() || right_is_text)
    {
        return Err(config(format!(
            "`{left_time}` is {left_type} and `{}` is {right_type}: as-of joins match times or numbers",
            asof.right
        )));
    }
    let table = right
        .clone()
        .lazy()
        .with_row_index(MATCHED_ROW, None)
        .with_column(time_column(asof.right.as_str(), right_is_text).strict_cast(left_type))
        .sort([asof.right.as_str()], SortMultipleOptions::default());
    let by = |names: Vec<&String>| {
        (!names.is_empty()).then(|| names.into_iter().map(|n| PlSmallStr::from(n.as_str())).collect())
    };
    let options = AsOfOptions {
        strategy: match asof.strategy {
            crate::model::reports::AsofStrategy::Backward => AsofStrategy::Backward,
            crate::model::reports::AsofStrategy::Forward => AsofStrategy::Forward,
            crate::model::reports::AsofStrategy::Nearest => AsofStrategy::Nearest,
        },
        tolerance_str: asof.tolerance.map(|t| PlSmallStr::from(format!("{}s", t.seconds()))),
        left_by: by(join.on.keys().collect()),
        right_by: by(join.on.values().collect()),
        allow_eq: true,
        ..AsOfOptions::default()
    };
    let joined = left
        .clone()
        .lazy()
        .sort([left_time], SortMultipleOptions::default())
        .join(table, [col(left_time)], [col(asof.right.as_str())], JoinArgs::new(JoinType::AsOf(Box::new(options))))
        .collect()
        .map_err(failed(&format!("the as-of join with `{}`", join.with)))?;
    let matches = joined.column(MATCHED_ROW).map_err(failed("the as-of join's matches"))?;
    let stats = JoinStats {
        with: join.with.clone(),
        left_rows: left.height() as u64,
        matched_left: (matches.len() - matches.null_count()) as u64,
        right_rows: right.height() as u64,
        matched_right: matches.drop_nulls().n_unique().map_err(failed("the as-of join's matches"))? as u64,
        joined_rows: joined.height() as u64,
    };
    Ok((joined.drop(MATCHED_ROW).map_err(failed("the as-of join's matches"))?, stats))
}

/// The table's time column, text parsed as UTC datetimes (an offset in the text is honoured).
fn time_column(name: &str, is_text: bool) -> Expr {
    if !is_text {
        return col(name);
    }
    let options = StrptimeOptions { format: None, strict: true, exact: true, cache: true };
    col(name)
        .str()
        .to_datetime(Some(TimeUnit::Microseconds), Some(TimeZone::UTC), options, lit("raise"))
        .dt()
        .replace_time_zone(None, lit("raise"), NonExistent::Raise)
}

fn count_rows(frame: LazyFrame) -> Result<u64, ImportError> {
    let counted = frame.select([len().alias("rows")]).collect().map_err(failed("counting a join's rows"))?;
    let value = counted.column("rows").and_then(|c| c.get(0)).map_err(failed("counting a join's rows"))?;
    Ok(value.extract::<u64>().unwrap_or_default())
}

/// The measures of a stream's metrics, each combined over its group's rows.
fn with_combined_metrics(
    mut answer: DataFrame,
    measures: &[MeasureSpec],
    report: &ReportSpec,
    state: &RollupState,
) -> Result<DataFrame, ImportError> {
    let groups = answer.column(ROW).map_err(failed("the rollup rows of each group"))?.list().cloned();
    let groups = groups.map_err(failed("the rollup rows of each group"))?;
    let rows_of: Vec<Vec<usize>> = groups
        .amortized_iter()
        .map(|rows| {
            rows.and_then(|rows| rows.as_ref().cast(&DataType::UInt64).ok())
                .map(|rows| rows.u64().map(|r| r.iter().flatten().map(|r| r as usize).collect()).unwrap_or_default())
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

/// A join whose key types differ would match nothing (or fail deep in Polars): say so with the types.
fn check_join_keys(left: &DataFrame, right: &DataFrame, join: &JoinSpec) -> Result<(), ImportError> {
    let left_schema = left.schema();
    for (left_field, right_field) in &join.on {
        let left_type = left_schema.get(left_field.as_str()).ok_or_else(|| {
            ImportError::Config(format!(
                "the join with `{}`: no field `{left_field}` on the left side; it has {}",
                join.with,
                names_of(left_schema.iter_names().map(PlSmallStr::as_str))
            ))
        })?;
        let right_type = right.schema().get(right_field.as_str()).cloned().ok_or_else(|| {
            ImportError::Config(format!(
                "the join with `{}`: table `{}` has no column `{right_field}`; it has {}",
                join.with,
                join.with,
                names_of(right.get_column_names().into_iter().map(PlSmallStr::as_str))
            ))
        })?;
        if *left_type != right_type {
            let same_type: Vec<&str> =
                right.schema().iter().filter(|(_, dtype)| *dtype == left_type).map(|(name, _)| name.as_str()).collect();
            let hint = if same_type.is_empty() {
                String::new()
            } else {
                format!(" (columns of `{}` that are {left_type}: {})", join.with, names_of(same_type.into_iter()))
            };
            return Err(ImportError::Config(format!(
                "the join with `{}`: `{left_field}` is {left_type} but `{right_field}` is {right_type}; \
                 keys must have the same type{hint}",
                join.with
            )));
        }
    }
    Ok(())
}

/// `a`, `b`, `c` (at most 20, then how many more).
fn names_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.filter(|n| *n != ROW).collect();
    let mut shown: Vec<String> = names.iter().take(20).map(|n| format!("`{n}`")).collect();
    if names.len() > 20 {
        shown.push(format!("and {} more", names.len() - 20));
    }
    shown.join(", ")
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
