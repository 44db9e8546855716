//! Monitoring samples (SPEC §11): each run's `runs/<NNNN>/monitor.csv`, a long table
//! `time,role,metric,value` (seconds since the run started, the role or `role.host`, the metric,
//! its value in the metric's base unit), read back for export, the report and `mpf plot --run`.
//!
//! The file is input like any other: it is read up to `MAX_FILE_BYTES` and `MAX_SAMPLES`
//! (streamed: only the samples are kept), a wrong header is an
//! error naming the file, and a row that does not hold a finite time, a role, a metric and a
//! finite value is skipped and counted (the first such row is named), never a panic.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::store::csv::VariableColumn;
use crate::store::export::sorted_records;
use crate::store::parquet::{write_column, Column};
use crate::store::record::RunRecord;
use crate::store::ResultSet;

/// The file name inside a run's directory.
pub const MONITOR_FILE: &str = super::layout::MONITOR_CSV;
/// The header of every monitor.csv.
pub const HEADER: [&str; 4] = ["time", "role", "metric", "value"];
/// The largest monitor.csv mpf reads: room for `MAX_SAMPLES` rows with long Prometheus names.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// The most samples mpf reads from one run (as many as the sampler keeps): 24 bytes each in
/// memory, so a run's samples take at most 48 MB however the file was written.
pub const MAX_SAMPLES: usize = 2_000_000;
/// The longest role or metric name kept (Prometheus names carry their labels).
pub const MAX_NAME_BYTES: usize = 1024;

/// The kinds of metric the views draw together (one graph per group and role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Cpu,
    Mem,
    Net,
    Disk,
    CpuFreq,
    Interrupts,
    Prom,
    Other,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Cpu => "cpu",
            Group::Mem => "mem",
            Group::Net => "net",
            Group::Disk => "disk",
            Group::CpuFreq => "cpufreq",
            Group::Interrupts => "interrupts",
            Group::Prom => "prom",
            Group::Other => "other",
        }
    }
}

/// What a metric name says about its values: its group and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricKind {
    pub group: Group,
    /// The base unit as mpf's unit functions take it (`%`, `B`, `bit/s`...); empty when the
    /// name does not tell (Prometheus values are stored as exposed).
    pub unit: &'static str,
}

/// The group and unit of a metric, from its name alone (SPEC §11).
pub fn metric_kind(metric: &str) -> MetricKind {
    let kind = |group, unit| MetricKind { group, unit };
    if metric.starts_with("prom.") {
        return kind(Group::Prom, "");
    }
    let (head, rest) = metric.split_once('.').unwrap_or((metric, ""));
    let last = rest.rsplit('.').next().unwrap_or("");
    match head {
        "cpu" if rest.is_empty() => kind(Group::Cpu, "%"),
        h if h.starts_with("cpu")
            && rest.is_empty()
            && h[3..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            kind(Group::Cpu, "%")
        }
        "mem" if rest.is_empty() => kind(Group::Mem, "B"),
        "net" => match last {
            "rx" | "tx" => kind(Group::Net, "bit/s"),
            "rx_packets" | "tx_packets" | "drops" => kind(Group::Net, "packets/s"),
            _ => kind(Group::Net, ""),
        },
        "disk" => match last {
            "read" | "write" => kind(Group::Disk, "B/s"),
            _ => kind(Group::Disk, ""),
        },
        h if h.starts_with("cpufreq") => kind(Group::CpuFreq, "Hz"),
        h if h.starts_with("interrupts") => kind(Group::Interrupts, "1/s"),
        _ => kind(Group::Other, ""),
    }
}

/// One series of a run: a metric of a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub role: String,
    pub metric: String,
}

/// One sample, its series an index into `RunSamples::series`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub series: u32,
    pub time: f64,
    pub value: f64,
}

