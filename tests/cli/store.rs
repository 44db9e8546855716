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
    assert_eq!(
        crate::run::runs_and_distinct(dir.path()),
        (30, 30),
        "every run exactly once"
    );
    assert_eq!(manifest(dir.path())["status"], "complete");
}

#[test]
fn mpf_result_lines_named_like_columns_are_refused_and_noted_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let exp = crate::run::write(
        dir.path(),
        "names.yaml",
        r#"
name: names
variables:
  x: [1, 2]
steps:
  - name: work
    run: |
      echo "lat=5ms"
      for n in x run ok repetition lat work.duration score; do echo "mpf-result $n 7"; done
    results:
      lat: {regex: 'lat=(\d+ms)', unit: s}
"#,
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .arg("-q")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "run 0000: mpf-result 'x' left out: it is already a column",
        ));
    let set = crate::run::only_set(dir.path());
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "x",
            "lat",
            "work.duration",
            "score",
            "repetition",
            "run",
            "ok"
        ]
    );
    for rec in journal_lines(dir.path()) {
        assert_eq!(rec["status"], "ok");
        assert_eq!(rec["results"]["lat"], 0.005);
        assert_eq!(rec["results"]["score"], 7.0);
        assert_ne!(rec["results"]["work.duration"], 7.0);
        let notes: Vec<&str> = rec["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(notes[0].contains("'x' left out: it is already a column"));
    }
    // mpf show lists them under the table.
    let shown = mpf_in(dir.path())
        .args(["show", "latest"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(
            "\nnotes:\n  runs 0000, 0001, 0002, 0003, 0004, 0005: mpf-result 'x' left out: it is already a column"
        ),
        "{shown}"
    );
    assert_eq!(
        shown
            .matches("runs 0000, 0001, 0002, 0003, 0004, 0005: ")
            .count(),
        6,
        "{shown}"
    );
}

#[test]
fn a_declared_result_named_like_a_step_duration_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let exp = crate::run::write(
        dir.path(),
        "dur.yaml",
        "name: t\nsteps:\n  - name: work\n    run: echo lat=5\n    results:\n      work.duration: {regex: 'lat=(\\d+)'}\n",
    );
    mpf_in(dir.path())
        .arg("check")
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "dur.yaml:3:5: result 'work.duration' has the name of a step's duration",
        ));
}

/// Forks and execs its arguments from a small process, waits with wait4 and writes the
/// child's exit code and peak RSS (KiB) to the file named first.
const MEASURE: &str = r#"
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
open(sys.argv[1], "w").write(f"{code} {usage.ru_maxrss}")
"#;

/// Runs `cmd` to its end and returns (exit code, peak RSS in bytes of it and the children it
/// waited for). The process is started by a small python3 parent, not by this test process:
/// a child spawned from here starts on this process's memory (vfork), and the kernel counts
/// the test harness's own peak (hundreds of MB when the whole suite runs) in the child's.
pub fn run_measured(
    cmd: &std::process::Command,
    stderr: std::process::Stdio,
) -> (Option<i32>, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut python = std::process::Command::new("python3");
    python
        .args(["-c", MEASURE])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(std::process::Stdio::null())
        .stderr(stderr);
    if let Some(dir) = cmd.get_current_dir() {
        python.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => python.env(k, v),
            None => python.env_remove(k),
        };
    }
    assert!(
        python.status().unwrap().success(),
        "the measuring python3 failed"
    );
    let text = std::fs::read_to_string(report.path()).unwrap();
    let (code, kib) = text.split_once(' ').unwrap();
    let code: i32 = code.parse().unwrap();
    let kib: u64 = kib.trim().parse().unwrap();
    ((code >= 0).then_some(code), kib * 1024)
}

