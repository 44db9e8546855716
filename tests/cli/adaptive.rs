//! Adaptive repetitions and searches (SPEC §9) against synthetic systems whose noise and
//! capacity are known exactly: awk computes each run's value from the point and repetition.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{journal, manifest, mpf_in, only_set, write};
use crate::run::{spawn_run, wait_for_lines};

/// Points with no noise, a little, and a lot: `x = 100 + noise * sin(...)`, a fixed sequence
/// per point and repetition. `delay` slows each run (for the kill tests).
fn noisy_experiment(delay: &str) -> String {
    format!(
        r#"
name: noisy
runs: {{min: 3, max: 10, ci: 2%, on: [x]}}
variables:
  noise: [0, 1, 3, 40]
steps:
  - run: >-
      sleep {delay};
      awk -v n={{{{ noise }}}} -v r={{{{ run.repetition }}}}
      'BEGIN {{ printf "x=%.6f\n", 100 + n * sin(r * 2.1 + n) }}'
    results:
      x: 'x=(\S+)'
"#
    )
}

/// A system that loses packets above `capacity(cores) = 12345 * cores^2`.
fn capacity_experiment(extra: &str, runs: &str, delay: &str) -> String {
    format!(
        r#"
name: capacity
runs: {runs}
variables:
  cores: [1, 2, 4]
  rate: {{range: [1000, 10000000]}}
search:
  variable: rate
  condition: "loss <= 0.001"
  precision: 1%
{extra}
steps:
  - run: >-
      sleep {delay};
      awk -v c={{{{ cores }}}} -v r={{{{ rate }}}}
      'BEGIN {{ printf "loss=%f\n", (r > 12345 * c * c) ? 0.5 : 0 }}'
    results:
      loss: 'loss=(\S+)'
"#
    )
}

fn capacity(cores: i64) -> f64 {
    12345.0 * (cores * cores) as f64
}

/// Runs `text` in `dir` to the end; returns the result set.
fn run_to_end(dir: &Path, text: &str) -> PathBuf {
    let exp = write(dir, "exp.yaml", text);
    mpf_in(dir)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    only_set(dir)
}

/// Two-sided 95% Student-t critical values for 1..=12 degrees of freedom.
const T95: [f64; 12] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
];

