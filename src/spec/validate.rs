//! Loading an experiment file: YAML -> raw types -> checked `Experiment`, with every error
//! naming the file, line and problem.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::de::{pos, yaml_error, yaml_options, OneOrMany, ScalarText};
use super::experiment::*;
use super::raw::*;
use crate::error::{Error, Location, Result};
use crate::template::{self, KnownNames};

/// Names a variable may not take besides the template context's own names
/// (`template::CONTEXT_NAMES`): Jinja literals and helpers, and the `zip:` key.
const RESERVED: &[&str] = &["none", "true", "false", "loop", "range", "zip"];
/// Columns `results.csv` adds after the results.
const CSV_RESERVED: [&str; 3] = crate::model::FIXED_COLUMNS;

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub(super) const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(3600);
use super::size::MAX_VALUES;
/// The most retries of a failed run (each one is a whole run again).
pub(super) const MAX_RETRIES: u32 = 1000;

pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn loc<T>(&self, s: &Spanned<T>) -> Location {
        let (l, c) = pos(s);
        Location::new(self.path, l, c)
    }
    pub(super) fn err<T>(&self, s: &Spanned<T>, msg: impl Into<String>) -> Error {
        let (l, c) = pos(s);
        Error::input(self.path, l, c, msg)
    }
    pub(super) fn err_at(&self, loc: &Location, msg: impl Into<String>) -> Error {
        Error::Input {
            location: loc.clone(),
            message: msg.into(),
        }
    }
}

/// Reads and checks an experiment file.
pub fn load_experiment(path: &Path) -> Result<Experiment> {
    let bytes = super::de::read_input(path, "experiment file")?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        Error::input(path, line, 0, "the file is not UTF-8 text")
    })?;
    parse_experiment(path, &source)
}

