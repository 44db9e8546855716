//! Running experiments: one run (`run`: what a run needs; `attempt`: its phases), the loop
//! over the plan with retries and cancellation (`experiment`), setup and cleanup (`setup`), the
//! session from files to an outcome (`session`), and the boundary with the caller: events and
//! cancel (`events`). The machines it runs on come from `crate::machines`.

pub(crate) mod ahead;
mod attempt;
pub(crate) mod budget;
pub(crate) mod count;
pub mod deadline;
pub(crate) mod deploy;
pub mod events;
pub(crate) mod experiment;
pub(crate) mod profile;
pub mod reextract;
pub(crate) mod require;
pub(crate) mod run;
pub(crate) mod session;
pub(crate) mod setup;
pub mod warmup;

pub(crate) use crate::machines::Machines;
pub use events::{Cancel, Control};
pub(crate) use experiment::run_experiment;
pub use experiment::{Options, SessionOutcome};

pub(crate) use crate::exec::runtime;
