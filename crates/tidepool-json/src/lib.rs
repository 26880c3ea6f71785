//! JSON message decoding: walks an object once, capturing only the fields a
//! stream needs (dotted paths reach into nested objects) and skipping the rest
//! without allocating. Other formats (CSV lines, Avro, Protobuf) will be
//! further decoders producing the same [`Scalar`] slots.
//!
//! Two decoders share one [`FieldPlan`]: [`scan`], a strict allocation-free
//! scanner for the common case, and [`serde_path`], `serde_json`'s parser, which
//! takes every message the scanner declines (escapes, exponents, huge numbers,
//! and anything invalid) and words the errors. Both must agree on every message
//! the scanner accepts; the tests check that on generated messages, and the
//! fuzz target (`fuzz/`, run by `scripts/test`) on whatever libFuzzer makes of
//! them, through [`check_agreement`].
//!
//! A crate of its own, with no Polars and no Kafka client, so that the fuzz
//! target builds in a minute.

mod scan;
mod serde_path;
pub mod short_text;

use std::borrow::Cow;

use crate::short_text::same_bytes;

/// One captured field value, borrowing from the payload where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// The field is not in the message.
    Missing,
    Null,
    Text(Cow<'a, str>),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    /// An object or array where a plain value was expected.
    Nested(NestedKind),
}

/// Which kind of nested value a field held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedKind {
    Object,
    Array,
}

impl Scalar<'_> {
    /// How the value is described in quarantine reasons.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Null => "null",
            Self::Text(_) => "text",
            Self::Integer(_) | Self::Real(_) => "a number",
            Self::Boolean(_) => "a boolean",
            Self::Nested(NestedKind::Object) => "an object",
            Self::Nested(NestedKind::Array) => "an array",
        }
    }
}

/// Why a payload is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not valid JSON; the text says where.
    NotJson(String),
    /// Valid JSON, but not an object.
    NotAnObject(&'static str),
}

/// The fields one stream reads, as a tree of keys, each path owning one slot.
#[derive(Debug, Clone, Default)]
pub struct FieldPlan {
    root: PlanNode,
    slot_count: usize,
    /// The top-level key layout of recent messages, for the scanner.
    layout: scan::KeyLayout,
}

/// The planned keys of one object, with a small table that finds a key's child in one probe.
#[derive(Debug, Clone)]
struct PlanNode {
    children: Vec<PlanChild>,
    /// By [`key_bucket`]: 0 = no planned key, [`SHARED_BUCKET`] = several (search them all),
    /// otherwise the child's index + 1.
    lookup: [u8; KEY_BUCKETS],
}

#[derive(Debug, Clone)]
struct PlanChild {
    key: Box<str>,
    slot: Option<usize>,
    node: Option<PlanNode>,
}

impl Default for PlanNode {
    fn default() -> Self {
        Self { children: Vec::new(), lookup: [0; KEY_BUCKETS] }
    }
}

const KEY_BUCKETS: usize = 64;
const SHARED_BUCKET: u8 = u8::MAX;

/// A cheap hash of a key's length, first and last byte.
fn key_bucket(key: &[u8]) -> usize {
    let first = key.first().copied().unwrap_or(0) as usize;
    let last = key.last().copied().unwrap_or(0) as usize;
    (key.len().wrapping_mul(37) ^ first ^ (last << 2)) % KEY_BUCKETS
}

impl PlanNode {
    /// The planned child named `key`, if any.
    fn find(&self, key: &str) -> Option<&PlanChild> {
        self.position(key).map(|index| &self.children[index])
    }

    /// The index of the planned child named `key`, if any.
    fn position(&self, key: &str) -> Option<usize> {
        let named = |index: &usize| same_bytes(self.children[*index].key.as_bytes(), key.as_bytes());
        match self.lookup[key_bucket(key.as_bytes())] {
            0 => None,
            SHARED_BUCKET => (0..self.children.len()).find(named),
            index => Some(usize::from(index) - 1).filter(named),
        }
    }

