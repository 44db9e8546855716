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
    let root = args.results.root();
    if args.ids.len() > 1 {
        return overlay(args, &root);
    }
    if args.label.is_some() {
        return Err(mpf::Error::Usage(
            "--label names the sets of an overlay: give two sets or more".into(),
        ));
    }
    let set = mpf::store::open(&root, &args.ids[0])?;
    if let (Some(run), Some(metric)) = (args.run, &args.metric) {
        return plot_run(
            &set,
            run,
            metric,
            args.role.as_deref(),
            args.output.as_deref(),
        );
    }
    let hints = PlotSpec::from_result_set(&set)
        .unwrap_or_default()
        .overridden_by(&flags(&args));
    draw(&set, &hints, args.output.as_deref(), &set.dir.join("plots"))
}

/// The hints the flags give.
fn flags(args: &Args) -> PlotSpec {
    PlotSpec {
        x: args.x.clone(),
        y: args.y.clone(),
        series: args.series.clone(),
        y_scale: args.log_y.then_some(Scale::Log),
        stat: args.stat.map(|s| match s {
            StatArg::Mean => Stat::Mean,
            StatArg::Median => Stat::Median,
        }),
        durations: args.durations.then_some(true),
        results: None,
    }
}

/// `mpf plot A B [C...]`: the sets merged, one series per set; every result's graph goes into
/// the last set's `plots/overlay/` (or one graph to `-o FILE`).
fn overlay(args: Args, root: &Path) -> Result<i32> {
    use mpf::report::plot::overlay;
    if args.run.is_some() {
        return Err(mpf::Error::Usage(
            "--run draws one run of one set: give one set".into(),
        ));
    }
    if args.series.is_some() {
        return Err(mpf::Error::Usage(
            "with several sets the series are the sets: leave out --series (--x chooses the x axis)"
                .into(),
        ));
    }
    if args.ids.len() > overlay::MAX_SETS {
        return Err(mpf::Error::Usage(format!(
            "an overlay draws at most {} sets, not {}",
            overlay::MAX_SETS,
            args.ids.len()
        )));
    }
    let sets = args
        .ids
        .iter()
        .map(|id| mpf::store::open(root, id))
        .collect::<Result<Vec<ResultSet>>>()?;
    let labels = overlay::labels(&sets, args.label.as_deref())?;
    let out_dir = sets[sets.len() - 1].dir.join("plots").join("overlay");
    let merged = overlay::merge(sets, &labels)?;
    let mut hints = PlotSpec::from_result_set(&merged.set)
        .unwrap_or_default()
        .overridden_by(&flags(&args));
    hints.series = Some(merged.variable.clone());
    if hints.x.as_deref() == Some(merged.variable.as_str()) {
        hints.x = None;
    }
    draw(&merged.set, &hints, args.output.as_deref(), &out_dir)
}

/// One graph to `output`, or every result's graph into `dir`.
fn draw(set: &ResultSet, hints: &PlotSpec, output: Option<&Path>, dir: &Path) -> Result<i32> {
    match output {
        Some(path) => {
            let fig = plot_one(set, path, hints)?;
            super::console::err(&format!("wrote {} ({})", path.display(), fig.choice.result));
        }
        None => {
            let plotted = plot_all(set, dir, Some(hints))?;
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
