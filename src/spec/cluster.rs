//! The cluster file (SPEC §3): machines, the roles they bear (directly or in network
//! namespaces), their interfaces, and how to reach them. The original Python mpf format is
//! accepted as it is, YAML anchors and `<<` merge keys included.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::container::{Container, ContainerHost, RawContainer};
use super::de::{pos, shown, yaml_error, yaml_options, OneOrMany, ScalarText};
use super::hosts::{parse_hosts, parse_roles, HostSource, RawHosts, RawRoles, RoleSpec};
use crate::error::{Error, Result};
use crate::spec::{role_name_problem, Experiment, DEFAULT_ROLE};

/// Concurrent ssh sessions per machine unless the cluster file says otherwise; sshd's
/// `MaxSessions` defaults to 10 and mpf keeps one session for its guard.
pub(crate) const DEFAULT_MAX_SESSIONS: usize = 8;

/// The most sessions a machine may be given: far above any sshd's `MaxSessions`.
pub(crate) const MAX_SESSIONS_LIMIT: usize = 1024;

/// Machines connected, set up, cleaned up, asked for their facts or collected from at once
/// unless the cluster file says otherwise (SPEC §14.4).
pub(crate) const DEFAULT_FANOUT: usize = 64;

/// The largest `fanout` a cluster file may ask for.
pub(crate) const MAX_FANOUT: usize = 4096;

/// A network interface as templates see it (`roles.X.interfaces[i]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Interface {
    pub name: String,
    pub ip: String,
    pub link: Option<String>,
    pub direction: Option<String>,
    pub neighbour: Option<String>,
}

/// A role borne by a machine, possibly inside a network namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRole {
    pub name: String,
    /// Which of the role's machines this is: the host name as written, or the namespace
    /// name for a namespace role. Unique within the role; the suffix of its results when the
    /// role has several machines.
    pub node: String,
    pub namespace: Option<String>,
    pub cpu_id: Option<String>,
    pub interfaces: Vec<Interface>,
    /// Line of the role in the cluster file.
    pub line: u64,
}

/// One machine of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub hostname: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<String>,
    /// Extra `-o` options for ssh (`StrictHostKeyChecking=accept-new`, ...).
    pub ssh_options: Vec<String>,
    /// Runs commands on this machine without ssh (`local: true` or `hostname: localhost`).
    pub local: bool,
    pub max_sessions: usize,
    pub roles: Vec<ClusterRole>,
    pub line: u64,
    /// How mpf reaches the machine (SPEC §14.2): ssh unless a host source says `srun`.
    pub transport: MachineTransport,
    /// The address to connect to when it differs from `hostname` (a Slurm node's `NodeAddr`,
    /// an Ansible `ansible_host`); `hostname` stays the name in records and result suffixes.
    pub address: Option<String>,
    /// The machine is a container (SPEC §18.2), started by mpf for the session.
    pub container: Option<Container>,
}

/// How a machine is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MachineTransport {
    /// The system OpenSSH client over a ControlMaster (or no transport at all: `local`).
    #[default]
    Ssh,
    /// Steps of the Slurm job `job`: `srun --jobid JOB -w NODE -N1 -n1 --overlap ...`.
    Srun { job: String },
}

