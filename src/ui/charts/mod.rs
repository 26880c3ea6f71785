//! Charts, drawn one way everywhere (the stream view and reports): the
//! honest time chart, bars, pies, scatters, heatmaps, pivot tables and the big number, the number and time formats of its axes and tooltips,
//! stable series colours and decimation to the plot's width. What a chart
//! shows is computed by the engine (`engine::chart`); nothing here reads
//! files, waits or runs queries.

pub mod bar_chart;
pub mod big_number;
pub mod colours;
pub mod decimate;
pub mod format;
pub mod heatmap;
pub mod pie_chart;
pub mod pivot_table;
pub mod report_chart;
pub mod scatter_chart;
pub mod time_chart;

pub use report_chart::report_chart_ui;
pub use time_chart::time_chart_ui;
