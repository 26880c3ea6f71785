//! Looking around a broker before a stream exists: test the connection stage
//! by stage, list its topics, and sample a topic's latest messages to detect
//! their fields (dotted path, inferred type, an example) — what the stream
//! editor shows. Every request uses the stream's client settings (TLS, SASL).
//! Runs on short-lived named threads, never the UI's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::engine::stream::kafka::{StreamContext, apply_client_settings};
use crate::model::KafkaClientSpec;

/// How long a discovery request may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(8);
/// Messages read per sample.
pub const SAMPLE_MESSAGES: usize = 200;
/// Nested objects are flattened this deep.
const MAX_DEPTH: usize = 4;

/// A topic on a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: usize,
}

/// What values a field held in the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldKind {
    Integer,
    Real,
    Text,
    /// Text that parses as an RFC 3339 time.
    Time,
    Boolean,
    /// Different kinds in different messages.
    Mixed,
}

/// One field seen in sampled messages.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedField {
    /// Dotted path, as a workbook names it.
    pub path: String,
    pub kind: FieldKind,
    pub example: String,
    /// In how many sampled messages it appeared.
    pub seen: usize,
}

/// The result of sampling a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSample {
    pub messages: usize,
    /// Messages that were not JSON objects.
    pub unreadable: usize,
    pub fields: Vec<DetectedField>,
    /// The raw text of a few messages.
    pub examples: Vec<String>,
}

/// Where a connection test stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStage {
    /// A broker's host name does not resolve.
    NameResolution,
    /// Nothing accepts TCP connections at the address.
    Tcp,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The broker rejected the credentials.
    Authentication,
    /// The user may not read the topic (or it does not exist).
    Topic,
    /// The broker answered but the request failed otherwise.
    Kafka,
}

/// A failed connection test: the stage and the words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    pub stage: ConnectionStage,
    pub message: String,
}

type DiscoveryConsumer = BaseConsumer<StreamContext>;

fn consumer(brokers: &str, client: &KafkaClientSpec, topic: &str) -> Result<DiscoveryConsumer, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", "tidepool-discovery")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("socket.timeout.ms", "6000")
        // Fail fast on a dead address instead of retrying in the background.
        .set("reconnect.backoff.max.ms", "2000")
        .set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
    apply_client_settings(&mut config, client, "the connection settings")?;
    config
        .create_with_context(StreamContext::new(topic))
        .map_err(|err| format!("cannot set up a Kafka client for {brokers}: {err}"))
}

/// Why a metadata request failed, with librdkafka's own last word on it.
fn unreachable(brokers: &str, consumer: &DiscoveryConsumer, err: &rdkafka::error::KafkaError) -> String {
    crate::engine::stream::kafka::take_client_errors(consumer);
    let detail = consumer.context().take_last_error().map(|e| format!(": {e}")).unwrap_or_default();
    format!("cannot reach broker {brokers} within {}s ({err}{detail})", DISCOVERY_TIMEOUT.as_secs())
}

