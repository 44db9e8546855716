//! `results.csv`: one row per run, variables (each labelled one followed by its labels) then
//! results, then `repetition`, `run`, `ok`.
//! Always rebuildable from the journal.

use std::io::Write;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::record::{value_text, Manifest, RunRecord, RunStatus, VariableInfo};

pub(crate) use crate::model::{label_column, FIXED_COLUMNS};

/// True when some value of the variable has a label of its own (`{values: {"-Z": enabled}}`).
pub(crate) fn is_labelled(v: &VariableInfo) -> bool {
    v.values
        .each()
        .zip(v.labels.each())
        .any(|(value, label)| value_text(&value) != label)
}

/// A column a variable gives: its value, or (for a labelled variable) its label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VariableColumn<'a> {
    pub variable: &'a VariableInfo,
    pub label: bool,
}

impl VariableColumn<'_> {
    pub(crate) fn name(&self) -> String {
        if self.label {
            label_column(&self.variable.name)
        } else {
            self.variable.name.clone()
        }
    }

    /// The cell of a run: the value, or its label as a string; null where the variable does
    /// not apply.
    pub(crate) fn cell(&self, point: &serde_json::Map<String, Value>) -> Value {
        match point.get(&self.variable.name) {
            None | Some(Value::Null) => Value::Null,
            Some(v) if self.label => Value::String(self.variable.label_of(v)),
            Some(v) => v.clone(),
        }
    }
}

/// The variables' columns, in order: each variable, then `<var>_label` when it is labelled.
pub(crate) fn variable_columns(manifest: &Manifest) -> Vec<VariableColumn<'_>> {
    let mut out = Vec::new();
    for v in &manifest.variables {
        out.push(VariableColumn {
            variable: v,
            label: false,
        });
        if is_labelled(v) {
            out.push(VariableColumn {
                variable: v,
                label: true,
            });
        }
    }
    out
}

/// Column names of the manifest's results, in its order, unique against the variables, the
/// fixed columns and each other. Extraction refuses colliding names, and the experiment file
/// cannot declare them; a set written before that still gets distinct columns (`x.result`), so
/// that no reader renames or overwrites one silently.
pub(crate) fn result_columns(manifest: &Manifest) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = variable_columns(manifest)
        .iter()
        .map(VariableColumn::name)
        .chain(FIXED_COLUMNS.map(String::from))
        .collect();
    manifest
        .results
        .iter()
        .map(|r| {
            let mut name = r.name.clone();
            let mut n = 1;
            while taken.contains(&name) {
                name = match n {
                    1 => format!("{}.result", r.name),
                    _ => format!("{}.result{n}", r.name),
                };
                n += 1;
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// Column names of `results.csv` for a manifest, every one distinct.
pub(crate) fn header(manifest: &Manifest) -> Vec<String> {
    let mut cols: Vec<String> = variable_columns(manifest)
        .iter()
        .map(VariableColumn::name)
        .collect();
    cols.extend(result_columns(manifest));
    cols.extend(FIXED_COLUMNS.map(String::from));
    cols
}

/// A result cell: numbers as shortest round-trip text, series as a JSON array, missing empty.
pub(crate) fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(_)) => v.map(|x| x.to_string()).unwrap_or_default(),
        Some(other) => value_text(other),
    }
}

/// Writes the CSV of `records` (sorted by run index) to `out`.
pub(crate) fn write(manifest: &Manifest, records: &[RunRecord], out: impl Write) -> Result<()> {
    let mut sorted: Vec<&RunRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut rows = Rows::new(manifest, out)?;
    for r in sorted {
        rows.row(r)?;
    }
    rows.finish()
}

/// Writes the CSV of a journal's runs, read one at a time in run order, to `out`: what a
/// session does at its end, holding no run in memory.
pub(crate) fn write_journal(
    manifest: &Manifest,
    journal: &std::path::Path,
    out: impl Write,
) -> Result<()> {
    let mut rows = Rows::new(manifest, out)?;
    crate::store::resultset::for_each_record(journal, |r| rows.row(&r))?;
    rows.finish()
}

/// `results.csv` written a row at a time, after its header.
struct Rows<'m, W: Write> {
    manifest: &'m Manifest,
    vars: Vec<VariableColumn<'m>>,
    w: csv::Writer<W>,
}

fn csv_error(e: csv::Error) -> Error {
    Error::Runtime(format!("failed to write csv: {e}"))
}

impl<'m, W: Write> Rows<'m, W> {
    fn new(manifest: &'m Manifest, out: W) -> Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(header(manifest)).map_err(csv_error)?;
        Ok(Rows {
            manifest,
            vars: variable_columns(manifest),
            w,
        })
    }

    fn row(&mut self, r: &RunRecord) -> Result<()> {
        let mut row: Vec<String> = self
            .vars
            .iter()
            .map(|c| cell(Some(&c.cell(&r.point))))
            .collect();
        row.extend(
            self.manifest
                .results
                .iter()
                .map(|x| cell(r.results.get(&x.name))),
        );
        row.push(r.repetition.to_string());
        row.push(r.index.to_string());
        row.push((r.status == RunStatus::Ok).to_string());
        self.w.write_record(&row).map_err(csv_error)
    }

    fn finish(mut self) -> Result<()> {
        self.w
            .flush()
            .map_err(|e| Error::io("failed to write csv", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{ResultInfo, VariableInfo};

    fn variable(name: &str, values: Vec<Value>, labels: &[&str]) -> VariableInfo {
        VariableInfo {
            name: name.into(),
            values: values.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            numeric: false,
            geometric: false,
            constant: false,
            when: None,
            index: Default::default(),
        }
    }

    #[test]
    fn labelled_variables_get_a_label_column_and_empty_strings_stay_empty() {
        let mut m = crate::store::writer::tests::manifest("t");
        m.variables.push(variable(
            "zerocopy",
            vec!["".into(), "-Z".into()],
            &["disabled", "enabled"],
        ));
        m.variables
            .push(variable("n", vec![1.into(), 2.into()], &["1", "2"]));
        m.results.push(ResultInfo {
            name: "zerocopy_label".into(),
            unit: String::new(),
            better: Default::default(),
            series: false,
        });
        let mut r = crate::store::writer::tests::record(0);
        r.point = serde_json::json!({"zerocopy": "", "n": 2})
            .as_object()
            .unwrap()
            .clone();
        let mut out = Vec::new();
        write(&m, &[r], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "zerocopy,zerocopy_label,n,zerocopy_label.result,repetition,run,ok\n,disabled,2,,0,0,true\n"
        );
    }

    #[test]
    fn every_column_is_unique_even_for_colliding_result_names() {
        let mut m = crate::store::writer::tests::manifest("t");
        m.variables.push(VariableInfo {
            name: "x".into(),
            values: vec![].into(),
            labels: vec![].into(),
            numeric: true,
            geometric: false,
            constant: false,
            when: None,
            index: Default::default(),
        });
        for name in ["x", "run", "x.result", "x", "lat"] {
            m.results.push(ResultInfo {
                name: name.into(),
                unit: String::new(),
                better: Default::default(),
                series: false,
            });
        }
        let cols = header(&m);
        assert_eq!(
            cols,
            [
                "x",
                "x.result",
                "run.result",
                "x.result.result",
                "x.result2",
                "lat",
                "repetition",
                "run",
                "ok"
            ]
        );
    }
}
