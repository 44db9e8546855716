//! The graph of a search: the limit found against the other variables. Each limit becomes a
//! one-run record of a result set of its own (the other variables, one result), so that the
//! usual choice of graph, axes, series and small multiples applies unchanged.

use serde_json::{Map, Value};

use super::figure::{build, choose, Figure, Kind};
use super::spec::PlotSpec;
use crate::error::Result;
use crate::model::{Goal, ResultInfo, Scale};
use crate::store::{Limit, Manifest, ResultSet, RunRecord, RunStatus};

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
            let (low, high) = crate::report::limits::low_high(l);
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
    Some(RunRecord {
        index,
        point_index: index,
        point: l.point.clone(),
        repetition: 0,
        status: RunStatus::Ok,
        attempts: 1,
        results,
        steps: Vec::new(),
        started: String::new(),
        ended: String::new(),
        error: None,
        notes: Vec::new(),
        warmup_dropped: Default::default(),
        extraction_failed: false,
    })
}
