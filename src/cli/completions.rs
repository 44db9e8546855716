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
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mpf", &mut script);
    super::console::out_bytes(&script);
    Ok(0)
}
