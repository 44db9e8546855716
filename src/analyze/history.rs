//! The history of one experiment across result sets (SPEC §12.4): per point and result, the
//! mean of every step (a set, or the sets of one commit), change points found with E-Divisive
//! means and a permutation test, and whether the newest step is a regression. No I/O. See
//! docs/history.md.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::analyze::compare::{
    check_compatible, group_points, relative_change, Points, SetData, Verdict,
};
use crate::analyze::stats;
use crate::store::record::{Better, ResultInfo, VariableInfo};

/// What counts as a change and a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Relative change a change point or the newest step must exceed, in the worse direction,
    /// to be a regression.
    pub tolerance: f64,
    /// Significance level of the permutation test and of the newest step's Welch test (the
    /// latter after Holm's correction across points and results).
    pub alpha: f64,
    /// Permutations per significance test of a change point.
    pub permutations: usize,
    /// Seed of the permutations: the same input gives the same change points.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tolerance: 0.05,
            alpha: 0.05,
            permutations: 100,
            seed: crate::plan::fnv1a(b"mpf history"),
        }
    }
}

/// One position in the history: a result set (`--by time`) or the sets of one commit
/// (`--by commit`), with their runs pooled.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub label: StepLabel,
    pub sets: Vec<SetData<'a>>,
}

/// How a step is named in outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepLabel {
    /// Ids of the step's sets, oldest first.
    pub sets: Vec<String>,
    /// Start time of the step's first set.
    pub started: String,
    /// The synced source's commit, when known.
    pub commit: Option<String>,
}

/// A change point: the step where a new segment begins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Index into `History::steps`.
    pub step: usize,
    /// Mean of the step means of the segment before and of the one that begins here.
    pub before: f64,
    pub after: f64,
    /// (after − before) / |before|.
    pub change: f64,
    /// The permutation test's p-value when the change point was found.
    pub p: f64,
    /// E-Divisive's statistic at the change point.
    pub statistic: f64,
    /// Regression or improvement beyond the tolerance, else unchanged.
    pub verdict: Verdict,
}

/// What decided the newest step's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewestBasis {
    /// A change point begins at the newest step.
    ChangePoint,
    /// Welch's test of the newest step's runs against those of the steps since the last
    /// change point.
    Welch,
    /// No data at the newest step, or no earlier run in its segment.
    None,
}

/// The newest step of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Newest {
    pub verdict: Verdict,
    pub basis: NewestBasis,
    /// Relative change of the newest step against its reference (segment before the change
    /// point, or the runs since the last change point).
    pub change: Option<f64>,
    /// Welch's p-value, raw and Holm-adjusted (basis `welch` only).
    pub p: Option<f64>,
    pub p_adjusted: Option<f64>,
}

/// The history of one result at one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub point: Map<String, Value>,
    pub result: String,
    pub unit: String,
    pub better: Better,
    /// Mean of the step's successful runs, per step; `None` where it has none.
    pub means: Vec<Option<f64>>,
    /// Number of runs behind each mean.
    pub runs: Vec<usize>,
    /// Each step's spread: the 95% confidence interval of its mean (the summary tables'
    /// interval, clipped at zero for a never-negative result); `None` with fewer than 2 runs.
    #[serde(skip)]
    pub intervals: Vec<Option<(f64, f64)>>,
    /// Some interval reached below zero and was clipped there.
    #[serde(skip)]
    pub clipped: bool,
    pub changes: Vec<Change>,
    pub newest: Newest,
}

/// The whole history.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub settings: Settings,
    pub steps: Vec<StepLabel>,
    pub variables: Vec<VariableInfo>,
    pub series: Vec<Series>,
    /// Sets left out, results left out.
    pub notes: Vec<String>,
}

impl History {
    pub fn has_regression(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.newest.verdict == Verdict::Regression)
    }

    pub fn regressions(&self) -> usize {
        self.series
            .iter()
            .filter(|s| s.newest.verdict == Verdict::Regression)
            .count()
    }
}

/// A change point found by `e_divisive`: the index where the new segment begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    pub statistic: f64,
    pub p: f64,
}

/// E-Divisive's statistic for every split of `n` values whose pairwise distances are `d(i, j)`:
/// `t[tau]` compares X = [0, tau) with Y = [tau, n). As signal-processing-algorithms does:
/// `t = xy/(x+y) · (2·mean|X−Y| − mean|X−X'| − mean|Y−Y'|)`, the means over all ordered pairs
/// (the diagonal's zeros included), and `t[0] = 0`.
fn t_values(n: usize, d: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut cross = 0.0;
    let mut x = 0.0;
    let mut y: f64 = (0..n).map(|r| (r..n).map(|c| d(r, c)).sum::<f64>()).sum();
    let mut out = Vec::with_capacity(n);
    for tau in 0..n {
        out.push(t_value(cross, 2.0 * x, 2.0 * y, tau, n - tau));
        let column: f64 = (0..tau).map(|i| d(i, tau)).sum();
        let row: f64 = (tau..n).map(|j| d(tau, j)).sum();
        cross = cross - column + row;
        x += column;
        y -= row;
    }
    out
}

