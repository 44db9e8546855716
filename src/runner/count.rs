//! `count:` (SPEC §14.5): a step on the first N machines of its role. Checked against the
//! role's size before anything runs wherever every value the count reads is known; a count
//! that reads a searched variable (its probes are decided while the set runs) is checked
//! before each run instead. Either way a count beyond the role's size is an input error
//! naming the step's `count:` line and the role's size.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::spec::{Experiment, Step};

/// The machines each role has: from the cluster file, or one (this machine) for every role.
pub(crate) type RoleSizes = BTreeMap<String, usize>;

/// A count beyond the size of `role`: the step's `count:` line and the message.
pub(crate) fn too_many(
    step: &Step,
    n: usize,
    role: &str,
    size: usize,
    point: &str,
) -> (Location, String) {
    let loc = step.count.as_ref().map_or(&step.loc, |c| &c.loc).clone();
    let machines = crate::words::count(size, "machine");
    let n = crate::words::count(n, "machine");
    (
        loc,
        format!(
            "step '{}' runs on {n} of role '{role}'{point}, but role '{role}' has {machines}{}",
            step.name,
            if size == 1 {
                " (without a cluster file, or with one machine bearing it)"
            } else {
                ""
            }
        ),
    )
}

/// ` at clients = 4`: the values of the variables a step's count and role read, at `point`.
pub(crate) fn at_point(
    step: &Step,
    variables: &[crate::spec::Variable],
    point: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let reads = |name: &str| {
        step.count.as_ref().is_some_and(|c| c.text.contains(name))
            || step.role.names.iter().any(|n| n.contains(name))
    };
    let parts: Vec<String> = variables
        .iter()
        .filter(|v| reads(&v.name))
        .map(|v| {
            let value = point.get(&v.name).cloned().unwrap_or_default();
            format!("{} = {}", v.name, crate::model::value_text(&value))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" at {}", parts.join(", "))
    }
}

/// The roles a selector names at `ctx`: templated names rendered, `all` expanded to every role.
/// `None` when a name cannot be rendered yet (a searched variable's probe).
fn roles_at(step: &Step, ctx: &minijinja::Value, sizes: &RoleSizes) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for n in &step.role.names {
        let name = crate::template::render(n, ctx).ok()?;
        let name = name.trim();
        if name == "all" {
            out.extend(sizes.keys().cloned());
        } else {
            out.push(name.to_string());
        }
    }
    Some(out)
}

/// Checks every step's `count:` at every point of `plan` whose values it reads are known,
/// against `sizes`. A count that cannot be judged now (it reads the searched variable) is
/// judged before each run (`RunEnv::execute`).
pub(crate) fn check(exp: &Experiment, plan: &Plan, sizes: &RoleSizes) -> Result<()> {
    let searched = exp
        .search
        .as_ref()
        .map(|s| exp.variables[s.variable].name.as_str());
    for step in exp.steps.iter().filter(|s| s.count.is_some()) {
        let Some(count) = &step.count else { continue };
        let reads = |text: &str, name: &str| text.contains(name);
        let texts: Vec<&str> = std::iter::once(count.text.as_str())
            .chain(step.role.names.iter().map(String::as_str))
            .collect();
        if searched.is_some_and(|v| texts.iter().any(|t| reads(t, v))) {
            continue;
        }
        // Evaluated once per combination of the variables the count and the role read.
        let read: Vec<usize> = plan
            .variables
            .iter()
            .enumerate()
            .filter(|(_, v)| texts.iter().any(|t| reads(t, &v.name)))
            .map(|(i, _)| i)
            .collect();
        let mut seen: HashSet<Vec<u32>> = HashSet::new();
        for p in 0..plan.groups.min(plan.point_count()) {
            let cells = plan.point_cells(p);
            if !seen.insert(read.iter().map(|&i| cells[i]).collect()) {
                continue;
            }
            let point = plan.point(p);
            let ctx = minijinja::Value::from_serialize(&point);
            let n = match step.count_at(&ctx) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(message) => {
                    return Err(Error::Input {
                        location: count.loc.clone(),
                        message,
                    })
                }
            };
            let Some(roles) = roles_at(step, &ctx, sizes) else {
                continue;
            };
            for role in roles {
                let size = sizes.get(&role).copied().unwrap_or(0);
                if n > size {
                    let at = at_point(step, &plan.variables, &point);
                    let (location, message) = too_many(step, n, &role, size, &at);
                    return Err(Error::Input { location, message });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn exp(text: &str) -> Experiment {
        crate::spec::parse_experiment(Path::new("e.yaml"), text).unwrap()
    }

    fn sizes(pairs: &[(&str, usize)]) -> RoleSizes {
        pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
    }

    const SCALING: &str = "variables:\n  clients: [1, 2, 4]\nsteps:\n  - name: load\n    role: client\n    count: \"{{ clients }}\"\n    run: echo 1\n";

    #[test]
    fn a_count_within_the_role_passes() {
        let e = exp(SCALING);
        let plan = crate::plan::plan(&e).unwrap();
        check(&e, &plan, &sizes(&[("client", 4)])).unwrap();
    }

    #[test]
    fn a_count_beyond_the_role_names_the_line_the_value_and_the_size() {
        let e = exp(SCALING);
        let plan = crate::plan::plan(&e).unwrap();
        let err = check(&e, &plan, &sizes(&[("client", 3)])).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID);
        let text = err.to_string();
        assert!(text.starts_with("e.yaml:6:"), "{text}");
        assert!(
            text.contains("runs on 4 machines of role 'client' at clients = 4, but role 'client' has 3 machines"),
            "{text}"
        );
    }

    #[test]
    fn a_fixed_count_and_zero() {
        let e = exp("steps:\n  - role: [a, b]\n    count: 2\n    run: 'true'\n");
        let plan = crate::plan::plan(&e).unwrap();
        check(&e, &plan, &sizes(&[("a", 2), ("b", 5)])).unwrap();
        let err = check(&e, &plan, &sizes(&[("a", 2), ("b", 1)])).unwrap_err();
        assert!(err.to_string().contains("role 'b' has 1 machine"), "{err}");
        let e = exp("steps:\n  - role: a\n    count: 0\n    run: 'true'\n");
        let plan = crate::plan::plan(&e).unwrap();
        check(&e, &plan, &sizes(&[("a", 1)])).unwrap();
    }

    #[test]
    fn a_count_that_is_not_a_number_at_a_point_is_refused() {
        let e = exp("variables:\n  c: [1, two]\nsteps:\n  - role: a\n    count: \"{{ c }}\"\n    run: 'true'\n");
        let plan = crate::plan::plan(&e).unwrap();
        let err = check(&e, &plan, &sizes(&[("a", 4)])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("e.yaml:5:"), "{text}");
        assert!(text.contains("is 'two', not a whole number"), "{text}");
    }
}