/// Parses and checks experiment text (`path` is used for messages and the default name).
pub fn parse_experiment(path: &Path, source: &str) -> Result<Experiment> {
    if source.trim().is_empty() {
        return Err(Error::input(path, 1, 0, "the experiment file is empty"));
    }
    let raw: RawExperiment = serde_saphyr::from_str_with_options(source, yaml_options())
        .map_err(|e| yaml_error(path, e))?;
    let cx = Ctx { path };

    let name = match &raw.name {
        Some(n) if n.value.trim().is_empty() => return Err(cx.err(n, "name is empty")),
        Some(n) => n.value.clone(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into()),
    };
    let searched = raw.search.as_ref().map(|s| s.value.variable.value.as_str());
    let variables = variables(&cx, &raw.variables, searched)?;
    let zips = zips(&cx, &raw.variables, &variables)?;
    check_conditions(&cx, &variables, &zips)?;

    let sampling = match &raw.sampling {
        None => Sampling {
            method: SamplingMethod::Full,
            count: 0,
        },
        Some(s) => {
            let count = match (s.value.method, s.value.count) {
                (SamplingMethod::Full, _) => 0,
                (_, Some(c)) if c >= 1 => c as usize,
                (_, Some(_)) => return Err(cx.err(s, "sampling count must be at least 1")),
                (_, None) => {
                    return Err(cx.err(s, "random and wsp sampling need a count: {count: N}"))
                }
            };
            Sampling {
                method: s.value.method,
                count,
            }
        }
    };

    let var_names: BTreeSet<String> = variables.iter().map(|v| v.name.clone()).collect();
    let mut steps = Vec::new();
    for (i, s) in raw.steps.iter().enumerate() {
        steps.push(step(&cx, &s.value, s, i, "steps")?);
    }
    if steps.is_empty() {
        return Err(Error::input(path, 1, 0, "the experiment has no steps"));
    }
    let mut teardown = Vec::new();
    for (i, s) in raw.teardown.iter().enumerate() {
        let as_step = RawStep::from(s.value.clone());
        teardown.push(step(&cx, &as_step, s, i, "teardown")?);
    }
    let mut setup = Vec::new();
    for s in &raw.setup {
        setup.push(setup_step(&cx, s)?);
    }
    let mut cleanup = Vec::new();
    for s in &raw.cleanup {
        cleanup.push(cleanup_step(&cx, s)?);
    }
    let mut files = Vec::new();
    for f in &raw.files {
        files.push(FileSpec {
            role: role_sel(&cx, f.value.role.as_ref(), &f.referenced)?,
            path: Tpl {
                text: f.value.path.value.clone(),
                loc: cx.loc(&f.value.path),
            },
            content: Tpl {
                text: f.value.content.value.clone(),
                loc: cx.loc(&f.value.content),
            },
        });
    }

    // Step names are unique; result names are unique and never a variable's name.
    let mut seen_steps = BTreeSet::new();
    for (s, raw_s) in steps.iter().zip(&raw.steps) {
        if !seen_steps.insert(s.name.clone()) {
            return Err(cx.err(raw_s, format!("two steps are named '{}'", s.name)));
        }
    }
    let label_columns: BTreeSet<String> = variables
        .iter()
        .map(|v| crate::model::label_column(&v.name))
        .collect();
    let mut seen_results: BTreeSet<String> = BTreeSet::new();
    for s in &steps {
        for e in &s.results {
            // Each result an extractor adds beside its own (an aggregate across machines, a
            // series statistic) must be a column of its own.
            let added = e
                .across
                .iter()
                .map(|a| (e.across_result(*a), format!("across '{}'", a.name())))
                .chain(
                    e.stats
                        .iter()
                        .map(|stat| (e.stat_result(stat), format!("stat '{}'", stat.name))),
                );
            for (n, what) in added {
                if var_names.contains(&n)
                    || label_columns.contains(&n)
                    || !seen_results.insert(n.clone())
                {
                    return Err(cx.err_at(
                        &s.loc,
                        format!("result '{n}' ({what} of '{}') is already a column", e.name),
                    ));
                }
            }
            if label_columns.contains(&e.name) {
                return Err(cx.err_at(
                    &s.loc,
                    format!("'{}' is the column of a variable's labels", e.name),
                ));
            }
            if var_names.contains(&e.name) {
                return Err(cx.err_at(
                    &s.loc,
                    format!("result '{}' has the name of a variable", e.name),
                ));
            }
            if steps
                .iter()
                .any(|t| e.name == format!("{}.duration", t.name))
            {
                return Err(cx.err_at(
                    &s.loc,
                    format!("result '{}' has the name of a step's duration", e.name),
                ));
            }
            if CSV_RESERVED.contains(&e.name.as_str()) {
                return Err(cx.err_at(
                    &s.loc,
                    format!("'{}' is reserved for a results.csv column", e.name),
                ));
            }
            if !seen_results.insert(e.name.clone()) {
                return Err(cx.err_at(
                    &s.loc,
                    format!("result '{}' is extracted by two steps", e.name),
                ));
            }
        }
    }

    // Derived results: named like any result, then ordered so that each follows those it
    // reads (a cycle is refused).
    let mut derived = Vec::new();
    for raw_s in &raw.steps {
        for (k, e) in &raw_s.value.results.0 {
            let Some(expr) = &e.value.expr else {
                continue;
            };
            let d = derived_result(&cx, k, e, expr)?;
            let taken = var_names.contains(&d.name)
                || label_columns.contains(&d.name)
                || CSV_RESERVED.contains(&d.name.as_str())
                || steps
                    .iter()
                    .any(|t| d.name == format!("{}.duration", t.name));
            if taken || !seen_results.insert(d.name.clone()) {
                return Err(cx.err(
                    k,
                    format!(
                        "result '{}' is already a variable, a column or another result",
                        d.name
                    ),
                ));
            }
            derived.push(d);
        }
    }
    let mut result_infos = super::experiment::result_infos(&steps);
    let derived = super::derived::order(derived, &var_names, &result_infos)?;
    result_infos.extend(derived.iter().map(super::experiment::Derived::info));
    let (runs, adaptive) = super::design::runs(path, raw.runs.as_ref(), &result_infos)?;
    let search = match &raw.search {
        Some(s) => {
            let name = &s.value.variable.value;
            let range = match raw.variables.vars.iter().find(|(k, _)| &k.value == name) {
                Some((_, var)) => super::design::search_range(path, name, var)?,
                None => (0.0, 0.0, false),
            };
            Some(super::design::search(
                path,
                s,
                range,
                &variables,
                &zips,
                &result_infos,
            )?)
        }
        None => None,
    };

    let mut exp = Experiment {
        path: path.to_path_buf(),
        source: source.to_string(),
        name,
        description: raw.description.clone().unwrap_or_default(),
        runs,
        order: raw.order.unwrap_or_default(),
        seed: raw
            .seed
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_else(|| "mpf".into()),
        variables,
        zips,
        sampling,
        setup,
        cleanup,
        steps,
        teardown,
        files,
        retries: match &raw.retries {
            Some(r) if r.value > MAX_RETRIES => {
                return Err(cx.err(
                    r,
                    format!(
                        "retries is {}, more than the limit of {MAX_RETRIES}",
                        r.value
                    ),
                ))
            }
            Some(r) => r.value,
            None => 0,
        },
        on_failure: raw.on_failure.unwrap_or_default(),
        plot: None,
        require: requirements(&cx, &raw.require)?,
        kill_grace: Duration::from_secs(2),
        warmup: super::design::warmup(path, raw.runs.as_ref())?,
        adaptive,
        search,
        derived,
        monitor: None,
        profile: None,
    };
    exp.profile = super::profile::profile(&cx, &raw.variables, &exp)?;
    if let Some(m) = &raw.monitor {
        let mut known = exp.possible_roles();
        if !known.iter().any(|r| r == DEFAULT_ROLE) {
            known.push(DEFAULT_ROLE.to_string());
        }
        let steps: Vec<String> = exp.steps.iter().map(|s| s.name.clone()).collect();
        exp.monitor = Some(super::monitor::check_monitor(path, m, &known, &steps)?);
    }
    if let Some(p) = &raw.plot {
        exp.plot = Some(super::figures::check(path, p, &exp)?);
    }
    if let Some(problem) = super::size::size_problem(&exp) {
        let at = match (problem.variable, &raw.runs) {
            (Some(i), _) => exp.variables[i].loc.clone(),
            (None, Some(r)) => cx.loc(r),
            (None, None) => exp
                .variables
                .last()
                .map(|v| v.loc.clone())
                .unwrap_or_default(),
        };
        return Err(cx.err_at(&at, problem.message));
    }
    check_templates(&exp, None)?;
    Ok(exp)
}

