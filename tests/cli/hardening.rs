//! Hostile names and outputs: graph file names, long result names, a failing graph, a full
//! stdout, `file:` through a symlinked role directory, a set compared with itself.

use predicates::prelude::*;

use crate::common::{mpf_in, only_set, write};

/// One run per `x` = 1, 2, printing `mpf-result` lines for `names`.
fn printing(d: &std::path::Path, names: &[&str]) -> std::path::PathBuf {
    let lines: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("mpf-result {n} {}\\n", i + 1))
        .collect();
    write(
        d,
        "names.yaml",
        &format!(
            "name: names\nruns: 1\nvariables:\n  x: [1, 2]\nsteps:\n  - name: s\n    run: printf '{lines}'\n"
        ),
    )
}

#[test]
fn results_whose_names_sanitize_alike_get_one_graph_file_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = ["a|b", "a/b", "😀rps", "?rps", "a_b"];
    let exp = printing(d, &names);
    mpf_in(d)
        .args(["run", "-q"])
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains("(5 drawn)"));
    let plots = only_set(d).join("plots");
    let mut svgs: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    svgs.sort();
    assert_eq!(svgs.len(), 5, "{svgs:?}");
    assert!(svgs.contains(&"a_b.svg".to_string()), "a safe name stays");
    // Each file holds the graph of its own result.
    for name in names {
        let found = svgs.iter().filter(|f| {
            std::fs::read_to_string(plots.join(f))
                .unwrap()
                .contains(&format!(">\n{name}\n<"))
        });
        assert_eq!(found.count(), 1, "one graph titled {name}: {svgs:?}");
    }
}

#[test]
fn a_declared_result_name_over_128_bytes_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = "r".repeat(300);
    let exp = write(
        d,
        "long.yaml",
        &format!("name: long\nsteps:\n  - name: s\n    run: echo 1\n    results:\n      {long}: '(\\d+)'\n"),
    );
    mpf_in(d)
        .arg("check")
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("long.yaml:6:"))
        .stderr(predicate::str::contains("300 bytes long, more than 128"));
}

#[test]
fn one_graph_that_cannot_be_written_stops_no_other_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = printing(d, &["first", "second", "third"]);
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    let plots = only_set(d).join("plots");
    // Where the first graph goes, a directory with something in it: it cannot be replaced.
    std::fs::create_dir_all(plots.join("first.svg/keep")).unwrap();
    mpf_in(d)
        .args(["plot", "latest"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("second.svg"))
        .stdout(predicate::str::contains("third.png"))
        .stderr(predicate::str::contains(
            "1 of 3 graphs not drawn: \"first\"",
        ));
    assert!(plots.join("third.svg").is_file());

    // At the end of a run it is a warning that counts what was drawn; the run is fine.
    std::fs::remove_dir_all(&plots).unwrap();
    std::fs::create_dir_all(plots.join("second.png/keep")).unwrap();
    mpf_in(d)
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success()
        .stderr(predicate::str::contains("(2 drawn)"))
        .stderr(predicate::str::contains(
            "warning: 1 of 3 graphs not drawn: \"second\"",
        ));
    assert!(plots.join("third.png").is_file());
}

#[test]
fn the_limit_graph_of_a_search_keeps_its_documented_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "search.yaml",
        "name: search\nruns: 1\nvariables:\n  c: [1, 2]\n  rate: {range: [1, 1000]}\nsearch:\n  variable: rate\n  condition: 'loss <= 0.001'\n  precision: 10%\nsteps:\n  - run: \"if [ {{ rate }} -gt $((300 * {{ c }})) ]; then echo loss=1; else echo loss=0; fi\"\n    results:\n      loss: 'loss=(\\S+)'\n",
    );
    mpf_in(d).args(["run", "-q"]).arg(&exp).assert().success();
    let plots = only_set(d).join("plots");
    assert!(plots.join("rate_limit.svg").is_file());
    assert!(plots.join("loss.png").is_file());
}

#[test]
fn extract_reads_no_file_through_a_role_directory_linked_out_of_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "file.yaml",
        "name: file\nruns: 2\nsteps:\n  - name: s\n    run: \"echo v 7 > {{ run_dir }}/r.txt\"\n    results:\n      v: {file: r.txt, regex: 'v (\\d+)'}\n",
    );
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    let set = only_set(d);
    let outside = d.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("r.txt"), "v 1\n").unwrap();
    let role = set.join("runs/0000/local");
    std::fs::remove_dir_all(&role).unwrap();
    std::os::unix::fs::symlink(&outside, &role).unwrap();
    mpf_in(d)
        .args(["extract", "latest"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("now failed: 0000"));
    let runs = crate::common::journal(&set);
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .contains("is a symbolic link"),
        "{}",
        runs[0]
    );
    assert!(runs[0]["results"].get("v").is_none(), "1 was never read");
    assert_eq!(runs[1]["results"]["v"], 7.0);
}

#[test]
fn a_set_compared_with_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = printing(d, &["v"]);
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    let id = only_set(d)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    mpf_in(d)
        .args(["compare", &id, "latest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "BASE and NEW are the same result set ({id})"
        )));
}

#[test]
fn a_full_stdout_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = printing(d, &["v"]);
    mpf_in(d)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    for args in [
        &["show", "latest"][..],
        &["ls"],
        &["history"],
        &["export", "latest", "--format", "csv"],
        &["completions", "bash"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(d)
            .env("MPF_RESULTS", d.join("results"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
    }
}
