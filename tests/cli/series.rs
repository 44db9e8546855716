//! Series statistics against numpy, and MSER-5 against a reference written in Python from
//! SPEC §8.1 (independently of mpf's code). Skipped with a message when numpy is not
//! importable, unless MPF_REQUIRE_SCIPY is set (CI sets it and installs SciPy, hence numpy).

use std::io::Write;
use std::process::{Command, Stdio};

use mpf::internals::analyze::stats::mser5;
use mpf::internals::extract::stat_value;
use mpf::internals::spec::StatKind;
use serde_json::{json, Value};

const REFERENCE: &str = r#"
import json, sys
import numpy as np

def mser5(xs):
    b = len(xs) // 5
    if b < 3:
        return 0
    z = [sum(xs[5 * j:5 * j + 5]) / 5.0 for j in range(b)]
    best, best_d = None, 0
    # At least two batch means remain: one has no standard error.
    for d in range(0, min(b // 2, b - 2) + 1):
        rest = z[d:]
        m = sum(rest) / len(rest)
        se = sum((x - m) ** 2 for x in rest) / len(rest) ** 2
        if best is None or se < best:
            best, best_d = se, d
    return 5 * best_d

out = []
for case in json.load(sys.stdin):
    x = np.array(case["x"], dtype=float)
    out.append({
        "percentiles": [float(np.percentile(x, p)) for p in case["p"]],
        "mean": float(np.mean(x)),
        "std": float(np.std(x, ddof=1)) if len(x) > 1 else None,
        "sum": float(np.sum(x)),
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "mser5": mser5(case["x"]),
    })
json.dump(out, sys.stdout)
"#;

fn numpy_available() -> bool {
    Command::new("python3")
        .args(["-c", "import numpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300),
        "{what}: mpf {a} numpy {b}"
    );
}

/// Random series: latencies with a warm-up, heavy tails, ties, tiny and large magnitudes.
fn series() -> Vec<Vec<f64>> {
    let mut rng = fastrand::Rng::with_seed(19_970_811);
    let mut out: Vec<Vec<f64>> = vec![vec![4.2], vec![1.0, 3.0], vec![5.0; 12]];
    for n in [7, 10, 33, 100, 257, 1000] {
        let scale = 10f64.powi(rng.i32(-9..10));
        let warm = rng.usize(0..n / 3 + 1);
        out.push(
            (0..n)
                .map(|i| {
                    let base = scale * (1.0 + rng.f64());
                    let tail = if rng.f64() < 0.02 { 20.0 * scale } else { 0.0 };
                    let warmup = if i < warm {
                        scale * 10.0 * (warm - i) as f64
                    } else {
                        0.0
                    };
                    base + tail + warmup
                })
                .collect(),
        );
        out.push((0..n).map(|_| f64::from(rng.u8(0..5))).collect());
    }
    out
}

#[test]
fn percentiles_statistics_and_mser5_match_numpy_and_the_reference() {
    if !numpy_available() {
        assert!(
            std::env::var_os("MPF_REQUIRE_SCIPY").is_none(),
            "MPF_REQUIRE_SCIPY is set but numpy cannot be imported"
        );
        eprintln!("SKIP series statistics check: numpy is not installed");
        return;
    }
    let ps = [0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0];
    let cases: Vec<Value> = series().iter().map(|x| json!({"x": x, "p": ps})).collect();
    let mut child = Command::new("python3")
        .args(["-c", REFERENCE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut dropped_some = false;
    for (x, w) in series().iter().zip(&want) {
        for (p, np) in ps.iter().zip(w["percentiles"].as_array().unwrap()) {
            close(
                stat_value(StatKind::Percentile(*p), x),
                np.as_f64().unwrap(),
                &format!("p{p} of {} values", x.len()),
            );
        }
        close(
            stat_value(StatKind::Mean, x),
            w["mean"].as_f64().unwrap(),
            "mean",
        );
        close(
            stat_value(StatKind::Sum, x),
            w["sum"].as_f64().unwrap(),
            "sum",
        );
        close(
            stat_value(StatKind::Min, x),
            w["min"].as_f64().unwrap(),
            "min",
        );
        close(
            stat_value(StatKind::Max, x),
            w["max"].as_f64().unwrap(),
            "max",
        );
        match w["std"].as_f64() {
            Some(sd) => close(stat_value(StatKind::Std, x), sd, "std"),
            None => assert!(stat_value(StatKind::Std, x).is_nan()),
        }
        assert_eq!(stat_value(StatKind::Count, x), x.len() as f64);
        let k = mser5(x);
        assert_eq!(
            k as u64,
            w["mser5"].as_u64().unwrap(),
            "MSER-5 of {} values",
            x.len()
        );
        dropped_some |= k > 0;
    }
    assert!(dropped_some, "some series have a warm-up MSER-5 finds");
}
