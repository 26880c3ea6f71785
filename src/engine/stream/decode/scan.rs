//! The fast path of JSON decoding: a strict scanner for the messages streams
//! usually carry (strings without escapes, plain numbers, modest nesting). It
//! captures planned fields as slices of the payload and skips the rest, still
//! validating all of it. When it meets anything it does not handle, or
//! anything invalid, it declines and the caller runs the `serde_json` decoder,
//! which also words the errors. It must never accept what `serde_json` rejects,
//! nor read a value differently: the tests in `decode` compare the two.
//!
//! Strings are searched eight bytes at a time for the closing quote, a
//! backslash or a control character (the classic "has zero byte" word trick).
//! Messages of one stream mostly repeat one layout, so each top-level key is
//! first compared with the key at the same place in the last message
//! ([`KeyLayout`]), which skips searching for its end and looking it up.

use std::borrow::Cow;

use super::{NestedKind, PlanNode, Scalar};
use crate::engine::short_text::{edge_words, word64};

/// Deeper nesting is left to `serde_json` (which stops at 128 levels).
const MAX_DEPTH: usize = 100;

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The top-level keys of the last message, as written (`"ts":`, spaces
/// included), each with the index of the planned child it names.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyLayout {
    current: Keys,
    /// Filled while a message departs from `current`; becomes `current` at its end.
    learning: Keys,
}

#[derive(Debug, Clone, Default)]
struct Keys {
    /// The keys' text, one after the other.
    bytes: Vec<u8>,
    keys: Vec<KnownKey>,
}

#[derive(Debug, Clone, Copy)]
struct KnownKey {
    /// Where the key's text is in [`Keys::bytes`].
    start: usize,
    len: usize,
    /// [`edge_words`] of the text, compared instead of the bytes up to 16 bytes.
    words: (u64, u64),
    child: Option<usize>,
}

impl Keys {
    fn push(&mut self, written: &[u8], child: Option<usize>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(written);
        let words = if written.len() <= 16 { edge_words(written) } else { (0, 0) };
        self.keys.push(KnownKey { start, len: written.len(), words, child });
    }

    fn text(&self, key: &KnownKey) -> &[u8] {
        &self.bytes[key.start..key.start + key.len]
    }

    /// The key at `index`, when `rest` starts with it.
    #[inline]
    fn known_at(&self, index: usize, rest: &[u8]) -> Option<KnownKey> {
        let key = *self.keys.get(index)?;
        let here = rest.get(..key.len)?;
        let same = if key.len <= 16 { edge_words(here) == key.words } else { here == self.text(&key) };
        same.then_some(key)
    }
}

impl KeyLayout {
    /// The message departs from the layout at key `index`: learn its layout from there.
    fn diverge(&mut self, index: usize) {
        self.learning.bytes.clear();
        self.learning.keys.clear();
        for key in self.current.keys.iter().take(index) {
            self.learning.push(self.current.text(key), key.child);
        }
    }

    fn adopt_learned(&mut self) {
        std::mem::swap(&mut self.current, &mut self.learning);
    }
}

