//! The import editor's draft: what the form holds while the user edits, and
//! its conversion to an `ImportSpec`. Settings the form does not show (a
//! CSV's null markers and column types, an API's headers, query and
//! pagination, retry delays…) are carried over from the import being edited,
//! so an edit never drops them; problems are worded for people.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use chrono::{DateTime, Utc};

use crate::model::imports::{
    BadRowPolicy, DatabaseSource, FileFormat, FileSource, HttpMethod, HttpSource, Pagination, TextEncoding,
    import_problems,
};
use crate::model::{ImportSource, ImportSpec, LoadMode, Schedule, SpanDuration};

/// The kinds of source the editor offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    File,
    Sqlite,
    Postgres,
    Mysql,
    Http,
}

impl SourceKind {
    pub const ALL: [Self; 5] = [Self::File, Self::Sqlite, Self::Postgres, Self::Mysql, Self::Http];

    pub fn label(self) -> &'static str {
        match self {
            Self::File => "File (CSV, Parquet, JSON)",
            Self::Sqlite => "SQLite database",
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MariaDB / MySQL",
            Self::Http => "HTTP JSON API",
        }
    }

    /// What the URL field holds for this kind, as a hint.
    pub fn url_hint(self) -> &'static str {
        match self {
            Self::Sqlite => "path/to/database.sqlite",
            Self::Postgres => "postgresql://analyst@db.internal:5432/shop",
            Self::Mysql => "mysql://analyst@db.internal:3306/shop",
            Self::Http => "https://api.example.com/v1/rates",
            Self::File => "data/orders-*.csv",
        }
    }

    fn of(source: &ImportSource) -> Self {
        match source {
            ImportSource::File(_) => Self::File,
            ImportSource::Sqlite(_) => Self::Sqlite,
            ImportSource::Postgres(_) => Self::Postgres,
            ImportSource::Mysql(_) => Self::Mysql,
            ImportSource::Http(_) => Self::Http,
        }
    }
}

/// When the import runs by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Only when asked (Run now, or after another import).
    Manual,
    Every,
    Cron,
}

/// How a fetch meets the previous version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    Replace,
    Append,
    Incremental,
}

/// Where a secret the form names is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFrom {
    /// An environment variable.
    Env,
    /// An entry of the OS keyring (`tidepool secret set ENTRY`).
    Keyring,
}

impl SecretFrom {
    /// The place and name a workbook's pair of fields gives (the variable first).
    fn of(env: Option<&String>, keyring: Option<&String>) -> (Self, String) {
        match (env, keyring) {
            (Some(variable), _) => (Self::Env, variable.clone()),
            (None, Some(entry)) => (Self::Keyring, entry.clone()),
            (None, None) => (Self::Env, String::new()),
        }
    }
}

/// The form of the import editor; empty text means "not set".
#[derive(Debug, Clone, PartialEq)]
pub struct ImportDraft {
    /// The import being edited, `None` for a new one.
    pub original: Option<String>,
    pub name: String,
    pub kind: SourceKind,
    /// File: path or glob. Databases: URL (SQLite: file path). HTTP: URL.
    pub location: String,
    pub file_format: Option<FileFormat>,
    pub delimiter: String,
    pub header: bool,
    pub encoding: TextEncoding,
    pub file_name_column: String,
    /// Where the database password is kept, and the variable's or entry's name.
    pub password_from: SecretFrom,
    pub password_name: String,
    /// Read a query instead of a table.
    pub use_query: bool,
    pub table: String,
    pub query: String,
    pub method: HttpMethod,
    pub records: String,
    /// Where the value sent as the `Authorization` header is kept, and the variable's or entry's name.
    pub token_from: SecretFrom,
    pub token_name: String,
    pub schedule_kind: ScheduleKind,
    pub every: String,
    pub cron: String,
    pub time_zone: String,
    pub mode: ModeKind,
    pub cursor: String,
    /// Key columns, comma separated.
    pub key: String,
    pub bad_rows: BadRowPolicy,
    pub attempts: u32,
    pub timeout: String,
    /// The import as it was before editing: settings the form does not show come from here.
    pub carried: Option<Box<ImportSpec>>,
    /// The form as it was opened, to tell whether Cancel would lose changes.
    pub opened_as: Option<Box<ImportDraft>>,
    pub confirming_cancel: bool,
    /// Why the last Save was refused.
    pub save_error: Option<String>,
}

