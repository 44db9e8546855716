//! `mpf run`, `show`, `ls`, `check` on the local machine.

use std::path::Path;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::common::{mpf, mpf_in, Sandbox};
pub use crate::common::{only_set, write};

/// (records in the journal, distinct point#repetition keys among them): equal when no run
/// was recorded twice.
pub fn runs_and_distinct(dir: &Path) -> (usize, usize) {
    let recs = journal_lines(dir);
    let mut keys: Vec<String> = recs
        .iter()
        .map(|r| format!("{}#{}", r["point"], r["repetition"]))
        .collect();
    keys.sort();
    keys.dedup();
    (recs.len(), keys.len())
}

pub fn journal_lines(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(only_set(dir).join("journal.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(only_set(dir).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Processes whose command line holds `marker`, once they are all gone or `within` has passed:
/// a guard kills asynchronously, and a loaded machine may take a while.
pub fn alive_after(marker: &str, within: Duration) -> usize {
    let deadline = std::time::Instant::now() + within;
    loop {
        let n = alive_with(marker);
        if n == 0 || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn alive_with(marker: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(cmd) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
        if state.as_deref() == Some("Z") {
            continue;
        }
        if String::from_utf8_lossy(&cmd)
            .replace('\0', " ")
            .contains(marker)
        {
            n += 1;
        }
    }
    n
}

const SWEEP: &str = r#"
name: sweep
runs: 2
variables:
  size: {range: [1, 4], factor: 2}
  mode: {values: {"": plain, "-x": extra}}
  k: 7
steps:
  - name: work
    run: |
      echo "size {{ size }} mode[{{ mode }}] label {{ labels.mode }} k {{ k }} role {{ role }}"
      echo "elapsed: {{ size * 3 }}ms"
      echo "mpf-result score {{ size * 10 }}"
    results:
      latency: {regex: 'elapsed: (\d+ms)', unit: s, better: lower}
"#;

#[test]
fn sweep_records_every_run_with_units_and_labels() {
    let dir = Sandbox::new();
    dir.run_ok("sweep.yaml", SWEEP, &["--quiet"]);
    let recs = journal_lines(dir.path());
    assert_eq!(recs.len(), 3 * 2 * 2);
    // One graph per numeric result, SVG and PNG, drawn at the end of the run.
    let set = only_set(dir.path());
    assert!(
        !set.join("plots/work.duration.svg").exists(),
        "durations only on request"
    );
    for name in ["latency", "score"] {
        for ext in ["svg", "png"] {
            let p = set.join("plots").join(format!("{name}.{ext}"));
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(size > 1000, "{} ({size} bytes)", p.display());
        }
    }
    for r in &recs {
        assert_eq!(r["status"], "ok");
        let size = r["point"]["size"].as_f64().unwrap();
        assert_eq!(
            r["results"]["latency"].as_f64().unwrap(),
            size * 3.0 / 1000.0
        );
        assert_eq!(r["results"]["score"].as_f64().unwrap(), size * 10.0);
        assert!(r["results"]["work.duration"].as_f64().unwrap() > 0.0);
    }
    let m = manifest(dir.path());
    assert_eq!(m["status"], "complete");
    assert_eq!(m["runs_ok"], 12);
    assert!(
        m["hosts"][0]["cores"].as_u64().unwrap() >= 1,
        "host facts: {}",
        m["hosts"]
    );
    assert!(m["variables"][0]["geometric"].as_bool().unwrap());
    // Logs per run and role; the template saw values, labels and the role.
    let set = only_set(dir.path());
    let out = std::fs::read_to_string(set.join("runs/0000/local/work.out")).unwrap();
    assert!(out.contains("k 7 role local"), "{out}");
    assert!(
        out.contains("mode[] label plain") || out.contains("mode[-x] label extra"),
        "{out}"
    );
    // results.csv: variables (a labelled one with its labels), results, then
    // repetition/run/ok; one row per run.
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "size,mode,mode_label,k,latency,work.duration,score,repetition,run,ok"
    );
    assert_eq!(csv.lines().count(), 13);

    dir.mpf()
        .args(["show", "latest"])
        .assert()
        .success()
        .stdout(predicate::str::contains("latency (ms)").and(predicate::str::contains("extra")));
    dir.mpf()
        .args(["show", "latest", "--format", "markdown"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("**sweep-"));
    let json = dir
        .mpf()
        .args(["show", "sweep", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 12);
    dir.mpf()
        .arg("ls")
        .assert()
        .success()
        .stdout(predicate::str::contains("complete").and(predicate::str::contains("12")));
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let dir = Sandbox::new();
    let exp = dir.write("sweep.yaml", SWEEP);
    let out = dir
        .mpf()
        .arg("run")
        .arg(&exp)
        .args(["--dry-run", "--set", "size=1,2", "--runs", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    insta::assert_snapshot!("dry_run", text);
    assert!(!dir.path().join("results").exists());
}

#[test]
fn failures_timeouts_and_retries_are_recorded() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "f.yaml",
        r#"
runs: 1
order: sequential
retries: 1
variables:
  mode: [ok, fail, slow, noresult]
steps:
  - name: s
    timeout: 300ms
    run: |
      case {{ mode }} in
        fail) echo "broken pipe dream" >&2; exit 3 ;;
        slow) sleep 30.271 ;;
        noresult) echo nothing ;;
        *) echo "v=1" ;;
      esac
    results:
      v: 'v=(\d+)'
"#,
    );
    let start = Instant::now();
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    // One attempt of `slow` that its timeout did not stop would take 30 s; the whole run of
    // eight attempts takes about 1 s, and took over 5 s once under load 22 (1 in 40).
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "timeouts must stop the step: {elapsed:?}"
    );
    let recs = journal_lines(dir.path());
    let by_mode = |m: &str| {
        recs.iter()
            .find(|r| r["point"]["mode"] == m)
            .unwrap()
            .clone()
    };
    assert_eq!(by_mode("ok")["status"], "ok");
    let f = by_mode("fail");
    assert_eq!(f["status"], "failed");
    assert_eq!(f["attempts"], 2);
    assert!(f["error"]
        .as_str()
        .unwrap()
        .contains("exited with status 3: broken pipe dream"));
    let slow = by_mode("slow");
    assert!(slow["error"]
        .as_str()
        .unwrap()
        .contains("timed out after 300ms"));
    assert_eq!(slow["steps"][0]["timed_out"], true, "{slow}");
    assert!(
        slow["steps"][0]["duration"].as_f64().unwrap() < 30.0,
        "{slow}"
    );
    assert!(by_mode("noresult")["error"]
        .as_str()
        .unwrap()
        .contains("matched nothing"));
    assert_eq!(alive_with("sleep 30.271"), 0);
}

