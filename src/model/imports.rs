//! The `[[imports]]` of a workbook: where a table comes from (a file, a
//! database, an HTTP JSON API), when it is fetched again, how a new fetch is
//! combined with the previous version, and what happens to bad rows.
//!
//! Plain values and their validation only: no I/O, no clocks (the scheduler
//! asks a [`Schedule`] for its next time), no secrets — a password or token is
//! always named by the environment variable that holds it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::duration::SpanDuration;

/// Default number of attempts of a run (the first and its retries).
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Default wait before the first retry; each further retry waits twice as long, up to the cap.
pub const DEFAULT_RETRY_DELAY_SECS: i64 = 30;
/// Default cap on the wait between two attempts.
pub const DEFAULT_MAX_RETRY_DELAY_SECS: i64 = 600;
/// Default time one attempt may take before it is cancelled.
pub const DEFAULT_TIMEOUT_SECS: i64 = 3_600;

/// One import: a source fetched into a named, versioned table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// The table's name, unique among a workbook's imports.
    pub name: String,
    pub source: ImportSource,
    /// When it runs by itself; without one it runs only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub mode: LoadMode,
    /// Attempts of one run, the first included (1 = no retries).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one, with jitter.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: SpanDuration,
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay: SpanDuration,
    /// How long one attempt may take before it is cancelled.
    #[serde(default = "default_timeout")]
    pub timeout: SpanDuration,
    #[serde(default)]
    pub bad_rows: BadRowPolicy,
    /// Imports that must succeed first; a scheduled run of theirs starts this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

pub(crate) fn default_attempts() -> u32 {
    DEFAULT_ATTEMPTS
}
pub(crate) fn default_retry_delay() -> SpanDuration {
    SpanDuration::from_seconds(DEFAULT_RETRY_DELAY_SECS)
}
pub(crate) fn default_max_retry_delay() -> SpanDuration {
    SpanDuration::from_seconds(DEFAULT_MAX_RETRY_DELAY_SECS)
}
pub(crate) fn default_timeout() -> SpanDuration {
    SpanDuration::from_seconds(DEFAULT_TIMEOUT_SECS)
}

/// The wait before retrying after failed attempt number `attempt` (1-based):
/// `first` doubled per earlier retry, capped at `cap`, then spread by ±20%
/// with `jitter_unit` in [0, 1) so that jobs failing together do not retry together.
pub fn backoff(first: SpanDuration, cap: SpanDuration, attempt: u32, jitter_unit: f64) -> std::time::Duration {
    let doubled = first.seconds().max(0) as f64 * 2_f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let jitter = 0.8 + 0.4 * jitter_unit.clamp(0.0, 1.0);
    std::time::Duration::from_secs_f64(doubled.min(cap.seconds().max(0) as f64) * jitter)
}

impl ImportSpec {
    /// How long to wait before retrying after failed attempt number `attempt`
    /// (1-based): the retry delay doubled per earlier retry, capped, then
    /// spread by ±20% with `jitter_unit` in [0, 1) so that imports failing
    /// together do not retry together.
    pub fn retry_wait(&self, attempt: u32, jitter_unit: f64) -> std::time::Duration {
        backoff(self.retry_delay, self.max_retry_delay, attempt, jitter_unit)
    }
}

/// Where an import's rows come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImportSource {
    File(FileSource),
    Sqlite(DatabaseSource),
    Postgres(DatabaseSource),
    Mysql(DatabaseSource),
    Http(HttpSource),
}

impl ImportSource {
    /// A short description for lists and the run history (never with secrets).
    pub fn describe(&self) -> String {
        match self {
            Self::File(file) => format!("file {}", file.path),
            Self::Sqlite(db) => format!("SQLite {} {}", db.url, db.what()),
            Self::Postgres(db) => format!("PostgreSQL {} {}", db.url, db.what()),
            Self::Mysql(db) => format!("MariaDB/MySQL {} {}", db.url, db.what()),
            Self::Http(http) => format!("HTTP {} {}", http.method, http.url),
        }
    }
}

