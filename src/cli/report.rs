use std::path::PathBuf;

use mpf::error::Result;
use mpf::report::plot::PlotSpec;

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
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    let base = match &args.base {
        Some(id) => {
            let base = mpf::store::open(&args.results.root(), id)?;
            mpf::report::plot::overlay::check_alike(&[base.clone(), set.clone()])?;
            Some(base)
        }
        None => None,
    };
    let hints = PlotSpec::from_result_set(&set);
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| set.dir.join(mpf::store::layout::REPORT));
    mpf::report::html::write_report_against(&set, base.as_ref(), &path, hints.as_ref())?;
    super::console::out(&format!("{}\n", path.display()));
    Ok(0)
}
