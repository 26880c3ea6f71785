//! The eframe app: persisted settings apart from the runtime session; each
//! frame drains engine events within a time budget, then draws panels, which
//! return actions that are applied afterwards.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::launch::Launch;
use super::panels::{self, Action, Tab, TimeWindow};
use super::session::{Session, default_view};
use super::theme::Theme;
use crate::engine::{EngineOptions, StreamViewSpec, TableRequest, paths};
use crate::model::Workbook;

/// Time spent applying engine events per frame, at most.
const EVENT_BUDGET: Duration = Duration::from_millis(4);
/// How often the window repaints while streams are live.
const LIVE_REPAINT: Duration = Duration::from_millis(250);
/// Frame times kept for the debug overlay.
const FRAME_SAMPLES: usize = 240;

/// Settings remembered between runs (eframe storage).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub theme: Theme,
    pub last_workbook: Option<PathBuf>,
    pub selected_stream: Option<String>,
    pub tab: Tab,
    pub window: TimeWindow,
    pub top_n: usize,
    /// Per stream: the charted metric and split dimension, by name.
    pub charts: BTreeMap<String, ChartChoice>,
    /// The imported table shown instead of a stream, if one is.
    pub selected_table: Option<String>,
}

impl Default for Persisted {
    fn default() -> Self {
        Self {
            theme: Theme::Dark,
            last_workbook: None,
            selected_stream: None,
            tab: Tab::Chart,
            window: TimeWindow::LastHour,
            top_n: 5,
            charts: BTreeMap::new(),
            selected_table: None,
        }
    }
}

/// What a stream's chart shows, by name so it survives workbook edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartChoice {
    pub metric: Option<String>,
    pub split_by: Option<String>,
}

/// Writes one frame time (ms) per line, for `--frame-times FILE`.
#[derive(Debug)]
pub struct FrameTimeLog {
    file: Option<std::io::BufWriter<std::fs::File>>,
    written: u64,
}

impl FrameTimeLog {
    pub fn new(path: PathBuf) -> Self {
        Self { file: std::fs::File::create(path).ok().map(std::io::BufWriter::new), written: 0 }
    }

    fn record(&mut self, frame_ms: f64) {
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{frame_ms:.3}");
            self.written += 1;
            if self.written == 1 || self.written.is_multiple_of(30) {
                let _ = file.flush();
            }
        }
    }
}

/// The whole app.
pub struct TidepoolApp {
    pub persisted: Persisted,
    pub session: Option<Session>,
    /// Why the launch did not open anything, shown in the window.
    pub notice: Option<String>,
    pub overlay: bool,
    pub search: String,
    dialogs: super::dialogs::Dialogs,
    waker: crate::engine::Waker,
    /// The stream editor's form, while it is open.
    pub editor: Option<super::editor::StreamDraft>,
    /// The import editor's form, while it is open.
    pub import_editor: Option<super::import_editor::ImportDraft>,
    /// The import whose Delete waits for a second click.
    pub confirming_delete: Option<String>,
    /// Which view of an imported table is shown.
    pub table_tab: panels::TableTab,
    /// The report shown in the central area (before a stream or a table).
    pub selected_report: Option<String>,
    /// The report builder's draft, while it is open (it takes the central area).
    pub report_builder: Option<super::report_builder::ReportDraft>,
    table_sort: Option<(String, bool)>,
    frame_ms: VecDeque<f64>,
    frame_log: Option<FrameTimeLog>,
    applied_theme: Option<Theme>,
}

impl std::fmt::Debug for TidepoolApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TidepoolApp").field("session", &self.session).finish_non_exhaustive()
    }
}

