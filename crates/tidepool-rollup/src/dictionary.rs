//! Interning of dimension values: each distinct text gets a small integer id,
//! so rollup rows compare and hash ids instead of strings. Id 0 is "no value".

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

/// The id every dictionary gives to a missing or null value.
pub const NULL_ID: u32 = 0;

/// Distinct values of one dimension, in order of first appearance.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(from = "Vec<Box<str>>")]
pub struct Dictionary {
    values: Vec<Box<str>>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Dictionary {
    /// The id of `value`, adding it when it is new.
    pub fn id_of(&mut self, value: Option<&str>) -> u32 {
        let Some(text) = value else { return NULL_ID };
        let hash = self.hasher.hash_one(text);
        let values = &self.values;
        if let Some(&id) = self.index.find(hash, |&id| &*values[id as usize - 1] == text) {
            return id;
        }
        self.values.push(text.into());
        let id = self.values.len() as u32;
        let (values, hasher) = (&self.values, &self.hasher);
        self.index.insert_unique(hash, id, |&id| hasher.hash_one(&*values[id as usize - 1]));
        id
    }

    /// The text behind an id (`None` for [`NULL_ID`]).
    pub fn value(&self, id: u32) -> Option<&str> {
        if id == NULL_ID { None } else { self.values.get(id as usize - 1).map(|v| &**v) }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl From<Vec<Box<str>>> for Dictionary {
    fn from(values: Vec<Box<str>>) -> Self {
        let mut dictionary = Self::default();
        for value in values {
            dictionary.id_of(Some(&value));
        }
        dictionary
    }
}

impl Serialize for Dictionary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_survive_a_round_trip() {
        let mut dictionary = Dictionary::default();
        let de = dictionary.id_of(Some("DE"));
        let fr = dictionary.id_of(Some("FR"));
        assert_eq!(dictionary.id_of(Some("DE")), de);
        assert_eq!(dictionary.id_of(None), NULL_ID);
        let bytes = postcard::to_stdvec(&dictionary).unwrap();
        let mut again: Dictionary = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(again.id_of(Some("FR")), fr);
        assert_eq!(again.value(de), Some("DE"));
        assert_eq!(again.len(), 2);
    }
}
