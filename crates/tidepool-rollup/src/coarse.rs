//! A rollup re-aggregated at query time over fewer of its dimensions, and
//! over all time when the reader does not look at buckets: the rows that
//! agree on what is kept become one row whose accumulators are theirs merged,
//! with the combining aggregators chart series and reports use
//! ([`crate::merged`]). A report that reads two of a rollup's six dimensions,
//! or none of its time, then joins and groups a far smaller rollup — Druid
//! merges segments' rows the same way at query time.
//!
//! Never changes the rollup it reads; owns no I/O.

use hashbrown::HashMap;

use crate::dictionary::Dictionary;
use crate::merged::Merged;
use crate::metrics::MetricColumn;
use crate::row_index::RowIndex;
use crate::segments::ChangeLog;
use crate::{KeyHasher, RollupState};

/// Groups are found by direct address while the key space is at most this
/// many slots per row; past it, by hashing.
const DIRECT_SLOTS_PER_ROW: u64 = 4;

/// A merged rollup, and how many of the original rows each of its rows merges.
#[derive(Debug, Clone)]
pub struct Coarsened {
    pub rollup: RollupState,
    pub rows_merged: Vec<u32>,
}

/// A dimension looked up through another (Druid's lookup): each id of
/// dimension `through` names a value of `dictionary` (`NULL_ID` for none) —
/// a table's column met through a join on that dimension.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub name: String,
    pub through: usize,
    /// By id of dimension `through`.
    pub ids: Vec<u32>,
    pub dictionary: Dictionary,
}

/// What a merged rollup keeps.
#[derive(Debug, Clone, Copy)]
pub struct Coarsening<'a> {
    /// The dimensions kept (indexes), in this order, …
    pub dimensions: &'a [usize],
    /// … then these looked-up ones.
    pub lookups: &'a [Lookup],
    /// Unless set, all buckets merge into one (a merged row keeps the earliest of its rows').
    pub keep_buckets: bool,
    /// Only the rows whose id of dimension `.0` is flagged in `.1` (what an inner join keeps).
    pub only: Option<(usize, &'a [bool])>,
}

/// Which coarse row each row of the rollup goes to.
struct Grouping {
    /// `LEFT_OUT` for a row that `only` leaves out.
    group_of_row: Vec<u32>,
    /// The first row of each group, in group order.
    first_rows: Vec<usize>,
}

const LEFT_OUT: u32 = u32::MAX;

impl RollupState {
    /// This rollup with only `dimensions` (indexes, in the order given) and,
    /// unless `keep_buckets`, all of its buckets as one; see [`Self::coarsened_by`].
    #[must_use]
    pub fn coarsened(&self, dimensions: &[usize], keep_buckets: bool) -> Option<Coarsened> {
        self.coarsened_by(&Coarsening { dimensions, lookups: &[], keep_buckets, only: None })
    }