/// The samples of one run, in the order of its file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSamples {
    pub run: usize,
    /// Every (role, metric) of the file, in the order of first appearance.
    pub series: Vec<SeriesKey>,
    pub rows: Vec<Row>,
    /// Rows left out as malformed, and the first of them (`file:line: what`).
    pub skipped: usize,
    pub first_skipped: Option<String>,
}

impl RunSamples {
    /// The (time, value) points of series `i`, in time order.
    pub fn points(&self, i: usize) -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter(|r| r.series as usize == i)
            .map(|r| (r.time, r.value))
            .collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        p
    }

    /// What the reader left out, for a warning: `None` when every row was kept.
    pub fn skipped_note(&self) -> Option<String> {
        let first = self.first_skipped.as_deref()?;
        Some(format!(
            "{} monitoring row{} skipped (first: {first})",
            self.skipped,
            if self.skipped == 1 { "" } else { "s" }
        ))
    }
}

/// Where run `index`'s samples are.
pub fn monitor_path(set_dir: &Path, index: usize) -> PathBuf {
    super::layout::run_dir(set_dir, index).join(MONITOR_FILE)
}

/// Reads run `index`'s samples; `None` when the run has no monitor.csv.
pub fn read_run(set_dir: &Path, index: usize) -> Result<Option<RunSamples>> {
    let path = monitor_path(set_dir, index);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    let len = file
        .metadata()
        .ctx(|| format!("failed to read {}", path.display()))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(too_big(&path));
    }
    // One byte past the limit, so that a file that grows while it is read is caught too.
    let reader = std::io::BufReader::new(file.take(MAX_FILE_BYTES + 1));
    parse_from(&path, index, reader, MAX_SAMPLES).map(Some)
}

fn too_big(path: &Path) -> Error {
    Error::input(
        path,
        0,
        0,
        format!(
            "more than {} MiB of monitoring samples, the most mpf reads from one run",
            MAX_FILE_BYTES >> 20
        ),
    )
}

/// The runs of `set` that have samples, in run order.
pub fn runs_with_samples(set: &ResultSet) -> Vec<usize> {
    sorted_records(set)
        .into_iter()
        .map(|r| r.index)
        .filter(|&i| monitor_path(&set.dir, i).is_file())
        .collect()
}

/// Why a row is left out, or its fields.
fn parse_row<'a>(
    fields: &'a csv::ByteRecord,
) -> std::result::Result<(f64, &'a str, &'a str, f64), String> {
    if fields.len() != 4 {
        return Err(format!("{} fields, not 4", fields.len()));
    }
    let text = |i: usize, what: &str| {
        std::str::from_utf8(&fields[i]).map_err(|_| format!("the {what} is not UTF-8"))
    };
    let number = |i: usize, what: &str| -> std::result::Result<f64, String> {
        let t = text(i, what)?;
        match t.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(format!(
                "the {what} '{}' is not a finite number",
                shorten(t)
            )),
        }
    };
    let name = |i: usize, what: &str| -> std::result::Result<&'a str, String> {
        let t = std::str::from_utf8(&fields[i]).map_err(|_| format!("the {what} is not UTF-8"))?;
        if t.is_empty() {
            Err(format!("the {what} is empty"))
        } else if t.len() > MAX_NAME_BYTES {
            Err(format!("the {what} is longer than {MAX_NAME_BYTES} bytes"))
        } else if t.chars().any(char::is_control) {
            Err(format!("the {what} holds a control character"))
        } else {
            Ok(t)
        }
    };
    let time = number(0, "time")?;
    if time < 0.0 {
        return Err(format!("the time {time} is before the run started"));
    }
    Ok((
        time,
        name(1, "role")?,
        name(2, "metric")?,
        number(3, "value")?,
    ))
}