impl Machine {
    /// `user@host` (or `host`), as given to ssh: the `address` when there is one.
    pub fn destination(&self) -> String {
        let host = self.address.as_deref().unwrap_or(&self.hostname);
        match &self.user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub path: PathBuf,
    /// The file as written, stored verbatim in result sets.
    pub source: String,
    pub machines: Vec<Machine>,
    /// Notes for the user (ignored sections of the original format).
    pub notes: Vec<String>,
    /// `hosts:`: machines still to take from a host source (SPEC 14.1); `None` once
    /// `crate::hosts::resolve` has made them `machines` (or when the file lists them all).
    pub hosts: Option<HostSource>,
    /// `roles:`: which hosts of the source bear which role.
    pub roles: Vec<RoleSpec>,
    /// At most this many machines are connected, set up, cleaned up, asked for their facts
    /// or collected from at once.
    pub fanout: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    #[serde(default)]
    machines: Vec<Spanned<RawMachine>>,
    hosts: Option<Spanned<RawHosts>>,
    #[serde(default)]
    roles: RawRoles,
    fanout: Option<Spanned<i64>>,
    global: Option<Spanned<IgnoredAny>>,
    controller: Option<Spanned<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    hostname: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    identity: Option<Spanned<String>>,
    #[serde(default)]
    ssh_options: OneOrMany,
    local: Option<bool>,
    max_sessions: Option<Spanned<i64>>,
    role: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    interfaces: Vec<Spanned<RawInterface>>,
    #[serde(default)]
    namespaces: Vec<Spanned<RawNamespace>>,
    /// The address to connect to when it differs from the host name (as host sources and
    /// `cluster.resolved.yaml` give it).
    address: Option<Spanned<String>>,
    /// `ssh` (default) or `srun` (with `job`).
    transport: Option<Spanned<String>>,
    job: Option<Spanned<ScalarText>>,
    /// The machine is a container: `{engine, image, options, host}`.
    container: Option<Spanned<RawContainer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespace {
    role: Spanned<String>,
    namespace: Option<Spanned<String>>,
    cpu_id: Option<Spanned<ScalarText>>,
    #[serde(default)]
    interfaces: Vec<Spanned<RawInterface>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Option<String>,
    ip: Option<ScalarText>,
    link: Option<String>,
    direction: Option<String>,
    neighbour: Option<String>,
}

/// Reads and checks a cluster file.
pub(crate) fn load_cluster(path: &Path) -> Result<Cluster> {
    let bytes = super::de::read_input(path, "cluster file")?;
    let source = String::from_utf8(bytes)
        .map_err(|_| Error::input(path, 0, 0, "the cluster file is not UTF-8 text"))?;
    parse_cluster(path, &source)
}

fn interfaces(path: &Path, raw: &[Spanned<RawInterface>]) -> Result<Vec<Interface>> {
    let mut out = Vec::new();
    for i in raw {
        let (l, c) = pos(i);
        if let Some(d) = &i.value.direction {
            if d != "forward" && d != "backward" {
                return Err(Error::input(
                    path,
                    l,
                    c,
                    format!("interface direction '{d}' must be forward or backward"),
                ));
            }
        }
        out.push(Interface {
            name: i.value.name.clone().unwrap_or_default(),
            ip: i.value.ip.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
            link: i.value.link.clone(),
            direction: i.value.direction.clone(),
            neighbour: i.value.neighbour.clone(),
        });
    }
    Ok(out)
}

/// The value of a spanned string after `problem` found nothing wrong with it; else an input
/// error at its position.
fn checked<'a>(
    path: &Path,
    v: &'a Spanned<String>,
    problem: fn(&str) -> Option<String>,
) -> Result<&'a str> {
    match problem(&v.value) {
        None => Ok(&v.value),
        Some(m) => {
            let (l, c) = pos(v);
            Err(Error::input(path, l, c, m))
        }
    }
}

/// Host names reach ssh's command line and the remote shell: a DNS name or ssh_config alias
/// (letters, digits, `-`, `_`, labels separated by dots, no label starting with `-`), an IPv4
/// or an IPv6 address. Never an option (`-oProxyCommand=...`), never two words.
pub(crate) fn host_problem(h: &str) -> Option<String> {
    let h = h.trim();
    if h.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if h.len() <= 253 && h.split('.').all(label_ok) {
        return None;
    }
    Some(format!(
        "hostname '{}' is not a host name, an ssh alias or an IP address (letters, digits, - and _ in dot-separated labels, none starting with -)",
        shown(h)
    ))
}

/// A login name as POSIX and useradd allow it (letters, digits, `.`, `_`, `-`, a final `$`),
/// not starting with `-`.
pub(crate) fn user_problem(u: &str) -> Option<String> {
    let body = u.strip_suffix('$').unwrap_or(u);
    let ok = !body.is_empty()
        && u.len() <= 32
        && !body.starts_with('-')
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    (!ok).then(|| {
        format!(
            "user '{}' is not a valid user name (letters, digits, ., _ and -, not starting with -)",
            shown(u)
        )
    })
}

/// The identity file is given to ssh as an argument of `-i`; a newline or NUL would cut it.
pub(crate) fn identity_problem(i: &str) -> Option<String> {
    (i.trim().is_empty() || i.chars().any(char::is_control))
        .then(|| format!("identity '{}' is not a file path", shown(i)))
}

/// Network namespace names as `ip netns` takes them: a file name in /run/netns made of
/// letters, digits, `_`, `.` and `-`, not starting with `-` or `.`, at most 255 bytes.
fn namespace_problem(n: &str) -> Option<String> {
    let ok = n.len() <= 255
        && !n.starts_with(['-', '.'])
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    (!ok).then(|| {
        format!(
            "namespace '{}' is not a valid network namespace name (letters, digits, _, . and -, not starting with - or .)",
            shown(n)
        )
    })
}

