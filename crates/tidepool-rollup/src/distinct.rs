//! Distinct counts with Apache `DataSketches`' HLL sketch — Druid's
//! `HLLSketchBuild` — so counts are exact while a row holds few values (the
//! sketch's list and set modes keep every 32-bit coupon) and within ~0.8%
//! (standard error at `lg_k` = 14) beyond, and sketches serialize in
//! `DataSketches`' own format, which Druid, Java and C++ read.
//!
//! Most rollup rows see only a handful of values, so a row keeps up to
//! [`INLINE`] coupons inside the sketch itself (no heap) and becomes a real
//! `HllSketch` when the next coupon arrives — exactly where `DataSketches`'
//! own list (capacity 8) would turn into a set. Stored and exchanged, an
//! inline sketch is written as the compact list-mode image `HllSketch` itself
//! writes, so both forms are one format.
//!
//! A copy of a real sketch shares it until either side changes it (copy on
//! write), so copying rows (a reader's rollup put together from decoded
//! buckets) costs no sketch copies.
//!
//! Values are hashed as their UTF-8 text (`raw_bytes`), as Druid does for
//! string columns. Owns no I/O.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datasketches::hash::value::raw_bytes;
use datasketches::hll::{Coupon, HllSketch, HllType, HllUnion};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `2^14` registers once dense: ~0.8% relative standard error.
pub const LG_K: u8 = 14;
/// 8 bits per register: the fastest to update.
const HLL_TYPE: HllType = HllType::Hll8;
/// Coupons kept inline; the 8th fills `DataSketches`' list (lg size 3), which promotes it.
const INLINE: usize = 7;

// The compact list-mode image (DataSketches HLL wire format, serial version 1).
const LIST_PREINTS: u8 = 2;
const SERIAL_VERSION: u8 = 1;
const FAMILY_HLL: u8 = 7;
const LIST_LG_ARR: u8 = 3;
const EMPTY_FLAG: u8 = 4;
const COMPACT_FLAG: u8 = 8;
const LIST_PREAMBLE: usize = 8;
const TARGET_HLL8: u8 = 2;

/// The hashed form of one value, ready for a sketch.
pub fn coupon_of(text: &str) -> Coupon {
    Coupon::from_value(raw_bytes::from_str(text))
}

/// The 32 bits of a coupon (register value and slot), read through its `Hash`.
#[inline]
fn coupon_bits(coupon: Coupon) -> u32 {
    struct Bits(u32);
    impl Hasher for Bits {
        fn write(&mut self, bytes: &[u8]) {
            // `Coupon` hashes its one `u32` with `write_u32`; this is only a fallback.
            let mut word = [0_u8; 4];
            word.copy_from_slice(&bytes[..4.min(bytes.len())]);
            self.0 = u32::from_ne_bytes(word);
        }
        fn write_u32(&mut self, bits: u32) {
            self.0 = bits;
        }
        fn finish(&self) -> u64 {
            u64::from(self.0)
        }
    }
    let mut bits = Bits(0);
    coupon.hash(&mut bits);
    bits.0
}

/// A mergeable distinct counter for one rollup row.
#[derive(Debug, Clone)]
pub enum DistinctSketch {
    /// Up to [`INLINE`] distinct coupons, in arrival order.
    Inline { len: u8, coupons: [u32; INLINE] },
    /// `DataSketches`' HLL sketch (list, set or dense registers).
    Sketch(Arc<HllSketch>),
}

impl Default for DistinctSketch {
    fn default() -> Self {
        Self::Inline { len: 0, coupons: [0; INLINE] }
    }
}

impl DistinctSketch {
    /// Adds one value's coupon.
    #[inline]
    pub fn insert(&mut self, coupon: Coupon) {
        match self {
            Self::Sketch(sketch) => Arc::make_mut(sketch).update_with_coupon(coupon),
            Self::Inline { len, coupons } => {
                let bits = coupon_bits(coupon);
                let used = &coupons[..usize::from(*len)];
                if used.contains(&bits) {
                    return;
                }
                if usize::from(*len) < INLINE {
                    coupons[usize::from(*len)] = bits;
                    *len += 1;
                } else {
                    let mut sketch = list_sketch(used);
                    sketch.update_with_coupon(coupon);
                    *self = Self::Sketch(Arc::new(sketch));
                }
            }
        }
    }

