//! The app's own state in `SQLite` (WAL): one checkpoint row per (workbook,
//! stream) holding the offsets and counters, the definition the rollup was
//! built for and the rollup's header, plus one segment row per time bucket of
//! the rollup. A checkpoint writes only the segments that changed since the
//! previous one, with the checkpoint row and the records quarantined since, in
//! one transaction — so saving a large rollup costs what changed, not its size.
//!
//! Owns the schema and every SQL statement. Must not decide *when* to
//! checkpoint or what a stream does with a mismatch: the stream worker does.

mod lock;
pub mod tables;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

pub use lock::StreamLock;

use crate::engine::rollup::RollupState;
use crate::engine::rollup::segments::{EncodedSegment, RollupChanges};
use crate::engine::stream::ingest::StreamProgress;
use crate::engine::stream::quarantine::{QuarantineReason, QuarantinedRecord};

/// File name of the state database inside the data directory.
pub const STATE_FILE: &str = "state.sqlite";

/// The checkpoint encoding written today. 1: the hand-made `HyperLogLog`
/// (before `DataSketches`); 2: the whole rollup in one blob, distinct counts and
/// quantiles as `DataSketches` images; 3: as 2, cut into one segment per
/// bucket. Format 2 is read (and written as 3 at the next checkpoint); a
/// checkpoint of format 1 cannot be read into today's rollup.
pub const CHECKPOINT_FORMAT: i64 = 3;
/// The whole-rollup format that today's tidepool still reads.
const WHOLE_ROLLUP_FORMAT: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoints (
    workbook_id  TEXT NOT NULL,
    stream       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    definition   TEXT NOT NULL,
    progress     TEXT NOT NULL,
    rollup       BLOB NOT NULL,
    saved_at     TEXT NOT NULL,
    PRIMARY KEY (workbook_id, stream)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    workbook_id        TEXT NOT NULL,
    stream             TEXT NOT NULL,
    partition          INTEGER NOT NULL,
    kafka_offset       INTEGER NOT NULL,
    kafka_timestamp_ms INTEGER,
    reason             TEXT NOT NULL,
    detail             TEXT NOT NULL,
    payload_bytes      INTEGER NOT NULL,
    payload_excerpt    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_segments (
    workbook_id  TEXT NOT NULL,
    stream       TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    segment      BLOB NOT NULL,
    PRIMARY KEY (workbook_id, stream, bucket)
);
CREATE TABLE IF NOT EXISTS checkpoint_segments_set_aside (
    set_aside_id INTEGER NOT NULL,
    bucket       INTEGER NOT NULL,
    segment      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_by_stream ON quarantine (workbook_id, stream, id);
CREATE TABLE IF NOT EXISTS checkpoints_set_aside (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workbook_id  TEXT NOT NULL,
    stream       TEXT NOT NULL,
    format       INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    definition   TEXT NOT NULL,
    progress     TEXT NOT NULL,
    rollup       BLOB NOT NULL,
    saved_at     TEXT NOT NULL,
    set_aside_at TEXT NOT NULL,
    why          TEXT NOT NULL
);
";

/// Which stream of which workbook a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub workbook_id: String,
    pub stream: String,
}

/// Marks the key of a rollup being rebuilt beside the current one (a control
/// character, so no stream name can clash with it).
const REBUILD_SUFFIX: &str = "\u{1f}rebuild";

impl StreamKey {
    /// Where a changed definition's rollup is built until it replaces this one.
    #[must_use]
    pub fn rebuild(&self) -> Self {
        Self { workbook_id: self.workbook_id.clone(), stream: format!("{}{REBUILD_SUFFIX}", self.stream) }
    }
}

/// A saved rollup with the positions and counters that produced it.
#[derive(Debug)]
pub struct Checkpoint {
    pub fingerprint: String,
    /// The rollup definition as canonical JSON (see `model::fingerprint`).
    pub definition: String,
    pub progress: StreamProgress,
    pub rollup: RollupState,
    /// The rollup's segments as stored (`None` for a checkpoint of the older,
    /// whole-rollup format): what a restored stream publishes as its snapshot.
    pub segments: Option<Vec<EncodedSegment>>,
}

/// A failure of the state store, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create the data directory {path}: {source}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error("the checkpoint of stream `{stream}` in {path} is corrupt ({why})")]
    Corrupt { path: PathBuf, stream: String, why: String },
    #[error(
        "the checkpoint of stream `{stream}` in {path} was written in checkpoint format {found} by another \
         version of tidepool; this one reads format {CHECKPOINT_FORMAT}"
    )]
    OtherFormat { path: PathBuf, stream: String, found: i64 },
    #[error(
        "{what} is already being run by {holder} on the same data directory; stop that one first \
         (two processes would overwrite each other's state)"
    )]
    Busy { what: String, holder: String },
    #[error("cannot use the lock file {path} of a stream: {source}")]
    LockFile { path: PathBuf, source: std::io::Error },
    #[error("cannot store the table file {path}: {source}")]
    TableFile { path: PathBuf, source: std::io::Error },
    #[error("cannot encode the checkpoint of stream `{stream}`: {why}")]
    Encode { stream: String, why: String },
    #[error("the checkpoint writer of stream `{stream}` stopped unexpectedly")]
    WriterStopped { stream: String },
}

