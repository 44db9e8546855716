//! Which machine each role runs on, and what templates see of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::exec::{Local, Transport};
use crate::spec::{Experiment, DEFAULT_ROLE};

/// A network interface as templates see it (`roles.X.interfaces[i]`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Interface {
    pub name: String,
    pub ip: String,
    pub link: Option<String>,
    pub direction: Option<String>,
    pub neighbour: Option<String>,
}

pub struct RoleBinding {
    pub transport: Arc<dyn Transport>,
    /// Host name as written (or `localhost`).
    pub host: String,
    /// First interface's ip, else the host.
    pub ip: String,
    pub interfaces: Vec<Interface>,
    pub namespace: Option<String>,
    pub cpu_id: Option<String>,
}

/// Role name -> machine.
pub struct Machines {
    pub roles: BTreeMap<String, RoleBinding>,
}

impl Machines {
    /// Every role of the experiment on this machine (no cluster file).
    pub fn local(exp: &Experiment) -> Result<Machines> {
        let t: Arc<dyn Transport> = Arc::new(Local::new("localhost")?);
        let mut roles = BTreeMap::new();
        let mut names = exp.possible_roles();
        names.push(DEFAULT_ROLE.to_string());
        for r in names {
            roles.insert(
                r,
                RoleBinding {
                    transport: t.clone(),
                    host: "localhost".into(),
                    ip: "127.0.0.1".into(),
                    interfaces: Vec::new(),
                    namespace: None,
                    cpu_id: None,
                },
            );
        }
        Ok(Machines { roles })
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
