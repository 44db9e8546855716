//! The ssh session budget of every machine, planned before anything runs.
//!
//! Every command on a remote machine is a session multiplexed over its one master connection,
//! and sshd caps the sessions of a connection (`MaxSessions`, 10 by default). A session is held
//! by the guard for the whole run, by each background step until the end of the run, and by
//! each foreground step (or run-directory collection) while it runs. When a run needs more at
//! once than the machine allows, the next step would wait forever for a slot; so the peak is
//! computed from the experiment here and refused, before the run starts, with what to change.

use std::collections::BTreeSet;

use crate::error::{Error, Location, Result};
use crate::exec::ssh::GUARD_SESSIONS;
use crate::spec::cluster::Machine;
use crate::spec::{Cluster, Experiment, RoleSel, Step};

/// The sessions a machine needs at the peak of a run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub guard: usize,
    /// `(step name, sessions)` of the background steps that run on the machine.
    pub background: Vec<(String, usize)>,
    /// The widest foreground (or teardown) step on the machine: at least 1 (collection).
    pub foreground: usize,
    /// Monitoring samplers: one per monitored role of the machine, for the whole run (a
    /// Prometheus port forward goes over the master with `-O forward`: no session).
    pub monitor: usize,
}

impl Need {
    pub fn total(&self) -> usize {
        self.guard
            + self.background.iter().map(|b| b.1).sum::<usize>()
            + self.foreground
            + self.monitor
    }
}

/// How many of the machine's roles a role field can select at once.
fn width(sel: &RoleSel, exp: &Experiment, roles: &BTreeSet<&str>) -> usize {
    let possible = exp.possible_roles();
    sel.names
        .iter()
        .map(|n| {
            if n.trim() == "all" {
                roles.len()
            } else if n.contains("{{") {
                // A templated name renders to one role, any of those its variables allow.
                usize::from(possible.iter().any(|p| roles.contains(p.as_str())))
            } else {
                usize::from(roles.contains(n.as_str()))
            }
        })
        .sum()
}

/// The peak number of sessions `machine` needs during one run of `exp`.
pub fn need(exp: &Experiment, machine: &Machine) -> Need {
    let roles: BTreeSet<&str> = machine.roles.iter().map(|r| r.name.as_str()).collect();
    let on_machine = |s: &Step| width(&s.role, exp, &roles);
    let background = exp
        .steps
        .iter()
        .filter(|s| s.background)
        .map(|s| (s.name.clone(), on_machine(s)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let foreground = exp
        .steps
        .iter()
        .filter(|s| !s.background)
        .chain(&exp.teardown)
        .map(on_machine)
        .max()
        .unwrap_or(0)
        .max(1);
    Need {
        guard: GUARD_SESSIONS,
        background,
        foreground,
        monitor: monitored(exp, &roles),
    }
}

/// How many of the machine's roles `monitor:` samples: those it lists, or (`all`) every role
/// of the machine a step, file or setup entry can use.
fn monitored(exp: &Experiment, roles: &BTreeSet<&str>) -> usize {
    let Some(m) = &exp.monitor else {
        return 0;
    };
    let names = m.roles.clone().unwrap_or_else(|| exp.possible_roles());
    names.iter().filter(|r| roles.contains(r.as_str())).count()
}

/// Refuses (exit 2, at the machine's line in the cluster file) a machine whose `max_sessions`
/// cannot hold what one run of the experiment asks of it at once.
pub fn check_sessions(exp: &Experiment, cluster: &Cluster) -> Result<()> {
    for m in cluster.machines.iter().filter(|m| !m.local) {
        let need = need(exp, m);
        if need.total() <= m.max_sessions {
            continue;
        }
        let bg: Vec<String> = need
            .background
            .iter()
            .map(|(name, n)| format!("{name} x{n}"))
            .collect();
        let bg_text = if bg.is_empty() {
            String::new()
        } else {
            format!(
                ", {} for background steps ({})",
                need.background.iter().map(|b| b.1).sum::<usize>(),
                bg.join(", ")
            )
        };
        let (mon_text, or_monitor) = if need.monitor == 0 {
            (String::new(), "")
        } else {
            (
                format!(", {} for monitoring samplers", need.monitor),
                " or monitor fewer of its roles",
            )
        };
        return Err(Error::Input {
            location: Location::new(&cluster.path, m.line, 0),
            message: format!(
                "machine {} allows {} ssh sessions (max_sessions) but a run needs {} at once: {} for the guard{bg_text}{mon_text}, {} for foreground steps; raise max_sessions to {} (and sshd's MaxSessions on the machine if it is lower), or move background steps to another machine{or_monitor}",
                m.hostname,
                m.max_sessions,
                need.total(),
                need.guard,
                need.foreground,
                need.total()
            ),
        });
    }
    Ok(())
}