/// The first 40 characters of a hostile value, for a message.
fn shorten(t: &str) -> String {
    let mut s: String = t.chars().take(40).collect();
    if s.len() < t.len() {
        s.push('…');
    }
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Parses the bytes of a monitor.csv (`path` names it in messages).
pub fn parse(path: &Path, run: usize, data: &[u8]) -> Result<RunSamples> {
    parse_from(path, run, data, MAX_SAMPLES)
}

/// Parses a monitor.csv as it is read, keeping only the samples, at most `max_samples`.
fn parse_from(path: &Path, run: usize, data: impl Read, max_samples: usize) -> Result<RunSamples> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = RunSamples {
        run,
        ..RunSamples::default()
    };
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut key = String::new();
    let mut record = csv::ByteRecord::new();
    let mut line = 0u64;
    let mut header_seen = false;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => {
                return Err(Error::Runtime(format!(
                    "failed to read {}: {e}",
                    path.display()
                )))
            }
            Err(e) => {
                // The csv reader stops at a broken quote: the rest of the file is one bad row.
                let at = e.position().map_or(line + 1, |p| p.line());
                out.skipped += 1;
                out.first_skipped
                    .get_or_insert_with(|| format!("{}:{at}: {e}", path.display()));
                break;
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        if !header_seen {
            header_seen = true;
            let found: Vec<String> = record
                .iter()
                .map(|f| shorten(&String::from_utf8_lossy(f)))
                .collect();
            if found != HEADER {
                return Err(Error::input(
                    path,
                    1,
                    1,
                    format!(
                        "not a monitor.csv: the header must be '{}', found '{}'",
                        HEADER.join(","),
                        found.join(",")
                    ),
                ));
            }
            continue;
        }
        if out.rows.len() >= max_samples {
            out.skipped += 1;
            out.first_skipped.get_or_insert_with(|| {
                format!(
                    "{}:{line}: beyond the {max_samples} samples mpf reads from a run",
                    path.display()
                )
            });
            continue;
        }
        match parse_row(&record) {
            Ok((time, role, metric, value)) => {
                key.clear();
                key.push_str(role);
                key.push('\0');
                key.push_str(metric);
                let series = match index.get(key.as_str()) {
                    Some(&i) => i,
                    None => {
                        let i = out.series.len() as u32;
                        index.insert(key.clone(), i);
                        out.series.push(SeriesKey {
                            role: role.to_string(),
                            metric: metric.to_string(),
                        });
                        i
                    }
                };
                out.rows.push(Row {
                    series,
                    time,
                    value,
                });
            }
            Err(why) => {
                out.skipped += 1;
                out.first_skipped
                    .get_or_insert_with(|| format!("{}:{line}: {why}", path.display()));
            }
        }
    }
    if reader.position().byte() > MAX_FILE_BYTES {
        return Err(too_big(path));
    }
    if !header_seen {
        return Err(Error::input(
            path,
            1,
            1,
            format!(
                "empty file: a monitor.csv starts with '{}'",
                HEADER.join(",")
            ),
        ));
    }
    Ok(out)
}

/// The message for a set without samples (exit 2: the user asked for what is not there).
pub fn no_samples(set: &ResultSet) -> Error {
    Error::Usage(format!(
        "{} has no monitoring samples: no run has a {MONITOR_FILE} (samples are taken when the experiment has a `monitor:` section)",
        set.manifest.id
    ))
}

/// The variables' columns of the long table, renamed `<name>.variable` where a name is taken
/// by `run`, `repetition` or a sample column, so that no column hides another.
fn variable_columns(set: &ResultSet) -> Vec<(String, VariableColumn<'_>)> {
    let mut taken: Vec<String> = ["run", "repetition"]
        .iter()
        .chain(HEADER.iter())
        .map(|s| s.to_string())
        .collect();
    let mut out = Vec::new();
    for c in crate::store::csv::variable_columns(&set.manifest) {
        let mut name = c.name();
        while taken.contains(&name) {
            name.push_str(".variable");
        }
        taken.push(name.clone());
        out.push((name, c));
    }
    out
}

