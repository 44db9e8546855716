use std::path::PathBuf;

use mpf::error::{exit, Result};
use mpf::table::run_ids;
use mpf::{reextract, Reextracted};

use super::console;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set id, unique prefix, path, `latest` or `latest~N`
    pub id: String,
    /// Use this (edited) experiment file instead of the set's experiment.yaml, which it
    /// then replaces (the old one is kept)
    #[arg(short = 'f', long = "experiment", value_name = "FILE")]
    pub experiment: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let dir = mpf::resolve_writable(&args.results.root(), &args.id)?;
    let (exp, new_source) = match &args.experiment {
        Some(path) => {
            let exp = mpf::load_experiment(path)?;
            let src = exp.source.clone();
            (exp, Some(src))
        }
        None => (
            mpf::load_experiment(&dir.join(mpf::layout::EXPERIMENT))?,
            None,
        ),
    };
    let done = reextract(&dir, &exp, new_source.as_deref())?;
    for w in &done.warnings {
        console::err(&format!("warning: {w}"));
    }
    console::err(&summary(&dir, &done));
    Ok(if done.failed > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// `DIR: 12 runs extracted again: 11 ok, 1 FAILED; now ok: 0003; previous journal kept as
/// journal.1.jsonl`.
fn summary(dir: &std::path::Path, d: &Reextracted) -> String {
    let mut line = format!(
        "{}: {} extracted again: {} ok",
        dir.display(),
        mpf::count(d.runs, "run"),
        d.ok
    );
    if d.failed > 0 {
        line.push_str(&format!(", {} FAILED", d.failed));
    }
    if !d.now_ok.is_empty() {
        line.push_str(&format!("; now ok: {}", run_ids(&d.now_ok)));
    }
    if !d.now_failed.is_empty() {
        line.push_str(&format!("; now failed: {}", run_ids(&d.now_failed)));
    }
    if d.decided_again {
        line.push_str("; limits and convergence judged again");
    }
    line.push_str(&format!(
        "; previous journal kept as journal.{}.jsonl",
        d.generation
    ));
    line
}
