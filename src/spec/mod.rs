//! Input files: serde types of the experiment and cluster files, validation, and
//! diagnostics with file:line:col.

pub(crate) mod cluster;
pub(crate) mod container;
mod de;
pub mod derived;
pub(crate) mod design;
pub(crate) mod experiment;
pub mod extractor;
mod figures;
pub(crate) mod hostlist;
pub(crate) mod hosts;
pub(crate) mod json_path;
pub(crate) mod monitor;
mod profile;
mod raw;
pub(crate) mod size;
mod validate;

pub use cluster::parse_cluster;
pub(crate) use cluster::{load_cluster, Cluster};
pub(crate) use de::{
    parse_duration, read_input as read_input_file, shown as shown_text, MAX_DURATION,
};
pub use experiment::*;
pub(crate) use figures::{MAX_FIGURES, MAX_FIGURE_RESULTS, MAX_FIGURE_RUNS};
pub(crate) use validate::check_templates;
pub use validate::{load_experiment, parse_experiment};
#[cfg(test)]
mod tests;
