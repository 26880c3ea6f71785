//! Runtime state of an open workbook: the engine, the demo broker if any, and
//! what the UI knows of each stream (status, counters, histories, the latest
//! view data). Not persisted; rebuilt when a workbook opens.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::mpsc::{Receiver, sync_channel};

use crate::demo::cluster::{DemoCluster, DemoControls};
use crate::demo::rates_api::{DEMO_RATES_URL, RatesApi};
use crate::engine::discovery::{ConnectionFailure, TopicInfo, TopicSample};
use crate::engine::imports::ImportContext;
use crate::engine::schedule::{Scheduler, SchedulerCommand, SchedulerEvent, SchedulerEvents, SystemClock};
use crate::engine::{
    Command, Engine, EngineOptions, Event, HistoryLoss, RunMode, StreamStats, StreamStatus, StreamViewData,
    StreamViewSpec, TableRequest,
};
use crate::model::ImportSource;
use crate::model::imports::ImportSpec;
pub use crate::model::numbers::group_digits;
use crate::model::{KafkaClientSpec, StreamSpec, Workbook};
use crate::ui::background::Pending;
use crate::ui::imports_state::{JobKind, JobState, job_of};
use crate::ui::table_browser::{PreviewState, TableBrowser};
use crate::ui::theme::StatusKind;

/// Samples of rate and lag kept per stream for sparklines (one a second: 10 minutes).
const HISTORY_SAMPLES: usize = 600;

/// What the UI knows about one stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    pub spec: StreamSpec,
    pub status: StreamStatus,
    pub failure: Option<String>,
    pub stats: StreamStats,
    /// (seconds since the session started, events/s)
    pub rate_history: VecDeque<[f64; 2]>,
    /// (seconds since the session started, messages behind)
    pub lag_history: VecDeque<[f64; 2]>,
    pub view: Option<Arc<StreamViewData>>,
    pub definition_changes: Option<Vec<String>>,
    /// A changed definition is being rebuilt beside the old rollup (shown until it replaces it).
    pub rebuilding: bool,
    /// A rebuild would lose this many messages the topic no longer holds; waiting for consent.
    pub rebuild_needs_consent: Option<u64>,
}

impl StreamState {
    fn new(spec: StreamSpec) -> Self {
        Self {
            spec,
            status: StreamStatus::Connecting,
            failure: None,
            stats: StreamStats::default(),
            rate_history: VecDeque::new(),
            lag_history: VecDeque::new(),
            view: None,
            definition_changes: None,
            rebuilding: false,
            rebuild_needs_consent: None,
        }
    }

    pub fn status_kind(&self) -> StatusKind {
        if self.failure.is_some() {
            return StatusKind::Failed;
        }
        match self.status {
            StreamStatus::Connecting => StatusKind::Connecting,
            StreamStatus::Live { .. } => StatusKind::Live,
            StreamStatus::CaughtUp => StatusKind::CaughtUp,
            StreamStatus::Retrying { .. } => StatusKind::Failed,
        }
    }

    /// Short status text for the pill, e.g. "live 2,000 ev/s".
    pub fn status_text(&self) -> String {
        if self.failure.is_some() {
            return "failed".into();
        }
        match &self.status {
            StreamStatus::Connecting => "connecting".into(),
            StreamStatus::Live { events_per_sec, lag_msgs } => match lag_msgs {
                // Reading a backlog is not "live": say so until the lag is a moment's worth.
                Some(lag) if *lag as f64 > (events_per_sec * 2.0).max(1_000.0) => format!(
                    "catching up {} ev/s · {} behind",
                    group_digits(*events_per_sec as u64),
                    group_digits(*lag as u64)
                ),
                Some(lag) if *lag > 0 => {
                    format!("live {} ev/s · lag {}", group_digits(*events_per_sec as u64), group_digits(*lag as u64))
                }
                _ => format!("live {} ev/s", group_digits(*events_per_sec as u64)),
            },
            StreamStatus::CaughtUp => "caught up".into(),
            StreamStatus::Retrying { retry_in, .. } => format!("retrying in {}s", retry_in.as_secs()),
        }
    }