#[test]
fn a_step_printing_a_gigabyte_leaves_mpf_under_100_mb_and_the_log_capped() {
    let dir = tempfile::tempdir().unwrap();
    let exp = crate::run::write(
        dir.path(),
        "loud.yaml",
        r#"
name: loud
runs: 1
steps:
  - name: server
    background: true
    run: echo ready; yes server-noise-to-stderr-and-stdout | head -c 300000000; sleep 30
    ready: {log: ready}
  - name: loud
    run: |
      echo "lat=5ms"
      yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 1000000000
      yes eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee | head -c 200000000 >&2
    results:
      lat: {regex: 'lat=(\d+ms)', unit: s}
"#,
    );
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"));
    cmd.current_dir(dir.path())
        .env("MPF_RESULTS", dir.path().join("results"))
        .arg("run")
        .arg(&exp)
        .arg("-q");
    let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
    let (code, peak) = run_measured(&cmd, stderr.into());
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
    );
    eprintln!("mpf peaked at {} MB", peak >> 20);
    assert!(peak < 100 << 20, "mpf peaked at {} MB", peak >> 20);
    let recs = journal_lines(dir.path());
    assert_eq!(recs[0]["status"], "ok", "{}", recs[0]);
    assert_eq!(recs[0]["results"]["lat"], 0.005);
    let notes = recs[0]["notes"].to_string();
    assert!(notes.contains("stdout of step 'loud' on local"), "{notes}");
    assert!(notes.contains("stderr of step 'loud' on local"), "{notes}");
    assert!(
        notes.contains("stdout of step 'server' on local"),
        "{notes}"
    );
    let logs = crate::run::only_set(dir.path()).join("runs/0000/local");
    for f in ["loud.out", "loud.err", "server.out"] {
        let size = std::fs::metadata(logs.join(f)).unwrap().len();
        assert!(
            (32 << 20..(32 << 20) + 200).contains(&size),
            "{f}: {size} bytes"
        );
    }
}

/// A tmpfs mounted for the life of a test (unmounted on drop, even when the test fails).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`; `None` (the test is skipped) when not root, unless
    /// `MPF_REQUIRE_ROOT=1` (CI) makes that a failure.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var("MPF_REQUIRE_ROOT").as_deref() != Ok("1"),
                "MPF_REQUIRE_ROOT=1 but this test is not running as root"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t tmpfs failed");
        Some(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_stops_mpf_clearly_keeps_every_run_and_resume_completes_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("results"), "1m") else {
        return;
    };
    let exp = crate::run::write(
        dir.path(),
        "fill.yaml",
        r#"
name: fill
runs: 1
order: sequential
variables:
  i: {range: [1, 20]}
steps:
  - name: work
    run: |
      head -c 150000 /dev/zero | tr '\0' a
      echo
      echo "mpf-result v {{ i }}"
"#,
    );
    let out = mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .arg("-q")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(&dir.path().join("results").display().to_string()),
        "the message names the path: {err}"
    );
    let recorded = journal_lines(dir.path());
    assert!(
        !recorded.is_empty() && recorded.len() < 20,
        "{} runs fitted",
        recorded.len()
    );
    // A recorded run has its whole log: the run whose log didn't fit isn't recorded.
    let set = crate::run::only_set(dir.path());
    for r in &recorded {
        let log = set.join(format!(
            "runs/{:04}/local/work.out",
            r["index"].as_u64().unwrap()
        ));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.ends_with(&format!("mpf-result v {}\n", r["point"]["i"])),
            "{log:?}"
        );
    }
    // Every run that fitted is readable.
    let shown = mpf_in(dir.path())
        .args(["show", "latest", "--format", "csv"])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).lines().count(),
        recorded.len() + 1
    );

    fs.resize("64m");
    mpf_in(dir.path())
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success();
    assert_eq!(
        crate::run::runs_and_distinct(dir.path()),
        (20, 20),
        "every run exactly once"
    );
    let recs = journal_lines(dir.path());
    assert!(recs.iter().all(|r| r["status"] == "ok"));
    assert_eq!(manifest(dir.path())["status"], "complete");
    let csv =
        std::fs::read_to_string(crate::run::only_set(dir.path()).join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21);
}

#[test]
fn a_loud_setup_keeps_the_tail_of_its_output_in_the_log_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    crate::run::write(
        dir.path(),
        "s.yaml",
        "runs: 1\nsetup:\n  - run: yes compiling | head -c 5000000; echo last-line\nsteps:\n  - run: 'true'\n",
    );
    let (code, peak) = run_measured(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(dir.path())
            .env("MPF_RESULTS", dir.path().join("results"))
            .args(["run", "s.yaml", "-q", "--no-plot"]),
        std::process::Stdio::null(),
    );
    assert_eq!(code, Some(0));
    assert!(peak < 100 << 20, "mpf peaked at {} MB", peak >> 20);
    let log = std::fs::read_to_string(crate::run::only_set(dir.path()).join("setup/localhost.log"))
        .unwrap();
    assert!(log.contains("[mpf: the first "), "{}", &log[..200]);
    assert!(log.contains("last-line\n"));
    assert!(log.len() < 3 << 20, "{} bytes", log.len());
}