/// File formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Tsv,
    Parquet,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl FileFormat {
    /// The format a file name suggests (`.csv`, `.tsv`, `.parquet`, `.json`, `.ndjson`/`.jsonl`).
    pub fn from_path(path: &str) -> Option<Self> {
        let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" | "txt" => Some(Self::Csv),
            "tsv" | "tab" => Some(Self::Tsv),
            "parquet" | "pq" => Some(Self::Parquet),
            "json" => Some(Self::Json),
            "ndjson" | "jsonl" => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// Text encodings of CSV files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    #[default]
    Utf8,
    /// ISO-8859-1 (and Windows-1252's common subset), converted to UTF-8 on reading.
    Latin1,
}

/// Column types a file import can be told to use instead of the inferred one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Integer,
    Float,
    Boolean,
    Date,
    Datetime,
}

/// A file, or every file a glob matches, read with Polars' readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// A path or a glob (`exports/2026-*.csv`); relative paths start at the workbook's folder.
    pub path: String,
    /// Read from the extension when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    /// CSV only: the field separator (default `,`, or a tab for TSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// CSV only: whether the first line names the columns.
    #[serde(default = "yes")]
    pub header: bool,
    /// CSV only: the quote character (default `"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<char>,
    /// CSV only: texts read as missing values (besides an empty field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub null_values: Vec<String>,
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Column types that replace the inferred ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnType>,
    /// chrono formats of date or time columns, e.g. { day = "%d.%m.%Y" }.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub date_formats: BTreeMap<String, String>,
    /// Adds a column of this name holding each row's file name (useful with globs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name_column: Option<String>,
    /// Runs the import again when the file changes (debounced).
    #[serde(default, skip_serializing_if = "is_false")]
    pub watch: bool,
}

fn yes() -> bool {
    true
}
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

impl FileSource {
    /// The format to read: the declared one, else the one the extension says.
    pub fn resolved_format(&self) -> Option<FileFormat> {
        self.format.or_else(|| FileFormat::from_path(&self.path))
    }
}

/// A table or a query of a database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSource {
    /// SQLite: the database file's path. PostgreSQL: `postgresql://user@host:port/db`.
    /// MariaDB/MySQL: `mysql://user@host:port/db`. Never with a password in it.
    pub url: String,
    /// Environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Or the OS keyring's entry holding it (stored with `tidepool secret set ENTRY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_keyring: Option<String>,
    /// A table (or view) to read whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// A query whose result is the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl DatabaseSource {
    fn what(&self) -> String {
        match (&self.table, &self.query) {
            (Some(table), _) => format!("table {table}"),
            (None, Some(_)) => "query".into(),
            (None, None) => String::new(),
        }
    }
}

/// HTTP methods an API import uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Get => "GET",
            Self::Post => "POST",
        })
    }
}

/// An HTTP JSON API, read page by page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSource {
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from environment variables, e.g. { Authorization = "`API_TOKEN`" }.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    /// Headers whose values come from OS keyring entries, e.g. { Authorization = "`rates-token`" }.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_keyring: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// A JSON body for POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Dotted path of the records array in a response (`data.items`); empty when the response is the array.
    #[serde(default)]
    pub records: String,
    #[serde(default)]
    pub pagination: Pagination,
    /// The most pages one run fetches.
    #[serde(default = "default_page_cap")]
    pub max_pages: u32,
    /// How long one request may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: SpanDuration,
}

fn default_page_cap() -> u32 {
    1_000
}
fn default_request_timeout() -> SpanDuration {
    SpanDuration::from_seconds(30)
}

