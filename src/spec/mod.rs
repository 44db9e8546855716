//! Input files: serde types of the experiment and cluster files, validation, and
//! diagnostics with file:line:col.

pub mod cluster;
pub mod container;
mod de;
pub mod derived;
pub mod design;
pub mod experiment;
pub mod extractor;
mod figures;
pub mod hostlist;
pub mod hosts;
pub mod json_path;
pub mod monitor;
mod profile;
mod raw;
pub mod size;
mod validate;

pub use cluster::{load_cluster, parse_cluster, Cluster};
pub use de::{parse_duration, read_input as read_input_file, shown as shown_text, MAX_DURATION};
pub use experiment::*;
pub use figures::{MAX_FIGURES, MAX_FIGURE_RESULTS, MAX_FIGURE_RUNS};
pub use validate::{check_templates, load_experiment, parse_experiment};
#[cfg(test)]
mod tests;
