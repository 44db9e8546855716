//! Results from a step's outputs: regex captures, JSON paths, CSV columns and
//! `mpf-result NAME VALUE` lines, read from stdout, stderr or a file the step wrote,
//! normalised to the declared unit; series statistics and warm-up (SPEC §8).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::analyze::stats;
use crate::spec::extractor::{Found, Searched};
use crate::spec::{Extractor, Source, StatKind, Stream, Tpl, Warmup};
use crate::units::{self, Reading};

/// Results found in a step's outputs, and a message for each declared result that could not
/// be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    pub values: Map<String, Value>,
    pub errors: Vec<String>,
    /// `mpf-result` lines left out, and why (the run keeps its other results).
    pub notes: Vec<String>,
    /// Samples dropped as warm-up, per series result.
    pub warmup_dropped: BTreeMap<String, usize>,
}

impl Extracted {
    /// Adds what one step of a run gave to what the run's earlier steps gave. Two steps
    /// printing the same `mpf-result` name: the first keeps it, and a note says so.
    pub fn absorb(&mut self, step: &str, ex: Extracted) {
        for (name, v) in ex.values {
            if self.values.contains_key(&name) {
                self.notes.push(format!(
                    "mpf-result '{name}' of step '{step}' left out: an earlier step gave it"
                ));
            } else {
                self.values.insert(name, v);
            }
        }
        self.notes.extend(ex.notes);
        self.errors.extend(ex.errors);
        self.warmup_dropped.extend(ex.warmup_dropped);
    }
}

/// The suffix of the results of a step's record among a run's `records`, as the run named
/// them: `.role` when the step ran on several roles, then `.machine` when that role has
/// several machines (SPEC §10.1).
pub(crate) fn record_suffix(
    records: &[crate::store::StepRecord],
    r: &crate::store::StepRecord,
) -> String {
    let several_roles = records.iter().any(|o| o.name == r.name && o.role != r.role);
    let role_part = several_roles.then_some(r.role.as_str());
    role_part
        .into_iter()
        .chain(r.node.as_deref())
        .map(|p| format!(".{p}"))
        .collect()
}

/// Aggregates across machines (`across:`, SPEC §14.5): for each step whose results ask for
/// them, each role it ran on, and each such result, the sum, mean, min or max of the values
/// the machines that ran it gave (`goodput.sum`, `goodput.sum.client` when the step ran on
/// several roles), added to `values`. `records` are the run's step records: which machines
/// ran what, named as the per-machine results are suffixed. A machine whose value is missing
/// leaves the aggregate out (its own extraction error fails the run); one that gave a
/// series is an error.
pub(crate) fn across(
    steps: &[crate::spec::Step],
    records: &[crate::store::StepRecord],
    values: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) {
    for step in steps {
        if step.results.iter().all(|e| e.across.is_empty()) {
            continue;
        }
        let ran: Vec<&crate::store::StepRecord> =
            records.iter().filter(|r| r.name == step.name).collect();
        let mut roles: Vec<&str> = ran.iter().map(|r| r.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        for role in &roles {
            let role_part = if roles.len() > 1 {
                format!(".{role}")
            } else {
                String::new()
            };
            let machines: Vec<&&crate::store::StepRecord> =
                ran.iter().filter(|r| r.role == *role).collect();
            for e in step.results.iter().filter(|e| !e.across.is_empty()) {
                let mut xs = Vec::with_capacity(machines.len());
                for m in &machines {
                    let name = format!("{}{}", e.name, record_suffix(records, m));
                    match values.get(&name) {
                        Some(Value::Number(x)) => xs.extend(x.as_f64()),
                        Some(_) => {
                            errors.push(format!(
                                "result '{name}': across aggregates one number per machine, and this is not one"
                            ));
                            break;
                        }
                        None => break,
                    }
                }
                if xs.is_empty() || xs.len() < machines.len() {
                    continue;
                }
                for a in &e.across {
                    let v = a.of(&xs);
                    if let Some(n) = serde_json::Number::from_f64(v) {
                        values.insert(
                            format!("{}{role_part}", e.across_result(*a)),
                            Value::Number(n),
                        );
                    }
                }
            }
        }
    }
}

pub(crate) use crate::spec::json_path::MAX_RESULT_NAME;
/// Most distinct `mpf-result` names kept from one step's output.
pub(crate) const MAX_RESULT_NAMES: usize = 1000;
/// Most values of a series recorded as the series result (in the journal and
/// `results.csv`; statistics are over every value) and of an `mpf-result` series.
pub(crate) const MAX_STORED_VALUES: usize = 100_000;
/// Largest file an extractor reads (`file:`).
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// A text an extractor reads, with what to call it in messages (`stdout of step 'client'
/// on client`, `file /tmp/x/fio.json`).
#[derive(Debug, Clone)]
pub struct Text {
    pub what: String,
    /// Shared: a 32 MiB log read once is not copied for every extractor.
    pub text: Rc<String>,
}

/// Where extraction finds the outputs of one step on one role.
pub trait Inputs {
    fn stream(&self, which: Stream) -> Text;
    /// The file named by a `file:` template, read from the collected run directory.
    fn file(&self, path: &Tpl) -> Result<Text, String>;
}

/// Whether extracting `results` renders a template (only a `file:` path can be one): a step
/// whose results need no context gets none built.
pub(crate) fn needs_context(results: &[crate::spec::Extractor]) -> bool {
    results.iter().any(|e| {
        matches!(&e.source, crate::spec::Source::File(t) if crate::template::is_template(&t.text))
    })
}

/// The outputs of a step as the result set stores them: `<dir>/<step>.out|.err` and the
/// role's collected run_dir `<dir>`.
pub(crate) struct StoredStep<'a> {
    /// The role's directory of the run in the result set (`runs/0007/client`).
    pub dir: PathBuf,
    pub step: &'a str,
    pub role: &'a str,
    /// `run_dir` as the step saw it (the remote path for a remote role).
    pub run_dir: String,
    /// The template context of the step (for `file:` paths).
    pub ctx: minijinja::Value,
    /// The tails of stdout and stderr held in memory, used when a log can't be read.
    pub memory: Option<(&'a [u8], &'a [u8])>,
    /// Streams (stdout, stderr) known to have printed nothing, which have no log to open.
    pub silent: (bool, bool),
    streams: RefCell<HashMap<&'static str, Rc<String>>>,
    files: RefCell<HashMap<PathBuf, Rc<String>>>,
}

