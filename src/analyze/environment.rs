//! What differs between the environments of two result sets (SPEC §12.2): kernel, CPU, the
//! settings of §12.1, the mpf version, the commits of synced directories, and the experiment
//! file as a unified diff. A change in any of them can move a mean as much as the code does.

use serde::Serialize;

use crate::store::{BlockInfo, HostFacts, Manifest};

/// One thing that differs: `kernel of n1`, BASE's and NEW's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Difference {
    pub what: String,
    pub base: String,
    pub new: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Environment {
    pub differences: Vec<Difference>,
    /// The experiment files as a unified diff; `None` when they are the same.
    pub experiment_diff: Option<String>,
}

impl Environment {
    pub(crate) fn is_empty(&self) -> bool {
        self.differences.is_empty() && self.experiment_diff.is_none()
    }
}

const MISSING: &str = "(none)";

fn host_values(h: &HostFacts) -> Vec<(String, String)> {
    let mut v = vec![
        ("kernel".to_string(), h.kernel.clone()),
        ("CPU".to_string(), h.cpu_model.clone()),
        ("cores".to_string(), h.cores.to_string()),
        ("memory".to_string(), h.memory_bytes.to_string()),
        ("OS".to_string(), h.os.clone()),
    ];
    v.extend(h.settings.iter().map(|(k, x)| (k.clone(), x.clone())));
    v
}

fn synced(m: &Manifest) -> Vec<(String, String)> {
    m.synced
        .iter()
        .map(|s| {
            let state = match &s.git {
                Some(g) => format!("{}{}", g.commit, if g.dirty { " (dirty)" } else { "" }),
                None => "not a git checkout".to_string(),
            };
            (s.from.clone(), state)
        })
        .collect()
}

/// Pairs of (key, value) lists compared key by key, in BASE's order then NEW's new keys.
fn diff_pairs(
    out: &mut Vec<Difference>,
    prefix: &str,
    base: &[(String, String)],
    new: &[(String, String)],
) {
    let get =
        |v: &[(String, String)], k: &str| v.iter().find(|(x, _)| x == k).map(|(_, y)| y.clone());
    let mut keys: Vec<&String> = base.iter().map(|(k, _)| k).collect();
    keys.extend(
        new.iter()
            .map(|(k, _)| k)
            .filter(|k| !base.iter().any(|(b, _)| b == *k)),
    );
    for k in keys {
        let (b, n) = (get(base, k), get(new, k));
        if b != n {
            out.push(Difference {
                what: format!("{k}{prefix}"),
                base: b.unwrap_or_else(|| MISSING.into()),
                new: n.unwrap_or_else(|| MISSING.into()),
            });
        }
    }
}

/// Machine by machine, what differs between two lists of facts; `under` follows each
/// machine's name (`kernel of n1 (profile = tuned)`).
fn diff_hosts(out: &mut Vec<Difference>, under: &str, base: &[HostFacts], new: &[HostFacts]) {
    let mut names: Vec<&String> = base.iter().map(|h| &h.name).collect();
    names.extend(
        new.iter()
            .map(|h| &h.name)
            .filter(|n| !base.iter().any(|h| &h.name == *n)),
    );
    for name in names {
        let b = base.iter().find(|h| &h.name == name);
        let n = new.iter().find(|h| &h.name == name);
        match (b, n) {
            (Some(b), Some(n)) => diff_pairs(
                out,
                &format!(" of {name}{under}"),
                &host_values(b),
                &host_values(n),
            ),
            (b, _) => out.push(Difference {
                what: format!("machine {name}{under}"),
                base: if b.is_some() { "present" } else { MISSING }.into(),
                new: if b.is_some() { MISSING } else { "present" }.into(),
            }),
        }
    }
}

/// Per value of a profile, its last block whose switch worked (a resumed block appears
/// twice), in the order the values first ran.
pub(crate) fn last_blocks(m: &Manifest) -> Vec<&BlockInfo> {
    let mut out: Vec<&BlockInfo> = Vec::new();
    for b in m
        .blocks
        .iter()
        .filter(|b| b.error.is_none() && !b.facts.is_empty())
    {
        match out
            .iter_mut()
            .find(|o| o.variable == b.variable && o.value == b.value)
        {
            Some(o) => *o = b,
            None => out.push(b),
        }
    }
    out
}

/// What each profile's block changed of the machines: its facts against the set's, gathered
/// before the first block. Per block (`last_blocks`), its differences.
pub(crate) fn block_changes(m: &Manifest) -> Vec<(&BlockInfo, Vec<Difference>)> {
    last_blocks(m)
        .into_iter()
        .map(|b| {
            let mut d = Vec::new();
            diff_hosts(&mut d, "", &m.hosts, &b.facts);
            (b, d)
        })
        .collect()
}

