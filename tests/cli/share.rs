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

/// `mpf` with its pack cache inside the test's directory.
fn mpf_cached(dir: &Path) -> assert_cmd::Command {
    let mut c = mpf_in(dir);
    c.env("MPF_CACHE", dir.join("cache"));
    c
}

fn pack(dir: &Path, ids: &[&str], name: &str) -> PathBuf {
    let out = dir.join(name);
    mpf_cached(dir)
        .arg("pack")
        .args(ids)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    out
}

/// The members of a pack, decompressed: (path, bytes), in archive order.
fn members(pack: &Path) -> Vec<(String, Vec<u8>)> {
    let out = std::process::Command::new("tar")
        .arg("tzf")
        .arg(pack)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|name| {
            let data = std::process::Command::new("tar")
                .arg("xzOf")
                .arg(pack)
                .arg(name)
                .output()
                .unwrap()
                .stdout;
            (name.to_string(), data)
        })
        .collect()
}

/// Writes a pack from `(path, bytes)` members with GNU tar (so that the test does not trust
/// mpf's own writer), `extra` being added as tar arguments.
fn repack(dir: &Path, members: &[(String, Vec<u8>)], name: &str) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    let _ = std::fs::remove_dir_all(&tree);
    for (path, data) in members {
        let p = tree.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let out = dir.join(name);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    let ok = std::process::Command::new("tar")
        .arg("czf")
        .arg(&out)
        .arg("-C")
        .arg(&tree)
        .args(&names)
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

#[test]
fn a_pack_holds_each_set_whole_verifies_and_reads_as_a_set() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = two_sets(dir.path());
    let file = pack(dir.path(), &[&id_of(&old), &id_of(&new)], "two.tar.gz");
    let names: Vec<String> = members(&file).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "ARTIFACT.md");
    assert_eq!(names.last().unwrap(), "SHA256SUMS");
    for set in [&old, &new] {
        for f in [
            "manifest.json",
            "journal.jsonl",
            "results.csv",
            "experiment.yaml",
            "report.html",
        ] {
            let want = format!("sets/{}/{f}", id_of(set));
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        assert!(names
            .iter()
            .any(|n| n.starts_with(&format!("sets/{}/runs/", id_of(set)))));
    }
    assert!(!names.iter().any(|n| n.ends_with(".lock")));
    let artifact = String::from_utf8(members(&file)[0].1.clone()).unwrap();
    for want in [
        "## ",
        "### Hardware",
        "cores",
        "seed `7`",
        "mpf run --reproduce two.tar.gz:",
    ] {
        assert!(artifact.contains(want), "{want}:\n{artifact}");
    }
    mpf_cached(dir.path())
        .arg("verify")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok, "));
    // Several sets: named as PACK:ID (or a unique prefix of it).
    mpf_cached(dir.path())
        .arg("show")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds 2 sets"));
    let spec = format!("{}:{}", file.display(), id_of(&new));
    let shown = mpf_cached(dir.path())
        .args(["show", &spec])
        .assert()
        .success();
    let direct = mpf_cached(dir.path())
        .args(["show", &id_of(&new)])
        .assert()
        .success();
    assert_eq!(shown.get_output().stdout, direct.get_output().stdout);
    // The packed copy of the older set as BASE against the newest set on disk: a pack's set
    // compares like any other (the same set as both sides is refused, as for sets on disk).
    let old_spec = format!("{}:{}", file.display(), id_of(&old));
    for args in [
        vec!["export", spec.as_str(), "--format", "csv"],
        vec!["compare", old_spec.as_str(), "latest"],
    ] {
        mpf_cached(dir.path()).args(&args).assert().success();
    }
    mpf_cached(dir.path())
        .args(["plot", &spec, "-o"])
        .arg(dir.path().join("g.svg"))
        .assert()
        .success();
    mpf_cached(dir.path())
        .args(["report", &spec, "-o"])
        .arg(dir.path().join("r.html"))
        .assert()
        .success();
    // Reproducing one set of the pack: its other set of the experiment is the reference.
    mpf_cached(dir.path())
        .args(["run", "-q", "--no-plot", "--reproduce", &spec])
        .assert()
        .success()
        .stderr(predicate::str::contains("(references: 1)"))
        .stdout(predicate::str::contains("between-set noise"));
    // A packed set is read-only: nothing writes into the cached copy.
    for args in [
        vec!["run", "--resume", spec.as_str()],
        vec!["extract", spec.as_str()],
    ] {
        mpf_cached(dir.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "is a packed set, which is read-only",
            ));
    }
}