/// results.csv as (noise, x) pairs.
fn csv_values(set: &Path, var: &str, result: &str) -> Vec<(String, f64)> {
    let mut r = csv::Reader::from_path(set.join("results.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let vi = h.iter().position(|c| c == var).unwrap();
    let ri = h.iter().position(|c| c == result).unwrap();
    r.records()
        .map(|row| {
            let row = row.unwrap();
            (row[vi].to_string(), row[ri].parse().unwrap())
        })
        .collect()
}

fn half_width(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    T95[xs.len() - 2] * (var / n).sqrt()
}

#[test]
fn quiet_points_stop_at_min_noisy_ones_run_until_the_target_or_max() {
    let dir = tempfile::tempdir().unwrap();
    let set = run_to_end(dir.path(), &noisy_experiment("0"));
    let m = manifest(&set);
    let points = m["points"].as_array().unwrap();
    let runs_of = |noise: i64| {
        let p = points
            .iter()
            .find(|p| p["point"]["noise"] == noise)
            .unwrap();
        (
            p["runs"].as_u64().unwrap(),
            p["converged"].as_bool().unwrap(),
        )
    };
    assert_eq!(runs_of(0), (3, true), "a quiet point stops at min");
    assert_eq!(runs_of(40), (10, false), "a very noisy point stops at max");
    let (r3, c3) = runs_of(3);
    assert!(
        c3 && r3 > 3 && r3 < 10,
        "noise 3 converges after more runs: {r3}"
    );
    // Every converged point really meets the target, from results.csv.
    let rows = csv_values(&set, "noise", "x");
    for p in points.iter().filter(|p| p["converged"] == true) {
        let noise = p["point"]["noise"].to_string();
        let xs: Vec<f64> = rows
            .iter()
            .filter(|(n, _)| *n == noise)
            .map(|(_, x)| *x)
            .collect();
        assert_eq!(xs.len() as u64, p["runs"].as_u64().unwrap());
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(
            half_width(&xs) <= 0.02 * mean,
            "noise {noise}: half-width {} of mean {mean}",
            half_width(&xs)
        );
    }
    assert_eq!(journal(&set).len() as u64, m["runs_ok"].as_u64().unwrap());
    let show = mpf_in(dir.path())
        .args(["show", "latest"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("1 of 4 points did not converge (noise=40)"),
        "{text}"
    );
}

#[test]
fn dry_run_shows_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "exp.yaml", &noisy_experiment("0"));
    let out = mpf_in(dir.path())
        .args(["run", "--dry-run"])
        .arg(&exp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3..10 runs per point (until the 95% CI of x is within 2%), 12..40 runs"),
        "{text}"
    );
    let exp = write(dir.path(), "cap.yaml", &capacity_experiment("", "1", "0"));
    let out = mpf_in(dir.path())
        .args(["run", "--dry-run"])
        .arg(&exp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 combinations, each at most 12 probes (bisection on a log scale)"),
        "{text}"
    );
    assert!(
        text.contains("rate = searched in [1000, 10000000]"),
        "{text}"
    );
}

/// The limits of a set's manifest by `cores`: (limit, probes, runs, status).
fn limits(set: &Path) -> Vec<(i64, Value, u64, u64, String)> {
    let m = manifest(set);
    let mut out: Vec<_> = m["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["point"]["cores"].as_i64().unwrap(),
                l["limit"].clone(),
                l["probes"].as_u64().unwrap(),
                l["runs"].as_u64().unwrap(),
                l["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort_by_key(|l| l.0);
    out
}

#[test]
fn a_search_finds_each_capacity_within_precision_never_above_in_few_probes() {
    let dir = tempfile::tempdir().unwrap();
    let set = run_to_end(dir.path(), &capacity_experiment("", "1", "0"));
    let found = limits(&set);
    assert_eq!(found.len(), 3);
    for (cores, limit, probes, _, status) in &found {
        let limit = limit
            .as_i64()
            .expect("an integer range gives integer probes") as f64;
        let cap = capacity(*cores);
        assert_eq!(status, "found");
        assert!(
            limit <= cap,
            "cores={cores}: {limit} above the capacity {cap}"
        );
        assert!(
            limit >= cap * 0.99,
            "cores={cores}: {limit} not within 1% of {cap}"
        );
        assert!(*probes <= 25, "cores={cores}: {probes} probes");
    }
    // Every probe is an ordinary run: the journal holds one run per probe, all integers.
    let recs = journal(&set);
    assert_eq!(
        recs.len() as u64,
        found.iter().map(|l| l.2).sum::<u64>(),
        "one run per probe"
    );
    assert!(recs.iter().all(|r| r["point"]["rate"].is_i64()));
    let out = mpf_in(dir.path())
        .args(["show", "latest", "--limits", "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "cores,limit,low,high,probes,runs,status\n1,12298,12298,12409,12,12,found\n"
        ),
        "{text}"
    );
    let out = mpf_in(dir.path())
        .args(["show", "latest", "--limits", "--format", "markdown"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("| cores | limit | low | high | probes | runs | status |"),
        "{text}"
    );
}

#[test]
fn the_ends_of_the_range_and_goal_min() {
    // The smallest buffer whose latency (1000 / buf) is at most 0.5: 2000.
    let text = r#"
runs: 1
variables:
  buf: {range: [1, 100000]}
  lat_limit: [0.5, 0.00001, 2000]
search:
  variable: buf
  goal: min
  condition: "lat <= lat_limit"
  precision: 1%
steps:
  - run: awk -v b={{ buf }} 'BEGIN { printf "lat=%f\n", 1000 / b }'
    results:
      lat: 'lat=(\S+)'
"#;
    let dir = tempfile::tempdir().unwrap();
    let set = run_to_end(dir.path(), text);
    let m = manifest(&set);
    let by = |x: f64| {
        m["limits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["point"]["lat_limit"].as_f64() == Some(x))
            .unwrap()
            .clone()
    };
    let l = by(0.5);
    let limit = l["limit"].as_f64().unwrap();
    assert_eq!(l["status"], "found");
    assert!((2000.0..=2020.0).contains(&limit), "{limit}");
    assert_eq!(by(0.00001)["status"], "fails everywhere");
    assert_eq!(by(0.00001)["limit"], Value::Null);
    assert_eq!(by(2000.0)["status"], "holds everywhere");
    assert_eq!(by(2000.0)["limit"], 1);
    assert_eq!(by(2000.0)["probes"], 1);
}

#[test]
fn monotonic_never_costs_more_runs_and_finds_the_same_limits() {
    let plain = tempfile::tempdir().unwrap();
    let mono = tempfile::tempdir().unwrap();
    let runs = "{min: 2, max: 4, ci: 1%, on: [loss_pct]}";
    let step_runs = |extra: &str| {
        capacity_experiment(extra, runs, "0").replace(
            "loss: 'loss=(\\S+)'",
            "loss: 'loss=(\\S+)'\n      loss_pct: 'loss=(\\S+)'",
        )
    };
    let a = limits(&run_to_end(plain.path(), &step_runs("")));
    let b = limits(&run_to_end(mono.path(), &step_runs("  monotonic: [cores]")));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.0, &x.1, &x.4), (y.0, &y.1, &y.4), "same limit");
        assert!(
            y.3 <= x.3,
            "cores={}: {} runs with monotonic, {} without",
            x.0,
            y.3,
            x.3
        );
    }
    let total = |v: &[(i64, Value, u64, u64, String)]| v.iter().map(|l| l.3).sum::<u64>();
    assert!(
        total(&b) < total(&a),
        "monotonic saves runs: {} vs {}",
        total(&b),
        total(&a)
    );
}

/// Limit 800 at c=1 and 100 at c=2 (not monotonic after all): c=2 walked down from the implied
/// 800 one 1% step at a time (308 probes, 12 without `monotonic`); now 13.
#[test]
fn a_limit_that_turns_out_not_monotonic_restarts_the_bisection() {
    let text = |monotonic: &str| {
        format!(
            r#"
runs: 1
variables:
  cores: [1, 2]
  rate: {{range: [1, 1000]}}
search:
  variable: rate
  condition: "loss == 0"
  precision: 1%
  {monotonic}
steps:
  - run: >-
      awk -v c={{{{ cores }}}} -v r={{{{ rate }}}}
      'BEGIN {{ printf "loss=%d\n", (r > (c == 1 ? 800 : 100)) }}'
    results:
      loss: 'loss=(\S+)'
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "mono.yaml", &text("monotonic: [cores]"));
    let out = mpf_in(dir.path())
        .args(["run", "--dry-run"])
        .arg(&exp)
        .output()
        .unwrap();
    let dry = String::from_utf8_lossy(&out.stdout);
    assert!(
        dry.contains("2 combinations, each at most 13 probes (bisection on a log scale); 14 where a monotonic limit turns out to decrease"),
        "{dry}"
    );
    let plain = limits(&run_to_end(dir.path(), &text("")));
    let mono_dir = tempfile::tempdir().unwrap();
    let mono = limits(&run_to_end(mono_dir.path(), &text("monotonic: [cores]")));
    assert_eq!(plain[1].1, 100, "{plain:?}");
    assert_eq!((&mono[1].1, mono[1].4.as_str()), (&plain[1].1, "found"));
    assert_eq!(plain[1].2, 12);
    assert_eq!(mono[1].2, 13, "c=2: one probe more than without monotonic");
    assert!(mono[0].2 <= 13 && plain[0].2 <= 13, "{mono:?} {plain:?}");
}

/// `lost / total < 0.01` with `total` 0 is NaN < 0.01, which minijinja holds true: the search
/// said "holds everywhere" where the limit is 100.
#[test]
fn a_condition_on_a_nan_is_not_met_with_a_note() {
    let text = r#"
runs: 1
variables:
  rate: {range: [1, 1000]}
search:
  variable: rate
  condition: "lost / total < 0.01"
  precision: 1%
steps:
  - run: >-
      awk -v r={{ rate }}
      'BEGIN { printf "lost=0 total=%d\n", (r > 100 ? 0 : r) }'
    results:
      lost: 'lost=(\S+)'
      total: 'total=(\S+)'
"#;
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "nan.yaml", text);
    let out = mpf_in(dir.path())
        .args(["run", "--no-plot"])
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("search: rate=1000: condition: 'lost / total < 0.01' cannot be decided: a value in it is not a number (NaN, as 0 / 0 gives); counted as not met"),
        "{err}"
    );
    assert!(
        format!("{stdout}{err}").contains("limit of rate: 100 (found,"),
        "{stdout}{err}"
    );
}

/// `mpf extract` changing what a search reads: `show --limits` kept `299 found` although the
/// new values meet the condition at 423; the limits and convergence are judged again from the
/// new results, and `--resume` continues the search from there.
#[test]
fn extract_judges_limits_and_convergence_again() {
    let text = |col: &str| {
        format!(
            r#"
runs: {{min: 2, max: 4, ci: 1%, on: [loss]}}
variables:
  rate: {{range: [100, 1000]}}
search:
  variable: rate
  condition: "loss == 0"
  precision: 1%
steps:
  - run: >-
      awk -v r={{{{ rate }}}} -v k={{{{ run.repetition }}}}
      'BEGIN {{ printf "a=%d b=%d\n", (r > 300), (r > 423) + (r > 423 ? k : 0) }}'
    results:
      loss: '{col}=(\S+)'
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let set = run_to_end(dir.path(), &text("a"));
    let before = manifest(&set);
    assert_eq!(before["limits"][0]["status"], "found");
    assert_eq!(before["limits"][0]["limit"], 299);
    assert!(before["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["converged"] == true));
    let edited = write(dir.path(), "edited.yaml", &text("b"));
    let out = mpf_in(dir.path())
        .args(["extract", "latest", "-f"])
        .arg(&edited)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("limits and convergence judged again"), "{err}");
    let after = manifest(&set);
    // The probes chosen for 299 do not decide the new search: its far end is now too noisy
    // (not converged: it needs more runs), so the search is unfinished.
    assert_eq!(after["limits"][0]["status"], "unfinished", "{after}");
    assert_ne!(after["limits"][0]["limit"], 299);
    let converged_at_1000 = |m: &Value| {
        m["points"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["point"]["rate"] == 1000 && p["converged"] == true)
        })
    };
    assert!(converged_at_1000(&before));
    assert!(!converged_at_1000(&after), "{after}");
    let out = mpf_in(dir.path())
        .args(["show", "latest", "--limits", "--format", "csv"])
        .output()
        .unwrap();
    let text_out = String::from_utf8_lossy(&out.stdout);
    assert!(text_out.contains("unfinished"), "{text_out}");
    mpf_in(dir.path())
        .args(["run", "-q", "--no-plot", "--resume", "latest"])
        .assert()
        .success();
    let resumed = manifest(&set);
    assert_eq!(resumed["limits"][0]["status"], "found");
    let limit = resumed["limits"][0]["limit"].as_i64().unwrap();
    assert!((419..=423).contains(&limit), "{limit}");
}

/// Kills a run with SIGKILL once `after` runs are recorded, resumes it, and checks it ends
/// as a run that was never killed: same `points` and `limits`, no run recorded twice.
fn kill_then_resume_gives_the_same_answer(text: &str, after: usize) {
    let once = tempfile::tempdir().unwrap();
    let whole = run_to_end(once.path(), text);
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "exp.yaml", text);
    let mut child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), after, Duration::from_secs(60));
    child.kill().unwrap();
    child.wait().unwrap();
    let set = only_set(dir.path());
    assert!(
        journal(&set).len() < journal(&whole).len(),
        "killed mid-way"
    );
    mpf_in(dir.path())
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .success();
    let recs = journal(&set);
    let mut keys: Vec<String> = recs
        .iter()
        .map(|r| format!("{}#{}", r["point"], r["repetition"]))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), recs.len(), "no run recorded twice");
    assert_eq!(recs.len(), journal(&whole).len());
    let (m, w) = (manifest(&set), manifest(&whole));
    assert_eq!(m["status"], "complete");
    assert_eq!(m["points"], w["points"]);
    assert_eq!(m["limits"], w["limits"]);
}

