//! Which machine each role runs on, and what templates see of it.

pub(crate) mod fanout;
pub(crate) mod fold;
pub(crate) mod open_files;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::exec::{wrap_for, Local, Ssh, SshConfig, Transport, Via};
use crate::machines::fanout::{each_blocking, Fanout};
use crate::machines::fold::{fold_lines, MachineError};
use crate::spec::cluster::MachineTransport;
use crate::spec::Cluster;
use crate::spec::{Experiment, DEFAULT_ROLE};

pub(crate) use crate::spec::cluster::Interface;

/// One machine of a role (a role may have several: SPEC §10.1).
pub struct RoleBinding {
    pub transport: Arc<dyn Transport>,
    /// Host name as written (or `localhost`).
    pub host: String,
    /// The machine's name within its role: the host name, or the namespace name for a
    /// namespace role (unique within the role).
    pub node: String,
    /// First interface's ip, else the machine's address (a Slurm `NodeAddr`, an
    /// `ansible_host`), else the host.
    pub ip: String,
    pub interfaces: Vec<Interface>,
    pub namespace: Option<String>,
    pub cpu_id: Option<String>,
    /// Command prefix for namespace and CPU pinning (`ip netns exec NS taskset -c CPU`).
    pub wrap: Vec<String>,
}

impl RoleBinding {
    /// A role on this machine, outside any namespace: `localhost`, `127.0.0.1`.
    pub fn local(transport: Arc<dyn Transport>) -> RoleBinding {
        RoleBinding {
            transport,
            host: "localhost".into(),
            node: "localhost".into(),
            ip: "127.0.0.1".into(),
            interfaces: Vec::new(),
            namespace: None,
            cpu_id: None,
            wrap: Vec::new(),
        }
    }
}

/// Role name -> its machines, in the order of the cluster file (never empty).
pub struct Machines {
    pub roles: BTreeMap<String, Vec<RoleBinding>>,
    /// The machine mpf runs on, for work that starts here (rsync to a remote machine).
    pub controller: Arc<dyn Transport>,
    /// At most this many machines are set up, cleaned up, asked for their facts, collected
    /// from or closed at once (the cluster file's `fanout`).
    pub fanout: usize,
}

impl Drop for Machines {
    /// Every machine's connection closes at once.
    fn drop(&mut self) {
        let mut all: Vec<Arc<dyn Transport>> = vec![self.controller.clone()];
        for b in self.roles.values().flatten() {
            all.push(b.transport.clone());
        }
        disconnect_all(&all, self.fanout);
    }
}

impl Machines {
    /// Why the allocation of one of the machines is over (`Transport::allocation_ended`).
    pub fn allocation_ended(&self) -> Option<String> {
        let mut seen: Vec<&Arc<dyn Transport>> = Vec::new();
        for t in self.roles.values().flatten().map(|b| &b.transport) {
            if seen.iter().any(|s| Arc::ptr_eq(s, t)) {
                continue;
            }
            seen.push(t);
            if let Some(why) = t.allocation_ended() {
                return Some(why);
            }
        }
        None
    }

    /// Every role of the experiment on this machine (no cluster file).
    pub fn local(exp: &Experiment) -> Result<Machines> {
        let t: Arc<dyn Transport> = Arc::new(Local::new("localhost")?);
        let mut roles = BTreeMap::new();
        let mut names = exp.possible_roles();
        names.push(DEFAULT_ROLE.to_string());
        for r in names {
            roles.insert(r, vec![RoleBinding::local(t.clone())]);
        }
        Ok(Machines {
            roles,
            controller: t,
            fanout: crate::spec::cluster::DEFAULT_FANOUT,
        })
    }

    /// The machines of a cluster file, connected (one ssh master each, concurrently, at most
    /// `fanout` at once), with the open-files limit they need.
    /// `local` (steps without a role) runs on this machine unless the cluster binds it.
    /// `set` names the session's containers (`mpf-<set>-<machine>`).
    pub fn from_cluster(cluster: &Cluster, set: &str) -> Result<Machines> {
        open_files::raise_for(cluster)?;
        let rt = crate::exec::runtime()?;
        let transports = rt.block_on(connect_all(cluster, set));
        let mut failures = Vec::new();
        let mut unreachable = false;
        let mut ts = Vec::new();
        for (t, m) in transports.into_iter().zip(&cluster.machines) {
            match t {
                Ok(t) => ts.push(t),
                Err(e) => {
                    unreachable |= matches!(e, crate::error::Error::Unreachable(_));
                    failures.push(machine_error(m, e.to_string()));
                }
            }
        }
        if !failures.is_empty() {
            // Any machine that ssh cannot reach makes it exit 4: that is what to fix first.
            let text = fold_lines(&failures);
            return Err(if unreachable {
                crate::error::Error::Unreachable(text)
            } else {
                crate::error::Error::Runtime(text)
            });
        }
        Machines::bind(cluster, ts)
    }

