use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use mpf::command::compare::Reproduction;
use mpf::error::{exit, Result};
use mpf::EARLY_STOP_RUNS;
use mpf::{prepare, RunRequest};
use mpf::{Control, Options, SessionOutcome};

use super::console;
use super::progress::{Style, Terminal};

/// How `mpf run` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A progress bar on a terminal, plain lines otherwise
    Auto,
    /// Plain log lines (as --quiet)
    Plain,
    /// One JSON object per event line on stderr, for programs driving mpf
    Json,
}

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
    /// Continue an interrupted result set (id, prefix, path, `latest` or `latest~N`)
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,
    /// With --resume: continue even though the experiment file changed
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Run a set again (a pack, `PACK:ID`, or any set ID) with its stored experiment file,
    /// --set, --runs and seed, then compare the new set with it: exit 3 when a result does
    /// not reproduce
    #[arg(long, value_name = "PACK", conflicts_with_all = ["experiment", "resume", "runs", "sets"])]
    pub reproduce: Option<String>,
    /// With --reproduce: the smallest relative change that counts as not reproduced
    #[arg(
        long,
        requires = "reproduce",
        default_value = "5%",
        value_name = "PERCENT"
    )]
    pub tolerance: String,
    /// Print the plan and exit without running anything
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar: plain log lines
    #[arg(short, long)]
    pub quiet: bool,
    /// How progress is shown on stderr
    #[arg(long, value_enum, default_value_t = Progress::Auto, conflicts_with = "quiet")]
    pub progress: Progress,
    /// Do not draw graphs at the end
    #[arg(long)]
    pub no_plot: bool,
    /// Skip the setup section
    #[arg(long)]
    pub no_setup: bool,
    /// Run every planned run even when the first ones all fail the same way
    #[arg(long)]
    pub keep_going: bool,
    /// Run even when a machine does not meet the experiment's `require:` (recorded in the set)
    #[arg(long)]
    pub no_require: bool,
    /// Start no run that is not expected to finish before this time: a duration from now
    /// (`2h`), or a date-time (`2026-12-07T05:00:00Z`, or local as Slurm prints it); then the
    /// set is `incomplete` and mpf exits 75. Default: the end of the Slurm job it runs in
    #[arg(long, value_name = "TIME|DURATION")]
    pub until: Option<String>,
    /// With a time limit: what to keep free before the end, after the last run (default 1m)
    #[arg(long, value_name = "DURATION")]
    pub stop_before: Option<String>,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
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
        interactive: !args.quiet
            && args.progress == Progress::Auto
            && std::io::stderr().is_terminal(),
        no_setup: args.no_setup,
        cluster: args.cluster.file.clone(),
        reproduce: args.reproduce.clone(),
        allow_unresolved: false,
    };
    let prepared = prepare(&req)?;
    if args.dry_run {
        console::out(&prepared.describe(50));
        return Ok(exit::OK);
    }
    let style = match args.progress {
        Progress::Json => Style::Json,
        _ if req.interactive => Style::Bar,
        _ => Style::Plain,
    };
    let terminal = Arc::new(Terminal::new(style));
    for n in prepared.notes() {
        terminal.log(&n);
    }
    let job = mpf::deadline::allocation_job(
        prepared.cluster.as_ref(),
        prepared.resolved.as_ref().and_then(|r| r.slurm_job.clone()),
        std::env::var("SLURM_JOB_ID").ok(),
    );
    let (deadline, warning) = mpf::deadline::resolve(
        args.until.as_deref(),
        args.stop_before.as_deref(),
        job.as_deref(),
        std::time::SystemTime::now(),
    )?;
    if let Some(w) = warning {
        terminal.log(&format!("warning: {w}"));
    }
    let machines = prepared.machines()?;
    let opts = Options {
        control: Control::new(terminal.clone(), super::signals::install()),
        keep_going: args.keep_going,
        no_require: args.no_require,
        deadline,
    };
    let notice = {
        let t = terminal.clone();
        move || {
            t.log("\ninterrupted: stopping the current run (press Ctrl-C again to quit at once)")
        }
    };
    let (dir, summary) =
        super::signals::cancellable(notice, || prepared.execute(&machines, &opts, req.no_setup))?;
    if terminal.is_json() {
        terminal.json(set_event(&dir, &summary));
    } else {
        terminal.log(&summary_line(&dir, &summary));
    }
    if let Some(e) = &summary.early_stop {
        terminal.log(&format!(
            "stopped: the first {EARLY_STOP_RUNS} runs all failed the same way ({e}); fix the experiment, or run the rest anyway with --resume {} --keep-going",
            dir.display()
        ));
    }
    if let Some(stop) = &summary.deadline {
        let id = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        terminal.log(&format!(
            "stopped before the end of the allocation: {}\nthe set is incomplete; continue it with: mpf run --resume {} (in the next allocation)",
            stop.describe(),
            id.unwrap_or_default()
        ));
    }
    if !args.no_plot && summary.set_ok > 0 {
        // Graphs are a convenience: a failure to draw never fails the experiment.
        match mpf::plot_set(&dir) {
            Ok(plotted) => {
                if plotted.drawn > 0 {
                    terminal.log(&format!(
                        "graphs: {} ({} drawn)",
                        dir.join("plots").display(),
                        plotted.drawn
                    ));
                }
                if let Some(failures) = plotted.failures() {
                    terminal.log(&format!("warning: {failures}"));
                }
            }
            Err(e) => terminal.log(&format!("warning: no graphs drawn: {e}")),
        }
    }
    let unfinished = summary.interrupted || summary.deadline.is_some();
    if let (Some(original), false) = (&args.reproduce, unfinished) {
        return reproduced(original, &dir, &args, &terminal);
    }
    Ok(mpf::command::run::exit_code(&summary))
}

