//! The offline HTML report (`mpf report`).

pub mod figures;
pub mod monitor;
pub mod page;

pub use page::{render, write_report};
