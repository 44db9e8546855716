//! One point's runs: `min` first, then one more per round while a watched result is too noisy.

use crate::analyze::stats::summarize;
use crate::spec::{Experiment, Width};
pub(super) use crate::store::kept::{Kept as Journal, KeptRun as Run};
use crate::store::RunStatus;

/// How many runs a point gets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub min: usize,
    pub max: usize,
    /// Watched results and the widest 95% half-width each may have; empty for a fixed count.
    pub targets: Vec<(String, Width)>,
}

impl Rule {
    /// The experiment's `runs`; a search's probes take its `search.runs` when given.
    pub(crate) fn of(exp: &Experiment) -> Rule {
        let mut rule = Rule::of_runs(exp);
        if let Some((min, max)) = exp.search.as_ref().and_then(|s| s.runs) {
            (rule.min, rule.max) = (min, max);
        }
        rule
    }

    fn of_runs(exp: &Experiment) -> Rule {
        match &exp.adaptive {
            Some(a) => Rule {
                min: a.min,
                max: a.max,
                targets: a.targets.clone(),
            },
            None => Rule {
                min: exp.runs,
                max: exp.runs,
                targets: Vec::new(),
            },
        }
    }

    pub(crate) fn is_adaptive(&self) -> bool {
        !self.targets.is_empty()
    }

    /// True while some watched result's 95% half-width (over the ok runs) is wider than its
    /// target, or cannot be computed (fewer than two values).
    pub(crate) fn noisy(&self, runs: &[Run]) -> bool {
        self.targets.iter().any(|(name, width)| {
            let xs: Vec<f64> = runs
                .iter()
                .filter(|r| r.status == RunStatus::Ok)
                .filter_map(|r| r.result(name))
                .collect();
            match summarize(&xs) {
                Some(s) if s.n >= 2 => (s.ci_hi - s.ci_lo) / 2.0 > width.at(s.mean),
                _ => true,
            }
        })
    }
}

/// A point's runs so far: the repetitions it asked for, one batch per round (the last may
/// still lack runs), and how it ended once it did.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    /// The repetitions of each batch (a range: a batch's repetitions follow each other).
    pub batches: Vec<std::ops::Range<usize>>,
    pub end: Option<SampleEnd>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SampleEnd {
    pub runs: usize,
    pub converged: bool,
    /// Mean of every numeric result over the ok runs, in the order first seen.
    pub means: Vec<(String, f64)>,
    /// Every numeric result's values over the ok runs, in the same order.
    pub values: Vec<(String, Vec<f64>)>,
}

/// Replays the rule over the journal's runs of the plan's point `point`. Whether a round asks for
/// another run depends only on the runs of earlier rounds, so a round interrupted halfway
/// is continued exactly.
#[cfg(test)]
pub(super) fn sample(rule: &Rule, journal: &Journal, point: usize) -> Sample {
    sample_until(rule, journal, point, |_| false)
}

/// [`sample`], with one more run per round also while `more` says so of the runs so far (a
/// search's probe still undecided), up to `max`.
pub(super) fn sample_until(
    rule: &Rule,
    journal: &Journal,
    point: usize,
    more: impl Fn(&[Run]) -> bool,
) -> Sample {
    let mut batches = Vec::with_capacity(1);
    batches.push(0..rule.min);
    let mut runs = Vec::with_capacity(rule.min);
    for rep in 0..rule.min {
        match journal.get(point, rep) {
            Some(r) => runs.push(r),
            None => return Sample { batches, end: None },
        }
    }
    loop {
        let noisy = rule.noisy(&runs);
        if runs.len() >= rule.max || !(noisy || more(&runs)) {
            let end = SampleEnd {
                runs: runs.len(),
                converged: !noisy,
                means: means(&runs),
                values: super::decide::values(&runs),
            };
            return Sample {
                batches,
                end: Some(end),
            };
        }
        let rep = runs.len();
        batches.push(rep..rep + 1);
        match journal.get(point, rep) {
            Some(r) => runs.push(r),
            None => return Sample { batches, end: None },
        }
    }
}

fn means(runs: &[Run]) -> Vec<(String, f64)> {
    super::decide::values(runs)
        .into_iter()
        .map(|(n, xs)| {
            let m = crate::analyze::stats::mean(&xs);
            (n, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunRecord;
    use serde_json::json;

    fn record(rep: usize, x: f64) -> RunRecord {
        RunRecord {
            point_index: 0,
            ..RunRecord::ok(
                rep,
                json!({"a": 1}).as_object().unwrap().clone(),
                rep,
                json!({ "x": x }).as_object().unwrap().clone(),
            )
        }
    }

    fn rule() -> Rule {
        Rule {
            min: 3,
            max: 6,
            targets: vec![("x".into(), Width::Relative(0.01))],
        }
    }

    #[test]
    fn a_quiet_point_stops_at_min() {
        let recs: Vec<_> = (0..3).map(|r| record(r, 100.0)).collect();
        let j = Journal::new(&recs, |_| Some(0));
        let s = sample(&rule(), &j, 0);
        assert_eq!((s.batches.len(), s.batches.first()), (1, Some(&(0..3))));
        let end = s.end.unwrap();
        assert_eq!((end.runs, end.converged), (3, true));
        assert_eq!(end.means, vec![("x".to_string(), 100.0)]);
    }

    #[test]
    fn a_noisy_point_asks_one_run_per_round_until_max() {
        let xs = [10.0, 200.0, 50.0, 120.0, 3.0, 90.0];
        let recs: Vec<_> = xs.iter().enumerate().map(|(r, &x)| record(r, x)).collect();
        let s = sample(&rule(), &Journal::new(&recs[..4], |_| Some(0)), 0);
        assert_eq!(s.batches, vec![0..3, 3..4, 4..5]);
        assert!(s.end.is_none(), "round 3 waits for repetition 4");
        let s = sample(&rule(), &Journal::new(&recs, |_| Some(0)), 0);
        let end = s.end.unwrap();
        assert_eq!((end.runs, end.converged), (6, false), "stopped by max");
    }

    #[test]
    fn failed_runs_count_as_runs_but_not_as_values() {
        let mut recs: Vec<_> = (0..3).map(|r| record(r, 100.0)).collect();
        recs[1].status = RunStatus::Failed;
        let s = sample(&rule(), &Journal::new(&recs, |_| Some(0)), 0);
        let end = s.end.unwrap();
        assert_eq!((end.runs, end.converged), (3, true));
    }
}
