//! `mpf export`: a result set's runs (or its monitoring samples, or its series' samples) in a
//! file format, one `Exporter` per format, one file each. [`EXPORTERS`] lists them: the CLI
//! takes its `--format` values, their help and the dispatch from it, so a new format is one new
//! file here and one line in that list.
//!
//! Two families: formats of one set, loaded whole (`csv`, `json`, `parquet`: one row per run
//! with the columns of `results.csv`, ready for pandas or polars), and dashboard formats of
//! several sets, streamed sample by sample from their journals (`samples`, `influx`,
//! `openmetrics`, see [`dashboard`]).

mod csv;
pub mod dashboard;
mod influx;
mod json;
mod openmetrics;
mod parquet;
mod samples;

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::store::record::RunRecord;
use crate::store::ResultSet;

pub use dashboard::{Sample, SampleWriter, SetInfo};

/// Every export format, in the order `mpf export --help` lists them. A new format is one line.
pub static EXPORTERS: &[&dyn Exporter] = &[
    &csv::Csv,
    &json::Json,
    &parquet::Parquet,
    &samples::EXPORTER,
    &influx::EXPORTER,
    &openmetrics::EXPORTER,
];

/// The exporter of a `--format` value.
pub fn exporter(name: &str) -> Option<&'static dyn Exporter> {
    EXPORTERS.iter().copied().find(|e| e.name() == name)
}

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// One row (or sample) per run and result.
    Results,
    /// `--timeseries`: the monitoring samples of every run.
    Timeseries,
    /// `--series`: the samples of every run's series results.
    Series,
}

impl Content {
    /// The formats that can hold this content, as a sentence says them: `csv or parquet`.
    pub fn formats(self) -> String {
        let names: Vec<&str> = EXPORTERS
            .iter()
            .filter(|e| e.holds(self))
            .map(|e| e.name())
            .collect();
        crate::words::list(&names, "or")
    }
}

/// The formats that take several sets at once: `samples, influx and openmetrics`.
pub fn several_formats() -> String {
    let names: Vec<&str> = EXPORTERS
        .iter()
        .filter(|e| e.several())
        .map(|e| e.name())
        .collect();
    crate::words::list(&names, "and")
}

/// A writer the Parquet writer takes (it needs `Send`).
pub trait WriteSend: Write + Send {}
impl<T: Write + Send> WriteSend for T {}

/// One export format.
pub trait Exporter: Sync {
    /// The `--format` value.
    fn name(&self) -> &'static str;
    /// The line `mpf export --help` gives the value, if any.
    fn help(&self) -> Option<&'static str> {
        None
    }
    /// True for a format of several sets at once (`write_sets`); false for one set (`write`).
    fn several(&self) -> bool {
        false
    }
    /// Whether the format can hold `content`; every format holds the results.
    fn holds(&self, content: Content) -> bool {
        content == Content::Results
    }
    /// The file inside the set the export goes to without `-o` (binary formats, which a
    /// terminal should not get); `None` is stdout.
    fn default_file(&self, _content: Content) -> Option<&'static str> {
        None
    }
    /// Writes `content` of one set (a format that is not `several`). Returns the warnings
    /// (rows skipped) to print.
    fn write(
        &self,
        _content: Content,
        _set: &ResultSet,
        _out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        Err(Error::Usage(format!(
            "--format {} exports several sets",
            self.name()
        )))
    }
    /// True when the format writes `content` of one set from its directory, reading the
    /// journal a run at a time (`write_streamed`) rather than from the set loaded whole: what
    /// a set of 10^5 runs needs to stay within SPEC §15's memory.
    fn streams(&self, _content: Content) -> bool {
        false
    }
    /// Writes `content` of the set in `dir`, whose manifest is `manifest` (a format that
    /// `streams` it).
    fn write_streamed(
        &self,
        _content: Content,
        _dir: &std::path::Path,
        _manifest: &crate::store::Manifest,
        _out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        Err(Error::Usage(format!(
            "--format {} does not stream a set",
            self.name()
        )))
    }
    /// Streams the results of the sets in `dirs` (a `several` format).
    fn write_sets(&self, _dirs: &[PathBuf], _out: &mut dyn WriteSend) -> Result<Vec<String>> {
        Err(Error::Usage(format!(
            "--format {} exports one set; several sets at once are for {}",
            self.name(),
            several_formats()
        )))
    }
}

/// Every run, failed ones included, in run order.
pub fn sorted_records(set: &ResultSet) -> Vec<&RunRecord> {
    let mut rows: Vec<&RunRecord> = set.records.iter().collect();
    rows.sort_by_key(|r| r.index);
    rows
}

/// The function making a run's JSON object, keys in the order of the CSV columns. Values keep
/// their JSON types: numbers, strings, `null` where a variable's `when` is false or a result is
/// missing, and arrays for series results.
pub(crate) fn json_row(set: &ResultSet) -> impl Fn(&RunRecord) -> Map<String, Value> + '_ {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_names_each_format_once_and_says_what_it_holds() {
        let names: Vec<&str> = EXPORTERS.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["csv", "json", "parquet", "samples", "influx", "openmetrics"]
        );
        assert_eq!(exporter("influx").map(|e| e.name()), Some("influx"));
        assert!(exporter("xml").is_none());
        assert_eq!(Content::Timeseries.formats(), "csv or parquet");
        assert_eq!(Content::Series.formats(), "csv");
        assert_eq!(several_formats(), "samples, influx and openmetrics");
        let parquet = exporter("parquet").map(|e| e.default_file(Content::Timeseries));
        assert_eq!(parquet, Some(Some("monitor.parquet")));
    }
}
