//! A rollup put together from rollups of one bucket each that were decoded
//! once and are shared: the live snapshot keeps each bucket it was asked for
//! decoded (the app's `engine::snapshots`), so a reader that needs a million
//! rows copies them instead of decoding every bucket again. Copying maps each
//! part's dimension ids onto the whole's dictionaries and shares the sketches
//! (copy on write).
//!
//! Owns no I/O; must not be used to merge events into a part (a part has no
//! index and is only read).

use super::RollupState;
use super::segments::segment_error;

impl RollupState {
    /// One bucket's rows decoded from its segment (see [`Self::from_segments`]),
    /// as a part for [`Self::from_parts`]: its index is built only if something is merged into it.
    pub fn decode_part(header: &[u8], bucket: i64, bytes: &[u8]) -> Result<Self, String> {
        let mut part = Self::from_header(header, 0)?;
        part.add_segment(bucket, bytes).map_err(|why| segment_error(bucket, &why))?;
        part.index_pending = true;
        Ok(part)
    }

    /// The rows of `parts`, each a rollup of `header`'s shape, in their order, as one rollup.
    pub fn from_parts<'a>(header: &[u8], parts: impl Iterator<Item = &'a Self> + Clone) -> Result<Self, String> {
        let rows = parts.clone().map(Self::row_count).sum();
        let mut whole = Self::from_header(header, rows)?;
        // Built when something is merged into it; a reader only reads.
        whole.index_pending = true;
        for part in parts {
            whole.append_part(part)?;
        }
        Ok(whole)
    }

    fn append_part(&mut self, part: &Self) -> Result<(), String> {
        if part.granularity_micros != self.granularity_micros
            || part.dimension_names != self.dimension_names
            || part.metric_names != self.metric_names
        {
            return Err("a part of another rollup definition".into());
        }
        // Per dimension, the whole's id of each of the part's ids (id 0, no value, stays 0).
        let id_maps: Vec<Vec<u32>> = self
            .dictionaries
            .iter_mut()
            .zip(&part.dictionaries)
            .map(|(whole, theirs)| (0..=theirs.len() as u32).map(|id| whole.id_of(theirs.value(id))).collect())
            .collect();
        let width = self.dimension_names.len();
        if width > 0 {
            for ids in part.dimension_ids.chunks_exact(width) {
                self.dimension_ids.extend(ids.iter().zip(&id_maps).map(|(&id, map)| map[id as usize]));
            }
        }
        self.buckets.extend_from_slice(&part.buckets);
        self.event_counts.extend_from_slice(&part.event_counts);
        for (column, theirs) in self.columns.iter_mut().zip(&part.columns) {
            column.append_from(theirs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::fuzzing::{MINUTE, every_metric_kind};
    use crate::metrics::{EventOrder, MetricInput};
    use crate::spec::RollupShape;
    use crate::{RollupState, distinct::coupon_of};

    /// The position of `users` in [`every_metric_kind`].
    const USERS: usize = 7;

    fn shape() -> RollupShape {
        every_metric_kind(&["country", "device"], &[0.9])
    }

    fn merge(state: &mut RollupState, n: u64, user: &str) {
        let countries = [Some("DE"), Some("FR"), None, Some("JP")];
        let devices = ["mobile", "desktop"];
        let mixed = n.wrapping_mul(2_654_435_761) % 1_000_003;
        let price = (mixed % 997) as f64 / 10.0;
        let number = MetricInput::Number { value: price, exact: None };
        let mut inputs = [number; 9];
        inputs[0] = MetricInput::Absent;
        inputs[USERS] = MetricInput::Distinct(coupon_of(user));
        let micros = (n as i64 % 4) * MINUTE + n as i64;
        let order = EventOrder { micros, partition: 0, offset: n as i64 };
        let dimensions = [countries[(mixed % 4) as usize], Some(devices[(mixed % 2) as usize])];
        state.merge(micros, &dimensions, &inputs, order);
    }

    /// Four buckets; each row sees dozens of users, so its sketch is a real `HllSketch`.
    fn rollup() -> RollupState {
        let mut state = RollupState::new(&shape());
        for n in 0..4_000 {
            merge(&mut state, n, &format!("u{}", n % 300));
        }
        state
    }

    fn parts_of(state: &RollupState) -> (Vec<u8>, Vec<RollupState>) {
        let changes = state.encode_all().expect("encoded");
        let parts = changes
            .segments
            .iter()
            .map(|segment| RollupState::decode_part(&changes.header, segment.bucket, &segment.bytes).expect("part"))
            .collect();
        (changes.header, parts)
    }

    fn encoded(state: &RollupState) -> Vec<(i64, Vec<u8>)> {
        let changes = state.encode_all().expect("encoded");
        changes.segments.iter().map(|segment| (segment.bucket, segment.bytes.to_vec())).collect()
    }

    #[test]
    fn parts_put_together_are_the_rollup_their_segments_make() {
        let state = rollup();
        let (header, parts) = parts_of(&state);
        assert_eq!(parts.len(), 4, "one part per bucket");
        let joined = RollupState::from_parts(&header, parts.iter()).expect("joined");
        let decoded = RollupState::from_segments(&header, encoded(&state)).expect("decoded");
        assert_eq!(joined.row_count(), state.row_count());
        assert_eq!(encoded(&joined), encoded(&decoded), "the same rows, ids, counts and sketches");
        let users = USERS;
        for row in 0..joined.row_count() {
            assert_eq!(
                joined.combine(users, std::iter::once(row), None),
                decoded.combine(users, std::iter::once(row), None)
            );
        }
        // A reader may take any run of buckets, the newest alone too.
        let newest = RollupState::from_parts(&header, parts[3..].iter()).expect("newest");
        assert_eq!(newest.buckets().iter().collect::<std::collections::BTreeSet<_>>().len(), 1);
        let other = RollupState::new(&RollupShape { granularity_micros: 2 * MINUTE, ..shape() });
        let other_header = other.encode_header().expect("header");
        assert!(RollupState::from_parts(&other_header, parts.iter()).is_err(), "a part of another definition");
    }

    #[test]
    fn merging_into_a_joined_rollup_leaves_the_shared_parts_alone() {
        let state = rollup();
        let (header, parts) = parts_of(&state);
        let mut joined = RollupState::from_parts(&header, parts.iter()).expect("joined");
        let rows = joined.row_count();
        let users = USERS;
        let before = joined.combine(users, 0..rows, None);
        let part_before: Vec<_> = parts.iter().map(|part| part.combine(users, 0..part.row_count(), None)).collect();
        // Event 0's row, with a user no row has seen.
        merge(&mut joined, 0, "someone new");
        assert_eq!(joined.row_count(), rows, "the event found its row through the index built on merge");
        assert_eq!(joined.combine(users, 0..rows, None), before.map(|users| users + 1.0));
        let part_after: Vec<_> = parts.iter().map(|part| part.combine(users, 0..part.row_count(), None)).collect();
        assert_eq!(part_after, part_before, "the parts' sketches were copied on write, not changed");
    }
}