#[test]
fn on_failure_stop_ends_the_experiment() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "f.yaml",
        "runs: 3\non_failure: stop\nsteps:\n  - run: exit 1\n",
    );
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    assert_eq!(journal_lines(dir.path()).len(), 1);
    assert_eq!(manifest(dir.path())["status"], "failed");
}

/// At the end of a session whose steps' groups are all gone, the orphan guard (`exec::guard`)
/// has nothing to kill: it is stopped and its registry removed, and none of it outlives mpf.
/// A step's shell starts with no signal blocked, none ignored but what mpf's own parent
/// ignored, and its stdin at /dev/null (`exec::spawn`).
#[test]
fn a_finished_run_leaves_no_guard_and_its_steps_got_a_clean_start() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "g.yaml",
        // The shell reads its own status with builtins: while it waits for a child (`grep`),
        // dash blocks every signal.
        "runs: 2\nsteps:\n  - name: s\n    run: 'read x || echo stdin-empty; while read -r k v; do case $k in SigBlk:|SigIgn:) echo \"$k $v\";; esac; done < /proc/$$/status'\n",
    );
    let child = spawn_run(dir.path(), &exp);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let mark = format!("mpf-guard-{pid}-");
    for d in [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        let left: Vec<_> = std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&mark))
            .collect();
        assert!(
            left.is_empty(),
            "registry left in {}: {left:?}",
            d.display()
        );
    }
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&mark))
        .collect();
    assert!(procs.is_empty(), "guard still running: {procs:?}");
    // Signals: none blocked (mpf blocks them all around the clone). None ignored that this
    // test's own process does not ignore (what a `nohup` or a shell's `&` made ignored stays
    // so, as for any program). Never SIGPIPE, which Rust's runtime (mpf's and this test's)
    // ignores, nor the signals mpf handles (INT, TERM, HUP: their handlers are mpf's, the
    // step gets the default).
    let ignored_in = |text: &str, prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
            .unwrap()
    };
    let ours = ignored_in(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "SigIgn:\t",
    );
    let bit = |sig: i32| 1u64 << (sig - 1);
    let set = only_set(dir.path());
    for run in ["0000", "0001"] {
        let text = std::fs::read_to_string(set.join("runs").join(run).join("local/s.out")).unwrap();
        assert!(text.starts_with("stdin-empty\n"), "{text}");
        assert!(text.contains("SigBlk: 0000000000000000"), "{text}");
        let step = ignored_in(&text, "SigIgn: ");
        assert_eq!(step & !ours, 0, "ignored by the step only: {text}");
        for sig in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            assert_eq!(step & bit(sig), 0, "signal {sig} ignored: {text}");
        }
    }
}