/// `require:` names known settings (or an interface's: `iface.eth0.mtu`).
fn requirements(
    cx: &Ctx,
    raw: &super::de::OrderedMap<Spanned<super::de::ScalarText>>,
) -> Result<Vec<Requirement>> {
    let mut out = Vec::new();
    for (name, value) in &raw.0 {
        let known = crate::model::SETTINGS.contains(&name.value.as_str())
            || name
                .value
                .strip_prefix("iface.")
                .and_then(|r| r.split_once('.'))
                .is_some_and(|(i, f)| {
                    !i.is_empty() && ["driver", "speed_mbps", "mtu", "offloads"].contains(&f)
                });
        if !known {
            return Err(cx.err(
                name,
                format!(
                    "require: unknown setting '{}' (settings: {}, iface.<name>.driver|speed_mbps|mtu|offloads)",
                    name.value,
                    crate::model::SETTINGS.join(", ")
                ),
            ));
        }
        out.push(Requirement {
            setting: name.value.clone(),
            value: value.value.0.clone(),
            loc: cx.loc(value),
        });
    }
    Ok(out)
}

/// Checks every template and condition for names that will not exist at run time.
/// `roles` restricts role names (from a cluster file); `None` accepts any.
pub(crate) fn check_templates(exp: &Experiment, roles: Option<&BTreeSet<String>>) -> Result<()> {
    let known = KnownNames {
        variables: exp.variables.iter().map(|v| v.name.clone()).collect(),
        roles: roles.cloned().or_else(|| {
            let mut r: BTreeSet<String> = exp.possible_roles().into_iter().collect();
            r.insert(DEFAULT_ROLE.into());
            Some(r)
        }),
        links: None,
    };
    let mut tpls: Vec<&Tpl> = Vec::new();
    for s in exp.steps.iter().chain(&exp.teardown) {
        tpls.push(&s.run);
        if let Some(Ready::Port { port, .. }) = &s.ready {
            tpls.push(port);
        }
        tpls.extend(s.count.as_ref());
        for e in &s.results {
            if let Source::File(f) = &e.source {
                tpls.push(f);
            }
        }
    }
    for s in exp.setup.iter().chain(&exp.cleanup) {
        tpls.extend(s.run.as_ref());
    }
    for s in exp.profile.iter().flat_map(|p| &p.switch) {
        tpls.extend(s.run.iter().chain(&s.revert));
    }
    for f in &exp.files {
        tpls.push(&f.path);
        tpls.push(&f.content);
    }
    for t in tpls {
        template::check_template(&t.text, &known).map_err(|m| Error::Input {
            location: t.loc.clone(),
            message: format!("template: {m}"),
        })?;
    }
    for s in &exp.steps {
        if let Some(Ready::Port { host: Some(h), .. }) = &s.ready {
            template::check_template(h, &known).map_err(|m| Error::Input {
                location: s.loc.clone(),
                message: format!("ready host: {m}"),
            })?;
        }
    }
    for sel in exp.role_sels() {
        for n in &sel.names {
            template::check_template(n, &known).map_err(|m| Error::Input {
                location: sel.loc.clone(),
                message: format!("role: {m}"),
            })?;
        }
    }
    Ok(())
}

