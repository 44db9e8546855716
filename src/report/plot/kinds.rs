//! The figures `plot:` lists (SPEC §17), built from a result set: one result's graph of a
//! chosen kind (`line`, `bar`, `box`: the automatic graph's model, `figure.rs`), or a `Chart`
//! (several results, a result against a result, `scatter`, `cdf`, `timeseries`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::analyze::stats::summarize;
use crate::error::{Error, Result};
use crate::model::{FigureKind, FigureSpec, ResultInfo, RunPick, Scale, Stat};
use crate::report::plot::chart::{Axis, Chart, Style, Trace};
use crate::report::plot::figure::{build, choose, distinct, label, run_value, Figure, Kind};
use crate::report::plot::provenance::Provenance;
use crate::report::plot::spec::PlotSpec;
use crate::store::record::{RunRecord, VariableInfo};
use crate::store::series::{self, Sample};
use crate::store::ResultSet;
use crate::units::display_scale;

/// The most curves or lines one chart draws; the caption counts the rest.
pub const MAX_TRACES: usize = 12;
/// The most points a CDF curve or a time line is drawn with (evenly chosen).
pub const MAX_TRACE_POINTS: usize = 2000;
/// The most samples pooled into one CDF curve.
pub const MAX_POOLED: usize = 2_000_000;
use crate::spec::{MAX_FIGURES, MAX_FIGURE_RESULTS, MAX_FIGURE_RUNS};

/// A drawn figure: one result's graph, or a chart.
#[derive(Debug, Clone)]
pub enum Drawing {
    Graph(Box<Figure>),
    Chart(Box<Chart>),
}

/// A figure of `plot:` with the name its files take.
#[derive(Debug, Clone)]
pub struct Made {
    pub name: String,
    pub drawing: Drawing,
}

/// The name of a figure's files before sanitising: `rtt.p50+rtt.p99-vs-rate`,
/// `rtt-by-qdisc-cdf`.
pub fn figure_name(f: &FigureSpec) -> String {
    let mut name = f.y.join("+");
    if let Some(x) = &f.x {
        name.push_str(&format!("-vs-{x}"));
    }
    if let Some(s) = &f.series {
        name.push_str(&format!("-by-{s}"));
    }
    if let Some(k) = f.kind.filter(|k| *k != FigureKind::Line) {
        name.push('-');
        name.push_str(k.name());
    }
    name
}

/// A safe file stem for a figure: the name when it holds only letters, digits, `-`, `_`,
/// `.` and `+` (not starting with `.`), else the rule of result graphs (`file_stem`).
pub fn figure_stem(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= crate::report::plot::output::MAX_STEM_BYTES
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if plain {
        name.to_string()
    } else {
        crate::report::plot::output::file_stem(name)
    }
}

/// The figures of `set`'s `plot:`, in order. A figure that cannot be drawn (a name the set
/// does not have, no run with its values) is an error naming it, in the list.
pub fn made(set: &ResultSet) -> Vec<std::result::Result<Made, String>> {
    let Some(plot) = &set.manifest.plot else {
        return Vec::new();
    };
    let is_var = |n: &str| set.manifest.variables.iter().any(|v| v.name == n);
    plot.figures(&is_var)
        .into_iter()
        .take(MAX_FIGURES)
        .map(|f| {
            let name = figure_name(f);
            match make(set, f) {
                Ok(Some(drawing)) => Ok(Made { name, drawing }),
                Ok(None) => Err(format!("{name:?}: no successful run has its values")),
                Err(e) => Err(format!("{name:?}: {e}")),
            }
        })
        .collect()
}