/// The open state database.
#[derive(Debug)]
pub struct StateStore {
    connection: Connection,
    path: PathBuf,
}

impl StateStore {
    /// Opens (creating if needed) `state.sqlite` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let (connection, path) = open_state_database(data_dir)?;
        Ok(Self { connection, path })
    }

    fn sqlite_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// The checkpoint of a stream, if one was saved.
    pub fn load(&self, key: &StreamKey) -> Result<Option<Checkpoint>, StoreError> {
        let row = self
            .connection
            .query_row(
                "SELECT fingerprint, definition, progress, rollup, format FROM checkpoints
                 WHERE workbook_id = ?1 AND stream = ?2",
                params![key.workbook_id, key.stream],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|err| self.sqlite_error(err))?;
        let Some((fingerprint, definition, progress, rollup, format)) = row else { return Ok(None) };
        let corrupt = |why: String| StoreError::Corrupt { path: self.path.clone(), stream: key.stream.clone(), why };
        let (rollup, segments) = match format {
            CHECKPOINT_FORMAT => {
                let (rollup, segments) =
                    RollupState::from_stored_segments(&rollup, self.segments(key)?).map_err(corrupt)?;
                (rollup, Some(segments))
            }
            WHOLE_ROLLUP_FORMAT => (postcard::from_bytes(&rollup).map_err(|err| corrupt(err.to_string()))?, None),
            found => {
                return Err(StoreError::OtherFormat { path: self.path.clone(), stream: key.stream.clone(), found });
            }
        };
        let progress = serde_json::from_str(&progress).map_err(|err| corrupt(err.to_string()))?;
        Ok(Some(Checkpoint { fingerprint, definition, progress, rollup, segments }))
    }

    /// The stored segments of a stream's rollup, oldest bucket first.
    fn segments(&self, key: &StreamKey) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT bucket, segment FROM checkpoint_segments WHERE workbook_id = ?1 AND stream = ?2 ORDER BY bucket",
            )
            .map_err(|err| self.sqlite_error(err))?;
        let rows = statement
            .query_map(params![key.workbook_id, key.stream], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|err| self.sqlite_error(err))?;
        rows.collect::<Result<_, _>>().map_err(|err| self.sqlite_error(err))
    }

    /// Saves a checkpoint — the rollup's changed segments (see
    /// [`RollupState::take_changes`]) — and the newly quarantined records in one
    /// transaction, keeping at most `quarantine_capacity` records for the stream.
    #[allow(clippy::too_many_arguments)] // each is one column of the same transaction
    pub fn save(
        &mut self,
        key: &StreamKey,
        fingerprint: &str,
        definition: &str,
        progress: &StreamProgress,
        rollup: &RollupChanges,
        new_quarantine: &[QuarantinedRecord],
        quarantine_capacity: usize,
    ) -> Result<(), StoreError> {
        let encode = |why: String| StoreError::Encode { stream: key.stream.clone(), why };
        let progress = serde_json::to_string(progress).map_err(|err| encode(err.to_string()))?;
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let transaction = self.connection.transaction().map_err(sqlite)?;
        transaction
            .execute(
                "INSERT INTO checkpoints (workbook_id, stream, fingerprint, definition, progress, rollup, saved_at, format)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?7)
                 ON CONFLICT (workbook_id, stream) DO UPDATE SET
                   fingerprint = excluded.fingerprint, definition = excluded.definition,
                   progress = excluded.progress, rollup = excluded.rollup, saved_at = excluded.saved_at,
                   format = excluded.format",
                params![key.workbook_id, key.stream, fingerprint, definition, progress, rollup.header, CHECKPOINT_FORMAT],
            )
            .map_err(sqlite)?;
        write_segments(&transaction, key, rollup).map_err(sqlite)?;
        if !new_quarantine.is_empty() {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO quarantine (workbook_id, stream, partition, kafka_offset, kafka_timestamp_ms,
                       reason, detail, payload_bytes, payload_excerpt)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(sqlite)?;
            for record in new_quarantine {
                insert
                    .execute(params![
                        key.workbook_id,
                        key.stream,
                        record.partition,
                        record.offset,
                        record.kafka_timestamp_ms,
                        record.reason.code(),
                        record.detail,
                        record.payload_bytes as i64,
                        record.payload_excerpt,
                    ])
                    .map_err(sqlite)?;
            }
            drop(insert);
            transaction
                .execute(
                    "DELETE FROM quarantine WHERE workbook_id = ?1 AND stream = ?2 AND id NOT IN (
                       SELECT id FROM quarantine WHERE workbook_id = ?1 AND stream = ?2 ORDER BY id DESC LIMIT ?3)",
                    params![key.workbook_id, key.stream, quarantine_capacity as i64],
                )
                .map_err(sqlite)?;
        }
        transaction.commit().map_err(sqlite)
    }

    /// Moves a checkpoint that cannot be used (corrupt, or of another format) out
    /// of the way into `checkpoints_set_aside`, untouched, with the reason; the
    /// stream then starts afresh. Answers whether there was one to move.
    pub fn set_aside(&mut self, key: &StreamKey, why: &str) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let transaction = self.connection.transaction().map_err(sqlite)?;
        let moved = transaction
            .execute(
                "INSERT INTO checkpoints_set_aside (workbook_id, stream, format, fingerprint, definition, progress,
                   rollup, saved_at, set_aside_at, why)
                 SELECT workbook_id, stream, format, fingerprint, definition, progress, rollup, saved_at,
                   strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?3
                 FROM checkpoints WHERE workbook_id = ?1 AND stream = ?2",
                params![key.workbook_id, key.stream, why],
            )
            .map_err(sqlite)?;
        if moved > 0 {
            transaction
                .execute(
                    "INSERT INTO checkpoint_segments_set_aside (set_aside_id, bucket, segment)
                     SELECT ?3, bucket, segment FROM checkpoint_segments WHERE workbook_id = ?1 AND stream = ?2",
                    params![key.workbook_id, key.stream, transaction.last_insert_rowid()],
                )
                .map_err(sqlite)?;
        }
        for table in ["checkpoints", "checkpoint_segments"] {
            delete_rows_of(&transaction, table, key).map_err(sqlite)?;
        }
        transaction.commit().map_err(sqlite)?;
        Ok(moved > 0)
    }

    /// Replaces the checkpoint and quarantine of `to` with those of `from` (a
    /// caught-up rebuild), in one transaction.
    pub fn promote(&mut self, from: &StreamKey, to: &StreamKey) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let transaction = self.connection.transaction().map_err(sqlite)?;
        for table in ["checkpoints", "checkpoint_segments", "quarantine"] {
            delete_rows_of(&transaction, table, to).map_err(sqlite)?;
            transaction
                .execute(
                    &format!("UPDATE {table} SET stream = ?3 WHERE workbook_id = ?1 AND stream = ?2"),
                    params![from.workbook_id, from.stream, to.stream],
                )
                .map_err(sqlite)?;
        }
        transaction.commit().map_err(sqlite)
    }

    /// Forgets a stream's checkpoint and quarantine (and any rebuild under way).
    /// Answers whether there was anything to forget.
    pub fn reset(&mut self, key: &StreamKey) -> Result<bool, StoreError> {
        let rebuilt = self.reset_one(&key.rebuild())?;
        Ok(self.reset_one(key)? || rebuilt)
    }

    fn reset_one(&mut self, key: &StreamKey) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let transaction = self.connection.transaction().map_err(sqlite)?;
        let checkpoints = delete_rows_of(&transaction, "checkpoints", key).map_err(sqlite)?;
        delete_rows_of(&transaction, "checkpoint_segments", key).map_err(sqlite)?;
        let records = delete_rows_of(&transaction, "quarantine", key).map_err(sqlite)?;
        transaction.commit().map_err(sqlite)?;
        Ok(checkpoints + records > 0)
    }

    /// The kept quarantined records of a stream, oldest first.
    pub fn quarantined(&self, key: &StreamKey) -> Result<Vec<QuarantinedRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT partition, kafka_offset, kafka_timestamp_ms, reason, detail, payload_bytes, payload_excerpt
                 FROM quarantine WHERE workbook_id = ?1 AND stream = ?2 ORDER BY id",
            )
            .map_err(|err| self.sqlite_error(err))?;
        let rows = statement
            .query_map(params![key.workbook_id, key.stream], |row| {
                let reason: String = row.get(3)?;
                Ok(QuarantinedRecord {
                    partition: row.get(0)?,
                    offset: row.get(1)?,
                    kafka_timestamp_ms: row.get(2)?,
                    reason: QuarantineReason::from_code(&reason).unwrap_or(QuarantineReason::NotJson),
                    detail: row.get(4)?,
                    payload_bytes: row.get::<_, i64>(5)? as usize,
                    payload_excerpt: row.get(6)?,
                })
            })
            .map_err(|err| self.sqlite_error(err))?;
        rows.collect::<Result<_, _>>().map_err(|err| self.sqlite_error(err))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Deletes a stream's rows of one of the tables keyed by (workbook, stream); answers how many.
