use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::builder::{PossibleValue, PossibleValuesParser};
use mpf::error::{Error, IoContext, Result};
use mpf::export::{self, Content, WriteSend, EXPORTERS};

/// The `--format` values, with their help, from the library's list of exporters.
fn formats() -> PossibleValuesParser {
    PossibleValuesParser::new(EXPORTERS.iter().map(|e| {
        let value = PossibleValue::new(e.name());
        match e.help() {
            Some(help) => value.help(help),
            None => value,
        }
    }))
}

fn ids_help() -> String {
    format!(
        "Result-set id, unique prefix, path, `latest` or `latest~N`; several for {}",
        export::several_formats()
    )
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required = true, num_args = 1.., help = ids_help())]
    pub ids: Vec<String>,
    /// Output format
    #[arg(long, value_parser = formats())]
    pub format: String,
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
    let Some(exporter) = export::exporter(&args.format) else {
        return Err(Error::Usage(format!("unknown format {}", args.format)));
    };
    let name = exporter.name();
    let content = match (args.timeseries, args.series) {
        (true, _) => Content::Timeseries,
        (_, true) => Content::Series,
        _ => Content::Results,
    };
    if !exporter.several() && args.ids.len() != 1 {
        return Err(Error::Usage(format!(
            "--format {name} exports one set; several sets at once are for {}",
            export::several_formats()
        )));
    }
    if !exporter.holds(content) {
        let flag = match content {
            Content::Timeseries => "--timeseries",
            _ => "--series",
        };
        return Err(Error::Usage(format!(
            "{flag} exports {}, not {name}",
            content.formats()
        )));
    }
    if exporter.several() {
        let dirs = args
            .ids
            .iter()
            .map(|id| mpf::resolve(&root, id))
            .collect::<Result<Vec<_>>>()?;
        return stream(args.output.as_deref(), |w| exporter.write_sets(&dirs, w));
    }
    let dir = mpf::resolve(&root, &args.ids[0])?;
    if exporter.streams(content) {
        let manifest = mpf::read_manifest(&dir)?;
        let default = exporter.default_file(content).map(|f| dir.join(f));
        return stream(args.output.as_deref().or(default.as_deref()), |w| {
            exporter.write_streamed(content, &dir, &manifest, w)
        });
    }
    let set = mpf::ResultSet::load(&dir)?;
    // A binary format goes into the set without -o rather than to a terminal.
    let default = exporter.default_file(content).map(|f| set.dir.join(f));
    stream(args.output.as_deref().or(default.as_deref()), |w| {
        exporter.write(content, &set, w)
    })
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
            let state = Arc::new(StdoutState::default());
            let mut out = std::io::BufWriter::new(Stdout(state.clone()));
            let written = write_to(&mut out).and_then(|notes| {
                out.flush()
                    .ctx(|| "failed to write to stdout".to_string())?;
                Ok(notes)
            });
            match written {
                // The reader went away (`| head`): what it wanted it has.
                Err(_) if state.closed.load(Ordering::Relaxed) => return Ok(0),
                // Stdout failed under the format's writer: said as stdout's failure.
                Err(e) => match state.failed.lock().ok().and_then(|mut f| f.take()) {
                    Some(io) => return Err(Error::io("failed to write to stdout", io)),
                    None => return Err(e),
                },
                Ok(notes) => notes,
            }
        }
    };
    for n in notes {
        super::console::err(&format!("warning: {n}"));
    }
    Ok(0)
}

/// What became of stdout: its reader went away (a broken pipe), or a write failed.
#[derive(Default)]
struct StdoutState {
    closed: AtomicBool,
    failed: std::sync::Mutex<Option<std::io::Error>>,
}

/// Stdout that notes when its reader has gone (a broken pipe), so that a streamed export cut
/// short by `| head` ends quietly, and any other failure, so that it is named as stdout's.
struct Stdout(Arc<StdoutState>);

impl Stdout {
    fn note<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        match &r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.0.closed.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                if let Ok(mut f) = self.0.failed.lock() {
                    f.get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
                }
            }
            Ok(_) => {}
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.note(std::io::stdout().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.note(std::io::stdout().flush())
    }
}
