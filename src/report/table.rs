//! `mpf show` and `mpf ls`: runs and result sets as terminal tables, CSV, JSON, Markdown.

use crate::store::layout::RunId;
use serde_json::Value;

use crate::store::compact::{CompactSet, Runs};
use crate::store::{csv, value_text, Manifest, ResultInfo, ResultSet, RunRecord, RunStatus};
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

/// Header of a result set for display, and a function giving its rows one at a time
/// (in run order): labels for variables, human units for results. The rows are made when
/// printed, not held: a set may have 10^5 runs (SPEC §15).
#[allow(clippy::type_complexity)]
fn display_rows(set: &ResultSet) -> (Vec<String>, Box<dyn Fn(&RunRecord) -> Vec<String> + '_>) {
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
    let row = move |rec: &RunRecord| {
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
    };
    (header, Box::new(row))
}

/// The records of a set in run order.
fn by_index(set: &ResultSet) -> Vec<&RunRecord> {
    let mut recs: Vec<_> = set.records.iter().collect();
    recs.sort_by_key(|r| r.index);
    recs
}

/// Aligned plain-text table.
pub fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    text_table_by(header, || rows.iter())
}

/// Aligned plain-text table of rows made by `rows`, which is called twice (once to measure the
/// columns, once to write them) so that no row is held longer than it takes to write it.
pub fn text_table_by<R, I>(header: &[String], rows: impl Fn() -> I) -> String
where
    R: AsRef<[String]>,
    I: IntoIterator<Item = R>,
{
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows() {
        for (i, c) in r.as_ref().iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let start = out.len();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < cells.len() {
                let w = widths.get(i).copied().unwrap_or(0);
                for _ in c.chars().count()..w {
                    out.push(' ');
                }
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    };
    let mut out = String::new();
    line(&mut out, header);
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for r in rows() {
        line(&mut out, r.as_ref());
    }
    out
}

pub fn markdown_table(header: &[String], rows: &[Vec<String>]) -> String {
    markdown_table_by(header, rows)
}

/// Markdown table of `rows`, each written as it comes.
pub fn markdown_table_by<R: AsRef<[String]>>(
    header: &[String],
    rows: impl IntoIterator<Item = R>,
) -> String {
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
            r.as_ref().iter().map(esc).collect::<Vec<_>>().join(" | ")
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
            // Written from the records themselves (not a copy, nor a JSON tree of them).
            #[derive(serde::Serialize)]
            struct Shown<'a> {
                manifest: &'a Manifest,
                runs: Vec<&'a RunRecord>,
            }
            let shown = Shown {
                manifest: &set.manifest,
                runs: by_index(set),
            };
            Ok(serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n")
        }
        Format::Table | Format::Markdown => {
            let (h, row) = display_rows(set);
            let recs = by_index(set);
            let rows = || recs.iter().map(|r| row(r));
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
                format!("{title}\n\n{}{notes}", text_table_by(&h, rows))
            } else {
                format!("**{title}**\n\n{}{notes}", markdown_table_by(&h, rows()))
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
    notes_of(recs.iter().map(|r| (r.index, r.notes.as_slice())))
}

/// `run_notes` from the compact form.
fn compact_notes(runs: &Runs) -> String {
    notes_of(runs.notes().map(|(r, n)| (r.index, n)))
}

/// The notes of runs given in run order, each distinct note once with its runs.
fn notes_of<'a>(runs: impl Iterator<Item = (usize, &'a [String])>) -> String {
    // Insertion order: the first run's notes first.
    let mut grouped: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for (index, notes) in runs {
        for n in notes {
            match seen.entry(n.as_str()) {
                std::collections::hash_map::Entry::Occupied(e) => grouped[*e.get()].1.push(index),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(grouped.len());
                    grouped.push((n.as_str(), vec![index]));
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
    /// The point, among the set's [`Runs`] points.
    pub point: u32,
    /// The result's position in the manifest's results.
    pub result: usize,
    pub stats: crate::analyze::stats::Summary,
    /// The interval reached below zero for a never-negative result and was clipped at zero.
    pub clipped: bool,
}

impl SummaryRow {
    pub fn info<'a>(&self, m: &'a Manifest) -> &'a ResultInfo {
        &m.results[self.result]
    }
}

/// Per point (in point order) and per numeric result (in the manifest's order), the
/// statistics of the ok runs that have it; points and results without a value are left out.
pub fn summary_rows(set: &CompactSet) -> Vec<SummaryRow> {
    let (m, runs) = (&set.manifest, &set.runs);
    let all = runs.runs();
    // Points by their values (what a reader calls a point), in plan order.
    let mut ok: Vec<usize> = runs.ok().collect();
    ok.sort_by_key(|&p| (all[p].point_index, all[p].index));
    let mut points: Vec<(u32, Vec<usize>)> = Vec::new();
    let mut seen: std::collections::HashMap<u32, usize> = Default::default();
    for p in ok {
        let point = all[p].point;
        match seen.entry(point) {
            std::collections::hash_map::Entry::Occupied(e) => points[*e.get()].1.push(p),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(points.len());
                points.push((point, vec![p]));
            }
        }
    }
    drop(seen);
    if let Some(search) = &m.search {
        // A search's probes by the searched variable within each combination of the others
        // (in the order they were first probed), not in the order they were probed.
        let mut groups: std::collections::HashMap<String, usize> = Default::default();
        let mut keyed: Vec<(usize, f64, usize)> = Vec::new();
        for (i, (point, _)) in points.iter().enumerate() {
            let mut rest = runs.point_map(*point);
            let at = rest
                .remove(&search.variable)
                .and_then(|v| v.as_f64())
                .unwrap_or(f64::NAN);
            let next = groups.len();
            let g = *groups.entry(crate::store::point_key(&rest)).or_insert(next);
            keyed.push((g, at, i));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut taken: Vec<Option<_>> = points.into_iter().map(Some).collect();
        points = keyed.iter().filter_map(|k| taken[k.2].take()).collect();
    }
    let columns: Vec<(usize, Option<usize>)> = m
        .results
        .iter()
        .enumerate()
        .filter(|(_, x)| !x.series)
        .map(|(i, x)| (i, runs.column(&x.name)))
        .collect();
    let mut rows = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    for (point, members) in points {
        for &(result, column) in &columns {
            values.clear();
            if let Some(c) = column {
                values.extend(members.iter().filter_map(|&p| runs.number(c, p)));
            }
            if let Some(stats) = crate::analyze::stats::summarize(&values) {
                rows.push(SummaryRow {
                    point,
                    result,
                    stats,
                    clipped: false,
                });
            }
        }
    }
    // The graphs' rule: a result never negative in the set has its intervals clipped at zero.
    let mut negative = vec![false; m.results.len()];
    for r in &rows {
        if !crate::analyze::stats::never_negative([&r.stats.min]) {
            negative[r.result] = true;
        }
    }
    for r in rows.iter_mut().filter(|r| !negative[r.result]) {
        r.clipped = r.stats.clip_at_zero() && r.stats.n >= 2;
    }
    rows
}

/// `ci95_low clipped at 0 (never negative): tps, count`, when an interval was clipped.
fn clip_note(m: &Manifest, rows: &[SummaryRow]) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.clipped) {
        let name = r.info(m).name.as_str();
        if !names.contains(&name) {
            names.push(name);
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

/// The summary for display: variables by label, each row's numbers in one human unit (made
/// one row at a time by [`SummaryDisplay::cells`]), and the note on clipped intervals.
pub struct SummaryDisplay<'a> {
    pub header: Vec<String>,
    pub rows: Vec<SummaryRow>,
    pub note: Option<String>,
    set: &'a CompactSet,
    swept: Vec<&'a crate::store::VariableInfo>,
}

impl SummaryDisplay<'_> {
    /// The text of a row's cells.
    pub fn cells(&self, r: &SummaryRow) -> Vec<String> {
        let s = &r.stats;
        let info = r.info(&self.set.manifest);
        let (div, unit) = units::display_scale(&info.unit, s.mean.abs().max(s.max.abs()));
        let num = |x: f64| {
            if x.is_finite() {
                units::format_number(x / div)
            } else {
                String::new()
            }
        };
        let mut row: Vec<String> = self
            .swept
            .iter()
            .map(|v| match self.set.runs.point_value(r.point, &v.name) {
                None | Some(Value::Null) => "-".into(),
                Some(x) => v.label_of(x),
            })
            .collect();
        row.extend([info.name.clone(), unit, s.n.to_string()]);
        row.extend([s.mean, s.median, s.ci_lo, s.ci_hi, s.min, s.max, s.stddev].map(num));
        row
    }
}