/// The variables, each expanded into its values; the searched one (`searched`) keeps none:
/// its probes are decided while the experiment runs.
fn variables(cx: &Ctx, raw: &RawVariables, searched: Option<&str>) -> Result<Vec<Variable>> {
    let mut out: Vec<Variable> = Vec::new();
    for (name, var) in &raw.vars {
        let n = name.value.as_str();
        if !is_identifier(n) {
            return Err(cx.err(
                name,
                format!("'{n}' is not a valid variable name (letters, digits and _; not starting with a digit)"),
            ));
        }
        if RESERVED.contains(&n) || template::CONTEXT_NAMES.contains(&n) {
            return Err(cx.err(
                name,
                format!("'{n}' is reserved and cannot name a variable"),
            ));
        }
        if out.iter().any(|v| v.name == n) {
            return Err(cx.err(name, format!("variable '{n}' is defined twice")));
        }
        let loc = cx.loc(var);
        if searched == Some(n) {
            let (lo, hi, _) = super::design::search_range(cx.path, n, var)?;
            out.push(Variable {
                name: n.to_string(),
                values: Default::default(),
                labels: Default::default(),
                when: None,
                geometric: super::design::is_geometric(lo, hi),
                loc,
            });
            continue;
        }
        let (values, labels, when, geometric): (crate::values::Values, Vec<String>, _, _) =
            match &var.value {
                RawVar::Constant(v) => (vec![v.clone()].into(), vec![], None, false),
                RawVar::List(vs) => (vs.clone().into(), vec![], None, false),
                RawVar::Map(m) => {
                    let (values, labels, geometric) = match (&m.range, &m.values) {
                        (Some(_), Some(_)) => {
                            return Err(cx.err(
                                var,
                                format!("variable '{n}': give either range or values, not both"),
                            ))
                        }
                        (None, None) => {
                            return Err(cx.err(
                                var,
                                format!("variable '{n}' needs range: [from, to] or values: [...]"),
                            ))
                        }
                        (Some(r), None) => {
                            let (v, g) = range_values(r, m.step.as_ref(), m.factor.as_ref())
                                .map_err(|msg| cx.err(var, format!("variable '{n}': {msg}")))?;
                            (v, vec![], g)
                        }
                        (None, Some(vals)) => {
                            if m.step.is_some() || m.factor.is_some() {
                                return Err(cx.err(
                                    var,
                                    format!("variable '{n}': step and factor go with range"),
                                ));
                            }
                            match vals {
                                RawValues::List(v) => (v.clone().into(), vec![], false),
                                RawValues::Labelled(pairs) => (
                                    pairs
                                        .iter()
                                        .map(|(k, _)| k.clone())
                                        .collect::<Vec<_>>()
                                        .into(),
                                    pairs
                                        .iter()
                                        .map(|(_, l)| crate::model::value_text(l))
                                        .collect(),
                                    false,
                                ),
                            }
                        }
                    };
                    (values, labels, m.when.clone(), geometric)
                }
            };
        if values.is_empty() {
            return Err(cx.err(var, format!("variable '{n}' has no values")));
        }
        if values.len() > MAX_VALUES {
            return Err(cx.err(
                var,
                format!(
                    "variable '{n}' has {} values, more than the limit of {MAX_VALUES}",
                    values.len()
                ),
            ));
        }
        if !values.all_scalars() {
            return Err(cx.err(
                var,
                format!("variable '{n}': values must be numbers, strings or booleans"),
            ));
        }
        // Sorted numbers or a set, not a scan of the values before each: a long range stays
        // linear, and is checked on its compact values (SPEC §15: a range of 10^5 values
        // held as JSON and strings was the peak of `mpf run`'s memory).
        if let Some(v) = values.duplicate() {
            return Err(cx.err(var, format!("variable '{n}': value {v} appears twice")));
        }
        let labels: crate::values::Labels = if labels.is_empty() {
            values
                .each()
                .map(|v| crate::model::value_text(&v))
                .collect()
        } else {
            labels.into()
        };
        out.push(Variable {
            name: n.to_string(),
            values,
            labels,
            when,
            geometric,
            loc,
        });
    }
    Ok(out)
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Expands `range: [from, to]` with `step` (arithmetic) or `factor` (geometric), inclusive.
fn range_values(
    r: &[Value],
    step: Option<&Value>,
    factor: Option<&Value>,
) -> std::result::Result<(crate::values::Values, bool), String> {
    if r.len() != 2 {
        return Err(format!(
            "range takes two numbers [from, to], got {}",
            r.len()
        ));
    }
    let (Some(lo), Some(hi)) = (num(&r[0]), num(&r[1])) else {
        return Err("range bounds must be numbers".into());
    };
    let all_int = |vs: &[Option<&Value>]| vs.iter().flatten().all(|v| v.is_i64() || v.is_u64());
    if let (Some(_), Some(_)) = (step, factor) {
        return Err("give either step or factor, not both".into());
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Err("range bounds must be finite numbers".into());
    }
    if let Some(f) = factor {
        let f = num(f).ok_or("factor must be a number")?;
        if f <= 1.0 || !f.is_finite() {
            return Err(format!("factor must be greater than 1, got {f}"));
        }
        if lo <= 0.0 {
            return Err("a geometric range (factor) must start above 0".into());
        }
        if hi < lo {
            return Err(format!(
                "range goes from {lo} down to {hi}; write [from, to] with from <= to"
            ));
        }
        // Counted before anything is built: a factor near 1 means a huge number of values.
        let count = ((hi / lo).ln() / f.ln() + 1e-9).floor() + 1.0;
        if count.is_nan() || count > MAX_VALUES as f64 {
            return Err(too_many_values(count));
        }
        let ints = all_int(&[Some(&r[0]), Some(&r[1]), factor]);
        let mut out = Vec::with_capacity(count as usize);
        let mut x = lo;
        while x <= hi * (1.0 + 1e-12) {
            out.push(x);
            x *= f;
        }
        return Ok((range_of(out, ints), true));
    }
    let st = match step {
        Some(s) => num(s).ok_or("step must be a number")?,
        None => 1.0,
    };
    if st <= 0.0 || !st.is_finite() {
        return Err(format!("step must be greater than 0, got {st}"));
    }
    if hi < lo {
        return Err(format!(
            "range goes from {lo} down to {hi}; write [from, to] with from <= to"
        ));
    }
    // Counted in floating point, compared before any conversion: no overflow, no hang.
    let count = ((hi - lo) / st + 1e-9).floor() + 1.0;
    if count.is_nan() || count > MAX_VALUES as f64 {
        return Err(too_many_values(count));
    }
    let count = count as usize;
    let ints = all_int(&[Some(&r[0]), Some(&r[1]), step]);
    let xs = (0..count).map(|i| lo + st * i as f64).collect();
    Ok((range_of(xs, ints), false))
}

/// A range's values, held compactly from the start: integers (`int`) rounded, others with
/// their binary noise (0.30000000000000004) rounded away.
fn range_of(mut xs: Vec<f64>, int: bool) -> crate::values::Values {
    if int {
        return crate::values::Values::ints(xs.into_iter().map(|x| x.round() as i64).collect());
    }
    for x in &mut xs {
        *x = format!("{x:.12}").parse().unwrap_or(*x);
    }
    crate::values::Values::floats(xs)
}

fn too_many_values(count: f64) -> String {
    format!("range has {count:.3e} values, more than the limit of {MAX_VALUES}")
}

fn zips(cx: &Ctx, raw: &RawVariables, vars: &[Variable]) -> Result<Vec<Vec<usize>>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for z in &raw.zips {
        let lists: Vec<Vec<Value>> = match &z.value {
            Value::Array(items) if items.iter().all(|i| i.is_string()) => vec![items.clone()],
            Value::Array(items) if items.iter().all(|i| i.is_array()) => items
                .iter()
                .map(|i| i.as_array().cloned().unwrap_or_default())
                .collect(),
            _ => return Err(cx.err(z, "zip takes a list of variable names: zip: [a, b]")),
        };
        for list in lists {
            let mut group = Vec::new();
            for item in &list {
                let name = item
                    .as_str()
                    .ok_or_else(|| cx.err(z, "zip lists variable names"))?;
                let idx = vars
                    .iter()
                    .position(|v| v.name == name)
                    .ok_or_else(|| cx.err(z, format!("zip: no variable named '{name}'")))?;
                if groups.iter().flatten().chain(&group).any(|&g| g == idx) {
                    return Err(cx.err(z, format!("zip: '{name}' is zipped twice")));
                }
                if vars[idx].when.is_some() {
                    return Err(cx.err(
                        z,
                        format!("zip: '{name}' has a when condition; zipped variables cannot"),
                    ));
                }
                group.push(idx);
            }
            if group.len() < 2 {
                return Err(cx.err(z, "zip needs at least two variables"));
            }
            let len = vars[group[0]].values.len();
            if let Some(&bad) = group.iter().find(|&&g| vars[g].values.len() != len) {
                return Err(cx.err(
                    z,
                    format!(
                        "zip: '{}' has {} values but '{}' has {}; zipped variables need the same number",
                        vars[group[0]].name,
                        len,
                        vars[bad].name,
                        vars[bad].values.len()
                    ),
                ));
            }
            groups.push(group);
        }
    }
    Ok(groups)
}

