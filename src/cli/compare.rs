use mpf::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, or `latest`
    pub id: String,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(_args: Args) -> Result<i32> {
    Err(Error::Runtime(
        "`mpf compare` is not implemented yet".into(),
    ))
}