/// `--reproduce`: the new set compared with the original, with the original pack's other sets
/// of the same experiment as references. Exit 3 when a result changed beyond the tolerance,
/// either way; 1 when runs failed and everything else matched.
fn reproduced(
    original: &str,
    new: &std::path::Path,
    args: &Args,
    terminal: &Terminal,
) -> Result<i32> {
    let root = args.results.root();
    let tolerance = mpf::command::parse_tolerance(&args.tolerance)?;
    let original = Reproduction::find(&root, original)?;
    terminal.log(&format!(
        "reproduce: comparing with {}{}",
        original.base.display(),
        if original.references.is_empty() {
            String::new()
        } else {
            format!(" (references: {})", original.references.len())
        }
    ));
    let request = original.request(&root, new, tolerance, super::compare::use_color());
    let compared = mpf::command::compare::compare(&request)?;
    console::out(&compared.stdout);
    Reproduction::exit_code(&compared, new)
}

/// The last `--progress json` event: which set, and how it ended.
fn set_event(dir: &std::path::Path, s: &SessionOutcome) -> serde_json::Value {
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    serde_json::json!({"event": "set", "id": id, "path": dir.to_string_lossy(), "ok": s.set_ok,
        "failed": s.set_failed, "interrupted": s.interrupted, "early_stop": s.early_stop,
        "cleanup_failed": s.cleanup_failed, "machines_lost": s.machines_lost,
        "incomplete": s.deadline.is_some()})
}

/// `mpf_experiments/x-...: 36 runs, 36 failed`: failures first, impossible to miss.
fn summary_line(dir: &std::path::Path, s: &SessionOutcome) -> String {
    let total = s.set_ok + s.set_failed;
    let mut line = if s.set_failed == 0 {
        format!("{}: {} ok", dir.display(), mpf::count(s.set_ok, "run"))
    } else if s.set_ok == 0 {
        format!("{}: ALL {} FAILED", dir.display(), mpf::count(total, "run"))
    } else {
        format!(
            "{}: {} ok, {} of {total} FAILED",
            dir.display(),
            mpf::count(s.set_ok, "run"),
            s.set_failed
        )
    };
    if s.interrupted {
        line.push_str(", interrupted");
    }
    if s.deadline.is_some() {
        line.push_str(", incomplete");
    }
    if s.cleanup_failed {
        line.push_str(", cleanup failed");
    }
    line
}
