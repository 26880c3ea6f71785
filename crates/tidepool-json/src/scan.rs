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
//! Messages of one stream mostly repeat one layout, so each top-level member's
//! lead — the separator, key and colon before its value, as written — is first
//! compared with the lead at the same place in the last message
//! ([`KeyLayout`]), which skips reading the separator and key, searching for
//! the key's end and looking it up.

use std::borrow::Cow;

use super::{NestedKind, PlanNode, Scalar};
use crate::short_text::{edge_words, word64_at};

/// Deeper nesting is left to `serde_json` (which stops at 128 levels).
const MAX_DEPTH: usize = 100;

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The top-level member leads of recent messages, as written from the end of
/// the previous value (or the `{`) to the start of the member's value —
/// `{"ts":`, `,"type":`, spaces included — each with the index of the planned
/// child its key names. Equal bytes in the same place read the same way, so a
/// matching lead needs no further checks.
///
/// A message that departs from the layout at some member replaces the leads
/// from there on with its own, in place: messages whose optional members come
/// last (most producers' layouts) relearn only their tails. A message declined
/// half-way leaves its leads half-learned; that costs the next message a
/// relearn, never a wrong read, since a lead only ever matches the bytes it
/// was learned from.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyLayout {
    /// The leads' text, one after the other.
    bytes: Vec<u8>,
    keys: Vec<KnownKey>,
}

#[derive(Debug, Clone, Copy)]
struct KnownKey {
    /// Where the lead's text is in [`KeyLayout::bytes`].
    start: usize,
    len: usize,
    /// [`edge_words`] of the text, compared instead of the bytes up to 16 bytes.
    words: (u64, u64),
    /// The planned child the key names, and that child's slot (kept here so
    /// that a matched lead needs no look-up in the plan).
    child: Option<usize>,
    slot: Option<usize>,
}

impl KeyLayout {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn push(&mut self, written: &[u8], child: Option<usize>, slot: Option<usize>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(written);
        let words = if written.len() <= 16 { edge_words(written) } else { (0, 0) };
        self.keys.push(KnownKey { start, len: written.len(), words, child, slot });
    }

    fn text(&self, key: &KnownKey) -> &[u8] {
        &self.bytes[key.start..key.start + key.len]
    }

    /// The lead at `index`, when `rest` starts with it.
    #[inline]
    fn known_at(&self, index: usize, rest: &[u8]) -> Option<KnownKey> {
        let key = *self.keys.get(index)?;
        let here = rest.get(..key.len)?;
        let same = if key.len <= 16 { edge_words(here) == key.words } else { here == self.text(&key) };
        same.then_some(key)
    }

    /// The message departs from the layout at member `index`: forget the
    /// leads from there on (the message's own are learned in their place).
    fn diverge(&mut self, index: usize) {
        if let Some(first_forgotten) = self.keys.get(index) {
            self.bytes.truncate(first_forgotten.start);
            self.keys.truncate(index);
        }
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

    /// At the top-level `{`: like [`Self::object`], trying the last message's member leads first.
    fn top_object(&mut self, root: &PlanNode, layout: &mut KeyLayout, slots: &mut [Scalar<'a>]) -> Option<()> {
        let mut index = 0;
        // Leads where the last message had them: compared as words, no search.
        while let Some(lead) = layout.known_at(index, &self.bytes[self.pos..]) {
            self.pos += lead.len;
            self.member_value(root, lead.child, lead.slot, slots)?;
            index += 1;
        }
        if index > 0 && index == layout.len() {
            // The same layout to the end: only the closing brace should be left.
            let after_value = self.pos;
            self.skip_whitespace();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Some(());
            }
            self.pos = after_value;
        }
        // A different layout from here on: read the separators and keys, and learn the leads.
        layout.diverge(index);
        loop {
            let lead_start = self.pos;
            if index == 0 {
                self.pos += 1; // the `{`
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Some(());
                }
            } else {
                self.skip_whitespace();
                let byte = self.peek()?;
                self.pos += 1;
                match byte {
                    b',' => self.skip_whitespace(),
                    b'}' => return Some(()),
                    _ => return None,
                }
            }
            let child = self.key().map(|key| root.position(key))?;
            self.skip_whitespace();
            let slot = child.and_then(|index| root.children[index].slot);
            layout.push(&self.bytes[lead_start..self.pos], child, slot);
            self.member_value(root, child, slot, slots)?;
            index += 1;
        }
    }

