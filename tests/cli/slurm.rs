//! A real Slurm on the namespace test bed (`netns::Bed`), built by the tests as root.
//!
//! `SlurmBed::new(test, n)` makes n namespace hosts, each with its sshd as the netns bed has,
//! and on them a Slurm cluster of its own:
//! - one `munged` (foreground), its key in a 0700 directory of its own, its socket in a 0755
//!   one (munge refuses other modes); Slurm finds it through `AuthInfo=socket=...`;
//! - `slurmctld -D` in a UTS namespace of its own whose hostname is `SlurmctldHost`'s name
//!   (slurmctld starts only on the host it is configured for), listening on every address of
//!   the root namespace: the nodes reach it at the bridge's address;
//! - one `slurmd -D -N nK` per host, in the host's network namespace and a UTS namespace of
//!   its own whose hostname is its node name, `NodeAddr` the host's bridge address (node
//!   names do not resolve: whoever needs an address takes it from Slurm);
//! - per-node spool, pid and log files through `%n`; `ProctrackType=proctrack/linuxproc` and
//!   `TaskPlugin=task/none` (no cgroups: a double-forked process escapes `scancel`, which is
//!   why mpf's own guard must still get it); `cgroup.conf` names `cgroup/v1` because slurmd
//!   loads a cgroup plugin whatever the rest says and this machine's hybrid layout defeats its
//!   autodetection; `SchedulerParameters=batch_sched_delay=0` for quick `sbatch`;
//!   `SlurmdParameters=config_overrides` with 16 CPUs a node, so that a later allocation
//!   finds room beside a running one (a full node makes `salloc` wait);
//! - a private configuration directory and ports: every Slurm command (and mpf) gets
//!   `SLURM_CONF`; /etc/slurm is never read or written. `SlurmctldPort` comes from the bed's
//!   subnet (unique on the machine), so two beds exist at once, in this process or another.
//!
//! Drop cancels the jobs and kills every daemon, then the netns bed removes the namespaces
//! and whatever still lives in them. `MPF_REQUIRE_SLURM=1` (set by `.ci/run`) makes a Slurm
//! that cannot be built a failure, never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::Bed;

pub struct SlurmBed {
    pub bed: Bed,
    /// Slurm's files: `slurm.conf`, state, spool, logs.
    pub dir: PathBuf,
    pub conf: PathBuf,
    /// Node names, host i's is `nodes[i]`.
    pub nodes: Vec<String>,
    munged: Option<Child>,
    ctld: Option<Child>,
    slurmd: Vec<Child>,
}

const DAEMONS: [&str; 7] = [
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/bin/srun",
    "/usr/bin/salloc",
    "/usr/bin/scontrol",
    "/usr/bin/unshare",
];

/// Why Slurm cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    DAEMONS
        .iter()
        .find(|d| !Path::new(d).exists())
        .map(|d| format!("{d} is not installed (Debian: slurm-wlm, munge)"))
}

fn spawn(cmd: &mut Command, log: &Path) -> Result<Child, String> {
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))
}

impl SlurmBed {
    /// Builds `n` hosts running Slurm, or prints `SKIP test: why` and returns `None` (fails
    /// instead under `MPF_REQUIRE_SLURM=1`, or `MPF_REQUIRE_NETNS=1` for the namespaces).
    pub fn new(test: &str, n: usize) -> Option<SlurmBed> {
        if let Some(why) = unavailable() {
            assert!(
                std::env::var_os("MPF_REQUIRE_SLURM").is_none_or(|v| v != "1"),
                "{test}: the Slurm test bed is required (MPF_REQUIRE_SLURM=1) but {why}"
            );
            println!("SKIP {test}: {why}");
            return None;
        }
        let bed = Bed::new(test, n)?;
        let dir = bed.dir.path().join("slurm");
        let mut s = SlurmBed {
            conf: dir.join("etc/slurm.conf"),
            dir,
            nodes: (1..=n).map(|i| format!("n{i}")).collect(),
            bed,
            munged: None,
            ctld: None,
            slurmd: Vec::new(),
        };
        if let Err(e) = s.start() {
            panic!("{test}: building the Slurm test bed: {e}\n{}", s.logs());
        }
        Some(s)
    }

