use std::path::PathBuf;

use mpf::command::report::{report, Request};
use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`
    pub id: String,
    /// Also draw this set (id, prefix, path, `latest~N`) against ID, per result: each point of
    /// both with its interval (sets of one experiment)
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Output file [default: <set>/report.html]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let outcome = report(&Request {
        root: args.results.root(),
        id: args.id,
        base: args.base,
        output: args.output,
    })?;
    super::console::out(&format!("{}\n", outcome.written.display()));
    Ok(0)
}
