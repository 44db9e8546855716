//! Reports: plots (SVG, PNG, PDF) and the offline HTML report.

pub mod html;
pub mod plot;
