//! The validated experiment (SPEC §2): what `plan` and `runner` consume.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::error::Location;
use crate::model::{Better, ResultInfo};

use super::extractor::{Kind, Series};

pub(crate) use super::raw::{Goal, OnFailure, Order, SamplingMethod};

/// `require: {governor: performance}`: one setting and the value it must have.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub setting: String,
    pub value: String,
    pub loc: Location,
}

/// A template string with the place it was written.
#[derive(Debug, Clone)]
pub struct Tpl {
    pub text: String,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    /// Compact (`crate::values`): a sweep of 10^5 values costs 8 bytes a value.
    pub values: crate::values::Values,
    pub labels: crate::values::Labels,
    pub when: Option<String>,
    /// Values grow by a factor (plots use a log axis).
    pub geometric: bool,
    pub loc: Location,
}

impl Variable {
    pub fn is_constant(&self) -> bool {
        self.values.len() == 1 && self.when.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub method: SamplingMethod,
    pub count: usize,
}

/// Where a step runs: role names, each possibly a template (`"{{ target }}"`), or `all`.
#[derive(Debug, Clone)]
pub struct RoleSel {
    pub names: Vec<String>,
    pub loc: Location,
}

impl RoleSel {
    pub fn is_templated(&self) -> bool {
        self.names.iter().any(|n| crate::template::is_template(n))
    }
}

/// At most this many combinations of its variables' values are rendered to find the roles a
/// templated role name can stand for (`Experiment::templated_roles`).
const MAX_ROLE_RENDERS: usize = 4096;

/// Role used by steps that name none: the machine mpf runs on.
pub(crate) const DEFAULT_ROLE: &str = "local";

/// Why `name` cannot name a role, if it cannot. A role name becomes a directory of the
/// result set (`runs/NNNN/<role>`) and of the machine, and a result suffix (`rps.<role>`):
/// letters, digits, `_` and `-`, starting with a letter or `_` (as a variable name, plus `-`
/// for the original mpf's cluster files), so that it is never a path, an option or two words.
pub(crate) fn role_name_problem(name: &str) -> Option<String> {
    if name == "all" {
        return Some("'all' means every role and cannot name one".into());
    }
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok && name.len() <= MAX_NAME_LEN {
        return None;
    }
    Some(format!(
        "'{}' is not a valid role name (letters, digits, _ and -, starting with a letter or _, at most {MAX_NAME_LEN} characters)",
        super::de::shown(name)
    ))
}

/// The longest role name: it becomes a file name and part of column names.
pub(crate) const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone)]
pub enum Ready {
    Port {
        /// A port number or a template rendered per run (`"{{ port }}"`).
        port: Tpl,
        host: Option<String>,
        timeout: Duration,
    },
    Log {
        pattern: Regex,
        timeout: Duration,
    },
}

/// The output stream of a step an extractor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Stdout, then stderr.
    Both,
}

/// What an extractor reads: a stream of the step, or a file the step wrote.
#[derive(Debug, Clone)]
pub enum Source {
    Stream(Stream),
    /// A path template, rendered per run; it must lie inside the role's run_dir.
    File(Tpl),
}

/// Samples dropped from the start of a series before its statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmup {
    Samples(usize),
    /// MSER-5 (SPEC §8.1).
    Auto,
}

/// A statistic of a series, kept as its own result `<name>.<stat>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatKind {
    Mean,
    Min,
    Max,
    /// Sample standard deviation (n − 1).
    Std,
    Count,
    Sum,
    /// The percentile (0..=100), numpy's linear interpolation.
    Percentile(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesStat {
    /// As written (`p99.9`): the suffix of the result name.
    pub name: String,
    pub kind: StatKind,
}

/// A derived result (SPEC §16.1): computed per run, after extraction, from the run's results
/// and the point's variables.
#[derive(Debug, Clone)]
pub struct Derived {
    pub name: String,
    pub expr: String,
    pub unit: Option<String>,
    pub better: Better,
    /// The results and variables it reads (names as written, dotted ones whole).
    pub reads: Vec<String>,
    pub loc: Location,
}

/// An aggregate of a result across the machines of a role that ran its step (`across:`,
/// SPEC §14.5), kept as its own result `<name>.<aggregate>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Across {
    Sum,
    Mean,
    Min,
    Max,
}

impl Across {
    pub const ALL: [Across; 4] = [Across::Sum, Across::Mean, Across::Min, Across::Max];

