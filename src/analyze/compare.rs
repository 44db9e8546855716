//! Comparing two result sets: matching points, testing every numeric result, correcting for
//! multiple comparisons and deciding a verdict per point and result. See docs/compare.md.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::analyze::stats::{self, MwuMethod, RatioCi, Summary};
use crate::store::compact::Runs;
use crate::store::record::{Better, Manifest, ResultInfo, RunStatus, VariableInfo};

/// Which significance test decides whether a change is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// Welch's unequal-variances t-test on the means.
    #[value(help = "Welch's unequal-variances t-test")]
    Welch,
    /// Mann–Whitney U rank test.
    #[value(help = "Mann-Whitney U rank test")]
    Mwu,
}

impl TestKind {
    pub fn describe(self) -> &'static str {
        match self {
            TestKind::Welch => "Welch's t-test",
            TestKind::Mwu => "Mann-Whitney U test",
        }
    }
}

/// What counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Relative change (0.05 = 5%) that a change must exceed, in the worse direction, to be a
    /// regression (in the better direction, an improvement).
    pub tolerance: f64,
    /// Family-wise significance level, after Holm's correction across all tested pairs.
    pub alpha: f64,
    pub test: TestKind,
    /// Also compare the steps' wall times (`<step>.duration`); left out by default, since
    /// they double the number of tests that Holm's correction pays for.
    pub durations: bool,
    /// With reference sets: how many sample standard deviations of the per-set means a change
    /// must exceed (SPEC §12.3).
    pub reference_sigmas: f64,
}

impl Settings {
    /// Confidence level of the intervals on the relative change: 1 − alpha.
    pub fn confidence(&self) -> f64 {
        1.0 - self.alpha
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tolerance: 0.05,
            alpha: 0.05,
            test: TestKind::Welch,
            durations: false,
            reference_sigmas: 3.0,
        }
    }
}

/// One side of a comparison: a result set's manifest and its runs (in compact form: a
/// comparison of two sets of 10^5 points holds neither's records, SPEC §15).
#[derive(Debug, Clone, Copy)]
pub struct SetData<'a> {
    pub manifest: &'a Manifest,
    pub runs: &'a Runs,
    /// The set's stored experiment file (for the environment's diff; empty when unknown).
    pub experiment: &'a str,
}

/// Why two result sets cannot be compared; each reason is a full sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incompatible(pub Vec<String>);

impl fmt::Display for Incompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot compare the result sets: {}", self.0.join("; "))
    }
}

impl std::error::Error for Incompatible {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// A side has no successful run with this result at this point.
    NoData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::NoData => "no data",
        }
    }
}

/// What the verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Basis {
    /// Significance test (after correction) and tolerance.
    Test,
    /// A side has a single run: no test is possible, the tolerance alone decides.
    ToleranceOnly,
    /// Nothing to compare.
    None,
}

/// The between-set noise of one point and result, from the per-set means of BASE and the
/// reference sets (SPEC §12.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct ReferenceBound {
    /// How many sets (BASE and references) have a mean at this point.
    pub sets: usize,
    /// Sample standard deviation of those means, in the result's unit.
    pub stddev: f64,
    /// `reference_sigmas` × `stddev`: what |mean(NEW) − mean(BASE)| must exceed.
    pub bound: f64,
    /// The change exceeds the bound.
    pub exceeded: bool,
}

/// The bound that decided a verdict: the one a change failed to pass (unchanged), or the
/// larger of the two thresholds it passed (regression, improvement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Bound {
    /// The significance test (after correction).
    Test,
    /// `--tolerance`.
    Tolerance,
    /// The between-set noise of the reference sets.
    References,
}

/// The significance test of one point and result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct TestOutcome {
    pub kind: TestKind,
    /// Welch: t of mean(new) − mean(base); Mann–Whitney: U of the new sample.
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom (Welch only).
    pub df: Option<f64>,
    /// exact or asymptotic (Mann–Whitney only).
    pub method: Option<MwuMethod>,
    pub p: f64,
    /// Holm-adjusted p-value across every tested point and result.
    pub p_adjusted: f64,
}

/// The comparison of one result at one point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The point: its place in [`Comparison::points`] ([`Comparison::point_of`]). An entry
    /// holds numbers only: a comparison of 10^5 points has 10^5 entries per result (SPEC §15).
    pub point: u32,
    /// The result: its place in [`Comparison::results`] ([`Comparison::result_of`]).
    pub result: u32,
    pub base: Option<Summary>,
    pub new: Option<Summary>,
    /// (mean(new) − mean(base)) / |mean(base)|; ±inf when the base mean is 0 and the new is not.
    pub change: Option<f64>,
    /// Confidence interval of `change` at `Settings::confidence`; (−inf, +inf) when unbounded
    /// (the base mean is not significantly different from zero).
    pub change_ci: Option<(f64, f64)>,
    pub test: Option<TestOutcome>,
    pub basis: Basis,
    /// Significant after correction; `None` when not tested.
    pub significant: Option<bool>,
    /// The change exceeds the tolerance (in either direction).
    pub beyond_tolerance: bool,
    /// Between-set noise, when reference sets were given and at least two sets have a mean
    /// at this point.
    pub reference: Option<ReferenceBound>,
    /// Which bound decided the verdict; `None` without data.
    pub decided_by: Option<Bound>,
    pub verdict: Verdict,
}

