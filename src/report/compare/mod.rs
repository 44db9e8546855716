//! Writers for `mpf compare`: terminal table, Markdown, JUnit XML, HTML and JSON. They format
//! an `analyze::compare::Comparison`; they compute no statistics.

pub mod common;
pub mod figures;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;

pub use common::{CompareReport, SetLabel};