    /// This rollup merged over everything `by` does not keep. Rows come in the
    /// order of their first row here. `None` when the kept keys cannot be
    /// numbered in 64 bits (so many distinct values that merging would gain
    /// little), or a lookup does not fit this rollup.
    #[must_use]
    pub fn coarsened_by(&self, by: &Coarsening<'_>) -> Option<Coarsened> {
        let Grouping { group_of_row, first_rows } = self.grouping(by)?;
        let groups = first_rows.len();
        let mut event_counts = vec![0_u64; groups];
        let mut buckets: Vec<i64> = first_rows.iter().map(|&row| self.buckets[row]).collect();
        let mut rows_merged = vec![0_u32; groups];
        for (row, &group) in group_of_row.iter().enumerate().filter(|(_, group)| **group != LEFT_OUT) {
            let group = group as usize;
            rows_merged[group] = rows_merged[group].saturating_add(1);
            event_counts[group] = event_counts[group].saturating_add(self.event_counts[row]);
            buckets[group] = buckets[group].min(self.buckets[row]);
        }
        let columns = self.columns.iter().map(|column| self.merged_column(column, &group_of_row, groups)).collect();
        let width = self.dimension_names.len();
        let mut dimension_ids = Vec::with_capacity(groups * (by.dimensions.len() + by.lookups.len()));
        for &row in &first_rows {
            let ids = &self.dimension_ids[row * width..(row + 1) * width];
            dimension_ids.extend(by.dimensions.iter().map(|&dimension| ids[dimension]));
            dimension_ids.extend(by.lookups.iter().map(|lookup| lookup.ids[ids[lookup.through] as usize]));
        }
        let mut dimension_names: Vec<String> =
            by.dimensions.iter().map(|&dimension| self.dimension_names[dimension].clone()).collect();
        dimension_names.extend(by.lookups.iter().map(|lookup| lookup.name.clone()));
        let mut dictionaries: Vec<Dictionary> =
            by.dimensions.iter().map(|&dimension| self.dictionaries[dimension].clone()).collect();
        dictionaries.extend(by.lookups.iter().map(|lookup| lookup.dictionary.clone()));
        let coarse = RollupState {
            granularity_micros: self.granularity_micros,
            dimension_names,
            metric_names: self.metric_names.clone(),
            dictionaries,
            buckets,
            dimension_ids,
            event_counts,
            columns,
            rows_by_key: RowIndex::default(),
            // Hashing every row's texts would cost more than the merging: built if ever merged into.
            index_pending: true,
            hasher: KeyHasher::default(),
            changes: ChangeLog::everything(),
        };
        Some(Coarsened { rollup: coarse, rows_merged })
    }

    /// `column`'s accumulators merged per group.
    fn merged_column(&self, column: &MetricColumn, group_of_row: &[u32], groups: usize) -> MetricColumn {
        // A count keeps nothing of its own: the event counts are its values.
        let mut merged_column = column.select(&[]);
        if matches!(column, MetricColumn::Count) {
            return merged_column;
        }
        let mut merged: Vec<Merged> = (0..groups).map(|_| Merged::empty(column)).collect();
        for (row, &group) in group_of_row.iter().enumerate().filter(|(_, group)| **group != LEFT_OUT) {
            merged[group as usize].add_row(column, row, self.event_counts[row]);
        }
        for accumulator in merged {
            accumulator.push_into(&mut merged_column);
        }
        merged_column
    }

    /// Numbers each row's kept key — (bucket,) kept dimension ids, looked-up
    /// ids — as one integer and gives each distinct key a group, in order of
    /// first appearance.
    fn grouping(&self, by: &Coarsening<'_>) -> Option<Grouping> {
        let rows = self.buckets.len();
        let width = self.dimension_names.len();
        let fits = |lookup: &Lookup| {
            lookup.through < width
                && lookup.ids.len() > self.dictionaries[lookup.through].len()
                && lookup.ids.iter().all(|&id| id as usize <= lookup.dictionary.len())
        };
        let only_fits = by
            .only
            .is_none_or(|(dimension, flags)| dimension < width && flags.len() > self.dictionaries[dimension].len());
        if !by.lookups.iter().all(fits) || !only_fits || by.dimensions.iter().any(|&dimension| dimension >= width) {
            return None;
        }
        let bucket_ordinals = by.keep_buckets.then(|| self.bucket_ordinals());
        let bucket_slots =
            bucket_ordinals.as_ref().and_then(|ordinals| ordinals.iter().max()).map_or(1, |&most| u64::from(most) + 1);
        let radices: Vec<u64> = by
            .dimensions
            .iter()
            .map(|&dimension| self.dictionaries[dimension].len() as u64 + 1)
            .chain(by.lookups.iter().map(|lookup| lookup.dictionary.len() as u64 + 1))
            .collect();
        let key_space = radices.iter().try_fold(bucket_slots, |space, &radix| space.checked_mul(radix))?;
        let key_of = |row: usize| {
            let ids = &self.dimension_ids[row * width..(row + 1) * width];
            if let Some((dimension, flags)) = by.only
                && !flags[ids[dimension] as usize]
            {
                return None;
            }
            let bucket = bucket_ordinals.as_ref().map_or(0, |ordinals| ordinals[row]);
            let parts = by
                .dimensions
                .iter()
                .map(|&dimension| ids[dimension])
                .chain(by.lookups.iter().map(|lookup| lookup.ids[ids[lookup.through] as usize]));
            Some(parts.zip(&radices).fold(u64::from(bucket), |key, (id, &radix)| key * radix + u64::from(id)))
        };
        let mut first_rows = Vec::new();
        let mut group_for = |row: usize, slot: &mut u32| {
            if *slot == LEFT_OUT {
                *slot = first_rows.len() as u32;
                first_rows.push(row);
            }
            *slot
        };
        let group_of_row: Vec<u32> = if key_space <= (rows as u64).saturating_mul(DIRECT_SLOTS_PER_ROW).max(1 << 16) {
            let mut slots = vec![LEFT_OUT; usize::try_from(key_space).ok()?];
            (0..rows).map(|row| key_of(row).map_or(LEFT_OUT, |key| group_for(row, &mut slots[key as usize]))).collect()
        } else {
            let mut slots: HashMap<u64, u32> = HashMap::with_capacity(rows.min(1 << 20));
            (0..rows)
                .map(|row| key_of(row).map_or(LEFT_OUT, |key| group_for(row, slots.entry(key).or_insert(LEFT_OUT))))
                .collect()
        };
        Some(Grouping { group_of_row, first_rows })
    }

