//! A live report's answer kept current cheaply (Druid's per-segment result
//! cache). A report over a running stream, grouped by time on the rollup's
//! buckets, is answered one time group at a time: every bucket falls in
//! exactly one group, so a group whose buckets are the very segments it was
//! last computed from (an unchanged bucket is the same shared segment in every
//! later snapshot) keeps its rows, and only the groups with a new, changed or
//! dropped bucket are computed again. A refresh of a report over a
//! million-row rollup reads the few buckets that events touched since the
//! last one. The answer is the groups' rows together, sorted and cut as the
//! report says: the rows that computing the whole report gives.
//!
//! Reports whose groups are not independent of each other are computed whole
//! every time: a top N (ranked over every group), a pivot (its totals over
//! every group), joins (what a join matched is counted over every row), a
//! range on another field than the buckets, and every report read from a
//! checkpoint (no stream runs here).
//!
//! Owns one reader's cache (a shown report, a builder's preview); no thread,
//! no I/O beyond [`run_report`]'s. Must never change what a report answers.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{Base, ReportAnswer, ReportSources, compute, failed, run_report, sorted_and_cut};
use crate::engine::imports::ImportError;
use crate::engine::rollup::segments::EncodedSegment;
use crate::engine::snapshots::RollupSnapshot;
use crate::model::Workbook;
use crate::model::reports::{ChartKind, Grain, ReportSpec};
use crate::model::workbook::BUCKET_COLUMN;

/// One reader's cache of a live report's rows per time group.
#[derive(Debug, Default)]
pub struct LiveAnswer {
    cache: Option<GroupCache>,
    last: Option<Refresh>,
}

/// What the last refresh computed, for the benchmark and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Time groups in the answer.
    pub groups: usize,
    /// Of those, the ones computed again (the rest kept their rows).
    pub recomputed: usize,
    /// Rollup rows read to compute them.
    pub rows_read: usize,
}

#[derive(Debug)]
struct GroupCache {
    /// The report the groups were computed for, and the rollup definition they were read with.
    report: ReportSpec,
    header: Vec<u8>,
    groups: BTreeMap<i64, CachedGroup>,
}

#[derive(Debug)]
struct CachedGroup {
    /// The segments its rows were computed from, oldest first.
    segments: Vec<EncodedSegment>,
    rows: DataFrame,
}

impl CachedGroup {
    /// Whether the group was computed from exactly `segments` (the same shared bytes).
    fn is_from(&self, segments: &[&EncodedSegment]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(kept, now)| kept.bucket == now.bucket && std::sync::Arc::ptr_eq(&kept.bytes, &now.bytes))
    }
}

impl LiveAnswer {
    /// `report`'s answer over `sources`, as [`run_report`] gives it, reusing
    /// the rows of the time groups whose buckets have not changed since the
    /// previous call when the report allows it.
    pub fn run(
        &mut self,
        workbook: &Workbook,
        report: &ReportSpec,
        sources: &ReportSources,
    ) -> Result<ReportAnswer, ImportError> {
        let snapshot = if workbook.stream(&report.from).is_some() && answers_by_group(report) {
            sources.live.serving(&report.from)
        } else {
            None
        };
        if let Some(snapshot) = snapshot
            && let Ok(answer) = self.by_group(report, &snapshot, super::now_micros())
        {
            return Ok(answer);
        }
        // Computed whole, which also says what went wrong, if anything did.
        (self.cache, self.last) = (None, None);
        run_report(workbook, report, sources)
    }

    /// What the last refresh computed, when it was answered by group.
    pub fn last_refresh(&self) -> Option<Refresh> {
        self.last
    }

