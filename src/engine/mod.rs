//! The headless core: streams (Kafka → rollup), the state store and exports.
//! Takes [`Command`]s, emits [`Event`]s, and knows nothing of egui.
//!
//! Each stream runs on its own named thread; a supervisor thread owns them.
//! Channels are bounded: lifecycle events block when the receiver lags, while
//! periodic progress is dropped instead (the next one supersedes it).

pub mod chart;
pub mod discovery;
pub mod export;
pub mod exports;
pub mod files;
pub mod imports;
pub mod paths;
mod protocol;
pub mod report;
pub mod rollup;
pub mod schedule;
pub mod secrets;
pub mod snapshots;
pub mod store;
pub mod stream;
pub mod views;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::model::StreamSpec;
pub use protocol::{
    Command, Event, HistoryLoss, RunMode, StreamStats, StreamStatus, StreamViewData, StreamViewSpec, TableRequest,
};

/// Capacity of the command and event channels.
const CHANNEL_CAPACITY: usize = 1024;

/// Called after each event is queued, e.g. the window's request to repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Where and how often the engine saves state.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub data_dir: PathBuf,
    /// Checkpoints are keyed by this id (see `paths::workbook_id`).
    pub workbook_id: String,
    pub checkpoint_every: Duration,
}

/// Sends events to whoever drives the engine, waking it.
#[derive(Clone)]
pub struct EventSink {
    sender: SyncSender<Event>,
    waker: Waker,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

impl EventSink {
    /// Sends a lifecycle event, waiting for room if the receiver lags.
    pub fn send(&self, event: Event) {
        if self.sender.send(event).is_ok() {
            (self.waker)();
        }
    }

