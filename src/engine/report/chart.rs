//! A report's answer as its chart: over time (its time field on the x-axis,
//! one line per value of its series field — largest total first, "other"
//! last —, the chosen measure on the y-axis with the empty-bucket rule of
//! what it measures), as bars (one per value of its category field, per
//! series value side by side or stacked), or as one big number with its
//! trend. Runs beside the computation, never on the UI thread.

use polars::prelude::{DataFrame, DataType, TimeUnit};

use super::OTHER;
use crate::engine::chart::bars::{BarChart, BarSeries};
use crate::engine::chart::big_number::BigNumber;
use crate::engine::chart::{
    ChartSeries, EmptyBuckets, ReportChart, TimeChart, bucket_floor, bucket_step, first_whole_bucket, grain_words,
};
use crate::model::reports::{Aggregation, ChartKind, MeasureSpec, ReportSpec};
use crate::model::workbook::MetricKind;
use crate::model::workbook::StreamSpec;

/// Label of the rows whose series field has no value.
const NO_VALUE: &str = "(none)";

/// The chart of `answer`, or `None` when the report is drawn as a table (or
/// its chart cannot be: no measure, lines without time). `stream` is the
/// stream the report is `from`, if it is from one; `now_micros` marks its
/// bucket still filling and ends a `range = { last = … }`.
pub fn report_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    answer: &DataFrame,
    now_micros: i64,
) -> Result<Option<ReportChart>, String> {
    let Some(measure) = report.chart_measure() else { return Ok(None) };
    match report.chart_or_default().kind {
        ChartKind::Table => Ok(None),
        ChartKind::Line | ChartKind::Area => {
            Ok(time_chart(stream, report, measure, answer, now_micros)?.map(ReportChart::Time))
        }
        ChartKind::Bar => Ok(bar_chart(stream, report, measure, answer)?.map(ReportChart::Bars)),
        ChartKind::BigNumber => {
            if let Some(trend) = time_chart(stream, report, measure, answer, now_micros)? {
                return Ok(Some(ReportChart::Number(BigNumber::of_trend(measure.name.clone(), trend))));
            }
            let values = measure_values(answer, measure)?;
            let value = if answer.height() == 1 { values.get(0) } else { None };
            let integral = measure_rules(stream, measure.metric.as_deref(), measure.agg).1;
            Ok(Some(ReportChart::Number(BigNumber { label: measure.name.clone(), value, integral, over_time: None })))
        }
    }
}

/// `answer` over time, or `None` when the report has no time grouping.
fn time_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
    now_micros: i64,
) -> Result<Option<TimeChart>, String> {
    let chart = report.chart_or_default();
    let Some(time) = &report.time else { return Ok(None) };
    let times = answer.column(time.field_name()).map_err(failed("the time field"))?;
    let times = match times.dtype() {
        DataType::Datetime(_, zone) => times.cast(&DataType::Datetime(TimeUnit::Microseconds, zone.clone())),
        _ => times.cast(&DataType::Datetime(TimeUnit::Microseconds, None)),
    }
    .and_then(|c| c.to_physical_repr().cast(&DataType::Int64))
    .map_err(failed("the time field"))?;
    let times = times.i64().map_err(failed("the time field"))?;
    let values = measure_values(answer, measure)?;
    let series_field = report.chart_series_field();
    let labels = match series_field {
        Some(field) => labels_of(answer, field)?,
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

/// `answer` as bars per value of its category field, or `None` without one.
fn bar_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
) -> Result<Option<BarChart>, String> {
    let chart = report.chart_or_default();
    let Some(category_field) = report.chart_category_field() else { return Ok(None) };
    let categories_of_rows = labels_of(answer, category_field)?;
    let series_field = report.chart_series_field();
    let series_of_rows = match series_field {
        Some(field) => labels_of(answer, field)?,
        None => vec![measure.name.clone(); answer.height()],
    };
    let values = measure_values(answer, measure)?;
    let is_other = |field: Option<&str>, label: &str| {
        label == OTHER && report.top.as_ref().is_some_and(|top| Some(top.field.as_str()) == field)
    };
    // Categories by their total (largest first, "other" last) unless the report says how to sort.
    let mut categories: Vec<(String, f64)> = Vec::new();
    let mut series: Vec<(String, f64)> = Vec::new();
    for (row, (category, label)) in categories_of_rows.iter().zip(&series_of_rows).enumerate() {
        let value = values.get(row).unwrap_or(0.0).abs();
        for (list, name) in [(&mut categories, category), (&mut series, label)] {
            match list.iter_mut().find(|(known, _)| known == name) {
                Some((_, total)) => *total += value,
                None => list.push((name.clone(), value)),
            }
        }
    }
    let by_size = |list: &mut Vec<(String, f64)>, field: Option<&str>| {
        list.sort_by(|a, b| is_other(field, &a.0).cmp(&is_other(field, &b.0)).then(b.1.total_cmp(&a.1)));
    };
    if report.sort.is_empty() {
        by_size(&mut categories, Some(category_field));
    }
    by_size(&mut series, series_field);
    let position = |list: &[(String, f64)], name: &str| list.iter().position(|(known, _)| known == name);
    let mut bars: Vec<BarSeries> = series
        .iter()
        .map(|(label, _)| BarSeries {
            label: label.clone(),
            is_other: is_other(series_field, label),
            values: vec![None; categories.len()],
        })
        .collect();
    for (row, (category, label)) in categories_of_rows.iter().zip(&series_of_rows).enumerate() {
        if let (Some(c), Some(s), Some(value)) =
            (position(&categories, category), position(&series, label), values.get(row))
        {
            let slot = &mut bars[s].values[c];
            *slot = Some(slot.unwrap_or(0.0) + value);
        }
    }
    Ok(Some(BarChart {
        categories: categories.into_iter().map(|(name, _)| name).collect(),
        category_label: category_field.to_string(),
        value_label: measure.name.clone(),
        integral: measure_rules(stream, measure.metric.as_deref(), measure.agg).1,
        stacked: chart.stacked,
        horizontal: chart.horizontal,
        series: bars,
    }))
}

/// The measure's column as decimals.
fn measure_values(answer: &DataFrame, measure: &MeasureSpec) -> Result<polars::prelude::Float64Chunked, String> {
    let values = answer
        .column(&measure.name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(failed(&format!("measure `{}`", measure.name)))?;
    values.f64().cloned().map_err(failed("the measure"))
}

/// Each row's value of `field` as a label (no value: "(none)").
fn labels_of(answer: &DataFrame, field: &str) -> Result<Vec<String>, String> {
    let column = answer.column(field).and_then(|c| c.cast(&DataType::String)).map_err(failed(field))?;
    let text = column.str().map_err(failed(field))?;
    Ok(text.iter().map(|value| value.unwrap_or(NO_VALUE).to_string()).collect())
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
