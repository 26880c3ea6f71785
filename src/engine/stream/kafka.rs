//! The Kafka side of a stream: client settings from the workbook, a context
//! that records the high watermarks librdkafka learns from fetch responses and
//! the last client error, and start-position resolution.
//!
//! Must not decode or merge messages: the worker hands payloads to the ingestor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::engine::stream::ingest::StreamProgress;
use crate::model::{StartPosition, StreamSpec};

/// On resume, partitions are assigned this many offsets before their checkpoint
/// and the already-counted messages are skipped. Some brokers (tansu 0.6) serve
/// a fetch from the first record batch starting at or after the asked offset,
/// silently skipping the rest of the batch that holds it; rewinding makes sure
/// that batch is read. Kafka itself serves the holding batch, so this costs it
/// only a few thousand re-read messages per partition and restart.
pub const RESUME_REWIND: i64 = 10_000;

/// How long one metadata or offsets request may take before the stream retries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared between librdkafka's callbacks and the worker.
#[derive(Debug, Default)]
pub struct StreamContext {
    topic: String,
    /// Per partition: the high watermark from the latest fetch response.
    high_watermarks: Mutex<HashMap<i32, i64>>,
    last_error: Mutex<Option<String>>,
}

impl StreamContext {
    pub fn new(topic: &str) -> Self {
        Self { topic: topic.to_string(), ..Self::default() }
    }

    pub fn high_watermarks(&self) -> HashMap<i32, i64> {
        self.high_watermarks.lock().map(|map| map.clone()).unwrap_or_default()
    }

    pub fn take_last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|mut error| error.take())
    }
}

impl ClientContext for StreamContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::warn!(target: "librdkafka", "{facility}: {message}");
            }
            _ => tracing::debug!(target: "librdkafka", "{facility}: {message}"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        if let Ok(mut marks) = self.high_watermarks.lock() {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.hi_offset >= 0 {
                    marks.insert(*partition, stats.hi_offset);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "client error: {error}: {reason}");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(reason.to_string());
        }
    }
}

impl ConsumerContext for StreamContext {}

pub type StreamConsumer = BaseConsumer<StreamContext>;

/// Why a stream could not connect or read; the text names the broker and topic.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// The client settings for a stream (secrets from the environment).
pub fn client_config(spec: &StreamSpec) -> Result<ClientConfig, ConnectError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &spec.brokers)
        .set("group.id", format!("tidepool-{}", spec.name))
        .set("client.id", "tidepool")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        .set("socket.timeout.ms", "10000")
        .set("message.max.bytes", (spec.max_message_bytes.max(1_000_000) + 1_000_000).to_string());
    let kafka = &spec.kafka;
    if let Some(protocol) = &kafka.security_protocol {
        config.set("security.protocol", protocol);
    }
    if let Some(mechanism) = &kafka.sasl_mechanism {
        config.set("sasl.mechanism", mechanism);
    }
    if let Some(user) = &kafka.sasl_username {
        config.set("sasl.username", user);
    }
    if let Some(variable) = &kafka.password_env {
        let password = std::env::var(variable).map_err(|_| {
            ConnectError(format!(
                "stream `{}` reads its SASL password from the environment variable {variable}, which is not set",
                spec.name
            ))
        })?;
        config.set("sasl.password", password);
    }
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    Ok(config)
}

/// Creates the consumer and lists the topic's partitions.
pub fn connect(spec: &StreamSpec) -> Result<(StreamConsumer, Vec<i32>), ConnectError> {
    let where_ = format!("broker {} (topic `{}`)", spec.brokers, spec.topic);
    let consumer: StreamConsumer = client_config(spec)?
        .create_with_context(StreamContext::new(&spec.topic))
        .map_err(|err| ConnectError(format!("cannot set up a Kafka client for {where_}: {err}")))?;
    let metadata = consumer.fetch_metadata(Some(&spec.topic), REQUEST_TIMEOUT).map_err(|err| {
        let detail = consumer.context().take_last_error().map(|e| format!(" ({e})")).unwrap_or_default();
        ConnectError(format!("cannot reach {where_}: {err}{detail}"))
    })?;
    let topic = metadata.topics().iter().find(|t| t.name() == spec.topic);
    let partitions: Vec<i32> = topic
        .map(|t| t.partitions().iter().map(rdkafka::metadata::MetadataPartition::id).collect())
        .unwrap_or_default();
    if let Some(error) = topic.and_then(rdkafka::metadata::MetadataTopic::error) {
        let error = rdkafka::types::RDKafkaErrorCode::from(error);
        return Err(ConnectError(format!("topic `{}` on broker {}: {error}", spec.topic, spec.brokers)));
    }
    if partitions.is_empty() {
        return Err(ConnectError(format!("topic `{}` does not exist on broker {}", spec.topic, spec.brokers)));
    }
    Ok((consumer, partitions))
}