    fn rebuild_lookup(&mut self) {
        self.lookup = [0; KEY_BUCKETS];
        for (index, child) in self.children.iter().enumerate() {
            let entry = &mut self.lookup[key_bucket(child.key.as_bytes())];
            // Indexes past 253 share the bucket too: plans that wide are searched key by key.
            *entry =
                if *entry == 0 && index < usize::from(SHARED_BUCKET - 1) { index as u8 + 1 } else { SHARED_BUCKET };
        }
    }
}

impl FieldPlan {
    /// Adds a dotted path (`order.total`) and returns its slot; the same path gets the same slot.
    pub fn add_path(&mut self, path: &str) -> usize {
        // The learned layout holds the plan's children and slots: learn it again.
        self.layout = scan::KeyLayout::default();
        let mut node = &mut self.root;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            let position = if let Some(position) = node.children.iter().position(|child| &*child.key == key) {
                position
            } else {
                node.children.push(PlanChild { key: key.into(), slot: None, node: None });
                node.rebuild_lookup();
                node.children.len() - 1
            };
            let child = &mut node.children[position];
            if keys.peek().is_none() {
                return *child.slot.get_or_insert_with(|| {
                    self.slot_count += 1;
                    self.slot_count - 1
                });
            }
            node = child.node.get_or_insert_with(PlanNode::default);
        }
        unreachable!("str::split yields at least one item")
    }

    pub fn slot_count(&self) -> usize {
        self.slot_count
    }

    /// Decodes `payload` into `slots` (resized to [`Self::slot_count`], every slot reset first).
    pub fn decode<'a>(&mut self, payload: &'a [u8], slots: &mut Vec<Scalar<'a>>) -> Result<(), DecodeError> {
        slots.clear();
        slots.resize_with(self.slot_count, || Scalar::Missing);
        // One UTF-8 check of the whole payload is much cheaper than serde_json's check per string.
        let text = std::str::from_utf8(payload)
            .map_err(|err| DecodeError::NotJson(format!("invalid UTF-8 at byte {}", err.valid_up_to())))?;
        if scan::decode_object(&self.root, &mut self.layout, text, slots) {
            return Ok(());
        }
        slots.clear();
        slots.resize(self.slot_count, Scalar::Missing);
        serde_path::decode(&self.root, text, slots)
    }
}

/// Decodes `payload` with `plan` and with `serde_json` alone and says where
/// they differ: the scanner must decline or agree with `serde_json`, and
/// decoding must give what `serde_json` gives. Decodes twice, so that the
/// second decode reads through the key layout the first one learned.
pub fn check_agreement(plan: &mut FieldPlan, payload: &[u8]) -> Result<(), String> {
    for round in 0..2 {
        let mut decoded = Vec::new();
        let result = plan.decode(payload, &mut decoded);
        let Ok(text) = std::str::from_utf8(payload) else {
            return match result {
                Err(DecodeError::NotJson(_)) => Ok(()),
                other => Err(format!("invalid UTF-8 decoded as {other:?}")),
            };
        };
        let mut reference = vec![Scalar::Missing; plan.slot_count];
        let reference_result = serde_path::decode(&plan.root, text, &mut reference);
        match (&result, &reference_result) {
            (Ok(()), Ok(())) if same(&decoded, &reference) => {}
            (Err(_), Err(_)) => {}
            _ => {
                return Err(format!(
                    "round {round}: decoded {result:?} {decoded:?}, serde_json {reference_result:?} {reference:?}"
                ));
            }
        }
        let mut scanned = vec![Scalar::Missing; plan.slot_count];
        if scan::decode_object(&plan.root, &mut plan.layout.clone(), text, &mut scanned)
            && !(reference_result.is_ok() && same(&scanned, &reference))
        {
            return Err(format!(
                "round {round}: the scanner read {scanned:?}, serde_json {reference_result:?} {reference:?}"
            ));
        }
    }
    Ok(())
}

