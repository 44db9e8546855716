//! Command-line types (clap) and their conversion into library calls.

mod check;
mod compare;
mod completions;
pub mod console;
mod deploy;
mod export;
mod extract;
mod history;
mod ls;
mod pack;
mod plot;
mod progress;
mod report;
mod run;
mod show;
pub mod signals;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mpf::error::Result;

#[derive(Debug, Parser)]
#[command(
    name = "mpf",
    version,
    about = "Run performance-evaluation experiments on one machine or a cluster",
    propagate_version = true
)]
pub struct Cli {
    /// More log output (-v info, -vv debug); MPF_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment and store every run in a result set
    Run(run::Args),
    /// Validate the experiment (and cluster) file, list the points, test connectivity
    Check(check::Args),
    /// Run only the setup section: sync code, install packages, build
    Deploy(deploy::Args),
    /// List result sets, newest first
    Ls(ls::Args),
    /// Show the runs of a result set
    Show(show::Args),
    /// Export a result set for notebooks and spreadsheets
    Export(export::Args),
    /// Extract the results of a set's runs again from their stored outputs, without running
    Extract(extract::Args),
    /// Draw a graph of a result set
    Plot(plot::Args),
    /// Write one self-contained, offline HTML report of a result set
    Report(report::Args),
    /// Compare two result sets and flag regressions
    Compare(compare::Args),
    /// Change points across every result set of one experiment
    History(history::Args),
    /// Pack result sets into one self-contained, verifiable .tar.gz artifact
    Pack(pack::Args),
    /// Check a pack: its SHA256SUMS, and each set's results rebuilt from its journal
    Verify(pack::VerifyArgs),
    /// Print a shell completion script
    Completions(completions::Args),
}

/// The cluster file, shared by `run`, `check` and `deploy` (`hosts::ClusterSource`).
#[derive(Debug, clap::Args)]
pub struct ClusterArg {
    /// The cluster file: which machines bear the roles, or where to get them (`hosts:`).
    /// Without it every role runs on this machine; with --resume, the result set's stored
    /// cluster.yaml, on the machines of its cluster.resolved.yaml unless its host source
    /// now reads another allocation
    #[arg(short = 'c', long = "cluster", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Where result sets live, shared by every subcommand that reads or writes them.
#[derive(Debug, clap::Args)]
pub struct ResultsDir {
    /// Directory holding result sets [default: $MPF_RESULTS or ./mpf_experiments]
    #[arg(long = "results", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ResultsDir {
    pub fn root(&self) -> PathBuf {
        mpf::results_root(self.dir.as_deref())
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MPF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs a subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Check(a) => check::run(a),
        Command::Deploy(a) => deploy::run(a),
        Command::Ls(a) => ls::run(a),
        Command::Show(a) => show::run(a),
        Command::Export(a) => export::run(a),
        Command::Extract(a) => extract::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Report(a) => report::run(a),
        Command::Compare(a) => compare::run(a),
        Command::History(a) => history::run(a),
        Command::Pack(a) => pack::run(a),
        Command::Verify(a) => pack::verify(a),
        Command::Completions(a) => completions::run(a),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
