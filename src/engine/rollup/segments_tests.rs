//! Segments: only changed buckets are written, and the stored segments put
//! the same rollup back together, or are refused when damaged, never a panic.

use std::sync::Arc;

use crate::engine::rollup::distinct::coupon_of;
use crate::engine::rollup::segments::{EncodedSegment, RollupChanges, UnsavedChanges};
use crate::engine::rollup::spec::RollupShape;
use crate::engine::rollup::{EventOrder, MetricInput, RollupFrame, RollupState};

const MINUTE: i64 = 60_000_000;

fn spec() -> RollupShape {
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
    .shape()
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

/// A checkpoint whose write failed gives its changes back under the ones
/// taken since: the next write stores the whole rollup without encoding
/// every bucket again, and a bucket changed since is written in its latest form.
#[test]
fn the_changes_of_a_failed_write_go_back_under_the_newer_ones() {
    let (mut state, mut unsaved) = (RollupState::new(&spec()), UnsavedChanges::default());
    let mut stored = std::collections::BTreeMap::new();
    for bucket in 0..3 {
        merge(&mut state, bucket, Some("DE"), "a", 1.0, bucket * 10);
    }
    unsaved.absorb(state.take_changes().expect("encoded"));
    store(&mut stored, unsaved.take());
    // Buckets 3 and 4 change, then the write of those changes fails.
    merge(&mut state, 3, Some("DE"), "b", 2.0, 30);
    merge(&mut state, 4, Some("FR"), "c", 3.0, 40);
    unsaved.absorb(state.take_changes().expect("encoded"));
    let failed = unsaved.take();
    assert_eq!(failed.segments.len(), 2);
    // Meanwhile bucket 4 changes again, bucket 5 is new, bucket 0 is dropped.
    merge(&mut state, 4, Some("FR"), "d", 4.0, 41);
    merge(&mut state, 5, Some("NL"), "e", 5.0, 50);
    state.drop_buckets_before(MINUTE);
    unsaved.absorb(state.take_changes().expect("encoded"));
    unsaved.restore_older(failed);
    let next = unsaved.take();
    assert!(!next.replace_all, "only what changed is written, not every bucket");
    let written: Vec<i64> = next.segments.iter().map(|segment| segment.bucket / MINUTE).collect();
    assert_eq!(written, vec![3, 4, 5], "the failed buckets and the newer ones, each once");
    assert_eq!(next.dropped_before, Some(MINUTE));
    store(&mut stored, next);
    let again = RollupState::from_segments(&state.encode_all().expect("encoded").header, stored).expect("rebuilt");
    assert_eq!(frame_of(&again), frame_of(&state), "bucket 4 as it is now, not as the failed write had it");
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
    assert!(RollupState::from_segments::<Vec<u8>>(&changes.header[..2], []).expect_err("refused").contains("header"));
}

/// Damaged checkpoints that still load (as the rollup crate's fuzz check
/// makes them: real segments of every metric kind with bytes flipped, cut,
/// dropped or inserted) also turn into frames without a panic.
#[test]
fn damaged_checkpoints_that_load_turn_into_frames() {
    use crate::engine::rollup::fuzzing::{damaged_copies, sample_checkpoint, unframe};
    let changes = sample_checkpoint();
    let mut loaded = 0;
    for input in damaged_copies(&changes, 3_000, 0x00C0_FFEE_1234_5678) {
        let (header, segments) = unframe(&input);
        if let Ok(rollup) = RollupState::from_segments(header, segments) {
            loaded += 1;
            let frame = rollup.to_frame().expect("a loaded rollup is a frame");
            assert_eq!(frame.height(), rollup.row_count());
        }
    }
    assert!(loaded > 100, "enough damaged checkpoints load to test the frames ({loaded})");
}

/// A restored stream publishes its segments as they were stored: they load
/// the same rollup, keep their bytes and row counts, and read back from the
/// live snapshot as the rollup itself.
#[test]
fn stored_segments_are_kept_as_read_and_publish_the_same_rollup() {
    use crate::engine::snapshots::{SnapshotMeta, Snapshots};
    let mut state = RollupState::new(&spec());
    for minute in 0..5 {
        for user in 0..12 {
            let country = [Some("DE"), Some("FR"), None][user % 3];
            merge(&mut state, minute, country, &format!("u{user}"), 2.5, minute * 100 + user as i64);
        }
    }
    let changes = state.take_changes().expect("encoded");
    let stored: Vec<(i64, Vec<u8>)> = changes.segments.iter().map(|s| (s.bucket, s.bytes.to_vec())).collect();
    let (restored, kept) = RollupState::from_stored_segments(&changes.header, stored).expect("loaded");
    assert_eq!(frame_of(&restored), frame_of(&state));
    let as_written = |segments: &[EncodedSegment]| -> Vec<(i64, usize, Vec<u8>)> {
        segments.iter().map(|s| (s.bucket, s.rows, s.bytes.to_vec())).collect()
    };
    assert_eq!(as_written(&kept), as_written(&changes.segments));

    let snapshots = Snapshots::default();
    let header = restored.encode_header().expect("header");
    let published = RollupChanges { header, replace_all: true, dropped_before: None, segments: kept };
    snapshots.publish("s", &published, SnapshotMeta::default());
    let snapshot = snapshots.latest("s").expect("published");
    assert_eq!(frame_of(&snapshot.rollup(..).expect("read back")), frame_of(&state));
}
