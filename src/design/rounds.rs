//! The design: every point's (or every search's) batches laid out in rounds, and the next
//! round that the journal does not complete.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::bisect::{probe_value, Bisect, Found, Step};
use super::decide::{interval, judge, Verdict};
use super::sample::{sample_until, Journal, Rule, Run};
use crate::model::Goal;
use crate::plan::{fnv1a, Plan, PlannedRun, RunList, NULL};
use crate::spec::{Experiment, Order, Search};
use crate::store::{Limit, LimitStatus, PointRuns};

/// Decides the runs of an experiment from the runs recorded so far.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    rule: Rule,
    search: Option<SearchDesign>,
    shuffle: bool,
    seed: u64,
    /// Verdicts already reached, by probe and values: every round replays the journal, and a
    /// verdict is a pure function of them.
    verdicts: std::sync::Arc<std::sync::Mutex<HashMap<u64, Result<Verdict, String>>>>,
}

/// Most verdicts remembered; past it the memory starts again.
const MAX_VERDICTS: usize = 1 << 16;

#[derive(Debug, Clone)]
struct SearchDesign {
    bisect: Bisect,
    variable: usize,
    name: String,
    condition: String,
    /// Confidence of each probe's decision.
    confidence: f64,
    /// Per combination: the combinations whose limit bounds its own (`monotonic`).
    before: Vec<Vec<usize>>,
}

/// The runs of the next round.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Next {
    /// 0-based round.
    pub round: usize,
    /// Runs of the round still missing from the journal, in order (12 bytes a run).
    pub runs: RunList,
    /// Runs asked for up to the end of this round.
    pub planned: usize,
    /// What the design is doing, for the progress display.
    pub status: Option<String>,
    /// Conditions that could not be evaluated (counted as not met).
    pub warnings: Vec<String>,
}

/// What a journal implies at its end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub points: Vec<PointRuns>,
    pub limits: Vec<Limit>,
    pub warnings: Vec<String>,
}

/// One unit's request at one round: a point and the repetitions it needs. 16 bytes: a
/// sweep's timeline holds one per point (rounds, points and repetitions are below
/// `MAX_RUNS` and `MAX_POINTS`, 10^7, so `u32` holds them).
struct Batch {
    round: u32,
    point: u32,
    reps: std::ops::Range<u32>,
}

impl Batch {
    fn point(&self) -> usize {
        self.point as usize
    }

    fn round(&self) -> usize {
        self.round as usize
    }

    fn reps(&self) -> impl Iterator<Item = usize> {
        self.reps.clone().map(|r| r as usize)
    }
}

/// Everything the journal implies: the batches so far, and what ended.
#[derive(Default)]
struct Timeline {
    batches: Vec<Batch>,
    points: Vec<PointRuns>,
    limits: Vec<Limit>,
    /// Brackets of searches still running (`rate: 1.2 M–1.4 M`).
    searching: Vec<String>,
    warnings: Vec<String>,
}

/// A search of one combination, replayed.
struct GroupEnd {
    found: Option<Found>,
    end_round: usize,
}

impl Design {
    pub(crate) fn new(exp: &Experiment, plan: &Plan) -> Design {
        Design {
            rule: Rule::of(exp),
            search: exp.search.as_ref().map(|s| SearchDesign {
                bisect: Bisect::of(s, Rule::of(exp).max),
                variable: s.variable,
                name: exp.variables[s.variable].name.clone(),
                condition: s.condition.clone(),
                confidence: s.confidence,
                before: predecessors(s, plan),
            }),
            shuffle: exp.order == Order::Shuffle,
            seed: fnv1a(exp.seed.as_bytes()),
            verdicts: Default::default(),
        }
    }

    /// The first round that the journal does not complete; `None` when the design is done.
    #[cfg(test)]
    pub(crate) fn next(&self, plan: &mut Plan, journal: &Journal) -> Option<Next> {
        self.next_where(plan, journal, &|_, _| true)
    }

