//! Checks of the keys that decide how much runs (SPEC §9): adaptive `runs:` and `search:`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_saphyr::Spanned;

use super::de::{pos, shown};
use super::experiment::{Adaptive, Search, Variable, Width};
use super::raw::{RawAdaptive, RawRuns, RawSearch, RawVar};
use crate::error::{Error, Location, Result};
use crate::model::ResultInfo;

/// The most runs `runs: {max}` may ask of one point.
pub(crate) const MAX_ADAPTIVE_RUNS: usize = 10_000;
/// Default `ci:` of adaptive runs.
pub(crate) const DEFAULT_CI: &str = "5%";
/// Default `precision:` of a search.
pub(crate) const DEFAULT_PRECISION: &str = "1%";
/// Default `confidence:` of a search's decisions.
pub(crate) const DEFAULT_CONFIDENCE: &str = "95%";

/// `95%` or `0.95` -> 0.95; strictly between 50% and 100%.
pub(crate) fn parse_confidence(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    let c = match t.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("'{}' is not a confidence (95% or 0.95)", shown(t)))?;
    if !(c > 0.5 && c < 1.0) {
        return Err(format!("'{}' must be above 50% and below 100%", shown(t)));
    }
    Ok(c)
}

fn err<T>(path: &Path, s: &Spanned<T>, msg: impl Into<String>) -> Error {
    let (l, c) = pos(s);
    Error::input(path, l, c, msg)
}

/// `2%` -> relative; `0.5 ms` (or a bare number) -> absolute, in `unit` when given.
pub(crate) fn parse_width(text: &str, unit: Option<&str>) -> std::result::Result<Width, String> {
    let t = text.trim();
    let w = match t.strip_suffix('%') {
        Some(pct) => {
            let p: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("'{}' is not a percentage", shown(t)))?;
            Width::Relative(p / 100.0)
        }
        None => Width::Absolute(crate::units::normalise(t, unit)?),
    };
    let x = match w {
        Width::Relative(x) | Width::Absolute(x) => x,
    };
    if !x.is_finite() || x <= 0.0 {
        return Err(format!("'{}' must be greater than 0", shown(t)));
    }
    if matches!(w, Width::Relative(r) if r >= 1.0) {
        return Err(format!("'{}' must be less than 100%", shown(t)));
    }
    Ok(w)
}

/// `runs:` -> the runs every point gets first, and the adaptive rule when it is a mapping.
pub(crate) fn runs(
    path: &Path,
    raw: Option<&Spanned<RawRuns>>,
    results: &[ResultInfo],
) -> Result<(usize, Option<Adaptive>)> {
    let Some(r) = raw else { return Ok((3, None)) };
    match &r.value {
        RawRuns::Count(n) if *n < 1 => Err(err(path, r, "runs must be at least 1")),
        RawRuns::Count(n) => Ok((*n as usize, None)),
        RawRuns::Adaptive(a) if a.min.is_none() && a.max.is_none() && a.ci.is_none() && a.on.is_none() => {
            // `{count: N, warmup: W}` (or `{warmup: W}` alone): a fixed number of runs.
            match a.count.unwrap_or(3) {
                n if n < 1 => Err(err(path, r, "runs: count must be at least 1")),
                n if n as u64 > MAX_ADAPTIVE_RUNS as u64 => Err(err(
                    path,
                    r,
                    format!("runs: count must be at most {MAX_ADAPTIVE_RUNS}"),
                )),
                n => Ok((n as usize, None)),
            }
        }
        RawRuns::Adaptive(a) if a.count.is_some() => Err(err(
            path,
            r,
            "runs: count is a fixed number of runs and min/max/ci/on make them adaptive: give one or the other",
        )),
        RawRuns::Adaptive(a) => {
            let adaptive = adaptive(a, results).map_err(|m| err(path, r, format!("runs: {m}")))?;
            Ok((adaptive.min, Some(adaptive)))
        }
    }
}

/// Most warm-up runs of one point.
pub(crate) const MAX_WARMUP: usize = 100;