/// Tally of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub regressions: usize,
    pub improvements: usize,
    pub unchanged: usize,
    pub no_data: usize,
}

/// The whole comparison of two result sets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub settings: Settings,
    /// Variables with their labels (BASE's, extended by NEW's values), for display.
    pub variables: Vec<VariableInfo>,
    /// One entry per matched point and compared result, in point order then result order.
    pub entries: Vec<Entry>,
    /// The matched points, in point order: per point its (variable, value) pairs in the
    /// point's own order, the variable as its place in `point_names` ([`Comparison::point_of`]
    /// makes the map the records hold).
    pub points: Vec<Box<[(u32, Value)]>>,
    pub point_names: Vec<String>,
    /// The compared results (a series result is compared by the mean of each run's values).
    pub results: Vec<ResultInfo>,
    /// Points with runs in BASE only / NEW only.
    pub base_only: Vec<Map<String, Value>>,
    pub new_only: Vec<Map<String, Value>>,
    /// Size of the multiple-comparison family (entries with a significance test).
    pub tested: usize,
    /// Remarks every output shows (series handling, results left out).
    pub notes: Vec<String>,
    /// What differs between the two sets' environments (SPEC §12.2).
    pub environment: crate::analyze::environment::Environment,
    /// Ids of the reference sets (SPEC §12.3); empty without `--references`.
    pub references: Vec<String>,
}

impl Comparison {
    /// The point of an entry: variable values as stored (null where a `when` is false).
    pub(crate) fn point_of(&self, e: &Entry) -> Map<String, Value> {
        self.points
            .get(e.point as usize)
            .map_or(&[][..], |p| &p[..])
            .iter()
            .map(|(n, v)| (self.point_names[*n as usize].clone(), v.clone()))
            .collect()
    }

    /// The result of an entry: its name, unit, direction and whether it is a series.
    pub(crate) fn result_of(&self, e: &Entry) -> &ResultInfo {
        &self.results[e.result as usize]
    }

    pub(crate) fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            match e.verdict {
                Verdict::Regression => c.regressions += 1,
                Verdict::Improvement => c.improvements += 1,
                Verdict::Unchanged => c.unchanged += 1,
                Verdict::NoData => c.no_data += 1,
            }
        }
        c
    }

    pub(crate) fn has_regression(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.verdict == Verdict::Regression)
    }

    /// Entries in display order: regressions first, then improvements, unchanged, no data;
    /// point and result order within each group.
    pub(crate) fn by_severity(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.iter().collect();
        v.sort_by_key(|e| e.verdict);
        v
    }
}

/// A point's identity for matching: variable values by name, numbers compared as numbers
/// (so that `1` and `1.0` match), everything else by JSON equality.
pub(crate) fn point_key(point: &Map<String, Value>, names: &BTreeSet<String>) -> String {
    let canon = |v: &Value| match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) => format!("n:{f:?}"),
            None => format!("n:{n}"),
        },
        other => format!("j:{other}"),
    };
    names
        .iter()
        .map(|name| canon(point.get(name).unwrap_or(&Value::Null)))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// True when two variable values are the same as `point_key` matches them (`1` is `1.0`).
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// Points of a set in plan order (by `point_index`, then first appearance), with their runs:
/// a group per distinct point as matching sees it (`point_key`), numbered in that order. Its
/// runs' positions are held in one vector (4 bytes a run), not a vector per point.
pub(crate) struct Points<'a> {
    pub runs: &'a Runs,
    /// The group of each point key.
    by_key: HashMap<String, u32>,
    /// Per group, one of its points among `runs`' points.
    point: Vec<u32>,
    /// Per group, where its runs start in `members`; the next group's start ends them.
    starts: Vec<u32>,
    /// The positions of the runs, group after group, each group's in plan order.
    members: Vec<u32>,
}

