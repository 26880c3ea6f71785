//! Writes a stream's checkpoints on a thread of its own, so that `SQLite`'s
//! commit and its fsync never hold the stream's consumer: the stream thread
//! takes the rollup's changes (work for the CPU only) and hands them over. At
//! most one write is in flight; a checkpoint that falls due while one is still
//! being written waits for its turn, and the changes keep gathering in the
//! rollup's log meanwhile.
//!
//! Owns the state store while the stream consumes. Must not decide when to
//! checkpoint nor what a failure means for the stream: the stream worker does.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use super::ingest::StreamProgress;
use super::quarantine::QuarantinedRecord;
use crate::engine::rollup::segments::RollupChanges;
use crate::engine::store::{StateStore, StoreError, StreamKey};

/// One checkpoint to write.
#[derive(Debug)]
pub struct CheckpointWrite {
    pub key: StreamKey,
    pub fingerprint: String,
    pub definition: String,
    pub progress: StreamProgress,
    pub changes: RollupChanges,
    pub quarantine: Vec<QuarantinedRecord>,
    pub quarantine_capacity: usize,
    /// Once saved, the checkpoint replaces the one under this key (a caught-up rebuild).
    pub promote_to: Option<StreamKey>,
}

/// What became of a [`CheckpointWrite`].
#[derive(Debug)]
pub struct WriteOutcome {
    pub saved: Result<(), StoreError>,
    /// Whether the promotion asked for was done (`None` when none was asked for or the save failed).
    pub promoted: Option<Result<(), StoreError>>,
    /// The quarantined records of a write that failed, to be written with the next one.
    pub unsaved_quarantine: Vec<QuarantinedRecord>,
    /// The rollup changes of a write that failed, to be written with the next one.
    pub unsaved_changes: Option<RollupChanges>,
}

/// The writer thread of one stream.
#[derive(Debug)]
pub struct Checkpointer {
    requests: Option<SyncSender<CheckpointWrite>>,
    outcomes: Receiver<WriteOutcome>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
    stream: String,
}

impl Checkpointer {
    /// Starts the writer thread of stream `stream` with the store it writes to.
    pub fn start(mut store: StateStore, stream: &str) -> std::io::Result<Self> {
        let (requests, incoming) = sync_channel::<CheckpointWrite>(1);
        let (reply, outcomes) = sync_channel(1);
        let thread = std::thread::Builder::new().name(format!("tidepool-checkpoint-{stream}")).spawn(move || {
            for write in incoming {
                let outcome = write_one(&mut store, write);
                if reply.send(outcome).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self {
            requests: Some(requests),
            outcomes,
            in_flight: false,
            thread: Some(thread),
            stream: stream.to_owned(),
        })
    }

    /// Whether a write is still in flight.
    pub fn busy(&self) -> bool {
        self.in_flight
    }

    /// Hands a checkpoint to the writer; call only when not [`Self::busy`].
    /// Answers the write back when the writer is gone.
    pub fn submit(&mut self, write: CheckpointWrite) -> Result<(), Box<CheckpointWrite>> {
        debug_assert!(!self.in_flight, "one checkpoint write at a time");
        let Some(requests) = &self.requests else { return Err(Box::new(write)) };
        requests.send(write).map_err(|failed| Box::new(failed.0))?;
        self.in_flight = true;
        Ok(())
    }

    /// The outcome of the write in flight, if it has finished; never waits.
    pub fn finished(&mut self) -> Option<WriteOutcome> {
        if !self.in_flight {
            return None;
        }
        match self.outcomes.try_recv() {
            Ok(outcome) => {
                self.in_flight = false;
                Some(outcome)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.in_flight = false;
                Some(writer_gone(&self.stream))
            }
        }
    }

    /// Waits for the write in flight, if any, and answers its outcome.
    pub fn wait(&mut self) -> Option<WriteOutcome> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        Some(self.outcomes.recv().unwrap_or_else(|_| writer_gone(&self.stream)))
    }
}

impl Drop for Checkpointer {
    /// Lets the write in flight finish, then ends the thread.
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_one(store: &mut StateStore, write: CheckpointWrite) -> WriteOutcome {
    let saved = store.save(
        &write.key,
        &write.fingerprint,
        &write.definition,
        &write.progress,
        &write.changes,
        &write.quarantine,
        write.quarantine_capacity,
    );
    let promoted = match (&saved, &write.promote_to) {
        (Ok(()), Some(to)) => Some(store.promote(&write.key, to)),
        _ => None,
    };
    let (unsaved_quarantine, unsaved_changes) =
        if saved.is_ok() { (Vec::new(), None) } else { (write.quarantine, Some(write.changes)) };
    WriteOutcome { saved, promoted, unsaved_quarantine, unsaved_changes }
}

/// The outcome of a write whose thread ended without answering (it panicked).
fn writer_gone(stream: &str) -> WriteOutcome {
    WriteOutcome {
        saved: Err(StoreError::WriterStopped { stream: stream.to_owned() }),
        promoted: None,
        unsaved_quarantine: Vec::new(),
        // The changes went down with the thread: the next checkpoint writes everything.
        unsaved_changes: None,
    }
}
