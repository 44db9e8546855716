//! `mpf compare`: BASE against NEW (or two values of a variable inside BASE), with reference
//! sets' noise, each output routed to its file or to standard output; and the comparison
//! `mpf run --reproduce` makes.

use std::path::{Path, PathBuf};

use super::Target;
use crate::analyze::compare::{self, Comparison, SetData, Verdict};
/// What counts as a change, and the significance test that decides it.
pub use crate::analyze::compare::{Settings, TestKind};
use crate::analyze::within;
use crate::error::{exit, Error, Result};
use crate::exec::sh_quote;
use crate::report::compare::{
    figures, html, json, junit, markdown, table, CompareReport, SetLabel,
};
use crate::store::compact::{self, CompactSet, Runs};
use crate::store::record::RunRecord;
use crate::store::{self, ResultSet};

/// What BASE is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Against {
    /// Another set, with earlier sets of the same code as references.
    Set {
        new: String,
        references: Vec<String>,
    },
    /// `--variable NAME=A,B`: the runs of BASE where NAME is A against those where it is B.
    Variable(String),
}

impl Against {
    /// From the flags: `--variable`, else NEW with its references.
    pub fn from_flags(
        new: Option<String>,
        variable: Option<String>,
        references: Vec<String>,
    ) -> Result<Against> {
        match (variable, new) {
            (Some(spec), _) => Ok(Against::Variable(spec)),
            (None, Some(new)) => Ok(Against::Set { new, references }),
            (None, None) => Err(Error::Usage(
                "give the set to check as NEW, or --variable NAME=A,B".into(),
            )),
        }
    }
}

/// The files (or standard output) each optional output goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub junit: Option<Target>,
    pub markdown: Option<Target>,
    pub html: Option<Target>,
    pub json: Option<Target>,
}

/// What `mpf compare` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The directory holding result sets.
    pub root: PathBuf,
    /// BASE: id, unique prefix, path, `latest` or `latest~N`.
    pub base: String,
    pub against: Against,
    /// Tolerance, alpha, test, durations and reference sigmas (checked by `compare`).
    pub settings: Settings,
    pub outputs: Outputs,
    /// An improvement beyond the tolerance fails too (`mpf run --reproduce`).
    pub either_way: bool,
    /// The terminal table in colour.
    pub color: bool,
}

/// What `mpf compare` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The text for standard output: the output asked for with `-`, else the table.
    pub stdout: String,
    /// The files written, in the order of the flags (JUnit, Markdown, HTML, JSON).
    pub written: Vec<PathBuf>,
    /// A regression (or, either way, an improvement) beyond the tolerance.
    pub changed: bool,
}

impl Outcome {
    /// 3 when a result changed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.changed {
            exit::REGRESSION
        } else {
            exit::OK
        }
    }
}

/// `--reference-sigmas`: a finite number above zero, at most 100 (beyond that no change could
/// ever pass, which is surely a typo).
fn check_sigmas(k: f64) -> Result<()> {
    if k.is_finite() && k > 0.0 && k <= 100.0 {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid --reference-sigmas {k}: expected a number above 0 and at most 100"
        )))
    }
}

/// A reference counted twice, or BASE or NEW given as a reference, would bias the between-set
/// noise (NEW's own mean would widen the very bound it is judged by).
/// BASE and NEW the same set (`mpf compare BASE latest` when no new set was made) would pass
/// without testing anything: refused.
pub fn check_references(base: &str, new: &str, references: &[&str]) -> Result<()> {
    if base == new {
        return Err(Error::Usage(format!(
            "BASE and NEW are the same result set ({base}): a set compared with itself never regresses; give the set to check as NEW"
        )));
    }
    let mut seen = vec![base];
    for &id in references {
        let role = if id == new {
            "NEW"
        } else if id == base {
            "BASE"
        } else if seen.contains(&id) {
            "already a reference"
        } else {
            seen.push(id);
            continue;
        };
        return Err(Error::Usage(format!(
            "--references {id}: the set is {role}; references are other sets of the same code"
        )));
    }
    Ok(())
}

/// Only one output can take standard output's place.
fn check_outputs(outputs: &Outputs) -> Result<()> {
    let to_stdout = [
        &outputs.junit,
        &outputs.markdown,
        &outputs.html,
        &outputs.json,
    ]
    .iter()
    .filter(|t| t.as_ref() == Some(&Target::Stdout))
    .count();
    if to_stdout > 1 {
        return Err(Error::Usage(
            "only one of --junit, --markdown, --html, --json can write to stdout (-)".into(),
        ));
    }
    Ok(())
}

