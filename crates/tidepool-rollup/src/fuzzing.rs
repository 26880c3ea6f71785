//! The checkpoint loader's contract, checked on any bytes (by the fuzz target
//! `fuzz/fuzz_targets/checkpoint_loader.rs` and by this crate's tests): a
//! checkpoint is a header and per-bucket segments ([`crate::segments`]);
//! whatever they hold, loading them refuses them with a reason or gives a
//! rollup that reads, combines, merges, saves and loads again without a panic,
//! and what it saves loads again to the very same rows and values. (Not to the
//! same bytes: a `DataSketches` sketch may lay out the same coupons in another
//! order once reloaded.)
//!
//! The fuzzer's input frames a checkpoint ([`frame`]): a `u32` length and the
//! header, then per segment an `i64` bucket, a `u32` length and the bytes, all
//! little-endian; a cut frame keeps what is there. Its sample inputs, and the
//! shape with one metric of every kind the crate's tests build on
//! ([`every_metric_kind`]), are here too. Owns no I/O.

use crate::metrics::{EventOrder, MetricInput};
use crate::segments::RollupChanges;
use crate::series::SeriesQuery;
use crate::spec::{MetricKind, MetricShape, QuantileRank, RollupShape};
use crate::{RollupState, distinct::coupon_of};

/// What [`check_loader`] made of an input that kept the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused with a reason.
    Refused,
    /// Loaded, and used every way without a fault.
    Loaded,
}

/// A checkpoint as one fuzz input (the inverse of [`unframe`]).
pub fn frame(changes: &RollupChanges) -> Vec<u8> {
    let mut bytes = Vec::new();
    push_bytes(&mut bytes, &changes.header);
    for segment in &changes.segments {
        bytes.extend_from_slice(&segment.bucket.to_le_bytes());
        push_bytes(&mut bytes, &segment.bytes);
    }
    bytes
}

fn push_bytes(into: &mut Vec<u8>, bytes: &[u8]) {
    into.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    into.extend_from_slice(bytes);
}

/// The header and the segments a fuzz input frames.
pub fn unframe(input: &[u8]) -> (&[u8], Vec<(i64, &[u8])>) {
    let mut rest = input;
    let header = take_bytes(&mut rest);
    let mut segments = Vec::new();
    while let Some((bucket, tail)) = rest.split_first_chunk::<8>() {
        rest = tail;
        segments.push((i64::from_le_bytes(*bucket), take_bytes(&mut rest)));
    }
    (header, segments)
}

/// The next length-prefixed bytes of `rest` (fewer when the input is cut short).
fn take_bytes<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let Some((length, tail)) = rest.split_first_chunk::<4>() else {
        *rest = &[];
        return &[];
    };
    let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX).min(tail.len());
    let (bytes, tail) = tail.split_at(length);
    *rest = tail;
    bytes
}

/// Loads a framed checkpoint and, when it loads, uses the rollup every way the
/// app does. `Err` only when the contract is broken (a panic breaks it too).
pub fn check_loader(input: &[u8]) -> Result<Outcome, String> {
    let (header, segments) = unframe(input);
    let Ok(mut rollup) = RollupState::from_segments(header, segments) else { return Ok(Outcome::Refused) };
    read_everything(&rollup);
    let saved = rollup.encode_all().map_err(|why| format!("a loaded rollup cannot be saved: {why}"))?;
    let reloaded = load(&saved).map_err(|why| format!("a saved rollup cannot be loaded: {why}"))?;
    if (reloaded.row_count(), reloaded.event_total()) != (rollup.row_count(), rollup.event_total()) {
        return Err(format!(
            "saving and loading changed the rollup: {} rows of {} events became {} rows of {} events",
            rollup.row_count(),
            rollup.event_total(),
            reloaded.row_count(),
            reloaded.event_total()
        ));
    }
    let (rows, rows_again) = (rows_of(&rollup), rows_of(&reloaded));
    if let Some((before, after)) = rows.iter().zip(&rows_again).find(|(before, after)| before != after) {
        return Err(format!("a row reads otherwise once saved and loaded again:\n{before:?}\nthen\n{after:?}"));
    }
    merge_an_event(&mut rollup);
    if let Some(&newest) = rollup.buckets().iter().max() {
        rollup.drop_buckets_before(newest);
    }
    read_everything(&rollup);
    rollup.take_changes().map_err(|why| format!("a changed loaded rollup cannot be saved: {why}"))?;
    Ok(Outcome::Loaded)
}

