//! Derived results (SPEC §16.1): `loss: {expr: "100 * dropped / sent", unit: "%"}`. At load,
//! the names each reads are checked and the derived results ordered so that each follows
//! those it reads (a cycle is an input error at its line). Per run, after extraction, each is
//! computed from the run's results and the point's variables; a value that is not a finite
//! number (0 / 0, inf) fails the run naming the result, like a missing result.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::experiment::{Derived, Experiment};
use crate::error::{Error, Result};
use crate::model::ResultInfo;

/// Checks every derived result's names and orders them: each after the derived results it
/// reads, otherwise in the order written.
pub fn order(
    derived: Vec<Derived>,
    variables: &BTreeSet<String>,
    extracted: &[ResultInfo],
) -> Result<Vec<Derived>> {
    let mut names: Vec<String> = extracted.iter().map(|r| r.name.clone()).collect();
    names.extend(derived.iter().map(|d| d.name.clone()));
    for d in &derived {
        crate::template::check_condition(&d.expr, variables, &names).map_err(|m| Error::Input {
            location: d.loc.clone(),
            message: format!("result '{}': expr: {m}", d.name),
        })?;
    }
    let reads = |d: &Derived, other: &Derived| {
        d.reads
            .iter()
            .any(|r| *r == other.name || r.starts_with(&format!("{}.", other.name)))
    };
    let mut left: Vec<Derived> = derived;
    let mut out: Vec<Derived> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = left.iter().position(|d| !left.iter().any(|o| reads(d, o)));
        match ready {
            Some(i) => out.push(left.remove(i)),
            None => {
                let d = &left[0];
                let others = left
                    .iter()
                    .filter(|o| o.name != d.name && (reads(d, o) || reads(o, d)));
                let cycle: Vec<&str> = std::iter::once(d)
                    .chain(others)
                    .map(|o| o.name.as_str())
                    .collect();
                return Err(Error::Input {
                    location: d.loc.clone(),
                    message: format!(
                        "result '{}': derived results read each other in a cycle ({})",
                        d.name,
                        cycle.join(", ")
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Computes the derived results of one run into `values` (its results). A derived result that
/// reads a result the run lacks is left out when the run failed already (`errors` not empty);
/// otherwise every problem is an error naming the result.
pub fn evaluate(
    exp: &Experiment,
    point: &Map<String, Value>,
    values: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) {
    if exp.derived.is_empty() {
        return;
    }
    let failed_before = !errors.is_empty();
    for d in &exp.derived {
        let numbers: Vec<(String, f64)> = values
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
            .collect();
        let ctx = crate::template::condition_context(point, &numbers);
        match crate::template::eval_number(&d.expr, &ctx) {
            Ok(x) if x.is_finite() => {
                let v = if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    Value::from(x as i64)
                } else {
                    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                };
                values.insert(d.name.clone(), v);
            }
            Ok(x) => errors.push(format!(
                "result '{}': expr '{}' gives {} (not a finite number)",
                d.name,
                d.expr,
                if x.is_nan() {
                    "NaN"
                } else {
                    "an infinite value"
                }
            )),
            Err(_) if failed_before => {}
            Err(m) => errors.push(format!("result '{}': expr '{}': {m}", d.name, d.expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_experiment;

    fn exp(results: &str) -> Result<Experiment> {
        let text = format!(
            "variables:\n  rate: [10, 20]\nsteps:\n  - run: echo sent=5 dropped=1\n    results:\n{results}"
        );
        parse_experiment(std::path::Path::new("e.yaml"), &text)
    }

    #[test]
    fn derived_results_are_ordered_and_cycles_refused_at_their_line() {
        let e = exp(concat!(
            "      pct: {expr: 'loss * 100', unit: '%', better: lower}\n",
            "      loss: {expr: 'dropped / sent'}\n",
            "      sent: 'sent=(\\d+)'\n",
            "      dropped: 'dropped=(\\d+)'\n",
        ))
        .unwrap();
        let names: Vec<&str> = e.derived.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["loss", "pct"]);
        let infos = e.result_infos();
        let pct = infos.iter().find(|i| i.name == "pct").unwrap();
        assert_eq!(
            (pct.unit.as_str(), pct.better),
            ("%", crate::model::Better::Lower)
        );

        let err = exp(concat!(
            "      sent: 'sent=(\\d+)'\n",
            "      a: {expr: 'b + sent'}\n",
            "      b: {expr: 'a * 2'}\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("e.yaml:7:"), "{err}");
        assert!(
            err.contains("result 'a': derived results read each other in a cycle (a, b)"),
            "{err}"
        );
        let err = exp("      a: {expr: 'a + 1'}\n").unwrap_err().to_string();
        assert!(err.contains("cycle (a)"), "{err}");
        let err = exp("      a: {expr: 'nope + 1'}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("result 'a': expr: unknown name 'nope'"),
            "{err}"
        );
        let err = exp("      a: {expr: 'rate', regex: 'x(1)'}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expr takes only unit and better"), "{err}");
        let err = exp("      rate: {expr: '1'}\n").unwrap_err().to_string();
        assert!(err.contains("result 'rate' is already a variable"), "{err}");
    }

    #[test]
    fn a_derived_value_that_is_not_a_finite_number_fails_the_run_naming_it() {
        let e = exp(concat!(
            "      sent: 'sent=(\\d+)'\n",
            "      dropped: 'dropped=(\\d+)'\n",
            "      loss: {expr: '100 * dropped / sent'}\n",
            "      per_rate: {expr: 'sent / rate'}\n",
        ))
        .unwrap();
        let point: Map<String, Value> =
            serde_json::json!({"rate": 10}).as_object().unwrap().clone();
        let run = |sent: i64, dropped: i64| {
            let mut values: Map<String, Value> =
                serde_json::json!({"sent": sent, "dropped": dropped})
                    .as_object()
                    .unwrap()
                    .clone();
            let mut errors = Vec::new();
            evaluate(&e, &point, &mut values, &mut errors);
            (values, errors)
        };
        let (v, errors) = run(5, 1);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["loss"], 20);
        assert_eq!(v["per_rate"], 0.5);
        let (_, errors) = run(0, 0);
        assert_eq!(
            errors,
            ["result 'loss': expr '100 * dropped / sent' gives NaN (not a finite number)"]
        );
        let (_, errors) = run(0, 3);
        assert!(errors[0].contains("gives an infinite value"), "{errors:?}");
        // A run that lacks a result fails for that; its derived results are left out.
        let mut values = Map::new();
        let mut errors = vec!["result 'sent' not found".to_string()];
        evaluate(&e, &point, &mut values, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(values.is_empty());
    }
}