/// The journal's flusher and the directories' thread keep off the run thread's CPU
/// (`placement`), and only they: mpf's run thread, and the steps it starts, keep every CPU
/// mpf was given. Read by the last run's step from mpf's `/proc/PID/task/*/status`.
#[test]
fn helper_threads_keep_off_the_run_thread_s_cpu_and_steps_keep_every_cpu() {
    let cpus = |list: &str| -> Vec<usize> {
        list.split(',')
            .flat_map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                a.trim().parse::<usize>().unwrap()..=b.trim().parse::<usize>().unwrap()
            })
            .collect()
    };
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = cpus(
        ours.lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap(),
    );
    let dir = Sandbox::new();
    let exp = dir.write(
        "p.yaml",
        "runs: 4\nsteps:\n  - name: s\n    run: 'echo \"step $$ $(while read -r k v; do [ \"$k\" = Cpus_allowed_list: ] && echo \"$v\"; done < /proc/$$/status)\"; for t in /proc/$PPID/task/*; do n=; c=; while read -r k v; do case $k in Name:) n=$v;; Cpus_allowed_list:) c=$v;; esac; done < $t/status; echo \"${t##*/} $n $c\"; done'\n",
    );
    dir.mpf().arg("run").arg(&exp).assert().success();
    let set = only_set(dir.path());
    let text = std::fs::read_to_string(set.join("runs/0003/local/s.out")).unwrap();
    let mut lines = text.lines();
    let step = lines.next().unwrap();
    let step = step.splitn(3, ' ').nth(2).unwrap();
    assert_eq!(cpus(step), ours, "the step keeps every CPU: {text}");
    // tid, name, CPUs; the run thread is the process's first (its tid is mpf's pid, the
    // step's parent).
    let threads: Vec<(&str, &str, Vec<usize>)> = lines
        .map(|l| {
            let mut f = l.split(' ');
            let (tid, name) = (f.next().unwrap(), f.next().unwrap());
            (tid, name, cpus(f.next().unwrap()))
        })
        .collect();
    let of = |name: &str| {
        threads
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(_, _, c)| c.clone())
            .unwrap_or_else(|| panic!("no thread {name}: {text}"))
    };
    let run_thread = threads
        .iter()
        .min_by_key(|(t, _, _)| t.parse::<u32>().unwrap());
    assert_eq!(
        run_thread.unwrap().2,
        ours,
        "the run thread keeps every CPU: {text}"
    );
    for helper in ["mpf-journal", "mpf-dirs-ahead"] {
        let got = of(helper);
        if ours.len() < 2 {
            assert_eq!(got, ours, "one CPU: nowhere else to go: {text}");
        } else {
            assert_eq!(
                got.len(),
                ours.len() - 1,
                "{helper} keeps off one CPU: {text}"
            );
            assert!(got.iter().all(|c| ours.contains(c)), "{text}");
        }
    }
}

