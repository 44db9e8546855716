//! How big an experiment may be: checked at load, without expanding anything; `plan` keeps
//! to the same limits.

use super::{Experiment, SamplingMethod};

/// The most runs an experiment may plan (points after sampling × runs per point): at a
/// second each that is four months of running, and planning them already takes about 1.5 s
/// and 500 MB (measured with `mpf check`, release build); ten times more takes gigabytes.
pub(crate) const MAX_RUNS: u128 = 10_000_000;
/// The most points the space may hold before sampling (it is expanded in memory).
pub(crate) const MAX_POINTS: u128 = 10_000_000;

/// The most values one variable may take.
pub(crate) const MAX_VALUES: usize = 1_000_000;

/// Why an experiment's plan would be too big, counted without expanding anything.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizeProblem {
    pub message: String,
    /// The variable whose values took the space over the limit (else the runs did).
    pub variable: Option<usize>,
}

/// Counts the space and the runs arithmetically (an upper bound: `when` only removes
/// points) and refuses what is beyond `MAX_POINTS`, `MAX_RUNS` or `MAX_VALUES`.
pub(crate) fn size_problem(exp: &Experiment) -> Option<SizeProblem> {
    let mut points: u128 = 1;
    let mut factors: Vec<String> = Vec::new();
    for (i, v) in exp.variables.iter().enumerate() {
        if v.values.len() > MAX_VALUES {
            return Some(SizeProblem {
                message: format!(
                    "variable '{}' has {} values, more than the limit of {MAX_VALUES}",
                    v.name,
                    v.values.len()
                ),
                variable: Some(i),
            });
        }
        // A zip group advances together: it counts once, at its first member.
        if exp.zips.iter().any(|z| z.contains(&i) && z[0] != i) || v.values.len() == 1 {
            continue;
        }
        points = points.saturating_mul(v.values.len() as u128);
        factors.push(format!("{}: {}", v.name, v.values.len()));
        if points > MAX_POINTS {
            return Some(SizeProblem {
                message: format!(
                    "the variable space has at least {} points ({}), more than the limit of {MAX_POINTS}",
                    points,
                    factors.join(" × ")
                ),
                variable: Some(i),
            });
        }
    }
    let selected = match exp.sampling.method {
        SamplingMethod::Full => points,
        _ => points.min(exp.sampling.count as u128),
    };
    let runs = selected.saturating_mul(exp.runs as u128);
    (runs > MAX_RUNS).then(|| SizeProblem {
        message: format!(
            "{selected} {} × {} each = {runs} runs, more than the limit of {MAX_RUNS}",
            if selected == 1 { "point" } else { "points" },
            crate::words::count(exp.runs, "run")
        ),
        variable: None,
    })
}
