//! JSON message decoding: walks an object once, capturing only the fields a
//! stream needs (dotted paths reach into nested objects) and skipping the rest
//! without allocating. Other formats (CSV lines, Avro, Protobuf) will be
//! further decoders producing the same [`Scalar`] slots.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
}

#[derive(Debug, Clone, Default)]
struct PlanNode {
    children: Vec<PlanChild>,
}

#[derive(Debug, Clone)]
struct PlanChild {
    key: Box<str>,
    /// Length and first byte of `key`, compared before the bytes (most keys differ there).
    quick: (usize, u8),
    slot: Option<usize>,
    node: Option<PlanNode>,
}

impl PlanChild {
    fn matches(&self, key: &str) -> bool {
        self.quick == (key.len(), key.as_bytes().first().copied().unwrap_or(0)) && &*self.key == key
    }
}

impl FieldPlan {
    /// Adds a dotted path (`order.total`) and returns its slot; the same path gets the same slot.
    pub fn add_path(&mut self, path: &str) -> usize {
        let mut node = &mut self.root;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            let position = if let Some(position) = node.children.iter().position(|child| &*child.key == key) {
                position
            } else {
                let quick = (key.len(), key.as_bytes().first().copied().unwrap_or(0));
                node.children.push(PlanChild { key: key.into(), quick, slot: None, node: None });
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
    pub fn decode<'a>(&self, payload: &'a [u8], slots: &mut Vec<Scalar<'a>>) -> Result<(), DecodeError> {
        slots.clear();
        slots.resize(self.slot_count, Scalar::Missing);
        // One UTF-8 check of the whole payload is much cheaper than serde_json's check per string.
        let text = std::str::from_utf8(payload)
            .map_err(|err| DecodeError::NotJson(format!("invalid UTF-8 at byte {}", err.valid_up_to())))?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let top = ValueSeed { node: Some(&self.root), slots }
            .deserialize(&mut deserializer)
            .map_err(|err| DecodeError::NotJson(err.to_string()))?;
        deserializer.end().map_err(|err| DecodeError::NotJson(err.to_string()))?;
        match top {
            Scalar::Nested(NestedKind::Object) => Ok(()),
            other => Err(DecodeError::NotAnObject(other.type_name())),
        }
    }
}

/// Reads one value; when it is an object and `node` is set, captures the planned fields inside it.
struct ValueSeed<'p, 's, 'a> {
    node: Option<&'p PlanNode>,
    slots: &'s mut [Scalar<'a>],
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, 'de> {
    type Value = Scalar<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, 'de> {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Boolean(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(value).map_or(Scalar::Real(value as f64), Scalar::Integer))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Real(value))
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested(NestedKind::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(node) = self.node else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Scalar::Nested(NestedKind::Object));
        };
        while let Some(found) = map.next_key_seed(KeySeed { node })? {
            let Some(child) = found.map(|index| &node.children[index]) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(ValueSeed { node: child.node.as_ref(), slots: &mut *self.slots })?;
            if let Some(slot) = child.slot {
                self.slots[slot] = value;
            }
        }
        Ok(Scalar::Nested(NestedKind::Object))
    }
}

/// Reads an object key and answers which planned child it names, without allocating.
struct KeySeed<'p> {
    node: &'p PlanNode,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.node.children.iter().position(|child| child.matches(key)))
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
        let plan = plan(&["ts", "order.total", "country", "order"]);
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
        let plan = plan(&["a", "b.c"]);
        let mut slots = Vec::new();
        plan.decode(br#"{"b":3}"#, &mut slots).unwrap();
        assert_eq!(slots, vec![Scalar::Missing, Scalar::Missing]);
    }

    #[test]
    fn rejects_non_objects_and_broken_json() {
        let plan = plan(&["a"]);
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
    fn same_path_gets_same_slot() {
        let mut plan = FieldPlan::default();
        let first = plan.add_path("user.id");
        let second = plan.add_path("user.id");
        assert_eq!(first, second);
        assert_eq!(plan.slot_count(), 1);
    }
}