/// The differences between two sets' environments; `base_exp`/`new_exp` are their stored
/// experiment files.
pub(crate) fn diff(base: &Manifest, base_exp: &str, new: &Manifest, new_exp: &str) -> Environment {
    let mut differences = Vec::new();
    if base.mpf_version != new.mpf_version {
        differences.push(Difference {
            what: "mpf version".into(),
            base: base.mpf_version.clone(),
            new: new.mpf_version.clone(),
        });
    }
    diff_hosts(&mut differences, "", &base.hosts, &new.hosts);
    // A profile's blocks (SPEC §18.1): each value's environment against the same value's.
    for b in last_blocks(base) {
        let Some(n) = last_blocks(new)
            .into_iter()
            .find(|n| n.variable == b.variable && n.value == b.value)
        else {
            continue;
        };
        let under = format!(" ({} = {})", b.variable, b.label);
        diff_hosts(&mut differences, &under, &b.facts, &n.facts);
    }
    diff_pairs(&mut differences, " (synced)", &synced(base), &synced(new));
    let git = |m: &Manifest| {
        m.git
            .as_ref()
            .map(|g| format!("{}{}", g.commit, if g.dirty { " (dirty)" } else { "" }))
            .unwrap_or_else(|| MISSING.into())
    };
    if git(base) != git(new) {
        differences.push(Difference {
            what: "commit of the experiment's directory".into(),
            base: git(base),
            new: git(new),
        });
    }
    let experiment_diff = (base_exp != new_exp).then(|| {
        similar::TextDiff::from_lines(base_exp, new_exp)
            .unified_diff()
            .context_radius(3)
            .header("BASE/experiment.yaml", "NEW/experiment.yaml")
            .to_string()
    });
    Environment {
        differences,
        experiment_diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(kernel: &str, governor: &str) -> Manifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "mpf_version": "0.1.0", "id": "x", "name": "x", "status": "complete",
            "started": "", "seed": "", "order": "shuffle", "runs_per_point": 1,
            "planned_runs": 0, "variables": [], "results": [], "hosts": [],
            "experiment_hash": "",
        }))
        .unwrap();
        m.hosts.push(HostFacts {
            name: "n1".into(),
            kernel: kernel.into(),
            settings: [("governor".to_string(), governor.to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
        m
    }

    #[test]
    fn kernel_settings_and_the_experiment_file() {
        let a = manifest("Linux 6.1", "performance");
        let b = manifest("Linux 6.8", "performance");
        let env = diff(&a, "runs: 3\nname: x\n", &b, "runs: 5\nname: x\n");
        assert_eq!(
            env.differences,
            vec![Difference {
                what: "kernel of n1".into(),
                base: "Linux 6.1".into(),
                new: "Linux 6.8".into()
            }]
        );
        let d = env.experiment_diff.unwrap();
        assert!(d.contains("--- BASE/experiment.yaml"));
        assert!(d.contains("-runs: 3\n+runs: 5\n"), "{d}");
        let same = diff(&a, "x", &a, "x");
        assert!(same.is_empty());
        let gov = diff(&a, "", &manifest("Linux 6.1", "powersave"), "");
        assert_eq!(gov.differences[0].what, "governor of n1");
    }

    fn block(m: &mut Manifest, value: &str, thp: &str, error: Option<&str>) {
        let mut facts = m.hosts.clone();
        facts[0].settings.insert("thp".into(), thp.into());
        m.blocks.push(BlockInfo {
            variable: "profile".into(),
            value: value.into(),
            label: value.into(),
            error: error.map(str::to_string),
            facts: if error.is_some() { Vec::new() } else { facts },
            ..Default::default()
        });
    }

    #[test]
    fn each_profile_against_the_same_profile_and_against_the_set() {
        let mut a = manifest("Linux 6.1", "performance");
        block(&mut a, "default", "madvise", None);
        block(&mut a, "tuned", "always", None);
        let mut b = manifest("Linux 6.1", "performance");
        block(&mut b, "tuned", "never", Some("exit status 1"));
        block(&mut b, "tuned", "never", None); // resumed: the last block counts
        block(&mut b, "default", "madvise", None);
        let env = diff(&a, "", &b, "");
        assert_eq!(
            env.differences,
            vec![Difference {
                what: "thp of n1 (profile = tuned)".into(),
                base: "always".into(),
                new: "never".into()
            }]
        );
        let changes = block_changes(&a);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].0.label, "default");
        assert_eq!(changes[1].1[0].what, "thp of n1");
        assert_eq!(changes[1].1[0].base, MISSING);
        assert_eq!(changes[1].1[0].new, "always");
    }
}
