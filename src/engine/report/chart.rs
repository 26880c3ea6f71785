//! A report's answer as its chart: over time (its time field on the x-axis,
//! one line per value of its series field — largest total first, "other"
//! last —, the chosen measure on the y-axis with the empty-bucket rule of
//! what it measures), as bars (one per value of its category field, per
//! series value side by side or stacked), as a pie (a slice per value), a
//! scatter (a point per row, one measure against another), a heatmap (a
//! series field down, time or another field across), or as one big number
//! with its trend. Runs beside the computation, never on the UI thread.

use std::collections::HashMap;

use polars::prelude::{DataFrame, DataType, TimeUnit};

use super::{OTHER, PivotTotals, ReportAnswer};
use crate::engine::chart::bars::{BarChart, BarSeries, BarTimes};
use crate::engine::chart::big_number::BigNumber;
use crate::engine::chart::heatmap::{HeatColumns, Heatmap};
use crate::engine::chart::pie::PieChart;
use crate::engine::chart::pivot::{PivotRow, PivotTable};
use crate::engine::chart::scatter::{ScatterChart, ScatterPoint, ScatterSeries};
use crate::engine::chart::{
    ChartSeries, EmptyBuckets, ReportChart, TimeChart, bucket_floor, bucket_step, first_whole_bucket, grain_words,
};
use crate::model::reports::{Aggregation, ChartKind, MeasureSpec, ReportSpec};
use crate::model::workbook::MetricKind;
use crate::model::workbook::StreamSpec;

/// Label of the rows whose series field has no value.
const NO_VALUE: &str = "(none)";

/// The chart of a whole answer: as [`report_chart`], a pivot with its totals.
pub fn answer_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    answer: &ReportAnswer,
    now_micros: i64,
) -> Result<Option<ReportChart>, String> {
    chart_of(stream, report, &answer.frame, answer.totals.as_ref(), now_micros)
}

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
    chart_of(stream, report, answer, None, now_micros)
}

fn chart_of(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    answer: &DataFrame,
    totals: Option<&PivotTotals>,
    now_micros: i64,
) -> Result<Option<ReportChart>, String> {
    let Some(measure) = report.chart_measure() else { return Ok(None) };
    match report.chart_or_default().kind {
        ChartKind::Table => Ok(None),
        ChartKind::Line | ChartKind::Area => {
            Ok(time_chart(stream, report, measure, answer, now_micros)?.map(ReportChart::Time))
        }
        ChartKind::Bar if report.time.is_some() => {
            Ok(time_bars(stream, report, measure, answer, now_micros)?.map(ReportChart::Bars))
        }
        ChartKind::Bar => Ok(bar_chart(stream, report, measure, answer)?.map(ReportChart::Bars)),
        ChartKind::Pie | ChartKind::Donut => Ok(pie_chart(stream, report, measure, answer)?.map(ReportChart::Pie)),
        ChartKind::Scatter => Ok(scatter_chart(stream, report, measure, answer)?.map(ReportChart::Scatter)),
        ChartKind::Heatmap => Ok(heatmap(stream, report, measure, answer, now_micros)?.map(ReportChart::Heatmap)),
        ChartKind::Pivot => {
            let utc_offset = crate::engine::chart::local_utc_offset_seconds(now_micros);
            pivot_table(stream, report, measure, answer, totals, utc_offset)
                .map(|table| Some(ReportChart::Pivot(table)))
        }
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
    let times = time_values(answer, time.field_name())?;
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
        if let (Some(Some(time)), Some(value)) = (times.get(row).copied(), values.get(row))
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
        times: None,
        category_label: category_field.to_string(),
        value_label: measure.name.clone(),
        integral: measure_rules(stream, measure.metric.as_deref(), measure.agg).1,
        stacked: chart.stacked,
        horizontal: chart.horizontal,
        series: bars,
    }))
}

