//! The graph of a search: the limit found against the other variables. Each limit becomes a
//! one-run record of a result set of its own (the other variables, one result), so that the
//! usual choice of graph, axes, series and small multiples applies unchanged.

use serde_json::{Map, Value};

use super::figure::{build, choose, label, Figure, Kind, ProbeMark};
use super::spec::PlotSpec;
use crate::error::Result;
use crate::model::{Goal, ResultInfo, Scale};
use crate::store::{Limit, Manifest, ResultSet, RunRecord};

/// The result name the limit graph shows: `rate limit`.
pub fn limit_result(variable: &str) -> String {
    format!("{variable} limit")
}

/// The limit graph of a set with a search (none without one, or without any limit found).
pub fn limit_figure(set: &ResultSet) -> Result<Option<Figure>> {
    let Some(search) = &set.manifest.search else {
        return Ok(None);
    };
    let name = limit_result(&search.variable);
    let limits = ResultSet {
        dir: set.dir.clone(),
        manifest: limits_manifest(&set.manifest, &name),
        records: set
            .manifest
            .limits
            .iter()
            .enumerate()
            .filter_map(|(i, l)| limit_record(i, l, &name))
            .collect(),
    };
    // A log axis only when the limits themselves span a decade: a handful of ticks otherwise.
    let found: Vec<f64> = limits
        .records
        .iter()
        .filter_map(|r| r.results.get(&name).and_then(Value::as_f64))
        .collect();
    let (lo, hi) = found
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
    let hints = PlotSpec {
        y_scale: (lo > 0.0 && hi / lo >= 10.0).then_some(Scale::Log),
        ..Default::default()
    };
    let mut choice = choose(&limits, &name, &hints)?;
    if choice.kind == Kind::Box {
        // No other variable: one marker with its bracket, not a box plot of one value.
        choice.kind = Kind::Bars;
    }
    let Some(mut fig) = build(&limits, &choice)? else {
        return Ok(None);
    };
    if choice.x.is_none() {
        fig.x_ticks = vec![(0.0, search.variable.clone())];
    }
    fig.whiskers = true;
    // Each marker's interval is its bracket: the best passing and the nearest failing probes.
    let x_name = choice.x.clone();
    let div = fig.y_divisor;
    for cell in fig.panels.iter_mut().flat_map(|p| p.cells.iter_mut()) {
        let Some(&value) = cell.values.first() else {
            continue;
        };
        let l = set.manifest.limits.iter().find(|l| {
            let same_x = match x_name.as_ref().and_then(|x| l.point.get(x)) {
                Some(v) => v.as_f64().is_none_or(|x| x == cell.x),
                None => true,
            };
            same_x && l.limit.as_f64().is_some_and(|v| v / div == value)
        });
        if let Some(l) = l {
            let (low, high) = l.low_high();
            let at = |v: Option<&Value>| v.and_then(Value::as_f64).map(|x| x / div);
            cell.center = value;
            cell.lo = at(low).unwrap_or(value).min(value);
            cell.hi = at(high).unwrap_or(value).max(value);
        }
    }
    let goal = match search.goal {
        Goal::Max => "largest",
        Goal::Min => "smallest",
    };
    let confidence = search
        .confidence
        .as_ref()
        .map_or(String::new(), |c| format!(", decided at {c} confidence"));
    fig.caption = format!(
        "the {goal} {} where {} (a measured probe, within {}{confidence}); the whisker spans the bracket, from the best passing to the nearest failing probe; a search that held everywhere shows its range's end, one that failed everywhere or found no passing probe no mark",
        search.variable, search.condition, search.precision
    );
    Ok(Some(fig))
}

/// The set's manifest for the limit graph: the other variables, one result.
fn limits_manifest(m: &Manifest, name: &str) -> Manifest {
    let searched = m.search.as_ref().map(|s| s.variable.as_str());
    let mut out = m.clone();
    out.variables.retain(|v| Some(v.name.as_str()) != searched);
    out.results = vec![ResultInfo {
        name: name.to_string(),
        unit: String::new(),
        better: match m.search.as_ref().map(|s| s.goal) {
            Some(Goal::Min) => crate::model::Better::Lower,
            _ => crate::model::Better::Higher,
        },
        series: false,
    }];
    out.plot = None;
    out
}

fn limit_record(index: usize, l: &Limit, name: &str) -> Option<RunRecord> {
    let value = l.limit.as_f64()?;
    let mut results = Map::new();
    results.insert(name.to_string(), Value::from(value));
    Some(RunRecord::ok(index, l.point.clone(), 0, results))
}