/// Tests a connection stage by stage: each broker's name, a TCP connection to
/// it, then the Kafka handshake with the client settings (TLS, SASL), then —
/// when `topic` is given — reading the topic's metadata. Answers what worked.
pub fn test_connection(
    brokers: &str,
    client: &KafkaClientSpec,
    topic: Option<&str>,
) -> Result<String, ConnectionFailure> {
    use std::net::ToSocketAddrs;
    let fail = |stage, message: String| ConnectionFailure { stage, message };
    let addresses: Vec<&str> = brokers.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
    if addresses.is_empty() {
        return Err(fail(ConnectionStage::NameResolution, "type the brokers' addresses, e.g. kafka-1:9092".into()));
    }
    for address in &addresses {
        let resolved: Vec<std::net::SocketAddr> = address
            .to_socket_addrs()
            .map_err(|err| fail(ConnectionStage::NameResolution, format!("cannot resolve `{address}`: {err}")))?
            .collect();
        let mut last_error = None;
        let connected =
            resolved.iter().any(|socket| match std::net::TcpStream::connect_timeout(socket, Duration::from_secs(3)) {
                Ok(_) => true,
                Err(err) => {
                    last_error = Some(err.to_string());
                    false
                }
            });
        if !connected {
            let why = last_error.unwrap_or_else(|| "the name has no address".into());
            return Err(fail(ConnectionStage::Tcp, format!("nothing accepts connections at {address} ({why})")));
        }
    }
    let consumer = consumer(brokers, client, topic.unwrap_or_default())
        .map_err(|message| fail(ConnectionStage::Kafka, message))?;
    let metadata = consumer.fetch_metadata(topic, DISCOVERY_TIMEOUT).map_err(|err| {
        crate::engine::stream::kafka::take_client_errors(&consumer);
        let detail = consumer.context().take_last_error().unwrap_or_default();
        let lower = detail.to_ascii_lowercase();
        let stage = if lower.contains("ssl") || lower.contains("tls") || lower.contains("certificate") {
            ConnectionStage::Tls
        } else if lower.contains("sasl") || lower.contains("authentic") || lower.contains("credentials") {
            ConnectionStage::Authentication
        } else {
            ConnectionStage::Kafka
        };
        let what = match stage {
            ConnectionStage::Tls => "the TLS handshake failed",
            ConnectionStage::Authentication => "the broker rejected the credentials",
            _ => "the broker did not answer the Kafka handshake",
        };
        fail(stage, format!("{what} at {brokers}: {}", if detail.is_empty() { err.to_string() } else { detail }))
    })?;
    let Some(topic) = topic.filter(|t| !t.is_empty()) else {
        return Ok(format!("connected: {} broker(s), {} topic(s)", metadata.brokers().len(), metadata.topics().len()));
    };
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    match found.map(|t| (t.error().map(rdkafka::types::RDKafkaErrorCode::from), t.partitions().len())) {
        Some((Some(code), _)) => {
            let message = if code == rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed {
                format!("connected, but not allowed to read topic `{topic}`: ask for read permission")
            } else {
                format!("connected, but topic `{topic}` cannot be read: {code}")
            };
            Err(fail(ConnectionStage::Topic, message))
        }
        Some((None, partitions)) if partitions > 0 => {
            Ok(format!("connected; topic `{topic}` has {partitions} partition(s)"))
        }
        _ => Err(fail(ConnectionStage::Topic, format!("connected, but topic `{topic}` does not exist on {brokers}"))),
    }
}

/// The broker's topics, sorted by name (internal `__` topics left out).
pub fn list_topics(brokers: &str, client: &KafkaClientSpec) -> Result<Vec<TopicInfo>, String> {
    let consumer = consumer(brokers, client, "")?;
    let metadata =
        consumer.fetch_metadata(None, DISCOVERY_TIMEOUT).map_err(|err| unreachable(brokers, &consumer, &err))?;
    let mut topics: Vec<TopicInfo> = metadata
        .topics()
        .iter()
        .filter(|topic| !topic.name().starts_with("__"))
        .map(|topic| TopicInfo { name: topic.name().to_string(), partitions: topic.partitions().len() })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// Reads up to [`SAMPLE_MESSAGES`] of the newest messages of `topic` and detects their fields.
pub fn sample_topic(brokers: &str, client: &KafkaClientSpec, topic: &str) -> Result<TopicSample, String> {
    let consumer = consumer(brokers, client, topic)?;
    let metadata =
        consumer.fetch_metadata(Some(topic), DISCOVERY_TIMEOUT).map_err(|err| unreachable(brokers, &consumer, &err))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(rdkafka::metadata::MetadataPartition::id).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(format!("topic `{topic}` does not exist on broker {brokers}"));
    }
    let per_partition = (SAMPLE_MESSAGES / partitions.len()).max(1) as i64;
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, DISCOVERY_TIMEOUT)
            .map_err(|err| format!("cannot read the offsets of `{topic}` on {brokers}: {err}"))?;
        // Read a little further back than needed: some brokers serve fetches from the next
        // record batch only (see `kafka::RESUME_REWIND`); the newest messages are kept below.
        let start = (high - per_partition - crate::engine::stream::kafka::RESUME_REWIND).max(low);
        assignment.add_partition_offset(topic, partition, Offset::Offset(start)).map_err(|err| err.to_string())?;
    }
    consumer.assign(&assignment).map_err(|err| err.to_string())?;
    let mut newest: BTreeMap<i32, std::collections::VecDeque<Vec<u8>>> = BTreeMap::new();
    let mut ended = 0;
    let deadline = Instant::now() + DISCOVERY_TIMEOUT;
    while ended < partitions.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let kept = newest.entry(message.partition()).or_default();
                if kept.len() as i64 >= per_partition {
                    kept.pop_front();
                }
                kept.push_back(message.payload().unwrap_or_default().to_vec());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            _ => {}
        }
    }
    let payloads: Vec<Vec<u8>> = newest.into_values().flatten().collect();
    Ok(detect_fields(&payloads))
}

