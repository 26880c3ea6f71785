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
use crate::model::{KafkaClientSpec, StartPosition, StreamSpec};

/// On resume, partitions are assigned this many offsets before their checkpoint
/// and the already-counted messages are skipped. Some brokers (tansu 0.6) serve
/// a fetch from the first record batch starting at or after the asked offset,
/// silently skipping the rest of the batch that holds it; rewinding makes sure
/// that batch is read. Kafka itself serves the holding batch, so this costs it
/// only a few thousand re-read messages per partition and restart.
pub const RESUME_REWIND: i64 = 10_000;

/// How long librdkafka waits to fetch again a partition whose prefetched
/// messages are over its queue threshold (see `client_config`), in ms.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// How long the broker may hold a fetch that found nothing new, in ms. A
/// partition's end is reported only after such an empty fetch, so librdkafka's
/// default (500) made every `run --until-caught-up` wait half a second after
/// its last message; an idle stream now asks ten times a second instead of
/// twice, and messages still come back as soon as there are any.
pub const FETCH_WAIT_MAX_MS: &str = "100";

/// How long one metadata or offsets request may take before the stream retries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared between librdkafka's callbacks and the worker.
#[derive(Debug, Default)]
pub struct StreamContext {
    topic: String,
    /// Per partition: the high watermark from the latest fetch response.
    high_watermarks: Mutex<HashMap<i32, i64>>,
    last_error: Mutex<Option<String>>,
    /// Set when librdkafka reported an error that retrying cannot fix
    /// (authentication, TLS certificate verification).
    user_must_fix: std::sync::atomic::AtomicBool,
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

    /// Notes an error code that came back from a poll (TLS and SASL failures of a
    /// request arrive this way, without their text).
    fn note_code(&self, code: rdkafka::types::RDKafkaErrorCode) {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let words = match code {
            Code::SSL => {
                "the TLS handshake failed: the broker's certificate does not verify against the CA, \
                          or the broker does not speak TLS"
            }
            Code::Authentication | Code::SaslAuthenticationFailed => "the broker rejected the credentials",
            _ => return,
        };
        self.keep_error(words, Recovery::UserMustFix);
    }

    /// Keeps `text` as the last error (and notes one only the user can fix),
    /// unless it would hide an error only the user can fix: those say more than
    /// a later "all brokers are down".
    fn keep_error(&self, text: &str, recovery: Recovery) {
        let must_fix = recovery == Recovery::UserMustFix;
        if let Ok(mut last) = self.last_error.lock() {
            let hides_worse = self.user_must_fix() && !must_fix && last.is_some();
            if !hides_worse {
                *last = Some(text.to_string());
            }
        }
        if must_fix {
            self.user_must_fix.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether an error seen so far is one that only the user can fix.
    pub fn user_must_fix(&self) -> bool {
        self.user_must_fix.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl ClientContext for StreamContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // TLS and SASL failures often reach only the log: keep them as the last error.
        if needs_the_user_by_words(message) {
            self.keep_error(message, Recovery::UserMustFix);
        }
        // tidepool reports failures itself, once, in its own words; librdkafka's own
        // lines are for `TIDEPOOL_LOG=debug`.
        tracing::debug!(target: "librdkafka", "{level:?} {facility}: {message}");
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
        let recovery = if needs_the_user(&error, reason) { Recovery::UserMustFix } else { Recovery::Retry };
        self.keep_error(reason, recovery);
    }
}

impl ConsumerContext for StreamContext {}

pub type StreamConsumer = BaseConsumer<StreamContext>;

/// Why a stream could not connect or read; the text names the broker and topic.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
    pub recovery: Recovery,
}

/// Whether waiting and retrying can fix a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The broker may come back (network, broker restart, leader change).
    Retry,
    /// Only the user can fix it (a missing secret, a rejected password, an
    /// unsupported codec, no permission on the topic): fail at once.
    UserMustFix,
}

impl ConnectError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self { message: message.into(), recovery: Recovery::Retry }
    }

    pub fn user_must_fix(message: impl Into<String>) -> Self {
        Self { message: message.into(), recovery: Recovery::UserMustFix }
    }
}

