use clap::builder::PossibleValuesParser;
use mpf::error::Error;
use mpf::error::Result;
use mpf::table::{self, Format};

/// The `--format` values, from the library's list of display formats.
fn formats() -> PossibleValuesParser {
    PossibleValuesParser::new(Format::ALL.map(Format::name))
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`
    pub id: String,
    #[arg(long, value_parser = formats(), default_value = "table")]
    pub format: String,
    /// The limit a search found per combination of the other variables
    #[arg(long, conflicts_with = "summary")]
    pub limits: bool,
    /// One row per point and result: n, mean, median, 95% CI of the mean, min, max (of the
    /// ok runs)
    #[arg(long)]
    pub summary: bool,
    /// Print only the set's directory, as an absolute path (resolving ID as every command does)
    #[arg(long, conflicts_with_all = ["summary", "limits", "format"])]
    pub path: bool,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    if args.path {
        let dir = mpf::resolve(&args.results.root(), &args.id)?;
        // Only a set mpf can read: Python's `load` goes on from here.
        mpf::read_manifest(&dir)?;
        // Absolute, so that it still names the set from another directory (`cd $(mpf show
        // --path ID)`, a script's later step); symbolic links are kept as given.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        super::console::out(&format!("{}\n", dir.display()));
        return Ok(0);
    }
    let Some(format) = Format::parse(&args.format) else {
        return Err(Error::Usage(format!("unknown format {}", args.format)));
    };
    if args.summary {
        // The summary reads the runs in compact form, never the records whole (SPEC §15).
        let set = mpf::compact::open(&args.results.root(), &args.id)?;
        super::console::out(&table::show_summary(&set, format)?);
        if let Format::Table = format {
            warmup_note(&set.dir);
        }
        return Ok(0);
    }
    let set = mpf::open(&args.results.root(), &args.id)?;
    let text = if args.limits {
        mpf::limits::show(&set.manifest, format)?
    } else {
        table::show(&set, format)?
    };
    super::console::out(&text);
    if let (Format::Table, false) = (format, args.limits) {
        warmup_note(&set.dir);
    }
    Ok(0)
}

/// Warm-up runs are never results: said below the table, with where they are.
fn warmup_note(dir: &std::path::Path) {
    let warmups: usize = mpf::warmup::recorded(dir)
        .map(|d| d.values().sum())
        .unwrap_or(0);
    if warmups > 0 {
        super::console::out(&format!(
            "{} discarded before measuring (runs: {{warmup: N}}), not in these results: {}\n",
            mpf::count(warmups, "warm-up run"),
            dir.join(mpf::warmup::FILE).display()
        ));
    }
}
