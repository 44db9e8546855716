//! `mpf compare`: matching, verdicts, outputs and exit codes.

mod large;
mod references;
pub(crate) mod scipy;
mod within;

use std::path::Path;
use std::process::Command as StdCommand;

use mpf::internals::store::record::{
    value_text, Better, Manifest, ResultInfo, RunRecord, RunStatus, SetStatus, VariableInfo,
};
use mpf::internals::store::writer::SetWriter;
use predicates::prelude::*;
use serde_json::{json, Map, Value};

use crate::common::mpf_in;

/// A variable: name, values, labels (empty: the values' text).
type Var<'a> = (&'a str, Vec<Value>, Vec<&'a str>);

fn manifest(
    id: &str,
    started: &str,
    vars: &[Var],
    results: &[(&str, &str, Better, bool)],
) -> Manifest {
    Manifest {
        format: 1,
        mpf_version: "0.1.0".into(),
        id: id.into(),
        name: "iperf".into(),
        description: String::new(),
        status: SetStatus::Running,
        started: started.into(),
        ended: None,
        seed: "mpf".into(),
        order: "sequential".into(),
        runs_per_point: 4,
        planned_runs: 0,
        variables: vars
            .iter()
            .map(|(name, values, labels)| VariableInfo {
                name: name.to_string(),
                labels: if labels.is_empty() {
                    values.iter().map(value_text).collect()
                } else {
                    labels.iter().map(|s| s.to_string()).collect()
                },
                numeric: values.iter().all(Value::is_number),
                geometric: false,
                constant: values.len() == 1,
                when: None,
                index: Default::default(),
                values: values.clone().into(),
            })
            .collect(),
        results: results
            .iter()
            .map(|(name, unit, better, series)| ResultInfo {
                name: name.to_string(),
                unit: unit.to_string(),
                better: *better,
                series: *series,
            })
            .collect(),
        hosts: vec![],
        git: None,
        synced: Vec::new(),
        experiment_hash: "0".into(),
        overrides: Map::new(),
        runs_ok: 0,
        runs_failed: 0,
        plot: None,
        requirements: None,
        adaptive: None,
        points: Vec::new(),
        search: None,
        limits: Vec::new(),
        sessions: Vec::new(),
        blocks: Vec::new(),
    }
}

/// Writes a complete result set under `root`: one run per (point, results) pair.
fn write_set(root: &Path, m: Manifest, runs: &[(Value, Value, bool)]) {
    let mut w = SetWriter::create(root, m, "name: iperf\n", None).unwrap();
    let mut point_index: Vec<Value> = Vec::new();
    for (i, (point, results, ok)) in runs.iter().enumerate() {
        let pi = match point_index.iter().position(|p| p == point) {
            Some(p) => p,
            None => {
                point_index.push(point.clone());
                point_index.len() - 1
            }
        };
        w.append(RunRecord {
            index: i,
            point_index: pi,
            point: point.as_object().unwrap().clone(),
            repetition: 0,
            status: if *ok {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            attempts: 1,
            results: results.as_object().unwrap().clone(),
            steps: vec![],
            started: "2025-01-01T00:00:00Z".into(),
            ended: "2025-01-01T00:00:01Z".into(),
            error: (!ok).then(|| "step client exited with status 1".into()),
            notes: vec![],
            warmup_dropped: Default::default(),
            extraction_failed: false,
        })
        .unwrap();
    }
    w.finish(SetStatus::Complete).unwrap();
}

const BASE_NOISE: [f64; 4] = [1.0, 1.01, 0.99, 1.004];
const NEW_NOISE: [f64; 4] = [0.996, 1.0, 1.008, 0.993];

fn iperf_vars(parallel: &[i64]) -> Vec<Var<'static>> {
    vec![
        (
            "parallel",
            parallel.iter().map(|p| json!(p)).collect(),
            vec![],
        ),
        (
            "zerocopy",
            vec![json!(""), json!("-Z")],
            vec!["disabled", "enabled"],
        ),
        ("time", vec![json!(2)], vec![]),
    ]
}

const IPERF_RESULTS: &[(&str, &str, Better, bool)] = &[
    ("goodput", "bit/s", Better::Higher, false),
    ("latency", "s", Better::Lower, false),
];