/// The same slots, reals compared bit for bit.
fn same(left: &[Scalar<'_>], right: &[Scalar<'_>]) -> bool {
    left.len() == right.len()
        && left.iter().zip(right).all(|pair| match pair {
            (Scalar::Real(a), Scalar::Real(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        })
}

impl FieldPlan {
    /// Whether the scanner alone (no `serde_json`) reads `payload`: what keeps
    /// a stream fast, so the demo's events must all be read this way.
    pub fn scans(&mut self, payload: &str) -> bool {
        let mut slots = vec![Scalar::Missing; self.slot_count];
        scan::decode_object(&self.root, &mut self.layout, payload, &mut slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(paths: &[&str]) -> FieldPlan {
        let mut plan = FieldPlan::default();
        for path in paths {
            plan.add_path(path);
        }
        plan
    }

    #[test]
    fn captures_top_level_and_nested_fields() {
        let mut plan = plan(&["ts", "order.total", "country", "order"]);
        let mut slots = Vec::new();
        let payload =
            br#"{"ts":1700000000000,"skip":{"deep":[1,2,{"x":1}]},"country":"D\u00e9","order":{"total":12.5,"n":2}}"#;
        plan.decode(payload, &mut slots).unwrap();
        assert_eq!(slots[0], Scalar::Integer(1_700_000_000_000));
        assert_eq!(slots[1], Scalar::Real(12.5));
        assert_eq!(slots[2], Scalar::Text(Cow::Borrowed("Dé")));
        assert_eq!(slots[3], Scalar::Nested(NestedKind::Object));
    }

    #[test]
    fn missing_fields_stay_missing() {
        let mut plan = plan(&["a", "b.c"]);
        let mut slots = Vec::new();
        plan.decode(br#"{"b":3}"#, &mut slots).unwrap();
        assert_eq!(slots, vec![Scalar::Missing, Scalar::Missing]);
    }

    #[test]
    fn rejects_non_objects_and_broken_json() {
        let mut plan = plan(&["a"]);
        let mut slots = Vec::new();
        assert_eq!(plan.decode(b"[1,2]", &mut slots), Err(DecodeError::NotAnObject("an array")));
        assert_eq!(plan.decode(b"42", &mut slots), Err(DecodeError::NotAnObject("a number")));
        assert!(matches!(plan.decode(br#"{"a":1"#, &mut slots), Err(DecodeError::NotJson(_))));
        assert!(matches!(plan.decode(br#"{"a":1} trailing"#, &mut slots), Err(DecodeError::NotJson(_))));
        assert_eq!(
            plan.decode(b"{\"a\":\"\xff\"}", &mut slots),
            Err(DecodeError::NotJson("invalid UTF-8 at byte 6".into()))
        );
    }

    #[test]
    fn wide_plans_find_every_key() {
        let keys: Vec<String> = (0..300).map(|index| format!("k{index}")).collect();
        let mut plan = plan(&keys.iter().map(String::as_str).collect::<Vec<_>>());
        let body: Vec<String> = keys.iter().enumerate().map(|(index, key)| format!("\"{key}\":{index}")).collect();
        let payload = format!("{{\"other\":1,{}}}", body.join(","));
        let mut slots = Vec::new();
        plan.decode(payload.as_bytes(), &mut slots).unwrap();
        let expected: Vec<Scalar<'_>> = (0..300).map(Scalar::Integer).collect();
        assert_eq!(slots, expected);
    }

    #[test]
    fn layouts_that_change_between_messages_read_right() {
        let mut plan = plan(&["a", "b", "c"]);
        let mut slots = Vec::new();
        // Each message after the first departs from the one before: an extra member,
        // a missing one, other spacing, a repeated key (the last one counts), an empty object.
        let messages: [(&[u8], [Scalar<'_>; 3]); 7] = [
            (br#"{"a":1,"b":"x"}"#, [Scalar::Integer(1), Scalar::Text("x".into()), Scalar::Missing]),
            (br#"{"a":2,"b":"y","c":3}"#, [Scalar::Integer(2), Scalar::Text("y".into()), Scalar::Integer(3)]),
            (br#"{"a":4}"#, [Scalar::Integer(4), Scalar::Missing, Scalar::Missing]),
            (br#"{ "a" : 5 , "b":"z" }"#, [Scalar::Integer(5), Scalar::Text("z".into()), Scalar::Missing]),
            (br#"{ "a" : 6 , "b":"w" ,"b":"v"}"#, [Scalar::Integer(6), Scalar::Text("v".into()), Scalar::Missing]),
            (b"{}", [Scalar::Missing, Scalar::Missing, Scalar::Missing]),
            (br#"{"a":7,"b":"u"}"#, [Scalar::Integer(7), Scalar::Text("u".into()), Scalar::Missing]),
        ];
        for round in 0..2 {
            for (payload, expected) in &messages {
                plan.decode(payload, &mut slots).unwrap();
                assert_eq!(&slots[..], &expected[..], "round {round}: {}", String::from_utf8_lossy(payload));
            }
        }
        for broken in [&br#"{"a":1,"b":"x""#[..], br#"{"a":1,"b":"x",}"#, br#"{"a":1 "b":"x"}"#] {
            plan.decode(br#"{"a":1,"b":"x"}"#, &mut slots).unwrap();
            assert!(plan.decode(broken, &mut slots).is_err(), "{}", String::from_utf8_lossy(broken));
        }
        // A message that departs from the layout and then breaks leaves the
        // layout half-learned; what follows, of either layout, still reads right.
        plan.decode(br#"{"a":1,"b":"x"}"#, &mut slots).unwrap();
        assert!(plan.decode(br#"{"a":1,"c":2,"b":}"#, &mut slots).is_err());
        let after: [(&[u8], [Scalar<'_>; 3]); 3] = [
            (br#"{"a":3,"b":"q"}"#, [Scalar::Integer(3), Scalar::Text("q".into()), Scalar::Missing]),
            (br#"{"a":4,"c":5}"#, [Scalar::Integer(4), Scalar::Missing, Scalar::Integer(5)]),
            (br#"{"a":6,"c":7,"b":"r"}"#, [Scalar::Integer(6), Scalar::Text("r".into()), Scalar::Integer(7)]),
        ];
        for (payload, expected) in &after {
            plan.decode(payload, &mut slots).unwrap();
            assert_eq!(&slots[..], &expected[..], "{}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn a_path_added_after_decoding_is_read_from_the_next_message_on() {
        let mut plan = plan(&["a"]);
        let mut slots = Vec::new();
        let message = br#"{"a":1,"b":2}"#;
        plan.decode(message, &mut slots).unwrap();
        let b = plan.add_path("b");
        plan.decode(message, &mut slots).unwrap();
        assert_eq!(slots[b], Scalar::Integer(2), "the layout learned before `b` was planned is not trusted");
    }

    #[test]
    fn same_path_gets_same_slot() {
        let mut plan = FieldPlan::default();
        let first = plan.add_path("user.id");
        let second = plan.add_path("user.id");
        assert_eq!(first, second);
        assert_eq!(plan.slot_count(), 1);
    }
}

/// The scanner against `serde_json` on generated messages: valid ones of many
/// shapes and broken copies of them.
#[cfg(test)]
mod agreement {
    use super::*;

    /// xorshift64*: deterministic, so a failure names a reproducible seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const KEYS: [&str; 9] = ["ts", "type", "user", "price", "order", "total", "tags", "", "typ"];
    const NUMBERS: [&str; 24] = [
        "0",
        "-0",
        "7",
        "-12",
        "00",
        "01",
        "1.",
        ".5",
        "-",
        "12.50",
        "0.1",
        "-0.0",
        "3.14159",
        "1e3",
        "2E-2",
        "1.5e+2",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "18446744073709551616",
        "12345678901234567890.5",
        "9007199254740993.0",
        "0.30000000000000004",
        "123456.7890123456789",
    ];
    const STRINGS: [&str; 12] = [
        r#""""#,
        r#""DE""#,
        r#""page_view""#,
        r#""a somewhat longer text value""#,
        r#""é ü 中文""#,
        r#""tab\there""#,
        r#""quote \" inside""#,
        r#""\u00e9""#,
        "\"raw\u{1}control\"",
        r#""bad \x escape""#,
        r#""ends with backslash\\""#,
        r#""1700000000000""#,
    ];
    const WHITESPACE: [&str; 5] = ["", "", " ", "\n\t", "\r\n  "];

    fn value(rng: &mut Rng, out: &mut String, depth: usize) {
        match rng.below(if depth > 3 { 6 } else { 8 }) {
            0 | 1 => out.push_str(rng.pick(&NUMBERS)),
            2 | 3 => out.push_str(rng.pick(&STRINGS)),
            4 => out.push_str(rng.pick(&["true", "false", "null", "tru", "nul"])),
            5 => out.push_str(rng.pick(&["{}", "[]", "[1,[2,{}]]", "[1,]", r#"{"a":}"#])),
            6 => object(rng, out, depth + 1),
            _ => {
                out.push('[');
                for index in 0..rng.below(4) {
                    if index > 0 {
                        out.push(',');
                    }
                    value(rng, out, depth + 1);
                }
                out.push(']');
            }
        }
    }

    fn object(rng: &mut Rng, out: &mut String, depth: usize) {
        out.push('{');
        for index in 0..rng.below(7) {
            if index > 0 {
                out.push(',');
            }
            out.push_str(rng.pick(&WHITESPACE));
            out.push('"');
            out.push_str(rng.pick(&KEYS));
            out.push('"');
            out.push_str(rng.pick(&WHITESPACE));
            out.push(':');
            out.push_str(rng.pick(&WHITESPACE));
            value(rng, out, depth);
        }
        out.push_str(rng.pick(&WHITESPACE));
        out.push('}');
    }

    /// Breaks a valid message: cuts it, drops a byte, or puts a JSON-significant byte in.
    fn mutate(rng: &mut Rng, message: &str) -> String {
        let mut bytes = message.as_bytes().to_vec();
        let at = rng.below(bytes.len() + 1);
        match rng.below(3) {
            0 => bytes.truncate(at),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {
                let significant = b"{}[]\",:.-0e\\ x\x00";
                bytes.insert(at, significant[rng.below(significant.len())]);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn the_scanner_agrees_with_serde_json_or_declines() {
        let paths = ["ts", "type", "user", "price", "order.total", "order", "tags", "", "order.type"];
        let plan = plan_of(&paths);
        let mut checked = plan_of(&paths);
        let mut rng = Rng(0x5EED_0F71_DE90_0100);
        let mut layout = scan::KeyLayout::default();
        let mut previous = String::new();
        let (mut accepted, mut total) = (0, 0);
        for round in 0..60_000 {
            let mut message = String::new();
            object(&mut rng, &mut message, 0);
            // Messages that repeat the last valid layout, whole or broken somewhere,
            // exercise the scanner's key layout cache.
            match round % 4 {
                0 => message = mutate(&mut rng, &message),
                1 if !previous.is_empty() => message = mutate(&mut rng, &previous),
                2 if !previous.is_empty() => message.clone_from(&previous),
                _ => previous.clone_from(&message),
            }
            let mut fast = vec![Scalar::Missing; plan.slot_count()];
            let mut reference = vec![Scalar::Missing; plan.slot_count()];
            let reference_result = serde_path::decode(&plan.root, &message, &mut reference);
            if scan::decode_object(&plan.root, &mut layout, &message, &mut fast) {
                accepted += 1;
                assert!(reference_result.is_ok(), "scanner accepted what serde_json rejects: {message:?}");
                assert!(same(&fast, &reference), "values differ for {message:?}:\n{fast:?}\n{reference:?}");
            }
            assert_eq!(check_agreement(&mut checked, message.as_bytes()), Ok(()), "{message:?}");
            total += 1;
        }
        // Most generated messages hold something the scanner declines (escapes, exponents,
        // broken input); thousands of accepted ones must still have been compared.
        assert!(accepted * 10 > total, "scanner accepted only {accepted} of {total}");
    }

    fn plan_of(paths: &[&str]) -> FieldPlan {
        let mut plan = FieldPlan::default();
        for path in paths {
            plan.add_path(path);
        }
        plan
    }
}