/// `answer` as bars over time: a bar per bucket of the span (from its first
/// whole one), one series per value of the series field, side by side or stacked.
fn time_bars(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
    now_micros: i64,
) -> Result<Option<BarChart>, String> {
    let Some(time) = &report.time else { return Ok(None) };
    let Some((HeatColumns::Times { grain, starts, utc_offset_seconds }, _, column_of_row)) =
        time_columns(stream, report, measure, answer, now_micros, time)?
    else {
        return Ok(None);
    };
    let values = measure_values(answer, measure)?;
    let series_field = report.chart_series_field();
    let labels = match series_field {
        Some(field) => labels_of(answer, field)?,
        None => vec![measure.name.clone(); answer.height()],
    };
    let own_other = series_field.is_some_and(|field| is_own_other(report, field));
    let names = ordered_by_total(&labels, &values, true, own_other);
    let mut series: Vec<BarSeries> = names
        .iter()
        .map(|label| BarSeries {
            label: label.clone(),
            is_other: own_other && label == OTHER,
            values: vec![None; starts.len()],
        })
        .collect();
    for (row, label) in labels.iter().enumerate() {
        if let (Some(s), Some(Some(c)), Some(value)) =
            (names.iter().position(|name| name == label), column_of_row.get(row), values.get(row))
        {
            series[s].values[*c] = Some(value);
        }
    }
    let chart = report.chart_or_default();
    let categories = starts
        .iter()
        .map(|start| {
            chrono::DateTime::from_timestamp_micros(*start)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        })
        .collect();
    Ok(Some(BarChart {
        categories,
        times: Some(BarTimes {
            grain,
            starts,
            utc_offset_seconds,
            filling_from: stream.map(|_| bucket_floor(grain, now_micros)),
        }),
        category_label: format!("{} per {}", time.field_name(), grain_words(grain)),
        value_label: measure.name.clone(),
        integral: measure_rules(stream, measure.metric.as_deref(), measure.agg).1,
        stacked: chart.stacked,
        horizontal: chart.horizontal,
        series,
    }))
}