/// The columns of the long table: `run`, the variables (and their labels), `repetition`,
/// `time`, `role`, `metric`, `value`.
pub fn export_header(set: &ResultSet) -> Vec<String> {
    let mut cols = vec!["run".to_string()];
    cols.extend(variable_columns(set).into_iter().map(|(n, _)| n));
    cols.push("repetition".into());
    cols.extend(HEADER.map(String::from));
    cols
}

/// Calls `f` with every recorded run's samples, in run order, one run in memory at a time.
/// Returns the warnings about skipped rows; a set without any sample is an error.
fn each_run(
    set: &ResultSet,
    mut f: impl FnMut(&RunRecord, &RunSamples) -> Result<()>,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut any = false;
    for r in sorted_records(set) {
        let Some(samples) = read_run(&set.dir, r.index)? else {
            continue;
        };
        any = true;
        if let Some(n) = samples.skipped_note() {
            notes.push(n);
        }
        f(r, &samples)?;
    }
    if any {
        Ok(notes)
    } else {
        Err(no_samples(set))
    }
}

/// Every run's samples as one CSV table (see `export_header`), rows of a run in the order of
/// its file. Returns the warnings about skipped rows.
pub fn write_csv(set: &ResultSet, out: impl Write) -> Result<Vec<String>> {
    let mut w = csv::Writer::from_writer(out);
    let map_err = |e: csv::Error| Error::Runtime(format!("failed to write csv: {e}"));
    w.write_record(export_header(set)).map_err(map_err)?;
    let vars = variable_columns(set);
    let notes = each_run(set, |r, samples| {
        let mut row: Vec<String> = vec![r.index.to_string()];
        row.extend(
            vars.iter()
                .map(|(_, c)| crate::store::csv::cell(Some(&c.cell(&r.point)))),
        );
        row.push(r.repetition.to_string());
        let fixed = row.len();
        for x in &samples.rows {
            let key = &samples.series[x.series as usize];
            row.truncate(fixed);
            row.push(x.time.to_string());
            row.push(key.role.clone());
            row.push(key.metric.clone());
            row.push(x.value.to_string());
            w.write_record(&row).map_err(map_err)?;
        }
        Ok(())
    })?;
    w.flush().map_err(|e| Error::io("failed to write csv", e))?;
    Ok(notes)
}

/// Rows per batch handed to the Parquet writer, so that memory stays bounded by one run's
/// samples however long the run.
const PARQUET_BATCH: usize = 64 * 1024;

