//! The workbook file: a readable TOML document declaring streams now, and
//! imports (with their schedules), and reports and dashboards as those features land.
//!
//! Parsing reports errors with the file and line they come from. Checks that
//! involve one table are done while deserializing (so the TOML parser knows the
//! line); checks across tables are done afterwards.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::duration::{Granularity, SpanDuration};
use super::exports::{ExportSpec, export_problems};
use super::imports::{ImportSpec, cross_import_problems, dependency_cycle, import_problems};
use super::reports::{Datasets, ReportSpec};
pub use tidepool_rollup::spec::{MetricKind, MetricShape, QuantileRank, RollupShape};

/// Default cap on one message's size; larger ones are quarantined as oversized.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Default number of quarantined records kept per stream (the counters are never capped).
pub const DEFAULT_QUARANTINE_CAPACITY: usize = 10_000;

/// A whole workbook as written in its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workbook {
    #[serde(default)]
    pub workbook: WorkbookMeta,
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
    /// Tables fetched from files, databases and HTTP APIs, on schedules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportSpec>,
    /// Rollups and tables written to files and databases, on schedules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportSpec>,
    /// Questions asked of the streams and tables: joined, grouped, measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportSpec>,
    /// Reserved for dashboards: kept as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dashboards: Vec<toml::Table>,
}

/// The `[workbook]` table: a display name and an optional stable id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkbookMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Checkpoints are keyed by this id; without it, by the file's absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One Kafka topic consumed into one rollup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    pub name: String,
    /// Comma-separated `host:port` list, as Kafka's `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    #[serde(default)]
    pub format: MessageFormat,
    #[serde(default)]
    pub start: StartPosition,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default = "default_quarantine_capacity")]
    pub quarantine_capacity: usize,
    pub time: TimeSpec,
    pub rollup: RollupSpec,
    #[serde(default, skip_serializing_if = "KafkaClientSpec::is_empty")]
    pub kafka: KafkaClientSpec,
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn default_quarantine_capacity() -> usize {
    DEFAULT_QUARANTINE_CAPACITY
}

/// How a message's payload is decoded. Only JSON objects for now; CSV lines,
/// Avro and Protobuf will be further variants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    #[default]
    Json,
}

/// Where a stream starts reading when it has no checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StartPosition {
    #[default]
    Earliest,
    Latest,
    /// The first message whose Kafka timestamp is at or after this time (µs since the epoch, UTC).
    At {
        micros: i64,
    },
}

impl TryFrom<String> for StartPosition {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim() {
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            other => chrono::DateTime::parse_from_rfc3339(other)
                .map(|t| Self::At { micros: t.timestamp_micros() })
                .map_err(|_| {
                    format!(
                        "start `{other}` is not `earliest`, `latest` or an RFC 3339 time such as 2026-11-20T00:00:00Z"
                    )
                }),
        }
    }
}

impl From<StartPosition> for String {
    fn from(value: StartPosition) -> Self {
        match value {
            StartPosition::Earliest => "earliest".into(),
            StartPosition::Latest => "latest".into(),
            StartPosition::At { micros } => chrono::DateTime::from_timestamp_micros(micros)
                .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        }
    }
}

/// Which instant an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawTimeSpec", into = "RawTimeSpec")]
pub struct TimeSpec {
    pub source: TimeSource,
}

/// Where the event time comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeSource {
    /// A field of the message (dotted path), written in `format`.
    Field { path: String, format: TimeFormat },
    /// The Kafka message timestamp.
    KafkaTimestamp,
}

/// How a time field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Seconds since the epoch, integer or fractional.
    EpochS,
    /// Milliseconds since the epoch.
    EpochMs,
    /// Microseconds since the epoch.
    EpochUs,
    /// RFC 3339 text such as `2026-11-25T07:42:10.123Z`.
    Rfc3339,
    /// The Kafka message timestamp (no field).
    Kafka,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    format: TimeFormat,
}