    /// The message to show when something is wrong.
    pub fn problem(&self) -> Option<&str> {
        match (&self.failure, &self.status) {
            (Some(message), _) | (None, StreamStatus::Retrying { message, .. }) => Some(message),
            _ => None,
        }
    }
}

/// An open workbook with its running engine.
pub struct Session {
    pub workbook: Workbook,
    /// Where the workbook came from (`None` for the built-in demo).
    pub path: Option<PathBuf>,
    pub streams: BTreeMap<String, StreamState>,
    pub demo: Option<DemoSession>,
    engine: Engine,
    started: Instant,
    /// The view spec sent for each watched stream.
    watched: BTreeMap<String, StreamViewSpec>,
    /// The latest topic list asked for: (brokers, answer); `None` answer while waiting.
    pub topics: Option<(String, Option<TopicsAnswer>)>,
    /// The latest topic sample asked for: (brokers, topic, answer).
    pub sample: Option<(String, String, Option<SampleAnswer>)>,
    /// The latest connection test asked for: (brokers, answer).
    pub connection_test: Option<(String, Option<Result<String, ConnectionFailure>>)>,
    /// A workbook write in progress on its own thread, with the workbook it writes.
    saving: Option<(Receiver<Result<(), String>>, Workbook)>,
    /// The workbook as its file holds it (what a save merges against).
    saved: Workbook,
    /// Where the file's text comes from for the next save: the file it was
    /// read from (`None`: the built-in demo's text).
    source: Option<PathBuf>,
    /// The outcome of the last save, for the top bar.
    pub save_message: Option<Result<String, String>>,
    /// The workbook's imports and exports, as the scheduler reports them.
    pub jobs: BTreeMap<String, JobState>,
    /// Runs the imports and exports in the background (none without any).
    scheduler: Option<(Scheduler, Receiver<SchedulerEvent>)>,
    /// Where this workbook's imports run and their tables live.
    import_context: ImportContext,
    waker: crate::engine::Waker,
    /// The table shown in the central area, if one is.
    pub table: Option<TableBrowser>,
    /// The import editor's latest Test.
    pub preview: Option<PreviewState>,
    /// The report shown in the central area, computed in the background.
    pub report: Option<crate::ui::report_state::ReportState>,
    /// Failures of background runs not yet dismissed, newest last.
    pub notices: Vec<Notice>,
    /// A table export in progress (its message when done).
    export: Option<Pending<Result<String, String>>>,
}

/// A failure worth telling the user of without stopping them.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub job: String,
    pub message: String,
    pub at: Instant,
}

/// The imports and exports of `workbook`, none run yet.
fn jobs_of(workbook: &Workbook) -> BTreeMap<String, JobState> {
    workbook
        .imports
        .iter()
        .map(|i| (i.name.clone(), JobState::default()))
        .chain(
            workbook
                .exports
                .iter()
                .map(|e| (e.name.clone(), JobState { kind: JobKind::Export, ..JobState::default() })),
        )
        .collect()
}

