//! Profiles (SPEC §18.1): a variable with `switch:`. The switch writes a marker (after a
//! delay) that every run checks, and the switch, the runs and the revert append to one log, so
//! the order of everything is read back from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{exits, journal, manifest, only_set, Sandbox};
use crate::run::{spawn_run, wait_for_lines};

const PROFILE: &str = r#"
name: profiles
runs: 2
variables:
  size: [1, 2]
  profile:
    values: [a, b, c]
    switch:
      - run: FAIL sleep 0.3; echo "switch {{ profile }}" >> 'LOG'; echo '{{ profile }}' > 'MARKER'
        revert: echo "revert {{ profile }}" >> 'LOG'; rm -f 'MARKER'
        timeout: 20s
steps:
  - run: >-
      sleep DELAY;
      test "$(cat 'MARKER')" = '{{ profile }}' || { echo "marker: $(cat 'MARKER')"; exit 7; };
      echo "run {{ profile }}" >> 'LOG';
      echo "mpf-result v {{ size }}"
"#;

/// The experiment with its log and marker in `dir`; `fail` prefixes the switch command.
fn experiment(dir: &Sandbox, fail: &str, delay: &str) -> PathBuf {
    let log_path = dir.path().join("log");
    let marker = dir.path().join("marker");
    let text = PROFILE
        .replace("LOG", &log_path.to_string_lossy())
        .replace("MARKER", &marker.to_string_lossy())
        .replace("FAIL", fail)
        .replace("DELAY", delay);
    dir.write("profiles.yaml", &text)
}

/// The log as (what, value) lines.
fn log(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// Checks that the log is a sequence of blocks (switch v, runs of v, revert v) and returns
/// the values switched to, in order.
fn blocks_in(lines: &[(String, String)]) -> Vec<String> {
    let mut current: Option<&str> = None;
    let mut switched = Vec::new();
    for (what, v) in lines {
        match what.as_str() {
            "switch" => {
                assert_eq!(current, None, "switched to {v} inside a block: {lines:?}");
                current = Some(v);
                switched.push(v.clone());
            }
            "run" => assert_eq!(
                current,
                Some(v.as_str()),
                "a run outside its block: {lines:?}"
            ),
            "revert" => {
                assert_eq!(
                    current,
                    Some(v.as_str()),
                    "reverted another value: {lines:?}"
                );
                current = None;
            }
            other => panic!("unexpected log line {other}"),
        }
    }
    assert_eq!(current, None, "the last block was not reverted: {lines:?}");
    switched
}

fn runs_of<'a>(recs: &'a [Value], profile: &str) -> Vec<&'a Value> {
    recs.iter()
        .filter(|r| r["point"]["profile"] == profile)
        .collect()
}

#[test]
fn one_switch_per_block_runs_contiguous_revert_after_each_facts_per_block() {
    let dir = Sandbox::new();
    let exp = experiment(&dir, "", "0");
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().success();
    let lines = log(dir.path());
    let mut switched = blocks_in(&lines);
    assert_eq!(switched.len(), 3, "one switch per value: {lines:?}");
    assert_eq!(lines.iter().filter(|l| l.0 == "run").count(), 12);
    switched.sort();
    assert_eq!(switched, ["a", "b", "c"]);
    assert!(!dir.path().join("marker").exists(), "the last revert ran");

    let set = only_set(dir.path());
    let recs = journal(&set);
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    // The journal's order (by index) is the block order too: runs of a value are contiguous.
    let mut by_index: Vec<&Value> = recs.iter().collect();
    by_index.sort_by_key(|r| r["index"].as_u64());
    let order: Vec<&str> = by_index
        .iter()
        .map(|r| r["point"]["profile"].as_str().unwrap())
        .collect();
    let changes = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changes, 2, "{order:?}");

    let m = manifest(&set);
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    for (b, v) in blocks
        .iter()
        .zip(&lines.iter().filter(|l| l.0 == "switch").collect::<Vec<_>>())
    {
        assert_eq!(b["variable"], "profile");
        assert_eq!(b["value"], v.1.as_str());
        assert!(
            b["switched_at"].is_string() && b["reverted_at"].is_string(),
            "{b}"
        );
        let facts = b["facts"].as_array().unwrap();
        assert_eq!(facts.len(), 1, "{b}");
        assert!(facts[0]["kernel"].as_str().is_some_and(|k| !k.is_empty()));
        // The block's runs are its value's runs.
        let mut held = Vec::new();
        for r in b["runs"].as_array().unwrap() {
            let (lo, hi) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
            held.extend(lo..=hi);
        }
        let mut want: Vec<u64> = runs_of(&recs, v.1.as_str())
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        want.sort();
        assert_eq!(held, want);
    }
    assert!(set.join("switch/localhost.log").exists());
}

