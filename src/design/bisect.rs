//! The search for a limit as a pure procedure: given what is known of each probed value, the
//! next value to probe, or what the search found.

use serde_json::Value;

use super::decide::Verdict;
use crate::model::Goal;
use crate::spec::{Search, Width};
use crate::store::LimitStatus;

/// Most probes of one search: bisection closes any bracket of a double long before.
pub(super) const MAX_PROBES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bisect {
    pub lo: f64,
    pub hi: f64,
    pub integer: bool,
    /// Bisect on a log scale (the range spans at least two decades).
    pub geometric: bool,
    pub goal: Goal,
    pub precision: Width,
    /// Probes can end undecided (they get more than one run).
    pub undecided: bool,
    /// The most middles the plain bisection probes (over every outcome of its probes).
    pub depth: usize,
}

/// What a search does next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Probe(f64),
    Done(Found),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub status: LimitStatus,
    /// The best value that met the condition (decided).
    pub limit: Option<f64>,
    /// The bracket: the best decided value that met the condition and the nearest decided
    /// value beyond it that did not (either absent when no probe was so decided).
    pub bracket: (Option<f64>, Option<f64>),
}

impl Bisect {
    /// The search `s`, whose probes get at most `max_runs` runs (more than one: a probe can
    /// end undecided).
    pub(crate) fn of(s: &Search, max_runs: usize) -> Bisect {
        Bisect::new(s.lo, s.hi, s.integer, s.goal, s.precision, max_runs > 1)
    }

    pub(crate) fn new(
        lo: f64,
        hi: f64,
        integer: bool,
        goal: Goal,
        precision: Width,
        undecided: bool,
    ) -> Bisect {
        let mut b = Bisect {
            lo,
            hi,
            integer,
            geometric: crate::spec::design::is_geometric(lo, hi),
            goal,
            precision,
            undecided,
            depth: 0,
        };
        let (near, far) = match goal {
            Goal::Max => (lo, hi),
            Goal::Min => (hi, lo),
        };
        let mut budget: usize = 1 << 20;
        b.depth = b.deepest(near, far, 0, &mut budget).unwrap_or(MAX_PROBES);
        b
    }

    /// The next probe given `known` (a probe's verdict, `Undecided` for one that stayed
    /// undecided at its most runs; `None`: not probed yet), or the result. The far end is
    /// probed first (when it meets the condition, so does the whole range), then the near end,
    /// then the middle of the bracket until it is within `precision` (**found**). Once a probe
    /// stays undecided, the limit is where the noise hides it: the bisection goes on on each
    /// side of the undecided probes, between the best passing value and the nearest undecided
    /// one and between the farthest undecided one and the nearest failing value, until both
    /// are within `precision` (**inconclusive**, bracketed by the best passing and the nearest
    /// failing decided probes). The same answers always give the same probes.
    pub(crate) fn next(&self, known: impl Fn(f64) -> Option<Verdict>) -> Step {
        let (near, far) = match self.goal {
            Goal::Max => (self.lo, self.hi),
            Goal::Min => (self.hi, self.lo),
        };
        let done = |status, limit: Option<f64>, bracket| {
            Step::Done(Found {
                status,
                limit,
                bracket,
            })
        };
        let Some(far_v) = known(far) else {
            return Step::Probe(far);
        };
        if far_v == Verdict::Pass {
            return done(LimitStatus::HoldsEverywhere, Some(far), (Some(far), None));
        }
        let Some(near_v) = known(near) else {
            return Step::Probe(near);
        };
        match (near_v, far_v) {
            (Verdict::Pass, _) => {}
            (Verdict::Fail, Verdict::Fail) => {
                return done(LimitStatus::FailsEverywhere, None, (None, Some(near)));
            }
            (Verdict::Fail, _) => {
                return done(LimitStatus::Inconclusive, None, (None, Some(near)));
            }
            (_, v) => {
                let bad = (v == Verdict::Fail).then_some(far);
                return done(LimitStatus::Inconclusive, None, (None, bad));
            }
        }
        // Positions along the search, from the near end to the far one.
        let at = |x: f64| match self.goal {
            Goal::Max => x,
            Goal::Min => -x,
        };
        let (mut good, mut bad) = (near, far);
        let mut bad_decided = far_v == Verdict::Fail;
        // The undecided probes inside the bracket: the nearest to `good` and to `bad`.
        let mut zone: Option<(f64, f64)> = (far_v == Verdict::Undecided).then_some((far, far));
        // At most twice the plain bisection's middles, however the undecided probes fall.
        for _ in 0..2 * self.depth {
            let (a, b) = match zone {
                None if self.closed(good, bad) => break,
                None => (good, bad),
                Some((u, _)) if !self.closed(good, u) => (good, u),
                Some((_, u)) if !self.closed(u, bad) => (u, bad),
                Some(_) => break,
            };
            let m = self.middle(a, b);
            match known(m) {
                None => return Step::Probe(m),
                Some(Verdict::Pass) => {
                    good = m;
                    // Past every undecided probe: they are behind the bracket now.
                    zone = zone.filter(|&(_, u)| at(u) > at(m));
                }
                Some(Verdict::Fail) => {
                    bad = m;
                    bad_decided = true;
                    zone = zone.filter(|&(u, _)| at(u) < at(m));
                }
                Some(Verdict::Undecided) => {
                    zone = Some(match zone {
                        None => (m, m),
                        Some((u, v)) if at(m) < at(u) => (m, v),
                        Some((u, v)) => (u, if at(m) > at(v) { m } else { v }),
                    });
                }
            }
        }
        let status = if bad_decided && zone.is_none() && self.closed(good, bad) {
            LimitStatus::Found
        } else {
            LimitStatus::Inconclusive
        };
        done(status, Some(good), (Some(good), bad_decided.then_some(bad)))
    }

