//! The hot path from a raw message to the rollup: size checks, decoding, the
//! rollup's filter, event time, type checks, lateness and retention, then the merge. Knows nothing of
//! Kafka clients or storage, so the benchmark and unit tests drive it directly.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::quarantine::{QuarantineReason, QuarantinedRecord};
use crate::engine::rollup::distinct::coupon_of;
use crate::engine::rollup::{EventOrder, MetricInput, RollupState};
use crate::model::workbook::{EventFilter, TimeFormat, TimeSource};
use crate::model::{MetricKind, StreamSpec};
use tidepool_json::{DecodeError, FieldPlan, Scalar};

/// Quarantined records kept in memory for live views.
pub const RECENT_QUARANTINE: usize = 200;

/// Event times tidepool accepts: the years 0001 to 9999 (UTC), as RFC 3339
/// writes them. Anything outside — a producer's bug such as a Kafka timestamp
/// of 9223372036854775000 ms — is quarantined as `bad_time`, so bucket,
/// watermark and retention arithmetic never leave the range of an `i64`.
pub const EARLIEST_EVENT_MICROS: i64 = -62_135_596_800_000_000;
pub const LATEST_EVENT_MICROS: i64 = 253_402_300_799_999_999;

/// One message as it came off a partition.
#[derive(Debug, Clone, Copy)]
pub struct IncomingMessage<'a> {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub payload: Option<&'a [u8]>,
}

/// Counters and positions that must be saved together with the rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamProgress {
    /// Events merged into the rollup.
    pub events: u64,
    /// Merged events that arrived later than the allowed lateness.
    pub late: u64,
    /// Quarantined records by reason (never capped).
    pub quarantined: BTreeMap<QuarantineReason, u64>,
    /// Per partition: the offset of the next message to read.
    pub next_offsets: BTreeMap<i32, i64>,
    /// Per partition: the largest event time seen (µs).
    pub watermarks: BTreeMap<i32, i64>,
    /// Offsets the broker never delivered between two delivered messages (compaction,
    /// transaction markers, or data deleted by retention before it was read).
    #[serde(default)]
    pub skipped_offsets: u64,
    /// Well-formed messages the rollup's filter left out (not merged, not quarantined).
    #[serde(default)]
    pub filtered: u64,
}

impl StreamProgress {
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }

    /// Messages accounted for: merged, filtered out or quarantined.
    pub fn counted(&self) -> u64 {
        self.events + self.filtered + self.quarantined_total()
    }
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Merged,
    MergedLate,
    Quarantined(QuarantineReason),
    /// Left out by the rollup's filter.
    Filtered,
    /// Below the partition's checkpointed position: already counted, ignored.
    AlreadyCounted,
}

/// Decodes and merges messages of one stream into its rollup.
#[derive(Debug)]
pub struct Ingestor {
    plan: FieldPlan,
    /// The rollup's filter and the decoded slot of the field it reads.
    filter: Option<(usize, EventFilter)>,
    time: TimeSlot,
    dimension_slots: Vec<usize>,
    metric_slots: Vec<MetricSlot>,
    max_message_bytes: usize,
    allowed_lateness_micros: i64,
    retention_micros: Option<i64>,
    quarantine_capacity: usize,
    pub rollup: RollupState,
    pub progress: StreamProgress,
    /// Messages the progress had counted when this ingestor was made (from a checkpoint).
    pub counted_at_start: u64,
    /// Quarantined since the last checkpoint, newest last, at most `quarantine_capacity`.
    pending_quarantine: VecDeque<QuarantinedRecord>,
    /// The latest quarantined records, for live views.
    recent_quarantine: VecDeque<QuarantinedRecord>,
    slots: Vec<Scalar<'static>>,
    /// Reused for each event's dimension values (emptied between events).
    dimension_values: Vec<Option<&'static str>>,
    /// Per dimension, the text of a numeric value.
    number_texts: Vec<String>,
    inputs: Vec<MetricInput>,
    text: String,
}

#[derive(Debug, Clone, Copy)]
enum TimeSlot {
    Field { slot: usize, format: TimeFormat },
    Kafka,
}

#[derive(Debug, Clone)]
struct MetricSlot {
    kind: MetricKind,
    slot: Option<usize>,
    path: String,
}

