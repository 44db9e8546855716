//! Running experiments: one run (`run`: what a run needs; `attempt`: its phases), the loop over the plan with retries and
//! cancellation (`experiment`), the role -> machine binding (`machines`), and the boundary with
//! the caller: events and cancel (`events`).

mod attempt;
pub mod budget;
pub mod count;
pub mod deadline;
pub mod deploy;
pub mod events;
pub mod experiment;
pub mod fanout;
pub mod fold;
pub mod machines;
pub mod open_files;
pub mod reextract;
pub mod require;
pub mod run;
pub mod session;
pub mod setup;

pub use events::{Cancel, Control, Event, Reporter};
pub use experiment::{run_experiment, Options, SessionOutcome};
pub use machines::Machines;

/// The single-threaded tokio runtime every session runs on.
pub fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::io("failed to start the async runtime", e))
}
