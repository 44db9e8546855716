use std::io::Write;
use std::path::PathBuf;

use mpf::error::{IoContext, Result};
use mpf::store::export::{write, ExportFormat};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, or `latest`
    pub id: String,
    /// Output format
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output file [default: stdout for csv and json, <set>/results.parquet for parquet]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    let format = match args.format {
        Format::Csv => ExportFormat::Csv,
        Format::Json => ExportFormat::Json,
        Format::Parquet => ExportFormat::Parquet,
    };
    // Parquet is binary: without -o it goes beside results.csv rather than to a terminal.
    let path = match (&args.output, format) {
        (Some(p), _) => Some(p.clone()),
        (None, ExportFormat::Parquet) => Some(set.dir.join("results.parquet")),
        (None, _) => None,
    };
    match path {
        Some(p) => {
            let mut buf = Vec::new();
            write(&set, format, &mut buf)?;
            mpf::store::writer::write_atomic(&p, &buf)?;
            super::console::err(&format!("wrote {}", p.display()));
        }
        None => {
            let mut out = std::io::stdout().lock();
            let mut buf = Vec::new();
            write(&set, format, &mut buf)?;
            out.write_all(&buf)
                .and_then(|_| out.flush())
                .ctx(|| "failed to write to stdout".to_string())?;
        }
    }
    Ok(0)
}