#[test]
fn a_failed_switch_fails_only_its_block_with_its_output() {
    let dir = Sandbox::new();
    let fail = r#"test '{{ profile }}' != b || { echo broken-b-switch; exit 3; };"#;
    let exp = experiment(&dir, fail, "0");
    let err = exits(
        dir.mpf().arg("run").arg(&exp).args(["--progress", "json"]),
        1,
    );
    assert!(err.contains("broken-b-switch"), "{err}");
    // The event stream: each block with its typed value, the b runs failing as `switch`.
    let events: Vec<Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let blocks: Vec<&Value> = events.iter().filter(|e| e["event"] == "block").collect();
    assert_eq!(blocks.len(), 3);
    assert!(blocks
        .iter()
        .all(|b| b["variable"] == "profile" && b["of"] == 3 && b["value"].is_string()));
    let switch_failures = events
        .iter()
        .filter(|e| e["event"] == "run" && e["failure"]["kind"] == "switch")
        .count();
    assert_eq!(switch_failures, 4);
    let set = only_set(dir.path());
    let recs = journal(&set);
    assert_eq!(recs.len(), 12, "every run recorded");
    for r in &recs {
        if r["point"]["profile"] == "b" {
            assert_eq!(r["status"], "failed");
            let e = r["error"].as_str().unwrap();
            assert!(
                e.contains("broken-b-switch") && e.contains("exit status 3"),
                "{e}"
            );
        } else {
            assert_eq!(r["status"], "ok", "{r}");
        }
    }
    // The revert ran for the failed block too; the others switched and ran normally.
    let lines = log(dir.path());
    assert!(lines.contains(&("revert".into(), "b".into())), "{lines:?}");
    let m = manifest(&set);
    assert_eq!(m["status"], "complete");
    let b = m["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["value"] == "b")
        .unwrap();
    assert!(b["error"].as_str().unwrap().contains("broken-b-switch"));
    assert_eq!(
        b["facts"],
        Value::Null,
        "no facts after a failed switch: {b}"
    );
}

#[test]
fn sigint_in_a_block_reverts_it() {
    let dir = Sandbox::new();
    let exp = experiment(&dir, "", "0.3");
    let child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), 2, Duration::from_secs(60));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let lines = log(dir.path());
    assert_eq!(blocks_in(&lines).len(), 1, "{lines:?}");
    assert_eq!(lines.last().unwrap().0, "revert");
    assert!(!dir.path().join("marker").exists());
    let m = manifest(&only_set(dir.path()));
    assert_eq!(m["status"], "interrupted");
    assert!(m["blocks"][0]["reverted_at"].is_string());
}

#[test]
fn resume_after_sigkill_switches_the_current_block_once_more_and_continues_it() {
    let dir = Sandbox::new();
    let exp = experiment(&dir, "", "0.3");
    let mut child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), 2, Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL: no revert
    child.wait().unwrap();
    let before = log(dir.path());
    let killed = before[0].1.clone();
    assert_eq!(before.iter().filter(|l| l.0 == "switch").count(), 1);
    assert!(before.iter().all(|l| l.0 != "revert"), "{before:?}");
    let recorded = journal(&only_set(dir.path())).len();
    assert!((2..4).contains(&recorded), "killed inside the first block");

    dir.mpf()
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success();
    let after = log(dir.path())[before.len()..].to_vec();
    let switched = blocks_in(&after);
    assert_eq!(
        switched.len(),
        3,
        "the killed block once more, then the others: {after:?}"
    );
    assert_eq!(
        switched[0], killed,
        "resume continues inside the killed block"
    );
    assert!(!switched[1..].contains(&killed));
    // The killed block ran only its missing runs.
    let resumed = after
        .iter()
        .take_while(|l| l.0 != "revert")
        .filter(|l| l.0 == "run")
        .count();
    assert_eq!(resumed, 4 - recorded);

    let set = only_set(dir.path());
    let recs = journal(&set);
    let mut idx: Vec<u64> = recs.iter().map(|r| r["index"].as_u64().unwrap()).collect();
    idx.sort();
    idx.dedup();
    assert_eq!((recs.len(), idx.len()), (12, 12), "every run exactly once");
    let m = manifest(&set);
    assert_eq!(m["status"], "complete");
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[0]["value"], killed.as_str());
    assert_eq!(blocks[1]["value"], killed.as_str());
    assert!(blocks[0]["reverted_at"].is_null(), "killed: never reverted");
    assert!(blocks[1]["reverted_at"].is_string());
}

#[test]
fn dry_run_shows_the_blocks() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "e.yaml",
        r#"
runs: 2
variables:
  size: [1, 2, 3]
  qdisc:
    values: [fq, pfifo]
    switch:
      - role: server
        run: tc qdisc replace dev eth9 root {{ qdisc }}
        revert: tc qdisc del dev eth9 root
steps:
  - role: server
    run: echo {{ size }}
