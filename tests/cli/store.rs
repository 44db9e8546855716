//! The result set under stress: two writers, a full disk, huge step output, hostile result
//! names.

use std::time::Duration;

use predicates::prelude::*;

use crate::common::mpf_in;
use crate::run::{journal_lines, manifest, slow_sweep, spawn_run, wait_for_lines};

#[test]
fn a_second_writer_of_a_set_is_refused_naming_the_pid_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("mpflock{}", std::process::id());
    let exp = slow_sweep(dir.path(), &marker);
    let mut first = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), 1, Duration::from_secs(30));
    mpf_in(dir.path())
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("pid {}", first.id()))
                .and(predicate::str::contains("being written by another mpf"))
                .and(predicate::str::contains("slow.yaml")),
        );
    // The kernel releases the lock of a killed writer: the set can be resumed at once.
    first.kill().unwrap();
    first.wait().unwrap();
    mpf_in(dir.path())
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success();
    let recs = journal_lines(dir.path());
    let mut keys: Vec<String> = recs
        .iter()
        .map(|r| format!("{}#{}", r["point"], r["repetition"]))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!((recs.len(), keys.len()), (30, 30), "every run exactly once");
    assert_eq!(manifest(dir.path())["status"], "complete");
}