impl<'a> StoredStep<'a> {
    pub(crate) fn new(
        dir: PathBuf,
        step: &'a str,
        role: &'a str,
        run_dir: String,
        ctx: minijinja::Value,
    ) -> StoredStep<'a> {
        StoredStep {
            dir,
            step,
            role,
            run_dir,
            ctx,
            memory: None,
            silent: (false, false),
            streams: RefCell::default(),
            files: RefCell::default(),
        }
    }

    /// The stored log of a stream (`out` or `err`), up to the log limit.
    fn log(&self, ext: &'static str) -> Rc<String> {
        if let Some(t) = self.streams.borrow().get(ext) {
            return t.clone();
        }
        let silent = if ext == "out" {
            self.silent.0
        } else {
            self.silent.1
        };
        let path = self.dir.join(format!("{}.{ext}", self.step));
        // Never through a link out of the set (`linked_ancestor`), checked once the log is
        // found (a step that printed nothing has none: nothing to check).
        let data = (!silent)
            .then(|| read_bounded(&path, crate::exec::process::LOG_LIMIT + 4096).ok())
            .flatten()
            .filter(|_| linked_ancestor(&self.dir).is_none())
            .or_else(|| {
                self.memory
                    .map(|(o, e)| if ext == "out" { o } else { e }.to_vec())
            })
            .unwrap_or_default();
        let text = Rc::new(lossy(data));
        self.streams.borrow_mut().insert(ext, text.clone());
        text
    }
}

fn lossy(data: Vec<u8>) -> String {
    String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// At most `limit` bytes of a file.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut data)?;
    Ok(data)
}

impl Inputs for StoredStep<'_> {
    fn stream(&self, which: Stream) -> Text {
        let of = format!("of step '{}' on {}", self.step, self.role);
        match which {
            Stream::Stdout => Text {
                what: format!("stdout {of}"),
                text: self.log("out"),
            },
            Stream::Stderr => Text {
                what: format!("stderr {of}"),
                text: self.log("err"),
            },
            Stream::Both => Text {
                what: format!("stdout and stderr {of}"),
                text: Rc::new(format!("{}{}", self.log("out"), self.log("err"))),
            },
        }
    }

    fn file(&self, path: &Tpl) -> Result<Text, String> {
        let rendered = crate::template::render(&path.text, &self.ctx)
            .map_err(|m| format!("{}: file: {m}", path.loc))?;
        let shown = rendered.trim().to_string();
        let local = local_file(&shown, &self.run_dir, &self.dir)?;
        if let Some(t) = self.files.borrow().get(&local) {
            return Ok(Text {
                what: format!("file {shown}"),
                text: t.clone(),
            });
        }
        let text = Rc::new(read_result_file(&local, &shown)?);
        self.files.borrow_mut().insert(local, text.clone());
        Ok(Text {
            what: format!("file {shown}"),
            text,
        })
    }
}

/// `path` with `.` and `..` resolved without the file system (`..` at the root stays there).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The role's directory of a run in the set, `runs/NNNN/<role>`, and the two above it are the
/// set's own: the first of them that is a symbolic link, which would take every path below it
/// (logs, files) elsewhere.
pub(crate) fn linked_ancestor(role_dir: &Path) -> Option<&Path> {
    role_dir
        .ancestors()
        .take(3)
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
}

/// Where a file named `shown` (as the step saw it: absolute, or relative to its run_dir)
/// lies in the result set: it must be inside the role's run_dir, which the run collected into
/// `local_dir`. A path outside, through `..` or a symbolic link, is refused: results come
/// from what the run wrote, never from elsewhere on the machine running mpf.
pub(crate) fn local_file(shown: &str, run_dir: &str, local_dir: &Path) -> Result<PathBuf, String> {
    if shown.is_empty() {
        return Err("the file path is empty".into());
    }
    let run_dir = lexical(Path::new(run_dir));
    let full = lexical(&run_dir.join(shown));
    let rel = full
        .strip_prefix(&run_dir)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(|| {
            format!(
                "file '{shown}' is not inside the run_dir ({}): results are read from files the run wrote there",
                run_dir.display()
            )
        })?;
    if let Some(link) = linked_ancestor(local_dir) {
        return Err(format!(
            "file '{shown}' is not read: {} is a symbolic link, not the run's own directory",
            link.display()
        ));
    }
    let local = local_dir.join(rel);
    let real = std::fs::canonicalize(&local).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("file '{shown}' does not exist (the step did not write it)")
        }
        _ => format!("file '{shown}': {e}"),
    })?;
    let root = std::fs::canonicalize(local_dir).unwrap_or_else(|_| local_dir.to_path_buf());
    if !real.starts_with(&root) {
        return Err(format!(
            "file '{shown}' leads outside the run_dir (a symbolic link to {})",
            real.display()
        ));
    }
    Ok(real)
}

/// Reads a result file, refusing one larger than `MAX_FILE_BYTES`.
fn read_result_file(path: &Path, shown: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("file '{shown}': {e}"))?;
    if !meta.is_file() {
        return Err(format!("file '{shown}' is not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file '{shown}' is {} bytes, more than the limit of {MAX_FILE_BYTES} bytes (64 MiB)",
            meta.len()
        ));
    }
    read_bounded(path, MAX_FILE_BYTES)
        .map(lossy)
        .map_err(|e| format!("file '{shown}': {e}"))
}

/// Outputs given as strings (stdout only unless set), for tests and callers with the text at
/// hand.
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub stdout: String,
    pub stderr: String,
    pub files: HashMap<String, String>,
}

