use std::path::PathBuf;

use mpf::error::Result;
use mpf::model::{Scale, Stat};
use mpf::report::plot::{plot_all, plot_one, PlotSpec};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, or `latest`
    pub id: String,
    /// Variable on the x axis
    #[arg(long, value_name = "VAR")]
    pub x: Option<String>,
    /// Result to draw with -o (default: the experiment's `plot: y`, else its first result)
    #[arg(long, value_name = "RESULT")]
    pub y: Option<String>,
    /// Variable whose values make the series (one line or bar colour each)
    #[arg(long, value_name = "VAR")]
    pub series: Option<String>,
    /// The statistic per point: mean (95% confidence interval) or median (interquartile range)
    #[arg(long, value_enum, value_name = "STAT")]
    pub stat: Option<StatArg>,
    /// A logarithmic y axis
    #[arg(long)]
    pub log_y: bool,
    /// Also draw the steps' wall times (<step>.duration)
    #[arg(long)]
    pub durations: bool,
    /// Write one graph to FILE (.svg, .png or .pdf) instead of every result's graph into
    /// <set>/plots/
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatArg {
    Mean,
    Median,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    let flags = PlotSpec {
        x: args.x,
        y: args.y,
        series: args.series,
        y_scale: args.log_y.then_some(Scale::Log),
        stat: args.stat.map(|s| match s {
            StatArg::Mean => Stat::Mean,
            StatArg::Median => Stat::Median,
        }),
        durations: args.durations.then_some(true),
    };
    let hints = PlotSpec::from_result_set(&set)
        .unwrap_or_default()
        .overridden_by(&flags);
    match &args.output {
        Some(path) => {
            let fig = plot_one(&set, path, &hints)?;
            super::console::err(&format!("wrote {} ({})", path.display(), fig.choice.result));
        }
        None => {
            let written = plot_all(&set, &set.dir.join("plots"), Some(&hints))?;
            if written.is_empty() {
                super::console::err(&format!(
                    "{} has no numeric result to plot",
                    set.manifest.id
                ));
            }
            for p in written {
                super::console::out(&format!("{}\n", p.display()));
            }
        }
    }
    Ok(0)
}
