//! The scheduler: runs a workbook's imports in the background when their
//! schedules say, when asked (run now), and after the imports they depend
//! on; at most one run of an import at a time and at most a few at once.
//!
//! Watched files (see [`file_watch`]) ask for a run when they change.
//! One named thread plans (see [`planner`]) and starts a named worker thread
//! per run; the clock is injected so tests can drive it. Knows nothing of
//! egui or the command line: what happens is told through a callback.

pub mod file_watch;
pub mod planner;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::exports::{ExportSummary, run_export};
use crate::engine::imports::{ImportContext, Progress, ProgressSink, RunSummary, run_import};
use crate::engine::store::tables::{RunTrigger, TableCatalog};
use crate::model::Workbook;
use file_watch::FileWatch;
use planner::{Job, PastRuns, Planner};

/// Runs at once by default: a laptop has few cores and one network link.
pub const DEFAULT_CONCURRENT_RUNS: usize = 2;
/// The longest the planner sleeps between two looks (commands wake it sooner).
const TICK: Duration = Duration::from_millis(250);

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock: after a laptop's sleep it jumps, and missed runs run once.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Requests to a running scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerCommand {
    RunNow(String),
    Pause(String),
    Resume(String),
}

/// What the scheduler tells its owner.
#[derive(Debug, Clone)]
pub enum SchedulerEvent {
    /// A run started.
    RunStarted { import: String, trigger: RunTrigger },
    /// Rows and bytes so far (offered often; the latest supersedes).
    RunProgress { import: String, progress: Progress },
    /// An attempt failed and will be retried after `wait`.
    RunRetrying { import: String, attempt: u32, message: String, wait: Duration },
    /// An import's run committed a new version.
    RunSucceeded { import: String, summary: Box<RunSummary> },
    /// An export's run wrote its destination.
    ExportSucceeded { export: String, summary: ExportSummary },
    /// Every attempt of a run failed; the previous version stays.
    RunFailed { import: String, message: String },
    /// The next scheduled time of an import changed.
    NextRun { import: String, at: Option<DateTime<Utc>> },
}

pub type SchedulerEvents = Arc<dyn Fn(SchedulerEvent) + Send + Sync>;

/// A running scheduler; dropping it cancels running imports and waits for them.
pub struct Scheduler {
    commands: SyncSender<SchedulerCommand>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Starts planning the workbook's imports and exports (the run history tells what ran before).
    pub fn start(
        workbook: Arc<Workbook>,
        context: ImportContext,
        clock: Arc<dyn Clock>,
        concurrent_runs: usize,
        events: SchedulerEvents,
    ) -> std::io::Result<Self> {
        let (commands, receiver) = sync_channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let loop_stop = stop.clone();
        let thread = std::thread::Builder::new().name("tidepool-scheduler".into()).spawn(move || {
            if let Err(err) = crate::engine::imports::settle_abandoned_runs(&context, &workbook) {
                tracing::warn!("cannot mark abandoned runs as interrupted: {err}");
            }
            let past = TableCatalog::open(&context.data_dir, &context.workbook_id)
                .and_then(|catalog| catalog.past_runs())
                .unwrap_or_default();
            let jobs: Vec<Job> =
                workbook.imports.iter().map(Job::from).chain(workbook.exports.iter().map(Job::from)).collect();
            let planner = Planner::new(&jobs, &past, clock.now());
            let files = FileWatch::new(&workbook, &context.base_dir);
            let state = Loop {
                files,
                jobs: jobs.into_iter().map(|job| job.name).collect(),
                workbook,
                context,
                clock,
                planner,
                queue: VecDeque::new(),
                workers: BTreeMap::new(),
                concurrent_runs: concurrent_runs.max(1),
                events,
                stop: loop_stop,
            };
            state.run(&receiver);
        })?;
        Ok(Self { commands, stop, thread: Some(thread) })
    }

