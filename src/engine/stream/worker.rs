//! The life of one stream: restore the checkpoint (or rebuild when the rollup
//! definition changed), connect, assign, consume, checkpoint periodically and
//! on stop, retry with backoff when the broker or topic fails.
//!
//! Runs on its own thread; blocking calls (librdkafka, `SQLite`) are fine here
//! and nowhere near the UI.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;

use super::checkpointer::{CheckpointWrite, Checkpointer, WriteOutcome};
use super::ingest::{Ingestor, StreamProgress};
use super::kafka::{self, ConnectError, StreamConsumer};
use super::poller::{Polled, Poller};
use super::quarantine::QuarantinedRecord;
use super::snapshot_pace::SnapshotPace;
use crate::engine::rollup::segments::{EncodedSegment, RollupChanges, UnsavedChanges};
use crate::engine::snapshots::{SnapshotMeta, Snapshots};
use crate::engine::store::{StateStore, StoreError, StreamKey, StreamLock};
use crate::engine::{EngineOptions, Event, EventSink, HistoryLoss, RunMode, StreamStats, StreamStatus};
use crate::model::StreamSpec;
use crate::model::fingerprint::RollupDefinition;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A checkpoint is also due once the rollup has grown by this many rows since
/// the last one: a checkpoint writes the rows that changed, so this bounds how
/// long it holds the stream while a backlog is read (live, the interval comes first).
const CHECKPOINT_AFTER_NEW_ROWS: usize = 50_000;

/// Consumes one stream on the calling thread until stopped (or caught up).
#[derive(Debug)]
pub struct StreamWorker {
    spec: StreamSpec,
    key: StreamKey,
    data_dir: PathBuf,
    checkpoint_every: Duration,
    mode: RunMode,
    sink: EventSink,
    stop: Arc<AtomicBool>,
    definition: RollupDefinition,
    history: HistoryLoss,
    /// Set while a changed definition is being rebuilt beside the old rollup.
    rebuild: Option<Rebuild>,
    /// Where the rollup's live snapshot is published.
    snapshots: Snapshots,
    /// Changes taken for snapshots since the last checkpoint, which writes them.
    unsaved: UnsavedChanges,
    /// The latest quarantined records as last published, and the count they were taken at.
    published_quarantine: (u64, Arc<[QuarantinedRecord]>),
    /// When this worker received its first and its latest messages.
    reading: Option<(Instant, Instant)>,
}

/// A rebuild under way: the old rollup stays readable under the stream's own
/// key until the new one has caught up, then the new one replaces it.
#[derive(Debug)]
struct Rebuild {
    /// What the old rollup had counted, to tell how much history a rebuild would lose.
    replaced: StreamProgress,
    /// Every partition reached its end: the next checkpoint promotes the rebuild.
    caught_up: bool,
    /// The rebuild holds less history than the old rollup and the user was asked.
    consent_asked: bool,
}

/// How a consuming session ended.
enum SessionEnd {
    Stopped,
    CaughtUp,
    Failed(ConnectError),
}

/// How a stream's thread is tied to the rest of the engine.
#[derive(Debug)]
pub struct WorkerLinks {
    /// Where its events go.
    pub sink: EventSink,
    /// Set to stop it.
    pub stop: Arc<AtomicBool>,
    /// Where it publishes its rollup's live snapshots.
    pub snapshots: Snapshots,
}

impl StreamWorker {
    pub fn new(
        spec: StreamSpec,
        options: &EngineOptions,
        mode: RunMode,
        history: HistoryLoss,
        links: WorkerLinks,
    ) -> Self {
        let WorkerLinks { sink, stop, snapshots } = links;
        let key = StreamKey { workbook_id: options.workbook_id.clone(), stream: spec.name.clone() };
        let definition = RollupDefinition::of(&spec);
        Self {
            spec,
            key,
            data_dir: options.data_dir.clone(),
            checkpoint_every: options.checkpoint_every,
            mode,
            sink,
            stop,
            definition,
            history,
            rebuild: None,
            snapshots,
            unsaved: UnsavedChanges::default(),
            published_quarantine: (0, Arc::from([])),
            reading: None,
        }
    }

