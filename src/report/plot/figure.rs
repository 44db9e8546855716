//! Choosing a graph for a result (SPEC §7) and gathering its data into a renderer-neutral
//! `Figure`, drawn by both the static renderer (SVG/PNG/PDF) and the HTML report.

use std::collections::{hash_map::Entry, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::analyze::stats::{summarize, Summary};
use crate::error::{Error, Result};
use crate::model::{Scale, Stat};
use crate::report::plot::spec::PlotSpec;
use crate::store::compact::CompactSet;
use crate::store::record::{value_text, Manifest, RunRecord, RunStatus, VariableInfo};
use crate::store::ResultSet;
use crate::units::{display_scale, format_number};

/// The kind of graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No swept variable: the distribution of the runs.
    Box,
    /// A numeric x variable: mean and 95% confidence interval per x value.
    Line,
    /// A categorical x variable: grouped bars of the mean with 95% confidence intervals.
    Bars,
}

/// Which graph a result gets: the automatic choice after hints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub result: String,
    pub kind: Kind,
    pub x: Option<String>,
    pub series: Option<String>,
    /// Variables split into small multiples, one panel per combination of their values.
    pub facets: Vec<String>,
    pub log_x: bool,
    pub log_y: bool,
    /// What each point shows (lines and bars; boxes show the distribution).
    pub stat: Stat,
}

/// One group of runs: a series at an x position in a panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Index into `Figure::series_labels`.
    pub series: usize,
    /// Position on the x axis: the value for numeric variables, the category index otherwise.
    pub x: f64,
    /// Values in display units.
    pub values: Vec<f64>,
    /// Summary in display units.
    pub summary: Summary,
    /// What is drawn, in display units: the mean or median, and its interval (the confidence
    /// interval or the quartiles), clipped to what the axis can show.
    pub center: f64,
    pub lo: f64,
    pub hi: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    /// `var: label, ...` for small multiples; empty for a single panel.
    pub title: String,
    pub cells: Vec<Cell>,
}

/// Everything a renderer needs, in display units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub choice: Choice,
    /// Axis titles: `Parallel`, `Goodput (Gbit/s)`.
    pub x_title: String,
    pub y_title: String,
    /// The display unit (`Gbit/s`) and the divisor from the base unit to it.
    pub y_unit: String,
    pub y_divisor: f64,
    /// Tick positions (x-axis values) and their labels.
    pub x_ticks: Vec<(f64, String)>,
    /// `Zerocopy` when a variable makes the series.
    pub series_title: Option<String>,
    /// One label per series (a single empty label without a series variable).
    pub series_labels: Vec<String>,
    pub panels: Vec<Panel>,
    /// Where the figure comes from, written into every file made of it.
    pub provenance: crate::report::plot::provenance::Provenance,
    /// What the marks mean, for a caption under the graph: `mean and 95% confidence interval
    /// of 3 runs per point; intervals clipped at 0`.
    pub caption: String,
    /// Each cell's interval is its own (a search's bracket): drawn as a whisker wherever it
    /// is wider than a point, never joined into a band.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub whiskers: bool,
    /// A search's probes on a graph against the searched variable: how each was decided.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probe_marks: Vec<ProbeMark>,
    /// The condition's constant bound on this result, in display units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
}

/// A probe's verdict drawn at its cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeMark {
    pub panel: usize,
    pub x: f64,
    pub y: f64,
    /// `pass`, `fail` or `undecided`.
    pub verdict: String,
}

/// A run's value of a result as one number: series results count by their mean.
pub fn run_value(r: &RunRecord, result: &str) -> Option<f64> {
    match r.results.get(result)? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::Array(a) => {
            let v: Vec<f64> = a
                .iter()
                .filter_map(Value::as_f64)
                .filter(|x| x.is_finite())
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        _ => None,
    }
}

/// What the graphs read of a set: its manifest, and per run its status, its point's values and
/// its results as numbers. A set's records give it, and so does its compact form, which a set
/// of 10^5 points is drawn from without holding its records (SPEC §15). A run is its position
/// among the set's runs.
pub trait GraphSource {
    fn manifest(&self) -> &Manifest;
    /// Where the figures come from (the set's directory holds its experiment file).
    fn provenance(&self) -> crate::report::plot::provenance::Provenance;
    /// The positions of the ok runs.
    fn ok_runs(&self) -> Vec<usize>;
    /// A variable's value at a run's point (`None` when the point lacks it).
    fn point_value(&self, run: usize, var: &str) -> Option<&Value>;
    /// A run's value of a result as one number, as [`run_value`] takes it.
    fn value(&self, run: usize, result: &str) -> Option<f64>;
    /// True when the run recorded the result as a list (a series of samples).
    fn is_list(&self, run: usize, result: &str) -> bool;
    /// The records, when the source holds them: what the figures of `plot:` and a search's
    /// limit graph read (see [`needs_records`]).
    fn records(&self) -> Option<&ResultSet> {
        None
    }
}

