use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mpf::error::{Error, IoContext, Result};
use mpf::store::export::{write, ExportFormat};
use mpf::store::{timeseries, ResultSet};

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
    /// Output file [default: stdout for csv and json, <set>/results.parquet for parquet
    /// (<set>/monitor.parquet with --timeseries)]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export the monitoring samples of every run (one row per sample, with the run, its
    /// point's variables and repetition) instead of the results; csv or parquet
    #[arg(long)]
    pub timeseries: bool,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    if args.timeseries {
        return timeseries(&set, args.format, args.output.as_deref());
    }
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

/// `--timeseries`: every run's samples, streamed (a long set's samples need not fit in memory).
fn timeseries(set: &ResultSet, format: Format, output: Option<&Path>) -> Result<i32> {
    let parquet = match format {
        Format::Csv => false,
        Format::Parquet => true,
        Format::Json => {
            return Err(Error::Usage(
                "--timeseries exports csv or parquet, not json".into(),
            ))
        }
    };
    let write_to = |w: &mut dyn WriteSend| {
        if parquet {
            timeseries::write_parquet(set, w)
        } else {
            timeseries::write_csv(set, w)
        }
    };
    // Parquet is binary: without -o it goes into the set rather than to a terminal.
    let default = parquet.then(|| set.dir.join("monitor.parquet"));
    let notes = match output.map(Path::to_path_buf).or(default) {
        Some(p) => {
            let mut notes = Vec::new();
            mpf::store::writer::write_atomic_with(&p, |w| {
                notes = write_to(w)?;
                Ok(())
            })?;
            super::console::err(&format!("wrote {}", p.display()));
            notes
        }
        None => {
            let closed = Arc::new(AtomicBool::new(false));
            let mut out = std::io::BufWriter::new(Stdout(closed.clone()));
            let written = write_to(&mut out).and_then(|notes| {
                out.flush()
                    .ctx(|| "failed to write to stdout".to_string())?;
                Ok(notes)
            });
            match written {
                // The reader went away (`| head`): what it wanted it has.
                Err(_) if closed.load(Ordering::Relaxed) => return Ok(0),
                other => other?,
            }
        }
    };
    for n in notes {
        super::console::err(&format!("warning: {n}"));
    }
    Ok(0)
}

/// Stdout that notes when its reader has gone (a broken pipe), so that a streamed export cut
/// short by `| head` ends quietly.
struct Stdout(Arc<AtomicBool>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = std::io::stdout().write(buf);
        if matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.0.store(true, Ordering::Relaxed);
        }
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = std::io::stdout().flush();
        if matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.0.store(true, Ordering::Relaxed);
        }
        r
    }
}

/// A writer the Parquet writer takes (it needs `Send`).
trait WriteSend: Write + Send {}
impl<T: Write + Send> WriteSend for T {}
