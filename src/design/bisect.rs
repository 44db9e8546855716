//! The search for a limit as a pure procedure: given what is known of each probed value, the
//! next value to probe, or what the search found.

use serde_json::Value;

use crate::model::Goal;
use crate::spec::{Search, Width};
use crate::store::LimitStatus;

/// Most probes of one search: bisection closes any bracket of a double long before.
pub const MAX_PROBES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Bisect {
    pub lo: f64,
    pub hi: f64,
    pub integer: bool,
    /// Bisect on a log scale (the range spans at least two decades).
    pub geometric: bool,
    pub goal: Goal,
    pub precision: Width,
}

/// What a search does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Probe(f64),
    Done(Found),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub status: LimitStatus,
    /// The best value that met the condition.
    pub limit: Option<f64>,
    /// The closing bracket: (met the condition, did not).
    pub bracket: Option<(f64, f64)>,
}

impl Bisect {
    pub fn of(s: &Search) -> Bisect {
        Bisect {
            lo: s.lo,
            hi: s.hi,
            integer: s.integer,
            geometric: crate::spec::design::is_geometric(s.lo, s.hi),
            goal: s.goal,
            precision: s.precision,
        }
    }

    /// The next probe given `known` (true: the value meets the condition; `None`: not probed
    /// yet), or the result. The far end is probed first (when it meets the condition, so does
    /// the whole range), then the near end, then the middle of the bracket until it is within
    /// `precision`. The same answers always give the same probes.
    pub fn next(&self, known: impl Fn(f64) -> Option<bool>) -> Step {
        let (near, far) = match self.goal {
            Goal::Max => (self.lo, self.hi),
            Goal::Min => (self.hi, self.lo),
        };
        let Some(far_met) = known(far) else {
            return Step::Probe(far);
        };
        if far_met {
            return Step::Done(Found {
                status: LimitStatus::HoldsEverywhere,
                limit: Some(far),
                bracket: None,
            });
        }
        let Some(near_met) = known(near) else {
            return Step::Probe(near);
        };
        if !near_met {
            return Step::Done(Found {
                status: LimitStatus::FailsEverywhere,
                limit: None,
                bracket: None,
            });
        }
        let (mut good, mut bad) = (near, far);
        for _ in 0..MAX_PROBES {
            if self.closed(good, bad) {
                break;
            }
            let m = self.middle(good, bad);
            match known(m) {
                None => return Step::Probe(m),
                Some(true) => good = m,
                Some(false) => bad = m,
            }
        }
        Step::Done(Found {
            status: LimitStatus::Found,
            limit: Some(good),
            bracket: Some((good, bad)),
        })
    }

    /// Narrower than `precision` (relative to the upper end of the bracket), or no integer
    /// left between the ends.
    pub fn closed(&self, good: f64, bad: f64) -> bool {
        let width = (bad - good).abs();
        (self.integer && width <= 1.0) || width <= self.precision.at(good.max(bad))
    }

    fn middle(&self, a: f64, b: f64) -> f64 {
        let m = if self.geometric {
            (a * b).sqrt()
        } else {
            a + (b - a) / 2.0
        };
        if !self.integer {
            return m;
        }
        let (l, h) = (a.min(b), a.max(b));
        m.round().clamp(l + 1.0, h - 1.0)
    }

    /// The most probes a search can take (a limit at the near end of the range, where a
    /// relative precision is narrowest).
    pub fn worst_case_probes(&self) -> usize {
        let near = match self.goal {
            Goal::Max => self.lo,
            Goal::Min => self.hi,
        };
        let mut probed: Vec<f64> = Vec::new();
        loop {
            let step = self.next(|x| {
                probed
                    .iter()
                    .any(|p| p.to_bits() == x.to_bits())
                    .then_some(x == near)
            });
            match step {
                Step::Probe(x) => probed.push(x),
                Step::Done(_) => return probed.len(),
            }
        }
    }
}

/// A probed value as the journal and the templates see it: an integer for integer ranges.
pub fn probe_value(x: f64, integer: bool) -> Value {
    if integer {
        Value::from(x.round() as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bisect(lo: f64, hi: f64, integer: bool, goal: Goal, precision: Width) -> Bisect {
        Bisect {
            lo,
            hi,
            integer,
            geometric: crate::spec::design::is_geometric(lo, hi),
            goal,
            precision,
        }
    }

    /// Runs a search against a system whose condition holds below (max) or above (min)
    /// `capacity`; returns what it found and the probes.
    fn search(b: &Bisect, capacity: f64) -> (Found, Vec<f64>) {
        let mut probes: Vec<f64> = Vec::new();
        let meets = |x: f64| match b.goal {
            Goal::Max => x <= capacity,
            Goal::Min => x >= capacity,
        };
        loop {
            let step = b.next(|x| probes.contains(&x).then(|| meets(x)));
            match step {
                Step::Probe(x) => {
                    assert!(!probes.contains(&x), "{x} probed twice");
                    probes.push(x);
                }
                Step::Done(f) => return (f, probes),
            }
        }
    }

    #[test]
    fn finds_a_capacity_within_precision_never_above_in_few_probes() {
        let b = bisect(1e3, 1e7, true, Goal::Max, Width::Relative(0.01));
        assert!(b.geometric);
        for cap in [1234.0, 5e4, 777_777.0, 9_999_000.0] {
            let (f, probes) = search(&b, cap);
            let limit = f.limit.unwrap();
            assert_eq!(f.status, LimitStatus::Found);
            assert!(limit <= cap, "{limit} above {cap}");
            assert!(limit >= cap * 0.99 - 1.0, "{limit} not within 1% of {cap}");
            assert!(probes.len() <= 25, "{} probes", probes.len());
            assert!(probes.iter().all(|p| p.fract() == 0.0), "integer probes");
        }
        assert!(b.worst_case_probes() <= 25);
    }

    #[test]
    fn goal_min_and_the_ends_of_the_range() {
        let b = bisect(0.0, 100.0, false, Goal::Min, Width::Absolute(0.5));
        let (f, _) = search(&b, 37.2);
        let limit = f.limit.unwrap();
        assert!((37.2..=37.7).contains(&limit), "{limit}");
        let (f, probes) = search(&b, -5.0);
        assert_eq!((f.status, probes.len()), (LimitStatus::HoldsEverywhere, 1));
        assert_eq!(f.limit, Some(0.0));
        let (f, _) = search(&b, 500.0);
        assert_eq!((f.status, f.limit), (LimitStatus::FailsEverywhere, None));
        let max = bisect(1.0, 64.0, true, Goal::Max, Width::Relative(0.001));
        let (f, _) = search(&max, 40.0);
        assert_eq!(f.limit, Some(40.0), "an integer bracket closes at width 1");
    }
}
