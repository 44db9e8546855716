//! `mpf history`: the sets of one experiment, oldest first, grouped into steps (a set each by
//! time, a commit each by commit), their change points, written in one format.

use std::path::PathBuf;

use crate::analyze::compare::SetData;
use crate::analyze::history::{self, Settings, Step, StepLabel};
use crate::error::{exit, Error, Result};
use crate::report::history::{html, json, markdown, table, HistoryReport};
use crate::store;
use crate::store::compact::CompactSet;
use crate::store::record::Manifest;

/// Order of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// Each set, in order of its start time
    Time,
    /// The sets of each synced commit, commits in order of their first set
    Commit,
}

impl By {
    /// The word the outputs print.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Time => "time",
            By::Commit => "commit",
        }
    }
}

/// The history's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Html,
}

/// What `mpf history` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The directory holding result sets.
    pub root: PathBuf,
    /// The experiment; `None`: the name of the newest set.
    pub name: Option<String>,
    pub by: By,
    pub format: Format,
    /// Write here instead of returning the text for standard output.
    pub output: Option<PathBuf>,
    /// Smallest relative change that counts as a regression (0.05 = 5%).
    pub tolerance: f64,
    /// Significance level, strictly between 0 and 1.
    pub alpha: f64,
    /// Permutations per change-point test, 10 to 10000.
    pub permutations: usize,
}

/// What `mpf history` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The text for standard output, when no file was asked for.
    pub stdout: Option<String>,
    /// The file written.
    pub written: Option<PathBuf>,
    /// A change point or the newest step is a regression.
    pub regression: bool,
}

impl Outcome {
    /// 3 on a regression, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.regression {
            exit::REGRESSION
        } else {
            exit::OK
        }
    }
}

/// Runs `mpf history`.
pub fn history(req: &Request) -> Result<Outcome> {
    super::check_alpha(req.alpha)?;
    if !(10..=10_000).contains(&req.permutations) {
        return Err(Error::Usage(format!(
            "invalid --permutations {}: expected 10 to 10000",
            req.permutations
        )));
    }
    let (name, sets) = experiment_sets(&req.root, req.name.as_deref())?;
    let manifests: Vec<&Manifest> = sets.iter().map(|s| &s.manifest).collect();
    let (groups, mut notes) = group(&manifests, req.by);
    let steps: Vec<Step> = groups
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
        tolerance: req.tolerance,
        alpha: req.alpha,
        permutations: req.permutations,
        ..Settings::default()
    };
    let mut h = history::history(&steps, settings);
    notes.append(&mut h.notes);
    h.notes = notes;
    let report = HistoryReport {
        history: &h,
        name: &name,
        by: req.by.as_str(),
    };
    let text = match req.format {
        Format::Table => table(report),
        Format::Markdown => markdown(report),
        Format::Json => json(report),
        Format::Html => html(report),
    };
    let regression = h.has_regression();
    Ok(match &req.output {
        Some(p) => {
            super::write_file(p, &text)?;
            Outcome {
                stdout: None,
                written: Some(p.clone()),
                regression,
            }
        }
        None => Outcome {
            stdout: Some(text),
            written: None,
            regression,
        },
    })
}