/// Builds one figure; `None` when no run has what it draws.
pub fn make(set: &ResultSet, f: &FigureSpec) -> Result<Option<Drawing>> {
    let ys: Vec<&ResultInfo> = f.y.iter().map(|y| info(set, y)).collect::<Result<_>>()?;
    let Some(first) = ys.first() else {
        return Err(Error::Usage("a figure needs y".into()));
    };
    if ys.len() > MAX_FIGURE_RESULTS {
        return Err(Error::Usage(format!(
            "y lists {} results, more than the {MAX_FIGURE_RESULTS} one figure draws",
            ys.len()
        )));
    }
    let x_is_var = f.x.as_deref().is_none_or(|x| variable(set, x).is_some());
    let kind = f.kind_with(x_is_var);
    let hints = PlotSpec {
        x: f.x.clone().filter(|_| x_is_var),
        series: f.series.clone(),
        y_scale: f.y_scale,
        stat: f.stat,
        ..Default::default()
    };
    match kind {
        FigureKind::Cdf => return cdf(set, f, &ys).map(|c| c.map(boxed)),
        FigureKind::Timeseries => return timeseries(set, f, &ys).map(|c| c.map(boxed)),
        _ => {}
    }
    if x_is_var && ys.len() == 1 && kind != FigureKind::Scatter {
        let mut choice = choose(set, &first.name, &hints)?;
        let forced = match kind {
            FigureKind::Bar => Some(Kind::Bars),
            FigureKind::Box => Some(Kind::Box),
            _ if choice.kind == Kind::Bars => None,
            _ => Some(choice.kind),
        };
        if let Some(k) = forced {
            choice.kind = k;
            if k != Kind::Line {
                choice.log_x = false;
            }
            return Ok(build(set, &choice)?.map(|g| Drawing::Graph(Box::new(g))));
        }
    }
    xy(set, f, kind, &ys, x_is_var, &hints).map(|c| c.map(boxed))
}

fn boxed(c: Chart) -> Drawing {
    Drawing::Chart(Box::new(c))
}

use super::figure::result_info as info;

fn variable<'a>(set: &'a ResultSet, name: &str) -> Option<&'a VariableInfo> {
    set.manifest.variables.iter().find(|v| v.name == name)
}

fn ok_records(set: &ResultSet) -> Vec<&RunRecord> {
    let mut r: Vec<&RunRecord> = set.ok_records().collect();
    r.sort_by_key(|r| r.index);
    r
}

/// Variables with two or more values among `records`.
fn swept<'a>(set: &'a ResultSet, records: &[&RunRecord]) -> Vec<&'a VariableInfo> {
    set.manifest
        .variables
        .iter()
        .filter(|v| distinct(v, records).len() >= 2)
        .collect()
}

