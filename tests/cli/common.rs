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
