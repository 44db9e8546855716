//! `mpf show` and `mpf ls`: runs and result sets as terminal tables, CSV, JSON, Markdown.

use serde_json::Value;

use crate::store::{csv, value_text, Manifest, ResultSet, RunStatus};
use crate::units;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Markdown,
}

/// Header and rows of a result set for display: labels for variables, human units for results.
fn display_rows(set: &ResultSet) -> (Vec<String>, Vec<Vec<String>>) {
    let m = &set.manifest;
    let vars: Vec<_> = m.variables.iter().filter(|v| !v.constant).collect();
    let mut header: Vec<String> = vec!["run".into(), "rep".into()];
    header.extend(vars.iter().map(|v| v.name.clone()));
    // Scale each result column once, by its largest value, so a column shares one unit.
    let mut scales = Vec::new();
    for r in &m.results {
        let max = set
            .records
            .iter()
            .filter_map(|rec| rec.results.get(&r.name).and_then(Value::as_f64))
            .fold(0.0f64, |a, b| a.max(b.abs()));
        let (div, unit) = units::display_scale(&r.unit, max);
        header.push(if unit.is_empty() {
            r.name.clone()
        } else {
            format!("{} ({unit})", r.name)
        });
        scales.push(div);
    }
    header.push("status".into());
    let mut recs: Vec<_> = set.records.iter().collect();
    recs.sort_by_key(|r| r.index);
    let rows = recs
        .into_iter()
        .map(|rec| {
            let mut row = vec![format!("{:04}", rec.index), rec.repetition.to_string()];
            for v in &vars {
                row.push(match rec.point.get(&v.name) {
                    None | Some(Value::Null) => "-".into(),
                    Some(x) => v.label_of(x),
                });
            }
            for (r, div) in m.results.iter().zip(&scales) {
                row.push(match rec.results.get(&r.name) {
                    Some(Value::Number(n)) => {
                        units::format_number(n.as_f64().unwrap_or(f64::NAN) / div)
                    }
                    Some(Value::Array(a)) => format!("[{} values]", a.len()),
                    _ => String::new(),
                });
            }
            row.push(match rec.status {
                RunStatus::Ok => "ok".into(),
                RunStatus::Failed => format!("failed: {}", rec.error.as_deref().unwrap_or("")),
            });
            row
        })
        .collect();
    (header, rows)
}

/// Aligned plain-text table.
pub fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header);
    out.push('\n');
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

pub fn markdown_table(header: &[String], rows: &[Vec<String>]) -> String {
    let esc = |s: &String| s.replace('|', "\\|");
    let mut out = format!(
        "| {} |\n",
        header.iter().map(esc).collect::<Vec<_>>().join(" | ")
    );
    out.push_str(&format!(
        "|{}\n",
        header.iter().map(|_| "---|").collect::<String>()
    ));
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}

/// `; 2 of 9 points did not converge (cores=1, cores=4)`: points of an adaptive design that
/// stopped at `max` with a confidence interval still wider than `ci`.
pub fn unconverged_note(m: &Manifest) -> String {
    let bad: Vec<String> = m
        .points
        .iter()
        .filter(|p| !p.converged)
        .map(|p| crate::store::point_text(&m.variables, &p.point))
        .collect();
    if bad.is_empty() {
        return String::new();
    }
    const SHOWN: usize = 5;
    let mut listed = bad[..bad.len().min(SHOWN)].join("; ");
    if bad.len() > SHOWN {
        listed.push_str("; ...");
    }
    format!(
        "; {} of {} points did not converge ({listed})",
        bad.len(),
        m.points.len()
    )
}

/// Renders a result set in `format`.
pub fn show(set: &ResultSet, format: Format) -> crate::Result<String> {
    match format {
        Format::Csv => {
            let mut buf = Vec::new();
            csv::write(&set.manifest, &set.records, &mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Format::Json => {
            let mut recs = set.records.clone();
            recs.sort_by_key(|r| r.index);
            let v = serde_json::json!({"manifest": set.manifest, "runs": recs});
            Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n")
        }
        Format::Table | Format::Markdown => {
            let (h, rows) = display_rows(set);
            let m = &set.manifest;
            let title = format!(
                "{} ({}): {} ok, {} failed of {} planned runs{}",
                m.id,
                m.status_text(),
                m.runs_ok,
                m.runs_failed,
                m.planned_runs,
                unconverged_note(m)
            );
            Ok(if format == Format::Table {
                format!("{title}\n\n{}", text_table(&h, &rows))
            } else {
                format!("**{title}**\n\n{}", markdown_table(&h, &rows))
            })
        }
    }
}

/// `mpf ls`: one line per result set; with `color`, the status of a set with failed runs in
/// red (ANSI), so that it cannot be missed.
pub fn list(sets: &[(std::path::PathBuf, Manifest)], color: bool) -> String {
    let header: Vec<String> = ["id", "status", "ok", "failed", "planned", "started"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = sets
        .iter()
        .map(|(_, m)| {
            vec![
                m.id.clone(),
                m.status_text(),
                m.runs_ok.to_string(),
                m.runs_failed.to_string(),
                m.planned_runs.to_string(),
                m.started.clone(),
            ]
        })
        .collect();
    let table = text_table(&header, &rows);
    if !color {
        return table;
    }
    // Coloured after the layout: the escape codes take no column.
    let mut out = String::with_capacity(table.len() + 16 * sets.len());
    for (i, line) in table.lines().enumerate() {
        let failed = i >= 2 && sets.get(i - 2).is_some_and(|(_, m)| m.runs_failed > 0);
        match (failed, i.checked_sub(2).and_then(|k| rows.get(k))) {
            (true, Some(row)) => {
                out.push_str(&line.replacen(&row[1], &format!("\x1b[31m{}\x1b[0m", row[1]), 1))
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Used by `value_text` consumers that need the label-or-value of a cell.
pub fn cell_text(v: &Value) -> String {
    value_text(v)
}
