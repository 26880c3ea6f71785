//! Hashing of rollup row keys (a bucket and each dimension's value as text).
//! It runs once per event, so each value costs one seeded multiply-fold of its
//! first and last word, instead of a general hasher's three calls per value.
//! The seed is random per rollup, as in foldhash, so crafted values cannot aim
//! at collisions.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

use tidepool_json::short_text::edge_words;

/// Spreads a value's length over the whole word.
const LENGTH_FACTOR: u64 = 0xff51_afd7_ed55_8ccd;

/// Stands for a missing or null value.
const NO_VALUE: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes row keys; equal keys hash equally within one instance.
#[derive(Debug, Clone)]
pub struct KeyHasher {
    /// Hashes values longer than 16 bytes.
    long_values: DefaultHashBuilder,
    seed: u64,
}

impl Default for KeyHasher {
    fn default() -> Self {
        let long_values = DefaultHashBuilder::default();
        let seed = long_values.hash_one(NO_VALUE) | 1;
        Self { long_values, seed }
    }
}

impl KeyHasher {
    pub fn hash<'v>(&self, bucket: i64, values: impl Iterator<Item = Option<&'v str>>) -> u64 {
        let seed = self.seed;
        let mut state = fold(seed ^ bucket as u64, NO_VALUE);
        for value in values {
            let (first, last) = value.map_or((0, NO_VALUE), |text| self.words(text.as_bytes()));
            state = fold(state ^ first, seed ^ last);
        }
        state
    }

    /// Two words that, with the length mixed in, stand for `bytes`.
    fn words(&self, bytes: &[u8]) -> (u64, u64) {
        let len = bytes.len();
        let (first, last) = if len <= 16 { edge_words(bytes) } else { (self.long_values.hash_one(bytes), 0) };
        // The length is added as a multiple of a large odd constant: XORed into the
        // data bits, a one-byte length difference could cancel a one-byte text difference.
        (first, last.wrapping_add((len as u64).wrapping_mul(LENGTH_FACTOR)))
    }
}

/// The 128-bit product of `a` and `b`, its halves combined by XOR: a fast, well-mixing step.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::KeyHasher;
    use std::collections::HashSet;

    #[test]
    fn equal_keys_hash_equally_and_different_keys_spread() {
        let hasher = KeyHasher::default();
        let key = |bucket: i64, a: &str, b: Option<&str>| hasher.hash(bucket, [Some(a), b].into_iter());
        assert_eq!(key(60, "DE", Some("mobile")), key(60, "DE", Some("mobile")));
        let mut seen = HashSet::new();
        let texts: Vec<String> = (0..2_000).map(|n| "x".repeat(n % 40) + &n.to_string()).collect();
        for (index, text) in texts.iter().enumerate() {
            for bucket in [0_i64, 60_000_000] {
                assert!(seen.insert(key(bucket, text, None)), "collision at {index}");
                assert!(seen.insert(key(bucket, text, Some(""))), "missing and empty text differ");
            }
        }
        // The low bits pick the table slot: they must vary too.
        let low: HashSet<u64> = seen.iter().map(|hash| hash & 0xfff).collect();
        assert!(low.len() > 3_000, "only {} distinct low-bit patterns", low.len());
    }
}
