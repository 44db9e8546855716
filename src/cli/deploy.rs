use std::path::PathBuf;

use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment file whose setup section to run
    pub experiment: PathBuf,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let terminal = std::sync::Arc::new(super::progress::Terminal::new(
        super::progress::Style::Plain,
    ));
    let control = mpf::Control::new(terminal.clone(), super::signals::install());
    let notice = move || terminal.log("\ninterrupted: stopping the deploy");
    let dir = super::signals::cancellable(notice, || {
        mpf::deploy(
            &args.experiment,
            args.cluster.file.as_deref(),
            &args.results.root(),
            &control,
        )
    })?;
    super::console::err(&format!("deployed; logs in {}", dir.display()));
    Ok(0)
}
