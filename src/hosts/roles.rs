//! `roles:` applied to the hosts of a source: which host bears which role, as machines.
//!
//! Hostlists and groups name their hosts; a machine may bear several roles, so two of them
//! may name the same host. Counts then take the next hosts no role of `roles:` named or took,
//! in the source's order and the order of `roles:`; `rest` takes what is left. An Ansible
//! group named like a role `roles:` does not name binds that role to its hosts without taking
//! them from counts and `rest`.

use std::path::Path;

use super::hostlist;
use super::sources::Host;
use crate::error::{Error, Result};
use crate::spec::cluster::{ClusterRole, Machine, MachineTransport};
use crate::spec::hosts::{HostSource, RoleRule, RoleSpec};
use crate::spec::role_name_problem;

/// Groups every inventory has, never a role.
const ANSIBLE_GROUPS: [&str; 2] = ["all", "ungrouped"];

/// The machines of `hosts` with their roles (hosts bearing none are left out, and listed in
/// the second value). `what` names the source in messages; `dropped` the hosts left out as
/// unreachable, for messages about too few hosts.
pub(super) fn assign(
    path: &Path,
    source: &HostSource,
    roles: &[RoleSpec],
    hosts: &[Host],
    what: &str,
    dropped: &[String],
    job: Option<&str>,
) -> Result<(Vec<Machine>, Vec<String>)> {
    // The roles of each host, by index, and whether a role of `roles:` took it.
    let mut bound: Vec<Vec<(String, u64)>> = vec![Vec::new(); hosts.len()];
    let mut taken = vec![false; hosts.len()];
    let err = |r: &RoleSpec, m: String| Error::input(path, r.line, r.column, m);
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let index: std::collections::HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let of_source = || {
        let mut s = format!("{what}: {}", hostlist::compress(&names));
        if !dropped.is_empty() {
            s.push_str(&format!(
                "; dropped as unreachable: {}",
                hostlist::compress(dropped)
            ));
        }
        s
    };
    for r in roles {
        let picked: Vec<usize> = match &r.rule {
            RoleRule::Hostlist(list) => {
                let mut picked = Vec::new();
                for name in hostlist::expand(list).map_err(|e| err(r, e))? {
                    match index.get(name.as_str()) {
                        Some(&i) => picked.push(i),
                        None => {
                            let gone = dropped.contains(&name);
                            return Err(err(
                                r,
                                format!(
                                    "roles: {} names host '{name}', which {} ({})",
                                    r.name,
                                    if gone {
                                        "was dropped as unreachable"
                                    } else {
                                        "the source does not give"
                                    },
                                    of_source()
                                ),
                            ));
                        }
                    }
                }
                picked
            }
            RoleRule::Group(g) => {
                let picked: Vec<usize> = (0..hosts.len())
                    .filter(|&i| hosts[i].groups.contains(g))
                    .collect();
                if picked.is_empty() {
                    return Err(err(
                        r,
                        format!(
                            "roles: {} takes group '{g}', which has no host ({})",
                            r.name,
                            of_source()
                        ),
                    ));
                }
                picked
            }
            RoleRule::Count(_) | RoleRule::Rest => continue,
        };
        for i in picked {
            taken[i] = true;
            bound[i].push((r.name.clone(), r.line));
        }
    }
    for r in roles {
        let free: Vec<usize> = (0..hosts.len()).filter(|&i| !taken[i]).collect();
        let picked: Vec<usize> = match r.rule {
            RoleRule::Count(n) if n > free.len() => {
                return Err(err(
                    r,
                    format!(
                        "roles: {} asks for {n} hosts, and only {} of the {} hosts are left for it ({})",
                        r.name,
                        free.len(),
                        hosts.len(),
                        of_source()
                    ),
                ))
            }
            RoleRule::Count(n) => free[..n].to_vec(),
            _ => continue,
        };
        for i in picked {
            taken[i] = true;
            bound[i].push((r.name.clone(), r.line));
        }
    }
    if let Some(r) = roles.iter().find(|r| r.rule == RoleRule::Rest) {
        let free: Vec<usize> = (0..hosts.len()).filter(|&i| !taken[i]).collect();
        if free.is_empty() {
            return Err(err(
                r,
                format!(
                    "roles: {} is rest, and the other roles took every host ({})",
                    r.name,
                    of_source()
                ),
            ));
        }
        for i in free {
            taken[i] = true;
            bound[i].push((r.name.clone(), r.line));
        }
    }
    // Inventory groups named like roles, for roles `roles:` leaves out.
    for (i, h) in hosts.iter().enumerate() {
        for g in &h.groups {
            let free_role = !ANSIBLE_GROUPS.contains(&g.as_str())
                && role_name_problem(g).is_none()
                && !roles.iter().any(|r| r.name == *g);
            if free_role && !bound[i].iter().any(|(r, _)| r == g) {
                bound[i].push((g.clone(), source.line));
            }
        }
    }
    let mut machines = Vec::new();
    let mut unused = Vec::new();
    for (h, roles) in hosts.iter().zip(bound) {
        if roles.is_empty() {
            unused.push(h.name.clone());
            continue;
        }
        let mut m = machine_of(source, h, job);
        m.roles = roles
            .into_iter()
            .map(|(name, line)| ClusterRole {
                name,
                node: h.name.clone(),
                namespace: None,
                cpu_id: None,
                interfaces: Vec::new(),
                line,
            })
            .collect();
        machines.push(m);
    }
    Ok((machines, unused))
}

