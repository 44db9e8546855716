//! Analysis of result sets: statistics and comparison. Pure functions, no I/O.

pub(crate) mod compare;
pub(crate) mod environment;
pub mod history;
pub mod stats;
pub(crate) mod within;
