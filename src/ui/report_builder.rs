//! The report builder's draft: the report being built, every edit undoable
//! (Ctrl+Z / Ctrl+Shift+Z), the fields of the workbook's datasets (a stream's
//! bucket, dimensions and metrics from the workbook; an imported table's
//! columns from its current version, read on a background thread), what a
//! field dropped on a shelf becomes, and the preview computed on a
//! background thread. Drawing is `panels/report_builder.rs`'s.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::engine::imports::ImportContext;
use crate::engine::report::ReportSources;
use crate::model::Workbook;
use crate::model::reports::{
    Aggregation, ChartKind, ChartSpec, Datasets, DerivedSpec, FilterOp, FilterSpec, Grain, JoinKind, JoinSpec,
    MeasureSpec, ReportSpec, TimeGrouping,
};
use crate::model::workbook::{BUCKET_COLUMN, MetricKind};
use crate::ui::background::Pending;

/// What a field holds, as far as building a report cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// A stream's bucket or a table's date/datetime column.
    Time,
    /// A stream's dimension or a table's text column.
    Text,
    /// A table's numeric column.
    Number,
    /// A table's column of another type (booleans, lists…).
    Other,
    /// A stream's metric.
    Metric(MetricKind),
    /// One of the report's derived columns (its type is known once computed).
    Derived,
}

/// The `dataset` of a derived column's field.
pub const DERIVED: &str = "derived";

/// A field of a dataset, as listed beside the shelves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub dataset: String,
    pub name: String,
    pub kind: FieldKind,
    /// The type in words (`text`, `i64`, `sum`…).
    pub type_name: String,
}

/// The places a field can be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    Time,
    GroupBy,
    Measures,
    Filters,
}

impl Shelf {
    pub const ALL: [Self; 4] = [Self::Time, Self::GroupBy, Self::Measures, Self::Filters];

    pub fn label(self) -> &'static str {
        match self {
            Self::Time => "Time",
            Self::GroupBy => "Group by",
            Self::Measures => "Measures",
            Self::Filters => "Filters",
        }
    }
}

/// What is being dragged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dragged {
    Field(Field),
    /// A chip already on a shelf: its shelf and place there.
    Chip(Shelf, usize),
    /// A dataset, to start from or to join with.
    Dataset(String),
}

/// The grains offered for a report's time.
pub const GRAINS: [&str; 9] = ["10s", "1m", "5m", "15m", "1h", "1d", "1w", "1mo", "3mo"];

/// The grain a report's time starts with.
const DEFAULT_GRAIN: Grain = Grain::Span(crate::model::SpanDuration::from_seconds(60));

/// How long the draft must stay unchanged before its preview is computed.
const SETTLE: Duration = Duration::from_millis(300);

/// A computed preview: the answer and its chart, or why it failed.
type Preview = Result<crate::ui::report_state::Computed, String>;

#[derive(Debug)]
pub struct ReportDraft {
    /// The report's name in the workbook when it was opened (`None`: a new one).
    pub original: Option<String>,
    pub spec: ReportSpec,
    undo: Vec<ReportSpec>,
    redo: Vec<ReportSpec>,
    /// Every dataset's fields, by dataset name (tables once their schema is read).
    pub fields: BTreeMap<String, Vec<Field>>,
    /// The report's derived columns as fields.
    pub derived: Vec<Field>,
    /// The name and expression of the derived column being written, and why it cannot be added.
    pub new_derived: (String, String),
    pub derived_error: Option<String>,
    /// The names of the workbook's streams (the other datasets are tables).
    pub streams: Vec<String>,
    schemas: Option<Pending<Result<BTreeMap<String, String>, String>>>,
    /// Why the last drop did nothing, for the shelf it was dropped on.
    pub refused: Option<(Shelf, String)>,
    pub save_error: Option<String>,
    pub preview: Option<Preview>,
    computing: Option<Pending<Preview>>,
    /// The spec the preview (shown or computing) is of, and when the draft last changed.
    previewed: Option<ReportSpec>,
    freshness: crate::ui::report_state::Freshness,
    /// The preview's time groups kept between its computations over a running stream.
    live_cache: crate::ui::report_state::LiveCache,
    changed_at: Instant,
}

