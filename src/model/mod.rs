//! Plain data: the workbook spec (serde), durations, time formats and metric kinds.
//!
//! Owns the meaning of a workbook file. Must not do I/O, spawn threads or know
//! about Kafka clients, `SQLite` or egui: everything here is values and validation.

pub mod document;
pub mod duration;
pub mod exports;
pub mod expr;
pub mod fingerprint;
pub mod imports;
pub mod numbers;
pub mod reports;
pub mod workbook;

pub use duration::{Granularity, SpanDuration};
pub use imports::{ImportSource, ImportSpec, LoadMode, Schedule};
pub use workbook::{
    KafkaClientSpec, MessageFormat, MetricKind, MetricSpec, RollupSpec, StartPosition, StreamSpec, TimeFormat,
    TimeSpec, Workbook, WorkbookError,
};
