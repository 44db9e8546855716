//! `mpf export`: a result set's runs as CSV, JSON or Parquet, one row per run with the columns of
//! `results.csv` (variables with `<var>_label` beside each labelled one, results,
//! `repetition`, `run`, `ok`), ready for pandas or polars.

use std::io::Write;

use serde_json::{Map, Value};

use crate::error::{Error, IoContext, Result};
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
    let m = &set.manifest;
    let result_cols = crate::store::csv::result_columns(m);
    let vars = crate::store::csv::variable_columns(m);
    sorted_records(set)
        .into_iter()
        .map(|r| {
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
        })
        .collect()
}

/// The runs as a JSON array, one object per line (`pd.read_json(path)` reads it as it is).
pub fn write_json(set: &ResultSet, mut out: impl Write) -> Result<()> {
    let rows = json_rows(set);
    let mut text = String::from("[\n");
    for (i, row) in rows.iter().enumerate() {
        let line = serde_json::to_string(row)
            .map_err(|e| Error::Runtime(format!("failed to encode json: {e}")))?;
        text.push_str(&line);
        text.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    text.push_str("]\n");
    out.write_all(text.as_bytes())
        .ctx(|| "failed to write json".to_string())
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
