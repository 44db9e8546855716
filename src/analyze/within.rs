//! An A/B inside one result set (`mpf compare ID --variable NAME=A,B`): the runs where a
//! variable takes value A against those where it takes B, each point matched on the other
//! variables, with the statistics of `compare`.

use serde_json::Value;

use crate::store::record::{Manifest, RunRecord, VariableInfo};

/// The two sides of an A/B within one set: the manifest without the variable, and the runs
/// at each of its two values (the variable taken out of their points, so that the points
/// match on the other variables).
#[derive(Debug)]
pub(crate) struct Split {
    pub manifest: Manifest,
    pub a: Vec<RunRecord>,
    pub b: Vec<RunRecord>,
    /// `NAME=A` and `NAME=B` as the set labels them.
    pub labels: (String, String),
}

/// Reads `NAME=A,B`: the variable's name and the text of its two values (a value holding a
/// comma is told apart by the values the variable takes; see `split`).
pub(crate) fn parse(spec: &str) -> Result<(&str, &str), String> {
    match spec.split_once('=') {
        Some((name, values)) if !name.trim().is_empty() && values.contains(',') => {
            Ok((name.trim(), values))
        }
        _ => Err(format!(
            "--variable '{spec}': expected NAME=A,B (a variable of the set and two of its values)"
        )),
    }
}

/// The position of the value of `var` written `text`: its value (a number as any form of
/// the same number: `8` and `8.0`), else its label.
fn position(var: &VariableInfo, text: &str) -> Option<usize> {
    let number = text.trim().parse::<f64>().ok();
    var.values
        .iter()
        .position(|v| match v {
            Value::String(s) => s == text,
            Value::Number(n) => number.is_some() && n.as_f64() == number,
            Value::Bool(b) => text == if *b { "true" } else { "false" },
            _ => false,
        })
        .or_else(|| var.labels.iter().position(|l| l == text))
}

/// Splits `records` of the set `manifest` into the runs at `NAME=A` and those at `NAME=B`.
/// Errors (a usage error each): an unknown variable, a value it does not take, A equal to B.
pub(crate) fn split(
    manifest: &Manifest,
    records: &[RunRecord],
    spec: &str,
) -> Result<Split, String> {
    let (name, values) = parse(spec)?;
    let var = manifest
        .variables
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| {
            format!(
                "--variable {name}: the set {} has no variable '{name}' (it has: {})",
                manifest.id,
                manifest
                    .variables
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    // Every comma could be the one between A and B: the one where both sides are values.
    let mut found: Vec<(usize, usize)> = values
        .match_indices(',')
        .filter_map(|(i, _)| {
            Some((
                position(var, &values[..i])?,
                position(var, &values[i + 1..])?,
            ))
        })
        .collect();
    found.dedup();
    let (ia, ib) = match found.as_slice() {
        [one] => *one,
        [] => {
            const SHOWN: usize = 20;
            let mut known: Vec<String> = var
                .values
                .iter()
                .take(SHOWN)
                .map(|v| format!("'{}'", var.label_of(v)))
                .collect();
            if var.values.len() > SHOWN {
                known.push(format!("... ({} in all)", var.values.len()));
            }
            return Err(format!(
                "--variable {spec}: '{values}' is not two values of '{name}', which takes {}",
                known.join(", ")
            ));
        }
        _ => {
            return Err(format!(
                "--variable {spec}: '{values}' can be read as two values of '{name}' in more than one way"
            ))
        }
    };
    if ia == ib {
        return Err(format!(
            "--variable {spec}: A and B are the same value of '{name}'; give two different ones"
        ));
    }
    let (va, vb) = (&var.values[ia], &var.values[ib]);
    let side = |want: &Value| -> Vec<RunRecord> {
        records
            .iter()
            .filter(|r| {
                r.point
                    .get(name)
                    .is_some_and(|v| crate::analyze::compare::same_value(v, want))
            })
            .map(|r| {
                let mut r = r.clone();
                r.point.remove(name);
                r
            })
            .collect()
    };
    let (a, b) = (side(va), side(vb));
    let mut rest = manifest.clone();
    rest.variables.retain(|v| v.name != name);
    Ok(Split {
        manifest: rest,
        a,
        b,
        labels: (
            format!("{name}={}", var.label_of(va)),
            format!("{name}={}", var.label_of(vb)),
        ),
    })
}
