//! The reference JSON decoder: `serde_json`'s parser driven by a seed that
//! captures the planned fields. It takes every message the fast scanner
//! declines and words the errors (line and column) for the quarantine.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{DecodeError, NestedKind, PlanChild, PlanNode, Scalar};

/// Decodes `text` into `slots` (already reset to missing); the top level must be an object.
pub(super) fn decode<'a>(root: &PlanNode, text: &'a str, slots: &mut [Scalar<'a>]) -> Result<(), DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = ValueSeed { node: Some(root), slots }
        .deserialize(&mut deserializer)
        .map_err(|err| DecodeError::NotJson(err.to_string()))?;
    deserializer.end().map_err(|err| DecodeError::NotJson(err.to_string()))?;
    match top {
        Scalar::Nested(NestedKind::Object) => Ok(()),
        other => Err(DecodeError::NotAnObject(other.type_name())),
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
            let Some(child) = found else {
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

impl<'de, 'p> DeserializeSeed<'de> for KeySeed<'p> {
    type Value = Option<&'p PlanChild>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'p> Visitor<'_> for KeySeed<'p> {
    type Value = Option<&'p PlanChild>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.node.find(key))
    }
}