/// The experiment's name (given, else the newest set's) and its sets, oldest first. A set of
/// the experiment that cannot be read stops the history, naming it: a history that left out
/// one of its own sets would draw a wrong line.
fn experiment_sets(
    root: &std::path::Path,
    name: Option<&str>,
) -> Result<(String, Vec<CompactSet>)> {
    let listing = store::list(root)?;
    let listed = &listing.sets;
    let name = match name {
        Some(n) => n.to_string(),
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
    Ok((name, sets))
}

/// The commit a set measured: its synced sources' commits (`+`-joined), else the commit of the
/// experiment's own repository; `None` when neither is known.
pub fn commit_of(m: &Manifest) -> Option<String> {
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

/// Sets (oldest first) grouped into steps of indices: one per set by time, one per commit by
/// commit (commits in order of their first set). Sets without a commit are left out by commit,
/// each with a note.
pub fn group(sets: &[&Manifest], by: By) -> (Vec<Vec<usize>>, Vec<String>) {
    let mut notes = Vec::new();
    let groups = match by {
        By::Time => (0..sets.len()).map(|i| vec![i]).collect(),
        By::Commit => {
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, m) in sets.iter().enumerate() {
                let Some(c) = commit_of(m) else {
                    notes.push(format!(
                        "set {} is left out: no synced commit recorded",
                        m.id
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
    };
    (groups, notes)
}

fn unreadable(u: &store::Unreadable) -> Error {
    Error::Usage(format!(
        "result set {} cannot be read: {} (remove or repair it, or pass --results to another directory)",
        u.id, u.error
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{GitInfo, SyncInfo};
    use crate::store::writer::tests::manifest;

    fn git(commit: &str) -> Option<GitInfo> {
        Some(GitInfo {
            commit: commit.into(),
            dirty: false,
        })
    }

    fn synced(commit: &str) -> SyncInfo {
        SyncInfo {
            from: "src".into(),
            to: "~/src".into(),
            machines: vec!["a".into()],
            git: git(commit),
        }
    }

    #[test]
    fn a_synced_commit_wins_over_the_experiments_own() {
        let mut m = manifest("x");
        assert_eq!(commit_of(&m), None);
        m.git = git("own");
        assert_eq!(commit_of(&m).as_deref(), Some("own"));
        m.synced = vec![synced("a1"), synced("b2")];
        assert_eq!(commit_of(&m).as_deref(), Some("a1+b2"));
    }

    #[test]
    fn by_time_each_set_is_a_step() {
        let ms = [manifest("a"), manifest("b"), manifest("c")];
        let refs: Vec<&Manifest> = ms.iter().collect();
        let (groups, notes) = group(&refs, By::Time);
        assert_eq!(groups, vec![vec![0], vec![1], vec![2]]);
        assert!(notes.is_empty());
    }

    #[test]
    fn by_commit_groups_in_order_of_first_set_and_notes_sets_left_out() {
        let mut ms: Vec<Manifest> = ["s0", "s1", "s2", "s3", "s4"]
            .iter()
            .map(|id| manifest(id))
            .collect();
        ms[0].git = git("c2");
        ms[1].git = git("c1");
        // s2 has no commit at all.
        ms[3].git = git("c2");
        ms[4].synced = vec![synced("c1")];
        let refs: Vec<&Manifest> = ms.iter().collect();
        let (groups, notes) = group(&refs, By::Commit);
        assert_eq!(groups, vec![vec![0, 3], vec![1, 4]]);
        assert_eq!(
            notes,
            vec!["set s2 is left out: no synced commit recorded".to_string()]
        );
    }

    fn request(root: &std::path::Path) -> Request {
        Request {
            root: root.to_path_buf(),
            name: None,
            by: By::Time,
            format: Format::Table,
            output: None,
            tolerance: 0.05,
            alpha: 0.05,
            permutations: 100,
        }
    }

    #[test]
    fn settings_out_of_range_are_refused_before_reading() {
        let req = request(std::path::Path::new("/nonexistent/mpf"));
        let e = history(&Request {
            permutations: 5,
            ..req.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid --permutations 5"), "{e}");
        let e = history(&Request { alpha: 1.5, ..req })
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid --alpha 1.5"), "{e}");
    }

    #[test]
    fn an_empty_directory_has_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let req = request(dir.path());
        let e = history(&req).unwrap_err().to_string();
        assert!(e.contains("no result set in"), "{e}");
        let e = history(&Request {
            name: Some("iperf".into()),
            ..req
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("no result set of experiment 'iperf'"), "{e}");
    }

    /// A set of experiment `t` started at `started`, measured at `commit`.
    fn write_set(root: &std::path::Path, id: &str, started: &str, commit: Option<&str>) {
        use crate::store::record::SetStatus;
        use crate::store::writer::SetWriter;
        let mut m = manifest(id);
        m.started = started.into();
        m.git = commit.and_then(git);
        let mut w = SetWriter::create(root, m, "name: t\n", None).unwrap();
        w.finish(SetStatus::Complete).unwrap();
    }

    #[test]
    fn by_commit_the_file_is_written_with_the_sets_left_out_noted() {
        let root = tempfile::tempdir().unwrap();
        write_set(root.path(), "t-a", "2026-01-01T00:00:00.000Z", Some("c1"));
        write_set(root.path(), "t-b", "2026-01-02T00:00:00.000Z", None);
        write_set(root.path(), "t-c", "2026-01-03T00:00:00.000Z", Some("c2"));
        let out = root.path().join("history.json");
        let outcome = history(&Request {
            by: By::Commit,
            format: Format::Json,
            output: Some(out.clone()),
            ..request(root.path())
        })
        .unwrap();
        assert_eq!(outcome.written.as_deref(), Some(out.as_path()));
        assert_eq!(outcome.stdout, None);
        assert_eq!(outcome.exit_code(), exit::OK);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.contains("set t-b is left out: no synced commit recorded"),
            "{text}"
        );
        // By time every set is a step, and the text goes to standard output.
        let outcome = history(&Request {
            format: Format::Json,
            ..request(root.path())
        })
        .unwrap();
        let text = outcome.stdout.unwrap();
        assert!(!text.contains("left out"), "{text}");
        assert!(text.contains("t-b"), "{text}");
    }
}