#[test]
fn sigkill_mid_round_then_resume_continues_the_rounds() {
    kill_then_resume_gives_the_same_answer(&noisy_experiment("0.05"), 15);
}

#[test]
fn sigkill_mid_search_then_resume_continues_the_searches() {
    kill_then_resume_gives_the_same_answer(&capacity_experiment("", "2", "0.05"), 13);
}

/// Runs examples/udp-limit.yaml (one datagram size, one run per probe) with `extra` flags and
/// checks the limit: found, a measured probe whose loss met the condition.
pub fn udp_limit_is_found(dir: &Path, extra: &[&str]) {
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/udp-limit.yaml");
    let out = mpf_in(dir)
        .args([
            "run",
            "-q",
            "--no-plot",
            "--runs",
            "1",
            "--set",
            "length=1400",
        ])
        .args(extra)
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("limit of rate: "), "{err}");
    let set = only_set(dir);
    let m = manifest(&set);
    let limit = &m["limits"][0];
    assert_eq!(limit["status"], "found", "{limit}");
    let rate = limit["limit"].as_i64().unwrap();
    assert!(rate > 1_000_000, "{limit}");
    assert!(limit["probes"].as_u64().unwrap() <= 12, "{limit}");
    let at_limit: Vec<f64> = journal(&set)
        .iter()
        .filter(|r| r["point"]["rate"] == rate)
        .map(|r| r["results"]["loss"].as_f64().unwrap())
        .collect();
    assert!(
        !at_limit.is_empty() && at_limit.iter().sum::<f64>() / (at_limit.len() as f64) < 0.1,
        "{at_limit:?}"
    );
    // The derived result the condition reads is recorded with every run.
    for r in journal(&set).iter().filter(|r| r["status"] == "ok") {
        let (goodput, rate) = (
            r["results"]["goodput"].as_f64().unwrap(),
            r["point"]["rate"].as_f64().unwrap(),
        );
        let delivered = r["results"]["delivered"].as_f64().unwrap();
        assert!((delivered - goodput / rate).abs() < 1e-9, "{r}");
    }
}