/// `answer` as a pivot table: a row per combination of the row fields
/// (largest total first unless the report sorts), a column per value of the
/// field across (times in order), and the totals the engine computed.
fn pivot_table(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
    totals: Option<&PivotTotals>,
    utc_offset_seconds: i32,
) -> Result<PivotTable, String> {
    let layout = report.pivot_layout();
    let labels = |frame: &DataFrame, field: &str| {
        if layout.across_is_time && Some(field) == layout.across.as_deref() {
            time_labels(frame, field, utc_offset_seconds)
        } else {
            labels_of(frame, field)
        }
    };
    let keys_of = |frame: &DataFrame| -> Result<Vec<Vec<String>>, String> {
        let columns: Vec<Vec<String>> =
            layout.rows.iter().map(|field| labels(frame, field)).collect::<Result<_, _>>()?;
        Ok((0..frame.height()).map(|row| columns.iter().map(|values| values[row].clone()).collect()).collect())
    };
    let values = measure_values(answer, measure)?;
    let row_keys = keys_of(answer)?;
    let across = match &layout.across {
        Some(field) => labels(answer, field)?,
        None => vec![measure.name.clone(); answer.height()],
    };
    let columns: Vec<String> = if layout.across_is_time {
        let mut times: Vec<(i64, String)> = time_values(answer, layout.across.as_deref().unwrap_or_default())?
            .into_iter()
            .zip(&across)
            .filter_map(|(time, label)| Some((time?, label.clone())))
            .collect();
        times.sort_unstable();
        times.dedup();
        times.into_iter().map(|(_, label)| label).collect()
    } else {
        ordered_by_total(
            &across,
            &values,
            report.sort.is_empty(),
            layout.across.as_deref().is_some_and(|f| is_own_other(report, f)),
        )
    };
    let column_of: HashMap<&str, usize> = columns.iter().enumerate().map(|(c, name)| (name.as_str(), c)).collect();
    let mut rows: Vec<PivotRow> = Vec::new();
    let mut row_of: HashMap<&[String], usize> = HashMap::new();
    for (row, keys) in row_keys.iter().enumerate() {
        let index = *row_of.entry(keys.as_slice()).or_insert_with(|| {
            rows.push(PivotRow { keys: keys.clone(), cells: vec![None; columns.len()], total: None });
            rows.len() - 1
        });
        if let (Some(&c), Some(value)) = (column_of.get(across[row].as_str()), values.get(row)) {
            rows[index].cells[c] = Some(value);
        }
    }
    let (mut column_totals, mut grand_total) = (vec![None; columns.len()], None);
    if let Some(totals) = totals {
        let by_rows = measure_values(&totals.by_rows, measure)?;
        for (row, keys) in keys_of(&totals.by_rows)?.iter().enumerate() {
            if let Some(&index) = row_of.get(keys.as_slice()) {
                rows[index].total = by_rows.get(row);
            }
        }
        if let Some(field) = &layout.across {
            let by_columns = measure_values(&totals.by_columns, measure)?;
            for (row, label) in labels(&totals.by_columns, field)?.iter().enumerate() {
                if let Some(&c) = column_of.get(label.as_str()) {
                    column_totals[c] = by_columns.get(row);
                }
            }
        }
        grand_total = measure_values(&totals.grand, measure)?.get(0);
        if layout.across.is_none() {
            column_totals = vec![grand_total];
        }
    }
    if report.sort.is_empty() {
        rows.sort_by(|a, b| b.total.unwrap_or(f64::MIN).total_cmp(&a.total.unwrap_or(f64::MIN)));
    }
    Ok(PivotTable {
        row_fields: layout.rows.clone(),
        column_field: layout.across.clone(),
        columns,
        rows,
        column_totals,
        grand_total,
        value_label: measure.name.clone(),
        integral: measure_rules(stream, measure.metric.as_deref(), measure.agg).1,
    })
}

/// The time field's values as local times to the minute (seconds when they have them).
fn time_labels(answer: &DataFrame, field: &str, utc_offset_seconds: i32) -> Result<Vec<String>, String> {
    let offset = chrono::FixedOffset::east_opt(utc_offset_seconds)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
    Ok(time_values(answer, field)?
        .into_iter()
        .map(|micros| {
            micros.and_then(chrono::DateTime::from_timestamp_micros).map_or_else(
                || NO_VALUE.to_string(),
                |time| {
                    let local = time.with_timezone(&offset);
                    let format =
                        if chrono::Timelike::second(&local) == 0 { "%Y-%m-%d %H:%M" } else { "%Y-%m-%d %H:%M:%S" };
                    local.format(format).to_string()
                },
            )
        })
        .collect())
}

/// `answer` as a pie: a slice per value of its series field (the first
/// `group_by` field unless named), rows of the same value added up.
fn pie_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
) -> Result<Option<PieChart>, String> {
    let Some(field) = report.chart_series_field() else { return Ok(None) };
    let labels = labels_of(answer, field)?;
    let values = measure_values(answer, measure)?;
    let own_other = is_own_other(report, field);
    let mut parts: Vec<(String, f64, bool)> = Vec::new();
    for (row, label) in labels.into_iter().enumerate() {
        let value = values.get(row).unwrap_or(0.0);
        if let Some((_, total, _)) = parts.iter_mut().find(|(known, _, _)| *known == label) {
            *total += value;
        } else {
            let is_other = own_other && label == OTHER;
            parts.push((label, value, is_other));
        }
    }
    let integral = measure_rules(stream, measure.metric.as_deref(), measure.agg).1;
    let donut = report.chart_or_default().kind == ChartKind::Donut;
    PieChart::of(parts, measure.name.clone(), field.to_string(), integral, donut).map(Some)
}