impl TryFrom<RawTimeSpec> for TimeSpec {
    type Error = String;

    fn try_from(raw: RawTimeSpec) -> Result<Self, Self::Error> {
        let source = match (raw.format, raw.field) {
            (TimeFormat::Kafka, None) => TimeSource::KafkaTimestamp,
            (TimeFormat::Kafka, Some(field)) => {
                return Err(format!(
                    "time format `kafka` uses the message timestamp; remove `field = \"{field}\"` or pick a field format"
                ));
            }
            (format, Some(path)) if !path.trim().is_empty() => TimeSource::Field { path, format },
            (_, _) => {
                return Err("time needs `field` (a dotted path to the event time), or `format = \"kafka\"`".into());
            }
        };
        Ok(Self { source })
    }
}

impl From<TimeSpec> for RawTimeSpec {
    fn from(spec: TimeSpec) -> Self {
        match spec.source {
            TimeSource::Field { path, format } => Self { field: Some(path), format },
            TimeSource::KafkaTimestamp => Self { field: None, format: TimeFormat::Kafka },
        }
    }
}

/// A Druid-style rollup: time buckets × dimensions → metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRollupSpec", into = "RawRollupSpec")]
pub struct RollupSpec {
    pub granularity: Granularity,
    pub dimensions: Vec<String>,
    pub metrics: Vec<MetricSpec>,
    /// Events older than their partition's watermark minus this are counted as late (and still merged).
    pub allowed_lateness: SpanDuration,
    /// When set, events older than now minus this are rejected as "too old", and older buckets dropped.
    pub retention: Option<SpanDuration>,
    /// When set, only the events it keeps are rolled up; the others are counted as filtered out.
    pub filter: Option<EventFilter>,
}

impl RollupSpec {
    /// What the rollup state needs of this definition.
    pub fn shape(&self) -> RollupShape {
        RollupShape {
            granularity_micros: self.granularity.micros(),
            dimensions: self.dimensions.clone(),
            metrics: self
                .metrics
                .iter()
                .map(|metric| MetricShape {
                    name: metric.name.clone(),
                    kind: metric.kind,
                    ranks: metric.quantiles.clone(),
                })
                .collect(),
        }
    }
}

/// Which events a rollup keeps, by one field's value (Druid's ingestion
/// filter): `{ field = "type", in = ["order"] }` keeps orders only,
/// `{ field = "type", not_in = ["heartbeat"] }` everything but heartbeats.
/// Numbers and booleans are compared by their JSON text (`in = ["1"]`); an
/// event without the field is never `in` the list, and always `not_in` it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawEventFilter", into = "RawEventFilter")]
pub struct EventFilter {
    pub field: String,
    pub values: Vec<String>,
    /// `true` for `in` (keep the listed values), `false` for `not_in` (keep all others).
    pub keep_listed: bool,
}

impl EventFilter {
    /// Whether an event whose field reads `value` (`None`: absent or null) is kept.
    pub fn keeps(&self, value: Option<&str>) -> bool {
        let listed = value.is_some_and(|value| self.values.iter().any(|listed| listed == value));
        listed == self.keep_listed
    }

