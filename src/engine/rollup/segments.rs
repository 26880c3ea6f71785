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
#[derive(Debug)]
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

    /// Everything held, as one checkpoint's changes; leaves nothing behind.
    pub fn take(&mut self) -> RollupChanges {
        let taken = std::mem::take(self);
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
        let header = Header {
            granularity_micros: self.granularity_micros,
            dimension_names: self.dimension_names.clone(),
            metric_names: self.metric_names.clone(),
            columns: self.columns.iter().map(|column| column.select(&[])).collect(),
        };
        let header = postcard::to_stdvec(&header).map_err(|err| err.to_string())?;
        let mut buckets: Vec<i64> =
            if log.everything { self.rows_by_key.buckets().collect() } else { log.buckets.iter().copied().collect() };
        buckets.sort_unstable();
        let mut segments = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let bucket_rows = self.rows_by_key.rows_of(bucket);
            if bucket_rows.is_empty() {
                continue;
            }
            let bytes = postcard::to_stdvec(&self.segment(&bucket_rows)).map_err(|err| err.to_string())?;
            segments.push(EncodedSegment { bucket, rows: bucket_rows.len(), bytes: Arc::from(bytes) });
        }
        Ok(RollupChanges { header, replace_all: log.everything, dropped_before: log.dropped_before, segments })
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
        let header: Header = postcard::from_bytes(header).map_err(|err| format!("header: {err}"))?;
        if header.granularity_micros <= 0 {
            return Err(format!("granularity of {} µs", header.granularity_micros));
        }
        if header.columns.len() != header.metric_names.len() {
            return Err(format!("{} metric columns for {} metrics", header.columns.len(), header.metric_names.len()));
        }
        let width = header.dimension_names.len();
        let mut state = Self {
            granularity_micros: header.granularity_micros,
            dictionaries: vec![Dictionary::default(); width],
            dimension_names: header.dimension_names,
            metric_names: header.metric_names,
            buckets: Vec::with_capacity(rows),
            dimension_ids: Vec::with_capacity(rows * width),
            event_counts: Vec::with_capacity(rows),
            columns: header.columns,
            rows_by_key: super::RowIndex::default(),
            hasher: super::KeyHasher::default(),
            changes: ChangeLog::default(),
        };
        for (bucket, bytes) in segments {
            state.add_segment(bucket, bytes.as_ref()).map_err(|why| format!("segment of bucket {bucket} µs: {why}"))?;
        }
        state.rebuild_index();
        Ok(state)
    }

    fn add_segment(&mut self, bucket: i64, bytes: &[u8]) -> Result<(), String> {
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
        for (column, rows) in self.columns.iter_mut().zip(segment.columns) {
            column.append(rows)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::distinct::coupon_of;
    use crate::engine::rollup::{EventOrder, MetricInput};
    use crate::model::RollupSpec;

    const MINUTE: i64 = 60_000_000;

    fn spec() -> RollupSpec {
        crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country", "kind"]
metrics = [
  { name = "events", kind = "count" },
  { name = "revenue", kind = "sum", field = "price" },
  { name = "users", kind = "approx_distinct", field = "user" },
  { name = "latest", kind = "last", field = "price" },
]"#,
        )
        .rollup
    }

    fn merge(state: &mut RollupState, minute: i64, country: Option<&str>, user: &str, price: f64, offset: i64) {
        let micros = minute * MINUTE + offset;
        let inputs = [
            MetricInput::Absent,
            MetricInput::Number { value: price, exact: None },
            MetricInput::Distinct(coupon_of(user)),
            MetricInput::Number { value: price, exact: None },
        ];
        state.merge(micros, &[country, Some("view")], &inputs, EventOrder { micros, partition: 0, offset });
    }

    /// Stored segments, as the state store would keep them: one per bucket, the latest write wins.
    fn store(stored: &mut std::collections::BTreeMap<i64, Arc<[u8]>>, changes: RollupChanges) {
        if changes.replace_all {
            stored.clear();
        }
        if let Some(cutoff) = changes.dropped_before {
            stored.retain(|&bucket, _| bucket >= cutoff);
        }
        stored.extend(changes.segments.into_iter().map(|segment| (segment.bucket, segment.bytes)));
    }

    fn frame_of(state: &RollupState) -> polars::prelude::DataFrame {
        state.to_frame().expect("frame")
    }

    #[test]
    fn only_changed_buckets_are_written_and_the_segments_rebuild_the_rollup() {
        let mut state = RollupState::new(&spec());
        let mut stored = std::collections::BTreeMap::new();
        for minute in 0..50 {
            for user in 0..20 {
                let country = [Some("DE"), Some("FR"), None][user % 3];
                merge(&mut state, minute, country, &format!("u{user}"), 1.5, minute * 100 + user as i64);
            }
        }
        let first = state.take_changes().expect("encoded");
        assert!(first.replace_all, "a new rollup replaces whatever the key held");
        assert_eq!(first.segments.len(), 50);
        assert_eq!(first.rows(), state.row_count());
        store(&mut stored, first);

        merge(&mut state, 49, Some("DE"), "late-user", 2.0, 9_000);
        merge(&mut state, 50, Some("IT"), "new-user", 3.0, 9_001);
        assert_eq!(state.changed_buckets(), Some(2));
        let second = state.take_changes().expect("encoded");
        assert!(!second.replace_all);
        assert_eq!(
            second.segments.iter().map(|segment| segment.bucket).collect::<Vec<_>>(),
            vec![49 * MINUTE, 50 * MINUTE]
        );
        store(&mut stored, second);
        assert!(state.take_changes().expect("encoded").segments.is_empty(), "nothing changed since");

        let header = state.take_changes().expect("encoded").header;
        let again = RollupState::from_segments(&header, stored.clone()).expect("rebuilt");
        assert_eq!(again.row_count(), state.row_count());
        assert_eq!(frame_of(&again), frame_of(&state));

        // Retention drops the stored segments of dropped buckets too.
        assert_eq!(state.drop_buckets_before(10 * MINUTE), 10 * 3);
        merge(&mut state, 50, Some("IT"), "another", 1.0, 9_002);
        let third = state.take_changes().expect("encoded");
        assert_eq!(third.dropped_before, Some(10 * MINUTE));
        store(&mut stored, third);
        let again = RollupState::from_segments(&header, stored.clone()).expect("rebuilt");
        assert_eq!(frame_of(&again), frame_of(&state));

        // The rebuilt rollup keeps merging into the same rows.
        let mut again = again;
        merge(&mut again, 50, Some("IT"), "new-user", 3.0, 9_003);
        merge(&mut state, 50, Some("IT"), "new-user", 3.0, 9_003);
        assert_eq!(again.row_count(), state.row_count());
        assert_eq!(frame_of(&again), frame_of(&state));
    }

    /// Changes taken for each live snapshot and written together by the next checkpoint
    /// store what one take at checkpoint time would have stored.
    #[test]
    fn changes_gathered_between_checkpoints_store_the_same_rollup() {
        let (mut state, mut unsaved) = (RollupState::new(&spec()), UnsavedChanges::default());
        let mut stored = std::collections::BTreeMap::new();
        for second in 0..30_i64 {
            for user in 0..5 {
                merge(&mut state, second / 10, Some("DE"), &format!("u{user}"), 1.0, second * 10 + user);
            }
            unsaved.absorb(state.take_changes().expect("encoded"));
            if second == 14 {
                store(&mut stored, unsaved.take());
            }
        }
        state.drop_buckets_before(MINUTE);
        merge(&mut state, 2, Some("FR"), "late", 2.0, 999);
        unsaved.absorb(state.take_changes().expect("encoded"));
        let last = unsaved.take();
        assert_eq!(last.segments.len(), 2, "buckets 1 and 2 changed since the write, each written once");
        assert_eq!(last.dropped_before, Some(MINUTE));
        store(&mut stored, last);
        let again = RollupState::from_segments(&state.encode_all().expect("encoded").header, stored).expect("rebuilt");
        assert_eq!(frame_of(&again), frame_of(&state));
        assert!(unsaved.take().segments.is_empty(), "taking leaves nothing behind");
    }

    #[test]
    fn a_failed_save_writes_everything_next_time() {
        let mut state = RollupState::new(&spec());
        merge(&mut state, 1, Some("DE"), "a", 1.0, 1);
        let _ = state.take_changes().expect("encoded");
        merge(&mut state, 2, Some("DE"), "a", 1.0, 2);
        let _lost = state.take_changes().expect("encoded");
        state.save_failed();
        let next = state.take_changes().expect("encoded");
        assert!(next.replace_all);
        assert_eq!(next.segments.len(), 2);
    }

    #[test]
    fn damaged_segments_are_refused_with_the_reason() {
        let mut state = RollupState::new(&spec());
        merge(&mut state, 1, Some("DE"), "a", 1.0, 1);
        let changes = state.take_changes().expect("encoded");
        let EncodedSegment { bucket, bytes, .. } = changes.segments[0].clone();
        let mut bytes = bytes.to_vec();
        let unaligned = RollupState::from_segments(&changes.header, [(bucket + 1, bytes.clone())]);
        assert!(unaligned.expect_err("refused").contains("granularity"));
        bytes.truncate(bytes.len() / 2);
        assert!(RollupState::from_segments(&changes.header, [(bucket, bytes)]).is_err());
        assert!(
            RollupState::from_segments::<Vec<u8>>(&changes.header[..2], []).expect_err("refused").contains("header")
        );
    }

    /// The checkpoint loader on damaged input, as a fuzzer would feed it: real
    /// segments (inline and promoted distinct-count sketches, quantile sketches)
    /// with bytes flipped, cut, dropped or inserted must load or be refused — never panic.
    #[test]
    fn damaged_segments_never_panic_the_loader() {
        let spec = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
metrics = [
  { name = "users", kind = "approx_distinct", field = "user" },
  { name = "latency", kind = "quantiles", field = "ms" },
  { name = "first", kind = "first", field = "ms" },
]"#,
        )
        .rollup;
        let mut state = RollupState::new(&spec);
        for event in 0..400_i64 {
            let micros = (event % 3) * MINUTE + event;
            let country = if event % 7 == 0 { None } else { Some(["DE", "FR"][event as usize % 2]) };
            let user = format!("user-{}", event % 50);
            let inputs = [
                MetricInput::Distinct(coupon_of(&user)),
                MetricInput::Number { value: event as f64, exact: Some(event) },
                MetricInput::Number { value: event as f64, exact: Some(event) },
            ];
            state.merge(micros, &[country], &inputs, EventOrder { micros, partition: 0, offset: event });
        }
        let changes = state.take_changes().expect("encoded");
        let mut seed: u64 = 0x00C0_FFEE_1234_5678;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut loaded, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut header = changes.header.clone();
            let mut segments: Vec<(i64, Vec<u8>)> =
                changes.segments.iter().map(|segment| (segment.bucket, segment.bytes.to_vec())).collect();
            let target = (next() % (segments.len() as u64 + 1)) as usize;
            let bytes = if target == segments.len() { &mut header } else { &mut segments[target].1 };
            for _ in 0..=next() % 3 {
                let at = (next() % (bytes.len() as u64 + 1)) as usize;
                match next() % 4 {
                    0 if at < bytes.len() => bytes[at] ^= 1 << (next() % 8),
                    1 => bytes.truncate(at),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, next() as u8),
                }
            }
            match RollupState::from_segments(&header, segments) {
                Ok(rollup) => {
                    loaded += 1;
                    // Whatever loaded must also turn into a frame without panicking.
                    let _ = rollup.to_frame();
                }
                Err(_) => refused += 1,
            }
        }
        assert!(refused > 1_000, "most damage is noticed ({refused} refused, {loaded} loaded)");
    }
}