/// Each run's directories are made while the run before runs (`runner::ahead`): each run
/// still gets its own, empty, with one directory per role, and the one made for a run that
/// never came (the experiment stopped) is removed.
#[test]
fn run_directories_made_ahead_are_each_run_s_own_and_none_is_left_unused() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "d.yaml",
        "runs: 1\norder: sequential\non_failure: stop\nvariables:\n  x: [1, 2, 3, 4]\nsteps:\n  - name: s\n    role: server\n    run: 'echo files=$(ls -A \"$MPF_RUN_DIR\" | wc -l); sleep 0.3; echo {{ x }} > \"$MPF_RUN_DIR/x\"; [ {{ x }} -lt 3 ]'\n  - name: c\n    role: client\n    run: 'echo c{{ x }} > \"$MPF_RUN_DIR/c\"'\n",
    );
    let out = dir.mpf().arg("run").arg(&exp).arg("-vv").assert().code(1);
    let log = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let set = only_set(dir.path());
    assert_eq!(journal_lines(dir.path()).len(), 3);
    // The first run makes its own; each later one was made while the one before ran (its
    // 0.3 s are the thread's time to do it, even on a loaded machine).
    for (i, ahead) in [(0, false), (1, true), (2, true)] {
        let line = format!("runs/{i:04} was made ahead");
        assert_eq!(log.contains(&line), ahead, "{line}: {log}");
    }
    let read = |p: &str| std::fs::read_to_string(set.join("runs").join(p)).unwrap();
    for (i, x) in [(0, 1), (1, 2), (2, 3)] {
        assert_eq!(read(&format!("{i:04}/server/x")), format!("{x}\n"));
        // Empty when the step started: nothing of another run.
        assert_eq!(read(&format!("{i:04}/server/s.out")), "files=0\n");
    }
    assert_eq!(read("0001/client/c"), "c2\n");
    assert!(set.join("runs/0002/client").is_dir());
    assert!(!set.join("runs/0002/client/c").exists());
    assert!(
        !set.join("runs/0003").exists(),
        "made ahead for a run that never came"
    );
}

#[test]
fn background_steps_delays_readiness_files_and_teardown() {
    let dir = Sandbox::new();
    let marker = format!("mpfbg{}", std::process::id());
    let port = 20000 + (std::process::id() % 20000) as u16;
    let exp = dir.write(
        "bg.yaml",
        &format!(
            r#"
runs: 2
variables:
  n: [1, 2]
files:
  - role: server
    path: "{{{{ run_dir }}}}/config.ini"
    content: "streams = {{{{ n }}}}\n"
steps:
  - name: server
    role: server
    background: true
    run: |
      cat {{{{ run_dir }}}}/config.ini
      sh -c 'sleep 1000; echo {marker}' &
      exec python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", {port})); s.listen(); time.sleep(1000)'
    ready: {{port: {port}, timeout: 10s}}
  - name: logger
    role: client
    background: true
    run: echo started-logging; sleep 1000
    ready: {{log: started-logging}}
  - name: client
    role: client
    delay: 100ms
    run: python3 -c 'import socket; socket.create_connection(("{{{{ roles.server.ip }}}}", {port})); print("connected")'
teardown:
  - role: server
    run: echo teardown {{{{ n }}}} > {{{{ run_dir }}}}/teardown.txt
"#
        ),
    );
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().success();
    let recs = journal_lines(dir.path());
    assert_eq!(recs.len(), 4);
    let set = only_set(dir.path());
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}");
        let run = format!("runs/{:04}", r["index"].as_u64().unwrap());
        let n = r["point"]["n"].as_i64().unwrap();
        let cfg = std::fs::read_to_string(set.join(&run).join("server/server.out")).unwrap();
        assert_eq!(cfg.trim(), format!("streams = {n}"));
        let td = std::fs::read_to_string(set.join(&run).join("server/teardown.txt")).unwrap();
        assert_eq!(td.trim(), format!("teardown {n}"));
        assert_eq!(
            std::fs::read_to_string(set.join(&run).join("client/client.out"))
                .unwrap()
                .trim(),
            "connected"
        );
    }
    assert_eq!(
        alive_with(&marker),
        0,
        "background children must not survive their run"
    );
    assert_eq!(alive_with("started-logging; sleep 1000"), 0);
}