    /// Human words, e.g. "type is order or refund".
    pub fn describe(&self) -> String {
        let verb = if self.keep_listed { "is" } else { "is not" };
        let joiner = if self.keep_listed { " or " } else { " nor " };
        format!("{} {verb} {}", self.field, self.values.join(joiner))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventFilter {
    field: String,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    one_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not_in: Option<Vec<String>>,
}

impl TryFrom<RawEventFilter> for EventFilter {
    type Error = String;

    fn try_from(raw: RawEventFilter) -> Result<Self, Self::Error> {
        if raw.field.trim().is_empty() {
            return Err("a filter needs the field it looks at, e.g. { field = \"type\", in = [\"order\"] }".into());
        }
        let (values, keep_listed) = match (raw.one_of, raw.not_in) {
            (Some(values), None) => (values, true),
            (None, Some(values)) => (values, false),
            _ => {
                return Err(format!(
                    "the filter on `{}` needs exactly one of `in` (values to keep) or `not_in` (values to leave out)",
                    raw.field
                ));
            }
        };
        if values.is_empty() {
            return Err(format!("the filter on `{}` lists no values", raw.field));
        }
        Ok(Self { field: raw.field, values, keep_listed })
    }
}

impl From<EventFilter> for RawEventFilter {
    fn from(filter: EventFilter) -> Self {
        let (one_of, not_in) =
            if filter.keep_listed { (Some(filter.values), None) } else { (None, Some(filter.values)) };
        Self { field: filter.field, one_of, not_in }
    }
}

/// Name of the time-bucket column in every rollup frame and export.
pub const BUCKET_COLUMN: &str = "bucket";
/// Default allowed lateness when a rollup does not set one.
pub const DEFAULT_ALLOWED_LATENESS_SECS: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollupSpec {
    granularity: Granularity,
    #[serde(default)]
    dimensions: Vec<String>,
    metrics: Vec<MetricSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_lateness: Option<SpanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention: Option<SpanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<EventFilter>,
}

impl TryFrom<RawRollupSpec> for RollupSpec {
    type Error = String;

    fn try_from(raw: RawRollupSpec) -> Result<Self, Self::Error> {
        if raw.metrics.is_empty() {
            return Err("a rollup needs at least one metric, e.g. { name = \"events\", kind = \"count\" }".into());
        }
        let mut seen = HashSet::new();
        seen.insert(BUCKET_COLUMN.to_string());
        for dimension in &raw.dimensions {
            if dimension.trim().is_empty() {
                return Err("a dimension path is empty".into());
            }
            if !seen.insert(dimension.clone()) {
                return Err(format!("`{dimension}` is named twice (or clashes with the `bucket` column)"));
            }
        }
        for metric in &raw.metrics {
            for column in metric.output_columns() {
                if !seen.insert(column.clone()) {
                    return Err(format!(
                        "metric column `{column}` is used twice, or clashes with a dimension or the `bucket` column"
                    ));
                }
            }
        }
        if let Some(retention) = raw.retention
            && retention.seconds() <= 0
        {
            return Err("retention must be longer than 0s (or left out to keep everything)".into());
        }
        Ok(Self {
            granularity: raw.granularity,
            dimensions: raw.dimensions,
            metrics: raw.metrics,
            allowed_lateness: raw.allowed_lateness.unwrap_or(SpanDuration::from_seconds(DEFAULT_ALLOWED_LATENESS_SECS)),
            retention: raw.retention,
            filter: raw.filter,
        })
    }
}

impl From<RollupSpec> for RawRollupSpec {
    fn from(spec: RollupSpec) -> Self {
        Self {
            granularity: spec.granularity,
            dimensions: spec.dimensions,
            metrics: spec.metrics,
            allowed_lateness: Some(spec.allowed_lateness),
            retention: spec.retention,
            filter: spec.filter,
        }
    }
}

/// Ranks a `quantiles` metric reports when the workbook names none.
pub const DEFAULT_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// One metric column of a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMetricSpec", into = "RawMetricSpec")]
pub struct MetricSpec {
    pub name: String,
    pub kind: MetricKind,
    /// Dotted path of the field the metric reads; `None` only for `count`.
    pub field: Option<String>,
    /// The ranks a `quantiles` metric reports (empty for other kinds).
    pub quantiles: Vec<QuantileRank>,
}

impl MetricSpec {
    /// The columns this metric adds to a rollup frame: its name, or one
    /// `name_pNN` column per rank for `quantiles`.
    pub fn output_columns(&self) -> Vec<String> {
        if self.kind == MetricKind::Quantiles {
            self.quantiles.iter().map(|rank| format!("{}_{}", self.name, rank.label())).collect()
        } else {
            vec![self.name.clone()]
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetricSpec {
    name: String,
    kind: MetricKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantiles: Option<Vec<f64>>,
}

impl TryFrom<RawMetricSpec> for MetricSpec {
    type Error = String;

    fn try_from(raw: RawMetricSpec) -> Result<Self, Self::Error> {
        if raw.name.trim().is_empty() {
            return Err("a metric needs a non-empty `name`".into());
        }
        match (raw.kind.needs_field(), &raw.field) {
            (true, None) => Err(format!(
                "metric `{}` ({}) needs `field`, the dotted path of the value it reads",
                raw.name, raw.kind
            )),
            (false, Some(field)) => Err(format!(
                "metric `{}` is a count of events and takes no field (remove `field = \"{field}\"`)",
                raw.name
            )),
            _ => Ok(()),
        }?;
        let quantiles = match (raw.kind, raw.quantiles) {
            (MetricKind::Quantiles, None) => DEFAULT_QUANTILES.to_vec(),
            (MetricKind::Quantiles, Some(ranks)) if ranks.is_empty() => {
                return Err(format!("metric `{}` lists no quantiles; e.g. quantiles = [0.5, 0.99]", raw.name));
            }
            (MetricKind::Quantiles, Some(ranks)) => ranks,
            (_, None) => Vec::new(),
            (kind, Some(_)) => {
                return Err(format!("metric `{}` is `{kind}`; only `quantiles` metrics take `quantiles`", raw.name));
            }
        };
        let mut ranks = quantiles
            .into_iter()
            .map(QuantileRank::from_fraction)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| format!("metric `{}`: {why}", raw.name))?;
        let listed = ranks.len();
        ranks.sort_unstable();
        ranks.dedup();
        if ranks.len() != listed {
            return Err(format!("metric `{}` lists a quantile twice", raw.name));
        }
        Ok(Self { name: raw.name, kind: raw.kind, field: raw.field, quantiles: ranks })
    }
}

impl From<MetricSpec> for RawMetricSpec {
    fn from(spec: MetricSpec) -> Self {
        let quantiles =
            (spec.kind == MetricKind::Quantiles).then(|| spec.quantiles.iter().map(|rank| rank.fraction()).collect());
        Self { name: spec.name, kind: spec.kind, field: spec.field, quantiles }
    }
}

/// Optional Kafka client settings: everything a secured cluster needs, with no
/// secret in the file. Secrets (the SASL password, the private key's password,
/// any other secret librdkafka property) come from environment variables named
/// here; a variable that is not set is an error naming it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaClientSpec {
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<String>,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// Name of the environment variable holding the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (else the system's CAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// PEM file of the client certificate, for brokers that require one (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<String>,
    /// PEM file of the client certificate's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Name of the environment variable holding the private key's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password_env: Option<String>,
    /// Further secret librdkafka properties, each read from the named
    /// environment variable, e.g. `{ "sasl.oauthbearer.client.secret" = "OAUTH_SECRET" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_properties_env: BTreeMap<String, String>,
    /// Further librdkafka properties, passed through as written (no secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// Security protocols librdkafka speaks (and tidepool is built with).
pub const SECURITY_PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// SASL mechanisms tidepool is built with (Kerberos/GSSAPI is not).
pub const SASL_MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

impl KafkaClientSpec {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Problems a person can fix in the settings, worded for the stream editor and the workbook.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(protocol) = &self.security_protocol
            && !SECURITY_PROTOCOLS.contains(&protocol.to_ascii_uppercase().as_str())
        {
            problems.push(format!("security protocol `{protocol}` is not one of {}", SECURITY_PROTOCOLS.join(", ")));
        }
        if let Some(mechanism) = &self.sasl_mechanism {
            let upper = mechanism.to_ascii_uppercase();
            if upper == "GSSAPI" {
                problems.push("Kerberos (GSSAPI) is not built into this tidepool; use SCRAM or OAUTHBEARER".into());
            } else if !SASL_MECHANISMS.contains(&upper.as_str()) {
                problems.push(format!("SASL mechanism `{mechanism}` is not one of {}", SASL_MECHANISMS.join(", ")));
            }
        }
        let named = [("password_env", &self.password_env), ("key_password_env", &self.key_password_env)];
        let variables = named
            .iter()
            .filter_map(|(key, variable)| variable.as_deref().map(|variable| ((*key).to_string(), variable)))
            .chain(self.secret_properties_env.iter().map(|(key, variable)| (format!("`{key}`"), variable.as_str())));
        for (key, variable) in variables {
            if !super::imports::is_env_name(variable) {
                problems.push(format!("{key} names `{variable}`, which is not an environment variable name"));
            }
        }
        problems
    }
}

/// A workbook that could not be read, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    #[error("cannot read workbook {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid { path: PathBuf, line: Option<usize>, message: String },
}

impl Workbook {
    /// Parses and validates a workbook's text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, WorkbookError> {
        let invalid =
            |line: Option<usize>, message: String| WorkbookError::Invalid { path: path.to_path_buf(), line, message };
        let workbook: Self = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| line_of_offset(text, span.start));
            invalid(line, err.message().trim().to_string())
        })?;
        let mut names = HashSet::new();
        for stream in &workbook.streams {
            if stream.name.trim().is_empty() {
                return Err(invalid(None, "a stream needs a non-empty `name`".into()));
            }
            if !names.insert(stream.name.as_str()) {
                let line = nth_line_containing(text, &format!("\"{}\"", stream.name), 2);
                return Err(invalid(line, format!("stream name `{}` is used twice", stream.name)));
            }
            for key in stream.kafka.properties.keys() {
                if is_secret_property(key) {
                    let line = nth_line_containing(text, key, 1);
                    return Err(invalid(
                        line,
                        format!(
                            "stream `{}` sets the secret `{key}` in the file; put it in an environment variable \
                             and name that variable instead: `password_env` for the SASL password, \
                             `key_password_env` for the key's, or secret_properties_env = {{ \"{key}\" = \"VARIABLE\" }}",
                            stream.name
                        ),
                    ));
                }
            }
            if let Some(problem) = stream.kafka.problems().into_iter().next() {
                let line = nth_line_containing(text, "[streams.kafka]", 1);
                return Err(invalid(line, format!("stream `{}`: {problem}", stream.name)));
            }
        }
        for import in &workbook.imports {
            if let Some(problem) = import_problems(import).into_iter().next() {
                let line = nth_line_containing(text, &format!("\"{}\"", import.name), 1);
                return Err(invalid(line, format!("import `{}`: {problem}", import.name)));
            }
            if workbook.streams.iter().any(|stream| stream.name == import.name) {
                let line = nth_line_containing(text, &format!("\"{}\"", import.name), 2);
                return Err(invalid(
                    line,
                    format!(
                        "`{}` names both a stream and an import; reports need each dataset's name once",
                        import.name
                    ),
                ));
            }
        }
        if let Some(problem) = cross_import_problems(&workbook.imports).into_iter().next() {
            let line = nth_line_containing(text, "[[imports]]", 1);
            return Err(invalid(line, problem));
        }
        workbook.check_exports(text, path)?;
        workbook.check_reports(text, path)?;
        Ok(workbook)
    }

    fn check_reports(&self, text: &str, path: &Path) -> Result<(), WorkbookError> {
        let datasets =
            Datasets { streams: &self.streams, imports: self.imports.iter().map(|i| i.name.as_str()).collect() };
        let mut seen = HashSet::new();
        for report in &self.reports {
            let line = nth_line_containing(text, &format!("\"{}\"", report.name), 1);
            let invalid = |message: String| WorkbookError::Invalid { path: path.to_path_buf(), line, message };
            if report.name.trim().is_empty() {
                return Err(invalid("a report needs a non-empty `name`".into()));
            }
            let taken = self.stream(&report.name).is_some()
                || self.import(&report.name).is_some()
                || self.export(&report.name).is_some();
            if taken || !seen.insert(report.name.as_str()) {
                return Err(invalid(format!(
                    "the name `{}` is used twice among streams, imports, exports and reports",
                    report.name
                )));
            }
            if let Some(problem) = report.problems(&datasets).into_iter().next() {
                return Err(invalid(format!("report `{}`: {problem}", report.name)));
            }
        }
        Ok(())
    }

    pub fn report(&self, name: &str) -> Option<&ReportSpec> {
        self.reports.iter().find(|r| r.name == name)
    }

    fn check_exports(&self, text: &str, path: &Path) -> Result<(), WorkbookError> {
        let invalid =
            |line: Option<usize>, message: String| WorkbookError::Invalid { path: path.to_path_buf(), line, message };
        let datasets: Vec<&str> = self
            .streams
            .iter()
            .map(|s| s.name.as_str())
            .chain(self.imports.iter().map(|i| i.name.as_str()))
            .chain(self.reports.iter().map(|r| r.name.as_str()))
            .collect();
        let jobs: Vec<&str> =
            self.imports.iter().map(|i| i.name.as_str()).chain(self.exports.iter().map(|e| e.name.as_str())).collect();
        let mut seen = HashSet::new();
        for export in &self.exports {
            let line = nth_line_containing(text, &format!("\"{}\"", export.name), 1);
            if let Some(problem) = export_problems(export, &datasets).into_iter().next() {
                return Err(invalid(line, format!("export `{}`: {problem}", export.name)));
            }
            if self.imports.iter().any(|i| i.name == export.name) || !seen.insert(export.name.as_str()) {
                return Err(invalid(
                    line,
                    format!("the name `{}` is used twice among imports and exports", export.name),
                ));
            }
            if let Some(unknown) = export.after.iter().find(|a| !jobs.contains(&a.as_str())) {
                return Err(invalid(
                    line,
                    format!("export `{}` runs after `{unknown}`, which is no import or export", export.name),
                ));
            }
        }
        let graph: Vec<(&str, &[String])> = self
            .imports
            .iter()
            .map(|i| (i.name.as_str(), i.after.as_slice()))
            .chain(self.exports.iter().map(|e| (e.name.as_str(), e.after.as_slice())))
            .collect();
        if let Some(cycle) = dependency_cycle(&graph) {
            let line = nth_line_containing(text, "[[exports]]", 1);
            return Err(invalid(
                line,
                format!("imports and exports depend on each other in a cycle: {}", cycle.join(" → ")),
            ));
        }
        Ok(())
    }

    pub fn import(&self, name: &str) -> Option<&ImportSpec> {
        self.imports.iter().find(|i| i.name == name)
    }

    pub fn export(&self, name: &str) -> Option<&ExportSpec> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// Reads and validates a workbook file.
    pub fn load(path: &Path) -> Result<Self, WorkbookError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| WorkbookError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, path)
    }

    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// Why this workbook's file would be refused, if it would: the editors
    /// check an edit with the very rules a file is read with.
    pub fn problems(&self) -> Vec<String> {
        let text = match self.to_toml() {
            Ok(text) => text,
            Err(err) => return vec![format!("the workbook cannot be written: {err}")],
        };
        match Self::from_toml(&text, Path::new("workbook")) {
            Ok(_) => Vec::new(),
            Err(WorkbookError::Invalid { message, .. }) => vec![message],
            Err(other) => vec![other.to_string()],
        }
    }

    pub fn stream(&self, name: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The workbook's display name: its `name`, else the file stem.
    pub fn display_name(&self, path: &Path) -> String {
        self.workbook
            .name
            .clone()
            .unwrap_or_else(|| path.file_stem().map_or_else(|| "workbook".into(), |s| s.to_string_lossy().into_owned()))
    }
}