/// Detects fields of JSON-object payloads.
pub fn detect_fields(payloads: &[Vec<u8>]) -> TopicSample {
    let mut fields: BTreeMap<String, DetectedField> = BTreeMap::new();
    let mut unreadable = 0;
    for payload in payloads {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::Object(object)) => collect(&object, "", 0, &mut fields),
            _ => unreadable += 1,
        }
    }
    let examples = payloads.iter().rev().take(3).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    TopicSample { messages: payloads.len(), unreadable, fields: fields.into_values().collect(), examples }
}

fn collect(
    object: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    depth: usize,
    fields: &mut BTreeMap<String, DetectedField>,
) {
    for (key, value) in object {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let kind = match value {
            serde_json::Value::Object(inner) => {
                if depth < MAX_DEPTH {
                    collect(inner, &path, depth + 1, fields);
                }
                continue;
            }
            serde_json::Value::Null | serde_json::Value::Array(_) => continue,
            serde_json::Value::Bool(_) => FieldKind::Boolean,
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => FieldKind::Integer,
            serde_json::Value::Number(_) => FieldKind::Real,
            serde_json::Value::String(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => FieldKind::Time,
            serde_json::Value::String(_) => FieldKind::Text,
        };
        let example: String = match value {
            serde_json::Value::String(text) => text.chars().take(40).collect(),
            other => other.to_string(),
        };
        let entry = fields.entry(path.clone()).or_insert(DetectedField { path, kind, example, seen: 0 });
        entry.seen += 1;
        if entry.kind != kind {
            entry.kind = match (entry.kind, kind) {
                (FieldKind::Integer, FieldKind::Real) | (FieldKind::Real, FieldKind::Integer) => FieldKind::Real,
                _ => FieldKind::Mixed,
            };
        }
    }
}

impl DetectedField {
    /// The time format this field most likely uses, if it looks like a time.
    pub fn time_format_guess(&self) -> Option<crate::model::TimeFormat> {
        use crate::model::TimeFormat;
        match self.kind {
            FieldKind::Time => Some(TimeFormat::Rfc3339),
            FieldKind::Integer | FieldKind::Real => {
                let value: f64 = self.example.parse().ok()?;
                match value {
                    v if (1.0e9..1.0e10).contains(&v) => Some(TimeFormat::EpochS),
                    v if (1.0e12..1.0e13).contains(&v) => Some(TimeFormat::EpochMs),
                    v if (1.0e15..1.0e16).contains(&v) => Some(TimeFormat::EpochUs),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_nested_fields_types_and_time_formats() {
        let payloads = vec![
            br#"{"ts":1764000000000,"user":{"id":"u1","age":31},"price":12.5,"when":"2026-11-25T07:00:00Z"}"#.to_vec(),
            br#"{"ts":1764000001000,"user":{"id":"u2","age":40},"price":3,"when":"2026-11-25T07:00:01Z"}"#.to_vec(),
            b"not json".to_vec(),
        ];
        let sample = detect_fields(&payloads);
        assert_eq!(sample.messages, 3);
        assert_eq!(sample.unreadable, 1);
        let field = |path: &str| sample.fields.iter().find(|f| f.path == path).unwrap().clone();
        assert_eq!(field("user.id").kind, FieldKind::Text);
        assert_eq!(field("user.age").kind, FieldKind::Integer);
        assert_eq!(field("price").kind, FieldKind::Real, "integers and reals mix into reals");
        assert_eq!(field("when").kind, FieldKind::Time);
        assert_eq!(field("ts").time_format_guess(), Some(crate::model::TimeFormat::EpochMs));
        assert_eq!(field("when").time_format_guess(), Some(crate::model::TimeFormat::Rfc3339));
        assert_eq!(field("ts").seen, 2);
    }
}
