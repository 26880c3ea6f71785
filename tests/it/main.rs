//! The one integration-test binary: the real `tidepool` binary against a real,
//! separate Kafka-compatible broker (tansu, started by `scripts/test`).

// Helpers unwrap too: in a test, a panic is the failure report.
#![allow(clippy::unwrap_used)]

pub mod support;

mod cli_errors;
mod exactness;
mod failures;
mod http_api;
mod imports;
mod quarantine_and_lateness;
mod reports;
mod resume;
mod scram;
mod security;
mod start_positions;
#[cfg(feature = "gui")]
mod ui;
#[cfg(feature = "gui")]
mod window_smoke;
