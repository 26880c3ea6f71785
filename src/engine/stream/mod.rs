//! One Kafka topic consumed into one rollup: decoding (the `tidepool-json`
//! crate, re-exported as `decode`), ingesting, quarantine, the Kafka client and
//! the worker loop that ties them to checkpoints.

pub mod checkpointer;
pub use tidepool_json as decode;
pub mod ingest;
pub mod kafka;
pub mod poller;
pub mod quarantine;
mod snapshot_pace;
pub mod worker;
