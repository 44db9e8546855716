//! Helpers shared by the CLI tests.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The `mpf` binary with a clean environment for result locations.
pub fn mpf() -> Command {
    let mut c = Command::cargo_bin("mpf").expect("mpf binary");
    c.env_remove("MPF_RESULTS").env("NO_COLOR", "1");
    c
}

/// `mpf` run from `dir`, with results under `dir/results`.
pub fn mpf_in(dir: &Path) -> Command {
    let mut c = mpf();
    c.current_dir(dir).env("MPF_RESULTS", dir.join("results"));
    c
}

/// A fresh directory for one test, where `mpf` runs with its results under `results/`: the
/// preamble of most tests (write an experiment, run it, check it succeeded) in one place.
/// `path()` mirrors `tempfile::TempDir::path`, so a test's `dir.path()` reads the same.
pub struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            tmp: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `mpf` run from this directory (see `mpf_in`).
    pub fn mpf(&self) -> Command {
        mpf_in(self.path())
    }

    /// Writes `text` to `name` here and returns the path.
    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        write(self.path(), name, text)
    }

    /// Writes the experiment `text` to `name`, runs `mpf run <it> <args>` and asserts that it
    /// succeeded. Returns the experiment's path, for the commands that follow.
    pub fn run_ok(&self, name: &str, text: &str, args: &[&str]) -> std::path::PathBuf {
        let exp = self.write(name, text);
        self.mpf()
            .arg("run")
            .arg(&exp)
            .args(args)
            .assert()
            .success();
        exp
    }
}

/// Runs `cmd`, asserts that it exited with `code` (showing its stderr if not) and returns
/// its stderr.
pub fn exits(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().expect("mpf runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The one result set under `dir/results`.
pub fn only_set(dir: &Path) -> std::path::PathBuf {
    only_set_in(&dir.join("results"))
}

/// The one result set in the results directory `results`.
pub fn only_set_in(results: &Path) -> std::path::PathBuf {
    let sets: Vec<_> = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    assert_eq!(sets.len(), 1, "one result set: {sets:?}");
    sets.into_iter().next().unwrap()
}

/// The records of a set's journal.
pub fn journal(set: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(set.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A set's manifest.
pub fn manifest(set: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(set.join("manifest.json")).unwrap()).unwrap()
}

/// Waits until `path` exists (a step's marker file), at most `limit`.
pub fn wait_for_file(path: &Path, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} did not appear", path.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
