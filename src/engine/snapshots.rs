//! The catalogue of live rollup snapshots. Each running stream publishes an
//! immutable snapshot of its rollup a few times a second: only the buckets that
//! changed since the previous one are encoded anew (the stream's thread does
//! that, as it does for a checkpoint), every other bucket is shared with the
//! previous snapshot. Readers — reports, the window's stream views — take the
//! latest snapshot and put the buckets they need back together on their own
//! threads, never on the stream's, so readers do not slow ingestion and every
//! reader of one moment sees the same rows.
//!
//! A bucket is decoded once, by the first reader that needs it, and kept with
//! its segment: every reader and every later snapshot that holds the same
//! segment shares the decoded rows, so a reader of a million-row rollup
//! decodes only the buckets changed since any reader last read them and copies
//! the rest. The decoded rows go when no snapshot holds their segment.
//!
//! A publish calls the catalogue's waker (the window's), so that a live
//! report is computed as soon as there is something new to show.
//!
//! Owns no thread and no I/O; must not decide when a stream publishes (its
//! worker does) nor what a reader computes.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::engine::rollup::RollupState;
use crate::engine::rollup::segments::{EncodedSegment, RollupChanges};
use crate::engine::stream::quarantine::QuarantinedRecord;

/// One stream's rollup as of one moment: its buckets, encoded.
#[derive(Debug)]
pub struct RollupSnapshot {
    header: Vec<u8>,
    segments: BTreeMap<i64, HeldSegment>,
    pub meta: SnapshotMeta,
}

/// One bucket of a snapshot: its encoded rows, and the same rows decoded by
/// the first reader that needed them (shared with every later snapshot that
/// holds this segment).
#[derive(Debug, Clone)]
struct HeldSegment {
    encoded: EncodedSegment,
    decoded: Arc<OnceLock<Result<Arc<RollupState>, String>>>,
}

impl HeldSegment {
    fn new(encoded: EncodedSegment) -> Self {
        Self { encoded, decoded: Arc::default() }
    }

    /// The bucket's rows, decoded now if no reader has yet.
    fn decoded(&self, header: &[u8]) -> Result<Arc<RollupState>, String> {
        self.decoded
            .get_or_init(|| RollupState::decode_part(header, self.encoded.bucket, &self.encoded.bytes).map(Arc::new))
            .clone()
    }
}

/// What a snapshot says besides its rows.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMeta {
    /// Messages counted (events and quarantined ones) when it was published.
    pub counted: u64,
    /// When it was published, µs since the epoch (UTC).
    pub published_micros: i64,
    /// The rollup of a changed definition still being rebuilt: the stream's
    /// view shows it, reports read the old rollup's checkpoint until it replaces it.
    pub rebuilding: bool,
    /// The latest quarantined records, oldest first.
    pub recent_quarantine: Arc<[QuarantinedRecord]>,
}

impl RollupSnapshot {
    /// The previous snapshot (if any) with `changes` applied.
    fn next(previous: Option<&Self>, changes: &RollupChanges, meta: SnapshotMeta) -> Self {
        let mut segments = match previous {
            Some(previous) if !changes.replace_all => {
                let same_shape = previous.header == changes.header;
                // Decoded rows are of the header they were decoded with.
                let keep = |held: &HeldSegment| {
                    if same_shape { held.clone() } else { HeldSegment::new(held.encoded.clone()) }
                };
                previous.segments.iter().map(|(&bucket, held)| (bucket, keep(held))).collect()
            }
            _ => BTreeMap::new(),
        };
        if let Some(cutoff) = changes.dropped_before {
            segments = segments.split_off(&cutoff);
        }
        segments.extend(changes.segments.iter().map(|segment| (segment.bucket, HeldSegment::new(segment.clone()))));
        Self { header: changes.header.clone(), segments, meta }
    }

    /// Rollup rows in the snapshot.
    pub fn rows(&self) -> usize {
        self.segments.values().map(|held| held.encoded.rows).sum()
    }

    /// The rollup rows of the buckets starting in `buckets` (µs since the
    /// epoch), put back together; the reader's own copy.
    pub fn rollup(&self, buckets: impl RangeBounds<i64>) -> Result<RollupState, String> {
        self.rollup_of(self.segments(buckets))
    }