/// Decodes a top-level object into `slots`; `false` means "declined, use `serde_json`"
/// (slots may then hold partial values and must be reset).
pub(super) fn decode_object<'a>(
    root: &PlanNode,
    layout: &mut KeyLayout,
    text: &'a str,
    slots: &mut [Scalar<'a>],
) -> bool {
    let mut scanner = Scanner { text, bytes: text.as_bytes(), pos: 0 };
    scanner.skip_whitespace();
    if scanner.peek() != Some(b'{') || scanner.top_object(root, layout, slots).is_none() {
        return false;
    }
    scanner.skip_whitespace();
    scanner.pos == scanner.bytes.len()
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// At the top-level `{`: like [`Self::object`], trying the last message's key layout first.
    fn top_object(&mut self, root: &PlanNode, layout: &mut KeyLayout, slots: &mut [Scalar<'a>]) -> Option<()> {
        if self.opens_empty(b'}') {
            return Some(());
        }
        let mut index = 0;
        // Keys where the last message had them: compared as words, no search.
        while let Some(key) = layout.current.known_at(index, &self.bytes[self.pos..]) {
            self.pos += key.len;
            self.member_value(root, key.child, slots)?;
            index += 1;
            if self.end_of_member(b'}')? {
                return Some(());
            }
            self.skip_whitespace();
        }
        // A different layout from here on: read the keys and learn them.
        layout.diverge(index);
        loop {
            let key_start = self.pos;
            let child = self.key().map(|key| root.position(key))?;
            layout.learning.push(&self.bytes[key_start..self.pos], child);
            self.member_value(root, child, slots)?;
            if self.end_of_member(b'}')? {
                layout.adopt_learned();
                return Some(());
            }
            self.skip_whitespace();
        }
    }

    /// Reads a top-level member's value, capturing it (or planned fields inside it).
    #[inline(always)] // measured: plain #[inline] leaves these calls in, 11% more instructions per event
    #[allow(clippy::inline_always)]
    fn member_value(&mut self, root: &PlanNode, child: Option<usize>, slots: &mut [Scalar<'a>]) -> Option<()> {
        let child = child.map(|index| &root.children[index]);
        self.skip_whitespace();
        // Plain strings and numbers, nearly every member, are read here without a call.
        let value = match self.peek()? {
            b'"' => Scalar::Text(Cow::Borrowed(self.string()?)),
            b'-' | b'0'..=b'9' => self.number()?,
            _ => self.value(child.and_then(|child| child.node.as_ref()), slots, 1)?,
        };
        if let Some(slot) = child.and_then(|child| child.slot) {
            slots[slot] = value;
        }
        Some(())
    }

    /// At a member's `"`: reads the key and the `:` after it.
    #[inline]
    fn key(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let key = self.string()?;
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return None;
        }
        self.pos += 1;
        Some(key)
    }

    /// At `{` or `[`: steps over it and answers whether `close` follows at once (empty).
    #[inline]
    fn opens_empty(&mut self, close: u8) -> bool {
        self.pos += 1;
        self.skip_whitespace();
        let empty = self.peek() == Some(close);
        if empty {
            self.pos += 1;
        }
        empty
    }

    /// After a member or element: `,` (more follow, `false`) or `close` (the end, `true`).
    #[inline]
    fn end_of_member(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.pos += 1;
        if byte == b',' { Some(false) } else { (byte == close).then_some(true) }
    }

    /// At `{`: reads the object, capturing the fields `node` plans into `slots`.
    fn object(&mut self, node: Option<&PlanNode>, slots: &mut [Scalar<'a>], depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        if self.opens_empty(b'}') {
            return Some(());
        }
        loop {
            self.skip_whitespace();
            let key = self.key()?;
            let child = node.and_then(|node| node.find(key));
            let value = self.value(child.and_then(|child| child.node.as_ref()), slots, depth + 1)?;
            if let Some(slot) = child.and_then(|child| child.slot) {
                slots[slot] = value;
            }
            if self.end_of_member(b'}')? {
                return Some(());
            }
        }
    }

    /// At `[`: reads (and validates) the array, capturing nothing inside it.
    fn array(&mut self, slots: &mut [Scalar<'a>], depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        if self.opens_empty(b']') {
            return Some(());
        }
        loop {
            self.value(None, slots, depth + 1)?;
            if self.end_of_member(b']')? {
                return Some(());
            }
        }
    }

    #[inline]
    fn value(&mut self, node: Option<&PlanNode>, slots: &mut [Scalar<'a>], depth: usize) -> Option<Scalar<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(|text| Scalar::Text(Cow::Borrowed(text))),
            b'{' => self.object(node, slots, depth).map(|()| Scalar::Nested(NestedKind::Object)),
            b'[' => self.array(slots, depth).map(|()| Scalar::Nested(NestedKind::Array)),
            b't' => self.literal(b"true", Scalar::Boolean(true)),
            b'f' => self.literal(b"false", Scalar::Boolean(false)),
            b'n' => self.literal(b"null", Scalar::Null),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8], value: Scalar<'a>) -> Option<Scalar<'a>> {
        let rest = self.bytes.get(self.pos..)?;
        rest.starts_with(word).then(|| {
            self.pos += word.len();
            value
        })
    }

    /// At `"`: a string without escapes, borrowed from the payload.
    #[inline(always)] // measured: plain #[inline] leaves these calls in, 11% more instructions per event
    #[allow(clippy::inline_always)]
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let end = first_special_byte(self.bytes, start)?;
        if self.bytes[end] != b'"' {
            return None; // an escape or a control character
        }
        self.pos = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    /// A JSON number whose value `serde_json` would give exactly the same way:
    /// integers that fit an `i64`, and decimals of at most 19 digits whose digits
    /// fit an `f64` exactly (digits / 10^k is then correctly rounded). Exponents,
    /// longer numbers and negative zero are declined.
    #[inline(always)] // measured: plain #[inline] leaves these calls in, 11% more instructions per event
    #[allow(clippy::inline_always)]
    fn number(&mut self) -> Option<Scalar<'a>> {
        let bytes = self.bytes;
        let mut pos = self.pos;
        let negative = bytes.get(pos) == Some(&b'-');
        if negative {
            pos += 1;
        }
        let mut digits: u64 = 0;
        let integer_start = pos;
        while let Some(&digit @ b'0'..=b'9') = bytes.get(pos) {
            digits = digits.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
            pos += 1;
        }
        let integer_digits = pos - integer_start;
        if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let fraction_start = pos;
            while let Some(&digit @ b'0'..=b'9') = bytes.get(pos) {
                digits = digits.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
                pos += 1;
            }
            fraction_digits = pos - fraction_start;
            if fraction_digits == 0 {
                return None;
            }
        }
        if matches!(bytes.get(pos), Some(b'e' | b'E'))
            || integer_digits + fraction_digits > 19
            || (negative && digits == 0)
        {
            return None;
        }
        self.pos = pos;
        if fraction_digits == 0 {
            let whole = i64::try_from(digits).ok()?;
            return Some(Scalar::Integer(if negative { -whole } else { whole }));
        }
        if digits > 1 << 53 {
            return None;
        }
        let value = digits as f64 / EXACT_POWERS_OF_TEN.get(fraction_digits)?;
        Some(Scalar::Real(if negative { -value } else { value }))
    }
}

