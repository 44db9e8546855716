//! The dashboard formats (`mpf export ID... --format samples | influx | openmetrics`): every
//! result of every run as one sample (SPEC 19). Each format is a `SampleWriter` in a file of its
//! own, registered as a [`Dashboard`] exporter; the sets are streamed run by run from their
//! journals, so memory does not grow with the number of runs.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::record::{value_text, Manifest, RunRecord, RunStatus};
use crate::store::resultset::for_each_record;

/// One result of one run.
#[derive(Debug)]
pub struct Sample<'a> {
    pub set: &'a str,
    pub experiment: &'a str,
    pub run: usize,
    pub repetition: usize,
    pub ok: bool,
    pub result: &'a str,
    /// `None` when the run has no value for the result (it failed before it).
    pub value: Option<f64>,
    pub unit: &'a str,
    /// RFC 3339 UTC, as the journal has it.
    pub started: &'a str,
    /// Nanoseconds since the epoch of `started`; `None` when it cannot be read.
    pub started_ns: Option<i128>,
    /// The point: each variable's value as text, then `<var>_label` for labelled ones, in
    /// manifest order; variables that do not apply at the point (null) are left out.
    pub labels: &'a [(String, String)],
}

/// A set as the exporters see it before its samples.
#[derive(Debug)]
pub struct SetInfo<'a> {
    pub manifest: &'a Manifest,
    /// Every label name the set's samples may carry, in order.
    pub label_names: Vec<String>,
}

/// A dashboard format: told of each set, then of each sample, then of the end.
pub trait SampleWriter {
    fn begin_set(&mut self, _set: &SetInfo, _out: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
    fn sample(&mut self, sample: &Sample, out: &mut dyn Write) -> std::io::Result<()>;
    fn end(&mut self, _out: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
}

/// The exporter of a dashboard format: several sets, streamed through a fresh `SampleWriter`.
pub struct Dashboard {
    pub name: &'static str,
    pub help: &'static str,
    pub writer: fn() -> Box<dyn SampleWriter>,
}

impl super::Exporter for Dashboard {
    fn name(&self) -> &'static str {
        self.name
    }

    fn help(&self) -> Option<&'static str> {
        Some(self.help)
    }

    fn several(&self) -> bool {
        true
    }

    fn write_sets(&self, dirs: &[PathBuf], out: &mut dyn super::WriteSend) -> Result<Vec<String>> {
        export(dirs, (self.writer)().as_mut(), out)?;
        Ok(Vec::new())
    }
}

/// Streams every sample of every set (directories already resolved) through `exporter`.
/// Series results (lists of values) are left out: their statistics (`lat.p99`) are results
/// of their own.
pub fn export(
    sets: &[PathBuf],
    exporter: &mut dyn SampleWriter,
    out: &mut dyn Write,
) -> Result<()> {
    let write_err = |e| Error::io("failed to write the export", e);
    for dir in sets {
        let manifest = crate::store::resultset::read_manifest(dir)?;
        let vars = crate::store::csv::variable_columns(&manifest);
        let info = SetInfo {
            manifest: &manifest,
            label_names: vars.iter().map(|c| c.name()).collect(),
        };
        exporter.begin_set(&info, out).map_err(write_err)?;
        let results: Vec<_> = manifest.results.iter().filter(|r| !r.series).collect();
        let mut labels: Vec<(String, String)> = Vec::new();
        for_each_record(&dir.join(crate::store::layout::JOURNAL), |r: RunRecord| {
            labels.clear();
            for c in &vars {
                match c.cell(&r.point) {
                    Value::Null => {}
                    v => labels.push((c.name(), value_text(&v))),
                }
            }
            let started_ns = humantime::parse_rfc3339(&r.started)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i128);
            for info in &results {
                let value = match r.results.get(&info.name) {
                    Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
                    _ => None,
                };
                let sample = Sample {
                    set: &manifest.id,
                    experiment: &manifest.name,
                    run: r.index,
                    repetition: r.repetition,
                    ok: r.status == RunStatus::Ok,
                    result: &info.name,
                    value,
                    unit: &info.unit,
                    started: &r.started,
                    started_ns,
                    labels: &labels,
                };
                exporter.sample(&sample, out).map_err(write_err)?;
            }
            Ok(())
        })?;
    }
    exporter.end(out).map_err(write_err)
}

/// Label names as Prometheus and InfluxDB take them: `[a-zA-Z_][a-zA-Z0-9_]*`, other
/// characters turned into `_`, never a reserved name (`__...`) or one of `taken`; a name that
/// would collide gets `_` appended until it is unique.
pub fn label_names(names: &[String], taken: &[&str]) -> Vec<String> {
    let mut used: Vec<String> = taken.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for n in names {
        let mut clean: String = n
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty()
            || clean.starts_with(|c: char| c.is_ascii_digit())
            || clean.starts_with("__")
        {
            clean = format!("var_{clean}");
        }
        while used.contains(&clean) {
            clean.push('_');
        }
        used.push(clean.clone());
        out.push(clean);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_valid_and_unique() {
        let names: Vec<String> = ["x", "msg.size", "msg_size", "1st", "__a", "set", "é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            label_names(&names, &["set", "result"]),
            [
                "x",
                "msg_size",
                "msg_size_",
                "var_1st",
                "var___a",
                "set_",
                "_"
            ]
        );
    }
}