fn t_value(cross: f64, x: f64, y: f64, nx: usize, ny: usize) -> f64 {
    let (fx, fy) = (nx as f64, ny as f64);
    let cross = if nx == 0 || ny == 0 {
        0.0
    } else {
        cross * 2.0 / (fx * fy)
    };
    let x = if nx == 0 { 0.0 } else { x / (fx * fx) };
    let y = if ny == 0 { 0.0 } else { y / (fy * fy) };
    fx * fy / (fx + fy) * (cross - x - y)
}

/// The statistic of every split of a series (for checks against the reference implementation).
pub fn t_statistics(series: &[f64]) -> Vec<f64> {
    t_values(series.len(), |i, j| (series[i] - series[j]).abs())
}

/// The first largest value and its index (NumPy's `argmax`).
fn argmax(xs: &[f64]) -> (usize, f64) {
    xs.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
}

/// SplitMix64: a fixed, tiny generator, so that permutations stay the same across versions.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle(&mut self, xs: &mut [usize]) {
        for i in (1..xs.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            xs.swap(i, j);
        }
    }
}

/// E-Divisive means with a permutation test, as MongoDB's signal-processing-algorithms
/// (`e_divisive(series, pvalue, permutations)`) defines it: repeatedly, the best split of any
/// window between the change points found so far is a new change point when at most
/// `alpha` of the permutations (each window shuffled within itself) give a statistic at
/// least as large: p = count / (permutations + 1). Change points in the order found.
pub fn e_divisive(series: &[f64], alpha: f64, permutations: usize, seed: u64) -> Vec<ChangePoint> {
    let n = series.len();
    let dist = |i: usize, j: usize| (series[i] - series[j]).abs();
    let mut rng = SplitMix(seed);
    let mut found: Vec<ChangePoint> = Vec::new();
    let mut memo: HashMap<(usize, usize), (usize, f64)> = HashMap::new();
    loop {
        let mut bounds: Vec<usize> = found.iter().map(|c| c.index).collect();
        bounds.push(0);
        bounds.push(n);
        bounds.sort_unstable();
        bounds.dedup();
        let windows: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let mut best: Option<(usize, f64)> = None;
        for &(a, b) in &windows {
            let candidate = *memo.entry((a, b)).or_insert_with(|| {
                let (i, t) = argmax(&t_values(b - a, |i, j| dist(a + i, a + j)));
                (a + i, t)
            });
            if best.is_none_or(|(_, t)| candidate.1 > t) {
                best = Some(candidate);
            }
        }
        let Some((index, statistic)) = best.filter(|&(i, t)| i > 0 && t > 0.0) else {
            return found;
        };
        let mut as_large = 0usize;
        for _ in 0..permutations {
            let mut permuted_best = f64::NEG_INFINITY;
            for &(a, b) in &windows {
                let mut order: Vec<usize> = (a..b).collect();
                rng.shuffle(&mut order);
                let (_, t) = argmax(&t_values(b - a, |i, j| dist(order[i], order[j])));
                permuted_best = permuted_best.max(t);
            }
            if permuted_best >= statistic {
                as_large += 1;
            }
        }
        let p = as_large as f64 / (permutations as f64 + 1.0);
        if p > alpha {
            return found;
        }
        found.push(ChangePoint {
            index,
            statistic,
            p,
        });
    }
}

/// Regression, improvement or unchanged for a relative change, given the direction.
fn judge(change: f64, better: Better, tolerance: f64) -> Verdict {
    let (worse, improved) = match better {
        Better::Higher => (change < -tolerance, change > tolerance),
        Better::Lower => (change > tolerance, change < -tolerance),
    };
    if worse {
        Verdict::Regression
    } else if improved {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The change points of a series of step means (`None` where a step has no data), with the
/// means of the segments on either side.
fn changes(means: &[Option<f64>], info: &ResultInfo, settings: &Settings) -> Vec<Change> {
    let present: Vec<(usize, f64)> = means
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|m| (i, m)))
        .collect();
    let values: Vec<f64> = present.iter().map(|(_, m)| *m).collect();
    let mut found = e_divisive(
        &values,
        settings.alpha,
        settings.permutations,
        settings.seed,
    );
    found.sort_by_key(|c| c.index);
    let mut bounds: Vec<usize> = found.iter().map(|c| c.index).collect();
    bounds.insert(0, 0);
    bounds.push(values.len());
    found
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let before = mean(&values[bounds[k]..c.index]);
            let after = mean(&values[c.index..bounds[k + 2]]);
            let change = relative_change(before, after);
            Change {
                step: present[c.index].0,
                before,
                after,
                change,
                p: c.p,
                statistic: c.statistic,
                verdict: judge(change, info.better, settings.tolerance),
            }
        })
        .collect()
}