/// What `assign` did beyond assigning.
#[derive(Debug, Default)]
pub struct Assignment {
    /// Offsets resolved from `latest` or a start time, for the caller to record
    /// so that a restart does not resolve them again.
    pub resolved: Vec<(i32, i64)>,
    /// Partitions resumed from a checkpoint: (partition, checkpointed offset, assigned offset).
    pub resumed: Vec<ResumeCheck>,
}

/// A resumed partition whose first delivered message must not lie beyond its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeCheck {
    pub partition: i32,
    pub checkpointed: i64,
    pub assigned: i64,
}

impl ResumeCheck {
    /// The next, deeper offset to read from when the broker skipped past the checkpoint.
    pub fn deeper(self) -> Option<i64> {
        if self.assigned <= 0 {
            return None;
        }
        let wider = (self.checkpointed - 8 * RESUME_REWIND).max(0);
        Some(if wider < self.assigned { wider } else { 0 })
    }
}

/// Assigns every partition at its checkpointed offset (less [`RESUME_REWIND`]),
/// or at the start position.
pub fn assign(
    consumer: &StreamConsumer,
    spec: &StreamSpec,
    partitions: &[i32],
    progress: &StreamProgress,
) -> Result<Assignment, ConnectError> {
    let mut resolved_offsets = Vec::new();
    let mut resumed = Vec::new();
    let fail = |what: &str, err: KafkaError| {
        ConnectError(format!("cannot {what} on broker {} (topic `{}`): {err}", spec.brokers, spec.topic))
    };
    let mut assignment = TopicPartitionList::new();
    let mut by_time = TopicPartitionList::new();
    for &partition in partitions {
        let offset = match (progress.next_offsets.get(&partition), spec.start) {
            (Some(&next), _) => {
                let assigned = (next - RESUME_REWIND).max(0);
                resumed.push(ResumeCheck { partition, checkpointed: next, assigned });
                Offset::Offset(assigned)
            }
            (None, StartPosition::Earliest) => Offset::Beginning,
            (None, StartPosition::Latest) => {
                let (_, high) = consumer
                    .fetch_watermarks(&spec.topic, partition, REQUEST_TIMEOUT)
                    .map_err(|err| fail("look up the end of the topic", err))?;
                resolved_offsets.push((partition, high));
                Offset::Offset(high)
            }
            (None, StartPosition::At { micros }) => {
                by_time
                    .add_partition_offset(&spec.topic, partition, Offset::Offset(micros.div_euclid(1_000)))
                    .map_err(|err| fail("prepare the start time", err))?;
                continue;
            }
        };
        assignment.add_partition_offset(&spec.topic, partition, offset).map_err(|err| fail("assign", err))?;
    }
    if by_time.count() > 0 {
        let resolved = consumer
            .offsets_for_times(by_time, REQUEST_TIMEOUT)
            .map_err(|err| fail("look up offsets for the start time", err))?;
        for element in resolved.elements() {
            // No message at or after the time: start at the end.
            let offset = match element.offset() {
                Offset::Offset(n) if n >= 0 => {
                    resolved_offsets.push((element.partition(), n));
                    Offset::Offset(n)
                }
                _ => Offset::End,
            };
            assignment
                .add_partition_offset(&spec.topic, element.partition(), offset)
                .map_err(|err| fail("assign", err))?;
        }
    }
    consumer.assign(&assignment).map_err(|err| fail("assign partitions", err))?;
    Ok(Assignment { resolved: resolved_offsets, resumed })
}

/// Moves one partition's read position (after assignment, while consuming).
pub fn rewind(consumer: &StreamConsumer, spec: &StreamSpec, partition: i32, offset: i64) -> Result<(), ConnectError> {
    consumer.seek(&spec.topic, partition, Offset::Offset(offset), REQUEST_TIMEOUT).map_err(|err| {
        ConnectError(format!(
            "cannot move to offset {offset} of `{}` partition {partition} on {}: {err}",
            spec.topic, spec.brokers
        ))
    })
}
