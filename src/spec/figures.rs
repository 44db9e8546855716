//! `plot:` checked at load (SPEC §17): every name a figure uses exists, a kind drawn from
//! samples names series results, and a figure has at most two y axes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_saphyr::Spanned;

use super::de::pos;
use super::experiment::Experiment;
use super::raw::RawPlot;
use crate::error::{Error, Result};
use crate::model::{FigureKind, FigureSpec, Plot, ResultInfo, RunPick};

/// The most results one figure draws.
pub(crate) const MAX_FIGURE_RESULTS: usize = 24;
pub(crate) use super::raw::MAX_FIGURES;

/// The unit of a result the experiment does not declare (an `mpf-result` line may give it):
/// unknown at load, so left out of the count of a figure's units.
const UNDECLARED: &str = "\0undeclared";

/// The most runs a `timeseries` figure draws.
pub(crate) const MAX_FIGURE_RUNS: usize = 100;

/// Checks `plot:` against the experiment and returns it as the manifest records it.
pub(super) fn check(path: &Path, raw: &Spanned<RawPlot>, exp: &Experiment) -> Result<Plot> {
    let entries: Vec<(&FigureSpec, (u64, u64))> = match &raw.value {
        RawPlot::One(f) => vec![(f, pos(raw))],
        RawPlot::Many(v) => v.iter().map(|f| (&f.value, pos(f))).collect(),
    };
    let names = Names::of(exp);
    for (f, (line, col)) in &entries {
        check_entry(f, &names)
            .map_err(|m| Error::input(path, *line, *col, format!("plot: {m}")))?;
    }
    Ok(Plot(entries.into_iter().map(|(f, _)| f.clone()).collect()))
}

struct Names {
    variables: Vec<String>,
    results: Vec<ResultInfo>,
    monitored: bool,
}

impl Names {
    fn of(exp: &Experiment) -> Names {
        Names {
            variables: exp.variables.iter().map(|v| v.name.clone()).collect(),
            results: exp.result_infos(),
            monitored: exp.monitor.is_some(),
        }
    }

    fn is_variable(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v == name)
    }

    /// The result `name` is: declared, a declared result suffixed with a machine or role
    /// (`goodput.node1`), or a monitoring summary (`mon.*`, unit unknown here).
    fn result(&self, name: &str) -> Option<ResultInfo> {
        let declared = self.results.iter().find(|r| r.name == name).or_else(|| {
            self.results
                .iter()
                .filter(|r| name.len() > r.name.len() + 1)
                .find(|r| name.starts_with(&r.name) && name.as_bytes()[r.name.len()] == b'.')
        });
        match declared {
            Some(r) => Some(r.clone()),
            // A monitoring summary, with the unit the monitor gives it.
            None if self.monitored && name.starts_with("mon.") => Some(ResultInfo {
                name: name.to_string(),
                unit: super::monitor::result_info(name)
                    .map(|i| i.unit)
                    .unwrap_or_default(),
                better: Default::default(),
                series: false,
            }),
            // An `mpf-result NAME VALUE` line may give any result, declared or not: known only
            // when the runs print it (a figure of a name no run gave is reported not drawn).
            None if could_be_printed(name) => Some(ResultInfo {
                name: name.to_string(),
                unit: UNDECLARED.to_string(),
                better: Default::default(),
                series: false,
            }),
            None => None,
        }
    }

    fn result_or_err(&self, key: &str, name: &str) -> std::result::Result<ResultInfo, String> {
        self.result(name).ok_or_else(|| {
            let known: Vec<&str> = self.results.iter().map(|r| r.name.as_str()).collect();
            format!(
                "{key}: no result named '{name}' (results: {})",
                known.join(", ")
            )
        })
    }

    fn variable_or_err(&self, key: &str, name: &str) -> std::result::Result<(), String> {
        if self.is_variable(name) {
            return Ok(());
        }
        Err(format!(
            "{key}: no variable named '{name}' (variables: {})",
            if self.variables.is_empty() {
                "none".to_string()
            } else {
                self.variables.join(", ")
            }
        ))
    }
}

/// Whether an `mpf-result` line could give a result of this name (one word, no commas, at most
/// `MAX_RESULT_NAME` bytes, not a variable's).
fn could_be_printed(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= super::json_path::MAX_RESULT_NAME
        && !name.contains(|c: char| c.is_whitespace() || c == ',' || c.is_control())
}