/// Runs grouped by the values of `vars`, in the variables' value order, each with its label
/// (`qdisc=fq, rate=10`, or `all runs` without variables).
fn groups<'a>(
    vars: &[&VariableInfo],
    records: &[&'a RunRecord],
) -> Vec<(String, Vec<&'a RunRecord>)> {
    type Key = Vec<(usize, String)>;
    let mut by: BTreeMap<Key, (String, Vec<&RunRecord>)> = BTreeMap::new();
    for r in records {
        let vals: Vec<Value> = vars
            .iter()
            .map(|v| r.point.get(&v.name).cloned().unwrap_or(Value::Null))
            .collect();
        let key: Vec<(usize, String)> = vars
            .iter()
            .zip(&vals)
            .map(|(v, x)| (v.position(x).unwrap_or(usize::MAX), x.to_string()))
            .collect();
        let entry = by.entry(key).or_insert_with(|| {
            let l = match vars.len() {
                0 => "all runs".to_string(),
                _ => vars
                    .iter()
                    .zip(&vals)
                    .map(|(v, x)| format!("{}={}", v.name, label(v, x)))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            (l, Vec::new())
        });
        entry.1.push(r);
    }
    by.into_values().collect()
}

/// The y axes of `ys`: one per unit in order of appearance (two at most, checked at load),
/// each with its display divisor; and each result's axis.
fn axes(
    set: &ResultSet,
    ys: &[&ResultInfo],
    log: bool,
    magnitude: impl Fn(&str) -> f64,
) -> (Vec<Axis>, Vec<f64>, Vec<usize>) {
    let mut units: Vec<&str> = Vec::new();
    let mut of = Vec::new();
    for y in ys {
        let i = units.iter().position(|u| *u == y.unit).unwrap_or_else(|| {
            units.push(&y.unit);
            units.len() - 1
        });
        of.push(i.min(1));
    }
    let _ = set;
    let mut out = Vec::new();
    let mut divs = Vec::new();
    for (a, unit) in units.iter().take(2).enumerate() {
        let names: Vec<&str> = ys
            .iter()
            .zip(&of)
            .filter(|(_, i)| **i == a)
            .map(|(y, _)| y.name.as_str())
            .collect();
        let mag = names.iter().map(|n| magnitude(n)).fold(0.0, f64::max);
        let (div, shown) = display_scale(unit, mag);
        let title = if shown.is_empty() {
            names.join(", ")
        } else {
            format!("{} ({shown})", names.join(", "))
        };
        out.push(Axis { title, log });
        divs.push(div);
    }
    (out, divs, of)
}

fn trace_label(y: &str, group: &str, several_y: bool, several_groups: bool) -> String {
    match (several_y, several_groups) {
        (true, true) => format!("{y} · {group}"),
        (true, false) => y.to_string(),
        (false, _) => group.to_string(),
    }
}

/// `line` and `scatter`: results against a variable or a result.
fn xy(
    set: &ResultSet,
    f: &FigureSpec,
    kind: FigureKind,
    ys: &[&ResultInfo],
    x_is_var: bool,
    hints: &PlotSpec,
) -> Result<Option<Chart>> {
    let stat = f.stat.unwrap_or_default();
    let choice = choose(set, &ys[0].name, hints)?;
    let records: Vec<&RunRecord> = ok_records(set)
        .into_iter()
        .filter(|r| ys.iter().any(|y| run_value(r, &y.name).is_some()))
        .collect();
    if records.is_empty() {
        return Ok(None);
    }
    // The x axis: a result, a numeric variable, categories, or one "all runs" position.
    let x_result = (!x_is_var).then(|| f.x.clone()).flatten();
    let x_var = if x_is_var {
        choice.x.as_deref().and_then(|x| variable(set, x))
    } else {
        None
    };
    let numeric_x = x_result.is_some() || (x_var.is_some() && choice.kind == Kind::Line);
    let x_values: Vec<Value> = x_var.map(|v| distinct(v, &records)).unwrap_or_default();
    let categories: Vec<String> = match (x_var, numeric_x) {
        (Some(v), false) => x_values.iter().map(|x| label(v, x)).collect(),
        (None, false) => vec![format!("all runs (n = {})", records.len())],
        _ => Vec::new(),
    };
    let (x_div, x_title) = match (&x_result, x_var) {
        (Some(x), _) => {
            let i = info(set, x)?;
            let mag = records
                .iter()
                .filter_map(|r| run_value(r, x))
                .fold(0.0, |a: f64, v| a.max(v.abs()));
            let (div, unit) = display_scale(&i.unit, mag);
            let t = if unit.is_empty() {
                x.clone()
            } else {
                format!("{x} ({unit})")
            };
            (div, t)
        }
        (None, Some(v)) => (1.0, v.name.clone()),
        (None, None) => (1.0, String::new()),
    };
    let x_of = |r: &RunRecord| -> Option<f64> {
        if let Some(x) = &x_result {
            return run_value(r, x).map(|v| v / x_div);
        }
        let Some(v) = x_var else { return Some(0.0) };
        let val = r.point.get(&v.name).cloned().unwrap_or(Value::Null);
        if numeric_x {
            val.as_f64()
        } else {
            x_values.iter().position(|x| *x == val).map(|i| i as f64)
        }
    };
    // Series: the `series:` variable, else (against a variable) the automatic one.
    let series_var = match (&f.series, x_is_var) {
        (Some(s), _) => variable(set, s),
        (None, true) => choice.series.as_deref().and_then(|s| variable(set, s)),
        (None, false) => None,
    };
    let group_vars: Vec<&VariableInfo> = series_var.into_iter().collect();
    let grouped = groups(&group_vars, &records);
    let log_y = f.y_scale == Some(Scale::Log);
    let magnitude = |name: &str| {
        records
            .iter()
            .filter_map(|r| run_value(r, name))
            .fold(0.0, |a: f64, v| a.max(v.abs()))
    };
    let (y_axes, divs, axis_of) = axes(set, ys, log_y, magnitude);
    let mut traces = Vec::new();
    for (yi, y) in ys.iter().enumerate() {
        let div = divs[axis_of[yi]];
        for (label, runs) in &grouped {
            let (points, whiskers) = match kind {
                FigureKind::Scatter => (
                    runs.iter()
                        .filter_map(|r| Some((x_of(r)?, run_value(r, &y.name)? / div)))
                        .collect(),
                    Vec::new(),
                ),
                _ => summarised(runs, &y.name, div, stat, &x_of, x_result.is_some()),
            };
            if points.is_empty() {
                continue;
            }
            let n = traces.len();
            traces.push(Trace {
                label: trace_label(&y.name, label, ys.len() > 1, grouped.len() > 1),
                axis: axis_of[yi],
                style: if kind == FigureKind::Scatter {
                    Style::Markers
                } else {
                    Style::Line
                },
                colour: n,
                shape: n,
                points,
                whiskers,
            });
        }
    }
    if traces.is_empty() {
        return Ok(None);
    }
    let total = traces.len();
    traces.truncate(MAX_TRACES);
    let mut caption = match (kind, &x_result) {
        (FigureKind::Scatter, _) => format!("each marker is one run ({} runs)", records.len()),
        (_, Some(x)) => format!(
            "each marker is a point: the mean of {x} over its runs, and the {} of the y result",
            stat.describe()
        ),
        _ => format!("{} of the runs at each x", stat.describe()),
    };
    if y_axes.len() > 1 {
        caption.push_str("; dashed lines: the right axis");
    }
    let pooled: Vec<String> = swept(set, &records)
        .into_iter()
        .filter(|v| Some(v.name.as_str()) != x_var.map(|x| x.name.as_str()))
        .filter(|v| Some(v.name.as_str()) != series_var.map(|x| x.name.as_str()))
        .map(|v| v.name.clone())
        .collect();
    if !pooled.is_empty() && kind != FigureKind::Scatter {
        caption.push_str(&format!("; pooled over {}", pooled.join(", ")));
    }
    if total > MAX_TRACES {
        caption.push_str(&format!("; {MAX_TRACES} of {total} lines drawn"));
    }
    Ok(Some(Chart {
        kind,
        name: figure_name(f),
        x_title: series_var
            .map(|_| x_title.clone())
            .unwrap_or_else(|| x_title.clone()),
        log_x: x_var.is_some() && numeric_x && choice.log_x,
        categories,
        axes: y_axes,
        traces,
        caption,
        provenance: Provenance::of(set),
    }))
}

type Whisker = (f64, f64, f64);

/// One marker per x position (against a variable) or per point (against a result): the
/// statistic of the y values and its interval, sorted by x.
fn summarised(
    runs: &[&RunRecord],
    y: &str,
    div: f64,
    stat: Stat,
    x_of: &dyn Fn(&RunRecord) -> Option<f64>,
    per_point: bool,
) -> (Vec<(f64, f64)>, Vec<Whisker>) {
    let mut at: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in runs {
        let (Some(x), Some(v)) = (x_of(r), run_value(r, y)) else {
            continue;
        };
        let key = if per_point {
            r.point_index as u64
        } else {
            x.to_bits()
        };
        let e = at.entry(key).or_default();
        e.0.push(x);
        e.1.push(v / div);
    }
    // A quantity that is never negative gets no interval below zero (as in the other graphs).
    let floor = if crate::analyze::stats::never_negative(at.values().flat_map(|(_, v)| v.iter())) {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    let mut out: Vec<(f64, f64, f64, f64, usize)> = at
        .into_values()
        .filter_map(|(xs, vs)| {
            let x = xs.iter().sum::<f64>() / xs.len() as f64;
            let s = summarize(&vs)?;
            let (c, lo, hi) = match stat {
                Stat::Mean => (s.mean, s.ci_lo, s.ci_hi),
                Stat::Median => (s.median, s.q1, s.q3),
            };
            Some((x, c, lo.max(floor), hi, s.n))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    let points = out.iter().map(|p| (p.0, p.1)).collect();
    let whiskers = out
        .iter()
        .filter(|p| p.4 >= 2 && p.2 < p.3)
        .map(|p| (p.0, p.2, p.3))
        .collect();
    (points, whiskers)
}

/// A run's samples of a series result: from its series.csv, else (a set recorded before mpf
/// kept them) from the run's record, without times. Also the rows series.csv skipped.
pub fn samples(set: &ResultSet, r: &RunRecord, result: &str) -> Result<(Vec<Sample>, usize)> {
    if let Some(s) = series::read_run(&set.dir, r.index)? {
        let skipped = s.skipped;
        let mut results = s.results;
        return Ok((results.remove(result).unwrap_or_default(), skipped));
    }
    let values = match r.results.get(result) {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.as_f64().filter(|x| x.is_finite()).map(|value| Sample {
                    index: i,
                    time: None,
                    value,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok((values, 0))
}

/// The empirical CDF of `values`: each distinct sorted value with the fraction of samples at
/// or below it (numpy: `np.searchsorted(np.sort(v), x, side="right") / len(v)`).
pub fn ecdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, x) in v.iter().enumerate() {
        let f = (i + 1) as f64 / n;
        match out.last_mut() {
            Some(last) if last.0 == *x => last.1 = f,
            _ => out.push((*x, f)),
        }
    }
    out
}

/// At most `max` of `points`, evenly chosen, the first and the last kept.
fn thin<T: Copy>(points: &[T], max: usize) -> Vec<T> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|k| points[((k as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

fn skipped_note(skipped: usize) -> String {
    match skipped {
        0 => String::new(),
        1 => "; 1 malformed row of series.csv skipped".into(),
        n => format!("; {n} malformed rows of series.csv skipped"),
    }
}

/// `cdf`: each point's samples (or each `series:` value's) pooled over its runs.
fn cdf(set: &ResultSet, f: &FigureSpec, ys: &[&ResultInfo]) -> Result<Option<Chart>> {
    let records = ok_records(set);
    let group_vars: Vec<&VariableInfo> = match &f.series {
        Some(s) => variable(set, s).into_iter().collect(),
        None => swept(set, &records),
    };
    let grouped = groups(&group_vars, &records);
    let mut pooled: Vec<(String, Vec<f64>, usize)> = Vec::new();
    let (mut skipped, mut cut) = (0usize, false);
    for y in ys {
        for (label, runs) in &grouped {
            let mut values = Vec::new();
            let mut n_runs = 0;
            for r in runs {
                let (s, sk) = samples(set, r, &y.name)?;
                skipped += sk;
                n_runs += usize::from(!s.is_empty());
                let room = MAX_POOLED.saturating_sub(values.len());
                cut |= s.len() > room;
                values.extend(s.iter().take(room).map(|s| s.value));
            }
            if !values.is_empty() {
                let l = trace_label(&y.name, label, ys.len() > 1, grouped.len() > 1);
                pooled.push((l, values, n_runs));
            }
        }
    }
    if pooled.is_empty() {
        return Ok(None);
    }
    let mag = pooled
        .iter()
        .flat_map(|p| p.1.iter())
        .fold(0.0, |a: f64, v| a.max(v.abs()));
    let (div, unit) = display_scale(&ys[0].unit, mag);
    let lo = pooled
        .iter()
        .flat_map(|p| p.1.iter())
        .fold(f64::INFINITY, |a, v| a.min(*v));
    let decades = if lo > 0.0 { (mag / lo).log10() } else { 0.0 };
    let log_x = decades > 2.0;
    let total = pooled.len();
    let n_samples: usize = pooled.iter().map(|p| p.1.len()).sum();
    let n_runs: usize = pooled.iter().map(|p| p.2).sum();
    let traces: Vec<Trace> = pooled
        .into_iter()
        .take(MAX_TRACES)
        .enumerate()
        .map(|(i, (label, values, _))| {
            let scaled: Vec<f64> = values.iter().map(|v| v / div).collect();
            Trace {
                label,
                axis: 0,
                style: Style::Step,
                colour: i,
                shape: i,
                points: thin(&ecdf(&scaled), MAX_TRACE_POINTS),
                whiskers: Vec::new(),
            }
        })
        .collect();
    let names: Vec<&str> = ys.iter().map(|y| y.name.as_str()).collect();
    let per = match (&f.series, group_vars.is_empty()) {
        (Some(s), _) => format!("the samples of each {s} value, pooled over its runs"),
        (None, true) => "all the samples".to_string(),
        (None, false) => "the samples of each point, pooled over its runs".to_string(),
    };
    let mut caption = format!("empirical CDF of {per} ({n_samples} samples from {n_runs} runs)");
    if log_x {
        caption.push_str(&format!("; log x: the samples span {decades:.1} decades"));
    }
    if total > MAX_TRACES {
        caption.push_str(&format!("; {MAX_TRACES} of {total} curves drawn"));
    }
    if cut {
        caption.push_str(&format!("; at most {MAX_POOLED} samples per curve"));
    }
    caption.push_str(&skipped_note(skipped));
    let joined = names.join(", ");
    Ok(Some(Chart {
        kind: FigureKind::Cdf,
        name: figure_name(f),
        x_title: if unit.is_empty() {
            joined
        } else {
            format!("{joined} ({unit})")
        },
        log_x,
        categories: Vec::new(),
        axes: vec![Axis {
            title: "fraction of samples ≤ x".into(),
            log: false,
        }],
        traces,
        caption,
        provenance: Provenance::of(set),
    }))
}

/// The runs a `timeseries` figure draws: the first N successful runs (1 by default), or the
/// listed ones.
fn chosen_runs<'a>(set: &'a ResultSet, pick: Option<&RunPick>) -> Result<Vec<&'a RunRecord>> {
    let ok = ok_records(set);
    match pick {
        None => Ok(ok.into_iter().take(1).collect()),
        Some(RunPick::First(n)) => Ok(ok.into_iter().take(*n).collect()),
        Some(RunPick::List(ids)) => ids
            .iter()
            .take(MAX_FIGURE_RUNS)
            .map(|i| {
                set.records.iter().find(|r| r.index == *i).ok_or_else(|| {
                    Error::Usage(format!(
                        "runs: no run {i} in {} (its runs: 0 to {})",
                        set.manifest.id,
                        set.records.len().saturating_sub(1)
                    ))
                })
            })
            .collect(),
    }
}

/// `timeseries`: the samples of chosen runs against their time, or their index.
fn timeseries(set: &ResultSet, f: &FigureSpec, ys: &[&ResultInfo]) -> Result<Option<Chart>> {
    let runs = chosen_runs(set, f.runs.as_ref())?;
    let mut lines: Vec<(usize, &ResultInfo, &RunRecord, Vec<Sample>)> = Vec::new();
    let mut skipped = 0;
    for r in &runs {
        for (yi, y) in ys.iter().enumerate() {
            let (s, sk) = samples(set, r, &y.name)?;
            skipped += sk;
            if !s.is_empty() {
                lines.push((yi, y, r, s));
            }
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let timed = lines.iter().all(|l| l.3.iter().all(|s| s.time.is_some()));
    let magnitude = |name: &str| {
        lines
            .iter()
            .filter(|l| l.1.name == name)
            .flat_map(|l| l.3.iter())
            .fold(0.0, |a: f64, s| a.max(s.value.abs()))
    };
    let log_y = f.y_scale == Some(Scale::Log);
    let (y_axes, divs, axis_of) = axes(set, ys, log_y, magnitude);
    let total = lines.len();
    let thinned = lines.iter().any(|l| l.3.len() > MAX_TRACE_POINTS);
    let traces: Vec<Trace> = lines
        .iter()
        .take(MAX_TRACES)
        .enumerate()
        .map(|(i, (yi, y, r, s))| {
            let div = divs[axis_of[*yi]];
            let pts: Vec<(f64, f64)> = s
                .iter()
                .map(|s| {
                    let x = if timed {
                        s.time.unwrap_or_default()
                    } else {
                        s.index as f64
                    };
                    (x, s.value / div)
                })
                .collect();
            let run = format!("run {}", r.index);
            Trace {
                label: trace_label(&y.name, &run, ys.len() > 1, true),
                axis: axis_of[*yi],
                style: Style::Line,
                colour: i,
                shape: i,
                points: thin(&pts, MAX_TRACE_POINTS),
                whiskers: Vec::new(),
            }
        })
        .collect();
    let which: Vec<String> = runs
        .iter()
        .map(|r| {
            let point: Vec<String> = r
                .point
                .iter()
                .map(|(k, v)| format!("{k}={}", crate::model::value_text(v)))
                .collect();
            format!("run {} ({})", r.index, point.join(", "))
        })
        .collect();
    let mut caption = format!(
        "samples of {}, {}",
        which.join(" and "),
        if timed {
            "against its time"
        } else {
            "in order (the extractor gives no time)"
        }
    );
    if y_axes.len() > 1 {
        caption.push_str("; dashed lines: the right axis");
    }
    if total > MAX_TRACES {
        caption.push_str(&format!("; {MAX_TRACES} of {total} lines drawn"));
    }
    if thinned {
        caption.push_str(&format!(
            "; lines of more than {MAX_TRACE_POINTS} samples drawn through {MAX_TRACE_POINTS} evenly spaced ones"
        ));
    }
    caption.push_str(&skipped_note(skipped));
    Ok(Some(Chart {
        kind: FigureKind::Timeseries,
        name: figure_name(f),
        x_title: if timed {
            "time (s)".into()
        } else {
            "sample".into()
        },
        log_x: false,
        categories: Vec::new(),
        axes: y_axes,
        traces,
        caption,
        provenance: Provenance::of(set),
    }))
}

/// The figure's file contents in `format`.
pub fn encode(d: &Drawing, format: crate::report::plot::output::Format) -> Result<Vec<u8>> {
    match d {
        Drawing::Graph(g) => crate::report::plot::output::encode(g, format),
        Drawing::Chart(c) => crate::report::plot::output::encode_svg(
            crate::report::plot::chart::to_svg(c)?,
            &c.provenance,
            &c.name,
            format,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdf_steps_at_each_distinct_value() {
        let c = ecdf(&[3.0, 1.0, 2.0, 2.0, f64::NAN]);
        assert_eq!(c, vec![(1.0, 0.25), (2.0, 0.75), (3.0, 1.0)]);
        assert!(ecdf(&[]).is_empty());
    }

    /// The ECDF against numpy's: at each distinct sorted value, the fraction of samples at or
    /// below it (`searchsorted(sorted, x, side="right") / n`). Skipped, saying so, where
    /// python3 has no numpy, unless MPF_REQUIRE_SCIPY is set (CI sets it).
    #[test]
    fn ecdf_matches_numpy() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let numpy = Command::new("python3")
            .args(["-c", "import numpy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !numpy {
            assert!(
                std::env::var_os("MPF_REQUIRE_SCIPY").is_none(),
                "MPF_REQUIRE_SCIPY is set but python3 cannot import numpy"
            );
            eprintln!("SKIPPED ecdf_matches_numpy: python3 cannot import numpy");
            return;
        }
        let mut rng = fastrand::Rng::with_seed(7);
        // Ties (rounded values) and a heavy tail, as latencies have.
        let values: Vec<f64> = (0..500)
            .map(|_| ((-(1.0 - rng.f64()).ln() * 3.0).exp() * 10.0).round() / 10.0)
            .collect();
        let script = "import json, sys, numpy as np\n\
v = np.sort(np.array(json.load(sys.stdin)))\n\
x = np.unique(v)\n\
print(json.dumps([[float(a), float(b)] for a, b in zip(x, np.searchsorted(v, x, side='right') / len(v))]))";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&values).unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let expected: Vec<(f64, f64)> = serde_json::from_slice(&out.stdout).unwrap();
        let got = ecdf(&values);
        assert_eq!(got.len(), expected.len());
        assert!(got.len() < values.len(), "the sample has ties");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.0, e.0);
            assert!((g.1 - e.1).abs() < 1e-12, "{g:?} {e:?}");
        }
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let v: Vec<usize> = (0..10_000).collect();
        let t = thin(&v, 100);
        assert_eq!(t.len(), 100);
        assert_eq!((t[0], t[99]), (0, 9999));
    }

    #[test]
    fn figure_names_say_what_is_drawn() {
        let f: FigureSpec =
            serde_json::from_str(r#"{"x": "rate", "y": ["lat.p50", "lat.p99"]}"#).unwrap();
        assert_eq!(figure_name(&f), "lat.p50+lat.p99-vs-rate");
        assert_eq!(figure_stem(&figure_name(&f)), "lat.p50+lat.p99-vs-rate");
        let f: FigureSpec =
            serde_json::from_str(r#"{"y": "rtt", "kind": "cdf", "series": "q"}"#).unwrap();
        assert_eq!(figure_name(&f), "rtt-by-q-cdf");
        assert!(figure_stem("a/b+c").starts_with("a_b_c-"));
        assert!(!figure_stem("../x").contains('/'));
    }
}
