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
    /// The machine within its role (its node name) when the role has several: the step's
    /// results carry it as a suffix and its run directory is `ROLE.NODE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Exit status; `None` when the process was killed (timeout, end of run for background steps).
    pub exit: Option<i32>,
    /// Wall time in seconds.
    pub duration: f64,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub background: bool,
    /// When the step started, in seconds since the run started (the time axis of
    /// `monitor.csv`); absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
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

impl RunRecord {
    /// An ok run of one attempt with these results and nothing else recorded: what the
    /// limit graph draws for a search's limit, and what tests and simulations build.
    pub fn ok(
        index: usize,
        point: Map<String, Value>,
        repetition: usize,
        results: Map<String, Value>,
    ) -> RunRecord {
        RunRecord {
            index,
            point_index: index,
            point,
            repetition,
            status: RunStatus::Ok,
            attempts: 1,
            results,
            steps: Vec::new(),
            started: String::new(),
            ended: String::new(),
            error: None,
            notes: Vec::new(),
            warmup_dropped: BTreeMap::new(),
            extraction_failed: false,
        }
    }
}

impl RunRecord {
    /// Gives back what deserializing left unused: a vector or map grown one element at a time
    /// keeps room for more (a run's one step took room for four, a point of one variable room
    /// for four entries), which a reader holding 10^5 records pays about 700 bytes a run for.
    pub fn shrink(&mut self) {
        // Rebuilt at their exact size (serde_json's map has no `shrink_to_fit`).
        self.point = std::mem::take(&mut self.point).into_iter().collect();
        self.results = std::mem::take(&mut self.results).into_iter().collect();
        self.steps.shrink_to_fit();
        self.notes.shrink_to_fit();
    }
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
    /// Stopped before the end of its allocation (SPEC §14.3): `--resume` in the next one.
    Incomplete,
}

impl SetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SetStatus::Running => "running",
            SetStatus::Complete => "complete",
            SetStatus::Interrupted => "interrupted",
            SetStatus::Failed => "failed",
            SetStatus::Incomplete => "incomplete",
        }
    }
}

/// A variable of the explored space, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableInfo {
    pub name: String,
    /// Every value the variable takes, in declaration order (held compactly: a manifest of a
    /// sweep of 10^5 values is held by `mpf run` for the whole session).
    pub values: crate::values::Values,
    /// Display label per value (same order as `values`); equal to the value's text when unlabelled.
    pub labels: crate::values::Labels,
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
    /// Positions of the values, built on first use, so that finding a value's label is not a
    /// scan of every value (a sweep may have 10^5 of them).
    #[serde(skip)]
    pub index: ValueIndex,
}

/// A lazily built map from the hash of a value's JSON text to its first position in a
/// variable's values (16 bytes a value: the text itself would take 60 more, which a sweep of
/// 10^5 values held by `mpf run` pays). Clones start empty; two indexes always compare equal
/// (it is a cache, not data).
#[derive(Default)]
pub struct ValueIndex(std::sync::OnceLock<std::collections::HashMap<u64, usize>>);

fn text_hash(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

impl Clone for ValueIndex {
    fn clone(&self) -> Self {
        ValueIndex::default()
    }
}

impl PartialEq for ValueIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ValueIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueIndex")
    }
}

/// A point's identity as text, whatever the order of its keys: two points have the same key
/// exactly when they are equal, so that runs are grouped by point through a hash map.
pub fn point_key(point: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = point.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut key = String::new();
    for (k, v) in pairs {
        key.push_str(&Value::String(k.clone()).to_string());
        key.push(':');
        key.push_str(&v.to_string());
        key.push(',');
    }
    key
}

