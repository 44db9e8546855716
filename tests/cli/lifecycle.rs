//! The life of a session around its runs: signals at every phase (setup, runs, cleanup),
//! streams that close under mpf, cleanup, the early stop, and the session budget.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{journal, manifest, mpf_in, only_set, wait_for_file, write};
use crate::run::alive_after;

fn spawn(dir: &Path, args: &[&str], stderr: Stdio) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir)
        .env("MPF_RESULTS", dir.join("results"))
        .env("NO_COLOR", "1")
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// An experiment whose setup, runs and cleanup leave marks in `dir`.
fn lifecycle_exp(dir: &Path, marker: &str, setup: &str, step: &str) -> std::path::PathBuf {
    write(
        dir,
        "life.yaml",
        &format!(
            r#"name: life
runs: 4
order: sequential
setup:
  - run: "{setup}"
steps:
  - name: s
    run: "{step}"
cleanup:
  - run: "echo cleaned >> {d}/cleanup.txt # {marker}"
"#,
            d = dir.display()
        ),
    )
}

#[test]
fn sighup_stops_the_runs_gracefully_and_cleanup_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = format!("mpfhup{}", std::process::id());
    let exp = lifecycle_exp(
        d,
        &marker,
        "true",
        &format!("touch {}/started; sleep 30 # {marker}", d.display()),
    );
    let child = spawn(d, &["run", exp.to_str().unwrap(), "-q"], Stdio::null());
    wait_for_file(&d.join("started"), Duration::from_secs(30));
    signal(&child, libc::SIGHUP);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let set = only_set(d);
    assert_eq!(manifest(&set)["status"], "interrupted");
    assert_eq!(
        journal(&set).len(),
        0,
        "the interrupted run is not recorded"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("cleanup.txt")).unwrap(),
        "cleaned\n",
        "cleanup runs once after an interruption"
    );
    assert_eq!(alive_after(&marker, Duration::from_secs(10)), 0);
}

#[test]
fn a_signal_during_setup_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = format!("mpfsetupint{}", std::process::id());
    let exp = lifecycle_exp(
        d,
        &marker,
        &format!("touch {}/setup-started; sleep 30 # {marker}", d.display()),
        "true",
    );
    let child = spawn(d, &["run", exp.to_str().unwrap(), "-q"], Stdio::null());
    wait_for_file(&d.join("setup-started"), Duration::from_secs(30));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let set = only_set(d);
    assert_eq!(manifest(&set)["status"], "interrupted");
    assert!(
        journal(&set).is_empty(),
        "no run after an interrupted setup"
    );
    assert!(d.join("cleanup.txt").exists(), "cleanup runs after it too");
    assert_eq!(alive_after(&marker, Duration::from_secs(10)), 0);
}

#[test]
fn a_signal_during_deploy_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = format!("mpfdeployint{}", std::process::id());
    let exp = lifecycle_exp(
        d,
        &marker,
        &format!("touch {}/setup-started; sleep 30 # {marker}", d.display()),
        "true",
    );
    let child = spawn(d, &["deploy", exp.to_str().unwrap()], Stdio::null());
    wait_for_file(&d.join("setup-started"), Duration::from_secs(30));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(alive_after(&marker, Duration::from_secs(10)), 0);
}

#[test]
fn cleanup_runs_once_per_machine_after_the_last_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = lifecycle_exp(d, "x", "true", "echo run >> ran.txt");
    mpf_in(d)
        .args(["run", exp.to_str().unwrap(), "-q"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(d.join("cleanup.txt")).unwrap(),
        "cleaned\n"
    );
    let set = only_set(d);
    assert!(set.join("cleanup/localhost.log").exists());
}

#[test]
fn a_closed_stderr_or_stdout_never_makes_mpf_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = lifecycle_exp(d, "x", "true", "echo 'mpf-result v 1'");
    // stderr is a pipe whose reading end is closed before mpf writes its progress lines.
    let mut child = spawn(d, &["run", exp.to_str().unwrap(), "-q"], Stdio::piped());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "no panic (101) on a closed stderr");
    assert_eq!(journal(&only_set(d)).len(), 4);

    // stdout closed under `mpf show` (as `mpf show latest | head -0` does).
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(d)
        .env("MPF_RESULTS", d.join("results"))
        .args(["show", "latest"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

fn typo_exp(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "typo.yaml",
        "name: typo\nruns: 5\nvariables:\n  n: [1, 2]\nsteps:\n  - name: s\n    run: gzp -c /dev/null\n",
    )
}

#[test]
fn the_first_runs_failing_alike_stop_the_set_unless_keep_going() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = typo_exp(d);
    let out = mpf_in(d)
        .args(["run", exp.to_str().unwrap(), "-q"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ALL 3 runs FAILED"), "{err}");
    assert!(
        err.contains("the first 3 runs all failed the same way"),
        "{err}"
    );
    assert!(err.contains("--keep-going"), "{err}");
    let set = only_set(d);
    assert_eq!(journal(&set).len(), 3, "a typo costs three runs, not ten");
    assert_eq!(manifest(&set)["status"], "failed");

    // `mpf ls` and `mpf show` make the failures impossible to miss.
    let ls = mpf_in(d).arg("ls").assert().success().get_output().clone();
    assert!(
        String::from_utf8_lossy(&ls.stdout).contains("failed, 3 of 3 failed"),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );

    // --keep-going on the resumed set runs the rest.
    mpf_in(d)
        .args(["run", "--resume", "latest", "--keep-going", "-q"])
        .assert()
        .code(1);
    assert_eq!(journal(&set).len(), 10);
    assert_eq!(manifest(&set)["status"], "complete");
    let html = mpf_in(d)
        .args(["report", "latest"])
        .assert()
        .success()
        .get_output()
        .clone();
    let path = String::from_utf8_lossy(&html.stdout).trim().to_string();
    let page = std::fs::read_to_string(path).unwrap();
    assert!(
        page.contains("<span class=\"status failed\">complete, 10 of 10 failed</span>"),
        "the report's badge is red and says so"
    );
}

#[test]
fn a_machine_that_cannot_hold_the_runs_sessions_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "bg.yaml",
        r#"name: bg
steps:
  - name: a
    role: server
    run: sleep 10
    background: true
  - name: b
    role: server
    run: sleep 10
    background: true
  - name: c
    role: server
    run: "true"
"#,
    );
    // Never contacted: the budget is checked before any connection.
    let cluster = write(
        d,
        "cluster.yaml",
        "machines:\n  - hostname: 10.255.255.1\n    role: server\n    max_sessions: 3\n",
    );
    let out = mpf_in(d)
        .args([
            "run",
            exp.to_str().unwrap(),
            "-c",
            cluster.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster.yaml:2"), "{err}");
    assert!(
        err.contains(
            "machine 10.255.255.1 allows 3 ssh sessions (max_sessions) but a run needs 4 at once"
        ),
        "{err}"
    );
    assert!(err.contains("a x1, b x1"), "{err}");
    assert!(!d.join("results").exists(), "nothing ran, no set created");
}