/// A CPU list as `taskset -c` takes it: `3`, `0-3`, `0-7:2`, joined by commas.
fn cpu_list_problem(list: &str) -> Option<String> {
    let number = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let item_ok = |item: &str| {
        let (range, stride) = match item.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range_ok = match range.split_once('-') {
            Some((a, b)) => number(a) && number(b),
            None => number(range) && stride.is_none(),
        };
        range_ok && stride.is_none_or(number)
    };
    (list.is_empty() || !list.split(',').all(item_ok)).then(|| {
        format!(
            "cpu_id '{}' is not a CPU list (such as 1, 0-3 or 0,2,4-7)",
            shown(list)
        )
    })
}

/// The roles bound so far, each with its machines by node name (the host name, or the
/// namespace name for a namespace role): a role may be borne by several machines, each once.
#[derive(Default)]
struct Bindings(Vec<(String, String, u64)>);

impl Bindings {
    fn add(&mut self, path: &Path, role: &str, node: &str, l: u64, c: u64) -> Result<()> {
        if let Some(problem) = role_name_problem(role) {
            return Err(Error::input(path, l, c, problem));
        }
        if let Some((.., first)) = self.0.iter().find(|(r, n, _)| r == role && n == node) {
            return Err(Error::input(
                path,
                l,
                c,
                format!(
                    "role '{role}' is already bound to '{node}' at line {first} (the machines of a role need distinct host names, or namespace names for namespace roles)"
                ),
            ));
        }
        self.0.push((role.to_string(), node.to_string(), l));
        Ok(())
    }
}

/// A count of the file (`key`), 1 to `max`, `default` when absent; else an input error at
/// its position.
pub(crate) fn count_in(
    path: &Path,
    v: Option<&Spanned<i64>>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max as i64).contains(&n.value) => Ok(n.value as usize),
        Some(n) => {
            let (l, c) = pos(n);
            Err(Error::input(
                path,
                l,
                c,
                format!("{key} must be between 1 and {max}"),
            ))
        }
    }
}