    /// The estimated number of distinct values: exact while the sketch keeps coupons.
    pub fn estimate(&self) -> u64 {
        match self {
            Self::Inline { len, .. } => u64::from(*len),
            Self::Sketch(sketch) => sketch.estimate().round() as u64,
        }
    }

    /// The sketch in `DataSketches`' HLL format (what Druid's `HLLSketch` columns hold).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Inline { len, coupons } => list_image(&coupons[..usize::from(*len)]),
            Self::Sketch(sketch) => sketch.serialize(),
        }
    }

    /// Reads a sketch written by [`Self::to_bytes`] (or by `DataSketches` in any language).
    /// A damaged image is refused (see [`sparse_image_problem`] and
    /// [`dense_image_problem`] for what `DataSketches` 0.6 would take).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if let Some(coupons) = small_list_coupons(bytes) {
            let repeated = coupons.iter().enumerate().any(|(at, coupon)| coupons[..at].contains(coupon));
            if coupons.contains(&0) || repeated {
                return Err("a damaged distinct-count sketch: an empty or repeated value".into());
            }
            let mut inline = [0; INLINE];
            inline[..coupons.len()].copy_from_slice(&coupons);
            return Ok(Self::Inline { len: coupons.len() as u8, coupons: inline });
        }
        if let Some(problem) = sparse_image_problem(bytes).or_else(|| dense_image_problem(bytes)) {
            return Err(format!("a damaged distinct-count sketch: {problem}"));
        }
        HllSketch::deserialize(bytes).map(|sketch| Self::Sketch(Arc::new(sketch))).map_err(|err| err.to_string())
    }

    fn as_sketch(&self) -> HllSketch {
        match self {
            Self::Inline { len, coupons } => list_sketch(&coupons[..usize::from(*len)]),
            Self::Sketch(sketch) => (**sketch).clone(),
        }
    }
}

/// The union of several rows' sketches (re-aggregation for charts and reports):
/// the distinct count of all their values together, never a sum of estimates.
#[derive(Debug, Clone, Default)]
pub struct DistinctUnion {
    /// Stays a plain coupon set while the union is small.
    small: Vec<u32>,
    union: Option<Box<HllUnion>>,
}

impl DistinctUnion {
    pub fn add(&mut self, sketch: &DistinctSketch) {
        match (sketch, &mut self.union) {
            (DistinctSketch::Inline { len, coupons }, None) => {
                for bits in &coupons[..usize::from(*len)] {
                    if !self.small.contains(bits) {
                        self.small.push(*bits);
                    }
                }
                if self.small.len() > INLINE {
                    let mut union = new_union();
                    for chunk in self.small.chunks(INLINE) {
                        union.update(&list_sketch(chunk));
                    }
                    self.small.clear();
                    self.union = Some(Box::new(union));
                }
            }
            (DistinctSketch::Sketch(sketch), Some(union)) => union.update(sketch),
            (inline, Some(union)) => union.update(&inline.as_sketch()),
            (DistinctSketch::Sketch(sketch), union @ None) => {
                let mut fresh = new_union();
                if !self.small.is_empty() {
                    fresh.update(&list_sketch(&self.small));
                    self.small.clear();
                }
                fresh.update(sketch);
                *union = Some(Box::new(fresh));
            }
        }
    }

    pub fn merge(&mut self, other: &Self) {
        for chunk in other.small.chunks(INLINE) {
            let mut coupons = [0; INLINE];
            coupons[..chunk.len()].copy_from_slice(chunk);
            self.add(&DistinctSketch::Inline { len: chunk.len() as u8, coupons });
        }
        if let Some(theirs) = &other.union {
            self.add(&DistinctSketch::Sketch(Arc::new(theirs.to_sketch(HLL_TYPE))));
        }
    }

