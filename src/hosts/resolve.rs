//! A cluster with `hosts:` made whole: the source read, unreachable hosts dropped when asked,
//! roles assigned; and the result as `cluster.resolved.yaml`.

use std::sync::Arc;

use super::roles::assign;
use super::sources::{describe, read_source, Host};
use crate::error::{Error, Result};
use crate::exec::Transport;
use crate::spec::cluster::{Machine, MachineTransport, DEFAULT_MAX_SESSIONS};
use crate::spec::Cluster;

/// What resolving a cluster's `hosts:` found.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The cluster with the source's machines after its own (`hosts` taken out).
    pub cluster: Cluster,
    /// The source, for messages and records (`hosts from slurm job 123`).
    pub source: String,
    /// The allocation read (a Slurm job, `$OAR_JOB_ID`, `$PBS_JOBID`), if any.
    pub allocation: Option<String>,
    /// The Slurm job the machines belong to (`from: slurm`): its `EndTime` is the time limit
    /// (SPEC 14.3), whichever transport reaches them.
    pub slurm_job: Option<String>,
    /// Hosts left out as unreachable (`unreachable: drop`).
    pub dropped: Vec<String>,
    /// Hosts of the source no role took.
    pub unused: Vec<String>,
}

/// The hosts a source gave (those left after dropping the unreachable).
#[derive(Debug, Clone)]
pub(crate) struct SourceHosts {
    hosts: Vec<Host>,
    /// `(host, why)` for each host dropped as unreachable.
    dropped: Vec<(String, String)>,
    what: String,
    job: Option<String>,
}

/// Resolves `cluster.hosts` into machines; a cluster without it comes back as it is.
pub(super) fn resolve(cluster: &Cluster) -> Result<Resolved> {
    match read(cluster)? {
        Some(hosts) => assign_roles(cluster, hosts),
        None => Ok(Resolved {
            cluster: cluster.clone(),
            source: String::new(),
            allocation: None,
            slurm_job: None,
            dropped: Vec::new(),
            unused: Vec::new(),
        }),
    }
}

/// Reads the source of `cluster.hosts` (`None` without one) and, with `unreachable: drop`,
/// connects to every host to leave out those that fail. Errors here mean the source cannot
/// be read where mpf runs (no job, no file, the program fails), not that the file is wrong.
pub(crate) fn read(cluster: &Cluster) -> Result<Option<SourceHosts>> {
    let Some(source) = &cluster.hosts else {
        return Ok(None);
    };
    let path = &cluster.path;
    let job = super::sources::job(source).map_err(|e| Error::input(path, source.line, 0, e))?;
    let what = describe(source, job.as_deref());
    let fail = |e: String| Error::input(path, source.line, 0, format!("{what}: {e}"));
    let mut hosts = read_source(source).map_err(fail)?;
    let mut dropped = Vec::new();
    if source.drop_unreachable {
        let reachable = reachable(source, &hosts, job.as_deref(), cluster.fanout);
        let mut kept = Vec::new();
        for (h, ok) in hosts.into_iter().zip(reachable) {
            match ok {
                Ok(()) => kept.push(h),
                Err(e) => dropped.push((h.name, e)),
            }
        }
        hosts = kept;
    }
    Ok(Some(SourceHosts {
        hosts,
        dropped,
        what,
        job,
    }))
}