/// What a row holds, as it reads: bucket, dimension texts, event count and
/// each metric output's value (as bits, so that equal means identical).
type RowReading<'a> = (i64, Vec<Option<&'a str>>, u64, Vec<Option<u64>>);

/// Every row as it reads, sorted: saving puts rows in bucket order.
fn rows_of(rollup: &RollupState) -> Vec<RowReading<'_>> {
    let mut rows: Vec<RowReading<'_>> = (0..rollup.row_count()).map(|row| row_of(rollup, row)).collect();
    rows.sort();
    rows
}

fn row_of(rollup: &RollupState, row: usize) -> RowReading<'_> {
    let texts = (0..rollup.dimension_names().len())
        .map(|dimension| rollup.dictionary(dimension).value(rollup.dimension_id(row, dimension)))
        .collect();
    let events = rollup.event_counts()[row];
    let values = rollup
        .metric_columns()
        .iter()
        .flat_map(|column| (0..column.output_width()).map(move |output| column.output_value(output, row, events)))
        .map(|value| value.map(f64::to_bits))
        .collect();
    (rollup.buckets()[row], texts, events, values)
}

fn load(changes: &RollupChanges) -> Result<RollupState, String> {
    RollupState::from_segments(&changes.header, changes.segments.iter().map(|s| (s.bucket, s.bytes.clone())))
}

/// Every value of every row, every metric combined over all rows, and a chart
/// series split by each dimension: what frames, reports and charts read.
fn read_everything(rollup: &RollupState) {
    let rows = rollup.row_count();
    let counts = rollup.event_counts();
    for (metric, column) in rollup.metric_columns().iter().enumerate() {
        for output in 0..column.output_width() {
            for (row, &events) in counts.iter().enumerate() {
                let _ = column.output_value(output, row, events);
            }
        }
        let _ = rollup.combine(metric, 0..rows, None);
        let _ = rollup.combine(metric, 0..rows, Some(0.5));
        for split_by in std::iter::once(None).chain((0..rollup.dimension_names().len()).map(Some)) {
            let _ = rollup.series(&SeriesQuery { metric, split_by, since_micros: None, top_n: 3 });
        }
    }
    for dimension in 0..rollup.dimension_names().len() {
        for row in 0..rows {
            let _ = rollup.dictionary(dimension).value(rollup.dimension_id(row, dimension));
        }
    }
}

/// One event into the oldest bucket (a late event), one input per metric kind.
fn merge_an_event(rollup: &mut RollupState) {
    let micros = rollup.buckets().iter().min().copied().unwrap_or(0);
    let inputs: Vec<MetricInput> = rollup
        .metric_columns()
        .iter()
        .map(|column| match column.kind() {
            MetricKind::Count => MetricInput::Absent,
            MetricKind::ApproxDistinct => MetricInput::Distinct(coupon_of("a user")),
            _ => MetricInput::Number { value: 1.5, exact: None },
        })
        .collect();
    let dimensions = vec![Some("a value"); rollup.dimension_names().len()];
    rollup.merge(micros, &dimensions, &inputs, EventOrder { micros, partition: 0, offset: 0 });
}

/// One minute, µs: the granularity of [`every_metric_kind`].
pub const MINUTE: i64 = 60_000_000;

/// Per minute, `dimensions`, and one metric of every kind, in this order:
/// events (count), revenue (sum), avg (mean), cheapest (min), dearest (max),
/// opening (first), closing (last), users (distinct) and latency (quantiles at `ranks`).
pub fn every_metric_kind(dimensions: &[&str], ranks: &[f64]) -> RollupShape {
    let metric = |name: &str, kind| MetricShape { name: name.into(), kind, ranks: Vec::new() };
    let ranks = ranks.iter().map(|&rank| QuantileRank::from_fraction(rank).expect("a rank")).collect();
    RollupShape {
        granularity_micros: MINUTE,
        dimensions: dimensions.iter().map(|&name| name.into()).collect(),
        metrics: vec![
            metric("events", MetricKind::Count),
            metric("revenue", MetricKind::Sum),
            metric("avg", MetricKind::Mean),
            metric("cheapest", MetricKind::Min),
            metric("dearest", MetricKind::Max),
            metric("opening", MetricKind::First),
            metric("closing", MetricKind::Last),
            metric("users", MetricKind::ApproxDistinct),
            MetricShape { name: "latency".into(), kind: MetricKind::Quantiles, ranks },
        ],
    }
}

