//! The built-in demo: a realistic web-shop clickstream generator (and, with
//! the GUI, an in-process Kafka broker). Used by the benchmark too.

pub mod clickstream;
pub mod cluster;