#[test]
fn a_result_the_manifest_lost_is_described_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let exp = crate::run::write(
        dir.path(),
        "late.yaml",
        "runs: 2\nsteps:\n  - name: w\n    run: echo \"mpf-result late 4\"\n",
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["-q", "--no-plot"])
        .assert()
        .success();
    // As if mpf was killed before its next manifest write: the manifest doesn't know `late`.
    let set = crate::run::only_set(dir.path());
    let mut m = manifest(dir.path());
    let kept: Vec<serde_json::Value> = m["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] != "late")
        .cloned()
        .collect();
    assert_eq!(kept.len(), 1);
    m["results"] = kept.into();
    m["status"] = "running".into();
    std::fs::write(set.join("manifest.json"), m.to_string()).unwrap();
    mpf_in(dir.path())
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .success();
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "w.duration,late,repetition,run,ok"
    );
    assert!(csv.lines().nth(1).unwrap().contains(",4.0,"), "{csv}");
}

/// `mpf run -q --no-plot` of `exp` in `dir`, measured: (exit code, peak RSS in MB, stderr).
fn run_measured_mb(dir: &std::path::Path, exp: &std::path::Path) -> (Option<i32>, u64, String) {
    let stderr_path = dir.join("stderr.txt");
    let (code, peak) = run_measured(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(dir)
            .env("MPF_RESULTS", dir.join("results"))
            .arg("run")
            .arg(exp)
            .args(["-q", "--no-plot"]),
        std::fs::File::create(&stderr_path).unwrap().into(),
    );
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    (code, peak >> 20, stderr)
}

/// `json:` on huge outputs reads the path without building the document as a tree: a 30 MB
/// stdout of small objects, a 59 MB file of them and a 60 MB list of 3.75 million numbers
/// (once 1.8 GB, 3.6 GB and 844 MB).
#[test]
fn json_extraction_of_huge_outputs_stays_near_their_size() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let small = |path: &std::path::Path, bytes: usize, tail: &str| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut n = 0;
        let mut i = 0;
        write!(f, "{{\"items\": [").unwrap();
        while n < bytes {
            let item = format!("{{\"i\": {i}, \"v\": \"ab\"}},\n");
            n += item.len();
            f.write_all(item.as_bytes()).unwrap();
            i += 1;
        }
        write!(f, "{{\"i\": -1}}], {tail}}}").unwrap();
    };
    small(&dir.path().join("objects.json"), 30_000_000, "\"x\": 7");
    small(
        &dir.path().join("file.json"),
        59_000_000,
        "\"end\": {\"x\": 8}",
    );
    {
        // 3.75 million numbers of 16 characters, the largest (99.0) last.
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(dir.path().join("numbers.json")).unwrap(),
        );
        write!(f, "{{\"lat\": [").unwrap();
        for i in 0..3_750_000u64 {
            write!(f, "{:.12},", 1.0 + (i % 1000) as f64 * 1e-9).unwrap();
        }
        write!(f, "99.0]}}").unwrap();
    }
    let d = dir.path().display();
    let cases = [
        (
            "stdout",
            format!("cat {d}/objects.json"),
            "x: {json: x}",
            ("x", 7.0),
        ),
        (
            "file",
            format!("cp {d}/file.json {{{{ run_dir }}}}/f.json"),
            "x: {json: end.x, file: '{{ run_dir }}/f.json'}",
            ("x", 8.0),
        ),
        (
            "numbers",
            format!("cp {d}/numbers.json {{{{ run_dir }}}}/n.json"),
            "lat: {json: lat, file: '{{ run_dir }}/n.json', stats: [max, count]}",
            ("lat.max", 99.0),
        ),
    ];
    for (what, run, result, (name, want)) in cases {
        let case = dir.path().join(what);
        std::fs::create_dir(&case).unwrap();
        let exp = crate::run::write(
            &case,
            &format!("{what}.yaml"),
            &format!(
                "name: {what}\nruns: 1\nsteps:\n  - name: s\n    run: \"{run}\"\n    results:\n      {result}\n"
            ),
        );
        let (code, peak, stderr) = run_measured_mb(&case, &exp);
        eprintln!("json {what}: mpf peaked at {peak} MB");
        assert_eq!(code, Some(0), "{what}: {stderr}");
        let set = crate::common::only_set(&case);
        let rec = &crate::common::journal(&set)[0];
        assert_eq!(rec["results"][name], want, "{what}: {rec}");
        if what == "numbers" {
            assert_eq!(rec["results"]["lat.count"], 3_750_001.0);
        }
        assert!(peak < 160, "json {what}: mpf peaked at {peak} MB");
    }
}
