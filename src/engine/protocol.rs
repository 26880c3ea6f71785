//! The engine's vocabulary: commands in, events out. One variant per action or
//! lifecycle step; new features (imports, schedules, reports) add variants.

use std::sync::Arc;
use std::time::Duration;

use polars::prelude::DataFrame;

use crate::engine::chart::TimeChart;
use crate::engine::discovery::{ConnectionFailure, TopicInfo, TopicSample};
use crate::engine::stream::quarantine::QuarantinedRecord;
use crate::model::{KafkaClientSpec, StreamSpec};

/// How long a stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Until stopped; connection failures are retried forever with backoff.
    Continuous,
    /// Until every partition has reached its end (partition EOF), then stop;
    /// give up when the broker cannot be read for `give_up_after`.
    UntilCaughtUp { give_up_after: Duration },
}

/// Whether a rebuild may go ahead when the topic no longer holds all the
/// messages the current rollup was built from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HistoryLoss {
    /// Stop and ask (the current rollup stays).
    #[default]
    Refuse,
    /// The user agreed: rebuild from what the topic still holds.
    Accept,
}

/// What the UI or CLI asks the engine to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start consuming a stream (resuming from its checkpoint).
    StartStream { spec: Box<StreamSpec>, mode: RunMode, history: HistoryLoss },
    /// Stop a stream after a final checkpoint.
    StopStream { stream: String },
    /// Publish view data (chart series, table, recent quarantine) of a stream
    /// about once a second, as `StreamViewUpdated`, until `UnwatchStream`.
    WatchStream { stream: String, view: StreamViewSpec },
    /// Stop publishing view data of a stream.
    UnwatchStream { stream: String },
    /// List the topics of a broker with these client settings; answered by `TopicsListed`.
    ListTopics { brokers: String, client: Box<KafkaClientSpec> },
    /// Read the newest messages of a topic and detect their fields; answered by `TopicSampled`.
    SampleTopic { brokers: String, client: Box<KafkaClientSpec>, topic: String },
    /// Test a connection stage by stage (name, TCP, TLS, authentication, topic);
    /// answered by `ConnectionTested`.
    TestConnection { brokers: String, client: Box<KafkaClientSpec>, topic: Option<String> },
    /// Stop every stream (each writes a final checkpoint), then the engine.
    Shutdown,
}

/// What a viewer of a stream wants to see.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamViewSpec {
    /// Index of the charted metric, in workbook order.
    pub metric: usize,
    /// Index of the dimension the chart is split by.
    pub split_by: Option<usize>,
    /// Only buckets newer than now minus this; `None` for all.
    pub window: Option<Duration>,
    /// Split values with their own series; the rest merge into "other".
    pub top_n: usize,
    /// Whether to include the rollup table, and how to sort it.
    pub table: TableRequest,
}

/// Whether a view includes the rollup table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRequest {
    Skip,
    /// The whole rollup, sorted by `column` (newest bucket first when `None`).
    Include {
        column: Option<String>,
        descending: bool,
    },
}

/// View data of a watched stream, computed on the views thread from its live snapshot.
#[derive(Debug, Clone)]
pub struct StreamViewData {
    pub spec: StreamViewSpec,
    /// The chart of the spec's metric over its window.
    pub chart: TimeChart,
    /// The rollup as a frame, when the spec asked for it.
    pub table: Option<Arc<DataFrame>>,
    /// The most recent quarantined records, newest last.
    pub recent_quarantine: Vec<QuarantinedRecord>,
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
    /// Offsets never delivered by the broker (see `StreamProgress::skipped_offsets`).
    pub skipped_offsets: u64,
    /// Messages the rollup's filter left out.
    pub filtered: u64,
    /// Messages counted (merged, filtered out or quarantined) since this worker started; the
    /// rest came from the checkpoint it resumed.
    pub counted_this_run: u64,
    /// From the first to the latest message this worker read (`None` before
    /// any): with `counted_this_run`, the rate at which it read its backlog.
    pub reading: Option<Duration>,
}

/// What the engine reports back.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream's worker started; `resumed` when it continues a checkpoint.
    StreamStarted { stream: String, resumed: bool },
    /// Only metric names changed since the checkpoint: the columns were renamed in place, no rebuild.
    StreamDefinitionRenamed { stream: String, changes: Vec<String> },
    /// The rollup definition differs from the checkpoint's; the stream rebuilds from its start position.
    StreamDefinitionChanged { stream: String, changes: Vec<String> },
    /// The stream's checkpoint could not be used (corrupt, or written in another
    /// checkpoint format); it was kept aside untouched and the stream rebuilds
    /// from its start position.
    StreamCheckpointSetAside { stream: String, why: String },
    /// A rebuild for a changed definition caught up and replaced the old rollup.
    StreamRebuilt { stream: String, stats: StreamStats },
    /// A rebuild would lose `lost_messages` that the topic no longer holds; the
    /// stream stopped with the old rollup in place until the user agrees
    /// (`StartStream` with `HistoryLoss::Accept`).
    StreamRebuildNeedsConsent { stream: String, lost_messages: u64 },
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
    /// Fresh view data of a watched stream.
    StreamViewUpdated { stream: String, view: Arc<StreamViewData> },
    /// The topics of a broker, or why they could not be listed.
    TopicsListed { brokers: String, result: Result<Vec<TopicInfo>, String> },
    /// What a connection test reached, or where it stopped.
    ConnectionTested { brokers: String, result: Result<String, ConnectionFailure> },
    /// Fields detected in a topic's newest messages, or why it could not be read.
    TopicSampled { brokers: String, topic: String, result: Result<TopicSample, String> },
    /// Every stream has stopped and the engine has shut down.
    EngineStopped,
}