struct Rejection {
    reason: QuarantineReason,
    detail: String,
}

/// Why a message is not merged.
enum Checked {
    FilteredOut,
    Rejected(Rejection),
}

impl From<Rejection> for Checked {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl Rejection {
    fn new(reason: QuarantineReason, detail: String) -> Self {
        Self { reason, detail }
    }
}

impl Ingestor {
    pub fn new(spec: &StreamSpec) -> Self {
        Self::resume(spec, RollupState::new(&spec.rollup.shape()), StreamProgress::default())
    }

    /// Continues from a checkpoint's rollup and progress.
    pub fn resume(spec: &StreamSpec, rollup: RollupState, progress: StreamProgress) -> Self {
        let mut plan = FieldPlan::default();
        let filter = spec.rollup.filter.as_ref().map(|filter| (plan.add_path(&filter.field), filter.clone()));
        let time = match &spec.time.source {
            TimeSource::Field { path, format } => TimeSlot::Field { slot: plan.add_path(path), format: *format },
            TimeSource::KafkaTimestamp => TimeSlot::Kafka,
        };
        let dimension_slots: Vec<usize> = spec.rollup.dimensions.iter().map(|path| plan.add_path(path)).collect();
        let metric_slots = spec
            .rollup
            .metrics
            .iter()
            .map(|metric| MetricSlot {
                kind: metric.kind,
                slot: metric.field.as_deref().map(|path| plan.add_path(path)),
                path: metric.field.clone().unwrap_or_default(),
            })
            .collect();
        Self {
            plan,
            filter,
            time,
            dimension_slots,
            metric_slots,
            max_message_bytes: spec.max_message_bytes,
            allowed_lateness_micros: spec.rollup.allowed_lateness.micros(),
            retention_micros: spec.rollup.retention.map(crate::model::SpanDuration::micros),
            quarantine_capacity: spec.quarantine_capacity,
            rollup,
            counted_at_start: progress.counted(),
            progress,
            pending_quarantine: VecDeque::new(),
            recent_quarantine: VecDeque::new(),
            slots: Vec::new(),
            dimension_values: Vec::new(),
            number_texts: vec![String::new(); spec.rollup.dimensions.len()],
            inputs: Vec::new(),
            text: String::new(),
        }
    }

    /// Takes one message; `now_micros` is the wall clock, used only for retention.
    pub fn ingest(&mut self, message: IncomingMessage<'_>, now_micros: i64) -> Outcome {
        match self.progress.next_offsets.get_mut(&message.partition) {
            Some(next) if message.offset < *next => return Outcome::AlreadyCounted,
            Some(next) => {
                self.progress.skipped_offsets += (message.offset - *next) as u64;
                *next = message.offset + 1;
            }
            None => {
                self.progress.next_offsets.insert(message.partition, message.offset + 1);
            }
        }
        let payload = message.payload.unwrap_or_default();
        let mut slots = recycle(std::mem::take(&mut self.slots));
        let checked = self.check(message, payload, now_micros, &mut slots);
        let outcome = match checked {
            Ok(event_micros) => {
                let order = EventOrder { micros: event_micros, partition: message.partition, offset: message.offset };
                let late = self.advance_watermark(message.partition, event_micros);
                let mut values = recycle_values(std::mem::take(&mut self.dimension_values));
                for (&slot, buffer) in self.dimension_slots.iter().zip(&mut self.number_texts) {
                    values.push(dimension_text(&slots[slot], buffer));
                }
                self.rollup.merge(event_micros, &values, &self.inputs, order);
                self.dimension_values = recycle_values(values);
                self.progress.events += 1;
                if late {
                    self.progress.late += 1;
                    Outcome::MergedLate
                } else {
                    Outcome::Merged
                }
            }
            Err(Checked::FilteredOut) => {
                self.progress.filtered += 1;
                Outcome::Filtered
            }
            Err(Checked::Rejected(rejection)) => {
                self.quarantine(message, payload, rejection.reason, rejection.detail);
                Outcome::Quarantined(rejection.reason)
            }
        };
        self.slots = recycle(slots);
        outcome
    }