"#,
    );
    let out = dir
        .mpf()
        .arg("run")
        .arg(&exp)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks: String = text
        .lines()
        .skip_while(|l| !l.starts_with("blocks of"))
        .take_while(|l| !l.trim_start().starts_with("run 0"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("profile_dry_run_blocks", blocks);
    // The runs listed after it come in the same blocks.
    let runs: Vec<&str> = text.lines().filter(|l| l.contains("run 0")).collect();
    assert_eq!(runs.len(), 12);
    let first = if runs[0].contains("qdisc=fq") {
        "fq"
    } else {
        "pfifo"
    };
    assert!(
        runs[..6]
            .iter()
            .all(|l| l.contains(&format!("qdisc={first}"))),
        "{runs:?}"
    );
}

#[test]
fn bad_switches_are_refused_at_load_with_their_line() {
    let dir = Sandbox::new();
    let cases = [
        (
            "switch:\n      - run: x\n        revrt: y\n",
            "e.yaml:7",
            "unknown field `revrt`",
        ),
        (
            "switch:\n      - role: nobody\n        run: x\n",
            "e.yaml:6",
            "role 'nobody' is not a role",
        ),
        (
            "switch:\n      - run: echo {{ nope }}\n",
            "e.yaml:6",
            "nope",
        ),
        (
            "switch:\n      - timeout: 5s\n",
            "e.yaml:6",
            "needs run, revert or both",
        ),
    ];
    for (switch, at, what) in cases {
        let text = format!(
            "variables:\n  size: [1, 2]\n  profile:\n    values: [a, b]\n    {switch}steps:\n  - run: echo hi\n"
        );
        let exp = dir.write("e.yaml", &text);
        let err = exits(dir.mpf().arg("check").arg(&exp), 2);
        assert!(err.contains(at) && err.contains(what), "{text}\n{err}");
    }
    let two = "variables:\n  a:\n    values: [1, 2]\n    switch: [{run: x}]\n  b:\n    values: [1, 2]\n    switch: [{run: y}]\nsteps:\n  - run: echo hi\n";
    let err = exits(dir.mpf().arg("check").arg(dir.write("e.yaml", two)), 2);
    assert!(
        err.contains("e.yaml:7") && err.contains("only one variable"),
        "{err}"
    );
    // `switch: []`: a profile with nothing to run (a container image may switch with it).
    let empty = "variables:\n  a:\n    values: [1, 2]\n    switch: []\nsteps:\n  - run: echo hi\n";
    dir.mpf()
        .arg("check")
        .arg(dir.write("e.yaml", empty))
        .assert()
        .success();
    let when = "variables:\n  a: [1, 2]\n  b:\n    values: [1, 2]\n    when: a == 1\n    switch: [{run: x}]\nsteps:\n  - run: echo hi\n";
    let err = exits(dir.mpf().arg("check").arg(dir.write("e.yaml", when)), 2);
    assert!(err.contains("cannot have when"), "{err}");
}

/// Adaptive repetitions run all their rounds of a value inside its block: the noisy value
/// takes more runs, and each value is switched to once.
#[test]
fn adaptive_rounds_stay_inside_their_block() {
    let dir = Sandbox::new();
    let log_path = dir.path().join("log");
    let text = r#"
runs: {min: 3, max: 8, ci: 1%, on: [x]}
variables:
  profile:
    values: [calm, noisy]
    switch:
      - run: echo "switch {{ profile }}" >> 'LOG'
        revert: echo "revert {{ profile }}" >> 'LOG'
steps:
  - run: >-
      echo "run {{ profile }}" >> 'LOG';
      awk -v n={% if profile == "noisy" %}30{% else %}0{% endif %} -v r={{ run.repetition }}
      'BEGIN { printf "x=%.6f\n", 100 + n * sin(r * 2.1 + n) }'
    results:
      x: 'x=(\S+)'
"#
    .replace("LOG", &log_path.to_string_lossy());
    dir.run_ok("e.yaml", &text, &["-q"]);
    let lines = log(dir.path());
    assert_eq!(blocks_in(&lines).len(), 2, "{lines:?}");
    let recs = journal(&only_set(dir.path()));
    assert_eq!(runs_of(&recs, "calm").len(), 3);
    assert_eq!(runs_of(&recs, "noisy").len(), 8, "rounds after the first");
}

/// A search runs every combination of a value's block, probes and all, inside the block.
#[test]
fn searches_run_inside_their_block() {
    let dir = Sandbox::new();
    let log_path = dir.path().join("log");
    let text = r#"
runs: 1
variables:
  cores: [1, 2]
  profile:
    values: [slow, fast]
    switch:
      - run: echo "switch {{ profile }}" >> 'LOG'
        revert: echo "revert {{ profile }}" >> 'LOG'
  rate: {range: [1000, 1000000]}
search:
  variable: rate
  condition: "loss <= 0.001"
  precision: 5%
steps:
  - run: >-
      echo "run {{ profile }}" >> 'LOG';
      awk -v c={{ cores }} -v r={{ rate }} -v f={% if profile == "fast" %}2{% else %}1{% endif %}
      'BEGIN { printf "loss=%f\n", (r > 10000 * c * f) ? 0.5 : 0 }'
    results:
      loss: 'loss=(\S+)'
"#
    .replace("LOG", &log_path.to_string_lossy());
    dir.run_ok("e.yaml", &text, &["-q"]);
    let lines = log(dir.path());
    assert_eq!(blocks_in(&lines).len(), 2, "{lines:?}");
    let m = manifest(&only_set(dir.path()));
    let limits = m["limits"].as_array().unwrap();
    assert_eq!(limits.len(), 4, "{limits:?}");
    for l in limits {
        let (c, f) = (
            l["point"]["cores"].as_f64().unwrap(),
            if l["point"]["profile"] == "fast" {
                2.0
            } else {
                1.0
            },
        );
        let v = l["limit"].as_f64().unwrap_or(f64::NAN);
        let want = 10000.0 * c * f;
        assert!((v - want).abs() <= 0.06 * want, "{l}");
    }
}

/// The report lists the blocks and what each changed; compare sets each profile's facts
/// against the same profile's in the other set.
#[test]
fn report_and_compare_show_each_profiles_environment() {
    let dir = Sandbox::new();
    let exp = experiment(&dir, "", "0");
    for _ in 0..2 {
        dir.mpf().arg("run").arg(&exp).arg("-q").assert().success();
    }
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    sets.sort();
    // The second set's machine ran profile b on another kernel.
    let path = sets[1].join("manifest.json");
    let mut m = manifest(&sets[1]);
    for b in m["blocks"].as_array_mut().unwrap() {
        if b["value"] == "b" {
            b["facts"][0]["kernel"] = "Linux 9.9-test".into();
        }
    }
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let out = dir
        .mpf()
        .arg("compare")
        .arg(&sets[0])
        .arg(&sets[1])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kernel of localhost (profile = b)") && text.contains("Linux 9.9-test"),
        "{text}"
    );
    assert!(!text.contains("(profile = a)"), "{text}");

    dir.mpf()
        .arg("report")
        .arg(&sets[1])
        .arg("-o")
        .arg(dir.path().join("r.html"))
        .assert()
        .success();
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("<h2>Profiles</h2>"), "no profiles section");
    assert!(html.contains("<td>profile = b</td>"));
    assert!(
        html.contains("kernel of localhost: "),
        "the changed kernel is shown"
    );
}

