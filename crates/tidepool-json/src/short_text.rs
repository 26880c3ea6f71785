//! Equality of short byte strings (JSON keys, dimension values) without a call
//! into `memcmp`: on the ingest hot path most compared strings are under 16
//! bytes, where the call costs more than the comparison.

/// Whether `a` and `b` hold the same bytes.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len <= 16 { edge_words(a) == edge_words(b) } else { a == b }
}

/// Two words that, with its length, determine a string of at most 16 bytes:
/// overlapping loads of its first and last bytes, which cover every byte.
#[inline]
pub fn edge_words(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(first), Some(last)) => (u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
        _ => match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            (Some(first), Some(last)) => (u64::from(u32::from_le_bytes(*first)), u64::from(u32::from_le_bytes(*last))),
            _ if len == 0 => (0, 0),
            _ => (u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]) << 16, 0),
        },
    }
}

/// The eight bytes at `at`, as a little-endian word, when there are eight.
#[inline]
pub fn word64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..)?.first_chunk::<8>().map(|chunk| u64::from_le_bytes(*chunk))
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn agrees_with_slice_equality_for_every_length_and_position() {
        for len in 0..40 {
            let base: Vec<u8> = (0..len).map(|index| b'a' + (index % 26) as u8).collect();
            assert!(same_bytes(&base, &base.clone()));
            for changed in 0..len {
                let mut other = base.clone();
                other[changed] ^= 0x20;
                assert!(!same_bytes(&base, &other), "len {len}, byte {changed} differs");
            }
            assert!(!same_bytes(&base, &base[..len.saturating_sub(1)]) || len == 0);
        }
    }
}