    /// Each row's bucket as a small number (the buckets' order of first appearance).
    fn bucket_ordinals(&self) -> Vec<u32> {
        let mut ordinal_of: HashMap<i64, u32> = HashMap::new();
        let mut last: Option<(i64, u32)> = None;
        self.buckets
            .iter()
            .map(|&bucket| match last {
                // Rows of one bucket mostly follow each other.
                Some((held, ordinal)) if held == bucket => ordinal,
                _ => {
                    let next = ordinal_of.len() as u32;
                    let ordinal = *ordinal_of.entry(bucket).or_insert(next);
                    last = Some((bucket, ordinal));
                    ordinal
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::fuzzing::{MINUTE, every_metric_kind};
    use crate::metrics::{EventOrder, MetricInput};
    use crate::spec::{MetricKind, MetricShape, RollupShape};
    use crate::{RollupState, distinct::coupon_of};

    fn shape() -> RollupShape {
        every_metric_kind(&["country", "device", "user"], &[0.5])
    }

    /// A rollup of `events` pseudo-random events over five minutes.
    fn rollup(events: u64) -> RollupState {
        let mut state = RollupState::new(&shape());
        let countries = ["DE", "FR", "JP"];
        let devices = ["mobile", "desktop"];
        for n in 0..events {
            let mixed = n.wrapping_mul(2_654_435_761) % 1_000_003;
            let price = (mixed % 997) as f64 / 10.0;
            let user = format!("u{}", mixed % 40);
            let country = if mixed % 11 == 0 { None } else { Some(countries[(mixed % 3) as usize]) };
            let inputs = [
                MetricInput::Absent,
                MetricInput::Number { value: price, exact: None },
                MetricInput::Number { value: price, exact: None },
                MetricInput::Number { value: price, exact: None },
                MetricInput::Number { value: price, exact: None },
                MetricInput::Number { value: price, exact: None },
                MetricInput::Number { value: price, exact: None },
                MetricInput::Distinct(coupon_of(&user)),
                MetricInput::Number { value: price, exact: None },
            ];
            let micros = (n as i64 % 5) * MINUTE + n as i64;
            let order = EventOrder { micros, partition: 0, offset: n as i64 };
            state.merge(micros, &[country, Some(devices[(mixed % 2) as usize]), Some(&user)], &inputs, order);
        }
        state
    }

    /// Every metric of `state` combined over the rows `keep` picks.
    fn combined(state: &RollupState, keep: impl Fn(usize) -> bool) -> Vec<Option<f64>> {
        let rows: Vec<usize> = (0..state.row_count()).filter(|&row| keep(row)).collect();
        (0..state.metric_names().len()).map(|metric| state.combine(metric, rows.iter().copied(), None)).collect()
    }

    fn text(state: &RollupState, row: usize, dimension: usize) -> Option<&str> {
        state.dictionary(dimension).value(state.dimension_id(row, dimension))
    }

    #[test]
    fn each_coarse_row_holds_what_its_rows_held_together() {
        let fine = rollup(5_000);
        for keep_buckets in [true, false] {
            let super::Coarsened { rollup: coarse, rows_merged } =
                fine.coarsened(&[0], keep_buckets).expect("a small key space");
            assert_eq!(
                rows_merged.iter().map(|&n| n as usize).sum::<usize>(),
                fine.row_count(),
                "every row merged once"
            );
            let expected_rows: std::collections::BTreeSet<(Option<i64>, Option<&str>)> = (0..fine.row_count())
                .map(|row| (keep_buckets.then(|| fine.buckets()[row]), text(&fine, row, 0)))
                .collect();
            assert_eq!(coarse.row_count(), expected_rows.len(), "one row per kept key");
            assert_eq!(coarse.dimension_names(), ["country"]);
            assert_eq!(coarse.event_total(), fine.event_total());
            for row in 0..coarse.row_count() {
                let (bucket, country) = (coarse.buckets()[row], text(&coarse, row, 0));
                let from = |fine_row: usize| {
                    text(&fine, fine_row, 0) == country && (!keep_buckets || fine.buckets()[fine_row] == bucket)
                };
                let whole = combined(&coarse, |r| r == row);
                let expected = combined(&fine, from);
                for (metric, (got, want)) in whole.iter().zip(&expected).enumerate() {
                    let name = &fine.metric_names()[metric];
                    assert!(agree(name, *got, *want), "metric {name} of {country:?} at {bucket}: {got:?} != {want:?}");
                }
                if !keep_buckets {
                    let earliest = (0..fine.row_count()).filter(|&r| from(r)).map(|r| fine.buckets()[r]).min();
                    assert_eq!(Some(bucket), earliest, "a merged row keeps its earliest bucket");
                }
            }
        }
    }

    #[test]
    fn a_looked_up_dimension_groups_rows_by_its_values_and_only_keeps_the_flagged_ones() {
        let fine = rollup(3_000);
        let users = fine.dictionary(2);
        // Users u0…u39: "even" or "odd" by number; u30 and past have no team and are left out.
        let mut teams = crate::Dictionary::default();
        let number = |id: u32| users.value(id).and_then(|user| user[1..].parse::<u32>().ok());
        let ids: Vec<u32> = (0..=users.len() as u32)
            .map(|id| match number(id) {
                Some(n) if n < 30 => teams.id_of(Some(if n % 2 == 0 { "even" } else { "odd" })),
                _ => crate::dictionary::NULL_ID,
            })
            .collect();
        let flags: Vec<bool> = (0..=users.len() as u32).map(|id| number(id).is_some_and(|n| n < 30)).collect();
        let lookup = super::Lookup { name: "team".into(), through: 2, ids, dictionary: teams };
        let by =
            super::Coarsening { dimensions: &[1], lookups: &[lookup], keep_buckets: false, only: Some((2, &flags)) };
        let super::Coarsened { rollup: coarse, rows_merged } = fine.coarsened_by(&by).expect("a small key space");
        assert_eq!(coarse.dimension_names(), ["device", "team"]);
        let pairs: std::collections::BTreeSet<(Option<&str>, bool)> = (0..fine.row_count())
            .filter_map(|row| {
                number(fine.dimension_id(row, 2)).filter(|&n| n < 30).map(|n| (text(&fine, row, 1), n % 2 == 0))
            })
            .collect();
        assert_eq!(coarse.row_count(), pairs.len(), "one row per (device, team) seen");
        let kept_rows = (0..fine.row_count()).filter(|&row| flags[fine.dimension_id(row, 2) as usize]).count();
        assert_eq!(rows_merged.iter().map(|&n| n as usize).sum::<usize>(), kept_rows, "the flagged rows, once each");
        for row in 0..coarse.row_count() {
            let (device, team) = (text(&coarse, row, 0), text(&coarse, row, 1));
            let from = |fine_row: usize| {
                let user = number(fine.dimension_id(fine_row, 2)).expect("a user");
                text(&fine, fine_row, 1) == device
                    && user < 30
                    && Some(if user % 2 == 0 { "even" } else { "odd" }) == team
            };
            for ((got, want), name) in
                combined(&coarse, |r| r == row).into_iter().zip(combined(&fine, from)).zip(fine.metric_names())
            {
                assert!(agree(name, got, want), "metric {name} of {device:?}, {team:?}: {got:?} != {want:?}");
            }
        }
    }

    #[test]
    fn a_coarse_rollup_saves_and_loads_like_any_other() {
        let coarse = rollup(2_000).coarsened(&[1, 0], true).expect("a small key space").rollup;
        let rows = coarse.row_count();
        let bytes = postcard::to_stdvec(&coarse).expect("saved");
        let again: RollupState = postcard::from_bytes(&bytes).expect("loaded");
        // Encoded as segments and merged into, as any rollup (its row index is built on the first merge).
        let encoded = coarse.encode_all().expect("encoded");
        assert_eq!(encoded.segments.iter().map(|segment| segment.rows).sum::<usize>(), rows);
        let mut merged_into = coarse.clone();
        let (bucket, device, country) = (coarse.buckets()[0], text(&coarse, 0, 0), text(&coarse, 0, 1));
        let order = EventOrder { micros: bucket, partition: 0, offset: 1 << 40 };
        let inputs = [MetricInput::Absent; 9];
        merged_into.merge(bucket, &[device, country], &inputs, order);
        assert_eq!(merged_into.row_count(), rows, "the event found its row");
        assert_eq!(merged_into.event_counts()[0], coarse.event_counts()[0] + 1);
        assert_eq!(again.row_count(), rows);
        assert_eq!(again.dimension_names(), ["device", "country"]);
        for ((got, want), name) in
            combined(&again, |_| true).into_iter().zip(combined(&coarse, |_| true)).zip(again.metric_names())
        {
            assert!(agree(name, got, want), "metric {name}: {got:?} != {want:?}");
        }
    }

    /// Equal values — within float rounding; for the quantile, within 3% of
    /// the values' range (KLL compacts at random, so merging the same rows in
    /// another order gives another value of the same rank error).
    fn agree(metric: &str, got: Option<f64>, want: Option<f64>) -> bool {
        let tolerance = |want: f64| if metric == "latency" { 3.0 } else { 1e-9 * want.abs().max(1.0) };
        match (got, want) {
            (Some(got), Some(want)) => (got - want).abs() <= tolerance(want),
            (got, want) => got == want,
        }
    }

    #[test]
    fn a_key_space_past_64_bits_is_declined() {
        let mut state = RollupState::new(&RollupShape {
            granularity_micros: MINUTE,
            dimensions: (0..8).map(|d| format!("d{d}")).collect(),
            metrics: vec![MetricShape { name: "events".into(), kind: MetricKind::Count, ranks: Vec::new() }],
        });
        for n in 0..300_u64 {
            let values: Vec<String> = (0..8).map(|d| format!("{}", n * 31 + d)).collect();
            let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
            state.merge(0, &values, &[MetricInput::Absent], EventOrder { micros: 0, partition: 0, offset: n as i64 });
        }
        assert!(state.coarsened(&[0, 1, 2, 3, 4, 5, 6, 7], false).is_none(), "301^8 keys do not fit 64 bits");
        assert_eq!(state.coarsened(&[0, 1], false).map(|coarse| coarse.rollup.row_count()), Some(300));
    }
}
