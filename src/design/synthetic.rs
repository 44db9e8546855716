//! The design against simulated systems whose limit and noise are known exactly (SPEC §16.2's
//! verification): a step's latency at rate `x` is drawn from a normal distribution whose mean
//! `B · x / L` crosses the bound `B` at the true limit `L`. Every `trial` is a combination of
//! its own, searched with its own noise, so one design is many seeded searches.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::Design;
use crate::plan::{fnv1a, plan};
use crate::spec::parse_experiment;
use crate::store::{Limit, LimitStatus, RunRecord};

/// The bound, and the true limit of a trial: spread over 10000..16000 so that the probes fall
/// anywhere near it.
const BOUND: f64 = 0.002;

fn limit_of(trial: u64) -> f64 {
    10_000.0 * (1.0 + 0.0123 * trial as f64)
}

/// A standard normal value, seeded by the trial, the rate and the repetition (Box–Muller).
fn normal(seed: u64) -> f64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (u, v) = (1.0 - rng.f64(), rng.f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn record(point: Map<String, Value>, repetition: usize, index: usize, sd: f64) -> RunRecord {
    let rate = point["rate"].as_f64().unwrap();
    let trial = point["trial"].as_u64().unwrap();
    let seed = fnv1a(format!("{trial} {rate} {repetition}").as_bytes());
    let lat = BOUND * rate / limit_of(trial) + sd * BOUND * normal(seed);
    RunRecord {
        point_index: 0,
        ..RunRecord::ok(
            index,
            point,
            repetition,
            json!({ "lat": lat }).as_object().unwrap().clone(),
        )
    }
}

/// Runs `trials` searches of `lat < BOUND` whose latency has a standard deviation of `sd`
/// times the bound; returns the limits and the runs taken.
fn simulate(trials: usize, sd: f64, search_extra: &str) -> (Vec<Limit>, usize) {
    let trial_values: Vec<String> = (0..trials).map(|t| t.to_string()).collect();
    let src = format!(
        "runs: 3\nvariables:\n  trial: [{}]\n  rate: {{range: [100, 100000]}}\n\
         search:\n  variable: rate\n  condition: \"lat < {BOUND}\"\n  precision: 2%\n{search_extra}\
         steps:\n  - run: 'true'\n    results:\n      lat: 'lat=(\\S+)'\n",
        trial_values.join(", ")
    );
    let exp = parse_experiment(Path::new("t.yaml"), &src).unwrap();
    let mut plan = plan(&exp).unwrap();
    let design = Design::new(&exp, &plan);
    let mut kept = crate::store::kept::Kept::default();
    while let Some(next) = design.next(&mut plan, &kept) {
        assert!(!next.runs.is_empty(), "a round with no runs");
        for r in next.runs.iter() {
            let index = kept.len();
            kept.push(
                &record(plan.point(r.point), r.repetition, index, sd),
                Some(r.point),
            );
        }
    }
    let n = kept.len();
    (design.outcome(&mut plan, &kept).limits, n)
}

fn true_limit(l: &Limit) -> f64 {
    limit_of(l.point["trial"].as_u64().unwrap())
}

fn low_high(l: &Limit) -> (f64, f64) {
    let (low, high) = l.low_high();
    (
        low.and_then(Value::as_f64).unwrap_or(f64::NEG_INFINITY),
        high.and_then(Value::as_f64).unwrap_or(f64::INFINITY),
    )
}

/// The brackets that hold the true limit, of `limits`.
fn held(limits: &[Limit]) -> usize {
    limits
        .iter()
        .filter(|l| {
            let (lo, hi) = low_high(l);
            lo <= true_limit(l) && true_limit(l) <= hi
        })
        .count()
}

#[test]
fn brackets_hold_the_true_limit_at_the_stated_confidence() {
    // Noise far wider than the precision: the limit is bracketed, rarely found.
    let (limits, _) = simulate(50, 0.3, "  runs: {min: 3, max: 20}\n");
    assert_eq!(limits.len(), 50);
    assert!(
        held(&limits) >= 48,
        "{} of 50 brackets hold the limit",
        held(&limits)
    );
    // Little noise: most limits are found, none above the limit by more than the precision.
    let (limits, _) = simulate(50, 0.005, "  runs: {min: 3, max: 20}\n");
    assert!(
        held(&limits) >= 48,
        "{} of 50 brackets hold the limit",
        held(&limits)
    );
    let found: Vec<(f64, f64)> = limits
        .iter()
        .filter(|l| l.status == LimitStatus::Found)
        .map(|l| (l.limit.as_f64().unwrap(), true_limit(l)))
        .collect();
    assert!(found.len() >= 25, "{} of 50 found", found.len());
    for (limit, truth) in found {
        assert!(
            limit <= truth * 1.02,
            "{limit} above the limit {truth} by more than 2%"
        );
    }
    assert!(limits.iter().all(|l| l.status != LimitStatus::Unfinished));
}

/// Coverage over many trials, for the record: `MPF_TRIALS=1000 cargo test --lib
/// coverage_over_many_trials -- --ignored --nocapture`.
#[test]
#[ignore]
fn coverage_over_many_trials() {
    let trials: usize = std::env::var("MPF_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(200);
    for sd in [0.01, 0.1, 0.3, 1.0] {
        let (limits, runs) = simulate(trials, sd, "  runs: {min: 3, max: 20}\n");
        let held = held(&limits);
        let found = limits
            .iter()
            .filter(|l| l.status == LimitStatus::Found)
            .count();
        let width: f64 = limits
            .iter()
            .map(|l| {
                let (lo, hi) = low_high(l);
                (hi.min(1e5) - lo.max(100.0)) / true_limit(l)
            })
            .sum::<f64>()
            / trials as f64;
        eprintln!(
            "sd {sd}: {held} of {trials} brackets hold the limit, {found} found, mean width {:.1}% of the limit, {} runs per search",
            width * 100.0,
            runs / trials
        );
    }
}

#[test]
fn noise_that_hides_the_bound_is_inconclusive_never_found() {
    let (limits, _) = simulate(50, 30.0, "  runs: {min: 3, max: 10}\n");
    assert_eq!(limits.len(), 50);
    for l in &limits {
        assert_eq!(l.status, LimitStatus::Inconclusive, "{l:?}");
    }
    assert!(
        held(&limits) >= 48,
        "{} of 50 brackets hold the limit",
        held(&limits)
    );
}

#[test]
fn without_noise_one_run_per_probe_finds_the_limit() {
    let (limits, runs) = simulate(2, 0.0, "");
    for l in &limits {
        assert_eq!(l.status, LimitStatus::Found);
        let (limit, truth) = (l.limit.as_f64().unwrap(), true_limit(l));
        assert!(
            limit <= truth && limit >= truth * 0.98,
            "{limit} for {truth}"
        );
    }
    // Every probe is decided at its first 3 runs: no extra run.
    assert_eq!(runs, limits.iter().map(|l| l.probes * 3).sum::<usize>());
}
