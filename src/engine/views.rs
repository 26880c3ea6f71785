//! The view of the watched stream — its chart over the chosen window, the
//! rollup table sorted as asked, the latest quarantined records — computed on
//! a query thread of its own from the stream's live snapshot (`snapshots.rs`),
//! never on the stream's thread, so watching a stream does not slow its
//! ingestion. A view is computed again when a new snapshot is published (looked
//! for four times a second), when the view asked for changes, and every second
//! while its window moves with the clock; the table, the costly part, at most
//! every two seconds. A view that takes long to compute (a rollup of a million
//! rows) is computed less often, so that the thread is busy a quarter of the
//! time at most and leaves the cores to ingestion.
//!
//! Owns the views thread. Must not touch the consumer or the state store.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polars::prelude::{DataFrame, SortMultipleOptions};

use crate::engine::chart::TimeChart;
use crate::engine::rollup::series::SeriesQuery;
use crate::engine::rollup::{RollupFrame, RollupState};
use crate::engine::snapshots::{RollupSnapshot, Snapshots};
use crate::engine::{Event, EventSink, StreamViewData, StreamViewSpec, TableRequest};
use crate::model::StreamSpec;
use crate::model::workbook::{BUCKET_COLUMN, MetricKind, MetricSpec};

/// How often the views thread looks for a new snapshot.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// How often a view whose window moves with the clock is drawn again, new data or not.
const MOVING_WINDOW_EVERY: Duration = Duration::from_secs(1);
/// How often the table of a watched stream is sorted again.
const TABLE_EVERY: Duration = Duration::from_secs(2);

enum ViewControl {
    Watch { stream: Box<StreamSpec>, view: StreamViewSpec },
    Unwatch,
}

/// The views thread: at most one stream is watched at a time.
#[derive(Debug)]
pub struct ViewQueries {
    controls: Option<SyncSender<ViewControl>>,
    thread: Option<JoinHandle<()>>,
}

impl ViewQueries {
    pub fn start(snapshots: Snapshots, sink: EventSink) -> std::io::Result<Self> {
        let (controls, incoming) = sync_channel(64);
        let thread = std::thread::Builder::new()
            .name("tidepool-views".into())
            .spawn(move || serve(&incoming, &snapshots, &sink))?;
        Ok(Self { controls: Some(controls), thread: Some(thread) })
    }

    /// Watch stream `stream` (instead of any other) with `view`.
    pub fn watch(&self, stream: &StreamSpec, view: StreamViewSpec) {
        self.send(ViewControl::Watch { stream: Box::new(stream.clone()), view });
    }

    pub fn unwatch(&self) {
        self.send(ViewControl::Unwatch);
    }

    fn send(&self, control: ViewControl) {
        if let Some(controls) = &self.controls {
            let _ = controls.send(control);
        }
    }
}

