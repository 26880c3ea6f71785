//! The window's panels. Each draws from the app's state and returns
//! [`Action`]s instead of changing shared state itself.

pub mod chart;
pub mod editor;
pub mod import_editor;
pub mod notices;
pub mod overlay;
pub mod quarantine;
pub mod report_builder;
pub mod report_view;
pub mod stream_view;
pub mod streams;
pub mod table;
pub mod table_view;
pub mod top_bar;

use std::time::Duration;

use egui::{Key, KeyboardShortcut, Modifiers};
use serde::{Deserialize, Serialize};

/// Something the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SelectStream(String),
    SetTab(Tab),
    SetWindow(TimeWindow),
    SetMetric(String),
    SetSplit(Option<String>),
    SortTable(String),
    ToggleTheme,
    ToggleOverlay,
    FocusSearch,
    SetDemoRate(u32),
    SetDemoMalformed(u32),
    SetDemoLate(u32),
    /// Open the stream editor on a new stream (`None`) or an existing one.
    OpenEditor(Option<String>),
    CloseEditor,
    /// List the topics of these brokers with these client settings.
    ListTopics(String, Box<crate::model::KafkaClientSpec>),
    /// Sample a topic: brokers, client settings, topic.
    SampleTopic(String, Box<crate::model::KafkaClientSpec>, String),
    /// Test a connection stage by stage: brokers, client settings, topic.
    TestConnection(String, Box<crate::model::KafkaClientSpec>, Option<String>),
    /// Choose a workbook file to open.
    OpenWorkbook,
    /// Save the workbook to its file (or ask where, for the demo).
    SaveWorkbook,
    /// Save the workbook to a new file.
    SaveWorkbookAs,
    /// Rebuild a changed stream even though the topic lost some of its history.
    RebuildAnyway(String),
    /// Add or replace (the named original) stream.
    SaveStream(Box<crate::model::StreamSpec>, Option<String>),
    /// Run an import or export now.
    RunJobNow(String),
    /// Pause (true) or resume an import's or export's schedule.
    PauseJob(String, bool),
    /// Show an import's table in the central area.
    SelectTable(String),
    /// Show a report's answer in the central area.
    SelectReport(String),
    /// Compute the shown report again.
    RefreshReport,
    /// Export a report's whole answer to a file (asks where).
    ExportReport(String),
    /// Ask where to write report `.0`'s chart as a PNG.
    ExportReportPng(String),
    /// The shown report's PNG size and look changed.
    SetReportPng(crate::ui::png::PngOptions),
    /// Open the report builder on a new report (`None`) or an existing one.
    OpenReportBuilder(Option<String>),
    CloseReportBuilder,
    /// Write the builder's report into the workbook.
    SaveReport,
    /// Compute the builder's preview again.
    RefreshReportDraft,
    /// Sort the shown table by a column (again: the other way).
    SortImportTable(String),
    /// Show the table's data, schema or run history.
    SetTableTab(TableTab),
    /// Open the import editor on a new import (`None`) or an existing one.
    OpenImportEditor(Option<String>),
    /// Open the import editor on a new file import of this file.
    ImportFile(std::path::PathBuf),
    /// Choose a file for the import editor's path (Open dialog).
    ChooseImportFile,
    CloseImportEditor,
    /// Fetch the first rows of this import without saving it (Test).
    PreviewImport(Box<crate::model::ImportSpec>),
    /// Add or replace (the named original) import.
    SaveImport(Box<crate::model::ImportSpec>, Option<String>),
    /// Ask to confirm removing an import.
    AskDeleteImport(String),
    /// Remove an import from the workbook (confirmed already).
    DeleteImport(String),
    /// Export a table's current version to a file (asks where).
    ExportTable(String),
    /// Dismiss a failure notice (by index).
    DismissNotice(usize),
}

/// The views of an imported table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableTab {
    #[default]
    Data,
    Schema,
    History,
}

/// The views of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    #[default]
    Chart,
    Table,
    Quarantine,
}

/// How much history a chart shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeWindow {
    LastFiveMinutes,
    #[default]
    LastHour,
    LastDay,
    All,
}

impl TimeWindow {
    pub const ALL: [Self; 4] = [Self::LastFiveMinutes, Self::LastHour, Self::LastDay, Self::All];

    pub fn duration(self) -> Option<Duration> {
        match self {
            Self::LastFiveMinutes => Some(Duration::from_mins(5)),
            Self::LastHour => Some(Duration::from_hours(1)),
            Self::LastDay => Some(Duration::from_hours(24)),
            Self::All => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::LastFiveMinutes => "5 min",
            Self::LastHour => "1 h",
            Self::LastDay => "24 h",
            Self::All => "all",
        }
    }
}

pub const SHORTCUT_OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const SHORTCUT_SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
pub const SHORTCUT_SAVE_AS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S);
pub const SHORTCUT_NEW_STREAM: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
pub const SHORTCUT_NEW_IMPORT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::I);
pub const SHORTCUT_THEME: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::T);
pub const SHORTCUT_SEARCH: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
pub const SHORTCUT_CHART: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Num1);
pub const SHORTCUT_TABLE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Num2);
pub const SHORTCUT_QUARANTINE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Num3);

/// Keyboard shortcuts of the whole window.
pub fn shortcuts(ctx: &egui::Context) -> Vec<Action> {
    let mut actions = Vec::new();
    ctx.input_mut(|input| {
        if input.consume_key(Modifiers::NONE, Key::F12) {
            actions.push(Action::ToggleOverlay);
        }
        // The longer shortcut first, so Ctrl+Shift+S is not taken for Ctrl+S.
        for (shortcut, action) in [
            (SHORTCUT_SAVE_AS, Action::SaveWorkbookAs),
            (SHORTCUT_SAVE, Action::SaveWorkbook),
            (SHORTCUT_OPEN, Action::OpenWorkbook),
            (SHORTCUT_THEME, Action::ToggleTheme),
            (SHORTCUT_NEW_STREAM, Action::OpenEditor(None)),
            (SHORTCUT_NEW_IMPORT, Action::OpenImportEditor(None)),
            (SHORTCUT_SEARCH, Action::FocusSearch),
            (SHORTCUT_CHART, Action::SetTab(Tab::Chart)),
            (SHORTCUT_TABLE, Action::SetTab(Tab::Table)),
            (SHORTCUT_QUARANTINE, Action::SetTab(Tab::Quarantine)),
        ] {
            if input.consume_shortcut(&shortcut) {
                actions.push(action);
            }
        }
    });
    actions
}
