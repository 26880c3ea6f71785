//! Imported tables and their runs: which Parquet file is each version of a
//! table, with its schema, rows, bytes, source and the incremental cursor it
//! reached; and every run of every import (when, how long, outcome, error,
//! a log excerpt).
//!
//! A version is visible only once its file is complete and durable: the file
//! is written under a temporary name, synced, renamed, its directory synced,
//! and only then is its catalogue row committed. A run that fails, is
//! cancelled or killed before that commit leaves the previous version as the
//! current one. Owns these SQL statements and the table files' layout; must
//! not fetch anything (the import runner does).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, open_state_database};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS table_versions (
    workbook_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    file         TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    schema       TEXT NOT NULL,
    source       TEXT NOT NULL,
    run_id       INTEGER NOT NULL,
    cursor       TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workbook_id, name, version)
);
CREATE TABLE IF NOT EXISTS import_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workbook_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT NOT NULL,
    rows         INTEGER,
    bytes        INTEGER,
    bad_rows     INTEGER,
    version      INTEGER,
    error        TEXT,
    log          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS import_runs_by_name ON import_runs (workbook_id, name, id);
";

/// How many versions of a table are kept (the current one and the ones before it).
pub const KEPT_VERSIONS: i64 = 5;

/// A committed version of an imported table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVersion {
    pub name: String,
    pub version: i64,
    pub file: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// Column names and types, as `name: type` lines.
    pub schema: String,
    pub source: String,
    pub run_id: i64,
    /// The incremental cursor this version reached, as text.
    pub cursor: Option<String>,
    pub created_at: String,
}

/// How a run ended (or that it is still running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// The process ended while the run was under way (a crash or a kill).
    Interrupted,
}

impl RunOutcome {
    pub fn code(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed out",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    fn from_code(code: &str) -> Self {
        [Self::Running, Self::Succeeded, Self::TimedOut, Self::Cancelled, Self::Interrupted]
            .into_iter()
            .find(|outcome| outcome.code() == code)
            .unwrap_or(Self::Failed)
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    /// `tidepool import`, or Run now in the window.
    Manual,
    Schedule,
    /// A schedule missed while the laptop slept or the app was closed, run once on wake or start.
    CatchUp,
    /// An import this one runs `after` succeeded.
    Dependency,
    /// The file changed.
    FileChanged,
}

impl RunTrigger {
    pub fn code(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
            Self::CatchUp => "catch-up",
            Self::Dependency => "after",
            Self::FileChanged => "file changed",
        }
    }
}

/// One run of an import, as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub name: String,
    pub trigger: String,
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: RunOutcome,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub bad_rows: Option<u64>,
    pub version: Option<i64>,
    pub error: Option<String>,
    pub log: String,
}

/// What a finished run produced.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub bad_rows: Option<u64>,
    pub version: Option<i64>,
    pub error: Option<String>,
    pub log: String,
}

/// A new version's file and what describes it, ready to commit.
#[derive(Debug)]
pub struct NewVersion<'a> {
    pub name: &'a str,
    /// The complete, synced file, still under its temporary name.
    pub written: tempfile::TempPath,
    pub rows: u64,
    pub schema: String,
    pub source: String,
    pub run_id: i64,
    pub cursor: Option<String>,
}

/// The catalogue of one workbook's imported tables, in the state database.
#[derive(Debug)]
pub struct TableCatalog {
    connection: Connection,
    path: PathBuf,
    tables_dir: PathBuf,
    workbook_id: String,
}

const UTC_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

