//! mpf's statistics against SciPy: Welch's t-test (t, df, p, interval), Fieller's interval,
//! the Mann–Whitney U test (U, p, and the exact/asymptotic choice of `method="auto"`).
//! p-values must agree to 1e-9 relative. Skipped with a message when SciPy is not importable,
//! unless MPF_REQUIRE_SCIPY is set (CI sets it, so the check cannot silently vanish there).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use mpf::internals::analyze::stats::{self, RatioCi};
use serde_json::{json, Value};

const REL: f64 = 1e-9;
const LEVEL: f64 = 0.95;

fn scipy_available() -> bool {
    Command::new("python3")
        .args(["-c", "import scipy.stats"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether SciPy can be used; `false` (the test skips, saying so) only when MPF_REQUIRE_SCIPY
/// is not set: CI sets it, so that the check cannot silently vanish there.
fn scipy_or_skip(test: &str) -> bool {
    if scipy_available() {
        return true;
    }
    if std::env::var_os("MPF_REQUIRE_SCIPY").is_some() {
        panic!("MPF_REQUIRE_SCIPY is set but python3 cannot import scipy");
    }
    eprintln!(
        "SKIPPED {test}: python3 cannot import scipy (pip install scipy; .ci/run installs it)"
    );
    false
}

/// Runs python3 with `args` (a script file, or `-c TEXT`), `input` as JSON on its stdin; its
/// stdout read as JSON.
fn python_json<T: serde::de::DeserializeOwned>(args: &[&std::ffi::OsStr], input: &Value) -> T {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the SciPy reference failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn normal_sample(rng: &mut fastrand::Rng, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            // Box–Muller
            let u1 = 1.0 - rng.f64();
            let u2 = rng.f64();
            mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

fn rounded(xs: Vec<f64>, step: f64) -> Vec<f64> {
    xs.into_iter().map(|x| (x / step).round() * step).collect()
}

/// Named data sets: small and large, with and without ties, unequal sizes and variances,
/// tiny and large p-values.
fn cases() -> Vec<(&'static str, Vec<f64>, Vec<f64>)> {
    let mut rng = fastrand::Rng::with_seed(20250101);
    let mut v = vec![
        (
            "small, no ties (exact U)",
            vec![10.1, 9.8, 10.4],
            vec![11.2, 11.0, 11.7, 10.9],
        ),
        (
            "small with ties",
            vec![1.0, 2.0, 2.0, 3.0, 4.0],
            vec![2.0, 3.0, 3.0, 5.0, 6.0],
        ),
        ("two runs each", vec![100.0, 104.0], vec![98.5, 99.0]),
        (
            "complete separation, 8 vs 8",
            (1..=8).map(f64::from).collect(),
            (9..=16).map(f64::from).collect(),
        ),
    ];
    v.push((
        "unequal n and variances, 5 vs 20",
        normal_sample(&mut rng, 5, 100.0, 1.0),
        normal_sample(&mut rng, 20, 103.0, 6.0),
    ));
    v.push((
        "large, no ties, 30 vs 25",
        normal_sample(&mut rng, 30, 9.4e9, 2e7),
        normal_sample(&mut rng, 25, 9.41e9, 3e7),
    ));
    v.push((
        "large with ties, 40 vs 35",
        rounded(normal_sample(&mut rng, 40, 50.0, 3.0), 1.0),
        rounded(normal_sample(&mut rng, 35, 52.0, 5.0), 1.0),
    ));
    v.push((
        "strong effect, tiny p, 12 vs 12",
        normal_sample(&mut rng, 12, 1.0e-3, 1e-5),
        normal_sample(&mut rng, 12, 1.2e-3, 2e-5),
    ));
    v.push((
        "same distribution, 15 vs 10",
        normal_sample(&mut rng, 15, 7.0, 1.0),
        normal_sample(&mut rng, 10, 7.0, 1.0),
    ));
    v.push((
        "exact with a long side, 6 vs 60",
        normal_sample(&mut rng, 6, 20.0, 2.0),
        normal_sample(&mut rng, 60, 21.5, 2.0),
    ));
    v.push((
        "ties across samples, 9 vs 12",
        rounded(normal_sample(&mut rng, 9, 3.0, 0.4), 0.5),
        rounded(normal_sample(&mut rng, 12, 3.3, 0.4), 0.5),
    ));
    v
}

fn assert_close(case: &str, what: &str, ours: f64, scipy: f64) {
    let ok = if scipy == 0.0 {
        ours.abs() < 1e-300
    } else {
        ((ours - scipy) / scipy).abs() <= REL
    };
    assert!(
        ok,
        "{case}: {what}: mpf {ours:e} vs scipy {scipy:e} (relative error {:e})",
        ((ours - scipy) / scipy).abs()
    );
}

#[test]
fn statistics_match_scipy() {
    if !scipy_or_skip("statistics_match_scipy") {
        return;
    }
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|(_, a, b)| {
            let method = stats::mann_whitney_u(a, b).unwrap().method.as_str();
            json!({"a": a, "b": b, "level": LEVEL, "mwu_method": method})
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scipy_check.py");
    let reference: Vec<Value> = python_json(&[script.as_os_str()], &Value::from(input));
    assert_eq!(reference.len(), cases.len());

    let mut exact = 0;
    for ((name, a, b), r) in cases.iter().zip(&reference) {
        let f = |k: &str| r[k].as_f64().unwrap();
        let w = stats::welch(a, b).unwrap();
        assert_close(name, "welch t", w.t, f("welch_t"));
        assert_close(name, "welch df", w.df, f("welch_df"));
        assert_close(name, "welch p", w.p, f("welch_p"));
        assert_close(
            name,
            "t critical",
            stats::t_critical(w.df, 1.0 - LEVEL),
            f("t_critical"),
        );
        let (lo, hi) = stats::welch_diff_ci(a, b, LEVEL).unwrap();
        assert_close(name, "diff ci low", lo, r["diff_ci"][0].as_f64().unwrap());
        assert_close(name, "diff ci high", hi, r["diff_ci"][1].as_f64().unwrap());
        match (stats::fieller_ratio_ci(a, b, LEVEL).unwrap(), &r["fieller"]) {
            (RatioCi::Bounded(lo, hi), Value::Array(want)) => {
                assert_close(name, "fieller low", lo, want[0].as_f64().unwrap());
                assert_close(name, "fieller high", hi, want[1].as_f64().unwrap());
            }
            (RatioCi::Unbounded, Value::Null) => {}
            (ours, theirs) => panic!("{name}: fieller {ours:?} vs scipy {theirs}"),
        }
        let m = stats::mann_whitney_u(a, b).unwrap();
        assert_eq!(m.u, f("mwu_u"), "{name}: U");
        assert_close(name, "mwu p", m.p, f("mwu_p"));
        assert_close(name, "mwu p (scipy auto)", m.p, f("auto_method_p"));
        if m.method == stats::MwuMethod::Exact {
            exact += 1;
        }
        eprintln!(
            "{name}: welch p {:.3e}, mwu p {:.3e} ({})",
            w.p,
            m.p,
            m.method.as_str()
        );
    }
    assert!(
        exact >= 3 && exact < cases.len(),
        "both methods are exercised"
    );
}

/// A search's probe intervals (`design::interval`, SPEC 16.2) against
/// `scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=sem)`, at the confidences a
/// search uses: the stated one, and each look's Bonferroni share of it (`1 - (1 - c)/looks`).
#[test]
fn search_intervals_match_scipy() {
    if !scipy_or_skip("search_intervals_match_scipy") {
        return;
    }
    let mut rng = fastrand::Rng::with_seed(20261207);
    let mut input = Vec::new();
    for n in [2, 3, 5, 8, 20] {
        let xs = normal_sample(&mut rng, n, 1.9e-3, 4e-4);
        for c in [0.90, 0.95, 0.99, 1.0 - 0.05 / 6.0, 1.0 - 0.05 / 18.0] {
            input.push(json!({"xs": xs, "c": c}));
        }
    }
    let script = "import json, sys\nfrom scipy import stats\nout = []\nfor case in json.load(sys.stdin):\n    xs, c = case['xs'], case['c']\n    lo, hi = stats.t.interval(c, len(xs) - 1, loc=stats.tmean(xs), scale=stats.sem(xs))\n    out.append([float(lo), float(hi)])\njson.dump(out, sys.stdout)\n";
    let reference: Vec<[f64; 2]> = python_json(
        &["-c".as_ref(), script.as_ref()],
        &Value::from(input.clone()),
    );
    assert_eq!(reference.len(), input.len());
    for (case, want) in input.iter().zip(&reference) {
        let xs: Vec<f64> = serde_json::from_value(case["xs"].clone()).unwrap();
        let c = case["c"].as_f64().unwrap();
        let name = format!("n {} at {c}", xs.len());
        let (lo, hi) = mpf::internals::design::interval("x", &xs, c, false)
            .bounds
            .expect("an interval of two values or more");
        assert_close(&name, "interval low", lo, want[0]);
        assert_close(&name, "interval high", hi, want[1]);
    }
}
