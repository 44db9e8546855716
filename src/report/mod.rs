//! Everything users read: terminal tables, plots, HTML, JUnit, Markdown. No statistics here.

pub mod compare;
pub mod table;