impl ImportDraft {
    /// An empty form for a new import.
    pub fn new() -> Self {
        Self {
            original: None,
            name: String::new(),
            kind: SourceKind::File,
            location: String::new(),
            file_format: None,
            delimiter: String::new(),
            header: true,
            encoding: TextEncoding::Utf8,
            file_name_column: String::new(),
            password_from: SecretFrom::Env,
            password_name: String::new(),
            use_query: false,
            table: String::new(),
            query: String::new(),
            method: HttpMethod::Get,
            records: String::new(),
            token_from: SecretFrom::Env,
            token_name: String::new(),
            schedule_kind: ScheduleKind::Manual,
            every: "1h".into(),
            cron: "0 6 * * *".into(),
            time_zone: String::new(),
            mode: ModeKind::Replace,
            cursor: String::new(),
            key: String::new(),
            bad_rows: BadRowPolicy::Fail,
            attempts: crate::model::imports::DEFAULT_ATTEMPTS,
            timeout: "1h".into(),
            carried: None,
            opened_as: None,
            confirming_cancel: false,
            save_error: None,
        }
        .remember_opening()
    }

    /// A new file import of `path` (dropped on the window or chosen in the
    /// Open dialog), named after the file.
    pub fn for_file(path: &std::path::Path) -> Self {
        let mut draft = Self::new();
        draft.location = path.display().to_string();
        draft.name = table_name_of(path);
        draft.remember_opening()
    }

    /// The form of an existing import.
    pub fn from_spec(spec: &ImportSpec) -> Self {
        let mut draft = Self::new();
        draft.original = Some(spec.name.clone());
        draft.name.clone_from(&spec.name);
        draft.kind = SourceKind::of(&spec.source);
        match &spec.source {
            ImportSource::File(file) => {
                draft.location.clone_from(&file.path);
                draft.file_format = file.format;
                draft.delimiter = file.delimiter.map(|c| c.to_string()).unwrap_or_default();
                draft.header = file.header;
                draft.encoding = file.encoding;
                draft.file_name_column = file.file_name_column.clone().unwrap_or_default();
            }
            ImportSource::Sqlite(db) | ImportSource::Postgres(db) | ImportSource::Mysql(db) => {
                draft.location.clone_from(&db.url);
                (draft.password_from, draft.password_name) =
                    SecretFrom::of(db.password_env.as_ref(), db.password_keyring.as_ref());
                draft.use_query = db.query.is_some();
                draft.table = db.table.clone().unwrap_or_default();
                draft.query = db.query.clone().unwrap_or_default();
            }
            ImportSource::Http(http) => {
                draft.location.clone_from(&http.url);
                draft.method = http.method;
                draft.records.clone_from(&http.records);
                (draft.token_from, draft.token_name) =
                    SecretFrom::of(http.headers_env.get("Authorization"), http.headers_keyring.get("Authorization"));
            }
        }
        match &spec.schedule {
            None => draft.schedule_kind = ScheduleKind::Manual,
            Some(Schedule::Every(every)) => {
                draft.schedule_kind = ScheduleKind::Every;
                draft.every = every.to_string();
            }
            Some(Schedule::Cron { expression, time_zone }) => {
                draft.schedule_kind = ScheduleKind::Cron;
                draft.cron.clone_from(expression);
                draft.time_zone = if *time_zone == chrono_tz::UTC { String::new() } else { time_zone.name().into() };
            }
        }
        match &spec.mode {
            LoadMode::Replace => draft.mode = ModeKind::Replace,
            LoadMode::Append => draft.mode = ModeKind::Append,
            LoadMode::Incremental { cursor, key } => {
                draft.mode = ModeKind::Incremental;
                draft.cursor.clone_from(cursor);
                draft.key = key.join(", ");
            }
        }
        draft.bad_rows = spec.bad_rows;
        draft.attempts = spec.attempts;
        draft.timeout = spec.timeout.to_string();
        draft.carried = Some(Box::new(spec.clone()));
        draft.remember_opening()
    }

    fn remember_opening(mut self) -> Self {
        self.opened_as = None;
        self.opened_as = Some(Box::new(self.clone()));
        self
    }

