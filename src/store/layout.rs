//! The layout of a result set on disk: the names of its files, where a run's directory is, and
//! the run id every directory, message and template spells the same way (`0007`). The one place
//! these are written; everything else asks here.
//!
//! ```text
//! <results>/<set id>/
//!   manifest.json            the set: experiment, hosts, status, design outcome
//!   journal.jsonl            one line per recorded run, appended and fsynced
//!   results.csv              the journal as a table, rewritten at the end
//!   experiment.yaml          the experiment file as run
//!   cluster.yaml             the cluster file as given, when there was one
//!   cluster.resolved.yaml    the machines a host source resolved to
//!   warmup.jsonl             discarded warm-up runs, flagged, never results
//!   report.html              the offline report, when drawn
//!   .lock                    held while a session writes
//!   setup/ cleanup/ switch/  each machine's log of those phases
//!   runs/NNNN/monitor.csv    the run's monitoring samples
//!   runs/NNNN/series.csv     the samples of its series results
//!   runs/NNNN/<machine>/     each run's logs and run_dir files
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
pub const JOURNAL: &str = "journal.jsonl";
pub const RESULTS_CSV: &str = "results.csv";
pub const EXPERIMENT: &str = "experiment.yaml";
pub const CLUSTER: &str = "cluster.yaml";
/// The machines a host source resolved to (SPEC §14.1).
pub const CLUSTER_RESOLVED: &str = "cluster.resolved.yaml";
pub const LOCK: &str = ".lock";
/// Discarded warm-up runs (`runs: {warmup: N}`), one JSON line each, never read as results.
pub const WARMUP: &str = "warmup.jsonl";
/// The offline report `mpf report` writes by default, and a pack holds.
pub const REPORT: &str = "report.html";
/// In a run's directory: the monitoring samples (`time,role,metric,value`).
pub const MONITOR_CSV: &str = "monitor.csv";
/// In a run's directory: the samples of its series results (`result,index,time,value`).
pub const SERIES_CSV: &str = "series.csv";
/// The folder of the runs' directories.
pub const RUNS: &str = "runs";

/// A run's id within its set: its position in the plan, written with at least four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub usize);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl RunId {
    /// The id a directory or a flag names, only when written as mpf writes it (`0007`, not
    /// `7` nor `+007`): a name that is not one is never taken for a run.
    pub fn parse(text: &str) -> Option<RunId> {
        if text.len() < 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id = RunId(text.parse().ok()?);
        (id.to_string() == text).then_some(id)
    }
}

/// The directory of run `index` inside the result set `set_dir`: `runs/0007`.
pub fn run_dir(set_dir: &Path, index: usize) -> PathBuf {
    set_dir.join(RUNS).join(RunId(index).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_read_back_only_as_written() {
        assert_eq!(RunId(7).to_string(), "0007");
        assert_eq!(RunId(12345).to_string(), "12345");
        assert_eq!(RunId::parse("0007"), Some(RunId(7)));
        assert_eq!(RunId::parse("12345"), Some(RunId(12345)));
        for bad in [
            "7", "007", "00007", "+007", "-007", "0x07", "", "00a7", "٠٠٠٧",
        ] {
            assert_eq!(RunId::parse(bad), None, "{bad}");
        }
        assert_eq!(
            run_dir(Path::new("/r/s"), 3),
            PathBuf::from("/r/s/runs/0003")
        );
    }
}
