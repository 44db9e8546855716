//! The offline HTML report (`mpf report`).

pub mod page;

pub use page::{render, write_report};