/// `when:` may only use variables declared before (they are decided first).
fn check_conditions(cx: &Ctx, vars: &[Variable], _zips: &[Vec<usize>]) -> Result<()> {
    for (i, v) in vars.iter().enumerate() {
        let Some(w) = &v.when else { continue };
        let names = template::expression_names(w)
            .and_then(|names| template::check_expression_callables(w).map(|()| names))
            .map_err(|m| cx.err_at(&v.loc, format!("variable '{}': when: {m}", v.name)))?;
        for n in names {
            match vars.iter().position(|x| x.name == n) {
                Some(j) if j < i => {}
                Some(_) => {
                    return Err(cx.err_at(
                        &v.loc,
                        format!(
                            "variable '{}': when uses '{n}', which must be declared before '{}'",
                            v.name, v.name
                        ),
                    ))
                }
                None => {
                    return Err(cx.err_at(
                        &v.loc,
                        format!("variable '{}': when uses undefined name '{n}'", v.name),
                    ))
                }
            }
        }
    }
    Ok(())
}

pub(super) fn role_sel(
    cx: &Ctx,
    role: Option<&Spanned<OneOrMany>>,
    at: &serde_saphyr::Location,
) -> Result<RoleSel> {
    match role {
        None => Ok(RoleSel {
            names: vec![DEFAULT_ROLE.into()],
            loc: Location::new(cx.path, at.line(), at.column()),
        }),
        Some(r) => {
            if r.value.0.is_empty() || r.value.0.iter().any(|n| n.trim().is_empty()) {
                return Err(cx.err(r, "role is empty"));
            }
            // Templated names are checked once rendered, before they become paths.
            let literal = r
                .value
                .0
                .iter()
                .map(|n| n.trim())
                .filter(|n| *n != "all" && !crate::template::is_template(n));
            for n in literal {
                if let Some(problem) = role_name_problem(n) {
                    return Err(cx.err(r, problem));
                }
            }
            Ok(RoleSel {
                names: r.value.0.iter().map(|s| s.trim().to_string()).collect(),
                loc: cx.loc(r),
            })
        }
    }
}