/// Starts the scheduler of `workbook`'s imports and exports (none without any).
fn start_scheduler(
    workbook: &Workbook,
    context: &ImportContext,
    waker: &crate::engine::Waker,
) -> std::io::Result<Option<(Scheduler, Receiver<SchedulerEvent>)>> {
    if workbook.imports.is_empty() && workbook.exports.is_empty() {
        return Ok(None);
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(1024);
    let wake = waker.clone();
    let events: SchedulerEvents = Arc::new(move |event| {
        // Progress may be dropped when the window lags; the next one supersedes it.
        if sender.try_send(event).is_ok() {
            wake();
        }
    });
    let scheduler = Scheduler::start(
        Arc::new(workbook.clone()),
        context.clone(),
        Arc::new(SystemClock),
        crate::engine::schedule::DEFAULT_CONCURRENT_RUNS,
        events,
    )?;
    Ok(Some((scheduler, receiver)))
}

/// Stops a scheduler on a thread of its own: its runs notice the cancel within a request's timeout.
fn stop_in_background(scheduler: Option<(Scheduler, Receiver<SchedulerEvent>)>) {
    let Some(scheduler) = scheduler else { return };
    let stopping = std::thread::Builder::new().name("tidepool-scheduler-stop".into()).spawn(move || drop(scheduler));
    if let Err(err) = stopping {
        tracing::warn!("cannot stop the scheduler in the background: {err}");
    }
}

impl Drop for Session {
    /// Closing a workbook cancels its running imports; waiting for them to
    /// notice (up to a request's timeout) happens off the UI thread.
    fn drop(&mut self) {
        stop_in_background(self.scheduler.take());
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// A broker's topics, or why they could not be listed.
pub type TopicsAnswer = Result<Vec<TopicInfo>, String>;
/// A topic's detected fields, or why it could not be sampled.
pub type SampleAnswer = Result<TopicSample, String>;

/// The embedded demo broker and its controls.
#[derive(Debug)]
pub struct DemoSession {
    pub cluster: DemoCluster,
    pub controls: Arc<DemoControls>,
    /// The exchange-rate API the demo workbook imports every minute.
    rates: RatesApi,
    /// The demo's throw-away state directory, also holding its catalogue and
    /// customers database (the demo starts fresh every time, since its
    /// embedded broker does).
    state_dir: tempfile::TempDir,
}

impl Session {
    /// Starts the engine for `workbook` and every stream in it.
    pub fn start(
        workbook: Workbook,
        path: Option<PathBuf>,
        options: EngineOptions,
        demo: Option<DemoSession>,
        waker: crate::engine::Waker,
    ) -> std::io::Result<Self> {
        let source = path.clone();
        let import_context = ImportContext {
            data_dir: options.data_dir.clone(),
            workbook_id: options.workbook_id.clone(),
            // The demo workbook's files live in the demo's state folder.
            base_dir: demo.as_ref().map_or_else(
                || ImportContext::base_dir_of(path.as_deref()),
                |demo| demo.state_dir.path().to_path_buf(),
            ),
        };
        let jobs = jobs_of(&workbook);
        let scheduler = start_scheduler(&workbook, &import_context, &waker)?;
        let engine = Engine::start(options, waker.clone())?;
        let mut streams = BTreeMap::new();
        for spec in &workbook.streams {
            engine.send(Command::StartStream {
                spec: Box::new(spec.clone()),
                mode: RunMode::Continuous,
                history: HistoryLoss::Refuse,
            });
            streams.insert(spec.name.clone(), StreamState::new(spec.clone()));
        }
        Ok(Self {
            jobs,
            scheduler,
            import_context,
            waker,
            table: None,
            preview: None,
            report: None,
            notices: Vec::new(),
            export: None,
            saved: workbook.clone(),
            source,
            workbook,
            path,
            streams,
            demo,
            engine,
            started: Instant::now(),
            watched: BTreeMap::new(),
            topics: None,
            sample: None,
            connection_test: None,
            saving: None,
            save_message: None,
        })
    }

    /// Starts the built-in demo: the embedded broker, then the demo workbook against it.
    pub fn start_demo(rate: u32, waker: crate::engine::Waker) -> Result<Self, String> {
        let cluster = DemoCluster::start(rate)?;
        let mut workbook = Workbook::from_toml(DEMO_WORKBOOK, std::path::Path::new("views/demo.toml"))
            .map_err(|err| err.to_string())?;
        for stream in &mut workbook.streams {
            if stream.brokers == DEMO_BROKERS {
                stream.brokers = cluster.bootstrap_servers().to_string();
            }
        }
        let rates = RatesApi::start().map_err(|err| format!("cannot start the demo's rates API: {err}"))?;
        for import in &mut workbook.imports {
            if let ImportSource::Http(http) = &mut import.source
                && let Some(rest) = http.url.strip_prefix(DEMO_RATES_URL)
            {
                http.url = format!("{}{rest}", rates.base_url());
            }
        }
        let state_dir = tempfile::Builder::new().prefix("tidepool-demo-").tempdir().map_err(|err| err.to_string())?;
        crate::demo::offline_data::write_offline_data(state_dir.path(), crate::demo::cluster::DEMO_USERS)?;
        let options = EngineOptions {
            data_dir: state_dir.path().to_path_buf(),
            workbook_id: "tidepool-demo".into(),
            checkpoint_every: Duration::from_secs(10),
        };
        let controls = cluster.controls();
        let demo = DemoSession { cluster, controls, rates, state_dir };
        let mut session = Self::start(workbook, None, options, Some(demo), waker).map_err(|err| err.to_string())?;
        session.saved = Workbook::from_toml(DEMO_WORKBOOK, std::path::Path::new("views/demo.toml"))
            .map_err(|err| err.to_string())?;
        Ok(session)
    }

    pub fn seconds_since_start(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Applies waiting engine events for at most `budget`; answers whether any arrived.
    pub fn drain_events(&mut self, budget: Duration) -> bool {
        let deadline = Instant::now() + budget;
        let mut any = false;
        if let Some(outcome) = self.saving.as_ref().and_then(|(receiver, _)| receiver.try_recv().ok())
            && let Some((_, written)) = self.saving.take()
        {
            let shown = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            if outcome.is_ok() {
                self.saved = written;
                self.source.clone_from(&self.path);
            }
            self.save_message = Some(outcome.map(|()| format!("saved {shown}")));
        }
        while Instant::now() < deadline {
            let Some(event) = self.engine.try_next_event() else { break };
            any = true;
            self.apply(event);
        }
        // Jobs whose run started or ended: the table shown may have changed.
        let mut runs_changed = Vec::new();
        if let Some((_, events)) = &self.scheduler {
            while Instant::now() < deadline {
                let Ok(event) = events.try_recv() else { break };
                any = true;
                let name = job_of(&event).to_string();
                if let Some(job) = self.jobs.get_mut(&name) {
                    job.apply(&event);
                }
                match event {
                    SchedulerEvent::RunFailed { message, .. } => {
                        self.notices.push(Notice { job: name.clone(), message, at: Instant::now() });
                        runs_changed.push(name);
                    }
                    SchedulerEvent::RunSucceeded { .. } | SchedulerEvent::RunStarted { .. } => runs_changed.push(name),
                    _ => {}
                }
            }
        }
        if let Some(table) = &mut self.table {
            if runs_changed.contains(&table.name) {
                table.reload(&self.import_context, &self.waker);
            }
            any |= table.poll(&self.import_context, &self.waker);
        }
        let sources = self.report_sources();
        if let Some(report) = &mut self.report {
            any |= report.poll(&self.workbook, &sources, &self.waker);
        }
        if let Some(preview) = &mut self.preview {
            any |= preview.poll();
        }
        if let Some(answer) = self.export.as_mut().and_then(Pending::take) {
            self.export = None;
            self.save_message = Some(answer.and_then(|written| written));
            any = true;
        }
        any
    }

    /// Shows table `name` in the central area (read on a background thread).
    pub fn browse_table(&mut self, name: &str) {
        if self.table.as_ref().is_none_or(|table| table.name != name) {
            self.table = Some(TableBrowser::open(name, &self.import_context, &self.waker));
        }
    }

    /// Shows report `name` in the central area (computed on a background thread).
    pub fn show_report(&mut self, name: &str) {
        if self.report.as_ref().is_none_or(|report| report.name != name) {
            self.report = Some(crate::ui::report_state::ReportState::open(
                name,
                &self.workbook,
                &self.report_sources(),
                &self.waker,
            ));
        }
    }

    /// Computes the shown report again.
    pub fn refresh_report(&mut self) {
        let sources = self.report_sources();
        if let Some(report) = &mut self.report {
            report.refresh(&self.workbook, &sources, &self.waker);
        }
    }

    /// Sorts the shown table by `column` (again: the other way).
    pub fn sort_table(&mut self, column: &str) {
        if let Some(table) = &mut self.table {
            table.sort_by(column, &self.import_context, &self.waker);
        }
    }

    /// Writes table `name`'s current version to `path` on a background thread;
    /// the top bar says how it went.
    pub fn export_table(&mut self, name: &str, path: PathBuf) {
        let (context, table) = (self.import_context.clone(), name.to_string());
        self.export = Some(Pending::spawn("tidepool-export-table", self.waker.clone(), move || {
            crate::engine::imports::browse::export_table(&context, &table, &path)
                .map(|rows| format!("exported {} rows of `{table}` to {}", group_digits(rows), path.display()))
                .map_err(|err| err.to_string())
        }));
    }

    /// Computes report `name` and writes its whole answer to `path` on a
    /// background thread (the same bytes as `tidepool export`); the top bar says how it went.
    pub fn export_report(&mut self, name: &str, path: PathBuf) {
        let Some(report) = self.workbook.report(name).cloned() else { return };
        let (workbook, sources) = (self.workbook.clone(), self.report_sources());
        self.export = Some(Pending::spawn("tidepool-export-report", self.waker.clone(), move || {
            crate::engine::report::export_report(&workbook, &report, &sources, &path)
                .map(|answer| {
                    format!(
                        "exported {} rows of report `{}` to {}",
                        group_digits(answer.frame.height() as u64),
                        report.name,
                        path.display()
                    )
                })
                .map_err(|err| err.to_string())
        }));
    }

    /// Draws report `name`'s chart into `path` as a PNG of the size and look
    /// chosen beside its PNG… button, on a background thread.
    pub fn export_report_png(&mut self, name: &str, path: PathBuf) {
        let Some(report) = self.workbook.report(name).cloned() else { return };
        let options =
            self.report.as_ref().filter(|shown| shown.name == name).map(|shown| shown.png).unwrap_or_default();
        let (workbook, sources) = (self.workbook.clone(), self.report_sources());
        self.export = Some(Pending::spawn("tidepool-export-png", self.waker.clone(), move || {
            crate::ui::charts::report_chart::export_report_png(&workbook, &report, &sources, &path, &options)
        }));
    }

    /// Fetches the first rows of `spec`'s source without saving anything (the editor's Test).
    pub fn preview_import(&mut self, spec: ImportSpec) {
        self.preview = Some(PreviewState::start(spec, &self.import_context, &self.waker));
    }

    /// Adds an import, or replaces `original`; checks it against the rest of
    /// the workbook first, then restarts the schedules and saves the workbook.
    pub fn put_import(&mut self, spec: &ImportSpec, original: Option<&str>) -> Result<(), String> {
        let mut workbook = self.workbook.clone();
        let replaced = original.unwrap_or(&spec.name).to_string();
        match workbook.imports.iter_mut().find(|i| i.name == replaced) {
            Some(existing) => *existing = spec.clone(),
            None => workbook.imports.push(spec.clone()),
        }
        let problems = workbook.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        if let Some(state) = self.jobs.remove(&replaced) {
            self.jobs.insert(spec.name.clone(), state);
        } else {
            self.jobs.insert(spec.name.clone(), JobState::default());
        }
        let fetches_anew =
            original.and_then(|name| self.workbook.import(name)).is_none_or(|old| old.source != spec.source);
        self.replace_workbook(workbook);
        if self.table.as_ref().is_some_and(|table| table.name == replaced) {
            self.table = None;
            self.browse_table(&spec.name);
        }
        // A new import, or one reading from somewhere else, runs at once: its table is what the user wants to see.
        if fetches_anew {
            self.run_job_now(&spec.name);
        }
        Ok(())
    }

    /// Adds a report, or replaces `original`; checks the workbook first, then saves it.
    pub fn put_report(
        &mut self,
        spec: &crate::model::reports::ReportSpec,
        original: Option<&str>,
    ) -> Result<(), String> {
        let mut workbook = self.workbook.clone();
        let replaced = original.unwrap_or(&spec.name).to_string();
        match workbook.reports.iter_mut().find(|r| r.name == replaced) {
            Some(existing) => *existing = spec.clone(),
            None => workbook.reports.push(spec.clone()),
        }
        let problems = workbook.problems();
        if !problems.is_empty() {
            return Err(format!("Not saved: {}", problems.join("; ")));
        }
        // Reports run on demand: the schedules need no restart.
        self.workbook = workbook;
        self.save();
        Ok(())
    }

    /// What imports and reports read from: the data folder and the workbook's identity.
    /// Where reports read their datasets: this workbook's stored tables and
    /// checkpoints, and the live snapshots of its running streams.
    pub fn report_sources(&self) -> crate::engine::report::ReportSources {
        crate::engine::report::ReportSources { context: self.import_context.clone(), live: self.engine.snapshots() }
    }

    pub fn import_context(&self) -> &ImportContext {
        &self.import_context
    }

    /// Wakes the window when background work is done.
    pub fn waker(&self) -> &crate::engine::Waker {
        &self.waker
    }

    /// Removes an import from the workbook (its stored versions stay on disk);
    /// refused while another import or an export depends on it.
    pub fn delete_import(&mut self, name: &str) -> Result<(), String> {
        let mut workbook = self.workbook.clone();
        workbook.imports.retain(|i| i.name != name);
        let problems = workbook.problems();
        if !problems.is_empty() {
            return Err(format!("`{name}` cannot be deleted: {}", problems.join("; ")));
        }
        self.jobs.remove(name);
        if self.table.as_ref().is_some_and(|table| table.name == name) {
            self.table = None;
        }
        self.replace_workbook(workbook);
        Ok(())
    }

    /// Makes `workbook` the session's: its schedules restart (runs in flight
    /// are cancelled; their previous versions stay) and it is saved.
    fn replace_workbook(&mut self, workbook: Workbook) {
        self.workbook = workbook;
        stop_in_background(self.scheduler.take());
        match start_scheduler(&self.workbook, &self.import_context, &self.waker) {
            Ok(scheduler) => self.scheduler = scheduler,
            Err(err) => self.save_message = Some(Err(format!("cannot restart the schedules: {err}"))),
        }
        for job in self.jobs.values_mut() {
            job.running = false;
            job.paused = false;
        }
        self.save();
    }

    /// Asks the scheduler to run an import or export now.
    pub fn run_job_now(&mut self, name: &str) {
        if let Some((scheduler, _)) = &self.scheduler {
            scheduler.send(SchedulerCommand::RunNow(name.to_string()));
        }
    }

    /// Pauses or resumes an import's or export's schedule.
    pub fn set_job_paused(&mut self, name: &str, paused: bool) {
        if let Some((scheduler, _)) = &self.scheduler {
            let command = if paused {
                SchedulerCommand::Pause(name.to_string())
            } else {
                SchedulerCommand::Resume(name.to_string())
            };
            if scheduler.send(command)
                && let Some(job) = self.jobs.get_mut(name)
            {
                job.paused = paused;
            }
        }
    }

    fn apply(&mut self, event: Event) {
        let now = self.seconds_since_start();
        match event {
            Event::StreamStatusChanged { stream, status, stats } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    if let StreamStatus::Live { events_per_sec, .. } = status {
                        push_sample(&mut state.rate_history, [now, events_per_sec]);
                    }
                    if let Some(lag) = stats.lag_msgs {
                        push_sample(&mut state.lag_history, [now, lag as f64]);
                    }
                    if !matches!(status, StreamStatus::Retrying { .. }) {
                        state.failure = None;
                    }
                    state.status = status;
                    state.stats = stats;
                }
            }
            Event::StreamCaughtUp { stream, stats } | Event::CheckpointSaved { stream, stats } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    // Checkpoints know no lag: keep the one the last status reported.
                    state.stats = StreamStats { lag_msgs: state.stats.lag_msgs, ..stats };
                }
            }
            Event::StreamFailed { stream, message } | Event::CheckpointFailed { stream, message } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.failure = Some(message);
                }
            }
            Event::StreamDefinitionChanged { stream, changes } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.definition_changes = Some(changes);
                    state.rebuilding = true;
                }
            }
            Event::StreamRebuilt { stream, stats } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.rebuilding = false;
                    state.stats = stats;
                }
            }
            Event::StreamRebuildNeedsConsent { stream, lost_messages } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.rebuild_needs_consent = Some(lost_messages);
                }
            }
            Event::StreamDefinitionRenamed { stream, changes } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.definition_changes = Some(changes.into_iter().map(|c| format!("{c} (in place)")).collect());
                }
            }
            Event::StreamCheckpointSetAside { stream, why } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.definition_changes =
                        Some(vec![format!("{why}; it was kept aside and the rollup is rebuilt")]);
                }
            }
            Event::StreamViewUpdated { stream, view } => {
                if let Some(state) = self.streams.get_mut(&stream) {
                    state.view = Some(view);
                }
            }
            Event::ConnectionTested { brokers, result } => {
                if let Some((asked, answer)) = &mut self.connection_test
                    && *asked == brokers
                {
                    *answer = Some(result);
                }
            }
            Event::TopicsListed { brokers, result } => {
                if let Some((asked, answer)) = &mut self.topics
                    && *asked == brokers
                {
                    *answer = Some(result);
                }
            }
            Event::TopicSampled { brokers, topic, result } => {
                if let Some((asked_brokers, asked_topic, answer)) = &mut self.sample
                    && *asked_brokers == brokers
                    && *asked_topic == topic
                {
                    *answer = Some(result);
                }
            }
            Event::StreamStarted { .. } | Event::StreamStopped { .. } | Event::EngineStopped => {}
        }
    }

    /// Asks the engine for view data of `stream` (only when the spec changed).
    pub fn watch(&mut self, stream: &str, spec: StreamViewSpec) {
        if self.watched.get(stream) == Some(&spec) {
            return;
        }
        for other in self.watched.keys().filter(|name| *name != stream).cloned().collect::<Vec<_>>() {
            self.engine.send(Command::UnwatchStream { stream: other.clone() });
            self.watched.remove(&other);
        }
        self.engine.send(Command::WatchStream { stream: stream.to_string(), view: spec.clone() });
        self.watched.insert(stream.to_string(), spec);
    }

    pub fn list_topics(&mut self, brokers: &str, client: &KafkaClientSpec) {
        self.topics = Some((brokers.to_string(), None));
        self.engine.send(Command::ListTopics { brokers: brokers.to_string(), client: Box::new(client.clone()) });
    }

    pub fn sample_topic(&mut self, brokers: &str, client: &KafkaClientSpec, topic: &str) {
        self.sample = Some((brokers.to_string(), topic.to_string(), None));
        self.engine.send(Command::SampleTopic {
            brokers: brokers.to_string(),
            client: Box::new(client.clone()),
            topic: topic.to_string(),
        });
    }

    pub fn test_connection(&mut self, brokers: &str, client: &KafkaClientSpec, topic: Option<String>) {
        self.connection_test = Some((brokers.to_string(), None));
        self.engine.send(Command::TestConnection {
            brokers: brokers.to_string(),
            client: Box::new(client.clone()),
            topic,
        });
    }

    /// Adds a stream, or replaces `original`; the engine (re)starts it and the workbook is saved.
    pub fn put_stream(&mut self, spec: StreamSpec, original: Option<&str>) {
        if let Some(original) = original
            && original != spec.name
        {
            self.engine.send(Command::StopStream { stream: original.to_string() });
            self.streams.remove(original);
            self.watched.remove(original);
        }
        let replaced = original.unwrap_or(&spec.name).to_string();
        match self.workbook.streams.iter_mut().find(|s| s.name == replaced) {
            Some(existing) => *existing = spec.clone(),
            None => self.workbook.streams.push(spec.clone()),
        }
        self.watched.remove(&spec.name);
        self.engine.send(Command::StartStream {
            spec: Box::new(spec.clone()),
            mode: RunMode::Continuous,
            history: HistoryLoss::Refuse,
        });
        self.streams.insert(spec.name.clone(), StreamState::new(spec));
        self.save();
    }

    /// Restarts a stream whose rebuild waits for consent, accepting the lost history.
    pub fn rebuild_anyway(&mut self, stream: &str) {
        let Some(state) = self.streams.get_mut(stream) else { return };
        state.rebuild_needs_consent = None;
        state.failure = None;
        let spec = Box::new(state.spec.clone());
        self.engine.send(Command::StartStream { spec, mode: RunMode::Continuous, history: HistoryLoss::Accept });
    }

    /// Writes the workbook to its file on a background thread (the demo's lives in memory only).
    pub fn save(&mut self) {
        let Some(path) = self.path.clone() else {
            self.save_message = Some(Ok("the demo workbook lives in memory; nothing saved".into()));
            return;
        };
        let mut workbook = self.workbook.clone();
        if let Some(demo) = &self.demo {
            // A saved demo workbook names the embedded broker, not this run's port.
            for stream in &mut workbook.streams {
                if stream.brokers == demo.cluster.bootstrap_servers() {
                    stream.brokers = DEMO_BROKERS.to_string();
                }
            }
            for import in &mut workbook.imports {
                if let ImportSource::Http(http) = &mut import.source
                    && let Some(rest) = http.url.strip_prefix(demo.rates.base_url())
                {
                    http.url = format!("{DEMO_RATES_URL}{rest}");
                }
            }
        }
        let (base, source) = (self.saved.clone(), self.source.clone());
        let written = workbook.clone();
        let (sender, receiver) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("tidepool-save".into()).spawn(move || {
            let _ = sender.send(write_workbook(&path, source.as_deref(), &base, &workbook));
        });
        match spawned {
            Ok(_) => self.saving = Some((receiver, written)),
            Err(err) => self.save_message = Some(Err(format!("cannot start saving: {err}"))),
        }
    }

    /// Whether any stream is busy (connecting or reading with lag).
    pub fn is_busy(&self) -> bool {
        self.streams.values().any(|s| {
            matches!(s.status, StreamStatus::Connecting)
                || matches!(s.status, StreamStatus::Live { lag_msgs: Some(lag), .. } if lag > 0)
        })
    }
}

