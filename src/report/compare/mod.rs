//! Writers for `mpf compare`: terminal table, Markdown, JUnit XML, HTML and JSON. They format
//! an `analyze::compare::Comparison`; they compute no statistics.

pub(crate) mod common;
pub(crate) mod figures;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod markdown;
pub(crate) mod table;

pub(crate) use common::{CompareReport, SetLabel};