    /// The encoded buckets starting in `buckets`, oldest first: an unchanged
    /// bucket is the same shared segment in every later snapshot.
    pub fn segments(&self, buckets: impl RangeBounds<i64>) -> impl Iterator<Item = &EncodedSegment> + Clone {
        self.segments.range(buckets).map(|(_, held)| &held.encoded)
    }

    /// The rollup rows of `segments` (this snapshot's, oldest first), put back
    /// together from each bucket's decoded rows (decoded now where no reader has yet).
    pub fn rollup_of<'a>(&self, segments: impl Iterator<Item = &'a EncodedSegment>) -> Result<RollupState, String> {
        let parts = segments
            .map(|segment| match self.segments.get(&segment.bucket) {
                Some(held) if Arc::ptr_eq(&held.encoded.bytes, &segment.bytes) => held.decoded(&self.header),
                // Not this snapshot's segment: decoded for this read alone.
                _ => RollupState::decode_part(&self.header, segment.bucket, &segment.bytes).map(Arc::new),
            })
            .collect::<Result<Vec<_>, String>>()?;
        RollupState::from_parts(&self.header, parts.iter().map(|part| &**part))
    }

    /// How many of the buckets starting in `buckets` a reader has decoded (and shares).
    pub fn decoded_buckets(&self, buckets: impl RangeBounds<i64>) -> usize {
        self.segments.range(buckets).filter(|(_, held)| held.decoded.get().is_some()).count()
    }

    /// The rollup's definition as encoded (granularity, names, metric kinds).
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}

/// The latest snapshot of every running stream, shared by the engine's
/// streams (which publish) and its readers.
#[derive(Clone, Default)]
pub struct Snapshots {
    latest: Arc<Mutex<HashMap<String, Arc<RollupSnapshot>>>>,
    /// Called after each publish, so that a window showing a live report
    /// starts computing it at once instead of at its next look.
    published: Option<crate::engine::Waker>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").field("streams", &self.map().len()).finish_non_exhaustive()
    }
}

impl Snapshots {
    /// A catalogue that calls `published` after each publish.
    pub fn notifying(published: crate::engine::Waker) -> Self {
        Self { latest: Arc::default(), published: Some(published) }
    }

    /// Publishes stream `stream`'s next snapshot: the last one with `changes`
    /// applied (nothing when nothing changed).
    pub fn publish(&self, stream: &str, changes: &RollupChanges, meta: SnapshotMeta) {
        let previous = self.latest(stream);
        if changes.segments.is_empty()
            && !changes.replace_all
            && changes.dropped_before.is_none()
            && previous.as_ref().is_some_and(|previous| {
                previous.meta.counted == meta.counted && previous.meta.rebuilding == meta.rebuilding
            })
        {
            return;
        }
        // Built outside the lock: only the stream's own thread publishes under its name.
        let next = Arc::new(RollupSnapshot::next(previous.as_deref(), changes, meta));
        self.map().insert(stream.to_string(), next);
        if let Some(published) = &self.published {
            published();
        }
    }

    /// The latest snapshot of stream `stream`, while it runs.
    pub fn latest(&self, stream: &str) -> Option<Arc<RollupSnapshot>> {
        self.map().get(stream).cloned()
    }

    /// The latest snapshot of the rollup stream `stream` serves: none while a
    /// changed definition is rebuilt (its checkpoint holds the rollup served).
    pub fn serving(&self, stream: &str) -> Option<Arc<RollupSnapshot>> {
        self.latest(stream).filter(|snapshot| !snapshot.meta.rebuilding)
    }