#[test]
fn changing_any_byte_of_a_packed_set_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let exp = tiny(dir.path());
    let set = run_set(dir.path(), &exp);
    let file = pack(dir.path(), &[&id_of(&set)], "one.tar.gz");
    let original = members(&file);
    // GNU tar's copy of the untouched members verifies: the check is of the content.
    let same = repack(dir.path(), &original, "same.tar.gz");
    mpf_cached(dir.path())
        .arg("verify")
        .arg(&same)
        .assert()
        .success();
    let mut checked = 0;
    for (i, (name, data)) in original.iter().enumerate() {
        if data.is_empty() {
            continue;
        }
        // The sums file's last byte is its newline: the one before it is a name's last.
        let last = if name == "SHA256SUMS" {
            data.len() - 2
        } else {
            data.len() - 1
        };
        // A changed sum names its file, a changed name is a file missing from the pack:
        // either way the line names SHA256SUMS.
        let named = if name == "SHA256SUMS" {
            "SHA256SUMS".to_string()
        } else {
            format!("{name}: its SHA-256 differs")
        };
        for at in [0, data.len() / 2, last] {
            let mut changed = original.clone();
            changed[i].1[at] ^= 0x01;
            let bad = repack(dir.path(), &changed, "bad.tar.gz");
            mpf_cached(dir.path())
                .arg("verify")
                .arg(&bad)
                .assert()
                .code(1)
                .stdout(
                    predicate::str::contains("does NOT verify")
                        .and(predicate::str::contains(named.as_str())),
                );
            checked += 1;
        }
    }
    assert!(checked >= 3 * 10, "{checked} changes tried");
    // The sums rewritten to match a changed results.csv: the journal still tells.
    let mut forged = original.clone();
    let csv = forged
        .iter()
        .position(|(n, _)| n.ends_with("/results.csv"))
        .unwrap();
    let text = String::from_utf8(forged[csv].1.clone()).unwrap();
    forged[csv].1 = text.replacen(",0.01,", ",0.009,", 1).into_bytes();
    assert_ne!(forged[csv].1, original[csv].1);
    let sums: String = forged
        .iter()
        .filter(|(n, _)| n != "SHA256SUMS")
        .map(|(n, d)| {
            use sha2::Digest;
            let h = sha2::Sha256::digest(d);
            format!(
                "{}  {n}\n",
                h.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        })
        .collect();
    let last = forged.len() - 1;
    forged[last].1 = sums.into_bytes();
    let bad = repack(dir.path(), &forged, "forged.tar.gz");
    mpf_cached(dir.path())
        .arg("verify")
        .arg(&bad)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("results.csv line").and(predicate::str::contains("0.009")),
        );
    // A member added, one removed: each named.
    let mut added = original.clone();
    added.insert(1, ("sets/extra.txt".into(), b"x".to_vec()));
    mpf_cached(dir.path())
        .arg("verify")
        .arg(repack(dir.path(), &added, "added.tar.gz"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "sets/extra.txt: in the pack but not in SHA256SUMS",
        ));
    // Any byte of the compressed file itself.
    let bytes = std::fs::read(&file).unwrap();
    for at in [10, bytes.len() / 3, bytes.len() / 2, bytes.len() - 5] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        let bad = dir.path().join("flipped.tar.gz");
        std::fs::write(&bad, b).unwrap();
        mpf_cached(dir.path())
            .arg("verify")
            .arg(&bad)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("does NOT verify"));
    }
}