    /// Validates a message completely before anything is merged; fills `self.inputs`.
    /// A well-formed message the filter leaves out is not checked further.
    fn check<'a>(
        &mut self,
        message: IncomingMessage<'_>,
        payload: &'a [u8],
        now_micros: i64,
        slots: &mut Vec<Scalar<'a>>,
    ) -> Result<i64, Checked> {
        self.decode(payload, slots)?;
        if let Some((slot, filter)) = &self.filter
            && !filter.keeps(dimension_text(&slots[*slot], &mut self.text))
        {
            return Err(Checked::FilteredOut);
        }
        Ok(self.check_decoded(message, now_micros, slots)?)
    }

    fn decode<'a>(&mut self, payload: &'a [u8], slots: &mut Vec<Scalar<'a>>) -> Result<(), Rejection> {
        if payload.is_empty() {
            return Err(Rejection::new(QuarantineReason::Empty, "the message has no payload".into()));
        }
        if payload.len() > self.max_message_bytes {
            return Err(Rejection::new(
                QuarantineReason::Oversized,
                format!("{} bytes is over the stream's max_message_bytes of {}", payload.len(), self.max_message_bytes),
            ));
        }
        self.plan.decode(payload, slots).map_err(|err| match err {
            DecodeError::NotJson(why) => Rejection::new(QuarantineReason::NotJson, why),
            DecodeError::NotAnObject(found) => {
                Rejection::new(QuarantineReason::NotAnObject, format!("expected a JSON object, found {found}"))
            }
        })
    }

    fn check_decoded(
        &mut self,
        message: IncomingMessage<'_>,
        now_micros: i64,
        slots: &[Scalar<'_>],
    ) -> Result<i64, Rejection> {
        let event_micros = match self.time {
            TimeSlot::Kafka => {
                let ms = message.timestamp_ms.ok_or_else(|| {
                    Rejection::new(QuarantineReason::MissingTime, "the message has no Kafka timestamp".into())
                })?;
                ms.checked_mul(1_000).ok_or_else(|| {
                    Rejection::new(QuarantineReason::BadTime, format!("Kafka timestamp {ms} ms is out of range"))
                })?
            }
            TimeSlot::Field { slot, format } => event_time(&slots[slot], format)?,
        };
        if !(EARLIEST_EVENT_MICROS..=LATEST_EVENT_MICROS).contains(&event_micros) {
            return Err(Rejection::new(
                QuarantineReason::BadTime,
                format!("event time {event_micros} µs since 1970 is outside the years 0001 to 9999"),
            ));
        }
        if let Some(retention) = self.retention_micros
            && event_micros < now_micros.saturating_sub(retention)
        {
            return Err(Rejection::new(
                QuarantineReason::TooOld,
                format!("event time {} is older than the retention horizon", format_micros(event_micros)),
            ));
        }
        self.inputs.clear();
        for metric in &self.metric_slots {
            let value = metric.slot.map_or(&Scalar::Missing, |slot| &slots[slot]);
            self.inputs.push(metric_input(metric, value, &mut self.text)?);
        }
        for &slot in &self.dimension_slots {
            if let Scalar::Nested(_) = slots[slot] {
                return Err(Rejection::new(
                    QuarantineReason::WrongType,
                    format!("a dimension field is {}, expected text or a number", slots[slot].type_name()),
                ));
            }
        }
        Ok(event_micros)
    }

    /// Raises the partition's watermark; answers whether the event is late.
    fn advance_watermark(&mut self, partition: i32, event_micros: i64) -> bool {
        let watermark = self.progress.watermarks.entry(partition).or_insert(event_micros);
        let late = event_micros < watermark.saturating_sub(self.allowed_lateness_micros);
        *watermark = (*watermark).max(event_micros);
        late
    }

    fn quarantine(&mut self, message: IncomingMessage<'_>, payload: &[u8], reason: QuarantineReason, detail: String) {
        *self.progress.quarantined.entry(reason).or_default() += 1;
        if self.quarantine_capacity == 0 {
            return;
        }
        if self.pending_quarantine.len() >= self.quarantine_capacity {
            self.pending_quarantine.pop_front();
        }
        let record =
            QuarantinedRecord::new(message.partition, message.offset, message.timestamp_ms, reason, detail, payload);
        if self.recent_quarantine.len() >= RECENT_QUARANTINE {
            self.recent_quarantine.pop_front();
        }
        self.recent_quarantine.push_back(record.clone());
        self.pending_quarantine.push_back(record);
    }

    /// The latest quarantined records (at most [`RECENT_QUARANTINE`]), oldest first.
    pub fn recent_quarantine(&self) -> Vec<QuarantinedRecord> {
        self.recent_quarantine.iter().cloned().collect()
    }

    /// The offset of the next message to count from `partition`, if any was counted.
    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.progress.next_offsets.get(&partition).copied()
    }

    /// Hands over the records quarantined since the last call (to be saved with the checkpoint).
    pub fn take_pending_quarantine(&mut self) -> Vec<QuarantinedRecord> {
        std::mem::take(&mut self.pending_quarantine).into()
    }

    /// Puts records back when a checkpoint could not be written.
    pub fn restore_pending_quarantine(&mut self, mut records: Vec<QuarantinedRecord>) {
        records.extend(std::mem::take(&mut self.pending_quarantine));
        let excess = records.len().saturating_sub(self.quarantine_capacity);
        records.drain(..excess);
        self.pending_quarantine = records.into();
    }

    /// Applies retention to stored buckets; returns the number of rows dropped.
    pub fn apply_retention(&mut self, now_micros: i64) -> usize {
        match self.retention_micros {
            Some(retention) => {
                let cutoff = self.rollup.bucket_of(now_micros.saturating_sub(retention));
                self.rollup.drop_buckets_before(cutoff)
            }
            None => 0,
        }
    }
}

