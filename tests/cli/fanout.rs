//! Many machines (SPEC §14.4): 64 namespace hosts (see `netns.rs`) connected, set up, asked
//! for their facts, collected from and cleaned up `fanout` at a time, with the open-files
//! limit raised as they need; errors that many machines share printed once with the machines
//! folded.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::common::{journal, only_set, write};
use crate::netns::Bed;

/// A cluster binding role `r` to the hosts of `bed` that `keep` keeps, `fanout` at a time.
fn cluster(
    bed: &Bed,
    dir: &Path,
    fanout: usize,
    keep: impl Fn(usize) -> bool,
) -> std::path::PathBuf {
    let mut text = format!("fanout: {fanout}\nmachines:\n");
    for (_, h) in bed.hosts.iter().enumerate().filter(|(i, _)| keep(*i)) {
        text.push_str(&format!(
            "  - hostname: {}\n{}    role: r\n",
            h.ip,
            bed.sh_user_keys(4)
        ));
    }
    write(dir, "cluster.yaml", &text)
}

/// A directory every user may write in (the hosts' shells run as the bed's `/bin/sh` user
/// and share this machine's file system).
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        d.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    d
}

/// The most lines of `log` that were between a `+` line and its `-` line at once (lines are
/// appended under a lock, in the order things happened).
fn most_at_once(log: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut now, mut most, mut starts) = (0i64, 0i64, 0);
    for l in text.lines() {
        match l.chars().next() {
            Some('+') => {
                now += 1;
                starts += 1;
            }
            Some('-') => now -= 1,
            _ => {}
        }
        most = most.max(now);
    }
    (most as usize, starts)
}

/// A `ssh` ahead of the system's on PATH that logs `+` when a ControlMaster starts (a
/// connection being set up) and `-` when mpf's helper session starts over it (the connection
/// is up), and makes each master take 0.1 s longer to start, so that connections overlap.
/// Every invocation is also logged in `LOG.calls` by kind: `master`, `helper`, `runner`,
/// `control` (`-O`), else `session`.
fn logging_ssh(dir: &Path, log: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        r#"#!/bin/sh
kind= call=session
for a; do
  case $a in
    -M) kind=+ call=master ;;
    -O) call=control ;;
    *mpf-helper*) kind=- call=helper ;;
    *mpf-runner*) call=runner ;;
  esac
done
if [ -n "$kind" ]; then flock {log} sh -c 'echo "$1" >> "$2"' _ "$kind" {log}; fi
flock {log} sh -c 'echo "$1" >> "$2"' _ "$call" {log}.calls
[ "$kind" = + ] && sleep 0.1
exec /usr/bin/ssh "$@"
"#,
        log = log.display()
    );
    let path = bin.join("ssh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bin
}

/// `mpf run -q --no-plot EXP -c CLUSTER` in `dir`, with PATH starting at `bin` and the soft
/// open-files limit lowered to `soft`: (exit code, stderr).
fn run_mpf(
    dir: &Path,
    exp: &Path,
    cluster: &Path,
    bin: Option<&Path>,
    soft: u64,
) -> (Option<i32>, String) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mpf"));
    cmd.current_dir(dir)
        .env("MPF_RESULTS", dir.join("results"))
        .env("NO_COLOR", "1")
        .args(["run", "--quiet", "--no-plot"])
        .arg(exp)
        .arg("-c")
        .arg(cluster);
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
    }
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            lim.rlim_cur = soft.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The hard open-files limit of this process (the one mpf inherits).
fn hard_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_max
}

