//! The rollup cut into segments, one per time bucket, so that a checkpoint
//! writes only what changed since the previous one (Druid likewise keeps one
//! segment per time chunk): the log of which buckets changed, one bucket's rows
//! encoded on their own, the header all segments share, and a rollup put back
//! together from a header and its segments.
//!
//! Owns no I/O: the state store writes and reads the bytes, and the stream
//! worker decides when.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashSet;
use serde::{Deserialize, Serialize};

use super::dictionary::Dictionary;
use super::{MetricColumn, RollupState};

/// Which buckets changed since the rollup was last saved.
#[derive(Debug, Clone, Default)]
pub struct ChangeLog {
    buckets: HashSet<i64>,
    /// The bucket marked last (already in `buckets`): consecutive events mostly share one.
    last: Option<i64>,
    /// Every bucket must be written again: a new rollup (the key may hold another
    /// definition's segments), one read from an older format, or a failed save.
    everything: bool,
    /// Retention dropped every bucket before this since the last save.
    dropped_before: Option<i64>,
}

impl ChangeLog {
    /// A log that asks for every bucket to be written.
    pub fn everything() -> Self {
        Self { everything: true, ..Self::default() }
    }

    #[inline]
    pub fn mark(&mut self, bucket: i64) {
        if self.last != Some(bucket) {
            self.buckets.insert(bucket);
            self.last = Some(bucket);
        }
    }

    /// Retention dropped every bucket before `cutoff`.
    pub fn drop_before(&mut self, cutoff: i64) {
        self.dropped_before = Some(self.dropped_before.map_or(cutoff, |earlier| earlier.max(cutoff)));
        self.buckets.retain(|&bucket| bucket >= cutoff);
        self.last = None;
    }

    /// How many buckets are waiting to be written (`None`: all of them).
    pub fn pending(&self) -> Option<usize> {
        (!self.everything).then_some(self.buckets.len())
    }
}

/// What one checkpoint writes of a rollup.
#[derive(Debug, Clone)]
pub struct RollupChanges {
    /// Granularity, names and metric kinds: small, written with every checkpoint.
    pub header: Vec<u8>,
    /// The stored segments are replaced by these (instead of updated by them).
    pub replace_all: bool,
    /// Stored segments of buckets before this are dropped (retention).
    pub dropped_before: Option<i64>,
    /// Every changed bucket, oldest first.
    pub segments: Vec<EncodedSegment>,
}

impl RollupChanges {
    /// Rows in `segments`.
    pub fn rows(&self) -> usize {
        self.segments.iter().map(|segment| segment.rows).sum()
    }
}

/// One bucket's rows, encoded; shared, so the live snapshot and the checkpoint
/// writer hold the same bytes.
#[derive(Debug, Clone)]
pub struct EncodedSegment {
    /// The bucket's start, µs since the epoch (UTC).
    pub bucket: i64,
    pub rows: usize,
    pub bytes: Arc<[u8]>,
}

/// The changes taken from a rollup since its last saved checkpoint: taken
/// for each live snapshot (a few times a second), written together by the next
/// checkpoint (a bucket changed twice is written once, in its latest form).
#[derive(Debug, Default)]
pub struct UnsavedChanges {
    header: Vec<u8>,
    replace_all: bool,
    dropped_before: Option<i64>,
    segments: BTreeMap<i64, EncodedSegment>,
}

impl UnsavedChanges {
    /// Adds changes taken later than the ones held.
    pub fn absorb(&mut self, changes: RollupChanges) {
        self.header = changes.header;
        if changes.replace_all {
            self.replace_all = true;
            self.dropped_before = None;
            self.segments.clear();
        } else if let Some(cutoff) = changes.dropped_before {
            self.dropped_before = Some(self.dropped_before.map_or(cutoff, |earlier| earlier.max(cutoff)));
            self.segments.retain(|&bucket, _| bucket >= cutoff);
        }
        self.segments.extend(changes.segments.into_iter().map(|segment| (segment.bucket, segment)));
    }

    /// Puts back `older`, changes taken before the ones held whose write
    /// failed: the next checkpoint writes them too, except where a later change
    /// supersedes them (a bucket encoded again, dropped, or everything replaced).
    pub fn restore_older(&mut self, older: RollupChanges) {
        let newer = std::mem::take(self);
        self.absorb(older);
        if !newer.is_empty() {
            self.absorb(newer.take_all());
        }
    }

    /// Whether nothing was absorbed since the last take.
    fn is_empty(&self) -> bool {
        self.header.is_empty() && !self.replace_all && self.dropped_before.is_none() && self.segments.is_empty()
    }