/// A step of `section` (`steps` or `teardown`); `s` is where the entry is written.
fn step<T>(cx: &Ctx, r: &RawStep, s: &Spanned<T>, index: usize, section: &str) -> Result<Step> {
    let run = r.run.as_ref().ok_or_else(|| {
        cx.err(
            s,
            format!("{section} entry {} has no run: command", index + 1),
        )
    })?;
    let name = match &r.name {
        Some(n) if !is_step_name(&n.value) => {
            return Err(cx.err(
                n,
                format!(
                    "'{}' is not a valid step name (letters, digits, - and _)",
                    n.value
                ),
            ))
        }
        Some(n) => n.value.clone(),
        None => format!(
            "{}{}",
            if section == "teardown" {
                "teardown"
            } else {
                "step"
            },
            index + 1
        ),
    };
    let timeout = r.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(cx.err(s, "timeout must be greater than 0"));
    }
    let ready = match &r.ready {
        None => None,
        Some(rd) => {
            let t = rd.value.timeout.map(|d| d.0).unwrap_or(timeout);
            match (&rd.value.port, &rd.value.log) {
                (Some(p), None) => Some(Ready::Port {
                    port: ready_port(cx, p)?,
                    host: rd.value.host.clone(),
                    timeout: t,
                }),
                (None, Some(l)) => Some(Ready::Log {
                    pattern: Regex::new(l).map_err(|e| {
                        cx.err(
                            rd,
                            format!("ready log: invalid regex: {}", first_line(&e.to_string())),
                        )
                    })?,
                    timeout: t,
                }),
                _ => return Err(cx.err(rd, "ready takes either {port: N} or {log: 'regex'}")),
            }
        }
    };
    if ready.is_some() && !r.background {
        return Err(cx.err(s, "ready only applies to background steps"));
    }
    let mut results = Vec::new();
    for (k, e) in &r.results.0 {
        if e.value.expr.is_none() {
            results.push(extractor(cx, k, e)?);
        }
    }
    let count = match &r.count {
        None => None,
        Some(c) => {
            let text = c.value.0.trim();
            let templated = crate::template::is_template(text);
            if !templated && super::experiment::parse_count(text).is_none() {
                return Err(cx.err(
                    c,
                    format!(
                        "count '{}' is not a whole number of machines (0 to {}) or a template such as \"{{{{ clients }}}}\"",
                        super::de::shown(&text.chars().take(40).collect::<String>()),
                        super::experiment::MAX_COUNT
                    ),
                ));
            }
            Some(Tpl {
                text: text.to_string(),
                loc: cx.loc(c),
            })
        }
    };
    Ok(Step {
        name,
        role: role_sel(cx, r.role.as_ref(), &s.referenced)?,
        run: Tpl {
            text: run.value.clone(),
            loc: cx.loc(run),
        },
        background: r.background,
        delay: r.delay.map(|d| d.0).unwrap_or_default(),
        timeout,
        ready,
        count,
        results,
        loc: cx.loc(s),
    })
}

