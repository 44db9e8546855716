use mpf::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<i32> {
    Err(Error::Runtime("not implemented yet".into()))
}
