//! Host sources (SPEC 14.1) end to end: clusters whose machines come from a host list, a node
//! file (`file`, `pbs`, `oar`), a command or an Ansible inventory, run on namespace hosts with
//! their own sshd (see `netns.rs`); `unreachable: drop`; `cluster.resolved.yaml` and the
//! manifest's `sessions`; the messages of mistakes.

use std::path::Path;
use std::process::Output;

use crate::common::{journal, manifest, mpf_in, only_set, write, Sandbox};
use crate::netns::Bed;

/// Each role's step proves where it runs: `ok=1` only on the host the role is bound to.
const EXPERIMENT: &str = "runs: 1\nsteps:\n  - name: s\n    role: server\n    run: \"ip -4 -o addr | grep -q ' {{ roles.server.ip }}/' && echo ok=1\"\n    results: {s_ok: 'ok=(\\d+)'}\n  - name: c\n    role: client\n    run: \"ip -4 -o addr | grep -q ' {{ roles.client.ip }}/' && echo ok=1\"\n    results: {c_ok: 'ok=(\\d+)'}\n";

/// `mpf run --no-plot` of `EXPERIMENT` on `cluster` (both written to `dir`) with `env` (the
/// schedulers' variables unset otherwise), which must exit `code`: its output.
fn run_code(dir: &Path, cluster: &str, env: &[(&str, &str)], code: i32) -> Output {
    let exp = write(dir, "e.yaml", EXPERIMENT);
    let c = write(dir, "cluster.yaml", cluster);
    let mut cmd = mpf_in(dir);
    cmd.args(["run", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&c)
        .env_remove("SLURM_JOB_ID")
        .env_remove("PBS_NODEFILE")
        .env_remove("OAR_NODEFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cluster}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `run_code` that must succeed: the set's directory.
fn run_with(dir: &Path, cluster: &str, env: &[(&str, &str)]) -> std::path::PathBuf {
    run_code(dir, cluster, env, 0);
    only_set(dir)
}

/// The run's results say each step ran on its role's host.
fn assert_ran_on_their_hosts(set: &Path) {
    let records = journal(set);
    assert_eq!(records.len(), 1, "{records:?}");
    let results = &records[0]["results"];
    assert_eq!(
        (results["s_ok"].as_f64(), results["c_ok"].as_f64()),
        (Some(1.0), Some(1.0)),
        "{records:?}"
    );
}

/// The session's machines as the manifest records them: `(name, address, roles)`.
fn session_machines(set: &Path) -> Vec<(String, Option<String>, Vec<String>)> {
    let m = manifest(set);
    let sessions = m["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{m}");
    sessions[0]["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["address"].as_str().map(str::to_string),
                x["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn roles(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn list_file_pbs_oar_and_command_sources_bind_roles_to_the_bed_hosts() {
    let Some(bed) = Bed::new("host_sources", 2) else {
        return;
    };
    let (a, b) = (bed.hosts[0].ip.clone(), bed.hosts[1].ip.clone());
    let keys = bed.ssh_keys(2);
    let role_lines = "roles:\n  server: 1\n  client: rest\n";
    let nodes = format!("{a}\n{a}\n{b}\n{b}\n");
    // (the cluster's hosts: lines, the variable naming the node file, what the session
    // records as its source)
    let cases: Vec<(String, Option<&str>, String)> = vec![
        (
            format!("  from: list\n  list: \"{a},{b}\"\n"),
            None,
            format!("hosts from list {a},{b}"),
        ),
        (
            "  from: file\n  file: nodes.txt\n".into(),
            None,
            "hosts from file".into(),
        ),
        (
            "  from: pbs\n".into(),
            Some("PBS_NODEFILE"),
            "hosts from pbs".into(),
        ),
        (
            "  from: oar\n".into(),
            Some("OAR_NODEFILE"),
            "hosts from oar".into(),
        ),
        (
            "  from: command\n  command: \"sort -u nodes.txt\"\n".into(),
            None,
            "hosts from command sort -u nodes.txt".into(),
        ),
    ];
    for (source, env, what) in cases {
        let dir = Sandbox::new();
        write(dir.path(), "nodes.txt", &nodes);
        let node_file = dir.path().join("nodes.txt").display().to_string();
        let env: Vec<(&str, &str)> = env.iter().map(|k| (*k, node_file.as_str())).collect();
        let cluster = format!("hosts:\n{source}{keys}{role_lines}");
        let set = run_with(dir.path(), &cluster, &env);
        assert_ran_on_their_hosts(&set);
        assert_eq!(
            session_machines(&set),
            [
                (a.clone(), None, roles(&["server"])),
                (b.clone(), None, roles(&["client"]))
            ],
            "{cluster}"
        );
        let m = manifest(&set);
        let source = m["sessions"][0]["source"].as_str().unwrap();
        assert!(source.starts_with(&what), "{source} / {what}");
        // The stored machines are a cluster file mpf reads: `mpf check` accepts it as one.
        let resolved = std::fs::read_to_string(set.join("cluster.resolved.yaml")).unwrap();
        assert!(
            resolved.contains(&format!("hostname: \"{b}\""))
                && resolved.contains("role: [\"client\"]"),
            "{resolved}"
        );
        let exp = dir.path().join("e.yaml");
        let out = mpf_in(dir.path())
            .arg("check")
            .arg(&exp)
            .arg("-c")
            .arg(set.join("cluster.resolved.yaml"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `mpf check -c` of the cluster itself shows the machines it resolves to.
        let mut check = mpf_in(dir.path());
        for (k, v) in &env {
            check.env(k, v);
        }
        let out = check
            .arg("check")
            .arg(&exp)
            .arg("-c")
            .arg(dir.path().join("cluster.yaml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip_while(|l| !l.starts_with("machines (hosts from"))
            .skip(2)
            .take(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec![a.as_str(), "-", "root", "-", "ssh", "server"],
                vec![b.as_str(), "-", "root", "-", "ssh", "client"]
            ],
            "{text}"
        );
    }
}

#[test]
fn ansible_inventories_in_yaml_and_ini_give_names_addresses_users_and_roles() {
    let Some(bed) = Bed::new("host_sources_ansible", 2) else {
        return;
    };
    if std::process::Command::new("ansible-inventory")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("MPF_REQUIRE_NETNS").is_none(),
            "ansible-inventory (ansible-core) is required on CI"
        );
        println!("SKIP ansible inventories: ansible-inventory is not installed");
        return;
    }
    let (a, b) = (bed.hosts[0].ip.clone(), bed.hosts[1].ip.clone());
    let yaml = format!(
        "all:\n  children:\n    server:\n      hosts:\n        web1: {{ansible_host: {a}, ansible_port: 22, ansible_user: root}}\n    client:\n      hosts:\n        load1:\n          ansible_host: {b}\n          ansible_user: root\n"
    );
    let ini = format!(
        "[server]\nweb1 ansible_host={a} ansible_port=22\n\n[client]\nload1 ansible_host={b}\n\n[all:vars]\nansible_user=root\n"
    );
    let keys = bed
        .ssh_keys(2)
        .replace("  user: root\n", "  user: nobody\n");
    for (name, inv) in [("inv.yml", yaml), ("inv.ini", ini)] {
        let dir = Sandbox::new();
        write(dir.path(), name, &inv);
        // Groups named like the experiment's roles bind them: no roles: needed. The
        // inventory's ansible_user wins over hosts: user.
        let cluster = format!("hosts:\n  from: ansible\n  inventory: {name}\n{keys}");
        let set = run_with(dir.path(), &cluster, &[]);
        assert_ran_on_their_hosts(&set);
        let mut machines = session_machines(&set);
        machines.sort();
        assert_eq!(
            machines,
            [
                ("load1".to_string(), Some(b.clone()), roles(&["client"])),
                ("web1".to_string(), Some(a.clone()), roles(&["server"])),
            ],
            "{name}"
        );
        let m = manifest(&set);
        let users: Vec<&str> = m["sessions"][0]["machines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user"].as_str().unwrap())
            .collect();
        assert_eq!(users, ["root", "root"], "{name}");
    }
}

#[test]
fn unreachable_drop_leaves_a_dead_host_out_and_records_it() {
    let Some(bed) = Bed::new("host_sources_drop", 2) else {
        return;
    };
    let (a, b) = (bed.hosts[0].ip.clone(), bed.hosts[1].ip.clone());
    // An address of the bed's subnet nothing answers on.
    let dead = format!("10.77.{}.250", bed.subnet);
    let keys = bed.ssh_keys(2).replace(
        "IdentitiesOnly=yes]",
        "IdentitiesOnly=yes, ConnectTimeout=3]",
    );
    let dir = Sandbox::new();
    let cluster = format!(
        "hosts:\n  from: list\n  list: \"{a},{dead},{b}\"\n  unreachable: drop\n{keys}roles:\n  server: 1\n  client: 1\n"
    );
    let out = run_code(dir.path(), &cluster, &[], 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "left out as unreachable (unreachable: drop): {dead}: "
        )),
        "{err}"
    );
    let set = only_set(dir.path());
    assert_ran_on_their_hosts(&set);
    assert_eq!(
        session_machines(&set),
        [
            (a.clone(), None, roles(&["server"])),
            (b.clone(), None, roles(&["client"]))
        ]
    );
    let m = manifest(&set);
    let dropped = m["sessions"][0]["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{dead}: ")),
        "{m}"
    );
    // Without drop, the same list fails as an unreachable cluster does: exit 4.
    let strict = cluster.replace("  unreachable: drop\n", "");
    run_code(dir.path(), &strict, &[], 4);
}

/// `mpf check` (or `run` with `run: true`) of a cluster, its message with the directory
/// replaced by `DIR`.
fn message(args: &[&str], cluster: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = Sandbox::new();
    write(dir.path(), "nodes.txt", "n1\nn2\nn3\n");
    let exp = write(dir.path(), "e.yaml", EXPERIMENT);
    let c = write(dir.path(), "cluster.yaml", cluster);
    let mut cmd = mpf_in(dir.path());
    cmd.args(args)
        .arg(&exp)
        .arg("-c")
        .arg(&c)
        .env_remove("SLURM_JOB_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().display().to_string();
    let canonical = std::fs::canonicalize(dir.path())
        .unwrap()
        .display()
        .to_string();
    (
        out.status.code(),
        text.replace(&canonical, "DIR").replace(&root, "DIR"),
    )
}

#[test]
fn mistakes_in_sources_and_roles_are_named_with_the_file() {
    let cases: [(&str, &[&str], &str); 6] = [
        ("too_few_hosts", &["check"], "hosts: {from: file, file: nodes.txt}\nroles:\n  server: 2\n  client: 2\n"),
        ("rest_empty", &["check"], "hosts: {from: file, file: nodes.txt}\nroles:\n  server: 3\n  client: rest\n"),
        ("unknown_host", &["check"], "hosts: {from: file, file: nodes.txt}\nroles:\n  server: \"n[3-4]\"\n  client: rest\n"),
        ("hostile_command_output", &["check"], "hosts: {from: command, command: \"echo n1; echo '-oProxyCommand=id'\"}\nroles: {server: 1, client: rest}\n"),
        ("srun_without_slurm", &["check"], "hosts: {from: list, list: \"n[1-2]\", transport: srun}\nroles: {server: 1, client: rest}\n"),
        ("slurm_without_a_job_run", &["run", "--quiet"], "hosts: {from: slurm}\nroles: {server: 1, client: rest}\n"),
    ];
    for (name, args, cluster) in cases {
        let (code, text) = message(args, cluster, &[]);
        assert_eq!(code, Some(2), "{name}: {text}");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn check_of_a_slurm_cluster_outside_a_job_checks_what_it_can() {
    let (code, text) = message(
        &["check"],
        "hosts: {from: slurm}\nroles: {server: 1, client: rest}\n",
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    insta::assert_snapshot!("slurm_outside_a_job_check", text);
    // A role the experiment uses and roles: does not give is still refused.
    let (code, text) = message(
        &["check"],
        "hosts: {from: slurm}\nroles: {server: 1}\n",
        &[],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no machine of") && text.contains("bears role 'client'"),
        "{text}"
    );
    // An inventory where ansible-inventory is not installed: its groups may bind any role.
    let (code, text) = message(
        &["check"],
        "hosts: {from: ansible, inventory: inv.yml}\n",
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("cannot run `ansible-inventory -i DIR/inv.yml --list`")
            && text.contains(
                "the experiment's roles are checked once the inventory's groups are read"
            ),
        "{text}"
    );
}

#[test]
fn resume_runs_on_the_resolved_machines_until_the_allocation_changes() {
    let Some(bed) = Bed::new("host_sources_resume", 2) else {
        return;
    };
    let (a, b) = (bed.hosts[0].ip.clone(), bed.hosts[1].ip.clone());
    let dir = Sandbox::new();
    let d = dir.path();
    // x = 2 fails until ok2 exists, x = 3 until ok3: three sessions.
    let exp = write(
        d,
        "e.yaml",
        &format!(
            "runs: 1\norder: sequential\non_failure: stop\nvariables:\n  x: [1, 2, 3, 4]\nsteps:\n  - name: s\n    role: server\n    run: 'if [ ! -e {d}/ok{{{{ x }}}} ] && [ {{{{ x }}}} -gt 1 ] && [ {{{{ x }}}} -lt 4 ]; then exit 1; fi; echo v {{{{ x }}}}'\n",
            d = d.display()
        ),
    );
    let cluster = write(
        d,
        "cluster.yaml",
        &format!(
            "hosts:\n  from: pbs\n{}roles: {{server: 1}}\n",
            bed.ssh_keys(2)
        ),
    );
    let nodes = write(d, "nodes.txt", &format!("{a}\n"));
    let session = |job: &str, resume: bool| {
        let mut cmd = mpf_in(d);
        cmd.args(["run", "-q", "--no-plot"])
            .env("PBS_NODEFILE", &nodes)
            .env("PBS_JOBID", job);
        if resume {
            cmd.args(["--resume", "latest"]);
        } else {
            cmd.arg(&exp).arg("-c").arg(&cluster);
        }
        cmd.output().unwrap()
    };
    let hosts_of = |set: &Path| -> Vec<String> {
        journal(set)
            .iter()
            .map(|r| r["steps"][0]["host"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(session("100", false).status.code(), Some(1));
    let set = only_set(d);
    // The node file now names another host; the allocation is the same: the set's resolved
    // machines are used.
    std::fs::write(&nodes, format!("{b}\n")).unwrap();
    std::fs::write(d.join("ok2"), "").unwrap();
    assert_eq!(session("100", true).status.code(), Some(1));
    assert_eq!(hosts_of(&set), [a.as_str(), a.as_str(), a.as_str()]);
    // A new allocation: resolved again, on the host its node file names.
    std::fs::write(d.join("ok3"), "").unwrap();
    // The bed's hosts share one machine's hardware: the first session's facts are made to
    // name another CPU, as another allocation's nodes would.
    let mut first = manifest(&set);
    assert_eq!(first["hosts"][0]["roles"][0], "server", "{first}");
    first["hosts"][0]["cpu_model"] = "Other CPU 9000".into();
    std::fs::write(set.join("manifest.json"), first.to_string()).unwrap();
    let out = session("200", true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("role server runs on other hardware than in the set's first session")
            && err.contains(&format!("first session {a}: Other CPU 9000 (")),
        "{err}"
    );
    assert_eq!(
        hosts_of(&set),
        [a.as_str(), a.as_str(), a.as_str(), b.as_str()]
    );
    let m = manifest(&set);
    let sessions = m["sessions"].as_array().unwrap();
    let summary: Vec<(Option<&str>, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s["allocation"].as_str(),
                s["machines"][0]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("100"), a.as_str()),
            (Some("100"), a.as_str()),
            (Some("200"), b.as_str())
        ],
        "{m}"
    );
    let resolved = std::fs::read_to_string(set.join("cluster.resolved.yaml")).unwrap();
    assert!(
        resolved.contains(&format!("hostname: \"{b}\"")),
        "{resolved}"
    );
}

#[test]
fn a_slurm_job_s_nodes_are_reached_over_ssh_at_their_node_addresses_and_over_srun() {
    let Some(s) = crate::slurm::SlurmBed::new("host_sources_slurm", 3) else {
        return;
    };
    let job = s.allocate(3);
    let dir = Sandbox::new();
    let d = dir.path();
    // No job: in the cluster file: $SLURM_JOB_ID, as inside salloc or sbatch.
    let text = format!(
        "hosts:\n  from: slurm\n{}roles:\n  server: n2\n  client: 1\n",
        s.bed.ssh_keys(2)
    );
    let conf = s.conf.display().to_string();
    let in_job = [
        ("SLURM_CONF", conf.as_str()),
        ("SLURM_JOB_ID", job.as_str()),
    ];
    run_code(d, &text, &in_job, 0);
    let exp = d.join("e.yaml");
    let set = only_set(d);
    assert_ran_on_their_hosts(&set);
    let ip = |i: usize| Some(s.bed.hosts[i].ip.clone());
    assert_eq!(
        session_machines(&set),
        [
            ("n1".to_string(), ip(0), roles(&["client"])),
            ("n2".to_string(), ip(1), roles(&["server"])),
        ]
    );
    let m = manifest(&set);
    assert_eq!(m["sessions"][0]["allocation"].as_str(), Some(job.as_str()));
    assert_eq!(
        m["sessions"][0]["source"].as_str(),
        Some(format!("hosts from slurm job {job}").as_str())
    );
    // The steps ran on n2 (server: named) and n1 (client: the first host left); n3 bears no
    // role. Names in records, addresses to connect.
    let records = journal(&set);
    let hosts: Vec<&str> = records[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["n2", "n1"]);
    // `mpf check -c` with the job given in the file: the machines with their addresses.
    let explicit = write(
        d,
        "job.yaml",
        &text.replace("from: slurm\n", &format!("from: slurm\n  job: {job}\n")),
    );
    let out = mpf_in(d)
        .arg("check")
        .arg(&exp)
        .arg("-c")
        .arg(&explicit)
        .env("SLURM_CONF", &s.conf)
        .env_remove("SLURM_JOB_ID")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let ip1 = &s.bed.hosts[1].ip;
    assert!(
        text.contains(&format!("machines (hosts from slurm job {job}):"))
            && text
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["n2", ip1.as_str(), "root", "-", "ssh", "server"])
            && text.contains("bearing no role (not used): n3"),
        "{text}"
    );
    // The same job's nodes through srun: no ssh settings at all.
    let dir = Sandbox::new();
    let d = dir.path();
    run_code(
        d,
        "hosts:\n  from: slurm\n  transport: srun\nroles:\n  server: n2\n  client: 1\n",
        &in_job,
        0,
    );
    let set = only_set(d);
    assert_ran_on_their_hosts(&set);
    let m = manifest(&set);
    let transports: Vec<(&str, &str)> = m["sessions"][0]["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap(),
                x["transport"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(transports, [("n1", "srun"), ("n2", "srun")]);
    let resolved = std::fs::read_to_string(set.join("cluster.resolved.yaml")).unwrap();
    assert!(
        resolved.contains(&format!("transport: srun\n    job: \"{job}\"")),
        "{resolved}"
    );
    s.cancel(&job);
}