/// Parses and checks cluster text (`path` is used for messages).
pub fn parse_cluster(path: &Path, source: &str) -> Result<Cluster> {
    if source.trim().is_empty() {
        return Err(Error::input(path, 1, 0, "the cluster file is empty"));
    }
    let raw: RawCluster = serde_saphyr::from_str_with_options(source, yaml_options())
        .map_err(|e| yaml_error(path, e))?;
    let mut notes = Vec::new();
    for (key, v) in [("global", &raw.global), ("controller", &raw.controller)] {
        if let Some(v) = v {
            notes.push(format!(
                "{}:{}: note: '{key}' (original mpf format) is accepted and ignored",
                path.display(),
                v.referenced.line()
            ));
        }
    }
    let hosts = raw
        .hosts
        .as_ref()
        .map(|h| parse_hosts(path, h))
        .transpose()?;
    let roles = parse_roles(path, &raw.roles, hosts.as_ref())?;
    if raw.machines.is_empty() && hosts.is_none() {
        return Err(Error::input(
            path,
            1,
            0,
            "the cluster file has no machines (list them under machines:, or take them from a source with hosts:)",
        ));
    }
    let fanout = count_in(
        path,
        raw.fanout.as_ref(),
        "fanout",
        DEFAULT_FANOUT,
        MAX_FANOUT,
    )?;
    let mut machines = Vec::new();
    // Each machine's container `host:` as written, resolved once every machine is known.
    let mut container_hosts = Vec::new();
    let mut bindings = Bindings::default();
    for m in &raw.machines {
        let (line, col) = pos(m);
        let r = &m.value;
        let container = match &r.container {
            Some(c) => Some(c.value.check(path, pos(c))?),
            None => None,
        };
        let local = container.is_none()
            && (r.local.unwrap_or(false)
                || matches!(
                    r.hostname.as_ref().map(|h| h.value.as_str()),
                    Some("localhost" | "127.0.0.1" | "::1")
                ));
        let hostname = match (&r.hostname, local) {
            (Some(h), _) if !h.value.trim().is_empty() => {
                checked(path, h, host_problem)?.trim().to_string()
            }
            (_, true) => "localhost".to_string(),
            _ => return Err(Error::input(path, line, col, "machine without a hostname")),
        };
        let user = match &r.user {
            Some(u) => Some(checked(path, u, user_problem)?.to_string()),
            None => None,
        };
        let port = match &r.port {
            Some(p) if p.value == 0 => {
                let (l, c) = pos(p);
                return Err(Error::input(path, l, c, "port must be between 1 and 65535"));
            }
            Some(p) => Some(p.value),
            None => None,
        };
        let identity = match &r.identity {
            Some(i) => Some(checked(path, i, identity_problem)?.to_string()),
            None => None,
        };
        let address = match &r.address {
            Some(a) => Some(checked(path, a, host_problem)?.trim().to_string()),
            None => None,
        };
        let transport = machine_transport(path, r)?;
        if container.is_some() && (transport != MachineTransport::Ssh || r.local == Some(true)) {
            return Err(Error::input(
                path,
                line,
                col,
                "a container machine is reached through its engine: transport: srun and local: true do not go with container: (without host: the container runs on this machine)",
            ));
        }
        let max_sessions = count_in(
            path,
            r.max_sessions.as_ref(),
            "max_sessions",
            DEFAULT_MAX_SESSIONS,
            MAX_SESSIONS_LIMIT,
        )?;
        let mut roles = Vec::new();
        let ifs = interfaces(path, &r.interfaces)?;
        if let Some(rs) = &r.role {
            let (l, c) = pos(rs);
            for name in &rs.value.0 {
                bindings.add(path, name, &hostname, l, c)?;
                roles.push(ClusterRole {
                    name: name.clone(),
                    node: hostname.clone(),
                    namespace: None,
                    cpu_id: None,
                    interfaces: ifs.clone(),
                    line: l,
                });
            }
        }
        for ns in &r.namespaces {
            let (l, c) = pos(&ns.value.role);
            let namespace = match &ns.value.namespace {
                Some(n) if !n.value.is_empty() => {
                    Some(checked(path, n, namespace_problem)?.to_string())
                }
                _ => None,
            };
            let node = namespace.clone().unwrap_or_else(|| hostname.clone());
            bindings.add(path, &ns.value.role.value, &node, l, c)?;
            let cpu_id = match &ns.value.cpu_id {
                Some(c) => {
                    let (l, col) = pos(c);
                    if let Some(problem) = cpu_list_problem(&c.value.0) {
                        return Err(Error::input(path, l, col, problem));
                    }
                    Some(c.value.0.clone())
                }
                None => None,
            };
            roles.push(ClusterRole {
                name: ns.value.role.value.clone(),
                node,
                namespace,
                cpu_id,
                interfaces: interfaces(path, &ns.value.interfaces)?,
                line: l,
            });
        }
        if roles.is_empty() {
            return Err(Error::input(
                path,
                line,
                col,
                format!("machine '{hostname}' bears no role (add role: or namespaces:)"),
            ));
        }
        machines.push(Machine {
            hostname,
            user,
            port,
            identity,
            ssh_options: r.ssh_options.0.clone(),
            local,
            max_sessions,
            roles,
            line,
            transport,
            address,
            container,
        });
        container_hosts.push(r.container.as_ref().and_then(|c| c.value.host()));
    }
    resolve_container_hosts(path, &mut machines, container_hosts)?;
    Ok(Cluster {
        path: path.to_path_buf(),
        source: source.to_string(),
        machines,
        notes,
        hosts,
        roles,
        fanout,
    })
}

/// Where each container machine's engine runs: `host:` names a machine of the cluster (its
/// ssh settings then reach the engine), `localhost`, or an ssh destination `[user@]host`
/// (reached with the container machine's own port, identity and ssh options).
fn resolve_container_hosts(
    path: &Path,
    machines: &mut [Machine],
    hosts: Vec<Option<Spanned<String>>>,
) -> Result<()> {
    for (i, host) in hosts.into_iter().enumerate() {
        let Some(h) = host else { continue };
        let (l, c) = pos(&h);
        let name = h.value.trim();
        let named = machines
            .iter()
            .find(|m| m.hostname == name && m.container.is_none());
        let resolved = match named {
            Some(m) if m.local => ContainerHost::Local,
            Some(m) if m.transport != MachineTransport::Ssh => {
                return Err(Error::input(
                    path,
                    l,
                    c,
                    format!("container host '{name}' is reached with srun: a container's engine runs on this machine or over ssh"),
                ))
            }
            Some(m) => ContainerHost::Ssh {
                destination: m.destination(),
                port: m.port,
                identity: m.identity.clone(),
                ssh_options: m.ssh_options.clone(),
            },
            None if matches!(name, "localhost" | "127.0.0.1" | "::1") => ContainerHost::Local,
            None => {
                let (user, host) = match name.rsplit_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, name),
                };
                let problem = user
                    .and_then(user_problem)
                    .or_else(|| host_problem(host))
                    .or_else(|| {
                        let container = |m: &&Machine| m.container.is_some();
                        machines.iter().filter(container).any(|m| m.hostname == host).then(|| {
                            format!("container host '{host}' is a container machine itself")
                        })
                    });
                if let Some(p) = problem {
                    return Err(Error::input(path, l, c, p));
                }
                let m = &machines[i];
                ContainerHost::Ssh {
                    destination: name.to_string(),
                    port: m.port,
                    identity: m.identity.clone(),
                    ssh_options: m.ssh_options.clone(),
                }
            }
        };
        if let Some(container) = machines[i].container.as_mut() {
            container.host = resolved;
        }
    }
    Ok(())
}