    /// As written, and the suffix of the result name.
    pub fn name(self) -> &'static str {
        match self {
            Across::Sum => "sum",
            Across::Mean => "mean",
            Across::Min => "min",
            Across::Max => "max",
        }
    }

    pub fn parse(text: &str) -> Option<Across> {
        Across::ALL.into_iter().find(|a| a.name() == text.trim())
    }

    /// The aggregate of `values` (not empty).
    pub fn of(self, values: &[f64]) -> f64 {
        match self {
            Across::Sum => values.iter().sum(),
            Across::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Across::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Across::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Extractor {
    pub name: String,
    /// How the value is found: regex, json, csv (`spec::extractor`).
    pub kind: Arc<dyn Kind>,
    pub unit: Option<String>,
    pub better: Better,
    pub source: Source,
    /// `in:`: the unit of bare numbers (JSON numbers, CSV cells, numbers printed alone).
    pub input_unit: Option<String>,
    /// `prefix: binary`: K, M, G... are powers of 1024.
    pub binary: bool,
    pub warmup: Option<Warmup>,
    pub stats: Vec<SeriesStat>,
    /// Aggregates across the machines of the role that ran the step.
    pub across: Vec<Across>,
}

impl Derived {
    pub fn info(&self) -> ResultInfo {
        ResultInfo {
            name: self.name.clone(),
            unit: self.unit.clone().unwrap_or_default(),
            better: self.better,
            series: false,
        }
    }
}

impl Extractor {
    /// An extractor of stdout with no unit, conversion or statistics.
    pub fn new(name: &str, kind: impl Kind + 'static) -> Extractor {
        Extractor::of_kind(name, Arc::new(kind))
    }

    /// `new` with a kind as the loader reads it.
    pub fn of_kind(name: &str, kind: Arc<dyn Kind>) -> Extractor {
        Extractor {
            name: name.to_string(),
            kind,
            unit: None,
            better: Better::Higher,
            source: Source::Stream(Stream::Stdout),
            input_unit: None,
            binary: false,
            warmup: None,
            stats: Vec::new(),
            across: Vec::new(),
        }
    }

    /// True when each run gives a list of values (a JSON array may give one too, known only
    /// once read).
    pub fn is_series(&self) -> bool {
        self.kind.series() == Series::Always
    }

    /// The result name of one statistic: `lat.p99`.
    pub fn stat_result(&self, stat: &SeriesStat) -> String {
        format!("{}.{}", self.name, stat.name)
    }

    /// The result name of one aggregate across machines: `goodput.sum`.
    pub fn across_result(&self, a: Across) -> String {
        format!("{}.{}", self.name, a.name())
    }

    /// The results this extractor declares, before any role suffix: the value itself, then
    /// one per statistic (a count has no unit), then one per aggregate across machines.
    fn declared(&self) -> Vec<ResultInfo> {
        let unit = self.unit.clone().unwrap_or_default();
        let mut out = vec![ResultInfo {
            name: self.name.clone(),
            unit: unit.clone(),
            better: self.better,
            series: self.is_series(),
        }];
        for st in &self.stats {
            out.push(ResultInfo {
                name: self.stat_result(st),
                unit: if st.kind == StatKind::Count {
                    String::new()
                } else {
                    unit.clone()
                },
                better: self.better,
                series: false,
            });
        }
        for a in &self.across {
            out.push(ResultInfo {
                name: self.across_result(*a),
                unit: unit.clone(),
                better: self.better,
                series: false,
            });
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub role: RoleSel,
    pub run: Tpl,
    pub background: bool,
    pub delay: Duration,
    pub timeout: Duration,
    pub ready: Option<Ready>,
    /// `count:`: the number of the role's machines it runs on (the first N), a number or a
    /// template rendered per run; `None`: every machine of the role.
    pub count: Option<Tpl>,
    pub results: Vec<Extractor>,
    pub loc: Location,
}

/// The most machines a `count:` may name: far above any cluster mpf drives.
pub(crate) const MAX_COUNT: usize = 1_000_000;

/// A `count:` as written or rendered: a whole number from 0 to `MAX_COUNT` (`4.0`, as a
/// float variable renders, is 4).
pub(crate) fn parse_count(text: &str) -> Option<usize> {
    let t = text.trim();
    if let Ok(n) = t.parse::<usize>() {
        return (n <= MAX_COUNT).then_some(n);
    }
    let x = t.parse::<f64>().ok()?;
    (x.fract() == 0.0 && (0.0..=MAX_COUNT as f64).contains(&x)).then_some(x as usize)
}

impl Step {
    /// How many machines of each of its roles the step runs on at the point of `ctx`:
    /// `None` for every machine.
    pub fn count_at(&self, ctx: &minijinja::Value) -> Result<Option<usize>, String> {
        let Some(c) = &self.count else {
            return Ok(None);
        };
        let text = crate::template::render(&c.text, ctx)
            .map_err(|m| format!("count of step '{}': {m}", self.name))?;
        parse_count(&text).map(Some).ok_or_else(|| {
            format!(
                "count of step '{}' is '{}', not a whole number of machines (0 to {MAX_COUNT})",
                self.name,
                super::de::shown(&text.trim().chars().take(40).collect::<String>())
            )
        })
    }
}

#[derive(Debug, Clone)]
pub struct Sync {
    pub from: String,
    pub to: String,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Packages {
    pub apt: Vec<String>,
    pub dnf: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SetupStep {
    pub role: RoleSel,
    pub sync: Option<Sync>,
    pub packages: Option<Packages>,
    pub run: Option<Tpl>,
    pub timeout: Duration,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub role: RoleSel,
    pub path: Tpl,
    pub content: Tpl,
}

#[derive(Debug, Clone)]
pub struct Experiment {
    pub path: PathBuf,
    pub source: String,
    pub name: String,
    pub description: String,
    pub runs: usize,
    pub order: Order,
    pub seed: String,
    pub variables: Vec<Variable>,
    /// Groups of variable indices that advance together.
    pub zips: Vec<Vec<usize>>,
    pub sampling: Sampling,
    pub setup: Vec<SetupStep>,
    /// Once per machine after the last run (and after an interruption): `run` only.
    pub cleanup: Vec<SetupStep>,
    pub steps: Vec<Step>,
    pub teardown: Vec<Step>,
    pub files: Vec<FileSpec>,
    pub retries: u32,
    pub on_failure: OnFailure,
    pub plot: Option<crate::model::Plot>,
    /// Settings every machine must have (SPEC §12.1), checked before the first run.
    pub require: Vec<Requirement>,
    /// Grace period between TERM and KILL when stopping processes.
    pub kill_grace: Duration,
    /// `runs: {min, max, ci, on}`: `runs` is then `min`.
    pub adaptive: Option<Adaptive>,
    /// `runs: {warmup: N}`: discarded runs of each point before its measured runs.
    pub warmup: usize,
    pub search: Option<Search>,
    /// Derived results, in an order where each comes after those it reads.
    pub derived: Vec<Derived>,
    /// `monitor:`: sampling the machines during each run (SPEC §11).
    pub monitor: Option<super::monitor::Monitor>,
    /// The variable with `switch:` (SPEC §18.1): runs are grouped in blocks of its values.
    pub profile: Option<Profile>,
}

/// A profile (SPEC §18.1): the variable whose values each need the machines switched, and the
/// entries that switch them.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Index of the variable in `Experiment::variables`.
    pub variable: usize,
    pub switch: Vec<SwitchEntry>,
}

/// A `switch:` entry: `run` when a value becomes current, `revert` after its block, on the
/// machines of `role`, each within `timeout`.
#[derive(Debug, Clone)]
pub struct SwitchEntry {
    pub role: RoleSel,
    pub run: Option<Tpl>,
    pub revert: Option<Tpl>,
    pub timeout: Duration,
    pub loc: Location,
}

/// A width: relative (to a mean, or to the upper end of a bracket) or absolute (in the base
/// unit of what it measures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Width {
    Relative(f64),
    Absolute(f64),
}

impl Width {
    /// The absolute width this allows around `reference`.
    pub fn at(self, reference: f64) -> f64 {
        match self {
            Width::Relative(r) => r * reference.abs(),
            Width::Absolute(a) => a,
        }
    }
}

/// Adaptive repetitions (SPEC §9.1): every point gets `min` runs, then one more per round
/// while the 95% half-width of a watched result's mean is wider than its target, up to `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptive {
    pub min: usize,
    pub max: usize,
    /// `ci:` as written (`2%`, `0.5 ms`).
    pub ci: String,
    /// The watched results (`on:`), each with the widest half-width allowed.
    pub targets: Vec<(String, Width)>,
}

/// A search for a limit (SPEC §9.2) instead of a sweep of `variable`.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Index of the searched variable in `Experiment::variables` (its `values` start empty:
    /// probes are appended as they are decided).
    pub variable: usize,
    pub lo: f64,
    pub hi: f64,
    /// Both bounds are integers: every probe is an integer.
    pub integer: bool,
    pub condition: String,
    pub condition_loc: Location,
    pub goal: Goal,
    /// `precision:` as written, and its meaning.
    pub precision_text: String,
    pub precision: Width,
    /// Variables along which the limit does not decrease (indices).
    pub monotonic: Vec<usize>,
    /// Confidence of each probe's decision (0.95), and as written (`95%`).
    pub confidence: f64,
    pub confidence_text: String,
    /// `runs: {min, max}` of a probe; `None`: the experiment's `runs`.
    pub runs: Option<(usize, usize)>,
}

impl Experiment {
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Every role selector, in the order of the file's sections: steps, teardown, setup,
    /// cleanup, files.
    pub fn role_sels(&self) -> impl Iterator<Item = &RoleSel> {
        self.steps
            .iter()
            .chain(&self.teardown)
            .map(|s| &s.role)
            .chain(self.setup.iter().map(|s| &s.role))
            .chain(self.cleanup.iter().map(|s| &s.role))
            .chain(self.profile.iter().flat_map(|p| &p.switch).map(|s| &s.role))
            .chain(self.files.iter().map(|f| &f.role))
    }

    /// The roles one selector can stand for: its literal names (`all` excluded) and, for a
    /// templated name, what it renders to (see [`Experiment::templated_roles`]).
    pub fn sel_roles(&self, sel: &RoleSel) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |r: String| {
            if !out.contains(&r) {
                out.push(r);
            }
        };
        for n in &sel.names {
            if !crate::template::is_template(n) {
                if n != "all" {
                    add(n.clone());
                }
                continue;
            }
            self.templated_roles(n, &mut add);
        }
        out
    }

    /// The roles a templated role name can render to: the name rendered at every combination
    /// of the values of the variables it reads (null too for a variable with `when`), when
    /// there are at most [`MAX_ROLE_RENDERS`]; beyond, each of those variables' values, as
    /// for the plain `"{{ target }}"`. A rendering that fails, is empty or is `all` adds
    /// nothing (the run renders it again and says what is wrong).
    fn templated_roles(&self, name: &str, add: &mut impl FnMut(String)) {
        let Ok(template) = crate::template::env().template_from_str(name) else {
            return; // validation reported it
        };
        let read = template.undeclared_variables(false);
        let vars: Vec<&Variable> = self
            .variables
            .iter()
            .filter(|v| read.contains(&v.name))
            .collect();
        let sizes: Vec<usize> = vars
            .iter()
            .map(|v| v.values.len() + usize::from(v.when.is_some()))
            .collect();
        let combinations = sizes.iter().try_fold(1usize, |n, s| n.checked_mul(*s));
        if combinations.is_none_or(|n| n > MAX_ROLE_RENDERS) {
            for v in vars {
                v.values
                    .each()
                    .for_each(|val| add(crate::model::value_text(&val)));
            }
            return;
        }
        if sizes.contains(&0) {
            return;
        }
        let mut at = vec![0usize; vars.len()];
        loop {
            let ctx: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .zip(&at)
                .map(|(v, &i)| (v.name.clone(), v.values.get(i).unwrap_or_default()))
                .collect();
            if let Ok(r) = template.render(minijinja::Value::from_serialize(&ctx)) {
                let r = r.trim();
                if !r.is_empty() && r != "all" {
                    add(r.to_string());
                }
            }
            // The next combination, the first variable fastest.
            let mut k = 0;
            loop {
                let Some(i) = at.get_mut(k) else {
                    return;
                };
                *i += 1;
                if *i < sizes[k] {
                    break;
                }
                *i = 0;
                k += 1;
            }
        }
    }

    /// Every role a step, file or setup entry can run as: literal names first, then the
    /// values of variables that templated role fields name.
    pub fn possible_roles(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let literal = self.role_sels().filter(|s| !s.is_templated());
        let templated = self.role_sels().filter(|s| s.is_templated());
        for sel in literal.chain(templated) {
            for r in self.sel_roles(sel) {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Results the experiment produces, in declaration order, with per-step durations.
    pub fn result_infos(&self) -> Vec<ResultInfo> {
        let mut out = result_infos(&self.steps);
        out.extend(self.derived.iter().map(Derived::info));
        out
    }
}

/// Results that `steps` produce, in declaration order (series statistics after their series,
/// `.role` suffixes on steps of several roles), then the steps' durations.
pub(crate) fn result_infos(steps: &[Step]) -> Vec<ResultInfo> {
    let mut out = Vec::new();
    for s in steps {
        let multi = s.role.names.len() > 1 || s.role.names.iter().any(|n| n == "all");
        for info in s.results.iter().flat_map(Extractor::declared) {
            if multi && !s.role.is_templated() {
                for r in s.role.names.iter().filter(|n| *n != "all") {
                    out.push(ResultInfo {
                        name: format!("{}.{r}", info.name),
                        ..info.clone()
                    });
                }
            } else {
                out.push(info);
            }
        }
    }
    for s in steps {
        if !s.background {
            out.push(ResultInfo {
                name: format!("{}.duration", s.name),
                unit: "s".into(),
                better: Better::Lower,
                series: false,
            });
        }
    }
    out
}
