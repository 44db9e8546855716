//! The domain types that several layers share: what a result is and which direction is better,
//! the plot hints, the text of a value. Here so that `spec` (which declares them) and `store`
//! (which records them) both depend on this module rather than on each other.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    #[default]
    Higher,
    Lower,
}

/// Which end of a searched range the limit is: the largest value that meets the condition
/// or the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    #[default]
    Max,
    Min,
}

/// A result the experiment declares (or mpf derives, such as `<step>.duration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultInfo {
    pub name: String,
    /// Base unit after normalisation (`bit/s`, `s`, `B`, ...), empty when unitless.
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub better: Better,
    /// True for `all: true` extractors: each run holds a list of values.
    #[serde(default)]
    pub series: bool,
}

/// Hints for graphs (SPEC §2 `plot:`), overridable by the flags of `mpf plot`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlotHints {
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub series: Option<String>,
    /// `log` draws the y axis logarithmically (latencies that span decades).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_scale: Option<Scale>,
    /// What a point shows: the mean with its 95% confidence interval, or the median with the
    /// interquartile range (for skewed results such as latencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<Stat>,
    /// Also draw the steps' wall times (`<step>.duration`), left out by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durations: Option<bool>,
    /// Which results get the automatic per-result graphs (`plot: {results: [...]}`); all
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<String>>,
}

/// The kind of a figure the experiment asks for (SPEC §17).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureKind {
    #[default]
    Line,
    Bar,
    Box,
    Scatter,
    Cdf,
    Timeseries,
}

impl FigureKind {
    pub fn name(self) -> &'static str {
        match self {
            FigureKind::Line => "line",
            FigureKind::Bar => "bar",
            FigureKind::Box => "box",
            FigureKind::Scatter => "scatter",
            FigureKind::Cdf => "cdf",
            FigureKind::Timeseries => "timeseries",
        }
    }

    /// Kinds drawn from a series result's samples (`runs/NNNN/series.csv`).
    pub fn needs_samples(self) -> bool {
        matches!(self, FigureKind::Cdf | FigureKind::Timeseries)
    }
}

/// `runs:` of a `timeseries` figure: the first N runs, or a list of run indices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RunPick {
    First(usize),
    List(Vec<usize>),
}

/// One entry of `plot:` (SPEC §17): a figure, or (holding no `y` and no `kind`) the hints and
/// the choice of results of the automatic per-result graphs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FigureSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// One result or several (`y: [lat.p50, lat.p99]`).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub y: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FigureKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_scale: Option<Scale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<Stat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durations: Option<bool>,
    /// Which runs a `timeseries` figure draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<RunPick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<String>>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Y {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Y>::deserialize(d)? {
        None => Vec::new(),
        Some(Y::One(s)) => vec![s],
        Some(Y::Many(v)) => v,
    })
}

impl FigureSpec {
    /// An entry with neither `y` nor `kind`: hints (and `results:`) for the automatic graphs.
    pub fn is_selection(&self) -> bool {
        self.y.is_empty() && self.kind.is_none()
    }

    /// What the automatic graphs take from this entry.
    pub fn hints(&self) -> PlotHints {
        PlotHints {
            x: self.x.clone(),
            y: self.y.first().cloned(),
            series: self.series.clone(),
            y_scale: self.y_scale,
            stat: self.stat,
            durations: self.durations,
            results: self.results.clone(),
        }
    }

    /// The kind drawn: as written, else `scatter` when x is a result, else `line`.
    pub fn kind_with(&self, x_is_variable: bool) -> FigureKind {
        match (self.kind, &self.x) {
            (Some(k), _) => k,
            (None, Some(_)) if !x_is_variable => FigureKind::Scatter,
            _ => FigureKind::Line,
        }
    }
}

/// `plot:` as written: one entry or a list of entries. Manifests written before figures were
/// a list hold one object, read as a list of one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Plot(pub Vec<FigureSpec>);

impl<'de> Deserialize<'de> for Plot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum P {
            Many(Vec<FigureSpec>),
            One(FigureSpec),
        }
        Ok(match P::deserialize(d)? {
            P::Many(v) => Plot(v),
            P::One(f) => Plot(vec![f]),
        })
    }
}

impl Plot {
    /// True when the entry is the old single `plot: {x, y, series}` form: the hints of every
    /// automatic graph (`y` the result `mpf plot -o` draws), not a figure of its own.
    fn old_hints(&self, f: &FigureSpec, is_variable: &dyn Fn(&str) -> bool) -> bool {
        self.0.len() == 1
            && f.kind.is_none()
            && f.y.len() <= 1
            && f.x.as_deref().is_none_or(is_variable)
    }