/// The machine of a source's host, without roles: the host's own user, port, identity and
/// options over those of `hosts:`, reached over ssh or the job's `srun`.
pub(super) fn machine_of(source: &HostSource, h: &Host, job: Option<&str>) -> Machine {
    let mut ssh_options = source.ssh_options.clone();
    ssh_options.extend(h.ssh_options.iter().cloned());
    Machine {
        hostname: h.name.clone(),
        user: h.user.clone().or_else(|| source.user.clone()),
        port: h.port.or(source.port),
        identity: h.identity.clone().or_else(|| source.identity.clone()),
        ssh_options,
        local: false,
        max_sessions: source.max_sessions,
        roles: Vec::new(),
        line: source.line,
        transport: match (source.srun, job) {
            (true, Some(j)) => MachineTransport::Srun { job: j.to_string() },
            _ => MachineTransport::Ssh,
        },
        address: h.address.clone(),
        container: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_cluster;

    fn hosts(names: &[&str]) -> Vec<Host> {
        names
            .iter()
            .map(|n| Host::checked(n.to_string(), None).unwrap())
            .collect()
    }

    fn roles_of(text: &str, hs: &[Host]) -> Result<Vec<(String, Vec<String>)>> {
        let c = parse_cluster(Path::new("c.yaml"), text).unwrap();
        let (ms, _) = assign(
            &c.path,
            c.hosts.as_ref().unwrap(),
            &c.roles,
            hs,
            "the list",
            &[],
            None,
        )?;
        Ok(ms
            .into_iter()
            .map(|m| (m.hostname, m.roles.into_iter().map(|r| r.name).collect()))
            .collect())
    }

    fn pairs(v: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        v.iter()
            .map(|(h, rs)| (h.to_string(), rs.iter().map(|r| r.to_string()).collect()))
            .collect()
    }

    #[test]
    fn counts_rest_and_hostlists_in_order() {
        let hs = hosts(&["n1", "n2", "n3", "n4", "n5"]);
        let text = "hosts: {from: list, list: \"n[1-5]\"}\nroles:\n  client: rest\n  server: 1\n  mon: \"n[2,5]\"\n  db: 1\n";
        assert_eq!(
            roles_of(text, &hs).unwrap(),
            pairs(&[
                ("n1", &["server"]),
                ("n2", &["mon"]),
                ("n3", &["db"]),
                ("n4", &["client"]),
                ("n5", &["mon"]),
            ])
        );
        // Two hostlists may share a host: a machine bears several roles.
        let text = "hosts: {from: list, list: \"n[1-5]\"}\nroles:\n  a: n1\n  b: \"n[1-2]\"\n";
        assert_eq!(
            roles_of(text, &hs).unwrap(),
            pairs(&[("n1", &["a", "b"]), ("n2", &["b"])])
        );
    }

    #[test]
    fn too_few_hosts_and_unknown_hosts_are_named() {
        let hs = hosts(&["n1", "n2", "n3"]);
        let base = "hosts: {from: list, list: \"n[1-3]\"}\nroles:\n";
        for (roles, what) in [
            ("  s: 2\n  c: 2\n", "c.yaml:4:3: roles: c asks for 2 hosts, and only 1 of the 3 hosts are left for it (the list: n[1-3])"),
            ("  s: 3\n  c: rest\n", "c.yaml:4:3: roles: c is rest, and the other roles took every host (the list: n[1-3])"),
            ("  s: \"n[3-4]\"\n", "c.yaml:3:3: roles: s names host 'n4', which the source does not give (the list: n[1-3])"),
        ] {
            let e = roles_of(&format!("{base}{roles}"), &hs).unwrap_err().to_string();
            assert_eq!(e, what);
        }
    }

    #[test]
    fn ansible_groups_bind_roles_roles_does_not_name() {
        let mut hs = hosts(&["d1", "w1", "w2"]);
        hs[0].groups = vec!["all".into(), "db".into()];
        hs[1].groups = vec!["all".into(), "app".into(), "web".into()];
        hs[2].groups = vec!["all".into(), "app".into(), "web".into()];
        let text =
            "hosts: {from: ansible, inventory: i.yml}\nroles:\n  front: {group: web}\n  web: 1\n";
        assert_eq!(
            roles_of(text, &hs).unwrap(),
            pairs(&[
                ("d1", &["web", "db"]),
                ("w1", &["front", "app"]),
                ("w2", &["front", "app"]),
            ])
        );
        let e = roles_of(
            "hosts: {from: ansible, inventory: i.yml}\nroles:\n  x: {group: none}\n",
            &hs,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("group 'none', which has no host"), "{e}");
    }
}