/// True when a set's graphs need its records, not only its compact form: it lists figures in
/// `plot:` (scatter, CDF, time series: drawn run by run) or is a search (its limit graph and
/// probe marks).
pub fn needs_records(m: &Manifest) -> bool {
    let is_var = |n: &str| m.variables.iter().any(|v| v.name == n);
    m.search.is_some()
        || m.plot
            .as_ref()
            .is_some_and(|p| !p.figures(&is_var).is_empty())
}

impl GraphSource for ResultSet {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn provenance(&self) -> crate::report::plot::provenance::Provenance {
        crate::report::plot::provenance::Provenance::of_set(&self.dir, &self.manifest)
    }

    fn ok_runs(&self) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&p| self.records[p].status == RunStatus::Ok)
            .collect()
    }

    fn point_value(&self, run: usize, var: &str) -> Option<&Value> {
        self.records.get(run)?.point.get(var)
    }

    fn value(&self, run: usize, result: &str) -> Option<f64> {
        run_value(self.records.get(run)?, result)
    }

    fn is_list(&self, run: usize, result: &str) -> bool {
        self.records
            .get(run)
            .is_some_and(|r| matches!(r.results.get(result), Some(Value::Array(_))))
    }

    fn records(&self) -> Option<&ResultSet> {
        Some(self)
    }
}

impl GraphSource for CompactSet {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn provenance(&self) -> crate::report::plot::provenance::Provenance {
        crate::report::plot::provenance::Provenance::of_set(&self.dir, &self.manifest)
    }

    fn ok_runs(&self) -> Vec<usize> {
        self.runs.ok().collect()
    }

    fn point_value(&self, run: usize, var: &str) -> Option<&Value> {
        let point = self.runs.runs().get(run)?.point;
        self.runs.point_value(point, var)
    }

    fn value(&self, run: usize, result: &str) -> Option<f64> {
        self.runs.value(self.runs.column(result)?, run)
    }

    fn is_list(&self, run: usize, result: &str) -> bool {
        self.runs
            .column(result)
            .is_some_and(|c| self.runs.list_len(c, run).is_some())
    }
}

/// Results with at least one numeric value among the successful runs, in manifest order.
pub fn numeric_results<S: GraphSource + ?Sized>(set: &S) -> Vec<String> {
    let ok = set.ok_runs();
    set.manifest()
        .results
        .iter()
        .filter(|r| ok.iter().any(|&p| set.value(p, &r.name).is_some()))
        .map(|r| r.name.clone())
        .collect()
}

/// The result `mpf plot -o` draws without `--y`: the hint, else the first declared result that
/// is not a step's wall time, else the first.
pub fn main_result<S: GraphSource + ?Sized>(set: &S, hints: &PlotSpec) -> Result<String> {
    let results = numeric_results(set);
    if let Some(y) = &hints.y {
        check_result(set, y)?;
        return Ok(y.clone());
    }
    results
        .iter()
        .find(|r| !r.ends_with(".duration"))
        .or_else(|| results.first())
        .cloned()
        .ok_or_else(|| Error::Runtime(format!("{} has no numeric result", set.manifest().id)))
}

fn check_result<S: GraphSource + ?Sized>(set: &S, name: &str) -> Result<()> {
    result_info(set, name).map(|_| ())
}

/// The result `name` of `set`, or an error naming the results it has.
pub(crate) fn result_info<'a, S: GraphSource + ?Sized>(
    set: &'a S,
    name: &str,
) -> Result<&'a crate::model::ResultInfo> {
    set.manifest()
        .results
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = set
                .manifest()
                .results
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            Error::Usage(format!(
                "unknown result '{name}' (results: {})",
                known.join(", ")
            ))
        })
}

fn variable<'a, S: GraphSource + ?Sized>(
    set: &'a S,
    name: &str,
    role: &str,
) -> Result<&'a VariableInfo> {
    set.manifest()
        .variables
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = set
                .manifest()
                .variables
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            Error::Usage(format!(
                "unknown variable '{name}' for {role} (variables: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
}

/// Sort key of a variable's value: declaration order, unknown values after, null last.
fn order_key(var: &VariableInfo, v: &Value) -> (usize, String) {
    if v.is_null() {
        return (usize::MAX, String::new());
    }
    match var.position(v) {
        Some(i) => (i, String::new()),
        None => (var.values.len(), value_text(v)),
    }
}

/// Distinct values a variable takes in `records`, in display order.
pub(crate) fn distinct(var: &VariableInfo, records: &[&RunRecord]) -> Vec<Value> {
    distinct_values(var, records.iter().map(|r| r.point.get(&var.name)))
}

/// Distinct values a variable takes at the points of `runs`, in display order.
fn distinct_in<S: GraphSource + ?Sized>(set: &S, var: &VariableInfo, runs: &[usize]) -> Vec<Value> {
    distinct_values(var, runs.iter().map(|&p| set.point_value(p, &var.name)))
}

/// Distinct values among a variable's values (`None`: the point lacks it), in display order.
fn distinct_values<'v>(
    var: &VariableInfo,
    values: impl Iterator<Item = Option<&'v Value>>,
) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for v in values {
        let v = v.cloned().unwrap_or(Value::Null);
        if seen.insert(v.to_string()) {
            out.push(v);
        }
    }
    out.sort_by_cached_key(|v| order_key(var, v));
    out
}

