//! `[[reports]]`: a question asked of one dataset (a stream's rollup or an
//! imported table), optionally joined with imported tables, filtered, grouped
//! by fields and a time grain, answered by measures, sorted and cut.
//!
//! Plain data and its checks against the rest of the workbook; computing a
//! report is the engine's (`engine::report`), drawing its chart the window's.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::SpanDuration;
use crate::model::imports::is_false;
use crate::model::workbook::{BUCKET_COLUMN, MetricKind, StreamSpec};

/// One report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    pub name: String,
    /// The dataset the report starts from: a stream or an import.
    pub from: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<JoinSpec>,
    /// Columns computed from each (joined) row, usable by filters, groups and measures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derive: Vec<DerivedSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterSpec>,
    /// Fields (of the dataset or a joined table) whose values make the rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// Rows per span of time, as well as per `group_by` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeGrouping>,
    /// Only rows of this span of time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<TimeRange>,
    pub measures: Vec<MeasureSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SortSpec>,
    /// Only the top values of one `group_by` field; the rest grouped as "other".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopSpec>,
    /// At most this many rows (after sorting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The chart and its encodings; a report grouped by time is drawn as
    /// lines of its first measure per its first `group_by` field unless told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSpec>,
}

/// How a report is drawn.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    #[serde(default)]
    pub kind: ChartKind,
    /// The measure on the y-axis (the first measure unless named); of a pie,
    /// the slices' sizes; of a heatmap, the colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// A scatter's measure across (the second measure unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// A pivot's field across: a `group_by` field or the time field (the
    /// time field, else the last of two or more `group_by` fields, unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<String>,
    /// The `group_by` field whose values are the lines (the first unless
    /// named); of bars, the bars side by side (or stacked) per category (none unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Bars: a category's series stacked on one another instead of side by side.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stacked: bool,
    /// Bars: drawn across, the categories down the side.
    #[serde(default, skip_serializing_if = "is_false")]
    pub horizontal: bool,
}

/// The kinds of chart a report can be: over time (lines, areas), per value of
/// a field (bars), parts of a whole (pie, donut), one measure against another
/// (scatter), a measure as colour over two fields or a field and time
/// (heatmap), a pivot table (rows × columns, with totals), one number with
/// its trend, or the table alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    #[default]
    Line,
    Area,
    Bar,
    Pie,
    Donut,
    Scatter,
    Heatmap,
    Pivot,
    BigNumber,
    Table,
}

impl ChartKind {
    pub const ALL: [Self; 10] = [
        Self::Line,
        Self::Area,
        Self::Bar,
        Self::Pie,
        Self::Donut,
        Self::Scatter,
        Self::Heatmap,
        Self::Pivot,
        Self::BigNumber,
        Self::Table,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Line => "Line",
            Self::Area => "Area",
            Self::Bar => "Bar",
            Self::Pie => "Pie",
            Self::Donut => "Donut",
            Self::Scatter => "Scatter",
            Self::Heatmap => "Heatmap",
            Self::Pivot => "Pivot",
            Self::BigNumber => "Big number",
            Self::Table => "Table",
        }
    }
}

impl ReportSpec {
    /// How the report is drawn: its `chart`, or lines when it is grouped by
    /// time and a table when not.
    pub fn chart_or_default(&self) -> ChartSpec {
        self.chart.clone().unwrap_or_else(|| ChartSpec {
            kind: if self.time.is_some() { ChartKind::Line } else { ChartKind::Table },
            ..ChartSpec::default()
        })
    }