/// The values of a result in runs of every set of a step at one point.
fn step_values(points: &[Points], key: &str, result: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for p in points {
        p.values_of(key, result, &mut out);
    }
    out
}

/// Builds the history of `steps` (oldest first; the last is the newest). Sets whose variables
/// or results differ from the newest set's are left out, with a note.
pub fn history(steps: &[Step], settings: Settings) -> History {
    let mut notes = Vec::new();
    let Some(newest) = steps.last().and_then(|s| s.sets.last()).copied() else {
        return History {
            settings,
            steps: Vec::new(),
            variables: Vec::new(),
            series: Vec::new(),
            notes,
        };
    };
    let mut kept: Vec<Step> = Vec::new();
    for step in steps {
        let mut sets = Vec::new();
        for set in &step.sets {
            match check_compatible(&newest, set, ("the newest set", &set.manifest.id)) {
                Ok(()) => sets.push(*set),
                Err(e) => notes.push(format!(
                    "set {} is left out: {}",
                    set.manifest.id,
                    e.0.join("; ")
                )),
            }
        }
        if !sets.is_empty() {
            let mut label = step.label.clone();
            label.sets = sets.iter().map(|s| s.manifest.id.clone()).collect();
            kept.push(Step { label, sets });
        }
    }
    let names: BTreeSet<String> = newest
        .manifest
        .variables
        .iter()
        .map(|v| v.name.clone())
        .collect();
    let grouped: Vec<Vec<Points>> = kept
        .iter()
        .map(|s| {
            s.sets
                .iter()
                .map(|d| group_points(d.runs, &names))
                .collect()
        })
        .collect();
    // Points in the newest set's order, then those only older sets have.
    let mut order: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for points in grouped.iter().rev().flatten() {
        for (g, key) in points.keys().into_iter().enumerate() {
            if seen.insert(key) {
                order.push((key.to_string(), points.point(g as u32)));
            }
        }
    }
    let results: Vec<&ResultInfo> = newest
        .manifest
        .results
        .iter()
        .filter(|r| !crate::model::is_duration(&r.name))
        .collect();

    let mut series = Vec::new();
    let mut welch_ps = Vec::new();
    for (key, point) in &order {
        for info in &results {
            let values: Vec<Vec<f64>> = grouped
                .iter()
                .map(|g| step_values(g, key, &info.name))
                .collect();
            let s = one_series(point, info, &values, &settings);
            welch_ps.push(s.newest.p.unwrap_or(f64::NAN));
            series.push(s);
        }
    }
    for (s, adjusted) in series.iter_mut().zip(stats::holm(&welch_ps)) {
        if s.newest.basis == NewestBasis::Welch {
            s.newest.p_adjusted = Some(adjusted);
            if adjusted > settings.alpha {
                s.newest.verdict = Verdict::Unchanged;
            }
        }
    }
    History {
        settings,
        steps: kept.into_iter().map(|s| s.label).collect(),
        variables: newest.manifest.variables.clone(),
        series,
        notes,
    }
}

/// The series of one point and result from its runs' values per step; the newest step's
/// verdict before Holm's correction.
fn one_series(
    point: &Map<String, Value>,
    info: &ResultInfo,
    values: &[Vec<f64>],
    settings: &Settings,
) -> Series {
    let means: Vec<Option<f64>> = values
        .iter()
        .map(|v| (!v.is_empty()).then(|| mean(v)))
        .collect();
    let changes = changes(&means, info, settings);
    let newest = newest_verdict(values, &means, &changes, info, settings);
    let never_negative = stats::never_negative(values.iter().flatten());
    let mut clipped = false;
    let intervals = values
        .iter()
        .map(|v| {
            let mut s = stats::summarize(v).filter(|s| s.n >= 2)?;
            if never_negative {
                clipped |= s.clip_at_zero();
            }
            Some((s.ci_lo, s.ci_hi))
        })
        .collect();
    Series {
        intervals,
        clipped,
        point: point.clone(),
        result: info.name.clone(),
        unit: info.unit.clone(),
        better: info.better,
        runs: values.iter().map(Vec::len).collect(),
        means,
        changes,
        newest,
    }
}