#[test]
fn a_hostile_pack_is_refused_without_writing_outside_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("escaped");
    // Traversal, an absolute path and a symlink, each made by Python's tarfile, which writes
    // what it is told.
    let cases = [
        ("../escaped", "leaves the pack"),
        ("/tmp/escaped-mpf-test", "leaves the pack"),
        ("link", "not a plain file"),
    ];
    for (i, (name, why)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("h{i}.tar.gz"));
        let script = format!(
            r#"
import io, tarfile, sys
with tarfile.open(sys.argv[1], "w:gz") as t:
    name = {name:?}
    if name == "link":
        info = tarfile.TarInfo("sets/s/link"); info.type = tarfile.SYMTYPE; info.linkname = "../../../escaped"
        t.addfile(info)
    else:
        data = b"pwned"; info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#
        );
        let ok = std::process::Command::new("python3")
            .args(["-c", &script])
            .arg(&file)
            .status()
            .unwrap();
        assert!(ok.success());
        mpf_cached(dir.path())
            .arg("show")
            .arg(&file)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("not a valid mpf pack")
                    .and(predicate::str::contains(*why)),
            );
        mpf_cached(dir.path())
            .arg("verify")
            .arg(&file)
            .assert()
            .code(1)
            .stdout(predicate::str::contains(*why));
    }
    assert!(!outside.exists());
    assert!(!Path::new("/tmp/escaped-mpf-test").exists());
    // Nothing half-extracted is left in the cache to be read later.
    let packs = dir.path().join("cache/packs");
    let left: Vec<_> = std::fs::read_dir(&packs)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn reproducing_a_pack_runs_the_same_plan_and_fails_when_a_result_moves() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "env.yaml",
        r#"
name: env
runs: 3
seed: 11
variables:
  x: [1, 2, 3]
steps:
  - name: work
    run: echo "t=$(( {{ x }} * ${MPF_TEST_SCALE:-10} ))"
    results:
      t: {regex: 't=(\d+)'}
