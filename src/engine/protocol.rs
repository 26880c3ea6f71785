//! The engine's vocabulary: commands in, events out. One variant per action or
//! lifecycle step; new features (imports, schedules, reports) add variants.

use std::time::Duration;

use crate::model::StreamSpec;

/// How long a stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Until stopped; connection failures are retried forever with backoff.
    Continuous,
    /// Until every partition has reached its end (partition EOF), then stop;
    /// give up when the broker cannot be read for `give_up_after`.
    UntilCaughtUp { give_up_after: Duration },
}

/// What the UI or CLI asks the engine to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start consuming a stream (resuming from its checkpoint).
    StartStream { spec: Box<StreamSpec>, mode: RunMode },
    /// Stop a stream after a final checkpoint.
    StopStream { stream: String },
    /// Stop every stream (each writes a final checkpoint), then the engine.
    Shutdown,
}

/// A stream's state as shown to the user.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStatus {
    /// Reaching the broker and assigning partitions.
    Connecting,
    /// Reading; `events_per_sec` over the last second, `lag_msgs` from fetched high watermarks.
    Live { events_per_sec: f64, lag_msgs: Option<i64> },
    /// Every partition is at its end.
    CaughtUp,
    /// The broker or topic failed; retrying after a pause.
    Retrying { message: String, retry_in: Duration },
}

/// Counters of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub events: u64,
    pub late: u64,
    pub quarantined: u64,
    /// Messages between the read position and the end, summed over partitions, when known.
    pub lag_msgs: Option<i64>,
    /// Rows in the rollup frame.
    pub rows: usize,
}

/// What the engine reports back.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream's worker started; `resumed` when it continues a checkpoint.
    StreamStarted { stream: String, resumed: bool },
    /// The rollup definition differs from the checkpoint's; the stream rebuilds from its start position.
    StreamDefinitionChanged { stream: String, changes: Vec<String> },
    /// The stream's status changed or was refreshed.
    StreamStatusChanged { stream: String, status: StreamStatus, stats: StreamStats },
    /// Every partition reached its end.
    StreamCaughtUp { stream: String, stats: StreamStats },
    /// A checkpoint was written.
    CheckpointSaved { stream: String, stats: StreamStats },
    /// A checkpoint could not be written; the stream goes on and tries again.
    CheckpointFailed { stream: String, message: String },
    /// The stream stopped for good with an error (it could not start, or gave up).
    StreamFailed { stream: String, message: String },
    /// The stream's worker ended after its final checkpoint.
    StreamStopped { stream: String, stats: StreamStats },
    /// Every stream has stopped and the engine has shut down.
    EngineStopped,
}
