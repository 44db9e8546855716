//! `mpf show ID --limits`: what a search found, one row per combination of the other
//! variables: those variables, `limit`, `low` and `high` (the bracket, in increasing order),
//! `probes`, `runs`, `status`.

use serde_json::Value;

use super::table::{markdown_table, text_table, Format};
use crate::error::{Error, Result};
use crate::store::{value_text, Limit, LimitStatus, Manifest};

/// The limits of a result set in `format`.
pub fn show(m: &Manifest, format: Format) -> Result<String> {
    let Some(search) = &m.search else {
        return Err(Error::Usage(format!(
            "result set {} has no search: --limits shows what a search: of the experiment found",
            m.id
        )));
    };
    if format == Format::Json {
        let v = serde_json::json!({"search": search, "limits": m.limits});
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let (header, rows) = rows(m);
    Ok(match format {
        Format::Csv => csv_text(&header, &rows)?,
        Format::Markdown => markdown_table(&header, &rows),
        _ => {
            let goal = match search.goal {
                crate::model::Goal::Max => "largest",
                crate::model::Goal::Min => "smallest",
            };
            let confidence = search
                .confidence
                .as_ref()
                .map_or(String::new(), |c| format!(", confidence {c}"));
            format!(
                "{}: the {goal} {} where {} (precision {}{confidence})\n\n{}",
                m.id,
                search.variable,
                search.condition,
                search.precision,
                text_table(&header, &rows)
            )
        }
    })
}

/// The swept variables (constants and the searched one left out).
fn other_variables(m: &Manifest) -> Vec<&crate::store::VariableInfo> {
    let searched = m.search.as_ref().map(|s| s.variable.as_str());
    m.variables
        .iter()
        .filter(|v| !v.constant && Some(v.name.as_str()) != searched)
        .collect()
}

/// The header and rows of `show --limits` (and the report's Limits section).
pub fn rows(m: &Manifest) -> (Vec<String>, Vec<Vec<String>>) {
    let vars = other_variables(m);
    let mut header: Vec<String> = vars.iter().map(|v| v.name.clone()).collect();
    header.extend(["limit", "low", "high", "probes", "runs", "status"].map(String::from));
    let rows = m
        .limits
        .iter()
        .map(|l| {
            let mut row: Vec<String> = vars
                .iter()
                .map(|v| {
                    l.point
                        .get(&v.name)
                        .map_or(String::new(), |x| v.label_of(x))
                })
                .collect();
            row.push(value_text(&l.limit));
            let (low, high) = l.low_high();
            row.push(low.map_or(String::new(), value_text));
            row.push(high.map_or(String::new(), value_text));
            row.push(l.probes.to_string());
            row.push(l.runs.to_string());
            row.push(l.status.as_str().to_string());
            row
        })
        .collect();
    (header, rows)
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let map_err = |e: csv::Error| Error::Runtime(format!("failed to write csv: {e}"));
    w.write_record(header).map_err(map_err)?;
    for r in rows {
        w.write_record(r).map_err(map_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Runtime(format!("failed to write csv: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `rate: cores=2: 1.2 M (found, 11 probes)`, one line per combination, for the end of a run.
pub fn lines(variable: &str, limits: &[Limit]) -> Vec<String> {
    limits
        .iter()
        .map(|l| {
            let at: Vec<String> = l
                .point
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            let at = if at.is_empty() {
                String::new()
            } else {
                format!(" at {}", at.join(", "))
            };
            let show = |v: &Value| crate::units::humanise(v.as_f64().unwrap_or(f64::NAN), "");
            let limit = match (&l.limit, l.status) {
                (_, LimitStatus::Inconclusive) => {
                    let (low, high) = l.low_high();
                    let end = |v: Option<&Value>| v.map_or("?".to_string(), show);
                    format!("{}–{}", end(low), end(high))
                }
                (Value::Null, _) => "none".to_string(),
                (v, _) => show(v),
            };
            let undecided = match l.undecided {
                0 => String::new(),
                n => format!(", {} undecided", crate::words::count(n, "probe")),
            };
            format!(
                "limit of {variable}{at}: {limit} ({}{undecided}, {}, {})",
                l.status.as_str(),
                crate::words::count(l.probes, "probe"),
                crate::words::count(l.runs, "run")
            )
        })
        .collect()
}
