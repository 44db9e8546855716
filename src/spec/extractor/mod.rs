//! Extractor kinds: how a result is found in a step's output (`results: {NAME: {KIND: ...}}`).
//! Each kind is one file holding both its reading at load (`parse`, with its checks) and its
//! application to a run's output (`Kind::apply`); [`KINDS`] registers them, and the YAML keys,
//! the load messages and the dispatch come from it. What every kind shares (names, units,
//! `stream`/`file`, statistics, `mpf-result` lines, role suffixes) stays in `spec::validate`
//! and `extract`.

mod csv;
mod json;
mod regex;

use std::sync::Arc;

use crate::units::{self, Reading};

pub use self::csv::Csv;
pub use self::json::Json;
pub use self::regex::Regex;

/// Every extractor kind, in the order messages list them. A new kind is one line.
pub static KINDS: &[KindEntry] = &[regex::KIND, json::KIND, csv::KIND];

/// A kind as the loader knows it: its key and how to read its value.
pub struct KindEntry {
    /// The key of the result's map (`regex:`); a plain string is a regex.
    pub name: &'static str,
    /// Reads and checks the kind's value; the message is prefixed with the result's name and
    /// the location of the file.
    pub parse: fn(&Options) -> Result<Arc<dyn Kind>, String>,
}

/// What a kind is given at load: its value and the options of the result it may take.
#[derive(Debug)]
pub struct Options<'a> {
    pub value: &'a str,
    /// `all: true`: every match rather than the first (a regex's option).
    pub all: bool,
}

/// The entry of a kind key.
pub fn kind(name: &str) -> Option<&'static KindEntry> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kind keys as a message lists them: `regex, json or csv`.
pub fn kind_names(word: &str) -> String {
    let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    crate::words::list(&names, word)
}

/// Whether a kind gives a list of values per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Never,
    /// Known only once read (a JSON path may end at an array).
    Maybe,
    Always,
}

/// A way to find a result in a text.
pub trait Kind: std::fmt::Debug + Send + Sync {
    fn series(&self) -> Series;
    /// The value or values found in `given`, converted to the result's unit; the message
    /// says what was not found and where.
    fn apply(&self, given: &Searched) -> Result<Found, String>;
}

/// What an extractor found: one value, or a series.
#[derive(Debug, PartialEq)]
pub enum Found {
    One(f64),
    Series(Vec<f64>),
}

/// The text a kind reads, what to call it in messages, and how to read its numbers.
#[derive(Debug, Clone, Copy)]
pub struct Searched<'a> {
    pub text: &'a str,
    /// `stdout of step 'client' on client`, `file /tmp/x/fio.json`.
    pub what: &'a str,
    /// The result's unit.
    pub unit: Option<&'a str>,
    pub(crate) how: Reading<'a>,
}

/// Most values read from one series (regex, JSON list, CSV column): statistics are over
/// every value, and a series longer than this fails the run naming the limit (32 MB of
/// doubles; a 64 MiB file holds more only as one- or two-digit numbers).
pub const MAX_SERIES_VALUES: usize = 4_000_000;
/// Lines of a searched text shown when an extractor found nothing in it.
const SHOWN_LINES: usize = 5;
/// Characters of each such line shown.
const SHOWN_LINE_CHARS: usize = 120;

/// Why a series that reached `MAX_SERIES_VALUES` fails.
pub fn too_long() -> String {
    format!("the series has more than {MAX_SERIES_VALUES} values (the limit of a series)")
}

impl Searched<'_> {
    /// A number written as text (`12.5 MB/s`), converted to the unit.
    pub fn convert(&self, text: &str) -> Result<f64, String> {
        units::normalise_read(text, self.unit, self.how)
    }

    /// A bare number (a JSON number), converted to the unit.
    pub fn number(&self, x: f64) -> Result<f64, String> {
        units::number_read(x, self.unit, self.how)
    }

    /// What a text that an extractor searched in vain holds: its first lines, cut short.
    pub fn first_lines(&self) -> String {
        if self.text.trim().is_empty() {
            return format!("{} is empty", self.what);
        }
        let total = self.text.lines().count();
        let shown: Vec<String> = self
            .text
            .lines()
            .take(SHOWN_LINES)
            .map(|l| {
                let mut s: String = l.chars().take(SHOWN_LINE_CHARS).collect();
                if l.chars().count() > SHOWN_LINE_CHARS {
                    s.push('…');
                }
                format!("{:?}", s)
            })
            .collect();
        format!(
            "{} has {total} line{}, starting {}",
            self.what,
            if total == 1 { "" } else { "s" },
            shown.join(" | ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_names_each_kind_and_reads_its_value() {
        assert_eq!(kind_names("or"), "regex, json or csv");
        let parse = |name: &str, value: &str, all: bool| {
            (kind(name).expect("a kind").parse)(&Options { value, all })
        };
        let series = |k: Result<Arc<dyn Kind>, String>| k.map(|k| k.series());
        assert_eq!(series(parse("regex", "v=(\\d+)", false)), Ok(Series::Never));
        assert_eq!(series(parse("regex", "v=(\\d+)", true)), Ok(Series::Always));
        assert_eq!(series(parse("json", "a.b", false)), Ok(Series::Maybe));
        assert_eq!(series(parse("csv", "lat", false)), Ok(Series::Always));
        assert!(kind("xml").is_none());
        let given = Searched {
            text: "a 1\nb 2.5 kB\n",
            what: "stdout",
            unit: Some("B"),
            how: Reading::default(),
        };
        let found = parse("regex", "b (.*)", false).map(|k| k.apply(&given));
        assert_eq!(found, Ok(Ok(Found::One(2500.0))));
        let csv = parse("csv", "x", false).map(|k| k.apply(&given));
        assert!(
            matches!(&csv, Ok(Err(m)) if m.contains("no column 'x'")),
            "{csv:?}"
        );
    }

    #[test]
    fn a_result_map_s_keys_and_shapes_come_from_the_registry() {
        let err = |results: &str| {
            let text =
                format!("steps:\n  - name: a\n    run: echo 1\n    results:\n      x: {results}\n");
            crate::spec::parse_experiment(std::path::Path::new("e.yaml"), &text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("{regex: '(1)', colour: 2}"),
            "e.yaml:5:25: unknown field `colour`, expected one of expr, regex, json, csv, unit, all, better, file, stream, in, prefix, warmup, stats, across"
        );
        assert_eq!(
            err("[1]"),
            "e.yaml:5:7: invalid type: sequence, expected a regex, or {regex: ...} / {json: ...} / {csv: ...} with unit, all, better, file, stream, in, prefix, warmup, stats, across, or {expr: ...} with unit, better"
        );
        assert_eq!(
            err("{json: a, csv: b}"),
            "e.yaml:5:10: result 'x': needs exactly one of regex, json or csv"
        );
        assert_eq!(
            err("{csv: b, all: true}"),
            "e.yaml:5:10: result 'x': all applies to regex results (a csv column is a series already)"
        );
        assert_eq!(err("'v=(\\d+)'"), "");
    }
}
