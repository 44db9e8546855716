//! Where a session's cluster comes from (SPEC §20): one `ClusterSource`, chosen from the
//! `-c` flag that `mpf run`, `mpf check` and `mpf deploy` share and from the set a session
//! resumes, and one loader that reads it and resolves its host source (SPEC §14.1).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::spec::{self, Cluster};
use crate::store::layout;
use crate::store::Manifest;

/// Where the machines come from.
#[derive(Debug, Clone)]
pub(crate) enum ClusterSource {
    /// No cluster: every role runs on this machine.
    Local,
    /// A cluster file (`-c FILE`).
    File(PathBuf),
    /// The cluster a result set stored (`--resume` without `-c`): its `cluster.yaml`, on the
    /// machines of its `cluster.resolved.yaml` unless its host source now reads another
    /// allocation (a new Slurm job), which is then resolved again.
    Set {
        dir: PathBuf,
        manifest: Box<Manifest>,
    },
}

/// A source read: the cluster, its `hosts:` as resolved for this session, and why they could
/// not be resolved here (only when that was allowed).
#[derive(Default)]
pub(crate) struct Loaded {
    pub cluster: Option<Cluster>,
    pub resolved: Option<super::Resolved>,
    pub unresolved: Option<String>,
}

impl ClusterSource {
    /// `-c FILE` when given, else the resumed set's stored cluster, else this machine.
    pub(crate) fn choose(
        flag: Option<&Path>,
        resumed: Option<(&Path, &Manifest)>,
    ) -> ClusterSource {
        match (flag, resumed) {
            (Some(f), _) => ClusterSource::File(f.to_path_buf()),
            (None, Some((dir, m))) if dir.join(layout::CLUSTER).exists() => ClusterSource::Set {
                dir: dir.to_path_buf(),
                manifest: Box::new(m.clone()),
            },
            _ => ClusterSource::Local,
        }
    }

    /// Reads the cluster and resolves its host source. `allow_unresolved` (`mpf check`): a
    /// source that cannot be read here (no Slurm job, no node file) is left unresolved with
    /// the reason instead of failing; one that gives wrong hosts is still an error.
    pub(crate) fn load(&self, allow_unresolved: bool) -> Result<Loaded> {
        let path = match self {
            ClusterSource::Local => return Ok(Loaded::default()),
            ClusterSource::File(p) => p.clone(),
            ClusterSource::Set { dir, .. } => dir.join(layout::CLUSTER),
        };
        let c = spec::load_cluster(&path)?;
        let Some(source) = &c.hosts else {
            return Ok(Loaded {
                cluster: Some(c),
                ..Default::default()
            });
        };
        if let ClusterSource::Set { dir, manifest: m } = self {
            let file = dir.join(layout::CLUSTER_RESOLVED);
            let last = m.sessions.last().and_then(|s| s.allocation.clone());
            let now = super::allocation(source);
            if file.exists() && (now.is_none() || now == last) {
                let machines = spec::load_cluster(&file)?;
                let resolved = super::Resolved {
                    cluster: machines.clone(),
                    source: format!("{} of set {}", layout::CLUSTER_RESOLVED, m.id),
                    slurm_job: last.clone().filter(|_| source.kind.slurm),
                    allocation: last,
                    dropped: Vec::new(),
                    unused: Vec::new(),
                };
                return Ok(Loaded {
                    cluster: Some(machines),
                    resolved: Some(resolved),
                    unresolved: None,
                });
            }
        }
        match super::read(&c) {
            Ok(Some(hosts)) => {
                let r = super::assign_roles(&c, hosts)?;
                Ok(Loaded {
                    cluster: Some(r.cluster.clone()),
                    resolved: Some(r),
                    unresolved: None,
                })
            }
            Ok(None) => Ok(Loaded {
                cluster: Some(c),
                ..Default::default()
            }),
            Err(e) if allow_unresolved && super::unavailable(source).is_some() => Ok(Loaded {
                cluster: Some(c),
                resolved: None,
                unresolved: Some(e.to_string()),
            }),
            Err(e) => Err(e),
        }
    }
}
