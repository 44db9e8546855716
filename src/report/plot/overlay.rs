//! `mpf plot A B [C...]` (SPEC §17): several result sets of one experiment drawn together, one
//! series per set. The sets are merged into one set with a variable naming each run's set, so
//! that the figure is chosen and drawn as any other (bands, bars, boxes, panels) with that
//! variable as the series.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::report::plot::figure::GraphSource;
use crate::store::compact::CompactSet;
use crate::store::record::{Manifest, VariableInfo};
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
pub fn labels(sets: &[&Manifest], given: Option<&str>) -> Result<Vec<String>> {
    let Some(text) = given else {
        return Ok(sets.iter().map(|m| m.id.clone()).collect());
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
    check_alike(&sets.iter().map(|s| &s.manifest).collect::<Vec<_>>())?;
    Ok(merge_unchecked(sets, labels))
}

/// `merge` without the checks: `mpf compare` draws BASE against NEW whatever their experiments'
/// names (it matched their points already). The variables and results are BASE's.
pub fn merge_unchecked(sets: Vec<ResultSet>, labels: &[String]) -> Overlay {
    let (manifest, variable) = merged_manifest(
        &sets.iter().map(|s| &s.manifest).collect::<Vec<_>>(),
        labels,
    );
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

/// The manifest of sets merged (the first's, with the others' values of its variables), and
/// the variable added to name each run's set: `set`, or `set_` when the experiment has a
/// `set` variable of its own.
fn merged_manifest(sets: &[&Manifest], labels: &[String]) -> (Manifest, String) {
    let mut variable = "set".to_string();
    while sets[0].variables.iter().any(|v| v.name == variable) {
        variable.push('_');
    }
    let ids: Vec<&str> = sets.iter().map(|m| m.id.as_str()).collect();
    let mut manifest = sets[0].clone();
    manifest.id = ids.join(" + ");
    // What belongs to one set alone is not drawn over the others.
    manifest.search = None;
    manifest.limits.clear();
    manifest.points.clear();
    manifest.runs_ok = sets.iter().map(|m| m.runs_ok).sum();
    manifest.runs_failed = sets.iter().map(|m| m.runs_failed).sum();
    for v in &mut manifest.variables {
        for other in &sets[1..] {
            if let Some(o) = other.variables.iter().find(|o| o.name == v.name) {
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
    (manifest, variable)
}

/// Sets merged as [`merge`] does, for their graphs, from their compact forms: the runs of
/// each set in turn, each with the set's label as the added variable's value.
pub struct CompactOverlay<'a> {
    pub manifest: Manifest,
    pub variable: String,
    sets: Vec<&'a CompactSet>,
    /// Each set's label as a value of the added variable.
    labels: Vec<Value>,
    /// The position of each set's first run among the merged runs.
    starts: Vec<usize>,
}

impl<'a> CompactOverlay<'a> {
    /// Merges `sets` (2 to `MAX_SETS`, of one experiment) labelled by `labels`.
    pub fn merge(sets: Vec<&'a CompactSet>, labels: &[String]) -> Result<CompactOverlay<'a>> {
        if sets.len() < 2 || sets.len() > MAX_SETS {
            return Err(Error::Usage(format!(
                "an overlay draws 2 to {MAX_SETS} sets, not {}",
                sets.len()
            )));
        }
        check_alike(&sets.iter().map(|s| &s.manifest).collect::<Vec<_>>())?;
        Ok(CompactOverlay::merge_unchecked(sets, labels))
    }

    /// `merge` without the checks, as [`merge_unchecked`]: the variables and results are the
    /// first set's.
    pub fn merge_unchecked(sets: Vec<&'a CompactSet>, labels: &[String]) -> CompactOverlay<'a> {
        let manifests: Vec<&Manifest> = sets.iter().map(|s| &s.manifest).collect();
        let (manifest, variable) = merged_manifest(&manifests, labels);
        let mut starts = Vec::with_capacity(sets.len());
        let mut n = 0;
        for s in &sets {
            starts.push(n);
            n += s.runs.len();
        }
        CompactOverlay {
            manifest,
            variable,
            sets,
            labels: labels.iter().map(|l| Value::String(l.clone())).collect(),
            starts,
        }
    }

    /// The set of a merged run and its position there.
    fn at(&self, run: usize) -> Option<(usize, usize)> {
        let k = self.starts.partition_point(|&s| s <= run).checked_sub(1)?;
        Some((k, run - self.starts[k]))
    }
}

impl GraphSource for CompactOverlay<'_> {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn provenance(&self) -> crate::report::plot::provenance::Provenance {
        crate::report::plot::provenance::Provenance::of_set(&self.sets[0].dir, &self.manifest)
    }

    fn ok_runs(&self) -> Vec<usize> {
        let mut ok = Vec::new();
        for (s, start) in self.sets.iter().zip(&self.starts) {
            ok.extend(s.runs.ok().map(|p| start + p));
        }
        ok
    }

    fn point_value(&self, run: usize, var: &str) -> Option<&Value> {
        let (k, p) = self.at(run)?;
        match var == self.variable {
            true => self.labels.get(k),
            false => self.sets[k].point_value(p, var),
        }
    }

    fn value(&self, run: usize, result: &str) -> Option<f64> {
        let (k, p) = self.at(run)?;
        self.sets[k].value(p, result)
    }

    fn is_list(&self, run: usize, result: &str) -> bool {
        self.at(run)
            .is_some_and(|(k, p)| self.sets[k].is_list(p, result))
    }
}

/// The same experiment, variables and results (names and units) in every set.
pub fn check_alike(sets: &[&Manifest]) -> Result<()> {
    let first = sets[0];
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
    for m in &sets[1..] {
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
    fn the_graphs_of_merged_compact_sets_are_those_of_merged_records() {
        use crate::report::plot::output::figures;
        let (a, b) = (
            set("a", "x", &[1, 2, 8], "lat"),
            set("b", "x", &[2, 4], "lat"),
        );
        let mut b = b;
        b.records[1].results.insert("lat".into(), json!(3.5));
        b.records[0].status = crate::store::record::RunStatus::Failed;
        let labels = ["old".to_string(), "new".to_string()];
        let (ca, cb) = (CompactSet::of(&a), CompactSet::of(&b));
        let compact = CompactOverlay::merge(vec![&ca, &cb], &labels).unwrap();
        let whole = merge(vec![a, b], &labels).unwrap();
        assert_eq!(compact.variable, whole.variable);
        assert_eq!(compact.manifest, whole.set.manifest);
        assert_eq!(compact.ok_runs(), [0, 1, 2, 4]);
        assert_eq!(compact.point_value(4, "set"), Some(&json!("new")));
        assert_eq!(compact.point_value(4, "n"), Some(&json!(4)));
        assert_eq!(compact.value(4, "lat"), Some(3.5));
        assert_eq!(compact.point_value(5, "n"), None);
        let hints = crate::report::plot::PlotSpec {
            series: Some(whole.variable.clone()),
            ..Default::default()
        };
        let json = |f: Vec<crate::report::plot::Figure>| serde_json::to_string(&f).unwrap();
        let drawn = figures(&whole.set, Some(&hints)).unwrap();
        assert_eq!(drawn.len(), 1);
        assert_eq!(drawn[0].series_labels, ["old", "new"]);
        assert_eq!(json(figures(&compact, Some(&hints)).unwrap()), json(drawn));
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
        let sets = [set("a", "x", &[1], "lat"), set("b", "x", &[1], "lat")];
        let sets: Vec<&Manifest> = sets.iter().map(|s| &s.manifest).collect();
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
