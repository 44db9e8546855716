//! `mpf history`: change points across the result sets of one experiment (SPEC §12.4).

mod spa;

use std::path::Path;

use mpf::internals::store::record::{GitInfo, SyncInfo};
use serde_json::{json, Value};

use crate::common::mpf_in;
use crate::fixtures::{manifest, record, result, var, write_set, Noise};

/// A set of the `hist` experiment: goodput at `level` Gbit/s (4 runs within ±0.5%), started on
/// day `day`, synced at `commit`.
fn set(root: &Path, day: usize, level: f64, commit: &str, noise: &mut Noise) {
    let mut m = manifest(
        &format!("hist-{day:02}"),
        "hist",
        vec![var("size", json!([64]), None)],
        vec![result("goodput", "bit/s")],
    );
    m.started = format!("2026-01-{day:02}T10:00:00.000Z");
    m.synced = vec![SyncInfo {
        from: "./src".into(),
        to: "~/src".into(),
        machines: vec!["localhost".into()],
        git: Some(GitInfo {
            commit: commit.into(),
            dirty: false,
        }),
    }];
    let wander = 1.0 + 0.01 * noise.next();
    let records = (0..4)
        .map(|i| {
            let g = level * 1e9 * wander * (1.0 + 0.005 * noise.next());
            record(i, json!({"size": 64}), i, json!({"goodput": g}))
        })
        .collect();
    write_set(root, m, "name: hist\n", records);
}

/// 12 sets: 1 Gbit/s for six, then 20% lower from the seventh (commit c7 onwards).
fn twelve(root: &Path) {
    let mut noise = Noise::new(42);
    for day in 1..=12 {
        let level = if day <= 6 { 1.0 } else { 0.8 };
        let commit = if day <= 6 { "c1" } else { "c7" };
        set(
            root,
            day,
            level,
            &format!("{commit}{}", day % 2),
            &mut noise,
        );
    }
}

fn history_json(dir: &Path, args: &[&str], code: i32) -> Value {
    let out = mpf_in(dir)
        .args(["history", "--format", "json"])
        .args(args)
        .assert()
        .code(code);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn a_step_after_the_sixth_set_is_one_change_at_the_seventh() {
    let dir = tempfile::tempdir().unwrap();
    twelve(&dir.path().join("results"));
    let h = history_json(dir.path(), &[], 0);
    assert_eq!(h["name"], "hist");
    assert_eq!(h["steps"].as_array().unwrap().len(), 12);
    let s = &h["series"][0];
    let changes = s["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let c = &changes[0];
    assert_eq!(c["step"], 6);
    assert_eq!(h["steps"][6]["sets"], json!(["hist-07"]));
    assert_eq!(h["steps"][6]["commit"], "c71");
    assert_eq!(c["verdict"], "regression");
    assert!((c["change"].as_f64().unwrap() + 0.2).abs() < 0.02, "{c}");
    assert!(c["p"].as_f64().unwrap() <= 0.05);
    // The newest set is in line with the sets since the change: exit 0.
    assert_eq!(s["newest"]["basis"], "welch");
    assert_eq!(s["newest"]["verdict"], "unchanged");

    let out = mpf_in(dir.path())
        .args(["history", "hist"])
        .assert()
        .code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    insta::assert_snapshot!("history_twelve_table", text);

    // Deterministic: the same input, the same output.
    assert_eq!(history_json(dir.path(), &[], 0), h);
}

#[test]
fn a_newest_set_well_below_its_segment_exits_3_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    twelve(&root);
    set(&root, 13, 0.6, "c13", &mut Noise::new(9));
    let h = history_json(dir.path(), &[], 3);
    assert_eq!(h["regression"], true);
    assert_eq!(h["series"][0]["newest"]["verdict"], "regression");
    for format in ["table", "markdown", "html"] {
        let out = mpf_in(dir.path())
            .args(["history", "--format", format])
            .assert()
            .code(3);
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(text.contains("newest #13: regression"), "{format}: {text}");
    }
    let page = dir.path().join("h.html");
    mpf_in(dir.path())
        .args(["history", "--format", "html", "-o"])
        .arg(&page)
        .assert()
        .code(3);
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains("Plotly.newPlot") && page.contains("\"shapes\""));
    assert!(!page.contains("<script src"), "one offline page");
}

#[test]
fn by_commit_pools_the_sets_of_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    twelve(&dir.path().join("results"));
    // Four steps are too few for the permutation test to find the drop, so the newest commit
    // is tested against every earlier run, including those before the drop: exit 3.
    let h = history_json(dir.path(), &["--by", "commit"], 3);
    assert_eq!(h["series"][0]["changes"], json!([]));
    assert_eq!(h["series"][0]["newest"]["basis"], "welch");
    let steps = h["steps"].as_array().unwrap();
    // c10, c11 (days 1..6 alternate), then c71, c70.
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(steps[0]["sets"], json!(["hist-01", "hist-03", "hist-05"]));
    assert_eq!(h["series"][0]["runs"], json!([12, 12, 12, 12]));
}

#[test]
fn bad_flags_and_unknown_names_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    twelve(&dir.path().join("results"));
    for (args, message) in [
        (vec!["nosuch"], "no result set of experiment 'nosuch'"),
        (vec!["--permutations", "5"], "invalid --permutations 5"),
        (vec!["--tolerance", "5"], "did you mean 5%?"),
        (vec!["--alpha", "2"], "invalid --alpha 2"),
    ] {
        mpf_in(dir.path())
            .arg("history")
            .args(args)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(message));
    }
}
