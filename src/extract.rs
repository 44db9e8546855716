//! Results from a step's output: regex captures, JSON paths, `mpf-result NAME VALUE` lines,
//! normalised to the declared unit.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::spec::{ExtractKind, Extractor};
use crate::units;

/// Results found in `stdout`, and a message for each declared result that could not be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    pub values: Map<String, Value>,
    pub errors: Vec<String>,
    /// `mpf-result` lines left out, and why (the run keeps its other results).
    pub notes: Vec<String>,
}

/// Longest `mpf-result` name kept.
pub const MAX_RESULT_NAME: usize = 128;
/// Most distinct `mpf-result` names kept from one step's output.
pub const MAX_RESULT_NAMES: usize = 1000;
/// Most values kept in one `mpf-result` series.
pub const MAX_SERIES_VALUES: usize = 100_000;

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Applies the declared extractors and collects `mpf-result` lines. `suffix` is appended to
/// result names (`.role` for steps that run on several roles). `taken` holds the names an
/// `mpf-result` line may not use: variables, the fixed columns, declared and derived results.
pub fn extract(
    stdout: &str,
    extractors: &[Extractor],
    suffix: &str,
    taken: &HashSet<String>,
) -> Extracted {
    let mut out = Extracted::default();
    for e in extractors {
        let name = format!("{}{suffix}", e.name);
        let unit = e.unit.as_deref();
        match &e.kind {
            ExtractKind::Regex { re, all } => {
                let grab = |c: regex::Captures| -> Option<String> {
                    c.name("value")
                        .or_else(|| c.get(1))
                        .map(|m| m.as_str().to_string())
                };
                if *all {
                    let mut list = Vec::new();
                    for c in re.captures_iter(stdout) {
                        if list.len() >= MAX_SERIES_VALUES {
                            out.notes.push(format!(
                                "result '{name}': values after the first {MAX_SERIES_VALUES} left out"
                            ));
                            break;
                        }
                        if let Some(t) = grab(c) {
                            match units::normalise(&t, unit) {
                                Ok(x) => list.push(number(x)),
                                Err(m) => out.errors.push(format!("result '{name}': {m}")),
                            }
                        }
                    }
                    if list.is_empty() {
                        out.errors.push(format!(
                            "result '{name}': regex /{}/ matched nothing",
                            re.as_str()
                        ));
                    } else {
                        out.values.insert(name, Value::Array(list));
                    }
                } else {
                    match re.captures(stdout).and_then(grab) {
                        Some(t) => match units::normalise(&t, unit) {
                            Ok(x) => {
                                out.values.insert(name, number(x));
                            }
                            Err(m) => out.errors.push(format!("result '{name}': {m}")),
                        },
                        None => out.errors.push(format!(
                            "result '{name}': regex /{}/ matched nothing",
                            re.as_str()
                        )),
                    }
                }
            }
            ExtractKind::Json { path } => match json_value(stdout, path) {
                Ok(v) => {
                    let x = match &v {
                        // JSON numbers are taken to be in the base unit already.
                        Value::Number(n) => n.as_f64().map(Ok),
                        Value::String(s) => Some(units::normalise(s, unit)),
                        Value::Bool(b) => Some(Ok(f64::from(u8::from(*b)))),
                        _ => None,
                    };
                    match x {
                        Some(Ok(x)) => {
                            out.values.insert(name, number(x));
                        }
                        Some(Err(m)) => out.errors.push(format!("result '{name}': {m}")),
                        None => out.errors.push(format!(
                            "result '{name}': json path '{}' holds {v}, not a number",
                            path.join(".")
                        )),
                    }
                }
                Err(m) => out.errors.push(format!("result '{name}': {m}")),
            },
        }
    }
    let lines = result_lines(stdout, suffix, taken);
    out.values.extend(lines.values);
    out.notes.extend(lines.notes);
    out
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
    for line in stdout.lines() {
        let Some(rest) = line.trim_start().strip_prefix("mpf-result ") else {
            continue;
        };
        let Some((name, val)) = rest.trim().split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(x) = units::normalise(val, None) else {
            continue;
        };
        let name = format!("{name}{suffix}");
        let full = found.len() >= MAX_RESULT_NAMES;
        let why = match (
            refusal(&name, taken),
            found.iter_mut().find(|(n, _)| *n == name),
        ) {
            (Some(why), _) => why,
            (None, Some((_, Value::Array(list)))) if list.len() >= MAX_SERIES_VALUES => {
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
        errors: Vec::new(),
        notes: dropped
            .into_iter()
            .map(|(n, why)| format!("mpf-result '{}' left out: {why}", n.escape_debug()))
            .collect(),
    }
}

/// Finds the JSON document in `text` that holds `path` (keys; integers index arrays): the
/// whole output, else each document starting at a `{` or `[` in turn (log lines such as
/// iperf3's "[  5] ..." start with a bracket and may even parse).
fn json_value(text: &str, path: &[String]) -> Result<Value, String> {
    let whole = serde_json::from_str::<Value>(text.trim()).ok();
    let embedded = text.match_indices(['{', '[']).filter_map(|(start, _)| {
        let mut de = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match de.next() {
            Some(Ok(v)) if v.is_object() || v.is_array() => Some(v),
            _ => None,
        }
    });
    let mut first_miss: Option<String> = None;
    for doc in whole.into_iter().chain(embedded) {
        match follow(&doc, path) {
            Ok(v) => return Ok(v),
            Err(m) => {
                first_miss.get_or_insert(m);
            }
        }
    }
    Err(first_miss.unwrap_or_else(|| "the step printed no JSON document".into()))
}

fn follow(doc: &Value, path: &[String]) -> Result<Value, String> {
    let mut cur = doc;
    for (i, key) in path.iter().enumerate() {
        let next = match cur {
            Value::Object(m) => m.get(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|k| a.get(k)),
            _ => None,
        };
        cur = next.ok_or_else(|| {
            format!(
                "json path '{}' not found (stopped at '{}')",
                path.join("."),
                path[..=i].join(".")
            )
        })?;
    }
    Ok(cur.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Better;
    use crate::spec::{ExtractKind, Extractor};
    use regex::Regex;

    fn rx(name: &str, re: &str, unit: Option<&str>, all: bool) -> Extractor {
        Extractor {
            name: name.into(),
            kind: ExtractKind::Regex {
                re: Regex::new(re).unwrap(),
                all,
            },
            unit: unit.map(str::to_string),
            better: Better::Higher,
        }
    }

    const IPERF: &str =
        "[  5]   0.00-2.00   sec   225 MBytes   943 Mbits/sec                  receiver\n";

    #[test]
    fn regex_with_units() {
        let e = extract(
            IPERF,
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
            out,
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
    fn a_regex_series_is_bounded_with_a_note() {
        let out = "v=1\n".repeat(MAX_SERIES_VALUES + 10);
        let e = extract(&out, &[rx("v", r"v=(\d)", None, true)], "", &HashSet::new());
        assert_eq!(e.values["v"].as_array().unwrap().len(), MAX_SERIES_VALUES);
        assert_eq!(
            e.notes,
            ["result 'v': values after the first 100000 left out"]
        );
    }

    #[test]
    fn json_paths() {
        let none = HashSet::new();
        let out = "warming up\n{\"end\": {\"sum_received\": {\"bits_per_second\": 9.4e8}}, \"l\": [1, 2]}\n";
        let ex = |p: &str| Extractor {
            name: "x".into(),
            kind: ExtractKind::Json {
                path: p.split('.').map(str::to_string).collect(),
            },
            unit: None,
            better: Better::Higher,
        };
        assert_eq!(
            extract(out, &[ex("end.sum_received.bits_per_second")], "", &none).values["x"],
            serde_json::json!(9.4e8)
        );
        assert_eq!(
            extract(out, &[ex("l.1")], "", &none).values["x"],
            serde_json::json!(2.0)
        );
        assert!(extract(out, &[ex("end.nope")], "", &none).errors[0].contains("not found"));
        assert!(extract("nothing", &[ex("a")], "", &none).errors[0].contains("no JSON"));
        let iperf = "[  5] local 127.0.0.1 port 5201\n{\"end\": {\"bps\": 5}}\n";
        assert_eq!(
            extract(iperf, &[ex("end.bps")], "", &none).values["x"],
            serde_json::json!(5.0)
        );
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
        let e = extract(&out, &[], "", &taken);
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
        for _ in 0..MAX_SERIES_VALUES + 5 {
            out.push_str("mpf-result n0 2\n");
        }
        let e = extract(&out, &[], "", &HashSet::new());
        assert_eq!(e.values.len(), MAX_RESULT_NAMES);
        assert_eq!(e.values["n0"].as_array().unwrap().len(), MAX_SERIES_VALUES);
        assert!(e.notes.iter().any(|n| n.contains("more than 1000 names")));
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("more than 100000 values")));
    }

    #[test]
    fn result_lines_without_declaration() {
        let e = extract(
            "mpf-result ratio 3.5\nnoise\nmpf-result t 1\n  mpf-result t 2\n",
            &[],
            ".client",
            &HashSet::new(),
        );
        assert_eq!(e.values["ratio.client"], serde_json::json!(3.5));
        assert_eq!(e.values["t.client"], serde_json::json!([1.0, 2.0]));
    }
}