impl VariableInfo {
    /// The position of a value among the variable's values (its first, if repeated).
    pub fn position(&self, v: &Value) -> Option<usize> {
        let map = self.index.0.get_or_init(|| {
            let mut map = std::collections::HashMap::with_capacity(self.values.len());
            for (i, x) in self.values.each().enumerate() {
                map.entry(text_hash(&x)).or_insert(i);
            }
            map
        });
        // The index may predate values appended since, and two texts may share a hash: a hit
        // is checked, a miss is searched.
        match map.get(&text_hash(v)) {
            Some(&i) if self.values.get(i).as_ref() == Some(v) => Some(i),
            _ => self.values.position(v),
        }
    }

    /// The display label of a value, falling back to the value's own text.
    pub fn label_of(&self, v: &Value) -> String {
        self.position(v)
            .and_then(|i| self.labels.get(i).map(str::to_string))
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
    /// The settings that change performance results (governor, turbo, smt, thp, ...; see
    /// `model::SETTINGS`) and per-interface details (`iface.eth0.mtu`), as read on the machine.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, String>,
}

impl HostFacts {
    /// A setting's value, `unknown` when it could not be read.
    pub fn setting(&self, name: &str) -> &str {
        self.settings
            .get(name)
            .map(String::as_str)
            .unwrap_or(crate::model::UNKNOWN)
    }
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

/// A requirement a machine did not meet (SPEC §12.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmet {
    pub machine: String,
    pub setting: String,
    pub found: String,
    pub required: String,
}

/// Whether the machines met the experiment's `require:` when the set ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    pub met: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<Unmet>,
}

/// `manifest.json`: everything needed to understand a result set without the inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The result-set format (SPEC 19): 1 today; 0 for sets written before the field existed.
    #[serde(default)]
    pub format: u32,
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
    pub plot: Option<crate::model::Plot>,
    /// The experiment's `require:` against the machines, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Requirements>,
    /// Adaptive repetitions in force (`runs: {min, max, ci, on}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveInfo>,
    /// With adaptive repetitions: every point (probes included), its runs and whether its
    /// confidence intervals met the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<PointRuns>,
    /// The search in force (`search:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchInfo>,
    /// The limit found per combination of the other variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<Limit>,
    /// Each session of a set whose machines came from a host source (SPEC 14.1): the
    /// machines it ran on, first session first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionInfo>,
    /// With a profile (SPEC §18.1): each block of runs of one value of the switched
    /// variable, in the order they ran (a resumed block appears again, switched again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<BlockInfo>,
}

/// One block of a profile: the value switched to, when, whether the switch worked, the
/// machines' facts after it, and the runs it held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockInfo {
    pub variable: String,
    pub value: Value,
    #[serde(default)]
    pub label: String,
    /// RFC 3339 UTC, when the switch ended.
    pub switched_at: String,
    /// The switch's failure (its output's tail); its block's runs failed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Host facts gathered after the switch (none after a failed one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<HostFacts>,
    /// The runs of the block as inclusive index ranges, `[[0, 5], [9, 9]]`.
    #[serde(default)]
    pub runs: Vec<[usize; 2]>,
    /// RFC 3339 UTC, when the revert ended; `None` while the block runs (or when mpf was
    /// killed in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_at: Option<String>,
    /// The revert's failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_error: Option<String>,
}

impl BlockInfo {
    /// Adds run `index` to the block's ranges.
    pub fn add_run(&mut self, index: usize) {
        match self.runs.last_mut() {
            Some(r) if r[1] + 1 == index => r[1] = index,
            _ => self.runs.push([index, index]),
        }
    }

    /// Whether run `index` is in the block.
    pub fn has_run(&self, index: usize) -> bool {
        self.runs.iter().any(|r| (r[0]..=r[1]).contains(&index))
    }
}

/// One session (a `mpf run`, or a `--resume` of it) of a set whose cluster has `hosts:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub started: String,
    /// Where the machines came from (`hosts from slurm job 123`, `cluster.resolved.yaml`).
    #[serde(default)]
    pub source: String,
    /// The allocation they came from (a Slurm job, `$OAR_JOB_ID`, `$PBS_JOBID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<String>,
    #[serde(default)]
    pub machines: Vec<SessionMachine>,
    /// Hosts of the source left out as unreachable (`unreachable: drop`), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

