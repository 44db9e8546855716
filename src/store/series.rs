//! `runs/NNNN/series.csv`: the samples of a run's series results (`result,index,time,value`,
//! SPEC §17), written when the run is recorded and by `mpf extract`, read by the `cdf` and
//! `timeseries` figures. Bounded like `monitor.csv`: the writer keeps at most `MAX_SAMPLES`
//! rows, the reader refuses a file over `MAX_FILE_BYTES` and skips (and counts) rows it
//! cannot read.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::store::record::RunRecord;

pub const SERIES_FILE: &str = super::layout::SERIES_CSV;
pub const HEADER: [&str; 4] = ["result", "index", "time", "value"];
/// Bytes of series.csv mpf reads from one run.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Samples (rows) mpf writes or reads for one run, all results together.
pub const MAX_SAMPLES: usize = 2_000_000;
/// Longest result name read back.
pub const MAX_NAME_BYTES: usize = 1024;

/// One sample: its position in the series, its time when the extractor gave one, its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub index: usize,
    pub time: Option<f64>,
    pub value: f64,
}

/// A run's samples by result, with the rows that were skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunSeries {
    pub results: BTreeMap<String, Vec<Sample>>,
    pub skipped: usize,
    /// `file:line: why` of the first skipped row.
    pub first_skipped: Option<String>,
}

pub fn series_path(set_dir: &Path, index: usize) -> PathBuf {
    super::layout::run_dir(set_dir, index).join(SERIES_FILE)
}

/// The series results of `record` as rows, in the record's result order; `None` when it
/// has none. Returns the text and how many samples beyond `MAX_SAMPLES` were left out.
pub fn encode(record: &RunRecord) -> Option<(Vec<u8>, usize)> {
    let series: Vec<(&String, &Vec<Value>)> = record
        .results
        .iter()
        .filter_map(|(k, v)| v.as_array().map(|a| (k, a)))
        .collect();
    if series.is_empty() {
        return None;
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let (mut rows, mut dropped) = (0usize, 0usize);
    let _ = w.write_record(HEADER);
    for (name, values) in series {
        for (i, v) in values.iter().enumerate() {
            let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
                continue;
            };
            if rows >= MAX_SAMPLES {
                dropped += 1;
                continue;
            }
            rows += 1;
            let _ = w.write_record([name.as_str(), &i.to_string(), "", &x.to_string()]);
        }
    }
    w.into_inner().ok().map(|b| (b, dropped))
}

/// Writes run `record`'s series.csv into its run directory, or, when the run has no series
/// and its directory `may_hold_one` (an earlier one of it), removes that stale one. A note for
/// the record when samples were left out.
pub fn write_run(set_dir: &Path, record: &RunRecord, may_hold_one: bool) -> Result<Option<String>> {
    let path = series_path(set_dir, record.index);
    let Some((bytes, dropped)) = encode(record) else {
        if !may_hold_one {
            return Ok(None);
        }
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("failed to remove {}", path.display()), e))
            }
            _ => Ok(None),
        };
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ctx(|| format!("failed to create {}", dir.display()))?;
    }
    crate::store::writer::write_atomic(&path, &bytes)?;
    Ok((dropped > 0).then(|| {
        format!("series.csv keeps the first {MAX_SAMPLES} samples of the run; {dropped} more were left out")
    }))
}

/// Reads run `index`'s series.csv; `None` when the run has none.
pub fn read_run(set_dir: &Path, index: usize) -> Result<Option<RunSeries>> {
    let path = series_path(set_dir, index);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .ctx(|| format!("failed to read {}", path.display()))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::input(
            &path,
            0,
            0,
            format!(
                "more than {} MiB of series samples, the most mpf reads from one run",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    parse(&path, &data, MAX_SAMPLES).map(Some)
}

/// Parses the bytes of a series.csv (`path` names it in messages), keeping at most `max`
/// samples.
pub fn parse(path: &Path, data: &[u8], max: usize) -> Result<RunSeries> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = RunSeries::default();
    let mut kept = 0usize;
    let mut record = csv::ByteRecord::new();
    let mut header_seen = false;
    let mut line = 0u64;
    let skip = |out: &mut RunSeries, line: u64, why: &str| {
        out.skipped += 1;
        out.first_skipped
            .get_or_insert_with(|| format!("{}:{line}: {why}", path.display()));
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote: the rest of the file is one bad row.
                let at = e.position().map_or(line + 1, |p| p.line());
                skip(&mut out, at, &e.to_string());
                break;
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        if !header_seen {
            header_seen = true;
            if record.iter().ne(HEADER.iter().map(|h| h.as_bytes())) {
                return Err(Error::input(
                    path,
                    1,
                    1,
                    format!(
                        "not a series.csv: the header must be '{}'",
                        HEADER.join(",")
                    ),
                ));
            }
            continue;
        }
        if kept >= max {
            skip(
                &mut out,
                line,
                &format!("beyond the {max} samples mpf reads from a run"),
            );
            continue;
        }
        match parse_row(&record) {
            Ok((name, sample)) => {
                kept += 1;
                match out.results.get_mut(name) {
                    Some(v) => v.push(sample),
                    None => {
                        out.results.insert(name.to_string(), vec![sample]);
                    }
                }
            }
            Err(why) => skip(&mut out, line, why),
        }
    }
    if !header_seen {
        return Err(Error::input(
            path,
            1,
            1,
            format!(
                "empty file: a series.csv starts with '{}'",
                HEADER.join(",")
            ),
        ));
    }
    Ok(out)
}

fn parse_row(r: &csv::ByteRecord) -> std::result::Result<(&str, Sample), &'static str> {
    if r.len() != 4 {
        return Err("not 4 fields");
    }
    let text = |i: usize| std::str::from_utf8(&r[i]).map_err(|_| "not UTF-8");
    let name = text(0)?;
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err("no result name, or one longer than 1024 bytes");
    }
    let index = text(1)?
        .parse::<usize>()
        .map_err(|_| "index is not a count")?;
    let time = match text(2)? {
        "" => None,
        t => Some(
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or("time is not a number")?,
        ),
    };
    let value = text(3)?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or("value is not a finite number")?;
    Ok((name, Sample { index, time, value }))
}