#[test]
fn udp_limit_example_finds_iperf3s_highest_rate_locally() {
    if !Path::new("/usr/bin/iperf3").exists() {
        println!("SKIP udp_limit_example: iperf3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    udp_limit_is_found(dir.path(), &[]);
}

/// A noisy system (SPEC §16.2): latency `rate / 1000` ms plus noise of ±`noise` ms that
/// differs per run, searched for `lat < 10` (the true limit is 10000) with 3 to 12 runs per
/// probe. Quiet, it is found; very noisy, it is inconclusive with a bracket around 10000.
fn noisy_search(noise: &str) -> String {
    format!(
        r#"
runs: 1
variables:
  noise: [{noise}]
  rate: {{range: [100, 100000]}}
search:
  variable: rate
  condition: "lat < 10"
  precision: 2%
  confidence: 95%
  runs: {{min: 3, max: 12}}
steps:
  - run: >-
      awk -v r={{{{ rate }}}} -v n={{{{ noise }}}} -v k={{{{ run.repetition }}}}
      'BEGIN {{ printf "lat=%f\n", r / 1000 + n * sin(k * 2.3 + r) }}'
    results:
      lat: 'lat=(\S+)'
"#
    )
}

#[test]
fn a_noisy_search_is_decided_with_confidence_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "exp.yaml", &noisy_search("0.01, 20"));
    let out = mpf_in(dir.path())
        .args(["run", "--dry-run"])
        .arg(&exp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "3..12 runs per probe (more while its decision at 95% confidence is undecided)"
        ),
        "{text}"
    );
    let out = mpf_in(dir.path())
        .args(["run", "--no-plot"])
        .arg(&exp)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let set = only_set(dir.path());
    let m = manifest(&set);
    assert_eq!(m["search"]["confidence"], "95%");
    assert_eq!(m["search"]["runs"], serde_json::json!([3, 12]));
    let limits = m["limits"].as_array().unwrap();
    let quiet = limits.iter().find(|l| l["point"]["noise"] == 0.01).unwrap();
    assert_eq!(quiet["status"], "found", "{quiet}");
    let limit = quiet["limit"].as_f64().unwrap();
    assert!((9800.0..10000.0).contains(&limit), "{limit}");
    let noisy = limits.iter().find(|l| l["point"]["noise"] == 20).unwrap();
    assert_eq!(noisy["status"], "inconclusive", "{noisy}");
    assert!(noisy["undecided"].as_u64().unwrap() >= 1, "{noisy}");
    let [low, high] = [&noisy["bracket"][0], &noisy["bracket"][1]];
    assert!(
        low.as_f64().is_none_or(|l| l < 10000.0) && high.as_f64().is_none_or(|h| h > 10000.0),
        "{noisy}"
    );
    // Undecided probes got more runs than the first 3, never more than 12.
    let recs = journal(&set);
    let mut per_probe: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &recs {
        *per_probe.entry(r["point"].to_string()).or_default() += 1;
    }
    assert!(per_probe.values().all(|&n| (3..=12).contains(&n)));
    assert!(per_probe.values().any(|&n| n > 3), "{per_probe:?}");
    assert!(
        err.contains("limit of rate at noise=20: ") && err.contains(" (inconclusive, "),
        "{err}"
    );
    let show = mpf_in(dir.path())
        .args(["show", "latest", "--limits"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("(precision 2%, confidence 95%)"), "{text}");
    assert!(
        text.contains("inconclusive") && text.contains("found"),
        "{text}"
    );
    // What users read: the table, and the run's last lines (the set's id left out).
    let id = m["id"].as_str().unwrap();
    insta::assert_snapshot!("noisy_search_limits", text.replace(id, "ID"));
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("limit of ")).collect();
    insta::assert_snapshot!("noisy_search_end_of_run", lines.join("\n"));
    // The decisions are a function of the journal: extract makes them again, the same.
    let before = m["limits"].clone();
    mpf_in(dir.path())
        .args(["extract", "latest"])
        .assert()
        .success();
    assert_eq!(manifest(&set)["limits"], before);
}