/// `mpf run EXP -q` in the background, results under `dir/results`.
pub fn spawn_run(dir: &Path, exp: &Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir)
        .env("MPF_RESULTS", dir.join("results"))
        .arg("run")
        .arg(exp)
        .arg("-q")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

pub fn wait_for_lines(dir: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    loop {
        let count = std::fs::read_dir(dir.join("results"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).ok())
            .map_or(0, |t| t.lines().count());
        if count >= n {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "only {count} runs recorded after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn slow_sweep(dir: &Path, marker: &str) -> std::path::PathBuf {
    write(
        dir,
        "slow.yaml",
        &format!(
            r#"
name: slow
runs: 2
variables:
  a: {{range: [1, 15]}}
steps:
  - name: daemon
    background: true
    run: sh -c 'sleep 1000; echo {marker}' & sleep 1001
  - name: work
    run: sleep 0.05; echo "mpf-result v {{{{ a }}}}"
"#
        ),
    )
}

#[test]
fn sigkill_then_resume_records_every_run_exactly_once() {
    let dir = Sandbox::new();
    let marker = format!("mpfkill{}", std::process::id());
    let exp = slow_sweep(dir.path(), &marker);
    let mut child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), 4, Duration::from_secs(30));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        alive_after(&marker, Duration::from_secs(10)),
        0,
        "the guard must kill every process group"
    );
    assert_eq!(manifest(dir.path())["status"], "running");

    dir.mpf()
        .args(["run", "--resume", "latest", "-q"])
        .assert()
        .success();
    assert_eq!(
        runs_and_distinct(dir.path()),
        (30, 30),
        "every run exactly once"
    );
    assert_eq!(manifest(dir.path())["status"], "complete");
    assert_eq!(alive_with(&marker), 0);
}

/// Starts the slow sweep, sends `signal` once `after` runs are recorded, and checks the
/// graceful end: exit 130, set marked interrupted, no process left. Returns the directory.
fn interrupt_with(
    signal: i32,
    name: &str,
    after: usize,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("{name}{}", std::process::id());
    let exp = slow_sweep(dir.path(), &marker);
    let child = spawn_run(dir.path(), &exp);
    wait_for_lines(dir.path(), after, Duration::from_secs(30));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(manifest(dir.path())["status"], "interrupted");
    assert_eq!(alive_with(&marker), 0);
    (dir, exp)
}

#[test]
fn sigterm_is_a_graceful_interrupt_too() {
    interrupt_with(libc::SIGTERM, "mpfterm", 1);
}

#[test]
fn sigint_marks_the_set_interrupted_and_exits_130() {
    let (dir, exp) = interrupt_with(libc::SIGINT, "mpfint", 2);
    let set = only_set(dir.path());
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), journal_lines(dir.path()).len() + 1);
    // Resuming a changed experiment is refused.
    std::fs::write(
        &exp,
        std::fs::read_to_string(&exp)
            .unwrap()
            .replace("runs: 2", "runs: 3"),
    )
    .unwrap();
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["--resume", "latest", "-q"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("changed since"));
}

#[test]
fn check_validates_and_lists_points() {
    let dir = Sandbox::new();
    let exp = dir.write("sweep.yaml", SWEEP);
    mpf().arg("check").arg(&exp).assert().success().stdout(
        predicate::str::contains("6 points (of 6 in the space)")
            .and(predicate::str::contains("reachable")),
    );
}

#[test]
fn completions_are_generated() {
    mpf()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("mpf"));
}