// Reuse a vector's allocation for a different lifetime of its (emptied) contents:
// `filter_map(|_| None)` is what lets the in-place collect change the lifetime.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(slots: Vec<Scalar<'_>>) -> Vec<Scalar<'b>> {
    slots.into_iter().filter_map(|_| None).collect()
}

#[allow(clippy::unnecessary_filter_map)]
fn recycle_values<'b>(values: Vec<Option<&str>>) -> Vec<Option<&'b str>> {
    values.into_iter().filter_map(|_| None).collect()
}

fn event_time(value: &Scalar<'_>, format: TimeFormat) -> Result<i64, Rejection> {
    let bad = |why: String| Rejection::new(QuarantineReason::BadTime, why);
    let per_unit = match format {
        TimeFormat::EpochS => 1_000_000.0,
        TimeFormat::EpochMs => 1_000.0,
        TimeFormat::EpochUs | TimeFormat::Kafka => 1.0,
        TimeFormat::Rfc3339 => 0.0,
    };
    match (value, format) {
        (Scalar::Missing | Scalar::Null, _) => {
            Err(Rejection::new(QuarantineReason::MissingTime, format!("the time field is {}", value.type_name())))
        }
        (Scalar::Text(text), TimeFormat::Rfc3339) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| time.timestamp_micros())
            .map_err(|err| bad(format!("`{text}` is not an RFC 3339 time ({err})"))),
        (Scalar::Integer(whole), TimeFormat::EpochS | TimeFormat::EpochMs | TimeFormat::EpochUs) => {
            whole.checked_mul(per_unit as i64).ok_or_else(|| bad(format!("{whole} is out of range")))
        }
        (Scalar::Real(real), TimeFormat::EpochS | TimeFormat::EpochMs | TimeFormat::EpochUs) => {
            let micros = (real * per_unit).round();
            if micros.is_finite() && micros.abs() < 9.0e18 {
                Ok(micros as i64)
            } else {
                Err(bad(format!("{real} is out of range")))
            }
        }
        (Scalar::Text(text), _) => match text.trim().parse::<f64>() {
            Ok(real) => event_time(&Scalar::Real(real), format),
            Err(_) => Err(bad(format!("`{text}` is not a number of {format:?} units"))),
        },
        (other, _) => Err(bad(format!("the time field is {}, expected {format:?}", other.type_name()))),
    }
}

