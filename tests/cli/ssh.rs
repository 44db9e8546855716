//! Clusters over OpenSSH, on namespace hosts with their own sshd (see `netns.rs`). They need
//! root and `ip netns`; elsewhere they print `SKIP` and pass.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::mpf_in;
use crate::netns::Bed;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn set_dir(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("results"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a result set")
}

fn journal(set: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(set.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `mpf run --quiet --no-plot EXP -c CLUSTER` in `dir`.
fn run_quiet(dir: &Path, exp: &Path, cluster: &Path) -> assert_cmd::Command {
    let mut cmd = mpf_in(dir);
    cmd.args(["run", "--quiet", "--no-plot"])
        .arg(exp)
        .arg("-c")
        .arg(cluster);
    cmd
}

/// `run_quiet` that must exit 0: the set's directory and its journal's records.
fn run_ok(dir: &Path, exp: &Path, cluster: &Path) -> (PathBuf, Vec<serde_json::Value>) {
    let out = run_quiet(dir, exp, cluster).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let set = set_dir(dir);
    let records = journal(&set);
    (set, records)
}

fn journal_len(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("results"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| journal(&e.path()).len())
        .unwrap_or(0)
}

/// The cluster of the original mpf format: anchors, `<<` merge keys, `global`, `controller`.
fn original_cluster(bed: &Bed) -> String {
    let (a, b) = (&bed.hosts[0].ip, &bed.hosts[1].ip);
    format!(
        "global:\n  python_path: /usr/bin/python3\nmachines:\n  - &server_def\n    hostname: {a}\n{keys}    role: server\n    interfaces:\n      - {{name: veth0, ip: {a}, link: l1, direction: forward}}\n  - <<: *server_def\n    hostname: {b}\n    role: client\n    interfaces:\n      - {{name: veth0, ip: {b}, link: l1}}\ncontroller:\n  <<: *server_def\n  ports: '65400-65432'\n",
        keys = bed.ssh_keys(4)
    )
}

#[test]
fn iperf_between_two_namespace_hosts_over_one_connection_each() {
    let Some(bed) = Bed::new("iperf_between_two_namespace_hosts", 2) else {
        return;
    };
    if !Path::new("/usr/bin/iperf3").exists() {
        println!("SKIP iperf_between_two_namespace_hosts: iperf3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", &original_cluster(&bed));
    let mut exp =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iperf.yaml"))
            .unwrap();
    // A file written into the server's run_dir and a step writing into it: both come back.
    exp.push_str(
        "files:\n  - role: server\n    path: \"{{ run_dir }}/config.ini\"\n    content: \"streams = {{ parallel }}\\n\"\nteardown:\n  - role: client\n    run: echo \"{{ roles.server.ip }} {{ links.l1.backward.ip }}\" > \"{{ run_dir }}/peer.txt\"; hostname > $MPF_RUN_DIR/host.txt\n",
    );
    let exp = write(dir.path(), "iperf.yaml", &exp);

    let check = mpf_in(dir.path())
        .args(["check"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        text.contains(&format!(
            "machine {} (roles server): reachable",
            bed.hosts[0].ip
        )),
        "{text}"
    );

    let out = mpf_in(dir.path())
        .args([
            "run",
            "--quiet",
            "--no-plot",
            "--runs",
            "1",
            "--set",
            "parallel=1,2",
            "--set",
            "time=1",
        ])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("'global' (original mpf format) is accepted and ignored"),
        "{err}"
    );
    let set = set_dir(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["results"]["goodput"].as_f64().unwrap() > 1e6, "{r}");
        let steps = r["steps"].as_array().unwrap();
        assert!(
            steps.iter().any(|s| s["host"] == bed.hosts[1].ip.as_str()),
            "{r}"
        );
    }
    // The cluster file is kept verbatim; every machine's facts are in the manifest.
    assert_eq!(
        std::fs::read_to_string(set.join("cluster.yaml")).unwrap(),
        std::fs::read_to_string(&cluster).unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("manifest.json")).unwrap()).unwrap();
    let hosts: Vec<&str> = manifest["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(
        hosts.contains(&bed.hosts[0].ip.as_str()) && hosts.contains(&bed.hosts[1].ip.as_str()),
        "{hosts:?}"
    );
    assert!(manifest["hosts"][0]["kernel"]
        .as_str()
        .unwrap()
        .starts_with("Linux"));
    // run_dir files were written and collected back from both machines.
    for i in 0..4 {
        let run = set.join("runs").join(format!("{i:04}"));
        let cfg = std::fs::read_to_string(run.join("server/config.ini")).unwrap();
        assert!(cfg.starts_with("streams = "), "{cfg}");
        let peer = std::fs::read_to_string(run.join("client/peer.txt")).unwrap();
        assert_eq!(
            peer.trim(),
            format!("{} {}", bed.hosts[0].ip, bed.hosts[1].ip)
        );
        assert!(run.join("client/host.txt").exists());
        assert!(run.join("client/client.out").exists());
    }
    // One connection per machine for the whole experiment (plus one for `mpf check`).
    for i in 0..2 {
        assert_eq!(
            bed.logins(i),
            2,
            "host {i}: {}",
            std::fs::read_to_string(&bed.hosts[i].sshd_log).unwrap()
        );
    }
    // Nothing left behind on the hosts: no step, no guard, no run directory.
    std::thread::sleep(Duration::from_millis(300));
    for (i, h) in bed.hosts.iter().enumerate() {
        let left = bed.processes_in(&h.ns, bed.sshd_pid(i));
        assert!(left.is_empty(), "{left:?}");
    }
    let id = set.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!Path::new(&format!("/tmp/mpf-{id}")).exists());
}

const SLOW: &str = r#"
name: slow
runs: 1
variables:
  n: {range: [1, 3]}
steps:
  - name: daemon
    role: server
    background: true
    run: sleep 300; echo MARK
  - name: work
    role: client
    run: sh -c 'sleep 301 & sleep 302; echo MARK'
    timeout: 600s
"#;

#[test]
fn sigkill_of_mpf_leaves_no_process_on_any_host() {
    let Some(bed) = Bed::new("sigkill_of_mpf_leaves_no_process_on_any_host", 2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", &original_cluster(&bed));
    let exp = write(dir.path(), "slow.yaml", SLOW);
    // mpf's local files (control sockets, logs, the guard's registry) go here, where no other
    // test's can be: what is left after the kill is this mpf's.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir.path())
        .env("MPF_RESULTS", dir.path().join("results"))
        .env("TMPDIR", tmp.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until both machines run their step.
    let start = Instant::now();
    loop {
        let n: usize = (0..2)
            .map(|i| {
                bed.processes_in(&bed.hosts[i].ns, bed.sshd_pid(i))
                    .iter()
                    .filter(|p| p.contains(": sleep 30"))
                    .count()
            })
            .sum();
        if n >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "steps did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let files = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        files(tmp.path()).iter().any(|f| f.starts_with("mpf-ssh-")),
        "no control directory while running: {:?}",
        files(tmp.path())
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    loop {
        let left: Vec<String> = (0..2)
            .flat_map(|i| bed.processes_in(&bed.hosts[i].ns, bed.sshd_pid(i)))
            .collect();
        // No local ssh client or master either, and no local file of mpf's.
        let local_ssh = crate::run::alive_with(&format!("10.77.{}.", bed.subnet));
        let local_files = files(tmp.path());
        if left.is_empty() && local_ssh == 0 && local_files.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left after SIGKILL: {left:?}, {local_ssh} local ssh processes, files {local_files:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cut_link_fails_only_the_runs_that_need_the_host() {
    let Some(bed) = Bed::new("a_cut_link_fails_only_the_runs_that_need_the_host", 2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (&bed.hosts[0].ip, &bed.hosts[1].ip);
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        &format!(
            "machines:\n  - hostname: {a}\n{k}    role: a\n  - hostname: {b}\n{k}    role: b\n",
            k = bed.ssh_keys(4)
        ),
    );
    let exp = write(
        dir.path(),
        "cut.yaml",
        "name: cut\nruns: 1\norder: sequential\nvariables:\n  i: {range: [1, 5]}\n  target: [a, b]\nsteps:\n  - name: work\n    role: \"{{ target }}\"\n    timeout: 20s\n    run: sleep 0.3; echo \"mpf-result v {{ i }}\"\n",
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir.path())
        .env("MPF_RESULTS", dir.path().join("results"))
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while journal_len(dir.path()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no runs recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cut = Instant::now();
    assert!(std::process::Command::new("ip")
        .args(["link", "set", &bed.hosts[1].veth, "down"])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let elapsed = cut.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    // A machine lost during the runs exits 4 (SPEC 20), not 1 as failed runs do.
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("stopped answering"), "{err}");
    let set = set_dir(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 10, "{err}");
    let mut failed_b = 0;
    for r in &records {
        let node = r["point"]["target"].as_str().unwrap();
        if node == "a" {
            assert_eq!(r["status"], "ok", "{r}");
        } else if r["status"] != "ok" {
            failed_b += 1;
            let e = r["error"].as_str().unwrap();
            assert!(
                e.contains(b.as_str()),
                "error does not name the machine: {e}"
            );
        }
    }
    assert!(failed_b >= 4, "{records:?}");
    // Runs recorded before the cut are still there, intact.
    assert!(records.iter().filter(|r| r["status"] == "ok").count() >= 6);
    // Each run that needs the dead host fails within its timeout.
    assert!(elapsed < Duration::from_secs(20 * 5), "{elapsed:?}");
}

#[test]
fn namespace_roles_run_in_their_namespace_pinned_to_their_cpu() {
    let Some(mut bed) = Bed::new("namespace_roles_run_in_their_namespace", 1) else {
        return;
    };
    let remote_ns = bed.add_namespace("r");
    let local_ns = bed.add_namespace("l");
    let dir = tempfile::tempdir().unwrap();
    // The namespaces are told apart by their inode.
    let inode = |ns: &str| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "readlink", "/proc/self/ns/net"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        &format!(
            "machines:\n  - hostname: {a}\n{k}    namespaces:\n      - role: remote\n        namespace: {remote_ns}\n        cpu_id: 1\n  - hostname: localhost\n    namespaces:\n      - role: here\n        namespace: {local_ns}\n        cpu_id: 0\n",
            a = bed.hosts[0].ip,
            k = bed.ssh_keys(4)
        ),
    );
    let exp = write(
        dir.path(),
        "ns.yaml",
        "name: ns\nruns: 1\nsteps:\n  - name: where\n    role: [remote, here]\n    run: readlink /proc/self/ns/net; grep Cpus_allowed_list /proc/self/status\n",
    );
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = set_dir(dir.path());
    for (role, ns, cpu) in [("remote", &remote_ns, "1"), ("here", &local_ns, "0")] {
        let text =
            std::fs::read_to_string(set.join(format!("runs/0000/{role}/where.out"))).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), inode(ns), "{role}: {text}");
        assert_eq!(
            lines.next().unwrap().split_whitespace().last().unwrap(),
            cpu,
            "{role}: {text}"
        );
    }
}

#[test]
fn roles_missing_from_the_cluster_are_refused_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        "machines:\n  - hostname: localhost\n    role: server\n",
    );
    let out = mpf_in(dir.path())
        .args(["check"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iperf.yaml"))
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // At the step that uses the role, not somewhere in the cluster file.
    assert!(
        err.contains("examples/iperf.yaml:22:11: no machine of")
            && err.contains("cluster.yaml bears role 'client' (roles there: server)"),
        "{err}"
    );
}

#[test]
fn deploy_example_on_a_namespace_host_over_its_one_connection() {
    let Some(bed) = Bed::new("deploy_example_on_a_namespace_host", 1) else {
        return;
    };
    if std::process::Command::new("cc")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP deploy_example_on_a_namespace_host: no C compiler (cc)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "bench", "");
    let dest = dir.path().join("remote-code");
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy/deploy.yaml");
    let out = mpf_in(dir.path())
        .args([
            "run",
            "-q",
            "--no-plot",
            "--runs",
            "1",
            "--set",
            "size=1,4",
            "--set",
        ])
        .arg(format!("dest={}", dest.display()))
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("setup {}: ok", bed.hosts[0].ip)),
        "{err}"
    );
    let set = set_dir(dir.path());
    let recs = journal(&set);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    let log = std::fs::read_to_string(set.join(format!("setup/{}.log", bed.hosts[0].ip))).unwrap();
    assert!(log.contains("$ sync ") && log.contains("make -C"), "{log}");
    assert!(
        !log.contains("copying with tar"),
        "rsync over the master: {log}"
    );
    assert!(dest.join("membench").is_file());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["synced"][0]["machines"][0],
        bed.hosts[0].ip.as_str()
    );
    // Setup, facts, every step and the rsync all went over the one connection of the run.
    assert_eq!(bed.logins(0), 1, "one ssh connection for the whole run");

    // A second deploy: nothing to copy or build, again one connection.
    let exp2 = write(
        dir.path(),
        "deploy.yaml",
        &std::fs::read_to_string(&exp)
            .unwrap()
            .replace("dest: ~/mpf-membench", &format!("dest: {}", dest.display()))
            .replace(
                "./src",
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("examples/deploy/src")
                    .display()
                    .to_string(),
            ),
    );
    let out = mpf_in(dir.path())
        .arg("deploy")
        .arg(&exp2)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bed.logins(0), 2);
}

