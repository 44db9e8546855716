use std::path::PathBuf;

use mpf::command::history::{self, By, Format, Request};
use mpf::command::parse_tolerance;
use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment name [default: the name of the newest set]
    pub name: Option<String>,
    /// Order of the history
    #[arg(long, value_enum, default_value_t = By::Time)]
    pub by: By,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Smallest relative change that counts as a regression, e.g. 5% (or 0.05)
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    pub tolerance: String,
    /// Significance level of the permutation test and of the newest set's Welch test
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub alpha: f64,
    /// Permutations per change-point test (10 to 10000)
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub permutations: usize,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let outcome = history::history(&Request {
        tolerance: parse_tolerance(&args.tolerance)?,
        root: args.results.root(),
        name: args.name,
        by: args.by,
        format: args.format,
        output: args.output,
        alpha: args.alpha,
        permutations: args.permutations,
    })?;
    if let Some(text) = &outcome.stdout {
        // A closed pipe (`mpf history | head`) is not an error worth reporting.
        super::console::out(text);
    }
    Ok(outcome.exit_code())
}