    /// Why the report's `chart` cannot be drawn.
    fn chart_problems(&self, stream: Option<&StreamSpec>) -> Vec<String> {
        let Some(chart) = &self.chart else { return Vec::new() };
        let mut problems = Vec::new();
        {
            match chart.kind {
                ChartKind::Pie | ChartKind::Donut if self.time.is_some() => problems.push(
                    "chart: a pie shows the parts of one whole; over time draw stacked areas, or remove `time`".into(),
                ),
                ChartKind::Pie | ChartKind::Donut if self.group_by.is_empty() => {
                    problems.push("chart: a pie needs a group_by field for its slices".into());
                }
                ChartKind::Pie | ChartKind::Donut => {
                    if let Some(measure) = self.chart_measure()
                        && !measure.adds_up(stream)
                    {
                        problems.push(format!(
                            "chart: a pie shows parts of a whole, so its measure must add up (a count or a sum); \
                             `{}` does not — draw bars",
                            measure.name
                        ));
                    }
                }
                ChartKind::Scatter if self.measures.len() < 2 => problems
                    .push("chart: a scatter draws one measure against another; give the report a second measure".into()),
                ChartKind::Heatmap if self.time.is_none() && self.group_by.len() < 2 => problems.push(
                    "chart: a heatmap needs two things to cross: `time` and a group_by field, or two group_by fields".into(),
                ),
                ChartKind::Heatmap if self.group_by.is_empty() => {
                    problems.push("chart: a heatmap over time needs a group_by field for its rows".into());
                }
                ChartKind::Heatmap if self.group_by.len() + usize::from(self.time.is_some()) > 2 => problems.push(
                    "chart: a heatmap crosses exactly two things (`time` and a group_by field, or two group_by fields); \
                     the report groups by more — remove one"
                        .into(),
                ),
                ChartKind::Line | ChartKind::Area if self.time.is_none() => problems.push(
                    "chart: lines and areas are drawn over time; give the report `time = { grain = \"1h\" }`, or draw bars or a table".into(),
                ),
                ChartKind::Bar if self.time.is_some() && self.group_by.len() > 1 => problems.push(
                    "chart: bars over time are a bar per bucket, split by at most one group_by field (the series); \
                     remove the others, or draw lines"
                        .into(),
                ),
                ChartKind::Bar if self.time.is_none() && self.chart_category_field().is_none() => problems.push(
                    "chart: bars need a group_by field for their categories (besides the `series` field)".into(),
                ),
                ChartKind::BigNumber if !self.group_by.is_empty() => problems.push(
                    "chart: a big number is one value (per time, for its trend): remove the group_by fields, or draw bars".into(),
                ),
                _ => {}
            }
            if (chart.stacked || chart.horizontal) && chart.kind != ChartKind::Bar {
                problems.push("chart: `stacked` and `horizontal` are for bars".into());
            }
            if chart.kind == ChartKind::Pivot && self.group_by.is_empty() && self.time.is_none() {
                problems.push("chart: a pivot needs a group_by field (or `time`) for its rows".into());
            }
            if let Some(columns) = &chart.columns {
                let time = self.time.as_ref().map(TimeGrouping::field_name);
                if chart.kind != ChartKind::Pivot {
                    problems.push("chart: `columns` is a pivot's field across".into());
                } else if !self.group_by.contains(columns) && time != Some(columns.as_str()) {
                    problems.push(format!(
                        "chart: `columns = \"{columns}\"` is neither a group_by field nor the time field"
                    ));
                }
            }
            if let Some(x) = &chart.x {
                if chart.kind != ChartKind::Scatter {
                    problems.push("chart: `x` is a scatter's measure across".into());
                } else if !self.measures.iter().any(|m| &m.name == x) {
                    problems.push(format!("chart: `x = \"{x}\"` names no measure of the report"));
                }
            }
            if chart.kind == ChartKind::Scatter
                && let (Some(x), Some(y)) = (self.chart_x_measure(), self.chart_measure())
                && x.name == y.name
            {
                problems.push(format!("chart: a scatter draws two different measures; `{}` is on both axes", x.name));
            }
            if let Some(y) = &chart.y
                && !self.measures.iter().any(|m| &m.name == y)
            {
                problems.push(format!("chart: `y = \"{y}\"` names no measure of the report"));
            }
            if let Some(series) = &chart.series
                && !self.group_by.contains(series)
            {
                problems.push(format!("chart: `series = \"{series}\"` is not among the group_by fields"));
            }
        }
        problems
    }

    /// Every field of the (joined) rows the report reads — keys, derived
    /// columns' inputs, filters, groups, time, measures — so that the engine
    /// builds only those columns; `beside_join` leaves out that join's own
    /// keys. `None` when a derived column cannot be read (then every field may be).
    pub fn fields_read(&self, beside_join: Option<usize>) -> Option<BTreeSet<String>> {
        let mut fields = self.fields_grouped_or_filtered(beside_join)?;
        for measure in &self.measures {
            fields.extend(measure.field.iter().chain(&measure.metric).cloned());
        }
        fields.extend(self.sort.iter().map(|sort| sort.field.clone()));
        fields.insert(BUCKET_COLUMN.to_string());
        Some(fields)
    }

