//! Druid-style rollup state: one row per (time bucket, dimension values) with
//! one accumulator per metric, merged event by event, saved and loaded as
//! per-bucket segments ([`segments`]), and combined exactly over rows
//! ([`series`]). The app turns it into Polars frames (for queries, exports and
//! the UI).
//!
//! The state is an incremental hash aggregation rather than a Polars frame that
//! is re-grouped on every batch: merging an event costs a hash look-up, and
//! snapshots are cheap to build. Owns no I/O: checkpoints serialize it, the
//! stream worker feeds it.
//!
//! A crate of its own, with no Polars and no Kafka client, so that the
//! checkpoint loader's fuzz target (`fuzz/`) builds in a minute.

mod coarse;
pub mod dictionary;
pub mod distinct;
pub mod fuzzing;
mod key_hash;
mod merged;
pub mod metrics;
mod parts;
pub mod quantiles;
mod row_index;
pub mod segments;
pub mod series;
mod sketch_bytes;
pub mod spec;

use serde::{Deserialize, Serialize};

pub use coarse::{Coarsened, Coarsening, Lookup};
pub use dictionary::Dictionary;
use key_hash::KeyHasher;
pub use metrics::{EventOrder, MetricColumn, MetricInput};
use row_index::RowIndex;
use segments::ChangeLog;
use spec::RollupShape;
use tidepool_json::short_text::same_bytes;

/// Rows keyed by (bucket, dimension ids), with their metric accumulators.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StoredRollup")]
pub struct RollupState {
    granularity_micros: i64,
    dimension_names: Vec<String>,
    metric_names: Vec<String>,
    dictionaries: Vec<Dictionary>,
    /// Start of each row's bucket, µs since the epoch (UTC).
    buckets: Vec<i64>,
    /// Dimension ids, `dimension_names.len()` per row.
    dimension_ids: Vec<u32>,
    /// Events merged into each row.
    event_counts: Vec<u64>,
    columns: Vec<MetricColumn>,
    rows_by_key: RowIndex,
    /// Set while `rows_by_key` is not built yet: a rollup made to be read
    /// (a coarser one, see [`coarse`]) builds it only when something is merged into it.
    index_pending: bool,
    hasher: KeyHasher,
    /// The buckets changed since the last checkpoint took them (see [`segments`]).
    changes: ChangeLog,
}

/// The serialized form: everything but the hash index, which is rebuilt on load.
#[derive(Deserialize)]
struct StoredRollup {
    granularity_micros: i64,
    dimension_names: Vec<String>,
    metric_names: Vec<String>,
    dictionaries: Vec<Dictionary>,
    buckets: Vec<i64>,
    dimension_ids: Vec<u32>,
    event_counts: Vec<u64>,
    columns: Vec<MetricColumn>,
}

/// The same fields as [`StoredRollup`], borrowed, so saving does not copy the
/// state. Checkpoints before format 3 held the whole rollup in this form; today
/// they hold [`segments`].
#[derive(Serialize)]
struct StoredRollupRef<'a> {
    granularity_micros: i64,
    dimension_names: &'a [String],
    metric_names: &'a [String],
    dictionaries: &'a [Dictionary],
    buckets: &'a [i64],
    dimension_ids: &'a [u32],
    event_counts: &'a [u64],
    columns: &'a [MetricColumn],
}

impl Serialize for RollupState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRollupRef {
            granularity_micros: self.granularity_micros,
            dimension_names: &self.dimension_names,
            metric_names: &self.metric_names,
            dictionaries: &self.dictionaries,
            buckets: &self.buckets,
            dimension_ids: &self.dimension_ids,
            event_counts: &self.event_counts,
            columns: &self.columns,
        }
        .serialize(serializer)
    }
}

impl RollupState {
    pub fn new(spec: &RollupShape) -> Self {
        Self {
            granularity_micros: spec.granularity_micros,
            dimension_names: spec.dimensions.clone(),
            metric_names: spec.metrics.iter().map(|metric| metric.name.clone()).collect(),
            dictionaries: vec![Dictionary::default(); spec.dimensions.len()],
            buckets: Vec::new(),
            dimension_ids: Vec::new(),
            event_counts: Vec::new(),
            columns: spec.metrics.iter().map(MetricColumn::new).collect(),
            rows_by_key: RowIndex::default(),
            index_pending: false,
            hasher: KeyHasher::default(),
            // The key it is saved under may hold another definition's segments.
            changes: ChangeLog::everything(),
        }
    }

    pub fn bucket_of(&self, event_micros: i64) -> i64 {
        event_micros.div_euclid(self.granularity_micros) * self.granularity_micros
    }

