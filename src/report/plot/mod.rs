//! Graphs of result sets (SPEC §7): the automatic choice of graph, drawing with plotters, and
//! SVG, PNG and PDF files with the bundled font.

pub mod chart;
pub mod figure;
pub mod kinds;
pub mod limits;
pub mod output;
pub mod overlay;
pub mod provenance;
pub mod render;
pub mod spec;
pub mod timeseries;

pub use figure::{build, choose, Choice, Figure, Kind};
pub use output::{encode, figures, plot_all, plot_one, Format};
pub use spec::PlotSpec;