/// Assigns `roles:` to the hosts `read` gave: the cluster's machines, then the source's.
pub(crate) fn assign_roles(cluster: &Cluster, read: SourceHosts) -> Result<Resolved> {
    let Some(source) = &cluster.hosts else {
        return resolve(cluster);
    };
    let path = &cluster.path;
    let SourceHosts {
        hosts,
        dropped,
        what,
        job,
    } = read;
    let dropped_names: Vec<String> = dropped.iter().map(|(n, _)| n.clone()).collect();
    let (machines, unused) = assign(
        path,
        source,
        &cluster.roles,
        &hosts,
        &what,
        &dropped_names,
        job.as_deref(),
    )?;
    let mut out = cluster.clone();
    out.hosts = None;
    out.machines.extend(machines);
    check_distinct(&out)?;
    if !unused.is_empty() {
        out.notes.push(format!(
            "{}:{}: note: {} of {what} bear no role: {}",
            path.display(),
            source.line,
            crate::words::count(unused.len(), "host"),
            super::hostlist::compress(&unused)
        ));
    }
    Ok(Resolved {
        cluster: out,
        source: what,
        slurm_job: job.clone(),
        allocation: job.or_else(|| super::sources::allocation(source)),
        dropped: dropped
            .into_iter()
            .map(|(n, e)| format!("{n}: {e}"))
            .collect(),
        unused,
    })
}

/// The machines as the manifest records a session's.
pub(crate) fn session_machines(c: &Cluster) -> Vec<crate::store::SessionMachine> {
    c.machines
        .iter()
        .map(|m| crate::store::SessionMachine {
            name: m.hostname.clone(),
            address: m.address.clone(),
            user: m.user.clone(),
            port: m.port,
            transport: transport_name(m).into(),
            roles: m.roles.iter().map(|r| r.name.clone()).collect(),
        })
        .collect()
}

fn transport_name(m: &Machine) -> &'static str {
    match (&m.transport, m.local) {
        (_, true) => "local",
        (MachineTransport::Srun { .. }, _) => "srun",
        (MachineTransport::Ssh, _) => "ssh",
    }
}