    /// The fields of the (joined) rows that decide which rows there are and
    /// which group each falls in — keys, derived columns' inputs, filters,
    /// groups, time, range, top N — but not what the measures aggregate nor
    /// how the answer is sorted. `None` when a derived column cannot be read.
    pub fn fields_grouped_or_filtered(&self, beside_join: Option<usize>) -> Option<BTreeSet<String>> {
        let mut fields: BTreeSet<String> = BTreeSet::new();
        for (index, join) in self.joins.iter().enumerate() {
            if Some(index) != beside_join {
                fields.extend(join.on.keys().cloned());
            }
            if let Some(asof) = &join.asof {
                fields.insert(asof.left_field().to_string());
            }
        }
        for derived in &self.derive {
            fields.extend(derived.parsed().ok()?.fields().into_iter().map(str::to_string));
        }
        fields.extend(self.filters.iter().map(|filter| filter.field.clone()));
        fields.extend(self.group_by.iter().cloned());
        fields.extend(self.time.as_ref().map(|time| time.field_name().to_string()));
        fields.extend(self.range.as_ref().and_then(|range| range.field.clone()));
        fields.extend(self.top.as_ref().map(|top| top.field.clone()));
        Some(fields)
    }

    /// Where a pivot's fields go: which one runs across, which ones down.
    pub fn pivot_layout(&self) -> PivotLayout {
        let chart = self.chart_or_default();
        let time = self.time.as_ref().map(|t| t.field_name().to_string());
        let across = chart
            .columns
            .clone()
            .or_else(|| time.clone())
            .or_else(|| self.group_by.get(1..).and_then(<[String]>::last).cloned());
        let rows = time.iter().chain(&self.group_by).filter(|field| Some(*field) != across.as_ref()).cloned().collect();
        PivotLayout { across_is_time: across.is_some() && across == time, rows, across }
    }

    /// A scatter's measure across: `x`, else the first measure that is not on the y-axis.
    pub fn chart_x_measure(&self) -> Option<&MeasureSpec> {
        let chart = self.chart_or_default();
        if let Some(name) = &chart.x {
            return self.measures.iter().find(|m| &m.name == name);
        }
        let y = self.chart_measure().map(|m| m.name.as_str());
        self.measures.iter().find(|m| Some(m.name.as_str()) != y)
    }

    /// The measure a chart draws.
    pub fn chart_measure(&self) -> Option<&MeasureSpec> {
        let chart = self.chart_or_default();
        match &chart.y {
            Some(name) => self.measures.iter().find(|m| &m.name == name),
            None => self.measures.first(),
        }
    }

    /// The field whose values are a chart's lines (the first `group_by` field
    /// unless named), or a bar chart's series (only when named).
    pub fn chart_series_field(&self) -> Option<&str> {
        let chart = self.chart_or_default();
        match chart.series {
            Some(name) => self.group_by.iter().find(|g| **g == name).map(String::as_str),
            // Bars over time split by their one group_by field, as lines do.
            None if chart.kind == ChartKind::Bar && self.time.is_some() => self.group_by.first().map(String::as_str),
            None if matches!(chart.kind, ChartKind::Bar | ChartKind::Scatter) => None,
            None => self.group_by.first().map(String::as_str),
        }
    }

    /// The field whose values are a bar chart's categories: the first `group_by` field that is not its series.
    pub fn chart_category_field(&self) -> Option<&str> {
        let series = self.chart_series_field();
        self.group_by.iter().map(String::as_str).find(|field| Some(*field) != series)
    }
}

/// A pivot's fields: `rows` down (in order), `across` along the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PivotLayout {
    pub rows: Vec<String>,
    pub across: Option<String>,
    /// `across` is the report's time field.
    pub across_is_time: bool,
}

/// A join with an imported table: each row of the left side meets the rows of
/// `with` whose `on` fields equal its own — or, `how = "asof"`, the one row
/// (among those) nearest in time as `asof` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    pub with: String,
    /// Left field = right field (for an as-of join: the fields that must also be equal).
    #[serde(default)]
    pub on: BTreeMap<String, String>,
    #[serde(default)]
    pub how: JoinKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asof: Option<AsofSpec>,
}

