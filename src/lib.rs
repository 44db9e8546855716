//! mpf: performance-evaluation experiments on clusters.
//!
//! Data flows one way: `spec` (input files) -> `plan` (ordered runs) -> `runner` (over an
//! `exec::Transport`) -> `extract` -> `store`; then `analyze` and `report` read result sets.
//!
//! The modules are private; what the binary (and whoever embeds mpf) uses is re-exported here
//! item by item, and `command` holds a request and an outcome per command
//! (docs/architecture.md, "The library's surface").

#![warn(unreachable_pub)]

// The machinery: private. What other crates (the binary first) use is re-exported below, one
// deliberate item at a time; `unreachable_pub` keeps every other item `pub(crate)`.
mod analyze;
mod design;
mod exec;
mod extract;
mod facts;
mod hosts;
mod machines;
mod model;
mod monitor;
mod placement;
mod plan;
mod report;
mod runner;
mod spec;
mod store;
mod template;
mod text;
mod units;
mod values;
mod words;

/// One request and one outcome per command that reads result sets (`compare`, `history`,
/// `plot`, `report`), and the exit code of a run.
pub mod command;
/// The one error type, by who has to act, and the exit codes (SPEC 20).
pub mod error;

pub use error::{Error, Result};

// Running an experiment: `RunRequest` -> `prepare` -> `Prepared::execute` -> `SessionOutcome`.

/// The table of the machines a host source resolved.
pub use hosts::machines_table;
/// `--until` and the allocation's end: when a session stops starting runs.
pub use runner::deadline;
/// The events a session reports while it runs (the `--progress json` stream).
pub use runner::events;
/// How many runs that all failed the same way stop a session.
pub use runner::experiment::EARLY_STOP_RUNS;
/// `mpf extract`: a set's results extracted again from its stored outputs.
pub use runner::reextract::{reextract, Reextracted};
/// `mpf check`'s connectivity test and `mpf deploy`'s setup-only session.
pub use runner::session::{check_machines, deploy};
/// What `mpf run` and `mpf check` are asked, and the session it prepares.
pub use runner::session::{prepare, Prepared, RunRequest};
/// The warm-up runs a set recorded.
pub use runner::warmup;
/// The caller's side of a session: its reporter and cancel signal, options, and how it ended.
pub use runner::{Cancel, Control, Options, SessionOutcome};
/// The kind of a cluster file's host source (`hosts: {from: ...}`).
pub use spec::hosts::SourceKind;
/// The experiment file, checked.
pub use spec::load_experiment;

// Result sets on disk.

/// A set's runs in compact form: what summaries, compare and history read (SPEC 15).
pub use store::compact;
/// The names of a set's files and its run ids.
pub use store::layout;
/// `mpf pack` and `mpf verify`.
pub use store::pack;
/// A run's status, its recorded results and the text of its point and results.
pub use store::record::{
    point_values_text, run_results_text, Measured, PointValue, RunResult, RunStatus,
};
/// A set's manifest read alone; a set `mpf extract` may rewrite (not a packed one).
pub use store::resultset::{read_manifest, resolve_writable};
/// Files written whole or not at all.
pub use store::writer::{write_atomic, write_atomic_with};
/// `mpf export`: results (CSV, JSON, Parquet), series samples, monitoring samples and the
/// dashboard formats.
pub use store::{export, series, timeseries};
/// Find, open and list result sets under the results directory.
pub use store::{list, open, resolve, results_root, Listing, ResultSet};

// What users read.

/// A graph's y scale and statistic per point.
pub use model::{Scale, Stat};
/// The self-contained HTML report of a set.
pub use report::html::write_report;
/// What a `search:` found (`mpf show --limits`, the end of a run).
pub use report::limits;
/// Graphs of a set and their hints (`plot:` and the flags of `mpf plot`).
pub use report::plot::output::plot_set;
pub use report::plot::{plot_all, PlotSpec};
/// `mpf show` and `mpf ls` tables.
pub use report::table;
/// `3 runs`, `1 run`.
pub use words::count;

#[doc(hidden)]
pub mod internals {
    //! Not a stable interface: the parts the end-to-end and property tests in `tests/cli`
    //! build result sets with or check directly. Paths mirror the private modules'.
    pub mod analyze {
        pub use crate::analyze::{history, stats};
    }
    pub mod design {
        pub use crate::design::interval;
    }
    pub mod extract {
        pub use crate::extract::{extract, stat_value, Given};
    }
    pub mod model {
        pub use crate::model::{Better, Scale, Stat};
    }
    pub mod monitor {
        pub use crate::monitor::{prom, rates, Samples, Scraped};
    }
    pub mod plan {
        pub use crate::plan::{fnv1a, plan};
    }
    pub mod report {
        pub use crate::report::{html, plot};
    }
    pub mod runner {
        pub use crate::runner::reextract;
    }
    pub mod spec {
        pub use crate::spec::{
            derived, extractor, parse_cluster, parse_experiment, Extractor, StatKind,
        };
    }
    pub mod store {
        pub use crate::store::{
            pack, record, resolve, resultset, timeseries, writer, ResultSet, RunStatus, SetStatus,
        };
    }
    pub mod template {
        pub use crate::template::{check_expression, check_template, eval_condition, KnownNames};
    }
    pub mod units {
        pub use crate::units::normalise;
    }
}

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
