//! Resuming and re-extracting a set with an edited experiment file, and what the exit code of
//! a resumed session counts.

use predicates::prelude::*;

use crate::common::{journal, manifest, mpf_in, only_set, write};

/// Two points of `x`, two runs each, every run printing `v`.
fn sweep(var: &str, values: &str, cmd: &str) -> String {
    format!(
        "name: sweep\nruns: 2\norder: sequential\nvariables:\n  {var}: {values}\nsteps:\n  - name: s\n    run: {cmd}\n    results:\n      v: 'v (\\d+)'\n"
    )
}

/// Runs `exp` to completion in `d` and returns the set.
fn complete(d: &std::path::Path, exp: &std::path::Path) -> std::path::PathBuf {
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(exp)
        .assert()
        .success();
    only_set(d)
}

#[test]
fn resume_refuses_a_renamed_variable_even_with_force_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(d, "e.yaml", &sweep("x", "[1, 2]", "echo v {{ x }}"));
    let set = complete(d, &exp);
    let before = std::fs::read_to_string(set.join("journal.jsonl")).unwrap();
    let renamed = write(d, "e2.yaml", &sweep("y", "[1, 2]", "echo v {{ y }}"));
    for force in [false, true] {
        let mut cmd = mpf_in(d);
        cmd.arg("run")
            .arg(&renamed)
            .args(["--resume", "latest", "-q"]);
        if force {
            cmd.arg("--force");
        }
        cmd.assert()
            .code(2)
            .stderr(predicate::str::contains("e2.yaml"))
            .stderr(predicate::str::contains("variables"))
            .stderr(predicate::str::contains("'x'"))
            .stderr(predicate::str::contains("'y'"));
    }
    assert_eq!(
        std::fs::read_to_string(set.join("journal.jsonl")).unwrap(),
        before,
        "nothing recorded changes"
    );
    assert_eq!(manifest(&set)["variables"][0]["name"], "x");
}

#[test]
fn resume_with_force_refuses_changed_values_and_accepts_a_changed_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(d, "e.yaml", &sweep("x", "[1, 2]", "echo v {{ x }}"));
    let set = complete(d, &exp);
    let wider = write(d, "wider.yaml", &sweep("x", "[1, 2, 3]", "echo v {{ x }}"));
    mpf_in(d)
        .arg("run")
        .arg(&wider)
        .args(["--resume", "latest", "-q", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("wider.yaml"))
        .stderr(predicate::str::contains("values of 'x'"));
    assert_eq!(journal(&set).len(), 4);

    // Another command over the same variables: --force continues (nothing left to run here),
    // and the set takes the new file.
    let edited = write(d, "edited.yaml", &sweep("x", "[1, 2]", "echo v 7{{ x }}"));
    mpf_in(d)
        .arg("run")
        .arg(&edited)
        .args(["--resume", "latest", "-q", "--force"])
        .assert()
        .success();
    assert_eq!(journal(&set).len(), 4);
    assert_eq!(
        std::fs::read_to_string(set.join("experiment.yaml")).unwrap(),
        std::fs::read_to_string(&edited).unwrap()
    );
}

#[test]
fn extract_refuses_a_file_whose_variables_differ_and_keeps_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(d, "e.yaml", &sweep("x", "[1, 2]", "echo v {{ x }}"));
    let set = complete(d, &exp);
    let stored = std::fs::read_to_string(set.join("experiment.yaml")).unwrap();
    let renamed = write(d, "e2.yaml", &sweep("y", "[1, 2]", "echo v {{ y }}"));
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&renamed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("e2.yaml"))
        .stderr(predicate::str::contains("'x'"));
    let narrower = write(d, "narrow.yaml", &sweep("x", "[1]", "echo v {{ x }}"));
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&narrower)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("values of 'x'"));
    assert_eq!(
        std::fs::read_to_string(set.join("experiment.yaml")).unwrap(),
        stored
    );
    assert!(!set.join("journal.1.jsonl").exists(), "no new generation");
    // A plain resume still finds the set complete: nothing runs again.
    mpf_in(d)
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .success();
    assert_eq!(journal(&set).len(), 4);
}

#[test]
fn extract_and_resume_replay_the_sets_overrides_when_comparing_variables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(d, "e.yaml", &sweep("x", "[1, 2, 3]", "echo v {{ x }}"));
    mpf_in(d)
        .args(["run", "-q", "--no-plot", "--set", "x=1,3"])
        .arg(&exp)
        .assert()
        .success();
    let set = only_set(d);
    // The same variables with another extractor: accepted, and the stored --set still applies.
    let edited = write(
        d,
        "e.yaml",
        &sweep("x", "[1, 2, 3]", "echo v {{ x }}").replace("v (\\d+)", "(\\d+)"),
    );
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&edited)
        .assert()
        .success();
    mpf_in(d)
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .success();
    assert_eq!(journal(&set).len(), 4);
}

