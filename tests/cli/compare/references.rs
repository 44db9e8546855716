//! `mpf compare --references`: between-set noise from earlier sets of the same code (SPEC §12.3).

use std::path::Path;

use mpf::internals::store::record::Better;
use serde_json::{json, Value};

use super::{manifest, write_set};
use crate::common::mpf_in;

const RESULTS: &[(&str, &str, Better, bool)] = &[("goodput", "bit/s", Better::Higher, false)];

/// A tight set (±0.2%) whose goodput mean is `level` × 1 Gbit/s.
fn set(root: &Path, id: &str, day: u32, level: f64) {
    let m = manifest(
        id,
        &format!("2025-01-{day:02}T00:00:00Z"),
        &[("parallel", vec![json!(1)], vec![])],
        RESULTS,
    );
    let runs: Vec<(Value, Value, bool)> = [1.0, 1.002, 0.998, 1.001]
        .iter()
        .map(|n| {
            (
                json!({"parallel": 1}),
                json!({"goodput": 1e9 * level * n}),
                true,
            )
        })
        .collect();
    write_set(root, m, &runs);
}

/// BASE at 1.00 and four references wandering by about 5% (0.95 to 1.06), each tight; NEW
/// 4% and 30% below BASE.
fn sets(root: &Path) {
    set(root, "iperf-base", 5, 1.0);
    for (i, level) in [0.95, 1.04, 0.99, 1.06].iter().enumerate() {
        set(root, &format!("iperf-ref{i}"), 1 + i as u32, *level);
    }
    set(root, "iperf-new4", 6, 0.96);
    set(root, "iperf-new30", 7, 0.70);
}

fn compare_json(dir: &Path, new: &str, extra: &[&str], code: i32) -> Value {
    let mut args = vec![
        "compare",
        "iperf-base",
        new,
        "--tolerance",
        "1%",
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    let out = mpf_in(dir).args(&args).assert().code(code);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

const REFS: [&str; 6] = [
    "--references",
    "iperf-ref0",
    "iperf-ref1",
    "--references",
    "iperf-ref2",
    "iperf-ref3",
];

#[test]
fn a_change_within_between_set_noise_is_not_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    sets(&dir.path().join("results"));
    // Without references, the tight sets make a 4% drop significant and beyond 1%.
    let plain = compare_json(dir.path(), "iperf-new4", &[], 3);
    assert_eq!(plain["comparisons"][0]["verdict"], "regression");
    assert_eq!(plain["comparisons"][0]["reference"], Value::Null);

    let with = compare_json(dir.path(), "iperf-new4", &REFS, 0);
    let e = &with["comparisons"][0];
    assert_eq!(e["verdict"], "unchanged");
    assert_eq!(e["decided_by"], "references");
    assert_eq!(e["significant"], true);
    assert_eq!(e["reference"]["sets"], 5);
    assert_eq!(e["reference"]["exceeded"], false);
    // Sample standard deviation of the means 1.00, 0.95, 1.04, 0.99, 1.06 (Gbit/s), times 3.
    let bound = e["reference"]["bound"].as_f64().unwrap();
    assert!((bound / 1e9 - 3.0 * 0.043243).abs() < 1e-3, "{bound}");
    assert_eq!(
        with["references"],
        json!(["iperf-ref0", "iperf-ref1", "iperf-ref2", "iperf-ref3"])
    );
    assert_eq!(with["settings"]["reference_sigmas"], 3.0);

    // A wider K or a narrower one moves the bound.
    let narrow = compare_json(
        dir.path(),
        "iperf-new4",
        &[&REFS[..], &["--reference-sigmas", "0.5"]].concat(),
        3,
    );
    assert_eq!(narrow["comparisons"][0]["decided_by"], "references");
}

#[test]
fn a_change_beyond_between_set_noise_is_a_regression_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    sets(&dir.path().join("results"));
    let j = compare_json(dir.path(), "iperf-new30", &REFS, 3);
    let e = &j["comparisons"][0];
    assert_eq!(e["verdict"], "regression");
    assert_eq!(e["reference"]["exceeded"], true);
    // 30% of 1 Gbit/s is more than 3σ (0.13 Gbit/s): the reference bound is the larger one.
    assert_eq!(e["decided_by"], "references");

    let table = mpf_in(dir.path())
        .args(["compare", "iperf-base", "iperf-new30", "--tolerance", "1%"])
        .args(REFS)
        .assert()
        .code(3);
    let table = String::from_utf8(table.get_output().stdout.clone()).unwrap();
    insta::assert_snapshot!("compare_references_table", table);
    for flag in ["--markdown", "--html", "--junit"] {
        let out = mpf_in(dir.path())
            .args([
                "compare",
                "iperf-base",
                "iperf-new30",
                "--tolerance",
                "1%",
                flag,
                "-",
            ])
            .args(REFS)
            .assert()
            .code(3);
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(text.contains("iperf-ref3"), "{flag}: {text}");
        assert!(
            text.contains("between-set noise 3σ = 0.13 Gbit/s (5 sets): beyond, decided by it"),
            "{flag}: {text}"
        );
    }
}

#[test]
fn references_must_be_compatible_other_sets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    sets(&root);
    let m = manifest(
        "iperf-other",
        "2025-01-09T00:00:00Z",
        &[("parallel", vec![json!(1)], vec![])],
        &[("latency", "s", Better::Lower, false)],
    );
    write_set(
        &root,
        m,
        &[(json!({"parallel": 1}), json!({"latency": 1.0}), true)],
    );
    mpf_in(dir.path())
        .args([
            "compare",
            "iperf-base",
            "iperf-new4",
            "--references",
            "iperf-ref0",
            "iperf-other",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "the results differ: only BASE has 'goodput', only reference iperf-other has 'latency'",
        ));
    for (reference, role) in [
        ("iperf-new4", "NEW"),
        ("iperf-base", "BASE"),
        ("iperf-ref0", "already a reference"),
    ] {
        mpf_in(dir.path())
            .args([
                "compare",
                "iperf-base",
                "iperf-new4",
                "--references",
                "iperf-ref0",
                reference,
            ])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!("the set is {role}")));
    }
    mpf_in(dir.path())
        .args([
            "compare",
            "iperf-base",
            "iperf-new4",
            "--references",
            "iperf-ref0",
            "--reference-sigmas",
            "0",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid --reference-sigmas 0"));
}