/// A stream for unit tests: `rollup` is the TOML of a `[streams.rollup]` table's
/// body; the stream reads `ts` as epoch milliseconds from topic `t`.
#[cfg(test)]
pub(crate) fn test_stream(rollup: &str) -> StreamSpec {
    test_stream_with_time("field = \"ts\", format = \"epoch_ms\"", rollup)
}

/// As [`test_stream`], with `time` the body of the inline `time` table.
#[cfg(test)]
pub(crate) fn test_stream_with_time(time: &str, rollup: &str) -> StreamSpec {
    let text = format!(
        "[[streams]]\nname = \"s\"\nbrokers = \"b\"\ntopic = \"t\"\ntime = {{ {time} }}\n\
         [streams.rollup]\n{rollup}\n"
    );
    match Workbook::from_toml(&text, Path::new("test.toml")) {
        Ok(mut workbook) => workbook.streams.remove(0),
        Err(err) => panic!("test stream does not parse: {err}"),
    }
}

fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "private.key", "key.pem"].iter().any(|word| key.contains(word))
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

fn nth_line_containing(text: &str, needle: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .nth(nth.saturating_sub(1))
        .map(|(index, _)| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[workbook]
name = "shop"

[[streams]]
name = "clicks"
brokers = "127.0.0.1:9092"
topic = "clickstream"
start = "2026-11-20T00:00:00Z"

[streams.time]
field = "ts"
format = "epoch_ms"

[streams.rollup]
granularity = "1m"
dimensions = ["country", "page.section"]
retention = "30d"
metrics = [
  { name = "events", kind = "count" },
  { name = "revenue", kind = "sum", field = "order.total" },
  { name = "users", kind = "approx_distinct", field = "user" },
]

[[imports]]
name = "catalogue"
source = { kind = "file", path = "assets/catalogue.csv" }
schedule = { every = "1h" }
"#;

    fn parse(text: &str) -> Result<Workbook, WorkbookError> {
        Workbook::from_toml(text, Path::new("shop.toml"))
    }

    #[test]
    fn parses_a_full_stream() {
        let workbook = parse(GOOD).unwrap();
        let stream = workbook.stream("clicks").unwrap();
        assert_eq!(stream.rollup.granularity.micros(), 60_000_000);
        assert_eq!(stream.rollup.metrics[1].field.as_deref(), Some("order.total"));
        assert_eq!(stream.rollup.allowed_lateness.seconds(), DEFAULT_ALLOWED_LATENESS_SECS);
        assert_eq!(stream.rollup.retention.map(SpanDuration::seconds), Some(30 * 86_400));
        assert!(matches!(stream.start, StartPosition::At { micros } if micros == 1_795_132_800_000_000));
        assert_eq!(
            workbook.import("catalogue").and_then(|i| i.schedule.clone()).map(|s| s.describe()).as_deref(),
            Some("every 1h")
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let workbook = parse(GOOD).unwrap();
        let again = parse(&workbook.to_toml().unwrap()).unwrap();
        assert_eq!(workbook, again);
    }

    #[test]
    fn bad_granularity_names_the_line() {
        let text = GOOD.replace("granularity = \"1m\"", "granularity = \"7m\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("shop.toml, line 16"), "{err}");
        assert!(err.contains("divide a day"), "{err}");
    }

    #[test]
    fn a_rollup_filter_round_trips_and_a_malformed_one_names_its_line() {
        let with =
            |filter: &str| GOOD.replace("granularity = \"1m\"", &format!("granularity = \"1m\"\nfilter = {filter}"));
        let workbook = parse(&with(r#"{ field = "type", not_in = ["heartbeat", "ping"] }"#)).unwrap();
        let filter = workbook.stream("clicks").unwrap().rollup.filter.clone().unwrap();
        assert_eq!((filter.field.as_str(), filter.keep_listed), ("type", false));
        assert_eq!(filter.describe(), "type is not heartbeat nor ping");
        assert!(filter.keeps(Some("order")) && filter.keeps(None) && !filter.keeps(Some("ping")));
        assert_eq!(parse(&workbook.to_toml().unwrap()).unwrap(), workbook);
        for (bad, says) in [
            (r#"{ field = "type" }"#, "exactly one of `in`"),
            (r#"{ field = "type", in = ["a"], not_in = ["b"] }"#, "exactly one of `in`"),
            (r#"{ field = "type", in = [] }"#, "lists no values"),
            (r#"{ field = " ", in = ["a"] }"#, "needs the field"),
            (r#"{ field = "type", equals = "a" }"#, "equals"),
        ] {
            let err = parse(&with(bad)).unwrap_err().to_string();
            assert!(err.starts_with("shop.toml, line 1"), "{bad}: {err}");
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn metric_without_field_is_rejected() {
        let text = GOOD.replace(", field = \"order.total\"", "");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("metric `revenue` (sum) needs `field`"), "{err}");
        assert!(err.contains("line "), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let text = GOOD.replace("topic = \"clickstream\"", "topic = \"clickstream\"\ntopik = \"x\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 9"), "{err}");
        assert!(err.contains("topik"), "{err}");
    }

    #[test]
    fn duplicate_stream_names_are_rejected() {
        let second = GOOD.split("[[imports]]").next().unwrap().split("[[streams]]").nth(1).unwrap();
        let text = format!("{GOOD}\n[[streams]]{second}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("stream name `clicks` is used twice"), "{err}");
    }

    #[test]
    fn secrets_in_the_file_are_refused() {
        let text = format!("{GOOD}\n");
        let text = text.replace(
            "[[imports]]",
            "[streams.kafka]\nsasl_username = \"me\"\nproperties = { \"sasl.password\" = \"hunter2\" }\n\n[[imports]]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("password_env"), "{err}");
    }

    #[test]
    fn the_shipped_workbooks_parse() {
        for (path, text) in [
            ("views/example.toml", include_str!("../../views/example.toml")),
            ("views/demo.toml", include_str!("../../views/demo.toml")),
        ] {
            let workbook = Workbook::from_toml(text, Path::new(path)).unwrap_or_else(|err| panic!("{err}"));
            assert!(!workbook.streams.is_empty(), "{path} declares a stream");
        }
        let uncommented: String = include_str!("../../views/example.toml")
            .lines()
            .map(|line| {
                line.strip_prefix("# ").filter(|rest| rest.starts_with('[') || rest.contains(" = ")).unwrap_or(line)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let secured = Workbook::from_toml(&uncommented, Path::new("views/example.toml"))
            .unwrap_or_else(|err| panic!("the commented settings must parse once uncommented: {err}"));
        assert_eq!(secured.streams[0].kafka.key_password_env.as_deref(), Some("TIDEPOOL_KAFKA_KEY_PASSWORD"));
    }

    #[test]
    fn import_problems_name_the_import_and_its_line() {
        let text = GOOD.replace("path = \"assets/catalogue.csv\"", "path = \"assets/catalogue.xlsx\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("import `catalogue`: cannot tell the format"), "{err}");
        assert!(err.contains("line 26"), "the line of the import's name: {err}");
        let text = format!("{GOOD}after = [\"catalogue\"]\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("catalogue → catalogue"), "{err}");
        let text = GOOD.replace("kind = \"file\"", "kind = \"excel\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("excel") && err.contains("line "), "{err}");
    }

    #[test]
    fn kafka_time_takes_no_field() {
        let text = GOOD.replace("format = \"epoch_ms\"", "format = \"kafka\"");
        assert!(parse(&text).unwrap_err().to_string().contains("uses the message timestamp"));
        let text = GOOD.replace("field = \"ts\"\nformat = \"epoch_ms\"", "format = \"kafka\"");
        let workbook = parse(&text).unwrap();
        assert_eq!(workbook.streams[0].time.source, TimeSource::KafkaTimestamp);
    }
}