/// `x` = 1, 2, 3 in order, one run each; the run at 2 fails until `ok` exists.
fn stops_at_two(d: &std::path::Path) -> std::path::PathBuf {
    write(
        d,
        "stop.yaml",
        "name: stop\nruns: 1\norder: sequential\non_failure: stop\nvariables:\n  x: [1, 2, 3]\nsteps:\n  - name: s\n    run: 'if [ {{ x }} = 2 ] && [ ! -e ok ]; then exit 1; fi; echo v {{ x }}'\n    results:\n      v: 'v (\\d+)'\n",
    )
}

#[test]
fn a_resumed_session_whose_runs_pass_exits_0_although_the_set_has_old_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = stops_at_two(d);
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .code(1);
    let set = only_set(d);
    assert_eq!(manifest(&set)["status"], "failed");
    assert_eq!(journal(&set).len(), 2);
    std::fs::write(d.join("ok"), "").unwrap();
    // The failed run is not retried; the one left passes: this session failed nothing.
    let out = mpf_in(d)
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 runs ok, 1 of 3 FAILED"), "{err}");
    assert_eq!(journal(&set).len(), 3);
    assert_eq!(manifest(&set)["status"], "complete");
    // Nothing left: still 0.
    mpf_in(d)
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .code(0);
}

#[test]
fn a_resumed_session_with_a_failure_of_its_own_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "e.yaml",
        &sweep(
            "x",
            "[1, 2]",
            "'[ {{ x }} = 1 ] || [ ! -e broken ] && echo v 1'",
        ),
    );
    let set = complete(d, &exp);
    // Two more runs per point, the point x=2 now failing.
    let more = write(
        d,
        "e.yaml",
        &sweep(
            "x",
            "[1, 2]",
            "'[ {{ x }} = 1 ] || [ ! -e broken ] && echo v 1'",
        )
        .replace("runs: 2", "runs: 3"),
    );
    std::fs::write(d.join("broken"), "").unwrap();
    mpf_in(d)
        .arg("run")
        .arg(&more)
        .args(["--resume", "latest", "-q", "--no-plot", "--force"])
        .assert()
        .code(1);
    assert_eq!(journal(&set).len(), 6);
}

#[test]
fn a_renamed_variable_of_a_set_run_with_set_is_named_as_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(d, "e.yaml", &sweep("x", "[1, 2]", "echo v {{ x }}"));
    mpf_in(d)
        .args(["run", "-q", "--no-plot", "--set", "x=1"])
        .arg(&exp)
        .assert()
        .success();
    let renamed = write(d, "e2.yaml", &sweep("y", "[1, 2]", "echo v {{ y }}"));
    mpf_in(d)
        .arg("run")
        .arg(&renamed)
        .args(["--resume", "latest", "-q", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the set has 'x' and this file does not; this file has 'y' and the set does not",
        ));
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&renamed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("e2.yaml:5:"))
        .stderr(predicate::str::contains("the set has 'x'"));
}

#[test]
fn a_search_set_resumes_and_extracts_with_an_edited_file_its_probes_are_no_value_space() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let search = |zero: &str| {
        format!(
            "name: search\nruns: 1\nvariables:\n  c: [1, 2]\n  rate: {{range: [1, 1000]}}\nsearch:\n  variable: rate\n  condition: 'loss <= 0.001'\n  precision: 10%\nsteps:\n  - run: \"if [ {{{{ rate }}}} -gt $((300 * {{{{ c }}}})) ]; then echo loss=1; else echo loss={zero}; fi\"\n    results:\n      loss: 'loss=(\\S+)'\n"
        )
    };
    let exp = write(d, "e.yaml", &search("0"));
    let set = complete(d, &exp);
    let runs = journal(&set).len();
    let edited = write(d, "e2.yaml", &search("0.0"));
    mpf_in(d)
        .arg("run")
        .arg(&edited)
        .args(["--resume", "latest", "-q", "--no-plot", "--force"])
        .assert()
        .success();
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&edited)
        .assert()
        .success();
    assert_eq!(journal(&set).len(), runs);
    // Other values of the variable that is not searched are refused all the same.
    let wider = write(
        d,
        "e3.yaml",
        &search("0").replace("c: [1, 2]", "c: [1, 2, 3]"),
    );
    mpf_in(d)
        .args(["extract", "latest", "-f"])
        .arg(&wider)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("values of 'c'"));
}
