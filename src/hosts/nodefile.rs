//! One host per line: node files (`$OAR_NODEFILE`, `$PBS_NODEFILE`, any file) and the output
//! of a `command:`. A scheduler's node file names a host once per core: duplicates are folded.

use std::path::{Path, PathBuf};

use super::sources::{path_text, Source};
use super::Host;
use crate::spec::hosts::HostSource;

/// A source that reads a node file: `file:`, else the file a scheduler's variable names
/// inside a job.
pub(super) struct NodeFile {
    name: &'static str,
    /// The variable naming the node file inside a job.
    file_var: Option<&'static str>,
    /// The variable naming the job (the allocation).
    job_var: Option<&'static str>,
}

/// `from: file`: the node file of `file:`.
pub(super) const FILE: NodeFile = NodeFile {
    name: "file",
    file_var: None,
    job_var: None,
};
/// `from: oar`: `file:`, else `$OAR_NODEFILE`; the allocation is `$OAR_JOB_ID`.
pub(super) const OAR: NodeFile = NodeFile {
    name: "oar",
    file_var: Some("OAR_NODEFILE"),
    job_var: Some("OAR_JOB_ID"),
};
/// `from: pbs`: `file:`, else `$PBS_NODEFILE`; the allocation is `$PBS_JOBID`.
pub(super) const PBS: NodeFile = NodeFile {
    name: "pbs",
    file_var: Some("PBS_NODEFILE"),
    job_var: Some("PBS_JOBID"),
};

impl Source for NodeFile {
    fn name(&self) -> &'static str {
        self.name
    }

    fn what(&self, s: &HostSource, _job: Option<&str>) -> Option<String> {
        path_text(&s.file)
    }

    fn allocation(&self, _s: &HostSource) -> Option<String> {
        self.job_var.and_then(|v| std::env::var(v).ok())
    }

    fn unavailable(&self, s: &HostSource) -> Option<String> {
        match self.node_file(s) {
            Ok(f) if !f.exists() => Some(format!("{} does not exist here", f.display())),
            Ok(_) => None,
            Err(e) => Some(e),
        }
    }

    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String> {
        let path = self.node_file(s)?;
        hosts_of_lines(&read_text(&path)?, &path.display().to_string())
    }
}

impl NodeFile {
    /// The node file of `file:`, else the scheduler's variable.
    fn node_file(&self, s: &HostSource) -> Result<PathBuf, String> {
        if let Some(f) = &s.file {
            return Ok(f.clone());
        }
        let Some(var) = self.file_var else {
            return Err(format!("from: {} needs file:", self.name));
        };
        std::env::var_os(var).map(PathBuf::from).ok_or_else(|| {
            format!(
                "from: {} needs file: or ${var} (run mpf inside the job)",
                self.name
            )
        })
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = crate::spec::read_input_file(path, "node file").map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// The most hosts one node file or command may name (before folding duplicates).
const MAX_LINES: usize = 1_000_000;

/// The hosts of `text` in order of first appearance; `what` names it in errors, each with
/// its line.
pub(super) fn hosts_of_lines(text: &str, what: &str) -> Result<Vec<Host>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i >= MAX_LINES {
            return Err(format!("{what} has more than {MAX_LINES} lines"));
        }
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if seen.insert(name.to_string()) {
            out.push(
                Host::checked(name.to_string(), None)
                    .map_err(|e| format!("line {} of {what}: {e}", i + 1))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_per_line_duplicates_folded() {
        let hosts = hosts_of_lines("n1\nn1\n\n  n2 \n# c\nn1\nn3\n", "nodes").unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["n1", "n2", "n3"]);
        for bad in [
            "n1\n-oProxyCommand=x\n",
            "n1\na b\n",
            "n1\n$(id)\n",
            "n1\nn;id\n",
        ] {
            let e = hosts_of_lines(bad, "nodes").unwrap_err();
            assert!(
                e.starts_with("line 2 of nodes: ") && e.contains("not a host name"),
                "{e}"
            );
        }
        assert!(hosts_of_lines(&"x\n".repeat(MAX_LINES + 1), "nodes")
            .unwrap_err()
            .contains("more than"));
    }
}