impl ReportDraft {
    /// A draft of report `name` of `workbook`, or of a new report from its first dataset.
    pub fn open(workbook: &Workbook, name: Option<&str>, sources: &ReportSources, wake: &crate::engine::Waker) -> Self {
        let spec = name.and_then(|name| workbook.report(name)).cloned().unwrap_or_else(|| new_report(workbook));
        let mut fields = BTreeMap::new();
        for stream in &workbook.streams {
            let mut list = vec![Field {
                dataset: stream.name.clone(),
                name: BUCKET_COLUMN.into(),
                kind: FieldKind::Time,
                type_name: format!("time, {} buckets", stream.rollup.granularity),
            }];
            list.extend(stream.rollup.dimensions.iter().map(|dimension| Field {
                dataset: stream.name.clone(),
                name: dimension.clone(),
                kind: FieldKind::Text,
                type_name: "text".into(),
            }));
            list.extend(stream.rollup.metrics.iter().map(|metric| Field {
                dataset: stream.name.clone(),
                name: metric.name.clone(),
                kind: FieldKind::Metric(metric.kind),
                type_name: metric.kind.to_string(),
            }));
            fields.insert(stream.name.clone(), list);
        }
        for import in &workbook.imports {
            fields.insert(import.name.clone(), Vec::new());
        }
        let (context, names) =
            (sources.context.clone(), workbook.imports.iter().map(|i| i.name.clone()).collect::<Vec<_>>());
        let schemas = Pending::spawn("tidepool-schemas", wake.clone(), move || table_schemas(&context, &names));
        let mut draft = Self {
            original: name.map(str::to_string),
            spec,
            undo: Vec::new(),
            redo: Vec::new(),
            fields,
            derived: Vec::new(),
            new_derived: (String::new(), String::new()),
            derived_error: None,
            streams: workbook.streams.iter().map(|s| s.name.clone()).collect(),
            schemas: Some(schemas),
            refused: None,
            save_error: None,
            preview: None,
            computing: None,
            previewed: None,
            freshness: crate::ui::report_state::Freshness::default(),
            live_cache: crate::ui::report_state::LiveCache::default(),
            changed_at: Instant::now(),
        };
        draft.sync_derived();
        draft
    }

    fn sync_derived(&mut self) {
        self.derived = self
            .spec
            .derive
            .iter()
            .map(|derived| Field {
                dataset: DERIVED.into(),
                name: derived.name.clone(),
                kind: FieldKind::Derived,
                type_name: format!("= {}", derived.expr),
            })
            .collect();
    }

    /// Adds the derived column written in `new_derived` (one undoable step),
    /// or says why it cannot be: its expression does not read, or its name is taken.
    pub fn add_derived(&mut self) {
        let (name, expr) = (self.new_derived.0.trim().to_string(), self.new_derived.1.trim().to_string());
        let problem = if name.is_empty() {
            Some("give the column a name".to_string())
        } else if self.usable_fields().iter().any(|field| field.name == name)
            || self.spec.measures.iter().any(|m| m.name == name)
        {
            Some(format!("`{name}` is taken: name the column differently"))
        } else {
            crate::model::expr::parse(&expr).err().map(|error| format!("`{expr}` cannot be read {error}"))
        };
        self.derived_error = problem;
        if self.derived_error.is_none() {
            self.edit(|spec| spec.derive.push(DerivedSpec { name, expr }));
            self.new_derived = (String::new(), String::new());
        }
    }

    /// Removes derived column `index` (what used it says so in the draft's problems).
    pub fn remove_derived(&mut self, index: usize) {
        self.edit(|spec| {
            if index < spec.derive.len() {
                spec.derive.remove(index);
            }
        });
    }