/// A column computed from each row: `{ name = "revenue_eur", expr = "revenue / USD" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedSpec {
    pub name: String,
    /// In the language of [`crate::model::expr`].
    pub expr: String,
}

impl DerivedSpec {
    pub fn parsed(&self) -> Result<crate::model::expr::Expr, crate::model::expr::ParseError> {
        crate::model::expr::parse(&self.expr)
    }
}

/// The time fields an as-of join matches on, which way it looks, how far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsofSpec {
    /// The left side's time field (a stream's `bucket` unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    /// The table's time column.
    pub right: String,
    #[serde(default)]
    pub strategy: AsofStrategy,
    /// No match further away than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<SpanDuration>,
}

impl AsofSpec {
    pub fn left_field(&self) -> &str {
        self.left.as_deref().unwrap_or(BUCKET_COLUMN)
    }
}

/// Which table row an as-of join takes for a left row's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsofStrategy {
    /// The last at or before it (the rate in force then).
    #[default]
    Backward,
    /// The first at or after it.
    Forward,
    /// The nearest either way.
    Nearest,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    Inner,
    /// Every left row, with nulls where the table has no match.
    #[default]
    Left,
    /// Every row of both sides.
    Full,
    /// Every left row with the table row nearest in time (see `asof`).
    Asof,
}

/// Keeps the rows whose `field` compares with `value` as `op` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    pub field: String,
    pub op: FilterOp,
    pub value: toml::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    AtLeast,
    /// `value` is an array: the field equals one of its values.
    #[serde(rename = "in")]
    In,
}

/// Rows per `grain` of a time field (a stream's `bucket` unless named).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeGrouping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub grain: Grain,
}

/// A report's time grain: a span (`30s`, `5m`, `1h`, `1d`) or calendar weeks
/// (`1w`, starting on Mondays) or months (`1mo`, `3mo` for quarters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Grain {
    Span(SpanDuration),
    Weeks(u32),
    Months(u32),
}

impl Grain {
    /// The grain in Polars' duration language (`3600s`, `1w`, `3mo`).
    pub fn polars_every(self) -> String {
        match self {
            Self::Span(span) => format!("{}s", span.seconds()),
            Self::Weeks(n) => format!("{n}w"),
            Self::Months(n) => format!("{n}mo"),
        }
    }

    fn is_positive(self) -> bool {
        match self {
            Self::Span(span) => span.seconds() > 0,
            Self::Weeks(n) | Self::Months(n) => n > 0,
        }
    }
}

impl TryFrom<String> for Grain {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let calendar = |suffix: &str| text.strip_suffix(suffix).and_then(|n| n.trim().parse::<u32>().ok());
        if let Some(months) = calendar("mo") {
            return Ok(Self::Months(months));
        }
        if let Some(weeks) = calendar("w") {
            return Ok(Self::Weeks(weeks));
        }
        text.parse::<SpanDuration>().map(Self::Span).map_err(|err| format!("{err}; or weeks (`1w`) or months (`1mo`)"))
    }
}

impl From<Grain> for String {
    fn from(grain: Grain) -> Self {
        match grain {
            Grain::Span(span) => span.to_string(),
            Grain::Weeks(n) => format!("{n}w"),
            Grain::Months(n) => format!("{n}mo"),
        }
    }
}

impl TimeGrouping {
    /// The field grouped by time.
    pub fn field_name(&self) -> &str {
        self.field.as_deref().unwrap_or(BUCKET_COLUMN)
    }
}

/// Only the rows whose time field is in the last span before now, or between
/// two instants (RFC 3339, e.g. `2026-12-01T00:00:00Z`; `to` excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    /// The time field (the `time` grouping's, or a stream's `bucket`, unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<SpanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl TimeRange {
    /// The range as `[start, end)` in µs since the epoch (UTC), `now_micros` ending a `last` span.
    pub fn bounds(&self, now_micros: i64) -> Result<(Option<i64>, Option<i64>), String> {
        let instant = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros())
                .map_err(|err| format!("`{text}` is not an instant like 2026-12-01T00:00:00Z ({err})"))
        };
        match (&self.last, &self.from, &self.to) {
            (Some(last), None, None) => Ok((Some(now_micros.saturating_sub(last.micros())), None)),
            (None, from, to) if from.is_some() || to.is_some() => {
                let start = from.as_deref().map(instant).transpose()?;
                let end = to.as_deref().map(instant).transpose()?;
                if let (Some(start), Some(end)) = (start, end)
                    && start >= end
                {
                    return Err("the range's `from` must come before its `to`".into());
                }
                Ok((start, end))
            }
            _ => Err("a range is `last = \"24h\"`, or `from` and/or `to` instants".into()),
        }
    }
}