    /// Everything held, as one checkpoint's changes; leaves nothing behind.
    pub fn take(&mut self) -> RollupChanges {
        std::mem::take(self).take_all()
    }

    fn take_all(self) -> RollupChanges {
        let taken = self;
        RollupChanges {
            header: taken.header,
            replace_all: taken.replace_all,
            dropped_before: taken.dropped_before,
            segments: taken.segments.into_values().collect(),
        }
    }
}

/// The header: everything but the rows.
#[derive(Serialize, Deserialize)]
struct Header {
    granularity_micros: i64,
    dimension_names: Vec<String>,
    metric_names: Vec<String>,
    /// Empty columns: they carry each metric's kind (and a quantile metric's ranks).
    columns: Vec<MetricColumn>,
}

/// The rows of one bucket; dimension values as text, so a segment needs no dictionary.
#[derive(Serialize)]
struct SegmentRef<'a> {
    dimensions: Vec<Option<&'a str>>,
    event_counts: Vec<u64>,
    columns: Vec<MetricColumn>,
}

/// [`SegmentRef`] as read back; the dimension values borrowed from the bytes
/// (the dictionaries copy each distinct value once).
#[derive(Deserialize)]
struct Segment<'a> {
    #[serde(borrow)]
    dimensions: Vec<Option<&'a str>>,
    event_counts: Vec<u64>,
    columns: Vec<MetricColumn>,
}

impl RollupState {
    /// Encodes the buckets changed since the last call and starts a new log. If
    /// the save then fails, call [`Self::save_failed`] so the next one writes everything.
    pub fn take_changes(&mut self) -> Result<RollupChanges, String> {
        let log = std::mem::take(&mut self.changes);
        let encoded = self.encode_changes(&log);
        if encoded.is_err() {
            self.changes = log;
            self.changes.everything = true;
        }
        encoded
    }

    /// The last changes taken were not saved: the next checkpoint writes every bucket.
    pub fn save_failed(&mut self) {
        self.changes.everything = true;
    }

    /// How many buckets the next checkpoint writes (`None`: all of them).
    pub fn changed_buckets(&self) -> Option<usize> {
        self.changes.pending()
    }

    /// Encodes every bucket, as a replacement of whatever was stored, without
    /// touching the log of changes (the live snapshot of a rollup just restored).
    pub fn encode_all(&self) -> Result<RollupChanges, String> {
        self.encode_changes(&ChangeLog::everything())
    }