fn delete_rows_of(transaction: &rusqlite::Transaction<'_>, table: &str, key: &StreamKey) -> rusqlite::Result<usize> {
    transaction.execute(
        &format!("DELETE FROM {table} WHERE workbook_id = ?1 AND stream = ?2"),
        params![key.workbook_id, key.stream],
    )
}

/// Writes a checkpoint's changed segments: all of them replace the stored ones,
/// or the changed ones replace theirs and retention drops the old ones.
fn write_segments(
    transaction: &rusqlite::Transaction<'_>,
    key: &StreamKey,
    rollup: &RollupChanges,
) -> rusqlite::Result<()> {
    if rollup.replace_all {
        delete_rows_of(transaction, "checkpoint_segments", key)?;
    } else if let Some(cutoff) = rollup.dropped_before {
        transaction.execute(
            "DELETE FROM checkpoint_segments WHERE workbook_id = ?1 AND stream = ?2 AND bucket < ?3",
            params![key.workbook_id, key.stream, cutoff],
        )?;
    }
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO checkpoint_segments (workbook_id, stream, bucket, segment) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workbook_id, stream, bucket) DO UPDATE SET segment = excluded.segment",
    )?;
    for segment in &rollup.segments {
        upsert.execute(params![key.workbook_id, key.stream, segment.bucket, &segment.bytes[..]])?;
    }
    Ok(())
}