#[test]
fn iperf_example_runs_locally() {
    if std::process::Command::new("iperf3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP iperf_example_runs_locally: iperf3 is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iperf.yaml");
    let port = (30000 + std::process::id() % 20000).to_string();
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args([
            "--runs",
            "1",
            "--set",
            "parallel=1,2",
            "--set",
            "time=1",
            "--set",
        ])
        .arg(format!("port={port}"))
        .arg("-q")
        .assert()
        .success();
    let recs = journal_lines(dir.path());
    assert_eq!(recs.len(), 4);
    let set = only_set(dir.path());
    for r in &recs {
        let g = r["results"]["goodput"].as_f64().unwrap();
        assert!(g > 1e6, "goodput {g} bit/s");
        // The goodput is the total over the -P streams, from iperf3's own report.
        let out = std::fs::read_to_string(set.join(format!(
            "runs/{:04}/client/client.out",
            r["index"].as_u64().unwrap()
        )))
        .unwrap();
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let streams = report["end"]["streams"].as_array().unwrap();
        assert_eq!(
            streams.len() as i64,
            r["point"]["parallel"].as_i64().unwrap()
        );
        let sum: f64 = streams
            .iter()
            .map(|s| s["receiver"]["bits_per_second"].as_f64().unwrap())
            .sum();
        assert!(
            (g - sum).abs() <= 1e-9 * sum,
            "goodput {g} != sum over streams {sum}"
        );
        if streams.len() > 1 {
            let first = streams[0]["receiver"]["bits_per_second"].as_f64().unwrap();
            assert!(g > first * 1.5, "not one stream's rate: {g} vs {first}");
        }
    }
    assert_eq!(alive_with(&format!("iperf3 -s -p {port}")), 0);
}

#[test]
fn quickstart_example_runs() {
    let dir = Sandbox::new();
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.yaml");
    dir.mpf()
        .arg("run")
        .arg(&exp)
        .args(["--runs", "1", "--set", "level=1", "--set", "size=1"])
        .arg("-q")
        .assert()
        .success();
    let recs = journal_lines(dir.path());
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert!(r["results"]["throughput"].as_f64().unwrap() > 1e5);
        assert!(r["results"]["ratio"].as_f64().unwrap() > 1.5);
    }
}

#[test]
fn setup_runs_once_per_machine_before_the_runs() {
    let dir = Sandbox::new();
    let exp = dir.run_ok(
        "s.yaml",
        r#"
runs: 2
setup:
  - role: [server, client]
    run: echo built >> setup-count.txt; echo compiling
steps:
  - role: client
    run: test -f setup-count.txt && echo "mpf-result lines $(wc -l < setup-count.txt)"
"#,
        &["-q", "--no-plot"],
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("setup-count.txt")).unwrap(),
        "built\n"
    );
    let set = only_set(dir.path());
    assert!(std::fs::read_to_string(set.join("setup/localhost.log"))
        .unwrap()
        .contains("compiling"));
    assert!(!set.join("plots").exists(), "--no-plot draws nothing");
    dir.mpf()
        .arg("run")
        .arg(&exp)
        .args(["-q", "--no-setup"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("setup-count.txt")).unwrap(),
        "built\n"
    );

    let bad = dir.write("b.yaml", "setup:\n  - run: |\n      echo 'cc: error: no such file' >&2; exit 4\nsteps:\n  - run: 'true'\n");
    dir.mpf()
        .arg("run")
        .arg(&bad)
        .arg("-q")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("setup failed on localhost")
                .and(predicate::str::contains("cc: error: no such file")),
        );
}

