//! The result-set directory: manifest, journal, csv, listing, id resolution.

pub mod compact;
pub(crate) mod csv;
pub mod export;
pub(crate) mod kept;
pub mod layout;
pub mod pack;
pub(crate) mod parquet;
pub mod record;
pub mod resultset;
pub mod series;
pub mod timeseries;
pub mod writer;

pub use record::*;
pub(crate) use resultset::Unreadable;
pub use resultset::{list, open, resolve, results_root, Listing, ResultSet};

/// The current time as an RFC 3339 UTC timestamp with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
