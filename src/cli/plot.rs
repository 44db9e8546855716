use std::path::PathBuf;

use mpf::command::plot::{plot, Drawn, Request, Samples};
use mpf::error::Result;
use mpf::PlotSpec;
use mpf::{Scale, Stat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`; several sets of one
    /// experiment are drawn together, one series per set
    #[arg(required = true, num_args = 1.., value_name = "ID")]
    pub ids: Vec<String>,
    /// With several sets: their labels in the legend, in order, separated by commas (default:
    /// the set ids)
    #[arg(long, value_name = "A,B,...")]
    pub label: Option<String>,
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
    pub stat: Option<Stat>,
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
    /// Draw the monitoring samples of run N (its index, as `mpf show` lists it) instead of
    /// the results; needs --metric
    #[arg(long, value_name = "N", requires = "metric",
          conflicts_with_all = ["x", "y", "series", "stat", "log_y", "durations"])]
    pub run: Option<usize>,
    /// The metric to draw with --run: a full name (`cpu`, `net.eth0.rx`) or what comes
    /// before a dot (`net`: every net.* metric, one panel per unit)
    #[arg(long, value_name = "METRIC", requires = "run")]
    pub metric: Option<String>,
    /// Only this role's samples (or its machines', `role.host`) with --run
    #[arg(long, value_name = "ROLE", requires = "run")]
    pub role: Option<String>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let samples = match (args.run, &args.metric) {
        (Some(run), Some(metric)) => Some(Samples {
            run,
            metric: metric.clone(),
            role: args.role.clone(),
        }),
        _ => None,
    };
    let outcome = plot(&Request {
        root: args.results.root(),
        hints: PlotSpec {
            x: args.x,
            y: args.y,
            series: args.series,
            y_scale: args.log_y.then_some(Scale::Log),
            stat: args.stat,
            durations: args.durations.then_some(true),
            results: None,
        },
        ids: args.ids,
        labels: args.label,
        output: args.output,
        samples,
    })?;
    for n in &outcome.notes {
        super::console::err(n);
    }
    match &outcome.drawn {
        Drawn::One { path, what } => {
            super::console::err(&format!("wrote {} ({what})", path.display()));
        }
        Drawn::Files(paths) => {
            for p in paths {
                super::console::out(&format!("{}\n", p.display()));
            }
        }
    }
    if let Some(failures) = &outcome.failures {
        super::console::err(&format!("error: {failures}"));
    }
    Ok(outcome.exit_code())
}
