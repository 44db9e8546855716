//! `mpf plot A B [C...]` (SPEC §17): several result sets of one experiment drawn together, one
//! series per set. The sets are merged into one set with a variable naming each run's set, so
//! that the figure is chosen and drawn as any other (bands, bars, boxes, panels) with that
//! variable as the series.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::record::VariableInfo;
use crate::store::ResultSet;

/// Most sets one figure overlays: past a dozen the colours and markers repeat and the legend
/// no longer tells the series apart.
pub const MAX_SETS: usize = 12;

/// Longest label drawn in a legend.
const MAX_LABEL: usize = 80;

/// The merged set and the name of the variable that says which set a run came from.
pub struct Overlay {
    pub set: ResultSet,
    pub variable: String,
}

/// The labels of `sets`: the ids, or `--label a,b` (as many as there are sets, each non-empty,
/// printable, distinct and at most 80 characters).
pub fn labels(sets: &[ResultSet], given: Option<&str>) -> Result<Vec<String>> {
    let Some(text) = given else {
        return Ok(sets.iter().map(|s| s.manifest.id.clone()).collect());
    };
    let labels: Vec<String> = text.split(',').map(|l| l.trim().to_string()).collect();
    if labels.len() != sets.len() {
        return Err(Error::Usage(format!(
            "--label gives {} for {}: one label per set, separated by commas",
            crate::words::count(labels.len(), "label"),
            crate::words::count(sets.len(), "set")
        )));
    }
    let mut seen = HashSet::new();
    for l in &labels {
        if l.is_empty() || l.chars().count() > MAX_LABEL || l.chars().any(char::is_control) {
            return Err(Error::Usage(format!(
                "--label: each label is 1 to {MAX_LABEL} printable characters, not '{}'",
                l.escape_debug()
            )));
        }
        if !seen.insert(l.as_str()) {
            return Err(Error::Usage(format!(
                "--label: '{l}' is given twice; the labels tell the sets apart"
            )));
        }
    }
    Ok(labels)
}

/// Merges `sets` (at least two, of one experiment) into one set whose runs carry a variable
/// (`set`, or `set_` when the experiment has a `set` variable of its own) valued by `labels`.
/// Sets of different experiments, or with different variables or results, are refused: their
/// series would not measure the same thing.
pub fn merge(sets: Vec<ResultSet>, labels: &[String]) -> Result<Overlay> {
    if sets.len() < 2 || sets.len() > MAX_SETS {
        return Err(Error::Usage(format!(
            "an overlay draws 2 to {MAX_SETS} sets, not {}",
            sets.len()
        )));
    }
    check_alike(&sets)?;
    Ok(merge_unchecked(sets, labels))
}

/// `merge` without the checks: `mpf compare` draws BASE against NEW whatever their experiments'
/// names (it matched their points already). The variables and results are BASE's.
pub fn merge_unchecked(sets: Vec<ResultSet>, labels: &[String]) -> Overlay {
    let mut variable = "set".to_string();
    while sets[0]
        .manifest
        .variables
        .iter()
        .any(|v| v.name == variable)
    {
        variable.push('_');
    }
    let ids: Vec<&str> = sets.iter().map(|s| s.manifest.id.as_str()).collect();
    let mut manifest = sets[0].manifest.clone();
    manifest.id = ids.join(" + ");
    // What belongs to one set alone is not drawn over the others.
    manifest.search = None;
    manifest.limits.clear();
    manifest.points.clear();
    manifest.runs_ok = sets.iter().map(|s| s.manifest.runs_ok).sum();
    manifest.runs_failed = sets.iter().map(|s| s.manifest.runs_failed).sum();
    for v in &mut manifest.variables {
        for other in &sets[1..] {
            if let Some(o) = other.manifest.variables.iter().find(|o| o.name == v.name) {
                union(v, o);
            }
        }
    }
    let values: Vec<Value> = labels.iter().map(|l| Value::String(l.clone())).collect();
    manifest.variables.push(VariableInfo {
        name: variable.clone(),
        values: values.into(),
        labels: labels.to_vec().into(),
        numeric: false,
        geometric: false,
        constant: false,
        when: None,
        index: Default::default(),
    });
    let dir = sets[0].dir.clone();
    let mut records = Vec::with_capacity(sets.iter().map(|s| s.records.len()).sum());
    for (set, label) in sets.into_iter().zip(labels) {
        for mut r in set.records {
            r.point
                .insert(variable.clone(), Value::String(label.clone()));
            r.index = records.len();
            records.push(r);
        }
    }
    Overlay {
        set: ResultSet {
            dir,
            manifest,
            records,
        },
        variable,
    }
}

