use clap::CommandFactory;
use clap_complete::Shell;
use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

pub fn run(args: Args) -> Result<i32> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "mpf", &mut std::io::stdout());
    Ok(0)
}
