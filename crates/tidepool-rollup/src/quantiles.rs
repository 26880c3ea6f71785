//! Quantiles (p50, p90, p99…) with Apache `DataSketches`' KLL doubles sketch —
//! Druid's `KllDoublesSketch` — mergeable when rows are re-aggregated, exact
//! while a row holds at most `k` (200) values, and within ~1.3% of rank beyond.
//! Serialized in `DataSketches`' own format. A copy shares the sketch until
//! either side changes it (copy on write), so copying rows is cheap. Owns no I/O.

use std::sync::Arc;

use datasketches::common::SearchCriteria;
use datasketches::kll::{KllFloat, KllSketch};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Items kept per level: Druid's and `DataSketches`' default.
const K: u16 = 200;

type Kll = KllSketch<KllFloat<f64>>;

/// A quantile sketch of one row's values; nothing is allocated until a value arrives.
#[derive(Debug, Clone, Default)]
pub struct QuantileSketch(Option<Arc<Kll>>);

impl QuantileSketch {
    /// Adds one value (NaN is ignored: it has no rank).
    #[inline]
    pub fn insert(&mut self, value: f64) {
        let Ok(item) = KllFloat::<f64>::new(value) else { return };
        Arc::make_mut(self.0.get_or_insert_with(|| Arc::new(new_kll()))).update(item);
    }

    /// Folds another sketch in: the quantiles of both value sets together.
    pub fn merge(&mut self, other: &Self) {
        if let Some(theirs) = &other.0 {
            let mine = Arc::make_mut(self.0.get_or_insert_with(|| Arc::new(new_kll())));
            // Both sketches use the same k, which is all `merge` checks.
            let _ = mine.merge(theirs);
        }
    }

    /// The value at `rank` (0…1), or `None` when the row has no values.
    pub fn quantile(&self, rank: f64) -> Option<f64> {
        let sketch = self.0.as_ref()?;
        sketch.quantile(rank, SearchCriteria::Inclusive).ok().flatten().map(KllFloat::into_inner)
    }

    /// Values seen.
    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |sketch| sketch.n())
    }

    /// The sketch in `DataSketches`' KLL doubles format (empty bytes for no values).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.as_ref().map(|sketch| sketch.serialize()).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        Kll::deserialize(bytes).map(|sketch| Self(Some(Arc::new(sketch)))).map_err(|err| err.to_string())
    }
}

fn new_kll() -> Kll {
    Kll::new(K).unwrap_or_else(|_| unreachable!("K is within DataSketches' range"))
}

impl Serialize for QuantileSketch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for QuantileSketch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = super::sketch_bytes::deserialize_image(deserializer)?;
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_small_rows_and_close_for_large_ones() {
        let mut small = QuantileSketch::default();
        for value in 1..=100 {
            small.insert(f64::from(value));
        }
        assert_eq!(small.quantile(0.5), Some(50.0));
        assert_eq!(small.quantile(0.99), Some(99.0));
        assert_eq!(small.count(), 100);
        let mut large = QuantileSketch::default();
        for value in 0..1_000_000 {
            large.insert(f64::from(value));
        }
        let p90 = large.quantile(0.9).unwrap();
        assert!((p90 - 900_000.0).abs() < 0.02 * 1e6, "p90 {p90}");
    }

    #[test]
    fn merged_sketches_give_the_quantiles_of_all_values() {
        let (mut left, mut right) = (QuantileSketch::default(), QuantileSketch::default());
        for value in 0..50 {
            left.insert(f64::from(value));
            right.insert(f64::from(value + 50));
        }
        left.merge(&right);
        assert_eq!(left.quantile(0.5), Some(49.0), "the median of 0..100, not a mean of medians");
        assert_eq!(QuantileSketch::default().quantile(0.5), None);
    }

    #[test]
    fn round_trips_in_datasketches_format() {
        let mut sketch = QuantileSketch::default();
        for value in 0..10_000 {
            sketch.insert(f64::from(value) * 0.5);
        }
        let again: QuantileSketch = postcard::from_bytes(&postcard::to_stdvec(&sketch).unwrap()).unwrap();
        assert_eq!(again.quantile(0.5), sketch.quantile(0.5));
        assert_eq!(again.to_bytes(), sketch.to_bytes());
        let empty: QuantileSketch =
            postcard::from_bytes(&postcard::to_stdvec(&QuantileSketch::default()).unwrap()).unwrap();
        assert_eq!(empty.count(), 0);
    }
}
