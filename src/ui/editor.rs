//! The stream editor's draft: what the form holds while the user edits, and
//! its conversion to a validated `StreamSpec` (through the same TOML parser
//! as workbook files, so the rules are the same). Settings the form does not
//! show are carried over from the stream being edited, so an edit never drops
//! them; problems are worded for people, not in workbook syntax.

use crate::engine::discovery::{DetectedField, FieldKind};
use crate::model::workbook::{DEFAULT_QUANTILES, QuantileRank};
use crate::model::{KafkaClientSpec, MetricKind, StreamSpec, TimeFormat, Workbook};

/// A metric being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDraft {
    pub name: String,
    pub kind: MetricKind,
    pub field: String,
    /// The ranks of a `quantiles` metric (kept as they were; new ones get p50, p90, p99).
    pub quantiles: Vec<QuantileRank>,
}

impl MetricDraft {
    pub fn new(name: String, kind: MetricKind, field: String) -> Self {
        let quantiles = if kind == MetricKind::Quantiles {
            DEFAULT_QUANTILES.iter().filter_map(|&rank| QuantileRank::from_fraction(rank).ok()).collect()
        } else {
            Vec::new()
        };
        Self { name, kind, field, quantiles }
    }
}

/// The client settings section of the form; empty text means "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientDraft {
    pub security_protocol: String,
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub password_env: String,
    pub ca_file: String,
    pub certificate_file: String,
    pub key_file: String,
    pub key_password_env: String,
}

impl ClientDraft {
    fn from_spec(spec: &KafkaClientSpec) -> Self {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        Self {
            security_protocol: text(&spec.security_protocol),
            sasl_mechanism: text(&spec.sasl_mechanism),
            sasl_username: text(&spec.sasl_username),
            password_env: text(&spec.password_env),
            ca_file: text(&spec.ca_file),
            certificate_file: text(&spec.certificate_file),
            key_file: text(&spec.key_file),
            key_password_env: text(&spec.key_password_env),
        }
    }

    /// The settings, over `carried` (what the form does not show: further properties).
    pub fn to_spec(&self, carried: &KafkaClientSpec) -> KafkaClientSpec {
        let value = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_string());
        KafkaClientSpec {
            security_protocol: value(&self.security_protocol),
            sasl_mechanism: value(&self.sasl_mechanism),
            sasl_username: value(&self.sasl_username),
            password_env: value(&self.password_env),
            ca_file: value(&self.ca_file),
            certificate_file: value(&self.certificate_file),
            key_file: value(&self.key_file),
            key_password_env: value(&self.key_password_env),
            secret_properties_env: carried.secret_properties_env.clone(),
            properties: carried.properties.clone(),
        }
    }
}