    /// Sends a periodic event if there is room; drops it otherwise.
    pub fn offer(&self, event: Event) {
        match self.sender.try_send(event) {
            Ok(()) => (self.waker)(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }
}

/// A running engine: send commands, receive events.
#[derive(Debug)]
pub struct Engine {
    commands: SyncSender<Command>,
    events: Receiver<Event>,
    supervisor: Option<JoinHandle<()>>,
    snapshots: snapshots::Snapshots,
}

impl Engine {
    pub fn start(options: EngineOptions, waker: Waker) -> std::io::Result<Self> {
        let (commands, command_receiver) = sync_channel(CHANNEL_CAPACITY);
        let (event_sender, events) = sync_channel(CHANNEL_CAPACITY);
        let snapshots = snapshots::Snapshots::notifying(waker.clone());
        let sink = EventSink { sender: event_sender, waker };
        let published = snapshots.clone();
        let supervisor = std::thread::Builder::new()
            .name("tidepool-engine".into())
            .spawn(move || supervise(&options, &command_receiver, &sink, &published))?;
        Ok(Self { commands, events, supervisor: Some(supervisor), snapshots })
    }

    /// The live snapshots of the running streams' rollups, for readers on their own threads.
    pub fn snapshots(&self) -> snapshots::Snapshots {
        self.snapshots.clone()
    }

    /// Queues a command; answers `false` if the engine has already stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// A sender for commands from elsewhere (e.g. a Ctrl-C handler).
    pub fn command_sender(&self) -> SyncSender<Command> {
        self.commands.clone()
    }

    /// The next event, if one is waiting.
    pub fn try_next_event(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits for the next event (for headless callers only, never the UI thread).
    pub fn next_event(&self) -> Option<Event> {
        self.events.recv().ok()
    }

    pub fn next_event_timeout(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        // Drain so that workers blocked on a full channel can finish.
        while self.events.recv_timeout(Duration::from_millis(50)).is_ok() {}
        if let Some(handle) = self.supervisor.take() {
            let _ = handle.join();
        }
    }
}

struct RunningStream {
    stop: Arc<AtomicBool>,
    spec: StreamSpec,
    handle: JoinHandle<()>,
}

#[allow(clippy::too_many_lines)] // one match over the commands
fn supervise(
    options: &EngineOptions,
    commands: &Receiver<Command>,
    sink: &EventSink,
    snapshots: &snapshots::Snapshots,
) {
    let mut running: HashMap<String, RunningStream> = HashMap::new();
    let views = match views::ViewQueries::start(snapshots.clone(), sink.clone()) {
        Ok(views) => Some(views),
        Err(err) => {
            tracing::warn!("cannot start the views thread, streams will show no chart: {err}");
            None
        }
    };
    // The stream watched, and how.
    let mut watching: Option<(String, StreamViewSpec)> = None;
    while let Ok(command) = commands.recv() {
        running.retain(|_, stream| !stream.handle.is_finished());
        match command {
            Command::StartStream { spec, mode, history } => {
                if let Some(previous) = running.remove(&spec.name) {
                    stop_and_join(previous);
                }
                if let (Some(views), Some((watched, view))) = (&views, &watching)
                    && *watched == spec.name
                {
                    // The stream's definition may have changed under its watcher.
                    views.watch(&spec, view.clone());
                }
                let stop = Arc::new(AtomicBool::new(false));
                let name = spec.name.clone();
                let stream_spec = (*spec).clone();
                let links = stream::worker::WorkerLinks {
                    sink: sink.clone(),
                    stop: stop.clone(),
                    snapshots: snapshots.clone(),
                };
                let worker = stream::worker::StreamWorker::new(*spec, options, mode, history, links);
                let panic_sink = sink.clone();
                let panic_name = name.clone();
                let published = snapshots.clone();
                let body = move || {
                    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run()));
                    // However the stream ended, readers go back to its checkpoint.
                    published.withdraw(&panic_name);
                    if let Err(panic) = ended {
                        panic_sink.send(Event::StreamFailed {
                            stream: panic_name,
                            message: format!(
                                "the stream stopped on an internal error ({}); its last checkpoint is kept — \
                                 please report this",
                                panic_message(panic.as_ref())
                            ),
                        });
                    }
                };
                match std::thread::Builder::new().name(format!("tidepool-stream-{name}")).spawn(body) {
                    Ok(handle) => {
                        running.insert(name, RunningStream { stop, spec: stream_spec, handle });
                    }
                    Err(err) => sink.send(Event::StreamFailed {
                        stream: name,
                        message: format!("cannot start a thread for the stream: {err}"),
                    }),
                }
            }
            Command::StopStream { stream } => {
                if let Some(previous) = running.remove(&stream) {
                    stop_and_join(previous);
                }
            }
            Command::WatchStream { stream, view } => {
                if let (Some(views), Some(running)) = (&views, running.get(&stream)) {
                    views.watch(&running.spec, view.clone());
                }
                watching = Some((stream, view));
            }
            Command::UnwatchStream { stream } => {
                if watching.as_ref().is_some_and(|(watched, _)| *watched == stream) {
                    watching = None;
                    if let Some(views) = &views {
                        views.unwatch();
                    }
                }
            }
            Command::ListTopics { brokers, client } => discover(sink, "topics", move || {
                let result = discovery::list_topics(&brokers, &client);
                Event::TopicsListed { brokers, result }
            }),
            Command::SampleTopic { brokers, client, topic } => discover(sink, "sample", move || {
                let result = discovery::sample_topic(&brokers, &client, &topic);
                Event::TopicSampled { brokers, topic, result }
            }),
            Command::TestConnection { brokers, client, topic } => discover(sink, "test", move || {
                let result = discovery::test_connection(&brokers, &client, topic.as_deref());
                Event::ConnectionTested { brokers, result }
            }),
            Command::Shutdown => break,
        }
    }
    drop(views);
    for (_, stream) in running.drain() {
        stream.stop.store(true, Ordering::Relaxed);
        let _ = stream.handle.join();
    }
    sink.send(Event::EngineStopped);
}

/// Runs a discovery request on its own short-lived thread and sends its answer.
fn discover(sink: &EventSink, what: &str, request: impl FnOnce() -> Event + Send + 'static) {
    let sink = sink.clone();
    let spawned =
        std::thread::Builder::new().name(format!("tidepool-discovery-{what}")).spawn(move || sink.send(request()));
    if let Err(err) = spawned {
        tracing::warn!("cannot start a discovery thread: {err}");
    }
}

/// The text of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn stop_and_join(stream: RunningStream) {
    stream.stop.store(true, Ordering::Relaxed);
    let _ = stream.handle.join();
}