/// On a graph of a result against a search's variable: marks each probe passed, failed or
/// undecided (where every combination the cell stands for agrees), and the condition's bound
/// on the result where it compares it with a constant.
pub fn mark_probes(set: &ResultSet, fig: &mut Figure) {
    let m = &set.manifest;
    let Some(search) = &m.search else { return };
    if fig.choice.x.as_deref() != Some(search.variable.as_str()) || fig.choice.kind != Kind::Line {
        return;
    }
    let var = |n: &str| m.variables.iter().find(|v| v.name == n);
    let series = fig.choice.series.as_deref().and_then(var);
    let facets: Vec<_> = fig.choice.facets.iter().filter_map(|f| var(f)).collect();
    let mut marks = Vec::new();
    for (pi, panel) in fig.panels.iter().enumerate() {
        let parts: Vec<&str> = panel.title.split(", ").collect();
        for cell in &panel.cells {
            let mut verdicts = m
                .limits
                .iter()
                .filter(|l| {
                    let in_series = series.is_none_or(|sv| {
                        l.point.get(&sv.name).map(|v| label(sv, v)).as_ref()
                            == fig.series_labels.get(cell.series)
                    });
                    in_series
                        && facets.iter().all(|f| {
                            l.point.get(&f.name).is_some_and(|v| {
                                parts.contains(&format!("{}: {}", f.name, label(f, v)).as_str())
                            })
                        })
                })
                .flat_map(|l| l.probed.iter())
                .filter(|p| p.value.as_f64() == Some(cell.x))
                .map(|p| p.verdict.as_str());
            let Some(first) = verdicts.next() else {
                continue;
            };
            if verdicts.all(|v| v == first) {
                marks.push(ProbeMark {
                    panel: pi,
                    x: cell.x,
                    y: cell.center,
                    verdict: first.to_string(),
                });
            }
        }
    }
    if marks.is_empty() {
        return;
    }
    fig.probe_marks = marks;
    fig.bound = constant_bound(&search.condition, &fig.choice.result).map(|b| b / fig.y_divisor);
    let confidence = search
        .confidence
        .as_ref()
        .map_or(String::new(), |c| format!(" at {c} confidence"));
    fig.caption.push_str(&format!(
        "; probes of the search: ring passed, cross failed, square undecided{confidence}"
    ));
    if let Some(b) = constant_bound(&search.condition, &fig.choice.result) {
        fig.caption.push_str(&format!(
            "; dashed line: the bound {}",
            crate::units::humanise(b, "")
        ));
    }
}

/// The constant a condition compares `result` with (`p99 < 0.002`, `0.95 <= delivered`), when
/// one part of it, between `and`/`or`, does.
pub fn constant_bound(condition: &str, result: &str) -> Option<f64> {
    let names = [
        result.to_string(),
        format!("results[\"{result}\"]"),
        format!("results['{result}']"),
    ];
    for part in condition.split(" and ").flat_map(|p| p.split(" or ")) {
        let part = part
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        for op in ["<=", ">=", "<", ">"] {
            let Some((a, b)) = part.split_once(op) else {
                continue;
            };
            let (a, b) = (a.trim(), b.trim().trim_start_matches('='));
            let b = b.trim();
            if names.iter().any(|n| n == a) {
                if let Ok(x) = b.parse::<f64>() {
                    return x.is_finite().then_some(x);
                }
            }
            if names.iter().any(|n| n == b) {
                if let Ok(x) = a.parse::<f64>() {
                    return x.is_finite().then_some(x);
                }
            }
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::constant_bound;

    #[test]
    fn the_bound_is_a_constant_the_condition_compares_the_result_with() {
        assert_eq!(
            constant_bound("p99 < 0.002 and loss < 0.1", "p99"),
            Some(0.002)
        );
        assert_eq!(
            constant_bound("p99 < 0.002 and loss < 0.1", "loss"),
            Some(0.1)
        );
        assert_eq!(constant_bound("0.95 <= delivered", "delivered"), Some(0.95));
        assert_eq!(
            constant_bound("results['lat.p99'] >= 3", "lat.p99"),
            Some(3.0)
        );
        assert_eq!(constant_bound("p99 < 0.002 * cores", "p99"), None);
        assert_eq!(constant_bound("p99 < lat_limit", "p99"), None);
        assert_eq!(constant_bound("p999 < 1", "p99"), None);
    }
}
