use mpf::error::Result;
use mpf::report::table::{self, Format};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Fmt {
    Table,
    Csv,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, or `latest`
    pub id: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Fmt,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    let format = match args.format {
        Fmt::Table => Format::Table,
        Fmt::Csv => Format::Csv,
        Fmt::Json => Format::Json,
        Fmt::Markdown => Format::Markdown,
    };
    super::console::out(&table::show(&set, format)?);
    Ok(0)
}