/// A checkpoint of every metric kind, with null and long dimension texts, few,
/// many and very many distinct values per row (inline, set-mode and dense
/// distinct-count sketches) and many values per quantile sketch: the fuzzer's
/// seed and the tests' input.
pub fn sample_checkpoint() -> RollupChanges {
    let shape = every_metric_kind(&["country", "device"], &[0.5, 0.99]);
    let mut rollup = RollupState::new(&shape);
    for event in 0..2_000_i64 {
        let micros = (event % 3) * MINUTE + event;
        let country = [None, Some("DE"), Some("a country name longer than twelve bytes")][(event % 3) as usize];
        let device = (event % 5 != 0).then_some("mobile");
        let user = format!("user-{}", event % if event % 2 == 0 { 7 } else { 600 });
        let number = MetricInput::Number { value: event as f64 / 4.0, exact: (event % 4 == 0).then_some(event / 4) };
        let mut inputs = vec![MetricInput::Absent];
        inputs.extend([number; 6]);
        inputs.extend([MetricInput::Distinct(coupon_of(&user)), number]);
        rollup.merge(micros, &[country, device], &inputs, EventOrder { micros, partition: 0, offset: event });
    }
    // One row of the next minute with thousands of users: a dense sketch.
    for event in 0..4_000_i64 {
        let micros = 3 * MINUTE + event;
        let mut inputs = vec![MetricInput::Absent; 9];
        inputs[7] = MetricInput::Distinct(coupon_of(&format!("user-{event}")));
        rollup.merge(micros, &[Some("DE"), None], &inputs, EventOrder { micros, partition: 1, offset: event });
    }
    rollup.take_changes().expect("a new rollup saves")
}

/// `count` framed copies of `changes`, each with one to three bytes of its
/// header or of one segment flipped, cut, dropped or inserted (seeded, so the
/// same every run): what a damaged disk or a fuzzer's first steps give.
pub fn damaged_copies(changes: &RollupChanges, count: usize, mut seed: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count).map(move |_| {
        let mut copy = changes.clone();
        let target = (next() % (copy.segments.len() as u64 + 1)) as usize;
        let mut bytes = match copy.segments.get(target) {
            Some(segment) => segment.bytes.to_vec(),
            None => copy.header.clone(),
        };
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
        match copy.segments.get_mut(target) {
            Some(segment) => segment.bytes = bytes.into(),
            None => copy.header = bytes,
        }
        frame(&copy)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_checkpoint_unframes_to_its_parts_and_loads() {
        let changes = sample_checkpoint();
        let framed = frame(&changes);
        let (header, segments) = unframe(&framed);
        assert_eq!(header, changes.header.as_slice());
        let expected: Vec<(i64, &[u8])> = changes.segments.iter().map(|s| (s.bucket, &*s.bytes)).collect();
        assert_eq!(segments, expected);
        assert_eq!(check_loader(&framed), Ok(Outcome::Loaded));
        assert_eq!(unframe(&framed[..framed.len() - 3]).1.len(), changes.segments.len(), "a cut frame keeps its part");
    }

    /// The contract on damaged checkpoints, as the fuzzer checks it: each
    /// loads and works, or is refused, never a panic or a broken round trip.
    #[test]
    fn damaged_checkpoints_are_refused_or_load_and_work() {
        let changes = sample_checkpoint();
        let (mut loaded, mut refused) = (0, 0);
        for input in damaged_copies(&changes, 5_000, 0x00C0_FFEE_1234_5678) {
            match check_loader(&input) {
                Ok(Outcome::Loaded) => loaded += 1,
                Ok(Outcome::Refused) => refused += 1,
                Err(broken) => panic!("{broken}"),
            }
        }
        assert!(refused > 1_000 && loaded > 100, "most damage is noticed ({refused} refused, {loaded} loaded)");
    }
}