    /// The first round that the journal does not complete among the points `keep` accepts
    /// (a profile's block: the points of one value), with only their runs; `None` when they
    /// are done.
    pub(crate) fn next_where(
        &self,
        plan: &mut Plan,
        journal: &Journal,
        keep: &dyn Fn(&Plan, usize) -> bool,
    ) -> Option<Next> {
        let missing = |plan: &Plan, point: usize, rep: usize| {
            keep(plan, point) && journal.get(point, rep).is_none()
        };
        if !self.decides() {
            // A fixed number of runs a point: one round, the plan's runs as they are, and no
            // timeline (16 bytes a point) to find it.
            let runs: RunList = (plan.runs())
                .filter(|r| missing(plan, r.point, r.repetition))
                .collect();
            return (!runs.is_empty()).then(|| Next {
                round: 0,
                runs,
                planned: plan.run_count(),
                status: None,
                warnings: Vec::new(),
            });
        }
        let tl = self.timeline(plan, journal);
        let round = tl
            .batches
            .iter()
            .filter(|b| b.reps().any(|r| missing(plan, b.point(), r)))
            .map(Batch::round)
            .min()?;
        if round == 0 && self.search.is_none() {
            // The fixed plan's runs as they are: no second list of every run.
            let runs = (plan.runs())
                .filter(|r| missing(plan, r.point, r.repetition))
                .collect();
            return Some(Next {
                round,
                runs,
                planned: plan.run_count(),
                status: self.status(&tl, round),
                warnings: tl.warnings,
            });
        }
        let base: usize = tl
            .batches
            .iter()
            .filter(|b| b.round() < round)
            .map(|b| b.reps.len())
            .sum();
        let full = self.round_runs(&tl, round);
        let planned = base + full.len();
        let runs = full
            .into_iter()
            .enumerate()
            .map(|(i, (point, repetition))| PlannedRun {
                index: base + i,
                point,
                repetition,
            })
            .filter(|r| missing(plan, r.point, r.repetition))
            .collect();
        Some(Next {
            round,
            runs,
            planned,
            status: self.status(&tl, round),
            warnings: tl.warnings,
        })
    }

    /// Per point its runs and convergence (adaptive designs), the limits (searches), and the
    /// conditions that could not be evaluated: a pure function of the journal, so that a set
    /// whose results were extracted again gets them anew.
    pub(crate) fn outcome(&self, plan: &mut Plan, journal: &Journal) -> Outcome {
        if !self.decides() {
            return Outcome::default(); // no convergence, no limits, no condition
        }
        let tl = self.timeline(plan, journal);
        Outcome {
            points: tl.points,
            limits: tl.limits,
            warnings: tl.warnings,
        }
    }

    /// Whether the outcome depends on the results (adaptive repetitions or a search).
    pub(crate) fn decides(&self) -> bool {
        self.search.is_some() || self.rule.is_adaptive()
    }

    /// The fewest and the most runs the design can take, for `--dry-run`.
    pub(crate) fn bounds(&self, plan: &Plan) -> (usize, usize) {
        let units = plan.groups;
        match &self.search {
            None => (units * self.rule.min, units * self.rule.max),
            Some(s) => {
                let (plain, mono) = (
                    s.bisect.worst_case_probes(),
                    s.bisect.worst_case_probes_monotonic(),
                );
                let probes: usize = s
                    .before
                    .iter()
                    .map(|b| if b.is_empty() { plain } else { mono })
                    .sum();
                (units * self.rule.min, probes * self.rule.max)
            }
        }
    }

