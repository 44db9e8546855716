//! Results from a step's output: regex captures, JSON paths, `mpf-result NAME VALUE` lines,
//! normalised to the declared unit.

use serde_json::{Map, Value};

use crate::spec::{ExtractKind, Extractor};
use crate::units;

/// Results found in `stdout`, and a message for each declared result that could not be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    pub values: Map<String, Value>,
    pub errors: Vec<String>,
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Applies the declared extractors and collects `mpf-result` lines. `suffix` is appended to
/// result names (`.role` for steps that run on several roles).
pub fn extract(stdout: &str, extractors: &[Extractor], suffix: &str) -> Extracted {
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
    for (k, v) in result_lines(stdout, suffix) {
        out.values.insert(k, v);
    }
    out
}

/// `mpf-result NAME VALUE` lines; a name given several times becomes a series.
pub fn result_lines(stdout: &str, suffix: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.trim_start().strip_prefix("mpf-result ") else {
            continue;
        };
        let rest = rest.trim();
        let Some((name, val)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(x) = units::normalise(val, None) else {
            continue;
        };
        let name = format!("{name}{suffix}");
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, Value::Array(list))) => list.push(number(x)),
            Some((_, prev)) => *prev = Value::Array(vec![prev.clone(), number(x)]),
            None => out.push((name, number(x))),
        }
    }
    out
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
        );
        assert_eq!(e.values["lat"], serde_json::json!([0.001, 0.002, 0.004]));
        assert_eq!(e.errors.len(), 1);
        assert!(e.errors[0].contains("nope"));
    }

    #[test]
    fn json_paths() {
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
            extract(out, &[ex("end.sum_received.bits_per_second")], "").values["x"],
            serde_json::json!(9.4e8)
        );
        assert_eq!(
            extract(out, &[ex("l.1")], "").values["x"],
            serde_json::json!(2.0)
        );
        assert!(extract(out, &[ex("end.nope")], "").errors[0].contains("not found"));
        assert!(extract("nothing", &[ex("a")], "").errors[0].contains("no JSON"));
        let iperf = "[  5] local 127.0.0.1 port 5201\n{\"end\": {\"bps\": 5}}\n";
        assert_eq!(
            extract(iperf, &[ex("end.bps")], "").values["x"],
            serde_json::json!(5.0)
        );
    }

    #[test]
    fn result_lines_without_declaration() {
        let e = extract(
            "mpf-result ratio 3.5\nnoise\nmpf-result t 1\n  mpf-result t 2\n",
            &[],
            ".client",
        );
        assert_eq!(e.values["ratio.client"], serde_json::json!(3.5));
        assert_eq!(e.values["t.client"], serde_json::json!([1.0, 2.0]));
    }
}
