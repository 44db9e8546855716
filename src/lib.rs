//! mpf: performance-evaluation experiments on clusters.
//!
//! Data flows one way: `spec` (input files) -> `plan` (ordered runs) -> `runner` (over an
//! `exec::Transport`) -> `extract` -> `store`; then `analyze` and `report` read result sets.

pub mod analyze;
pub mod design;
pub mod error;
pub mod exec;
pub mod extract;
pub mod facts;
pub mod hosts;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod report;
pub mod runner;
pub mod spec;
pub mod store;
pub mod template;
pub mod units;
pub mod words;

pub use error::{Error, Result};

/// mpf's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