/// A machine's `transport:` (`ssh`, or `srun` with the `job:` whose steps reach it).
fn machine_transport(path: &Path, r: &RawMachine) -> Result<MachineTransport> {
    let job = r.job.as_ref().map(|j| (pos(j), j.value.0.as_str()));
    match (
        r.transport.as_ref().map(|t| (pos(t), t.value.as_str())),
        job,
    ) {
        (None | Some((_, "ssh")), None) => Ok(MachineTransport::Ssh),
        (Some((_, "srun")), Some((_, job))) if super::hosts::slurm_job_ok(job) => {
            Ok(MachineTransport::Srun {
                job: job.to_string(),
            })
        }
        (Some(((l, c), "srun")), _) => Err(Error::input(
            path,
            l,
            c,
            "transport: srun needs job: with a Slurm job id",
        )),
        (_, Some(((l, c), _))) => Err(Error::input(path, l, c, "job: goes with transport: srun")),
        (Some(((l, c), other)), None) => Err(Error::input(
            path,
            l,
            c,
            format!("transport '{}' must be ssh or srun", shown(other)),
        )),
    }
}

impl Cluster {
    /// Every role name the cluster binds.
    pub fn role_names(&self) -> BTreeSet<String> {
        // `roles:` of a source not resolved here (`mpf check` outside the job) too.
        self.machines
            .iter()
            .flat_map(|m| m.roles.iter().map(|r| r.name.clone()))
            .chain(self.roles.iter().map(|r| r.name.clone()))
            .collect()
    }

    /// Each role with the node names of its machines, in the order of the file.
    pub fn binding(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in self.machines.iter().flat_map(|m| &m.roles) {
            out.entry(r.name.clone()).or_default().push(r.node.clone());
        }
        out
    }

    /// The experiment's results as its runs on this cluster name them: a declared result of a
    /// step on a role of several machines is one result per machine, suffixed with the
    /// machine (SPEC §10.1); the rest as `Experiment::result_infos` gives them.
    pub fn result_infos(&self, exp: &Experiment) -> Vec<crate::model::ResultInfo> {
        let binding = self.binding();
        let mut expand: std::collections::HashMap<String, Vec<String>> = Default::default();
        for step in &exp.steps {
            let sel = &step.role;
            if sel.is_templated() || sel.names.iter().any(|n| n == "all") {
                continue;
            }
            let several_roles = sel.names.len() > 1;
            let declared = crate::spec::experiment::result_infos(std::slice::from_ref(step));
            // Aggregates across machines (`goodput.sum`) are one result for the role.
            let across: Vec<String> = step
                .results
                .iter()
                .flat_map(|e| e.across.iter().map(|a| e.across_result(*a)))
                .collect();
            for info in declared.iter().filter(|i| !i.name.ends_with(".duration")) {
                let role = match (several_roles, info.name.rsplit_once('.')) {
                    (true, Some((_, r))) => r,
                    _ => sel.names[0].as_str(),
                };
                let unsuffixed = match several_roles {
                    true => info.name.rsplit_once('.').map_or("", |(n, _)| n),
                    false => info.name.as_str(),
                };
                if across.iter().any(|a| a == unsuffixed) {
                    continue;
                }
                if let Some(nodes) = binding.get(role).filter(|n| n.len() > 1) {
                    let names = nodes.iter().map(|n| format!("{}.{n}", info.name));
                    expand.insert(info.name.clone(), names.collect());
                }
            }
        }
        exp.result_infos()
            .into_iter()
            .flat_map(|info| match expand.get(&info.name) {
                Some(names) => names
                    .iter()
                    .map(|n| crate::model::ResultInfo {
                        name: n.clone(),
                        ..info.clone()
                    })
                    .collect(),
                None => vec![info],
            })
            .collect()
    }

