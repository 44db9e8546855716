//! `mpf show` and `mpf ls`: runs and result sets as terminal tables, CSV, JSON, Markdown.

use crate::store::layout::RunId;
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

impl Format {
    /// Every format, in the order `mpf show --help` lists them.
    pub const ALL: [Format; 4] = [Format::Table, Format::Csv, Format::Json, Format::Markdown];

    /// The `--format` value.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Markdown => "markdown",
        }
    }

    /// The format of a `--format` value.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
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
            let mut row = vec![RunId(rec.index).to_string(), rec.repetition.to_string()];
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
    let esc = |s: &String| crate::text::escape_markdown(s);
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
                "{} ({}): {} ok, {} failed of {} planned {}{}",
                m.id,
                m.status_text(),
                m.runs_ok,
                m.runs_failed,
                m.planned_runs,
                crate::words::plural(m.planned_runs, "run"),
                unconverged_note(m)
            );
            let notes = run_notes(set);
            Ok(if format == Format::Table {
                format!("{title}\n\n{}{notes}", text_table(&h, &rows))
            } else {
                format!("**{title}**\n\n{}{notes}", markdown_table(&h, &rows))
            })
        }
    }
}

/// How many distinct run notes `mpf show` lists before pointing at the JSON for the rest.
const SHOWN_NOTES: usize = 50;

/// The notes runs recorded (a result left out, a log cut short, a teardown problem) under the
/// table, each distinct note once with the runs that have it; empty when there are none.
fn run_notes(set: &ResultSet) -> String {
    let mut recs: Vec<_> = set.records.iter().filter(|r| !r.notes.is_empty()).collect();
    recs.sort_by_key(|r| r.index);
    // Insertion order: the first run's notes first.
    let mut grouped: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for r in &recs {
        for n in &r.notes {
            match seen.entry(n.as_str()) {
                std::collections::hash_map::Entry::Occupied(e) => grouped[*e.get()].1.push(r.index),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(grouped.len());
                    grouped.push((n.as_str(), vec![r.index]));
                }
            }
        }
    }
    if grouped.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nnotes:\n");
    for (text, runs) in grouped.iter().take(SHOWN_NOTES) {
        let which = if runs.len() == 1 { "run" } else { "runs" };
        out.push_str(&format!("  {which} {}: {text}\n", run_ids(runs)));
    }
    if grouped.len() > SHOWN_NOTES {
        out.push_str(&format!(
            "  ... and {} more (mpf show ID --format json has every note)\n",
            grouped.len() - SHOWN_NOTES
        ));
    }
    out
}

/// Run indices as users read them: `0003`, `0001, 0004`, at most ten and then `and N more`
/// (`mpf show`'s notes, `mpf extract`'s summary).
pub fn run_ids(runs: &[usize]) -> String {
    let shown: Vec<String> = runs
        .iter()
        .take(10)
        .map(|&i| RunId(i).to_string())
        .collect();
    let more = runs.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// One row of the per-point summary: a point, a result, and the statistics of its ok runs.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    /// The point's variable values (swept variables only, in the manifest's order).
    pub point: serde_json::Map<String, Value>,
    pub result: String,
    pub unit: String,
    pub stats: crate::analyze::stats::Summary,
    /// The interval reached below zero for a never-negative result and was clipped at zero.
    pub clipped: bool,
}

