//! Sharing result sets: sets mpf cannot read, format versions, dashboard exports, packs.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common::{mpf_in, write};

/// A two-point experiment that runs in a blink.
pub fn tiny(dir: &Path) -> PathBuf {
    write(
        dir,
        "tiny.yaml",
        r#"
name: tiny
runs: 2
seed: 7
variables:
  x: [1, 2]
  mode: {values: {a: fast, b: "slow mode"}}
steps:
  - name: work
    run: echo "t=$(( {{ x }} * 10 ))ms"
    results:
      t: {regex: 't=(\d+ms)', unit: s}
"#,
    )
}

/// Runs `exp` and returns the new set's directory (the newest under `dir/results`).
pub fn run_set(dir: &Path, exp: &Path) -> PathBuf {
    let before = sets(dir);
    mpf_in(dir).arg("run").arg(exp).arg("-q").assert().success();
    let after = sets(dir);
    let new: Vec<_> = after.into_iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new.len(), 1, "one new set: {new:?}");
    new.into_iter().next().unwrap()
}

fn sets(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("results"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn id_of(set: &Path) -> String {
    set.file_name().unwrap().to_string_lossy().into_owned()
}

/// Two sets of the same experiment, the second the newer.
fn two_sets(dir: &Path) -> (PathBuf, PathBuf) {
    let exp = tiny(dir);
    let old = run_set(dir, &exp);
    let new = run_set(dir, &exp);
    (old, new)
}

fn edit_manifest(set: &Path, f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = set.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(m.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Every way a reader could pass an unreadable newest set by: each names it and says why.
fn assert_named_everywhere(
    dir: &Path,
    old: &Path,
    new: &Path,
    why: &str,
    as_user: &dyn Fn(&[&str]) -> assert_cmd::assert::Assert,
) {
    let (old_id, new_id) = (id_of(old), id_of(new));
    as_user(&["ls"])
        .success()
        .stdout(predicate::str::contains(&old_id))
        .stderr(
            predicate::str::contains(format!("result set {new_id} cannot be read"))
                .and(predicate::str::contains(why)),
        );
    let out = as_user(&["ls", "--json"])
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["id"], new_id.as_str(), "the newest first: {rows:?}");
    assert_eq!(rows[0]["status"], "unreadable");
    assert!(rows[0]["error"].as_str().unwrap().contains(why), "{rows:?}");
    assert_eq!(rows[1]["id"], old_id.as_str());
    for args in [
        vec!["show", "latest"],
        vec!["show", new_id.as_str()],
        vec!["show", "latest", "--path"],
        vec!["compare", old_id.as_str(), "latest"],
        vec!["history"],
        vec!["history", "tiny"],
        vec!["export", "latest", "--format", "csv"],
    ] {
        as_user(&args)
            .code(2)
            .stdout(predicate::str::contains(&old_id).not())
            .stderr(
                predicate::str::contains(&new_id)
                    .and(predicate::str::contains(why))
                    .and(predicate::str::contains("no result set matches").not()),
            );
    }
    let _ = dir;
}

#[test]
fn an_unreadable_newest_set_is_named_and_latest_never_means_an_older_one() {
    type Edit = dyn Fn(&mut serde_json::Map<String, serde_json::Value>);
    let cases: [(&str, &Edit); 2] = [
        ("unknown variant `archived`", &|m| {
            m.insert("status".into(), "archived".into());
        }),
        ("missing field `seed`", &|m| {
            m.remove("seed");
        }),
    ];
    for (why, edit) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = two_sets(dir.path());
        edit_manifest(&new, edit);
        let d = dir.path().to_path_buf();
        assert_named_everywhere(dir.path(), &old, &new, why, &|args| {
            mpf_in(&d).args(args).assert()
        });
    }
}

/// Mode 000 means nothing to root: the reader runs as `nobody`.
#[test]
fn a_set_its_reader_may_not_read_is_named_with_the_permission_error() {
    use std::os::unix::fs::PermissionsExt;
    if !nix_is_root() {
        eprintln!("skipped: needs root to run the reader as nobody");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (old, new) = two_sets(dir.path());
    std::fs::set_permissions(
        new.join("manifest.json"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mpf");
    let d = dir.path().to_path_buf();
    assert_named_everywhere(dir.path(), &old, &new, "Permission denied", &|args| {
        assert_cmd::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .current_dir(&d)
            .env("MPF_RESULTS", d.join("results"))
            .env("NO_COLOR", "1")
            .assert()
    });
    // A whole set directory closed to the reader is named too.
    std::fs::set_permissions(
        new.join("manifest.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_cmd::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&bin)
        .args(["show", "latest"])
        .current_dir(&d)
        .env("MPF_RESULTS", d.join("results"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(id_of(&new))
                .and(predicate::str::contains("Permission denied")),
        );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The fixture sets of every format, copied to `dir/results`.
pub fn fixture_sets(dir: &Path) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sets");
    let mut out = Vec::new();
    for format in ["format-0", "format-1"] {
        for set in std::fs::read_dir(root.join(format)).unwrap().flatten() {
            let to = dir.join("results").join(set.file_name());
            copy_dir(&set.path(), &to);
            out.push(to);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn every_older_format_is_read_and_a_newer_one_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let sets = fixture_sets(dir.path());
    assert_eq!(sets.len(), 2);
    for set in &sets {
        let id = id_of(set);
        mpf_in(dir.path())
            .args(["show", &id])
            .assert()
            .success()
            .stdout(predicate::str::contains("slow mode").and(predicate::str::contains("20")));
        let csv = mpf_in(dir.path())
            .args(["export", &id, "--format", "csv"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            std::fs::read_to_string(set.join("results.csv")).unwrap(),
            "{id}: the journal rebuilds the stored results"
        );
    }
    // A fresh set is written in today's format.
    let new = run_set(dir.path(), &tiny(dir.path()));
    assert_eq!(crate::common::manifest(&new)["format"], 1);
    let ls = mpf_in(dir.path()).args(["ls", "--json"]).assert().success();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&ls.get_output().stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "complete"), "{rows:?}");
    // A newer mpf's set: refused, saying which format and what this mpf reads.
    edit_manifest(&new, |m| {
        m.insert("format".into(), 2.into());
        m.insert("status".into(), "archived".into());
    });
    mpf_in(dir.path())
        .args(["show", "latest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "written in result-set format 2, newer than this mpf reads (format 1 and older)",
        ));
    for bad in [
        serde_json::json!(-1),
        serde_json::json!("1"),
        serde_json::json!(1.5),
    ] {
        edit_manifest(&new, |m| {
            m.insert("format".into(), bad.clone());
        });
        mpf_in(dir.path())
            .args(["show", &id_of(&new)])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a format number"));
    }
}