/// SPEC §16.3: the limit graph of a search with no other variable is one marker with its
/// bracket as a whisker, not a box plot of one value labelled "all runs (n = 1)".
#[test]
fn the_limit_graph_draws_each_limit_with_its_bracket() {
    let dir = tempfile::tempdir().unwrap();
    // No variable but the searched one.
    let exp = noisy_search("0.01")
        .replace("  noise: [0.01]\n", "")
        .replace("{{ noise }}", "0.01");
    let set = run_to_end(dir.path(), &exp);
    mpf_in(dir.path())
        .args(["plot", "latest"])
        .assert()
        .success();
    let svg = std::fs::read_to_string(set.join("plots/rate_limit.svg")).unwrap();
    assert!(!svg.contains("all runs"), "a box plot of one value");
    assert!(
        svg.contains("the whisker spans the bracket"),
        "no bracket in the caption"
    );
    assert!(svg.contains("decided at 95%"));
    // The result against the searched variable: each probe's verdict, and the bound.
    let svg = std::fs::read_to_string(set.join("plots/lat.svg")).unwrap();
    assert!(
        svg.contains("ring passed, cross failed, square undecided"),
        "no verdicts"
    );
    assert!(svg.contains("dashed line: the bound 10"), "no bound");
    let m = manifest(&set);
    let probed = m["limits"][0]["probed"].as_array().unwrap();
    assert_eq!(
        probed.len() as u64,
        m["limits"][0]["probes"].as_u64().unwrap()
    );
    assert!(probed.iter().any(|p| p["verdict"] == "pass"));
    assert!(probed.iter().any(|p| p["verdict"] == "fail"));
}