    /// Takes finished background work; starts the preview when the draft has
    /// settled and changed. Answers whether anything changed.
    pub fn poll(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) -> bool {
        let mut changed = false;
        if let Some(answer) = self.schemas.as_mut().and_then(Pending::take) {
            self.schemas = None;
            if let Ok(Ok(schemas)) = answer {
                for (table, schema) in schemas {
                    self.fields.insert(table.clone(), fields_of_schema(&table, &schema));
                }
            }
            changed = true;
        }
        if let Some(answer) = self.computing.as_mut().and_then(Pending::take) {
            self.computing = None;
            self.freshness.finished();
            self.preview = Some(answer.and_then(|preview| preview));
            changed = true;
        }
        let settled = self.changed_at.elapsed() >= SETTLE;
        // Live data moves on: the same draft is computed again once its stream publishes newer data.
        let stale = self.freshness.is_stale(&self.spec, sources);
        if settled && self.computing.is_none() && (self.previewed.as_ref() != Some(&self.spec) || stale) {
            self.start_preview(workbook, sources, wake);
        }
        changed
    }

    /// Computes the draft's answer again (Refresh, or the report's data moved on).
    pub fn refresh(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) {
        if self.computing.is_none() {
            self.start_preview(workbook, sources, wake);
        }
    }

    fn start_preview(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) {
        self.previewed = Some(self.spec.clone());
        self.freshness.started(&self.spec, sources);
        if !self.problems(workbook).is_empty() {
            self.preview = None;
            return;
        }
        let (workbook, sources, spec) = (workbook.clone(), sources.clone(), self.spec.clone());
        let live = self.live_cache.clone();
        self.computing = Some(Pending::spawn("tidepool-report-preview", wake.clone(), move || {
            crate::ui::report_state::compute_with_chart(&workbook, &spec, &sources, Some(&live))
        }));
    }

    pub fn is_computing(&self) -> bool {
        self.computing.is_some()
    }

    pub fn is_reading_schemas(&self) -> bool {
        self.schemas.is_some()
    }

    /// Why the draft cannot be computed, as the workbook's own checks say.
    pub fn problems(&self, workbook: &Workbook) -> Vec<String> {
        let datasets = Datasets {
            streams: &workbook.streams,
            imports: workbook.imports.iter().map(|i| i.name.as_str()).collect(),
        };
        let mut problems = self.spec.problems(&datasets);
        if self.spec.name.trim().is_empty() {
            problems.insert(0, "give the report a name".into());
        } else if self.original.as_deref() != Some(self.spec.name.as_str())
            && workbook.report(&self.spec.name).is_some()
        {
            problems.insert(0, format!("a report called `{}` exists already", self.spec.name));
        }
        problems
    }