/// How an API's records continue past the first response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One response holds everything.
    #[default]
    None,
    /// `?page=1`, `?page=2`… until a page has no records.
    Page {
        #[serde(default = "default_page_param")]
        param: String,
        #[serde(default = "one")]
        first: u64,
    },
    /// `?offset=0&limit=100`, `?offset=100&limit=100`… until a short page.
    Offset {
        #[serde(default = "default_offset_param")]
        offset_param: String,
        #[serde(default = "default_limit_param")]
        limit_param: String,
        limit: u64,
    },
    /// The response's field `field` (dotted path) is sent back as `param` until it is missing or null.
    Cursor { field: String, param: String },
    /// The next page's URL: a body field (dotted path), else the `Link: <…>; rel="next"` header.
    NextLink {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

fn default_page_param() -> String {
    "page".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn one() -> u64 {
    1
}

/// How a fetch is combined with the table's previous version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLoadMode", into = "RawLoadMode")]
pub enum LoadMode {
    /// The fetch is the new version.
    #[default]
    Replace,
    /// The new version is the previous one followed by the fetch.
    Append,
    /// Only rows whose `cursor` is past the stored cursor are fetched, and
    /// upserted by `key`; the cursor is stored with the version it produced.
    Incremental { cursor: String, key: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawLoadMode {
    Word(String),
    Incremental { incremental: RawIncremental },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncremental {
    cursor: String,
    key: Vec<String>,
}

impl TryFrom<RawLoadMode> for LoadMode {
    type Error = String;

    fn try_from(raw: RawLoadMode) -> Result<Self, Self::Error> {
        match raw {
            RawLoadMode::Word(word) => match word.as_str() {
                "replace" => Ok(Self::Replace),
                "append" => Ok(Self::Append),
                "incremental" => {
                    Err("an incremental import needs its cursor and key: mode = { incremental = { cursor = \
                     \"updated_at\", key = [\"id\"] } }"
                        .into())
                }
                other => Err(format!("mode `{other}` is not `replace`, `append` or {{ incremental = {{ … }} }}")),
            },
            RawLoadMode::Incremental { incremental } => {
                if incremental.cursor.trim().is_empty() || incremental.key.is_empty() {
                    return Err("an incremental import needs a non-empty `cursor` column and `key` columns".into());
                }
                Ok(Self::Incremental { cursor: incremental.cursor, key: incremental.key })
            }
        }
    }
}

impl From<LoadMode> for RawLoadMode {
    fn from(mode: LoadMode) -> Self {
        match mode {
            LoadMode::Replace => Self::Word("replace".into()),
            LoadMode::Append => Self::Word("append".into()),
            LoadMode::Incremental { cursor, key } => Self::Incremental { incremental: RawIncremental { cursor, key } },
        }
    }
}

/// What a run does with rows that do not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowPolicy {
    /// The run fails, naming the first bad rows; the previous version stays.
    #[default]
    Fail,
    /// Bad rows are left out, counted, and kept in the run's report for inspection.
    Skip,
}

/// When an import runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSchedule", into = "RawSchedule")]
pub enum Schedule {
    /// A 5-field cron expression in a time zone (UTC unless named).
    Cron { expression: String, time_zone: chrono_tz::Tz },
    /// A fixed interval from the previous run's start.
    Every(SpanDuration),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    every: Option<SpanDuration>,
}

impl TryFrom<RawSchedule> for Schedule {
    type Error = String;

    fn try_from(raw: RawSchedule) -> Result<Self, Self::Error> {
        match (raw.cron, raw.every) {
            (Some(expression), None) => {
                let time_zone = match raw.time_zone {
                    None => chrono_tz::UTC,
                    Some(name) => chrono_tz::Tz::from_str(&name)
                        .map_err(|_| format!("time zone `{name}` is not an IANA name such as Europe/Berlin"))?,
                };
                parse_cron(&expression)?;
                Ok(Self::Cron { expression, time_zone })
            }
            (None, Some(every)) => {
                if raw.time_zone.is_some() {
                    return Err("an `every` schedule takes no time zone (it counts from the previous run)".into());
                }
                if every.seconds() < 1 {
                    return Err("`every` must be at least 1s".into());
                }
                Ok(Self::Every(every))
            }
            (Some(_), Some(_)) => Err("a schedule has either `cron` or `every`, not both".into()),
            (None, None) => Err("a schedule needs `cron = \"0 6 * * *\"` or `every = \"15m\"`".into()),
        }
    }
}

impl From<Schedule> for RawSchedule {
    fn from(schedule: Schedule) -> Self {
        match schedule {
            Schedule::Cron { expression, time_zone } => Self {
                cron: Some(expression),
                time_zone: (time_zone != chrono_tz::UTC).then(|| time_zone.name().to_string()),
                every: None,
            },
            Schedule::Every(every) => Self { cron: None, time_zone: None, every: Some(every) },
        }
    }
}

fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    if expression.split_whitespace().count() != 5 {
        return Err(format!(
            "cron `{expression}` needs five fields: minute hour day-of-month month day-of-week (e.g. \"0 6 * * 1-5\")"
        ));
    }
    croner::parser::CronParser::builder()
        .build()
        .parse(expression)
        .map_err(|err| format!("cron `{expression}` does not parse: {err}"))
}

impl Schedule {
    /// The first time strictly after `after` at which this schedule fires.
    /// For `every`, that is `after` plus the interval.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Every(every) => Some(after + chrono::Duration::seconds(every.seconds())),
            Self::Cron { expression, time_zone } => {
                let cron = parse_cron(expression).ok()?;
                let local = time_zone.from_utc_datetime(&after.naive_utc());
                cron.find_next_occurrence(&local, false).ok().map(|next| next.with_timezone(&Utc))
            }
        }
    }

    /// The next `count` times after `after`, for the editor's "runs next at".
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count);
        let mut from = after;
        while times.len() < count {
            let Some(next) = self.next_after(from) else { break };
            times.push(next);
            from = next;
        }
        times
    }

    /// The schedule in words ("every 15m", "cron 0 6 * * 1-5 (Europe/Berlin)").
    pub fn describe(&self) -> String {
        match self {
            Self::Every(every) => format!("every {every}"),
            Self::Cron { expression, time_zone } => format!("cron {expression} ({})", time_zone.name()),
        }
    }
}