/// `answer` as a scatter: a point per row, the x measure across and the y
/// measure up, one colour per value of the series field when one is named.
fn scatter_chart(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    y_measure: &MeasureSpec,
    answer: &DataFrame,
) -> Result<Option<ScatterChart>, String> {
    let Some(x_measure) = report.chart_x_measure() else { return Ok(None) };
    let (xs, ys) = (measure_values(answer, x_measure)?, measure_values(answer, y_measure)?);
    let series_field = report.chart_series_field();
    let key_fields: Vec<&str> = report
        .time
        .iter()
        .map(crate::model::reports::TimeGrouping::field_name)
        .chain(report.group_by.iter().map(String::as_str))
        .collect();
    let keys: Vec<Vec<String>> = key_fields.iter().map(|field| labels_of(answer, field)).collect::<Result<_, _>>()?;
    let series_of_rows = match series_field {
        Some(field) => labels_of(answer, field)?,
        None => vec![y_measure.name.clone(); answer.height()],
    };
    let mut series: Vec<ScatterSeries> = Vec::new();
    let mut left_out = 0;
    for (row, label) in series_of_rows.into_iter().enumerate() {
        let (Some(x), Some(y)) = (xs.get(row), ys.get(row)) else {
            left_out += 1;
            continue;
        };
        let name = keys.iter().map(|values| values[row].as_str()).collect::<Vec<_>>().join(" · ");
        let point = ScatterPoint { x, y, label: name };
        if let Some(known) = series.iter_mut().find(|s| s.label == label) {
            known.points.push(point);
        } else {
            let is_other = label == OTHER && series_field.is_some_and(|field| is_own_other(report, field));
            series.push(ScatterSeries { label, is_other, points: vec![point] });
        }
    }
    series.sort_by(|a, b| a.is_other.cmp(&b.is_other).then(b.points.len().cmp(&a.points.len())));
    Ok(Some(ScatterChart {
        x_label: x_measure.name.clone(),
        y_label: y_measure.name.clone(),
        x_integral: measure_rules(stream, x_measure.metric.as_deref(), x_measure.agg).1,
        y_integral: measure_rules(stream, y_measure.metric.as_deref(), y_measure.agg).1,
        series,
        left_out,
    }))
}

/// `answer` as a heatmap: a row per value of the series field, a column per
/// time bucket of the span (every one: quiet buckets read as the measure's
/// empty-bucket rule says) or per value of the category field.
fn heatmap(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
    now_micros: i64,
) -> Result<Option<Heatmap>, String> {
    let Some(row_field) = report.chart_series_field() else { return Ok(None) };
    let (empty, integral) = measure_rules(stream, measure.metric.as_deref(), measure.agg);
    let row_labels = labels_of(answer, row_field)?;
    let values = measure_values(answer, measure)?;
    let columns = match &report.time {
        Some(time) => time_columns(stream, report, measure, answer, now_micros, time)?,
        None => category_columns(report, answer, &values)?,
    };
    let Some((columns, column_label, column_of_row)) = columns else { return Ok(None) };
    let rows = ordered_by_total(&row_labels, &values, true, is_own_other(report, row_field));
    let empty_cell = match empty {
        crate::engine::chart::EmptyBuckets::Zero if matches!(columns, HeatColumns::Times { .. }) => Some(0.0),
        _ => None,
    };
    let mut cells = vec![vec![empty_cell; columns.len()]; rows.len()];
    for (row, label) in row_labels.iter().enumerate() {
        if let (Some(r), Some(Some(c)), Some(value)) =
            (rows.iter().position(|name| name == label), column_of_row.get(row), values.get(row))
        {
            // One answer row per cell: the report's checks allow no further group_by field.
            cells[r][*c] = Some(value);
        }
    }
    Ok(Some(Heatmap {
        columns,
        column_label,
        rows,
        row_label: row_field.to_string(),
        value_label: measure.name.clone(),
        integral,
        cells,
    }))
}

