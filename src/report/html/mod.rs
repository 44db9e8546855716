//! The offline HTML report (`mpf report`).

pub mod figures;
pub mod monitor;
pub mod page;
pub mod profiles;

pub use page::{render, render_against, write_report, write_report_against};