    fn encode_changes(&self, log: &ChangeLog) -> Result<RollupChanges, String> {
        let header = self.encode_header()?;
        let rows_by_bucket = self.rows_by_bucket();
        let mut buckets: Vec<i64> =
            if log.everything { rows_by_bucket.buckets() } else { log.buckets.iter().copied().collect() };
        buckets.sort_unstable();
        let mut segments = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let bucket_rows = rows_by_bucket.rows_of(bucket);
            if bucket_rows.is_empty() {
                continue;
            }
            let bytes = postcard::to_stdvec(&self.segment(&bucket_rows)).map_err(|err| err.to_string())?;
            segments.push(EncodedSegment { bucket, rows: bucket_rows.len(), bytes: Arc::from(bytes) });
        }
        Ok(RollupChanges { header, replace_all: log.everything, dropped_before: log.dropped_before, segments })
    }

    /// The header every segment shares: granularity, names and metric kinds.
    pub fn encode_header(&self) -> Result<Vec<u8>, String> {
        let header = Header {
            granularity_micros: self.granularity_micros,
            dimension_names: self.dimension_names.clone(),
            metric_names: self.metric_names.clone(),
            columns: self.columns.iter().map(|column| column.select(&[])).collect(),
        };
        postcard::to_stdvec(&header).map_err(|err| err.to_string())
    }

    fn segment(&self, rows: &[usize]) -> SegmentRef<'_> {
        let width = self.dimension_names.len();
        let mut dimensions = Vec::with_capacity(rows.len() * width);
        for &row in rows {
            let ids = &self.dimension_ids[row * width..(row + 1) * width];
            dimensions.extend(ids.iter().zip(&self.dictionaries).map(|(&id, dictionary)| dictionary.value(id)));
        }
        SegmentRef {
            dimensions,
            event_counts: rows.iter().map(|&row| self.event_counts[row]).collect(),
            columns: self.columns.iter().map(|column| column.select(rows)).collect(),
        }
    }

    /// Puts a rollup back together from its header and its segments (in any
    /// order); a damaged one is refused with the reason, never a panic.
    pub fn from_segments<B: AsRef<[u8]>>(
        header: &[u8],
        segments: impl IntoIterator<Item = (i64, B)>,
    ) -> Result<Self, String> {
        Self::from_segments_of_rows(header, segments, 0)
    }

    /// As [`Self::from_segments`], with room made at once for `rows` rows (when
    /// the caller knows how many the segments hold: a live snapshot does).
    pub fn from_segments_of_rows<B: AsRef<[u8]>>(
        header: &[u8],
        segments: impl IntoIterator<Item = (i64, B)>,
        rows: usize,
    ) -> Result<Self, String> {
        let mut state = Self::from_header(header, rows)?;
        for (bucket, bytes) in segments {
            state.add_segment(bucket, bytes.as_ref()).map_err(|why| segment_error(bucket, &why))?;
        }
        state.rebuild_index();
        Ok(state)
    }

    /// As [`Self::from_segments`], keeping the segments as they were read:
    /// they encode the rollup just as [`Self::encode_all`] would (up to the
    /// order of a sketch's coupons), so a restored stream publishes them
    /// instead of encoding every bucket again.
    pub fn from_stored_segments(
        header: &[u8],
        segments: Vec<(i64, Vec<u8>)>,
    ) -> Result<(Self, Vec<EncodedSegment>), String> {
        let mut state = Self::from_header(header, 0)?;
        let mut kept = Vec::with_capacity(segments.len());
        for (bucket, bytes) in segments {
            let rows = state.add_segment(bucket, &bytes).map_err(|why| segment_error(bucket, &why))?;
            kept.push(EncodedSegment { bucket, rows, bytes: Arc::from(bytes) });
        }
        state.rebuild_index();
        Ok((state, kept))
    }

    /// An empty rollup of the header's shape, with room for `rows` rows.
    pub(crate) fn from_header(header: &[u8], rows: usize) -> Result<Self, String> {
        let header: Header = postcard::from_bytes(header).map_err(|err| format!("header: {err}"))?;
        if header.granularity_micros <= 0 {
            return Err(format!("granularity of {} µs", header.granularity_micros));
        }
        if header.columns.len() != header.metric_names.len() {
            return Err(format!("{} metric columns for {} metrics", header.columns.len(), header.metric_names.len()));
        }
        let width = header.dimension_names.len();
        Ok(Self {
            granularity_micros: header.granularity_micros,
            dictionaries: vec![Dictionary::default(); width],
            dimension_names: header.dimension_names,
            metric_names: header.metric_names,
            buckets: Vec::with_capacity(rows),
            dimension_ids: Vec::with_capacity(rows * width),
            event_counts: Vec::with_capacity(rows),
            columns: header.columns,
            rows_by_key: super::RowIndex::default(),
            index_pending: false,
            hasher: super::KeyHasher::default(),
            changes: ChangeLog::default(),
        })
    }

    /// Appends one bucket's rows; answers how many.
    pub(crate) fn add_segment(&mut self, bucket: i64, bytes: &[u8]) -> Result<usize, String> {
        if bucket.rem_euclid(self.granularity_micros) != 0 {
            return Err("the bucket does not start on the granularity".into());
        }
        let segment: Segment = postcard::from_bytes(bytes).map_err(|err| err.to_string())?;
        let rows = segment.event_counts.len();
        let width = self.dimension_names.len();
        if segment.dimensions.len() != rows * width {
            return Err(format!("{} dimension values for {rows} rows of {width} dimensions", segment.dimensions.len()));
        }
        if segment.columns.len() != self.columns.len() {
            return Err(format!("{} metric columns for {} metrics", segment.columns.len(), self.columns.len()));
        }
        if let Some(found) = segment.columns.iter().find_map(|column| column.rows().filter(|&found| found != rows)) {
            return Err(format!("a metric has {found} values for {rows} rows"));
        }
        for values in segment.dimensions.chunks(width.max(1)).take(rows) {
            for (dictionary, value) in self.dictionaries.iter_mut().zip(values) {
                self.dimension_ids.push(dictionary.id_of(*value));
            }
        }
        self.buckets.extend(std::iter::repeat_n(bucket, rows));
        self.event_counts.extend(segment.event_counts);
        for (column, rows) in self.columns.iter_mut().zip(&segment.columns) {
            column.append_from(rows)?;
        }
        Ok(rows)
    }
}

pub(crate) fn segment_error(bucket: i64, why: &str) -> String {
    format!("segment of bucket {bucket} µs: {why}")
}