    /// The round's runs in order, a shuffle seeded with the round (the first round of a
    /// sweep is the fixed plan's order: `next_where` takes it from the plan).
    fn round_runs(&self, tl: &Timeline, round: usize) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = tl
            .batches
            .iter()
            .filter(|b| b.round() == round)
            .flat_map(|b| b.reps().map(|r| (b.point(), r)))
            .collect();
        if self.shuffle {
            let seed = self.seed ^ fnv1a(format!("round {round}").as_bytes());
            fastrand::Rng::with_seed(seed).shuffle(&mut runs);
        }
        runs
    }

    fn status(&self, tl: &Timeline, round: usize) -> Option<String> {
        if let Some(first) = tl.searching.first() {
            let more = tl.searching.len() - 1;
            return Some(match more {
                0 => first.clone(),
                n => format!("{first} (and {n} more searches)"),
            });
        }
        if round == 0 || !self.rule.is_adaptive() {
            return None;
        }
        let noisy = tl.batches.iter().filter(|b| b.round() == round).count();
        Some(format!(
            "round {}: {noisy} point{} still noisy",
            round + 1,
            if noisy == 1 { "" } else { "s" }
        ))
    }

    fn timeline(&self, plan: &mut Plan, journal: &Journal) -> Timeline {
        let mut tl = Timeline::default();
        match &self.search {
            None => {
                tl.batches.reserve_exact(plan.groups);
                for p in 0..plan.groups {
                    self.sample_point(plan, journal, p, 0, &mut tl, |_| false);
                }
            }
            Some(s) => {
                let mut ends: Vec<Option<GroupEnd>> = (0..plan.groups).map(|_| None).collect();
                for g in 0..plan.groups {
                    self.replay_group(s, plan, journal, g, &mut ends, &mut tl);
                }
            }
        }
        tl
    }

    /// Lays out a point's batches from `start` (one more run per round also while `more`
    /// says so); returns its end round and sample end.
    fn sample_point(
        &self,
        plan: &Plan,
        journal: &Journal,
        point: usize,
        start: usize,
        tl: &mut Timeline,
        more: impl Fn(&[Run]) -> bool,
    ) -> (usize, Option<super::SampleEnd>) {
        let s = sample_until(&self.rule, journal, point, more);
        let rounds = s.batches.len();
        for (i, reps) in s.batches.into_iter().enumerate() {
            tl.batches.push(Batch {
                round: (start + i) as u32,
                point: point as u32,
                reps: reps.start as u32..reps.end as u32,
            });
        }
        if let (Some(end), true) = (&s.end, self.rule.is_adaptive()) {
            tl.points.push(PointRuns {
                point: plan.point(point),
                runs: end.runs,
                converged: end.converged,
            });
        }
        (start + rounds, s.end)
    }

    /// Replays the search of combination `g` (after those that bound it), recording its
    /// batches, its probes' points and its limit.
    fn replay_group(
        &self,
        s: &SearchDesign,
        plan: &mut Plan,
        journal: &Journal,
        g: usize,
        ends: &mut Vec<Option<GroupEnd>>,
        tl: &mut Timeline,
    ) {
        if ends[g].is_some() {
            return;
        }
        let mut start = 0;
        let mut bound: Option<f64> = None;
        let mut waiting = false;
        for &d in &s.before[g] {
            self.replay_group(s, plan, journal, d, ends, tl);
            match &ends[d] {
                Some(GroupEnd {
                    found: Some(f),
                    end_round,
                }) => {
                    start = start.max(*end_round);
                    if let Some(l) = usable_bound(f, s.bisect.goal) {
                        bound = Some(bound.map_or(l, |b: f64| b.max(l)));
                    }
                }
                _ => waiting = true,
            }
        }
        let point = group_point(plan, g, s.variable);
        if waiting {
            tl.limits.push(unfinished(point, &[], &s.bisect, 0, 0));
            ends[g] = Some(GroupEnd {
                found: None,
                end_round: usize::MAX,
            });
            return;
        }
        let end = self.probe_group(s, plan, journal, g, start, bound, point, tl);
        ends[g] = Some(end);
    }

    /// Probes combination `g` from round `start` until its search ends or waits for runs.
    #[allow(clippy::too_many_arguments)]
    fn probe_group(
        &self,
        s: &SearchDesign,
        plan: &mut Plan,
        journal: &Journal,
        g: usize,
        start: usize,
        bound: Option<f64>,
        point: Map<String, Value>,
        tl: &mut Timeline,
    ) -> GroupEnd {
        let goal = s.bisect.goal;
        let mut measured: Vec<(f64, Verdict)> = Vec::new();
        let (mut round, mut runs, mut undecided) = (start, 0, 0);
        loop {
            let x = match s.bisect.next_given(&measured, bound) {
                Step::Probe(x) => x,
                Step::Done(found) => {
                    let mut limit = limit_of(point, &found, s, measured.len(), runs);
                    limit.undecided = undecided;
                    limit.probed = probed(&measured, s.bisect.integer);
                    tl.limits.push(limit);
                    return GroupEnd {
                        found: Some(found),
                        end_round: round,
                    };
                }
            };
            let value = probe_value(x, s.bisect.integer);
            let p = plan.probe(g, s.variable, &value);
            let at = plan.point(p);
            let undecided_yet = |rs: &[Run]| {
                let values = super::decide::values(rs);
                self.verdict(s, &at, &values) == Ok(Verdict::Undecided)
            };
            let (end_round, end) = self.sample_point(plan, journal, p, round, tl, undecided_yet);
            round = end_round;
            let Some(end) = end else {
                tl.searching
                    .push(bracket_text(&s.name, &measured, goal, &point));
                let mut limit = unfinished(point, &measured, &s.bisect, measured.len() + 1, runs);
                limit.probed = probed(&measured, s.bisect.integer);
                tl.limits.push(limit);
                return GroupEnd {
                    found: None,
                    end_round: usize::MAX,
                };
            };
            runs += end.runs;
            let verdict = match self.verdict(s, &at, &end.values) {
                Ok(v) => v,
                Err(e) => {
                    tl.warnings.push(format!(
                        "search: {}={}: condition: {e}; counted as not met",
                        s.name,
                        crate::model::value_text(&value)
                    ));
                    Verdict::Fail
                }
            };
            if verdict == Verdict::Undecided {
                undecided += 1;
            }
            measured.push((x, verdict));
        }
    }

    /// A probe's verdict from its results' values (SPEC §16.2). One value is exact only
    /// where a probe gets one run.
    fn verdict(
        &self,
        s: &SearchDesign,
        point: &Map<String, Value>,
        values: &[(String, Vec<f64>)],
    ) -> Result<Verdict, String> {
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            serde_json::to_string(point)
                .unwrap_or_default()
                .hash(&mut h);
            for (n, xs) in values {
                n.hash(&mut h);
                xs.iter().for_each(|x| x.to_bits().hash(&mut h));
            }
            h.finish()
        };
        if let Some(v) = self.verdicts.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return v;
        }
        let single = self.rule.max == 1;
        let confidence = look_confidence(s.confidence, &self.rule);
        let intervals: Vec<_> = values
            .iter()
            .map(|(n, xs)| interval(n, xs, confidence, single))
            .collect();
        let v = judge(&s.condition, point, &intervals);
        if let Ok(mut m) = self.verdicts.lock() {
            if m.len() >= MAX_VERDICTS {
                m.clear();
            }
            m.insert(key, v.clone());
        }
        v
    }
}

