//! Everything users read: terminal tables, plots (SVG, PNG, PDF), the offline HTML report,
//! comparison outputs (JUnit, Markdown, HTML, JSON). No statistics are computed here.

pub(crate) mod compare;
pub(crate) mod history;
pub mod html;
pub mod limits;
pub mod plot;
pub mod table;