    /// The binding as `mpf check -c` lists it: each role with its machines (node names).
    pub fn binding_text(&self) -> String {
        let mut s = String::from("roles on machines:\n");
        for (role, nodes) in self.binding() {
            let count = match nodes.len() {
                1 => String::new(),
                n => format!("  ({n} machines: results suffixed .<machine>)"),
            };
            s.push_str(&format!("  {role}: {}{count}\n", nodes.join(", ")));
        }
        s
    }

    /// Refuses an experiment that uses roles the cluster does not bind, at the line of the
    /// experiment that uses them, then checks its templates against the cluster's roles.
    /// `local` (steps without a role) is always bound to the machine mpf runs on.
    pub fn check_experiment(&self, exp: &Experiment) -> Result<()> {
        super::container::check_images(self, exp)?;
        if self.hosts.as_ref().is_some_and(|h| h.kind.groups) {
            // An inventory not read here (`mpf check` without ansible-inventory): its groups
            // may bind any role, so roles are checked once it is read.
            return super::check_templates(exp, None);
        }
        let mut known = self.role_names();
        known.insert(DEFAULT_ROLE.to_string());
        for sel in exp.role_sels() {
            if let Some(missing) = exp.sel_roles(sel).into_iter().find(|r| !known.contains(r)) {
                let candidates = self.role_names();
                return Err(Error::Input {
                    location: sel.loc.clone(),
                    message: format!(
                        "no machine of {} bears role '{missing}'{} (roles there: {}){}",
                        self.path.display(),
                        if sel.is_templated() {
                            format!(", which {} can render to", sel.names.join(", "))
                        } else {
                            String::new()
                        },
                        candidates.iter().cloned().collect::<Vec<_>>().join(", "),
                        crate::template::did_you_mean(
                            &missing,
                            candidates.iter().map(String::as_str)
                        ),
                    ),
                });
            }
        }
        super::check_templates(exp, Some(&known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"
global:
  python_path: /path/to/python
machines:
  - &controller_def
    hostname: localhost
    user: root
    role: main
    interfaces:
      - name: lo
        ip: 127.0.0.1
        link: loopback
        direction: forward
  - hostname: node2
    user: root
    namespaces:
      - role: ns-node
        namespace: ns-00
        cpu_id: 1
        interfaces:
        - name: lo
          ip: 127.0.0.1
controller:
  <<: *controller_def
  ports: '65400-65432'
  control_ip: ::1
"#;

    #[test]
    fn original_format_is_accepted() {
        let c = parse_cluster(Path::new("c.yaml"), ORIGINAL).unwrap();
        assert_eq!(c.machines.len(), 2);
        assert!(c.machines[0].local);
        assert_eq!(c.machines[0].roles[0].name, "main");
        let ns = &c.machines[1].roles[0];
        assert_eq!(
            (ns.namespace.as_deref(), ns.cpu_id.as_deref(), ns.line),
            (Some("ns-00"), Some("1"), 17)
        );
        assert!(!c.machines[1].local);
        assert_eq!(c.notes.len(), 2);
    }

    #[test]
    fn merge_keys_fill_machines() {
        let text = "defaults: &d {user: bob, port: 2222}\nmachines:\n  - <<: *d\n    hostname: a\n    role: server\n";
        // `defaults` is not a cluster key: anchors live inside known sections.
        assert!(parse_cluster(Path::new("c.yaml"), text).is_err());
        let text = "machines:\n  - &m {hostname: a, user: bob, port: 2222, role: server}\n  - <<: *m\n    hostname: b\n    role: client\n";
        let c = parse_cluster(Path::new("c.yaml"), text).unwrap();
        assert_eq!(c.machines[1].destination(), "bob@b");
        assert_eq!(c.machines[1].port, Some(2222));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - hostname: a\n    role: s\n    bogus: 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.yaml:4"), "{e}");
        let e = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: a, role: s}\n  - {hostname: a, role: s}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.yaml:3") && e.contains("already bound to 'a' at line 2"),
            "{e}"
        );
    }

    #[test]
    fn fanout_is_read_and_bounded() {
        let parse = |text: &str| parse_cluster(Path::new("c.yaml"), text);
        let machine = "machines:\n  - {hostname: a, role: s}\n";
        assert_eq!(parse(machine).unwrap().fanout, DEFAULT_FANOUT);
        let c = parse(&format!("fanout: 8\n{machine}")).unwrap();
        assert_eq!(c.fanout, 8);
        let c = parse(&format!("{machine}fanout: 4096\n")).unwrap();
        assert_eq!(c.fanout, MAX_FANOUT);
        for bad in ["0", "-1", "4097", "100000000000"] {
            let e = cluster_err(&format!("{machine}fanout: {bad}\n"));
            assert!(
                e.starts_with("c.yaml:3:") && e.contains("fanout must be between 1 and 4096"),
                "{bad}: {e}"
            );
        }
        let e = cluster_err(&format!("fanout: many\n{machine}"));
        assert!(e.starts_with("c.yaml:1:"), "{e}");
    }

    fn cluster_err(text: &str) -> String {
        parse_cluster(Path::new("c.yaml"), text)
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn values_that_reach_ssh_or_the_shell_are_checked_at_load() {
        let cases = [
            (
                "hostname: -oProxyCommand=x, role: s",
                "hostname '-oProxyCommand=x'",
            ),
            ("hostname: 'a b', role: s", "is not a host name"),
            ("hostname: \"a;id\", role: s", "is not a host name"),
            ("hostname: a, user: \"-oX\", role: s", "user '-oX'"),
            (
                "hostname: a, user: \"r t\", role: s",
                "is not a valid user name",
            ),
            (
                "hostname: a, port: 0, role: s",
                "port must be between 1 and 65535",
            ),
            (
                "hostname: a, max_sessions: 100000000000, role: s",
                "max_sessions must be between 1 and 1024",
            ),
            (
                "hostname: a, role: ../up",
                "'../up' is not a valid role name",
            ),
            (
                "hostname: a, role: /tmp/x",
                "'/tmp/x' is not a valid role name",
            ),
            ("hostname: a, role: all", "'all' means every role"),
        ];
        for (machine, what) in cases {
            let e = cluster_err(&format!("machines:\n  - {{{machine}}}\n"));
            assert!(
                e.starts_with("c.yaml:2:") && e.contains(what),
                "{machine}: {e}"
            );
        }
        let ns = |namespace: &str, cpu: &str| {
            cluster_err(&format!(
                "machines:\n  - hostname: a\n    namespaces:\n      - role: r\n        namespace: {namespace}\n        cpu_id: {cpu}\n"
            ))
        };
        let e = ns("\"a b'; touch /tmp/x; '\"", "1");
        assert!(
            e.starts_with("c.yaml:5:") && e.contains("not a valid network namespace name"),
            "{e}"
        );
        for bad in ["-n", ".hidden", "a/b"] {
            assert!(ns(bad, "1").contains("network namespace name"), "{bad}");
        }
        for bad in ["\"1; id\"", "a", "\"1 2\"", "\"1-\"", "\",\"", "\"1:2\""] {
            let e = ns("ok", bad);
            assert!(
                e.starts_with("c.yaml:6:") && e.contains("is not a CPU list"),
                "{bad}: {e}"
            );
        }
        let good = "machines:\n  - hostname: node-1.example.org\n    user: root\n    port: 2222\n    namespaces:\n      - {role: r-1, namespace: ns_0.a-b, cpu_id: \"0-3,5,8-15:2\"}\n  - {hostname: \"fe80::1\", role: s}\n  - {hostname: 10.0.0.1, user: \"svc$\", role: t}\n";
        let c = parse_cluster(Path::new("c.yaml"), good).unwrap();
        assert_eq!(
            c.machines[0].roles[0].cpu_id.as_deref(),
            Some("0-3,5,8-15:2")
        );
    }

    #[test]
    fn a_role_may_have_several_machines_each_once() {
        let c = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: h1, role: [c, s]}\n  - {hostname: h2, role: c}\n  - hostname: h3\n    namespaces:\n      - {role: c, namespace: n1}\n      - {role: c, namespace: n2}\n      - {role: d}\n",
        )
        .unwrap();
        let b = c.binding();
        assert_eq!(b["c"], ["h1", "h2", "n1", "n2"]);
        assert_eq!(
            (b["s"].as_slice(), b["d"].as_slice()),
            (&["h1".to_string()][..], &["h3".to_string()][..])
        );
        for (text, at, node) in [
            ("machines:\n  - {hostname: h1, role: c}\n  - {hostname: h2, role: c}\n  - {hostname: h1, role: c}\n", "c.yaml:4:", "'h1' at line 2"),
            ("machines:\n  - {hostname: h1, role: [c, c]}\n", "c.yaml:2:", "'h1' at line 2"),
            ("machines:\n  - hostname: h1\n    namespaces:\n      - {role: c, namespace: n1}\n  - hostname: h2\n    namespaces:\n      - {role: c, namespace: n1}\n", "c.yaml:7:", "'n1' at line 4"),
        ] {
            let e = cluster_err(text);
            assert!(
                e.starts_with(at) && e.contains(&format!("role 'c' is already bound to {node}")),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn results_of_a_role_of_several_machines_are_named_per_machine() {
        let exp = crate::spec::parse_experiment(
            Path::new("e.yaml"),
            "steps:\n  - {name: a, role: c, run: x, results: {rps: 'r=(\\S+)'}}\n  - {name: b, role: [c, s], run: x, results: {lat: 'l=(\\S+)'}}\n  - {name: l, run: x, results: {t: 't=(\\S+)'}}\n",
        )
        .unwrap();
        let c = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: h1, role: [c, s]}\n  - {hostname: h2, role: c}\n",
        )
        .unwrap();
        let names: Vec<String> = c.result_infos(&exp).into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "rps.h1",
                "rps.h2",
                "lat.c.h1",
                "lat.c.h2",
                "lat.s",
                "t",
                "a.duration",
                "b.duration",
                "l.duration"
            ]
        );
    }

    fn roles_of(yaml: &str) -> Vec<Vec<String>> {
        let exp = crate::spec::validate::parse_experiment(Path::new("e.yaml"), yaml).unwrap();
        exp.steps.iter().map(|s| exp.sel_roles(&s.role)).collect()
    }

    /// A templated role name stands for what it renders to at the variables' values, not for
    /// the values themselves: an expression, a `{% if %}` or a comment renders like `{{ v }}`.
    #[test]
    fn a_templated_role_stands_for_what_it_renders_to() {
        let roles = roles_of(concat!(
            "runs: 1\nvariables:\n  x: [1, 2]\n  target: [server, client]\n",
            "  extra: {values: [a, b], when: 'x == 2'}\nsteps:\n",
            "  - {name: a, role: \"{{ target }}\", run: 'true'}\n",
            "  - {name: b, role: \"{{ 'server' if x == 1 else 'client' }}\", run: 'true'}\n",
            "  - {name: c, role: \"{% if x == 1 %}server{% else %}client{% endif %}\", run: 'true'}\n",
            "  - {name: d, role: \"server{# the server #}\", run: 'true'}\n",
            "  - {name: e, role: \"{{ target }}-{{ x }}\", run: 'true'}\n",
            "  - {name: f, role: \"{{ extra or 'all' }}\", run: 'true'}\n",
        ));
        let s = |v: &[&str]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(roles[0], s(&["server", "client"]));
        assert_eq!(roles[1], s(&["server", "client"]));
        assert_eq!(roles[2], s(&["server", "client"]));
        assert_eq!(roles[3], s(&["server"]));
        assert_eq!(
            roles[4],
            s(&["server-1", "server-2", "client-1", "client-2"])
        );
        // `extra` is null where its `when` is false: `all` then, which adds no role.
        assert_eq!(roles[5], s(&["a", "b"]));
        // Beyond MAX_ROLE_RENDERS combinations, each variable's values.
        let big = roles_of(
            "runs: 1\nvariables:\n  i: {range: [1, 5000]}\n  t: [p, q]\nsteps:\n  - {role: \"{{ t if i > 0 else 'z' }}\", run: 'true'}\n",
        );
        assert_eq!(big[0].len(), 5002);
        assert!(!big[0].contains(&"z".to_string()));
    }

    #[test]
    fn a_role_an_expression_renders_to_is_checked_against_the_cluster() {
        let exp = crate::spec::validate::parse_experiment(
            Path::new("e.yaml"),
            "runs: 1\nvariables:\n  x: [1, 2]\nsteps:\n  - role: \"{{ 'server' if x == 1 else 'client' }}\"\n    run: 'true'\n",
        )
        .unwrap();
        let both = "machines:\n  - {hostname: a, role: [server, client]}\n";
        parse_cluster(Path::new("c.yaml"), both)
            .unwrap()
            .check_experiment(&exp)
            .unwrap();
        let one = "machines:\n  - {hostname: a, role: server}\n";
        let e = parse_cluster(Path::new("c.yaml"), one)
            .unwrap()
            .check_experiment(&exp)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("e.yaml:5:11: no machine of c.yaml bears role 'client', which {{ 'server' if x == 1 else 'client' }} can render to (roles there: server)"),
            "{e}"
        );
    }
}