/// `runs: {warmup: N}`: 0 to 100 discarded runs per point (0 without it).
pub(crate) fn warmup(path: &Path, raw: Option<&Spanned<RawRuns>>) -> Result<usize> {
    let Some(r) = raw else { return Ok(0) };
    match &r.value {
        RawRuns::Adaptive(RawAdaptive {
            warmup: Some(w), ..
        }) => {
            if *w < 0 || *w as u64 > MAX_WARMUP as u64 {
                Err(err(
                    path,
                    r,
                    format!("runs: warmup is a number of runs from 0 to {MAX_WARMUP}, not {w}"),
                ))
            } else {
                Ok(*w as usize)
            }
        }
        _ => Ok(0),
    }
}

fn adaptive(a: &RawAdaptive, results: &[ResultInfo]) -> std::result::Result<Adaptive, String> {
    let min = a.min.unwrap_or(3);
    let max = a.max.unwrap_or(30);
    if min < 2 {
        return Err("min must be at least 2 (a confidence interval needs two runs)".into());
    }
    if max < min {
        return Err(format!("max ({max}) is smaller than min ({min})"));
    }
    if max as u64 > MAX_ADAPTIVE_RUNS as u64 {
        return Err(format!("max must be at most {MAX_ADAPTIVE_RUNS}"));
    }
    let watched: Vec<&ResultInfo> = match &a.on {
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                let info = results.iter().find(|r| &r.name == n).ok_or_else(|| {
                    format!(
                        "on: no declared result named '{}' (results: {})",
                        shown(n),
                        names_of(results)
                    )
                })?;
                out.push(info);
            }
            out
        }
        None => results
            .iter()
            .filter(|r| !crate::model::is_duration(&r.name))
            .collect(),
    };
    if watched.is_empty() {
        return Err("the experiment declares no results to watch; list them in on: [...]".into());
    }
    let ci =
        a.ci.as_ref()
            .map_or(DEFAULT_CI.to_string(), |c| c.0.clone());
    let mut targets = Vec::new();
    for r in watched {
        let unit = Some(r.unit.as_str()).filter(|u| !u.is_empty());
        let w = parse_width(&ci, unit).map_err(|m| format!("ci: {m} (result '{}')", r.name))?;
        targets.push((r.name.clone(), w));
    }
    Ok(Adaptive {
        min: min as usize,
        max: max as usize,
        ci,
        targets,
    })
}

fn names_of(results: &[ResultInfo]) -> String {
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        "none declared".into()
    } else {
        names.join(", ")
    }
}

/// The bounds of the searched variable, `range: [from, to]` (never expanded into values),
/// and whether both are integers.
pub(crate) fn search_range(
    path: &Path,
    name: &str,
    var: &Spanned<RawVar>,
) -> Result<(f64, f64, bool)> {
    let fail = |m: &str| err(path, var, format!("variable '{name}' is searched: {m}"));
    let RawVar::Map(m) = &var.value else {
        return Err(fail("give it range: [from, to]"));
    };
    if m.values.is_some() || m.step.is_some() || m.factor.is_some() || m.when.is_some() {
        return Err(fail(
            "it takes range: [from, to] only (no values, step, factor or when)",
        ));
    }
    let Some(r) = m.range.as_ref().filter(|r| r.len() == 2) else {
        return Err(fail("give it range: [from, to]"));
    };
    let (Some(lo), Some(hi)) = (r[0].as_f64(), r[1].as_f64()) else {
        return Err(fail("the range bounds must be numbers"));
    };
    if lo >= hi || !lo.is_finite() || !hi.is_finite() {
        return Err(fail("the range needs from < to"));
    }
    let integer = r.iter().all(|v| v.is_i64() || v.is_u64());
    if integer && hi - lo < 2.0 {
        return Err(fail("an integer range needs a value between its bounds"));
    }
    Ok((lo, hi, integer))
}

/// True when a searched range spans at least two decades: probes then bisect on a log scale.
pub(crate) fn is_geometric(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo >= 100.0
}