impl TidepoolApp {
    /// `waker` is called from engine threads when new events wait (e.g. `request_repaint`).
    pub fn new(
        persisted: Persisted,
        launch: Launch,
        frame_log: Option<FrameTimeLog>,
        waker: crate::engine::Waker,
    ) -> Self {
        let mut app = Self {
            persisted,
            session: None,
            notice: None,
            overlay: false,
            search: String::new(),
            dialogs: super::dialogs::Dialogs::default(),
            waker: waker.clone(),
            editor: None,
            import_editor: None,
            confirming_delete: None,
            table_tab: panels::TableTab::Data,
            selected_report: None,
            report_builder: None,
            table_sort: None,
            frame_ms: VecDeque::new(),
            frame_log,
            applied_theme: None,
        };
        match launch {
            Launch::Demo { rate } => match Session::start_demo(rate, waker) {
                Ok(session) => app.session = Some(session),
                Err(err) => app.notice = Some(format!("The demo could not start: {err}")),
            },
            Launch::Open { workbook, data_dir } => app.open(&workbook, data_dir.as_deref(), waker),
            Launch::Restore => {
                if let Some(path) = app.persisted.last_workbook.clone() {
                    app.open(&path, None, waker);
                }
            }
        }
        app
    }

    fn open(&mut self, path: &std::path::Path, data_dir: Option<&std::path::Path>, waker: crate::engine::Waker) {
        match Workbook::load(path) {
            Ok(workbook) => self.open_loaded(path, workbook, data_dir, waker),
            Err(err) => self.notice = Some(err.to_string()),
        }
    }

    /// Starts a session on an already read workbook; the previous session closes on its own thread.
    fn open_loaded(
        &mut self,
        path: &std::path::Path,
        workbook: Workbook,
        data_dir: Option<&std::path::Path>,
        waker: crate::engine::Waker,
    ) {
        if let Some(previous) = self.session.take() {
            // Stopping streams writes final checkpoints and may wait on a broker: not on this thread.
            let _ = std::thread::Builder::new().name("tidepool-close-workbook".into()).spawn(move || drop(previous));
        }
        self.notice = None;
        let options = EngineOptions {
            data_dir: paths::data_dir(data_dir),
            workbook_id: paths::workbook_id(&workbook, path),
            checkpoint_every: Duration::from_secs(5),
        };
        match Session::start(workbook, Some(path.to_path_buf()), options, None, waker) {
            Ok(session) => {
                self.persisted.last_workbook = Some(path.to_path_buf());
                self.session = Some(session);
            }
            Err(err) => self.notice = Some(format!("cannot start the engine: {err}")),
        }
    }

