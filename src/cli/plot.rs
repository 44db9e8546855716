use std::path::{Path, PathBuf};

use mpf::error::Result;
use mpf::model::{Scale, Stat};
use mpf::report::plot::output::file_stem;
use mpf::report::plot::timeseries;
use mpf::report::plot::{plot_all, plot_one, PlotSpec};
use mpf::store::layout::RunId;
use mpf::store::ResultSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatArg {
    Mean,
    Median,
}

pub fn run(args: Args) -> Result<i32> {
    let set = mpf::store::open(&args.results.root(), &args.id)?;
    if let (Some(run), Some(metric)) = (args.run, &args.metric) {
        return plot_run(
            &set,
            run,
            metric,
            args.role.as_deref(),
            args.output.as_deref(),
        );
    }
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
            let plotted = plot_all(&set, &set.dir.join("plots"), Some(&hints))?;
            if plotted.written.is_empty() && plotted.failed.is_empty() {
                super::console::err(&format!(
                    "{} has no numeric result to plot",
                    set.manifest.id
                ));
            }
            for p in &plotted.written {
                super::console::out(&format!("{}\n", p.display()));
            }
            if let Some(failures) = plotted.failures() {
                super::console::err(&format!("error: {failures}"));
                return Ok(mpf::error::exit::FAILURE);
            }
        }
    }
    Ok(0)
}

/// `--run N --metric M`: one run's samples, to FILE or as SVG and PNG into <set>/plots/.
fn plot_run(
    set: &ResultSet,
    run: usize,
    metric: &str,
    role: Option<&str>,
    output: Option<&Path>,
) -> Result<i32> {
    let paths = match output {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let dir = set.dir.join("plots");
            std::fs::create_dir_all(&dir)
                .map_err(|e| mpf::Error::io(format!("failed to create {}", dir.display()), e))?;
            let stem = format!("run-{}-{}", RunId(run), file_stem(metric));
            ["svg", "png"]
                .iter()
                .map(|ext| dir.join(format!("{stem}.{ext}")))
                .collect()
        }
    };
    let fig = timeseries::plot_run(set, run, metric, role, &paths)?;
    for p in &paths {
        if output.is_some() {
            super::console::err(&format!("wrote {} ({})", p.display(), fig.title));
        } else {
            super::console::out(&format!("{}\n", p.display()));
        }
    }
    Ok(0)
}