fn label(set: &CompactSet) -> SetLabel {
    SetLabel {
        id: set.manifest.id.clone(),
        name: set.manifest.name.clone(),
    }
}

fn data<'a>(set: &'a CompactSet, experiment: &'a str) -> SetData<'a> {
    SetData {
        manifest: &set.manifest,
        runs: &set.runs,
        experiment,
    }
}

/// Runs `mpf compare`.
pub fn compare(req: &Request) -> Result<Outcome> {
    compare_to(req, None)
}

/// `compare`, the terminal table written to `table` as it is made when given (`Outcome::stdout`
/// is then empty, unless another output took standard output's place).
pub fn compare_to(req: &Request, table: Option<&mut dyn std::fmt::Write>) -> Result<Outcome> {
    super::check_alpha(req.settings.alpha)?;
    check_sigmas(req.settings.reference_sigmas)?;
    check_outputs(&req.outputs)?;
    // The sets are compared in compact form, and drawn from it (the HTML page); loaded whole
    // only to be split (--variable).
    let base = compact::open(&req.root, &req.base)?;
    let base_exp = base.experiment_text();
    let (split, split_sets, new_set, new_exp);
    let mut split_labels = None;
    let mut within_note = None;
    let (base_data, new_data, base_label, new_label, references, command, sides) = match &req
        .against
    {
        // An A/B inside BASE: both sides are runs of the one set.
        Against::Variable(spec) => {
            let whole = ResultSet::load(&base.dir)?;
            split = within::split(&base.manifest, &whole.records, spec).map_err(Error::Usage)?;
            drop(whole);
            let part = |records: &[RunRecord]| CompactSet {
                dir: base.dir.clone(),
                manifest: split.manifest.clone(),
                runs: Runs::from_records(records),
            };
            split_sets = [part(&split.a), part(&split.b)];
            let label = |value: &str| SetLabel {
                id: format!("{} ({value})", base.manifest.id),
                name: base.manifest.name.clone(),
            };
            within_note = Some(format!(
                "within one set: {} (BASE) against {} (NEW), each point matched on the other variables",
                split.labels.0, split.labels.1
            ));
            split_labels = Some(split.labels.clone());
            let [a, b] = &split_sets;
            let command = format!(
                "mpf compare {} --variable {}",
                sh_quote(&base.manifest.id),
                sh_quote(spec)
            );
            (
                data(a, &base_exp),
                data(b, &base_exp),
                label(&split.labels.0),
                label(&split.labels.1),
                Vec::new(),
                command,
                [a, b],
            )
        }
        Against::Set { new, references } => {
            new_set = compact::open(&req.root, new)?;
            let references = references
                .iter()
                .map(|id| compact::open(&req.root, id))
                .collect::<Result<Vec<CompactSet>>>()?;
            let ids: Vec<&str> = references.iter().map(|r| r.manifest.id.as_str()).collect();
            check_references(&base.manifest.id, &new_set.manifest.id, &ids)?;
            new_exp = new_set.experiment_text();
            let command = format!(
                "mpf compare {} {}",
                sh_quote(&base.manifest.id),
                sh_quote(&new_set.manifest.id)
            );
            (
                data(&base, &base_exp),
                data(&new_set, &new_exp),
                label(&base),
                label(&new_set),
                references,
                command,
                [&base, &new_set],
            )
        }
    };
    let incompatible = |e: compare::Incompatible| {
        Error::Usage(format!(
            "{e} (BASE {}, NEW {})",
            base_label.id, new_label.id
        ))
    };
    // The page draws BASE against NEW per compared result, from the sets' compact form, before
    // the comparison is made: the figures' working memory and the comparison are never held
    // at once (two sets of 10^5 points: 190 MiB at the peak when they were, SPEC §15).
    let mut drawn = match &req.outputs.html {
        None => Vec::new(),
        Some(_) => {
            compare::check_compatible(&base_data, &new_data, ("BASE", "NEW"))
                .map_err(incompatible)?;
            let results: Vec<String> =
                compare::compared_results(&base_data, &new_data, req.settings, &mut Vec::new())
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
            // Short, so that the legend fits: the page's header names the sets.
            let labels = match &split_labels {
                Some((a, b)) => [format!("base: {a}"), format!("new: {b}")],
                None => ["base".to_string(), "new".to_string()],
            };
            let [b, n] = sides;
            figures::draw_compact(b, n, labels, &results)
        }
    };
    let reference_data: Vec<SetData> = references.iter().map(|r| data(r, "")).collect();
    let mut comparison =
        compare::compare_with_references(base_data, new_data, &reference_data, req.settings)
            .map_err(incompatible)?;
    if comparison.entries.is_empty() {
        // Nothing compared: nothing drawn either.
        drawn.clear();
    }
    if let Some(note) = within_note {
        comparison.notes.insert(0, note);
    }
    let report = CompareReport {
        comparison: &comparison,
        base: &base_label,
        new: &new_label,
        command: &command,
    };
    let html_page = |r: CompareReport, out: &mut dyn std::fmt::Write| html::write(r, &drawn, out);
    // Each requested output goes to its file, or to stdout (in place of the table), written
    // as it is made: 10^5 points are tens of megabytes of JUnit XML (SPEC §15).
    let writers: [(&Option<Target>, &Writer); 3] = [
        (&req.outputs.junit, &junit::write),
        (&req.outputs.markdown, &markdown::write),
        (&req.outputs.html, &html_page),
    ];
    let mut to_stdout: Option<&Writer> = None;
    let mut written = Vec::new();
    for (target, write) in writers {
        match target {
            None => {}
            Some(Target::Stdout) => to_stdout = Some(write),
            Some(Target::File(p)) => {
                write_to_file(p, |out| {
                    let mut text = IoText::new(out);
                    write(report, &mut text);
                    text.finish()
                })?;
                written.push(p.clone());
            }
        }
    }
    // JSON is written as it is made: 10^5 points are over 100 MB of it.
    let mut json_to_stdout = false;
    match &req.outputs.json {
        None => {}
        Some(Target::Stdout) => json_to_stdout = true,
        Some(Target::File(p)) => {
            write_to_file(p, |out| json::write(report, out))?;
            written.push(p.clone());
        }
    }
    let stdout = match (to_stdout, table) {
        (Some(write), Some(out)) => {
            write(report, out);
            String::new()
        }
        (Some(write), None) => {
            let mut text = String::new();
            write(report, &mut text);
            text
        }
        (None, Some(out)) if json_to_stdout => {
            let _ = json::write(report, &mut Utf8Out::new(out));
            String::new()
        }
        (None, None) if json_to_stdout => json::render(report),
        (None, Some(out)) => {
            table::write(report, req.color, out);
            String::new()
        }
        (None, None) => table::render(report, req.color),
    };
    let changed = comparison.has_regression() || (req.either_way && improved(&comparison));
    Ok(Outcome {
        stdout,
        written,
        changed,
    })
}