    /// A new block of the profile: each machine (once) enters `variable = value`
    /// (`Transport::enter_value`: a container whose image names it switches images), at most
    /// `fanout` at once. The machines' errors, folded.
    pub async fn enter_value(&self, variable: &str, value: &Value) -> Result<()> {
        let mut unique: Vec<&Arc<dyn Transport>> = Vec::new();
        for t in self.roles.values().flatten().map(|b| &b.transport) {
            if !unique.iter().any(|u| Arc::ptr_eq(u, t)) {
                unique.push(t);
            }
        }
        let futs: Vec<_> = unique
            .iter()
            .map(|t| t.enter_value(variable, value))
            .collect();
        let failures: Vec<MachineError> = Fanout::new(self.fanout)
            .all(futs)
            .await
            .into_iter()
            .zip(&unique)
            .filter_map(|(r, t)| r.err().map(|e| MachineError::new(t.name(), e.to_string())))
            .collect();
        match failures.is_empty() {
            true => Ok(()),
            false => Err(crate::error::Error::Runtime(fold_lines(&failures))),
        }
    }

    /// Binds every role of the cluster to its machine's transport.
    pub fn bind(cluster: &Cluster, transports: Vec<Arc<dyn Transport>>) -> Result<Machines> {
        let mut roles: BTreeMap<String, Vec<RoleBinding>> = BTreeMap::new();
        let mut local: Option<Arc<dyn Transport>> = None;
        // An interface without a direction is forward on the first machine of its link and
        // backward on the next, in the order of the file (as the original mpf deduced it).
        let mut seen_links: Vec<String> = Vec::new();
        for (m, t) in cluster.machines.iter().zip(transports) {
            if m.local {
                local.get_or_insert_with(|| t.clone());
            }
            for r in &m.roles {
                let mut interfaces = r.interfaces.clone();
                for i in interfaces.iter_mut() {
                    if let (Some(l), None) = (&i.link, &i.direction) {
                        i.direction = Some(if seen_links.contains(l) {
                            "backward".into()
                        } else {
                            "forward".into()
                        });
                    }
                    if let Some(l) = &i.link {
                        if !seen_links.contains(l) {
                            seen_links.push(l.clone());
                        }
                    }
                }
                let ip = interfaces
                    .iter()
                    .map(|i| i.ip.clone())
                    .find(|ip| !ip.is_empty())
                    .or_else(|| m.address.clone())
                    .unwrap_or_else(|| m.hostname.clone());
                roles.entry(r.name.clone()).or_default().push(RoleBinding {
                    transport: t.clone(),
                    host: m.hostname.clone(),
                    node: r.node.clone(),
                    ip,
                    interfaces,
                    namespace: r.namespace.clone(),
                    cpu_id: r.cpu_id.clone(),
                    wrap: wrap_for(r.namespace.as_deref(), r.cpu_id.as_deref()),
                });
            }
        }
        if !roles.contains_key(DEFAULT_ROLE) {
            if let Some(t) = local.or_else(|| {
                Local::new("localhost")
                    .ok()
                    .map(|l| Arc::new(l) as Arc<dyn Transport>)
            }) {
                roles.insert(DEFAULT_ROLE.to_string(), vec![RoleBinding::local(t)]);
            }
        }
        let controller = roles
            .values()
            .flatten()
            .map(|b| b.transport.clone())
            .find(|t| t.ssh_command().is_none())
            .or_else(|| {
                Local::new("localhost")
                    .ok()
                    .map(|l| Arc::new(l) as Arc<dyn Transport>)
            });
        let controller = controller.ok_or_else(|| {
            crate::error::Error::Runtime("cannot start a shell on this machine (sh)".into())
        })?;
        Ok(Machines {
            roles,
            controller,
            fanout: cluster.fanout,
        })
    }