    /// The controller's port: from the bed's subnet, which no other bed on the machine holds.
    pub fn ctld_port(&self) -> u16 {
        21000 + 2 * self.bed.subnet as u16
    }

    fn start(&mut self) -> Result<(), String> {
        let d = self.dir.clone();
        let mk = |p: &str, mode: u32| -> Result<(), String> {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            let path = d.join(p);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())
        };
        for (p, mode) in [
            ("etc", 0o755),
            ("state", 0o700),
            ("log", 0o755),
            ("munge-key", 0o700),
            ("munge", 0o755),
        ] {
            mk(p, mode)?;
        }
        for node in &self.nodes {
            mk(&format!("spool/{node}"), 0o755)?;
        }
        // munged: a key of its own, in the foreground so that Drop holds it.
        let key = d.join("munge-key/munge.key");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .map_err(|e| e.to_string())?;
            let bytes: Vec<u8> = (0..128).map(|_| fastrand::u8(..)).collect();
            std::io::Write::write_all(&mut f, &bytes).map_err(|e| e.to_string())?;
        }
        let sock = d.join("munge/munge.socket");
        self.munged = Some(spawn(
            Command::new("/usr/sbin/munged")
                .args(["-F", "--force", "-S"])
                .arg(&sock)
                .arg("--key-file")
                .arg(&key)
                .arg("--pid-file")
                .arg(d.join("munge/munged.pid"))
                .arg("--log-file")
                .arg(d.join("log/munged.log"))
                .arg("--seed-file")
                .arg(d.join("munge/seed")),
            &d.join("log/munged.out"),
        )?);
        wait_until(Duration::from_secs(10), || sock.exists())
            .map_err(|()| "munged did not make its socket".to_string())?;

        let ctl = format!("mpfctl{}", self.bed.tag);
        let s = self.bed.subnet;
        let port = self.ctld_port();
        let mut conf = format!(
            "ClusterName=mpf{tag}\n\
             SlurmctldHost={ctl}(10.77.{s}.254)\n\
             SlurmctldPort={port}\n\
             SlurmdPort={slurmd_port}\n\
             AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={sock}\n\
             SlurmUser=root\nSlurmdUser=root\n\
             StateSaveLocation={d}/state\n\
             SlurmdSpoolDir={d}/spool/%n\n\
             SlurmctldPidFile={d}/log/slurmctld.pid\nSlurmctldLogFile={d}/log/slurmctld.log\n\
             SlurmdPidFile={d}/log/slurmd-%n.pid\nSlurmdLogFile={d}/log/slurmd-%n.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/none\nMpiDefault=none\nSwitchType=switch/none\n\
             SchedulerParameters=batch_sched_delay=0\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n\
             SlurmdParameters=config_overrides\n\
             ReturnToService=2\nKillWait=2\nInactiveLimit=0\nMinJobAge=30\n",
            tag = self.bed.tag,
            slurmd_port = port + 1,
            sock = sock.display(),
            d = d.display(),
        );
        for (node, h) in self.nodes.iter().zip(&self.bed.hosts) {
            conf.push_str(&format!(
                "NodeName={node} NodeAddr={} CPUs=16 State=UNKNOWN\n",
                h.ip
            ));
        }
        conf.push_str("PartitionName=all Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n");
        std::fs::write(&self.conf, conf).map_err(|e| e.to_string())?;
        std::fs::write(
            d.join("etc/cgroup.conf"),
            "CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n",
        )
        .map_err(|e| e.to_string())?;

        self.ctld = Some(spawn(
            Command::new("unshare")
                .args([
                    "--uts",
                    "sh",
                    "-c",
                    "hostname \"$0\" && exec slurmctld -D -i",
                ])
                .arg(&ctl)
                .env("SLURM_CONF", &self.conf),
            &d.join("log/slurmctld.out"),
        )?);
        for (node, h) in self.nodes.iter().zip(&self.bed.hosts) {
            let child = spawn(
                Command::new("ip")
                    .args(["netns", "exec", &h.ns, "unshare", "--uts", "sh", "-c"])
                    .arg("hostname \"$0\" && exec slurmd -D -N \"$0\"")
                    .arg(node)
                    .env("SLURM_CONF", &self.conf),
                &d.join(format!("log/slurmd-{node}.out")),
            )?;
            self.slurmd.push(child);
        }
        // Every node idle: the bed is ready for an allocation.
        let n = self.nodes.len();
        wait_until(Duration::from_secs(60), || self.idle_nodes() == n)
            .map_err(|()| format!("the {n} nodes did not all become idle"))
    }

    /// Nodes `sinfo` reports idle.
    pub fn idle_nodes(&self) -> usize {
        self.cmd("sinfo")
            .args(["-h", "-N", "-t", "idle", "-o", "%N"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    }

    /// A Slurm command (or mpf's) of this bed: `SLURM_CONF` set.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// Allocates `n` nodes (`salloc --no-shell --immediate`) and returns the job id.
    pub fn allocate(&self, n: usize) -> String {
        let out = self
            .cmd("salloc")
            .args(["--no-shell", "--immediate=20", "-N"])
            .arg(n.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("salloc");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "salloc: {err}\n{}", self.logs());
        err.split_whitespace()
            .last()
            .filter(|j| err.contains("Granted job allocation") && j.parse::<u32>().is_ok())
            .unwrap_or_else(|| panic!("no job id in salloc's words: {err}"))
            .to_string()
    }

    /// Cancels a job and waits until Slurm has it ended.
    pub fn cancel(&self, job: &str) {
        let _ = self.cmd("scancel").arg(job).status();
        let _ = wait_until(Duration::from_secs(30), || {
            self.cmd("squeue")
                .args(["-h", "-j", job, "-o", "%T"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().is_empty())
                .unwrap_or(true)
        });
    }

    /// `srun --jobid JOB -w NODE ...` of this bed, its output.
    pub fn srun(&self, job: &str, node: &str, argv: &[&str]) -> std::process::Output {
        self.cmd("srun")
            .args(["--jobid", job, "-w", node, "-N1", "-n1", "--overlap"])
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .expect("srun")
    }

    /// Processes in host i's namespace other than its sshd and slurmd (what a test started).
    pub fn leftovers(&self, i: usize) -> Vec<String> {
        let daemons = [self.bed.sshd_pid(i), self.slurmd.get(i).map(|c| c.id())];
        self.bed
            .processes_in(&self.bed.hosts[i].ns, None)
            .into_iter()
            .filter(|p| {
                let pid = p.split(':').next().and_then(|p| p.parse().ok());
                !daemons.contains(&pid)
            })
            .collect()
    }

    /// srun processes of this bed alive on this machine (told apart from another bed's by
    /// their `SLURM_CONF`).
    pub fn local_sruns(&self) -> Vec<String> {
        let conf = format!("SLURM_CONF={}", self.conf.display());
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let p = e.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let zombie = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                == Some("Z");
            if comm.trim() != "srun" || zombie {
                continue;
            }
            let env = std::fs::read(p.join("environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|v| v == conf.as_bytes()) {
                let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
                out.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
            }
        }
        out
    }

    /// A cluster file binding `roles[i]` (a YAML value) to node i, every machine a step of `job`.
    pub fn srun_cluster(&self, dir: &Path, name: &str, job: &str, roles: &[&str]) -> PathBuf {
        let mut text = String::from("machines:\n");
        for (node, role) in self.nodes.iter().zip(roles) {
            text.push_str(&format!(
                "  - hostname: {node}\n    role: {role}\n    transport: srun\n    job: {job}\n"
            ));
        }
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `mpf` with this bed's `SLURM_CONF`, run from `dir` with results under `dir/results`.
    pub fn mpf(&self, dir: &Path) -> assert_cmd::Command {
        let mut c = crate::common::mpf_in(dir);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// `mpf ARGS` as `mpf` runs it, its output (at most two minutes).
    pub fn run_mpf(&self, dir: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
        self.mpf(dir)
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    /// `mpf run --quiet --no-plot EXP -c CLUSTER` started in the background, as `mpf` runs it,
    /// its stderr piped.
    pub fn spawn_mpf_run(&self, dir: &Path, exp: &Path, cluster: &Path) -> Child {
        Command::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(dir)
            .env("MPF_RESULTS", dir.join("results"))
            .env("SLURM_CONF", &self.conf)
            .env("NO_COLOR", "1")
            .args(["run", "--quiet", "--no-plot"])
            .arg(exp)
            .arg("-c")
            .arg(cluster)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits until no process of a test is left on any node and no srun of this bed here;
    /// panics with what is left after `limit`.
    pub fn assert_nothing_left(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let nodes: Vec<String> = (0..self.nodes.len())
                .flat_map(|i| self.leftovers(i))
                .collect();
            let local = self.local_sruns();
            if nodes.is_empty() && local.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "left on the nodes: {nodes:#?}\nsrun here: {local:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemons' logs, for a failure's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("log")) {
            for e in rd.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("== {}\n", e.path().display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> Result<(), ()> {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > limit {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

impl Drop for SlurmBed {
    fn drop(&mut self) {
        if self.ctld.is_some() {
            let _ = self
                .cmd("scancel")
                .args(["--user", "root", "--full"])
                .stderr(Stdio::null())
                .status();
        }
        // The netns bed kills what is left in the namespaces (steps, tasks) and removes them.
        for mut c in self
            .slurmd
            .drain(..)
            .chain(self.ctld.take())
            .chain(self.munged.take())
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn an_allocation_of_four_nodes_runs_a_step_on_each() {
    let Some(s) = SlurmBed::new("an_allocation_of_four_nodes_runs_a_step_on_each", 4) else {
        return;
    };
    let job = s.allocate(4);
    let out = s
        .cmd("squeue")
        .args(["-h", "-j", &job, "-o", "%N %D"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n[1-4] 4");
    for (i, node) in s.nodes.iter().enumerate() {
        // Its hostname is its node name, and it lives in host i's network namespace.
        let out = s.srun(
            &job,
            node,
            &["sh", "-c", "hostname; ip -o -4 addr show scope global"],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.lines().next(), Some(node.as_str()), "{text}");
        assert!(
            text.contains(&format!(" {}/24", s.bed.hosts[i].ip)),
            "{text}"
        );
    }
    // A second bed at once: its own subnet, ports and controller.
    let Some(other) = SlurmBed::new("an_allocation_of_four_nodes_runs_a_step_on_each", 1) else {
        return;
    };
    assert_ne!(other.ctld_port(), s.ctld_port());
    let job2 = other.allocate(1);
    let out = other.srun(&job2, "n1", &["hostname"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n1");
    s.cancel(&job);
    for i in 0..4 {
        assert_eq!(s.leftovers(i), Vec::<String>::new(), "host {i}");
    }
}

/// The one result set under `dir/results`.
fn set_dir(dir: &Path) -> PathBuf {
    crate::common::only_set(dir)
}

/// A bed of `roles.len()` nodes, an allocation of them all, and in a fresh directory a cluster
/// file binding `roles[i]` to node i over srun and the experiment `exp`.
struct Setup {
    s: SlurmBed,
    job: String,
    dir: tempfile::TempDir,
    cluster: PathBuf,
    exp: PathBuf,
}

impl Setup {
    fn new(test: &str, roles: &[&str], exp: &str) -> Option<Setup> {
        let s = SlurmBed::new(test, roles.len())?;
        let job = s.allocate(roles.len());
        let dir = tempfile::tempdir().unwrap();
        let cluster = s.srun_cluster(dir.path(), "cluster.yaml", &job, roles);
        let exp = crate::common::write(dir.path(), "exp.yaml", exp);
        Some(Setup {
            s,
            job,
            dir,
            cluster,
            exp,
        })
    }

    /// `mpf COMMAND EXP -c CLUSTER ARGS`.
    fn mpf(&self, command: &str, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&std::ffi::OsStr> = vec![command.as_ref(), self.exp.as_os_str()];
        all.extend([std::ffi::OsStr::new("-c"), self.cluster.as_os_str()]);
        all.extend(args.iter().map(std::ffi::OsStr::new));
        self.s.run_mpf(self.dir.path(), &all)
    }
}

const FOUR: &str = r#"
name: four
runs: 1
variables:
  i: [1, 2, 3]
files:
  - role: a
    path: "{{ run_dir }}/given"
    content: "given {{ i }}"
steps:
  - name: bg
    role: b
    background: true
    run: sleep 30
  - name: fg
    role: [a, c, d]
    run: hostname > "$MPF_RUN_DIR/host"; head -c 1000000 /dev/urandom > "$MPF_RUN_DIR/blob"
  - name: res
    role: a
    run: echo mpf-result v {{ i }}; cat "$MPF_RUN_DIR/given"
"#;

/// An experiment on four nodes of an allocation, every session a step of the job: its runs,
/// results and collected files; nothing through ssh, nothing left behind.
#[test]
fn an_experiment_runs_over_srun_on_four_nodes() {
    let test = "an_experiment_runs_over_srun_on_four_nodes";
    let Some(t) = Setup::new(test, &["a", "b", "c", "d"], FOUR) else {
        return;
    };
    let (s, job, dir) = (&t.s, &t.job, &t.dir);
    // `mpf check` reaches every node as a step of the job.
    let out = t.mpf("check", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for node in &s.nodes {
        assert!(text.contains(node.as_str()), "{text}");
    }
    let out = t.mpf("run", &["--quiet", "--no-plot"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", s.logs());
    let set = set_dir(dir.path());
    let records = crate::common::journal(&set);
    assert_eq!(records.len(), 3, "{records:?}");
    for (n, r) in records.iter().enumerate() {
        assert_eq!(r["results"]["v"].as_f64(), Some(n as f64 + 1.0), "{r}");
        let run = set.join(format!("runs/{n:04}"));
        // The step ran on its node (the hostname of the node's UTS namespace: not reachable
        // over ssh, whose sessions have the machine's) and its files came back whole.
        for (role, node) in [("a", "n1"), ("c", "n3"), ("d", "n4")] {
            let host = std::fs::read_to_string(run.join(role).join("host")).unwrap();
            assert_eq!(host.trim(), node, "run {n} role {role}");
            let blob = std::fs::metadata(run.join(role).join("blob")).unwrap();
            assert_eq!(blob.len(), 1_000_000);
        }
        let given = std::fs::read_to_string(run.join("a/given")).unwrap();
        assert_eq!(given, format!("given {}", n + 1));
        let res = std::fs::read_to_string(run.join("a/res.out")).unwrap();
        assert!(res.contains(&format!("given {}", n + 1)), "{res}");
    }
    for i in 0..4 {
        assert_eq!(s.bed.logins(i), 0, "node {i} was reached over ssh");
    }
    // Nothing of srun's own in what the steps wrote.
    for e in walk(&set.join("runs")) {
        let text = String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned();
        assert!(!text.contains("srun:"), "{}: {text}", e.display());
    }
    // Steps go to runner sessions: n1 ran 6 steps and 3 collections, as jobs of long-lived
    // sessions, not as a job step each. A job step each would be 14 or more (check's and the
    // run's helpers, 3 file writes, 6 steps, 3 collections); 8 or 9 is seen, depending on
    // whether a second runner opened while the first was busy (timing, under load).
    let launched = std::fs::read_to_string(s.dir.join("log/slurmd-n1.log"))
        .unwrap()
        .matches(&format!("launch task StepId={job}."))
        .count();
    eprintln!("job steps launched on n1: {launched}");
    assert!(launched <= 10, "{launched} job steps on n1");
    s.assert_nothing_left(Duration::from_secs(10));
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const SLOW: &str = r#"
name: slow
runs: 1
variables:
  n: {range: [1, 3]}
steps:
  - name: daemon
    role: a
    background: true
    run: sleep 300
  - name: escape
    role: b
    background: true
    run: (sleep 303 &) ; sleep 304
  - name: work
    role: c
    run: sh -c 'sleep 301 & sleep 302'
    timeout: 600s
"#;

/// SIGKILL of mpf mid-run: the helper of every node sees its srun's stdin end and kills what
/// it registered, a double-forked process included (`scancel` would miss it without cgroups);
/// every srun here ends.
#[test]
fn sigkill_of_mpf_leaves_no_process_on_any_node() {
    let test = "sigkill_of_mpf_leaves_no_process_on_any_node";
    let Some(t) = Setup::new(test, &["a", "b", "c", "d"], SLOW) else {
        return;
    };
    let (s, job) = (&t.s, &t.job);
    let mut child = s.spawn_mpf_run(t.dir.path(), &t.exp, &t.cluster);
    let start = Instant::now();
    loop {
        let sleeping: usize = (0..3)
            .map(|i| {
                s.leftovers(i)
                    .iter()
                    .filter(|p| p.contains(": sleep 30"))
                    .count()
            })
            .sum();
        if sleeping >= 5 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "steps did not start\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    s.assert_nothing_left(Duration::from_secs(15));
    // The job itself is untouched: a step of it still runs.
    let out = s.srun(job, "n2", &["hostname"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n2");
}

const SWEEP: &str = r#"
name: sweep
runs: 1
variables:
  i: {range: [1, 6]}
steps:
  - name: other
    role: b
    background: true
    run: sleep 60
  - name: work
    role: a
    run: |
      if ! mkdir GATE/1 2>/dev/null && ! mkdir GATE/2 2>/dev/null; then
        n=0; until [ -e GATE/cancelled ] || [ $n -ge 1200 ]; do sleep 0.05; n=$((n + 1)); done
      fi
      sleep 0.7; echo mpf-result v {{ i }}
"#;

/// `scancel` of the job mid-run: mpf records no run the end of the job failed, leaves the set
/// incomplete and exits 75; `--resume` with a cluster file of a new allocation runs the rest,
/// each run once.
#[test]
fn a_cancelled_job_leaves_a_set_a_new_allocation_finishes() {
    let test = "a_cancelled_job_leaves_a_set_a_new_allocation_finishes";
    // The first two runs go through; the others wait (60 s at most) for the test to have
    // cancelled the job: the cancel is not a race with the rest of the sweep (four runs of
    // 0.7 s could end before a loaded Slurm ended the job).
    let gate = tempfile::tempdir().unwrap();
    let exp = SWEEP.replace("GATE", &gate.path().display().to_string());
    let Some(t) = Setup::new(test, &["a", "b"], &exp) else {
        return;
    };
    let (s, job, dir) = (&t.s, &t.job, &t.dir);
    let child = s.spawn_mpf_run(dir.path(), &t.exp, &t.cluster);
    let start = Instant::now();
    let set = loop {
        let set = std::fs::read_dir(dir.path().join("results"))
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path()).filter(|p| p.is_dir())));
        if let Some(set) = set.filter(|s| crate::common::journal(s).len() >= 2) {
            break set;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no two runs\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    s.cancel(job);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains(&format!("Slurm job {job} has ended")), "{err}");
    assert!(err.contains("mpf run --resume"), "{err}");
    let first = crate::common::journal(&set);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first.iter().all(|r| r["status"] == "ok"),
        "a run the end of the job failed was recorded: {first:?}"
    );
    assert_eq!(crate::common::manifest(&set)["status"], "incomplete");
    s.assert_nothing_left(Duration::from_secs(15));

    std::fs::write(gate.path().join("cancelled"), "").unwrap();
    let job2 = s.allocate(2);
    let cluster2 = s.srun_cluster(dir.path(), "cluster2.yaml", &job2, &["a", "b"]);
    let args = ["run", "--quiet", "--no-plot", "--resume", "latest", "-c"];
    let mut args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    args.push(cluster2.as_os_str());
    let out = s.run_mpf(dir.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let all = crate::common::journal(&set);
    let mut values: Vec<f64> = all
        .iter()
        .map(|r| r["results"]["v"].as_f64().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(
        values,
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "each run once: {all:?}"
    );
    assert_eq!(crate::common::manifest(&set)["status"], "complete");
    s.assert_nothing_left(Duration::from_secs(10));
}

/// Scraping Prometheus needs an ssh port forward, which srun cannot give: refused at load
/// (exit 2, at the endpoint's line), before anything connects. No Slurm needed.
#[test]
fn prometheus_on_an_srun_machine_is_refused_at_load() {
    let dir = crate::common::Sandbox::new();
    let cluster = dir.write(
        "cluster.yaml",
        "machines:\n  - hostname: n1\n    role: a\n    transport: srun\n    job: 77\n",
    );
    let exp = dir.write(
        "prom.yaml",
        "name: prom\nsteps:\n  - name: s\n    role: a\n    run: 'true'\nmonitor:\n  prometheus:\n    - {role: a, port: 9100}\n",
    );
    let out = dir
        .mpf()
        .args(["run", "--quiet"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .env("SLURM_CONF", "/nonexistent/slurm.conf")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("prom.yaml:8:"), "{err}");
    assert!(
        err.contains("machine n1 of that role is reached with transport: srun"),
        "{err}"
    );
    // Nothing ran: no result set.
    assert!(!dir.path().join("results").exists());
}

/// `sync:` over srun: rsync's remote shell is a step of the job (the tar fallback too).
#[test]
fn setup_syncs_a_directory_to_a_node_through_srun() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/hello.txt"), "hello 'there'\n").unwrap();
    // Bytes a terminal would change (`\n` to `\r\n`, control characters).
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(dir.path().join("src/blob"), &blob).unwrap();
    let dest = dir.path().join("on node");
    let exp = format!(
        "name: sy\nsetup:\n  - role: a\n    sync: {{from: \"{}\", to: \"{}\"}}\nsteps:\n  - name: s\n    role: a\n    run: cat \"{}/hello.txt\"; hostname\n",
        dir.path().join("src").display(),
        dest.display(),
        dest.display()
    );
    let Some(t) = Setup::new(
        "setup_syncs_a_directory_to_a_node_through_srun",
        &["a"],
        &exp,
    ) else {
        return;
    };
    let s = &t.s;
    let out = t.mpf("run", &["--no-plot"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let set = set_dir(t.dir.path());
    let setup = std::fs::read_to_string(set.join("setup/n1.log")).unwrap();
    assert!(setup.contains("$ sync "), "{setup}");
    assert!(
        !setup.contains("copying with tar"),
        "rsync itself failed: {setup}"
    );
    let log = std::fs::read_to_string(set.join("runs/0000/a/s.out")).unwrap();
    assert_eq!(std::fs::read(dest.join("blob")).unwrap(), blob);
    assert_eq!(log, "hello 'there'\nn1\n");
    assert_eq!(s.bed.logins(0), 0);
}

/// A job that is not running: the machines are unreachable at the start (exit 4), with
/// Slurm's own words and the job named.
#[test]
fn a_job_that_is_not_running_makes_its_nodes_unreachable() {
    let Some(s) = SlurmBed::new("a_job_that_is_not_running_makes_its_nodes_unreachable", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = s.srun_cluster(dir.path(), "cluster.yaml", "4242", &["a"]);
    let exp = crate::common::write(
        dir.path(),
        "e.yaml",
        "name: e\nsteps:\n  - name: s\n    role: a\n    run: 'true'\n",
    );
    let out = s
        .mpf(dir.path())
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("cannot reach machine n1 as a step of Slurm job 4242 on node n1"),
        "{err}"
    );
    assert!(err.contains("Invalid job id"), "{err}");
    s.assert_nothing_left(Duration::from_secs(5));
}

/// mpf inside a batch job (as a job script chained with `--dependency` runs it), its machines
/// the nodes of that same job over srun: the job's `SLURM_*` environment does not get in the
/// way of its steps.
#[test]
fn mpf_inside_a_batch_job_reaches_the_jobs_nodes_over_srun() {
    let Some(s) = SlurmBed::new("mpf_inside_a_batch_job_reaches_the_jobs_nodes_over_srun", 2)
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    crate::common::write(
        dir.path(),
        "e.yaml",
        "name: e\nruns: 2\nsteps:\n  - name: s\n    role: [a, b]\n    run: hostname > \"$MPF_RUN_DIR/host\"\n",
    );
    let script = crate::common::write(
        dir.path(),
        "job.sh",
        &format!(
            "#!/bin/sh\ncd {d}\nprintf 'machines:\\n  - {{hostname: n1, role: a, transport: srun, job: %s}}\\n  - {{hostname: n2, role: b, transport: srun, job: %s}}\\n' \"$SLURM_JOB_ID\" \"$SLURM_JOB_ID\" > cluster.yaml\nMPF_RESULTS={d}/results NO_COLOR=1 exec {mpf} run --quiet --no-plot e.yaml -c cluster.yaml\n",
            d = dir.path().display(),
            mpf = assert_cmd::cargo::cargo_bin("mpf").display()
        ),
    );
    let out = s
        .cmd("sbatch")
        .args(["--parsable", "-N2", "--wait", "-o"])
        .arg(dir.path().join("job.out"))
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("job.out")).unwrap_or_default();
    assert!(
        out.status.success(),
        "sbatch: {}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = set_dir(dir.path());
    let records = crate::common::journal(&set);
    assert_eq!(records.len(), 2, "{log}");
    for (n, r) in records.iter().enumerate() {
        assert_eq!(r["status"], "ok", "{r}");
        for (role, node) in [("a", "n1"), ("b", "n2")] {
            let host = std::fs::read_to_string(set.join(format!("runs/{n:04}/{role}/host")));
            assert_eq!(host.unwrap().trim(), node);
        }
    }
    s.assert_nothing_left(Duration::from_secs(10));
}

const TIMEOUT: &str = r#"
name: to
runs: 1
variables:
  i: [1, 2]
steps:
  - name: hang
    role: a
    run: (sleep 401 &) ; sleep 400
    timeout: 1s
"#;

/// A step's timeout over srun: the helper stops its group (a double-forked child included)
/// and the run fails as timed out; the next run goes on; nothing is left.
#[test]
fn a_step_over_srun_times_out_and_leaves_nothing() {
    let test = "a_step_over_srun_times_out_and_leaves_nothing";
    let Some(t) = Setup::new(test, &["a"], TIMEOUT) else {
        return;
    };
    let start = Instant::now();
    let out = t.mpf("run", &["--quiet", "--no-plot"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(start.elapsed() < Duration::from_secs(60), "{err}");
    let records = crate::common::journal(&set_dir(t.dir.path()));
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(r["status"], "failed", "{r}");
        assert!(
            r["error"].as_str().unwrap().contains("timed out after 1s"),
            "{r}"
        );
    }
    t.s.assert_nothing_left(Duration::from_secs(10));
}
