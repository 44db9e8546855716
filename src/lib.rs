//! mpf: performance-evaluation experiments on clusters.
//!
//! Data flows one way: `spec` (input files) -> `plan` (ordered runs) -> `runner` (over an
//! `exec::Transport`) -> `extract` -> `store`; then `analyze` and `report` read result sets.

pub mod analyze;
pub mod command;
pub mod design;
pub mod error;
pub mod exec;
pub mod extract;
pub mod facts;
pub mod hosts;
pub mod machines;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod report;
pub mod runner;
pub mod spec;
pub mod store;
pub mod template;
pub mod text;
pub mod units;
pub mod words;

pub use error::{Error, Result};

/// mpf's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod layers {
    //! The modules' dependencies point one way: no module reaches, directly or through
    //! others, a module that uses it (docs/architecture.md, "Layers").
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level modules the non-test code of `path` (a file, or a folder of them)
    /// names as `crate::x`, other than `top` itself.
    fn uses(path: &Path, top: &str, deps: &mut BTreeSet<String>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap().flatten() {
                uses(&entry.path(), top, deps);
            }
            return;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            return;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top && name != "error" {
                    deps.insert(name);
                }
            }
        }
    }

    #[test]
    fn no_module_reaches_back_to_a_module_that_uses_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if ["lib", "main", "cli", "error"].contains(&name.as_str()) {
                continue;
            }
            uses(&path, &name, graph.entry(name.clone()).or_default());
        }
        assert!(graph["runner"].contains("store"), "{graph:?}");
        // A path back from each dependency to its user is a circle.
        let reaches = |from: &str, to: &str| {
            let mut todo = vec![from.to_string()];
            let mut seen = BTreeSet::new();
            while let Some(m) = todo.pop() {
                if m == to {
                    return true;
                }
                if seen.insert(m.clone()) {
                    todo.extend(graph.get(&m).into_iter().flatten().cloned());
                }
            }
            false
        };
        let circles: Vec<String> = graph
            .iter()
            .flat_map(|(m, deps)| deps.iter().map(move |d| (m, d)))
            .filter(|(m, d)| reaches(d, m))
            .map(|(m, d)| format!("{m} -> {d}"))
            .collect();
        assert!(circles.is_empty(), "modules in a circle: {circles:?}");
    }
}
