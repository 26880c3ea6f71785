//! The index from a rollup row's key to the row, kept as one small table per
//! time bucket. Events of a stream mostly fall into the latest buckets, so the
//! tables (and the rows, which are added in time order) that merging touches
//! stay in the CPU caches however large the rollup grows; one table for all
//! rows would cost a cache miss per event once it outgrows them.
//!
//! Each table is open addressing with linear probing; a slot holds 32 bits of
//! the key hash beside the row number. Owns only the index: the rows' keys live
//! in the rollup state, which confirms every candidate (`same_key`) and gives
//! the hash of any row when a table grows.

use hashbrown::HashMap;

/// A table grows when more than 3/4 of its slots are taken.
const MAX_LOAD_NUMERATOR: usize = 3;
const MAX_LOAD_DENOMINATOR: usize = 4;
const MIN_CAPACITY: usize = 16;

/// The key hash's high 32 bits above the row + 1 (0 marks an empty slot).
type Slot = u64;

/// Where a key that is not in the index would go.
#[derive(Debug, Clone, Copy)]
pub struct Vacancy {
    table: usize,
    position: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RowIndex {
    tables: Vec<BucketTable>,
    table_of_bucket: HashMap<i64, usize>,
    /// The bucket looked up last and its table: consecutive events mostly share a bucket.
    recent: Option<(i64, usize)>,
}

#[derive(Debug, Clone, Default)]
struct BucketTable {
    slots: Vec<Slot>,
    len: usize,
}

impl RowIndex {
    /// The row of `bucket` with this key hash that `same_key` confirms, or the
    /// vacancy to insert it at.
    #[inline]
    pub fn find(&mut self, hash: u64, bucket: i64, same_key: impl FnMut(usize) -> bool) -> Result<usize, Vacancy> {
        let table = self.table_for(bucket);
        self.tables[table].find(hash, same_key).map_err(|position| Vacancy { table, position })
    }

    /// Adds `row` at the vacancy [`Self::find`] gave for the same key; `rehash`
    /// gives the key hash of any stored row, for growing.
    pub fn insert(&mut self, vacancy: Vacancy, hash: u64, row: usize, rehash: impl Fn(usize) -> u64) {
        self.tables[vacancy.table].insert(vacancy.position, hash, row, &rehash);
    }

    /// Rebuilds the index over rows `0..rows`; `key` gives a row's hash and bucket.
    pub fn rebuild(&mut self, rows: usize, key: impl Fn(usize) -> (u64, i64)) {
        *self = Self::default();
        let keys: Vec<(u64, i64)> = (0..rows).map(&key).collect();
        for (row, &(hash, bucket)) in keys.iter().enumerate() {
            let table = self.table_for(bucket);
            self.tables[table].add(hash, row, &|other| keys[other].0);
        }
    }

    /// The rows of `bucket`, in the order they were added.
    pub fn rows_of(&self, bucket: i64) -> Vec<usize> {
        let Some(&table) = self.table_of_bucket.get(&bucket) else { return Vec::new() };
        let mut rows: Vec<usize> = self.tables[table]
            .slots
            .iter()
            .filter(|&&slot| slot != 0)
            .map(|&slot| (slot as u32 - 1) as usize)
            .collect();
        rows.sort_unstable();
        rows
    }

    /// Every bucket that holds rows, in no particular order.
    pub fn buckets(&self) -> impl Iterator<Item = i64> + '_ {
        self.table_of_bucket.iter().filter(|&(_, &table)| self.tables[table].len > 0).map(|(&bucket, _)| bucket)
    }

    #[inline]
    fn table_for(&mut self, bucket: i64) -> usize {
        if let Some((recent_bucket, table)) = self.recent
            && recent_bucket == bucket
        {
            return table;
        }
        let next = self.tables.len();
        let table = *self.table_of_bucket.entry(bucket).or_insert(next);
        if table == next {
            self.tables.push(BucketTable::default());
        }
        self.recent = Some((bucket, table));
        table
    }
}

