//! The open-files limit a session with many machines needs (SPEC §14.4). mpf holds, per
//! remote machine, the two pipes of its helper and, per session of the machine's
//! `max_sessions`, a runner's three pipes, the two logs of the step it runs and the pipe of an
//! archive being collected; a default soft limit of 1024 is short of that from about 20
//! machines. The soft limit is raised as far as needed (never above the hard limit, and
//! never lowered); a hard limit below the need is an error before any machine is connected.

use crate::error::{Error, Result};
use crate::spec::Cluster;

/// What mpf holds whatever the machines: stdio, the runtime, the journal and manifest, the
/// guard, the signal pipe, the monitor's files.
pub(crate) const BASE: u64 = 64;
/// Per remote machine: the helper's stdin and stdout, and some room (the master's log while
/// it starts).
pub(crate) const PER_MACHINE: u64 = 4;
/// Per session of a machine's `max_sessions`: a runner's stdin, stdout and stderr, the two
/// logs of its step, and the pipe of a collection.
pub(crate) const PER_SESSION: u64 = 6;

/// The file descriptors mpf may hold at once with the machines of `cluster`.
pub(crate) fn needed(cluster: &Cluster) -> u64 {
    cluster
        .machines
        .iter()
        .filter(|m| !m.local)
        .map(|m| PER_MACHINE + PER_SESSION * m.max_sessions as u64)
        .sum::<u64>()
        + BASE
}

/// Raises the soft open-files limit to what `cluster` needs, up to the hard limit; an error
/// naming the numbers when the hard limit is lower. Returns the soft limit now in force.
pub(crate) fn raise_for(cluster: &Cluster) -> Result<u64> {
    let need = needed(cluster);
    let remote = cluster.machines.iter().filter(|m| !m.local).count();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(Error::io(
            "failed to read the open-files limit",
            std::io::Error::last_os_error(),
        ));
    }
    let (soft, hard) = (lim.rlim_cur, lim.rlim_max);
    if soft >= need {
        return Ok(soft);
    }
    if hard < need {
        return Err(Error::Runtime(format!(
            "{}: {remote} remote machines need up to {need} open files in mpf ({BASE}, and {PER_MACHINE} per machine and {PER_SESSION} per session of its max_sessions), but the hard limit is {hard} (ulimit -Hn): raise it (limits.conf, systemd's LimitNOFILE) or lower the machines' max_sessions",
            cluster.path.display()
        )));
    }
    lim.rlim_cur = need;
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(Error::io(
            format!("failed to raise the open-files limit from {soft} to {need}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cluster(n: usize, max_sessions: usize) -> Cluster {
        let mut text = String::from("machines:\n  - {hostname: localhost, role: here}\n");
        for i in 0..n {
            text.push_str(&format!(
                "  - {{hostname: n{i}, max_sessions: {max_sessions}, role: r}}\n"
            ));
        }
        crate::spec::cluster::parse_cluster(Path::new("c.yaml"), &text).unwrap()
    }

    #[test]
    fn the_need_grows_with_remote_machines_and_their_sessions() {
        // The local machine costs nothing of its own.
        assert_eq!(needed(&cluster(0, 8)), BASE);
        assert_eq!(needed(&cluster(1, 8)), BASE + 4 + 6 * 8);
        assert_eq!(needed(&cluster(64, 8)), 64 + 64 * 52);
        assert_eq!(needed(&cluster(64, 2)), 64 + 64 * 16);
    }

    #[test]
    fn a_limit_that_suffices_is_left_as_it_is() {
        // The test process's own limit covers one machine: nothing changes.
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) };
        if before.rlim_cur < needed(&cluster(1, 1)) {
            return;
        }
        assert_eq!(raise_for(&cluster(1, 1)).unwrap(), before.rlim_cur);
    }
}
