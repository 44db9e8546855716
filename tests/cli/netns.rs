//! A test bed of "hosts" made of network namespaces, each with its own sshd, on a private
//! bridge (10.77.N.0/24, addresses this module creates and nothing else). Everything is
//! removed when the `Bed` is dropped.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Held while a bed chooses its subnet and puts it on its bridge.
static SUBNETS: std::sync::Mutex<()> = std::sync::Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Host {
    pub ns: String,
    pub ip: String,
    /// The root-namespace end of the host's veth pair (set it down to cut the host off).
    pub veth: String,
    pub sshd_log: PathBuf,
    sshd: Option<Child>,
}

impl Host {
    /// Stops the host's sshd: connections to it are refused from now on.
    pub fn stop_sshd(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Bed {
    pub dir: tempfile::TempDir,
    pub tag: String,
    pub subnet: u32,
    pub bridge: String,
    pub hosts: Vec<Host>,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// Extra namespaces (no sshd) created by `add_namespace`.
    pub extra_ns: Vec<String>,
    /// Users created by `add_sh_user`.
    pub users: Vec<String>,
}

fn sh(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Why the bed cannot be built here, if it cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is not installed"));
        }
    }
    // One name per bed: tests building beds at once in this process must not collide.
    static PROBES: AtomicU32 = AtomicU32::new(0);
    let probe = format!(
        "mpf-probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    );
    if sh(&format!("ip netns add {probe} && ip netns del {probe}")).is_err() {
        return Some("ip netns is unavailable".into());
    }
    None
}

/// One host of a bed: its namespace, its veth pair on `bridge` (`peer` inside), its address
/// and its sshd (config in `dir`), which is returned.
fn build_host(h: &Host, dir: &Path, bridge: &str, peer: &str) -> Result<Child, String> {
    let (ns, ip, veth) = (&h.ns, &h.ip, &h.veth);
    sh(&format!(
        "ip netns add {ns} && ip link add {veth} type veth peer name {peer} && \
         ip link set {peer} netns {ns} && ip link set {veth} master {bridge} up && \
         ip netns exec {ns} ip addr add {ip}/24 dev {peer} && \
         ip netns exec {ns} ip link set {peer} up && ip netns exec {ns} ip link set lo up"
    ))?;
    let cfg = h.sshd_log.with_extension("conf");
    std::fs::write(
        &cfg,
        format!(
            "ListenAddress {ip}\nPort 22\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPidFile none\nPermitRootLogin yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nLogLevel INFO\nMaxSessions 10\nAcceptEnv CONTAINERS_CONF\n",
            d = dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    Command::new("ip")
        .args(["netns", "exec", ns, "/usr/sbin/sshd", "-D", "-f"])
        .arg(&cfg)
        .arg("-E")
        .arg(&h.sshd_log)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("sshd: {e}"))
}

impl Bed {
    /// Builds `n` hosts, or prints `SKIP test: why` and returns `None` (fails instead under
    /// `MPF_REQUIRE_NETNS=1`).
    pub fn new(test: &str, n: usize) -> Option<Bed> {
        if let Some(why) = unavailable() {
            // CI sets MPF_REQUIRE_NETNS=1: there a test bed that cannot be built is a failure,
            // never a silent skip.
            assert!(
                std::env::var_os("MPF_REQUIRE_NETNS").is_none_or(|v| v != "1"),
                "{test}: the namespace test bed is required (MPF_REQUIRE_NETNS=1) but {why}"
            );
            println!("SKIP {test}: {why}");
            return None;
        }
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("{:x}", (pid.wrapping_mul(16) + c) & 0xfffff);
        // A /24 no interface of this machine is in (a bed another run left behind may hold
        // one), chosen and taken under a lock, so that two beds of this run never race for it.
        let _taking = SUBNETS.lock().unwrap_or_else(|e| e.into_inner());
        let used = Command::new("ip")
            .args(["-o", "addr"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut subnet = (pid.wrapping_mul(7).wrapping_add(c * 13)) % 250 + 1;
        for _ in 0..250 {
            if !used.contains(&format!(" 10.77.{subnet}.")) {
                break;
            }
            subnet = subnet % 250 + 1;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bed = Bed {
            bridge: format!("mpb{tag}"),
            key: dir.path().join("client_key"),
            known_hosts: dir.path().join("known_hosts"),
            dir,
            tag,
            subnet,
            hosts: Vec::new(),
            extra_ns: Vec::new(),
            users: Vec::new(),
        };
        let bridge = bed.add_bridge();
        drop(_taking);
        bridge
            .and_then(|()| bed.build(n))
            .expect("building the namespace test bed");
        Some(bed)
    }

    /// The bed's bridge, with the bed's subnet.
    fn add_bridge(&self) -> Result<(), String> {
        let (br, s) = (&self.bridge, self.subnet);
        sh(&format!(
            "ip link add {br} type bridge && ip addr add 10.77.{s}.254/24 dev {br} && ip link set {br} up"
        ))
        .map(drop)
    }

    fn build(&mut self, n: usize) -> Result<(), String> {
        let d = self.dir.path().to_path_buf();
        let (br, s) = (self.bridge.clone(), self.subnet);
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {k} && cp {k}.pub {d}/authorized_keys && \
             ssh-keygen -q -t ed25519 -N '' -f {d}/host_key && mkdir -p /run/sshd",
            k = self.key.display(),
            d = d.display()
        ))?;
        let host_pub =
            std::fs::read_to_string(d.join("host_key.pub")).map_err(|e| e.to_string())?;
        // Registered before they exist, so that Drop removes whatever was created.
        for i in 0..n {
            self.hosts.push(Host {
                ns: format!("mpf-{}-{i}", self.tag),
                ip: format!("10.77.{s}.{}", i + 1),
                veth: format!("mpv{}{i}", self.tag),
                sshd_log: d.join(format!("sshd-{i}.log")),
                sshd: None,
            });
        }
        // Each host is a handful of `ip` commands and an sshd: built 16 at a time, 64 hosts
        // took 2.1 s at load 10 (one after another, 8.7 s at load 8).
        let tag = self.tag.clone();
        let next = AtomicU32::new(0);
        let built: Vec<Result<Vec<(usize, Child)>, String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n.min(16))
                .map(|_| {
                    scope.spawn(|| {
                        let mut sshds = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                            let Some(h) = self.hosts.get(i) else {
                                return Ok(sshds);
                            };
                            sshds.push((i, build_host(h, &d, &br, &format!("mpn{tag}{i}"))?));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err("a host builder panicked".into()))
                })
                .collect()
        });
        let mut failure = None;
        for r in built {
            match r {
                Ok(sshds) => {
                    for (i, child) in sshds {
                        self.hosts[i].sshd = Some(child);
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let known: String = self
            .hosts
            .iter()
            .map(|h| format!("{} {host_pub}", h.ip))
            .collect();
        std::fs::write(&self.known_hosts, known).map_err(|e| e.to_string())?;
        for h in &self.hosts {
            let addr: SocketAddr = format!("{}:22", h.ip).parse().unwrap();
            let start = Instant::now();
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if start.elapsed() > Duration::from_secs(10) {
                    return Err(format!("sshd on {} did not start", h.ip));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// `dir/cluster.yaml` binding `roles` (a YAML value: `r`, `[a, b]`) to the bed's first
    /// host as root, then `more` (lines of that machine, or further machines).
    pub fn first_host_cluster(&self, dir: &Path, roles: &str, more: &str) -> PathBuf {
        let text = format!(
            "machines:\n  - hostname: {}\n{}    role: {roles}\n{more}",
            self.hosts[0].ip,
            self.ssh_keys(4)
        );
        let path = dir.join("cluster.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A namespace without sshd (for namespace roles of a machine).
    pub fn add_namespace(&mut self, suffix: &str) -> String {
        let ns = format!("mpf-{}-{suffix}", self.tag);
        self.extra_ns.push(ns.clone());
        sh(&format!("ip netns add {ns}")).expect("ip netns add");
        ns
    }

    /// The ssh settings every machine of a test cluster carries, as YAML lines of a mapping
    /// at `indent` spaces.
    pub fn ssh_keys(&self, indent: usize) -> String {
        self.ssh_keys_for("root", indent)
    }

    /// `ssh_keys` for another user (one of `add_sh_user`).
    pub fn ssh_keys_for(&self, user: &str, indent: usize) -> String {
        let pad = " ".repeat(indent);
        format!(
            "{pad}user: {user}\n{pad}identity: {}\n{pad}ssh_options: [UserKnownHostsFile={}, StrictHostKeyChecking=yes, IdentitiesOnly=yes]\n",
            self.key.display(),
            self.known_hosts.display()
        )
    }

    /// A user whose login shell is `/bin/sh`, with an empty home (no rc file) and the bed's
    /// key authorised; removed with the bed. Its sessions run a step in the login shell itself.
    pub fn add_sh_user(&mut self) -> String {
        let user = format!("mpft{}", self.tag);
        let d = self.dir.path().display().to_string();
        let home = format!("{d}/home-{user}");
        self.users.push(user.clone());
        // sshd reads the keys file as the user; '*' rather than a locked '!' (no PAM here).
        sh(&format!(
            "chmod 711 {d} && chmod 644 {d}/authorized_keys && mkdir -m 700 {home} && \
             useradd -M -d {home} -s /bin/sh -p '*' {user} && chown {user} {home}"
        ))
        .expect("creating a /bin/sh user");
        user
    }

    /// `ssh_keys` for the user of `add_sh_user`.
    pub fn sh_user_keys(&self, indent: usize) -> String {
        let user = self.users.first().expect("add_sh_user first");
        self.ssh_keys(indent)
            .replacen("user: root", &format!("user: {user}"), 1)
    }

    /// Connections accepted by a host's sshd so far.
    pub fn logins(&self, i: usize) -> usize {
        std::fs::read_to_string(&self.hosts[i].sshd_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    /// Processes living in a host's namespace other than its sshd listener.
    pub fn processes_in(&self, ns: &str, except: Option<u32>) -> Vec<String> {
        let pids = sh(&format!("ip netns pids {ns}")).unwrap_or_default();
        pids.split_whitespace()
            .filter(|p| Some(p.parse::<u32>().unwrap_or(0)) != except)
            .filter_map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                let state = stat.rfind(')').map(|i| stat[i + 2..].chars().next());
                if state == Some(Some('Z')) {
                    return None;
                }
                Some(format!(
                    "{p}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ))
            })
            .collect()
    }

    pub fn sshd_pid(&self, i: usize) -> Option<u32> {
        self.hosts[i].sshd.as_ref().map(|c| c.id())
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut c) = h.sshd.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for ns in self
            .hosts
            .iter()
            .map(|h| h.ns.clone())
            .chain(self.extra_ns.clone())
        {
            // Whatever still lives in a namespace of this bed was started by the test.
            let _ = sh(&format!(
                "for p in $(ip netns pids {ns}); do kill -KILL $p; done; ip netns del {ns}"
            ));
        }
        for h in &self.hosts {
            let _ = sh(&format!("ip link del {} 2>/dev/null", h.veth));
        }
        for u in &self.users {
            let _ = sh(&format!("pkill -KILL -u {u}; userdel {u}"));
        }
        let _ = sh(&format!("ip link del {}", self.bridge));
    }
}
