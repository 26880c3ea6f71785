//! The built-in demo: a realistic web-shop clickstream generator (and, with
//! the GUI, an in-process Kafka broker), and the exchange-rate API the demo
//! workbook imports every minute, the product catalogue and the customers
//! database it imports at start. Used by the benchmark too.

pub mod clickstream;
pub mod cluster;
pub mod offline_data;
pub mod rates_api;
