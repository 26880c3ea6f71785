//! The rollup state lives in its own crate (`crates/tidepool-rollup`, no
//! Polars, so that the checkpoint loader can be fuzzed); this module re-exports
//! it and adds what needs Polars: the rollup as a frame ([`frame`]).

pub mod frame;

pub use frame::RollupFrame;
pub use tidepool_rollup::*;

#[cfg(test)]
mod segments_tests;