/// The confidence of each look at a probe's decision: a probe is looked at once per run from
/// `min` to `max`, stopping at the first look that decides it, and each look risks a wrong
/// decision; at `1 − (1 − confidence) / looks` each (Bonferroni), all of them together keep
/// the stated confidence.
pub(super) fn look_confidence(confidence: f64, rule: &Rule) -> f64 {
    let looks = (rule.max + 1).saturating_sub(rule.min).max(1);
    1.0 - (1.0 - confidence) / looks as f64
}

/// What a finished smaller combination tells about this one: for `max`, every value up to its
/// limit meets the condition; for `min`, every value below its limit fails.
fn usable_bound(f: &Found, goal: Goal) -> Option<f64> {
    match (goal, f.status) {
        (_, LimitStatus::Found) | (Goal::Max, LimitStatus::HoldsEverywhere) => f.limit,
        _ => None,
    }
}

/// For each combination, those with the next smaller value of one `monotonic` variable and
/// the same values of every other.
fn predecessors(s: &Search, plan: &Plan) -> Vec<Vec<usize>> {
    let by_cells: HashMap<&[u32], usize> =
        (0..plan.groups).map(|g| (plan.point_cells(g), g)).collect();
    (0..plan.groups)
        .map(|g| {
            let cells = plan.point_cells(g);
            s.monotonic
                .iter()
                .filter_map(|&m| {
                    let prev = previous_value(&plan.variables[m].values, cells[m])?;
                    let mut c = cells.to_vec();
                    c[m] = prev;
                    by_cells.get(c.as_slice()).copied()
                })
                .collect()
        })
        .collect()
}