/// Checks `search:` against the variables and results.
pub(crate) fn search(
    path: &Path,
    raw: &Spanned<RawSearch>,
    range: (f64, f64, bool),
    variables: &[Variable],
    zips: &[Vec<usize>],
    results: &[ResultInfo],
) -> Result<Search> {
    let s = &raw.value;
    let name = s.variable.value.as_str();
    let Some(index) = variables.iter().position(|v| v.name == name) else {
        return Err(err(
            path,
            &s.variable,
            format!("search: no variable named '{}'", shown(name)),
        ));
    };
    if zips.iter().flatten().any(|&z| z == index) {
        return Err(err(
            path,
            &s.variable,
            format!("search: '{name}' is zipped; a searched variable cannot be"),
        ));
    }
    for v in variables {
        let uses = v.when.as_ref().is_some_and(|w| {
            crate::template::expression_names(w).is_ok_and(|names| names.contains(name))
        });
        if uses {
            return Err(err(
                path,
                &s.variable,
                format!(
                    "search: the when of '{}' uses '{name}', whose values are decided while searching",
                    v.name
                ),
            ));
        }
    }
    let var_names: BTreeSet<String> = variables.iter().map(|v| v.name.clone()).collect();
    let result_names: Vec<String> = results.iter().map(|r| r.name.clone()).collect();
    crate::template::check_condition(&s.condition.value, &var_names, &result_names)
        .map_err(|m| err(path, &s.condition, format!("search condition: {m}")))?;
    let precision_text = s
        .precision
        .as_ref()
        .map_or(DEFAULT_PRECISION.to_string(), |p| p.value.0.clone());
    let precision = parse_width(&precision_text, None).map_err(|m| {
        let at = s.precision.as_ref().map_or_else(|| pos(raw), pos);
        Error::input(path, at.0, at.1, format!("search precision: {m}"))
    })?;
    let (lo, hi, integer) = range;
    if matches!(precision, Width::Relative(_)) && hi <= 0.0 {
        // Relative to the upper end of the bracket: meaningless when it never rises above 0.
        return Err(err(
            path,
            raw,
            "search precision: a relative precision needs a range that reaches above 0; give an absolute one",
        ));
    }
    let mut monotonic = Vec::new();
    for m in &s.monotonic {
        let i = variables
            .iter()
            .position(|v| v.name == m.value)
            .filter(|&i| i != index)
            .ok_or_else(|| {
                err(
                    path,
                    m,
                    format!(
                        "search monotonic: '{}' is not another variable of the experiment",
                        shown(&m.value)
                    ),
                )
            })?;
        if !monotonic.contains(&i) {
            monotonic.push(i);
        }
    }
    let confidence_text = s
        .confidence
        .as_ref()
        .map_or(DEFAULT_CONFIDENCE.to_string(), |c| c.value.0.clone());
    let confidence = parse_confidence(&confidence_text).map_err(|m| {
        let at = s.confidence.as_ref().map_or_else(|| pos(raw), pos);
        Error::input(path, at.0, at.1, format!("search confidence: {m}"))
    })?;
    let runs = match &s.runs {
        None => None,
        Some(r) => {
            let min = r.value.min.unwrap_or(3);
            let max = r.value.max.unwrap_or(min.max(20));
            let m = if min < 1 {
                Some("min must be at least 1".to_string())
            } else if max < min {
                Some(format!("max ({max}) is smaller than min ({min})"))
            } else if max > MAX_ADAPTIVE_RUNS as i64 {
                Some(format!("max must be at most {MAX_ADAPTIVE_RUNS}"))
            } else {
                None
            };
            if let Some(m) = m {
                return Err(err(path, r, format!("search runs: {m}")));
            }
            Some((min as usize, max as usize))
        }
    };
    let (l, c) = pos(&s.condition);
    Ok(Search {
        variable: index,
        lo,
        hi,
        integer,
        condition: s.condition.value.clone(),
        condition_loc: Location::new(path, l, c),
        goal: s.goal,
        precision_text,
        precision,
        monotonic,
        confidence,
        confidence_text,
        runs,
    })
}