    /// The answer over `snapshot`, computing again only the groups whose buckets changed.
    fn by_group(
        &mut self,
        report: &ReportSpec,
        snapshot: &RollupSnapshot,
        now: i64,
    ) -> Result<ReportAnswer, ImportError> {
        let Some(time) = &report.time else {
            return Err(ImportError::Config("a report without time has no time groups".into()));
        };
        let segments: Vec<&EncodedSegment> = snapshot.segments(super::buckets_needed(report, now)).collect();
        let starts = group_starts(&segments, time.grain).map_err(failed("the report's time groups"))?;
        let mut now_groups: BTreeMap<i64, Vec<&EncodedSegment>> = BTreeMap::new();
        for (segment, start) in segments.iter().zip(starts) {
            now_groups.entry(start).or_default().push(segment);
        }
        let mut cache = match self.cache.take() {
            Some(cache) if cache.report == *report && cache.header == snapshot.header() => cache,
            _ => GroupCache { report: report.clone(), header: snapshot.header().to_vec(), groups: BTreeMap::new() },
        };
        cache.groups.retain(|start, _| now_groups.contains_key(start));
        let changed: Vec<i64> = now_groups
            .iter()
            .filter(|(start, segments)| !cache.groups.get(start).is_some_and(|group| group.is_from(segments)))
            .map(|(&start, _)| start)
            .collect();
        let recomputed = changed.len();
        let mut rows_read = 0;
        // The answer's columns without rows, for a range with no bucket in it.
        let mut no_rows = None;
        if !changed.is_empty() || now_groups.is_empty() {
            let read = changed.iter().flat_map(|start| now_groups[start].iter().copied());
            rows_read = read.clone().map(|segment| segment.rows).sum();
            let rollup = snapshot
                .rollup_of(read)
                .map_err(|why| ImportError::Source(format!("the live rollup of stream `{}`: {why}", report.from)))?;
            // Each group's rows as the whole report has them; sorted and cut together below.
            let mut partial = report.clone();
            partial.sort.clear();
            partial.limit = None;
            let rows = compute(&partial, Base::Stream(&rollup), &BTreeMap::new(), now)?.frame;
            let mut by_start = split_by_group(&rows, time.field_name(), &changed)?;
            for start in changed {
                let rows = by_start.remove(&start).unwrap_or_else(|| rows.clear());
                let segments = now_groups[&start].iter().map(|&segment| segment.clone()).collect();
                cache.groups.insert(start, CachedGroup { segments, rows });
            }
            no_rows = Some(rows.clear());
        }
        let mut answer: Option<DataFrame> = None;
        for group in cache.groups.values() {
            match &mut answer {
                None => answer = Some(group.rows.clone()),
                Some(answer) => {
                    answer.vstack_mut(&group.rows).map_err(failed("putting the report's time groups together"))?;
                }
            }
        }
        let answer = answer.or(no_rows).ok_or_else(|| ImportError::Source("no time group was computed".into()))?;
        self.last = Some(Refresh { groups: now_groups.len(), recomputed, rows_read });
        self.cache = Some(cache);
        let key_names: Vec<String> =
            std::iter::once(time.field_name().to_string()).chain(report.group_by.iter().cloned()).collect();
        Ok(ReportAnswer { frame: sorted_and_cut(answer, report, &key_names)?, joins: Vec::new(), totals: None })
    }
}

/// Whether `report`'s time groups can be computed apart and put together.
fn answers_by_group(report: &ReportSpec) -> bool {
    report.time.as_ref().is_some_and(|time| time.field_name() == BUCKET_COLUMN)
        && report.range.as_ref().is_none_or(|range| range.field.as_deref().is_none_or(|f| f == BUCKET_COLUMN))
        && report.joins.is_empty()
        && report.top.is_none()
        && report.chart_or_default().kind != ChartKind::Pivot
        && report.derive.iter().all(|derived| derived.name != BUCKET_COLUMN)
}

/// The start of the time group of each segment's bucket, as the report truncates it.
fn group_starts(segments: &[&EncodedSegment], grain: Grain) -> PolarsResult<Vec<i64>> {
    let buckets = Int64Chunked::from_iter_values(BUCKET_COLUMN.into(), segments.iter().map(|segment| segment.bucket))
        .into_datetime(TimeUnit::Microseconds, None);
    let truncated = DataFrame::new(segments.len(), vec![buckets.into_column()])?
        .lazy()
        .select([col(BUCKET_COLUMN).dt().truncate(lit(grain.polars_every())).cast(DataType::Int64)])
        .collect()?;
    Ok(truncated.column(BUCKET_COLUMN)?.i64()?.iter().map(|start| start.unwrap_or(i64::MIN)).collect())
}

/// `rows` split by the start of their time group (one of `starts`).
fn split_by_group(rows: &DataFrame, time_field: &str, starts: &[i64]) -> Result<BTreeMap<i64, DataFrame>, ImportError> {
    let times = rows.column(time_field).and_then(|c| c.cast(&DataType::Int64)).map_err(failed("the time groups"))?;
    let times = times.i64().map_err(failed("the time groups"))?;
    let mut indices: BTreeMap<i64, Vec<IdxSize>> = starts.iter().map(|&start| (start, Vec::new())).collect();
    for (row, time) in times.iter().enumerate() {
        let group = time
            .and_then(|time| indices.get_mut(&time))
            .ok_or_else(|| ImportError::Source(format!("a row of time {time:?} outside the time groups computed")))?;
        group.push(row as IdxSize);
    }
    indices
        .into_iter()
        .map(|(start, rows_of)| {
            let taken = rows.take(&IdxCa::from_vec(PlSmallStr::EMPTY, rows_of)).map_err(failed("the time groups"))?;
            Ok((start, taken))
        })
        .collect()
}

#[cfg(test)]
mod tests;
