//! Which machine each role runs on, and what templates see of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::exec::{wrap_for, Local, Ssh, SshConfig, Transport};
use crate::spec::Cluster;
use crate::spec::{Experiment, DEFAULT_ROLE};

pub use crate::spec::cluster::Interface;

pub struct RoleBinding {
    pub transport: Arc<dyn Transport>,
    /// Host name as written (or `localhost`).
    pub host: String,
    /// First interface's ip, else the host.
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
            ip: "127.0.0.1".into(),
            interfaces: Vec::new(),
            namespace: None,
            cpu_id: None,
            wrap: Vec::new(),
        }
    }
}

/// Role name -> machine.
pub struct Machines {
    pub roles: BTreeMap<String, RoleBinding>,
    /// The machine mpf runs on, for work that starts here (rsync to a remote machine).
    pub controller: Arc<dyn Transport>,
}

impl Machines {
    /// Every role of the experiment on this machine (no cluster file).
    pub fn local(exp: &Experiment) -> Result<Machines> {
        let t: Arc<dyn Transport> = Arc::new(Local::new("localhost")?);
        let mut roles = BTreeMap::new();
        let mut names = exp.possible_roles();
        names.push(DEFAULT_ROLE.to_string());
        for r in names {
            roles.insert(r, RoleBinding::local(t.clone()));
        }
        Ok(Machines {
            roles,
            controller: t,
        })
    }

    /// The machines of a cluster file, connected (one ssh master each, concurrently).
    /// `local` (steps without a role) runs on this machine unless the cluster binds it.
    pub fn from_cluster(cluster: &Cluster) -> Result<Machines> {
        let rt = crate::runner::runtime()?;
        let transports = rt.block_on(connect_all(cluster));
        let mut failures = Vec::new();
        let mut ts = Vec::new();
        for t in transports {
            match t {
                Ok(t) => ts.push(t),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !failures.is_empty() {
            return Err(crate::error::Error::Runtime(failures.join("\n")));
        }
        Machines::bind(cluster, ts)
    }

    /// Binds every role of the cluster to its machine's transport.
    pub fn bind(cluster: &Cluster, transports: Vec<Arc<dyn Transport>>) -> Result<Machines> {
        let mut roles = BTreeMap::new();
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
                    .unwrap_or_else(|| m.hostname.clone());
                roles.insert(
                    r.name.clone(),
                    RoleBinding {
                        transport: t.clone(),
                        host: m.hostname.clone(),
                        ip,
                        interfaces,
                        namespace: r.namespace.clone(),
                        cpu_id: r.cpu_id.clone(),
                        wrap: wrap_for(r.namespace.as_deref(), r.cpu_id.as_deref()),
                    },
                );
            }
        }
        if !roles.contains_key(DEFAULT_ROLE) {
            if let Some(t) = local.or_else(|| {
                Local::new("localhost")
                    .ok()
                    .map(|l| Arc::new(l) as Arc<dyn Transport>)
            }) {
                roles.insert(DEFAULT_ROLE.to_string(), RoleBinding::local(t));
            }
        }
        let controller = roles
            .values()
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
        Ok(Machines { roles, controller })
    }

    /// Distinct machines with the roles they bear.
    pub fn machines(&self) -> Vec<(Arc<dyn Transport>, Vec<String>)> {
        let mut out: Vec<(Arc<dyn Transport>, Vec<String>)> = Vec::new();
        for (role, b) in &self.roles {
            match out.iter_mut().find(|(t, _)| Arc::ptr_eq(t, &b.transport)) {
                Some((_, rs)) => rs.push(role.clone()),
                None => out.push((b.transport.clone(), vec![role.clone()])),
            }
        }
        out
    }

    /// The interfaces the cluster file names for the roles a machine bears outside network
    /// namespaces (those inside one are not visible to the machine's facts).
    pub fn interfaces_of(&self, t: &Arc<dyn Transport>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in self.roles.values() {
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

    /// `roles` and `links` for the template context.
    pub fn context(&self) -> (Value, Value) {
        let mut roles = Map::new();
        let mut links: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (name, b) in &self.roles {
            roles.insert(
                name.clone(),
                json!({
                    "name": name,
                    "host": b.host,
                    "ip": b.ip,
                    "interfaces": b.interfaces,
                    "namespace": b.namespace,
                    "cpu_id": b.cpu_id,
                }),
            );
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
/// `Local`, remote ones are connected concurrently.
pub async fn connect_all(cluster: &Cluster) -> Vec<Result<Arc<dyn Transport>>> {
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
        let cfg = SshConfig {
            name: m.hostname.clone(),
            destination: m.destination(),
            port: m.port,
            identity: m.identity.clone(),
            options: m.ssh_options.clone(),
            max_sessions: m.max_sessions,
        };
        futs.push(Box::pin(async move {
            Ssh::connect(cfg)
                .await
                .map(|s| Arc::new(s) as Arc<dyn Transport>)
        }));
    }
    let mut out = Vec::new();
    // Started together: each connect polls its master, so the waits overlap.
    let handles: Vec<_> = futs.into_iter().collect();
    for r in join_all(handles).await {
        out.push(r);
    }
    out
}

async fn join_all<T>(futs: Vec<crate::exec::BoxFut<'_, T>>) -> Vec<T> {
    let mut slots: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, crate::exec::BoxFut<'_, T>)> =
        futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                slots[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    slots.into_iter().flatten().collect()
}