/// The index of the first `"`, `\` or control character (below 0x20) in `bytes`
/// at or after `from`.
#[inline(always)] // as above: the string scan is the innermost loop
#[allow(clippy::inline_always)]
fn first_special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + 8 <= bytes.len() {
        let flagged = special_bytes(word64(bytes, at));
        if flagged != 0 {
            return Some(at + (flagged.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    // Fewer than eight bytes left: look at the last eight, shifted so that `at` is the lowest.
    let left = bytes.len() - at;
    if left == 0 || bytes.len() < 8 {
        return bytes[at..].iter().position(|&byte| is_special(byte)).map(|index| at + index);
    }
    let tail = word64(bytes, bytes.len() - 8) >> (8 * (8 - left));
    // The bytes shifted in at the top are zero, so they are flagged too: only hits below `left` count.
    let index = (special_bytes(tail).trailing_zeros() / 8) as usize;
    (index < left).then_some(at + index)
}

fn is_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// The high bit of each byte of `word` that is `"`, `\` or below 0x20. Borrows
/// only run upwards, so the lowest flagged byte is always a true match.
#[inline]
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word))
        & HIGH_BITS
}

#[cfg(test)]
mod tests {
    use super::{first_special_byte, is_special};

    #[test]
    fn special_bytes_are_found_like_a_byte_by_byte_search() {
        for len in 0..30 {
            for special_at in 0..=len {
                for special in [b'"', b'\\', 0x1f, 0x00] {
                    let mut bytes: Vec<u8> = (0..len).map(|index| b"a\x7f \xc3\xa9~!Z"[index % 8]).collect();
                    if special_at < len {
                        bytes[special_at] = special;
                    }
                    for from in 0..=len {
                        let expected =
                            bytes[from..].iter().position(|&byte| is_special(byte)).map(|index| from + index);
                        assert_eq!(first_special_byte(&bytes, from), expected, "{bytes:?} from {from}");
                    }
                }
            }
        }
    }
}