#[test]
fn sixty_four_machines_are_connected_set_up_and_cleaned_up_eight_at_a_time() {
    let name = "sixty_four_machines_are_connected_set_up_and_cleaned_up_eight_at_a_time";
    let building = std::time::Instant::now();
    let Some(mut bed) = Bed::new(name, 64) else {
        return;
    };
    println!("{name}: bed of 64 hosts built in {:?}", building.elapsed());
    bed.add_sh_user();
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_dir();
    let (connects, phases) = (dir.path().join("connects"), shared.path().join("phases"));
    let bin = logging_ssh(dir.path(), &connects);
    let cluster = cluster(&bed, dir.path(), 8, |_| true);
    // Setup and cleanup log their start and end under a lock; the step leaves a file in its
    // run_dir on each machine (collected), and a step here says the open-files limit mpf's
    // processes inherit.
    let log = |phase: &str| {
        format!(
            r#"flock {p} sh -c 'echo "+ {phase}" >> {p}'; sleep 0.1; flock {p} sh -c 'echo "- {phase}" >> {p}'"#,
            p = phases.display()
        )
    };
    let exp = write(
        dir.path(),
        "many.yaml",
        &format!(
            r#"name: many
runs: 1
variables:
  k: [1, 2]
setup:
  - role: r
    run: {setup}
cleanup:
  - role: r
    run: {cleanup}
steps:
  - name: here
    run: echo "mpf-result nofile $(ulimit -n)"
  - name: on_each
    role: r
    run: echo "{{{{ node.index }}}} {{{{ k }}}}" > "{{{{ run_dir }}}}/mark"
"#,
            setup = serde_json::to_string(&log("setup")).unwrap(),
            cleanup = serde_json::to_string(&log("cleanup")).unwrap(),
        ),
    );
    let started = std::time::Instant::now();
    // A soft limit of 256 is short of what 64 machines need: mpf raises it.
    let (code, err) = run_mpf(dir.path(), &exp, &cluster, Some(&bin), 256);
    let took = started.elapsed();
    println!("{name}: mpf run took {took:?}");
    let need = 64 + 64 * (4 + 6 * 8);
    if hard_limit() < need {
        // The hard limit does not allow it: mpf says so before connecting.
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(&format!("need up to {need} open files")),
            "{err}"
        );
        return;
    }
    assert_eq!(code, Some(0), "{err}");
    let set = only_set(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 2, "{records:?}");
    for rec in &records {
        assert_eq!(rec["status"], "ok", "{rec}");
        assert!(
            rec["results"]["nofile"].as_f64().unwrap() >= need as f64,
            "the soft limit was raised to what 64 machines need: {rec}"
        );
        // Every machine's run_dir came back.
        let run = set
            .join("runs")
            .join(format!("{:04}", rec["index"].as_u64().unwrap()));
        let k = rec["point"]["k"].as_i64().unwrap();
        for (i, h) in bed.hosts.iter().enumerate() {
            let mark = std::fs::read_to_string(run.join(format!("r.{}", h.ip)).join("mark"))
                .unwrap_or_else(|e| panic!("mark of {}: {e}", h.ip));
            assert_eq!(mark.trim(), format!("{i} {k}"));
        }
    }
    assert_eq!(
        crate::common::manifest(&set)["hosts"]
            .as_array()
            .map(Vec::len),
        Some(65),
        "facts of every machine, and of this one (the local step)"
    );
    // At most 8 connections being set up at once, and never fewer than 8 while more wait:
    // every machine connected.
    let (most, masters) = most_at_once(&connects);
    assert_eq!(masters, 64, "one master per machine");
    assert_eq!(most, 8, "connections set up at once");
    // The ssh processes a machine costs the controller: its master, its helper's client and
    // its runners' clients (facts, setup, steps, collection and cleanup are runner jobs).
    // Neither a session of its own to make the set's root private (the helper does it) nor an
    // `ssh -O exit` to close (the master is signalled): 64 of each before.
    let calls = std::fs::read_to_string(connects.with_extension("calls")).unwrap();
    let count = |kind: &str| calls.lines().filter(|l| *l == kind).count();
    let runners = count("runner");
    println!(
        "{name}: ssh processes: 64 masters, {} helpers, {runners} runners",
        count("helper")
    );
    assert_eq!(
        (
            count("master"),
            count("helper"),
            count("control"),
            count("session")
        ),
        (64, 64, 0, 0),
        "ssh processes: (masters, helpers, ssh -O, other sessions)"
    );
    assert!(
        (64..=2 * 64).contains(&runners),
        "{runners} runner sessions"
    );
    for phase in ["setup", "cleanup"] {
        let text = std::fs::read_to_string(&phases).unwrap();
        let only: String = text
            .lines()
            .filter(|l| l.ends_with(phase))
            .map(|l| format!("{l}\n"))
            .collect();
        let file = dir.path().join(phase);
        std::fs::write(&file, only).unwrap();
        let (most, starts) = most_at_once(&file);
        assert_eq!(starts, 64, "{phase} ran on every machine");
        assert!((2..=8).contains(&most), "{phase}: {most} machines at once");
    }
    assert!(
        took < std::time::Duration::from_secs(60),
        "64 machines took {took:?}"
    );
}

