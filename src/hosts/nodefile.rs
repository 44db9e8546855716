//! One host per line: node files (`$OAR_NODEFILE`, `$PBS_NODEFILE`, any file) and the output
//! of a `command:`. A scheduler's node file names a host once per core: duplicates are folded.

use super::Host;

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