impl Inputs for Given {
    fn stream(&self, which: Stream) -> Text {
        let (what, text) = match which {
            Stream::Stdout => ("stdout", self.stdout.clone()),
            Stream::Stderr => ("stderr", self.stderr.clone()),
            Stream::Both => (
                "stdout and stderr",
                format!("{}{}", self.stdout, self.stderr),
            ),
        };
        Text {
            what: what.into(),
            text: Rc::new(text),
        }
    }
    fn file(&self, path: &Tpl) -> Result<Text, String> {
        self.files
            .get(&path.text)
            .map(|t| Text {
                what: format!("file {}", path.text),
                text: Rc::new(t.clone()),
            })
            .ok_or_else(|| {
                format!(
                    "file '{}' does not exist (the step did not write it)",
                    path.text
                )
            })
    }
}

/// Applies the declared extractors and collects `mpf-result` lines (from stdout). `suffix` is
/// appended to result names (`.role` for steps that run on several roles). `taken` holds the
/// names an `mpf-result` line may not use: variables, the fixed columns, declared and
/// derived results.
pub fn extract(
    inputs: &dyn Inputs,
    extractors: &[Extractor],
    suffix: &str,
    taken: &HashSet<String>,
) -> Extracted {
    let mut out = Extracted::default();
    for e in extractors {
        let name = format!("{}{suffix}", e.name);
        let text = match &e.source {
            Source::Stream(s) => Ok(inputs.stream(*s)),
            Source::File(path) => inputs.file(path),
        };
        let found = text.and_then(|t| find(e, &t));
        match found {
            Ok(Found::One(x)) if e.stats.is_empty() && e.warmup.is_none() => {
                out.values.insert(name, number(x));
            }
            Ok(Found::One(_)) => out.errors.push(format!(
                "result '{name}': found one value, not a series (stats and warmup need a list)"
            )),
            Ok(Found::Series(list)) => series_results(e, &name, suffix, list, &mut out),
            Err(m) => out.errors.push(format!("result '{name}': {m}")),
        }
    }
    let lines = result_lines(&inputs.stream(Stream::Stdout).text, suffix, taken);
    out.values.extend(lines.values);
    out.notes.extend(lines.notes);
    out.errors.extend(lines.errors);
    out
}

/// Records a series, its warm-up and its statistics (`lat.p99` + suffix).
fn series_results(e: &Extractor, name: &str, suffix: &str, list: Vec<f64>, out: &mut Extracted) {
    let drop = match e.warmup {
        None => 0,
        Some(Warmup::Samples(n)) => n,
        Some(Warmup::Auto) => stats::mser5(&list),
    };
    if e.warmup.is_some() {
        out.warmup_dropped
            .insert(name.to_string(), drop.min(list.len()));
    }
    if e.warmup == Some(Warmup::Auto) && drop > 0 && drop == stats::mser5_most(list.len()) {
        out.notes.push(format!(
            "result '{name}': warmup: auto dropped {drop} of {} samples, the most it searches: the series may be too short to tell a warm-up from noise (give warmup: N)",
            list.len()
        ));
    }
    let kept = &list[drop.min(list.len())..];
    if !e.stats.is_empty() && kept.is_empty() {
        out.errors.push(format!(
            "result '{name}': warmup drops all {} samples of the series",
            list.len()
        ));
    } else {
        // Sorted once for every percentile.
        let sorted = e
            .stats
            .iter()
            .any(|s| matches!(s.kind, StatKind::Percentile(_)))
            .then(|| {
                let mut v = kept.to_vec();
                v.sort_by(f64::total_cmp);
                v
            });
        for st in &e.stats {
            let key = format!("{}{suffix}", e.stat_result(st));
            let x = match (&st.kind, &sorted) {
                (StatKind::Percentile(p), Some(sorted)) => {
                    units::round_15(stats::quantile(sorted, p / 100.0))
                }
                (kind, _) => stat_value(*kind, kept),
            };
            // `std` of one sample has no value; any other statistic that is not finite
            // overflowed (a sum of huge values).
            if x.is_infinite() || (x.is_nan() && !(st.kind == StatKind::Std && kept.len() < 2)) {
                out.errors.push(format!(
                    "result '{key}': the statistic is not a finite number"
                ));
            }
            out.values.insert(key, number(x));
        }
    }
    if list.len() > MAX_STORED_VALUES {
        out.notes.push(format!(
            "result '{name}': the recorded series holds the first {MAX_STORED_VALUES} of its {} values (its statistics are over all of them)",
            list.len()
        ));
    }
    out.values.insert(
        name.to_string(),
        Value::Array(
            list.into_iter()
                .take(MAX_STORED_VALUES)
                .map(number)
                .collect(),
        ),
    );
}

/// One statistic of a non-empty series, rounded to 15 significant digits like converted
/// values; `std` of one sample is NaN (null).
pub fn stat_value(kind: StatKind, xs: &[f64]) -> f64 {
    let value = match kind {
        StatKind::Mean => stats::mean(xs),
        StatKind::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
        StatKind::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        StatKind::Std if xs.len() < 2 => f64::NAN,
        StatKind::Std => stats::variance(xs, stats::mean(xs)).sqrt(),
        StatKind::Count => xs.len() as f64,
        StatKind::Sum => xs.iter().sum(),
        StatKind::Percentile(p) => {
            let mut sorted = xs.to_vec();
            sorted.sort_by(f64::total_cmp);
            stats::quantile(&sorted, p / 100.0)
        }
    };
    units::round_15(value)
}

/// Applies one extractor to a text: its kind reads it, converting to the result's unit.
fn find(e: &Extractor, t: &Text) -> Result<Found, String> {
    e.kind.apply(&Searched {
        text: &t.text,
        what: &t.what,
        unit: e.unit.as_deref(),
        how: Reading {
            input_unit: e.input_unit.as_deref(),
            binary: e.binary,
        },
    })
}

/// Why an `mpf-result` name can't be a column, if it can't.
fn refusal(name: &str, taken: &HashSet<String>) -> Option<&'static str> {
    if taken.contains(name) {
        Some("it is already a column (a variable, a declared result or run, repetition, ok)")
    } else if name.len() > MAX_RESULT_NAME {
        Some("the name is longer than 128 bytes")
    } else if name.chars().any(|c| c.is_control() || c == ',') {
        Some("the name holds a comma or a control character")
    } else {
        None
    }
}