fn metric_input(metric: &MetricSlot, value: &Scalar<'_>, text: &mut String) -> Result<MetricInput, Rejection> {
    let wrong = |expected: &str| {
        Rejection::new(
            QuarantineReason::WrongType,
            format!("field `{}` is {}, expected {expected}", metric.path, value.type_name()),
        )
    };
    match metric.kind {
        MetricKind::Count => Ok(MetricInput::Absent),
        MetricKind::ApproxDistinct => match value {
            Scalar::Missing | Scalar::Null => Ok(MetricInput::Absent),
            Scalar::Nested(_) => Err(wrong("text or a number")),
            other => {
                let text = dimension_text(other, text).unwrap_or_default();
                Ok(MetricInput::Distinct(coupon_of(text)))
            }
        },
        _ => match *value {
            Scalar::Missing | Scalar::Null => Ok(MetricInput::Absent),
            Scalar::Integer(whole) => Ok(MetricInput::Number { value: whole as f64, exact: Some(whole) }),
            Scalar::Real(real) => Ok(MetricInput::Number { value: real, exact: None }),
            _ => Err(wrong("a number")),
        },
    }
}

/// A scalar as dimension text (`None` for missing or null); numbers are written into `buffer`.
#[inline]
fn dimension_text<'v>(value: &'v Scalar<'_>, buffer: &'v mut String) -> Option<&'v str> {
    // Text first, with one compare: nearly every dimension value is text.
    if let Scalar::Text(text) = value {
        return Some(text);
    }
    match value {
        Scalar::Missing | Scalar::Null | Scalar::Nested(_) => None,
        Scalar::Text(text) => Some(text),
        Scalar::Boolean(flag) => Some(if *flag { "true" } else { "false" }),
        Scalar::Integer(whole) => {
            buffer.clear();
            let _ = write!(buffer, "{whole}");
            Some(buffer)
        }
        Scalar::Real(real) => {
            buffer.clear();
            let _ = write!(buffer, "{real}");
            Some(buffer)
        }
    }
}

