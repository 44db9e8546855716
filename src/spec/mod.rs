//! Input files: serde types of the experiment (and, later, cluster) file, validation, and
//! diagnostics with file:line:col.

mod de;
pub mod experiment;
mod raw;
mod validate;

pub use de::parse_duration;
pub use experiment::*;
pub use validate::{check_templates, load_experiment, parse_experiment};
#[cfg(test)]
mod tests;