#[test]
fn errors_that_many_machines_share_are_printed_once() {
    let name = "errors_that_many_machines_share_are_printed_once";
    let Some(mut bed) = Bed::new(name, 16) else {
        return;
    };
    bed.add_sh_user();
    let dir = tempfile::tempdir().unwrap();
    let net = format!("10.77.{}", bed.subnet);
    // Hosts 5 to 12 (10.77.S.5-12) refuse connections: their sshd is gone.
    for h in &mut bed.hosts[4..12] {
        h.stop_sshd();
    }
    let all = cluster(&bed, dir.path(), 64, |_| true);
    let exp = write(
        dir.path(),
        "e.yaml",
        "name: e\nruns: 1\nsteps:\n  - name: s\n    role: r\n    run: 'true'\n",
    );
    let (code, err) = run_mpf(dir.path(), &exp, &all, None, 1 << 20);
    assert_eq!(code, Some(4), "{err}");
    let folded = format!("{net}.[5-12]: cannot connect to machine <host> (");
    assert!(err.contains(&folded), "{err}");
    assert!(err.contains("port 22: Connection refused"), "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    // `mpf check -c` folds them alike, and lists the machines it reached.
    let out = crate::common::mpf_in(dir.path())
        .args(["check"])
        .arg(&exp)
        .arg("-c")
        .arg(&all)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains(&format!(
            "machines {net}.[5-12] (roles r): NOT reachable: cannot connect to machine <host>"
        )),
        "{text}"
    );
    assert_eq!(text.matches("NOT reachable").count(), 1, "{text}");
    assert_eq!(text.matches(": reachable in").count(), 8, "{text}");
    assert!(
        text.contains(&format!("unreachable: {net}.[5-12]")),
        "{text}"
    );

    // A setup that fails alike on the machines it reaches: one failure, with `<host>` where
    // each machine's text named it.
    let reached = cluster(&bed, dir.path(), 64, |i| !(4..12).contains(&i));
    let exp = write(
        dir.path(),
        "s.yaml",
        r#"name: s
runs: 1
setup:
  - role: r
    run: |
      case {{ node.host }} in *.1|*.2) exit 0;; esac
      echo "no space left on /scratch/{{ node.host }}" >&2; exit 1
steps:
  - name: s
    role: r
    run: 'true'
"#,
    );
    let (code, err) = run_mpf(dir.path(), &exp, &reached, None, 1 << 20);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "setup failed on {net}.[3-4,13-16]: exit status 1\n$ case <host> in *.1|*.2) exit 0;; esac\n"
        )),
        "{err}"
    );
    assert!(err.contains("no space left on /scratch/<host>"), "{err}");
    // Once in the script shown, once in its output, for all six machines.
    assert_eq!(err.matches("no space left").count(), 2, "{err}");
    assert!(!err.contains(&format!("/scratch/{net}")), "{err}");
}

#[test]
fn a_hard_open_files_limit_too_low_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    // Addresses of TEST-NET-1: nothing is connected, the limit is checked first.
    let mut text = String::from("machines:\n");
    for i in 1..=40 {
        text.push_str(&format!("  - {{hostname: 192.0.2.{i}, role: r}}\n"));
    }
    let cluster = write(dir.path(), "cluster.yaml", &text);
    let exp = write(
        dir.path(),
        "e.yaml",
        "name: e\nruns: 1\nsteps:\n  - name: s\n    role: r\n    run: 'true'\n",
    );
    for command in ["run", "check"] {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mpf"));
        cmd.current_dir(dir.path())
            .env("MPF_RESULTS", dir.path().join("results"))
            .arg(command)
            .arg(&exp)
            .arg("-c")
            .arg(&cluster);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 512,
                    rlim_max: 1024,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                Ok(())
            });
        }
        let start = std::time::Instant::now();
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "mpf {command}: {err}");
        assert!(
            err.contains("40 remote machines need up to 2144 open files")
                && err.contains("the hard limit is 1024 (ulimit -Hn)"),
            "mpf {command}: {err}"
        );
        // Refused at once, not after trying to connect to 40 unreachable addresses.
        assert!(start.elapsed() < std::time::Duration::from_secs(4), "{err}");
    }
    assert!(!dir.path().join("results").exists());
}
