use std::path::PathBuf;

use mpf::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding result sets [default: --results, $MPF_RESULTS or ./mpf_experiments]
    #[arg(value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// One JSON array of the sets (id, name, status, runs, start and end, directory)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let root = args.path.unwrap_or_else(|| args.results.root());
    let sets = mpf::store::list(&root)?;
    if args.json {
        super::console::out(&format!("{}\n", json(&sets)));
        return Ok(0);
    }
    if sets.is_empty() {
        super::console::err(&format!("no result sets in {}", root.display()));
        return Ok(0);
    }
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    super::console::out(&mpf::report::table::list(&sets, color));
    Ok(0)
}

fn json(sets: &[(PathBuf, mpf::store::Manifest)]) -> serde_json::Value {
    sets.iter()
        .map(|(dir, m)| {
            serde_json::json!({"id": m.id, "name": m.name, "status": m.status.as_str(),
                "runs_ok": m.runs_ok, "runs_failed": m.runs_failed,
                "planned_runs": m.planned_runs, "started": m.started, "ended": m.ended,
                "path": dir.to_string_lossy()})
        })
        .collect()
}
