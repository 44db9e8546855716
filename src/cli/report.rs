use std::path::PathBuf;

use mpf::error::Result;
use mpf::report::plot::PlotSpec;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`
    pub id: String,
    /// Output file [default: <set>/report.html]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    let hints = PlotSpec::from_result_set(&set);
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| set.dir.join(mpf::store::layout::REPORT));
    mpf::report::html::write_report(&set, &path, hints.as_ref())?;
    super::console::out(&format!("{}\n", path.display()));
    Ok(0)
}
