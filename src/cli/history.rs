use std::path::PathBuf;

use mpf::analyze::compare::SetData;
use mpf::analyze::history::{self, Settings, Step, StepLabel};
use mpf::error::{exit, Error, IoContext, Result};
use mpf::report::history::{html, json, markdown, table, HistoryReport};
use mpf::store;
use mpf::store::compact::CompactSet;
use mpf::store::record::Manifest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// Each set, in order of its start time
    Time,
    /// The sets of each synced commit, commits in order of their first set
    Commit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment name [default: the name of the newest set]
    pub name: Option<String>,
    /// Order of the history
    #[arg(long, value_enum, default_value_t = By::Time)]
    pub by: By,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Smallest relative change that counts as a regression, e.g. 5% (or 0.05)
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    pub tolerance: String,
    /// Significance level of the permutation test and of the newest set's Welch test
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub alpha: f64,
    /// Permutations per change-point test (10 to 10000)
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub permutations: usize,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

/// The commit a set measured: its synced sources' commits (`+`-joined), else the commit of the
/// experiment's own repository; `None` when neither is known.
fn commit_of(m: &Manifest) -> Option<String> {
    let synced: Vec<&str> = m
        .synced
        .iter()
        .filter_map(|s| s.git.as_ref())
        .map(|g| g.commit.as_str())
        .collect();
    if synced.is_empty() {
        m.git.as_ref().map(|g| g.commit.clone())
    } else {
        Some(synced.join("+"))
    }
}

/// Sets (oldest first) grouped into steps: one per set by time, one per commit by commit
/// (commits in order of their first set; sets without a commit left out, with a note).
fn group(sets: &[CompactSet], by: By, notes: &mut Vec<String>) -> Vec<Vec<usize>> {
    match by {
        By::Time => (0..sets.len()).map(|i| vec![i]).collect(),
        By::Commit => {
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, s) in sets.iter().enumerate() {
                let Some(c) = commit_of(&s.manifest) else {
                    notes.push(format!(
                        "set {} is left out: no synced commit recorded",
                        s.manifest.id
                    ));
                    continue;
                };
                match groups.iter_mut().find(|(k, _)| *k == c) {
                    Some((_, v)) => v.push(i),
                    None => groups.push((c, vec![i])),
                }
            }
            groups.into_iter().map(|(_, v)| v).collect()
        }
    }
}

pub fn run(args: Args) -> Result<i32> {
    let tolerance = super::compare::parse_tolerance(&args.tolerance)?;
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(Error::Usage(format!(
            "invalid --alpha {}: expected a probability between 0 and 1",
            args.alpha
        )));
    }
    if !(10..=10_000).contains(&args.permutations) {
        return Err(Error::Usage(format!(
            "invalid --permutations {}: expected 10 to 10000",
            args.permutations
        )));
    }
    let root = args.results.root();
    let listing = store::list(&root)?;
    let listed = &listing.sets;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => {
            // The newest set names the experiment: one mpf cannot read may be it.
            if let Some(u) = listing.unreadable_newer().next() {
                return Err(unreadable(u));
            }
            listed
                .first()
                .map(|(_, m)| m.name.clone())
                .ok_or_else(|| Error::Usage(format!("no result set in {}", root.display())))?
        }
    };
    // A history that leaves out one of its own sets would draw a wrong line: a set of this
    // experiment (by its id) that cannot be read stops it, naming the set.
    if let Some(u) = listing
        .unreadable
        .iter()
        .find(|u| store::resultset::id_of_experiment(&u.id, &name))
    {
        return Err(unreadable(u));
    }
    // `list` is newest first; the history runs oldest first.
    let mut sets = listed
        .iter()
        .rev()
        .filter(|(_, m)| m.name == name)
        .map(|(dir, _)| CompactSet::load(dir))
        .collect::<Result<Vec<CompactSet>>>()?;
    if sets.is_empty() {
        return Err(Error::Usage(format!(
            "no result set of experiment '{name}' in {}",
            root.display()
        )));
    }
    sets.sort_by(|a, b| {
        (a.manifest.started.as_str(), a.manifest.id.as_str())
            .cmp(&(b.manifest.started.as_str(), b.manifest.id.as_str()))
    });
    let mut notes = Vec::new();
    let steps: Vec<Step> = group(&sets, args.by, &mut notes)
        .into_iter()
        .map(|members| Step {
            label: StepLabel {
                sets: members
                    .iter()
                    .map(|&i| sets[i].manifest.id.clone())
                    .collect(),
                started: sets[members[0]].manifest.started.clone(),
                commit: commit_of(&sets[members[0]].manifest),
            },
            sets: members
                .iter()
                .map(|&i| SetData {
                    manifest: &sets[i].manifest,
                    runs: &sets[i].runs,
                    experiment: "",
                })
                .collect(),
        })
        .collect();
    let settings = Settings {
        tolerance,
        alpha: args.alpha,
        permutations: args.permutations,
        ..Settings::default()
    };
    let mut h = history::history(&steps, settings);
    notes.append(&mut h.notes);
    h.notes = notes;
    let report = HistoryReport {
        history: &h,
        name: &name,
        by: match args.by {
            By::Time => "time",
            By::Commit => "commit",
        },
    };
    let text = match args.format {
        Format::Table => table(report),
        Format::Markdown => markdown(report),
        Format::Json => json(report),
        Format::Html => html(report),
    };
    match &args.output {
        Some(p) => std::fs::write(p, &text).ctx(|| format!("failed to write {}", p.display()))?,
        None => {
            // A closed pipe (`mpf history | head`) is not an error worth reporting.
            super::console::out(&text);
        }
    }
    Ok(if h.has_regression() {
        exit::REGRESSION
    } else {
        exit::OK
    })
}

fn unreadable(u: &store::Unreadable) -> Error {
    Error::Usage(format!(
        "result set {} cannot be read: {} (remove or repair it, or pass --results to another directory)",
        u.id, u.error
    ))
}
