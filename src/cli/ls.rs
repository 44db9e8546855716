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
    let listing = mpf::list(&root)?;
    if args.json {
        super::console::out(&format!("{}\n", json(&listing)));
        return Ok(0);
    }
    // Named, not left out: a set a newer mpf wrote, or damaged, or not ours to read.
    for u in &listing.unreadable {
        super::console::err(&format!(
            "warning: result set {} cannot be read: {}",
            u.id, u.error
        ));
    }
    let sets = listing.sets;
    if sets.is_empty() {
        if listing.unreadable.is_empty() {
            super::console::err(&format!("no result sets in {}", root.display()));
        }
        return Ok(0);
    }
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    super::console::out(&mpf::table::list(&sets, color));
    Ok(0)
}

/// Readable sets and unreadable ones (status `unreadable` with the reason in `error`) in one
/// list, newest first.
fn json(listing: &mpf::Listing) -> serde_json::Value {
    let mut rows: Vec<(String, String, serde_json::Value)> = listing
        .sets
        .iter()
        .map(|(dir, m)| {
            let row = serde_json::json!({"id": m.id, "name": m.name, "status": m.status.as_str(),
                "runs_ok": m.runs_ok, "runs_failed": m.runs_failed,
                "planned_runs": m.planned_runs, "started": m.started, "ended": m.ended,
                "path": dir.to_string_lossy()});
            (m.started.clone(), m.id.clone(), row)
        })
        .collect();
    rows.extend(listing.unreadable.iter().map(|u| {
        let row = serde_json::json!({"id": u.id, "name": null, "status": "unreadable",
            "runs_ok": null, "runs_failed": null, "planned_runs": null,
            "started": (!u.started.is_empty()).then_some(&u.started), "ended": null,
            "path": u.dir.to_string_lossy(), "error": u.error});
        // Unknown age sorts first: it may be the newest.
        let key = if u.started.is_empty() {
            "~".to_string()
        } else {
            u.started.clone()
        };
        (key, u.id.clone(), row)
    }));
    rows.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    rows.into_iter().map(|(_, _, r)| r).collect()
}
