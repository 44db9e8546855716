//! The outputs programs read (the Python package): `run --progress json`, `ls --json`,
//! `show --path`.

use crate::common::{mpf_in, only_set, write};

const TWO_POINTS: &str = r#"
name: tiny
runs: 2
variables:
  n: [1, 2]
steps:
  - name: work
    run: |
      echo "mpf-result value {{ n * 10 }}"
      test {{ n }} -eq 1
"#;

fn events(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn run_progress_json_is_one_event_per_line_ending_with_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "tiny.yaml", TWO_POINTS);
    let out = mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["--progress", "json", "--no-plot"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "n=2 fails");
    let events = events(&out.stderr);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(events[0]["total"], 4);
    let runs: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "run").collect();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs.last().unwrap()["done"], 4);
    assert_eq!(runs.iter().filter(|r| r["ok"] == true).count(), 2);
    assert!(
        events.iter().all(|e| e["format"] == 1),
        "every event names the stream's format: {events:?}"
    );
    // Data, not display text: the point's typed values, results as numbers with their unit,
    // a typed failure.
    let failed = runs.iter().find(|r| r["ok"] == false).unwrap();
    assert_eq!(failed["point"], serde_json::json!({"n": 2}));
    assert_eq!(failed["labels"], serde_json::json!({"n": "2"}));
    let failure = &failed["failure"];
    assert_eq!(
        (&failure["kind"], &failure["step"], &failure["code"]),
        (&"exit".into(), &"work".into(), &1.into()),
        "{failure}"
    );
    assert!(failure["message"]
        .as_str()
        .unwrap()
        .contains("step 'work' on local exited with status 1"));
    let passed = runs.iter().find(|r| r["ok"] == true).unwrap();
    assert_eq!(passed["point"], serde_json::json!({"n": 1}));
    assert_eq!(passed["failure"], serde_json::Value::Null);
    assert_eq!(
        passed["results"],
        serde_json::json!([{"name": "value", "value": 10.0, "unit": "", "text": "value=10"}])
    );
    let set = events.last().unwrap();
    assert_eq!(set["event"], "set");
    let dir_of_set = only_set(dir.path());
    assert_eq!(set["path"], dir_of_set.to_str().unwrap());
    assert_eq!(set["id"], dir_of_set.file_name().unwrap().to_str().unwrap());
    assert_eq!(
        (set["ok"].as_u64(), set["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(set["interrupted"], false);
}

#[test]
fn ls_json_and_show_path_resolve_sets_as_every_command_does() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(dir.path(), "tiny.yaml", TWO_POINTS);
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["-q", "--no-plot", "--set", "n=1"])
        .assert()
        .success();
    let set = only_set(dir.path());
    let ls = mpf_in(dir.path()).args(["ls", "--json"]).output().unwrap();
    assert!(ls.status.success());
    let list: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let first = &list.as_array().unwrap()[0];
    assert_eq!(first["name"], "tiny");
    assert_eq!(first["status"], "complete");
    assert_eq!(
        (first["runs_ok"].as_u64(), first["planned_runs"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        std::fs::canonicalize(first["path"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&set).unwrap()
    );
    let path = mpf_in(dir.path())
        .args(["show", "tiny", "--path"])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::canonicalize(String::from_utf8(path.stdout).unwrap().trim()).unwrap(),
        std::fs::canonicalize(&set).unwrap()
    );
    mpf_in(dir.path())
        .args(["show", "nothing", "--path"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no result set matches 'nothing'"));
    // No sets: an empty array, not a message a program has to recognise.
    let empty = tempfile::tempdir().unwrap();
    mpf_in(empty.path())
        .args(["ls", "--json"])
        .assert()
        .success()
        .stdout("[]\n");
}

/// A cluster whose one machine nobody answers on: a TEST-NET-1 address (RFC 5737, never
/// routed), with a 1 s ConnectTimeout (the cluster's options come before mpf's own).
const NOBODY: &str =
    "machines:\n  - hostname: 192.0.2.1\n    ssh_options: [ConnectTimeout=1]\n    role: far\n";

const ON_FAR: &str =
    "name: far\nruns: 1\nsteps:\n  - name: work\n    role: far\n    run: echo hi\n";

#[test]
fn an_unreachable_machine_exits_4_for_run_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", NOBODY);
    let exp = write(dir.path(), "far.yaml", ON_FAR);
    for command in ["run", "check"] {
        let start = std::time::Instant::now();
        let out = mpf_in(dir.path())
            .arg(command)
            .arg(&exp)
            .arg("-c")
            .arg(&cluster)
            .args(if command == "run" {
                &["-q", "--no-plot"][..]
            } else {
                &[]
            })
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let text = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(4), "mpf {command}: {text}");
        assert!(text.contains("192.0.2.1"), "names the machine: {text}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{text}"
        );
    }
    // Nothing ran, so no result set was created.
    assert!(!dir.path().join("results").exists());
}