    /// One frame: shared by eframe and the UI tests.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if self.applied_theme != Some(self.persisted.theme) {
            ctx.set_visuals(self.persisted.theme.visuals());
            self.applied_theme = Some(self.persisted.theme);
        }
        if let Some(session) = &mut self.session {
            session.drain_events(EVENT_BUDGET);
            session.notices.retain(|notice| notice.at.elapsed() < panels::notices::NOTICE_SHOWN_FOR);
            ctx.request_repaint_after(LIVE_REPAINT);
        }
        self.take_dialog_outcome();
        self.ensure_selection();
        self.send_view_spec();
        let mut actions = panels::shortcuts(&ctx);
        actions.extend(dropped_imports(&ctx));
        actions.extend(panels::top_bar::top_bar_ui(ui, self));
        actions.extend(panels::streams::streams_panel_ui(ui, self));
        match (&mut self.report_builder, &self.session) {
            (Some(draft), Some(session)) => {
                if draft.poll(&session.workbook, &session.report_sources(), session.waker()) {
                    ctx.request_repaint();
                }
                actions.extend(panels::report_builder::report_builder_ui(ui, draft, session));
            }
            _ => actions.extend(panels::stream_view::central_ui(ui, self)),
        }
        if let (Some(draft), Some(session)) = (&mut self.editor, &self.session) {
            actions.extend(panels::editor::editor_window_ui(&ctx, draft, session));
        }
        if let (Some(draft), Some(session)) = (&mut self.import_editor, &self.session) {
            actions.extend(panels::import_editor::import_editor_window_ui(&ctx, draft, session));
        }
        if let Some(session) = &self.session {
            actions.extend(panels::notices::notices_ui(&ctx, &session.notices));
        }
        if self.overlay {
            panels::overlay::frame_overlay_ui(&ctx, &self.frame_ms);
        }
        for action in actions {
            self.apply(&ctx, action);
        }
        let frame_ms = started.elapsed().as_secs_f64() * 1_000.0;
        if self.frame_ms.len() >= FRAME_SAMPLES {
            self.frame_ms.pop_front();
        }
        self.frame_ms.push_back(frame_ms);
        if let Some(log) = &mut self.frame_log {
            log.record(frame_ms);
        }
    }

    fn take_dialog_outcome(&mut self) {
        use super::dialogs::DialogOutcome;
        match self.dialogs.poll() {
            Some(DialogOutcome::Opened { path, workbook }) => {
                self.open_loaded(&path, *workbook, None, self.waker.clone());
            }
            Some(DialogOutcome::SaveTo(path)) => {
                if let Some(session) = &mut self.session {
                    session.path = Some(path.clone());
                    session.save();
                    self.persisted.last_workbook = Some(path);
                }
            }
            Some(DialogOutcome::Failed(message)) => {
                if let Some(session) = &mut self.session {
                    session.save_message = Some(Err(message));
                } else {
                    self.notice = Some(message);
                }
            }
            Some(DialogOutcome::DataFile(path)) => match &mut self.import_editor {
                Some(draft) => {
                    draft.location = path.display().to_string();
                    if draft.name.is_empty() {
                        draft.name = super::import_editor::table_name_of(&path);
                    }
                }
                None => self.open_file_import(&path),
            },
            Some(DialogOutcome::ExportTo(table, path)) => self.with_session(|s| s.export_table(&table, path)),
            Some(DialogOutcome::ExportReportTo(report, path)) => self.with_session(|s| s.export_report(&report, path)),
            Some(DialogOutcome::ExportReportPngTo(report, path)) => {
                self.with_session(|s| s.export_report_png(&report, path));
            }
            Some(DialogOutcome::Cancelled) | None => {}
        }
    }

    /// Opens the import editor on a new import of `path`, and tests it at once.
    fn open_file_import(&mut self, path: &std::path::Path) {
        let Some(session) = &mut self.session else { return };
        let mut draft = super::import_editor::ImportDraft::for_file(path);
        // A second file of the same name gets its own table.
        let base = draft.name.clone();
        let mut counter = 2;
        while session.workbook.import(&draft.name).is_some() || session.workbook.stream(&draft.name).is_some() {
            draft.name = format!("{base}_{counter}");
            counter += 1;
        }
        if let Ok(spec) = draft.to_spec() {
            session.preview_import(spec);
        }
        self.import_editor = Some(draft);
    }

    fn ensure_selection(&mut self) {
        let Some(session) = &self.session else { return };
        let valid = self.persisted.selected_stream.as_ref().is_some_and(|name| session.streams.contains_key(name));
        if !valid {
            self.persisted.selected_stream = session.streams.keys().next().cloned();
        }
        let table = self.persisted.selected_table.clone();
        match table {
            Some(name) if session.workbook.import(&name).is_some() => {
                if let Some(session) = &mut self.session {
                    session.browse_table(&name);
                }
            }
            Some(_) => self.persisted.selected_table = None,
            None if session.streams.is_empty() => {
                // A workbook of imports only opens on its first table.
                self.persisted.selected_table = session.workbook.imports.first().map(|i| i.name.clone());
            }
            None => {}
        }
    }

    /// The view spec of the selected stream, from the persisted choices.
    pub fn current_view_spec(&self) -> Option<(String, StreamViewSpec)> {
        let session = self.session.as_ref()?;
        let name = self.persisted.selected_stream.clone()?;
        let state = session.streams.get(&name)?;
        let mut spec = default_view(&state.spec);
        if let Some(choice) = self.persisted.charts.get(&name) {
            if let Some(metric) = &choice.metric
                && let Some(index) = state.spec.rollup.metrics.iter().position(|m| &m.name == metric)
            {
                spec.metric = index;
            }
            spec.split_by =
                choice.split_by.as_ref().and_then(|d| state.spec.rollup.dimensions.iter().position(|x| x == d));
        }
        spec.window = self.persisted.window.duration();
        spec.top_n = self.persisted.top_n;
        spec.table = match self.persisted.tab {
            Tab::Table => TableRequest::Include {
                column: self.table_sort.as_ref().map(|(c, _)| c.clone()),
                descending: self.table_sort.as_ref().is_none_or(|(_, d)| *d),
            },
            Tab::Chart | Tab::Quarantine => TableRequest::Skip,
        };
        Some((name, spec))
    }

    fn send_view_spec(&mut self) {
        if let Some((name, spec)) = self.current_view_spec()
            && let Some(session) = &mut self.session
        {
            session.watch(&name, spec);
        }
    }

    pub fn table_sort(&self) -> Option<&(String, bool)> {
        self.table_sort.as_ref()
    }

    fn with_session(&mut self, change: impl FnOnce(&mut crate::ui::session::Session)) {
        if let Some(session) = &mut self.session {
            change(session);
        }
    }

    /// Writes the builder's report into the workbook and shows it; a refusal
    /// stays in the builder.
    fn save_report(&mut self) {
        let (Some(draft), Some(session)) = (&mut self.report_builder, &mut self.session) else { return };
        let problems = draft.problems(&session.workbook);
        if !problems.is_empty() {
            draft.save_error = Some(format!("Not saved: {}", problems.join("; ")));
            return;
        }
        let spec = draft.spec.clone();
        match session.put_report(&spec, draft.original.as_deref()) {
            Ok(()) => {
                self.report_builder = None;
                self.persisted.selected_table = None;
                session.report = None;
                session.show_report(&spec.name);
                self.selected_report = Some(spec.name);
            }
            Err(refused) => draft.save_error = Some(refused),
        }
    }

    fn apply(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::SelectStream(name) => {
                self.persisted.selected_stream = Some(name);
                self.persisted.selected_table = None;
                self.selected_report = None;
            }
            Action::SelectReport(name) => {
                self.with_session(|session| session.show_report(&name));
                self.selected_report = Some(name);
            }
            Action::RefreshReport => self.with_session(Session::refresh_report),
            Action::ExportReport(name) => self.dialogs.export_report(&name),
            Action::ExportReportPng(name) => self.dialogs.export_report_png(&name),
            Action::SetReportPng(options) => {
                if let Some(shown) = self.session.as_mut().and_then(|s| s.report.as_mut()) {
                    shown.png = options;
                }
            }
            Action::OpenReportBuilder(name) => {
                if let Some(session) = &self.session {
                    let draft = super::report_builder::ReportDraft::open(
                        &session.workbook,
                        name.as_deref(),
                        &session.report_sources(),
                        session.waker(),
                    );
                    self.report_builder = Some(draft);
                }
            }
            Action::CloseReportBuilder => self.report_builder = None,
            Action::RefreshReportDraft => {
                if let (Some(draft), Some(session)) = (&mut self.report_builder, &self.session) {
                    draft.refresh(&session.workbook, &session.report_sources(), session.waker());
                }
            }
            Action::SaveReport => self.save_report(),
            action @ (Action::OpenEditor(_)
            | Action::CloseEditor
            | Action::ListTopics(..)
            | Action::SampleTopic(..)
            | Action::RebuildAnyway(_)
            | Action::TestConnection(..)
            | Action::SaveStream(..)) => self.apply_to_stream_editor(action),
            action @ (Action::SetDemoRate(_) | Action::SetDemoLate(_) | Action::SetDemoMalformed(_)) => {
                self.apply_to_demo(&action);
            }
            action @ (Action::SelectTable(_)
            | Action::RunJobNow(_)
            | Action::PauseJob(..)
            | Action::SortImportTable(_)
            | Action::SetTableTab(_)
            | Action::OpenImportEditor(_)
            | Action::ImportFile(_)
            | Action::ChooseImportFile
            | Action::CloseImportEditor
            | Action::PreviewImport(_)
            | Action::SaveImport(..)
            | Action::ExportTable(_)
            | Action::AskDeleteImport(_)
            | Action::DeleteImport(_)
            | Action::DismissNotice(_)) => self.apply_to_imports(action),
            Action::SetTab(tab) => self.persisted.tab = tab,
            Action::SetWindow(window) => self.persisted.window = window,
            Action::SetMetric(metric) => self.chart_choice().metric = Some(metric),
            Action::SetSplit(split) => self.chart_choice().split_by = split,
            Action::SortTable(column) => {
                let descending = match &self.table_sort {
                    Some((current, descending)) if *current == column => !descending,
                    _ => true,
                };
                self.table_sort = Some((column, descending));
            }
            Action::ToggleTheme => self.persisted.theme = self.persisted.theme.toggled(),
            Action::ToggleOverlay => self.overlay = !self.overlay,
            Action::FocusSearch => ctx.memory_mut(|m| m.request_focus(egui::Id::unique(panels::streams::SEARCH_ID))),
            Action::OpenWorkbook => self.dialogs.open_workbook(),
            Action::SaveWorkbook => match &mut self.session {
                Some(session) if session.path.is_some() => session.save(),
                Some(session) => {
                    let name = session.workbook.display_name(std::path::Path::new("workbook"));
                    self.dialogs.save_workbook_as(&name);
                }
                None => {}
            },
            Action::SaveWorkbookAs => {
                if let Some(session) = &self.session {
                    let name = session.workbook.display_name(std::path::Path::new("workbook"));
                    self.dialogs.save_workbook_as(&name);
                }
            }
        }
    }

    /// The stream editor's actions.
    fn apply_to_stream_editor(&mut self, action: Action) {
        match action {
            Action::OpenEditor(stream) => {
                let Some(session) = &self.session else { return };
                let draft = match stream.as_ref().and_then(|name| session.streams.get(name)) {
                    Some(state) => super::editor::StreamDraft::from_spec(&state.spec),
                    None => super::editor::StreamDraft::new(
                        session.workbook.streams.first().map_or("localhost:9092", |s| s.brokers.as_str()),
                    ),
                };
                if let Some(session) = &mut self.session
                    && !draft.brokers.is_empty()
                {
                    let client = draft.client_spec();
                    session.list_topics(&draft.brokers, &client);
                    if !draft.topic.is_empty() {
                        session.sample_topic(&draft.brokers, &client, &draft.topic);
                    }
                }
                self.editor = Some(draft);
            }
            Action::CloseEditor => self.editor = None,
            Action::ListTopics(brokers, client) => {
                if let Some(session) = &mut self.session {
                    session.list_topics(&brokers, &client);
                }
            }
            Action::SampleTopic(brokers, client, topic) => {
                if let Some(session) = &mut self.session {
                    session.sample_topic(&brokers, &client, &topic);
                }
            }
            Action::RebuildAnyway(stream) => {
                if let Some(session) = &mut self.session {
                    session.rebuild_anyway(&stream);
                }
            }
            Action::TestConnection(brokers, client, topic) => {
                if let Some(session) = &mut self.session {
                    session.test_connection(&brokers, &client, topic);
                }
            }
            Action::SaveStream(spec, original) => {
                if let Some(session) = &mut self.session {
                    let name = spec.name.clone();
                    session.put_stream(*spec, original.as_deref());
                    self.persisted.selected_stream = Some(name);
                    self.persisted.tab = Tab::Chart;
                }
                self.editor = None;
            }
            _ => {}
        }
    }

    /// The demo's controls: event rate, shares of late and malformed events.
    fn apply_to_demo(&self, action: &Action) {
        let Some(demo) = self.session.as_ref().and_then(|s| s.demo.as_ref()) else { return };
        let (control, value) = match action {
            Action::SetDemoRate(rate) => (&demo.controls.rate, *rate),
            Action::SetDemoLate(per_mille) => (&demo.controls.late_per_mille, *per_mille),
            Action::SetDemoMalformed(per_mille) => (&demo.controls.malformed_per_mille, *per_mille),
            _ => return,
        };
        control.store(value, std::sync::atomic::Ordering::Relaxed);
    }

    /// The actions on imports, exports and their tables.
    fn apply_to_imports(&mut self, action: Action) {
        match action {
            Action::SelectTable(name) => {
                self.selected_report = None;
                self.with_session(|session| session.browse_table(&name));
                self.persisted.selected_table = Some(name);
            }
            Action::SortImportTable(column) => self.with_session(|session| session.sort_table(&column)),
            Action::SetTableTab(tab) => self.table_tab = tab,
            Action::OpenImportEditor(name) => {
                let Some(session) = &mut self.session else { return };
                session.preview = None;
                self.import_editor = Some(match name.as_ref().and_then(|name| session.workbook.import(name)) {
                    Some(spec) => super::import_editor::ImportDraft::from_spec(spec),
                    None => super::import_editor::ImportDraft::new(),
                });
            }
            Action::ImportFile(path) => self.open_file_import(&path),
            Action::ChooseImportFile => self.dialogs.pick_data_file(),
            Action::CloseImportEditor => {
                self.import_editor = None;
                self.with_session(|session| session.preview = None);
            }
            Action::PreviewImport(spec) => self.with_session(|session| session.preview_import(*spec)),
            Action::SaveImport(spec, original) => {
                let Some(session) = &mut self.session else { return };
                let name = spec.name.clone();
                match session.put_import(&spec, original.as_deref()) {
                    Ok(()) => {
                        self.import_editor = None;
                        session.preview = None;
                        self.persisted.selected_table = Some(name.clone());
                        session.browse_table(&name);
                    }
                    Err(refused) => {
                        if let Some(draft) = &mut self.import_editor {
                            draft.save_error = Some(refused);
                        }
                    }
                }
            }
            Action::ExportTable(name) => self.dialogs.export_table(&name),
            Action::AskDeleteImport(name) => self.confirming_delete = Some(name),
            Action::DeleteImport(name) => {
                self.confirming_delete = None;
                let Some(session) = &mut self.session else { return };
                match session.delete_import(&name) {
                    Ok(()) => self.persisted.selected_table = None,
                    Err(refused) => session.save_message = Some(Err(refused)),
                }
            }
            Action::DismissNotice(index) => self.with_session(|session| {
                if index < session.notices.len() {
                    session.notices.remove(index);
                }
            }),
            Action::RunJobNow(name) => self.with_session(|session| session.run_job_now(&name)),
            Action::PauseJob(name, paused) => self.with_session(|session| session.set_job_paused(&name, paused)),
            _ => {}
        }
    }

    fn chart_choice(&mut self) -> &mut ChartChoice {
        let name = self.persisted.selected_stream.clone().unwrap_or_default();
        self.persisted.charts.entry(name).or_default()
    }
}

/// Files dropped on the window that a file import reads: each opens the import editor.
fn dropped_imports(ctx: &egui::Context) -> Vec<Action> {
    ctx.input(|input| {
        input
            .raw
            .dropped_files
            .iter()
            .map(|file| file.path().to_path_buf())
            .filter(|path| super::import_editor::is_importable_file(path))
            .take(1)
            .map(Action::ImportFile)
            .collect()
    })
}

/// A waker that repaints `ctx`.
pub fn repaint_waker(ctx: &egui::Context) -> crate::engine::Waker {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint())
}

/// The settings saved by a previous run, if any.
pub fn load_persisted(storage: Option<&dyn eframe::Storage>) -> Persisted {
    storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default()
}

impl eframe::App for TidepoolApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted);
    }
}