/// A result's name as written: no spaces or commas.
fn result_name<'k>(cx: &Ctx, key: &'k Spanned<String>) -> Result<&'k str> {
    let name = key.value.trim();
    if name.is_empty()
        || name.contains(char::is_whitespace)
        || name.contains(',')
        || name.contains(char::is_control)
    {
        return Err(cx.err(
            key,
            format!(
                "'{}' is not a valid result name (no spaces, commas or control characters)",
                super::de::shown(&key.value)
            ),
        ));
    }
    // As long as an `mpf-result` name may be: a column, a graph's title and file name.
    if name.len() > super::json_path::MAX_RESULT_NAME {
        return Err(cx.err(
            key,
            format!(
                "the result name '{}...' is {} bytes long, more than {}",
                name.chars().take(40).collect::<String>(),
                name.len(),
                super::json_path::MAX_RESULT_NAME
            ),
        ));
    }
    Ok(name)
}

/// `loss: {expr: "100 * dropped / sent", unit: "%", better: lower}`: only `unit` and `better`
/// go with `expr`.
fn derived_result(
    cx: &Ctx,
    key: &Spanned<String>,
    e: &Spanned<RawExtractor>,
    expr: &str,
) -> Result<super::experiment::Derived> {
    let name = result_name(cx, key)?;
    let r = &e.value;
    let others = !r.kinds.is_empty()
        || r.all
        || r.file.is_some()
        || r.stream.is_some()
        || r.input_unit.is_some()
        || r.prefix.is_some()
        || r.warmup.is_some()
        || r.stats.is_some()
        || r.across.is_some();
    if others {
        return Err(cx.err(
            e,
            format!("result '{name}': expr takes only unit and better (it reads no output)"),
        ));
    }
    if r.unit.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err(cx.err(e, format!("result '{name}': unit is empty")));
    }
    let reads = crate::template::expression_names_nested(expr)
        .map_err(|m| cx.err(e, format!("result '{name}': expr: {m}")))?;
    Ok(super::experiment::Derived {
        name: name.to_string(),
        expr: expr.to_string(),
        unit: r.unit.clone(),
        better: r.better.unwrap_or_default(),
        reads,
        loc: cx.loc(e),
    })
}

fn extractor(cx: &Ctx, key: &Spanned<String>, e: &Spanned<RawExtractor>) -> Result<Extractor> {
    let name = result_name(cx, key)?;
    let r = &e.value;
    let bad = |msg: String| cx.err(e, format!("result '{name}': {msg}"));
    let kind = match r.kinds.as_slice() {
        [(name, value)] => {
            let entry =
                super::extractor::kind(name).ok_or_else(|| bad(format!("unknown kind {name}")))?;
            (entry.parse)(&super::extractor::Options { value, all: r.all }).map_err(bad)?
        }
        _ => {
            return Err(bad(format!(
                "needs exactly one of {}",
                super::extractor::kind_names("or")
            )))
        }
    };
    for (what, u) in [("unit", &r.unit), ("in", &r.input_unit)] {
        if u.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return Err(bad(format!("{what} is empty")));
        }
    }
    if let Some(from) = &r.input_unit {
        let Some(to) = &r.unit else {
            return Err(bad(format!(
                "in: {from} needs the unit to convert to (unit: ...)"
            )));
        };
        crate::units::normalise(&format!("1 {from}"), Some(to))
            .map_err(|_| bad(format!("cannot convert {from} (in) to {to} (unit)")))?;
    }
    let source = match (&r.file, r.stream) {
        (Some(_), Some(_)) => return Err(bad("give either file or stream, not both".into())),
        (Some(f), None) if f.value.trim().is_empty() => return Err(bad("file is empty".into())),
        (Some(f), None) => Source::File(Tpl {
            text: f.value.clone(),
            loc: cx.loc(f),
        }),
        (None, s) => Source::Stream(match s.unwrap_or(StreamName::Stdout) {
            StreamName::Stdout => Stream::Stdout,
            StreamName::Stderr => Stream::Stderr,
            StreamName::Both => Stream::Both,
        }),
    };
    let mut out = Extractor {
        better: r.better.unwrap_or_default(),
        unit: r.unit.clone(),
        source,
        input_unit: r.input_unit.clone(),
        binary: r.prefix == Some(PrefixName::Binary),
        warmup: None,
        stats: Vec::new(),
        ..Extractor::of_kind(name, kind)
    };
    let series = out.kind.series() != super::extractor::Series::Never;
    if (r.warmup.is_some() || r.stats.is_some()) && !series {
        return Err(bad(
            "warmup and stats apply to series (all: true, a csv column or a json array)".into(),
        ));
    }
    if let Some(w) = &r.warmup {
        out.warmup = Some(warmup(&w.0).map_err(bad)?);
    }
    for st in r.stats.iter().flatten() {
        let stat = series_stat(&st.0).map_err(bad)?;
        if out.stats.contains(&stat) {
            return Err(bad(format!("stat '{}' is listed twice", stat.name)));
        }
        out.stats.push(stat);
    }
    if r.across.is_some() && out.is_series() {
        return Err(bad(
            "across aggregates one number per machine, and a series gives several (aggregate a json value or a regex without all)".into(),
        ));
    }
    for a in r.across.iter().flatten() {
        let agg = Across::parse(&a.0).ok_or_else(|| {
            bad(format!(
                "unknown aggregate '{}' in across (sum, mean, min, max)",
                super::de::shown(a.0.trim())
            ))
        })?;
        if out.across.contains(&agg) {
            return Err(bad(format!("across lists '{}' twice", agg.name())));
        }
        if out.stats.iter().any(|st| st.name == agg.name()) {
            return Err(bad(format!(
                "'{}' is both a stat and an aggregate across machines: both would be the result '{}'",
                agg.name(),
                out.across_result(agg)
            )));
        }
        out.across.push(agg);
    }
    Ok(out)
}