/// One column of the answer: a stream's metric combined over the rows of a
/// group (counts and sums add, means divide the summed sums by the summed
/// counts, distinct counts unite their sketches, quantiles merge theirs), or an
/// aggregation of a table's field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    pub name: String,
    /// A metric of the stream the report is `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// For a quantiles metric: which quantile (0.5 unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// An aggregation of `field` (reports from an imported table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agg: Option<Aggregation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Rows (with `field`: rows where it is not null).
    Count,
    CountDistinct,
    Sum,
    Mean,
    Min,
    Max,
    Median,
}

/// The `n` values of `field` with the largest `by` (a measure) over the
/// whole range keep their own rows; the others are grouped as "other".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopSpec {
    pub field: String,
    pub n: usize,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortSpec {
    pub field: String,
    #[serde(default)]
    pub descending: bool,
}

/// What a report can be asked of: the names of the streams and imports.
pub struct Datasets<'a> {
    pub streams: &'a [StreamSpec],
    pub imports: Vec<&'a str>,
}

impl ReportSpec {
    /// Why the report cannot be computed as written, in words for its author.
    pub fn problems(&self, datasets: &Datasets<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        let stream = datasets.streams.iter().find(|s| s.name == self.from);
        if stream.is_none() && !datasets.imports.contains(&self.from.as_str()) {
            problems.push(format!("`from = \"{}\"` names no stream or import of the workbook", self.from));
        }
        for join in &self.joins {
            if !datasets.imports.contains(&join.with.as_str()) {
                let what = if datasets.streams.iter().any(|s| s.name == join.with) {
                    "a stream: joins are with imported tables (a report starts from at most one stream)"
                } else {
                    "no import of the workbook"
                };
                problems.push(format!("the join with `{}` names {what}", join.with));
            }
            match (join.how, &join.asof) {
                (JoinKind::Asof, None) => problems.push(format!(
                    "the as-of join with `{}` needs `asof = {{ right = \"its time column\" }}`",
                    join.with
                )),
                (JoinKind::Asof, Some(_)) => {}
                (_, Some(_)) => {
                    problems.push(format!("the join with `{}` has `asof` but not `how = \"asof\"`", join.with));
                }
                (_, None) if join.on.is_empty() => problems
                    .push(format!("the join with `{}` needs `on = {{ left_field = \"right_field\" }}`", join.with)),
                (_, None) => {}
            }
        }
        let mut names = HashSet::new();
        if self.measures.is_empty() {
            problems.push("a report needs at least one measure".into());
        }
        problems.extend(self.derive_problems(stream));
        let derived: Vec<&str> = self.derive.iter().map(|d| d.name.as_str()).collect();
        for measure in &self.measures {
            if !names.insert(measure.name.as_str()) {
                problems.push(format!("the measure name `{}` is used twice", measure.name));
            }
            problems.extend(
                measure.problems(stream, &derived).into_iter().map(|p| format!("measure `{}`: {p}", measure.name)),
            );
        }
        if let Some(time) = &self.time {
            if !time.grain.is_positive() {
                problems.push("the time grain must be longer than zero".into());
            }
            if stream.is_none() && time.field.is_none() {
                problems.push("`time` on a table needs `field`, the datetime column to group by".into());
            }
        }
        if let Some(top) = &self.top {
            if !self.group_by.contains(&top.field) {
                problems.push(format!("top: `{}` is not among the group_by fields", top.field));
            }
            if !self.measures.iter().any(|m| m.name == top.by) {
                problems.push(format!("top: `by = \"{}\"` names no measure of the report", top.by));
            }
            if top.n == 0 {
                problems.push("top: `n` must be at least 1".into());
            }
        }
        if let Some(range) = &self.range {
            if let Err(problem) = range.bounds(0) {
                problems.push(format!("range: {problem}"));
            }
            if stream.is_none() && range.field.is_none() && self.time.as_ref().is_none_or(|t| t.field.is_none()) {
                problems.push("`range` on a table needs `field`, the datetime column it limits".into());
            }
        }
        let grouped: Vec<&str> = self
            .time
            .iter()
            .map(TimeGrouping::field_name)
            .chain(self.group_by.iter().map(String::as_str))
            .chain(self.measures.iter().map(|m| m.name.as_str()))
            .collect();
        for sort in &self.sort {
            if !grouped.contains(&sort.field.as_str()) {
                problems.push(format!(
                    "sort by `{}`: a report's rows have only its group_by fields, its time field and its measures",
                    sort.field
                ));
            }
        }
        problems.extend(self.chart_problems(stream));
        for filter in &self.filters {
            let scalar = matches!(
                filter.value,
                toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)
            );
            match (filter.op, &filter.value) {
                (FilterOp::In, toml::Value::Array(_)) => {}
                (FilterOp::In, _) => problems.push(format!("the filter on `{}`: `in` takes a list", filter.field)),
                (_, _) if !scalar => problems
                    .push(format!("the filter on `{}` compares with a text, a number or true/false", filter.field)),
                _ => {}
            }
        }
        problems
    }
}