/// A machine of a session, as `cluster.resolved.yaml` describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMachine {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `ssh`, `srun` or `local`.
    pub transport: String,
    pub roles: Vec<String>,
}

/// `runs: {min, max, ci, on}` as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveInfo {
    pub min: usize,
    pub max: usize,
    pub ci: String,
    pub on: Vec<String>,
}

/// How many runs a point got under adaptive repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRuns {
    pub point: Map<String, Value>,
    pub runs: usize,
    /// Every watched result's 95% half-width met `ci` (false: the point stopped at `max`).
    pub converged: bool,
}

/// `search:` as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchInfo {
    pub variable: String,
    pub condition: String,
    pub goal: crate::model::Goal,
    pub precision: String,
    /// The searched range, `[from, to]`.
    pub range: [Value; 2],
    /// The confidence of each probe's decision (`95%`); absent in sets of mpf before
    /// decisions with confidence, whose probes were judged on their means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<String>,
    /// The runs of a probe, `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<[usize; 2]>,
}

/// What a search found for one combination of the other variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The other variables' values.
    pub point: Map<String, Value>,
    /// The best probed value that met the condition; null when none did.
    pub limit: Value,
    pub status: LimitStatus,
    /// Probes measured (inferred ones, from `monotonic`, not counted).
    pub probes: usize,
    /// Runs of those probes.
    pub runs: usize,
    /// The bracket: the best decided value that met the condition and the nearest decided
    /// one beyond it that did not (null when no probe was so decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bracket: Option<[Value; 2]>,
    /// Probes that stayed undecided at their most runs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undecided: usize,
    /// Every measured probe and its verdict, in the order probed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probed: Vec<Probed>,
}

impl Limit {
    /// The bracket in increasing order: `[met, not met]` for `goal: max`, reversed for `min`
    /// (told apart by the order of its ends; a bracket with one end keeps it where it is, low
    /// for the value that met the condition of a `max` search). Absent ends are `None`.
    pub fn low_high(&self) -> (Option<&Value>, Option<&Value>) {
        let Some([met, not]) = &self.bracket else {
            return (None, None);
        };
        fn some(v: &Value) -> Option<&Value> {
            (!v.is_null()).then_some(v)
        }
        match (met.as_f64(), not.as_f64()) {
            (Some(a), Some(b)) if a > b => (some(not), some(met)),
            _ => (some(met), some(not)),
        }
    }
}

/// A measured probe of a search: the value and how it was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probed {
    pub value: Value,
    /// `pass`, `fail` or `undecided`.
    pub verdict: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Whether a search closed its bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitStatus {
    #[serde(rename = "found")]
    Found,
    #[serde(rename = "holds everywhere")]
    HoldsEverywhere,
    #[serde(rename = "fails everywhere")]
    FailsEverywhere,
    /// An undecided probe (at its most runs) sits at the bracket: the limit is between the
    /// best passing and the nearest failing decided probes, where the noise hides it.
    #[serde(rename = "inconclusive")]
    Inconclusive,
    /// The set stopped (interrupted, failed) before the search ended.
    #[serde(rename = "unfinished")]
    Unfinished,
}

impl LimitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitStatus::Found => "found",
            LimitStatus::HoldsEverywhere => "holds everywhere",
            LimitStatus::FailsEverywhere => "fails everywhere",
            LimitStatus::Inconclusive => "inconclusive",
            LimitStatus::Unfinished => "unfinished",
        }
    }
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

/// A swept variable's value at a point: its typed value and its display label.
#[derive(Debug, Clone, PartialEq)]
pub struct PointValue {
    pub name: String,
    pub value: Value,
    pub label: String,
}

