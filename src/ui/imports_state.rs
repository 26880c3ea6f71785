//! What the window knows of each import and export: the scheduler's events
//! folded into a status line, progress, the next run and the last error.
//!
//! Plain state; the session owns it and the left panel draws it.

use chrono::{DateTime, Utc};

use crate::engine::schedule::SchedulerEvent;

/// One import or export as the left panel shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobState {
    pub kind: JobKind,
    pub running: bool,
    /// Rows fetched so far by the running run.
    pub progress_rows: u64,
    pub paused: bool,
    pub next_run: Option<DateTime<Utc>>,
    /// The last run's outcome in words (`version 3 · 1,204 rows`).
    pub last_outcome: Option<String>,
    /// The last failed run's error (cleared by a success).
    pub failure: Option<String>,
}

/// Whether a job imports into a table or exports out of one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobKind {
    #[default]
    Import,
    Export,
}

impl JobState {
    /// Folds one scheduler event about this job into the state.
    pub fn apply(&mut self, event: &SchedulerEvent) {
        match event {
            SchedulerEvent::RunStarted { .. } => {
                self.running = true;
                self.progress_rows = 0;
            }
            SchedulerEvent::RunProgress { progress, .. } => self.progress_rows = progress.rows,
            SchedulerEvent::RunRetrying { message, .. } => self.failure = Some(message.clone()),
            SchedulerEvent::RunSucceeded { summary, .. } => {
                self.running = false;
                self.failure = None;
                let bad = if summary.bad_rows > 0 {
                    format!(" · {} bad rows left out", summary.bad_rows)
                } else {
                    String::new()
                };
                self.last_outcome = Some(format!(
                    "version {} · {} rows{bad}",
                    summary.version.version,
                    crate::ui::session::group_digits(summary.version.rows)
                ));
            }
            SchedulerEvent::ExportSucceeded { summary, .. } => {
                self.running = false;
                self.failure = None;
                self.last_outcome = Some(format!("wrote {} rows", crate::ui::session::group_digits(summary.rows)));
            }
            SchedulerEvent::RunFailed { message, .. } => {
                self.running = false;
                self.failure = Some(message.clone());
            }
            SchedulerEvent::NextRun { at, .. } => self.next_run = *at,
        }
    }

    /// The status line: running with progress, else the last outcome.
    pub fn status_text(&self) -> String {
        if self.running {
            return format!("running · {} rows so far", crate::ui::session::group_digits(self.progress_rows));
        }
        if self.paused {
            return "paused".into();
        }
        self.last_outcome.clone().unwrap_or_else(|| "not run yet".into())
    }
}

/// The job an event is about.
pub fn job_of(event: &SchedulerEvent) -> &str {
    match event {
        SchedulerEvent::RunStarted { import, .. }
        | SchedulerEvent::RunProgress { import, .. }
        | SchedulerEvent::RunRetrying { import, .. }
        | SchedulerEvent::RunSucceeded { import, .. }
        | SchedulerEvent::RunFailed { import, .. }
        | SchedulerEvent::NextRun { import, .. } => import,
        SchedulerEvent::ExportSucceeded { export, .. } => export,
    }
}