impl ReportSpec {
    /// Why a derived column cannot be computed: it does not parse, or its name is taken.
    fn derive_problems(&self, stream: Option<&StreamSpec>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        for derived in &self.derive {
            let what = format!("derived column `{}`", derived.name);
            if let Err(error) = derived.parsed() {
                problems.push(format!("{what}: `{}` cannot be read {error}", derived.expr));
            }
            if derived.name.trim().is_empty() {
                problems.push("a derived column needs a `name`".into());
            } else if !names.insert(derived.name.as_str()) {
                problems.push(format!("{what} is defined twice"));
            }
            if self.measures.iter().any(|m| m.name == derived.name) {
                problems.push(format!("{what} has the name of a measure; name one of them differently"));
            }
            let taken = stream.is_some_and(|stream| {
                derived.name == BUCKET_COLUMN
                    || stream.rollup.dimensions.contains(&derived.name)
                    || stream.rollup.metrics.iter().any(|m| m.name == derived.name)
            });
            if taken {
                problems.push(format!("{what} has the name of a field of stream `{}`", self.from));
            }
        }
        problems
    }
}

impl MeasureSpec {
    /// Whether the measure's values over parts add up to its value over the
    /// whole (counts and sums), so that parts of it make a whole.
    pub fn adds_up(&self, stream: Option<&StreamSpec>) -> bool {
        match (&self.metric, self.agg) {
            (Some(metric), _) => stream
                .and_then(|stream| stream.rollup.metrics.iter().find(|m| &m.name == metric))
                .is_some_and(|m| matches!(m.kind, MetricKind::Count | MetricKind::Sum)),
            (None, Some(agg)) => matches!(agg, Aggregation::Count | Aggregation::Sum),
            (None, None) => false,
        }
    }