/// Sets the security and secret settings of `client` on `config`: TLS files,
/// SASL, and every secret read from its environment variable. `owner` names
/// who the settings belong to in messages (e.g. "stream `clicks`").
pub fn apply_client_settings(config: &mut ClientConfig, client: &KafkaClientSpec, owner: &str) -> Result<(), String> {
    if let Some(problem) = client.problems().into_iter().next() {
        return Err(format!("{owner}: {problem}"));
    }
    let plain = [
        ("security.protocol", &client.security_protocol),
        ("sasl.mechanism", &client.sasl_mechanism),
        ("sasl.username", &client.sasl_username),
        ("ssl.ca.location", &client.ca_file),
        ("ssl.certificate.location", &client.certificate_file),
        ("ssl.key.location", &client.key_file),
    ];
    for (key, value) in plain {
        if let Some(value) = value {
            config.set(key, value);
        }
    }
    let from_env = [("sasl.password", &client.password_env), ("ssl.key.password", &client.key_password_env)];
    let secrets = from_env
        .iter()
        .filter_map(|(key, variable)| variable.as_deref().map(|variable| (*key, variable)))
        .chain(client.secret_properties_env.iter().map(|(key, variable)| (key.as_str(), variable.as_str())));
    for (key, variable) in secrets {
        match std::env::var(variable) {
            Ok(secret) => {
                config.set(key, secret);
            }
            Err(_) => {
                return Err(format!(
                    "{owner} reads `{key}` from the environment variable {variable}, which is not set; \
                     set it before starting tidepool"
                ));
            }
        }
    }
    for (key, value) in &client.properties {
        config.set(key, value);
    }
    Ok(())
}

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
        // When a partition's prefetched messages pass `queued.min.messages`
        // (a backlog read faster than the stream merges it), librdkafka waits
        // this long before it fetches that partition again. Its default, 1 s,
        // left the stream idle most of each second once the queue had drained:
        // end to end ran at a quarter of what the broker serves.
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
        .set("message.max.bytes", (spec.max_message_bytes.max(1_000_000) + 1_000_000).to_string())
        // librdkafka's log goes to the context (which keeps TLS and SASL failures as the last error).
        .set_log_level(RDKafkaLogLevel::Warning);
    apply_client_settings(&mut config, &spec.kafka, &format!("stream `{}`", spec.name))
        .map_err(ConnectError::user_must_fix)?;
    Ok(config)
}

/// Serves the client's queued error events, so that a failed request's TLS or
/// SASL failure (which arrives as an event, not with the request) is known.
pub fn take_client_errors(consumer: &BaseConsumer<StreamContext>) {
    for _ in 0..4 {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Err(KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code))) => {
                consumer.context().note_code(code);
            }
            None => break,
            Some(_) => {}
        }
    }
}

/// Creates the consumer and lists the topic's partitions.
pub fn connect(spec: &StreamSpec) -> Result<(StreamConsumer, Vec<i32>), ConnectError> {
    let where_ = format!("broker {} (topic `{}`)", spec.brokers, spec.topic);
    let consumer: StreamConsumer = client_config(spec)?
        .create_with_context(StreamContext::new(&spec.topic))
        .map_err(|err| ConnectError::user_must_fix(format!("cannot set up a Kafka client for {where_}: {err}")))?;
    let metadata = consumer.fetch_metadata(Some(&spec.topic), REQUEST_TIMEOUT).map_err(|err| {
        take_client_errors(&consumer);
        let context = consumer.context();
        let detail = context.take_last_error().map(|e| format!(" ({e})")).unwrap_or_default();
        let message = format!("cannot reach {where_}: {err}{detail}");
        if context.user_must_fix() { ConnectError::user_must_fix(message) } else { ConnectError::retry(message) }
    })?;
    let topic = metadata.topics().iter().find(|t| t.name() == spec.topic);
    let partitions: Vec<i32> = topic
        .map(|t| t.partitions().iter().map(rdkafka::metadata::MetadataPartition::id).collect())
        .unwrap_or_default();
    if let Some(error) = topic.and_then(rdkafka::metadata::MetadataTopic::error) {
        let error = rdkafka::types::RDKafkaErrorCode::from(error);
        let message = format!("topic `{}` on broker {}: {error}", spec.topic, spec.brokers);
        return Err(if error == rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed {
            ConnectError::user_must_fix(format!("{message}; ask for read permission on the topic"))
        } else {
            ConnectError::retry(message)
        });
    }
    if partitions.is_empty() {
        return Err(ConnectError::retry(format!("topic `{}` does not exist on broker {}", spec.topic, spec.brokers)));
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
        ConnectError::retry(format!("cannot {what} on broker {} (topic `{}`): {err}", spec.brokers, spec.topic))
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

/// The error of a failed move of one partition's read position (while consuming).
pub fn move_failed(spec: &StreamSpec, partition: i32, err: &KafkaError) -> ConnectError {
    ConnectError::retry(format!(
        "cannot move the read position of `{}` partition {partition} on {}: {err}",
        spec.topic, spec.brokers
    ))
}

/// Whether a client error is one that retrying cannot fix: the broker rejected
/// the credentials, the TLS certificate does not verify, or the build lacks
/// what the cluster needs.
pub fn needs_the_user(error: &KafkaError, reason: &str) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let by_code = matches!(
        error.rdkafka_error_code(),
        Some(
            Code::Authentication
                | Code::SaslAuthenticationFailed
                | Code::UnsupportedSASLMechanism
                | Code::UnsupportedCompressionType
                | Code::TopicAuthorizationFailed
                | Code::GroupAuthorizationFailed
                | Code::ClusterAuthorizationFailed
                | Code::NotImplemented
                | Code::Fatal
        )
    );
    by_code || needs_the_user_by_words(reason)
}

/// librdkafka's words for failures that retrying cannot fix.
fn needs_the_user_by_words(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "certificate verify failed",
        "authentication failed",
        "sasl authentication error",
        "not implemented",
        "ssl handshake failed",
    ]
    .iter()
    .any(|words| text.contains(words))
}
