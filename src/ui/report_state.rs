//! The report shown in the central area: its answer computed on a
//! background thread over its datasets (a running stream's live snapshot, the
//! tables' current versions), recomputed on Refresh, every second while it
//! is shown over a running stream (every few seconds over tables only); the
//! window never waits for it, and a computation is never started while the
//! previous one still runs (the next starts from fresher data instead).

use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use crate::engine::chart::ReportChart;
use crate::engine::report::{JoinStats, ReportAnswer};

use crate::engine::report::ReportSources;
use crate::model::Workbook;
use crate::model::reports::ReportSpec;
use crate::ui::background::Pending;

/// How often a shown report over imported tables only is recomputed on its own.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// How often a shown report over a running stream is recomputed.
pub const LIVE_REFRESH_EVERY: Duration = Duration::from_secs(1);

/// What a background computation hands back: the answer and its chart.
pub type Computed = (ReportAnswer, Result<Option<ReportChart>, String>);

/// Computes `report` over the stored datasets and draws its chart: the work
/// of a background thread (the shown report's and the builder's preview).
pub fn compute_with_chart(
    workbook: &Workbook,
    report: &ReportSpec,
    sources: &ReportSources,
) -> Result<Computed, String> {
    let answer = crate::engine::report::run_report(workbook, report, sources).map_err(|err| err.to_string())?;
    let now = chrono::Utc::now().timestamp_micros();
    let chart = crate::engine::report::chart::answer_chart(workbook.stream(&report.from), report, &answer, now);
    Ok((answer, chart))
}

#[derive(Debug)]
pub struct ReportState {
    pub name: String,
    pub answer: Option<DataFrame>,
    /// The answer drawn (unless the report is a table).
    pub chart: Option<ReportChart>,
    /// Why the answer could not be drawn.
    pub chart_error: Option<String>,
    /// The report's row limit, when the shown answer reached it.
    pub cut_at: Option<usize>,
    /// What each join of the shown answer matched.
    pub joins: Vec<JoinStats>,
    /// When the shown answer was computed (local time).
    pub computed_at: Option<chrono::DateTime<chrono::Local>>,
    /// Whether the computation running or last started reads a running stream's live rollup.
    pub live: bool,
    pub error: Option<String>,
    /// The size and look of the chart's PNG export.
    pub png: crate::ui::png::PngOptions,
    computing: Option<Pending<Result<Computed, String>>>,
    started: Instant,
    /// How long the last computation took: a report that takes long is
    /// computed again no sooner than twice that after it started, so that a
    /// big live report leaves a core to the streams.
    took: Duration,
}

impl ReportState {
    /// Starts computing report `name` of `workbook`.
    pub fn open(name: &str, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) -> Self {
        let mut state = Self {
            name: name.to_string(),
            answer: None,
            chart: None,
            chart_error: None,
            cut_at: None,
            joins: Vec::new(),
            computed_at: None,
            live: false,
            error: None,
            png: crate::ui::png::PngOptions::default(),
            computing: None,
            started: Instant::now(),
            took: Duration::ZERO,
        };
        state.refresh(workbook, sources, wake);
        state
    }

    /// Computes the report again (unless a computation is still running).
    pub fn refresh(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) {
        if self.computing.as_ref().is_some_and(Pending::is_running) {
            return;
        }
        let Some(report) = workbook.report(&self.name).cloned() else {
            self.error = Some(format!("the workbook has no report `{}` any more", self.name));
            return;
        };
        self.live = sources.live.serving(&report.from).is_some();
        let (workbook, sources) = (workbook.clone(), sources.clone());
        self.started = Instant::now();
        self.computing = Some(Pending::spawn("tidepool-report", wake.clone(), move || {
            compute_with_chart(&workbook, &report, &sources)
        }));
    }

    pub fn is_computing(&self) -> bool {
        self.computing.as_ref().is_some_and(Pending::is_running)
    }

    /// Takes a finished computation; starts the next when one is due. Answers whether anything changed.
    pub fn poll(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) -> bool {
        let Some(answer) = self.computing.as_mut().and_then(Pending::take) else {
            let due = workbook.report(&self.name).map_or(REFRESH_EVERY, |report| refresh_every(report, sources));
            if !self.is_computing() && self.started.elapsed() >= due.max(self.took * 2) {
                self.refresh(workbook, sources, wake);
            }
            return false;
        };
        self.computing = None;
        self.took = self.started.elapsed();
        match answer.and_then(|answer| answer) {
            Ok((answer, chart)) => {
                let limit = workbook.report(&self.name).and_then(|report| report.limit);
                self.cut_at = limit.filter(|limit| answer.frame.height() >= *limit);
                (self.chart, self.chart_error) = match chart {
                    Ok(chart) => (chart, None),
                    Err(error) => (None, Some(error)),
                };
                self.answer = Some(answer.frame);
                self.joins = answer.joins;
                self.computed_at = Some(chrono::Local::now());
                self.error = None;
            }
            Err(error) => self.error = Some(error),
        }
        true
    }
}

/// How often `report` is recomputed while shown: every second when it reads a
/// running stream's live rollup, else every few seconds.
pub fn refresh_every(report: &ReportSpec, sources: &ReportSources) -> Duration {
    if sources.live.serving(&report.from).is_some() { LIVE_REFRESH_EVERY } else { REFRESH_EVERY }
}