/// Killed during a block's revert, after its last run: resume owes the revert, and does it
/// before the next block's switch (and does not switch that block again).
#[test]
fn resume_after_sigkill_in_a_revert_reverts_first() {
    let dir = Sandbox::new();
    let exp = experiment(&dir, "", "0");
    let text = std::fs::read_to_string(&exp).unwrap();
    std::fs::write(&exp, text.replace("revert: echo", "revert: sleep 3; echo")).unwrap();
    let mut child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), 4, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = log(dir.path());
    assert_eq!(before.iter().filter(|l| l.0 == "switch").count(), 1);
    assert!(before.iter().all(|l| l.0 != "revert"), "{before:?}");
    dir.mpf()
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success();
    let after = log(dir.path())[before.len()..].to_vec();
    assert_eq!(after[0], ("revert".to_string(), before[0].1.clone()));
    let switched = blocks_in(&after[1..]);
    assert_eq!(switched.len(), 2, "{after:?}");
    assert!(!switched.contains(&before[0].1));
    assert_eq!(journal(&only_set(dir.path())).len(), 12);
}

/// A failed switch under adaptive repetitions: the block's rounds fail (failed runs count
/// towards `max`, so they end), and the next block runs.
#[test]
fn a_failed_switch_under_adaptive_runs_ends_at_max() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "e.yaml",
        r#"
runs: {min: 3, max: 6, ci: 1%, on: [x]}
variables:
  profile:
    values: [calm, broken]
    switch:
      - run: test {{ profile }} != broken
steps:
  - run: echo x=1
    results:
      x: 'x=(\S+)'
"#,
    );
    exits(dir.mpf().arg("run").arg(&exp).arg("-q"), 1);
    let recs = journal(&only_set(dir.path()));
    let broken = runs_of(&recs, "broken");
    assert_eq!(broken.len(), 6, "up to max");
    assert!(broken
        .iter()
        .all(|r| r["status"] == "failed" && r["attempts"] == 0));
    let calm = runs_of(&recs, "calm");
    assert_eq!(calm.len(), 3);
    assert!(calm.iter().all(|r| r["status"] == "ok"));
}
