//! The report shown in the central area: its answer computed on a
//! background thread over the stored datasets (the stream's last checkpoint,
//! the tables' current versions), recomputed on Refresh and every few
//! seconds while it is shown; the window never waits for it.

use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use crate::engine::chart::ReportChart;
use crate::engine::report::{JoinStats, ReportAnswer};

use crate::engine::imports::ImportContext;
use crate::model::Workbook;
use crate::model::reports::ReportSpec;
use crate::ui::background::Pending;

/// How often a shown report is recomputed on its own.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// What a background computation hands back: the answer and its chart.
pub type Computed = (ReportAnswer, Result<Option<ReportChart>, String>);

/// Computes `report` over the stored datasets and draws its chart: the work
/// of a background thread (the shown report's and the builder's preview).
pub fn compute_with_chart(
    workbook: &Workbook,
    report: &ReportSpec,
    context: &ImportContext,
) -> Result<Computed, String> {
    let answer = crate::engine::report::run_report(workbook, report, context).map_err(|err| err.to_string())?;
    let now = chrono::Utc::now().timestamp_micros();
    let chart = crate::engine::report::chart::report_chart(workbook.stream(&report.from), report, &answer.frame, now);
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
    pub error: Option<String>,
    /// The size and look of the chart's PNG export.
    pub png: crate::ui::png::PngOptions,
    computing: Option<Pending<Result<Computed, String>>>,
    started: Instant,
}

impl ReportState {
    /// Starts computing report `name` of `workbook`.
    pub fn open(name: &str, workbook: &Workbook, context: &ImportContext, wake: &crate::engine::Waker) -> Self {
        let mut state = Self {
            name: name.to_string(),
            answer: None,
            chart: None,
            chart_error: None,
            cut_at: None,
            joins: Vec::new(),
            computed_at: None,
            error: None,
            png: crate::ui::png::PngOptions::default(),
            computing: None,
            started: Instant::now(),
        };
        state.refresh(workbook, context, wake);
        state
    }

    /// Computes the report again (unless a computation is still running).
    pub fn refresh(&mut self, workbook: &Workbook, context: &ImportContext, wake: &crate::engine::Waker) {
        if self.computing.as_ref().is_some_and(Pending::is_running) {
            return;
        }
        let Some(report) = workbook.report(&self.name).cloned() else {
            self.error = Some(format!("the workbook has no report `{}` any more", self.name));
            return;
        };
        let (workbook, context) = (workbook.clone(), context.clone());
        self.started = Instant::now();
        self.computing = Some(Pending::spawn("tidepool-report", wake.clone(), move || {
            compute_with_chart(&workbook, &report, &context)
        }));
    }

    pub fn is_computing(&self) -> bool {
        self.computing.as_ref().is_some_and(Pending::is_running)
    }

    /// Takes a finished computation; starts the next when one is due. Answers whether anything changed.
    pub fn poll(&mut self, workbook: &Workbook, context: &ImportContext, wake: &crate::engine::Waker) -> bool {
        let Some(answer) = self.computing.as_mut().and_then(Pending::take) else {
            if !self.is_computing() && self.started.elapsed() >= REFRESH_EVERY {
                self.refresh(workbook, context, wake);
            }
            return false;
        };
        self.computing = None;
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
