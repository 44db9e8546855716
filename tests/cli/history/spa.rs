//! mpf's E-Divisive against MongoDB's signal-processing-algorithms on shared series: the same
//! change points, and the statistic of every split equal to 1e-9 relative. The reference runs
//! in its own venv (`target/spa-venv`, it needs numpy<2); skipped with a message when the venv
//! is missing, unless MPF_REQUIRE_SPA is set (CI sets it, so the check cannot silently vanish).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mpf::internals::analyze::history::{e_divisive, t_statistics, Settings};
use serde_json::{json, Value};

use crate::compare::scipy::normal_sample;

const PERMUTATIONS: usize = 1000;
const PVALUE: f64 = 0.05;

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/spa-venv/bin/python")
}

fn spa_available() -> bool {
    Command::new(venv_python())
        .args([
            "-c",
            "import signal_processing_algorithms.energy_statistics.energy_statistics",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn steps(rng: &mut fastrand::Rng, levels: &[(usize, f64)], sd: f64) -> Vec<f64> {
    levels
        .iter()
        .flat_map(|&(n, level)| normal_sample(rng, n, level, sd * level))
        .collect()
}

/// The 12-set series of the issue, noisy steps, several changes, and series without any.
fn cases() -> Vec<(&'static str, Vec<f64>)> {
    let mut rng = fastrand::Rng::with_seed(20260101);
    vec![
        (
            "12 sets, 20% step after the sixth",
            steps(&mut rng, &[(6, 100.0), (6, 120.0)], 0.01),
        ),
        (
            "flat, 1% noise, 30 sets",
            steps(&mut rng, &[(30, 50.0)], 0.01),
        ),
        (
            "noisy 10% step, 5% noise, 40 sets",
            steps(&mut rng, &[(20, 10.0), (20, 9.0)], 0.05),
        ),
        (
            "up then down, 45 sets",
            steps(&mut rng, &[(15, 10.0), (15, 15.0), (15, 12.0)], 0.02),
        ),
        (
            "a late drop, 25 sets",
            steps(&mut rng, &[(22, 1e9), (3, 0.7e9)], 0.01),
        ),
        (
            "noise only, 20% noise, 20 sets",
            steps(&mut rng, &[(20, 3.0)], 0.2),
        ),
    ]
}

#[test]
fn change_points_match_signal_processing_algorithms() {
    if !spa_available() {
        if std::env::var_os("MPF_REQUIRE_SPA").is_some() {
            panic!("MPF_REQUIRE_SPA is set but target/spa-venv cannot import signal_processing_algorithms");
        }
        eprintln!(
            "SKIPPED change_points_match_signal_processing_algorithms: no target/spa-venv with \
             signal-processing-algorithms (python3 -m venv target/spa-venv && \
             target/spa-venv/bin/pip install signal-processing-algorithms)"
        );
        return;
    }
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|(_, s)| json!({"series": s, "pvalue": PVALUE, "permutations": PERMUTATIONS}))
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spa_check.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "spa_check.py failed");
    let reference: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let seed = Settings::default().seed;
    let mut found_any = 0;
    for ((name, series), r) in cases.iter().zip(&reference) {
        let mut ours: Vec<usize> = e_divisive(series, PVALUE, PERMUTATIONS, seed)
            .iter()
            .map(|c| c.index)
            .collect();
        ours.sort_unstable();
        let theirs: Vec<usize> = serde_json::from_value(r["change_points"].clone()).unwrap();
        assert_eq!(ours, theirs, "{name}: change points");
        found_any += ours.len();
        let t_theirs: Vec<f64> = serde_json::from_value(r["t"].clone()).unwrap();
        for (i, (a, b)) in t_statistics(series).iter().zip(&t_theirs).enumerate() {
            let scale = b.abs().max(1e-300);
            assert!(
                (a - b).abs() / scale <= 1e-9 || (a - b).abs() < 1e-12 * t_theirs[0].abs().max(1.0),
                "{name}: t[{i}]: mpf {a:e} vs signal-processing-algorithms {b:e}"
            );
        }
    }
    assert_eq!(
        e_divisive(&cases[0].1, PVALUE, PERMUTATIONS, seed)
            .iter()
            .map(|c| c.index)
            .collect::<Vec<_>>(),
        vec![6],
        "the 12-set series has exactly one change, at the seventh set"
    );
    assert!(found_any >= 4, "the cases exercise several change points");
}