/// Per point (in point order) and per numeric result (in the manifest's order), the
/// statistics of the ok runs that have it; points and results without a value are left out.
pub fn summary_rows(set: &ResultSet) -> Vec<SummaryRow> {
    let m = &set.manifest;
    // Points by their values (what a reader calls a point), in plan order.
    let mut ok: Vec<&crate::store::RunRecord> = set.ok_records().collect();
    ok.sort_by_key(|r| (r.point_index, r.index));
    let mut points: Vec<(
        &serde_json::Map<String, Value>,
        Vec<&crate::store::RunRecord>,
    )> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for r in ok {
        match seen.entry(crate::store::point_key(&r.point)) {
            std::collections::hash_map::Entry::Occupied(e) => points[*e.get()].1.push(r),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(points.len());
                points.push((&r.point, vec![r]));
            }
        }
    }
    if let Some(search) = &m.search {
        // A search's probes by the searched variable within each combination of the others
        // (in the order they were first probed), not in the order they were probed.
        let mut groups: Vec<String> = Vec::new();
        let mut keyed: Vec<(usize, f64, usize)> = Vec::new();
        for (i, (point, _)) in points.iter().enumerate() {
            let mut rest = (*point).clone();
            let at = rest
                .remove(&search.variable)
                .and_then(|v| v.as_f64())
                .unwrap_or(f64::NAN);
            let key = crate::store::point_key(&rest);
            let g = groups.iter().position(|k| *k == key).unwrap_or_else(|| {
                groups.push(key);
                groups.len() - 1
            });
            keyed.push((g, at, i));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut taken: Vec<Option<_>> = points.into_iter().map(Some).collect();
        points = keyed.iter().filter_map(|k| taken[k.2].take()).collect();
    }
    let swept: Vec<_> = m.variables.iter().filter(|v| !v.constant).collect();
    let mut rows = Vec::new();
    for (point, runs) in points {
        let shown: serde_json::Map<String, Value> = swept
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    point.get(&v.name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        for x in m.results.iter().filter(|x| !x.series) {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.results.get(&x.name).and_then(Value::as_f64))
                .collect();
            if let Some(stats) = crate::analyze::stats::summarize(&values) {
                rows.push(SummaryRow {
                    point: shown.clone(),
                    result: x.name.clone(),
                    unit: x.unit.clone(),
                    stats,
                    clipped: false,
                });
            }
        }
    }
    // The graphs' rule: a result never negative in the set has its intervals clipped at zero.
    let negative: std::collections::HashSet<String> = rows
        .iter()
        .filter(|r| !crate::analyze::stats::never_negative([&r.stats.min]))
        .map(|r| r.result.clone())
        .collect();
    for r in rows.iter_mut().filter(|r| !negative.contains(&r.result)) {
        r.clipped = r.stats.clip_at_zero() && r.stats.n >= 2;
    }
    rows
}

/// `ci95_low clipped at 0 (never negative): tps, count`, when an interval was clipped.
fn clip_note(rows: &[SummaryRow]) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.clipped) {
        if !names.contains(&r.result.as_str()) {
            names.push(&r.result);
        }
    }
    (!names.is_empty()).then(|| {
        format!(
            "ci95_low clipped at 0 for results that are never negative: {}",
            names.join(", ")
        )
    })
}

/// Column names of the summary after the point's variables.
const SUMMARY_COLUMNS: [&str; 10] = [
    "result",
    "unit",
    "n",
    "mean",
    "median",
    "ci95_low",
    "ci95_high",
    "min",
    "max",
    "stddev",
];

/// The summary for display: variables by label, each row's numbers in one human unit, and
/// the note on clipped intervals.
pub fn summary_display(set: &ResultSet) -> (Vec<String>, Vec<Vec<String>>, Option<String>) {
    let swept: Vec<_> = set
        .manifest
        .variables
        .iter()
        .filter(|v| !v.constant)
        .collect();
    let mut header: Vec<String> = swept.iter().map(|v| v.name.clone()).collect();
    header.extend(SUMMARY_COLUMNS.map(String::from));
    let summary = summary_rows(set);
    let note = clip_note(&summary);
    let rows = summary
        .into_iter()
        .map(|r| {
            let s = &r.stats;
            let (div, unit) = units::display_scale(&r.unit, s.mean.abs().max(s.max.abs()));
            let num = |x: f64| {
                if x.is_finite() {
                    units::format_number(x / div)
                } else {
                    String::new()
                }
            };
            let mut row: Vec<String> = swept
                .iter()
                .map(|v| match r.point.get(&v.name) {
                    None | Some(Value::Null) => "-".into(),
                    Some(x) => v.label_of(x),
                })
                .collect();
            row.extend([r.result.clone(), unit, s.n.to_string()]);
            row.extend([s.mean, s.median, s.ci_lo, s.ci_hi, s.min, s.max, s.stddev].map(num));
            row
        })
        .collect();
    (header, rows, note)
}