pub fn summary_display(set: &CompactSet) -> SummaryDisplay<'_> {
    let swept: Vec<_> = set
        .manifest
        .variables
        .iter()
        .filter(|v| !v.constant)
        .collect();
    let mut header: Vec<String> = swept.iter().map(|v| v.name.clone()).collect();
    header.extend(SUMMARY_COLUMNS.map(String::from));
    let rows = summary_rows(set);
    let note = clip_note(&set.manifest, &rows);
    SummaryDisplay {
        header,
        rows,
        note,
        set,
        swept,
    }
}

/// `mpf show ID --summary`: one row per point and result, in `format`. Table and Markdown
/// show labels and human units; CSV and JSON give values in the base unit, labelled variables
/// with a `<var>_label` column as in the exports.
pub fn show_summary(set: &CompactSet, format: Format) -> crate::Result<String> {
    match format {
        Format::Table | Format::Markdown => {
            let d = summary_display(set);
            let title = format!(
                "{}: per point, the {} ok runs' mean, median, 95% confidence interval of the mean, min, max",
                set.manifest.id, set.manifest.runs_ok
            );
            let notes = match &d.note {
                Some(c) => format!("\n{c}\n{}", compact_notes(&set.runs)),
                None => compact_notes(&set.runs),
            };
            let rows = || d.rows.iter().map(|r| d.cells(r));
            Ok(if format == Format::Table {
                format!("{title}\n\n{}{notes}", text_table_by(&d.header, rows))
            } else {
                format!(
                    "**{title}**\n\n{}{notes}",
                    markdown_table_by(&d.header, rows())
                )
            })
        }
        Format::Csv | Format::Json => {
            let objects = SummaryObjects::new(set);
            if format == Format::Json {
                return Ok(serde_json::to_string_pretty(&objects).unwrap_or_default() + "\n");
            }
            let mut w = ::csv::Writer::from_writer(Vec::new());
            let err = |e: ::csv::Error| crate::Error::Runtime(format!("failed to write csv: {e}"));
            let header: Vec<String> = objects
                .rows
                .first()
                .map(|r| objects.object(r).keys().cloned().collect())
                .unwrap_or_else(|| SUMMARY_COLUMNS.map(String::from).to_vec());
            w.write_record(&header).map_err(err)?;
            for r in &objects.rows {
                w.write_record(objects.object(r).values().map(|v| csv::cell(Some(v))))
                    .map_err(err)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| crate::Error::Runtime(e.to_string()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// The summary rows as JSON objects, each made when written: swept variables (and their
/// labels), then the columns.
struct SummaryObjects<'a> {
    set: &'a CompactSet,
    vars: Vec<csv::VariableColumn<'a>>,
    rows: Vec<SummaryRow>,
}

impl<'a> SummaryObjects<'a> {
    fn new(set: &'a CompactSet) -> Self {
        let vars: Vec<_> = csv::variable_columns(&set.manifest)
            .into_iter()
            .filter(|c| !c.variable.constant)
            .collect();
        SummaryObjects {
            set,
            vars,
            rows: summary_rows(set),
        }
    }

    fn object(&self, r: &SummaryRow) -> serde_json::Map<String, Value> {
        let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
        let s = r.stats;
        let info = r.info(&self.set.manifest);
        let point = self.set.runs.point_map(r.point);
        let mut o: serde_json::Map<String, Value> = self
            .vars
            .iter()
            .map(|c| (c.name(), c.cell(&point)))
            .collect();
        o.insert("result".into(), Value::String(info.name.clone()));
        o.insert("unit".into(), Value::String(info.unit.clone()));
        o.insert("n".into(), Value::from(s.n));
        for (k, x) in SUMMARY_COLUMNS[3..]
            .iter()
            .zip([s.mean, s.median, s.ci_lo, s.ci_hi, s.min, s.max, s.stddev])
        {
            o.insert(k.to_string(), num(x));
        }
        o
    }
}

impl serde::Serialize for SummaryObjects<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for r in &self.rows {
            seq.serialize_element(&self.object(r))?;
        }
        seq.end()
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
        let set = CompactSet::of(&sweep(4, 3));
        let rows = summary_rows(&set);
        assert_eq!(rows.len(), 4);
        for (p, row) in rows.iter().enumerate() {
            assert_eq!(set.runs.point_value(row.point, "x"), Some(&json!(p)));
            assert_eq!(row.stats.n, 3);
            assert_eq!(row.stats.mean, p as f64 + 1.0);
        }
    }

    #[test]
    fn the_compact_summary_is_the_summary_of_the_records() {
        // Repetitions, failed runs, runs without the result and a list result, shuffled.
        let mut set = sweep(40, 3);
        for (i, r) in set.records.iter_mut().enumerate() {
            match i % 7 {
                0 => r.status = RunStatus::Failed,
                1 => {
                    r.results.remove("lat");
                }
                2 => {
                    r.results.insert("lat".into(), json!([1.0, 2.0]));
                }
                _ => {
                    r.results
                        .insert("lat".into(), json!((i * 37 % 11) as f64 - 3.0));
                }
            }
        }
        set.records.reverse();
        // The summary as the records give it: ok runs by (point index, run index), grouped by
        // point, the numbers of each.
        let mut ok: Vec<&RunRecord> = set.ok_records().collect();
        ok.sort_by_key(|r| (r.point_index, r.index));
        let mut expected: Vec<(Value, Vec<f64>)> = Vec::new();
        for r in ok {
            let x = r.point["x"].clone();
            let at = match expected.iter().position(|(p, _)| *p == x) {
                Some(at) => at,
                None => {
                    expected.push((x, Vec::new()));
                    expected.len() - 1
                }
            };
            if let Some(v) = r.results.get("lat").and_then(Value::as_f64) {
                expected[at].1.push(v);
            }
        }
        expected.retain(|(_, v)| !v.is_empty());
        let compact = CompactSet::of(&set);
        let rows = summary_rows(&compact);
        assert_eq!(rows.len(), expected.len());
        for (row, (x, values)) in rows.iter().zip(&expected) {
            assert_eq!(compact.runs.point_value(row.point, "x"), Some(x));
            let want = crate::analyze::stats::summarize(values).unwrap();
            assert_eq!(row.stats.n, want.n);
            assert_eq!(row.stats.mean.to_bits(), want.mean.to_bits());
            assert_eq!(row.stats.median.to_bits(), want.median.to_bits());
            assert_eq!(row.stats.ci_hi.to_bits(), want.ci_hi.to_bits());
            assert_eq!(row.stats.min.to_bits(), want.min.to_bits());
        }
        // The same from the journal, streamed.
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for r in &set.records {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.path().join(crate::store::layout::JOURNAL), text).unwrap();
        let streamed = CompactSet {
            dir: dir.path().to_path_buf(),
            manifest: set.manifest.clone(),
            runs: Runs::load(&dir.path().join(crate::store::layout::JOURNAL)).unwrap(),
        };
        assert_eq!(
            show_summary(&streamed, Format::Csv).unwrap(),
            show_summary(&compact, Format::Csv).unwrap()
        );
    }

    #[test]
    fn a_summary_of_fifty_thousand_points_is_linear() {
        // Grouping by a scan of the points seen would take 1.25 * 10^9 point comparisons.
        let set = sweep(50_000, 1);
        let start = std::time::Instant::now();
        let compact = CompactSet::of(&set);
        let rows = summary_rows(&compact);
        assert_eq!(rows.len(), 50_000);
        assert_eq!(
            compact.runs.point_value(rows[49_999].point, "x"),
            Some(&json!(49_999))
        );
        let notes = run_notes(&set);
        assert!(notes.contains("runs 0000, 0003, 0006,"), "{notes}");
        assert_eq!(notes.matches("  runs ").count(), 3, "{notes}");
        assert_eq!(compact_notes(&compact.runs), notes);
        let (_, row) = display_rows(&set);
        let shown: Vec<Vec<String>> = by_index(&set).into_iter().map(row).collect();
        assert_eq!(shown.len(), 50_000);
        assert_eq!(shown[0][2], "49999");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
    }
}