fn check_entry(f: &FigureSpec, names: &Names) -> std::result::Result<(), String> {
    if let Some(s) = &f.series {
        names.variable_or_err("series", s)?;
        if f.x.as_deref() == Some(s.as_str()) {
            return Err(format!("'{s}' cannot be both the x axis and the series"));
        }
    }
    for r in f.results.iter().flatten() {
        names.result_or_err("results", r)?;
    }
    if f.is_selection() {
        if let Some(x) = &f.x {
            names.variable_or_err("x", x)?;
        }
        if f.runs.is_some() {
            return Err("runs: belongs to a figure of kind timeseries".into());
        }
        return Ok(());
    }
    if f.results.is_some() {
        return Err(
            "results: (which results get the automatic graphs) goes in an entry of its own, not in a figure"
                .into(),
        );
    }
    if f.y.is_empty() {
        return Err("a figure needs y: the result or results it draws".into());
    }
    let x_is_variable = match &f.x {
        None => true,
        Some(x) if names.is_variable(x) => true,
        // x a result must be declared (or a summary): a misspelt variable is not taken for a
        // result some run might print.
        Some(x) if names.result(x).is_some_and(|r| r.unit != UNDECLARED) => false,
        Some(x) => {
            let known: Vec<&str> = names.results.iter().map(|r| r.name.as_str()).collect();
            return Err(format!(
                "x: '{x}' is neither a variable ({}) nor a result ({})",
                names.variables.join(", "),
                known.join(", ")
            ));
        }
    };
    let kind = f.kind_with(x_is_variable);
    let ys =
        f.y.iter()
            .map(|y| names.result_or_err("y", y))
            .collect::<std::result::Result<Vec<_>, _>>()?;
    if kind.needs_samples() {
        if f.x.is_some() {
            return Err(format!(
                "kind {} takes no x: its x axis is {}",
                kind.name(),
                if kind == FigureKind::Cdf {
                    "the samples' values"
                } else {
                    "the time within a run"
                }
            ));
        }
        if let Some(r) = ys.iter().find(|r| !r.series) {
            return Err(format!(
                "kind {} draws a series result's samples (all: true, a csv column, a json array), and '{}' is one value per run",
                kind.name(),
                r.name
            ));
        }
    }
    if !x_is_variable && !matches!(kind, FigureKind::Scatter | FigureKind::Line) {
        return Err(format!(
            "x: '{}' is a result, which kind {} cannot draw against (use scatter or line)",
            f.x.as_deref().unwrap_or_default(),
            kind.name()
        ));
    }
    if matches!(kind, FigureKind::Bar | FigureKind::Box) && ys.len() > 1 {
        return Err(format!(
            "kind {} draws one result, and y lists {} (use line or scatter for several)",
            kind.name(),
            ys.len()
        ));
    }
    let mut units: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in ys.iter().filter(|r| r.unit != UNDECLARED) {
        units.entry(r.unit.clone()).or_default().push(&r.name);
    }
    if units.len() > 2 {
        let list: Vec<String> = units
            .iter()
            .map(|(u, rs)| {
                let u = if u.is_empty() { "no unit" } else { u.as_str() };
                format!("{u}: {}", rs.join(", "))
            })
            .collect();
        return Err(format!(
            "y has results in {} units ({}), and a figure has at most two y axes",
            units.len(),
            list.join("; ")
        ));
    }
    if kind == FigureKind::Cdf && units.len() > 1 {
        return Err(format!(
            "kind cdf draws its results on one x axis, and y has results in {} units",
            units.len()
        ));
    }
    match (&f.runs, kind) {
        (None, _) => Ok(()),
        (Some(_), k) if k != FigureKind::Timeseries => Err(format!(
            "runs: belongs to kind timeseries, not {}",
            k.name()
        )),
        (Some(RunPick::First(0)), _) => Err("runs: 0 draws nothing (give 1 or more)".into()),
        (Some(RunPick::List(l)), _) if l.is_empty() => {
            Err("runs: [] draws nothing (list run indices)".into())
        }
        (Some(RunPick::First(n)), _) if *n > MAX_FIGURE_RUNS => Err(format!(
            "runs: {n} is more than the {MAX_FIGURE_RUNS} runs one figure draws"
        )),
        (Some(RunPick::List(l)), _) if l.len() > MAX_FIGURE_RUNS => Err(format!(
            "runs: lists {} runs, more than the {MAX_FIGURE_RUNS} one figure draws",
            l.len()
        )),
        _ => Ok(()),
    }
}
