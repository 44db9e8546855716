//! A probe's decision with confidence (SPEC §16.2): each result the condition names is taken as
//! its confidence interval over the probe's runs, and the probe passes when the condition
//! holds across the whole of the intervals, fails when it fails across the whole of them, and
//! is undecided otherwise.
//!
//! How a condition is decided from intervals: its `and`, `or` and `not` are three-valued
//! (`false and x` is false, `true or x` is true, anything else with an undecided side is
//! undecided); every other part (a comparison, each pair of a chained one, any other leaf) is
//! evaluated at the results' means and at every corner of the box their intervals span (each
//! uncertain result it names at its low or high end): it is decided when all agree. For a side
//! that rises or falls steadily with each result it names (sums, products and ratios of
//! positive values), the corners are its extremes over the box, so `p99 < 2 ms` holds when the
//! whole interval of `p99` is below 2 ms and fails when the whole interval is at or above it.

use serde_json::{Map, Value};

use crate::analyze::stats::t_critical;
use crate::store::kept::KeptRun as Run;
use crate::store::RunStatus;
use crate::template::{condition_context, decide_condition, leaf_at, Leaf};

/// Most uncertain results one comparison may name: beyond, it is never decided (2^10 corners).
pub(super) const MAX_UNCERTAIN: usize = 10;

/// A probe's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The condition holds across the whole intervals.
    Pass,
    /// It fails across them, or cannot be evaluated (not met).
    Fail,
    /// The intervals straddle the condition's bound: more runs may decide it.
    Undecided,
}

/// Each numeric result's values over a probe's ok runs, in the order first seen.
pub(super) fn values(runs: &[Run]) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for r in runs.iter().filter(|r| r.status == RunStatus::Ok) {
        for (name, x) in r.results() {
            if !x.is_finite() {
                continue;
            }
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(s) => s.1.push(x),
                None => out.push((name.to_string(), vec![x])),
            }
        }
    }
    out
}

/// A result's mean and its interval: `None` when it has no interval yet (one value, while
/// more runs may come).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub name: String,
    pub mean: f64,
    pub bounds: Option<(f64, f64)>,
}

/// The two-sided Student-t interval of the mean of `xs` at `confidence`: `mean ± t(1 − (1 −
/// confidence)/2, n − 1) · s / √n`. One value: the value itself when `single_is_exact` (a
/// search of one run per probe), else no interval.
pub fn interval(name: &str, xs: &[f64], confidence: f64, single_is_exact: bool) -> Interval {
    let n = xs.len();
    let mean = crate::analyze::stats::mean(xs);
    let bounds = match n {
        0 => None,
        1 => single_is_exact.then_some((mean, mean)),
        _ => {
            let sd = crate::analyze::stats::variance(xs, mean).sqrt();
            let half = t_critical((n - 1) as f64, 1.0 - confidence) * sd / (n as f64).sqrt();
            half.is_finite().then_some((mean - half, mean + half))
        }
    };
    Interval {
        name: name.to_string(),
        mean,
        bounds,
    }
}

