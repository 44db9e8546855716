//! Everything users read: tables, graphs, reports.
pub mod table;