"#,
    );
    let set = run_set(dir.path(), &exp);
    let file = pack(dir.path(), &[&id_of(&set)], "env.tar.gz");
    std::fs::remove_dir_all(&set).unwrap();
    mpf_cached(dir.path())
        .args(["run", "-q", "--no-plot", "--reproduce"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 regressions, 0 improvements, 3 unchanged",
        ));
    let again = crate::common::only_set(dir.path());
    let order = |s: &Path| -> Vec<(u64, u64)> {
        crate::common::journal(s)
            .iter()
            .map(|r| {
                (
                    r["index"].as_u64().unwrap(),
                    r["point_index"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let cached = mpf_cached(dir.path())
        .args(["show", "--path"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let original = PathBuf::from(String::from_utf8(cached).unwrap().trim());
    assert_eq!(order(&again), order(&original), "same seed, same order");
    assert_eq!(crate::common::manifest(&again)["seed"], "11");
    // The machine changed: the result moved beyond the tolerance.
    mpf_cached(dir.path())
        .args(["run", "-q", "--no-plot", "--reproduce"])
        .arg(&file)
        .env("MPF_TEST_SCALE", "13")
        .assert()
        .code(3);
    mpf_cached(dir.path())
        .args(["run", "-q", "--reproduce"])
        .arg(&file)
        .arg(&exp)
        .assert()
        .code(2);
}

/// The quick start's set round-trips: pack, verify, show from the pack, reproduce on the same
/// machine (exit 0). Throughput is timed on a machine shared with other builds, so the
/// reproduction allows 50%; the compression ratio, the other result, is exact.
#[test]
fn the_quick_start_round_trips_through_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.yaml");
    mpf_cached(dir.path())
        .arg("run")
        .arg(&exp)
        .args([
            "-q",
            "--no-plot",
            "--set",
            "level=1",
            "--set",
            "size=1",
            "--runs",
            "3",
        ])
        .assert()
        .success();
    let file = pack(dir.path(), &["latest"], "quickstart.tar.gz");
    mpf_cached(dir.path())
        .arg("verify")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok, "));
    mpf_cached(dir.path())
        .arg("show")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("gzip").and(predicate::str::contains("xz")));
    mpf_cached(dir.path())
        .args([
            "run",
            "-q",
            "--no-plot",
            // The quick start's throughput is timed on 1 KiB inputs: on a loaded 2-core CI
            // machine two sessions differ by 2x (50% failed once under load). This test is
            // about the round trip; detection of a moved result is tested with results that
            // do not depend on load (reproducing_a_pack_runs_the_same_plan_...).
            "--tolerance",
            "900%",
            "--reproduce",
        ])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 regressions, 0 improvements"));
    let ls = mpf_cached(dir.path())
        .args(["ls", "--json"])
        .assert()
        .success();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&ls.get_output().stdout).unwrap();
    assert_eq!(rows.len(), 2, "the original and its reproduction");
    assert_eq!(rows[0]["runs_ok"], 6);
}

#[test]
fn latest_tilde_n_counts_back_from_the_newest_set_and_unreadable_ones_count() {
    let dir = tempfile::tempdir().unwrap();
    let exp = tiny(dir.path());
    let old = run_set(dir.path(), &exp);
    let new = run_set(dir.path(), &exp);
    let path_of = |id: &str| {
        let out = mpf_in(dir.path())
            .args(["show", id, "--path"])
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    assert_eq!(path_of("latest~0"), format!("{}\n", new.display()));
    assert_eq!(path_of("latest"), format!("{}\n", new.display()));
    assert_eq!(path_of("latest~1"), format!("{}\n", old.display()));
    mpf_in(dir.path())
        .args(["export", "latest~1", "--format", "csv"])
        .assert()
        .success();
    mpf_in(dir.path())
        .args(["show", "latest~2"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("'latest~2' is out of range: ").and(predicate::str::contains(
                "holds 2 result sets (latest~0 to latest~1)",
            )),
        );
    for bad in ["latest~", "latest~x", "latest~-1", "latest~99999999999"] {
        mpf_in(dir.path())
            .args(["show", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "after 'latest~' give how many sets back",
            ));
    }
    // The newest set unreadable: latest~0 names it, latest~1 is the one before it, never a
    // readable set standing in for it.
    edit_manifest(&new, |m| {
        m.insert("status".into(), "archived".into());
    });
    mpf_in(dir.path())
        .args(["show", "latest~0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(id_of(&new)));
    assert_eq!(path_of("latest~1"), format!("{}\n", old.display()));
}

#[test]
fn show_path_is_absolute_when_the_results_root_is_relative() {
    let dir = tempfile::tempdir().unwrap();
    let exp = tiny(dir.path());
    let set = run_set(dir.path(), &exp);
    let out = crate::common::mpf()
        .current_dir(dir.path())
        .env("MPF_RESULTS", "results")
        .args(["show", "latest", "--path"])
        .assert()
        .success();
    let printed = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(Path::new(printed.trim_end()).is_absolute(), "{printed}");
    assert_eq!(
        std::fs::canonicalize(printed.trim_end()).unwrap(),
        std::fs::canonicalize(&set).unwrap()
    );
    // A set given by a relative path is printed absolute too.
    let rel = format!("results/{}", id_of(&set));
    let out = mpf_in(dir.path())
        .args(["show", &rel, "--path"])
        .assert()
        .success();
    let printed = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(Path::new(printed.trim_end()).is_absolute(), "{printed}");
}