    fn problems(&self, stream: Option<&StreamSpec>, derived: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.metric, self.agg, stream) {
            (Some(_), Some(_), _) => problems.push("give `metric` (a stream's) or `agg`, not both".into()),
            (None, None, _) => problems.push("give `metric` (a stream's) or `agg` with a `field`".into()),
            (Some(metric), None, Some(stream)) => match stream.rollup.metrics.iter().find(|m| &m.name == metric) {
                None => problems.push(format!("stream `{}` has no metric `{metric}`", stream.name)),
                Some(spec) => {
                    if self.quantile.is_some() && spec.kind != MetricKind::Quantiles {
                        problems.push(format!("`quantile` is for quantiles metrics; `{metric}` is not one"));
                    }
                    if let Some(q) = self.quantile
                        && !(0.0..=1.0).contains(&q)
                    {
                        problems.push(format!("quantile {q} is not between 0 and 1"));
                    }
                }
            },
            (Some(_), None, None) => {
                problems.push("`metric` is for reports from a stream; on a table use `agg`".into());
            }
            (None, Some(Aggregation::Sum), Some(_))
                if self.field.as_deref().is_some_and(|field| derived.contains(&field)) => {}
            // Distinct values of a dimension or a joined column are the same over
            // rollup rows as over the events they hold (each row holds one value).
            (None, Some(Aggregation::CountDistinct), Some(stream))
                if self.field.as_deref().is_some_and(|field| {
                    !stream.rollup.metrics.iter().any(|metric| metric.output_columns().iter().any(|c| c == field))
                }) => {}
            (None, Some(_), Some(stream)) => problems.push(format!(
                "a report from stream `{}` combines its metrics (`metric = …`); counting or summing its rollup rows \
                 would not count events (`agg = \"sum\"` does add up a derived column, such as `revenue / rate`, over \
                 the rollup rows, and `agg = \"count_distinct\"` counts the values of a dimension or a joined column)",
                stream.name
            )),
            (None, Some(agg), None) => {
                if agg != Aggregation::Count && self.field.is_none() {
                    problems.push("this aggregation needs a `field`".into());
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> ReportSpec {
        toml::from_str(text).unwrap()
    }

    fn problems_of(text: &str) -> Vec<String> {
        let stream = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
metrics = [{ name = "events", kind = "count" }, { name = "latency", kind = "quantiles", field = "ms", quantiles = [0.5] }]"#,
        );
        let streams = [stream];
        let datasets = Datasets { streams: &streams, imports: vec!["countries", "orders"] };
        report(text).problems(&datasets)
    }

    #[test]
    fn the_fields_a_report_reads_are_its_keys_inputs_groups_and_measures() {
        let spec = report(
            r#"name = "r"
from = "s"
joins = [{ with = "customers", on = { user = "user_id" } }, { with = "rates", how = "asof", asof = { right = "at" } }]
derive = [{ name = "eur", expr = "revenue / rate" }]
filters = [{ field = "segment", op = "!=", value = "student" }]
group_by = ["country"]
time = { grain = "1h" }
measures = [{ name = "events", metric = "events" }, { name = "buyers", agg = "count_distinct", field = "user" }]"#,
        );
        let read = |beside| spec.fields_read(beside).unwrap().into_iter().collect::<Vec<_>>();
        let expected = ["bucket", "country", "events", "rate", "revenue", "segment", "user"];
        assert_eq!(read(None), expected, "the as-of join reads `bucket`; the count reads `user`");
        let mut without_keys = spec.clone();
        without_keys.measures.pop();
        let read_beside_first = without_keys.fields_read(Some(0)).unwrap();
        assert!(!read_beside_first.contains("user"), "only the first join read `user`: {read_beside_first:?}");
        let mut unreadable = spec;
        unreadable.derive[0].expr = "revenue /".into();
        assert_eq!(unreadable.fields_read(None), None, "then every field may be read");
    }

    #[test]
    fn a_report_reads_and_writes_back_unchanged() {
        let text = r#"name = "by_region"
from = "clicks"
group_by = ["region"]
measures = [{ name = "events", metric = "events" }, { name = "p99", metric = "latency", quantile = 0.99 }]
limit = 10
range = { last = "24h" }

[[joins]]
with = "countries"
how = "inner"

[joins.on]
country = "code"

[[filters]]
field = "region"
op = "in"
value = ["EU", "NA"]

[time]
grain = "1h"

[[sort]]
field = "events"
descending = true

[chart]
kind = "area"
y = "p99"
series = "region"
"#;
        let spec = report(text);
        assert_eq!(spec.joins[0].how, JoinKind::Inner);
        assert_eq!(spec.filters[0].op, FilterOp::In);
        assert_eq!(spec.time.as_ref().unwrap().grain.polars_every(), "3600s");
        assert_eq!(spec.chart_measure().map(|m| m.name.as_str()), Some("p99"));
        assert_eq!(spec.chart_series_field(), Some("region"));
        for (text, every) in [("1w", "1w"), ("3mo", "3mo"), ("30s", "30s"), ("1d", "86400s")] {
            let grain = Grain::try_from(text.to_string()).unwrap();
            assert_eq!(grain.polars_every(), every);
            assert_eq!(String::from(grain), text, "written back as read");
        }
        assert!(Grain::try_from("1 fortnight".to_string()).unwrap_err().contains("months (`1mo`)"));
        let again: ReportSpec = toml::from_str(&toml::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn a_range_is_the_last_span_or_between_two_instants() {
        let range = |text: &str| toml::from_str::<TimeRange>(text).unwrap();
        let hour = 3_600_000_000;
        assert_eq!(range("last = \"1h\"").bounds(10 * hour), Ok((Some(9 * hour), None)));
        let between = range("from = \"1970-01-01T01:00:00Z\"\nto = \"1970-01-01T03:00:00+01:00\"");
        assert_eq!(between.bounds(0), Ok((Some(hour), Some(2 * hour))), "offsets are honoured");
        assert!(range("from = \"yesterday\"").bounds(0).unwrap_err().contains("`yesterday` is not an instant"));
        assert!(range("from = \"1970-01-02T00:00:00Z\"\nto = \"1970-01-01T00:00:00Z\"").bounds(0).is_err());
        assert!(range("last = \"1h\"\nfrom = \"1970-01-01T00:00:00Z\"").bounds(0).is_err());
    }

    #[test]
    fn problems_are_named_in_words() {
        let clean = r#"name = "r"
from = "s"
measures = [{ name = "events", metric = "events" }]"#;
        assert_eq!(problems_of(clean), Vec::<String>::new());
        let all = problems_of(
            r#"name = "r"
from = "s"
joins = [{ with = "nowhere", on = { a = "b" } }, { with = "s", on = {} }]
measures = [
  { name = "n", metric = "nope" },
  { name = "n", agg = "sum", field = "x" },
  { name = "q", metric = "events", quantile = 0.9 },
]
sort = [{ field = "zzz" }]
filters = [{ field = "country", op = "in", value = "DE" }]
chart = { kind = "line", y = "nothing", series = "country" }"#,
        );
        let said = all.join("\n");
        for expected in [
            "the join with `nowhere` names no import",
            "the join with `s` names a stream",
            "needs `on = ",
            "has no metric `nope`",
            "`n` is used twice",
            "combines its metrics",
            "`quantile` is for quantiles metrics",
            "sort by `zzz`",
            "`in` takes a list",
            "chart: lines and areas are drawn over time",
            "chart: `y = \"nothing\"` names no measure",
            "chart: `series = \"country\"` is not among the group_by",
        ] {
            assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
        }
        let asof = problems_of(
            r#"name = "r"
from = "s"
joins = [{ with = "orders", how = "asof", on = {} }, { with = "countries", on = { a = "b" }, asof = { right = "at" } }]
measures = [{ name = "events", metric = "events" }]"#,
        )
        .join("\n");
        assert!(asof.contains("needs `asof = { right = "), "{asof}");
        assert!(asof.contains("has `asof` but not `how = \"asof\"`"), "{asof}");
        let table = problems_of(
            r#"name = "r"
from = "orders"
time = { grain = "1d" }
measures = [{ name = "total", agg = "sum" }, { name = "m", metric = "events" }]"#,
        )
        .join("\n");
        assert!(table.contains("needs `field`, the datetime column"), "{table}");
        assert!(table.contains("this aggregation needs a `field`"), "{table}");
        assert!(table.contains("on a table use `agg`"), "{table}");
    }

    #[test]
    fn derived_columns_are_checked() {
        let clean = problems_of(
            r#"name = "r"
from = "s"
derive = [{ name = "revenue_eur", expr = "events / 1.08" }]
measures = [{ name = "eur", agg = "sum", field = "revenue_eur" }]"#,
        );
        assert_eq!(clean, Vec::<String>::new(), "a sum of a derived column is allowed on a stream");
        let said = problems_of(
            r#"name = "r"
from = "s"
derive = [
  { name = "x", expr = "events *" },
  { name = "x", expr = "1" },
  { name = "country", expr = "2" },
  { name = "n", expr = "3" },
]
measures = [{ name = "n", agg = "mean", field = "x" }]"#,
        )
        .join("\n");
        for expected in [
            "derived column `x`: `events *` cannot be read at character 9",
            "derived column `x` is defined twice",
            "derived column `country` has the name of a field of stream `s`",
            "derived column `n` has the name of a measure",
            "`agg = \"sum\"` does add up a derived column",
        ] {
            assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
        }
    }
}