/// Bytes of UTF-8 text to a text writer: a character cut between two writes is held until
/// its end comes.
struct Utf8Out<'a> {
    out: &'a mut dyn std::fmt::Write,
    pending: Vec<u8>,
}

impl<'a> Utf8Out<'a> {
    fn new(out: &'a mut dyn std::fmt::Write) -> Utf8Out<'a> {
        Utf8Out {
            out,
            pending: Vec::new(),
        }
    }
}

impl std::io::Write for Utf8Out<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let text = match std::str::from_utf8(&self.pending) {
            Ok(text) => text,
            // An unfinished character at the end waits for the next write.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&self.pending[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        let done = text.len();
        self.out
            .write_str(text)
            .map_err(|_| std::io::Error::other("failed to write the output"))?;
        self.pending.drain(..done);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer of one output format.
type Writer<'a> = dyn Fn(CompareReport, &mut dyn std::fmt::Write) + 'a;

/// Creates `path` and writes it through `write`, buffered.
fn write_to_file(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let io_err = |e| Error::io(format!("failed to write {}", path.display()), e);
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out).map_err(io_err)?;
    std::io::Write::flush(&mut out).map_err(io_err)
}

/// Text to a byte writer, keeping the first error (the writers ignore a failed `write!`: the
/// error is told once they are done, and nothing more is written after it).
struct IoText<'a> {
    out: &'a mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl<'a> IoText<'a> {
    fn new(out: &'a mut dyn std::io::Write) -> IoText<'a> {
        IoText { out, error: None }
    }

    fn finish(self) -> std::io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl std::fmt::Write for IoText<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

fn improved(c: &Comparison) -> bool {
    c.entries.iter().any(|e| e.verdict == Verdict::Improvement)
}

/// `mpf run --reproduce`: the original set and, when it comes from a pack, the pack's other
/// sets of the same experiment as references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reproduction {
    /// The original set's directory.
    pub base: PathBuf,
    /// The references' directories, sorted.
    pub references: Vec<String>,
}

impl Reproduction {
    /// Resolves `original` (a pack, `PACK:ID`, or any set id) under `root`.
    pub fn find(root: &Path, original: &str) -> Result<Reproduction> {
        let base = store::resolve(root, original)?;
        let base_name = store::resultset::read_manifest(&base)?.name;
        let mut references = Vec::new();
        if let Some(pack) = base
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "sets"))
        {
            for e in std::fs::read_dir(pack).into_iter().flatten().flatten() {
                let dir = e.path();
                if dir != base
                    && store::resultset::read_manifest(&dir).is_ok_and(|m| m.name == base_name)
                {
                    references.push(dir.to_string_lossy().into_owned());
                }
            }
            references.sort();
        }
        Ok(Reproduction { base, references })
    }

    /// The comparison of the new set with the original: either way, Welch at 0.05, three
    /// sigmas of the references' noise.
    pub fn request(&self, root: &Path, new: &Path, tolerance: f64, color: bool) -> Request {
        Request {
            root: root.to_path_buf(),
            base: self.base.to_string_lossy().into_owned(),
            against: Against::Set {
                new: new.to_string_lossy().into_owned(),
                references: self.references.clone(),
            },
            settings: Settings {
                tolerance,
                alpha: 0.05,
                test: TestKind::Welch,
                durations: false,
                reference_sigmas: 3.0,
            },
            outputs: Outputs::default(),
            either_way: true,
            color,
        }
    }

    /// The exit code of the reproduction: the comparison's (3 when a result changed either
    /// way), else 1 when runs of the new set failed, else 0.
    pub fn exit_code(compared: &Outcome, new: &Path) -> Result<i32> {
        let code = compared.exit_code();
        if code == exit::OK && store::resultset::read_manifest(new)?.runs_failed > 0 {
            return Ok(exit::FAILURE);
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_other_than_base_and_new_once_each_pass() {
        assert!(check_references("b", "n", &[]).is_ok());
        assert!(check_references("b", "n", &["r1", "r2"]).is_ok());
    }

    #[test]
    fn a_set_compared_with_itself_is_refused() {
        let e = check_references("b", "b", &[]).unwrap_err().to_string();
        assert!(
            e.contains("BASE and NEW are the same result set (b)"),
            "{e}"
        );
    }

    #[test]
    fn base_new_or_a_repeated_reference_is_refused_naming_its_role() {
        for (refs, role) in [
            (vec!["n"], "--references n: the set is NEW"),
            (vec!["r", "b"], "--references b: the set is BASE"),
            (
                vec!["r", "r"],
                "--references r: the set is already a reference",
            ),
        ] {
            let e = check_references("b", "n", &refs).unwrap_err().to_string();
            assert!(e.contains(role), "{e}");
        }
    }

    #[test]
    fn only_one_output_takes_stdout() {
        let mut o = Outputs {
            junit: Some(Target::Stdout),
            markdown: Some(Target::File("x.md".into())),
            ..Outputs::default()
        };
        assert!(check_outputs(&o).is_ok());
        o.json = Some(Target::Stdout);
        let e = check_outputs(&o).unwrap_err().to_string();
        assert!(e.contains("only one of --junit"), "{e}");
    }

    #[test]
    fn utf8_cut_between_writes_is_joined_and_bad_bytes_refused() {
        use std::io::Write;
        let mut text = String::new();
        let mut out = Utf8Out::new(&mut text);
        let bytes = "a é σ".as_bytes();
        for b in bytes {
            out.write_all(std::slice::from_ref(b)).unwrap();
        }
        assert!(out.write_all(&[0xff, b'x']).is_err());
        drop(out);
        assert_eq!(text, "a é σ");
    }

    #[test]
    fn sigmas_are_bounded() {
        assert!(check_sigmas(3.0).is_ok());
        assert!(check_sigmas(100.0).is_ok());
        for bad in [0.0, -1.0, 100.5, f64::INFINITY, f64::NAN] {
            assert!(check_sigmas(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn against_from_flags() {
        assert_eq!(
            Against::from_flags(None, Some("v=1,2".into()), vec![]).unwrap(),
            Against::Variable("v=1,2".into())
        );
        assert_eq!(
            Against::from_flags(Some("n".into()), None, vec!["r".into()]).unwrap(),
            Against::Set {
                new: "n".into(),
                references: vec!["r".into()]
            }
        );
        assert!(Against::from_flags(None, None, vec![]).is_err());
    }

    #[test]
    fn reproduction_of_a_plain_set_has_no_references() {
        let root = tempfile::tempdir().unwrap();
        let e = Reproduction::find(root.path(), "nope").unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