pub(crate) fn label(var: &VariableInfo, v: &Value) -> String {
    if v.is_null() {
        "none".to_string()
    } else {
        var.label_of(v)
    }
}

fn is_numeric(values: &[Value]) -> bool {
    values.iter().any(Value::is_number) && values.iter().all(|v| v.is_number() || v.is_null())
}

/// True when positive values grow by a constant factor (1, 2, 4, 8...).
fn grows_geometrically(values: &[f64]) -> bool {
    if values.len() < 3 || values.iter().any(|v| *v <= 0.0) {
        return false;
    }
    let ratios: Vec<f64> = values.windows(2).map(|w| w[1] / w[0]).collect();
    ratios[0] >= 1.5 && ratios.iter().all(|r| (r / ratios[0] - 1.0).abs() < 0.01)
}

/// True when `slot` holds the variable `v`.
fn is(slot: Option<&VariableInfo>, v: &VariableInfo) -> bool {
    slot.is_some_and(|s| s.name == v.name)
}

/// The ok runs that carry a value of `result`.
fn runs_with<S: GraphSource + ?Sized>(set: &S, result: &str) -> Vec<usize> {
    let mut runs = set.ok_runs();
    runs.retain(|&p| set.value(p, result).is_some());
    runs
}

/// Chooses the graph of `result` (SPEC §7), honouring `hints` where they are given.
pub fn choose<S: GraphSource + ?Sized>(set: &S, result: &str, hints: &PlotSpec) -> Result<Choice> {
    check_result(set, result)?;
    let records = runs_with(set, result);
    let swept: Vec<&VariableInfo> = set
        .manifest()
        .variables
        .iter()
        .filter(|v| distinct_in(set, v, &records).len() >= 2)
        .collect();
    let hinted_x = hints
        .x
        .as_deref()
        .map(|x| variable(set, x, "x"))
        .transpose()?;
    let hinted_series = hints
        .series
        .as_deref()
        .map(|s| variable(set, s, "series"))
        .transpose()?;
    if let (Some(x), Some(s)) = (hinted_x, hinted_series) {
        if x.name == s.name {
            return Err(Error::Usage(format!(
                "'{}' cannot be both the x axis and the series",
                x.name
            )));
        }
    }
    let taken = |v: &VariableInfo| is(hinted_x, v) || is(hinted_series, v);
    // A search's results are drawn against the searched variable (SPEC §16.3).
    let searched = set.manifest().search.as_ref().map(|s| s.variable.as_str());
    let x = hinted_x.or_else(|| {
        let free: Vec<&VariableInfo> = swept.iter().copied().filter(|v| !taken(v)).collect();
        free.iter()
            .copied()
            .find(|v| Some(v.name.as_str()) == searched)
            .or_else(|| {
                free.iter()
                    .copied()
                    .find(|v| is_numeric(&distinct_in(set, v, &records)))
            })
            .or_else(|| free.first().copied())
    });
    let series = hinted_series.or_else(|| {
        let mut free: Vec<&VariableInfo> = swept
            .iter()
            .copied()
            .filter(|v| !taken(v) && !is(x, v))
            .collect();
        // Categorical variables with few values make the most legible series; a conditional
        // one (null where its `when` is false) makes a better series than a row of panels
        // with empty groups.
        free.sort_by_key(|v| {
            let d = distinct_in(set, v, &records);
            (is_numeric(&d), !d.contains(&Value::Null), d.len())
        });
        free.first().copied()
    });
    let facets: Vec<String> = swept
        .iter()
        .filter(|v| !is(x, v) && !is(series, v))
        .map(|v| v.name.clone())
        .collect();
    let (kind, log_x) = match x {
        None => (Kind::Box, false),
        Some(x) => {
            let d = distinct_in(set, x, &records);
            if is_numeric(&d) {
                let nums: Vec<f64> = d.iter().filter_map(Value::as_f64).collect();
                let log =
                    (x.geometric && nums.iter().all(|v| *v > 0.0)) || grows_geometrically(&nums);
                (Kind::Line, log)
            } else {
                (Kind::Bars, false)
            }
        }
    };
    // A logarithmic axis shows only positive values; a result that is never positive keeps
    // a linear one.
    let log_y = hints.y_scale == Some(Scale::Log)
        && records
            .iter()
            .any(|&p| set.value(p, result).is_some_and(|v| v > 0.0));
    Ok(Choice {
        result: result.to_string(),
        kind,
        x: x.map(|v| v.name.clone()),
        series: series.map(|v| v.name.clone()),
        facets,
        log_x,
        log_y,
        stat: hints.stat.unwrap_or_default(),
    })
}

/// Runs of one series at one x position: (series index, x, values in base units).
type Group = (usize, f64, Vec<f64>);

/// A panel's title and its groups, in base units.
type RawPanel = (String, Vec<Group>);

/// The variables a chosen graph puts on its axes, and the values they take in its runs.
struct Axes<'a, S: GraphSource + ?Sized> {
    set: &'a S,
    x: Option<&'a VariableInfo>,
    series: Option<&'a VariableInfo>,
    facets: Vec<&'a VariableInfo>,
    numeric_x: bool,
    x_values: Vec<Value>,
    s_values: Vec<Value>,
    /// Position of each value (as JSON text) in `x_values` and `s_values`.
    x_index: HashMap<String, usize>,
    s_index: HashMap<String, usize>,
}