/// Decides `condition` for a probe at `point` whose results have `intervals`. `Err` when it
/// cannot be evaluated at the means (a missing result, a NaN that decides it): the caller
/// counts it as not met, with a note.
pub(super) fn judge(
    condition: &str,
    point: &Map<String, Value>,
    intervals: &[Interval],
) -> Result<Verdict, String> {
    let means: Vec<(String, f64)> = intervals.iter().map(|i| (i.name.clone(), i.mean)).collect();
    let at_means = crate::template::eval_condition(condition, &condition_context(point, &means))?;
    let mut leaf = |l: &Leaf| decide_leaf(l, point, intervals, &means);
    let decided = match decide_condition(condition, &mut leaf) {
        Ok(d) => d,
        // A part that cannot be evaluated alone: the whole condition is one leaf.
        Err(_) => decide_leaf(
            &Leaf {
                text: condition.into(),
                operands: Vec::new(),
            },
            point,
            intervals,
            &means,
        )?,
    };
    Ok(match decided {
        Some(b) if b == at_means => {
            if b {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
        _ => Verdict::Undecided,
    })
}

/// A leaf decided over the box of intervals: its truth at the means, when every corner of the
/// uncertain results it names agrees; undecided otherwise, when a result it names has no
/// interval yet, or when it names more than [`MAX_UNCERTAIN`] uncertain results.
fn decide_leaf(
    leaf: &Leaf,
    point: &Map<String, Value>,
    intervals: &[Interval],
    means: &[(String, f64)],
) -> Result<Option<bool>, String> {
    let named = named_results(&leaf.text, intervals)?;
    let mut uncertain = Vec::new();
    for &i in &named {
        match intervals[i].bounds {
            None => return Ok(None),
            Some((lo, hi)) if lo < hi => uncertain.push((i, lo, hi)),
            Some(_) => {}
        }
    }
    if uncertain.len() > MAX_UNCERTAIN {
        return Ok(None);
    }
    let center = leaf_at(leaf, &condition_context(point, means))?;
    let Some(center) = center else {
        return Ok(None);
    };
    let mut corner = means.to_vec();
    for mask in 0u32..(1 << uncertain.len()) {
        for (bit, &(i, lo, hi)) in uncertain.iter().enumerate() {
            corner[i].1 = if mask & (1 << bit) == 0 { lo } else { hi };
        }
        // An error at a corner (a division by zero at an interval's end) decides nothing.
        match leaf_at(leaf, &condition_context(point, &corner)) {
            Ok(Some(b)) if b == center => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(center))
}

/// The indices (in `intervals`) of the results a text names: as written (`loss`, `lat.p99`, a
/// map of dotted results as `lat`), or in `results` (`results["lat.p99"]` by its quoted name;
/// every result when none is quoted).
fn named_results(text: &str, intervals: &[Interval]) -> Result<Vec<usize>, String> {
    let names = crate::template::expression_names_nested(text)?;
    let mut out = Vec::new();
    let mut in_results = false;
    for n in &names {
        if n == "results" || n.starts_with("results.") {
            in_results = true;
        }
        for (i, iv) in intervals.iter().enumerate() {
            let r = iv.name.as_str();
            let hit = n == r
                || r.strip_prefix(n.as_str())
                    .is_some_and(|t| t.starts_with('.'))
                || n.strip_prefix(r).is_some_and(|t| t.starts_with('.'))
                || n.strip_prefix("results.") == Some(r);
            if hit && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    if in_results {
        let quoted: Vec<usize> = (0..intervals.len())
            .filter(|&i| {
                let r = &intervals[i].name;
                text.contains(&format!("\"{r}\"")) || text.contains(&format!("'{r}'"))
            })
            .collect();
        let extra = if quoted.is_empty() {
            (0..intervals.len()).collect()
        } else {
            quoted
        };
        for i in extra {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iv(name: &str, lo: f64, hi: f64) -> Interval {
        Interval {
            name: name.into(),
            mean: (lo + hi) / 2.0,
            bounds: Some((lo, hi)),
        }
    }

    fn point() -> Map<String, Value> {
        json!({"rate": 1000, "cores": 2})
            .as_object()
            .unwrap()
            .clone()
    }

    fn verdict(cond: &str, ivs: &[Interval]) -> Verdict {
        judge(cond, &point(), ivs).unwrap()
    }

    #[test]
    fn a_comparison_is_decided_when_the_whole_interval_is_on_one_side() {
        let p99 = |lo, hi| [iv("p99", lo, hi)];
        assert_eq!(verdict("p99 < 0.002", &p99(0.001, 0.0019)), Verdict::Pass);
        assert_eq!(verdict("p99 < 0.002", &p99(0.002, 0.003)), Verdict::Fail);
        assert_eq!(
            verdict("p99 < 0.002", &p99(0.0015, 0.0025)),
            Verdict::Undecided
        );
        // The 5623 probe of the issue: mean 1.91 ms, CI -8.5 .. 12.3 ms, was `found`.
        assert_eq!(
            verdict("p99 < 0.002", &p99(-0.0085, 0.0123)),
            Verdict::Undecided
        );
        // Arithmetic on both sides, with a variable.
        assert_eq!(
            verdict("p99 * 1000 < 0.001 * rate", &p99(0.0005, 0.0009)),
            Verdict::Pass
        );
        // A point interval (every run the same) is decided by its value.
        assert_eq!(verdict("p99 < 0.002", &p99(0.002, 0.002)), Verdict::Fail);
    }

    #[test]
    fn and_or_not_are_three_valued() {
        let ivs = [iv("p99", 0.0015, 0.0025), iv("loss", 0.2, 0.3)];
        // One side fails for sure: `and` fails, whatever the undecided side.
        assert_eq!(verdict("p99 < 0.002 and loss < 0.1", &ivs), Verdict::Fail);
        assert_eq!(
            verdict("p99 < 0.002 and loss < 0.5", &ivs),
            Verdict::Undecided
        );
        assert_eq!(verdict("p99 < 0.002 or loss < 0.5", &ivs), Verdict::Pass);
        assert_eq!(
            verdict("p99 < 0.002 or loss < 0.1", &ivs),
            Verdict::Undecided
        );
        assert_eq!(verdict("not (loss < 0.1)", &ivs), Verdict::Pass);
        assert_eq!(verdict("not (p99 < 0.002)", &ivs), Verdict::Undecided);
        // A chained comparison is its pairs: [0.2, 0.3] is wholly between 0.1 and 0.5...
        assert_eq!(verdict("0.1 < loss < 0.5", &ivs), Verdict::Pass);
        // ...and [2, 6] straddles 3 < x < 5, though both its ends fail it.
        assert_eq!(
            verdict("3 < x < 5", &[iv("x", 2.0, 6.0)]),
            Verdict::Undecided
        );
    }

    #[test]
    fn results_are_named_as_written_dotted_or_in_results() {
        let ivs = [iv("lat.p99", 1.0, 3.0), iv("loss", 0.0, 0.01)];
        assert_eq!(verdict("lat.p99 < 2", &ivs), Verdict::Undecided);
        assert_eq!(verdict("results['lat.p99'] < 5", &ivs), Verdict::Pass);
        assert_eq!(
            verdict("results[\"lat.p99\"] < 2", &ivs),
            Verdict::Undecided
        );
        assert_eq!(verdict("loss < 0.1", &ivs), Verdict::Pass);
    }

    #[test]
    fn a_result_without_an_interval_is_undecided_and_a_missing_one_cannot_be_evaluated() {
        let one = Interval {
            name: "loss".into(),
            mean: 0.0,
            bounds: None,
        };
        assert_eq!(
            verdict("loss < 0.1", std::slice::from_ref(&one)),
            Verdict::Undecided
        );
        // A condition that does not name it is decided without it.
        assert_eq!(verdict("rate < 5000", &[one]), Verdict::Pass);
        assert!(judge("loss < 0.1", &point(), &[]).is_err());
        // A NaN at the means cannot be evaluated; at a corner only, it is undecided.
        let ivs = [iv("lost", 0.0, 0.0), iv("total", 0.0, 0.0)];
        assert!(judge("lost / total < 0.01", &point(), &ivs).is_err());
        let ivs = [iv("lost", 0.0, 2.0), iv("total", 0.0, 100.0)];
        assert_eq!(verdict("lost / total < 0.5", &ivs), Verdict::Undecided);
    }

    #[test]
    fn too_many_uncertain_results_in_one_comparison_are_never_decided() {
        let ivs: Vec<Interval> = (0..12).map(|i| iv(&format!("r{i}"), 1.0, 2.0)).collect();
        let sum: Vec<String> = ivs.iter().map(|i| i.name.clone()).collect();
        let cond = format!("{} < 100", sum.join(" + "));
        assert_eq!(verdict(&cond, &ivs), Verdict::Undecided);
        // The same results in separate comparisons are decided one by one.
        let each: Vec<String> = sum.iter().map(|n| format!("{n} < 5")).collect();
        assert_eq!(verdict(&each.join(" and "), &ivs), Verdict::Pass);
    }

    #[test]
    fn the_interval_is_students_t() {
        // scipy.stats.t.interval(0.95, 4, loc=mean, scale=sem) for [1, 2, 3, 4, 5]:
        // (1.0367568385224428, 4.963243161477557).
        let i = interval("x", &[1.0, 2.0, 3.0, 4.0, 5.0], 0.95, false);
        let (lo, hi) = i.bounds.unwrap();
        assert!((lo - 1.036_756_838_522_442_8).abs() < 1e-9, "{lo}");
        assert!((hi - 4.963_243_161_477_557).abs() < 1e-9, "{hi}");
        // At 99%, df 2: scipy.stats.t.interval(0.99, 2, loc=2, scale=1/sqrt(3)).
        let i = interval("x", &[1.0, 2.0, 3.0], 0.99, false);
        let (lo, hi) = i.bounds.unwrap();
        // (-3.7301108937150014, 7.730110893715001).
        assert!((lo - -3.730_110_893_715_001_4).abs() < 1e-9, "{lo}");
        assert!((hi - 7.730_110_893_715_001).abs() < 1e-9, "{hi}");
        // At 90%, df 9, of ten values of mean 0 and standard error 1: ±1.833112932656237.
        let xs: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let se = (crate::analyze::stats::variance(&xs, 0.0) / 10.0).sqrt();
        let i = interval("x", &xs, 0.90, false);
        let (lo, hi) = i.bounds.unwrap();
        assert!((hi / se - 1.833_112_932_656_237).abs() < 1e-9, "{hi}");
        assert!((lo / se + 1.833_112_932_656_237).abs() < 1e-9, "{lo}");
        assert_eq!(interval("x", &[3.0], 0.95, false).bounds, None);
        assert_eq!(interval("x", &[3.0], 0.95, true).bounds, Some((3.0, 3.0)));
    }
}
