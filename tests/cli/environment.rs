//! The environment of every machine (SPEC §12): settings gathered as facts, `require:` checked
//! before the first run.

use crate::common::{journal, manifest, mpf_in, only_set, write};

fn exp_requiring(dir: &std::path::Path, governor: &str) -> std::path::PathBuf {
    write(
        dir,
        "req.yaml",
        &format!(
            "name: req\nruns: 2\nrequire:\n  governor: {governor}\n  irqbalance: false\nsteps:\n  - name: s\n    run: echo mpf-result v 1\n"
        ),
    )
}

#[test]
fn an_unmet_requirement_stops_the_run_before_any_run_unless_no_require() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No machine has this governor (and one without cpufreq has `unknown`, which meets nothing).
    let exp = exp_requiring(d, "no-such-governor");
    let out = mpf_in(d)
        .args(["run", exp.to_str().unwrap(), "-q"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("governor is "), "{err}");
    assert!(err.contains("no-such-governor required"), "{err}");
    assert!(err.contains("--no-require"), "{err}");
    let set = only_set(d);
    assert!(journal(&set).is_empty(), "no run");
    let m = manifest(&set);
    assert_eq!(m["status"], "failed");
    assert_eq!(m["requirements"]["met"], false);
    assert_eq!(m["requirements"]["unmet"][0]["setting"], "governor");
    // The facts hold the settings.
    assert!(m["hosts"][0]["settings"]["irqbalance"].is_string());

    std::fs::remove_dir_all(d.join("results")).unwrap();
    mpf_in(d)
        .args(["run", exp.to_str().unwrap(), "-q", "--no-require"])
        .assert()
        .success();
    let set = only_set(d);
    assert_eq!(journal(&set).len(), 2);
    assert_eq!(manifest(&set)["requirements"]["met"], false);
    let report = mpf_in(d).args(["report", "latest"]).assert().success();
    let path = String::from_utf8_lossy(&report.get_output().stdout)
        .trim()
        .to_string();
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.contains("NOT met (ran with --no-require)"));

    // `mpf check` shows each machine's settings against them, and exits 2.
    let out = mpf_in(d)
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("requirements:"), "{text}");
    assert!(text.contains("NOT MET"), "{text}");
}

#[test]
fn a_met_requirement_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "ok.yaml",
        "name: ok\nruns: 1\nrequire: {irqbalance: false}\nsteps:\n  - name: s\n    run: 'true'\n",
    );
    // This test machine runs no irqbalance; if one does, the requirement is rightly unmet.
    let irq = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "irqbalance")
    });
    let code = if irq { 2 } else { 0 };
    mpf_in(d)
        .args(["run", exp.to_str().unwrap(), "-q"])
        .assert()
        .code(code);
    if !irq {
        assert_eq!(manifest(&only_set(d))["requirements"]["met"], true);
    }
}

#[test]
fn an_unknown_setting_is_refused_at_load_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "bad.yaml",
        "name: bad\nrequire:\n  govenor: performance\nsteps:\n  - name: s\n    run: 'true'\n",
    );
    let out = mpf_in(dir.path())
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3:"), "{err}");
    assert!(err.contains("unknown setting 'govenor'"), "{err}");
}

#[test]
fn compare_shows_what_differs_between_the_environments_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let body = "runs: 3\nsteps:\n  - name: s\n    run: echo mpf-result v 1\n";
    let a = write(d, "a.yaml", &format!("name: env\n{body}"));
    let b = write(
        d,
        "b.yaml",
        &format!("name: env\ndescription: tuned\n{body}"),
    );
    for exp in [&a, &b] {
        mpf_in(d)
            .args(["run", exp.to_str().unwrap(), "-q", "--no-plot"])
            .assert()
            .success();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let mut sets: Vec<_> = std::fs::read_dir(d.join("results"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    sets.sort();
    // The second set ran on another kernel.
    let mpath = sets[1].join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m["hosts"][0]["kernel"] = "Linux 9.9-test".into();
    std::fs::write(&mpath, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let (base, new) = (sets[0].to_str().unwrap(), sets[1].to_str().unwrap());

    let table = mpf_in(d).args(["compare", base, new]).output().unwrap();
    let mut outputs = vec![("table", String::from_utf8_lossy(&table.stdout).into_owned())];
    for flag in ["--markdown", "--junit", "--html", "--json"] {
        let out = mpf_in(d)
            .args(["compare", base, new, flag, "-"])
            .output()
            .unwrap();
        outputs.push((flag, String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    for (name, text) in &outputs {
        assert!(text.contains("kernel of localhost"), "{name}: {text}");
        assert!(text.contains("Linux 9.9-test"), "{name}");
        assert!(
            text.contains("+description: tuned"),
            "{name}: the experiment diff"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&outputs[4].1).unwrap();
    assert_eq!(
        json["environment"]["differences"][0]["what"],
        "kernel of localhost"
    );
    assert!(json["environment"]["experiment_diff"]
        .as_str()
        .unwrap()
        .contains("--- BASE/experiment.yaml"));
}