#[test]
fn deploy_syncs_builds_and_records_the_commit() {
    if std::process::Command::new("cc")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP deploy_syncs_builds_and_records_the_commit: no C compiler (cc)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("code");
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy/deploy.yaml");
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["--runs", "1", "--set", "size=1,4", "--set"])
        .arg(format!("dest={}", dest.display()))
        .arg("-q")
        .assert()
        .success()
        .stderr(predicate::str::contains("setup localhost: ok"));
    let recs = journal_lines(dir.path());
    assert_eq!(recs.len(), 2);
    assert!(recs
        .iter()
        .all(|r| r["results"]["bandwidth"].as_f64().unwrap() > 1e6));
    assert!(dest.join("membench").is_file() && dest.join("Makefile").is_file());
    let set = only_set(dir.path());
    let log = std::fs::read_to_string(set.join("setup/localhost.log")).unwrap();
    assert!(
        log.contains("$ sync ") && log.contains("packages:") && log.contains("make -C"),
        "{log}"
    );
    let m = manifest(dir.path());
    assert!(m["synced"][0]["from"]
        .as_str()
        .unwrap()
        .ends_with("examples/deploy/src"));
    assert_eq!(
        m["synced"][0]["git"]["commit"].as_str().map(str::len),
        Some(40),
        "{}",
        m["synced"]
    );

    // A second deploy with nothing changed: nothing to copy, nothing to build.
    let out = mpf_in(dir.path()).arg("deploy").arg(&exp).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deploys: Vec<_> = std::fs::read_dir(dir.path().join("results/deploys"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(deploys.len(), 1);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploys[0].path().join("deploy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["synced"][0]["machines"][0], "localhost");
    // `mpf deploy` used the file's own dest (~/mpf-membench); clean it up.
    if let Some(home) = std::env::var_os("HOME") {
        let _ = std::fs::remove_dir_all(Path::new(&home).join("mpf-membench"));
    }
}

#[test]
fn a_failing_build_stops_before_any_run_with_the_compiler_message() {
    if std::process::Command::new("cc")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP a_failing_build_stops_before_any_run_with_the_compiler_message: no C compiler (cc)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("src/bad.c"),
        "int main(void) { return undefined_name; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/Makefile"),
        "bad: bad.c\n\tcc -o bad bad.c\n",
    )
    .unwrap();
    let exp = write(
        dir.path(),
        "b.yaml",
        &format!(
            "setup:\n  - sync: {{from: ./src, to: {}}}\n    run: make -C {}\nsteps:\n  - run: 'true'\n",
            dir.path().join("build").display(),
            dir.path().join("build").display()
        ),
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .arg("-q")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("setup failed on localhost")
                .and(predicate::str::contains("make -C"))
                .and(predicate::str::contains("undefined_name")),
        );
    assert_eq!(
        journal_lines(dir.path()).len(),
        0,
        "no run after a failed setup"
    );
    assert_eq!(manifest(dir.path())["status"], "failed");
    // A missing source directory is bad input: exit 2 before anything runs.
    let missing = write(
        dir.path(),
        "m.yaml",
        "setup:\n  - sync: {from: ./nope, to: /tmp/x}\nsteps:\n  - run: 'true'\n",
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("m.yaml:2:5: sync from:"));
}

