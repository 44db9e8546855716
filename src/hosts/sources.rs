//! A host source read into hosts: which program or file each kind reads, and the defaults
//! schedulers leave in the environment.

use std::path::{Path, PathBuf};

use crate::spec::hosts::{slurm_job_ok, source_host_problem, HostSource, SourceKind};

/// One host a source gave, checked before it becomes anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Host {
    /// The name in records and result suffixes (a Slurm `NodeName`, an inventory name).
    pub name: String,
    /// Where to connect when it differs from the name (`NodeAddr`, `ansible_host`).
    pub address: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<String>,
    pub ssh_options: Vec<String>,
    /// Ansible groups the host is in (with every group above them).
    pub groups: Vec<String>,
}

impl Host {
    /// A host whose name and address are plausible host names (never an option, a second
    /// word or shell syntax).
    pub(crate) fn checked(name: String, address: Option<String>) -> Result<Host, String> {
        for h in std::iter::once(&name).chain(address.as_ref()) {
            if let Some(p) = source_host_problem(h) {
                return Err(p);
            }
        }
        Ok(Host {
            name,
            address,
            ..Default::default()
        })
    }
}

/// What a source is, for messages: `slurm job 123`, `file nodes.txt`.
pub(super) fn describe(s: &HostSource, job: Option<&str>) -> String {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let what = match s.kind {
        SourceKind::Slurm => job.map(|j| format!("job {j}")),
        SourceKind::File | SourceKind::Oar | SourceKind::Pbs => path(&s.file),
        SourceKind::Ansible => path(&s.inventory),
        SourceKind::List => s.list.clone(),
        SourceKind::Command => s.command.clone(),
    };
    match what {
        Some(w) => format!(
            "hosts from {} {}",
            s.kind.name(),
            crate::spec::shown_text(&w)
        ),
        None => format!("hosts from {}", s.kind.name()),
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

/// The allocation the source reads now (`slurm`: the job; `oar`, `pbs`: the job the
/// scheduler's environment names), to tell a new allocation from the one a set ran in.
pub(crate) fn allocation(s: &HostSource) -> Option<String> {
    match s.kind {
        SourceKind::Slurm => slurm_job(s).ok(),
        SourceKind::Oar => std::env::var("OAR_JOB_ID").ok(),
        SourceKind::Pbs => std::env::var("PBS_JOBID").ok(),
        _ => None,
    }
}

/// Why the source cannot be read where mpf runs now (no Slurm job, no node file, no
/// `ansible-inventory`), as opposed to a source that reads and gives something wrong.
pub(crate) fn unavailable(s: &HostSource) -> Option<String> {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
    };
    match s.kind {
        SourceKind::Slurm if !on_path("squeue") => {
            Some("squeue (Slurm) is not installed here".into())
        }
        SourceKind::Slurm => slurm_job(s).err(),
        SourceKind::Oar | SourceKind::Pbs | SourceKind::File => match node_file(s) {
            Ok(f) if !f.exists() => Some(format!("{} does not exist here", f.display())),
            Ok(_) => None,
            Err(e) => Some(e),
        },
        SourceKind::Ansible if !on_path("ansible-inventory") => {
            Some("ansible-inventory (ansible-core) is not installed here".into())
        }
        _ => None,
    }
}

/// The node file of `file:`, else the scheduler's variable.
fn node_file(s: &HostSource) -> Result<PathBuf, String> {
    if let Some(f) = &s.file {
        return Ok(f.clone());
    }
    let var = match s.kind {
        SourceKind::Oar => "OAR_NODEFILE",
        _ => "PBS_NODEFILE",
    };
    std::env::var_os(var).map(PathBuf::from).ok_or_else(|| {
        format!(
            "from: {} needs file: or ${var} (run mpf inside the job)",
            s.kind.name()
        )
    })
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = crate::spec::read_input_file(path, "node file").map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// The hosts of a source, in its order.
pub(super) fn read_source(s: &HostSource) -> Result<Vec<Host>, String> {
    let hosts = match s.kind {
        SourceKind::Slurm => super::slurm::job_hosts(&slurm_job(s)?)?,
        SourceKind::Oar | SourceKind::Pbs | SourceKind::File => {
            let path = node_file(s)?;
            super::nodefile::hosts_of_lines(&read_text(&path)?, &path.display().to_string())?
        }
        SourceKind::Ansible => {
            super::ansible::inventory_hosts(s.inventory.as_deref().unwrap_or(Path::new("")))?
        }
        SourceKind::List => {
            let list = s.list.as_deref().unwrap_or_default();
            super::hostlist::expand(list)?
                .into_iter()
                .map(|n| Host::checked(n, None))
                .collect::<Result<_, _>>()?
        }
        SourceKind::Command => {
            let script = s.command.as_deref().unwrap_or_default();
            let out = super::command::run_bounded("sh", &["-c", script], super::command::TIMEOUT)?;
            super::nodefile::hosts_of_lines(&out, "the output of the command")?
        }
    };
    if hosts.is_empty() {
        return Err("the source names no host".into());
    }
    Ok(hosts)
}