    pub fn send(&self, command: SchedulerCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How a worker's run ended.
struct Done {
    import: String,
    succeeded: bool,
}

struct Loop {
    /// Watched file imports (`watch = true`), looked at between ticks.
    files: FileWatch,
    jobs: Vec<String>,
    workbook: Arc<Workbook>,
    context: ImportContext,
    clock: Arc<dyn Clock>,
    planner: Planner,
    queue: VecDeque<(String, RunTrigger)>,
    workers: BTreeMap<String, JoinHandle<()>>,
    concurrent_runs: usize,
    events: SchedulerEvents,
    stop: Arc<AtomicBool>,
}

impl Loop {
    fn run(mut self, commands: &Receiver<SchedulerCommand>) {
        let (done_sender, done) = sync_channel::<Done>(64);
        for name in &self.jobs {
            (self.events)(SchedulerEvent::NextRun { import: name.clone(), at: self.planner.next_due(name) });
        }
        while !self.stop.load(Ordering::Relaxed) {
            match commands.recv_timeout(TICK) {
                Ok(command) => self.apply(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(finished) = done.try_recv() {
                if let Some(worker) = self.workers.remove(&finished.import) {
                    let _ = worker.join();
                }
                self.planner.finished(&finished.import, finished.succeeded, self.clock.now());
            }
            for changed in self.files.changed(std::time::Instant::now()) {
                self.planner.request(&changed, RunTrigger::FileChanged);
            }
            for due in self.planner.due(self.clock.now()) {
                (self.events)(SchedulerEvent::NextRun { import: due.0.clone(), at: self.planner.next_due(&due.0) });
                self.queue.push_back(due);
            }
            while self.workers.len() < self.concurrent_runs {
                let Some((name, trigger)) = self.queue.pop_front() else { break };
                self.start_worker(name, trigger, done_sender.clone());
            }
        }
        for (_, worker) in std::mem::take(&mut self.workers) {
            let _ = worker.join();
        }
    }

    fn apply(&mut self, command: SchedulerCommand) {
        match command {
            SchedulerCommand::RunNow(name) => {
                self.planner.request(&name, RunTrigger::Manual);
            }
            SchedulerCommand::Pause(name) => {
                self.planner.set_paused(&name, true);
            }
            SchedulerCommand::Resume(name) => {
                self.planner.set_paused(&name, false);
            }
        }
    }

    fn start_worker(&mut self, name: String, trigger: RunTrigger, done: SyncSender<Done>) {
        let workbook = self.workbook.clone();
        let context = self.context.clone();
        let events = self.events.clone();
        let stop = self.stop.clone();
        let thread_name = format!("tidepool-job-{name}");
        let key = name.clone();
        let worker = std::thread::Builder::new().name(thread_name).spawn(move || {
            events(SchedulerEvent::RunStarted { import: name.clone(), trigger });
            let mut retrying = |attempt, error: &crate::engine::imports::ImportError, wait| {
                events(SchedulerEvent::RunRetrying { import: name.clone(), attempt, message: error.to_string(), wait });
            };
            let succeeded = if let Some(spec) = workbook.import(&name) {
                let progress_events = events.clone();
                let progress_name = name.clone();
                let progress: ProgressSink = Arc::new(move |progress| {
                    progress_events(SchedulerEvent::RunProgress { import: progress_name.clone(), progress });
                });
                match run_import(spec, &context, trigger, &stop, &progress, &mut retrying) {
                    Ok(summary) => {
                        events(SchedulerEvent::RunSucceeded { import: name.clone(), summary: Box::new(summary) });
                        true
                    }
                    Err(failure) => {
                        events(SchedulerEvent::RunFailed { import: name.clone(), message: failure.to_string() });
                        false
                    }
                }
            } else if let Some(spec) = workbook.export(&name) {
                match run_export(spec, &workbook, &context, trigger, &stop, &mut retrying) {
                    Ok(summary) => {
                        events(SchedulerEvent::ExportSucceeded { export: name.clone(), summary });
                        true
                    }
                    Err(failure) => {
                        events(SchedulerEvent::RunFailed { import: name.clone(), message: failure.to_string() });
                        false
                    }
                }
            } else {
                false
            };
            let _ = done.send(Done { import: name, succeeded });
        });
        match worker {
            Ok(worker) => {
                self.workers.insert(key, worker);
            }
            Err(err) => {
                (self.events)(SchedulerEvent::RunFailed {
                    import: key.clone(),
                    message: format!("cannot start a thread for the run: {err}"),
                });
                self.planner.finished(&key, false, self.clock.now());
            }
        }
    }
}

/// Reads a catalogue time (`2026-11-20T07:42:10.123Z`).
pub fn parse_catalog_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

impl From<(Option<String>, Option<String>)> for PastRuns {
    fn from((started, succeeded): (Option<String>, Option<String>)) -> Self {
        Self {
            last_started: started.as_deref().and_then(parse_catalog_time),
            last_succeeded: succeeded.as_deref().and_then(parse_catalog_time),
        }
    }
}