/// `text` as a TOML string literal, quoted and escaped.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
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
    pub allowed_lateness: String,
    /// Empty: keep everything.
    pub retention: String,
    /// The rollup's filter: the field it reads (empty: no filter), its values
    /// separated by commas, and whether those are kept (`in`) or left out (`not_in`).
    pub filter_field: String,
    pub filter_values: String,
    pub filter_keeps_listed: bool,
    pub client: ClientDraft,
    /// The stream as it was before editing: settings the form does not show come from here.
    pub carried: Option<Box<StreamSpec>>,
    /// Whether the name was already suggested from the topic (it is suggested once, never refilled).
    pub name_suggested: bool,
    /// The form as it was opened, to tell whether Cancel would lose changes.
    pub opened_as: Option<Box<StreamDraft>>,
    /// Cancel was pressed on a changed form: the editor asks before discarding.
    pub confirming_cancel: bool,
    /// The start time typed when starting "at a time" (RFC 3339).
    pub start_time: String,
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
            metrics: vec![MetricDraft::new("events".into(), MetricKind::Count, String::new())],
            new_metric: (MetricKind::Sum, String::new()),
            allowed_lateness: "1m".into(),
            retention: String::new(),
            filter_field: String::new(),
            filter_values: String::new(),
            filter_keeps_listed: true,
            client: ClientDraft::default(),
            carried: None,
            name_suggested: false,
            opened_as: None,
            confirming_cancel: false,
            start_time: String::new(),
        }
        .remember_opening()
    }

    /// Keeps a copy of the form as opened (see [`Self::is_changed`]).
    fn remember_opening(mut self) -> Self {
        self.opened_as = Some(Box::new(self.clone()));
        self
    }

    /// Whether the user changed anything since the editor opened.
    pub fn is_changed(&self) -> bool {
        let Some(initial) = &self.opened_as else { return false };
        let mut now = self.clone();
        now.opened_as = None;
        now.confirming_cancel = false;
        now.name_suggested = initial.name_suggested;
        now.new_metric.clone_from(&initial.new_metric);
        **initial != now
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
                .map(|m| MetricDraft {
                    name: m.name.clone(),
                    kind: m.kind,
                    field: m.field.clone().unwrap_or_default(),
                    quantiles: m.quantiles.clone(),
                })
                .collect(),
            new_metric: (MetricKind::Sum, String::new()),
            allowed_lateness: spec.rollup.allowed_lateness.to_string(),
            retention: spec.rollup.retention.map(|retention| retention.to_string()).unwrap_or_default(),
            filter_field: spec.rollup.filter.as_ref().map(|filter| filter.field.clone()).unwrap_or_default(),
            filter_values: spec.rollup.filter.as_ref().map(|filter| filter.values.join(", ")).unwrap_or_default(),
            filter_keeps_listed: spec.rollup.filter.as_ref().is_none_or(|filter| filter.keep_listed),
            client: ClientDraft::from_spec(&spec.kafka),
            carried: Some(Box::new(spec.clone())),
            name_suggested: true,
            opened_as: None,
            confirming_cancel: false,
            start_time: match spec.start {
                crate::model::StartPosition::At { .. } => String::from(spec.start),
                _ => String::new(),
            },
        }
        .remember_opening()
    }

    /// A problem with the name given the other streams' names, worded for the form.
    pub fn name_problem<'a>(&self, other_streams: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Some("give the stream a name".into());
        }
        let taken = other_streams.into_iter().any(|other| other == name && self.original.as_deref() != Some(other));
        taken.then(|| format!("a stream named `{name}` already exists: pick another name"))
    }

    /// The client settings as the stream will hold them.
    pub fn client_spec(&self) -> KafkaClientSpec {
        let carried = self.carried.as_ref().map(|spec| spec.kafka.clone()).unwrap_or_default();
        self.client.to_spec(&carried)
    }

    /// Fills the name and time field from a sample when they are still empty.
    pub fn adopt_sample(&mut self, fields: &[DetectedField]) {
        if self.name.trim().is_empty() && !self.name_suggested {
            self.name = self.topic.replace(['.', '-'], "_");
        }
        self.name_suggested = true;
        if self.time_field.is_empty()
            && let Some((field, format)) = fields.iter().find_map(|f| f.time_format_guess().map(|format| (f, format)))
        {
            self.time_field.clone_from(&field.path);
            self.time_format = format;
        }
    }

    /// The `filter = …` line of the rollup (empty without a filter field).
    fn filter_toml(&self) -> Result<String, String> {
        let field = self.filter_field.trim();
        if field.is_empty() {
            return Ok(String::new());
        }
        let values: Vec<String> =
            self.filter_values.split(',').map(str::trim).filter(|value| !value.is_empty()).map(quote).collect();
        if values.is_empty() {
            return Err(format!("type the values of `{field}` the filter keeps or leaves out, separated by commas"));
        }
        let list = if self.filter_keeps_listed { "in" } else { "not_in" };
        Ok(format!("filter = {{ field = {}, {list} = [{}] }}\n", quote(field), values.join(", ")))
    }

    /// The stream as the workbook will hold it, or the first problem (with the same words as a workbook error).
    pub fn to_spec(&self) -> Result<StreamSpec, String> {
        if self.name.trim().is_empty() {
            return Err("give the stream a name".into());
        }
        if self.brokers.trim().is_empty() {
            return Err("type the brokers' addresses, e.g. kafka-1:9092".into());
        }
        if self.topic.trim().is_empty() {
            return Err("pick a topic".into());
        }
        if self.time_format != TimeFormat::Kafka && self.time_field.trim().is_empty() {
            return Err("pick the field that holds the event time (or the Kafka timestamp)".into());
        }
        if let Some(metric) = self.metrics.iter().find(|m| m.kind != MetricKind::Count && m.field.trim().is_empty()) {
            return Err(format!("pick the field metric `{}` reads", metric.name));
        }
        if self.metrics.is_empty() {
            return Err("add at least one metric, e.g. a count of events".into());
        }
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
                let ranks: Vec<String> = m.quantiles.iter().map(|rank| rank.fraction().to_string()).collect();
                let quantiles = if m.kind == MetricKind::Quantiles && !ranks.is_empty() {
                    format!(", quantiles = [{}]", ranks.join(", "))
                } else {
                    String::new()
                };
                format!("{{ name = {}, kind = {}{field}{quantiles} }}", quote(&m.name), quote(&m.kind.to_string()))
            })
            .collect();
        let retention = if self.retention.trim().is_empty() {
            String::new()
        } else {
            format!("retention = {}\n", quote(&self.retention))
        };
        let filter = self.filter_toml()?;
        let text = format!(
            "[[streams]]\nname = {}\nbrokers = {}\ntopic = {}\nstart = {}\ntime = {time}\n\
             [streams.rollup]\ngranularity = {}\ndimensions = [{}]\nmetrics = [{}]\nallowed_lateness = {}\n{retention}{filter}",
            quote(self.name.trim()),
            quote(self.brokers.trim()),
            quote(self.topic.trim()),
            quote(self.start.trim()),
            quote(&self.granularity),
            dimensions.join(", "),
            metrics.join(", "),
            quote(&self.allowed_lateness),
        );
        let mut workbook = Workbook::from_toml(&text, std::path::Path::new("stream editor")).map_err(|err| {
            // The form has no lines: drop the "file, line N: " prefix.
            let message = err.to_string();
            message.split_once(": ").map_or(message.clone(), |(_, rest)| rest.to_string())
        })?;
        let mut spec = workbook.streams.remove(0);
        if let Some(carried) = &self.carried {
            spec.format = carried.format;
            spec.max_message_bytes = carried.max_message_bytes;
            spec.quarantine_capacity = carried.quarantine_capacity;
        }
        spec.kafka = self.client_spec();
        if let Some(problem) = spec.kafka.problems().into_iter().next() {
            return Err(problem);
        }
        Ok(spec)
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
        draft.metrics.push(MetricDraft::new("revenue".into(), MetricKind::Sum, "order.total".into()));
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
        draft.metrics.push(MetricDraft::new("events".into(), MetricKind::Max, "x".into()));
        assert!(draft.to_spec().unwrap_err().contains("used twice"));
    }

    #[test]
    fn editing_keeps_every_setting_the_form_does_not_show() {
        let text = r#"
[[streams]]
name = "clicks"
brokers = "kafka:9092"
topic = "clicks"
max_message_bytes = 2000000
quarantine_capacity = 55
time = { field = "ts", format = "epoch_ms" }
[streams.rollup]
granularity = "1m"
allowed_lateness = "10m"
retention = "30d"
filter = { field = "type", not_in = ["heartbeat", "ping"] }
metrics = [{ name = "events", kind = "count" }, { name = "ms", kind = "quantiles", field = "ms", quantiles = [0.25, 0.999] }]
[streams.kafka]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "me"
password_env = "KAFKA_PASSWORD"
key_password_env = "KEY_PASSWORD"
secret_properties_env = { "sasl.oauthbearer.client.secret" = "OAUTH" }
properties = { "client.rack" = "eu-1" }
"#;
        let spec = Workbook::from_toml(text, std::path::Path::new("w.toml")).unwrap().streams.remove(0);
        assert_eq!(StreamDraft::from_spec(&spec).to_spec().unwrap(), spec, "Edit then Save changes nothing");
        let mut draft = StreamDraft::from_spec(&spec);
        draft.granularity = "5m".into();
        let edited = draft.to_spec().unwrap();
        assert_eq!(edited.kafka, spec.kafka);
        assert_eq!(edited.rollup.retention, spec.rollup.retention);
        assert_eq!(edited.rollup.allowed_lateness, spec.rollup.allowed_lateness);
        assert_eq!(edited.rollup.metrics, spec.rollup.metrics);
        assert_eq!((edited.max_message_bytes, edited.quarantine_capacity), (2_000_000, 55));
        assert_eq!(edited.rollup.filter, spec.rollup.filter);
    }

    #[test]
    fn the_filter_is_edited_in_the_form() {
        let mut draft = StreamDraft::new("localhost:9092");
        draft.name = "orders".into();
        draft.topic = "clicks".into();
        draft.time_field = "ts".into();
        assert_eq!(draft.to_spec().unwrap().rollup.filter, None, "an empty field means no filter");
        draft.filter_field = "type".into();
        assert!(draft.to_spec().unwrap_err().contains("type the values of `type`"));
        draft.filter_values = " order ,, refund ".into();
        let filter = draft.to_spec().unwrap().rollup.filter.unwrap();
        assert_eq!((filter.values, filter.keep_listed), (vec!["order".to_string(), "refund".to_string()], true));
        draft.filter_keeps_listed = false;
        assert!(!draft.to_spec().unwrap().rollup.filter.unwrap().keep_listed);
    }

    #[test]
    fn names_are_unique_and_never_refilled_once_cleared() {
        let mut draft = StreamDraft::new("localhost:9092");
        draft.topic = "web.clicks".into();
        draft.adopt_sample(&[]);
        assert_eq!(draft.name, "web_clicks");
        draft.name.clear();
        draft.adopt_sample(&[]);
        assert_eq!(draft.name, "", "a cleared name stays cleared");
        assert_eq!(draft.name_problem(["web_clicks"]).as_deref(), Some("give the stream a name"));
        draft.name = "clicks".into();
        assert!(draft.name_problem(["clicks", "orders"]).unwrap().contains("already exists"));
        assert_eq!(draft.name_problem(["orders"]), None);
    }

    #[test]
    fn problems_are_worded_for_people() {
        let mut draft = StreamDraft::new("localhost:9092");
        draft.name = "orders".into();
        draft.topic = "orders".into();
        assert_eq!(draft.to_spec().unwrap_err(), "pick the field that holds the event time (or the Kafka timestamp)");
        draft.time_field = "ts".into();
        draft.metrics.push(MetricDraft::new("total".into(), MetricKind::Sum, String::new()));
        assert_eq!(draft.to_spec().unwrap_err(), "pick the field metric `total` reads");
    }
}
