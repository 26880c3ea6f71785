//! One Kafka topic consumed into one rollup: decoding, ingesting, quarantine,
//! the Kafka client and the worker loop that ties them to checkpoints.

pub mod checkpointer;
pub mod decode;
pub mod ingest;
pub mod kafka;
pub mod quarantine;
pub mod worker;
