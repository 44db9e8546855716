//! Several machines per role (SPEC §10.1): a role bound to three namespace hosts, each with its
//! own sshd (see `netns.rs`), runs every step on all of them at once (a `ready:` waits for all),
//! with suffixed results,
//! `node.*` and `roles.<r>.hosts`; failures name the machine; SIGKILL, Ctrl-C and a cut link
//! leave nothing behind on any of them. The load errors and `mpf check -c`'s binding listing
//! need no hosts.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{journal, manifest, mpf_in, only_set, write};
use crate::netns::Bed;

/// The bed of a test: `n` hosts, logged into as a `/bin/sh` user.
fn bed(test: &str, n: usize) -> Option<Bed> {
    let mut bed = Bed::new(test, n)?;
    bed.add_sh_user();
    Some(bed)
}

/// A cluster binding role `r` to every host of the bed (and `solo` to the first).
fn cluster(bed: &Bed, dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("machines:\n");
    for (i, h) in bed.hosts.iter().enumerate() {
        let roles = if i == 0 { "[r, solo]" } else { "r" };
        text.push_str(&format!(
            "  - hostname: {}\n{}    role: {roles}\n    interfaces: [{{name: veth0, ip: {}}}]\n",
            h.ip,
            bed.sh_user_keys(4),
            h.ip
        ));
    }
    write(dir, "cluster.yaml", &text)
}

fn spawn_run(dir: &Path, exp: &Path, cluster: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir)
        .env("MPF_RESULTS", dir.join("results"))
        .args(["run", "--quiet", "--no-plot"])
        .arg(exp)
        .arg("-c")
        .arg(cluster)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Processes of the bed's hosts (their sshd listeners aside), and local ssh clients or
/// masters still talking to the bed.
fn leftovers(bed: &Bed) -> (Vec<String>, usize) {
    let left = (0..bed.hosts.len())
        .flat_map(|i| bed.processes_in(&bed.hosts[i].ns, bed.sshd_pid(i)))
        .collect();
    (
        left,
        crate::run::alive_with(&format!("10.77.{}.", bed.subnet)),
    )
}