/// Opens the state database with today's schema (streams' and tables' alike).
fn open_state_database(data_dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|source| StoreError::Directory { path: data_dir.to_path_buf(), source })?;
    let path = data_dir.join(STATE_FILE);
    let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
    let mut connection = Connection::open(&path).map_err(sqlite)?;
    connection.busy_timeout(Duration::from_secs(30)).map_err(sqlite)?;
    // Switching a new database to WAL answers "busy" at once (without the busy
    // handler) while another opener is doing the same: try again for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match prepare_schema(&mut connection) {
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => {
                result.map_err(sqlite)?;
                return Ok((connection, path));
            }
        }
    }
}

/// WAL, and today's schema: one opener at a time brings it up to date (two
/// connections that both saw a column missing would both add it, and the
/// second would fail).
fn prepare_schema(connection: &mut Connection) -> rusqlite::Result<()> {
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    transaction.execute_batch(SCHEMA)?;
    transaction.execute_batch(tables::SCHEMA)?;
    migrate(&transaction)?;
    transaction.commit()
}

/// Brings a database written by an older tidepool up to today's schema.
fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let has_format =
        connection.prepare("SELECT 1 FROM pragma_table_info('checkpoints') WHERE name = 'format'")?.exists([])?;
    if !has_format {
        // Checkpoints written before the column existed are format 1.
        connection.execute_batch("ALTER TABLE checkpoints ADD COLUMN format INTEGER NOT NULL DEFAULT 1;")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::RollupFrame;
    use crate::engine::stream::ingest::{IncomingMessage, Ingestor};

    #[test]
    fn many_openers_of_a_new_state_database_at_once_all_succeed() {
        // The window opens the stream store and the table catalogue on several
        // threads at once; the first launch creates the schema under them.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let openers: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            open_state_database(dir.path()).map(|_| ())
                        })
                    })
                    .collect();
                for opener in openers {
                    opener.join().unwrap().expect("every opener gets the database");
                }
            });
        }
    }

    fn key(stream: &str) -> StreamKey {
        StreamKey { workbook_id: "w".into(), stream: stream.into() }
    }

    /// A rollup per minute and country fed `events` events spread over `minutes` minutes.
    fn ingestor_with(events: i64, minutes: i64) -> Ingestor {
        let spec = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
metrics = [{ name = "events", kind = "count" }, { name = "users", kind = "approx_distinct", field = "user" }]"#,
        );
        let mut ingestor = Ingestor::new(&spec);
        for offset in 0..events {
            feed(&mut ingestor, offset, offset * minutes * 60_000 / events.max(1));
        }
        ingestor
    }

    fn feed(ingestor: &mut Ingestor, offset: i64, ms: i64) {
        let payload = format!(r#"{{"ts":{ms},"country":"c{}","user":"u{}"}}"#, offset % 5, offset % 17);
        let message = IncomingMessage { partition: 0, offset, timestamp_ms: None, payload: Some(payload.as_bytes()) };
        ingestor.ingest(message, 0);
    }

    fn save(store: &mut StateStore, key: &StreamKey, ingestor: &mut Ingestor) -> usize {
        let changes = ingestor.rollup.take_changes().expect("encoded");
        store.save(key, "f", "{}", &ingestor.progress, &changes, &[], 10).expect("saved");
        changes.segments.len()
    }

    fn count(store: &StateStore, sql: &str) -> i64 {
        store.connection.query_row(sql, [], |row| row.get(0)).expect("counted")
    }

    #[test]
    fn a_checkpoint_writes_only_the_buckets_that_changed_and_loads_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = StateStore::open(dir.path()).expect("store");
        let mut ingestor = ingestor_with(3_000, 30);
        assert_eq!(save(&mut store, &key("s"), &mut ingestor), 30, "the first checkpoint writes every bucket");
        // Two more events: one late into an old minute, one in a new minute.
        feed(&mut ingestor, 3_000, 5 * 60_000);
        feed(&mut ingestor, 3_001, 31 * 60_000);
        assert_eq!(save(&mut store, &key("s"), &mut ingestor), 2, "the next one writes the two it touched");
        let loaded = store.load(&key("s")).expect("loaded").expect("a checkpoint");
        assert_eq!(loaded.progress.events, 3_002);
        assert_eq!(loaded.rollup.to_frame().expect("frame"), ingestor.rollup.to_frame().expect("frame"));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM checkpoint_segments"), 31);
    }

    #[test]
    fn a_whole_rollup_checkpoint_of_format_2_is_read_and_written_again_as_segments() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = StateStore::open(dir.path()).expect("store");
        let ingestor = ingestor_with(500, 10);
        let blob = postcard::to_stdvec(&ingestor.rollup).expect("encoded");
        let progress = serde_json::to_string(&ingestor.progress).expect("encoded");
        store
            .connection
            .execute(
                "INSERT INTO checkpoints (workbook_id, stream, fingerprint, definition, progress, rollup, saved_at, format)
                 VALUES ('w', 's', 'f', '{}', ?1, ?2, 'then', 2)",
                params![progress, blob],
            )
            .expect("inserted");
        let mut loaded = store.load(&key("s")).expect("loaded").expect("a checkpoint");
        assert_eq!(loaded.rollup.to_frame().expect("frame"), ingestor.rollup.to_frame().expect("frame"));
        let changes = loaded.rollup.take_changes().expect("encoded");
        assert!(changes.replace_all && changes.segments.len() == 10, "the next checkpoint writes every bucket");
        store.save(&key("s"), "f", "{}", &loaded.progress, &changes, &[], 10).expect("saved");
        assert_eq!(count(&store, "SELECT format FROM checkpoints"), CHECKPOINT_FORMAT);
        let again = store.load(&key("s")).expect("loaded").expect("a checkpoint");
        assert_eq!(again.rollup.to_frame().expect("frame"), ingestor.rollup.to_frame().expect("frame"));
    }

    #[test]
    fn a_corrupt_segment_is_reported_and_set_aside_whole_and_an_old_format_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = StateStore::open(dir.path()).expect("store");
        let mut ingestor = ingestor_with(100, 4);
        save(&mut store, &key("s"), &mut ingestor);
        store
            .connection
            .execute("UPDATE checkpoint_segments SET segment = x'ff' WHERE bucket = 60000000", [])
            .expect("damaged");
        let err = store.load(&key("s")).expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("segment of bucket 60000000"), "{err}");
        assert!(store.set_aside(&key("s"), "corrupt").expect("set aside"));
        assert!(store.load(&key("s")).expect("loaded").is_none());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM checkpoint_segments"), 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM checkpoint_segments_set_aside"), 4, "kept, not overwritten");

        save(&mut store, &key("t"), &mut ingestor_with(10, 1));
        store.connection.execute("UPDATE checkpoints SET format = 1 WHERE stream = 't'", []).expect("aged");
        let err = store.load(&key("t")).expect_err("other format");
        assert!(err.to_string().contains("format 1"), "{err}");
    }

    #[test]
    fn promoting_a_rebuild_moves_its_segments_and_drops_the_old_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = StateStore::open(dir.path()).expect("store");
        save(&mut store, &key("s"), &mut ingestor_with(100, 8));
        let mut rebuilt = ingestor_with(50, 3);
        save(&mut store, &key("s").rebuild(), &mut rebuilt);
        store.promote(&key("s").rebuild(), &key("s")).expect("promoted");
        let loaded = store.load(&key("s")).expect("loaded").expect("a checkpoint");
        assert_eq!(loaded.rollup.to_frame().expect("frame"), rebuilt.rollup.to_frame().expect("frame"));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM checkpoint_segments"), 3);
        assert!(store.reset(&key("s")).expect("reset"));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM checkpoint_segments"), 0);
    }
}