impl Drop for ViewQueries {
    fn drop(&mut self) {
        drop(self.controls.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watched stream and what was last sent of it.
struct Watched {
    stream: Box<StreamSpec>,
    view: StreamViewSpec,
    /// The snapshot the last view was computed from, and when.
    shown: Option<(Arc<RollupSnapshot>, Instant)>,
    /// How long the last view took to compute (the table included, when it was).
    took: Duration,
    table: Option<(Instant, Arc<DataFrame>)>,
    /// How long the table took to read and sort last time.
    table_took: Duration,
}

/// A view is computed again no sooner than this many times its last computation took.
const BUSY_SHARE: u32 = 4;

fn serve(controls: &Receiver<ViewControl>, snapshots: &Snapshots, sink: &EventSink) {
    let mut watched: Option<Watched> = None;
    loop {
        match controls.recv_timeout(LOOK_EVERY) {
            Ok(ViewControl::Watch { stream, view }) => {
                // The same stream keeps its table until the next is due.
                let table = watched.take().filter(|w| w.stream.name == stream.name).and_then(|w| w.table);
                watched = Some(Watched {
                    stream,
                    view,
                    shown: None,
                    took: Duration::ZERO,
                    table,
                    table_took: Duration::ZERO,
                });
            }
            Ok(ViewControl::Unwatch) => watched = None,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Some(watched) = &mut watched {
            watched.send_if_due(snapshots, sink);
        }
    }
}

impl Watched {
    fn send_if_due(&mut self, snapshots: &Snapshots, sink: &EventSink) {
        let Some(snapshot) = snapshots.latest(&self.stream.name) else { return };
        let due = match &self.shown {
            None => true,
            Some((shown, at)) => {
                (!Arc::ptr_eq(shown, &snapshot) || (self.view.window.is_some() && at.elapsed() >= MOVING_WINDOW_EVERY))
                    && at.elapsed() >= self.took * BUSY_SHARE
            }
        };
        if !due {
            return;
        }
        let started = Instant::now();
        let computed = self.compute(&snapshot);
        self.took = started.elapsed();
        match computed {
            Ok(view) => {
                self.shown = Some((snapshot, Instant::now()));
                sink.offer(Event::StreamViewUpdated { stream: self.stream.name.clone(), view: Arc::new(view) });
            }
            Err(why) => {
                // Tried again with the next snapshot.
                self.shown = Some((snapshot, Instant::now()));
                tracing::warn!(stream = %self.stream.name, "cannot compute the stream's view: {why}");
            }
        }
    }

    fn compute(&mut self, snapshot: &RollupSnapshot) -> Result<StreamViewData, String> {
        let now = chrono::Utc::now().timestamp_micros();
        let granularity = self.stream.rollup.granularity.micros();
        let wants_table = matches!(self.view.table, TableRequest::Include { .. })
            && self.table.as_ref().is_none_or(|(at, _)| at.elapsed() >= TABLE_EVERY.max(self.table_took * BUSY_SHARE));
        // Only the window's buckets are read, unless the whole rollup is needed anyway.
        let whole = if wants_table || self.view.window.is_none() { Some(snapshot.rollup(..)?) } else { None };
        let chart = match (&whole, self.view.window) {
            (Some(whole), _) => view_chart(&self.stream, whole, &self.view, now),
            (None, Some(window)) => {
                let start = now.saturating_sub(i64::try_from(window.as_micros()).unwrap_or(i64::MAX));
                let recent = snapshot.rollup(start.saturating_sub(granularity)..)?;
                view_chart(&self.stream, &recent, &self.view, now)
            }
            (None, None) => unreachable!("a view without a window reads the whole rollup"),
        };
        if let (Some(whole), TableRequest::Include { column, descending }) = (&whole, &self.view.table)
            && wants_table
        {
            let started = Instant::now();
            self.table = Some((Instant::now(), sorted_table(whole, column.as_deref(), *descending)?));
            self.table_took = started.elapsed();
        }
        let table = match self.view.table {
            TableRequest::Skip => None,
            TableRequest::Include { .. } => self.table.as_ref().map(|(_, table)| table.clone()),
        };
        Ok(StreamViewData {
            spec: self.view.clone(),
            chart,
            table,
            recent_quarantine: snapshot.meta.recent_quarantine.to_vec(),
        })
    }
}

/// The chart a watcher asked for: the metric split by the dimension over the
/// window ending now (all of the rollup when the window is `None`).
fn view_chart(spec: &StreamSpec, rollup: &RollupState, view: &StreamViewSpec, now: i64) -> TimeChart {
    let granularity = spec.rollup.granularity.micros();
    let start = match view.window {
        Some(window) => now.saturating_sub(i64::try_from(window.as_micros()).unwrap_or(i64::MAX)),
        None => rollup.earliest_bucket().unwrap_or(now).min(now),
    };
    let end = match view.window {
        Some(_) => now.max(start + 1),
        None => rollup.latest_bucket().map_or(now, |latest| latest.saturating_add(granularity)).max(now),
    };
    let series = rollup.series(&SeriesQuery {
        metric: view.metric,
        split_by: view.split_by,
        since_micros: view.window.map(|_| start),
        top_n: view.top_n,
    });
    let events = MetricSpec { name: "events".into(), kind: MetricKind::Count, field: None, quantiles: Vec::new() };
    let metric = spec.rollup.metrics.get(view.metric).unwrap_or(&events);
    TimeChart::of_metric(metric, granularity / 1_000_000, (start, end), now, series)
}

/// The rollup as a table sorted by `column` (newest bucket first without one).
fn sorted_table(rollup: &RollupState, column: Option<&str>, descending: bool) -> Result<Arc<DataFrame>, String> {
    let frame = rollup.to_unsorted_frame().map_err(|err| err.to_string())?;
    let (column, descending) = column.map_or((BUCKET_COLUMN, true), |column| (column, descending));
    let options = SortMultipleOptions::default().with_order_descending(descending).with_nulls_last(true);
    Ok(Arc::new(frame.sort([column], options).unwrap_or(frame)))
}
