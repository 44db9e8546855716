//! How much to run (SPEC §9): which runs come next, as a pure function of the experiment,
//! the seed and the runs recorded so far. A fixed plan asks for every run once; adaptive
//! repetitions ask, round after round, one more run of every point still too noisy; a search
//! asks for the next probe of every combination of the other variables. Because the answer
//! depends on nothing but the journal, `--resume` needs no state of its own: replaying the
//! design over the journal gives exactly the runs still missing.

mod bisect;
mod decide;
mod rounds;
mod sample;
#[cfg(test)]
mod synthetic;

pub(crate) use bisect::{probe_value, Bisect};
pub use decide::interval;
pub(crate) use rounds::{Design, Next, Outcome};
pub(crate) use sample::{Rule, SampleEnd};
