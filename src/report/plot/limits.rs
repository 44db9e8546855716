//! The graph of a search: the limit found against the other variables. Each limit becomes a
//! one-run record of a result set of its own (the other variables, one result), so that the
//! usual choice of graph, axes, series and small multiples applies unchanged.

use serde_json::{Map, Value};

use super::figure::{build, choose, Figure};
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
    let choice = choose(&limits, &name, &hints)?;
    let Some(mut fig) = build(&limits, &choice)? else {
        return Ok(None);
    };
    let goal = match search.goal {
        Goal::Max => "largest",
        Goal::Min => "smallest",
    };
    fig.caption = format!(
        "the {goal} {} where {} (a measured probe, within {}); a search that held everywhere shows its range's end, one that failed everywhere no mark",
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
