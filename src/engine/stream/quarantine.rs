//! Records that could not be rolled up: why, where they came from (partition,
//! offset) and a bounded copy of their payload. Counting is never bounded;
//! keeping copies is.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Bytes of a bad payload kept for inspection.
pub const PAYLOAD_EXCERPT_BYTES: usize = 512;
/// Bytes of the detail text kept (a parser message can quote a whole payload).
pub const DETAIL_BYTES: usize = 512;

/// Why a record was quarantined. The `code` is stable (stored and printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QuarantineReason {
    /// No payload, or a zero-length one.
    Empty,
    /// Larger than the stream's `max_message_bytes`.
    Oversized,
    /// Not valid JSON.
    NotJson,
    /// Valid JSON but not an object.
    NotAnObject,
    /// The time field is missing or null.
    MissingTime,
    /// The time field cannot be read in the declared format.
    BadTime,
    /// A metric or dimension field holds the wrong kind of value.
    WrongType,
    /// Older than the rollup's retention horizon.
    TooOld,
}

impl QuarantineReason {
    pub const ALL: [Self; 8] = [
        Self::Empty,
        Self::Oversized,
        Self::NotJson,
        Self::NotAnObject,
        Self::MissingTime,
        Self::BadTime,
        Self::WrongType,
        Self::TooOld,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Oversized => "oversized",
            Self::NotJson => "not_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingTime => "missing_time",
            Self::BadTime => "bad_time",
            Self::WrongType => "wrong_type",
            Self::TooOld => "too_old",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.code() == code)
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One quarantined record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    pub partition: i32,
    pub offset: i64,
    pub kafka_timestamp_ms: Option<i64>,
    pub reason: QuarantineReason,
    /// Human words: what exactly was wrong (field, value, parser message).
    pub detail: String,
    /// Size of the whole payload in bytes.
    pub payload_bytes: usize,
    /// The first [`PAYLOAD_EXCERPT_BYTES`] bytes of the payload.
    pub payload_excerpt: Vec<u8>,
}

impl QuarantinedRecord {
    pub fn new(
        partition: i32,
        offset: i64,
        kafka_timestamp_ms: Option<i64>,
        reason: QuarantineReason,
        detail: String,
        payload: &[u8],
    ) -> Self {
        Self {
            partition,
            offset,
            kafka_timestamp_ms,
            reason,
            detail: bounded(detail, DETAIL_BYTES),
            payload_bytes: payload.len(),
            payload_excerpt: payload[..payload.len().min(PAYLOAD_EXCERPT_BYTES)].to_vec(),
        }
    }

    /// The excerpt as one line of text (invalid UTF-8 replaced, newlines escaped).
    pub fn excerpt_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.payload_excerpt).replace('\n', "\\n").replace('\r', "\\r");
        if self.payload_bytes > self.payload_excerpt.len() {
            format!("{text}… ({} bytes)", self.payload_bytes)
        } else {
            text
        }
    }
}

/// `text` cut to at most `limit` bytes on a character boundary, marked when cut.
fn bounded(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl fmt::Display for QuarantinedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition={} offset={} reason={} detail={:?} payload={}",
            self.partition,
            self.offset,
            self.reason,
            self.detail,
            self.excerpt_text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_detail_and_payload_are_bounded() {
        let huge = "é".repeat(10_000);
        let record = QuarantinedRecord::new(0, 1, None, QuarantineReason::NotJson, huge.clone(), huge.as_bytes());
        assert!(record.detail.len() <= DETAIL_BYTES + '…'.len_utf8(), "{}", record.detail.len());
        assert!(record.detail.ends_with('…'));
        assert_eq!(record.payload_excerpt.len(), PAYLOAD_EXCERPT_BYTES);
        assert_eq!(record.payload_bytes, huge.len());
    }
}