/// The swept variables of a point with their display labels; constants and variables that do
/// not apply at the point (null) are left out.
pub fn point_values<'a>(
    variables: impl IntoIterator<Item = &'a VariableInfo>,
    point: &Map<String, Value>,
) -> Vec<PointValue> {
    variables
        .into_iter()
        .filter(|v| !v.constant)
        .filter_map(|v| match point.get(&v.name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(PointValue {
                name: v.name.clone(),
                label: v.label_of(value),
                value: value.clone(),
            }),
        })
        .collect()
}

/// `parallel=4, zerocopy=enabled`: the one description of a point, used by progress lines,
/// the report and compare.
pub fn point_text<'a>(
    variables: impl IntoIterator<Item = &'a VariableInfo>,
    point: &Map<String, Value>,
) -> String {
    point_values_text(&point_values(variables, point))
}

/// `parallel=4, zerocopy=enabled`, or `(single point)` when nothing is swept.
pub fn point_values_text(values: &[PointValue]) -> String {
    if values.is_empty() {
        return "(single point)".into();
    }
    let parts: Vec<String> = values
        .iter()
        .map(|p| format!("{}={}", p.name, p.label))
        .collect();
    parts.join(", ")
}

/// One result of a run: a number (NaN when it is not a finite number) or a series, in the
/// result's base unit (`""` when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub name: String,
    pub value: Measured,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    Number(f64),
    Series(Vec<f64>),
}

impl RunResult {
    /// `goodput=9.41 Gbit/s`, `latency=[12 values]`.
    pub fn text(&self) -> String {
        match &self.value {
            Measured::Number(x) => {
                format!("{}={}", self.name, crate::units::humanise(*x, &self.unit))
            }
            Measured::Series(a) => format!("{}=[{} values]", self.name, a.len()),
        }
    }
}