impl TableCatalog {
    pub fn open(data_dir: &Path, workbook_id: &str) -> Result<Self, StoreError> {
        let (connection, path) = open_state_database(data_dir)?;
        let tables_dir = data_dir.join("tables").join(directory_name(workbook_id));
        std::fs::create_dir_all(&tables_dir)
            .map_err(|source| StoreError::Directory { path: tables_dir.clone(), source })?;
        Ok(Self { connection, path, tables_dir, workbook_id: workbook_id.to_string() })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Where a table's files live; new versions are written here first, under temporary names.
    pub fn table_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        let dir = self.tables_dir.join(directory_name(name));
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Directory { path: dir.clone(), source })?;
        Ok(dir)
    }

    /// The current (newest committed) version of a table.
    pub fn current(&self, name: &str) -> Result<Option<TableVersion>, StoreError> {
        self.connection
            .query_row(
                "SELECT name, version, file, rows, bytes, schema, source, run_id, cursor, created_at
                 FROM table_versions WHERE workbook_id = ?1 AND name = ?2 ORDER BY version DESC LIMIT 1",
                params![self.workbook_id, name],
                version_of_row,
            )
            .optional()
            .map_err(self.sqlite())
    }

    /// Every kept version of a table, newest first.
    pub fn versions(&self, name: &str) -> Result<Vec<TableVersion>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT name, version, file, rows, bytes, schema, source, run_id, cursor, created_at
                 FROM table_versions WHERE workbook_id = ?1 AND name = ?2 ORDER BY version DESC",
            )
            .map_err(self.sqlite())?;
        let rows = statement.query_map(params![self.workbook_id, name], version_of_row).map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }

    /// Makes a written file the table's next version: rename, sync the
    /// directory, then commit the catalogue row; older versions beyond
    /// [`KEPT_VERSIONS`] are forgotten and their files deleted afterwards.
    pub fn commit(&mut self, new: NewVersion<'_>) -> Result<TableVersion, StoreError> {
        let version = self.current(new.name)?.map_or(1, |current| current.version + 1);
        let dir = self.table_dir(new.name)?;
        let file = dir.join(format!("v{version:06}.parquet"));
        let io = |source| StoreError::TableFile { path: file.clone(), source };
        new.written.persist(&file).map_err(|err| io(err.error))?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
        let bytes = std::fs::metadata(&file).map_err(io)?.len();
        let file_text = file.to_string_lossy().into_owned();
        let transaction =
            self.connection.transaction().map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
        let sqlite = |source| StoreError::Sqlite { path: self.path.clone(), source };
        transaction
            .execute(
                &format!(
                    "INSERT INTO table_versions (workbook_id, name, version, file, rows, bytes, schema, source,
                       run_id, cursor, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, {UTC_NOW})"
                ),
                params![
                    self.workbook_id,
                    new.name,
                    version,
                    file_text,
                    new.rows as i64,
                    bytes as i64,
                    new.schema,
                    new.source,
                    new.run_id,
                    new.cursor
                ],
            )
            .map_err(sqlite)?;
        let mut dropped = Vec::new();
        {
            let mut old = transaction
                .prepare("SELECT file FROM table_versions WHERE workbook_id = ?1 AND name = ?2 AND version <= ?3")
                .map_err(sqlite)?;
            let files = old
                .query_map(params![self.workbook_id, new.name, version - KEPT_VERSIONS], |row| row.get::<_, String>(0))
                .map_err(sqlite)?;
            for file in files {
                dropped.push(file.map_err(sqlite)?);
            }
        }
        transaction
            .execute(
                "DELETE FROM table_versions WHERE workbook_id = ?1 AND name = ?2 AND version <= ?3",
                params![self.workbook_id, new.name, version - KEPT_VERSIONS],
            )
            .map_err(sqlite)?;
        transaction.commit().map_err(sqlite)?;
        for file in dropped {
            let _ = std::fs::remove_file(file);
        }
        self.current(new.name)?.ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            stream: new.name.to_string(),
            why: "the committed version is not in the catalogue".into(),
        })
    }

    /// Marks the unfinished runs of `name` as interrupted: the caller holds
    /// the job's lock, so no process is running them any more.
    pub fn mark_interrupted(&self, name: &str) -> Result<usize, StoreError> {
        self.connection
            .execute(
                &format!(
                    "UPDATE import_runs SET outcome = 'interrupted', finished_at = {UTC_NOW},
                       error = 'the process ended during the run (a crash or a kill); the previous version was kept'
                     WHERE workbook_id = ?1 AND name = ?2 AND outcome = 'running'"
                ),
                params![self.workbook_id, name],
            )
            .map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })
    }

    /// Records the start of a run (marking older unfinished runs of the same
    /// import as interrupted: the caller holds the import's lock).
    pub fn start_run(&mut self, name: &str, trigger: RunTrigger, attempt: u32) -> Result<i64, StoreError> {
        self.mark_interrupted(name)?;
        let sqlite = |source| StoreError::Sqlite { path: self.path.clone(), source };
        self.connection
            .execute(
                &format!(
                    "INSERT INTO import_runs (workbook_id, name, trigger, attempt, started_at, outcome)
                     VALUES (?1, ?2, ?3, ?4, {UTC_NOW}, 'running')"
                ),
                params![self.workbook_id, name, trigger.code(), attempt],
            )
            .map_err(sqlite)?;
        Ok(self.connection.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&mut self, run_id: i64, outcome: RunOutcome, result: &RunResult) -> Result<(), StoreError> {
        self.connection
            .execute(
                &format!(
                    "UPDATE import_runs SET finished_at = {UTC_NOW}, outcome = ?2, rows = ?3, bytes = ?4,
                       bad_rows = ?5, version = ?6, error = ?7, log = ?8 WHERE id = ?1"
                ),
                params![
                    run_id,
                    outcome.code(),
                    result.rows.map(|v| v as i64),
                    result.bytes.map(|v| v as i64),
                    result.bad_rows.map(|v| v as i64),
                    result.version,
                    result.error,
                    result.log
                ],
            )
            .map_err(self.sqlite())?;
        Ok(())
    }

    /// The runs of one import (or of all when `name` is `None`), newest first.
    pub fn runs(&self, name: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT id, name, trigger, attempt, started_at, finished_at, outcome, rows, bytes, bad_rows,
                   version, error, log
                 FROM import_runs WHERE workbook_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY id DESC LIMIT ?3",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map(params![self.workbook_id, name, limit as i64], |row| {
                Ok(RunRecord {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    trigger: row.get(2)?,
                    attempt: row.get(3)?,
                    started_at: row.get(4)?,
                    finished_at: row.get(5)?,
                    outcome: RunOutcome::from_code(&row.get::<_, String>(6)?),
                    rows: row.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                    bytes: row.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                    bad_rows: row.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                    version: row.get(10)?,
                    error: row.get(11)?,
                    log: row.get(12)?,
                })
            })
            .map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }
}