/// The index of the next smaller value (numerically when every value is a number, else the
/// one written before).
fn previous_value(values: &[Value], cell: u32) -> Option<u32> {
    if cell == NULL {
        return None;
    }
    let nums: Option<Vec<f64>> = values.iter().map(Value::as_f64).collect();
    match nums {
        Some(n) => {
            let x = n[cell as usize];
            (0..n.len())
                .filter(|&i| n[i] < x)
                .max_by(|&a, &b| n[a].total_cmp(&n[b]))
                .map(|i| i as u32)
        }
        None => cell.checked_sub(1),
    }
}

/// The combination's values: the point without the searched variable and the constants.
fn group_point(plan: &Plan, g: usize, variable: usize) -> Map<String, Value> {
    let mut p = plan.point(g);
    for (i, v) in plan.variables.iter().enumerate() {
        if i == variable || v.is_constant() {
            p.remove(&v.name);
        }
    }
    p
}

fn limit_of(
    point: Map<String, Value>,
    f: &Found,
    s: &SearchDesign,
    probes: usize,
    runs: usize,
) -> Limit {
    let int = s.bisect.integer;
    Limit {
        point,
        limit: f.limit.map_or(Value::Null, |l| probe_value(l, int)),
        status: f.status,
        probes,
        runs,
        bracket: match f.bracket {
            (None, None) => None,
            (good, bad) => {
                let v = |x: Option<f64>| x.map_or(Value::Null, |x| probe_value(x, int));
                Some([v(good), v(bad)])
            }
        },
        undecided: 0,
        probed: Vec::new(),
    }
}

/// The best value measured so far that met the condition.
fn best_met(measured: &[(f64, Verdict)], goal: Goal) -> Option<f64> {
    let met = measured
        .iter()
        .filter(|(_, m)| *m == Verdict::Pass)
        .map(|(v, _)| *v);
    match goal {
        Goal::Max => met.reduce(f64::max),
        Goal::Min => met.reduce(f64::min),
    }
}

fn unfinished(
    point: Map<String, Value>,
    measured: &[(f64, Verdict)],
    bisect: &Bisect,
    probes: usize,
    runs: usize,
) -> Limit {
    Limit {
        point,
        limit: best_met(measured, bisect.goal)
            .map_or(Value::Null, |l| probe_value(l, bisect.integer)),
        status: LimitStatus::Unfinished,
        probes,
        runs,
        bracket: None,
        undecided: 0,
        probed: Vec::new(),
    }
}

/// The measured probes as the manifest keeps them.
fn probed(measured: &[(f64, Verdict)], integer: bool) -> Vec<crate::store::Probed> {
    measured
        .iter()
        .map(|&(x, v)| crate::store::Probed {
            value: probe_value(x, integer),
            verdict: match v {
                Verdict::Pass => "pass",
                Verdict::Fail => "fail",
                Verdict::Undecided => "undecided",
            }
            .to_string(),
        })
        .collect()
}

/// `rate: 1.2 M–1.4 M (cores=2)`: where a running search stands.
fn bracket_text(
    name: &str,
    measured: &[(f64, Verdict)],
    goal: Goal,
    point: &Map<String, Value>,
) -> String {
    let failed = measured
        .iter()
        .filter(|(_, m)| *m == Verdict::Fail)
        .map(|(v, _)| *v);
    let worst = match goal {
        Goal::Max => failed.reduce(f64::min),
        Goal::Min => failed.reduce(f64::max),
    };
    let show = |x: Option<f64>| x.map_or("?".to_string(), |x| crate::units::humanise(x, ""));
    let (a, b) = match goal {
        Goal::Max => (best_met(measured, goal), worst),
        Goal::Min => (worst, best_met(measured, goal)),
    };
    let at: Vec<String> = point
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k}={}", crate::model::value_text(v)))
        .collect();
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" ({})", at.join(", "))
    };
    format!("{name}: {}–{}{at}", show(a), show(b))
}