/// Every run's samples as Parquet: one row group per run; `run` and `repetition` int64,
/// variables typed as in the results export, `time` and `value` double, `role` and `metric`
/// strings. Metadata: `mpf.id`, `mpf.variables`, `mpf.labels`, `mpf.version`, and `mpf.units`
/// (JSON: each metric's unit, from its name). Returns the warnings about skipped rows.
pub fn write_parquet(set: &ResultSet, out: impl Write + Send) -> Result<Vec<String>> {
    use crate::store::parquet::{column_schema, metadata, pq_err, variable_type, ColumnType};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let records = sorted_records(set);
    let vars = variable_columns(set);
    let mut kinds = vec![(String::from("run"), ColumnType::Int, true)];
    for (name, c) in &vars {
        let kind = if c.label {
            ColumnType::Text
        } else {
            let cells: Vec<Value> = records.iter().map(|r| c.cell(&r.point)).collect();
            variable_type(c.variable.values.iter().chain(cells.iter()))
        };
        kinds.push((name.clone(), kind, false));
    }
    kinds.push(("repetition".into(), ColumnType::Int, true));
    kinds.push(("time".into(), ColumnType::Float, true));
    kinds.push(("role".into(), ColumnType::Text, true));
    kinds.push(("metric".into(), ColumnType::Text, true));
    kinds.push(("value".into(), ColumnType::Float, true));
    let fields = kinds
        .iter()
        .map(|(n, k, req)| column_schema(n, *k, *req))
        .collect::<Result<Vec<_>>>()?;
    let schema = parquet::schema::types::Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(pq_err)?;
    let meta: Vec<KeyValue> = metadata(&set.manifest)
        .into_iter()
        .filter(|kv| kv.key != "mpf.units")
        .collect();
    let props = WriterProperties::builder()
        .set_created_by(format!("mpf {}", crate::VERSION))
        .set_key_value_metadata(Some(meta))
        .build();
    let mut writer =
        SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(pq_err)?;
    let mut units = serde_json::Map::new();
    let notes = each_run(set, |r, samples| {
        for k in &samples.series {
            units
                .entry(k.metric.clone())
                .or_insert_with(|| Value::from(metric_kind(&k.metric).unit));
        }
        let mut group = writer.next_row_group().map_err(pq_err)?;
        let mut i = 0;
        while let Some(mut column) = group.next_column().map_err(pq_err)? {
            let (name, kind, required) = kinds
                .get(i)
                .ok_or_else(|| Error::Runtime("failed to write parquet: schema mismatch".into()))?;
            for rows in samples.rows.chunks(PARQUET_BATCH) {
                let cells: Vec<Value> = match name.as_str() {
                    _ if i == 0 => vec![Value::from(r.index); rows.len()],
                    _ if i <= vars.len() => vec![vars[i - 1].1.cell(&r.point); rows.len()],
                    "repetition" => vec![Value::from(r.repetition); rows.len()],
                    "time" => rows.iter().map(|x| Value::from(x.time)).collect(),
                    "value" => rows.iter().map(|x| Value::from(x.value)).collect(),
                    "role" => rows
                        .iter()
                        .map(|x| Value::from(samples.series[x.series as usize].role.as_str()))
                        .collect(),
                    _ => rows
                        .iter()
                        .map(|x| Value::from(samples.series[x.series as usize].metric.as_str()))
                        .collect(),
                };
                let col = Column {
                    name: name.clone(),
                    kind: *kind,
                    required: *required,
                    cells,
                };
                write_column(&mut column, &col)?;
            }
            column.close().map_err(pq_err)?;
            i += 1;
        }
        group.close().map_err(pq_err)?;
        Ok(())
    })?;
    writer.append_key_value_metadata(KeyValue::new(
        "mpf.units".into(),
        Value::Object(units).to_string(),
    ));
    writer.close().map_err(pq_err)?;
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<RunSamples> {
        parse(Path::new("runs/0003/monitor.csv"), 3, text.as_bytes())
    }

    #[test]
    fn metric_names_give_groups_and_units() {
        let k = |m: &str| {
            let k = metric_kind(m);
            (k.group, k.unit)
        };
        assert_eq!(k("cpu"), (Group::Cpu, "%"));
        assert_eq!(k("cpu12"), (Group::Cpu, "%"));
        assert_eq!(k("mem"), (Group::Mem, "B"));
        assert_eq!(k("net.eth0.rx"), (Group::Net, "bit/s"));
        assert_eq!(k("net.veth.a.tx"), (Group::Net, "bit/s"));
        assert_eq!(k("net.eth0.rx_packets"), (Group::Net, "packets/s"));
        assert_eq!(k("net.eth0.drops"), (Group::Net, "packets/s"));
        assert_eq!(k("disk.nvme0n1.write"), (Group::Disk, "B/s"));
        assert_eq!(k("cpufreq.cpu3"), (Group::CpuFreq, "Hz"));
        assert_eq!(k("interrupts.eth0-rx-0"), (Group::Interrupts, "1/s"));
        assert_eq!(k("prom.app_temp{sensor=\"a\"}"), (Group::Prom, ""));
        assert_eq!(k("prom.cpu"), (Group::Prom, ""));
        assert_eq!(k("cpux"), (Group::Other, ""));
        assert_eq!(k("memory"), (Group::Other, ""));
    }

    #[test]
    fn rows_keep_their_order_and_series_are_shared() {
        let s = parsed(
            "time,role,metric,value\n0.5,server,cpu,12.5\n0.5,server,\"prom.x{a=\"\"1\"\",b=\"\"2\"\"}\",3\n1.5,server,cpu,80\n",
        )
        .unwrap();
        assert_eq!(s.run, 3);
        assert_eq!(s.series.len(), 2);
        assert_eq!(s.series[1].metric, "prom.x{a=\"1\",b=\"2\"}");
        assert_eq!(s.rows.len(), 3);
        assert_eq!(s.points(0), vec![(0.5, 12.5), (1.5, 80.0)]);
        assert_eq!(s.skipped, 0);
        assert_eq!(s.skipped_note(), None);
    }

    #[test]
    fn malformed_rows_are_skipped_and_counted() {
        let s = parsed(
            "time,role,metric,value\n\
             0.5,server,cpu,1\n\
             x,server,cpu,1\n\
             1,server,cpu,NaN\n\
             1,server,cpu,inf\n\
             -1,server,cpu,2\n\
             1,,cpu,2\n\
             1,server,cpu\n\
             1,server,cpu,2,3\n\
             1,se\u{7}rver,cpu,2\n\
             2,server,cpu,4\n",
        )
        .unwrap();
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.skipped, 8);
        assert_eq!(
            s.skipped_note().unwrap(),
            "8 monitoring rows skipped (first: runs/0003/monitor.csv:3: the time 'x' is not a finite number)"
        );
    }

    #[test]
    fn overlong_names_and_bad_bytes_are_skipped() {
        let long = "m".repeat(MAX_NAME_BYTES + 1);
        let mut data = format!("time,role,metric,value\n1,r,{long},1\n").into_bytes();
        data.extend_from_slice(b"1,r\xff,cpu,1\n1,r,cpu,1\n");
        let s = parse(Path::new("m.csv"), 0, &data).unwrap();
        assert_eq!((s.rows.len(), s.skipped), (1, 2));
        assert!(s.first_skipped.unwrap().contains("longer than 1024 bytes"));
    }

    #[test]
    fn a_wrong_header_or_an_empty_file_is_an_error() {
        let e = parsed("t,role,metric,value\n1,r,cpu,1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "runs/0003/monitor.csv:1:1: not a monitor.csv: the header must be 'time,role,metric,value', found 't,role,metric,value'"
        );
        assert!(parsed("").unwrap_err().to_string().contains("empty file"));
        // A header alone is a run without samples.
        assert!(parsed("time,role,metric,value\n").unwrap().rows.is_empty());
    }

    #[test]
    fn an_unterminated_quote_ends_the_file_as_one_skipped_row() {
        let s = parsed("time,role,metric,value\n1,r,cpu,1\n2,r,\"cpu,1\n3,r,cpu,1\n").unwrap();
        assert_eq!(s.rows.len(), 1);
        assert!(s.skipped >= 1);
    }

    #[test]
    fn samples_beyond_the_limit_are_skipped_and_counted() {
        let text = "time,role,metric,value\n1,r,cpu,1\n2,r,cpu,2\n3,r,cpu,3\nx\n";
        let s = parse_from(Path::new("m.csv"), 0, text.as_bytes(), 2).unwrap();
        assert_eq!(s.rows.len(), 2);
        assert_eq!(
            s.skipped_note().unwrap(),
            "2 monitoring rows skipped (first: m.csv:4: beyond the 2 samples mpf reads from a run)"
        );
    }

    #[test]
    fn a_file_beyond_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = monitor_path(dir.path(), 7);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_run(dir.path(), 7).unwrap_err();
        assert!(matches!(e, Error::Input { .. }), "{e}");
        assert!(
            e.to_string().ends_with(
                "more than 512 MiB of monitoring samples, the most mpf reads from one run"
            ),
            "{e}"
        );
        assert!(read_run(dir.path(), 8).unwrap().is_none());
    }
}
