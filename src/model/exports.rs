//! The `[[exports]]` of a workbook: a stream's rollup or an imported table
//! written, on a schedule or when asked, to a CSV or Parquet file or to a
//! table of SQLite, PostgreSQL or MariaDB/MySQL.
//!
//! Plain values and their validation only; the scheduler and the export
//! runner in the engine do the work. No secrets: passwords are named by
//! their environment variable.

use serde::{Deserialize, Serialize};

use super::duration::SpanDuration;
use super::imports::{
    Schedule, backoff, default_attempts, default_max_retry_delay, default_retry_delay, default_timeout,
    url_has_password,
};

/// One scheduled export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    pub name: String,
    /// The stream or import whose data is written.
    pub from: String,
    pub to: ExportTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_retry_delay")]
    pub retry_delay: SpanDuration,
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay: SpanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: SpanDuration,
    /// Imports or exports that must succeed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// Where an export writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportTarget {
    /// A `.csv` or `.parquet` file (relative to the workbook's folder), replaced atomically.
    File {
        path: String,
    },
    Sqlite(TableTarget),
    Postgres(TableTarget),
    Mysql(TableTarget),
}

/// A database table an export writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableTarget {
    /// As for imports: a file path for SQLite, a URL without a password otherwise.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Or the OS keyring's entry holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_keyring: Option<String>,
    pub table: String,
    #[serde(default)]
    pub mode: TableWriteMode,
}

/// What an export does with the rows already in its table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableWriteMode {
    /// The table holds exactly the export's rows afterwards.
    #[default]
    Replace,
    /// The rows are added to the table.
    Append,
}

impl ExportSpec {
    /// How long to wait before retrying after failed attempt number `attempt` (as for imports).
    pub fn retry_wait(&self, attempt: u32, jitter_unit: f64) -> std::time::Duration {
        backoff(self.retry_delay, self.max_retry_delay, attempt, jitter_unit)
    }
}

/// Problems of one export, given the names of the workbook's streams and imports.
pub fn export_problems(export: &ExportSpec, datasets: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if export.name.trim().is_empty() {
        problems.push("an export needs a non-empty `name`".into());
    }
    if !datasets.contains(&export.from.as_str()) {
        problems.push(format!(
            "export `{}` writes `{}`, which is no stream, import or report of this workbook",
            export.name, export.from
        ));
    }
    if export.attempts == 0 {
        problems.push("`attempts` counts the first try too: it must be at least 1".into());
    }
    match &export.to {
        ExportTarget::File { path } => {
            let extension = std::path::Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or_default();
            if !["csv", "parquet", "pq"].iter().any(|known| extension.eq_ignore_ascii_case(known)) {
                problems.push(format!("export file `{path}` must end in .csv or .parquet"));
            }
        }
        ExportTarget::Sqlite(target) | ExportTarget::Postgres(target) | ExportTarget::Mysql(target) => {
            if target.table.trim().is_empty() {
                problems.push("an export to a database needs a `table`".into());
            }
            if url_has_password(&target.url) {
                problems.push(format!(
                    "the url of export `{}` holds a password; remove it and name the environment variable that \
                     holds it with password_env (or a keyring entry with password_keyring)",
                    export.name
                ));
            }
            problems.extend(crate::model::imports::secret_field_problems(
                target.password_env.as_ref(),
                target.password_keyring.as_ref(),
                "password",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_to_postgres_parses_and_is_checked() {
        let spec: ExportSpec = toml::from_str(
            "name = \"nightly\"\nfrom = \"clicks\"\nschedule = { cron = \"0 7 * * *\" }\n\
             to = { kind = \"postgres\", url = \"postgresql://me:pw@db/shop\", table = \"clicks_daily\", mode = \"append\" }",
        )
        .unwrap();
        let ExportTarget::Postgres(target) = &spec.to else { panic!("postgres") };
        assert_eq!(target.mode, TableWriteMode::Append);
        let problems = export_problems(&spec, &["orders"]).join("\n");
        assert!(problems.contains("`clicks`, which is no stream, import or report"), "{problems}");
        assert!(problems.contains("holds a password") && !problems.contains("pw@"), "{problems}");
        assert!(export_problems(&ExportSpec { from: "orders".into(), ..spec.clone() }, &["orders"]).len() == 1);
    }
}