/// A position in a vector as 32 bits (a reader holding 2^32 runs has run out of memory long
/// before).
fn at(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Points<'_> {
    /// How many groups (distinct points).
    pub(crate) fn len(&self) -> usize {
        self.point.len()
    }

    /// The group of the point `key`.
    pub(crate) fn group(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Per group of `self`, the group of `other` with the same point, if any.
    pub(crate) fn matches(&self, other: &Points) -> Vec<Option<u32>> {
        let mut to = vec![None; self.len()];
        for (key, &g) in &self.by_key {
            to[g as usize] = other.group(key);
        }
        to
    }

    /// The point keys, group by group (in plan order).
    pub(crate) fn keys(&self) -> Vec<&str> {
        let mut keys = vec![""; self.len()];
        for (key, &g) in &self.by_key {
            keys[g as usize] = key;
        }
        keys
    }

    /// [`Points::values`] of the point `key` and the result named `result`.
    pub(crate) fn values_of(&self, key: &str, result: &str, out: &mut Vec<f64>) {
        if let Some(g) = self.group(key) {
            self.values(g, self.runs.column(result), out);
        }
    }

    /// The point of a group, as (variable name, value) pairs in its own order.
    pub(crate) fn point_values(&self, group: u32) -> impl Iterator<Item = (&str, &Value)> + '_ {
        let point = self.point.get(group as usize).copied().unwrap_or(u32::MAX);
        self.runs.point(point)
    }

    /// The point of a group, as the records hold it.
    pub(crate) fn point(&self, group: u32) -> Map<String, Value> {
        self.point
            .get(group as usize)
            .map(|&p| self.runs.point_map(p))
            .unwrap_or_default()
    }

    /// The values of the result in `column` in the ok runs of a group (see [`Runs::value`]).
    pub(crate) fn values(&self, group: u32, column: Option<usize>, out: &mut Vec<f64>) {
        let g = group as usize;
        let (Some(c), Some(&start), Some(&end)) =
            (column, self.starts.get(g), self.starts.get(g + 1))
        else {
            return;
        };
        let all = self.runs.runs();
        out.extend(
            self.members[start as usize..end as usize]
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| all[p].status == RunStatus::Ok)
                .filter_map(|p| self.runs.value(c, p)),
        );
    }
}

