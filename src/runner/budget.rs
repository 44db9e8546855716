//! The ssh session budget of every machine, planned before anything runs.
//!
//! Every command on a remote machine is a session multiplexed over its one master connection,
//! and sshd caps the sessions of a connection (`MaxSessions`, 10 by default). A session is held
//! by the guard for the whole run, by the runner session of each background step until the end
//! of the run, and by that of each foreground step (or a run-directory collection) while it
//! runs; an idle runner session is closed when another needs its place. When a run needs more at
//! once than the machine allows, the next step would wait forever for a slot; so the peak is
//! computed from the experiment here and refused, before the run starts, with what to change.

use crate::error::{Error, Location, Result};
use crate::exec::ssh::GUARD_SESSIONS;
use crate::spec::cluster::{Machine, MachineTransport};
use crate::spec::{Cluster, Experiment, RoleSel, Step};

/// The sessions a machine needs at the peak of a run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
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
    pub(crate) fn total(&self) -> usize {
        self.guard
            + self.background.iter().map(|b| b.1).sum::<usize>()
            + self.foreground
            + self.monitor
    }
}

/// How many processes a role field starts on a machine at once: one per role it selects
/// that the machine bears, times the times the machine bears it (a role may have several
/// namespaces of one machine among its machines).
fn width(sel: &RoleSel, exp: &Experiment, roles: &[&str]) -> usize {
    let possible = exp.possible_roles();
    let count = |r: &str| roles.iter().filter(|m| **m == r).count();
    sel.names
        .iter()
        .map(|n| {
            if n.trim() == "all" {
                roles.len()
            } else if crate::template::is_template(n) {
                // A templated name renders to one role, any of those it can render to.
                possible.iter().map(|p| count(p)).max().unwrap_or(0)
            } else {
                count(n)
            }
        })
        .sum()
}

/// The peak number of sessions `machine` needs during one run of `exp`: what runs on it,
/// whichever other machines bear the same roles.
pub(crate) fn need(exp: &Experiment, machine: &Machine) -> Need {
    let roles: Vec<&str> = machine.roles.iter().map(|r| r.name.as_str()).collect();
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
        monitor: monitored(exp, machine),
    }
}

/// How many samplers `monitor:` runs on the machine: one per namespace and pinned CPUs that
/// monitored roles (those it lists, or every role a step, file or setup entry can use) are
/// bound to on the machine (roles sharing both share a sampler), so a machine bearing a role
/// in two namespaces runs two.
fn monitored(exp: &Experiment, machine: &Machine) -> usize {
    let Some(m) = &exp.monitor else {
        return 0;
    };
    let names = m.roles.clone().unwrap_or_else(|| exp.possible_roles());
    let mut places: Vec<(Option<&str>, Option<&str>)> = machine
        .roles
        .iter()
        .filter(|r| names.contains(&r.name))
        .map(|r| (r.namespace.as_deref(), r.cpu_id.as_deref()))
        .collect();
    places.sort_unstable();
    places.dedup();
    places.len()
}

/// Refuses (exit 2, at the endpoint's line of the experiment) a Prometheus endpoint on a role
/// of a machine reached with `transport: srun` or of a container machine: scraping it needs an
/// ssh port forward, which a step of a Slurm job or `<engine> exec` cannot give (SPEC §14.2).
pub(crate) fn check_transports(exp: &Experiment, cluster: &Cluster) -> Result<()> {
    let Some(monitor) = &exp.monitor else {
        return Ok(());
    };
    for e in &monitor.prometheus {
        let unforwarded = cluster.machines.iter().find(|m| {
            (matches!(m.transport, MachineTransport::Srun { .. }) || m.container.is_some())
                && m.roles.iter().any(|r| r.name == e.role)
        });
        if let Some(m) = unforwarded {
            let (how, instead) = match m.container {
                Some(_) => (
                    "is a container",
                    "bear the role on a machine reached over ssh",
                ),
                None => (
                    "is reached with transport: srun",
                    "reach it with transport: ssh",
                ),
            };
            return Err(Error::Input {
                location: e.loc.clone(),
                message: format!(
                    "monitor: prometheus endpoint of role '{}' (port {}) cannot be scraped: machine {} of that role {how}, and scraping needs an ssh port forward; {instead}, or record the metrics from a step",
                    e.role, e.port, m.hostname
                ),
            });
        }
    }
    Ok(())
}