    /// Reads a top-level member's value, capturing it into `slot` (or planned
    /// fields inside it, through the plan's `child`).
    #[inline(always)] // measured: plain #[inline] leaves these calls in, 11% more instructions per event
    #[allow(clippy::inline_always)]
    fn member_value(
        &mut self,
        root: &PlanNode,
        child: Option<usize>,
        slot: Option<usize>,
        slots: &mut [Scalar<'a>],
    ) -> Option<()> {
        self.skip_whitespace();
        // Plain strings and numbers, nearly every member, are read here without a call.
        let value = match self.peek()? {
            b'"' => Scalar::Text(Cow::Borrowed(self.string()?)),
            b'-' | b'0'..=b'9' => self.number()?,
            _ => self.value(child.and_then(|index| root.children[index].node.as_ref()), slots, 1)?,
        };
        if let Some(slot) = slot {
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
        pos = digit_run(bytes, pos, &mut digits);
        let integer_digits = pos - integer_start;
        if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let fraction_start = pos;
            pos = digit_run(bytes, pos, &mut digits);
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

/// Powers of ten for appending up to eight digits.
const POWERS_OF_TEN: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Appends the run of ASCII digits at `pos` to `digits` (wrapping: callers
/// limit the digit count) and returns the position after the run. Reads eight
/// bytes at a time while the payload has eight left.
#[inline(always)] // as for the string scan: numbers are in every message
#[allow(clippy::inline_always)]
fn digit_run(bytes: &[u8], mut pos: usize, digits: &mut u64) -> usize {
    while let Some(word) = word64_at(bytes, pos) {
        let run = leading_digits(word);
        if run == 0 {
            return pos;
        }
        *digits = digits.wrapping_mul(POWERS_OF_TEN[run]).wrapping_add(digits_value(word, run));
        pos += run;
        if run < 8 {
            return pos;
        }
    }
    while let Some(&digit @ b'0'..=b'9') = bytes.get(pos) {
        *digits = digits.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
        pos += 1;
    }
    pos
}

/// How many of the word's bytes, from the lowest (the first in the text), are ASCII digits.
#[inline]
fn leading_digits(word: u64) -> usize {
    const NIBBLES_LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    // A byte is a digit when its high nibble is 3 and its low nibble plus 6 stays below 16
    // (no carries cross bytes here: a nibble plus 6 is at most 0x15).
    let high_nibble_not_3 = (word & !NIBBLES_LOW) ^ 0x3030_3030_3030_3030;
    let low_nibble_over_9 = ((word & NIBBLES_LOW) + 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010;
    ((high_nibble_not_3 | low_nibble_over_9).trailing_zeros() / 8) as usize
}

/// The number written by the word's first `run` bytes (1..=8), all ASCII digits.
#[inline]
fn digits_value(word: u64, run: usize) -> u64 {
    // Each byte's digit value; bytes after the run may borrow, but borrows only run
    // upwards, away from the run. Shifting the run to the top puts zeros in front of it.
    let values = word.wrapping_sub(0x3030_3030_3030_3030) << (8 * (8 - run));
    // Pairs, then fours, then eight digits (the first digit is in the lowest byte).
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let low = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

/// The index of the first `"`, `\` or control character (below 0x20) in `bytes`
/// at or after `from`.
#[inline(always)] // as above: the string scan is the innermost loop
#[allow(clippy::inline_always)]
fn first_special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(word) = word64_at(bytes, at) {
        let flagged = special_bytes(word);
        if flagged != 0 {
            return Some(at + (flagged.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    // Fewer than eight bytes left: look at the last eight, shifted so that `at` is the lowest.
    let left = bytes.len().checked_sub(at)?;
    let Some(last) = bytes.len().checked_sub(8).and_then(|start| word64_at(bytes, start)) else {
        return bytes[at..].iter().position(|&byte| is_special(byte)).map(|index| at + index);
    };
    if left == 0 {
        return None;
    }
    let tail = last >> (8 * (8 - left));
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
    use super::{digit_run, first_special_byte, is_special};

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

    #[test]
    fn digit_runs_read_like_a_byte_by_byte_loop() {
        let texts = ["", "0", "7x", "12345678", "123456789", "1700000000000,", "9999999999999999999}", "42.5", "00012"];
        for text in texts {
            for prefix in ["", "-", "ab"] {
                for suffix in ["", "}", ",\"next\":1}   "] {
                    let bytes = format!("{prefix}{text}{suffix}").into_bytes();
                    let start = prefix.len();
                    let (mut expected_digits, mut expected_end) = (0_u64, start);
                    while let Some(&digit @ b'0'..=b'9') = bytes.get(expected_end) {
                        expected_digits = expected_digits.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
                        expected_end += 1;
                    }
                    let mut digits = 0;
                    let end = digit_run(&bytes, start, &mut digits);
                    assert_eq!((end, digits), (expected_end, expected_digits), "{:?}", String::from_utf8_lossy(&bytes));
                }
            }
        }
        // Every byte value next to digits, at every place in a word.
        for byte in 0..=u8::MAX {
            for at in 0..10 {
                let mut bytes = b"12345678901234567".to_vec();
                bytes[at] = byte;
                let mut digits = 0;
                let end = digit_run(&bytes, 0, &mut digits);
                let expected_end = bytes.iter().position(|b| !b.is_ascii_digit()).unwrap_or(bytes.len());
                assert_eq!(end, expected_end, "byte {byte:#x} at {at}");
                let expected: u64 = std::str::from_utf8(&bytes[..end]).map_or(0, |t| t.parse().unwrap_or(0));
                assert_eq!(digits, expected, "byte {byte:#x} at {at}");
            }
        }
    }
}