/// `mpf show ID --summary`: one row per point and result, in `format`. Table and Markdown
/// show labels and human units; CSV and JSON give values in the base unit, labelled variables
/// with a `<var>_label` column as in the exports.
pub fn show_summary(set: &ResultSet, format: Format) -> crate::Result<String> {
    match format {
        Format::Table | Format::Markdown => {
            let (h, rows, clipped) = summary_display(set);
            let title = format!(
                "{}: per point, the {} ok runs' mean, median, 95% confidence interval of the mean, min, max",
                set.manifest.id, set.manifest.runs_ok
            );
            let notes = match clipped {
                Some(c) => format!("\n{c}\n{}", run_notes(set)),
                None => run_notes(set),
            };
            Ok(if format == Format::Table {
                format!("{title}\n\n{}{notes}", text_table(&h, &rows))
            } else {
                format!("**{title}**\n\n{}{notes}", markdown_table(&h, &rows))
            })
        }
        Format::Csv | Format::Json => {
            let objects = summary_objects(set);
            if format == Format::Json {
                return Ok(serde_json::to_string_pretty(&objects).unwrap_or_default() + "\n");
            }
            let mut w = ::csv::Writer::from_writer(Vec::new());
            let err = |e: ::csv::Error| crate::Error::Runtime(format!("failed to write csv: {e}"));
            let header: Vec<String> = objects
                .first()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_else(|| SUMMARY_COLUMNS.map(String::from).to_vec());
            w.write_record(&header).map_err(err)?;
            for o in &objects {
                w.write_record(o.values().map(|v| csv::cell(Some(v))))
                    .map_err(err)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| crate::Error::Runtime(e.to_string()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// The summary rows as JSON objects: swept variables (and their labels), then the columns.
fn summary_objects(set: &ResultSet) -> Vec<serde_json::Map<String, Value>> {
    let vars: Vec<_> = csv::variable_columns(&set.manifest)
        .into_iter()
        .filter(|c| !c.variable.constant)
        .collect();
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    summary_rows(set)
        .into_iter()
        .map(|r| {
            let s = r.stats;
            let mut o: serde_json::Map<String, Value> =
                vars.iter().map(|c| (c.name(), c.cell(&r.point))).collect();
            o.insert("result".into(), Value::String(r.result));
            o.insert("unit".into(), Value::String(r.unit));
            o.insert("n".into(), Value::from(s.n));
            for (k, x) in SUMMARY_COLUMNS[3..]
                .iter()
                .zip([s.mean, s.median, s.ci_lo, s.ci_hi, s.min, s.max, s.stddev])
            {
                o.insert(k.to_string(), num(x));
            }
            o
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Better;
    use crate::store::record::{ResultInfo, VariableInfo};

    #[test]
    fn each_display_format_is_found_by_its_name() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name()), Some(f));
        }
        assert_eq!(Format::parse("html"), None);
    }
    use crate::store::writer::tests::{manifest, record};
    use serde_json::json;

    /// A sweep of `x` over `points` values, `reps` ok runs each, `lat` = x + rep, in a shuffled
    /// journal order; every run also has the note `n<x % 3>`.
    fn sweep(points: usize, reps: usize) -> ResultSet {
        let mut m = manifest("t");
        m.variables.push(VariableInfo {
            name: "x".into(),
            values: (0..points).map(|i| json!(i)).collect(),
            labels: (0..points).map(|i| i.to_string()).collect(),
            numeric: true,
            geometric: false,
            constant: false,
            when: None,
            index: Default::default(),
        });
        m.results.push(ResultInfo {
            name: "lat".into(),
            unit: "s".into(),
            better: Better::Lower,
            series: false,
        });
        let mut records = Vec::new();
        for rep in 0..reps {
            for p in (0..points).rev() {
                let mut r = record(records.len());
                r.point_index = p;
                r.repetition = rep;
                r.point.insert("x".into(), json!(p));
                r.results.insert("lat".into(), json!((p + rep) as f64));
                r.notes.push(format!("n{}", p % 3));
                records.push(r);
            }
        }
        ResultSet {
            dir: std::path::PathBuf::from("/nonexistent"),
            manifest: m,
            records,
        }
    }

    #[test]
    fn summary_groups_the_runs_of_each_point_in_point_order() {
        let set = sweep(4, 3);
        let rows = summary_rows(&set);
        assert_eq!(rows.len(), 4);
        for (p, row) in rows.iter().enumerate() {
            assert_eq!(row.point.get("x"), Some(&json!(p)));
            assert_eq!(row.stats.n, 3);
            assert_eq!(row.stats.mean, p as f64 + 1.0);
        }
    }

    #[test]
    fn a_summary_of_fifty_thousand_points_is_linear() {
        // Grouping by a scan of the points seen would take 1.25 * 10^9 point comparisons.
        let set = sweep(50_000, 1);
        let start = std::time::Instant::now();
        let rows = summary_rows(&set);
        assert_eq!(rows.len(), 50_000);
        assert_eq!(rows[49_999].point.get("x"), Some(&json!(49_999)));
        let notes = run_notes(&set);
        assert!(notes.contains("runs 0000, 0003, 0006,"), "{notes}");
        assert_eq!(notes.matches("  runs ").count(), 3, "{notes}");
        let (_, shown) = display_rows(&set);
        assert_eq!(shown.len(), 50_000);
        assert_eq!(shown[0][2], "49999");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
    }
}
