//! A Slurm job's nodes: `squeue -h -j JOB -o %N` expanded as `scontrol show hostnames` does,
//! each node's address from `scontrol show node -o` (`NodeAddr`).

use super::command::{run_bounded, TIMEOUT};
use super::hostlist;
use super::sources::{on_path, Source};
use super::Host;
use crate::spec::hosts::{slurm_job_ok, HostSource};

/// `from: slurm`: the nodes of `job:`, else of `$SLURM_JOB_ID`.
pub(super) struct Slurm;

impl Source for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn what(&self, _s: &HostSource, job: Option<&str>) -> Option<String> {
        job.map(|j| format!("job {j}"))
    }

    fn job(&self, s: &HostSource) -> Result<Option<String>, String> {
        slurm_job(s).map(Some)
    }

    fn allocation(&self, s: &HostSource) -> Option<String> {
        slurm_job(s).ok()
    }

    fn unavailable(&self, s: &HostSource) -> Option<String> {
        if !on_path("squeue") {
            return Some("squeue (Slurm) is not installed here".into());
        }
        slurm_job(s).err()
    }

    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String> {
        job_hosts(&slurm_job(s)?)
    }
}

/// The Slurm job a source reads: `job:`, else `$SLURM_JOB_ID`.
pub(super) fn slurm_job(s: &HostSource) -> Result<String, String> {
    let job = match &s.job {
        Some(j) => j.clone(),
        None => std::env::var("SLURM_JOB_ID").map_err(|_| {
            "from: slurm needs job: or $SLURM_JOB_ID (run mpf inside salloc or sbatch)".to_string()
        })?,
    };
    if !slurm_job_ok(&job) {
        return Err(format!(
            "$SLURM_JOB_ID '{}' is not a Slurm job id",
            crate::spec::shown_text(&job)
        ));
    }
    Ok(job)
}

/// The nodes of `job`, with their addresses where they differ from their names.
pub(super) fn job_hosts(job: &str) -> Result<Vec<Host>, String> {
    let list = run_bounded("squeue", &["-h", "-j", job, "-o", "%N"], TIMEOUT)?;
    let list = list.trim();
    if list.is_empty() || list == "(null)" {
        return Err(format!(
            "Slurm job {job} has no nodes (not running yet, or ended)"
        ));
    }
    let names = hostlist::expand(list).map_err(|e| format!("squeue's node list: {e}"))?;
    let nodes = run_bounded("scontrol", &["show", "node", "-o", list], TIMEOUT)?;
    let addrs: std::collections::HashMap<&str, &str> = node_addresses(&nodes).into_iter().collect();
    names
        .into_iter()
        .map(|name| {
            let address = addrs
                .get(name.as_str())
                .map(|a| a.to_string())
                .filter(|a| *a != name);
            Host::checked(name, address)
        })
        .collect()
}

/// `(NodeName, NodeAddr)` of each line of `scontrol show node -o`. A line is `Key=value`
/// words; values such as `OS=` or `Reason=` may hold spaces, so only the first `NodeName=`
/// and `NodeAddr=` words of a line are read (both come before any free text).
pub(super) fn node_addresses(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .filter(|v| !v.is_empty())
            };
            Some((field("NodeName=")?, field("NodeAddr=")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scontrol show node -o n[1-2]` as Slurm 22.05 prints it (one node per line).
    const SHOW_NODE: &str = "NodeName=n1 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.51 AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=10.77.3.2 NodeHostName=n1 Version=22.05.8 OS=Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) RealMemory=1000 AllocMem=0 FreeMem=3000 Sockets=2 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=p BootTime=2026-12-07T03:00:00 SlurmdStartTime=2026-12-07T03:10:00 LastBusyTime=2026-12-07T03:10:00 CfgTRES=cpu=2,mem=1000M,billing=2 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s\nNodeName=n2 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 NodeAddr=n2 NodeHostName=n2 Version=22.05.8 OS=Linux 6.1.0 State=DOWN Reason=NodeAddr=evil;id [root@2026-12-07T03:00:00]\n";

    #[test]
    fn addresses_are_read_from_scontrol_show_node() {
        assert_eq!(
            node_addresses(SHOW_NODE),
            [("n1", "10.77.3.2"), ("n2", "n2")]
        );
        assert!(node_addresses("No nodes in the system\n").is_empty());
        assert!(node_addresses("NodeName= NodeAddr=\n").is_empty());
    }
}