    /// Applies `edit` to the draft as one undoable step.
    pub fn edit(&mut self, edit: impl FnOnce(&mut ReportSpec)) {
        let before = self.spec.clone();
        edit(&mut self.spec);
        if self.spec != before {
            self.undo.push(before);
            self.redo.clear();
            self.changed_at = Instant::now();
            self.sync_derived();
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self) {
        if let Some(previous) = self.undo.pop() {
            self.redo.push(std::mem::replace(&mut self.spec, previous));
            self.changed_at = Instant::now();
            self.sync_derived();
        }
    }

    pub fn redo(&mut self) {
        if let Some(next) = self.redo.pop() {
            self.undo.push(std::mem::replace(&mut self.spec, next));
            self.changed_at = Instant::now();
            self.sync_derived();
        }
    }

    /// Whether the draft starts from a stream.
    pub fn from_stream(&self) -> bool {
        self.streams.contains(&self.spec.from)
    }

    /// The fields a report from the draft's dataset can use: its own, its
    /// joined tables' and its derived columns.
    pub fn usable_fields(&self) -> Vec<&Field> {
        let joined = self.spec.joins.iter().map(|join| join.with.as_str());
        std::iter::once(self.spec.from.as_str())
            .chain(joined)
            .filter_map(|dataset| self.fields.get(dataset))
            .flatten()
            .chain(&self.derived)
            .collect()
    }

    /// The usable field called `name`.
    pub fn field(&self, name: &str) -> Option<Field> {
        self.usable_fields().into_iter().find(|field| field.name == name).cloned()
    }

    /// Drops `dragged` on `shelf` (one undoable step); a drop that cannot
    /// work says why on that shelf instead.
    pub fn drop_on(&mut self, onto: Shelf, dragged: &Dragged) {
        self.refused = None;
        let field = match dragged {
            Dragged::Field(field) => field.clone(),
            Dragged::Chip(from, index) => {
                let Some(name) = chip_field_name(&self.spec, *from, *index) else { return };
                let Some(field) = self.field(&name) else { return };
                if *from == onto {
                    return;
                }
                let mut moved = self.spec.clone();
                remove_chip(&mut moved, *from, *index);
                match add_field(&mut moved, onto, &field, self.from_stream()) {
                    Ok(()) => self.edit(|spec| *spec = moved),
                    Err(why) => self.refused = Some((onto, why)),
                }
                return;
            }
            Dragged::Dataset(name) => {
                self.refused = Some((onto, format!("`{name}` is a dataset: drop it on Joins, or pick it as From")));
                return;
            }
        };
        if !self.usable_fields().iter().any(|usable| **usable == field) {
            let why = format!(
                "`{}` is a field of `{}`, which this report neither starts from nor joins: drop `{}` on Joins first",
                field.name, field.dataset, field.dataset
            );
            self.refused = Some((onto, why));
            return;
        }
        let mut next = self.spec.clone();
        match add_field(&mut next, onto, &field, self.from_stream()) {
            Ok(()) => self.edit(|spec| *spec = next),
            Err(why) => self.refused = Some((onto, why)),
        }
    }

    /// Removes a chip from a shelf.
    pub fn remove(&mut self, from: Shelf, index: usize) {
        self.refused = None;
        self.edit(|spec| remove_chip(spec, from, index));
    }

    /// Joins the draft's dataset with table `with`, on the keys suggested by
    /// matching names and types (the first text fields of both when no name matches).
    pub fn join_with(&mut self, with: &str) {
        self.refused = None;
        if with == self.spec.from || self.spec.joins.iter().any(|join| join.with == with) {
            return;
        }
        let Some(right) = self.fields.get(with) else { return };
        if self.streams.iter().any(|stream| stream == with) {
            let why = format!("`{with}` is a stream: a report joins its dataset with imported tables only");
            self.refused = Some((Shelf::GroupBy, why));
            return;
        }
        let left: Vec<Field> = self.usable_fields().into_iter().cloned().collect();
        let keys = suggested_keys(&left, right);
        self.edit(|spec| {
            spec.joins.push(JoinSpec { with: with.to_string(), on: keys, how: JoinKind::Left, asof: None });
        });
    }

    /// Starts the report from dataset `from`, keeping what still fits.
    pub fn start_from(&mut self, from: &str) {
        self.refused = None;
        if from == self.spec.from {
            return;
        }
        let fields: Vec<String> =
            self.fields.get(from).map(|f| f.iter().map(|f| f.name.clone()).collect()).unwrap_or_default();
        self.edit(|spec| {
            spec.from = from.to_string();
            spec.joins.clear();
            spec.derive.clear();
            spec.group_by.retain(|g| fields.contains(g));
            spec.filters.retain(|f| fields.contains(&f.field));
            spec.measures.clear();
            spec.time = None;
            spec.top = None;
            spec.sort.clear();
            spec.range = None;
            spec.chart = None;
        });
    }

    /// The chart the shelves' fields suggest: lines over time; bars per
    /// value of a `group_by` field; one number when there is neither; a table
    /// without a measure.
    pub fn show_me(&mut self) {
        self.edit(|spec| {
            let kind = match (spec.measures.is_empty(), spec.time.is_some(), spec.group_by.is_empty()) {
                (true, _, _) => ChartKind::Table,
                (false, true, _) => ChartKind::Line,
                (false, false, false) => ChartKind::Bar,
                (false, false, true) => ChartKind::BigNumber,
            };
            let chart = spec.chart.get_or_insert_with(ChartSpec::default);
            chart.kind = kind;
            if kind != ChartKind::Bar {
                (chart.stacked, chart.horizontal) = (false, false);
            }
        });
    }
}

/// A new report's spec: from the workbook's first stream (else its first import), counting.
fn new_report(workbook: &Workbook) -> ReportSpec {
    let mut number = 1;
    while workbook.report(&format!("report_{number}")).is_some() {
        number += 1;
    }
    let from = workbook
        .streams
        .first()
        .map(|s| s.name.clone())
        .or_else(|| workbook.imports.first().map(|i| i.name.clone()))
        .unwrap_or_default();
    ReportSpec {
        name: format!("report_{number}"),
        from,
        joins: Vec::new(),
        derive: Vec::new(),
        filters: Vec::new(),
        group_by: Vec::new(),
        time: None,
        range: None,
        measures: Vec::new(),
        sort: Vec::new(),
        top: None,
        limit: None,
        chart: None,
    }
}

/// What `field` dropped on `shelf` adds to `spec` (a report from a stream
/// when `from_stream`), or why it cannot.
pub fn add_field(spec: &mut ReportSpec, shelf: Shelf, field: &Field, from_stream: bool) -> Result<(), String> {
    let is_base = field.dataset == spec.from;
    match (shelf, &field.kind) {
        (Shelf::Time, FieldKind::Time) => {
            let grain = spec.time.as_ref().map_or(DEFAULT_GRAIN, |t| t.grain);
            let stream_bucket = from_stream && is_base && field.name == BUCKET_COLUMN;
            spec.time = Some(TimeGrouping { field: (!stream_bucket).then(|| field.name.clone()), grain });
        }
        (Shelf::Time, _) => {
            return Err(format!("`{}` is not a time: drop a bucket, date or datetime field on Time", field.name));
        }
        (Shelf::GroupBy, FieldKind::Metric(_)) => {
            return Err(format!("`{}` is a metric: drop it on Measures", field.name));
        }
        (Shelf::GroupBy, FieldKind::Time) => {
            return Err(format!("`{}` is a time: drop it on Time, which groups it by a grain", field.name));
        }
        (Shelf::GroupBy, _) => {
            if !spec.group_by.contains(&field.name) {
                spec.group_by.push(field.name.clone());
            }
        }
        (Shelf::Measures, FieldKind::Metric(kind)) => {
            let quantile = (*kind == MetricKind::Quantiles).then_some(0.5);
            let name = unique_name(&field.name, &spec.measures.iter().map(|m| m.name.as_str()).collect::<Vec<_>>());
            spec.measures.push(MeasureSpec {
                name,
                metric: Some(field.name.clone()),
                quantile,
                agg: None,
                field: None,
            });
        }
        (Shelf::Measures, FieldKind::Derived) => {
            // Summed over the rows: on a stream, a derived column such as `revenue / rate` adds up.
            let name = unique_name(
                &format!("sum_{}", field.name),
                &spec.measures.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            );
            spec.measures.push(MeasureSpec {
                name,
                metric: None,
                quantile: None,
                agg: Some(Aggregation::Sum),
                field: Some(field.name.clone()),
            });
        }
        (Shelf::Measures, _) if from_stream => {
            return Err(format!(
                "a report from a stream measures the stream's metrics; `{}` is a field: drop it on Group by",
                field.name
            ));
        }
        (Shelf::Measures, kind) => {
            let (agg, prefix) = match kind {
                FieldKind::Number => (Aggregation::Sum, "sum"),
                _ => (Aggregation::CountDistinct, "distinct"),
            };
            let name = unique_name(
                &format!("{prefix}_{}", field.name),
                &spec.measures.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            );
            spec.measures.push(MeasureSpec {
                name,
                metric: None,
                quantile: None,
                agg: Some(agg),
                field: Some(field.name.clone()),
            });
        }
        (Shelf::Filters, FieldKind::Metric(_)) => {
            return Err(format!("`{}` is a metric: filters pick rows by their fields", field.name));
        }
        (Shelf::Filters, _) => {
            let value = toml::Value::String(String::new());
            spec.filters.push(FilterSpec { field: field.name.clone(), op: FilterOp::Equal, value });
        }
    }
    Ok(())
}

/// The name of the field a chip on a shelf stands for.
fn chip_field_name(spec: &ReportSpec, shelf: Shelf, index: usize) -> Option<String> {
    match shelf {
        Shelf::Time => spec.time.as_ref().map(|t| t.field_name().to_string()),
        Shelf::GroupBy => spec.group_by.get(index).cloned(),
        Shelf::Measures => spec.measures.get(index).and_then(|m| m.metric.clone().or_else(|| m.field.clone())),
        Shelf::Filters => spec.filters.get(index).map(|f| f.field.clone()),
    }
}

fn remove_chip(spec: &mut ReportSpec, shelf: Shelf, index: usize) {
    match shelf {
        Shelf::Time => spec.time = None,
        Shelf::GroupBy => {
            if index < spec.group_by.len() {
                let removed = spec.group_by.remove(index);
                if spec.top.as_ref().is_some_and(|top| top.field == removed) {
                    spec.top = None;
                }
                if let Some(chart) = &mut spec.chart
                    && chart.series.as_ref() == Some(&removed)
                {
                    chart.series = None;
                }
            }
        }
        Shelf::Measures => {
            if index < spec.measures.len() {
                let removed = spec.measures.remove(index);
                if let Some(chart) = &mut spec.chart
                    && chart.y.as_ref() == Some(&removed.name)
                {
                    chart.y = None;
                }
                if spec.top.as_ref().is_some_and(|top| top.by == removed.name) {
                    spec.top = None;
                }
            }
        }
        Shelf::Filters => {
            if index < spec.filters.len() {
                spec.filters.remove(index);
            }
        }
    }
    let kept: Vec<String> = spec
        .time
        .iter()
        .map(|t| t.field_name().to_string())
        .chain(spec.group_by.iter().cloned())
        .chain(spec.measures.iter().map(|m| m.name.clone()))
        .collect();
    spec.sort.retain(|sort| kept.contains(&sort.field));
}

/// `base`, or `base_2`, `base_3`… : the first not among `taken`.
fn unique_name(base: &str, taken: &[&str]) -> String {
    (1..=taken.len() + 1)
        .map(|n| if n == 1 { base.to_string() } else { format!("{base}_{n}") })
        .find(|name| !taken.contains(&name.as_str()))
        .unwrap_or_else(|| base.to_string())
}

/// Join keys: fields of the same name and kind on both sides, else the first
/// text field of each side.
pub fn suggested_keys(left: &[Field], right: &[Field]) -> BTreeMap<String, String> {
    let joinable = |field: &&Field| matches!(field.kind, FieldKind::Text | FieldKind::Number);
    let same_name = left.iter().filter(joinable).find_map(|l| {
        right.iter().filter(joinable).find(|r| r.name.eq_ignore_ascii_case(&l.name) && r.kind == l.kind).map(|r| (l, r))
    });
    let pair = same_name.or_else(|| first_text_field(left).zip(first_text_field(right)));
    pair.map(|(l, r)| BTreeMap::from([(l.name.clone(), r.name.clone())])).unwrap_or_default()
}

fn first_text_field(fields: &[Field]) -> Option<&Field> {
    fields.iter().find(|f| f.kind == FieldKind::Text)
}

/// The `name: type` schema lines of a table as fields.
pub fn fields_of_schema(table: &str, schema: &str) -> Vec<Field> {
    schema
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, type_name)| {
            let lower = type_name.to_ascii_lowercase();
            let kind = if lower.starts_with("datetime") || lower == "date" {
                FieldKind::Time
            } else if lower == "str" || lower == "string" || lower.starts_with("cat") || lower.starts_with("enum") {
                FieldKind::Text
            } else if lower.starts_with('i')
                || lower.starts_with('u')
                || lower.starts_with('f')
                || lower.starts_with("decimal")
            {
                FieldKind::Number
            } else {
                FieldKind::Other
            };
            Field { dataset: table.to_string(), name: name.to_string(), kind, type_name: type_name.to_string() }
        })
        .collect()
}

