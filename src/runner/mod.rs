//! Running experiments: one run (`run`: what a run needs; `attempt`: its phases), the loop
//! over the plan with retries and cancellation (`experiment`), setup and cleanup (`setup`), the
//! session from files to an outcome (`session`), and the boundary with the caller: events and
//! cancel (`events`). The machines it runs on come from `crate::machines`.

mod attempt;
pub mod budget;
pub mod count;
pub mod deadline;
pub mod deploy;
pub mod events;
pub mod experiment;
pub mod profile;
pub mod reextract;
pub mod require;
pub mod run;
pub mod session;
pub mod setup;
pub mod warmup;

pub use crate::machines::Machines;
pub use events::{Cancel, Control};
pub use experiment::{run_experiment, Options, SessionOutcome};

pub use crate::exec::runtime;
