//! Analysis of result sets: statistics and comparison. Pure functions, no I/O.

pub mod compare;
pub mod environment;
pub mod history;
pub mod stats;
pub mod within;