/// A change point at the newest step decides; otherwise Welch's test of its runs against the
/// runs of the steps since the last change point (its verdict still subject to Holm).
fn newest_verdict(
    values: &[Vec<f64>],
    means: &[Option<f64>],
    changes: &[Change],
    info: &ResultInfo,
    settings: &Settings,
) -> Newest {
    let none = Newest {
        verdict: Verdict::NoData,
        basis: NewestBasis::None,
        change: None,
        p: None,
        p_adjusted: None,
    };
    let last = values.len().saturating_sub(1);
    if means.get(last).copied().flatten().is_none() {
        return none;
    }
    if let Some(c) = changes.iter().find(|c| c.step == last) {
        return Newest {
            verdict: c.verdict,
            basis: NewestBasis::ChangePoint,
            change: Some(c.change),
            ..none
        };
    }
    let start = changes.last().map_or(0, |c| c.step);
    let segment: Vec<f64> = values[start..last].iter().flatten().copied().collect();
    let newest = &values[last];
    let Some(w) = stats::welch(newest, &segment) else {
        return Newest {
            verdict: Verdict::Unchanged,
            ..none
        };
    };
    let change = relative_change(mean(&segment), mean(newest));
    let verdict = match judge(change, info.better, settings.tolerance) {
        Verdict::Regression if w.p <= settings.alpha => Verdict::Regression,
        Verdict::Improvement if w.p <= settings.alpha => Verdict::Improvement,
        _ => Verdict::Unchanged,
    };
    Newest {
        verdict,
        basis: NewestBasis::Welch,
        change: Some(change),
        p: Some(w.p),
        p_adjusted: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12 values, a 20% step after the sixth, ±1% noise.
    fn step_series() -> Vec<f64> {
        let noise = [
            0.004, -0.006, 0.009, -0.002, 0.0, -0.008, 0.007, -0.003, 0.005, -0.009, 0.001, 0.006,
        ];
        noise
            .iter()
            .enumerate()
            .map(|(i, n)| if i < 6 { 100.0 } else { 120.0 } * (1.0 + n))
            .collect()
    }

    #[test]
    fn a_step_is_one_change_point_where_it_begins() {
        let cps = e_divisive(&step_series(), 0.05, 100, Settings::default().seed);
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 6);
        assert!(cps[0].p < 0.02, "{cps:?}");
    }

    #[test]
    fn flat_and_tiny_series_have_no_change_point() {
        let seed = Settings::default().seed;
        assert!(e_divisive(&[5.0; 10], 0.05, 100, seed).is_empty());
        assert!(e_divisive(&[], 0.05, 100, seed).is_empty());
        assert!(e_divisive(&[1.0], 0.05, 100, seed).is_empty());
    }

    #[test]
    fn the_same_input_gives_the_same_answer() {
        let noisy: Vec<f64> = (0..30).map(|i| ((i * 37 % 11) as f64).sin()).collect();
        let seed = Settings::default().seed;
        assert_eq!(
            e_divisive(&noisy, 0.05, 200, seed),
            e_divisive(&noisy, 0.05, 200, seed)
        );
    }

    #[test]
    fn t_statistics_of_a_small_series() {
        // X = [1], Y = [1, 4]: mean|X−Y| = 1.5, mean|X−X'| = 0, mean|Y−Y'| = 1.5 (6/4);
        // t = 1·2/3 · (3 − 0 − 1.5) = 1.
        let t = t_statistics(&[1.0, 1.0, 4.0]);
        assert_eq!(t[0], 0.0);
        assert!((t[1] - 1.0).abs() < 1e-12, "{t:?}");
    }

    #[test]
    fn newest_step_falling_below_its_segment_is_a_regression() {
        let info = ResultInfo {
            name: "goodput".into(),
            unit: "bit/s".into(),
            better: Better::Higher,
            series: false,
        };
        let settings = Settings::default();
        let runs = |level: f64| vec![level, level * 1.003, level * 0.997];
        let mut values: Vec<Vec<f64>> = (0..6).map(|_| runs(100.0)).collect();
        values.push(runs(99.0));
        let s = one_series(&Map::new(), &info, &values, &settings);
        assert_eq!(s.newest.basis, NewestBasis::Welch);
        assert_eq!(s.newest.verdict, Verdict::Unchanged);
        values.push(runs(80.0));
        let s = one_series(&Map::new(), &info, &values, &settings);
        assert_eq!(s.newest.verdict, Verdict::Regression, "{s:?}");
    }
}