    /// Merges one validated event: `dimensions` holds each dimension's value in
    /// workbook order (`None` for missing or null), `inputs` one input per metric.
    pub fn merge(&mut self, event_micros: i64, dimensions: &[Option<&str>], inputs: &[MetricInput], order: EventOrder) {
        let bucket = self.bucket_of(event_micros);
        let row = self.row_for(bucket, dimensions);
        self.changes.mark(bucket);
        self.event_counts[row] = self.event_counts[row].saturating_add(1);
        for (column, input) in self.columns.iter_mut().zip(inputs) {
            column.merge(row, *input, order);
        }
    }

    /// The row of (bucket, dimension values), added when new. Rows are found by
    /// hashing the values' text in the bucket's own index table, so a known row
    /// costs one hash and one probe; the dictionaries are only touched when a
    /// row is added.
    fn row_for(&mut self, bucket: i64, dimensions: &[Option<&str>]) -> usize {
        if self.index_pending {
            self.rebuild_index();
        }
        let hash = self.hasher.hash(bucket, dimensions.iter().copied());
        let width = self.dimension_names.len();
        let (ids, dictionaries) = (&self.dimension_ids, &self.dictionaries);
        let found = self.rows_by_key.find(hash, bucket, |row| {
            ids[row * width..(row + 1) * width].iter().zip(dictionaries).zip(dimensions).all(
                |((&id, dictionary), value)| match (dictionary.value(id), value) {
                    (Some(held), Some(value)) => same_bytes(held.as_bytes(), value.as_bytes()),
                    (held, value) => held.is_none() && value.is_none(),
                },
            )
        });
        let vacancy = match found {
            Ok(row) => return row,
            Err(vacancy) => vacancy,
        };
        let row = self.buckets.len();
        self.buckets.push(bucket);
        for (dictionary, value) in self.dictionaries.iter_mut().zip(dimensions) {
            self.dimension_ids.push(dictionary.id_of(*value));
        }
        self.event_counts.push(0);
        for column in &mut self.columns {
            column.push_row();
        }
        let (buckets, ids, dictionaries, hasher) =
            (&self.buckets, &self.dimension_ids, &self.dictionaries, &self.hasher);
        self.rows_by_key.insert(vacancy, hash, row, |other| row_hash(hasher, buckets, ids, dictionaries, other));
        row
    }

    /// Drops every row whose bucket starts before `cutoff_micros` (retention).
    /// Returns how many rows were dropped.
    pub fn drop_buckets_before(&mut self, cutoff_micros: i64) -> usize {
        let keep: Vec<bool> = self.buckets.iter().map(|&bucket| bucket >= cutoff_micros).collect();
        let dropped = keep.iter().filter(|&&kept| !kept).count();
        if dropped == 0 {
            return 0;
        }
        let width = self.dimension_names.len();
        let mut ids = Vec::with_capacity(self.dimension_ids.len());
        for (row, _) in keep.iter().enumerate().filter(|(_, kept)| **kept) {
            ids.extend_from_slice(&self.dimension_ids[row * width..(row + 1) * width]);
        }
        self.dimension_ids = ids;
        let mut flags = keep.iter();
        self.buckets.retain(|_| flags.next().copied().unwrap_or(false));
        let mut flags = keep.iter();
        self.event_counts.retain(|_| flags.next().copied().unwrap_or(false));
        for column in &mut self.columns {
            column.retain_rows(&keep);
        }
        self.rebuild_index();
        self.changes.drop_before(cutoff_micros);
        dropped
    }

    fn rebuild_index(&mut self) {
        self.index_pending = false;
        let (buckets, ids, dictionaries, hasher) =
            (&self.buckets, &self.dimension_ids, &self.dictionaries, &self.hasher);
        self.rows_by_key
            .rebuild(buckets.len(), |row| (row_hash(hasher, buckets, ids, dictionaries, row), buckets[row]));
    }

    pub fn row_count(&self) -> usize {
        self.buckets.len()
    }

    /// Events merged into all rows.
    pub fn event_total(&self) -> u64 {
        self.event_counts.iter().fold(0, |total, &count| total.saturating_add(count))
    }

    pub fn dimension_names(&self) -> &[String] {
        &self.dimension_names
    }

    pub fn metric_names(&self) -> &[String] {
        &self.metric_names
    }

    /// The position of dimension `name`, if the rollup has it.
    pub fn dimension_index(&self, name: &str) -> Option<usize> {
        self.dimension_names.iter().position(|dimension| dimension == name)
    }

    /// Each row's bucket start (µs since the epoch, UTC), in storage order.
    pub fn buckets(&self) -> &[i64] {
        &self.buckets
    }

    /// Each row's event count, in storage order.
    pub fn event_counts(&self) -> &[u64] {
        &self.event_counts
    }