    /// Makes the result set's root private on every remote machine before the first run,
    /// `fanout` at a time (`Transport::prepare_root`: a question to each machine's helper),
    /// which the first run would otherwise do one machine after another (2.7 s for 64
    /// machines). A machine where it fails fails its first run, with the error.
    pub async fn prepare_roots(&self, set_id: &str) {
        let all: Vec<Arc<dyn Transport>> = self.machines().into_iter().map(|(t, _)| t).collect();
        let futs = all.iter().map(|t| t.prepare_root(set_id));
        let _ = Fanout::new(self.fanout).all(futs).await;
    }

    /// The machines of `role` (empty when it is not bound).
    pub fn nodes(&self, role: &str) -> &[RoleBinding] {
        self.roles.get(role).map_or(&[], Vec::as_slice)
    }

    /// Every machine of every role: `(role, index within the role, binding)`, roles in name
    /// order, machines in file order. What runs "on a role" runs on each of these.
    pub fn each_node(&self) -> impl Iterator<Item = (&str, usize, &RoleBinding)> {
        self.roles
            .iter()
            .flat_map(|(r, bs)| bs.iter().enumerate().map(move |(i, b)| (r.as_str(), i, b)))
    }

    /// The name machine `i` of `role` goes by in a run: its run directory (`runs/NNNN/<it>`)
    /// and the suffix of its results. The role's name when the role has one machine, else
    /// `role.node`, which no role name can be (role names hold no dot).
    pub fn node_label(&self, role: &str, i: usize) -> String {
        match self.nodes(role) {
            [_] | [] => role.to_string(),
            nodes => format!("{role}.{}", nodes.get(i).map_or("", |b| b.node.as_str())),
        }
    }

    /// `node` in the template context of a step on machine `i` of `role`.
    pub fn node_context(&self, role: &str, i: usize) -> Value {
        let nodes = self.nodes(role);
        let b = nodes.get(i);
        json!({
            "index": i,
            "count": nodes.len(),
            "name": b.map(|b| b.node.as_str()),
            "host": b.map(|b| b.host.as_str()),
        })
    }

    /// Distinct machines with the roles they bear.
    pub fn machines(&self) -> Vec<(Arc<dyn Transport>, Vec<String>)> {
        let mut out: Vec<(Arc<dyn Transport>, Vec<String>)> = Vec::new();
        for (role, _, b) in self.each_node() {
            match out.iter_mut().find(|(t, _)| Arc::ptr_eq(t, &b.transport)) {
                Some((_, rs)) if rs.iter().any(|r| r == role) => {}
                Some((_, rs)) => rs.push(role.to_string()),
                None => out.push((b.transport.clone(), vec![role.to_string()])),
            }
        }
        out
    }

    /// The interfaces the cluster file names for the roles a machine bears outside network
    /// namespaces (those inside one are not visible to the machine's facts).
    pub fn interfaces_of(&self, t: &Arc<dyn Transport>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, _, b) in self.each_node() {
            if !Arc::ptr_eq(&b.transport, t) || b.namespace.is_some() {
                continue;
            }
            for i in &b.interfaces {
                if !i.name.is_empty() && !out.contains(&i.name) {
                    out.push(i.name.clone());
                }
            }
        }
        out
    }

    /// `roles` and `links` for the template context. `roles.<r>` describes the role's first
    /// machine and lists them all in `hosts`.
    pub fn context(&self) -> (Value, Value) {
        let mut roles = Map::new();
        let mut links: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (name, bs) in &self.roles {
            let Some(b) = bs.first() else { continue };
            let hosts: Vec<Value> = bs
                .iter()
                .map(|b| {
                    json!({
                        "host": b.host,
                        "name": b.node,
                        "ip": b.ip,
                        "interfaces": b.interfaces,
                        "namespace": b.namespace,
                    })
                })
                .collect();
            roles.insert(
                name.clone(),
                json!({
                    "name": name,
                    "host": b.host,
                    "ip": b.ip,
                    "interfaces": b.interfaces,
                    "namespace": b.namespace,
                    "cpu_id": b.cpu_id,
                    "hosts": hosts,
                }),
            );
        }
        for (_, _, b) in self.each_node() {
            for i in &b.interfaces {
                if let Some(l) = &i.link {
                    let dir = match i.direction.as_deref() {
                        Some("backward") => "backward",
                        _ => "forward",
                    };
                    links
                        .entry(l.clone())
                        .or_default()
                        .insert(dir.into(), serde_json::to_value(i).unwrap_or(Value::Null));
                }
            }
        }
        let links = links
            .into_iter()
            .map(|(k, v)| (k, Value::Object(v)))
            .collect::<Map<_, _>>();
        (Value::Object(roles), Value::Object(links))
    }
}