/// The resolved machines as `mpf check -c` shows them: one line each.
pub fn machines_table(r: &Resolved) -> String {
    let mut rows = vec![[
        "machine".to_string(),
        "address".into(),
        "user".into(),
        "port".into(),
        "transport".into(),
        "roles".into(),
    ]];
    for m in &r.cluster.machines {
        let transport = match &m.transport {
            MachineTransport::Srun { job } if !m.local => format!("srun (job {job})"),
            _ => transport_name(m).to_string(),
        };
        let roles: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
        rows.push([
            m.hostname.clone(),
            m.address.clone().unwrap_or_else(|| "-".into()),
            m.user.clone().unwrap_or_else(|| "-".into()),
            m.port.map_or("-".into(), |p| p.to_string()),
            transport,
            roles.join(", "),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = format!("machines ({}):\n", r.source);
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
    }
    for d in &r.dropped {
        s.push_str(&format!("  dropped as unreachable: {d}\n"));
    }
    if !r.unused.is_empty() {
        s.push_str(&format!(
            "  bearing no role (not used): {}\n",
            super::hostlist::compress(&r.unused)
        ));
    }
    s
}

/// A role borne twice by one host (a machine of `machines:` that the source gives too).
fn check_distinct(c: &Cluster) -> Result<()> {
    let mut seen: std::collections::HashMap<(&str, &str), u64> = Default::default();
    for m in &c.machines {
        for r in &m.roles {
            if let Some(first) = seen.insert((&r.name, &r.node), m.line) {
                return Err(Error::input(
                    &c.path,
                    m.line,
                    0,
                    format!(
                        "role '{}' is bound twice to '{}' (line {first} and the hosts: source)",
                        r.name, r.node
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Connects to every host at once (the path runs use): `Err` with why for each that fails.
fn reachable(
    source: &crate::spec::hosts::HostSource,
    hosts: &[Host],
    job: Option<&str>,
    fanout: usize,
) -> Vec<std::result::Result<(), String>> {
    let probe_cluster = Cluster {
        path: Default::default(),
        source: String::new(),
        machines: hosts
            .iter()
            .map(|h| super::roles::machine_of(source, h, job))
            .collect(),
        notes: Vec::new(),
        hosts: None,
        roles: Vec::new(),
        fanout,
    };
    let Ok(rt) = crate::exec::runtime() else {
        return hosts.iter().map(|_| Err("no runtime".into())).collect();
    };
    let connected = rt.block_on(crate::machines::connect_all(&probe_cluster, "probe"));
    let mut open: Vec<Arc<dyn Transport>> = Vec::new();
    let out = connected
        .into_iter()
        .map(|c| match c {
            Ok(t) => {
                open.push(t);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        })
        .collect();
    crate::machines::disconnect_all(&open, fanout);
    out
}

/// A YAML scalar: JSON's quoting, which YAML reads as a double-quoted string.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `cluster.resolved.yaml`: every machine with its address, user, port, transport and roles,
/// as a cluster file mpf reads back (`--resume` runs on these machines).
pub(crate) fn resolved_yaml(r: &Resolved) -> String {
    let mut s =
        String::from("# The machines this result set ran on, as mpf resolved them (SPEC 14.1).\n");
    if !r.source.is_empty() {
        s.push_str(&format!("# {}\n", r.source.replace('\n', " ")));
    }
    for d in &r.dropped {
        s.push_str(&format!(
            "# dropped as unreachable: {}\n",
            d.replace('\n', " ")
        ));
    }
    if r.cluster.fanout != crate::spec::cluster::DEFAULT_FANOUT {
        s.push_str(&format!("fanout: {}\n", r.cluster.fanout));
    }
    s.push_str("machines:\n");
    for m in &r.cluster.machines {
        s.push_str(&format!("  - hostname: {}\n", q(&m.hostname)));
        let mut field = |k: &str, v: String| s.push_str(&format!("    {k}: {v}\n"));
        if let Some(a) = &m.address {
            field("address", q(a));
        }
        if m.local {
            field("local", "true".into());
        }
        if let Some(u) = &m.user {
            field("user", q(u));
        }
        if let Some(p) = m.port {
            field("port", p.to_string());
        }
        if let Some(i) = &m.identity {
            field("identity", q(i));
        }
        if !m.ssh_options.is_empty() {
            let o: Vec<String> = m.ssh_options.iter().map(|o| q(o)).collect();
            field("ssh_options", format!("[{}]", o.join(", ")));
        }
        if m.max_sessions != DEFAULT_MAX_SESSIONS {
            field("max_sessions", m.max_sessions.to_string());
        }
        if let MachineTransport::Srun { job } = &m.transport {
            field("transport", "srun".into());
            field("job", q(job));
        }
        let plain: Vec<&crate::spec::cluster::ClusterRole> = m
            .roles
            .iter()
            .filter(|r| r.namespace.is_none() && r.cpu_id.is_none())
            .collect();
        if !plain.is_empty() {
            let names: Vec<String> = plain.iter().map(|r| q(&r.name)).collect();
            field("role", format!("[{}]", names.join(", ")));
            if let Some(ifs) = plain
                .first()
                .map(|r| &r.interfaces)
                .filter(|i| !i.is_empty())
            {
                field("interfaces", interfaces_json(ifs));
            }
        }
        let spaced: Vec<String> = m
            .roles
            .iter()
            .filter(|r| r.namespace.is_some() || r.cpu_id.is_some())
            .map(|r| {
                let mut e = serde_json::Map::new();
                e.insert("role".into(), r.name.clone().into());
                if let Some(n) = &r.namespace {
                    e.insert("namespace".into(), n.clone().into());
                }
                if let Some(c) = &r.cpu_id {
                    e.insert("cpu_id".into(), c.clone().into());
                }
                e.insert(
                    "interfaces".into(),
                    serde_json::from_str(&interfaces_json(&r.interfaces)).unwrap_or_default(),
                );
                serde_json::Value::Object(e).to_string()
            })
            .collect();
        if !spaced.is_empty() {
            field("namespaces", format!("[{}]", spaced.join(", ")));
        }
    }
    s
}

/// Interfaces as the cluster file writes them (absent fields left out).
fn interfaces_json(ifs: &[crate::spec::cluster::Interface]) -> String {
    let list: Vec<serde_json::Value> = ifs
        .iter()
        .map(|i| {
            let mut e = serde_json::Map::new();
            e.insert("name".into(), i.name.clone().into());
            e.insert("ip".into(), i.ip.clone().into());
            for (k, v) in [
                ("link", &i.link),
                ("direction", &i.direction),
                ("neighbour", &i.neighbour),
            ] {
                if let Some(v) = v {
                    e.insert(k.into(), v.clone().into());
                }
            }
            serde_json::Value::Object(e)
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_cluster;
    use std::path::Path;

    #[test]
    fn a_list_resolves_and_its_yaml_reads_back_as_the_same_machines() {
        let c = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - hostname: gw\n    namespaces:\n      - {role: ns, namespace: n0, cpu_id: 1, interfaces: [{name: v, ip: 10.0.0.1, link: l}]}\n    role: g\n    interfaces: [{name: eth0, ip: 10.1.1.1}]\nhosts:\n  from: list\n  list: \"node[01-03]\"\n  user: alice\n  port: 2222\n  ssh_options: [StrictHostKeyChecking=no]\nroles:\n  server: 1\n  client: rest\n",
        )
        .unwrap();
        let r = resolve(&c).unwrap();
        let names: Vec<&str> = r
            .cluster
            .machines
            .iter()
            .map(|m| m.hostname.as_str())
            .collect();
        assert_eq!(names, ["gw", "node01", "node02", "node03"]);
        assert_eq!(r.cluster.binding()["client"], ["node02", "node03"]);
        assert_eq!(r.cluster.machines[1].destination(), "alice@node01");
        assert!(r.cluster.hosts.is_none());
        let text = resolved_yaml(&r);
        let back = parse_cluster(Path::new("cluster.resolved.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let strip = |ms: &[Machine]| -> Vec<Machine> {
            ms.iter()
                .map(|m| {
                    let mut m = m.clone();
                    m.line = 0;
                    m.roles.iter_mut().for_each(|r| r.line = 0);
                    m
                })
                .collect()
        };
        assert_eq!(strip(&back.machines), strip(&r.cluster.machines), "{text}");
    }

    #[test]
    fn a_host_of_machines_and_of_the_source_bears_a_role_once() {
        let c = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: n1, role: a}\nhosts: {from: list, list: \"n[1-2]\"}\nroles: {a: 1}\n",
        )
        .unwrap();
        let e = resolve(&c).unwrap_err().to_string();
        assert!(e.contains("role 'a' is bound twice to 'n1'"), "{e}");
    }

    #[test]
    fn a_source_that_cannot_be_read_names_the_file_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let c = parse_cluster(
            &path,
            "hosts:\n  from: file\n  file: none.txt\nroles: {a: 1}\n",
        )
        .unwrap();
        let e = resolve(&c).unwrap_err().to_string();
        assert!(
            e.contains("c.yaml:2:") && e.contains("hosts from file") && e.contains("none.txt"),
            "{e}"
        );
        std::fs::write(dir.path().join("n.txt"), "n1\nn2\nn1\n").unwrap();
        let c =
            parse_cluster(&path, "hosts:\n  from: pbs\n  file: n.txt\nroles: {a: 1}\n").unwrap();
        let r = resolve(&c).unwrap();
        assert_eq!(r.unused, ["n2"]);
        assert!(
            r.cluster.notes[0].contains("1 host of hosts from pbs"),
            "{:?}",
            r.cluster.notes
        );
        let c = parse_cluster(
            &path,
            "hosts:\n  from: command\n  command: \"echo n1; echo 'bad host'\"\nroles: {a: 1}\n",
        )
        .unwrap();
        let e = resolve(&c).unwrap_err().to_string();
        assert!(
            e.contains(
                "line 2 of the output of the command: hostname 'bad host' is not a host name"
            ),
            "{e}"
        );
    }
}
