//! tidepool: Kafka topics rolled up live into Polars frames, on a laptop.
//!
//! Layers point one way: [`model`] (plain data) ← [`engine`] (the headless
//! core) ← the CLI in `main.rs` (and the UI, later). See ARCHITECTURE.md.

pub mod cli;
pub mod demo;
pub mod engine;
pub mod model;
#[cfg(feature = "gui")]
pub mod ui;