/// The schema of each table's current version, from the catalogue.
fn table_schemas(context: &ImportContext, names: &[String]) -> Result<BTreeMap<String, String>, String> {
    let catalog = crate::engine::store::tables::TableCatalog::open(&context.data_dir, &context.workbook_id)
        .map_err(|err| err.to_string())?;
    let mut schemas = BTreeMap::new();
    for name in names {
        if let Some(version) = catalog.current(name).map_err(|err| err.to_string())? {
            schemas.insert(name.clone(), version.schema);
        }
    }
    Ok(schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKBOOK: &str = r#"
[[streams]]
name = "clicks"
brokers = "localhost:9092"
topic = "clicks"
[streams.time]
field = "ts"
format = "epoch_ms"
[streams.rollup]
granularity = "10s"
dimensions = ["country"]
metrics = [
  { name = "events", kind = "count" },
  { name = "latency", kind = "quantiles", field = "ms", quantiles = [0.5] },
]

[[imports]]
name = "countries"
[imports.source]
kind = "file"
path = "countries.csv"
"#;

    fn draft() -> (ReportDraft, Workbook, tempfile::TempDir) {
        let workbook = Workbook::from_toml(WORKBOOK, std::path::Path::new("w.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let context =
            ImportContext { data_dir: dir.path().into(), workbook_id: "w".into(), base_dir: dir.path().into() };
        let sources = ReportSources::stored(context);
        let mut draft =
            ReportDraft::open(&workbook, None, &sources, &(std::sync::Arc::new(|| {}) as crate::engine::Waker));
        draft
            .fields
            .insert("countries".into(), fields_of_schema("countries", "code: str\nregion: str\npopulation: i64"));
        (draft, workbook, dir)
    }

    fn field(draft: &ReportDraft, dataset: &str, name: &str) -> Dragged {
        Dragged::Field(draft.fields[dataset].iter().find(|f| f.name == name).unwrap().clone())
    }

    #[test]
    fn dropping_fields_builds_a_report_the_workbook_accepts() {
        let (mut draft, workbook, _dir) = draft();
        assert_eq!(draft.spec.from, "clicks", "a new report starts from the first stream");
        assert!(draft.problems(&workbook).iter().any(|p| p.contains("at least one measure")));
        draft.drop_on(Shelf::Time, &field(&draft, "clicks", "bucket"));
        draft.drop_on(Shelf::GroupBy, &field(&draft, "clicks", "country"));
        draft.drop_on(Shelf::Measures, &field(&draft, "clicks", "events"));
        draft.drop_on(Shelf::Measures, &field(&draft, "clicks", "latency"));
        let spec = &draft.spec;
        assert_eq!(spec.time.as_ref().map(|t| (t.field.clone(), String::from(t.grain))), Some((None, "1m".into())));
        assert_eq!(spec.group_by, ["country"]);
        assert_eq!(spec.measures[1].quantile, Some(0.5), "a quantiles metric gets its median");
        assert_eq!(draft.problems(&workbook), Vec::<String>::new());
    }

    #[test]
    fn wrong_drops_say_why_on_their_shelf_and_change_nothing() {
        let (mut draft, _, _dir) = draft();
        let before = draft.spec.clone();
        draft.drop_on(Shelf::Measures, &field(&draft, "clicks", "country"));
        assert!(matches!(&draft.refused, Some((Shelf::Measures, why)) if why.contains("drop it on Group by")));
        draft.drop_on(Shelf::GroupBy, &field(&draft, "clicks", "events"));
        assert!(matches!(&draft.refused, Some((Shelf::GroupBy, why)) if why.contains("is a metric")));
        draft.drop_on(Shelf::GroupBy, &field(&draft, "countries", "region"));
        assert!(matches!(&draft.refused, Some((_, why)) if why.contains("drop `countries` on Joins first")));
        assert_eq!(draft.spec, before);
        assert!(!draft.can_undo(), "a refused drop is no step");
    }

    #[test]
    fn a_joined_table_suggests_keys_and_lends_its_fields() {
        let (mut draft, workbook, _dir) = draft();
        draft.join_with("countries");
        assert_eq!(draft.spec.joins[0].on, BTreeMap::from([("country".into(), "code".into())]), "first text fields");
        draft.drop_on(Shelf::GroupBy, &field(&draft, "countries", "region"));
        draft.drop_on(Shelf::Measures, &field(&draft, "clicks", "events"));
        assert_eq!(draft.spec.group_by, ["region"]);
        assert_eq!(draft.problems(&workbook), Vec::<String>::new());
        let same_name =
            suggested_keys(&fields_of_schema("a", "id: i64\nname: str"), &fields_of_schema("b", "label: str\nID: i64"));
        assert_eq!(same_name, BTreeMap::from([("id".into(), "ID".into())]), "a name and type match wins");
    }

    #[test]
    fn chips_move_between_shelves_and_every_step_undoes_and_redoes() {
        let (mut draft, _, _dir) = draft();
        draft.drop_on(Shelf::GroupBy, &field(&draft, "clicks", "country"));
        draft.drop_on(Shelf::Filters, &Dragged::Chip(Shelf::GroupBy, 0));
        assert!(draft.spec.group_by.is_empty());
        assert_eq!(draft.spec.filters[0].field, "country");
        draft.undo();
        assert_eq!(draft.spec.group_by, ["country"], "the move undoes in one step");
        assert!(draft.spec.filters.is_empty());
        draft.redo();
        assert_eq!(draft.spec.filters.len(), 1);
        draft.undo();
        draft.undo();
        assert!(draft.spec.group_by.is_empty() && !draft.can_undo());
        draft.drop_on(Shelf::Measures, &field(&draft, "clicks", "events"));
        assert!(!draft.can_redo(), "a new edit drops the redo steps");
    }

    #[test]
    fn a_table_report_aggregates_its_columns() {
        let (mut draft, workbook, _dir) = draft();
        draft.start_from("countries");
        draft.drop_on(Shelf::GroupBy, &field(&draft, "countries", "region"));
        draft.drop_on(Shelf::Measures, &field(&draft, "countries", "population"));
        draft.drop_on(Shelf::Measures, &field(&draft, "countries", "code"));
        let measures: Vec<(&str, Option<Aggregation>)> =
            draft.spec.measures.iter().map(|m| (m.name.as_str(), m.agg)).collect();
        assert_eq!(
            measures,
            [("sum_population", Some(Aggregation::Sum)), ("distinct_code", Some(Aggregation::CountDistinct))]
        );
        assert_eq!(draft.problems(&workbook), Vec::<String>::new());
        draft.edit(|spec| spec.name = String::new());
        assert_eq!(draft.problems(&workbook)[0], "give the report a name");
    }
}