/// The results of a run as numbers with their units (step durations and values that are
/// neither numbers nor series left out).
pub fn run_results(results: &Map<String, Value>, infos: &[ResultInfo]) -> Vec<RunResult> {
    let mut out = Vec::new();
    for (k, v) in results {
        if k.ends_with(".duration") {
            continue;
        }
        let unit = infos
            .iter()
            .find(|i| &i.name == k)
            .map(|i| i.unit.clone())
            .unwrap_or_default();
        let value = match v {
            Value::Number(n) => Measured::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(a) => {
                Measured::Series(a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
            }
            _ => continue,
        };
        out.push(RunResult {
            name: k.clone(),
            value,
            unit,
        });
    }
    out
}

/// `goodput=9.41 Gbit/s latency=[12 values]`.
pub fn run_results_text(results: &[RunResult]) -> String {
    let parts: Vec<String> = results.iter().map(RunResult::text).collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variable(values: Vec<Value>, labels: Vec<&str>) -> VariableInfo {
        VariableInfo {
            name: "x".into(),
            values: values.into(),
            labels: labels.into_iter().map(String::from).collect(),
            numeric: false,
            geometric: false,
            constant: false,
            when: None,
            index: Default::default(),
        }
    }

    #[test]
    fn position_finds_the_first_equal_value_and_tells_numbers_from_strings() {
        let v = variable(
            vec![json!(1), json!("1"), json!(1.0), json!(1), json!(null)],
            vec!["one", "text", "float", "again", "none"],
        );
        assert_eq!(v.position(&json!(1)), Some(0));
        assert_eq!(v.position(&json!("1")), Some(1));
        assert_eq!(v.position(&json!(1.0)), Some(2));
        assert_eq!(v.position(&json!(null)), Some(4));
        assert_eq!(v.position(&json!(2)), None);
        assert_eq!(v.label_of(&json!(1.0)), "float");
        assert_eq!(v.label_of(&json!(7)), "7");
    }

    #[test]
    fn position_sees_values_appended_after_the_index_was_built() {
        let mut v = variable(vec![json!("a")], vec!["A"]);
        assert_eq!(v.position(&json!("a")), Some(0));
        v.values.push(json!("b"));
        v.labels.push("B");
        assert_eq!(v.label_of(&json!("b")), "B");
        // A replaced value is not found at its old place.
        v.values = vec![json!("c"), json!("b")].into();
        assert_eq!(v.position(&json!("a")), None);
        assert_eq!(v.position(&json!("c")), Some(0));
        // A clone starts with an empty index and finds the same.
        let c = v.clone();
        assert_eq!(c, v);
        assert_eq!(c.position(&json!("b")), Some(1));
    }

    #[test]
    fn labels_of_a_hundred_thousand_values_are_found_without_a_scan_each() {
        let n = 100_000;
        let v = variable(
            (0..n).map(|i| json!(i)).collect(),
            (0..n).map(|_| "").collect(),
        );
        let v = VariableInfo {
            labels: (0..n).map(|i| format!("v{i}")).collect(),
            ..v
        };
        // A scan per value would be 5 * 10^9 comparisons: minutes, not this test's instant.
        let start = std::time::Instant::now();
        for i in (0..n).rev() {
            assert_eq!(v.position(&json!(i)), Some(i as usize));
        }
        assert_eq!(v.label_of(&json!(99_999)), "v99999");
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn point_keys_are_equal_exactly_when_points_are() {
        let a: Map<String, Value> = serde_json::from_value(json!({"x": 1, "y": "a"})).unwrap();
        let b: Map<String, Value> = serde_json::from_value(json!({"y": "a", "x": 1})).unwrap();
        let c: Map<String, Value> = serde_json::from_value(json!({"x": 1.0, "y": "a"})).unwrap();
        let d: Map<String, Value> = serde_json::from_value(json!({"x": "1", "y": "a"})).unwrap();
        let e: Map<String, Value> = serde_json::from_value(json!({"x,": 1, "y": "a"})).unwrap();
        assert_eq!(point_key(&a), point_key(&b));
        for other in [&c, &d, &e] {
            assert_ne!(point_key(&a), point_key(other));
        }
    }

    fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn point_values_keep_typed_values_and_labels_of_swept_variables_only() {
        let vars: Vec<VariableInfo> = from(json!([
            {"name": "zc", "values": [true, false], "labels": ["on", "off"], "numeric": false},
            {"name": "n", "values": [1, 2], "labels": ["1", "2"], "numeric": true},
            {"name": "k", "values": [7], "labels": ["7"], "numeric": true, "constant": true},
            {"name": "opt", "values": [null, "x"], "labels": ["", "x"], "numeric": false}
        ]));
        let point: Map<String, Value> = from(json!({"zc": true, "n": 2, "k": 7, "opt": null}));
        let values = point_values(&vars, &point);
        let typed: Vec<(&str, &Value, &str)> = values
            .iter()
            .map(|p| (p.name.as_str(), &p.value, p.label.as_str()))
            .collect();
        assert_eq!(
            typed,
            vec![("zc", &json!(true), "on"), ("n", &json!(2), "2")]
        );
        assert_eq!(point_text(&vars, &point), "zc=on, n=2");
        assert_eq!(point_values_text(&[]), "(single point)");
    }

    #[test]
    fn run_results_are_numbers_in_base_units_and_show_as_before() {
        let infos: Vec<ResultInfo> = from(json!([
            {"name": "goodput", "unit": "bit/s"},
            {"name": "lat", "unit": "s", "series": true}
        ]));
        let results: Map<String, Value> = from(json!({
            "goodput": 9.41e9, "lat": [0.001, 0.002], "work.duration": 1.5,
            "tag": "text", "plain": 3
        }));
        let r = run_results(&results, &infos);
        let names: Vec<&str> = r.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["goodput", "lat", "plain"]);
        assert_eq!(r[0].value, Measured::Number(9.41e9));
        assert_eq!(r[0].unit, "bit/s");
        assert_eq!(r[1].value, Measured::Series(vec![0.001, 0.002]));
        assert_eq!(r[2].unit, "");
        assert_eq!(
            run_results_text(&r),
            "goodput=9.41 Gbit/s lat=[2 values] plain=3"
        );
    }
}