    /// The hints of the automatic per-result graphs: the first entry without `y` and `kind`,
    /// else the old single-object form, else none.
    pub fn hints(&self, is_variable: &dyn Fn(&str) -> bool) -> PlotHints {
        self.0
            .iter()
            .find(|f| f.is_selection() || self.old_hints(f, is_variable))
            .map(FigureSpec::hints)
            .unwrap_or_default()
    }

    /// The entries that are figures of their own.
    pub fn figures(&self, is_variable: &dyn Fn(&str) -> bool) -> Vec<&FigureSpec> {
        self.0
            .iter()
            .filter(|f| !f.is_selection() && !self.old_hints(f, is_variable))
            .collect()
    }
}

/// An axis scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// The statistic a graph shows per point, with its interval (`mpf plot --stat`; the flag's
/// help says what each shows, so its values carry no help of their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// Mean and 95% Student-t confidence interval.
    #[default]
    #[value(help = None::<&str>)]
    Mean,
    /// Median and interquartile range.
    #[value(help = None::<&str>)]
    Median,
}

impl Stat {
    pub fn describe(self) -> &'static str {
        match self {
            Stat::Mean => "mean and 95% confidence interval",
            Stat::Median => "median and interquartile range",
        }
    }
}

/// True for a step's wall time, derived by mpf for every step.
pub(crate) fn is_duration(result: &str) -> bool {
    result.ends_with(".duration")
}

/// Text of a JSON scalar as users write it: strings unquoted, null empty.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The settings that change performance results (SPEC §12.1), as `require:` names them.
pub(crate) const SETTINGS: &[&str] = &[
    "governor",
    "freq_min_khz",
    "freq_max_khz",
    "turbo",
    "smt",
    "thp",
    "isolcpus",
    "nohz_full",
    "mitigations",
    "irqbalance",
    "swap",
];

/// A setting that could not be read.
pub(crate) const UNKNOWN: &str = "unknown";
/// The columns after the variables and results, in every export.
pub(crate) const FIXED_COLUMNS: [&str; 3] = ["repetition", "run", "ok"];

/// The column holding the display labels of a labelled variable: `<var>_label`.
pub(crate) fn label_column(variable: &str) -> String {
    format!("{variable}_label")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(json: &str) -> Plot {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_old_single_object_is_the_hints_and_a_list_holds_figures() {
        let is_var = |n: &str| n == "rate" || n == "qdisc";
        // What manifests recorded before figures were a list: hints, no figure.
        let old = plot(r#"{"x": "rate", "y": "goodput", "series": null, "stat": "median"}"#);
        assert_eq!(old.hints(&is_var).y.as_deref(), Some("goodput"));
        assert_eq!(old.hints(&is_var).stat, Some(Stat::Median));
        assert!(old.figures(&is_var).is_empty());
        // Alone, an object with a kind, several y or x a result is a figure.
        for one in [
            r#"{"y": "rtt", "kind": "cdf"}"#,
            r#"{"x": "rate", "y": ["a", "b"]}"#,
            r#"{"x": "goodput", "y": "p99"}"#,
        ] {
            let p = plot(one);
            assert_eq!(p.figures(&is_var).len(), 1, "{one}");
            assert_eq!(p.hints(&is_var), PlotHints::default(), "{one}");
        }
        let list = plot(
            r#"[{"x": "rate", "y": "a"}, {"results": ["a"], "x": "qdisc"}, {"y": "r", "kind": "timeseries", "runs": [1, 2]}]"#,
        );
        let figs = list.figures(&is_var);
        assert_eq!(figs.len(), 2);
        assert_eq!(figs[1].runs, Some(RunPick::List(vec![1, 2])));
        let hints = list.hints(&is_var);
        assert_eq!(hints.results, Some(vec!["a".to_string()]));
        assert_eq!(hints.x.as_deref(), Some("qdisc"));
        // Recorded as a list, `y` always a list.
        let text = serde_json::to_string(&old).unwrap();
        assert!(
            text.starts_with("[{") && text.contains(r#""y":["goodput"]"#),
            "{text}"
        );
        assert_eq!(plot(&text), old);
    }

    #[test]
    fn the_kind_defaults_to_scatter_against_a_result() {
        let f: FigureSpec = serde_json::from_str(r#"{"x": "goodput", "y": "p99"}"#).unwrap();
        assert_eq!(f.kind_with(false), FigureKind::Scatter);
        assert_eq!(f.kind_with(true), FigureKind::Line);
        assert!(serde_json::from_str::<FigureSpec>(r#"{"y": "a", "colour": 1}"#).is_err());
    }
}