pub(crate) fn group_points<'a>(runs: &'a Runs, names: &BTreeSet<String>) -> Points<'a> {
    let all = runs.runs();
    let mut sorted: Vec<u32> = (0..at(all.len())).collect();
    sorted.sort_by_key(|&p| (all[p as usize].point_index, all[p as usize].index));
    let mut by_key: HashMap<String, u32> = HashMap::new();
    let mut point: Vec<u32> = Vec::new();
    // A point's key once per distinct point, not once per run.
    let mut group_of_point: Vec<u32> = vec![u32::MAX; runs.point_count()];
    let group_of_run: Vec<u32> = sorted
        .iter()
        .map(|&p| {
            let pt = all[p as usize].point;
            match group_of_point.get(pt as usize) {
                Some(&g) if g != u32::MAX => g,
                _ => {
                    let next = at(point.len());
                    let g = *by_key
                        .entry(point_key_of(runs, pt, names))
                        .or_insert_with(|| {
                            point.push(pt);
                            next
                        });
                    if let Some(slot) = group_of_point.get_mut(pt as usize) {
                        *slot = g;
                    }
                    g
                }
            }
        })
        .collect();
    drop(group_of_point);
    // The runs by group, each group's in the sorted order.
    let mut starts = vec![0u32; point.len() + 1];
    for &g in &group_of_run {
        starts[g as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut members = vec![0u32; sorted.len()];
    for (&p, &g) in sorted.iter().zip(&group_of_run) {
        members[next[g as usize] as usize] = p;
        next[g as usize] += 1;
    }
    by_key.shrink_to_fit();
    point.shrink_to_fit();
    Points {
        runs,
        by_key,
        point,
        starts,
        members,
    }
}

/// `point_key` of one of `runs`' points.
fn point_key_of(runs: &Runs, point: u32, names: &BTreeSet<String>) -> String {
    point_key(&runs.point_map(point), names)
}

fn names_list(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describes how two name sets differ, or `None` when they are equal; `sides` names the two
/// sets in the message.
fn set_difference(
    what: &str,
    base: &BTreeSet<String>,
    new: &BTreeSet<String>,
    sides: (&str, &str),
) -> Option<String> {
    let only_base: Vec<&String> = base.difference(new).collect();
    let only_new: Vec<&String> = new.difference(base).collect();
    if only_base.is_empty() && only_new.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !only_base.is_empty() {
        parts.push(format!("only {} has {}", sides.0, names_list(&only_base)));
    }
    if !only_new.is_empty() {
        parts.push(format!("only {} has {}", sides.1, names_list(&only_new)));
    }
    Some(format!("the {what} differ: {}", parts.join(", ")))
}

/// Results declared in the manifest, then numeric results found only in runs (`mpf-result`
/// lines), which are higher-is-better and unitless.
fn undeclared_results(set: &SetData) -> BTreeSet<String> {
    let declared: BTreeSet<&str> = set
        .manifest
        .results
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let runs = set.runs;
    runs.result_names()
        .iter()
        .enumerate()
        .filter(|(_, name)| !declared.contains(name.as_str()))
        .filter(|(c, _)| runs.ok().any(|p| runs.has(*c, p)))
        .map(|(_, name)| name.clone())
        .collect()
}

/// Checks that the sets explore the same variables and declare the same results; `sides`
/// names the two sets in the reasons.
pub(crate) fn check_compatible(
    base: &SetData,
    new: &SetData,
    sides: (&str, &str),
) -> Result<(), Incompatible> {
    let (b_side, n_side) = sides;
    let mut reasons = Vec::new();
    let names =
        |m: &Manifest| -> BTreeSet<String> { m.variables.iter().map(|v| v.name.clone()).collect() };
    if let Some(d) = set_difference(
        "variables",
        &names(base.manifest),
        &names(new.manifest),
        sides,
    ) {
        reasons.push(d);
    }
    let results =
        |m: &Manifest| -> BTreeSet<String> { m.results.iter().map(|r| r.name.clone()).collect() };
    if let Some(d) = set_difference(
        "results",
        &results(base.manifest),
        &results(new.manifest),
        sides,
    ) {
        reasons.push(d);
    }
    for b in &base.manifest.results {
        let Some(n) = new.manifest.results.iter().find(|r| r.name == b.name) else {
            continue;
        };
        if b.unit != n.unit {
            reasons.push(format!(
                "result '{}' is in '{}' in {b_side} but in '{}' in {n_side}",
                b.name, b.unit, n.unit
            ));
        }
        if b.better != n.better {
            let word = |x: Better| match x {
                Better::Higher => "higher",
                Better::Lower => "lower",
            };
            reasons.push(format!(
                "result '{}' is better {} in {b_side} but better {} in {n_side}",
                b.name,
                word(b.better),
                word(n.better)
            ));
        }
        if b.series != n.series {
            reasons.push(format!(
                "result '{}' is a series in {} only",
                b.name,
                if b.series { b_side } else { n_side }
            ));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Incompatible(reasons))
    }
}

/// Variables for display: BASE's, with values (and labels) that only NEW has appended.
fn merged_variables(base: &Manifest, new: &Manifest) -> Vec<VariableInfo> {
    base.variables
        .iter()
        .map(|b| {
            let mut v = b.clone();
            if let Some(n) = new.variables.iter().find(|n| n.name == b.name) {
                // Value by value (`each`), not as a slice of JSON values: a sweep's values are
                // held compactly (10^5 of them are 9 MB as JSON).
                let mut known: std::collections::HashSet<String> =
                    v.values.each().map(|x| x.to_string()).collect();
                for value in n.values.each() {
                    if known.insert(value.to_string()) {
                        v.labels.push(n.label_of(&value));
                        v.values.push(value);
                    }
                }
                v.constant = v.constant && n.constant && v.values.len() <= 1;
            }
            v
        })
        .collect()
}

/// Compares NEW against BASE. Fails only when the sets cannot be compared at all: different
/// variables or results, or no point in common.
#[cfg(test)]
pub(crate) fn compare(
    base: SetData,
    new: SetData,
    settings: Settings,
) -> Result<Comparison, Incompatible> {
    compare_with_references(base, new, &[], settings)
}

/// The results compared, in order: BASE's declared results, then those the runs of both sets
/// report without declaring them; step durations only with `settings.durations`. What is left
/// out is told in `notes`. (`mpf compare --html` draws these before comparing, SPEC §15.)
pub(crate) fn compared_results(
    base: &SetData,
    new: &SetData,
    settings: Settings,
    notes: &mut Vec<String>,
) -> Vec<ResultInfo> {
    let mut results: Vec<ResultInfo> = base.manifest.results.clone();
    let (ub, un) = (undeclared_results(base), undeclared_results(new));
    for name in ub.intersection(&un) {
        results.push(ResultInfo {
            name: name.clone(),
            unit: String::new(),
            better: Better::Higher,
            series: false,
        });
    }
    for (name, side) in ub
        .difference(&un)
        .map(|n| (n, "BASE"))
        .chain(un.difference(&ub).map(|n| (n, "NEW")))
    {
        notes.push(format!(
            "result '{name}' appears only in the runs of {side}; it is not compared"
        ));
    }
    if !settings.durations {
        let before = results.len();
        results.retain(|r| !crate::model::is_duration(&r.name));
        if results.len() < before {
            notes.push("step durations are left out (--durations compares them too)".to_string());
        }
    }
    results
}

/// `compare`, where a change must also exceed `settings.reference_sigmas` standard deviations
/// of the per-set means of BASE and `references` (SPEC §12.3). Every reference must be
/// compatible with BASE.
pub(crate) fn compare_with_references(
    base: SetData,
    new: SetData,
    references: &[SetData],
    settings: Settings,
) -> Result<Comparison, Incompatible> {
    check_compatible(&base, &new, ("BASE", "NEW"))?;
    for r in references {
        let side = format!("reference {}", r.manifest.id);
        check_compatible(&base, r, ("BASE", &side))?;
    }
    let names: BTreeSet<String> = base
        .manifest
        .variables
        .iter()
        .map(|v| v.name.clone())
        .collect();
    let base_points = group_points(base.runs, &names);
    let new_points = group_points(new.runs, &names);
    let to_new = base_points.matches(&new_points);
    let mut in_base = vec![false; new_points.len()];
    for g in to_new.iter().flatten() {
        in_base[*g as usize] = true;
    }
    // Groups are numbered in plan order.
    let matched: Vec<(u32, u32)> = (0..at(base_points.len()))
        .filter_map(|g| Some((g, to_new[g as usize]?)))
        .collect();
    let base_only: Vec<Map<String, Value>> = (0..at(base_points.len()))
        .filter(|&g| to_new[g as usize].is_none())
        .map(|g| base_points.point(g))
        .collect();
    let new_only: Vec<Map<String, Value>> = (0..at(new_points.len()))
        .filter(|&g| !in_base[g as usize])
        .map(|g| new_points.point(g))
        .collect();
    drop((to_new, in_base));
    if matched.is_empty() {
        let why = match (base.runs.is_empty(), new.runs.is_empty()) {
            (true, true) => "neither set has any run".to_string(),
            (true, false) => "BASE has no run".to_string(),
            (false, true) => "NEW has no run".to_string(),
            _ => format!(
                "no point in common ({} points in BASE, {} in NEW; the variables take different values)",
                base_points.len(),
                new_points.len()
            ),
        };
        return Err(Incompatible(vec![why]));
    }

    let mut notes = Vec::new();
    for (side, m) in [("BASE", base.manifest), ("NEW", new.manifest)] {
        if let Some(r) = m.requirements.as_ref().filter(|r| !r.met) {
            let what: Vec<String> = r
                .unmet
                .iter()
                .map(|u| {
                    format!(
                        "{} {}={} (required {})",
                        u.machine, u.setting, u.found, u.required
                    )
                })
                .collect();
            notes.push(format!(
                "{side} ran outside its requirements (--no-require): {}",
                what.join(", ")
            ));
        }
    }
    let results = compared_results(&base, &new, settings, &mut notes);
    let series: Vec<&str> = results
        .iter()
        .filter(|r| r.series)
        .map(|r| r.name.as_str())
        .collect();
    if !series.is_empty() {
        notes.push(format!(
            "series results ({}) are compared by the mean of each run's values",
            series.join(", ")
        ));
    }

    let reference_points: Vec<(Points, Vec<Option<u32>>)> = references
        .iter()
        .map(|r| {
            let points = group_points(r.runs, &names);
            let to = base_points.matches(&points);
            (points, to)
        })
        .collect();
    let column = |points: &Points, r: &ResultInfo| points.runs.column(&r.name);
    let columns: Vec<[Option<usize>; 2]> = results
        .iter()
        .map(|r| [column(&base_points, r), column(&new_points, r)])
        .collect();
    let mut entries = Vec::with_capacity(matched.len().saturating_mul(results.len()));
    let mut points = Vec::with_capacity(matched.len());
    let mut point_names: Vec<String> = Vec::new();
    let (mut b, mut n, mut xs) = (Vec::new(), Vec::new(), Vec::new());
    for &(bg, ng) in &matched {
        let point = at(points.len());
        let values = base_points.point_values(bg).map(|(name, v)| {
            let id = match point_names.iter().position(|n| n == name) {
                Some(id) => id,
                None => {
                    point_names.push(name.to_string());
                    point_names.len() - 1
                }
            };
            (at(id), v.clone())
        });
        points.push(values.collect());
        for (i, r) in results.iter().enumerate() {
            b.clear();
            n.clear();
            base_points.values(bg, columns[i][0], &mut b);
            new_points.values(ng, columns[i][1], &mut n);
            let mut entry = measure(point, at(i), &b, &n, settings);
            if !references.is_empty() {
                let reference_means = reference_points.iter().filter_map(|(p, to)| {
                    let g = to[bg as usize]?;
                    xs.clear();
                    p.values(g, column(p, r), &mut xs);
                    stats::summarize(&xs).map(|s| s.mean)
                });
                let means: Vec<f64> = entry
                    .base
                    .map(|s| s.mean)
                    .into_iter()
                    .chain(reference_means)
                    .collect();
                entry.reference = reference_bound(&entry, &means, settings.reference_sigmas);
            }
            entries.push(entry);
        }
    }
    drop((base_points, new_points, reference_points, matched));

    // Holm's correction over every entry that has a test.
    let ps: Vec<f64> = entries
        .iter()
        .map(|e| e.test.map_or(f64::NAN, |t| t.p))
        .collect();
    let adjusted = stats::holm(&ps);
    let tested = ps.iter().filter(|p| !p.is_nan()).count();
    for (e, adj) in entries.iter_mut().zip(adjusted) {
        let better = results[e.result as usize].better;
        decide(e, better, adj, settings);
    }

    Ok(Comparison {
        settings,
        variables: merged_variables(base.manifest, new.manifest),
        entries,
        points,
        point_names,
        results,
        base_only,
        new_only,
        tested,
        notes,
        environment: crate::analyze::environment::diff(
            base.manifest,
            base.experiment,
            new.manifest,
            new.experiment,
        ),
        references: references.iter().map(|r| r.manifest.id.clone()).collect(),
    })
}

/// The between-set noise of an entry from the per-set means (BASE's and the references'):
/// `None` with fewer than two means, as one mean has no spread.
fn reference_bound(e: &Entry, means: &[f64], sigmas: f64) -> Option<ReferenceBound> {
    let stddev = stats::summarize(means).filter(|s| s.n >= 2)?.stddev;
    let bound = sigmas * stddev;
    let exceeded = match (e.base, e.new) {
        (Some(b), Some(n)) => (n.mean - b.mean).abs() > bound,
        _ => false,
    };
    Some(ReferenceBound {
        sets: means.len(),
        stddev,
        bound,
        exceeded,
    })
}

/// Statistics of one point and result, before the correction and the verdict.
fn measure(point: u32, result: u32, base: &[f64], new: &[f64], settings: Settings) -> Entry {
    let (bs, ns) = (stats::summarize(base), stats::summarize(new));
    let change = match (bs, ns) {
        (Some(b), Some(n)) => Some(relative_change(b.mean, n.mean)),
        _ => None,
    };
    let basis = match (bs, ns) {
        (Some(b), Some(n)) if b.n >= 2 && n.n >= 2 => Basis::Test,
        (Some(_), Some(_)) => Basis::ToleranceOnly,
        _ => Basis::None,
    };
    let mut change_ci = None;
    let mut test = None;
    if basis == Basis::Test {
        let base_mean = bs.map_or(0.0, |b| b.mean);
        change_ci = stats::fieller_ratio_ci(new, base, settings.confidence()).map(|ci| match ci {
            RatioCi::Bounded(lo, hi) if base_mean > 0.0 => (lo - 1.0, hi - 1.0),
            // (new − base)/|base| = 1 − ratio when the base mean is negative
            RatioCi::Bounded(lo, hi) => (1.0 - hi, 1.0 - lo),
            RatioCi::Unbounded => (f64::NEG_INFINITY, f64::INFINITY),
        });
        test = match settings.test {
            TestKind::Welch => stats::welch(new, base).map(|w| TestOutcome {
                kind: TestKind::Welch,
                statistic: w.t,
                df: Some(w.df),
                method: None,
                p: w.p,
                p_adjusted: f64::NAN,
            }),
            TestKind::Mwu => stats::mann_whitney_u(new, base).map(|m| TestOutcome {
                kind: TestKind::Mwu,
                statistic: m.u,
                df: None,
                method: Some(m.method),
                p: m.p,
                p_adjusted: f64::NAN,
            }),
        };
    }
    Entry {
        point,
        result,
        base: bs,
        new: ns,
        change,
        change_ci,
        test,
        basis,
        significant: None,
        beyond_tolerance: false,
        reference: None,
        decided_by: None,
        verdict: Verdict::NoData,
    }
}

/// (new − base) / |base|: positive when NEW is larger, whatever the sign of the base.
pub(crate) fn relative_change(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        if new == 0.0 {
            0.0
        } else {
            new.signum() * f64::INFINITY
        }
    } else {
        (new - base) / base.abs()
    }
}

fn decide(e: &mut Entry, better: Better, p_adjusted: f64, settings: Settings) {
    let Some(change) = e.change else {
        e.verdict = Verdict::NoData;
        return;
    };
    let tol = settings.tolerance;
    let (worse, better) = match better {
        Better::Higher => (change < -tol, change > tol),
        Better::Lower => (change > tol, change < -tol),
    };
    e.beyond_tolerance = worse || better;
    let significant = match (e.basis, e.test.as_mut()) {
        (Basis::Test, Some(t)) => {
            t.p_adjusted = p_adjusted;
            let s = p_adjusted <= settings.alpha;
            e.significant = Some(s);
            s
        }
        // No test possible (a single run): the tolerance alone decides.
        _ => true,
    };
    let beyond_reference = e.reference.is_none_or(|r| r.exceeded);
    let moved = (worse || better) && beyond_reference;
    e.verdict = if worse && moved && significant {
        Verdict::Regression
    } else if better && moved && significant {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    };
    e.decided_by = Some(decisive_bound(e, tol, beyond_reference, significant));
}

/// The bound a change failed to pass, or, when it passed them all, the larger threshold of
/// the two (tolerance or between-set noise, compared in the result's unit).
fn decisive_bound(e: &Entry, tolerance: f64, beyond_reference: bool, significant: bool) -> Bound {
    let larger = match (e.reference, e.base) {
        (Some(r), Some(b)) if r.bound > tolerance * b.mean.abs() => Bound::References,
        _ => Bound::Tolerance,
    };
    match (e.beyond_tolerance, beyond_reference) {
        (false, false) => larger,
        (false, true) => Bound::Tolerance,
        (true, false) => Bound::References,
        (true, true) if !significant => Bound::Test,
        (true, true) => larger,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{RunRecord, SetStatus};
    use serde_json::json;

    /// `compare` of two record lists under their manifests.
    fn compare_sets(
        mb: &Manifest,
        b: &[RunRecord],
        mn: &Manifest,
        n: &[RunRecord],
        settings: Settings,
    ) -> Result<Comparison, Incompatible> {
        let (b, n) = (Runs::from_records(b), Runs::from_records(n));
        compare(
            SetData {
                manifest: mb,
                runs: &b,
                experiment: "",
            },
            SetData {
                manifest: mn,
                runs: &n,
                experiment: "",
            },
            settings,
        )
    }

    fn manifest(vars: &[(&str, Vec<Value>)], results: &[(&str, Better)]) -> Manifest {
        Manifest {
            format: 1,
            mpf_version: "0".into(),
            id: "x".into(),
            name: "x".into(),
            description: String::new(),
            status: SetStatus::Complete,
            started: "2025-01-01T00:00:00Z".into(),
            ended: None,
            seed: "mpf".into(),
            order: "sequential".into(),
            runs_per_point: 3,
            planned_runs: 0,
            variables: vars
                .iter()
                .map(|(n, vals)| VariableInfo {
                    name: n.to_string(),
                    labels: vals.iter().map(crate::store::record::value_text).collect(),
                    values: vals.clone().into(),
                    numeric: true,
                    geometric: false,
                    constant: vals.len() == 1,
                    when: None,
                    index: Default::default(),
                })
                .collect(),
            results: results
                .iter()
                .map(|(n, b)| ResultInfo {
                    name: n.to_string(),
                    unit: "s".into(),
                    better: *b,
                    series: false,
                })
                .collect(),
            hosts: vec![],
            git: None,
            synced: Vec::new(),
            experiment_hash: String::new(),
            overrides: Map::new(),
            runs_ok: 0,
            runs_failed: 0,
            plot: None,
            requirements: None,
            adaptive: None,
            points: Vec::new(),
            search: None,
            limits: Vec::new(),
            sessions: Vec::new(),
            blocks: Vec::new(),
        }
    }

    fn run(index: usize, point: Value, results: Value, ok: bool) -> RunRecord {
        RunRecord {
            point_index: 0,
            status: if ok { RunStatus::Ok } else { RunStatus::Failed },
            ..RunRecord::ok(
                index,
                point.as_object().unwrap().clone(),
                0,
                results.as_object().unwrap().clone(),
            )
        }
    }

    fn runs(x: i64, values: &[f64]) -> Vec<RunRecord> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| run(i, json!({"x": x}), json!({"lat": v}), true))
            .collect()
    }

    #[test]
    fn latency_increase_is_a_regression_and_decrease_an_improvement() {
        let m = manifest(
            &[("x", vec![json!(1), json!(2)])],
            &[("lat", Better::Lower)],
        );
        let mut b = runs(1, &[10.0, 10.1, 9.9, 10.0]);
        b.extend(runs(2, &[10.0, 10.1, 9.9, 10.0]));
        let mut n = runs(1, &[12.0, 12.1, 11.9, 12.0]);
        n.extend(runs(2, &[8.0, 8.1, 7.9, 8.0]));
        let c = compare_sets(&m, &b, &m, &n, Settings::default()).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.tested, 2);
        assert_eq!(c.entries[0].verdict, Verdict::Regression);
        assert_eq!(c.entries[1].verdict, Verdict::Improvement);
        assert!((c.entries[0].change.unwrap() - 0.2).abs() < 1e-12);
        let (lo, hi) = c.entries[0].change_ci.unwrap();
        assert!(lo < 0.2 && 0.2 < hi && lo > 0.0);
        assert!(c.has_regression());
    }

    #[test]
    fn significant_change_within_tolerance_is_unchanged() {
        let m = manifest(&[("x", vec![json!(1)])], &[("lat", Better::Lower)]);
        let b = runs(1, &[10.0, 10.01, 9.99, 10.0]);
        let n = runs(1, &[10.3, 10.31, 10.29, 10.3]);
        let c = compare_sets(&m, &b, &m, &n, Settings::default()).unwrap();
        let e = &c.entries[0];
        assert_eq!(e.significant, Some(true));
        assert!(!e.beyond_tolerance);
        assert_eq!(e.verdict, Verdict::Unchanged);
    }

    #[test]
    fn single_runs_use_the_tolerance_only() {
        let m = manifest(&[("x", vec![json!(1)])], &[("lat", Better::Lower)]);
        let b = runs(1, &[10.0]);
        let n = runs(1, &[11.0, 11.0]);
        let c = compare_sets(&m, &b, &m, &n, Settings::default()).unwrap();
        let e = &c.entries[0];
        assert_eq!(e.basis, Basis::ToleranceOnly);
        assert!(e.test.is_none() && e.change_ci.is_none());
        assert_eq!(e.verdict, Verdict::Regression);
        assert_eq!(c.tested, 0);
    }

    #[test]
    fn failed_runs_do_not_count_and_unmatched_points_are_listed() {
        let m = manifest(
            &[("x", vec![json!(1), json!(2), json!(3)])],
            &[("lat", Better::Lower)],
        );
        let mut b = runs(1, &[10.0, 10.0]);
        b.extend(runs(2, &[5.0, 5.0]));
        let mut n = runs(1, &[10.0, 10.0]);
        n.push(run(9, json!({"x": 1.0}), json!({"lat": 1000.0}), false));
        n.push(run(10, json!({"x": 3}), json!({}), false));
        let c = compare_sets(&m, &b, &m, &n, Settings::default()).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].new.unwrap().n, 2);
        assert_eq!(c.entries[0].verdict, Verdict::Unchanged);
        assert_eq!(
            c.base_only,
            vec![json!({"x": 2}).as_object().unwrap().clone()]
        );
        assert_eq!(
            c.new_only,
            vec![json!({"x": 3}).as_object().unwrap().clone()]
        );
    }

    #[test]
    fn different_variables_or_results_cannot_be_compared() {
        let a = manifest(&[("x", vec![json!(1)])], &[("lat", Better::Lower)]);
        let b = manifest(&[("y", vec![json!(1)])], &[("tput", Better::Higher)]);
        let err = compare_sets(&a, &[], &b, &[], Settings::default()).unwrap_err();
        assert_eq!(
            err.0,
            vec![
                "the variables differ: only BASE has 'x', only NEW has 'y'".to_string(),
                "the results differ: only BASE has 'lat', only NEW has 'tput'".to_string(),
            ]
        );
        let c = manifest(&[("x", vec![json!(1)])], &[("lat", Better::Higher)]);
        let err = compare_sets(&a, &[], &c, &[], Settings::default()).unwrap_err();
        assert!(err
            .to_string()
            .contains("better lower in BASE but better higher in NEW"));
    }

    #[test]
    fn no_point_in_common_cannot_be_compared() {
        let m = manifest(
            &[("x", vec![json!(1), json!(2)])],
            &[("lat", Better::Lower)],
        );
        let err = compare_sets(
            &m,
            &runs(1, &[1.0]),
            &m,
            &runs(2, &[1.0]),
            Settings::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no point in common"), "{err}");
    }

    #[test]
    fn references_widen_the_bound_and_say_which_bound_decided() {
        let m = manifest(
            &[("x", vec![json!(1), json!(2)])],
            &[("lat", Better::Lower)],
        );
        let b = runs(1, &[10.0, 10.01, 9.99, 10.0]);
        let n = runs(1, &[10.8, 10.81, 10.79, 10.8]);
        let refs: Vec<Vec<RunRecord>> = [9.5, 10.6, 10.2]
            .iter()
            .map(|level| runs(1, &[*level, *level + 0.01]))
            .collect();
        // A reference without the point counts for nothing.
        let no_point = runs(2, &[50.0, 51.0]);
        let refs: Vec<Runs> = refs.iter().map(|r| Runs::from_records(r)).collect();
        let (b, n, no_point) = (
            Runs::from_records(&b),
            Runs::from_records(&n),
            Runs::from_records(&no_point),
        );
        fn data<'a>(m: &'a Manifest, r: &'a Runs) -> SetData<'a> {
            SetData {
                manifest: m,
                runs: r,
                experiment: "",
            }
        }
        let mut ref_data: Vec<SetData> = refs.iter().map(|r| data(&m, r)).collect();
        ref_data.push(data(&m, &no_point));
        let c = compare_with_references(data(&m, &b), data(&m, &n), &ref_data, Settings::default())
            .unwrap();
        let e = &c.entries[0];
        let r = e.reference.unwrap();
        assert_eq!(r.sets, 4);
        assert!(!r.exceeded && r.bound > 0.8, "{r:?}");
        assert_eq!(e.verdict, Verdict::Unchanged);
        assert_eq!(e.decided_by, Some(Bound::References));
        assert_eq!(c.references.len(), 4);

        let plain = compare(data(&m, &b), data(&m, &n), Settings::default()).unwrap();
        assert_eq!(plain.entries[0].verdict, Verdict::Regression);
        assert_eq!(plain.entries[0].decided_by, Some(Bound::Tolerance));
        assert!(plain.entries[0].reference.is_none());

        let same = Runs::from_records(&runs(1, &[10.0, 10.02, 9.98, 10.0]));
        let c = compare_with_references(
            data(&m, &b),
            data(&m, &same),
            &ref_data,
            Settings::default(),
        )
        .unwrap();
        assert_eq!(c.entries[0].decided_by, Some(Bound::References));
        let c = compare(data(&m, &b), data(&m, &same), Settings::default()).unwrap();
        assert_eq!(c.entries[0].decided_by, Some(Bound::Tolerance));
    }

    #[test]
    fn relative_change_signs() {
        assert_eq!(relative_change(10.0, 12.0), 0.2);
        assert_eq!(relative_change(-10.0, -12.0), -0.2);
        assert_eq!(relative_change(0.0, 0.0), 0.0);
        assert_eq!(relative_change(0.0, 1.0), f64::INFINITY);
    }
}