impl BucketTable {
    /// The confirmed row, or the free position where probing stopped (`usize::MAX` when empty).
    #[inline]
    fn find(&self, hash: u64, mut same_key: impl FnMut(usize) -> bool) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(usize::MAX);
        }
        let mask = self.slots.len() - 1;
        let tag = hash >> 32;
        let mut position = hash as usize & mask;
        loop {
            let slot = self.slots[position];
            if slot == 0 {
                return Err(position);
            }
            if slot >> 32 == tag && same_key((slot as u32 - 1) as usize) {
                return Ok((slot as u32 - 1) as usize);
            }
            position = (position + 1) & mask;
        }
    }

    /// Adds `row` at `position`, the free place [`Self::find`] stopped at, unless the table must grow first.
    fn insert(&mut self, position: usize, hash: u64, row: usize, rehash: &impl Fn(usize) -> u64) {
        if position == usize::MAX || self.is_full() {
            self.add(hash, row, rehash);
        } else {
            self.slots[position] = slot_of(hash, row);
            self.len += 1;
        }
    }

    /// Adds `row` wherever its hash leads, growing the table when it is full.
    fn add(&mut self, hash: u64, row: usize, rehash: &impl Fn(usize) -> u64) {
        if self.is_full() {
            self.grow(rehash);
        }
        self.place(hash, slot_of(hash, row));
        self.len += 1;
    }

    /// Whether one more row would pass the load limit.
    fn is_full(&self) -> bool {
        (self.len + 1) * MAX_LOAD_DENOMINATOR > self.slots.len() * MAX_LOAD_NUMERATOR
    }

    fn grow(&mut self, rehash: &impl Fn(usize) -> u64) {
        let old = std::mem::take(&mut self.slots);
        let wanted = ((self.len + 1) * MAX_LOAD_DENOMINATOR).div_ceil(MAX_LOAD_NUMERATOR) + 1;
        self.slots = vec![0; wanted.next_power_of_two().max(MIN_CAPACITY).max(old.len() * 2)];
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            self.place(rehash((slot as u32 - 1) as usize), slot);
        }
    }

    /// Puts a slot in the first free place from its hash's position.
    fn place(&mut self, hash: u64, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut position = hash as usize & mask;
        while self.slots[position] != 0 {
            position = (position + 1) & mask;
        }
        self.slots[position] = slot;
    }
}

fn slot_of(hash: u64, row: usize) -> Slot {
    (hash >> 32) << 32 | (row as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::RowIndex;

    /// Keys whose hashes collide a lot (only 16 distinct hashes), so probing and growth are exercised.
    #[test]
    fn finds_every_row_through_collisions_and_growth() {
        let keys: Vec<(u64, i64)> =
            (0..5_000_u64).map(|n| ((n % 16).wrapping_mul(0x9e37_79b9_7f4a_7c15), (n % 7) as i64)).collect();
        let mut index = RowIndex::default();
        for (row, &(hash, bucket)) in keys.iter().enumerate() {
            let vacancy = index.find(hash, bucket, |other| other == row).expect_err("new row");
            index.insert(vacancy, hash, row, |other| keys[other].0);
        }
        for (row, &(hash, bucket)) in keys.iter().enumerate() {
            assert_eq!(index.find(hash, bucket, |other| other == row).ok(), Some(row));
        }
        let mut rebuilt = RowIndex::default();
        rebuilt.rebuild(keys.len(), |row| keys[row]);
        for (row, &(hash, bucket)) in keys.iter().enumerate().rev() {
            assert_eq!(rebuilt.find(hash, bucket, |other| other == row).ok(), Some(row));
        }
        assert!(rebuilt.find(keys[0].0, keys[0].1, |_| false).is_err(), "a key no row confirms is not found");
        assert!(rebuilt.find(keys[0].0, 99, |_| true).is_err(), "rows of other buckets are not candidates");
        let rows_of_bucket_3: Vec<usize> = (0..keys.len()).filter(|row| keys[*row].1 == 3).collect();
        assert_eq!(rebuilt.rows_of(3), rows_of_bucket_3, "a bucket's rows, in the order they were added");
        assert!(rebuilt.rows_of(99).is_empty());
        let mut buckets: Vec<i64> = rebuilt.buckets().collect();
        buckets.sort_unstable();
        assert_eq!(buckets, (0..7).collect::<Vec<_>>());
    }
}
