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
}

/// An axis scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// The statistic a graph shows per point, with its interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// Mean and 95% Student-t confidence interval.
    #[default]
    Mean,
    /// Median and interquartile range.
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
pub fn is_duration(result: &str) -> bool {
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
pub const SETTINGS: &[&str] = &[
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
pub const UNKNOWN: &str = "unknown";
/// The columns after the variables and results, in every export.
pub const FIXED_COLUMNS: [&str; 3] = ["repetition", "run", "ok"];

/// The column holding the display labels of a labelled variable: `<var>_label`.
pub fn label_column(variable: &str) -> String {
    format!("{variable}_label")
}
