//! JSON with every figure per point and result. Numbers are in the results' base units;
//! relative changes are fractions (0.05 = 5%); values that are not finite (a standard deviation
//! of a single run, an unbounded interval) are null.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
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

/// The document: its parts made into JSON one at a time as they are written, each comparison
/// too (10^5 points made into one tree of JSON values took 1.3 GB, SPEC §15).
struct Document<'a>(CompareReport<'a>);

/// The comparisons, each made into JSON as it is written.
struct Comparisons<'a>(CompareReport<'a>);

impl Serialize for Comparisons<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = &self.0.comparison.entries;
        let mut seq = s.serialize_seq(Some(entries.len()))?;
        for e in entries {
            seq.serialize_element(&entry(&self.0, e))?;
        }
        seq.end()
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let c = r.comparison;
        let counts = c.counts();
        let mut map = s.serialize_map(Some(10))?;
        map.serialize_entry("mpf_version", crate::VERSION)?;
        map.serialize_entry("base", &json!({"id": r.base.id, "name": r.base.name}))?;
        map.serialize_entry("new", &json!({"id": r.new.id, "name": r.new.name}))?;
        map.serialize_entry(
            "settings",
            &json!({
                "test": c.settings.test,
                "alpha": c.settings.alpha,
                "tolerance": c.settings.tolerance,
                "confidence": c.settings.confidence(),
                "correction": "holm",
                "interval": "fieller",
                "reference_sigmas": c.settings.reference_sigmas,
            }),
        )?;
        map.serialize_entry("references", &json!(c.references))?;
        map.serialize_entry(
            "summary",
            &json!({
                "regression": c.has_regression(),
                "compared": c.entries.len(),
                "tested": c.tested,
                "regressions": counts.regressions,
                "improvements": counts.improvements,
                "unchanged": counts.unchanged,
                "no_data": counts.no_data,
                "base_only": c.base_only.len(),
                "new_only": c.new_only.len(),
            }),
        )?;
        map.serialize_entry("comparisons", &Comparisons(r))?;
        map.serialize_entry(
            "unmatched",
            &json!({"base_only": c.base_only, "new_only": c.new_only}),
        )?;
        map.serialize_entry("notes", &json!(c.notes))?;
        map.serialize_entry("environment", &json!(c.environment))?;
        map.end()
    }
}

/// Writes the JSON document, and a newline, to `out` as it is made.
pub(crate) fn write(r: CompareReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Document(r))?;
    out.write_all(b"\n")
}

pub(crate) fn render(r: CompareReport) -> String {
    let mut out = Vec::new();
    match write(r, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| "{}\n".into()),
        Err(_) => "{}\n".into(),
    }
}
