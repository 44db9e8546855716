//! The experiment file as written (serde types). `validate.rs` turns it into `Experiment`.

use std::fmt;

use serde::de::{
    self, value::MapAccessDeserializer, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize as DeriveDeserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::de::{Dur, OneOrMany, OrderedMap, ScalarText};

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub runs: Option<Spanned<RawRuns>>,
    pub order: Option<Order>,
    pub seed: Option<ScalarText>,
    #[serde(default)]
    pub variables: RawVariables,
    pub sampling: Option<Spanned<RawSampling>>,
    #[serde(default)]
    pub setup: Vec<Spanned<RawSetup>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub teardown: Vec<Spanned<RawTeardown>>,
    #[serde(default)]
    pub cleanup: Vec<Spanned<RawCleanup>>,
    #[serde(default)]
    pub files: Vec<Spanned<RawFile>>,
    pub retries: Option<Spanned<u32>>,
    pub on_failure: Option<OnFailure>,
    pub plot: Option<Spanned<RawPlot>>,
    /// `require: {governor: performance, turbo: false}`: settings every machine must have.
    #[serde(default)]
    pub require: super::de::OrderedMap<Spanned<super::de::ScalarText>>,
    pub search: Option<Spanned<RawSearch>>,
    pub monitor: Option<Spanned<super::monitor::RawMonitor>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, DeriveDeserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Shuffle,
    Sequential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Continue,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingMethod {
    #[default]
    Full,
    Random,
    Wsp,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSampling {
    #[serde(default)]
    pub method: SamplingMethod,
    pub count: Option<i64>,
}

pub(crate) use crate::model::FigureSpec;

/// `plot:` as written: one entry (a map) or a list of entries, each with its place in the
/// file.
#[derive(Debug)]
pub(super) enum RawPlot {
    One(FigureSpec),
    Many(Vec<Spanned<FigureSpec>>),
}

impl<'de> Deserialize<'de> for RawPlot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PlotVisitor;
        impl<'de> Visitor<'de> for PlotVisitor {
            type Value = RawPlot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a figure {x, y, series, kind, ...} or a list of figures")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawPlot, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<Spanned<FigureSpec>>()? {
                    if out.len() >= MAX_FIGURES {
                        return Err(de::Error::custom(format!(
                            "more than {MAX_FIGURES} figures"
                        )));
                    }
                    out.push(x);
                }
                Ok(RawPlot::Many(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawPlot, A::Error> {
                FigureSpec::deserialize(MapAccessDeserializer::new(m)).map(RawPlot::One)
            }
        }
        d.deserialize_any(PlotVisitor)
    }
}

/// The most figures one `plot:` lists.
pub(crate) const MAX_FIGURES: usize = 100;

/// `variables:`: variables in order, plus `zip:` groups.
#[derive(Debug, Default)]
pub(super) struct RawVariables {
    pub vars: Vec<(Spanned<String>, Spanned<RawVar>)>,
    pub zips: Vec<Spanned<Value>>,
}

impl<'de> Deserialize<'de> for RawVariables {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct VariablesVisitor;
        impl<'de> Visitor<'de> for VariablesVisitor {
            type Value = RawVariables;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of variable names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawVariables, E> {
                Ok(RawVariables::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawVariables, A::Error> {
                let mut out = RawVariables::default();
                while let Some(k) = m.next_key::<Spanned<String>>()? {
                    if k.value == "zip" {
                        out.zips.push(m.next_value()?);
                    } else {
                        out.vars.push((k, m.next_value()?));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(VariablesVisitor)
    }
}

/// One variable: a constant, a list, `{values: ...}` or `{range: ...}`.
#[derive(Debug)]
pub(crate) enum RawVar {
    Constant(Value),
    List(Vec<Value>),
    Map(RawVarMap),
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVarMap {
    pub range: Option<Vec<Value>>,
    pub step: Option<Value>,
    pub factor: Option<Value>,
    pub values: Option<RawValues>,
    pub when: Option<String>,
    /// A profile (SPEC §18.1): what each value needs of the machines.
    pub switch: Option<Box<Spanned<Vec<Spanned<RawSwitch>>>>>,
}

/// A `switch:` entry of a variable: `run` when a value becomes current, `revert` after its
/// block, on the machines of `role`.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwitch {
    pub role: Option<Spanned<OneOrMany>>,
    pub run: Option<Spanned<String>>,
    pub revert: Option<Spanned<String>>,
    pub timeout: Option<Dur>,
}

impl<'de> Deserialize<'de> for RawVar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct VariableVisitor;
        impl<'de> Visitor<'de> for VariableVisitor {
            type Value = RawVar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value, a list of values, {values: ...} or {range: [from, to]}")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawVar, E> {
                Ok(RawVar::Constant(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawVar, E> {
                Ok(RawVar::Constant(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawVar, E> {
                Ok(RawVar::Constant(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawVar, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| RawVar::Constant(Value::Number(n)))
                    .ok_or_else(|| E::custom("a variable cannot be NaN or infinite"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawVar, E> {
                Ok(RawVar::Constant(Value::String(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawVar, E> {
                Err(E::custom("a variable needs a value (it is empty)"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawVar, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<Value>()? {
                    out.push(x);
                }
                Ok(RawVar::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawVar, A::Error> {
                RawVarMap::deserialize(MapAccessDeserializer::new(m)).map(RawVar::Map)
            }
        }
        d.deserialize_any(VariableVisitor)
    }
}

/// `values:` as a list, or a mapping value -> label.
#[derive(Debug)]
pub(crate) enum RawValues {
    List(Vec<Value>),
    Labelled(Vec<(Value, Value)>),
}

impl<'de> Deserialize<'de> for RawValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;
        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = RawValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of values or a mapping of value to label")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawValues, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<Value>()? {
                    out.push(x);
                }
                Ok(RawValues::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawValues, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Value>()? {
                    let v = m.next_value::<Value>()?;
                    out.push((k, v));
                }
                Ok(RawValues::Labelled(out))
            }
        }
        d.deserialize_any(ValuesVisitor)
    }
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub name: Option<Spanned<String>>,
    pub role: Option<Spanned<OneOrMany>>,
    pub run: Option<Spanned<String>>,
    #[serde(default)]
    pub background: bool,
    pub ready: Option<Spanned<RawReady>>,
    pub delay: Option<Dur>,
    pub timeout: Option<Dur>,
    /// Runs on the first N machines of its role: a number or a template (SPEC §14.5).
    pub count: Option<Spanned<ScalarText>>,
    #[serde(default)]
    pub results: OrderedMap<Spanned<RawExtractor>>,
}

/// A `teardown:` entry: a step without results, readiness or background (so that the
/// unknown-key error lists only what a teardown entry takes).
#[derive(Debug, Clone, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeardown {
    pub name: Option<Spanned<String>>,
    pub role: Option<Spanned<OneOrMany>>,
    pub run: Option<Spanned<String>>,
    pub delay: Option<Dur>,
    pub timeout: Option<Dur>,
}

impl From<RawTeardown> for RawStep {
    fn from(t: RawTeardown) -> RawStep {
        RawStep {
            name: t.name,
            role: t.role,
            run: t.run,
            background: false,
            ready: None,
            delay: t.delay,
            timeout: t.timeout,
            count: None,
            results: OrderedMap::default(),
        }
    }
}

/// A `setup:` entry.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetup {
    pub role: Option<Spanned<OneOrMany>>,
    pub sync: Option<Spanned<RawSync>>,
    pub packages: Option<Spanned<RawPackages>>,
    pub run: Option<Spanned<String>>,
    pub timeout: Option<Dur>,
}

/// A `cleanup:` entry: `run` on the machines of `role`, nothing to sync or install.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCleanup {
    pub role: Option<Spanned<OneOrMany>>,
    pub run: Spanned<String>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReady {
    /// A port number or a template rendering to one (`"{{ port }}"`).
    pub port: Option<Spanned<ScalarText>>,
    pub host: Option<String>,
    pub log: Option<String>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, DeriveDeserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPackages {
    #[serde(default)]
    pub apt: Vec<String>,
    #[serde(default)]
    pub dnf: Vec<String>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub role: Option<Spanned<OneOrMany>>,
    pub path: Spanned<String>,
    pub content: Spanned<String>,
}

/// A result extractor: `'regex'` or `{KIND: ..., unit, all, better, ...}` with one of the kinds
/// of `spec::extractor::KINDS` (regex, json, csv), or `{expr: ..., unit, better}`.
#[derive(Debug, Default)]
pub(super) struct RawExtractor {
    /// A derived result (SPEC §16.1): an expression over the run's results and variables.
    pub expr: Option<String>,
    /// The kind keys given and their values (`regex: ...`), in the order written.
    pub kinds: Vec<(&'static str, String)>,
    pub unit: Option<String>,
    pub all: bool,
    pub better: Option<crate::model::Better>,
    pub file: Option<Spanned<String>>,
    pub stream: Option<StreamName>,
    pub input_unit: Option<String>,
    pub prefix: Option<PrefixName>,
    pub warmup: Option<ScalarText>,
    pub stats: Option<Vec<ScalarText>>,
    /// Aggregates across the machines of a role that ran the step (SPEC §14.5).
    pub across: Option<Vec<ScalarText>>,
}

/// The keys of an extractor's map besides the kinds, in the order messages list them.
const EXTRACTOR_OPTIONS: [&str; 10] = [
    "unit", "all", "better", "file", "stream", "in", "prefix", "warmup", "stats", "across",
];

/// Every key of an extractor's map: `expr`, the kinds, the options.
fn extractor_keys() -> &'static [&'static str] {
    static KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let kinds = super::extractor::KINDS.iter().map(|k| k.name);
        std::iter::once("expr")
            .chain(kinds)
            .chain(EXTRACTOR_OPTIONS)
            .collect()
    });
    &KEYS
}

/// `stream:` of an extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum StreamName {
    Stdout,
    Stderr,
    Both,
}

/// `prefix:` of an extractor: what K, M, G... multiply by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum PrefixName {
    Si,
    Binary,
}

impl<'de> Deserialize<'de> for RawExtractor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ExtractorVisitor;
        impl<'de> Visitor<'de> for ExtractorVisitor {
            type Value = RawExtractor;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                let kinds: Vec<String> = super::extractor::KINDS
                    .iter()
                    .map(|k| format!("{{{}: ...}}", k.name))
                    .collect();
                write!(
                    f,
                    "a regex, or {} with {}, or {{expr: ...}} with unit, better",
                    kinds.join(" / "),
                    EXTRACTOR_OPTIONS.join(", ")
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawExtractor, E> {
                Ok(RawExtractor {
                    kinds: vec![("regex", v.to_string())],
                    ..RawExtractor::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawExtractor, A::Error> {
                let mut r = RawExtractor::default();
                let mut seen: Vec<&'static str> = Vec::new();
                while let Some(key) = m.next_key::<String>()? {
                    let keys = extractor_keys();
                    let Some(&key) = keys.iter().find(|k| **k == key) else {
                        return Err(de::Error::unknown_field(&key, keys));
                    };
                    if seen.contains(&key) {
                        return Err(de::Error::duplicate_field(key));
                    }
                    seen.push(key);
                    match key {
                        "expr" => r.expr = m.next_value()?,
                        "unit" => r.unit = m.next_value()?,
                        "all" => r.all = m.next_value()?,
                        "better" => r.better = m.next_value()?,
                        "file" => r.file = m.next_value()?,
                        "stream" => r.stream = m.next_value()?,
                        "in" => r.input_unit = m.next_value()?,
                        "prefix" => r.prefix = m.next_value()?,
                        "warmup" => r.warmup = m.next_value()?,
                        "stats" => r.stats = m.next_value()?,
                        "across" => r.across = m.next_value()?,
                        kind => {
                            if let Some(v) = m.next_value::<Option<String>>()? {
                                r.kinds.push((kind, v));
                            }
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_any(ExtractorVisitor)
    }
}

/// `runs:` as a count (`runs: 3`) or adaptive (`runs: {min, max, ci, on}`).
#[derive(Debug)]
pub(crate) enum RawRuns {
    Count(i64),
    Adaptive(RawAdaptive),
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdaptive {
    /// A fixed number of runs, with `warmup` (`runs: {count: 5, warmup: 1}`).
    pub count: Option<i64>,
    /// Discarded runs of each point before its measured ones (SPEC §17).
    pub warmup: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub ci: Option<ScalarText>,
    pub on: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for RawRuns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RunsVisitor;
        impl<'de> Visitor<'de> for RunsVisitor {
            type Value = RawRuns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of runs, {count: N, warmup: N}, or {min: N, max: N, ci: 2%, on: [results], warmup: N}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawRuns, E> {
                Ok(RawRuns::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawRuns, E> {
                Ok(RawRuns::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawRuns, A::Error> {
                RawAdaptive::deserialize(MapAccessDeserializer::new(m)).map(RawRuns::Adaptive)
            }
        }
        d.deserialize_any(RunsVisitor)
    }
}

/// `search:` (SPEC §9.2).
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSearch {
    pub variable: Spanned<String>,
    pub condition: Spanned<String>,
    #[serde(default)]
    pub goal: Goal,
    pub precision: Option<Spanned<ScalarText>>,
    #[serde(default)]
    pub monotonic: Vec<Spanned<String>>,
    /// Confidence of each probe's decision (`95%`, `0.95`).
    pub confidence: Option<Spanned<ScalarText>>,
    /// Runs of a probe: `min` first, more while undecided up to `max`.
    pub runs: Option<Spanned<RawSearchRuns>>,
}

/// `search: {runs: {min, max}}`.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSearchRuns {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

pub(crate) use crate::model::Goal;
