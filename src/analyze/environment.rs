//! What differs between the environments of two result sets (SPEC §12.2): kernel, CPU, the
//! settings of §12.1, the mpf version, the commits of synced directories, and the experiment
//! file as a unified diff. A change in any of them can move a mean as much as the code does.

use serde::Serialize;

use crate::store::{HostFacts, Manifest};

/// One thing that differs: `kernel of n1`, BASE's and NEW's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub what: String,
    pub base: String,
    pub new: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub differences: Vec<Difference>,
    /// The experiment files as a unified diff; `None` when they are the same.
    pub experiment_diff: Option<String>,
}

impl Environment {
    pub fn is_empty(&self) -> bool {
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

/// The differences between two sets' environments; `base_exp`/`new_exp` are their stored
/// experiment files.
pub fn diff(base: &Manifest, base_exp: &str, new: &Manifest, new_exp: &str) -> Environment {
    let mut differences = Vec::new();
    if base.mpf_version != new.mpf_version {
        differences.push(Difference {
            what: "mpf version".into(),
            base: base.mpf_version.clone(),
            new: new.mpf_version.clone(),
        });
    }
    let mut names: Vec<&String> = base.hosts.iter().map(|h| &h.name).collect();
    names.extend(
        new.hosts
            .iter()
            .map(|h| &h.name)
            .filter(|n| !base.hosts.iter().any(|h| &h.name == *n)),
    );
    for name in names {
        let b = base.hosts.iter().find(|h| &h.name == name);
        let n = new.hosts.iter().find(|h| &h.name == name);
        match (b, n) {
            (Some(b), Some(n)) => diff_pairs(
                &mut differences,
                &format!(" of {name}"),
                &host_values(b),
                &host_values(n),
            ),
            (b, _) => differences.push(Difference {
                what: format!("machine {name}"),
                base: if b.is_some() { "present" } else { MISSING }.into(),
                new: if b.is_some() { MISSING } else { "present" }.into(),
            }),
        }
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
}