/// Problems of one import that the TOML types cannot express, worded for the workbook and the editor.
pub fn import_problems(import: &ImportSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if import.name.trim().is_empty() {
        problems.push("an import needs a non-empty `name`".into());
    }
    if import.attempts == 0 {
        problems.push("`attempts` counts the first try too: it must be at least 1".into());
    }
    if import.timeout.seconds() < 1 {
        problems.push("`timeout` must be at least 1s".into());
    }
    match &import.source {
        ImportSource::File(file) => {
            if file.resolved_format().is_none() {
                problems.push(format!(
                    "cannot tell the format of `{}`: add format = \"csv\", \"tsv\", \"parquet\", \"json\" or \"ndjson\"",
                    file.path
                ));
            }
            for (column, format) in &file.date_formats {
                if chrono::format::StrftimeItems::new(format).parse().is_err() {
                    problems.push(format!("date format `{format}` of column `{column}` is not a chrono format"));
                }
            }
        }
        ImportSource::Sqlite(db) | ImportSource::Postgres(db) | ImportSource::Mysql(db) => {
            match (&db.table, &db.query) {
                (Some(_), Some(_)) => problems.push("a database import reads a `table` or a `query`, not both".into()),
                (None, None) => problems.push("a database import needs a `table` or a `query`".into()),
                _ => {}
            }
            if url_has_password(&db.url) {
                problems.push(format!(
                    "the url of import `{}` holds a password; remove it and name the environment variable \
                     that holds it, password_env = \"{}\", or a keyring entry: password_keyring = \"NAME\" \
                     (stored with `tidepool secret set NAME`)",
                    import.name,
                    default_password_env(&import.source)
                ));
            }
            problems.extend(secret_field_problems(db.password_env.as_ref(), db.password_keyring.as_ref(), "password"));
            if let (LoadMode::Incremental { .. }, Some(query)) = (&import.mode, &db.query)
                && query.trim_end().ends_with(';')
            {
                problems.push("an incremental import wraps its query: leave out the trailing `;`".into());
            }
        }
        ImportSource::Http(http) => {
            if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
                problems.push(format!("url `{}` is not an http:// or https:// address", http.url));
            }
            for (header, value) in &http.headers {
                let lower = header.to_ascii_lowercase();
                if lower == "authorization" || lower.contains("token") || lower.contains("key") {
                    problems.push(format!(
                        "header `{header}` looks like a secret (`{}`): name the environment variable that holds \
                         it instead, headers_env = {{ \"{header}\" = \"API_TOKEN\" }}",
                        mask(value)
                    ));
                }
            }
            for (key, value) in &http.query {
                let lower = key.to_ascii_lowercase();
                if ["key", "token", "secret", "password"].iter().any(|word| lower.contains(word)) {
                    problems.push(format!(
                        "query parameter `{key}` looks like a secret (`{}`): tidepool sends secrets only as \
                         headers read from environment variables, e.g. headers_env = {{ \"Authorization\" = \"API_TOKEN\" }}",
                        mask(value)
                    ));
                }
            }
            for (header, variable) in &http.headers_env {
                problems.extend(secret_field_problems(Some(variable), http.headers_keyring.get(header), "headers"));
            }
            for (header, entry) in &http.headers_keyring {
                if !http.headers_env.contains_key(header) {
                    problems.extend(secret_field_problems(None, Some(entry), "headers"));
                }
            }
            if http.body.is_some() && http.method == HttpMethod::Get {
                problems.push("a `body` is sent only with method = \"POST\"".into());
            }
        }
    }
    problems
}