#[test]
fn remote_leftovers_live_until_the_end_of_the_run_and_no_later() {
    let Some(bed) = Bed::new("remote_leftovers", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("mpfleft{}", std::process::id());
    let cluster = bed.first_host_cluster(dir.path(), "r", "");
    // The first step leaves a child in its group; the next one sees it still alive, and
    // after the run it is gone. Stderr output of the steps reaches the logs untouched.
    let exp = write(
        dir.path(),
        "left.yaml",
        &format!(
            "runs: 2\nsteps:\n  - name: start\n    role: r\n    run: sh -c 'sleep 1000; echo {marker}' & echo started >&2\n  - name: probe\n    role: r\n    run: pgrep -f '{marker}' >/dev/null && echo 'mpf-result alive 1'\n"
        ),
    );
    let out = mpf_in(dir.path())
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = set_dir(dir.path());
    let recs = journal(&set);
    assert_eq!(recs.len(), 2);
    assert!(
        recs.iter().all(|r| r["results"]["alive"] == 1.0),
        "{recs:?}"
    );
    let err = std::fs::read_to_string(set.join("runs/0000/r/start.err")).unwrap();
    assert_eq!(err, "started\n", "internal markers never reach the logs");
    let left = bed.processes_in(&bed.hosts[0].ns, bed.sshd_pid(0));
    assert!(
        left.iter().all(|p| !p.contains(&marker)),
        "left behind: {left:?}"
    );
}

#[test]
fn roles_n1_and_n10_on_one_host_both_get_their_run_dir_back_from_a_private_root() {
    let Some(bed) = Bed::new("roles_n1_and_n10_on_one_host", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "[n1, n10]", "");
    // n1 is collected first (role order), which used to clear n10's entry as well: n10's
    // files were then deleted on the machine without coming back.
    let exp = write(
        dir.path(),
        "n.yaml",
        "name: n\nruns: 1\nsteps:\n  - name: w\n    role: [n1, n10]\n    run: |\n      echo {{ role }} > \"$MPF_RUN_DIR/who.txt\"\n      ls -ldn \"$MPF_RUN_DIR/../../..\" | cut -c1-10\n",
    );
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = set_dir(dir.path());
    for role in ["n1", "n10"] {
        let who = std::fs::read_to_string(set.join(format!("runs/0000/{role}/who.txt")))
            .unwrap_or_else(|e| {
                panic!(
                    "{role}'s who.txt was not collected: {e}: {:?}",
                    std::process::Command::new("find")
                        .arg(&set)
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                )
            });
        assert_eq!(who.trim(), role);
        // The machine's root of the result set is readable by mpf's user only.
        let mode = std::fs::read_to_string(set.join(format!("runs/0000/{role}/w.out"))).unwrap();
        assert_eq!(mode.trim(), "drwx------", "{role}");
    }
}

#[test]
fn udp_limit_example_between_two_namespace_hosts() {
    let Some(bed) = Bed::new("udp_limit_between_two_namespace_hosts", 2) else {
        return;
    };
    if !Path::new("/usr/bin/iperf3").exists() {
        println!("SKIP udp_limit_between_two_namespace_hosts: iperf3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", &original_cluster(&bed));
    crate::adaptive::udp_limit_is_found(dir.path(), &["-c", cluster.to_str().unwrap()]);
    let records = journal(&set_dir(dir.path()));
    assert!(records.iter().all(|r| r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["host"] == bed.hosts[1].ip.as_str())));
}

/// On an account whose login shell is /bin/sh a step runs in its session's shell itself; a
/// step that leaves a process holding its output ends at its exit, one past its timeout is
/// stopped by the machine's helper, and nothing of the user's is left on the host.
#[test]
fn a_sh_login_runs_steps_in_their_own_session_and_stops_them() {
    let Some(mut bed) = Bed::new("a_sh_login_runs_steps_in_its_session_shell", 1) else {
        return;
    };
    let user = bed.add_sh_user();
    // Through a runner session (the machine has setsid), then with a session each (as on a
    // machine without setsid).
    for per_step in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cluster = write(
            dir.path(),
            "cluster.yaml",
            &format!(
                "machines:\n  - hostname: {}\n{}    role: r\n",
                bed.hosts[0].ip,
                bed.ssh_keys_for(&user, 4)
            ),
        );
        let exp = write(
            dir.path(),
            "sh.yaml",
            "name: sh\nruns: 1\nsteps:\n  - name: argv\n    role: r\n    run: tr '\\0' ' ' < /proc/$$/cmdline | cut -c1-10; cat /proc/$PPID/comm; ps -o pid=,pgid=,sid= -p $$; grep SigIgn /proc/$$/status; printf 'no newline'\n  - name: id\n    role: r\n    run: echo \"mpf-result uid $(id -u)\"\n  - name: hold\n    role: r\n    run: sleep 1001 & echo held\n  - name: slow\n    role: r\n    timeout: 1s\n    run: sleep 1002\n",
        );
        let start = Instant::now();
        let mut cmd = mpf_in(dir.path());
        if per_step {
            cmd.env("MPF_SSH_SESSION_PER_STEP", "1");
        }
        let out = cmd
            .args(["run", "--quiet", "--no-plot"])
            .arg(&exp)
            .arg("-c")
            .arg(&cluster)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(start.elapsed() < Duration::from_secs(20), "{err}");
        let set = set_dir(dir.path());
        let records = journal(&set);
        assert_eq!(records.len(), 1);
        let error = records[0]["error"].as_str().unwrap();
        assert!(
            error.contains("step 'slow'") && error.contains("timed out"),
            "{error}"
        );
        assert!(records[0]["results"]["uid"].as_f64().unwrap() > 0.0);
        let run = set.join("runs/0000/r");
        let argv = std::fs::read_to_string(run.join("argv.out")).unwrap();
        let mut lines = argv.lines();
        let (cmdline, parent) = (lines.next().unwrap(), lines.next().unwrap());
        if per_step {
            // sshd started it as `sh -c ...`: no `/bin/sh -c` of mpf's in between.
            assert_eq!((cmdline, parent), ("sh -c expo", "sshd"), "{argv}");
        } else {
            // The runner (a shell) started `/bin/sh -c`, through setsid.
            assert_eq!((cmdline, parent), ("/bin/sh -c", "sh"), "{argv}");
        }
        // Either way the step leads its own process group and session.
        let ids: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert!(ids.len() == 3 && ids.iter().all(|i| *i == ids[0]), "{argv}");
        // No signal ignored (a shell without job control ignores SIGINT in what it puts in
        // the background).
        let ign = lines
            .next()
            .and_then(|l| l.strip_prefix("SigIgn:\t"))
            .unwrap();
        let ign = u64::from_str_radix(ign, 16).unwrap();
        assert_eq!(ign & 0b110, 0, "SIGINT or SIGQUIT ignored: {argv}");
        // The last line is whole, though the runner's marker came right after it.
        assert_eq!(lines.next(), Some("no newline"), "{argv}");
        assert!(argv.ends_with("no newline"), "{argv:?}");
        assert_eq!(
            std::fs::read_to_string(run.join("hold.out")).unwrap(),
            "held\n"
        );
        assert!(!run.join("hold.err").exists(), "no marker reaches the logs");
        assert!(!run.join("argv.err").exists(), "no marker reaches the logs");
        let steps = records[0]["steps"].as_array().unwrap();
        assert_eq!(steps[2]["exit"], 0, "{steps:?}");
        assert!(steps[2]["duration"].as_f64().unwrap() < 5.0, "{steps:?}");
        let left = bed.processes_in(&bed.hosts[0].ns, bed.sshd_pid(0));
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A machine whose budget has no session to spare: the steps of a run hold every runner
/// session it allows, and collecting the run directory (through a runner that is idle by
/// then) neither waits forever nor opens one more; every run's files come back.
#[test]
fn a_tight_session_budget_runs_and_collects_every_run() {
    let Some(bed) = Bed::new("a_tight_session_budget_runs_and_collects", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "r", "    max_sessions: 3\n");
    let exp = write(
        dir.path(),
        "tight.yaml",
        "name: tight\nruns: 1\nvariables:\n  i: [1, 2, 3]\nfiles:\n  - role: r\n    path: \"{{ run_dir }}/given\"\n    content: \"given {{ i }}\"\nsteps:\n  - name: bg\n    role: r\n    background: true\n    run: sleep 30\n  - name: fg\n    role: r\n    run: echo run {{i}} > \"$MPF_RUN_DIR/f\"; echo mpf-result v {{i}}; head -c 3000000 /dev/urandom > \"$MPF_RUN_DIR/blob\"; echo mpf-result crc $(cksum < \"$MPF_RUN_DIR/blob\" | cut -d' ' -f1)\n",
    );
    let start = Instant::now();
    let out = run_quiet(dir.path(), &exp, &cluster)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(start.elapsed() < Duration::from_secs(60), "{err}");
    let set = set_dir(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 3);
    for (n, r) in records.iter().enumerate() {
        assert_eq!(r["results"]["v"].as_f64(), Some(n as f64 + 1.0), "{r}");
        let f = set.join(format!("runs/{n:04}/r/f"));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("run {}\n", n + 1)
        );
        // The file written before the steps (a session while the runners held every other).
        let given = std::fs::read_to_string(set.join(format!("runs/{n:04}/r/given"))).unwrap();
        assert_eq!(given, format!("given {}", n + 1));
        // 3 MB of random bytes came back whole (the archive is the runner's stdout).
        let blob = set.join(format!("runs/{n:04}/r/blob"));
        let sum = std::process::Command::new("sh")
            .arg("-c")
            .arg("cksum < \"$0\" | cut -d' ' -f1")
            .arg(&blob)
            .output()
            .unwrap();
        let sum: f64 = String::from_utf8_lossy(&sum.stdout).trim().parse().unwrap();
        assert_eq!(r["results"]["crc"].as_f64(), Some(sum), "{r}");
        assert_eq!(std::fs::metadata(&blob).unwrap().len(), 3_000_000);
    }
}

/// Run after run, a machine's steps go to the same runner session (a shell that started each
/// of them), not to a session each.
#[test]
fn steps_reuse_one_runner_session_run_after_run() {
    let Some(bed) = Bed::new("steps_reuse_one_runner_session", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "r", "");
    let exp = write(
        dir.path(),
        "reuse.yaml",
        "name: reuse\nruns: 1\nvariables:\n  i: {range: [1, 8]}\nsteps:\n  - name: s\n    role: r\n    run: cat /proc/$PPID/comm; echo \"mpf-result runner $PPID\"; echo \"mpf-result me $$\"\n",
    );
    let (set, records) = run_ok(dir.path(), &exp, &cluster);
    assert_eq!(records.len(), 8);
    let of = |r: &serde_json::Value, k: &str| r["results"][k].as_f64().unwrap();
    let runner = of(&records[0], "runner");
    let mut steps = std::collections::HashSet::new();
    for (n, r) in records.iter().enumerate() {
        assert_eq!(of(r, "runner"), runner, "{r}");
        steps.insert(of(r, "me") as u64);
        let comm = std::fs::read_to_string(set.join(format!("runs/{n:04}/r/s.out"))).unwrap();
        assert_eq!(comm.lines().next(), Some("sh"), "{comm}");
    }
    assert_eq!(steps.len(), 8, "each step is a process of its own");
}

/// A process that left its step's group with the step's stdout writes into the runner's
/// session: what it writes between steps is nobody's, and that runner takes no more steps.
#[test]
fn a_runner_written_to_between_steps_takes_no_more_steps() {
    let Some(bed) = Bed::new("a_runner_written_to_between_steps", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "r", "  - hostname: localhost\n    role: l\n");
    // Each event waits for the one before, not for a timer (with a 0.3 s sleep in the stray,
    // a loaded machine put its output in run 1's step a: 1 failure in 9 at load 12):
    // step a ends once the stray has left its group (else the runner rightly keeps its
    // session for it); the stray writes once step b has started (mpf saw a's end, the runner
    // is idle); step b ends once run 1's runner has exited, which it does when mpf closes its
    // stdin. Every wait gives up after 20 s, and the assertions say what went wrong.
    let exp = write(
        dir.path(),
        "stray.yaml",
        &r#"name: stray
runs: 1
order: sequential
variables:
  i: [1, 2, 3]
steps:
  - name: a
    role: r
    run: |
      echo "mpf-result runner $PPID"
      if [ {{ i }} = 1 ]; then
        echo $PPID > DIR/runner
        setsid sh -c ': > DIR/apart; n=0; until [ -e DIR/b ] || [ $n -ge 2000 ]; do sleep 0.01; n=$((n + 1)); done; echo stray; echo stray >&2' &
        n=0; until [ -e DIR/apart ] || [ $n -ge 2000 ]; do sleep 0.01; n=$((n + 1)); done
      fi
  - name: b
    role: l
    run: |
      if [ {{ i }} = 1 ]; then
        : > DIR/b
        r=$(cat DIR/runner)
        n=0; while kill -0 "$r" 2>/dev/null && [ $n -lt 2000 ]; do sleep 0.01; n=$((n + 1)); done
      fi
"#
        .replace("DIR", &dir.path().display().to_string()),
    );
    let (set, records) = run_ok(dir.path(), &exp, &cluster);
    let runner = |n: usize| records[n]["results"]["runner"].as_f64().unwrap();
    // The runner of run 1 got the stray output while idle: run 2 has a new one, which run 3
    // keeps.
    assert_ne!(runner(0), runner(1));
    assert_eq!(runner(1), runner(2));
    for n in 0..3 {
        for stream in ["a.out", "a.err"] {
            let text = std::fs::read_to_string(set.join(format!("runs/{n:04}/r/{stream}")))
                .unwrap_or_default();
            assert!(!text.contains("stray"), "run {n} {stream}: {text}");
        }
    }
}

/// A machine whose host key ssh does not know: mpf's error says how to accept it, and with
/// `StrictHostKeyChecking=accept-new` in `ssh_options` the same run goes through and records
/// the key.
#[test]
fn an_unknown_host_key_is_refused_with_the_accept_new_hint_which_works() {
    let Some(bed) = Bed::new("an_unknown_host_key_is_refused_with_the_hint", 1) else {
        return;
    };
    let dir = bed.dir.path();
    std::fs::write(&bed.known_hosts, "").unwrap();
    let exp = write(
        dir,
        "e.yaml",
        "name: hk\nruns: 1\nsteps:\n  - name: s\n    role: r\n    run: echo v=1\n    results: {v: {regex: 'v=(\\d+)'}}\n",
    );
    let cluster = |extra: &str| {
        write(
            dir,
            "cluster.yaml",
            &format!(
                "machines:\n  - hostname: {}\n    user: root\n    identity: {}\n    ssh_options: [UserKnownHostsFile={}, IdentitiesOnly=yes{extra}]\n    role: r\n",
                bed.hosts[0].ip,
                bed.key.display(),
                bed.known_hosts.display()
            ),
        )
    };
    let refused = run_quiet(dir, &exp, &cluster("")).output().unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{err}");
    assert!(err.contains("Host key verification failed"), "{err}");
    assert!(
        err.contains("ssh_options: [StrictHostKeyChecking=accept-new]"),
        "{err}"
    );
    let (_, records) = run_ok(dir, &exp, &cluster(", StrictHostKeyChecking=accept-new"));
    assert_eq!(records.len(), 1);
    // The host's key (its name may be hashed, as HashKnownHosts does).
    let known = std::fs::read_to_string(&bed.known_hosts).unwrap();
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let key = host_pub.split_whitespace().nth(1).unwrap();
    assert!(known.contains(key), "key recorded: {known}");
}