/// Writes `workbook` to `path` (on the save thread): merged into the text of
/// `source` (the demo's text when `None`) so the user's comments and layout
/// stay, atomically. A source that cannot be read or merged falls back to a
/// fresh rendering of the workbook.
fn write_workbook(path: &Path, source: Option<&Path>, base: &Workbook, workbook: &Workbook) -> Result<(), String> {
    let original = match source {
        Some(source) => std::fs::read_to_string(source).ok(),
        None => Some(DEMO_WORKBOOK.to_string()),
    };
    let merged = original.and_then(|text| match crate::model::document::updated_text(&text, base, workbook) {
        Ok(merged) => Some(merged),
        Err(why) => {
            tracing::warn!("saving {} afresh: {why}", path.display());
            None
        }
    });
    let text = match merged {
        Some(text) => text,
        None => workbook.to_toml().map_err(|err| format!("cannot write the workbook: {err}"))?,
    };
    crate::engine::files::write_atomically::<std::io::Error>(path, |file| {
        std::io::Write::write_all(file, text.as_bytes())
    })
    .map_err(|err| format!("cannot save {}: {err}", path.display()))
}

/// The broker name in `views/demo.toml` that the demo replaces with its embedded broker.
pub const DEMO_BROKERS: &str = "embedded-demo";
/// The demo workbook, built into the binary so the demo needs no files.
pub const DEMO_WORKBOOK: &str = include_str!("../../views/demo.toml");

/// Default view of a stream: its first metric, split by its first dimension, last hour.
pub fn default_view(spec: &StreamSpec) -> StreamViewSpec {
    StreamViewSpec {
        metric: 0,
        split_by: (!spec.rollup.dimensions.is_empty()).then_some(0),
        window: Some(Duration::from_hours(1)),
        top_n: 5,
        table: TableRequest::Skip,
    }
}

fn push_sample(history: &mut VecDeque<[f64; 2]>, sample: [f64; 2]) {
    if history.len() >= HISTORY_SAMPLES {
        history.pop_front();
    }
    history.push_back(sample);
}
