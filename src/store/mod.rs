//! The result-set directory: manifest, journal, csv, listing, id resolution.

pub mod csv;
pub mod export;
pub mod kept;
pub mod layout;
pub mod pack;
pub mod parquet;
pub mod record;
pub mod resultset;
pub mod series;
pub mod timeseries;
pub mod writer;

pub use record::*;
pub use resultset::{list, open, resolve, results_root, Listing, ResultSet, Unreadable};

/// The current time as an RFC 3339 UTC timestamp with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