/// `mpf-result NAME VALUE` lines; a name given several times becomes a series. Names that
/// would duplicate a column, and values beyond the limits, are left out with a note.
fn result_lines(stdout: &str, suffix: &str, taken: &HashSet<String>) -> Extracted {
    let mut found: Vec<(String, Value)> = Vec::new();
    let mut dropped: Vec<(String, &'static str)> = Vec::new();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.trim_start().strip_prefix("mpf-result ") else {
            continue;
        };
        let Some((name, val)) = rest.trim().split_once(char::is_whitespace) else {
            continue;
        };
        let name = format!("{name}{suffix}");
        let x = match units::normalise_own(val) {
            Ok(x) => x,
            // A number too large for a double fails the run; a value that is no number at
            // all (`inf`, `n/a`) is skipped, as documented.
            Err(e) if units::split_number(val).is_some() => {
                if errors.len() < 20 {
                    errors.push(format!("mpf-result '{}': {e}", name.escape_debug()));
                }
                continue;
            }
            Err(_) => continue,
        };
        let full = found.len() >= MAX_RESULT_NAMES;
        let why = match (
            refusal(&name, taken),
            found.iter_mut().find(|(n, _)| *n == name),
        ) {
            (Some(why), _) => why,
            (None, Some((_, Value::Array(list)))) if list.len() >= MAX_STORED_VALUES => {
                "the series has more than 100000 values"
            }
            (None, Some((_, Value::Array(list)))) => {
                list.push(number(x));
                continue;
            }
            (None, Some((_, prev))) => {
                *prev = Value::Array(vec![prev.clone(), number(x)]);
                continue;
            }
            (None, None) if full => "the step printed more than 1000 names",
            (None, None) => {
                found.push((name, number(x)));
                continue;
            }
        };
        if !dropped.iter().any(|(n, w)| *n == name && *w == why) && dropped.len() < 20 {
            dropped.push((name, why));
        }
    }
    Extracted {
        values: found.into_iter().collect(),
        errors,
        notes: dropped
            .into_iter()
            .map(|(n, why)| format!("mpf-result '{}' left out: {why}", n.escape_debug()))
            .collect(),
        ..Extracted::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Extractor;
    use regex::Regex;

    fn ran(step: &str, role: &str, node: Option<&str>) -> crate::store::StepRecord {
        crate::store::StepRecord {
            name: step.into(),
            role: role.into(),
            host: node.unwrap_or("h").into(),
            node: node.map(str::to_string),
            exit: Some(0),
            duration: 1.0,
            timed_out: false,
            background: false,
            start: None,
        }
    }

    fn step_on(roles: &[&str], across: Vec<crate::spec::Across>) -> crate::spec::Step {
        let exp = crate::spec::parse_experiment(
            Path::new("e.yaml"),
            &format!(
                "steps:\n  - name: load\n    role: [{}]\n    run: 'true'\n",
                roles.join(", ")
            ),
        )
        .unwrap();
        let mut step = exp.steps[0].clone();
        step.results = vec![Extractor {
            across,
            ..rx("goodput", r"(\d+)", None, false)
        }];
        step
    }

    #[test]
    fn across_aggregates_the_machines_that_ran_per_role() {
        use crate::spec::Across::*;
        let step = step_on(&["client"], vec![Sum, Mean, Min, Max]);
        // Two of three machines ran: only theirs count.
        let records = [
            ran("load", "client", Some("n1")),
            ran("load", "client", Some("n2")),
        ];
        let mut values: Map<String, Value> =
            serde_json::from_str(r#"{"goodput.n1": 10, "goodput.n2": 30, "goodput.n3": 1000}"#)
                .unwrap();
        let mut errors = Vec::new();
        across(
            std::slice::from_ref(&step),
            &records,
            &mut values,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(values["goodput.sum"], 40.0);
        assert_eq!(values["goodput.mean"], 20.0);
        assert_eq!(values["goodput.min"], 10.0);
        assert_eq!(values["goodput.max"], 30.0);

        // One machine: unsuffixed, its own value.
        let mut values: Map<String, Value> = serde_json::from_str(r#"{"goodput": 7}"#).unwrap();
        across(
            std::slice::from_ref(&step),
            &[ran("load", "client", None)],
            &mut values,
            &mut errors,
        );
        assert_eq!(values["goodput.sum"], 7.0);

        // Several roles: the role suffix, as the per-machine results have it.
        let step = step_on(&["client", "server"], vec![Sum]);
        let records = [
            ran("load", "client", Some("a")),
            ran("load", "client", Some("b")),
            ran("load", "server", None),
        ];
        let mut values: Map<String, Value> = serde_json::from_str(
            r#"{"goodput.client.a": 1, "goodput.client.b": 2, "goodput.server": 5}"#,
        )
        .unwrap();
        across(
            std::slice::from_ref(&step),
            &records,
            &mut values,
            &mut errors,
        );
        assert_eq!(values["goodput.sum.client"], 3.0);
        assert_eq!(values["goodput.sum.server"], 5.0);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn across_leaves_out_an_aggregate_a_machine_did_not_give_and_refuses_a_series() {
        let step = step_on(&["client"], vec![crate::spec::Across::Sum]);
        let records = [
            ran("load", "client", Some("n1")),
            ran("load", "client", Some("n2")),
        ];
        let mut values: Map<String, Value> = serde_json::from_str(r#"{"goodput.n1": 10}"#).unwrap();
        let mut errors = Vec::new();
        across(
            std::slice::from_ref(&step),
            &records,
            &mut values,
            &mut errors,
        );
        assert!(values.get("goodput.sum").is_none(), "{values:?}");
        assert!(
            errors.is_empty(),
            "the missing result is its own extraction error"
        );
        let mut values: Map<String, Value> =
            serde_json::from_str(r#"{"goodput.n1": 10, "goodput.n2": [1, 2]}"#).unwrap();
        across(
            std::slice::from_ref(&step),
            &records,
            &mut values,
            &mut errors,
        );
        assert!(values.get("goodput.sum").is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("'goodput.n2'"), "{errors:?}");
    }

    fn rx(name: &str, re: &str, unit: Option<&str>, all: bool) -> Extractor {
        Extractor {
            unit: unit.map(str::to_string),
            ..Extractor::new(
                name,
                crate::spec::extractor::Regex {
                    re: Regex::new(re).unwrap(),
                    all,
                },
            )
        }
    }

    fn given(stdout: &str) -> Given {
        Given {
            stdout: stdout.into(),
            ..Given::default()
        }
    }

    const IPERF: &str =
        "[  5]   0.00-2.00   sec   225 MBytes   943 Mbits/sec                  receiver\n";

    #[test]
    fn regex_with_units() {
        let e = extract(
            &given(IPERF),
            &[rx(
                "goodput",
                r"([0-9.]+ [KMG]bits)/sec\s+receiver",
                Some("bit/s"),
                false,
            )],
            "",
            &HashSet::new(),
        );
        assert_eq!(e.values["goodput"], serde_json::json!(943000000.0));
        assert!(e.errors.is_empty());
    }

    #[test]
    fn named_group_series_and_missing() {
        let out = "lat=1ms\nlat=2ms\nlat=4ms\n";
        let e = extract(
            &given(out),
            &[
                rx("lat", r"lat=(?P<value>\d+ms)", Some("s"), true),
                rx("nope", r"x=(\d)", None, false),
            ],
            "",
            &HashSet::new(),
        );
        assert_eq!(e.values["lat"], serde_json::json!([0.001, 0.002, 0.004]));
        assert_eq!(e.errors.len(), 1);
        assert!(e.errors[0].contains("nope"));
    }

    #[test]
    fn a_series_longer_than_the_limit_fails_naming_it() {
        let out = "v=1\n".repeat(crate::spec::extractor::MAX_SERIES_VALUES + 1);
        let e = extract(
            &given(&out),
            &[rx("v", r"v=(\d)", None, true)],
            "",
            &HashSet::new(),
        );
        assert!(e.values.is_empty());
        assert_eq!(
            e.errors,
            ["result 'v': the series has more than 4000000 values (the limit of a series)"]
        );
    }

    #[test]
    fn statistics_are_over_every_value_and_the_record_keeps_the_first() {
        // The slow values come last: a series cut at the recorded length would miss them.
        let n = MAX_STORED_VALUES * 3;
        let mut out = "v=1\n".repeat(n - n / 50);
        out.push_str(&"v=1000\n".repeat(n / 50));
        let e = run(
            &given(&out),
            "      v: {regex: 'v=(\\d+)', all: true, stats: [p99, max, count]}\n",
        );
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.values["v.p99"], serde_json::json!(1000.0));
        assert_eq!(e.values["v.max"], serde_json::json!(1000.0));
        assert_eq!(e.values["v.count"], serde_json::json!(n as f64));
        assert_eq!(e.values["v"].as_array().unwrap().len(), MAX_STORED_VALUES);
        assert_eq!(
            e.notes,
            ["result 'v': the recorded series holds the first 100000 of its 300000 values (its statistics are over all of them)"]
        );
    }

    #[test]
    fn numbers_that_overflow_fail_the_run_naming_the_result() {
        let none = HashSet::new();
        let e = extract(
            &given("val 1e999\n"),
            &[rx("x", r"val (\S+)", None, false)],
            "",
            &none,
        );
        assert!(e.values.is_empty());
        assert_eq!(e.errors, ["result 'x': '1e999' is not a finite number"]);
        let e = extract(
            &given("v=1\nv=1e999\n"),
            &[rx("s", r"v=(\S+)", None, true)],
            "",
            &none,
        );
        assert_eq!(e.errors, ["result 's': '1e999' is not a finite number"]);
        let e = extract(
            &given("mpf-result y 1e999\nmpf-result z 2\nmpf-result w inf\n"),
            &[],
            "",
            &none,
        );
        assert_eq!(e.errors, ["mpf-result 'y': '1e999' is not a finite number"]);
        assert_eq!(e.values.len(), 1, "{:?}", e.values);
        // A sum of finite values can overflow.
        let e = run(
            &given("v=1e308\nv=1e308\n"),
            "      s: {regex: 'v=(\\S+)', all: true, stats: [sum]}\n",
        );
        assert_eq!(
            e.errors,
            ["result 's.sum': the statistic is not a finite number"]
        );
    }

    #[test]
    fn json_paths() {
        let none = HashSet::new();
        let out = "warming up\n{\"end\": {\"sum_received\": {\"bits_per_second\": 9.4e8}}, \"l\": [1, 2]}\n";
        let ex = |p: &str| {
            Extractor::new(
                "x",
                crate::spec::extractor::Json {
                    path: crate::spec::json_path::parse_json_path(p).unwrap(),
                },
            )
        };
        assert_eq!(
            extract(
                &given(out),
                &[ex("end.sum_received.bits_per_second")],
                "",
                &none
            )
            .values["x"],
            serde_json::json!(9.4e8)
        );
        assert_eq!(
            extract(&given(out), &[ex("l.1")], "", &none).values["x"],
            serde_json::json!(2.0)
        );
        assert!(extract(&given(out), &[ex("end.nope")], "", &none).errors[0].contains("not found"));
        assert!(extract(&given("nothing"), &[ex("a")], "", &none).errors[0].contains("no JSON"));
        let iperf = "[  5] local 127.0.0.1 port 5201\n{\"end\": {\"bps\": 5}}\n";
        assert_eq!(
            extract(&given(iperf), &[ex("end.bps")], "", &none).values["x"],
            serde_json::json!(5.0)
        );
    }

    #[test]
    fn json_paths_read_without_a_tree_say_what_they_found() {
        let none = HashSet::new();
        let ex = |p: &str| {
            Extractor::new(
                "x",
                crate::spec::extractor::Json {
                    path: crate::spec::json_path::parse_json_path(p).unwrap(),
                },
            )
        };
        let got = |out: &str, p: &str| extract(&given(out), &[ex(p)], "", &none);
        let doc = r#"{"a": {"b": [1, "2 k", true]}, "o": {"k": [1, {"deep": "x"}]}, "n": null, "d": 1, "d": 2}"#;
        assert_eq!(
            got(doc, "a.b").values["x"],
            serde_json::json!([1.0, 2.0, 1.0])
        );
        assert_eq!(got(doc, "a.b.1").values["x"], serde_json::json!(2.0));
        // The last of duplicate keys, as a parsed tree has it.
        assert_eq!(got(doc, "d").values["x"], serde_json::json!(2.0));
        assert_eq!(
            got(doc, "o").errors,
            [r#"result 'x': json path 'o' holds {"k":[1,{"deep":"x"}]}, not a number"#]
        );
        assert_eq!(
            got(doc, "o.k").errors,
            [
                r#"result 'x': json path 'o.k' holds a list whose item 1 is {"deep":"x"}, not a number"#
            ]
        );
        assert_eq!(
            got(doc, "n").errors,
            ["result 'x': json path 'n' holds null, not a number"]
        );
        assert_eq!(
            got(doc, "a.b.7.c").errors,
            ["result 'x': json path 'a.b.7.c' not found (stopped at 'a.b.7') in stdout"]
        );
        assert!(got("[]", "0").errors[0].contains("not found (stopped at '0')"));
        assert!(got(r#"{"l": []}"#, "l").errors[0].contains("holds an empty list"));
        // A huge value is shown cut short.
        let long = format!(r#"{{"s": {{"t": "{}"}}}}"#, "y".repeat(10_000));
        let e = got(&long, "s").errors;
        assert!(
            e[0].contains("…, not a number") && e[0].len() < 200,
            "{e:?}"
        );
        // Two million opening brackets: an error at once, not minutes of parsing.
        let start = std::time::Instant::now();
        let e = got(&"[".repeat(2_000_000), "a").errors;
        assert!(
            e[0].contains("the search stopped after 10000 places"),
            "{e:?}"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
        // Lines of small documents: the first that holds the path.
        let lines = "{\"a\": 1}\n{\"x\": 5}\n{\"x\": 6}\n";
        assert_eq!(got(lines, "x").values["x"], serde_json::json!(5.0));
    }

    #[test]
    fn result_lines_named_like_a_column_are_refused_and_noted() {
        let taken: HashSet<String> = ["x", "run", "ok", "repetition", "lat", "work.duration"]
            .map(String::from)
            .into();
        let long = "n".repeat(200);
        let out = format!(
            "mpf-result x 1\nmpf-result run 2\nmpf-result ok 3\nmpf-result repetition 4\n\
             mpf-result lat 5\nmpf-result work.duration 6\nmpf-result {long} 7\n\
             mpf-result kept 8\nmpf-result x 9\n"
        );
        let e = extract(&given(&out), &[], "", &taken);
        assert_eq!(
            e.values,
            serde_json::json!({"kept": 8.0})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(e.notes.len(), 7, "{:?}", e.notes);
        assert!(e.notes[0].contains("mpf-result 'x' left out: it is already a column"));
        assert!(e.notes[6].contains("longer than 128 bytes"));
        assert!(e.errors.is_empty());
    }

    #[test]
    fn result_lines_are_bounded_in_names_and_series_length() {
        let mut out = String::new();
        for i in 0..MAX_RESULT_NAMES + 5 {
            out.push_str(&format!("mpf-result n{i} 1\n"));
        }
        for _ in 0..MAX_STORED_VALUES + 5 {
            out.push_str("mpf-result n0 2\n");
        }
        let e = extract(&given(&out), &[], "", &HashSet::new());
        assert_eq!(e.values.len(), MAX_RESULT_NAMES);
        assert_eq!(e.values["n0"].as_array().unwrap().len(), MAX_STORED_VALUES);
        assert!(e.notes.iter().any(|n| n.contains("more than 1000 names")));
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("more than 100000 values")));
    }

    #[test]
    fn result_lines_without_declaration() {
        let e = extract(
            &given("mpf-result ratio 3.5\nnoise\nmpf-result t 1\n  mpf-result t 2\n"),
            &[],
            ".client",
            &HashSet::new(),
        );
        assert_eq!(e.values["ratio.client"], serde_json::json!(3.5));
        assert_eq!(e.values["t.client"], serde_json::json!([1.0, 2.0]));
    }

    #[test]
    fn a_result_line_with_a_unit_is_read_in_that_units_base() {
        let e = extract(
            &given("mpf-result goodput 9.41 Gbits\nmpf-result lat 12 ms\nmpf-result n 7 widgets\n"),
            &[],
            "",
            &HashSet::new(),
        );
        assert_eq!(e.values["goodput"], serde_json::json!(9.41e9));
        assert_eq!(e.values["lat"], serde_json::json!(0.012));
        assert_eq!(e.values["n"], serde_json::json!(7.0));
    }

    /// The extractors of one step declared in YAML (`results:` body), through validation.
    fn declared(results: &str) -> Vec<Extractor> {
        let src = format!("steps:\n  - run: x\n    results:\n{results}");
        let exp = crate::spec::parse_experiment(std::path::Path::new("e.yaml"), &src).unwrap();
        exp.steps[0].results.clone()
    }

    fn run(inputs: &Given, results: &str) -> Extracted {
        extract(inputs, &declared(results), "", &HashSet::new())
    }

    #[test]
    fn regexes_anchor_lines() {
        let out = "total 10\nlat 5\nlat 7\nnot lat 9\n";
        let e = run(
            &given(out),
            "      lat: {regex: '^lat (\\d+)$', all: true}\n",
        );
        assert_eq!(e.values["lat"], serde_json::json!([5.0, 7.0]));
        // `(?-m)` turns line mode off: `^` is then the start of the text.
        let e = run(
            &given(out),
            "      t: '(?-m)^total (\\d+)'\n      u: '(?-m)^lat (\\d+)'\n",
        );
        assert_eq!(e.values["t"], serde_json::json!(10.0));
        assert!(e.errors[0].contains("result 'u'"), "{:?}", e.errors);
    }

    #[test]
    fn matched_nothing_names_the_stream_and_shows_its_first_lines() {
        let out = format!("one\ntwo\n{}\n{}", "x".repeat(300), "more\n".repeat(10));
        let e = run(&given(&out), "      r: 'rps=(\\d+)'\n");
        let m = &e.errors[0];
        assert!(m.starts_with("result 'r': regex /rps=(\\d+)/ matched nothing; stdout has 13 lines, starting \"one\" | \"two\" | \"xxx"), "{m}");
        assert!(m.contains("…\" | \"more\" | \"more\""), "{m}");
        assert!(m.len() < 400, "bounded: {m}");
        let e = run(
            &Given::default(),
            "      r: {regex: 'rps=(\\d+)', stream: stderr}\n",
        );
        assert_eq!(
            e.errors,
            ["result 'r': regex /rps=(\\d+)/ matched nothing; stderr is empty"]
        );
    }

    #[test]
    fn stderr_and_both_streams() {
        let g = Given {
            stdout: "a=1\n".into(),
            stderr: "b=2\nelapsed 1.5s\n".into(),
            ..Given::default()
        };
        let e = run(
            &g,
            "      b: {regex: 'b=(\\d)', stream: stderr}\n      t: {regex: 'elapsed (\\S+)', stream: both, unit: s}\n      all: {regex: '^\\w=(\\d)', stream: both, all: true}\n",
        );
        assert_eq!(e.values["b"], serde_json::json!(2.0));
        assert_eq!(e.values["t"], serde_json::json!(1.5));
        assert_eq!(e.values["all"], serde_json::json!([1.0, 2.0]));
        assert!(e.errors.is_empty(), "{:?}", e.errors);
    }

    #[test]
    fn quoted_json_path_components_with_input_units() {
        let fio = r#"{"jobs": [{"read": {"iops": 1234.5, "clat_ns": {"mean": 25000.0,
            "percentile": {"99.000000": 81920, "99.900000": 120000}}}}]}"#;
        let e = run(
            &given(fio),
            "      iops: {json: jobs.0.read.iops}\n      p99: {json: 'jobs.0.read.clat_ns.percentile.\"99.000000\"', in: ns, unit: s}\n      mean: {json: jobs.0.read.clat_ns.mean, in: ns, unit: us}\n",
        );
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.values["iops"], serde_json::json!(1234.5));
        assert_eq!(e.values["p99"], serde_json::json!(8.192e-5));
        assert_eq!(e.values["mean"], serde_json::json!(25.0));
        let e = run(
            &given(fio),
            "      x: {json: 'jobs.0.read.clat_ns.percentile.\"50.000000\"'}\n",
        );
        assert!(
            e.errors[0]
                .contains("json path 'jobs.0.read.clat_ns.percentile.\"50.000000\"' not found"),
            "{:?}",
            e.errors
        );
    }

    #[test]
    fn series_statistics_and_warmup() {
        let out: String = (1..=10).map(|i| format!("lat={i}ms\n")).collect();
        let e = run(
            &given(&out),
            "      lat: {regex: 'lat=(\\S+)', all: true, unit: s, warmup: 2, stats: [mean, min, max, std, count, sum, p50, p99.9]}\n",
        );
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let v = |k: &str| e.values[k].as_f64().unwrap();
        // The raw series stays whole; the statistics are of samples 3..=10 ms.
        assert_eq!(e.values["lat"].as_array().unwrap().len(), 10);
        assert_eq!(v("lat.mean"), 0.0065);
        assert_eq!(v("lat.min"), 0.003);
        assert_eq!(v("lat.max"), 0.01);
        assert_eq!(v("lat.count"), 8.0);
        assert_eq!(v("lat.sum"), 0.052);
        assert_eq!(v("lat.p50"), 0.0065);
        assert_eq!(v("lat.p99.9"), 0.009993);
        assert!((v("lat.std") - 0.00244948974278318).abs() < 1e-15);
        assert_eq!(e.warmup_dropped["lat"], 2);
        let e = run(
            &given(&out),
            "      lat: {regex: 'lat=(\\S+)', all: true, warmup: 10, stats: [mean]}\n",
        );
        assert_eq!(
            e.errors,
            ["result 'lat': warmup drops all 10 samples of the series"]
        );
    }

    #[test]
    fn warmup_auto_records_what_mser5_dropped() {
        let mut out: String = (0..10).map(|i| format!("v {}\n", 100 - 10 * i)).collect();
        out.extend((0..40).map(|i| format!("v {}\n", 1 + i % 2)));
        let e = run(
            &given(&out),
            "      v: {regex: '^v (\\d+)', all: true, warmup: auto, stats: [mean]}\n",
        );
        assert_eq!(e.warmup_dropped["v"], 10);
        assert_eq!(e.values["v.mean"], serde_json::json!(1.5));
        assert!(e.notes.is_empty(), "{:?}", e.notes);
        // Ten steady samples: MSER-5 once dropped 5 of every such series.
        let out: String = [10, 11, 9, 10, 10, 12, 9, 10, 11, 10]
            .iter()
            .map(|v| format!("v {v}\n"))
            .collect();
        let e = run(
            &given(&out),
            "      v: {regex: '^v (\\d+)', all: true, warmup: auto, stats: [mean]}\n",
        );
        assert_eq!(e.warmup_dropped["v"], 0);
        // Twenty: dropping the most it searches says the series may be too short.
        let out: String = [20, 1, 1, 1, 1, 5, 5, 5, 5, 5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
            .iter()
            .map(|v| format!("v {v}\n"))
            .collect();
        let e = run(
            &given(&out),
            "      v: {regex: '^v (\\d+)', all: true, warmup: auto, stats: [mean]}\n",
        );
        assert_eq!(e.warmup_dropped["v"], 10);
        assert_eq!(
            e.notes,
            ["result 'v': warmup: auto dropped 10 of 20 samples, the most it searches: the series may be too short to tell a warm-up from noise (give warmup: N)"]
        );
    }

    #[test]
    fn stats_on_a_single_value_are_refused_at_load_or_run() {
        let src = "steps:\n  - run: x\n    results:\n      r: {regex: 'r=(\\d)', stats: [mean]}\n";
        let err = crate::spec::parse_experiment(std::path::Path::new("e.yaml"), src).unwrap_err();
        assert!(err.to_string().contains("stats apply to series"), "{err}");
        let e = run(&given("{\"a\": 3}"), "      r: {json: a, stats: [mean]}\n");
        assert!(e.errors[0].contains("not a series"), "{:?}", e.errors);
        let e = run(
            &given("{\"a\": [3, 5]}"),
            "      r: {json: a, stats: [mean, p50]}\n",
        );
        assert_eq!(e.values["r.mean"], serde_json::json!(4.0));
        assert_eq!(e.values["r"], serde_json::json!([3.0, 5.0]));
    }

    #[test]
    fn csv_columns_from_files_with_input_units() {
        let g = Given {
            files: [(
                "{{ run_dir }}/lat.csv".to_string(),
                "t, latency_us,op\n0,100,get\n1,,get\n2,300,set\n".to_string(),
            )]
            .into(),
            ..Given::default()
        };
        let e = run(
            &g,
            "      lat: {file: '{{ run_dir }}/lat.csv', csv: latency_us, in: us, unit: s, stats: [p50]}\n",
        );
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        assert_eq!(e.values["lat"], serde_json::json!([0.0001, 0.0003]));
        assert_eq!(e.values["lat.p50"], serde_json::json!(0.0002));
        let e = run(&g, "      x: {file: '{{ run_dir }}/lat.csv', csv: nope}\n");
        assert!(
            e.errors[0].contains("csv has no column 'nope' (its header: t, latency_us, op)"),
            "{:?}",
            e.errors
        );
        let e = run(&g, "      x: {file: '{{ run_dir }}/other.csv', csv: t}\n");
        assert!(e.errors[0].contains("does not exist"), "{:?}", e.errors);
        let e = run(&g, "      x: {file: '{{ run_dir }}/lat.csv', csv: op}\n");
        assert!(
            e.errors[0].contains("csv line 2, column 'op': 'get' is not a number"),
            "{:?}",
            e.errors
        );
    }

    #[test]
    fn binary_prefix_per_extractor() {
        let out = "Transfer/sec:      2.50MB\n";
        let e = run(
            &given(out),
            "      bin: {regex: 'Transfer/sec:\\s+(\\S+)', unit: B/s, prefix: binary}\n      si: {regex: 'Transfer/sec:\\s+(\\S+)', unit: B/s}\n",
        );
        assert_eq!(e.values["bin"], serde_json::json!(2621440.0));
        assert_eq!(e.values["si"], serde_json::json!(2500000.0));
    }

    fn stored(dir: &Path) -> StoredStep<'static> {
        StoredStep::new(
            dir.to_path_buf(),
            "work",
            "local",
            "/remote/runs/0001/local".into(),
            minijinja::Value::from_serialize(
                serde_json::json!({"run_dir": "/remote/runs/0001/local"}),
            ),
        )
    }

    #[test]
    fn files_are_read_from_the_collected_run_dir_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("runs/0001/local");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/r.json"), "{\"v\": 7}").unwrap();
        std::fs::write(tmp.path().join("secret.json"), "{\"v\": 1}").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.json"), dir.join("link.json")).unwrap();
        let s = stored(&dir);
        let read = |file: &str| {
            let tpl = Tpl {
                text: file.into(),
                loc: crate::error::Location::new(Path::new("e.yaml"), 1, 1),
            };
            s.file(&tpl).map(|t| t.text.to_string())
        };
        assert_eq!(read("{{ run_dir }}/sub/r.json").unwrap(), "{\"v\": 7}");
        assert_eq!(
            read("sub/./r.json").unwrap(),
            "{\"v\": 7}",
            "relative to run_dir"
        );
        for escape in [
            "{{ run_dir }}/../../../secret.json",
            "/etc/passwd",
            "../x",
            "{{ run_dir }}",
        ] {
            let err = read(escape).unwrap_err();
            assert!(
                err.contains("is not inside the run_dir (/remote/runs/0001/local)"),
                "{escape}: {err}"
            );
        }
        assert!(read("link.json")
            .unwrap_err()
            .contains("leads outside the run_dir"));
        assert!(read("nope.json")
            .unwrap_err()
            .contains("file 'nope.json' does not exist"));
        // The role's directory itself a link out of the set: nothing below it is read.
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("sub")).unwrap();
        std::fs::write(elsewhere.join("sub/r.json"), "{\"v\": 1}").unwrap();
        let linked = tmp.path().join("runs/0002/local");
        std::fs::create_dir_all(linked.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        let err = stored(&linked)
            .file(&Tpl {
                text: "sub/r.json".into(),
                loc: crate::error::Location::new(Path::new("e.yaml"), 1, 1),
            })
            .unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(read("sub").unwrap_err().contains("not a regular file"));
        let big = std::fs::File::create(dir.join("big")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(read("big")
            .unwrap_err()
            .contains("more than the limit of 67108864 bytes"));
    }

    #[test]
    fn stored_streams_fall_back_to_memory_without_logs() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("work.err"), "from log\n").unwrap();
        let mut s = stored(tmp.path());
        s.memory = Some((b"in memory\n", b"not used\n"));
        assert_eq!(&*s.stream(Stream::Stdout).text, "in memory\n");
        assert_eq!(&*s.stream(Stream::Stderr).text, "from log\n");
        assert_eq!(
            s.stream(Stream::Both).what,
            "stdout and stderr of step 'work' on local"
        );
    }

    #[test]
    fn a_stream_known_silent_is_not_looked_for_in_the_logs() {
        // The run says the step printed nothing on stdout: no log is opened for it (a file of
        // that name there is not the step's output); stderr is read as before.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("work.out"), "mpf-result x 1\n").unwrap();
        std::fs::write(tmp.path().join("work.err"), "from log\n").unwrap();
        let mut s = stored(tmp.path());
        s.memory = Some((b"", b"from log\n"));
        s.silent = (true, false);
        assert_eq!(&*s.stream(Stream::Stdout).text, "");
        assert_eq!(&*s.stream(Stream::Stderr).text, "from log\n");
    }
}