/// `warmup: N` or `warmup: auto`.
fn warmup(text: &str) -> std::result::Result<Warmup, String> {
    match text.trim() {
        "auto" => Ok(Warmup::Auto),
        t => t
            .parse::<usize>()
            .map(Warmup::Samples)
            .map_err(|_| format!("warmup is a number of samples or 'auto', not '{t}'")),
    }
}

/// One name of `stats:`: mean, min, max, std, count, sum or p<N> (0 <= N <= 100).
fn series_stat(text: &str) -> std::result::Result<SeriesStat, String> {
    let t = text.trim();
    let kind = match t {
        "mean" => StatKind::Mean,
        "min" => StatKind::Min,
        "max" => StatKind::Max,
        "std" => StatKind::Std,
        "count" => StatKind::Count,
        "sum" => StatKind::Sum,
        _ => {
            let p = t
                .strip_prefix('p')
                .filter(|n| n.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p));
            match p {
                Some(p) => StatKind::Percentile(p),
                None => {
                    return Err(format!(
                        "unknown stat '{t}' (mean, min, max, std, count, sum, or a percentile p0..p100 such as p99.9)"
                    ))
                }
            }
        }
    };
    Ok(SeriesStat {
        name: t.to_string(),
        kind,
    })
}

fn setup_step(cx: &Ctx, s: &Spanned<RawSetup>) -> Result<SetupStep> {
    let r = &s.value;
    if r.run.is_none() && r.sync.is_none() && r.packages.is_none() {
        return Err(cx.err(s, "a setup entry needs run, sync or packages"));
    }
    Ok(SetupStep {
        role: role_sel(cx, r.role.as_ref(), &s.referenced)?,
        sync: r.sync.as_ref().map(|x| Sync {
            from: x.value.from.clone(),
            to: x.value.to.clone(),
            exclude: x.value.exclude.clone(),
        }),
        packages: r.packages.as_ref().map(|p| Packages {
            apt: p.value.apt.clone(),
            dnf: p.value.dnf.clone(),
        }),
        run: r.run.as_ref().map(|x| Tpl {
            text: x.value.clone(),
            loc: cx.loc(x),
        }),
        timeout: r.timeout.map(|d| d.0).unwrap_or(DEFAULT_SETUP_TIMEOUT),
        loc: cx.loc(s),
    })
}

/// A cleanup entry: `run` on the machines of its roles (nothing to sync or install afterwards).
fn cleanup_step(cx: &Ctx, s: &Spanned<RawCleanup>) -> Result<SetupStep> {
    let r = &s.value;
    Ok(SetupStep {
        role: role_sel(cx, r.role.as_ref(), &s.referenced)?,
        sync: None,
        packages: None,
        run: Some(Tpl {
            text: r.run.value.clone(),
            loc: cx.loc(&r.run),
        }),
        timeout: r.timeout.map(|d| d.0).unwrap_or(DEFAULT_SETUP_TIMEOUT),
        loc: cx.loc(s),
    })
}

/// `ready: {port: ...}`: a literal must be a port now; a template is rendered and checked
/// per run.
fn ready_port(cx: &Ctx, p: &Spanned<ScalarText>) -> Result<Tpl> {
    let text = p.value.0.trim();
    let templated = crate::template::is_template(text);
    if !templated && crate::template::parse_port(text).is_none() {
        return Err(cx.err(
            p,
            format!("ready port '{text}' is not a port number (1 to 65535) or a template"),
        ));
    }
    Ok(Tpl {
        text: text.to_string(),
        loc: cx.loc(p),
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn is_step_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn first_line_is_the_first_of_several() {
        assert_eq!(
            first_line("regex parse error:\n    a(\n    ^\nerror: unclosed group"),
            "regex parse error:"
        );
        assert_eq!(first_line("one line"), "one line");
        assert_eq!(first_line(""), "");
    }
}