    pub fn estimate(&self) -> u64 {
        self.union.as_ref().map_or(self.small.len() as u64, |union| union.estimate().round() as u64)
    }

    /// The union as one row's sketch (what a coarser rollup row keeps).
    pub fn into_sketch(self) -> DistinctSketch {
        if let Some(union) = self.union {
            return DistinctSketch::Sketch(Arc::new(union.to_sketch(HLL_TYPE)));
        }
        // A union without `union` holds at most INLINE coupons (`add` promotes past that).
        let mut coupons = [0; INLINE];
        let len = self.small.len().min(INLINE);
        coupons[..len].copy_from_slice(&self.small[..len]);
        DistinctSketch::Inline { len: len as u8, coupons }
    }
}

fn new_union() -> HllUnion {
    HllUnion::new(LG_K).unwrap_or_else(|_| unreachable!("LG_K is within DataSketches' range"))
}

/// The compact list-mode image of at most [`INLINE`] coupons.
fn list_image(coupons: &[u32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(LIST_PREAMBLE + 4 * coupons.len());
    let flags = if coupons.is_empty() { COMPACT_FLAG | EMPTY_FLAG } else { COMPACT_FLAG };
    bytes.extend_from_slice(&[
        LIST_PREINTS,
        SERIAL_VERSION,
        FAMILY_HLL,
        LG_K,
        LIST_LG_ARR,
        flags,
        coupons.len() as u8,
        TARGET_HLL8 << 2, // current mode LIST (0) in the low bits
    ]);
    for bits in coupons {
        bytes.extend_from_slice(&bits.to_le_bytes());
    }
    bytes
}

/// An `HllSketch` in list mode holding exactly these coupons.
fn list_sketch(coupons: &[u32]) -> HllSketch {
    HllSketch::deserialize(&list_image(coupons))
        .unwrap_or_else(|err| unreachable!("a list image of {} coupons is valid: {err}", coupons.len()))
}

// The dense (HLL-mode) image: a 40-byte preamble, then one byte per register for HLL8.
const CUR_MODE_HLL: u8 = 2;
const HLL_PREAMBLE: usize = 40;
const HLL_ZERO_COUNT_AT: usize = 32;
/// Register values are 6-bit ranks; `DataSketches` 0.6 reads a larger one and
/// then shifts by it (a panic in debug builds, a wrong estimate in release).
const MAX_REGISTER: u8 = 63;

// The sparse (list- and set-mode) images: coupons after an 8- or 12-byte preamble.
const CUR_MODE_LIST: u8 = 0;
const CUR_MODE_SET: u8 = 1;
const SET_PREAMBLE: usize = 12;

/// What is wrong with a list- or set-mode image that `DataSketches` itself
/// would take: 0.6 counts an empty (zero) coupon as a value, then leaves it
/// out when it writes the sketch (which then would not load again), does not
/// look for a repeated coupon in a list, and makes room for `2^lg_arr` slots
/// before reading any. A sparse sketch at [`LG_K`] never has more than
/// `2^LG_K` slots. `None` for other modes, and for a short image, which
/// `DataSketches` refuses with its own words.
fn sparse_image_problem(bytes: &[u8]) -> Option<String> {
    let (lg_arr, flags, mode) = (*bytes.get(4)?, *bytes.get(5)?, *bytes.get(7)?);
    let (count, start) = match mode & 3 {
        CUR_MODE_LIST => (usize::from(*bytes.get(6)?), LIST_PREAMBLE),
        CUR_MODE_SET => (words(bytes.get(8..SET_PREAMBLE)?).next()? as usize, SET_PREAMBLE),
        _ => return None,
    };
    if lg_arr > LG_K {
        return Some(format!("a sparse sketch of 2^{lg_arr} slots, beyond 2^{LG_K}"));
    }
    let slots = if flags & COMPACT_FLAG != 0 { count } else { 1 << lg_arr };
    let body = bytes.get(start..start.checked_add(slots.checked_mul(4)?)?)?;
    let mut coupons: Vec<u32> = words(body).filter(|&coupon| coupon != 0).collect();
    if coupons.len() != count {
        return Some(format!("{count} values declared, {} found", coupons.len()));
    }
    if mode & 3 == CUR_MODE_LIST {
        coupons.sort_unstable();
        coupons.dedup();
        if coupons.len() != count {
            return Some("a repeated value".into());
        }
    }
    None
}

/// What is wrong with a dense image that `DataSketches` itself would take:
/// tidepool writes dense sketches only as HLL8 at [`LG_K`], and a register
/// above [`MAX_REGISTER`] or a zero count that differs from the registers'
/// is damage. `None` for other modes, and for a short image, which
/// `DataSketches` refuses with its own words.
fn dense_image_problem(bytes: &[u8]) -> Option<String> {
    let (lg_k, mode) = (*bytes.get(3)?, *bytes.get(7)?);
    if mode & 3 != CUR_MODE_HLL {
        return None;
    }
    if lg_k != LG_K || (mode >> 2) & 3 != TARGET_HLL8 {
        return Some(format!(
            "a dense sketch of lg_k {lg_k}, type {}, where tidepool writes HLL8 at lg_k {LG_K}",
            (mode >> 2) & 3
        ));
    }
    let zero_count = words(bytes.get(HLL_ZERO_COUNT_AT..HLL_ZERO_COUNT_AT + 4)?).next()?;
    let registers = bytes.get(HLL_PREAMBLE..HLL_PREAMBLE + (1 << LG_K))?;
    if let Some(&value) = registers.iter().find(|&&value| value > MAX_REGISTER) {
        return Some(format!("a register of {value}, above {MAX_REGISTER}"));
    }
    let zeros: usize = registers.iter().map(|&value| usize::from(value == 0)).sum();
    (usize::try_from(zero_count) != Ok(zeros)).then(|| format!("{zero_count} empty registers declared, {zeros} found"))
}

/// The coupons of a compact list-mode image small enough to keep inline.
fn small_list_coupons(bytes: &[u8]) -> Option<Vec<u32>> {
    let preamble = bytes.get(..LIST_PREAMBLE)?;
    let is_small_list = preamble[0] == LIST_PREINTS
        && preamble[2] == FAMILY_HLL
        && preamble[3] == LG_K
        && preamble[5] & COMPACT_FLAG != 0
        && preamble[7].trailing_zeros() >= 2 // current mode LIST (0)
        && usize::from(preamble[6]) <= INLINE;
    if !is_small_list {
        return None;
    }
    let count = usize::from(preamble[6]);
    let body = bytes.get(LIST_PREAMBLE..LIST_PREAMBLE + 4 * count)?;
    Some(words(body).collect())
}

/// The little-endian 32-bit words of an image's part (coupons, counts).
fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(4).map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

impl Serialize for DistinctSketch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for DistinctSketch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = super::sketch_bytes::deserialize_image(deserializer)?;
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(values: impl IntoIterator<Item = u64>) -> DistinctSketch {
        let mut sketch = DistinctSketch::default();
        for value in values {
            sketch.insert(coupon_of(&value.to_string()));
        }
        sketch
    }

    /// The same values through `DataSketches`' own sketch, for comparison.
    fn reference_of(values: impl IntoIterator<Item = u64>) -> HllSketch {
        let mut sketch = HllSketch::new(LG_K, HLL_TYPE).unwrap();
        for value in values {
            sketch.update(raw_bytes::from_str(&value.to_string()));
        }
        sketch
    }

    #[test]
    fn exact_at_every_small_cardinality() {
        for truth in 0..=1_000_u64 {
            let sketch = sketch_of((0..truth).chain(0..truth)); // every value twice
            assert_eq!(sketch.estimate(), truth, "{truth} distinct values");
        }
    }

    #[test]
    fn within_two_percent_at_a_million() {
        let estimate = sketch_of(0..1_000_000).estimate() as f64;
        assert!((estimate - 1e6).abs() / 1e6 < 0.02, "estimate {estimate}");
    }

    #[test]
    fn images_are_the_ones_datasketches_writes() {
        for truth in [0_u64, 1, 5, 7, 8, 100, 5_000] {
            let ours = sketch_of(0..truth).to_bytes();
            let theirs = reference_of(0..truth).serialize();
            assert_eq!(ours, theirs, "{truth} values");
            let back = DistinctSketch::from_bytes(&ours).unwrap();
            assert_eq!(back.estimate(), sketch_of(0..truth).estimate());
            assert_eq!(matches!(back, DistinctSketch::Inline { .. }), truth <= INLINE as u64);
        }
    }

    #[test]
    fn inline_sketches_stay_small_and_round_trip_through_postcard() {
        assert_eq!(std::mem::size_of::<DistinctSketch>(), 32, "inline coupons must not grow the sketch");
        let sketch = sketch_of(0..5);
        let bytes = postcard::to_stdvec(&sketch).unwrap();
        let again: DistinctSketch = postcard::from_bytes(&bytes).unwrap();
        assert!(matches!(again, DistinctSketch::Inline { len: 5, .. }));
        let big = sketch_of(0..50_000);
        let again: DistinctSketch = postcard::from_bytes(&postcard::to_stdvec(&big).unwrap()).unwrap();
        assert_eq!(again.estimate(), big.estimate());
    }

    #[test]
    fn unions_count_shared_values_once() {
        for (left, right) in [(0..3, 2..6), (0..5, 3..40), (0..300, 100..900), (0..40_000, 20_000..60_000)] {
            let truth = left.clone().chain(right.clone()).collect::<std::collections::HashSet<_>>().len() as u64;
            let mut union = DistinctUnion::default();
            union.add(&sketch_of(left.clone()));
            union.add(&sketch_of(right.clone()));
            let mut merged = DistinctUnion::default();
            merged.merge(&union);
            let estimate = merged.estimate();
            if truth <= 1_000 {
                assert_eq!(estimate, truth, "{left:?} ∪ {right:?}");
            } else {
                assert!((estimate as f64 - truth as f64).abs() / (truth as f64) < 0.02, "{estimate} vs {truth}");
            }
        }
    }

    /// Damage `DataSketches` 0.6 itself would take (found by the checkpoint
    /// loader's fuzz target) is refused: a set image with an empty coupon, a
    /// list image with a repeated one, a set too large for the sketch, and a
    /// dense image with a register past 63 or a wrong count of empty registers.
    #[test]
    fn damaged_images_datasketches_would_take_are_refused() {
        let refused = |bytes: &[u8], why: &str| {
            let found = DistinctSketch::from_bytes(bytes).expect_err(why);
            assert!(found.starts_with("a damaged distinct-count sketch"), "{why}: {found}");
        };
        let set = sketch_of(0..40).to_bytes();
        assert_eq!(set[7] & 3, CUR_MODE_SET);
        DistinctSketch::from_bytes(&set).expect("the undamaged set loads");
        let mut empty_coupon = set.clone();
        empty_coupon[SET_PREAMBLE..SET_PREAMBLE + 4].fill(0);
        refused(&empty_coupon, "an empty coupon in a set");
        let mut huge = set;
        huge[4] = 40;
        refused(&huge, "a set of 2^40 slots");

        let list: Vec<u32> = (1..=8).collect();
        let mut repeated = list_image(&list[..7]);
        repeated[LIST_PREAMBLE + 4..LIST_PREAMBLE + 8].copy_from_slice(&1_u32.to_le_bytes());
        refused(&repeated, "a repeated coupon in a list");

        let dense = sketch_of(0..20_000).to_bytes();
        assert_eq!(dense[7] & 3, CUR_MODE_HLL);
        DistinctSketch::from_bytes(&dense).expect("the undamaged dense sketch loads");
        let register = (HLL_PREAMBLE..dense.len()).find(|&at| dense[at] != 0).expect("a set register");
        let mut too_high = dense.clone();
        too_high[register] = 64;
        refused(&too_high, "a register of 64");
        let mut emptied = dense;
        emptied[register] = 0;
        refused(&emptied, "a register emptied without its count");
    }
}
