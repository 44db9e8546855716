//! A host source read into hosts: which program or file each kind reads, and the defaults
//! schedulers leave in the environment.

use std::path::PathBuf;

use crate::spec::hosts::{source_host_problem, HostSource};

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

/// How one kind of `hosts: {from: NAME}` is read into hosts when a run is prepared.
pub(crate) trait Source: Sync {
    /// The `from:` value, as in `spec::hosts::SOURCE_KINDS`.
    fn name(&self) -> &'static str;
    /// What the source reads, for messages (`job 123`, a file, a list); `job` is the Slurm
    /// job, for sources that have one.
    fn what(&self, s: &HostSource, job: Option<&str>) -> Option<String>;
    /// The Slurm job the hosts are in (`transport: srun`, time limits), for sources that
    /// have one.
    fn job(&self, _s: &HostSource) -> Result<Option<String>, String> {
        Ok(None)
    }
    /// The allocation the source reads now (a scheduler's job), to tell a new allocation
    /// from the one a set ran in.
    fn allocation(&self, _s: &HostSource) -> Option<String> {
        None
    }
    /// Why the source cannot be read where mpf runs now (no job, no file, no program), as
    /// opposed to a source that reads and gives something wrong.
    fn unavailable(&self, _s: &HostSource) -> Option<String> {
        None
    }
    /// The hosts, in the source's order.
    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String>;
}

/// The reader of a source.
fn source_of(s: &HostSource) -> Result<&'static dyn Source, String> {
    super::SOURCES
        .iter()
        .copied()
        .find(|r| r.name() == s.kind.name())
        .ok_or_else(|| format!("mpf has no reader for hosts from {}", s.kind.name()))
}

/// What a source is, for messages: `slurm job 123`, `file nodes.txt`.
pub(super) fn describe(s: &HostSource, job: Option<&str>) -> String {
    match source_of(s).ok().and_then(|r| r.what(s, job)) {
        Some(w) => format!(
            "hosts from {} {}",
            s.kind.name(),
            crate::spec::shown_text(&w)
        ),
        None => format!("hosts from {}", s.kind.name()),
    }
}

/// A path a source reads, as messages show it.
pub(super) fn path_text(p: &Option<PathBuf>) -> Option<String> {
    p.as_ref().map(|p| p.display().to_string())
}

/// The Slurm job of a source that has one.
pub(super) fn job(s: &HostSource) -> Result<Option<String>, String> {
    source_of(s)?.job(s)
}

/// The allocation the source reads now (`slurm`: the job; `oar`, `pbs`: the job the
/// scheduler's environment names), to tell a new allocation from the one a set ran in.
pub(crate) fn allocation(s: &HostSource) -> Option<String> {
    source_of(s).ok()?.allocation(s)
}

/// Why the source cannot be read where mpf runs now (no Slurm job, no node file, no
/// `ansible-inventory`), as opposed to a source that reads and gives something wrong.
pub(crate) fn unavailable(s: &HostSource) -> Option<String> {
    match source_of(s) {
        Ok(r) => r.unavailable(s),
        Err(e) => Some(e),
    }
}

/// Whether `program` is in a directory of `$PATH`.
pub(super) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The hosts of a source, in its order.
pub(super) fn read_source(s: &HostSource) -> Result<Vec<Host>, String> {
    let hosts = source_of(s)?.read(s)?;
    if hosts.is_empty() {
        return Err("the source names no host".into());
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::super::SOURCES;
    use crate::spec::hosts::SOURCE_KINDS;

    #[test]
    fn every_source_the_loader_knows_has_one_reader() {
        let kinds: Vec<&str> = SOURCE_KINDS.iter().map(|k| k.name).collect();
        let readers: Vec<&str> = SOURCES.iter().map(|r| r.name()).collect();
        assert_eq!(kinds, readers);
    }
}
