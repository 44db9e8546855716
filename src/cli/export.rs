use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mpf::error::{Error, IoContext, Result};
use mpf::export::{write, ExportFormat};
use mpf::{dashboard, timeseries, ResultSet};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
    /// One JSON object per line per run and result (several sets at once)
    Samples,
    /// InfluxDB line protocol, one line per run and result (several sets at once)
    Influx,
    /// OpenMetrics text, one sample per run and result (several sets at once)
    Openmetrics,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`; several for samples, influx and
    /// openmetrics
    #[arg(required = true, num_args = 1..)]
    pub ids: Vec<String>,
    /// Output format
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output file [default: stdout, but <set>/results.parquet for parquet
    /// (<set>/monitor.parquet with --timeseries)]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export the monitoring samples of every run (one row per sample, with the run, its
    /// point's variables and repetition) instead of the results; csv or parquet
    #[arg(long)]
    pub timeseries: bool,
    /// Export the samples of every run's series results (runs/NNNN/series.csv, one row per
    /// sample: run,result,index,time,value) instead of the results; csv only
    #[arg(long, conflicts_with = "timeseries")]
    pub series: bool,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let root = args.results.root();
    let dashboard = match args.format {
        Format::Samples => Some("samples"),
        Format::Influx => Some("influx"),
        Format::Openmetrics => Some("openmetrics"),
        _ => None,
    };
    if let Some(name) = dashboard {
        if args.series {
            return Err(Error::Usage(format!("--series exports csv, not {name}")));
        }
        if args.timeseries {
            return Err(Error::Usage(format!(
                "--timeseries exports csv or parquet, not {name}"
            )));
        }
        let dirs = args
            .ids
            .iter()
            .map(|id| mpf::resolve(&root, id))
            .collect::<Result<Vec<_>>>()?;
        let mut exporter = dashboard::exporter(name).expect("a known format");
        return stream(args.output.as_deref(), |w| {
            dashboard::export(&dirs, exporter.as_mut(), w)?;
            Ok(Vec::new())
        });
    }
    let [id] = args.ids.as_slice() else {
        return Err(Error::Usage(format!(
            "--format {} exports one set; several sets at once are for samples, influx and openmetrics",
            format_name(args.format)
        )));
    };
    let set = mpf::open(&root, id)?;
    if args.timeseries {
        return timeseries(&set, args.format, args.output.as_deref());
    }
    if args.series {
        if !matches!(args.format, Format::Csv) {
            return Err(Error::Usage(format!(
                "--series exports csv, not {}",
                format_name(args.format)
            )));
        }
        return stream(args.output.as_deref(), |w| mpf::series::write_long(&set, w));
    }
    let format = match args.format {
        Format::Csv => ExportFormat::Csv,
        Format::Json => ExportFormat::Json,
        _ => ExportFormat::Parquet,
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
            mpf::write_atomic(&p, &buf)?;
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
        other => {
            return Err(Error::Usage(format!(
                "--timeseries exports csv or parquet, not {}",
                format_name(other)
            )))
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
    stream(output.or(default.as_deref()), |w| write_to(w))
}

fn format_name(f: Format) -> String {
    use clap::ValueEnum;
    f.to_possible_value()
        .map_or(String::new(), |v| v.get_name().to_string())
}

/// Streams an export to `output` (atomically) or stdout; a reader that goes away (`| head`)
/// ends it quietly. The notes the writer returns are printed as warnings.
fn stream(
    output: Option<&Path>,
    write_to: impl FnOnce(&mut dyn WriteSend) -> Result<Vec<String>>,
) -> Result<i32> {
    let notes = match output {
        Some(p) => {
            let mut notes = Vec::new();
            mpf::write_atomic_with(p, |w| {
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