/// A µs timestamp as RFC 3339 text.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| format!("{micros}µs"), |time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::RollupFrame;

    fn ingestor() -> Ingestor {
        Ingestor::new(&crate::model::workbook::test_stream(
            r#"granularity = "1m"
allowed_lateness = "1m"
metrics = [{ name = "events", kind = "count" }]"#,
        ))
    }

    fn message(offset: i64, payload: &[u8]) -> IncomingMessage<'_> {
        IncomingMessage { partition: 0, offset, timestamp_ms: None, payload: Some(payload) }
    }

    #[test]
    fn messages_below_the_position_are_not_counted_twice() {
        let mut ingestor = ingestor();
        assert_eq!(ingestor.ingest(message(0, br#"{"ts":1000}"#), 0), Outcome::Merged);
        assert_eq!(ingestor.ingest(message(1, br#"{"ts":2000}"#), 0), Outcome::Merged);
        assert_eq!(ingestor.ingest(message(0, br#"{"ts":1000}"#), 0), Outcome::AlreadyCounted);
        assert_eq!(ingestor.progress.events, 2);
        assert_eq!(ingestor.progress.next_offsets[&0], 2);
    }

    #[test]
    fn offsets_the_broker_never_delivered_are_counted() {
        let mut ingestor = ingestor();
        ingestor.ingest(message(0, br#"{"ts":1000}"#), 0);
        ingestor.ingest(message(5, br#"{"ts":2000}"#), 0);
        assert_eq!(ingestor.progress.skipped_offsets, 4);
    }

    #[test]
    fn times_beyond_the_calendar_are_quarantined_not_wrapped() {
        let mut ingestor = ingestor();
        for (offset, payload) in [
            &br#"{"ts":9223372036854775}"#[..],
            br#"{"ts":-9223372036854775}"#,
            br#"{"ts":253402300800000}"#,
            br#"{"ts":1e300}"#,
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = ingestor.ingest(message(offset as i64, payload), 0);
            assert_eq!(
                outcome,
                Outcome::Quarantined(QuarantineReason::BadTime),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        assert_eq!(ingestor.ingest(message(100, br#"{"ts":253402300799999}"#), 0), Outcome::Merged, "9999-12-31");
        let mut kafka_time = Ingestor::new(&crate::model::workbook::test_stream_with_time(
            "format = \"kafka\"",
            "granularity = \"1m\"\nmetrics = [{ name = \"events\", kind = \"count\" }]",
        ));
        let broken = IncomingMessage {
            partition: 0,
            offset: 0,
            timestamp_ms: Some(9_223_372_036_854_775_000),
            payload: Some(br#"{"a":1}"#),
        };
        assert_eq!(kafka_time.ingest(broken, 0), Outcome::Quarantined(QuarantineReason::BadTime));
        let good = IncomingMessage { offset: 1, timestamp_ms: Some(1_000), ..broken };
        assert_eq!(kafka_time.ingest(good, 0), Outcome::Merged, "the bad timestamp moved no watermark");
        assert_eq!(kafka_time.progress.late, 0);
    }

    #[test]
    fn lateness_is_judged_against_the_partition_watermark() {
        let mut ingestor = ingestor();
        assert_eq!(ingestor.ingest(message(0, br#"{"ts":600000}"#), 0), Outcome::Merged);
        assert_eq!(ingestor.ingest(message(1, br#"{"ts":550000}"#), 0), Outcome::Merged, "within the allowed minute");
        assert_eq!(ingestor.ingest(message(2, br#"{"ts":100000}"#), 0), Outcome::MergedLate);
        let other_partition =
            IncomingMessage { partition: 1, offset: 0, timestamp_ms: None, payload: Some(br#"{"ts":1000}"#) };
        assert_eq!(ingestor.ingest(other_partition, 0), Outcome::Merged, "watermarks are per partition");
        assert_eq!(ingestor.progress.late, 1);
        assert_eq!(ingestor.rollup.event_total(), 4, "late events are still merged");
    }

    /// Property: however the partitions' batches interleave on arrival, the
    /// rollup is the same (first/last order by event time, partition, offset;
    /// sums are whole numbers here so no rounding order shows).
    #[test]
    fn the_rollup_does_not_depend_on_how_partition_batches_interleave() {
        let spec = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
allowed_lateness = "1m"
metrics = [
  { name = "events", kind = "count" },
  { name = "total", kind = "sum", field = "n" },
  { name = "low", kind = "min", field = "n" },
  { name = "first_n", kind = "first", field = "n" },
  { name = "last_n", kind = "last", field = "n" },
  { name = "users", kind = "approx_distinct", field = "user" },
  { name = "n_q", kind = "quantiles", field = "n", quantiles = [0.5, 0.9] },
]"#,
        );
        let mut rng = crate::demo::clickstream::Rng::new(7);
        let countries = ["DE", "FR", "US"];
        let partitions: Vec<Vec<Vec<u8>>> = (0..3)
            .map(|_| {
                (0..400)
                    .map(|i| {
                        let ts = 1_764_000_000_000_i64 + i * 700 + rng.below(30_000) as i64;
                        format!(
                            r#"{{"ts":{ts},"country":"{}","n":{},"user":"u{}"}}"#,
                            countries[rng.below(3) as usize],
                            rng.below(1_000),
                            rng.below(60)
                        )
                        .into_bytes()
                    })
                    .collect()
            })
            .collect();
        let reference = {
            let mut ingestor = Ingestor::new(&spec);
            for (partition, messages) in partitions.iter().enumerate() {
                for (offset, payload) in messages.iter().enumerate() {
                    let message = IncomingMessage {
                        partition: partition as i32,
                        offset: offset as i64,
                        timestamp_ms: None,
                        payload: Some(payload),
                    };
                    ingestor.ingest(message, 0);
                }
            }
            ingestor.rollup.to_frame().unwrap()
        };
        for seed in 0..20 {
            let mut order = crate::demo::clickstream::Rng::new(100 + seed);
            let mut ingestor = Ingestor::new(&spec);
            let mut next = [0_usize; 3];
            while next.iter().zip(&partitions).any(|(n, p)| *n < p.len()) {
                let partition = order.below(3) as usize;
                let batch = 1 + order.below(50) as usize;
                for _ in 0..batch {
                    let Some(payload) = partitions[partition].get(next[partition]) else { break };
                    let message = IncomingMessage {
                        partition: partition as i32,
                        offset: next[partition] as i64,
                        timestamp_ms: None,
                        payload: Some(payload),
                    };
                    ingestor.ingest(message, 0);
                    next[partition] += 1;
                }
            }
            let frame = ingestor.rollup.to_frame().unwrap();
            assert!(frame.equals_missing(&reference), "interleaving {seed} gave another rollup:\n{frame}\n{reference}");
        }
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;
    use crate::engine::rollup::RollupFrame;
    use polars::prelude::*;

    fn orders_spec(filter: &str) -> StreamSpec {
        crate::model::workbook::test_stream(&format!(
            r#"granularity = "1m"
dimensions = ["user"]
filter = {filter}
metrics = [{{ name = "orders", kind = "count" }}, {{ name = "revenue", kind = "sum", field = "revenue" }}]"#
        ))
    }

    fn orders_only(filter: &str) -> Ingestor {
        Ingestor::new(&orders_spec(filter))
    }

    fn message(offset: i64, payload: &[u8]) -> IncomingMessage<'_> {
        IncomingMessage { partition: 0, offset, timestamp_ms: None, payload: Some(payload) }
    }

    #[test]
    fn only_the_events_the_filter_keeps_are_rolled_up_and_the_rest_are_counted() {
        let mut ingestor = orders_only(r#"{ field = "type", in = ["order", "7"] }"#);
        let outcomes: Vec<Outcome> = [
            &br#"{"ts":1000,"type":"order","user":"a","revenue":10}"#[..],
            br#"{"ts":2000,"type":"page_view","user":"a"}"#,
            br#"{"ts":3000,"type":"order","user":"b","revenue":5}"#,
            br#"{"ts":4000,"user":"c"}"#,
            br#"{"ts":5000,"type":7,"user":"c","revenue":1}"#,
            b"not json",
            br#"{"ts":"yesterday","type":"page_view"}"#,
            br#"{"ts":"yesterday","type":"order"}"#,
            br#"{"ts":6000,"type":{"nested":1}}"#,
        ]
        .iter()
        .enumerate()
        .map(|(offset, payload)| ingestor.ingest(message(offset as i64, payload), 0))
        .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Merged,
                Outcome::Filtered,
                Outcome::Merged,
                Outcome::Filtered,
                Outcome::Merged,
                Outcome::Quarantined(QuarantineReason::NotJson),
                Outcome::Filtered,
                Outcome::Quarantined(QuarantineReason::BadTime),
                Outcome::Filtered,
            ],
            "a number matches its JSON text; a bad time only matters in a kept event"
        );
        assert_eq!((ingestor.progress.events, ingestor.progress.filtered), (3, 4));
        assert_eq!(ingestor.progress.counted(), 9, "every message is accounted for once");
        let frame = ingestor.rollup.to_frame().unwrap().sort(["user"], SortMultipleOptions::default()).unwrap();
        let users: Vec<Option<&str>> = frame.column("user").unwrap().str().unwrap().iter().collect();
        assert_eq!(users, [Some("a"), Some("b"), Some("c")]);
        let revenue: Vec<Option<f64>> = frame.column("revenue").unwrap().f64().unwrap().iter().collect();
        assert_eq!(revenue, [Some(10.0), Some(5.0), Some(1.0)], "page views add nothing");
    }

    #[test]
    fn not_in_keeps_everything_but_the_listed_values_including_events_without_the_field() {
        let mut ingestor = orders_only(r#"{ field = "type", not_in = ["heartbeat"] }"#);
        assert_eq!(ingestor.ingest(message(0, br#"{"ts":1000,"type":"heartbeat"}"#), 0), Outcome::Filtered);
        assert_eq!(ingestor.ingest(message(1, br#"{"ts":1000,"type":"order"}"#), 0), Outcome::Merged);
        assert_eq!(ingestor.ingest(message(2, br#"{"ts":1000}"#), 0), Outcome::Merged);
        assert_eq!(ingestor.ingest(message(3, br#"{"ts":1000,"type":null}"#), 0), Outcome::Merged);
    }

    #[test]
    fn filtered_messages_count_towards_the_resume_position() {
        let mut ingestor = orders_only(r#"{ field = "type", in = ["order"] }"#);
        ingestor.ingest(message(0, br#"{"ts":1000,"type":"view"}"#), 0);
        ingestor.ingest(message(1, br#"{"ts":1000,"type":"view"}"#), 0);
        let spec = orders_spec(r#"{ field = "type", in = ["order"] }"#);
        let resumed = Ingestor::resume(&spec, RollupState::new(&spec.rollup.shape()), ingestor.progress.clone());
        assert_eq!(resumed.counted_at_start, 2);
        assert_eq!(resumed.next_offset(0), Some(2));
    }
}
