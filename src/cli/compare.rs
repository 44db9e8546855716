use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use mpf::analyze::compare::{self, SetData, Settings, TestKind};
use mpf::analyze::within;
use mpf::error::{exit, Error, IoContext, Result};
use mpf::report::compare::{figures, html, json, junit, markdown, table, CompareReport, SetLabel};
use mpf::store::compact::{CompactSet, Runs};
use mpf::store::{self, ResultSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Test {
    /// Welch's unequal-variances t-test
    Welch,
    /// Mann-Whitney U rank test
    Mwu,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Baseline result set: id, unique prefix, path, `latest` or `latest~N`
    pub base: String,
    /// Result set to check against the baseline: id, unique prefix, path, `latest` or `latest~N`
    /// (not with --variable)
    #[arg(required_unless_present = "variable")]
    pub new: Option<String>,
    /// An A/B inside the one set BASE: the runs where variable NAME is A against those where it
    /// is B (values or their labels), each point matched on the other variables
    #[arg(long, value_name = "NAME=A,B", conflicts_with_all = ["new", "references"])]
    pub variable: Option<String>,
    /// Smallest relative change that counts, e.g. 5% (or 0.05)
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    pub tolerance: String,
    /// Family-wise significance level, after Holm's correction across all tests
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub alpha: f64,
    /// Significance test
    #[arg(long, value_enum, default_value_t = Test::Welch)]
    pub test: Test,
    /// Also compare the steps' wall times (<step>.duration)
    #[arg(long)]
    pub durations: bool,
    /// Earlier sets of the same experiment on the same code: a change must also exceed their
    /// between-set noise (several ids after one flag; repeatable)
    #[arg(long = "references", value_name = "SET", num_args = 1..)]
    pub references: Vec<String>,
    /// How many standard deviations of the per-set means (BASE and references) a change must
    /// exceed
    #[arg(long, default_value_t = 3.0, value_name = "K")]
    pub reference_sigmas: f64,
    /// Write a JUnit XML report (one test case per point and result); `-` for stdout
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (e.g. to $GITHUB_STEP_SUMMARY); `-` for stdout
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write a self-contained HTML page; `-` for stdout
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write every figure per point and result as JSON; `-` for stdout
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// An improvement beyond the tolerance fails too (exit 3): `mpf run --reproduce` asks
    /// whether a result came out the same, not whether it got worse.
    #[arg(skip)]
    pub either_way: bool,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

/// `5%` -> 0.05, `0.05` -> 0.05. A bare number above 1 is refused rather than read as a
/// fraction (`--tolerance 5` would otherwise mean 500%).
pub(super) fn parse_tolerance(text: &str) -> Result<f64> {
    let t = text.trim();
    let bad = || {
        Error::Usage(format!("invalid --tolerance '{text}': expected a percentage such as 5% or a fraction such as 0.05"))
    };
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => {
            let v: f64 = t.parse().map_err(|_| bad())?;
            if v > 1.0 {
                return Err(Error::Usage(format!(
                    "invalid --tolerance '{text}': a bare number is a fraction; did you mean {text}%?"
                )));
            }
            v
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(value)
}

/// `--reference-sigmas`: a finite number above zero, at most 100 (beyond that no change could
/// ever pass, which is surely a typo).
fn parse_sigmas(k: f64) -> Result<f64> {
    if k.is_finite() && k > 0.0 && k <= 100.0 {
        Ok(k)
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
fn check_references(base: &CompactSet, new: &CompactSet, references: &[CompactSet]) -> Result<()> {
    if base.manifest.id == new.manifest.id {
        return Err(Error::Usage(format!(
            "BASE and NEW are the same result set ({}): a set compared with itself never regresses; give the set to check as NEW",
            base.manifest.id
        )));
    }
    let mut seen = vec![base.manifest.id.as_str()];
    for r in references {
        let id = r.manifest.id.as_str();
        let role = if id == new.manifest.id {
            "NEW"
        } else if id == base.manifest.id {
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

/// A writer of one output format.
type Render<'a> = dyn Fn(CompareReport) -> String + 'a;

fn label(set: &CompactSet) -> SetLabel {
    SetLabel {
        id: set.manifest.id.clone(),
        name: set.manifest.name.clone(),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).ctx(|| format!("failed to write {}", path.display()))
}

fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

pub fn run(args: Args) -> Result<i32> {
    let tolerance = parse_tolerance(&args.tolerance)?;
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(Error::Usage(format!(
            "invalid --alpha {}: expected a probability between 0 and 1",
            args.alpha
        )));
    }
    let settings = Settings {
        tolerance,
        alpha: args.alpha,
        test: match args.test {
            Test::Welch => TestKind::Welch,
            Test::Mwu => TestKind::Mwu,
        },
        durations: args.durations,
        reference_sigmas: parse_sigmas(args.reference_sigmas)?,
    };
    let root = args.results.root();
    // The sets are compared in compact form; loaded whole only to be drawn (--html) or split
    // (--variable).
    let base = store::compact::open(&root, &args.base)?;
    let base_exp = base.experiment_text();
    let (split, split_runs, new_set, new_exp);
    // BASE and NEW as sets to draw, for --html.
    let mut drawn_sides: Option<[ResultSet; 2]> = None;
    let mut split_labels = None;
    let mut within_note = None;
    let (base_data, new_data, base_label, new_label, references) = match &args.variable {
        // An A/B inside BASE: both sides are runs of the one set.
        Some(spec) => {
            let whole = ResultSet::load(&base.dir)?;
            split = within::split(&base.manifest, &whole.records, spec).map_err(Error::Usage)?;
            drop(whole);
            split_runs = [Runs::from_records(&split.a), Runs::from_records(&split.b)];
            let side = |runs, value: &str| {
                let data = SetData {
                    manifest: &split.manifest,
                    runs,
                    experiment: &base_exp,
                };
                let label = SetLabel {
                    id: format!("{} ({value})", base.manifest.id),
                    name: base.manifest.name.clone(),
                };
                (data, label)
            };
            within_note = Some(format!(
                "within one set: {} (BASE) against {} (NEW), each point matched on the other variables",
                split.labels.0, split.labels.1
            ));
            if args.html.is_some() {
                let part = |records: &[mpf::store::record::RunRecord]| ResultSet {
                    dir: base.dir.clone(),
                    manifest: split.manifest.clone(),
                    records: records.to_vec(),
                };
                drawn_sides = Some([part(&split.a), part(&split.b)]);
                split_labels = Some(split.labels.clone());
            }
            let (a, a_label) = side(&split_runs[0], &split.labels.0);
            let (b, b_label) = side(&split_runs[1], &split.labels.1);
            (a, b, a_label, b_label, Vec::new())
        }
        None => {
            let id = args.new.as_deref().ok_or_else(|| {
                Error::Usage("give the set to check as NEW, or --variable NAME=A,B".into())
            })?;
            new_set = store::compact::open(&root, id)?;
            let references = args
                .references
                .iter()
                .map(|id| store::compact::open(&root, id))
                .collect::<Result<Vec<CompactSet>>>()?;
            check_references(&base, &new_set, &references)?;
            if args.html.is_some() {
                drawn_sides = Some([ResultSet::load(&base.dir)?, ResultSet::load(&new_set.dir)?]);
            }
            new_exp = new_set.experiment_text();
            (
                SetData {
                    manifest: &base.manifest,
                    runs: &base.runs,
                    experiment: &base_exp,
                },
                SetData {
                    manifest: &new_set.manifest,
                    runs: &new_set.runs,
                    experiment: &new_exp,
                },
                label(&base),
                label(&new_set),
                references,
            )
        }
    };
    let reference_data: Vec<SetData> = references
        .iter()
        .map(|r| SetData {
            manifest: &r.manifest,
            runs: &r.runs,
            experiment: "",
        })
        .collect();
    let mut comparison =
        compare::compare_with_references(base_data, new_data, &reference_data, settings).map_err(
            |e| {
                Error::Usage(format!(
                    "{e} (BASE {}, NEW {})",
                    base_label.id, new_label.id
                ))
            },
        )?;
    if let Some(note) = within_note {
        comparison.notes.insert(0, note);
    }
    let report = CompareReport {
        comparison: &comparison,
        base: &base_label,
        new: &new_label,
    };

    // The page draws BASE against NEW per compared result.
    let drawn = drawn_sides.map(|[b, n]| {
        let mut results: Vec<String> = Vec::new();
        for e in &comparison.entries {
            if !results.contains(&e.result) {
                results.push(e.result.clone());
            }
        }
        // Short, so that the legend fits: the page's header names the sets.
        let labels = match &split_labels {
            Some((a, b)) => [format!("base: {a}"), format!("new: {b}")],
            None => ["base".to_string(), "new".to_string()],
        };
        figures::draw(b, n, labels, &results)
    });
    let html_page =
        |r: CompareReport| html::render_with_figures(r, drawn.as_deref().unwrap_or(&[]));
    // Each requested output goes to its file, or to stdout for `-` (in place of the table).
    let outputs: [(&Option<PathBuf>, &Render); 4] = [
        (&args.junit, &junit::render),
        (&args.markdown, &markdown::render),
        (&args.html, &html_page),
        (&args.json, &json::render),
    ];
    let dash = Path::new("-");
    if outputs
        .iter()
        .filter(|(p, _)| p.as_deref() == Some(dash))
        .count()
        > 1
    {
        return Err(Error::Usage(
            "only one of --junit, --markdown, --html, --json can write to stdout (-)".into(),
        ));
    }
    let mut stdout_text = None;
    for (path, render) in outputs {
        match path.as_deref() {
            None => {}
            Some(p) if p == dash => stdout_text = Some(render(report)),
            Some(p) => write_file(p, &render(report))?,
        }
    }
    let text = stdout_text.unwrap_or_else(|| table::render(report, use_color()));
    // A closed pipe (`mpf compare ... | head`) is not an error worth reporting.
    super::console::out(&text);

    let improved = || {
        comparison
            .entries
            .iter()
            .any(|e| e.verdict == mpf::analyze::compare::Verdict::Improvement)
    };
    Ok(
        if comparison.has_regression() || (args.either_way && improved()) {
            exit::REGRESSION
        } else {
            exit::OK
        },
    )
}

#[cfg(test)]
mod tests {
    use super::parse_tolerance;

    #[test]
    fn tolerance_forms() {
        assert_eq!(parse_tolerance("5%").unwrap(), 0.05);
        assert_eq!(parse_tolerance("0.05").unwrap(), 0.05);
        assert_eq!(parse_tolerance("0%").unwrap(), 0.0);
        assert_eq!(parse_tolerance(" 2.5 % ").unwrap(), 0.025);
        assert!(parse_tolerance("5")
            .unwrap_err()
            .to_string()
            .contains("did you mean 5%?"));
        assert!(parse_tolerance("-1%").is_err());
        assert!(parse_tolerance("abc").is_err());
    }
}