    /// Whether the user changed anything since the editor opened.
    pub fn is_changed(&self) -> bool {
        let Some(initial) = &self.opened_as else { return false };
        let mut now = self.clone();
        now.opened_as = None;
        now.confirming_cancel = false;
        now.save_error.clone_from(&initial.save_error);
        **initial != now
    }

    /// The schedule the form describes, or why it is not one.
    pub fn schedule(&self) -> Result<Option<Schedule>, String> {
        let mut raw = toml::Table::new();
        match self.schedule_kind {
            ScheduleKind::Manual => return Ok(None),
            ScheduleKind::Every => {
                raw.insert("every".into(), toml::Value::String(self.every.trim().into()));
            }
            ScheduleKind::Cron => {
                raw.insert("cron".into(), toml::Value::String(self.cron.trim().into()));
                if !self.time_zone.trim().is_empty() {
                    raw.insert("time_zone".into(), toml::Value::String(self.time_zone.trim().into()));
                }
            }
        }
        toml::Value::Table(raw).try_into::<Schedule>().map(Some).map_err(|err| err.message().trim().to_string())
    }

    /// "Runs by itself: every 15m" and the next three times, or why the schedule is wrong.
    pub fn schedule_in_words(&self, now: DateTime<Utc>) -> Result<(String, Vec<DateTime<Utc>>), String> {
        match self.schedule()? {
            None => Ok(("runs only when you press Run now (or after an import it follows)".into(), Vec::new())),
            Some(schedule) => Ok((format!("runs {}", schedule.describe()), schedule.upcoming(now, 3))),
        }
    }

    /// The import the form describes over what it carries, or the problems, worded for the form.
    pub fn to_spec(&self) -> Result<ImportSpec, Vec<String>> {
        let mut problems = Vec::new();
        let mut spec = self.carried.as_deref().cloned().unwrap_or_else(|| blank_spec(self.kind));
        spec.name = self.name.trim().to_string();
        spec.source = self.source(&mut problems);
        match self.schedule() {
            Ok(schedule) => spec.schedule = schedule,
            Err(why) => problems.push(format!("schedule: {why}")),
        }
        spec.mode = match self.mode {
            ModeKind::Replace => LoadMode::Replace,
            ModeKind::Append => LoadMode::Append,
            ModeKind::Incremental => {
                let key: Vec<String> =
                    self.key.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
                if self.cursor.trim().is_empty() || key.is_empty() {
                    problems.push(
                        "an incremental import needs its cursor column (e.g. updated_at) and key columns (e.g. id)"
                            .into(),
                    );
                }
                LoadMode::Incremental { cursor: self.cursor.trim().to_string(), key }
            }
        };
        spec.bad_rows = self.bad_rows;
        spec.attempts = self.attempts.max(1);
        match SpanDuration::from_str(self.timeout.trim()) {
            Ok(timeout) => spec.timeout = timeout,
            Err(why) => problems.push(format!("timeout: {why}")),
        }
        if problems.is_empty() {
            problems = import_problems(&spec);
        }
        if problems.is_empty() { Ok(spec) } else { Err(problems) }
    }