    /// Where checkpoints go now: the stream's key, or its rebuild key while rebuilding.
    fn checkpoint_key(&self) -> StreamKey {
        if self.rebuild.is_some() { self.key.rebuild() } else { self.key.clone() }
    }

    fn name(&self) -> String {
        self.spec.name.clone()
    }

    pub fn run(mut self) {
        let _lock = match StreamLock::acquire(&self.data_dir, &self.key) {
            Ok(lock) => lock,
            Err(err) => {
                self.sink.send(Event::StreamFailed { stream: self.name(), message: err.to_string() });
                return;
            }
        };
        let (store, mut ingestor, stored_segments) = match self.restore() {
            Ok(restored) => restored,
            Err(err) => {
                self.sink.send(Event::StreamFailed { stream: self.name(), message: err.to_string() });
                return;
            }
        };
        self.publish_restored(&ingestor, stored_segments);
        let mut checkpointer = match Checkpointer::start(store, &self.spec.name) {
            Ok(checkpointer) => checkpointer,
            Err(err) => {
                let message = format!("cannot start the checkpoint writer of stream `{}`: {err}", self.spec.name);
                self.sink.send(Event::StreamFailed { stream: self.name(), message });
                return;
            }
        };
        let started = Instant::now();
        let mut retry_in = FIRST_RETRY;
        let mut caught_up = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.report(StreamStatus::Connecting, &ingestor, None);
            let end = match kafka::connect(&self.spec) {
                Ok((consumer, partitions)) => {
                    let consumer = Arc::new(consumer);
                    let end = self.consume(&consumer, &partitions, &mut ingestor, &mut checkpointer);
                    close_in_background(consumer, &self.spec.name);
                    end
                }
                Err(err) => SessionEnd::Failed(err),
            };
            match end {
                SessionEnd::Stopped => break,
                SessionEnd::CaughtUp => {
                    caught_up = true;
                    break;
                }
                SessionEnd::Failed(err) if err.recovery == kafka::Recovery::UserMustFix => {
                    self.checkpoint_now(&mut checkpointer, &mut ingestor);
                    self.sink.send(Event::StreamFailed { stream: self.name(), message: err.message });
                    return;
                }
                SessionEnd::Failed(err) => {
                    if let RunMode::UntilCaughtUp { give_up_after } = self.mode
                        && started.elapsed() + retry_in > give_up_after
                    {
                        self.checkpoint_now(&mut checkpointer, &mut ingestor);
                        self.sink.send(Event::StreamFailed {
                            stream: self.name(),
                            message: format!("{err}; gave up after {}s", started.elapsed().as_secs()),
                        });
                        return;
                    }
                    self.report(StreamStatus::Retrying { message: err.message.clone(), retry_in }, &ingestor, None);
                    self.sleep(retry_in);
                    retry_in = (retry_in * 2).min(LONGEST_RETRY);
                }
            }
        }
        let last_checkpoint = Instant::now();
        self.checkpoint_now(&mut checkpointer, &mut ingestor);
        tracing::info!(stream = %self.spec.name, "last checkpoint written in {} ms", last_checkpoint.elapsed().as_millis());
        if caught_up {
            self.sink.send(Event::StreamCaughtUp { stream: self.name(), stats: self.stats(&ingestor, Some(0)) });
        }
        self.sink.send(Event::StreamStopped { stream: self.name(), stats: self.stats(&ingestor, None) });
    }

    /// Opens the store and resumes from the checkpoint when it matches the
    /// definition; also answers the resumed rollup's segments as stored.
    fn restore(&mut self) -> Result<(StateStore, Ingestor, Option<Vec<EncodedSegment>>), StoreError> {
        let mut store = StateStore::open(&self.data_dir)?;
        let checkpoint = match store.load(&self.key) {
            Ok(checkpoint) => checkpoint,
            Err(err @ (StoreError::Corrupt { .. } | StoreError::OtherFormat { .. })) => {
                let why = err.to_string();
                store.set_aside(&self.key, &why)?;
                self.sink.send(Event::StreamCheckpointSetAside { stream: self.name(), why });
                None
            }
            Err(err) => return Err(err),
        };
        // The definition the checkpoint was built for (`None` when written by another version).
        let previous = checkpoint.as_ref().and_then(|c| serde_json::from_str::<RollupDefinition>(&c.definition).ok());
        let mut stored = None;
        let ingestor = match checkpoint {
            Some(checkpoint) if checkpoint.fingerprint == self.definition.fingerprint() => {
                self.sink.send(Event::StreamStarted { stream: self.name(), resumed: true });
                stored = checkpoint.segments;
                Ingestor::resume(&self.spec, checkpoint.rollup, checkpoint.progress)
            }
            Some(mut checkpoint)
                if previous.as_ref().is_some_and(|previous| previous.computes_the_same_as(&self.definition)) =>
            {
                // Only metric names changed: rename the columns in place, no rebuild.
                checkpoint.rollup.rename_metrics(self.spec.rollup.metrics.iter().map(|m| m.name.clone()).collect());
                let changes = previous.map(|previous| self.definition.changes_since(&previous)).unwrap_or_default();
                self.sink.send(Event::StreamDefinitionRenamed { stream: self.name(), changes });
                self.sink.send(Event::StreamStarted { stream: self.name(), resumed: true });
                stored = checkpoint.segments;
                Ingestor::resume(&self.spec, checkpoint.rollup, checkpoint.progress)
            }
            Some(checkpoint) => {
                let changes = previous.map_or_else(
                    || vec!["the stored definition is from another version".into()],
                    |previous| self.definition.changes_since(&previous),
                );
                self.sink.send(Event::StreamDefinitionChanged { stream: self.name(), changes });
                // The old rollup stays under the stream's key, readable and exportable,
                // while the new one is built under the rebuild key.
                self.rebuild = Some(Rebuild { replaced: checkpoint.progress, caught_up: false, consent_asked: false });
                let rebuild_key = self.key.rebuild();
                match store.load(&rebuild_key) {
                    Ok(Some(partial)) if partial.fingerprint == self.definition.fingerprint() => {
                        self.sink.send(Event::StreamStarted { stream: self.name(), resumed: true });
                        stored = partial.segments;
                        Ingestor::resume(&self.spec, partial.rollup, partial.progress)
                    }
                    _ => {
                        store.reset(&rebuild_key)?;
                        self.sink.send(Event::StreamStarted { stream: self.name(), resumed: false });
                        Ingestor::new(&self.spec)
                    }
                }
            }
            None => {
                self.sink.send(Event::StreamStarted { stream: self.name(), resumed: false });
                Ingestor::new(&self.spec)
            }
        };
        Ok((store, ingestor, stored))
    }

    #[allow(clippy::too_many_lines)] // one poll loop: splitting it would scatter its state
    fn consume(
        &mut self,
        consumer: &Arc<StreamConsumer>,
        partitions: &[i32],
        ingestor: &mut Ingestor,
        checkpointer: &mut Checkpointer,
    ) -> SessionEnd {
        let session_started = Instant::now();
        let mut resume_checks: HashMap<i32, kafka::ResumeCheck> = HashMap::new();
        match kafka::assign(consumer, &self.spec, partitions, &ingestor.progress) {
            Ok(assignment) => {
                for (partition, offset) in assignment.resolved {
                    ingestor.progress.next_offsets.entry(partition).or_insert(offset);
                }
                resume_checks.extend(assignment.resumed.into_iter().map(|check| (check.partition, check)));
            }
            Err(err) => return SessionEnd::Failed(err),
        }
        let mut at_end: HashMap<i32, bool> = partitions.iter().map(|&p| (p, false)).collect();
        // Whether any partition is marked at its end (so a message needs to clear its mark).
        let mut any_at_end = false;
        let mut caught_up_reported = false;
        let mut last_checkpoint = Instant::now();
        let mut rows_at_checkpoint = ingestor.rollup.row_count();
        let mut last_status = Instant::now();
        let mut snapshot_pace = SnapshotPace::default();
        let mut events_at_last_status = ingestor.progress.counted();
        // When reading until caught up, a session that makes no progress for the
        // give-up time fails, whatever the reason (fetch errors, a silent broker).
        let mut last_progress = Instant::now();
        let mut last_read_error: Option<String> = None;
        // Per message the loop only ingests: the clocks, controls, status and checkpoints
        // are looked at after each batch the poller hands over, and whatever else it hands.
        let mut now_us = now_micros();
        let poller = match Poller::start(consumer.clone(), &self.spec.topic, &self.spec.name) {
            Ok(poller) => poller,
            Err(err) => {
                return SessionEnd::Failed(ConnectError::retry(format!(
                    "cannot start the thread that reads topic `{}`: {err}",
                    self.spec.topic
                )));
            }
        };
        // Partitions asked to move their read position: what the poller hands
        // over of them until it marks the move was read before it, and is dropped.
        let mut moving: HashSet<i32> = HashSet::new();
        loop {
            let asked = Instant::now();
            let handed = poller.next(POLL_TIMEOUT);
            snapshot_pace.waited(asked.elapsed());
            match handed {
                Some(Polled::Messages(batch)) => {
                    // Messages flowed: that is progress.
                    last_progress = Instant::now();
                    if self.reading.is_none() {
                        tracing::info!(
                            stream = %self.spec.name,
                            "first messages {} ms after connecting",
                            session_started.elapsed().as_millis()
                        );
                    }
                    self.reading = Some((self.reading.map_or(last_progress, |(first, _)| first), last_progress));
                    for message in batch.iter() {
                        if !moving.is_empty() && moving.contains(&message.partition) {
                            continue;
                        }
                        if !resume_checks.is_empty()
                            && let Some(check) = resume_checks.remove(&message.partition)
                            && message.offset > check.checkpointed
                            && let Some(deeper) = check.deeper()
                        {
                            // The broker skipped past the checkpoint: read again from further back.
                            tracing::warn!(
                                stream = %self.spec.name,
                                "partition {} resumed at {} but the broker served offset {} first; re-reading from {deeper}",
                                check.partition, check.assigned, message.offset
                            );
                            poller.move_to(check.partition, deeper);
                            moving.insert(check.partition);
                            resume_checks.insert(check.partition, kafka::ResumeCheck { assigned: deeper, ..check });
                            at_end.insert(check.partition, false);
                            continue;
                        }
                        ingestor.ingest(message, now_us);
                        if any_at_end {
                            at_end.insert(message.partition, false);
                            any_at_end = at_end.values().any(|&done| done);
                        }
                    }
                }
                None => {}
                Some(Polled::Moved { partition, result }) => {
                    moving.remove(&partition);
                    if let Err(err) = result {
                        return SessionEnd::Failed(kafka::move_failed(&self.spec, partition, &err));
                    }
                }
                Some(Polled::End(partition)) if moving.contains(&partition) => {}
                Some(Polled::End(partition)) => {
                    last_progress = Instant::now();
                    if let Some(check) = resume_checks.remove(&partition)
                        && let Some(deeper) = check.deeper()
                        && ingestor.next_offset(partition).is_some_and(|next| next > deeper)
                    {
                        // The end came before any message at or below the checkpoint: the
                        // broker may have skipped the batch holding it; read again from further back.
                        poller.move_to(partition, deeper);
                        moving.insert(partition);
                        resume_checks.insert(partition, kafka::ResumeCheck { assigned: deeper, ..check });
                        continue;
                    }
                    at_end.insert(partition, true);
                    any_at_end = true;
                    if at_end.values().all(|&done| done)
                        && self.rebuild.as_ref().is_some_and(|rebuild| !rebuild.caught_up && !rebuild.consent_asked)
                    {
                        // The rebuild has caught up: it replaces the old rollup, unless it
                        // holds less history than the old one did and the user has not agreed.
                        match self.history_lost(consumer, partitions, ingestor) {
                            Ok(lost) if lost == 0 || self.history == HistoryLoss::Accept => {
                                if let Some(rebuild) = &mut self.rebuild {
                                    rebuild.caught_up = true;
                                }
                            }
                            Ok(lost) => {
                                let message = self.ask_consent(lost);
                                if matches!(self.mode, RunMode::UntilCaughtUp { .. }) {
                                    // `run` checkpoints the rebuild before it reports the failure.
                                    return SessionEnd::Failed(ConnectError::user_must_fix(message));
                                }
                            }
                            Err(err) => return SessionEnd::Failed(err),
                        }
                        self.checkpoint_now(checkpointer, ingestor);
                        last_checkpoint = Instant::now();
                    }
                    if at_end.values().all(|&done| done) {
                        if matches!(self.mode, RunMode::UntilCaughtUp { .. }) {
                            tracing::info!(
                                stream = %self.spec.name,
                                "every partition read to its end {} ms after connecting",
                                session_started.elapsed().as_millis()
                            );
                            return SessionEnd::CaughtUp;
                        }
                        // Said once, when the backlog is first done; afterwards the
                        // once-a-second status tells "live" from a quiet end.
                        if !caught_up_reported {
                            caught_up_reported = true;
                            self.report(StreamStatus::CaughtUp, ingestor, Some(0));
                        }
                    }
                }
                Some(Polled::Error(err)) => {
                    let detail = consumer.context().take_last_error().map(|e| format!(" ({e})")).unwrap_or_default();
                    let message = format!(
                        "reading topic `{}` from broker {} failed: {err}{detail}",
                        self.spec.topic, self.spec.brokers
                    );
                    if kafka::needs_the_user(&err, &message) {
                        return SessionEnd::Failed(ConnectError::user_must_fix(message));
                    }
                    if is_fatal_for_session(&err) {
                        return SessionEnd::Failed(ConnectError::retry(message));
                    }
                    tracing::warn!(stream = %self.spec.name, "{message}");
                    last_read_error = Some(message);
                }
            }
            // Housekeeping: after each batch of messages, or whatever else came.
            now_us = now_micros();
            if self.stop.load(Ordering::Relaxed) {
                return SessionEnd::Stopped;
            }
            if let RunMode::UntilCaughtUp { give_up_after } = self.mode
                && last_progress.elapsed() > give_up_after
            {
                let why = last_read_error.take().unwrap_or_else(|| "the broker sent nothing".into());
                return SessionEnd::Failed(ConnectError::retry(format!(
                    "no progress reading topic `{}` from broker {} for {}s: {why}",
                    self.spec.topic,
                    self.spec.brokers,
                    give_up_after.as_secs()
                )));
            }
            if snapshot_pace.is_due() {
                let started = Instant::now();
                self.publish_snapshot(ingestor);
                snapshot_pace.published(started.elapsed());
            }
            if last_status.elapsed() >= STATUS_EVERY {
                let seen = ingestor.progress.counted();
                let rate = (seen - events_at_last_status) as f64 / last_status.elapsed().as_secs_f64();
                events_at_last_status = seen;
                last_status = Instant::now();
                let lag = lag_msgs(consumer, ingestor, &at_end);
                // Caught up and still receiving is "live"; "caught up" is for a quiet end.
                let status = if at_end.values().all(|&done| done) && rate < 1.0 {
                    StreamStatus::CaughtUp
                } else {
                    StreamStatus::Live { events_per_sec: rate, lag_msgs: lag }
                };
                self.report(status, ingestor, lag);
            }
            if let Some(outcome) = checkpointer.finished() {
                self.checkpoint_written(outcome, ingestor);
            }
            if (last_checkpoint.elapsed() >= self.checkpoint_every
                || ingestor.rollup.row_count() >= rows_at_checkpoint + CHECKPOINT_AFTER_NEW_ROWS)
                && self.begin_checkpoint(checkpointer, ingestor)
            {
                last_checkpoint = Instant::now();
                rows_at_checkpoint = ingestor.rollup.row_count();
            }
        }
    }

    /// Publishes a restored rollup as the stream's live snapshot: its segments
    /// as they were stored, without encoding any bucket again (the whole rollup
    /// is encoded only for a checkpoint of the older format, or none).
    fn publish_restored(&mut self, ingestor: &Ingestor, stored: Option<Vec<EncodedSegment>>) {
        let Some(segments) = stored else { return self.publish_whole(ingestor) };
        let changes = ingestor.rollup.encode_header().map(|header| RollupChanges {
            header,
            replace_all: true,
            dropped_before: None,
            segments,
        });
        self.publish_or_withdraw(changes, ingestor);
    }

    /// Publishes the whole rollup as the stream's live snapshot (after a restore
    /// of an older format); the log of changes is left for the next checkpoint.
    fn publish_whole(&mut self, ingestor: &Ingestor) {
        self.publish_or_withdraw(ingestor.rollup.encode_all(), ingestor);
    }

    /// Publishes the promoted rebuild as the rollup the stream serves. The live
    /// snapshot already holds every bucket of it (the rebuild published its
    /// changes as it went, marked as rebuilding), so only the buckets changed
    /// since the last snapshot are encoded, as for any snapshot: the next one
    /// is the same buckets with those applied, no longer marked.
    fn publish_promoted(&mut self, ingestor: &mut Ingestor) {
        if self.snapshots.latest(&self.spec.name).is_none() {
            return self.publish_whole(ingestor);
        }
        self.publish_snapshot(ingestor);
    }

    /// Publishes a whole rollup, or withdraws the snapshot when it could not be encoded.
    fn publish_or_withdraw(&mut self, whole: Result<RollupChanges, String>, ingestor: &Ingestor) {
        match whole {
            Ok(whole) => self.publish(&whole, ingestor),
            Err(why) => {
                tracing::warn!(stream = %self.spec.name, "cannot publish the rollup's snapshot: {why}");
                self.snapshots.withdraw(&self.spec.name);
            }
        }
    }

    /// Publishes the rollup's buckets changed since the last take as its live
    /// snapshot; the next checkpoint writes them.
    fn publish_snapshot(&mut self, ingestor: &mut Ingestor) {
        if let Err(why) = self.take_and_publish(ingestor) {
            // The log is kept (and marked to write everything): the next checkpoint says what failed.
            tracing::warn!(stream = %self.spec.name, "cannot publish the rollup's snapshot: {why}");
        }
    }

    /// Takes the rollup's changes, publishes them and keeps them for the next checkpoint.
    fn take_and_publish(&mut self, ingestor: &mut Ingestor) -> Result<(), String> {
        let changes = ingestor.rollup.take_changes()?;
        self.publish(&changes, ingestor);
        self.unsaved.absorb(changes);
        Ok(())
    }

    fn publish(&mut self, changes: &RollupChanges, ingestor: &Ingestor) {
        let quarantined = ingestor.progress.quarantined_total();
        if self.published_quarantine.0 != quarantined {
            self.published_quarantine = (quarantined, ingestor.recent_quarantine().into());
        }
        let meta = SnapshotMeta {
            counted: ingestor.progress.counted(),
            published_micros: now_micros(),
            rebuilding: self.rebuild.is_some(),
            recent_quarantine: self.published_quarantine.1.clone(),
        };
        self.snapshots.publish(&self.spec.name, changes, meta);
    }

    /// Writes a checkpoint and waits for it (and for the one in flight before it).
    fn checkpoint_now(&mut self, checkpointer: &mut Checkpointer, ingestor: &mut Ingestor) {
        if let Some(outcome) = checkpointer.wait() {
            self.checkpoint_written(outcome, ingestor);
        }
        if self.begin_checkpoint(checkpointer, ingestor)
            && let Some(outcome) = checkpointer.wait()
        {
            self.checkpoint_written(outcome, ingestor);
        }
    }

    /// Hands the rollup's changes, the progress and the newly quarantined records
    /// to the writer thread, unless it is still writing the previous checkpoint.
    /// Only encoding happens here. Answers whether a checkpoint was started.
    fn begin_checkpoint(&mut self, checkpointer: &mut Checkpointer, ingestor: &mut Ingestor) -> bool {
        if checkpointer.busy() {
            return false;
        }
        ingestor.apply_retention(now_micros());
        if let Err(why) = self.take_and_publish(ingestor) {
            let message = StoreError::Encode { stream: self.name(), why }.to_string();
            self.sink.send(Event::CheckpointFailed { stream: self.name(), message });
            return false;
        }
        let changes = self.unsaved.take();
        let write = CheckpointWrite {
            key: self.checkpoint_key(),
            fingerprint: self.definition.fingerprint(),
            definition: self.definition.canonical_json(),
            progress: ingestor.progress.clone(),
            changes,
            quarantine: ingestor.take_pending_quarantine(),
            quarantine_capacity: self.spec.quarantine_capacity,
            promote_to: self.rebuild.as_ref().is_some_and(|rebuild| rebuild.caught_up).then(|| self.key.clone()),
        };
        match checkpointer.submit(write) {
            Ok(()) => true,
            Err(write) => {
                let saved = Err(StoreError::WriterStopped { stream: self.name() });
                let refused = WriteOutcome {
                    saved,
                    promoted: None,
                    unsaved_quarantine: write.quarantine,
                    unsaved_changes: Some(write.changes),
                };
                self.checkpoint_written(refused, ingestor);
                false
            }
        }
    }

    /// Takes note of a written (or failed) checkpoint: a promoted rebuild is
    /// done; a failed write is retried whole with its quarantined records.
    fn checkpoint_written(&mut self, outcome: WriteOutcome, ingestor: &mut Ingestor) {
        match outcome.promoted {
            Some(Ok(())) => {
                self.rebuild = None;
                self.publish_promoted(ingestor);
                self.sink.send(Event::StreamRebuilt { stream: self.name(), stats: self.stats(ingestor, None) });
            }
            Some(Err(err)) => self.sink.send(Event::CheckpointFailed { stream: self.name(), message: err.to_string() }),
            None => {}
        }
        match outcome.saved {
            Ok(()) => {
                let stats = self.stats(ingestor, None);
                self.sink.offer(Event::CheckpointSaved { stream: self.name(), stats });
            }
            Err(err) => {
                // The failed write's changes go back under the ones taken since; when
                // they are gone (the writer died), the next checkpoint writes everything.
                match outcome.unsaved_changes {
                    Some(changes) => self.unsaved.restore_older(changes),
                    None => ingestor.rollup.save_failed(),
                }
                ingestor.restore_pending_quarantine(outcome.unsaved_quarantine);
                self.sink.send(Event::CheckpointFailed { stream: self.name(), message: err.to_string() });
            }
        }
    }

    /// How many of the messages the old rollup counted a caught-up rebuild could
    /// not read because the topic no longer holds them (retention deleted them,
    /// or the topic was made anew): per partition, the offsets below the old
    /// rollup's end that lie between the topic's start and the rebuild's own end.
    fn history_lost(
        &self,
        consumer: &StreamConsumer,
        partitions: &[i32],
        ingestor: &Ingestor,
    ) -> Result<u64, ConnectError> {
        let Some(rebuild) = &self.rebuild else { return Ok(0) };
        let replaced = &rebuild.replaced;
        let counted = replaced.counted();
        let mut still_held: u64 = 0;
        for &partition in partitions {
            let Some(&old_end) = replaced.next_offsets.get(&partition) else { continue };
            // The rebuild's end is the offset after the last message it read: the
            // true end, whatever a broker answers to a request for the latest offset.
            let Some(&new_end) = ingestor.progress.next_offsets.get(&partition) else { continue };
            let (low, _) =
                consumer.fetch_watermarks(&self.spec.topic, partition, kafka::REQUEST_TIMEOUT).map_err(|err| {
                    ConnectError::retry(format!("cannot read the offsets of `{}`: {err}", self.spec.topic))
                })?;
            tracing::debug!(stream = %self.spec.name, partition, low, old_end, new_end, "history check of a rebuild");
            still_held += (old_end.min(new_end) - low).max(0) as u64;
        }
        Ok(counted.saturating_sub(still_held))
    }

    /// Tells the user that the caught-up rebuild holds less history than the
    /// current rollup; the current one stays until they agree. Answers the words.
    fn ask_consent(&mut self, lost: u64) -> String {
        if let Some(rebuild) = &mut self.rebuild {
            rebuild.consent_asked = true;
        }
        let counted = self.rebuild.as_ref().map_or(0, |r| r.replaced.counted());
        self.sink.send(Event::StreamRebuildNeedsConsent { stream: self.name(), lost_messages: lost });
        format!(
            "the rebuild of stream `{}` for its changed definition would lose {lost} of the {counted} messages \
             the current rollup counted: topic `{}` no longer holds them. The current rollup stays as it is; \
             replace it anyway with `tidepool run --rebuild-losing-history` (or \"Rebuild anyway\" in the \
             window), or undo the change",
            self.spec.name, self.spec.topic
        )
    }

    fn report(&self, status: StreamStatus, ingestor: &Ingestor, lag: Option<i64>) {
        self.sink.offer(Event::StreamStatusChanged { stream: self.name(), status, stats: self.stats(ingestor, lag) });
    }

    /// Sleeps in short steps so a stop request is noticed quickly.
    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn is_fatal_for_session(err: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        err.rdkafka_error_code(),
        Some(
            Code::UnknownTopicOrPartition
                | Code::UnknownTopic
                | Code::TopicAuthorizationFailed
                | Code::SaslAuthenticationFailed
                | Code::Authentication
                | Code::AllBrokersDown
        )
    )
}