    /// Narrower than `precision` (relative to the upper end of the bracket), or no integer
    /// left between the ends.
    pub(crate) fn closed(&self, good: f64, bad: f64) -> bool {
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

    /// The next probe of a search given what was measured (value, met the condition) and,
    /// with `monotonic`, the limit of a smaller combination (`bound`): for `max`, every value
    /// up to it is taken to meet the condition; for `min`, every value below it to fail. The
    /// far end is measured as without `monotonic`. With `max`, the bound itself is measured
    /// next: when it meets the condition, so does every value below it, and what it implies is
    /// known rather than assumed; when it fails, the limit was not monotonic after all. With
    /// `min`, the ends of the closing bracket are measured before the search ends. A
    /// measurement that contradicts the bound drops it: the search goes on as the search
    /// without `monotonic`, reusing every value measured so far (at most
    /// [`Bisect::worst_case_probes_monotonic`] probes).
    pub(crate) fn next_given(&self, measured: &[(f64, Verdict)], bound: Option<f64>) -> Step {
        let goal = self.goal;
        // A measured verdict other than the one the bound implies (undecided included)
        // drops it.
        let bound = bound.filter(|&b| {
            !measured
                .iter()
                .any(|&(x, v)| infer(x, Some(b), goal).is_some_and(|i| i != v))
        });
        let was_measured = |x: f64| {
            measured
                .iter()
                .find(|(v, _)| v.to_bits() == x.to_bits())
                .map(|(_, v)| *v)
        };
        let far = match goal {
            Goal::Max => self.hi,
            Goal::Min => self.lo,
        };
        if let (Goal::Max, Some(b), Some(v)) = (goal, bound, was_measured(far)) {
            if v != Verdict::Pass && was_measured(b).is_none() {
                return Step::Probe(b);
            }
        }
        let step = self.next(|x| {
            was_measured(x).or_else(|| (x != far).then(|| infer(x, bound, goal)).flatten())
        });
        let Step::Done(mut f) = step else {
            return step;
        };
        // A measured bound inside the closing bracket is its better end.
        if let (Some(b), (Some(good), bad)) = (bound.filter(|_| goal == Goal::Max), f.bracket) {
            if good < b && bad.is_none_or(|bad| b < bad) {
                f.limit = Some(b);
                f.bracket = (Some(b), bad);
            }
        }
        let ends = [f.limit, f.bracket.0, f.bracket.1];
        match ends
            .into_iter()
            .flatten()
            .find(|&x| was_measured(x).is_none())
        {
            Some(x) => Step::Probe(x),
            None => Step::Done(f),
        }
    }

    /// The most probes a search can take: the far end, the near end and the deepest
    /// bisection over every possible outcome of its probes. The exploration is exact within a
    /// budget of bisections; past it the answer is the bound no search exceeds, the two ends
    /// and [`MAX_PROBES`] middles.
    /// The most probes a search can take: the far end, the near end and the deepest
    /// bisection over every possible outcome of its probes (explored exactly within a budget
    /// of bisections; past it, [`MAX_PROBES`] middles). Where probes can end undecided, the
    /// bisection on each side of the undecided ones may take up to twice as many middles, and
    /// no more: the search ends there, inconclusive.
    pub(crate) fn worst_case_probes(&self) -> usize {
        2 + if self.undecided {
            2 * self.depth
        } else {
            self.depth
        }
    }

    /// The most probes of a search with `monotonic` whose combination has smaller ones. With
    /// `max`, every probe but the bound is one the search without `monotonic` makes too: at
    /// most one more. With `min`, a limit that turns out not to be monotonic costs the probes
    /// spent trusting it, then at most those of the search without it.
    pub(crate) fn worst_case_probes_monotonic(&self) -> usize {
        match self.goal {
            Goal::Max => self.worst_case_probes() + 1,
            Goal::Min => 2 * self.worst_case_probes(),
        }
    }

    /// The most middles probed from the bracket (`good`, `bad`), `None` past the budget.
    fn deepest(&self, good: f64, bad: f64, depth: usize, budget: &mut usize) -> Option<usize> {
        if depth == MAX_PROBES || self.closed(good, bad) {
            return Some(0);
        }
        *budget = budget.checked_sub(1)?;
        let m = self.middle(good, bad);
        let met = self.deepest(m, bad, depth + 1, budget)?;
        let failed = self.deepest(good, m, depth + 1, budget)?;
        Some(1 + met.max(failed))
    }
}

/// What a smaller combination's limit `bound` implies at `x`: for `max`, every value up to it
/// meets the condition; for `min`, every value below it fails.
pub(super) fn infer(x: f64, bound: Option<f64>, goal: Goal) -> Option<Verdict> {
    let b = bound?;
    match goal {
        Goal::Max => (x <= b).then_some(Verdict::Pass),
        Goal::Min => (x < b).then_some(Verdict::Fail),
    }
}

/// A probed value as the journal and the templates see it: an integer for integer ranges.
pub(crate) fn probe_value(x: f64, integer: bool) -> Value {
    if integer {
        Value::from(x.round() as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(met: bool) -> Verdict {
        if met {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    fn bisect(lo: f64, hi: f64, integer: bool, goal: Goal, precision: Width) -> Bisect {
        Bisect::new(lo, hi, integer, goal, precision, false)
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
            let step = b.next(|x| probes.contains(&x).then(|| verdict(meets(x))));
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
        // It printed "at most 5 probes" for a search that takes 12.
        let b = bisect(1.0, 1000.0, true, Goal::Max, Width::Relative(0.01));
        let most = (1..=1000).map(|c| search(&b, c as f64).1.len()).max();
        assert_eq!(
            most,
            Some(b.worst_case_probes()),
            "the worst case is reached"
        );
        assert_eq!(b.worst_case_probes(), 13);
    }

    /// A search with `monotonic` (`bound`: the smaller combination's limit) against a system
    /// whose limit is `capacity`; returns what it found and how many probes it took.
    fn search_given(b: &Bisect, capacity: f64, bound: Option<f64>) -> (Found, usize) {
        let mut measured: Vec<(f64, Verdict)> = Vec::new();
        let meets = |x: f64| match b.goal {
            Goal::Max => verdict(x <= capacity),
            Goal::Min => verdict(x >= capacity),
        };
        loop {
            match b.next_given(&measured, bound) {
                Step::Probe(x) => {
                    assert!(
                        !measured.iter().any(|(v, _)| *v == x),
                        "{x} probed twice (capacity {capacity}, bound {bound:?})"
                    );
                    measured.push((x, meets(x)));
                }
                Step::Done(f) => return (f, measured.len()),
            }
        }
    }

    #[test]
    fn a_limit_that_turns_out_not_monotonic_restarts_the_bisection() {
        // Limit 800 at c=1, 100 at c=2: c=2 took 308 probes one 1% step at a time.
        let b = bisect(1.0, 1000.0, true, Goal::Max, Width::Relative(0.01));
        let (plain, plain_probes) = search_given(&b, 100.0, None);
        let (c1, _) = search_given(&b, 800.0, None);
        let (f, probes) = search_given(&b, 100.0, c1.limit);
        assert_eq!((plain_probes, probes), (12, 13));
        assert_eq!((f.status, f.limit), (plain.status, plain.limit));
        assert!(probes <= b.worst_case_probes_monotonic());
        // Where the limit is monotonic, fewer probes than without `monotonic`.
        let (f, probes) = search_given(&b, 900.0, c1.limit);
        let (plain, plain_probes) = search_given(&b, 900.0, None);
        assert_eq!(f.limit, plain.limit);
        assert!(probes < plain_probes, "{probes} vs {plain_probes}");
    }

    fn any_bisect() -> impl proptest::strategy::Strategy<Value = Bisect> {
        use proptest::prelude::*;
        (
            -1000.0f64..1e6,
            0.0f64..7.0,
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                (0.001f64..0.2).prop_map(Width::Relative),
                (0.01f64..500.0).prop_map(Width::Absolute),
            ],
        )
            .prop_map(|(lo, decades, integer, max, precision)| {
                let lo = if integer { lo.round() } else { lo };
                let hi = lo + 10f64.powf(decades).max(2.0);
                let hi = if integer { hi.round() } else { hi };
                let goal = if max { Goal::Max } else { Goal::Min };
                bisect(lo, hi, integer, goal, precision)
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// `--dry-run`'s worst case is never exceeded, wherever the limit is.
        #[test]
        fn no_search_takes_more_probes_than_the_worst_case(
            b in any_bisect(),
            at in -0.1f64..1.1,
        ) {
            let capacity = b.lo + at * (b.hi - b.lo);
            let (_, probes) = search(&b, capacity);
            let worst = b.worst_case_probes();
            proptest::prop_assert!(probes.len() <= worst, "{} probes, worst case {worst}", probes.len());
        }

        /// With `monotonic`: never more probes than without it where the limit does not
        /// decrease, the same limit, and never more than the worst case where it does.
        #[test]
        fn monotonic_never_costs_more_than_without_it(
            b in any_bisect(),
            first in -0.1f64..1.1,
            second in -0.1f64..1.1,
        ) {
            let at = |f: f64| b.lo + f * (b.hi - b.lo);
            let (c1, _) = search_given(&b, at(first), None);
            let bound = match (b.goal, c1.status) {
                (_, LimitStatus::Found) | (Goal::Max, LimitStatus::HoldsEverywhere) => c1.limit,
                _ => None,
            };
            let (plain, plain_probes) = search_given(&b, at(second), None);
            let (mono, probes) = search_given(&b, at(second), bound);
            // The limit does not decrease, for either goal.
            let monotonic = second >= first;
            proptest::prop_assert!(probes <= b.worst_case_probes_monotonic());
            if monotonic {
                proptest::prop_assert!(probes <= plain_probes, "{probes} probes, {plain_probes} without monotonic");
                proptest::prop_assert_eq!(mono.limit, plain.limit);
                proptest::prop_assert_eq!(mono.status, plain.status);
            } else {
                if b.goal == Goal::Max {
                    proptest::prop_assert!(probes <= plain_probes + 1, "{probes} probes, {plain_probes} without monotonic");
                }
                proptest::prop_assert_eq!(mono.limit, plain.limit);
            }
            if let Some(l) = mono.limit {
                // Still a measured value on the right side of the capacity.
                let ok = match b.goal {
                    Goal::Max => l <= at(second),
                    Goal::Min => l >= at(second),
                };
                proptest::prop_assert!(ok, "limit {l}, capacity {}", at(second));
            }
        }
    }

    /// A noisy system: probes within `zone` of the capacity stay undecided, the others are
    /// decided right. Returns what the search found and its probes.
    fn search_noisy(b: &Bisect, capacity: f64, zone: f64, bound: Option<f64>) -> (Found, usize) {
        let mut measured: Vec<(f64, Verdict)> = Vec::new();
        let v = |x: f64| {
            let d = match b.goal {
                Goal::Max => capacity - x,
                Goal::Min => x - capacity,
            };
            if d.abs() < zone {
                Verdict::Undecided
            } else {
                verdict(d >= 0.0)
            }
        };
        loop {
            match b.next_given(&measured, bound) {
                Step::Probe(x) => {
                    assert!(!measured.iter().any(|(m, _)| *m == x), "{x} probed twice");
                    measured.push((x, v(x)));
                }
                Step::Done(f) => return (f, measured.len()),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// With undecided probes: never more probes than the worst case, `found` only when
        /// decided probes close the bracket, and the bracket always holds the capacity.
        #[test]
        fn undecided_probes_end_inconclusive_and_the_bracket_holds_the_capacity(
            b in any_bisect(),
            at in -0.1f64..1.1,
            zone in 0.0f64..0.3,
            first in proptest::option::of(-0.1f64..1.1),
        ) {
            let b = Bisect::new(b.lo, b.hi, b.integer, b.goal, b.precision, true);
            let span = b.hi - b.lo;
            let capacity = b.lo + at * span;
            let bound = first.and_then(|f| {
                let (c1, _) = search_given(&b, b.lo + f * span, None);
                match (b.goal, c1.status) {
                    (_, LimitStatus::Found) | (Goal::Max, LimitStatus::HoldsEverywhere) => c1.limit,
                    _ => None,
                }
            });
            let (f, probes) = search_noisy(&b, capacity, zone * span, bound);
            let worst = if bound.is_some() { b.worst_case_probes_monotonic() } else { b.worst_case_probes() };
            proptest::prop_assert!(probes <= worst, "{probes} probes, worst case {worst}");
            let (good, bad) = f.bracket;
            let below = |x: f64| match b.goal {
                Goal::Max => x <= capacity,
                Goal::Min => x >= capacity,
            };
            if let Some(g) = good {
                proptest::prop_assert!(below(g), "{f:?}, capacity {capacity}");
            }
            if let Some(x) = bad {
                proptest::prop_assert!(!below(x) || x == capacity, "{f:?}, capacity {capacity}");
            }
            if f.status == LimitStatus::Found {
                proptest::prop_assert!(good.is_some() && bad.is_some(), "{f:?}");
                proptest::prop_assert!(b.closed(good.unwrap(), bad.unwrap()), "{f:?}");
                proptest::prop_assert_eq!(f.limit, good);
            }
        }
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