/// Runs of an iperf-like experiment. `effect(parallel, zerocopy)` gives the factors applied
/// to goodput and latency at a point.
fn iperf_runs(
    parallel: &[i64],
    noise: &[f64],
    effect: impl Fn(i64, &str) -> (f64, f64),
) -> Vec<(Value, Value, bool)> {
    let mut runs = Vec::new();
    for &p in parallel {
        for z in ["", "-Z"] {
            let (g, l) = effect(p, z);
            for n in noise {
                let goodput = 9.4e8 * p as f64 * g * n;
                let latency = 0.0125 * l * (2.0 - n);
                runs.push((
                    json!({"parallel": p, "zerocopy": z, "time": 2}),
                    json!({"goodput": goodput, "latency": latency}),
                    true,
                ));
            }
        }
    }
    runs
}

/// BASE explores parallel 1, 4, 8; NEW explores 1, 4, 16. In NEW, goodput drops 10% at
/// parallel=1 without zero-copy, latency falls 20% at parallel=4 with zero-copy, one failed run
/// (which must not count) reports an absurd goodput.
fn regression_sets(root: &Path) {
    let base = manifest(
        "iperf-20250101T000000Z-base",
        "2025-01-01T00:00:00Z",
        &iperf_vars(&[1, 4, 8]),
        IPERF_RESULTS,
    );
    write_set(
        root,
        base,
        &iperf_runs(&[1, 4, 8], &BASE_NOISE, |_, _| (1.0, 1.0)),
    );
    let new = manifest(
        "iperf-20250102T000000Z-new0",
        "2025-01-02T00:00:00Z",
        &iperf_vars(&[1, 4, 16]),
        IPERF_RESULTS,
    );
    let mut runs = iperf_runs(&[1, 4, 16], &NEW_NOISE, |p, z| match (p, z) {
        (1, "") => (0.9, 1.0),
        (4, "-Z") => (1.0, 0.8),
        _ => (1.0, 1.0),
    });
    runs.push((
        json!({"parallel": 4, "zerocopy": "", "time": 2}),
        json!({"goodput": 1e15}),
        false,
    ));
    write_set(root, new, &runs);
}

