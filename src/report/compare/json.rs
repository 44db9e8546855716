//! JSON with every figure per point and result. Numbers are in the results' base units;
//! relative changes are fractions (0.05 = 5%); values that are not finite (a standard deviation
//! of a single run, an unbounded interval) are null.

use serde_json::{json, Value};

use crate::analyze::compare::{Basis, Entry};
use crate::analyze::stats::Summary;
use crate::report::compare::common::{self, CompareReport};

fn summary(s: Option<&Summary>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({
            "n": s.n,
            "mean": s.mean,
            "median": s.median,
            "stddev": s.stddev,
            "min": s.min,
            "max": s.max,
        }),
    }
}

fn entry(r: &CompareReport, e: &Entry) -> Value {
    let c = r.comparison;
    let test = e.test.map(|t| {
        json!({
            "name": t.kind,
            "statistic": t.statistic,
            "df": t.df,
            "method": t.method,
            "p": t.p,
            "p_adjusted": t.p_adjusted,
        })
    });
    let basis = match e.basis {
        Basis::Test => "test",
        Basis::ToleranceOnly => "tolerance-only",
        Basis::None => "none",
    };
    let note = common::note(c, e);
    let reference = e.reference.map(|r| {
        json!({
            "sets": r.sets,
            "stddev": r.stddev,
            "bound": r.bound,
            "exceeded": r.exceeded,
        })
    });
    let (point, info) = (c.point_of(e), c.result_of(e));
    let labels = common::point_labels(c, &point);
    json!({
        "point": point,
        "point_labels": labels,
        "result": info.name,
        "unit": info.unit,
        "better": info.better,
        "series": info.series,
        "verdict": e.verdict,
        "basis": basis,
        "base": summary(e.base.as_ref()),
        "new": summary(e.new.as_ref()),
        "change": e.change,
        "change_ci": e.change_ci.map(|(lo, hi)| json!([lo, hi])),
        "test": test,
        "significant": e.significant,
        "beyond_tolerance": e.beyond_tolerance,
        "reference": reference,
        "decided_by": e.decided_by,
        "note": if note.is_empty() { Value::Null } else { Value::String(note) },
    })
}

pub(crate) fn to_value(r: CompareReport) -> Value {
    let c = r.comparison;
    let counts = c.counts();
    json!({
        "mpf_version": crate::VERSION,
        "base": {"id": r.base.id, "name": r.base.name},
        "new": {"id": r.new.id, "name": r.new.name},
        "settings": {
            "test": c.settings.test,
            "alpha": c.settings.alpha,
            "tolerance": c.settings.tolerance,
            "confidence": c.settings.confidence(),
            "correction": "holm",
            "interval": "fieller",
            "reference_sigmas": c.settings.reference_sigmas,
        },
        "references": c.references,
        "summary": {
            "regression": c.has_regression(),
            "compared": c.entries.len(),
            "tested": c.tested,
            "regressions": counts.regressions,
            "improvements": counts.improvements,
            "unchanged": counts.unchanged,
            "no_data": counts.no_data,
            "base_only": c.base_only.len(),
            "new_only": c.new_only.len(),
        },
        "comparisons": c.entries.iter().map(|e| entry(&r, e)).collect::<Vec<_>>(),
        "unmatched": {"base_only": c.base_only, "new_only": c.new_only},
        "notes": c.notes,
        "environment": c.environment,
    })
}

pub(crate) fn render(r: CompareReport) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(r)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}