/// What a password variable could be called, for the advice in an error.
fn default_password_env(source: &ImportSource) -> &'static str {
    match source {
        ImportSource::Postgres(_) => "PGPASSWORD",
        ImportSource::Mysql(_) => "MYSQL_PWD",
        _ => "DB_PASSWORD",
    }
}

/// Problems of a secret named by a pair of fields (`{stem}_env`, `{stem}_keyring`):
/// a variable that is no variable name, an empty keyring entry, or both at once.
pub(crate) fn secret_field_problems(env: Option<&String>, keyring: Option<&String>, stem: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(variable) = env
        && !is_env_name(variable)
    {
        problems.push(format!("{stem}_env names `{variable}`, which is not an environment variable name"));
    }
    if let Some(entry) = keyring
        && !is_keyring_entry(entry)
    {
        problems.push(format!(
            "{stem}_keyring names `{entry}`: a keyring entry's name is not empty and has no spaces at its ends \
             or control characters"
        ));
    }
    if let (Some(variable), Some(entry)) = (env, keyring) {
        problems.push(format!(
            "the secret comes from one place: the environment variable {variable} or the keyring entry `{entry}`, \
             not both"
        ));
    }
    problems
}

fn is_keyring_entry(entry: &str) -> bool {
    !entry.is_empty() && entry.trim() == entry && !entry.chars().any(char::is_control)
}

/// Whether `user:password@` appears in a URL's authority.
pub(crate) fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once('@').is_some_and(|(user_info, _)| user_info.contains(':'))
}

pub(crate) fn is_env_name(variable: &str) -> bool {
    !variable.is_empty()
        && variable.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !variable.starts_with(|c: char| c.is_ascii_digit())
}

/// The first two characters of a value, then stars: enough to recognise, not to use.
fn mask(value: &str) -> String {
    let shown: String = value.chars().take(2).collect();
    format!("{shown}***")
}