    /// Stream `stream` stopped (or rebuilds): readers go back to its checkpoint.
    pub fn withdraw(&self, stream: &str) {
        self.map().remove(stream);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RollupSnapshot>>> {
        // A snapshot is replaced whole, so a panicking holder leaves no half-made state.
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::{EventOrder, MetricInput, RollupFrame};

    const MINUTE: i64 = 60_000_000;

    fn rollup() -> RollupState {
        let spec = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
metrics = [{ name = "revenue", kind = "sum", field = "price" }]"#,
        );
        RollupState::new(&spec.rollup.shape())
    }

    fn merge(state: &mut RollupState, minute: i64, country: &str, price: f64) {
        let micros = minute * MINUTE;
        let inputs = [MetricInput::Number { value: price, exact: None }];
        state.merge(micros, &[Some(country)], &inputs, EventOrder { micros, partition: 0, offset: minute });
    }

    fn counted(counted: u64) -> SnapshotMeta {
        SnapshotMeta { counted, ..SnapshotMeta::default() }
    }

    fn frame(state: &RollupState) -> polars::prelude::DataFrame {
        state.to_frame().expect("frame")
    }

    #[test]
    fn snapshots_follow_the_rollup_sharing_unchanged_buckets() {
        let snapshots = Snapshots::default();
        let mut state = rollup();
        for minute in 0..10 {
            merge(&mut state, minute, "DE", 1.0);
        }
        snapshots.publish("clicks", &state.encode_all().expect("encoded"), counted(10));
        let first = snapshots.latest("clicks").expect("published");
        assert_eq!(first.decoded_buckets(..), 0, "nothing is decoded before a reader asks");
        assert_eq!(frame(&first.rollup(..).expect("rollup")), frame(&state));
        assert_eq!(first.decoded_buckets(..), 10, "the reader's buckets stay decoded");

        let _ = state.take_changes(); // as after a restore: nothing changed yet

        merge(&mut state, 9, "FR", 2.0);
        merge(&mut state, 10, "DE", 3.0);
        state.drop_buckets_before(2 * MINUTE);
        snapshots.publish("clicks", &state.take_changes().expect("encoded"), counted(12));
        let second = snapshots.latest("clicks").expect("published");
        // Minutes 2 to 8 are unchanged: decoded once, for the first reader; 9 changed, 10 is new.
        assert_eq!(second.decoded_buckets(..), 7, "unchanged buckets come decoded");
        assert_eq!(frame(&second.rollup(..).expect("rollup")), frame(&state));
        assert_eq!(second.rows(), state.row_count());
        let (before, after) = (&first.segments[&(5 * MINUTE)], &second.segments[&(5 * MINUTE)]);
        assert!(
            Arc::ptr_eq(&before.encoded.bytes, &after.encoded.bytes),
            "an unchanged bucket is shared, not encoded again"
        );
        assert!(
            Arc::ptr_eq(
                before.decoded.get().unwrap().as_ref().unwrap(),
                after.decoded.get().unwrap().as_ref().unwrap()
            ),
            "and decoded once for both snapshots"
        );
        assert!(
            !Arc::ptr_eq(&first.segments[&(9 * MINUTE)].decoded, &second.segments[&(9 * MINUTE)].decoded),
            "a changed bucket is decoded anew"
        );
        assert!(!second.segments.contains_key(&MINUTE), "retention's cut reaches the snapshot");
        assert_eq!(first.rollup(..).expect("rollup").row_count(), 10, "a reader's snapshot never changes");

        merge(&mut state, 10, "IT", 4.0);
        snapshots.publish("clicks", &state.take_changes().expect("encoded"), counted(13));
        let third = snapshots.latest("clicks").expect("published");
        assert_eq!(frame(&third.rollup(..).expect("rollup")), frame(&state));
        let unchanged = state.take_changes().expect("encoded");
        snapshots.publish("clicks", &unchanged, counted(13));
        assert!(Arc::ptr_eq(&third, &snapshots.latest("clicks").expect("kept")), "nothing new, nothing published");

        // A reader asking for a range gets only those buckets.
        let recent = third.rollup(9 * MINUTE..).expect("rollup");
        assert_eq!(recent.row_count(), 4, "DE and FR at minute 9, DE and IT at minute 10");

        let rebuilding = SnapshotMeta { rebuilding: true, ..counted(13) };
        snapshots.publish("clicks", &state.take_changes().expect("encoded"), rebuilding);
        assert!(snapshots.latest("clicks").is_some_and(|latest| latest.meta.rebuilding));
        assert!(snapshots.serving("clicks").is_none(), "a rollup being rebuilt is not the one served");

        snapshots.withdraw("clicks");
        assert!(snapshots.latest("clicks").is_none());
    }
}