impl TableCatalog {
    /// Per import: when its last run started and its last successful run started.
    pub fn past_runs(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::engine::schedule::planner::PastRuns>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT name, max(started_at), max(CASE WHEN outcome = 'succeeded' THEN started_at END)
                 FROM import_runs WHERE workbook_id = ?1 GROUP BY name",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map(params![self.workbook_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, Option<String>>(2)?))
            })
            .map_err(self.sqlite())?;
        let mut past = std::collections::BTreeMap::new();
        for row in rows {
            let (name, started, succeeded) = row.map_err(self.sqlite())?;
            past.insert(name, (started, succeeded).into());
        }
        Ok(past)
    }
}

fn version_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TableVersion> {
    Ok(TableVersion {
        name: row.get(0)?,
        version: row.get(1)?,
        file: PathBuf::from(row.get::<_, String>(2)?),
        rows: row.get::<_, i64>(3)? as u64,
        bytes: row.get::<_, i64>(4)? as u64,
        schema: row.get(5)?,
        source: row.get(6)?,
        run_id: row.get(7)?,
        cursor: row.get(8)?,
        created_at: row.get(9)?,
    })
}

/// A file-system-safe, collision-free directory name for any text: the
/// readable characters, then a short hash of the whole.
fn directory_name(text: &str) -> String {
    let readable: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(40)
        .collect();
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    format!("{readable}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn written(dir: &Path, text: &str) -> tempfile::TempPath {
        let mut file = tempfile::NamedTempFile::new_in(dir).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.into_temp_path()
    }

    #[test]
    fn versions_are_committed_in_order_and_old_ones_pruned() {
        let data = tempfile::tempdir().unwrap();
        let mut catalog = TableCatalog::open(data.path(), "book").unwrap();
        assert_eq!(catalog.current("t").unwrap(), None);
        let dir = catalog.table_dir("t").unwrap();
        let mut files = Vec::new();
        for n in 1..=7 {
            let run_id = catalog.start_run("t", RunTrigger::Manual, 1).unwrap();
            let version = catalog
                .commit(NewVersion {
                    name: "t",
                    written: written(&dir, &format!("v{n}")),
                    rows: n,
                    schema: "a: i64".into(),
                    source: "file t.csv".into(),
                    run_id,
                    cursor: Some(n.to_string()),
                })
                .unwrap();
            assert_eq!(version.version, n as i64);
            assert_eq!(std::fs::read_to_string(&version.file).unwrap(), format!("v{n}"));
            files.push(version.file);
        }
        let kept = catalog.versions("t").unwrap();
        assert_eq!(kept.len(), KEPT_VERSIONS as usize);
        assert_eq!(kept[0].cursor.as_deref(), Some("7"));
        assert!(!files[0].exists() && !files[1].exists(), "pruned versions' files are deleted");
        assert!(files[2].exists());
    }

    #[test]
    fn an_unfinished_run_is_marked_interrupted_by_the_next() {
        let data = tempfile::tempdir().unwrap();
        let mut catalog = TableCatalog::open(data.path(), "book").unwrap();
        let killed = catalog.start_run("t", RunTrigger::Schedule, 1).unwrap();
        let next = catalog.start_run("t", RunTrigger::Manual, 1).unwrap();
        catalog
            .finish_run(next, RunOutcome::Failed, &RunResult { error: Some("boom".into()), ..RunResult::default() })
            .unwrap();
        let runs = catalog.runs(Some("t"), 10).unwrap();
        assert_eq!(runs[0].id, next);
        assert_eq!(runs[0].error.as_deref(), Some("boom"));
        assert_eq!(runs[1].id, killed);
        assert_eq!(runs[1].outcome, RunOutcome::Interrupted);
    }
}
