//! Reports: charts (`chart.rs`, plotters, SVG and PNG) and the Gantt timeline
//! of one run drawn from its trace (`timeline.rs`).

pub mod chart;
pub mod timeline;
