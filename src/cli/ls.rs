use std::path::PathBuf;

use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding result sets [default: --results, $MPF_RESULTS or ./mpf_experiments]
    #[arg(value_name = "DIR")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let root = args.path.unwrap_or_else(|| args.results.root());
    let sets = mpf::store::list(&root)?;
    if sets.is_empty() {
        super::console::err(&format!("no result sets in {}", root.display()));
        return Ok(0);
    }
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    super::console::out(&mpf::report::table::list(&sets, color));
    Ok(0)
}