/// SPEC §16.3: the report has a Limits section, and the per-point summary (of the report and
/// of `show --summary`) is sorted by the searched variable, not in the order of the probes.
#[test]
fn the_report_has_a_limits_section_and_sorts_the_summary_by_the_searched_variable() {
    let dir = tempfile::tempdir().unwrap();
    let set = run_to_end(dir.path(), &noisy_search("0.01"));
    mpf_in(dir.path())
        .args(["report", "latest"])
        .assert()
        .success();
    let html = std::fs::read_to_string(set.join("report.html")).unwrap();
    let limits = &html[html.find("<h2>Limits</h2>").expect("a Limits section")..];
    let table = &limits[..limits.find("</table>").unwrap()];
    assert!(table.contains("<th>low</th><th>high</th>"), "{table}");
    assert!(table.contains("<td>found</td>"), "{table}");
    assert!(limits.contains("decided at 95% confidence"));
    assert!(html.contains("3–12 per probe"));
    // The interactive graphs mark the probes' verdicts and the bound as the static ones do.
    assert!(
        html.contains(r#""symbol":"circle-open""#),
        "no passing probes marked"
    );
    assert!(html.contains(r#""dash":"dash""#), "no bound");
    let out = mpf_in(dir.path())
        .args(["show", "latest", "--summary", "--format", "csv"])
        .output()
        .unwrap();
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let h = r.headers().unwrap().clone();
    let at = h.iter().position(|c| c == "rate").unwrap();
    let rates: Vec<f64> = r
        .records()
        .map(|row| row.unwrap()[at].parse().unwrap())
        .collect();
    assert!(rates.len() > 3);
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
}