fn lag_msgs(consumer: &StreamConsumer, ingestor: &Ingestor, at_end: &HashMap<i32, bool>) -> Option<i64> {
    let marks = consumer.context().high_watermarks();
    let mut total = 0;
    for (partition, done) in at_end {
        if *done {
            continue;
        }
        let high = *marks.get(partition)?;
        let next = ingestor.progress.next_offsets.get(partition).copied().unwrap_or(0);
        total += (high - next).max(0);
    }
    Some(total)
}

impl StreamWorker {
    fn stats(&self, ingestor: &Ingestor, lag_msgs: Option<i64>) -> StreamStats {
        let counted = ingestor.progress.counted();
        StreamStats {
            counted_this_run: counted.saturating_sub(ingestor.counted_at_start),
            events: ingestor.progress.events,
            late: ingestor.progress.late,
            quarantined: ingestor.progress.quarantined_total(),
            lag_msgs,
            rows: ingestor.rollup.row_count(),
            skipped_offsets: ingestor.progress.skipped_offsets,
            filtered: ingestor.progress.filtered,
            reading: self.reading.map(|(first, latest)| latest - first),
        }
    }
}

/// Closes a session's consumer on a thread of its own: librdkafka takes about
/// 100 ms to close one, which the stream's last checkpoint (and so the end of
/// `run --until-caught-up`) need not wait for. Nothing is committed to the
/// broker (positions live in the checkpoint), so a close cut short loses nothing.
fn close_in_background(consumer: Arc<StreamConsumer>, stream: &str) {
    let closing = move || {
        let started = Instant::now();
        drop(consumer);
        tracing::debug!("a consumer closed in {} ms", started.elapsed().as_millis());
    };
    if let Err(err) = std::thread::Builder::new().name(format!("tidepool-close-{stream}")).spawn(closing) {
        // The closure (and the consumer) went with the failed spawn: it was closed here.
        tracing::debug!("closed a consumer on the stream's thread: {err}");
    }
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}
