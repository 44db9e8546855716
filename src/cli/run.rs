use std::io::IsTerminal;
use std::path::PathBuf;

use mpf::error::{exit, Result};
use mpf::runner::session::{prepare, RunRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment file (YAML); optional with --resume (the stored copy is used)
    pub experiment: Option<PathBuf>,
    /// Runs per point (overrides `runs:`)
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Sweep only these values of a variable: --set parallel=1,4,8 (repeatable)
    #[arg(long = "set", value_name = "VAR=V1,V2")]
    pub sets: Vec<String>,
    /// Continue an interrupted result set (id, prefix, path or `latest`)
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,
    /// With --resume: continue even though the experiment file changed
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Print the plan and exit without running anything
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar: plain log lines
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not draw graphs at the end
    #[arg(long)]
    pub no_plot: bool,
    /// Skip the setup section
    #[arg(long)]
    pub no_setup: bool,
    /// The cluster file: which machines bear the roles (default: every role runs here;
    /// with --resume, the result set's stored cluster.yaml)
    #[arg(short, long, value_name = "FILE")]
    pub cluster: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let req = RunRequest {
        experiment: args.experiment.clone(),
        runs: args.runs,
        sets: args.sets.clone(),
        resume: args.resume.clone(),
        force: args.force,
        results_root: args.results.root(),
        interactive: !args.quiet && std::io::stderr().is_terminal(),
        no_setup: args.no_setup,
        cluster: args.cluster.clone(),
    };
    let prepared = prepare(&req)?;
    if args.dry_run {
        print!("{}", prepared.describe(50));
        return Ok(exit::OK);
    }
    let machines = prepared.machines()?;
    let hints = prepared.exp.plot.clone();
    let (dir, summary) = prepared.execute(&machines, req.interactive, req.no_setup)?;
    eprintln!(
        "{}: {} runs ok, {} failed{}",
        dir.display(),
        summary.set_ok,
        summary.set_failed,
        if summary.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    if !args.no_plot && summary.set_ok > 0 {
        // Graphs are a convenience: a failure to draw never fails the experiment.
        match mpf::store::ResultSet::load(&dir)
            .and_then(|set| mpf::report::plot::plot_all(&set, &dir.join("plots"), hints.as_ref()))
        {
            Ok(files) if !files.is_empty() => {
                eprintln!("graphs: {}", dir.join("plots").display())
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: no graphs drawn: {e}"),
        }
    }
    Ok(if summary.interrupted {
        exit::INTERRUPTED
    } else if summary.set_failed > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}