/// Waits until nothing mpf started is left on any host or here.
fn assert_nothing_left(bed: &Bed, after: &str) {
    let start = Instant::now();
    loop {
        let (left, local_ssh) = leftovers(bed);
        if left.is_empty() && local_ssh == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "left after {after}: {left:?}, {local_ssh} local ssh processes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every host runs at least `n` processes whose command line holds `what`.
fn wait_on_every_host(bed: &Bed, what: &str, n: usize) {
    let start = Instant::now();
    loop {
        let counts: Vec<usize> = (0..bed.hosts.len())
            .map(|i| {
                bed.processes_in(&bed.hosts[i].ns, bed.sshd_pid(i))
                    .iter()
                    .filter(|p| p.contains(what))
                    .count()
            })
            .collect();
        if counts.iter().all(|c| *c >= n) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "steps did not start on every host: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const EVERYWHERE: &str = r#"name: many
runs: 1
order: sequential
variables:
  k: [1, 2]
setup:
  - role: r
    run: 'set -- $SSH_CONNECTION; echo "setup {{ node.index }}/{{ node.count }} on $3"'
cleanup:
  - role: [r, solo]
    run: echo "cleanup {{ role }} {{ node.index }}"
files:
  - role: r
    path: "{{ run_dir }}/given.txt"
    content: "file for {{ node.index }}"
steps:
  - name: serve
    role: r
    background: true
    ready: {log: "^up$", timeout: 20s}
    run: sleep {{ node.index * 0.3 }}; touch "{{ run_dir }}/up"; echo up; sleep 60
  - name: x
    role: r
    run: |
      test -e "{{ run_dir }}/up" || { echo "x started before serve was ready" >&2; exit 1; }
      echo "mpf-result v {{ node.index * 10 + k }}"
      echo "mpf-result count {{ node.count }}"
      set -- $SSH_CONNECTION
      echo "$3 {{ node.index }}/{{ node.count }} {{ node.name }} $(cat "{{ run_dir }}/given.txt") hosts:{% for h in roles.r.hosts %} {{ h.host }}={{ h.ip }}{% endfor %} first:{{ roles.r.ip }}" > "{{ run_dir }}/marker"
      sleep {{ node.index * 0.4 }}
    results:
      n: 'count (\d+)'
  - name: one
    role: solo
    run: echo "mpf-result w {{ k }}"
"#;

#[test]
fn a_role_on_three_hosts_runs_on_each_with_suffixed_results() {
    let Some(bed) = bed(
        "a_role_on_three_hosts_runs_on_each_with_suffixed_results",
        3,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(dir.path(), "many.yaml", EVERYWHERE);
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let set = only_set(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 2, "{records:?}");
    let ips: Vec<&str> = bed.hosts.iter().map(|h| h.ip.as_str()).collect();
    for rec in &records {
        let k = rec["point"]["k"].as_i64().unwrap();
        let res = &rec["results"];
        for (i, ip) in ips.iter().enumerate() {
            assert_eq!(
                res[format!("v.{ip}")].as_f64(),
                Some((i as i64 * 10 + k) as f64),
                "{res}"
            );
            assert_eq!(res[format!("count.{ip}")].as_f64(), Some(3.0), "{res}");
            assert_eq!(res[format!("n.{ip}")].as_f64(), Some(3.0), "{res}");
        }
        assert!(
            res.get("v").is_none() && res.get("count").is_none(),
            "{res}"
        );
        // A role of one machine keeps its unsuffixed names.
        assert_eq!(res["w"].as_f64(), Some(k as f64), "{res}");
        // The longest of the three machines, not suffixed.
        let d = res["x.duration"].as_f64().unwrap();
        assert!((0.8..5.0).contains(&d), "x.duration {d}: {res}");
        assert!(res.get(format!("x.duration.{}", ips[2])).is_none());
        assert_eq!(
            rec["steps"].as_array().unwrap().len(),
            7,
            "a step record per machine: {rec}"
        );
        // Each machine's run_dir comes back under `r.<machine>`, written on that machine.
        let run = set
            .join("runs")
            .join(format!("{:04}", rec["index"].as_u64().unwrap()));
        let hosts: Vec<String> = ips.iter().map(|ip| format!("{ip}={ip}")).collect();
        for (i, ip) in ips.iter().enumerate() {
            let marker = std::fs::read_to_string(run.join(format!("r.{ip}")).join("marker"))
                .unwrap_or_else(|e| panic!("marker of {ip}: {e}"));
            assert_eq!(
                marker.trim(),
                format!(
                    "{ip} {i}/3 {ip} file for {i} hosts: {} first:{}",
                    hosts.join(" "),
                    ips[0]
                )
            );
            assert!(run.join(format!("r.{ip}")).join("x.out").exists());
        }
        assert!(run.join("solo").join("one.out").exists());
    }
    // Setup and cleanup ran once on each machine (the first host bears both roles).
    for (i, ip) in ips.iter().enumerate() {
        let setup = std::fs::read_to_string(set.join("setup").join(format!("{ip}.log"))).unwrap();
        assert!(setup.contains(&format!("setup {i}/3 on {ip}")), "{setup}");
        let cleanup =
            std::fs::read_to_string(set.join("cleanup").join(format!("{ip}.log"))).unwrap();
        let said: Vec<&str> = cleanup
            .lines()
            .filter(|l| l.starts_with("cleanup "))
            .collect();
        assert_eq!(said, [format!("cleanup r {i}")], "{cleanup}");
    }
    // The manifest knows the suffixed results (with the declared result's unit).
    let names: Vec<String> = manifest(&set)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&format!("v.{}", ips[1])), "{names:?}");
    // A declared result is declared per machine; no column stays empty under the bare name.
    assert!(!names.contains(&"n".to_string()), "{names:?}");
    for ip in &ips {
        assert!(names.contains(&format!("n.{ip}")), "{names:?}");
    }
    // Extracting again reads each machine's stored output under its own name and declares
    // the results as the run did.
    let before: Vec<serde_json::Value> = records.iter().map(|r| r["results"].clone()).collect();
    let out = mpf_in(dir.path())
        .arg("extract")
        .arg(&set)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let again: Vec<serde_json::Value> =
        journal(&set).iter().map(|r| r["results"].clone()).collect();
    assert_eq!(again, before);
    let names_again: Vec<String> = manifest(&set)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names_again, names);
    assert_nothing_left(&bed, "the run");
}

#[test]
fn one_host_failing_fails_the_run_and_names_it() {
    let Some(bed) = bed("one_host_failing_fails_the_run_and_names_it", 3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(
        dir.path(),
        "fail.yaml",
        "name: fail\nruns: 1\nsteps:\n  - name: x\n    role: r\n    run: 'echo boom >&2; test {{ node.index }} != 1'\n",
    );
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rec = &journal(&only_set(dir.path()))[0];
    assert_eq!(rec["status"], "failed");
    assert_eq!(
        rec["error"].as_str().unwrap(),
        format!(
            "step 'x' on r (machine {}) exited with status 1: boom",
            bed.hosts[1].ip
        )
    );
    assert_nothing_left(&bed, "a failed run");
}

const SLOW: &str = r#"name: slow
runs: 3
order: sequential
steps:
  - name: serve
    role: r
    background: true
    run: sleep 311
  - name: work
    role: r
    run: sh -c 'sleep 301 & sleep 302; echo MARK'
    timeout: 600s
"#;

#[test]
fn sigkill_of_mpf_leaves_nothing_on_any_machine_of_a_role() {
    let Some(bed) = bed("sigkill_of_mpf_leaves_nothing_on_any_machine_of_a_role", 3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(dir.path(), "slow.yaml", SLOW);
    let mut child = spawn_run(dir.path(), &exp, &cluster);
    wait_on_every_host(&bed, ": sleep 30", 2);
    wait_on_every_host(&bed, ": sleep 311", 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_nothing_left(&bed, "SIGKILL");
}

#[test]
fn ctrl_c_stops_every_machine_of_a_role() {
    let Some(bed) = bed("ctrl_c_stops_every_machine_of_a_role", 3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(dir.path(), "slow.yaml", SLOW);
    let child = spawn_run(dir.path(), &exp, &cluster);
    wait_on_every_host(&bed, ": sleep 30", 2);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(manifest(&only_set(dir.path()))["status"], "interrupted");
    assert_nothing_left(&bed, "Ctrl-C");
}

#[test]
fn a_cut_link_to_one_machine_of_a_role_fails_its_runs_naming_it() {
    let Some(bed) = bed(
        "a_cut_link_to_one_machine_of_a_role_fails_its_runs_naming_it",
        3,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(
        dir.path(),
        "cut.yaml",
        "name: cut\nruns: 1\norder: sequential\non_failure: continue\nvariables:\n  i: {range: [1, 6]}\nsteps:\n  - name: work\n    role: r\n    timeout: 10s\n    run: sleep 0.3; echo \"mpf-result v {{ i }}\"\n",
    );
    let mut child = spawn_run(dir.path(), &exp, &cluster);
    let start = Instant::now();
    while recorded(dir.path()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no runs recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("ip")
        .args(["link", "set", &bed.hosts[2].veth, "down"])
        .status()
        .unwrap()
        .success());
    let cut = Instant::now();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    // The machine was lost during the runs: exit 4 (SPEC 20), not 1.
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(
        cut.elapsed() < Duration::from_secs(90),
        "{:?}",
        cut.elapsed()
    );
    let records = journal(&only_set(dir.path()));
    assert!(records.len() >= 3, "{records:?}");
    assert!(records.iter().take(2).all(|r| r["status"] == "ok"));
    let failed: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["status"] == "failed").collect();
    assert!(!failed.is_empty(), "{records:?}");
    for r in failed {
        let e = r["error"].as_str().unwrap();
        assert!(
            e.contains(&bed.hosts[2].ip),
            "error names the cut machine: {e}"
        );
    }
    // The hosts still reachable keep nothing; the cut one is sshd's to clean (see docs).
    let start = Instant::now();
    loop {
        let left: Vec<String> = (0..2)
            .flat_map(|i| bed.processes_in(&bed.hosts[i].ns, bed.sshd_pid(i)))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left on the reachable hosts: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs recorded so far by the set being written under `dir/results` (none before it exists).
fn recorded(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("results"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| journal(&e.path()).len())
        .sum()
}

/// `mpf check EXPERIMENT -c CLUSTER` in a fresh directory: exit code, stdout and stderr.
fn check(exp: &str, cluster: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "e.yaml", exp);
    write(dir.path(), "c.yaml", cluster);
    let out = mpf_in(dir.path())
        .args(["check", "e.yaml", "-c", "c.yaml"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn check_lists_the_machines_of_each_role() {
    // Namespace roles of this machine: `mpf check` reaches the machine, not the namespaces.
    let cluster = "machines:\n  - hostname: localhost\n    namespaces:\n      - {role: client, namespace: c1}\n      - {role: client, namespace: c2}\n      - {role: client, namespace: c3}\n      - {role: server, namespace: s1}\n";
    let exp = "name: fan\nsteps:\n  - {name: s, role: server, run: 'true', background: true}\n  - {name: c, role: client, run: 'echo {{ node.index }}/{{ node.count }} {{ roles.client.hosts | length }}'}\n";
    let (code, out, err) = check(exp, cluster);
    assert_eq!(code, Some(0), "{err}");
    let listing: String = out
        .lines()
        .skip_while(|l| !l.starts_with("roles on machines:"))
        .take_while(|l| !l.starts_with("machine "))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("check_binding", listing);
}

#[test]
fn bindings_and_names_that_cannot_work_are_refused_at_load() {
    let exp = "steps:\n  - {name: s, role: r, run: 'echo {{ node.index }}'}\n";
    let cases = [
        (
            "duplicate_host_in_role",
            "machines:\n  - {hostname: h1, role: r}\n  - {hostname: h2, role: r}\n  - {hostname: h1, role: r}\n",
            exp,
        ),
        (
            "duplicate_namespace_in_role",
            "machines:\n  - hostname: h1\n    namespaces:\n      - {role: r, namespace: n1}\n  - hostname: h2\n    namespaces:\n      - {role: r, namespace: n1}\n",
            exp,
        ),
        (
            "unknown_node_field",
            "machines:\n  - {hostname: h1, role: r}\n  - {hostname: h2, role: r}\n",
            "steps:\n  - {name: s, role: r, run: 'echo {{ node.rank }}'}\n",
        ),
    ];
    for (name, cluster, exp) in cases {
        let (code, _, err) = check(exp, cluster);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains(".yaml:"), "{name}: {err}");
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn namespaces_of_this_machine_can_share_a_role() {
    let Some(mut bed) = Bed::new("namespaces_of_this_machine_can_share_a_role", 0) else {
        return;
    };
    let (a, b) = (bed.add_namespace("a"), bed.add_namespace("b"));
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        &format!("machines:\n  - hostname: localhost\n    namespaces:\n      - {{role: r, namespace: {a}}}\n      - {{role: r, namespace: {b}}}\n"),
    );
    let exp = write(
        dir.path(),
        "ns.yaml",
        "name: ns\nruns: 1\nsteps:\n  - name: x\n    role: r\n    run: 'ip netns identify > \"{{ run_dir }}/ns.txt\"; echo \"mpf-result i {{ node.index }}\"'\n",
    );
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = only_set(dir.path());
    let rec = &journal(&set)[0];
    for (i, ns) in [&a, &b].into_iter().enumerate() {
        assert_eq!(
            rec["results"][format!("i.{ns}")].as_f64(),
            Some(i as f64),
            "{rec}"
        );
        let seen =
            std::fs::read_to_string(set.join("runs/0000").join(format!("r.{ns}/ns.txt"))).unwrap();
        assert_eq!(seen.trim(), ns.as_str());
    }
}

#[test]
fn monitoring_samples_every_machine_of_a_role() {
    let Some(bed) = bed("monitoring_samples_every_machine_of_a_role", 3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(
        dir.path(),
        "mon.yaml",
        "name: mon\nruns: 1\nmonitor: {interval: 200ms, metrics: [cpu, net]}\nsteps:\n  - name: work\n    role: r\n    run: sleep 1\n",
    );
    let out = mpf_in(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = only_set(dir.path());
    let rec = &journal(&set)[0];
    let csv = std::fs::read_to_string(set.join("runs/0000/monitor.csv")).unwrap();
    for (i, h) in bed.hosts.iter().enumerate() {
        let label = format!("r.{}", h.ip);
        // Each machine's own sampler, in its own namespace: its own interface, and no other
        // host's.
        let own = format!("net.mpn{}{i}.rx", bed.tag);
        for metric in ["cpu", own.as_str()] {
            assert!(
                csv.lines()
                    .any(|l| l.contains(&format!(",{label},{metric},"))),
                "no {metric} of {label} in\n{csv}"
            );
        }
        let other = format!("net.mpn{}{}.rx", bed.tag, (i + 1) % 3);
        assert!(
            !csv.lines()
                .any(|l| l.contains(&format!(",{label},{other},"))),
            "{label} sees {other}"
        );
        let cpu = rec["results"][format!("mon.cpu.{label}")].as_f64();
        assert!(
            cpu.is_some_and(|c| (0.0..=100.0).contains(&c)),
            "{}",
            rec["results"]
        );
    }
    assert!(
        rec["results"].get("mon.cpu.r").is_none(),
        "{}",
        rec["results"]
    );
    assert_nothing_left(&bed, "a monitored run");
}
