//! `mpf export`: a result set's runs as CSV, JSON or Parquet, one row per run with the columns of
//! `results.csv` (variables with `<var>_label` beside each labelled one, results,
//! `repetition`, `run`, `ok`), ready for pandas or polars.

use std::io::Write;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::store::record::RunRecord;
use crate::store::{csv, ResultSet};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// Every run, failed ones included, in run order.
pub fn sorted_records(set: &ResultSet) -> Vec<&RunRecord> {
    let mut rows: Vec<&RunRecord> = set.records.iter().collect();
    rows.sort_by_key(|r| r.index);
    rows
}

/// One JSON object per run, keys in the order of the CSV columns. Values keep their JSON types:
/// numbers, strings, `null` where a variable's `when` is false or a result is missing, and
/// arrays for series results.
pub fn json_rows(set: &ResultSet) -> Vec<Map<String, Value>> {
    let row = json_row(set);
    sorted_records(set).into_iter().map(row).collect()
}

/// The function making a run's JSON object (see [`json_rows`]).
fn json_row(set: &ResultSet) -> impl Fn(&RunRecord) -> Map<String, Value> + '_ {
    let m = &set.manifest;
    let result_cols = crate::store::csv::result_columns(m);
    let vars = crate::store::csv::variable_columns(m);
    move |r: &RunRecord| {
        let mut row = Map::new();
        for c in &vars {
            row.insert(c.name(), c.cell(&r.point));
        }
        for (x, col) in m.results.iter().zip(&result_cols) {
            row.insert(
                col.clone(),
                r.results.get(&x.name).cloned().unwrap_or(Value::Null),
            );
        }
        row.insert("repetition".into(), Value::from(r.repetition));
        row.insert("run".into(), Value::from(r.index));
        row.insert(
            "ok".into(),
            Value::Bool(r.status == crate::store::record::RunStatus::Ok),
        );
        row
    }
}

/// The runs as a JSON array, one object per line (`pd.read_json(path)` reads it as it is),
/// each made and written in turn (a set may have 10^5 runs: SPEC §15).
pub fn write_json(set: &ResultSet, out: impl Write) -> Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let werr = |e: std::io::Error| Error::io("failed to write json".to_string(), e);
    let make = json_row(set);
    let rows = sorted_records(set);
    out.write_all(b"[\n").map_err(werr)?;
    for (i, r) in rows.iter().enumerate() {
        serde_json::to_writer(&mut out, &make(r)).map_err(|e| match e.is_io() {
            true => werr(e.into()),
            false => Error::Runtime(format!("failed to encode json: {e}")),
        })?;
        out.write_all(if i + 1 < rows.len() { b",\n" } else { b"\n" })
            .map_err(werr)?;
    }
    out.write_all(b"]\n").map_err(werr)?;
    out.flush().map_err(werr)
}

/// The runs as CSV, byte for byte what `results.csv` holds.
pub fn write_csv(set: &ResultSet, out: impl Write) -> Result<()> {
    csv::write(&set.manifest, &set.records, out)
}

/// Writes the export in `format`.
pub fn write(set: &ResultSet, format: ExportFormat, out: impl Write + Send) -> Result<()> {
    match format {
        ExportFormat::Csv => write_csv(set, out),
        ExportFormat::Json => write_json(set, out),
        ExportFormat::Parquet => crate::store::parquet::write(set, out),
    }
}