/// Refuses (exit 2, at the machine's line in the cluster file) a machine whose `max_sessions`
/// cannot hold what one run of the experiment asks of it at once.
pub(crate) fn check_sessions(exp: &Experiment, cluster: &Cluster) -> Result<()> {
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
        // Over srun a session is a job step: no sshd limit to raise with it.
        let (kind, sshd) = match m.transport {
            _ if m.container.is_some() => ("sessions (engine exec at once)", ""),
            MachineTransport::Ssh => (
                "ssh sessions",
                " (and sshd's MaxSessions on the machine if it is lower)",
            ),
            MachineTransport::Srun { .. } => ("sessions (srun job steps at once)", ""),
        };
        return Err(Error::Input {
            location: Location::new(&cluster.path, m.line, 0),
            message: format!(
                "machine {} allows {} {kind} (max_sessions) but a run needs {} at once: {} for the guard{bg_text}{mon_text}, {} for foreground steps; raise max_sessions to {}{sshd}, or move background steps to another machine{or_monitor}",
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::{parse_cluster, parse_experiment};

    const EXP: &str = "name: b\nsteps:\n  - {name: srv, role: c, background: true, run: sleep 9}\n  - {name: load, role: [c, s], run: 'true'}\n";

    #[test]
    fn each_machine_counts_what_runs_on_it() {
        let exp = parse_experiment(Path::new("e.yaml"), EXP).unwrap();
        // Role c on two machines, twice on the second (two namespaces): each machine counts
        // only its own processes.
        let cluster = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: h1, role: [c, s]}\n  - hostname: h2\n    namespaces:\n      - {role: c, namespace: n1}\n      - {role: c, namespace: n2}\n",
        )
        .unwrap();
        let h1 = need(&exp, &cluster.machines[0]);
        assert_eq!(h1.background, vec![("srv".to_string(), 1)]);
        assert_eq!((h1.foreground, h1.total()), (2, GUARD_SESSIONS + 3));
        let h2 = need(&exp, &cluster.machines[1]);
        assert_eq!(h2.background, vec![("srv".to_string(), 2)]);
        assert_eq!((h2.foreground, h2.total()), (2, GUARD_SESSIONS + 4));
    }

    #[test]
    fn a_machine_too_small_is_named_with_what_to_change() {
        let exp = parse_experiment(Path::new("e.yaml"), EXP).unwrap();
        let cluster = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: h1, role: s}\n  - hostname: h2\n    max_sessions: 4\n    namespaces:\n      - {role: c, namespace: n1}\n      - {role: c, namespace: n2}\n",
        )
        .unwrap();
        let e = check_sessions(&exp, &cluster).unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:3:"), "{e}");
        assert!(
            e.contains("machine h2 allows 4 ssh sessions")
                && e.contains("2 for background steps (srv x2)")
                && e.contains("raise max_sessions to 5 (and sshd's MaxSessions"),
            "{e}"
        );
        // Over srun: job steps, and no sshd to speak of.
        let cluster = parse_cluster(
            Path::new("c.yaml"),
            "machines:\n  - {hostname: h1, role: [s, c], transport: srun, job: 7, max_sessions: 2}\n",
        )
        .unwrap();
        let e = check_sessions(&exp, &cluster).unwrap_err().to_string();
        assert!(
            e.contains("machine h1 allows 2 sessions (srun job steps at once) (max_sessions)")
                && e.contains("raise max_sessions to 4, or move"),
            "{e}"
        );
    }
}