/// The same experiment, variables and results (names and units) in every set.
pub fn check_alike(sets: &[ResultSet]) -> Result<()> {
    let first = &sets[0].manifest;
    let names = |m: &crate::store::record::Manifest| -> Vec<String> {
        let mut v: Vec<String> = m.variables.iter().map(|v| v.name.clone()).collect();
        v.sort();
        v
    };
    let results = |m: &crate::store::record::Manifest| -> Vec<String> {
        let mut v: Vec<String> = m
            .results
            .iter()
            .map(|r| format!("{} ({})", r.name, r.unit))
            .collect();
        v.sort();
        v
    };
    for s in &sets[1..] {
        let m = &s.manifest;
        let why = if m.name != first.name {
            format!(
                "{} is of experiment '{}' and {} of '{}'",
                first.id, first.name, m.id, m.name
            )
        } else if names(m) != names(first) {
            format!(
                "{} has the variables {} and {} has {}",
                first.id,
                names(first).join(", "),
                m.id,
                names(m).join(", ")
            )
        } else if results(m) != results(first) {
            format!(
                "{} has the results {} and {} has {}",
                first.id,
                results(first).join(", "),
                m.id,
                results(m).join(", ")
            )
        } else {
            continue;
        };
        return Err(Error::Usage(format!(
            "cannot draw these sets together: {why}; an overlay is of sets of one experiment with the same variables and results"
        )));
    }
    Ok(())
}

/// `v` with the values of `o` it lacks appended, labels and all.
fn union(v: &mut VariableInfo, o: &VariableInfo) {
    for (i, value) in o.values.iter().enumerate() {
        if v.position(value).is_none() {
            v.values.push(value.clone());
            v.labels.push(
                o.labels
                    .get(i)
                    .map(str::to_string)
                    .unwrap_or_else(|| crate::store::record::value_text(value)),
            );
        }
    }
    v.numeric = v.numeric && o.numeric;
    v.geometric = v.geometric && o.geometric;
    v.constant = v.values.len() == 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{Manifest, ResultInfo, RunRecord};
    use serde_json::{json, Map};

    fn set(id: &str, name: &str, values: &[i64], result: &str) -> ResultSet {
        let m: Manifest = serde_json::from_value(json!({
            "mpf_version": "0", "id": id, "name": name, "status": "complete",
            "started": "2026-01-01T00:00:00Z", "seed": "s", "order": "shuffle",
            "runs_per_point": 1, "planned_runs": values.len(),
            "variables": [{"name": "n", "values": values, "labels": values.iter().map(|v| v.to_string()).collect::<Vec<_>>(), "numeric": true}],
            "results": [ResultInfo { name: result.into(), unit: "s".into(), better: Default::default(), series: false }],
            "hosts": [], "experiment_hash": "0",
        }))
        .unwrap();
        let records = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let point: Map<String, Value> = [("n".to_string(), json!(v))].into_iter().collect();
                let results = [(result.to_string(), json!(1.0))].into_iter().collect();
                RunRecord::ok(i, point, 0, results)
            })
            .collect();
        ResultSet {
            dir: "/nonexistent".into(),
            manifest: m,
            records,
        }
    }

    #[test]
    fn sets_merge_with_a_variable_naming_each_run_s_set() {
        let a = set("a", "x", &[1, 2], "lat");
        let b = set("b", "x", &[2, 4], "lat");
        let o = merge(vec![a, b], &["old".into(), "new".into()]).unwrap();
        assert_eq!(o.variable, "set");
        assert_eq!(o.set.records.len(), 4);
        let n = &o.set.manifest.variables[0];
        assert_eq!(n.values.to_vec(), vec![json!(1), json!(2), json!(4)]);
        let labels: Vec<&Value> = o.set.records.iter().map(|r| &r.point["set"]).collect();
        assert_eq!(
            labels,
            [&json!("old"), &json!("old"), &json!("new"), &json!("new")]
        );
        let indices: Vec<usize> = o.set.records.iter().map(|r| r.index).collect();
        assert_eq!(indices, [0, 1, 2, 3]);
    }

    #[test]
    fn sets_of_other_experiments_or_results_are_refused() {
        let e = merge(
            vec![set("a", "x", &[1], "lat"), set("b", "y", &[1], "lat")],
            &["a".into(), "b".into()],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("a is of experiment 'x' and b of 'y'"), "{e}");
        let e = merge(
            vec![set("a", "x", &[1], "lat"), set("b", "x", &[1], "rtt")],
            &["a".into(), "b".into()],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("has the results lat (s) and b has rtt (s)"),
            "{e}"
        );
    }

    #[test]
    fn labels_are_one_per_set_and_distinct() {
        let sets = vec![set("a", "x", &[1], "lat"), set("b", "x", &[1], "lat")];
        assert_eq!(labels(&sets, None).unwrap(), ["a", "b"]);
        assert_eq!(labels(&sets, Some("old, new")).unwrap(), ["old", "new"]);
        assert!(labels(&sets, Some("one"))
            .unwrap_err()
            .to_string()
            .contains("1 label for 2 sets"));
        assert!(labels(&sets, Some("x,x")).is_err());
        assert!(labels(&sets, Some("x,")).is_err());
    }
}
