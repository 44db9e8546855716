//! An Ansible inventory, read through `ansible-inventory -i INV --list` (so every inventory
//! format and plugin Ansible reads works): hosts depth-first from `all` as it lists them, the
//! groups each belongs to, and the hostvars that say how to reach it.

use serde_json::{Map, Value};

use super::command::{run_bounded, TIMEOUT};
use super::sources::{on_path, path_text, Source};
use super::Host;
use crate::spec::hosts::HostSource;

/// `from: ansible`: the hosts of `inventory:`, with their groups.
pub(super) struct Ansible;

impl Source for Ansible {
    fn name(&self) -> &'static str {
        "ansible"
    }

    fn what(&self, s: &HostSource, _job: Option<&str>) -> Option<String> {
        path_text(&s.inventory)
    }

    fn unavailable(&self, _s: &HostSource) -> Option<String> {
        (!on_path("ansible-inventory"))
            .then(|| "ansible-inventory (ansible-core) is not installed here".into())
    }

    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String> {
        inventory_hosts(s.inventory.as_deref().unwrap_or(std::path::Path::new("")))
    }
}

/// The deepest group nesting followed (a cycle or an absurd inventory stops there).
const MAX_DEPTH: usize = 64;

/// The hosts of inventory `inv`.
pub(super) fn inventory_hosts(inv: &std::path::Path) -> Result<Vec<Host>, String> {
    let inv = inv.to_str().ok_or("the inventory path is not UTF-8")?;
    let out = run_bounded("ansible-inventory", &["-i", inv, "--list"], TIMEOUT)?;
    parse_inventory(&out)
}

/// Hosts of `ansible-inventory --list` JSON.
pub(super) fn parse_inventory(json: &str) -> Result<Vec<Host>, String> {
    let doc: Map<String, Value> = serde_json::from_str(json)
        .map_err(|e| format!("ansible-inventory printed no inventory JSON ({e})"))?;
    let mut seen = Seen::default();
    walk(&doc, "all", &mut Vec::new(), &mut seen)?;
    let hostvars = doc
        .get("_meta")
        .and_then(|m| m.get("hostvars"))
        .and_then(Value::as_object);
    seen.hosts
        .into_iter()
        .map(|(name, host_groups)| {
            let vars = hostvars
                .and_then(|h| h.get(&name))
                .and_then(Value::as_object);
            host_of(name, vars, host_groups)
        })
        .collect()
}

/// The hosts met so far, in order, each with its groups; `index` finds a host's entry.
#[derive(Default)]
struct Seen {
    hosts: Vec<(String, Vec<String>)>,
    index: std::collections::HashMap<String, usize>,
}

/// Visits `group` (its hosts, then its children), recording each host's groups: the group
/// and every group above it on the path from `all`.
fn walk(
    doc: &Map<String, Value>,
    group: &str,
    path: &mut Vec<String>,
    seen: &mut Seen,
) -> Result<(), String> {
    if path.len() > MAX_DEPTH || path.iter().any(|g| g == group) {
        return Ok(());
    }
    let Some(g) = doc.get(group).and_then(Value::as_object) else {
        return Ok(());
    };
    path.push(group.to_string());
    let names = |key: &str| {
        g.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(Vec::new)
    };
    for h in names("hosts") {
        let i = *seen.index.entry(h.clone()).or_insert_with(|| {
            seen.hosts.push((h, Vec::new()));
            seen.hosts.len() - 1
        });
        let groups = &mut seen.hosts[i].1;
        for p in path.iter() {
            if !groups.contains(p) {
                groups.push(p.clone());
            }
        }
    }
    for child in names("children") {
        walk(doc, &child, path, seen)?;
    }
    path.pop();
    Ok(())
}

