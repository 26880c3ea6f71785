//! The stream editor's draft: what the form holds while the user edits, and
//! its conversion to a validated `StreamSpec` (through the same TOML parser
//! as workbook files, so the rules and messages are the same).

use crate::engine::discovery::{DetectedField, FieldKind};
use crate::model::{MetricKind, StreamSpec, TimeFormat, Workbook};

/// A metric being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDraft {
    pub name: String,
    pub kind: MetricKind,
    pub field: String,
}

/// The form of the stream editor.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDraft {
    /// The stream being edited, `None` for a new one.
    pub original: Option<String>,
    pub name: String,
    pub brokers: String,
    pub topic: String,
    pub start: String,
    pub time_field: String,
    pub time_format: TimeFormat,
    pub granularity: String,
    pub dimensions: Vec<String>,
    pub metrics: Vec<MetricDraft>,
    /// The metric being added: kind and field.
    pub new_metric: (MetricKind, String),
}

impl StreamDraft {
    pub fn new(brokers: &str) -> Self {
        Self {
            original: None,
            name: String::new(),
            brokers: brokers.to_string(),
            topic: String::new(),
            start: "earliest".into(),
            time_field: String::new(),
            time_format: TimeFormat::EpochMs,
            granularity: "1m".into(),
            dimensions: Vec::new(),
            metrics: vec![MetricDraft { name: "events".into(), kind: MetricKind::Count, field: String::new() }],
            new_metric: (MetricKind::Sum, String::new()),
        }
    }

    pub fn from_spec(spec: &StreamSpec) -> Self {
        let (time_field, time_format) = match &spec.time.source {
            crate::model::workbook::TimeSource::Field { path, format } => (path.clone(), *format),
            crate::model::workbook::TimeSource::KafkaTimestamp => (String::new(), TimeFormat::Kafka),
        };
        Self {
            original: Some(spec.name.clone()),
            name: spec.name.clone(),
            brokers: spec.brokers.clone(),
            topic: spec.topic.clone(),
            start: String::from(spec.start),
            time_field,
            time_format,
            granularity: spec.rollup.granularity.to_string(),
            dimensions: spec.rollup.dimensions.clone(),
            metrics: spec
                .rollup
                .metrics
                .iter()
                .map(|m| MetricDraft { name: m.name.clone(), kind: m.kind, field: m.field.clone().unwrap_or_default() })
                .collect(),
            new_metric: (MetricKind::Sum, String::new()),
        }
    }

    /// Fills the name and time field from a sample when they are still empty.
    pub fn adopt_sample(&mut self, fields: &[DetectedField]) {
        if self.name.trim().is_empty() {
            self.name = self.topic.replace(['.', '-'], "_");
        }
        if self.time_field.is_empty()
            && let Some((field, format)) = fields.iter().find_map(|f| f.time_format_guess().map(|format| (f, format)))
        {
            self.time_field.clone_from(&field.path);
            self.time_format = format;
        }
    }

    /// The stream as the workbook will hold it, or the first problem (with the same words as a workbook error).
    pub fn to_spec(&self) -> Result<StreamSpec, String> {
        let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
        let time = if self.time_format == TimeFormat::Kafka {
            "{ format = \"kafka\" }".to_string()
        } else {
            format!("{{ field = {}, format = {} }}", quote(&self.time_field), quote(time_format_name(self.time_format)))
        };
        let dimensions: Vec<String> = self.dimensions.iter().map(|d| quote(d)).collect();
        let metrics: Vec<String> = self
            .metrics
            .iter()
            .map(|m| {
                let field =
                    if m.kind == MetricKind::Count { String::new() } else { format!(", field = {}", quote(&m.field)) };
                format!("{{ name = {}, kind = {}{field} }}", quote(&m.name), quote(&m.kind.to_string()))
            })
            .collect();
        let text = format!(
            "[[streams]]\nname = {}\nbrokers = {}\ntopic = {}\nstart = {}\ntime = {time}\n\
             [streams.rollup]\ngranularity = {}\ndimensions = [{}]\nmetrics = [{}]\n",
            quote(&self.name),
            quote(&self.brokers),
            quote(&self.topic),
            quote(&self.start),
            quote(&self.granularity),
            dimensions.join(", "),
            metrics.join(", "),
        );
        let mut workbook = Workbook::from_toml(&text, std::path::Path::new("stream editor")).map_err(|err| {
            // The form has no lines: drop the "file, line N: " prefix.
            let message = err.to_string();
            message.split_once(": ").map_or(message.clone(), |(_, rest)| rest.to_string())
        })?;
        if self.name.trim().is_empty() {
            return Err("give the stream a name".into());
        }
        if self.topic.trim().is_empty() {
            return Err("pick a topic".into());
        }
        Ok(workbook.streams.remove(0))
    }

    /// Fields the draft uses that the sample never showed (probably typos).
    pub fn unknown_fields(&self, fields: &[DetectedField]) -> Vec<String> {
        let known = |path: &str| fields.iter().any(|f| f.path == path);
        let mut used: Vec<&str> = self.dimensions.iter().map(String::as_str).collect();
        used.extend(self.metrics.iter().filter(|m| m.kind != MetricKind::Count).map(|m| m.field.as_str()));
        if self.time_format != TimeFormat::Kafka {
            used.push(&self.time_field);
        }
        used.into_iter().filter(|path| !path.is_empty() && !known(path)).map(str::to_string).collect()
    }
}

/// How a time format is written in a workbook.
pub fn time_format_name(format: TimeFormat) -> &'static str {
    match format {
        TimeFormat::EpochS => "epoch_s",
        TimeFormat::EpochMs => "epoch_ms",
        TimeFormat::EpochUs => "epoch_us",
        TimeFormat::Rfc3339 => "rfc3339",
        TimeFormat::Kafka => "kafka",
    }
}

/// Whether a detected field can be a dimension (plain values).
pub fn can_be_dimension(field: &DetectedField) -> bool {
    matches!(field.kind, FieldKind::Text | FieldKind::Integer | FieldKind::Boolean | FieldKind::Mixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_draft_becomes_a_spec() {
        let mut draft = StreamDraft::new("localhost:9092");
        draft.topic = "orders".into();
        draft.name = "orders".into();
        draft.time_field = "ts".into();
        draft.dimensions = vec!["country".into()];
        draft.metrics.push(MetricDraft { name: "revenue".into(), kind: MetricKind::Sum, field: "order.total".into() });
        let spec = draft.to_spec().unwrap();
        assert_eq!(spec.rollup.metrics[1].field.as_deref(), Some("order.total"));
        assert_eq!(StreamDraft::from_spec(&spec).to_spec().unwrap(), spec);
    }

    #[test]
    fn problems_come_back_in_workbook_words() {
        let mut draft = StreamDraft::new("localhost:9092");
        draft.topic = "orders".into();
        draft.name = "orders".into();
        draft.time_field = "ts".into();
        draft.granularity = "7m".into();
        assert!(draft.to_spec().unwrap_err().contains("divide a day"));
        draft.granularity = "1m".into();
        draft.metrics.push(MetricDraft { name: "events".into(), kind: MetricKind::Max, field: "x".into() });
        assert!(draft.to_spec().unwrap_err().contains("used twice"));
    }
}
