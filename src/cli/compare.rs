use std::io::IsTerminal;
use std::path::PathBuf;

use mpf::command::compare::{compare_to, Against, Outputs, Request, Settings, TestKind};
use mpf::command::{parse_tolerance, Target};
use mpf::error::Result;

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
    #[arg(long, value_enum, default_value_t = TestKind::Welch)]
    pub test: TestKind,
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
    #[command(flatten)]
    pub results: super::ResultsDir,
}

/// The terminal table in colour: on a terminal, unless NO_COLOR is set.
pub(super) fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

pub fn run(args: Args) -> Result<i32> {
    let target = |p: Option<PathBuf>| p.map(|p| Target::from_flag(&p));
    let mut table = Stdout(String::new());
    let request = Request {
        root: args.results.root(),
        settings: Settings {
            tolerance: parse_tolerance(&args.tolerance)?,
            alpha: args.alpha,
            test: args.test,
            durations: args.durations,
            reference_sigmas: args.reference_sigmas,
        },
        against: Against::from_flags(args.new, args.variable, args.references)?,
        base: args.base,
        outputs: Outputs {
            junit: target(args.junit),
            markdown: target(args.markdown),
            html: target(args.html),
            json: target(args.json),
        },
        either_way: false,
        color: use_color(),
    };
    let outcome = compare_to(&request, Some(&mut table))?;
    table.flush();
    // A closed pipe (`mpf compare ... | head`) is not an error worth reporting.
    super::console::out(&outcome.stdout);
    Ok(outcome.exit_code())
}

/// The table, to standard output as it is made, 64 kB at a time.
struct Stdout(String);

impl Stdout {
    fn flush(&mut self) {
        super::console::out(&self.0);
        self.0.clear();
    }
}

impl std::fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.push_str(s);
        if self.0.len() >= 1 << 16 {
            self.flush();
        }
        Ok(())
    }
}