/// Each value's position, by its JSON text (the first, should one repeat).
fn positions(values: &[Value]) -> HashMap<String, usize> {
    let mut map = HashMap::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        map.entry(v.to_string()).or_insert(i);
    }
    map
}

impl<'a, S: GraphSource + ?Sized> Axes<'a, S> {
    fn new(set: &'a S, choice: &Choice) -> Result<Axes<'a, S>> {
        let x = choice
            .x
            .as_deref()
            .map(|n| variable(set, n, "x"))
            .transpose()?;
        let series = choice
            .series
            .as_deref()
            .map(|n| variable(set, n, "series"))
            .transpose()?;
        let facets = choice
            .facets
            .iter()
            .map(|n| variable(set, n, "small multiples"))
            .collect::<Result<_>>()?;
        Ok(Axes {
            set,
            x,
            series,
            facets,
            numeric_x: choice.kind == Kind::Line,
            x_values: Vec::new(),
            s_values: Vec::new(),
            x_index: HashMap::new(),
            s_index: HashMap::new(),
        })
    }

    /// Learns the values the x and series variables take in `runs`.
    fn observe(&mut self, runs: &[usize]) {
        let set = self.set;
        self.x_values = self
            .x
            .map(|v| distinct_in(set, v, runs))
            .unwrap_or_default();
        self.s_values = self
            .series
            .map(|v| distinct_in(set, v, runs))
            .unwrap_or_default();
        // A numeric axis places a run at its value: the index (10^5 entries for a fine
        // sweep) is for a categorical one only.
        self.x_index = match self.numeric_x {
            true => HashMap::new(),
            false => positions(&self.x_values),
        };
        self.s_index = positions(&self.s_values);
    }

    /// A variable's value at a run's point, `null` when the point lacks it.
    fn value_of(&self, run: usize, var: &VariableInfo) -> Value {
        self.set
            .point_value(run, &var.name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn x_pos(&self, r: usize) -> f64 {
        let Some(xv) = self.x else { return 0.0 };
        let v = self.value_of(r, xv);
        if self.numeric_x {
            v.as_f64().unwrap_or(f64::NAN)
        } else {
            self.x_index.get(&v.to_string()).copied().unwrap_or(0) as f64
        }
    }

    fn series_index(&self, r: usize) -> usize {
        let Some(sv) = self.series else { return 0 };
        let v = self.value_of(r, sv);
        self.s_index.get(&v.to_string()).copied().unwrap_or(0)
    }

    fn facet_key(&self, r: usize) -> Vec<Value> {
        self.facets.iter().map(|v| self.value_of(r, v)).collect()
    }

    /// The runs grouped by panel (in the variables' order), series and x position.
    fn group(&self, records: &[usize], result: &str) -> Vec<RawPanel> {
        // The runs of each panel, in one pass: (key, its runs), and the key's position.
        let mut panels: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for &r in records {
            let k = self.facet_key(r);
            match at.entry(Value::Array(k.clone()).to_string()) {
                Entry::Occupied(e) => panels[*e.get()].1.push(r),
                Entry::Vacant(e) => {
                    e.insert(panels.len());
                    panels.push((k, vec![r]));
                }
            }
        }
        let order = |k: &[Value]| -> Vec<(usize, String)> {
            self.facets
                .iter()
                .zip(k)
                .map(|(v, x)| order_key(v, x))
                .collect()
        };
        panels.sort_by_cached_key(|(k, _)| order(k));
        panels
            .iter()
            .map(|(key, runs)| {
                let title = self
                    .facets
                    .iter()
                    .zip(key)
                    .map(|(v, x)| format!("{}: {}", v.name, label(v, x)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut groups: Vec<Group> = Vec::new();
                let mut group_at: HashMap<(usize, u64), usize> = HashMap::new();
                for &r in runs {
                    let (s, x) = (self.series_index(r), self.x_pos(r));
                    let value = self.set.value(r, result).unwrap_or(f64::NAN);
                    // One group per (series, x): x compared as `==` does (0.0 is -0.0).
                    let x_bits = if x == 0.0 { 0 } else { x.to_bits() };
                    match group_at.entry((s, x_bits)) {
                        Entry::Occupied(e) => groups[*e.get()].2.push(value),
                        Entry::Vacant(e) => {
                            e.insert(groups.len());
                            groups.push((s, x, vec![value]));
                        }
                    }
                }
                groups.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                (title, groups)
            })
            .collect()
    }

    /// Tick positions and labels of the x axis.
    fn ticks(&self, log_x: bool, runs: usize) -> Vec<(f64, String)> {
        match (self.x, self.numeric_x) {
            (None, _) => vec![(0.0, format!("all runs (n = {runs})"))],
            (Some(xv), false) => self
                .x_values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, label(xv, v)))
                .collect(),
            (Some(xv), true) => {
                let nums: Vec<f64> = self.x_values.iter().filter_map(Value::as_f64).collect();
                let labelled = |x: f64| {
                    let v = self.x_values.iter().find(|v| v.as_f64() == Some(x));
                    match v {
                        Some(v) if xv.labels.iter().any(|l| !l.is_empty()) => (x, label(xv, v)),
                        _ => (x, format_number(x)),
                    }
                };
                if nums.len() <= 12 && spread(&nums, log_x) {
                    nums.iter().map(|x| labelled(*x)).collect()
                } else {
                    let lo = nums.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    chosen_ticks(lo, hi, log_x)
                        .into_iter()
                        .map(|x| (x, format_number(x)))
                        .collect()
                }
            }
        }
    }
}

/// Whether values are far enough apart on their axis for a label each: every gap at least a
/// twelfth of the span (the probes of a search crowd around its limit: 31623, 32488, 33376 and
/// 35227 on an axis to 100000 would overlap).
fn spread(nums: &[f64], log_x: bool) -> bool {
    let at = |x: f64| if log_x { x.log10() } else { x };
    let mut v: Vec<f64> = nums
        .iter()
        .map(|&x| at(x))
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    let span = match (v.first(), v.last()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => return true,
    };
    v.windows(2).all(|w| w[1] - w[0] >= span / 12.0)
}

/// Ticks chosen for an axis from `lo` to `hi`: round numbers, and on a log axis the powers of
/// ten (with 2 and 5 times them when fewer than three fit).
pub fn chosen_ticks(lo: f64, hi: f64, log_x: bool) -> Vec<f64> {
    if log_x && lo > 0.0 && hi > lo {
        let ladder = |steps: &[f64]| -> Vec<f64> {
            let mut out = Vec::new();
            let mut k = lo.log10().floor() as i32;
            while k <= hi.log10().ceil() as i32 && out.len() < 64 {
                for m in steps {
                    let x = m * 10f64.powi(k);
                    if x >= lo * (1.0 - 1e-9) && x <= hi * (1.0 + 1e-9) {
                        out.push(x);
                    }
                }
                k += 1;
            }
            out
        };
        let decades = ladder(&[1.0]);
        if decades.len() >= 3 {
            return decades;
        }
        let finer = ladder(&[1.0, 2.0, 5.0]);
        if finer.len() >= 3 {
            return finer;
        }
    }
    crate::report::plot::render::nice_ticks(lo, hi, 8)
}

/// The lowest value an interval may reach: the smallest value on a log axis, zero for a
/// quantity that was never negative (a duration, a rate, a latency: the t interval of a few
/// noisy runs can reach below zero), none otherwise. In display units.
fn interval_floor(raw: &[RawPanel], log_y: bool, div: f64) -> Option<f64> {
    if log_y {
        return Some(smallest_positive(raw) / div);
    }
    crate::analyze::stats::never_negative(
        raw.iter()
            .flat_map(|(_, g)| g.iter().flat_map(|(_, _, v)| v.iter())),
    )
    .then_some(0.0)
}

/// The cells of every panel in display units, with what is drawn of each; and whether an
/// interval was clipped at the floor.
fn cells(raw: Vec<RawPanel>, stat: Stat, div: f64, floor: Option<f64>) -> (Vec<Panel>, bool) {
    let mut clipped = false;
    let panels = raw
        .into_iter()
        .map(|(title, groups)| Panel {
            title,
            cells: groups
                .into_iter()
                .filter_map(|(series, x, values)| {
                    let scaled: Vec<f64> = values.iter().map(|v| v / div).collect();
                    let summary = summarize(&scaled)?;
                    let (center, lo, hi) = match stat {
                        Stat::Mean => (summary.mean, summary.ci_lo, summary.ci_hi),
                        Stat::Median => (summary.median, summary.q1, summary.q3),
                    };
                    let lo = match floor {
                        Some(f) if lo < f => {
                            clipped |= summary.n >= 2;
                            f
                        }
                        _ => lo,
                    };
                    Some(Cell {
                        series,
                        x,
                        values: scaled,
                        summary,
                        center,
                        lo,
                        hi,
                    })
                })
                .collect(),
        })
        .collect();
    (panels, clipped)
}

/// Gathers the data of a chosen graph. `None` when no successful run has the result.
pub fn build<S: GraphSource + ?Sized>(set: &S, choice: &Choice) -> Result<Option<Figure>> {
    let info = set
        .manifest()
        .results
        .iter()
        .find(|r| r.name == choice.result)
        .ok_or_else(|| Error::Usage(format!("unknown result '{}'", choice.result)))?;
    let mut axes = Axes::new(set, choice)?;
    let mut records = runs_with(set, &choice.result);
    if let (true, Some(xv)) = (axes.numeric_x, axes.x) {
        // A numeric axis has no place for runs where the variable is null (`when` false).
        records.retain(|&r| set.point_value(r, &xv.name).is_some_and(Value::is_number));
    }
    if records.is_empty() {
        return Ok(None);
    }
    axes.observe(&records);
    // Raw groups first: the display scale depends on the largest figure drawn.
    let raw = axes.group(&records, &choice.result);
    let magnitude = raw
        .iter()
        .flat_map(|(_, g)| g.iter())
        .filter_map(|(_, _, v)| summarize(v))
        .flat_map(|s| [s.ci_lo.abs(), s.ci_hi.abs(), s.max.abs(), s.min.abs()])
        .fold(0.0, f64::max);
    let (div, unit) = display_scale(&info.unit, magnitude);
    let floor = interval_floor(&raw, choice.log_y, div);
    let (panels, clipped) = cells(raw, choice.stat, div, floor);
    let series_labels = match axes.series {
        Some(sv) => axes.s_values.iter().map(|v| label(sv, v)).collect(),
        None => vec![String::new()],
    };
    // Titles are the names as the experiment wrote them, with the display unit.
    Ok(Some(Figure {
        choice: choice.clone(),
        x_title: axes.x.map(|v| v.name.clone()).unwrap_or_default(),
        y_title: if unit.is_empty() {
            choice.result.clone()
        } else {
            format!("{} ({unit})", choice.result)
        },
        y_unit: unit,
        y_divisor: div,
        x_ticks: axes.ticks(choice.log_x, records.len()),
        series_title: axes.series.map(|v| v.name.clone()),
        series_labels,
        caption: caption(choice, &panels, clipped, floor)
            + samples_note(set, &records, &choice.result)
            + &binned_note(choice, &panels),
        panels,
        provenance: set.provenance(),
        whiskers: false,
        probe_marks: Vec::new(),
        bound: None,
    }))
}

/// The most points a line graph draws per series and panel: beyond, consecutive points are
/// drawn in bins (`binned`), so that a graph of 10^5 points stays a line, not a filled block,
/// and the report embeds a bounded amount of data per graph.
pub const MAX_LINE_POINTS: usize = 500;

/// The cells of one series of a line graph as drawn: each cell when they are at most `max`,
/// else `max` bins of consecutive cells (in x order), each at the mean x of its cells with the
/// mean of their centres, its interval spanning the lowest to the highest of their intervals
/// and centres, and `n` the runs it covers.
pub fn binned(cells: &[&Cell], max: usize) -> Vec<Cell> {
    if cells.len() <= max || max == 0 {
        return cells.iter().map(|c| (*c).clone()).collect();
    }
    let mut sorted: Vec<&Cell> = cells.to_vec();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    let per = sorted.len().div_ceil(max);
    sorted
        .chunks(per)
        .map(|bin| {
            let k = bin.len() as f64;
            let x = bin.iter().map(|c| c.x).sum::<f64>() / k;
            let center = bin.iter().map(|c| c.center).sum::<f64>() / k;
            let lo = bin
                .iter()
                .map(|c| c.lo.min(c.center))
                .fold(f64::INFINITY, f64::min);
            let hi = bin
                .iter()
                .map(|c| c.hi.max(c.center))
                .fold(f64::NEG_INFINITY, f64::max);
            let n = bin.iter().map(|c| c.summary.n).sum();
            Cell {
                series: bin[0].series,
                x,
                values: Vec::new(),
                summary: Summary {
                    n,
                    mean: center,
                    median: center,
                    stddev: f64::NAN,
                    min: lo,
                    max: hi,
                    q1: lo,
                    q3: hi,
                    ci_lo: lo,
                    ci_hi: hi,
                },
                center,
                lo,
                hi,
            }
        })
        .collect()
}

/// `; 100000 points per line, in 500 bins: ...` when a line graph has more points per
/// series than it draws; empty otherwise.
fn binned_note(choice: &Choice, panels: &[Panel]) -> String {
    if choice.kind != Kind::Line {
        return String::new();
    }
    let mut most = 0;
    for p in panels {
        let mut per: HashMap<usize, usize> = HashMap::new();
        for c in &p.cells {
            *per.entry(c.series).or_default() += 1;
        }
        most = most.max(per.into_values().max().unwrap_or(0));
    }
    if most <= MAX_LINE_POINTS {
        return String::new();
    }
    format!("; {most} points per line, in {MAX_LINE_POINTS} bins: the line is each bin's mean, the band its range")
}

/// The smallest positive value of the groups (the floor of a logarithmic axis).
fn smallest_positive(raw: &[RawPanel]) -> f64 {
    raw.iter()
        .flat_map(|(_, g)| g.iter().flat_map(|(_, _, v)| v.iter().copied()))
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
}

/// `; each run counts as the mean of its samples` when the result is a series (a value per
/// sample, as `regex_all` or a CSV column give): the graph summarises runs, not samples.
fn samples_note<S: GraphSource + ?Sized>(set: &S, runs: &[usize], result: &str) -> &'static str {
    let series = runs.iter().any(|&p| set.is_list(p, result));
    if series {
        "; each run counts as the mean of its samples"
    } else {
        ""
    }
}

/// `mean and 95% confidence interval of 3 runs per point; intervals clipped at 0`.
fn caption(choice: &Choice, panels: &[Panel], clipped: bool, floor: Option<f64>) -> String {
    let ns: Vec<usize> = panels
        .iter()
        .flat_map(|p| p.cells.iter().map(|c| c.summary.n))
        .collect();
    let (lo, hi) = (
        ns.iter().copied().min().unwrap_or(0),
        ns.iter().copied().max().unwrap_or(0),
    );
    let runs = if lo == hi {
        crate::words::count(lo, "run")
    } else {
        format!("{lo}-{hi} runs")
    };
    let mut text = match choice.kind {
        Kind::Box => format!("distribution of {runs}: median, quartiles, whiskers at 1.5 IQR"),
        _ => format!("{} of {runs} per point", choice.stat.describe()),
    };
    if clipped {
        match floor {
            Some(f) if f > 0.0 => text.push_str("; intervals cut at the smallest value"),
            _ => text.push_str("; intervals clipped at 0 (never negative)"),
        }
    }
    if choice.log_y {
        text.push_str("; log y axis");
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn crowded_values_get_chosen_ticks_never_one_per_probe() {
        // The probes of a search crowd around its limit.
        let probes = [100.0, 31623.0, 32488.0, 33376.0, 35227.0, 100000.0];
        assert!(!spread(&probes, true));
        assert!(!spread(&probes, false));
        assert_eq!(
            chosen_ticks(100.0, 100000.0, true),
            vec![100.0, 1000.0, 10000.0, 100000.0]
        );
        assert_eq!(
            chosen_ticks(300.0, 2000.0, true),
            vec![500.0, 1000.0, 2000.0]
        );
        assert!(spread(&[1.0, 2.0, 4.0, 8.0], false));
        assert!(spread(&[1.0, 2.0, 4.0, 8.0], true));
    }

    #[test]
    fn geometric_detection() {
        assert!(grows_geometrically(&[1.0, 2.0, 4.0, 8.0]));
        assert!(!grows_geometrically(&[1.0, 2.0, 3.0, 4.0]));
        assert!(!grows_geometrically(&[1.0, 2.0]));
        assert!(!grows_geometrically(&[0.0, 2.0, 4.0]));
    }

    fn cell(x: f64, center: f64) -> Cell {
        let summary = summarize(&[center]).unwrap();
        Cell {
            series: 0,
            x,
            values: vec![center],
            summary,
            center,
            lo: center - 1.0,
            hi: center + 1.0,
        }
    }

    #[test]
    fn dense_lines_are_drawn_in_bins_of_consecutive_points() {
        let cells: Vec<Cell> = (0..1000).rev().map(|i| cell(i as f64, i as f64)).collect();
        let refs: Vec<&Cell> = cells.iter().collect();
        // At most `max` cells: each as it is.
        let same = binned(&refs[..10], 10);
        let xs = |c: &[Cell]| {
            c.iter()
                .map(|c| (c.x, c.center, c.lo, c.hi))
                .collect::<Vec<_>>()
        };
        assert_eq!(xs(&same), xs(&cells[..10]));
        let bins = binned(&refs, 100);
        assert_eq!(bins.len(), 100);
        // In x order, 10 cells a bin: the mean x and centre, the range of the intervals.
        assert_eq!(bins[0].x, 4.5);
        assert_eq!(bins[0].center, 4.5);
        assert_eq!((bins[0].lo, bins[0].hi), (-1.0, 10.0));
        assert_eq!(bins[0].summary.n, 10);
        assert_eq!(bins[99].x, 994.5);
        assert_eq!(bins.iter().map(|b| b.summary.n).sum::<usize>(), 1000);
        // An uneven count leaves a shorter last bin, never more than `max` bins.
        assert_eq!(binned(&refs[..999], 100).len(), 100);
    }

    /// A swept variable's info, labels its values' text.
    pub(crate) fn var(name: &str, values: Vec<Value>) -> VariableInfo {
        VariableInfo {
            name: name.into(),
            labels: values.iter().map(value_text).collect(),
            numeric: values.iter().all(Value::is_number),
            values: values.into(),
            geometric: false,
            constant: false,
            when: None,
            index: Default::default(),
        }
    }

    /// A set of two series (one conditional: null where its `when` is false), three x values,
    /// three repetitions, a failed run, a run without one of the results and a list result.
    fn mixed_set(dir: &std::path::Path) -> ResultSet {
        use serde_json::json;
        let mut m = crate::store::writer::tests::manifest("mixed");
        m.variables
            .push(var("n", vec![json!(1), json!(2), json!(4)]));
        m.variables.push(var("mode", vec![json!("a"), json!("b")]));
        m.variables.push(var("w", vec![json!(8), json!(16)]));
        for (name, unit) in [("lat", "s"), ("rate", "bit/s"), ("samples", "ms")] {
            m.results.push(crate::model::ResultInfo {
                name: name.into(),
                unit: unit.into(),
                better: Default::default(),
                series: name == "samples",
            });
        }
        let mut records = Vec::new();
        for (p, (n, mode)) in [1, 2, 4]
            .iter()
            .flat_map(|n| ["a", "b"].map(|m| (*n, m)))
            .enumerate()
        {
            for rep in 0..3 {
                let i = records.len();
                let w = if mode == "a" {
                    json!(8 + 8 * (rep % 2))
                } else {
                    json!(null)
                };
                let x = (n * 10 + rep) as f64 + i as f64 / 7.0;
                let mut results = json!({"lat": x / 1000.0, "samples": [x, x + 1.5, "x"]});
                if i % 5 != 0 {
                    results["rate"] = json!(x * 1e9);
                }
                let mut r = crate::store::writer::tests::ok_record(
                    i,
                    json!({"n": n, "mode": mode, "w": w}),
                    rep,
                    results,
                );
                r.point_index = p;
                if i == 7 {
                    r.status = crate::store::record::RunStatus::Failed;
                }
                records.push(r);
            }
        }
        ResultSet {
            dir: dir.to_path_buf(),
            manifest: m,
            records,
        }
    }

    #[test]
    fn the_graphs_of_the_compact_form_are_those_of_the_records() {
        use crate::report::plot::output::figures;
        let dir = tempfile::tempdir().unwrap();
        let set = mixed_set(dir.path());
        std::fs::write(dir.path().join("experiment.yaml"), "name: mixed\n").unwrap();
        // The compact form as `mpf plot` and `mpf report` read it: from the journal.
        let mut journal = String::new();
        for r in &set.records {
            journal.push_str(&serde_json::to_string(r).unwrap());
            journal.push('\n');
        }
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, journal).unwrap();
        let compact = CompactSet {
            dir: set.dir.clone(),
            manifest: set.manifest.clone(),
            runs: crate::store::compact::Runs::load(&path).unwrap(),
        };
        let hinted = PlotSpec {
            x: Some("mode".into()),
            series: Some("w".into()),
            stat: Some(Stat::Median),
            y_scale: Some(Scale::Log),
            durations: Some(true),
            ..PlotSpec::default()
        };
        // As JSON: a cell of one run has a NaN deviation, never equal to itself.
        let json = |figs: Vec<Figure>| serde_json::to_string(&figs).unwrap();
        for hints in [PlotSpec::default(), hinted] {
            let full = figures(&set, Some(&hints)).unwrap();
            assert_eq!(full.len(), 3, "one graph per result");
            assert_eq!(json(figures(&compact, Some(&hints)).unwrap()), json(full));
        }
        let hints = PlotSpec::default();
        let full = choose(&set, "lat", &hints).unwrap();
        assert_eq!(choose(&compact, "lat", &hints).unwrap(), full);
        assert_eq!(
            (full.kind, full.x.as_deref(), full.series.as_deref()),
            (Kind::Line, Some("n"), Some("mode"))
        );
        assert_eq!(full.facets, ["w"]);
        assert_eq!(main_result(&compact, &hints).unwrap(), "lat");
        assert_eq!(numeric_results(&compact), numeric_results(&set));
        // The failed run is in neither; the list counts by the mean of its numbers.
        let fig = build(&compact, &choose(&compact, "samples", &hints).unwrap())
            .unwrap()
            .unwrap();
        let runs: usize = fig
            .panels
            .iter()
            .flat_map(|p| &p.cells)
            .map(|c| c.summary.n)
            .sum();
        assert_eq!(runs, 17);
        assert!(fig
            .caption
            .contains("each run counts as the mean of its samples"));
    }

    #[test]
    fn runs_are_grouped_by_panel_series_and_x_in_one_pass() {
        use serde_json::json;
        let mut m = crate::store::writer::tests::manifest("t");
        let n = 30_000;
        m.variables
            .push(var("x", (0..n).map(|i| json!(i)).collect()));
        m.variables.push(var("s", vec![json!("a"), json!("b")]));
        m.variables.push(var("f", vec![json!(1), json!(2)]));
        let mut records = Vec::new();
        // Every (x, s, f) twice, the last x first: grouping must not depend on journal order.
        for rep in 0..2 {
            for x in (0..n).rev() {
                let mut r = crate::store::writer::tests::record(records.len());
                r.repetition = rep;
                r.point.insert("x".into(), json!(x));
                r.point.insert("s".into(), json!(["a", "b"][x % 2]));
                r.point.insert("f".into(), json!(1 + x % 3 / 2));
                r.results.insert("lat".into(), json!(x as f64 + rep as f64));
                records.push(r);
            }
        }
        let set = ResultSet {
            dir: "/nonexistent".into(),
            manifest: m,
            records,
        };
        let choice = Choice {
            result: "lat".into(),
            kind: Kind::Line,
            x: Some("x".into()),
            series: Some("s".into()),
            facets: vec!["f".into()],
            log_x: false,
            log_y: false,
            stat: Stat::Mean,
        };
        let mut axes = Axes::new(&set, &choice).unwrap();
        let refs: Vec<usize> = (0..set.records.len()).collect();
        let start = std::time::Instant::now();
        axes.observe(&refs);
        let panels = axes.group(&refs, "lat");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        assert_eq!(axes.s_values, vec![json!("a"), json!("b")]);
        assert_eq!(axes.x_values.len(), n);
        assert_eq!(panels.len(), 2);
        assert_eq!(panels[0].0, "f: 1");
        let cells: usize = panels.iter().map(|(_, g)| g.len()).sum();
        assert_eq!(cells, n);
        for (_, groups) in &panels {
            for (s, x, values) in groups {
                assert_eq!(*s, *x as usize % 2);
                assert_eq!(values, &vec![*x, *x + 1.0]);
            }
        }
    }
}
