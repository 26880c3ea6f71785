//! The workbench window (egui/eframe only): draws ready-made view data and
//! sends `Command`s to the engine. Never calls rdkafka, rusqlite or a Polars
//! `collect`, and never waits on the UI thread.

pub mod app;
pub mod background;
pub mod charts;
pub mod dialogs;
pub mod editor;
pub mod import_editor;
pub mod imports_state;
pub mod launch;
mod panels;
pub mod png;
pub mod report_builder;
pub mod report_state;
pub mod session;
pub mod table_browser;
pub mod theme;
mod widgets;

pub use app::TidepoolApp;
/// Panel-level types the tests and other front ends name.
pub mod panels_api {
    pub use super::panels::{Tab, TimeWindow};
}
pub use launch::{Launch, run_window};