    /// Each metric's accumulators, in workbook order.
    pub fn metric_columns(&self) -> &[MetricColumn] {
        &self.columns
    }

    /// The texts of dimension `dimension` by id.
    pub fn dictionary(&self, dimension: usize) -> &Dictionary {
        &self.dictionaries[dimension]
    }

    /// Row `row`'s id of dimension `dimension` (see [`Self::dictionary`]).
    pub fn dimension_id(&self, row: usize, dimension: usize) -> u32 {
        self.dimension_ids[row * self.dimension_names.len() + dimension]
    }

    /// Each row's id of dimension `dimension`, in storage order.
    pub fn dimension_ids(&self, dimension: usize) -> Vec<u32> {
        let width = self.dimension_names.len();
        self.dimension_ids.iter().skip(dimension).step_by(width.max(1)).copied().collect()
    }

    /// The rows of each bucket, in row order: from the index, or from one
    /// pass over the rows while the index is not built.
    fn rows_by_bucket(&self) -> RowsByBucket<'_> {
        if !self.index_pending {
            return RowsByBucket::Indexed(&self.rows_by_key);
        }
        let mut rows: hashbrown::HashMap<i64, Vec<usize>> = hashbrown::HashMap::new();
        for (row, &bucket) in self.buckets.iter().enumerate() {
            rows.entry(bucket).or_default().push(row);
        }
        RowsByBucket::Gathered(rows)
    }

    /// Renames the metrics in place (same kinds and fields, new column names).
    pub fn rename_metrics(&mut self, names: Vec<String>) {
        if names.len() == self.metric_names.len() {
            self.metric_names = names;
        }
    }
}

/// Where the rows of each bucket are found (see [`RollupState::rows_by_bucket`]).
enum RowsByBucket<'a> {
    Indexed(&'a RowIndex),
    Gathered(hashbrown::HashMap<i64, Vec<usize>>),
}

impl RowsByBucket<'_> {
    fn buckets(&self) -> Vec<i64> {
        match self {
            Self::Indexed(index) => index.buckets().collect(),
            Self::Gathered(rows) => rows.keys().copied().collect(),
        }
    }

    fn rows_of(&self, bucket: i64) -> Vec<usize> {
        match self {
            Self::Indexed(index) => index.rows_of(bucket),
            Self::Gathered(rows) => rows.get(&bucket).cloned().unwrap_or_default(),
        }
    }
}

/// The index hash of a stored row.
fn row_hash(hasher: &KeyHasher, buckets: &[i64], ids: &[u32], dictionaries: &[Dictionary], row: usize) -> u64 {
    let width = dictionaries.len();
    let values =
        ids[row * width..(row + 1) * width].iter().zip(dictionaries).map(|(&id, dictionary)| dictionary.value(id));
    hasher.hash(buckets[row], values)
}

impl TryFrom<StoredRollup> for RollupState {
    type Error = String;

    /// Checks that every per-row vector has one entry per row (a damaged
    /// checkpoint is refused here instead of panicking later), then rebuilds the index.
    fn try_from(stored: StoredRollup) -> Result<Self, String> {
        let rows = stored.buckets.len();
        let width = stored.dimension_names.len();
        if stored.event_counts.len() != rows {
            return Err(format!("{} event counts for {rows} rows", stored.event_counts.len()));
        }
        if stored.dimension_ids.len() != rows * width || stored.dictionaries.len() != width {
            return Err(format!("dimension data does not match {rows} rows of {width} dimensions"));
        }
        if stored.columns.len() != stored.metric_names.len() {
            return Err(format!("{} metric columns for {} metrics", stored.columns.len(), stored.metric_names.len()));
        }
        if let Some((name, found)) = stored
            .metric_names
            .iter()
            .zip(&stored.columns)
            .find_map(|(name, column)| column.rows().filter(|&found| found != rows).map(|found| (name, found)))
        {
            return Err(format!("metric `{name}` has {found} values for {rows} rows"));
        }
        if stored.granularity_micros <= 0 {
            return Err(format!("granularity of {} µs", stored.granularity_micros));
        }
        let mut state = Self {
            granularity_micros: stored.granularity_micros,
            dimension_names: stored.dimension_names,
            metric_names: stored.metric_names,
            dictionaries: stored.dictionaries,
            buckets: stored.buckets,
            dimension_ids: stored.dimension_ids,
            event_counts: stored.event_counts,
            columns: stored.columns,
            rows_by_key: RowIndex::default(),
            index_pending: false,
            hasher: KeyHasher::default(),
            // Read from a whole-rollup checkpoint: the next one writes every segment.
            changes: ChangeLog::everything(),
        };
        state.rebuild_index();
        Ok(state)
    }
}
