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

/// An experiment whose labels hold what each format must escape, with a failed run that
/// lacks a result.
fn hostile(dir: &Path) -> PathBuf {
    write(
        dir,
        "hostile.yaml",
        r#"
name: hostile
runs: 2
variables:
  x: [1, 2.5]
  mode: {values: {"a b": 'fast, "q"=1 \ é', "c,d=e": "x"}}
steps:
  - name: work
    run: |
      echo "t={{ x * 10 }}ms"
      [ "{{ x }}" = 1 ] && echo "u=7" || true
    results:
      t: {regex: 't=([\d.]+ms)', unit: s}
      u: {regex: 'u=(\d+)'}
"#,
    )
}

/// What the checker prints for `mode` (`tests/share_check.py`), or None when its reader is
/// missing and CI does not require it.
fn read_back(mode: &str, file: &Path) -> Option<Vec<serde_json::Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/share_check.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(mode)
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && stderr.starts_with("missing:") {
        assert!(
            std::env::var_os("MPF_REQUIRE_EXPORT_READERS").is_none(),
            "MPF_REQUIRE_EXPORT_READERS is set: {stderr}"
        );
        eprintln!("skipped {mode}: {stderr}");
        return None;
    }
    assert!(out.status.success(), "{mode}: {stderr}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The samples mpf recorded, built from `mpf export ID --format json` and the manifest, in
/// the checker's normal form.
fn expected_samples(dir: &Path, sets: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for set in sets {
        let m = crate::common::manifest(set);
        let rows = mpf_in(dir)
            .arg("export")
            .arg(set)
            .args(["--format", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&rows).unwrap();
        for row in rows {
            let mut labels = serde_json::Map::new();
            for v in m["variables"].as_array().unwrap() {
                let name = v["name"].as_str().unwrap();
                for col in [name.to_string(), format!("{name}_label")] {
                    match row.get(&col) {
                        Some(serde_json::Value::String(s)) => {
                            labels.insert(col, s.clone().into());
                        }
                        Some(serde_json::Value::Number(n)) => {
                            labels.insert(col, n.to_string().into());
                        }
                        _ => {}
                    }
                }
            }
            for r in m["results"].as_array().unwrap() {
                let name = r["name"].as_str().unwrap();
                out.push(serde_json::json!([
                    id_of(set),
                    row["run"],
                    row["repetition"],
                    row["ok"],
                    name,
                    row[name].as_f64(),
                    r["unit"],
                    labels
                ]));
            }
        }
    }
    let key = |v: &serde_json::Value| (v[0].to_string(), v[1].as_u64(), v[4].to_string());
    out.sort_by_key(key);
    out
}

#[test]
fn dashboard_exports_are_read_back_whole_by_their_real_readers() {
    let dir = tempfile::tempdir().unwrap();
    let exp = hostile(dir.path());
    let sets = vec![
        run_set_failing(dir.path(), &exp),
        run_set_failing(dir.path(), &exp),
    ];
    let expected = expected_samples(dir.path(), &sets);
    assert_eq!(
        expected.len(),
        2 * 8 * 3,
        "2 sets x 8 runs x (t, u, work.duration)"
    );
    assert!(
        expected.iter().any(|s| s[5].is_null() && s[3] == false),
        "a failed run lacks u"
    );
    let with_values: Vec<_> = expected
        .iter()
        .filter(|s| !s[5].is_null())
        .cloned()
        .collect();
    for (format, want) in [
        ("samples", &expected),
        ("influx", &with_values),
        ("openmetrics", &with_values),
    ] {
        let file = dir.path().join(format!("export.{format}"));
        mpf_in(dir.path())
            .arg("export")
            .args(&sets)
            .args(["--format", format, "-o"])
            .arg(&file)
            .assert()
            .success();
        if let Some(got) = read_back(format, &file) {
            assert_eq!(&got, want, "{format}");
        }
    }
    let om = std::fs::read_to_string(dir.path().join("export.openmetrics")).unwrap();
    assert!(om.ends_with("# EOF\n"));
    // Several sets are for these formats only.
    mpf_in(dir.path())
        .arg("export")
        .args(&sets)
        .args(["--format", "csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format csv exports one set"));
}

/// Like `run_set`, for an experiment some of whose runs fail (exit 1).
fn run_set_failing(dir: &Path, exp: &Path) -> PathBuf {
    let before = sets(dir);
    mpf_in(dir).arg("run").arg(exp).arg("-q").assert().code(1);
    let new: Vec<_> = sets(dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(new.len(), 1, "one new set: {new:?}");
    new.into_iter().next().unwrap()
}

/// 100,000 runs: the dashboard exports stream the journal, so their peak stays near that of a
/// small set (about 20 MB measured, where `--format csv`, which loads the set, takes 267 MB).
#[test]
fn dashboard_exports_of_100000_runs_stay_in_bounded_memory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let exp = hostile(dir.path());
    let set = run_set_failing(dir.path(), &exp);
    let lines: Vec<String> = std::fs::read_to_string(set.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut journal =
        std::io::BufWriter::new(std::fs::File::create(set.join("journal.jsonl")).unwrap());
    for i in 0..100_000usize {
        let mut r: serde_json::Value = serde_json::from_str(&lines[i % lines.len()]).unwrap();
        r["index"] = i.into();
        r["repetition"] = (i / lines.len()).into();
        serde_json::to_writer(&mut journal, &r).unwrap();
        journal.write_all(b"\n").unwrap();
    }
    journal.flush().unwrap();
    let out = dir.path().join("big.samples");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"));
    cmd.arg("export")
        .arg(&set)
        .args(["--format", "samples", "-o"])
        .arg(&out);
    let (code, peak) = crate::store::run_measured(&cmd, std::process::Stdio::inherit());
    assert_eq!(code, Some(0));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 300_000, "100,000 runs x 3 results");
    assert!(peak < 40 << 20, "peak RSS {} MB", peak >> 20);
    eprintln!(
        "peak RSS of a 100,000-run samples export: {} MB",
        peak >> 20
    );
}