/// Writes every run's series.csv of a set, `result,index,time,value` with the run first
/// (`mpf export --series`). Returns the runs whose file could not be read.
pub fn write_long(set: &crate::store::ResultSet, out: impl Write) -> Result<Vec<String>> {
    let mut w = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| Error::Runtime(format!("failed to write the series: {e}"));
    w.write_record(["run", "result", "index", "time", "value"])
        .map_err(fail)?;
    let mut problems = Vec::new();
    let mut records: Vec<&RunRecord> = set.records.iter().collect();
    records.sort_by_key(|r| r.index);
    for r in records {
        let series = match read_run(&set.dir, r.index) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if let Some(first) = &series.first_skipped {
            problems.push(format!(
                "{} rows skipped, the first: {first}",
                series.skipped
            ));
        }
        let run = r.index.to_string();
        for (name, samples) in &series.results {
            for s in samples {
                let time = s.time.map(|t| t.to_string()).unwrap_or_default();
                w.write_record([
                    run.as_str(),
                    name,
                    &s.index.to_string(),
                    &time,
                    &s.value.to_string(),
                ])
                .map_err(fail)?;
            }
        }
    }
    w.flush()
        .map_err(|e| Error::Runtime(format!("failed to write the series: {e}")))?;
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("runs/0000/series.csv")
    }

    #[test]
    fn reads_rows_and_skips_hostile_ones_counting_them() {
        let text = "result,index,time,value\nrtt,0,,1.5\nrtt,1,0.25,2\nrtt,x,,3\nrtt,2,,NaN\n,3,,1\nrtt,4\n\"broken";
        let s = parse(p(), text.as_bytes(), 100).unwrap();
        assert_eq!(
            s.results["rtt"],
            vec![
                Sample {
                    index: 0,
                    time: None,
                    value: 1.5
                },
                Sample {
                    index: 1,
                    time: Some(0.25),
                    value: 2.0
                }
            ]
        );
        assert_eq!(s.skipped, 5, "{s:?}");
        assert_eq!(
            s.first_skipped.as_deref(),
            Some("runs/0000/series.csv:4: index is not a count")
        );
    }

    #[test]
    fn keeps_at_most_the_cap_and_refuses_other_files() {
        let mut text = String::from("result,index,time,value\n");
        for i in 0..10 {
            text.push_str(&format!("v,{i},,{i}\n"));
        }
        let s = parse(p(), text.as_bytes(), 4).unwrap();
        assert_eq!(s.results["v"].len(), 4);
        assert_eq!(s.skipped, 6);
        let e = parse(p(), b"time,role,metric,value\n", 4).unwrap_err();
        assert!(e.to_string().contains("not a series.csv"), "{e}");
        assert!(parse(p(), b"", 4)
            .unwrap_err()
            .to_string()
            .contains("empty file"));
    }

    #[test]
    fn writes_every_series_result_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "index": 3, "point_index": 0, "point": {}, "repetition": 0, "status": "ok",
            "attempts": 1, "results": {"rtt": [1.0, 2.5, 3.0], "tps": 7, "s": [4]},
            "steps": [], "started": "", "ended": ""
        }))
        .unwrap();
        assert_eq!(write_run(dir.path(), &r, true).unwrap(), None);
        let back = read_run(dir.path(), 3).unwrap().unwrap();
        assert_eq!(back.results.keys().collect::<Vec<_>>(), ["rtt", "s"]);
        let rtt: Vec<f64> = back.results["rtt"].iter().map(|s| s.value).collect();
        assert_eq!(rtt, [1.0, 2.5, 3.0]);
        assert_eq!(back.skipped, 0);
        // A run whose series are gone (after `mpf extract`) loses its file.
        r.results.remove("rtt");
        r.results.remove("s");
        write_run(dir.path(), &r, true).unwrap();
        assert_eq!(read_run(dir.path(), 3).unwrap(), None);
        // A run whose directory cannot hold an earlier file is not asked to remove one.
        r.results.insert("rtt".into(), serde_json::json!([1.0]));
        write_run(dir.path(), &r, true).unwrap();
        r.results.remove("rtt");
        write_run(dir.path(), &r, false).unwrap();
        assert!(read_run(dir.path(), 3).unwrap().is_some());
    }
}