fn host_of(
    name: String,
    vars: Option<&Map<String, Value>>,
    groups: Vec<String>,
) -> Result<Host, String> {
    let text = |key: &str| -> Option<String> {
        match vars?.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let at = |what: String| {
        format!(
            "inventory host '{}': {what}",
            crate::spec::shown_text(&name)
        )
    };
    let address = text("ansible_host").filter(|a| *a != name);
    let mut host = Host::checked(name.clone(), address).map_err(at)?;
    host.groups = groups;
    if let Some(u) = text("ansible_user") {
        if let Some(p) = crate::spec::cluster::user_problem(&u) {
            return Err(at(p));
        }
        host.user = Some(u);
    }
    if let Some(p) = text("ansible_port") {
        host.port = Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            at(format!(
                "ansible_port '{}' is not a port",
                crate::spec::shown_text(&p)
            ))
        })?);
    }
    if let Some(i) = text("ansible_ssh_private_key_file") {
        if let Some(p) = crate::spec::cluster::identity_problem(&i) {
            return Err(at(p));
        }
        host.identity = Some(i);
    }
    if let Some(args) = text("ansible_ssh_common_args") {
        host.ssh_options = ssh_options(&args).map_err(at)?;
    }
    Ok(host)
}

/// The `-o` options of `ansible_ssh_common_args` (`-o A=B -oC=D`), as `ssh_options` takes
/// them; any other argument is refused rather than guessed at.
fn ssh_options(args: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        let opt = match w.strip_prefix("-o") {
            Some("") => words.next(),
            Some(o) => Some(o),
            None => None,
        };
        match opt {
            Some(o) if !o.starts_with('-') => out.push(o.trim_matches(['"', '\'']).to_string()),
            _ => {
                return Err(format!(
                    "ansible_ssh_common_args '{}' holds more than -o options (mpf passes only -o options to ssh)",
                    crate::spec::shown_text(args)
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ansible-inventory -i inv.ini --list` (ansible-core 2.14) for
    /// `[web]\nw1 ansible_host=10.0.0.1 ansible_port=2222\nw2\n[db]\nd1 ansible_user=bob\n
    /// [db:vars]\nansible_ssh_common_args="-o StrictHostKeyChecking=no"\n[app:children]\nweb`.
    const LISTED: &str = r#"{
    "_meta": {"hostvars": {
        "d1": {"ansible_ssh_common_args": "-o StrictHostKeyChecking=no", "ansible_user": "bob"},
        "w1": {"ansible_host": "10.0.0.1", "ansible_port": 2222}}},
    "all": {"children": ["ungrouped", "db", "app"]},
    "app": {"children": ["web"]},
    "db": {"hosts": ["d1"]},
    "web": {"hosts": ["w1", "w2"]}
}"#;

    #[test]
    fn hosts_groups_and_hostvars() {
        let hosts = parse_inventory(LISTED).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["d1", "w1", "w2"]);
        assert_eq!(hosts[0].user.as_deref(), Some("bob"));
        assert_eq!(hosts[0].ssh_options, ["StrictHostKeyChecking=no"]);
        assert_eq!(hosts[0].groups, ["all", "db"]);
        assert_eq!(hosts[1].address.as_deref(), Some("10.0.0.1"));
        assert_eq!(hosts[1].port, Some(2222));
        assert_eq!(hosts[1].groups, ["all", "app", "web"]);
        assert_eq!(hosts[2].address, None);
    }

    #[test]
    fn hostile_inventories_are_refused() {
        let inv = |host: &str, vars: &str| {
            format!(
                r#"{{"_meta": {{"hostvars": {{"{host}": {{{vars}}}}}}}, "all": {{"hosts": ["{host}"]}}}}"#
            )
        };
        for (host, vars, what) in [
            ("-oProxyCommand=x", "", "not a host name"),
            ("h", r#""ansible_host": "a;id""#, "not a host name"),
            ("h", r#""ansible_user": "-x""#, "not a valid user name"),
            ("h", r#""ansible_port": "22; id""#, "is not a port"),
            ("h", r#""ansible_port": 0"#, "is not a port"),
            (
                "h",
                r#""ansible_ssh_common_args": "-J x""#,
                "more than -o options",
            ),
        ] {
            let e = parse_inventory(&inv(host, vars)).unwrap_err();
            assert!(e.contains(what), "{host} {vars}: {e}");
        }
        assert!(parse_inventory("not json")
            .unwrap_err()
            .contains("no inventory JSON"));
        // A cycle of groups ends.
        let cyclic = r#"{"all": {"children": ["a"]}, "a": {"children": ["b"], "hosts": ["h"]}, "b": {"children": ["a"]}}"#;
        assert_eq!(parse_inventory(cyclic).unwrap().len(), 1);
    }
}