/// Problems across a workbook's imports: duplicate names, unknown `after`
/// entries and dependency cycles (named in order).
pub fn cross_import_problems(imports: &[ImportSpec]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    for import in imports {
        if !names.insert(import.name.as_str()) {
            problems.push(format!("import name `{}` is used twice", import.name));
        }
    }
    for import in imports {
        for dependency in &import.after {
            if !names.contains(dependency.as_str()) {
                problems.push(format!("import `{}` runs after `{dependency}`, which is not an import", import.name));
            }
        }
    }
    let jobs: Vec<(&str, &[String])> = imports.iter().map(|i| (i.name.as_str(), i.after.as_slice())).collect();
    if let Some(cycle) = dependency_cycle(&jobs) {
        problems.push(format!("imports depend on each other in a cycle: {}", cycle.join(" → ")));
    }
    problems
}

/// A cycle in the `after` graph of jobs (name, what it runs after), as names from the first back to itself.
pub fn dependency_cycle(jobs: &[(&str, &[String])]) -> Option<Vec<String>> {
    fn visit<'a>(
        name: &'a str,
        after: &HashMap<&'a str, &'a [String]>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(name) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|&n| n == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        for dependency in after.get(name).copied().unwrap_or_default() {
            if after.contains_key(dependency.as_str())
                && let Some(cycle) = visit(dependency, after, state, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(name, 2);
        None
    }
    let after: HashMap<&str, &[String]> = jobs.iter().copied().collect();
    // 0 = not seen, 1 = on the current path, 2 = done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut path: Vec<&str> = Vec::new();
    for (name, _) in jobs {
        if let Some(cycle) = visit(name, &after, &mut state, &mut path) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> Result<ImportSpec, String> {
        toml::from_str::<ImportSpec>(text).map_err(|err| err.to_string())
    }

    #[test]
    fn a_file_import_with_defaults() {
        let spec =
            import("name = \"catalogue\"\nsource = { kind = \"file\", path = \"assets/catalogue.csv\" }").unwrap();
        assert_eq!(spec.mode, LoadMode::Replace);
        assert_eq!(spec.attempts, DEFAULT_ATTEMPTS);
        let ImportSource::File(file) = &spec.source else { panic!("a file source") };
        assert_eq!(file.resolved_format(), Some(FileFormat::Csv));
        assert!(file.header);
        assert!(import_problems(&spec).is_empty());
    }

    #[test]
    fn incremental_mode_and_schedules_parse_and_round_trip() {
        let text = "name = \"orders\"\nmode = { incremental = { cursor = \"updated_at\", key = [\"id\"] } }\n\
                    schedule = { cron = \"30 2 * * *\", time_zone = \"Europe/Berlin\" }\n\
                    [source]\nkind = \"postgres\"\nurl = \"postgresql://me@db:5432/shop\"\ntable = \"orders\"\n";
        let spec = import(text).unwrap();
        assert_eq!(spec.mode, LoadMode::Incremental { cursor: "updated_at".into(), key: vec!["id".into()] });
        let again = import(&toml::to_string(&spec).unwrap()).unwrap();
        assert_eq!(spec, again);
        assert!(
            import("name = \"x\"\nmode = \"incremental\"\nsource = { kind = \"file\", path = \"a.csv\" }")
                .unwrap_err()
                .contains("needs its cursor and key")
        );
    }

    #[test]
    fn bad_cron_and_time_zone_are_explained() {
        let base = "name = \"x\"\nsource = { kind = \"file\", path = \"a.csv\" }\n";
        let err = import(&format!("{base}schedule = {{ cron = \"61 * * * *\" }}")).unwrap_err();
        assert!(err.contains("cron `61 * * * *`"), "{err}");
        let err = import(&format!("{base}schedule = {{ cron = \"0 6 * *\" }}")).unwrap_err();
        assert!(err.contains("five fields"), "{err}");
        let err =
            import(&format!("{base}schedule = {{ cron = \"0 6 * * *\", time_zone = \"Mars/Olympus\" }}")).unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn cron_in_a_time_zone_fires_at_local_time_across_daylight_saving() {
        let schedule = Schedule::Cron { expression: "0 6 * * *".into(), time_zone: chrono_tz::Europe::Berlin };
        // Berlin leaves summer time on 2026-10-25: 06:00 is 04:00 UTC before, 05:00 UTC after.
        let before = Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap();
        let times = schedule.upcoming(before, 2);
        assert_eq!(times[0], Utc.with_ymd_and_hms(2026, 10, 25, 5, 0, 0).unwrap());
        assert_eq!(times[1], Utc.with_ymd_and_hms(2026, 10, 26, 5, 0, 0).unwrap());
        let summer = schedule.next_after(Utc.with_ymd_and_hms(2026, 10, 23, 12, 0, 0).unwrap()).unwrap();
        assert_eq!(summer, Utc.with_ymd_and_hms(2026, 10, 24, 4, 0, 0).unwrap());
    }

    #[test]
    fn passwords_in_urls_and_secret_headers_are_refused() {
        let spec = import(
            "name = \"c\"\nsource = { kind = \"mysql\", url = \"mysql://root:hunter2@127.0.0.1/test\", table = \"c\" }",
        )
        .unwrap();
        let problems = import_problems(&spec).join("\n");
        assert!(problems.contains("password_env = \"MYSQL_PWD\""), "{problems}");
        assert!(!problems.contains("hunter2"), "the error never repeats the secret: {problems}");
        let spec = import(
            "name = \"r\"\n[source]\nkind = \"http\"\nurl = \"https://api.example.com/rates\"\n\
             headers = { Authorization = \"Bearer abcdef\" }\n",
        )
        .unwrap();
        let problems = import_problems(&spec).join("\n");
        assert!(problems.contains("headers_env"), "{problems}");
        assert!(!problems.contains("abcdef"), "{problems}");
        let spec = import(
            "name = \"r\"\n[source]\nkind = \"http\"\nurl = \"https://api.example.com/rates\"\nquery = { api_key = \"zz-top-secret\" }\n",
        )
        .unwrap();
        let problems = import_problems(&spec).join("\n");
        assert!(problems.contains("`api_key` looks like a secret") && !problems.contains("top-secret"), "{problems}");
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let spec = import(
            "name = \"x\"\nretry_delay = \"10s\"\nmax_retry_delay = \"1m\"\nsource = { kind = \"file\", path = \"a.csv\" }",
        )
        .unwrap();
        let seconds = |attempt, jitter| spec.retry_wait(attempt, jitter).as_secs_f64();
        assert!((seconds(1, 0.5) - 10.0).abs() < 1e-9);
        assert!((seconds(2, 0.5) - 20.0).abs() < 1e-9);
        assert!((seconds(3, 0.5) - 40.0).abs() < 1e-9);
        assert!((seconds(4, 0.5) - 60.0).abs() < 1e-9, "capped");
        assert!((seconds(2, 0.0) - 16.0).abs() < 1e-9 && (seconds(2, 0.999_999) - 24.0).abs() < 1e-3, "±20%");
    }

    #[test]
    fn dependency_cycles_are_named_in_order() {
        let spec = |name: &str, after: &[&str]| ImportSpec {
            after: after.iter().map(|a| (*a).to_string()).collect(),
            ..import(&format!("name = \"{name}\"\nsource = {{ kind = \"file\", path = \"a.csv\" }}")).unwrap()
        };
        let imports = vec![spec("a", &["c"]), spec("b", &["a"]), spec("c", &["b"]), spec("d", &[])];
        let jobs: Vec<(&str, &[String])> = imports.iter().map(|i| (i.name.as_str(), i.after.as_slice())).collect();
        assert_eq!(dependency_cycle(&jobs), Some(vec!["a".into(), "c".into(), "b".into(), "a".into()]));
        let problems = cross_import_problems(&imports).join("\n");
        assert!(problems.contains("a → c → b → a"), "{problems}");
        let fine = vec![spec("a", &[]), spec("b", &["a"]), spec("c", &["a", "b"])];
        assert!(cross_import_problems(&fine).is_empty());
        let unknown = vec![spec("a", &["nope"])];
        assert!(cross_import_problems(&unknown)[0].contains("`nope`, which is not an import"));
    }
}
