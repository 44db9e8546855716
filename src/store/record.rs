//! The records a result set is made of: one `RunRecord` per finished run in `journal.jsonl`,
//! and the `Manifest` that describes the whole set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::model::{value_text, Better, PlotHints, ResultInfo};

/// The outcome of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Failed,
}

/// What one step of a run did on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub role: String,
    pub host: String,
    /// Exit status; `None` when the process was killed (timeout, end of run for background steps).
    pub exit: Option<i32>,
    /// Wall time in seconds.
    pub duration: f64,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub background: bool,
}

/// One line of `journal.jsonl`: a finished run, successful or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Position of the run in the experiment's plan (0-based); unique within a result set.
    pub index: usize,
    /// Index of the point in the (sampled, unshuffled) variable space.
    pub point_index: usize,
    /// Variable values of the point; a variable whose `when` is false is `null`.
    pub point: Map<String, Value>,
    /// 0-based repetition of the point.
    pub repetition: usize,
    pub status: RunStatus,
    /// How many times the run was attempted (1 + retries used).
    pub attempts: u32,
    /// Results by name: a number, or a list of numbers for series (`all: true`).
    pub results: Map<String, Value>,
    pub steps: Vec<StepRecord>,
    /// RFC 3339 UTC timestamps.
    pub started: String,
    pub ended: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What mpf left out of the run, and why: result names it refused, output beyond the
    /// log limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Samples dropped as warm-up from the start of each series with `warmup:`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warmup_dropped: BTreeMap<String, usize>,
    /// The run failed only because a declared result could not be read from its outputs, so
    /// that `mpf extract` with a corrected extractor may make it ok.
    #[serde(default, skip_serializing_if = "is_false")]
    pub extraction_failed: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetStatus {
    Running,
    Complete,
    Interrupted,
    Failed,
}

impl SetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SetStatus::Running => "running",
            SetStatus::Complete => "complete",
            SetStatus::Interrupted => "interrupted",
            SetStatus::Failed => "failed",
        }
    }
}

/// A variable of the explored space, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableInfo {
    pub name: String,
    /// Every value the variable takes, in declaration order.
    pub values: Vec<Value>,
    /// Display label per value (same order as `values`); equal to the value's text when unlabelled.
    pub labels: Vec<String>,
    /// True when every value is a number.
    pub numeric: bool,
    /// True when the values grow geometrically (`factor:` ranges): plots use a log axis.
    #[serde(default)]
    pub geometric: bool,
    /// True when the variable has a single value (a constant, not swept).
    #[serde(default)]
    pub constant: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

impl VariableInfo {
    /// The display label of a value, falling back to the value's own text.
    pub fn label_of(&self, v: &Value) -> String {
        self.values
            .iter()
            .position(|x| x == v)
            .and_then(|i| self.labels.get(i).cloned())
            .unwrap_or_else(|| value_text(v))
    }
}

/// Facts about one machine, gathered when the experiment starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HostFacts {
    pub name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub cpu_model: String,
    #[serde(default)]
    pub cores: u64,
    #[serde(default)]
    pub memory_bytes: u64,
    #[serde(default)]
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    pub commit: String,
    pub dirty: bool,
}

/// A directory `setup` synced to machines, with the commit it was at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// The local directory, as resolved from the experiment file.
    pub from: String,
    /// The destination on the machines (as written, `~/` allowed).
    pub to: String,
    pub machines: Vec<String>,
    /// Commit and dirtiness when `from` is in a git repository.
    #[serde(default)]
    pub git: Option<GitInfo>,
}

/// `manifest.json`: everything needed to understand a result set without the inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub mpf_version: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub status: SetStatus,
    pub started: String,
    #[serde(default)]
    pub ended: Option<String>,
    pub seed: String,
    pub order: String,
    pub runs_per_point: usize,
    /// Number of runs in the plan (points x runs).
    pub planned_runs: usize,
    pub variables: Vec<VariableInfo>,
    pub results: Vec<ResultInfo>,
    pub hosts: Vec<HostFacts>,
    #[serde(default)]
    pub git: Option<GitInfo>,
    /// Directories deployed by `setup`, with their git state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synced: Vec<SyncInfo>,
    /// Fingerprint (FNV-1a 64, hex) of experiment.yaml, used by `--resume`.
    pub experiment_hash: String,
    /// `--set` overrides and `--runs` in force, so that `--resume` replays the same plan.
    #[serde(default)]
    pub overrides: Map<String, Value>,
    #[serde(default)]
    pub runs_ok: usize,
    #[serde(default)]
    pub runs_failed: usize,
    /// The experiment's `plot:` hints, so that graphs of the set need no second reading of
    /// its experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plot: Option<PlotHints>,
}

impl Manifest {
    /// The status with the failures beside it, so that a set whose runs all failed never reads
    /// as a plain `complete`: `complete, 36 of 36 failed`.
    pub fn status_text(&self) -> String {
        let total = self.runs_ok + self.runs_failed;
        if self.runs_failed == 0 {
            self.status.as_str().to_string()
        } else {
            format!(
                "{}, {} of {total} failed",
                self.status.as_str(),
                self.runs_failed
            )
        }
    }
}

/// `parallel=4, zerocopy=enabled`: the swept variables of a point with their display labels;
/// constants and variables that do not apply at the point (null) are left out. The one
/// description of a point, used by progress lines, the report and compare.
pub fn point_text<'a>(
    variables: impl IntoIterator<Item = &'a VariableInfo>,
    point: &Map<String, Value>,
) -> String {
    let parts: Vec<String> = variables
        .into_iter()
        .filter(|v| !v.constant)
        .filter_map(|v| match point.get(&v.name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(format!("{}={}", v.name, v.label_of(value))),
        })
        .collect();
    if parts.is_empty() {
        "(single point)".into()
    } else {
        parts.join(", ")
    }
}

/// `goodput=9.41 Gbit/s`, for the results of a run (step durations left out).
pub fn results_text(results: &Map<String, Value>, infos: &[ResultInfo]) -> String {
    let mut parts = Vec::new();
    for (k, v) in results {
        if k.ends_with(".duration") {
            continue;
        }
        let unit = infos
            .iter()
            .find(|i| &i.name == k)
            .map(|i| i.unit.as_str())
            .unwrap_or("");
        match v {
            Value::Number(n) => parts.push(format!(
                "{k}={}",
                crate::units::humanise(n.as_f64().unwrap_or(f64::NAN), unit)
            )),
            Value::Array(a) => parts.push(format!("{k}=[{} values]", a.len())),
            _ => {}
        }
    }
    parts.join(" ")
}
