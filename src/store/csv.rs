//! `results.csv`: one row per run, variables then results, then `repetition`, `run`, `ok`.
//! Always rebuildable from the journal.

use std::io::Write;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::record::{value_text, Manifest, RunRecord, RunStatus};

/// Column names of `results.csv` for a manifest.
pub fn header(manifest: &Manifest) -> Vec<String> {
    let mut cols: Vec<String> = manifest.variables.iter().map(|v| v.name.clone()).collect();
    cols.extend(manifest.results.iter().map(|r| r.name.clone()));
    cols.extend(["repetition", "run", "ok"].map(String::from));
    cols
}

/// A result cell: numbers as shortest round-trip text, series as a JSON array, missing empty.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(_)) => v.map(|x| x.to_string()).unwrap_or_default(),
        Some(other) => value_text(other),
    }
}

/// Writes the CSV of `records` (sorted by run index) to `out`.
pub fn write(manifest: &Manifest, records: &[RunRecord], out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let map_err = |e: csv::Error| Error::Runtime(format!("failed to write csv: {e}"));
    w.write_record(header(manifest)).map_err(map_err)?;
    let mut sorted: Vec<&RunRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    for r in sorted {
        let mut row: Vec<String> = manifest
            .variables
            .iter()
            .map(|v| cell(r.point.get(&v.name)))
            .collect();
        row.extend(
            manifest
                .results
                .iter()
                .map(|x| cell(r.results.get(&x.name))),
        );
        row.push(r.repetition.to_string());
        row.push(r.index.to_string());
        row.push((r.status == RunStatus::Ok).to_string());
        w.write_record(&row).map_err(map_err)?;
    }
    w.flush().map_err(|e| Error::io("failed to write csv", e))?;
    Ok(())
}
