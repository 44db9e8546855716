//! End-to-end tests of the `mpf` binary: one integration-test binary made of modules.

mod adaptive;
mod common;
mod compare;
mod docs;
mod environment;
mod errors;
mod examples;
mod export;
mod fixtures;
mod fuzz;
mod history;
mod lifecycle;
mod machine;
mod many;
mod monitor;
mod netns;
mod plot;
mod report;
mod results;
mod run;
mod series;
mod share;
mod ssh;
mod store;
mod timeseries;