#[test]
fn regression_exits_3_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    regression_sets(&dir.path().join("results"));
    let out = mpf_in(dir.path())
        .args([
            "compare",
            "iperf-20250101",
            "iperf-20250102",
            "--junit",
            "junit.xml",
            "--markdown",
            "summary.md",
            "--html",
            "report.html",
            "--json",
            "compare.json",
        ])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.contains('\x1b'),
        "no colour when NO_COLOR is set / not a tty"
    );
    insta::assert_snapshot!("compare_regression_table", stdout);

    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    insta::assert_snapshot!("compare_regression_markdown", md);

    // JSON: every figure, per point and result.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compare.json")).unwrap())
            .unwrap();
    assert_eq!(doc["summary"]["regressions"], 1);
    assert_eq!(doc["summary"]["improvements"], 1);
    assert_eq!(doc["summary"]["compared"], 8);
    assert_eq!(doc["summary"]["tested"], 8);
    assert_eq!(doc["settings"]["correction"], "holm");
    assert_eq!(doc["unmatched"]["base_only"].as_array().unwrap().len(), 2);
    assert_eq!(doc["unmatched"]["new_only"].as_array().unwrap().len(), 2);
    let entries = doc["comparisons"].as_array().unwrap();
    let find = |p: i64, z: &str, r: &str| {
        entries
            .iter()
            .find(|e| {
                e["point"]["parallel"] == p && e["point"]["zerocopy"] == z && e["result"] == r
            })
            .unwrap()
    };
    let reg = find(1, "", "goodput");
    assert_eq!(reg["verdict"], "regression");
    assert_eq!(reg["point_labels"]["zerocopy"], "disabled");
    assert_eq!(reg["base"]["n"], 4);
    let base_mean = 9.4e8 * BASE_NOISE.iter().sum::<f64>() / 4.0;
    let new_mean = 0.9 * 9.4e8 * NEW_NOISE.iter().sum::<f64>() / 4.0;
    assert!((reg["base"]["mean"].as_f64().unwrap() - base_mean).abs() < 1e-3);
    assert!((reg["new"]["mean"].as_f64().unwrap() - new_mean).abs() < 1e-3);
    let change = reg["change"].as_f64().unwrap();
    assert!((change - (new_mean - base_mean) / base_mean).abs() < 1e-12);
    let ci = reg["change_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < change && change < ci[1].as_f64().unwrap());
    for key in ["median", "stddev", "min", "max"] {
        assert!(reg["new"][key].is_number(), "{key}");
    }
    assert_eq!(reg["test"]["name"], "welch");
    let p = reg["test"]["p"].as_f64().unwrap();
    let p_adj = reg["test"]["p_adjusted"].as_f64().unwrap();
    assert!(p < p_adj && p_adj <= 0.05, "p {p}, Holm {p_adj}");
    assert!(reg["test"]["df"].is_number());
    assert_eq!(reg["significant"], true);
    // The failed run (goodput 1e15) does not count.
    assert_eq!(find(4, "", "goodput")["new"]["n"], 4);
    assert_eq!(find(4, "", "goodput")["verdict"], "unchanged");
    assert_eq!(find(4, "-Z", "latency")["verdict"], "improvement");

    // JUnit: one test case per point and result; the regression is the only failure.
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 8);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert!(xml.contains(r#"failures="1""#));
    assert!(xml.contains(r#"name="goodput @ parallel=1, zerocopy=disabled""#));
    assert!(xml.contains("only in BASE (not compared): parallel=8, zerocopy=enabled"));
    check_xml(&xml);

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
    assert_eq!(html.matches("<tr class=\"regression\">").count(), 1);
    assert!(html.contains("parallel=16, zerocopy=disabled"));
}

/// Parses the XML with Python's standard library when python3 is available.
fn check_xml(xml: &str) {
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  root = ET.fromstring(sys.stdin.read())\n\
                  suites = root.findall('testsuite')\n\
                  assert len(suites) == 1, suites\n\
                  cases = suites[0].findall('testcase')\n\
                  print(len(cases), sum(1 for c in cases if c.find('failure') is not None))";
    let child = StdCommand::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("python3 not available: JUnit XML checked by string matching only");
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "JUnit XML does not parse:\n{xml}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8 1");
}

#[test]
fn no_regression_exits_0_with_either_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let vars = iperf_vars(&[1, 4]);
    let base = manifest("iperf-a", "2025-01-01T00:00:00Z", &vars, IPERF_RESULTS);
    write_set(
        &root,
        base,
        &iperf_runs(&[1, 4], &BASE_NOISE, |_, _| (1.0, 1.0)),
    );
    let new = manifest("iperf-b", "2025-01-02T00:00:00Z", &vars, IPERF_RESULTS);
    // Goodput up 10% everywhere: improvements, not regressions.
    write_set(
        &root,
        new,
        &iperf_runs(&[1, 4], &NEW_NOISE, |_, _| (1.1, 1.0)),
    );
    mpf_in(dir.path())
        .args(["compare", "iperf-a", "latest"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "OK: 0 regressions, 4 improvements, 4 unchanged",
        ));
    // With 4 runs a side, Mann-Whitney's smallest p-value is 2/C(8,4) = 0.029: after Holm's
    // correction over 8 tests nothing is significant, and the output says so.
    mpf_in(dir.path())
        .args(["compare", "iperf-a", "latest", "--test", "mwu"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("0 improvements, 8 unchanged"))
        .stdout(predicate::str::contains(
            "beyond tolerance, not significant",
        ));
    // The same change read the other way round is a regression.
    mpf_in(dir.path())
        .args(["compare", "iperf-b", "iperf-a"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains(
            "REGRESSION: 4 regressions, 0 improvements, 4 unchanged",
        ));
    mpf_in(dir.path())
        .args([
            "compare", "iperf-b", "iperf-a", "--json", "out.json", "--test", "mwu",
        ])
        .assert()
        .code(0);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(doc["settings"]["test"], "mwu");
    let first = &doc["comparisons"][0];
    assert_eq!(first["test"]["name"], "mwu");
    assert_eq!(first["test"]["method"], "exact");
    assert_eq!(first["test"]["statistic"], 0.0);
    // 4 vs 4, complete separation: exact two-sided p = 2 / C(8, 4)
    assert!((first["test"]["p"].as_f64().unwrap() - 2.0 / 70.0).abs() < 1e-15);
    assert_eq!(first["verdict"], "unchanged");
    assert_eq!(first["beyond_tolerance"], true);
    assert_eq!(first["significant"], false);
    // A large tolerance hides the change.
    mpf_in(dir.path())
        .args(["compare", "iperf-b", "iperf-a", "--tolerance", "15%"])
        .assert()
        .code(0);
}

#[test]
fn different_variables_or_results_exit_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let vars = iperf_vars(&[1]);
    write_set(
        &root,
        manifest("base", "2025-01-01T00:00:00Z", &vars, IPERF_RESULTS),
        &iperf_runs(&[1], &BASE_NOISE, |_, _| (1.0, 1.0)),
    );
    let mut other_vars = vars.clone();
    other_vars[2].0 = "duration";
    write_set(
        &root,
        manifest(
            "other-vars",
            "2025-01-02T00:00:00Z",
            &other_vars,
            &[("goodput", "bit/s", Better::Higher, false)],
        ),
        &[],
    );
    mpf_in(dir.path())
        .args(["compare", "base", "other-vars"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "cannot compare the result sets: the variables differ: only BASE has 'time', only NEW has 'duration'; \
             the results differ: only BASE has 'latency'",
        ));

    write_set(
        &root,
        manifest(
            "flipped",
            "2025-01-03T00:00:00Z",
            &vars,
            &[
                ("goodput", "bit/s", Better::Higher, false),
                ("latency", "s", Better::Higher, false),
            ],
        ),
        &iperf_runs(&[1], &BASE_NOISE, |_, _| (1.0, 1.0)),
    );
    mpf_in(dir.path())
        .args(["compare", "base", "flipped"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "result 'latency' is better lower in BASE but better higher in NEW",
        ));

    // Same variables, but no value in common.
    write_set(
        &root,
        manifest(
            "elsewhere",
            "2025-01-04T00:00:00Z",
            &iperf_vars(&[2]),
            IPERF_RESULTS,
        ),
        &iperf_runs(&[2], &BASE_NOISE, |_, _| (1.0, 1.0)),
    );
    mpf_in(dir.path())
        .args(["compare", "base", "elsewhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no point in common"));

    mpf_in(dir.path())
        .args(["compare", "base", "nosuchset"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no result set matches 'nosuchset'",
        ));
}

#[test]
fn single_runs_are_compared_by_tolerance_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let vars = vec![("size", vec![json!(64), json!(1500)], vec![])];
    let results = [("rtt", "s", Better::Lower, false)];
    let run = |size: i64, rtt: f64| (json!({"size": size}), json!({"rtt": rtt}), true);
    write_set(
        &root,
        manifest("ping-a", "2025-01-01T00:00:00Z", &vars, &results),
        &[run(64, 1e-4), run(1500, 2e-4)],
    );
    write_set(
        &root,
        manifest("ping-b", "2025-01-02T00:00:00Z", &vars, &results),
        &[run(64, 1.03e-4), run(1500, 2.4e-4)],
    );
    let out = mpf_in(dir.path())
        .args(["compare", "ping-a", "ping-b"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("compare_single_runs_table", stdout);
    assert!(stdout.contains("no test (n=1): tolerance only"));
    // `-` sends an output to stdout in place of the table.
    mpf_in(dir.path())
        .args(["compare", "ping-a", "ping-b", "--markdown", "-"])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with(
            "## ❌ mpf compare: 1 regression",
        ))
        .stdout(predicate::str::contains("| ➖ unchanged | size=64 | rtt |"));
    mpf_in(dir.path())
        .args(["compare", "ping-a", "ping-b", "--json", "-", "--html", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only one of"));
}

#[test]
fn series_are_compared_by_per_run_means_and_undeclared_results_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let results = [("rate", "bit/s", Better::Higher, true)];
    let runs = |scale: f64| -> Vec<(Value, Value, bool)> {
        BASE_NOISE
            .iter()
            .map(|n| {
                (
                    json!({}),
                    json!({"rate": [1e9 * n * scale, 1.1e9 * n * scale, 0.9e9 * n * scale],
                           "extra": 5.0 * n}),
                    true,
                )
            })
            .collect()
    };
    write_set(
        &root,
        manifest("s-a", "2025-01-01T00:00:00Z", &[], &results),
        &runs(1.0),
    );
    write_set(
        &root,
        manifest("s-b", "2025-01-02T00:00:00Z", &[], &results),
        &runs(1.0),
    );
    mpf_in(dir.path())
        .args(["compare", "s-a", "s-b", "--json", "s.json"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "Note: series results (rate) are compared by the mean of each run's values",
        ))
        .stdout(predicate::str::contains("rate (series)"))
        .stdout(predicate::str::contains("(single point)"));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    let entries = doc["comparisons"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        2,
        "the declared series and the undeclared 'extra'"
    );
    assert_eq!(entries[0]["result"], "rate");
    assert_eq!(entries[0]["base"]["n"], 4);
    assert!((entries[0]["base"]["mean"].as_f64().unwrap() - 1e9 * 1.001).abs() < 1e-3);
    assert_eq!(entries[0]["change"], 0.0);
    assert_eq!(entries[1]["result"], "extra");
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    mpf_in(dir.path())
        .args(["compare", "a", "b", "--tolerance", "5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean 5%?"));
    mpf_in(dir.path())
        .args(["compare", "a", "b", "--alpha", "1.5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid --alpha"));
    mpf_in(dir.path())
        .args(["compare", "a", "b", "--test", "ks"])
        .assert()
        .code(2);
}
