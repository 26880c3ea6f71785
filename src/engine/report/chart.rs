//! A report's answer as a time chart: its time field on the x-axis, one line
//! per value of its series field (largest total first, "other" last), the
//! chosen measure on the y-axis with the empty-bucket rule of what it
//! measures. Runs beside the computation, never on the UI thread.

use polars::prelude::{DataFrame, DataType, TimeUnit};

use super::OTHER;
use crate::engine::chart::{
    ChartSeries, EmptyBuckets, TimeChart, bucket_floor, bucket_step, first_whole_bucket, grain_words,
};
use crate::model::reports::{Aggregation, ChartKind, ReportSpec};
use crate::model::workbook::MetricKind;
use crate::model::workbook::StreamSpec;

/// Label of the rows whose series field has no value.
const NO_VALUE: &str = "(none)";

/// The chart of `answer`, or `None` when the report is drawn as a table (or
/// has no time grouping). `stream` is the stream the report is `from`, if it
/// is from one; `now_micros` marks its bucket still filling and ends a
/// `range = { last = … }`.
pub fn report_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    answer: &DataFrame,
    now_micros: i64,
) -> Result<Option<TimeChart>, String> {
    let chart = report.chart_or_default();
    let (Some(time), Some(measure)) = (&report.time, report.chart_measure()) else { return Ok(None) };
    if chart.kind == ChartKind::Table {
        return Ok(None);
    }
    let times = answer.column(time.field_name()).map_err(failed("the time field"))?;
    let times = match times.dtype() {
        DataType::Datetime(_, zone) => times.cast(&DataType::Datetime(TimeUnit::Microseconds, zone.clone())),
        _ => times.cast(&DataType::Datetime(TimeUnit::Microseconds, None)),
    }
    .and_then(|c| c.to_physical_repr().cast(&DataType::Int64))
    .map_err(failed("the time field"))?;
    let times = times.i64().map_err(failed("the time field"))?;
    let values = answer
        .column(&measure.name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(failed(&format!("measure `{}`", measure.name)))?;
    let values = values.f64().map_err(failed("the measure"))?;
    let series_field = report.chart_series_field();
    let labels: Vec<String> = match series_field {
        Some(field) => {
            let column = answer.column(field).and_then(|c| c.cast(&DataType::String)).map_err(failed(field))?;
            let text = column.str().map_err(failed(field))?;
            text.iter().map(|value| value.unwrap_or(NO_VALUE).to_string()).collect()
        }
        None => vec![measure.name.clone(); answer.height()],
    };
    let range = report.range.as_ref().and_then(|range| range.bounds(now_micros).ok());
    let first_whole = range.and_then(|(start, _)| start).map(|start| first_whole_bucket(time.grain, start));
    let mut by_label: std::collections::BTreeMap<&str, Vec<(i64, f64)>> = std::collections::BTreeMap::new();
    for (row, label) in labels.iter().enumerate() {
        // A bucket cut by the start of the range holds only part of its time: left out.
        if let (Some(time), Some(value)) = (times.get(row), values.get(row))
            && first_whole.is_none_or(|first| time >= first)
        {
            by_label.entry(label.as_str()).or_default().push((time, value));
        }
    }
    let other_is_merged = report.top.as_ref().is_some_and(|top| Some(top.field.as_str()) == series_field);
    let mut series: Vec<ChartSeries> = by_label
        .into_iter()
        .map(|(label, mut points)| {
            points.sort_unstable_by_key(|(time, _)| *time);
            ChartSeries { label: label.to_string(), is_other: other_is_merged && label == OTHER, points }
        })
        .collect();
    let total = |s: &ChartSeries| s.points.iter().map(|(_, v)| v.abs()).sum::<f64>();
    series.sort_by(|a, b| a.is_other.cmp(&b.is_other).then(total(b).total_cmp(&total(a))));
    let (empty, integral) = measure_rules(stream, measure.metric.as_deref(), measure.agg);
    let first = series.iter().filter_map(|s| s.points.first()).map(|(t, _)| *t).min();
    let last = series.iter().filter_map(|s| s.points.last()).map(|(t, _)| *t).max();
    let start = range.and_then(|(start, _)| start).or(first).unwrap_or(now_micros);
    let data_end = last.map_or(now_micros, |last| bucket_step(time.grain, last, 1));
    let end = match range {
        Some((_, Some(end))) => end,
        Some((Some(_), None)) => now_micros,
        _ => data_end,
    };
    Ok(Some(TimeChart {
        grain: time.grain,
        start_micros: start,
        end_micros: end.max(start + 1),
        filling_from: stream.map(|_| bucket_floor(time.grain, now_micros)),
        empty,
        y_label: format!("{} per {}", measure.name, grain_words(time.grain)),
        integral,
        filled: chart.kind == ChartKind::Area,
        utc_offset_seconds: crate::engine::chart::local_utc_offset_seconds(now_micros),
        series,
    }))
}

fn failed(what: &str) -> impl Fn(polars::prelude::PolarsError) -> String + '_ {
    move |err| format!("drawing the chart: {what}: {err}")
}

/// How an empty bucket of a measure reads, and whether it counts.
fn measure_rules(stream: Option<&StreamSpec>, metric: Option<&str>, agg: Option<Aggregation>) -> (EmptyBuckets, bool) {
    if let Some(kind) =
        stream.and_then(|stream| stream.rollup.metrics.iter().find(|m| Some(m.name.as_str()) == metric)).map(|m| m.kind)
    {
        return (EmptyBuckets::of_metric(kind), matches!(kind, MetricKind::Count | MetricKind::ApproxDistinct));
    }
    match agg {
        Some(Aggregation::Count | Aggregation::CountDistinct) => (EmptyBuckets::Zero, true),
        Some(Aggregation::Sum) => (EmptyBuckets::Zero, false),
        _ => (EmptyBuckets::Gap, false),
    }
}