#[test]
fn packages_installs_only_what_is_missing() {
    // Installs a real (tiny) Debian package: only where CI asks for it.
    if std::env::var_os("MPF_TEST_APT").is_none() {
        eprintln!("SKIP packages_installs_only_what_is_missing: set MPF_TEST_APT=1 (as .ci/run does) to let it apt-get install 'hello'");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _ = std::process::Command::new("apt-get")
        .args(["remove", "-y", "-qq", "hello"])
        .output();
    let exp = write(
        dir.path(),
        "p.yaml",
        "setup:\n  - packages: {apt: [coreutils, hello], dnf: [coreutils, hello]}\nsteps:\n  - run: hello\n",
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["-q", "--runs", "1"])
        .assert()
        .success();
    let log = std::fs::read_to_string(only_set(dir.path()).join("setup/localhost.log")).unwrap();
    assert!(log.contains("installing hello with apt-get"), "{log}");
    assert!(!log.contains("installing coreutils"), "{log}");
    mpf_in(dir.path())
        .arg("deploy")
        .arg(&exp)
        .assert()
        .success();
}

#[test]
fn steps_on_several_roles_record_results_per_role_with_units() {
    let dir = Sandbox::new();
    dir.run_ok("multi.yaml", "runs: 1\nsteps:\n  - name: probe\n    role: all\n    run: 'echo lat: 3 ms'\n    results:\n      lat: {regex: 'lat: (\\d+ ms)', unit: s, better: lower}\n  - role: [a, b]\n    run: 'true'\n", &["-q", "--no-plot"]);
    let r = &journal_lines(dir.path())[0];
    for role in ["a", "b", "local"] {
        assert_eq!(
            r["results"][format!("lat.{role}")].as_f64(),
            Some(0.003),
            "{r}"
        );
    }
    let m = manifest(dir.path());
    let info = m["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lat.a")
        .unwrap()
        .clone();
    assert_eq!(
        (info["unit"].as_str(), info["better"].as_str()),
        (Some("s"), Some("lower"))
    );
}

/// SIGUSR1 is the parent-death signal the Python package asks for (`PR_SET_PDEATHSIG`): the
/// kernel sends it again for each thread of the dying parent mpf is handed to. The first stops
/// mpf as a first Ctrl-C does; a repeat during that stop (here during a slow teardown) is
/// ignored, where a second SIGINT would quit at once with the set left `running`.
#[test]
fn sigusr1_stops_gracefully_and_its_repeats_are_ignored() {
    let dir = Sandbox::new();
    let marker = format!("mpfusr{}", std::process::id());
    let exp = dir.write(
        "slow.yaml",
        &format!(
            "name: slow\nruns: 3\nsteps:\n  - name: work\n    run: sh -c 'sleep 1000; echo {marker}' & sleep 1001\n\
             teardown:\n  - run: sleep 1; echo torn-down >> {}/teardown.log\n",
            dir.path().display()
        ),
    );
    let child = spawn_run(dir.path(), &exp);
    let start = std::time::Instant::now();
    while alive_with(&marker) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the step started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        // SAFETY: signalling our own child (not yet waited for).
        unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(manifest(dir.path())["status"], "interrupted");
    assert_eq!(alive_with(&marker), 0);
    let log = std::fs::read_to_string(dir.path().join("teardown.log")).unwrap();
    assert_eq!(log, "torn-down\n", "the teardown ran to its end");
}

#[test]
fn one_run_is_counted_in_the_singular() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "one.yaml",
        "name: one\nruns: 1\nvariables: {x: [1]}\nsteps:\n  - name: s\n    run: echo v=1\n    results: {v: {regex: 'v=(\\d+)'}}\n",
    );
    dir.mpf()
        .args(["run", "--dry-run"])
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 point (of 1 in the space), 1 run each, 1 run in",
        ));
    dir.mpf()
        .arg("run")
        .arg(&exp)
        .arg("--no-plot")
        .assert()
        .success()
        .stderr(
            predicate::str::contains(": 1 run ok").and(predicate::str::contains("1 runs").not()),
        );
}

/// git runs alongside the set's creation, setup and the host facts: the manifest still names
/// the experiment's commit (and whether the tree is dirty) and the machine, and a failed
/// setup still records the commit.
#[test]
fn the_manifest_records_git_and_host_facts_gathered_together() {
    let dir = Sandbox::new();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .current_dir(dir.path())
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    let good = dir.write("a.yaml", "steps:\n  - run: 'true'\n");
    let bad = dir.write(
        "b.yaml",
        "setup:\n  - run: exit 3\nsteps:\n  - run: 'true'\n",
    );
    git(&["add", "a.yaml", "b.yaml"]);
    git(&["commit", "-q", "-m", "x"]);
    let head = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    dir.mpf()
        .arg("run")
        .arg(&good)
        .arg("--no-plot")
        .assert()
        .success();
    let m = manifest(dir.path());
    assert_eq!(m["git"]["commit"], head.as_str());
    assert_eq!(m["git"]["dirty"], false);
    assert_eq!(m["hosts"].as_array().map(Vec::len), Some(1));
    assert!(m["hosts"][0]["cores"].as_u64().unwrap_or(0) >= 1);
    std::fs::remove_dir_all(dir.path().join("results")).unwrap();
    dir.mpf()
        .arg("run")
        .arg(&bad)
        .arg("--no-plot")
        .assert()
        .failure();
    let m = manifest(dir.path());
    assert_eq!(m["status"], "failed");
    assert_eq!(m["git"]["commit"], head.as_str());
}