/// One transport per machine of the cluster, in file order: local machines share one
/// `Local`, remote ones are connected concurrently, at most `fanout` at once, container
/// machines started (named `mpf-<set>-<machine>`).
pub(crate) async fn connect_all(cluster: &Cluster, set: &str) -> Vec<Result<Arc<dyn Transport>>> {
    let mut local: Option<Arc<dyn Transport>> = None;
    let mut futs = Vec::new();
    for m in &cluster.machines {
        if m.local {
            let t = match &local {
                Some(t) => Ok(t.clone()),
                None => Local::new("localhost").map(|l| {
                    let t: Arc<dyn Transport> = Arc::new(l);
                    local = Some(t.clone());
                    t
                }),
            };
            futs.push(Box::pin(async move { t }) as crate::exec::BoxFut<'_, _>);
            continue;
        }
        let cfg = match &m.container {
            Some(c) => container_config(m, c, set),
            None => {
                // srun names the node (`-w`); ssh connects to its address.
                let (destination, via) = match &m.transport {
                    MachineTransport::Ssh => (m.destination(), Via::Ssh),
                    MachineTransport::Srun { job } => {
                        (m.hostname.clone(), Via::Srun { job: job.clone() })
                    }
                };
                SshConfig {
                    name: m.hostname.clone(),
                    destination,
                    via,
                    port: m.port,
                    identity: m.identity.clone(),
                    options: m.ssh_options.clone(),
                    max_sessions: m.max_sessions,
                }
            }
        };
        futs.push(Box::pin(async move {
            Ssh::connect(cfg)
                .await
                .map(|s| Arc::new(s) as Arc<dyn Transport>)
        }));
    }
    // Started together: each connect polls its master, so the waits overlap.
    Fanout::new(cluster.fanout).all(futs).await
}

/// How to reach container machine `m`: `<engine> exec` here, or over ssh to its `host:`.
fn container_config(
    m: &crate::spec::cluster::Machine,
    c: &crate::spec::container::Container,
    set: &str,
) -> SshConfig {
    use crate::exec::container::{container_name, ContainerVia};
    use crate::spec::container::ContainerHost;
    let (remote, destination, port, identity, options) = match &c.host {
        ContainerHost::Local => (false, m.hostname.clone(), None, None, Vec::new()),
        ContainerHost::Ssh {
            destination,
            port,
            identity,
            ssh_options,
        } => (
            true,
            destination.clone(),
            *port,
            identity.clone(),
            ssh_options.clone(),
        ),
    };
    SshConfig {
        name: m.hostname.clone(),
        destination,
        via: Via::Container(Box::new(ContainerVia {
            engine: c.engine,
            image: c.image.clone(),
            template: c.template.clone(),
            options: c.options.clone(),
            name: container_name(set, &m.hostname),
            hostname: m.hostname.clone(),
            remote,
        })),
        port,
        identity,
        options,
        max_sessions: m.max_sessions,
    }
}

/// A machine's error, with the names it goes by in ssh's messages (for folding).
pub(crate) fn machine_error(m: &crate::spec::cluster::Machine, text: String) -> MachineError {
    let e = MachineError::new(&m.hostname, text).alias(&m.destination());
    match &m.address {
        Some(a) => e.alias(a),
        None => e,
    }
}

/// Closes the connections of `transports` at once, `fanout` at a time (each closing is a few
/// round trips and processes: one machine after another, a 16-machine session would pay them
/// 16 times).
pub(crate) fn disconnect_all(transports: &[Arc<dyn Transport>], fanout: usize) {
    let mut unique: Vec<&Arc<dyn Transport>> = Vec::new();
    for t in transports {
        if !unique.iter().any(|u| Arc::ptr_eq(u, t)) {
            unique.push(t);
        }
    }
    each_blocking(&unique, fanout, |t| t.disconnect());
}