    fn source(&self, problems: &mut Vec<String>) -> ImportSource {
        let carried = self.carried.as_deref().map(|spec| &spec.source);
        let text = |value: &str| (!value.trim().is_empty()).then(|| value.trim().to_string());
        if self.location.trim().is_empty() {
            problems.push(match self.kind {
                SourceKind::File => "give the file's path (or a glob such as data/*.csv)".into(),
                SourceKind::Http => "give the API's URL".into(),
                SourceKind::Sqlite => "give the SQLite database's path".into(),
                SourceKind::Postgres | SourceKind::Mysql => "give the database URL".into(),
            });
        }
        match self.kind {
            SourceKind::File => {
                let mut file = match carried {
                    Some(ImportSource::File(file)) => file.clone(),
                    _ => blank_file(),
                };
                file.path = self.location.trim().to_string();
                file.format = self.file_format;
                file.delimiter = match self.delimiter.as_str() {
                    "" => None,
                    "\\t" | "tab" => Some('\t'),
                    one if one.chars().count() == 1 => one.chars().next(),
                    other => {
                        problems.push(format!("the delimiter is one character (or \\t), not `{other}`"));
                        None
                    }
                };
                file.header = self.header;
                file.encoding = self.encoding;
                file.file_name_column = text(&self.file_name_column);
                ImportSource::File(file)
            }
            SourceKind::Sqlite | SourceKind::Postgres | SourceKind::Mysql => {
                let password = if self.kind == SourceKind::Sqlite { None } else { text(&self.password_name) };
                let db = DatabaseSource {
                    url: self.location.trim().to_string(),
                    password_env: password.clone().filter(|_| self.password_from == SecretFrom::Env),
                    password_keyring: password.filter(|_| self.password_from == SecretFrom::Keyring),
                    table: if self.use_query { None } else { text(&self.table) },
                    query: if self.use_query { text(&self.query) } else { None },
                };
                match self.kind {
                    SourceKind::Sqlite => ImportSource::Sqlite(db),
                    SourceKind::Postgres => ImportSource::Postgres(db),
                    _ => ImportSource::Mysql(db),
                }
            }
            SourceKind::Http => {
                let mut http = match carried {
                    Some(ImportSource::Http(http)) => http.clone(),
                    _ => blank_http(),
                };
                http.url = self.location.trim().to_string();
                http.method = self.method;
                http.records = self.records.trim().to_string();
                http.headers_env.remove("Authorization");
                http.headers_keyring.remove("Authorization");
                if let Some(name) = text(&self.token_name) {
                    let place = match self.token_from {
                        SecretFrom::Env => &mut http.headers_env,
                        SecretFrom::Keyring => &mut http.headers_keyring,
                    };
                    place.insert("Authorization".into(), name);
                }
                ImportSource::Http(http)
            }
        }
    }
}

impl Default for ImportDraft {
    fn default() -> Self {
        Self::new()
    }
}