/// A heatmap's columns, their label and each answer row's column.
type HeatColumnsOfRows = (HeatColumns, String, Vec<Option<usize>>);

/// A column per bucket of the span, from its first whole bucket (one the
/// range's start cuts would read low).
fn time_columns(
    stream: Option<&StreamSpec>,
    report: &ReportSpec,
    measure: &MeasureSpec,
    answer: &DataFrame,
    now_micros: i64,
    time: &crate::model::reports::TimeGrouping,
) -> Result<Option<HeatColumnsOfRows>, String> {
    let Some(trend) = time_chart(stream, report, measure, answer, now_micros)? else { return Ok(None) };
    let times = time_values(answer, time.field_name())?;
    let mut starts = Vec::new();
    let mut bucket = trend.first_bucket();
    while bucket < trend.end_micros && starts.len() < MAX_HEAT_COLUMNS {
        starts.push(bucket);
        bucket = bucket_step(time.grain, bucket, 1);
    }
    let column_of = times.iter().map(|t| t.and_then(|t| starts.binary_search(&t).ok())).collect();
    let columns = HeatColumns::Times { grain: time.grain, starts, utc_offset_seconds: trend.utc_offset_seconds };
    Ok(Some((columns, time.field_name().to_string(), column_of)))
}

/// A column per value of the category field, largest first unless the report sorts.
fn category_columns(
    report: &ReportSpec,
    answer: &DataFrame,
    values: &polars::prelude::Float64Chunked,
) -> Result<Option<HeatColumnsOfRows>, String> {
    let Some(field) = report.chart_category_field() else { return Ok(None) };
    let labels = labels_of(answer, field)?;
    let names = ordered_by_total(&labels, values, report.sort.is_empty(), is_own_other(report, field));
    let column_of = labels.iter().map(|label| names.iter().position(|name| name == label)).collect();
    Ok(Some((HeatColumns::Categories(names), field.to_string(), column_of)))
}

/// At most this many time columns in a heatmap (a finer grain over a long span is cut at its start).
const MAX_HEAT_COLUMNS: usize = 2_000;

/// Whether `field`'s value "other" is the report's merge of the values outside its top N.
fn is_own_other(report: &ReportSpec, field: &str) -> bool {
    report.top.as_ref().is_some_and(|top| top.field == field)
}

/// The distinct `labels`, largest total of `values` first (when `by_size`,
/// else in order of appearance), a report's own "other" last.
fn ordered_by_total(
    labels: &[String],
    values: &polars::prelude::Float64Chunked,
    by_size: bool,
    own_other: bool,
) -> Vec<String> {
    let mut totals: Vec<(String, f64)> = Vec::new();
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (row, label) in labels.iter().enumerate() {
        let value = values.get(row).unwrap_or(0.0).abs();
        let index = *index_of.entry(label.as_str()).or_insert_with(|| {
            totals.push((label.clone(), 0.0));
            totals.len() - 1
        });
        totals[index].1 += value;
    }
    let last = |label: &str| own_other && label == OTHER;
    if by_size {
        totals.sort_by(|a, b| last(&a.0).cmp(&last(&b.0)).then(b.1.total_cmp(&a.1)));
    }
    totals.into_iter().map(|(label, _)| label).collect()
}

/// The time field's values as µs since the epoch.
fn time_values(answer: &DataFrame, field: &str) -> Result<Vec<Option<i64>>, String> {
    let times = answer.column(field).map_err(failed("the time field"))?;
    let times = match times.dtype() {
        DataType::Datetime(_, zone) => times.cast(&DataType::Datetime(TimeUnit::Microseconds, zone.clone())),
        _ => times.cast(&DataType::Datetime(TimeUnit::Microseconds, None)),
    }
    .and_then(|c| c.to_physical_repr().cast(&DataType::Int64))
    .map_err(failed("the time field"))?;
    Ok(times.i64().map_err(failed("the time field"))?.iter().collect())
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
