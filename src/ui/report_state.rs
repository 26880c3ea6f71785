//! The report shown in the central area: its answer computed on a
//! background thread over its datasets (a running stream's live snapshot, the
//! tables' current versions), recomputed on Refresh and while it is shown:
//! over a running stream as soon as the stream has published a newer
//! snapshot (a few times a second while events arrive, never while it is
//! quiet; only the time groups whose buckets changed are computed again), and
//! every few seconds for the tables' new versions; the window
//! never waits for it, and a computation is never started while the previous
//! one still runs (the next starts from fresher data instead).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use crate::engine::chart::ReportChart;
use crate::engine::report::{JoinStats, LiveAnswer, ReportAnswer};

use crate::engine::report::ReportSources;
use crate::model::Workbook;
use crate::model::reports::ReportSpec;
use crate::ui::background::Pending;

/// How often a shown report is recomputed for its tables' new versions.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// What a background computation hands back: the answer and its chart.
pub type Computed = (ReportAnswer, Result<Option<ReportChart>, String>);

/// One shown report's cache of live answers per time group, kept between its
/// computations (which never overlap) on their background threads.
pub type LiveCache = Arc<Mutex<LiveAnswer>>;

/// Computes `report` over its datasets and draws its chart: the work of a
/// background thread (the shown report's and the builder's preview). With
/// `live`, a report over a running stream computes again only the time groups
/// whose buckets changed since the cache's last computation.
pub fn compute_with_chart(
    workbook: &Workbook,
    report: &ReportSpec,
    sources: &ReportSources,
    live: Option<&LiveCache>,
) -> Result<Computed, String> {
    let answer = match live {
        Some(live) => live.lock().unwrap_or_else(PoisonError::into_inner).run(workbook, report, sources),
        None => crate::engine::report::run_report(workbook, report, sources),
    };
    let answer = answer.map_err(|err| err.to_string())?;
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
    freshness: Freshness,
    live_cache: LiveCache,
}

/// What a shown answer was computed from, to tell when it is out of date.
#[derive(Debug, Default)]
pub struct Freshness {
    started: Option<Instant>,
    /// The live snapshot the computation read (when it published), if it read one.
    from_snapshot: Option<i64>,
    /// How long the last computation took: the next starts no sooner than
    /// `report::refresh_back_off` of it after it started, so that a big live
    /// report leaves the streams their cores.
    took: Duration,
}

impl Freshness {
    /// A computation of `report` starts now, over what `sources` hold now.
    pub fn started(&mut self, report: &ReportSpec, sources: &ReportSources) {
        self.started = Some(Instant::now());
        self.from_snapshot = sources.live.serving(&report.from).map(|snapshot| snapshot.meta.published_micros);
    }

    /// The computation started last has finished.
    pub fn finished(&mut self) {
        self.took = self.started.map_or(Duration::ZERO, |started| started.elapsed());
    }

    /// Whether `report` should be computed again: its stream published a newer
    /// snapshot (or stopped), or its tables may have new versions.
    pub fn is_stale(&self, report: &ReportSpec, sources: &ReportSources) -> bool {
        let Some(started) = self.started else { return true };
        let elapsed = started.elapsed();
        if elapsed < crate::engine::report::refresh_back_off(self.took) {
            return false;
        }
        let latest = sources.live.serving(&report.from).map(|snapshot| snapshot.meta.published_micros);
        latest != self.from_snapshot || elapsed >= REFRESH_EVERY
    }

    /// Whether the computation started last read a running stream's live snapshot.
    pub fn is_live(&self) -> bool {
        self.from_snapshot.is_some()
    }
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
            freshness: Freshness::default(),
            live_cache: LiveCache::default(),
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
        self.freshness.started(&report, sources);
        self.live = self.freshness.is_live();
        let (workbook, sources, live) = (workbook.clone(), sources.clone(), self.live_cache.clone());
        self.computing = Some(Pending::spawn("tidepool-report", wake.clone(), move || {
            compute_with_chart(&workbook, &report, &sources, Some(&live))
        }));
    }

    pub fn is_computing(&self) -> bool {
        self.computing.as_ref().is_some_and(Pending::is_running)
    }

    /// Takes a finished computation; starts the next when one is due. Answers whether anything changed.
    pub fn poll(&mut self, workbook: &Workbook, sources: &ReportSources, wake: &crate::engine::Waker) -> bool {
        let Some(answer) = self.computing.as_mut().and_then(Pending::take) else {
            let stale = workbook.report(&self.name).is_some_and(|report| self.freshness.is_stale(report, sources));
            if !self.is_computing() && stale {
                self.refresh(workbook, sources, wake);
            }
            return false;
        };
        self.computing = None;
        self.freshness.finished();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshots::SnapshotMeta;

    #[test]
    fn a_live_answer_is_stale_once_its_stream_publishes_newer_data_or_stops() {
        let spec = crate::model::workbook::test_stream(
            "granularity = \"1m\"\ndimensions = []\nmetrics = [{ name = \"events\", kind = \"count\" }]",
        );
        let report: ReportSpec =
            toml::from_str("name = \"r\"\nfrom = \"s\"\nmeasures = [{ name = \"events\", metric = \"events\" }]")
                .unwrap();
        let context = crate::engine::imports::ImportContext {
            data_dir: "unused".into(),
            workbook_id: "w".into(),
            base_dir: "unused".into(),
        };
        let sources = ReportSources::stored(context);
        let publish = |published_micros| {
            let changes = crate::engine::rollup::RollupState::new(&spec.rollup.shape()).encode_all().unwrap();
            sources.live.publish(
                "s",
                &changes,
                SnapshotMeta { counted: published_micros as u64, published_micros, ..SnapshotMeta::default() },
            );
        };
        publish(1);
        let mut freshness = Freshness::default();
        assert!(freshness.is_stale(&report, &sources), "never computed");
        freshness.started(&report, &sources);
        freshness.finished();
        assert!(freshness.is_live());
        assert!(!freshness.is_stale(&report, &sources), "nothing new: a quiet stream is not recomputed");
        publish(2);
        // Past the back-off (eight times the last computation's few microseconds).
        std::thread::sleep(Duration::from_millis(2));
        assert!(freshness.is_stale(&report, &sources), "the stream published newer data");
        freshness.started(&report, &sources);
        freshness.finished();
        assert!(!freshness.is_stale(&report, &sources));
        sources.live.withdraw("s");
        std::thread::sleep(Duration::from_millis(2));
        assert!(freshness.is_stale(&report, &sources), "the stream stopped: its checkpoint is read instead");
    }
}