/// A table name from a file name: `Q3 Orders (final).csv` → `q3_orders_final`.
pub fn table_name_of(path: &std::path::Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("table");
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_alphanumeric() {
            name.extend(c.to_lowercase());
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_').to_string();
    if name.is_empty() { "table".into() } else { name }
}

/// Whether a dropped file is one a file import reads.
pub fn is_importable_file(path: &std::path::Path) -> bool {
    path.to_str().and_then(FileFormat::from_path).is_some()
}

fn blank_spec(kind: SourceKind) -> ImportSpec {
    let source = match kind {
        SourceKind::File => ImportSource::File(blank_file()),
        SourceKind::Http => ImportSource::Http(blank_http()),
        _ => ImportSource::Sqlite(DatabaseSource {
            url: String::new(),
            password_env: None,
            password_keyring: None,
            table: None,
            query: None,
        }),
    };
    ImportSpec {
        name: String::new(),
        source,
        schedule: None,
        mode: LoadMode::Replace,
        attempts: crate::model::imports::DEFAULT_ATTEMPTS,
        retry_delay: crate::model::imports::default_retry_delay(),
        max_retry_delay: crate::model::imports::default_max_retry_delay(),
        timeout: crate::model::imports::default_timeout(),
        bad_rows: BadRowPolicy::Fail,
        after: Vec::new(),
    }
}

fn blank_file() -> FileSource {
    FileSource {
        path: String::new(),
        format: None,
        delimiter: None,
        header: true,
        quote: None,
        null_values: Vec::new(),
        encoding: TextEncoding::Utf8,
        columns: BTreeMap::new(),
        date_formats: BTreeMap::new(),
        file_name_column: None,
        watch: false,
    }
}

fn blank_http() -> HttpSource {
    HttpSource {
        url: String::new(),
        method: HttpMethod::Get,
        headers: BTreeMap::new(),
        headers_env: BTreeMap::new(),
        headers_keyring: BTreeMap::new(),
        query: BTreeMap::new(),
        body: None,
        records: String::new(),
        pagination: Pagination::None,
        max_pages: 1_000,
        request_timeout: SpanDuration::from_seconds(30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(toml_text: &str) -> ImportSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn an_edit_keeps_every_setting_the_form_does_not_show() {
        let spec = parsed(
            r#"name = "orders"
attempts = 5
retry_delay = "10s"
after = ["customers"]
[source]
kind = "file"
path = "orders.csv"
null_values = ["NA"]
columns = { zip = "text" }
date_formats = { day = "%d.%m.%Y" }
"#,
        );
        let mut draft = ImportDraft::from_spec(&spec);
        assert!(!draft.is_changed());
        draft.delimiter = ";".into();
        assert!(draft.is_changed());
        let edited = draft.to_spec().unwrap();
        let mut expected = spec.clone();
        if let ImportSource::File(file) = &mut expected.source {
            file.delimiter = Some(';');
        }
        assert_eq!(edited, expected);
    }

    #[test]
    fn an_unchanged_api_import_round_trips() {
        let spec = parsed(
            r#"name = "rates"
schedule = { cron = "0 6 * * 1-5", time_zone = "Europe/Berlin" }
mode = { incremental = { cursor = "updated_at", key = ["currency", "day"] } }
[source]
kind = "http"
url = "https://api.example/v1/rates"
records = "data.rates"
headers_env = { Authorization = "RATES_TOKEN", "X-Team" = "TEAM_ID" }
pagination = { by = "cursor", field = "next", param = "after" }
"#,
        );
        assert_eq!(ImportDraft::from_spec(&spec).to_spec().unwrap(), spec);
    }

    #[test]
    fn a_secret_kept_in_the_keyring_stays_there_and_can_move_to_a_variable() {
        let spec = parsed(
            r#"name = "shop"
[source]
kind = "postgres"
url = "postgresql://analyst@db/shop"
password_keyring = "shop-db"
table = "orders"
"#,
        );
        let mut draft = ImportDraft::from_spec(&spec);
        assert_eq!((draft.password_from, draft.password_name.as_str()), (SecretFrom::Keyring, "shop-db"));
        assert_eq!(draft.to_spec().unwrap(), spec, "unchanged, it round-trips");
        draft.password_from = SecretFrom::Env;
        draft.password_name = "SHOP_DB_PASSWORD".into();
        let ImportSource::Postgres(db) = draft.to_spec().unwrap().source else { panic!("a PostgreSQL import") };
        assert_eq!((db.password_env.as_deref(), db.password_keyring), (Some("SHOP_DB_PASSWORD"), None));

        let api = parsed(
            "name = \"rates\"\n[source]\nkind = \"http\"\nurl = \"https://api.example/v1\"\n\
             headers_keyring = { Authorization = \"rates-token\" }\n",
        );
        let draft = ImportDraft::from_spec(&api);
        assert_eq!((draft.token_from, draft.token_name.as_str()), (SecretFrom::Keyring, "rates-token"));
        assert_eq!(draft.to_spec().unwrap(), api);
    }

    #[test]
    fn problems_are_worded_for_the_form() {
        let mut draft = ImportDraft::new();
        draft.name = "x".into();
        draft.schedule_kind = ScheduleKind::Cron;
        draft.cron = "every morning".into();
        let problems = draft.to_spec().unwrap_err();
        assert!(problems.iter().any(|p| p.contains("file's path")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("schedule:") && p.contains("five fields")), "{problems:?}");
    }

    #[test]
    fn a_schedule_is_told_with_its_next_three_times() {
        let mut draft = ImportDraft::new();
        draft.schedule_kind = ScheduleKind::Cron;
        draft.cron = "30 6 * * *".into();
        draft.time_zone = "Europe/Berlin".into();
        let now = DateTime::parse_from_rfc3339("2026-03-28T12:00:00Z").unwrap().with_timezone(&Utc);
        let (words, times) = draft.schedule_in_words(now).unwrap();
        assert_eq!(words, "runs cron 30 6 * * * (Europe/Berlin)");
        let shown: Vec<String> = times.iter().map(DateTime::to_rfc3339).collect();
        // 06:30 in Berlin is 05:30 UTC in winter and 04:30 UTC once summer time starts (29 March).
        assert_eq!(shown, ["2026-03-29T04:30:00+00:00", "2026-03-30T04:30:00+00:00", "2026-03-31T04:30:00+00:00"]);
        draft.time_zone = "Mars/Olympus".into();
        assert!(draft.schedule_in_words(now).unwrap_err().contains("IANA"));
    }

    #[test]
    fn a_dropped_file_suggests_a_table_name() {
        assert_eq!(table_name_of(std::path::Path::new("/tmp/Q3 Orders (final).csv")), "q3_orders_final");
        assert!(is_importable_file(std::path::Path::new("a/b.parquet")));
        assert!(!is_importable_file(std::path::Path::new("notes.docx")));
    }
}
