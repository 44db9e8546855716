//! Running experiments: one run (`run`), the loop over the plan with retries, progress and
//! signals (`experiment`), and the role -> machine binding (`machines`).

pub mod deploy;
pub mod experiment;
pub mod machines;
pub mod progress;
pub mod run;
pub mod session;
pub mod setup;

pub use experiment::{run_experiment, Options, Summary};
pub use machines::Machines;
