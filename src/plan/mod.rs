//! The variable space -> an ordered list of runs: product, `when`, zip, sampling, shuffle.
//!
//! Points are stored compactly (one `u32` value index per variable) so that planning a
//! million-point space stays small and fast.

pub(crate) mod blocks;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::spec::{Experiment, Order, SamplingMethod, Variable};
use crate::template;

/// Value index meaning "null: the variable's `when` is false here".
pub(crate) const NULL: u32 = u32::MAX;

/// One run to execute: which point, which repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRun {
    /// Position in the ordered plan; the run's id within the result set.
    pub index: usize,
    pub point: usize,
    pub repetition: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub variables: Vec<Variable>,
    /// Value indices, `variables.len()` per point.
    cells: Vec<u32>,
    pub runs: Vec<PlannedRun>,
    /// Points in the full space before sampling.
    pub space_size: usize,
    /// Points planned before the run (a search's combinations); probes come after them.
    pub groups: usize,
    /// Probe points a search added: their cells -> point index.
    probes: HashMap<Vec<u32>, usize>,
    /// Searched values -> value index (`f64` bits), so that a probe value is added once.
    probe_values: HashMap<u64, u32>,
}

impl Plan {
    pub fn point_count(&self) -> usize {
        self.cells
            .len()
            .checked_div(self.variables.len())
            .unwrap_or(1)
    }

    pub fn point_cells(&self, point: usize) -> &[u32] {
        let n = self.variables.len();
        &self.cells[point * n..(point + 1) * n]
    }

    /// The point as a JSON map of variable name -> value (null where `when` is false).
    pub fn point(&self, point: usize) -> Map<String, Value> {
        let mut m = Map::new();
        for (v, &c) in self.variables.iter().zip(self.point_cells(point)) {
            m.insert(v.name.clone(), value_at(v, c));
        }
        m
    }

    /// The point of combination `group` with `value` for the searched variable `var` (added
    /// to the plan, and the value to the variable, the first time it is asked for).
    pub fn probe(&mut self, group: usize, var: usize, value: &Value) -> usize {
        let x = value.as_f64().unwrap_or(f64::NAN);
        let values = &mut self.variables[var];
        let cell = *self.probe_values.entry(x.to_bits()).or_insert_with(|| {
            values.values.push(value.clone());
            values.labels.push(crate::model::value_text(value));
            (values.values.len() - 1) as u32
        });
        let mut cells = self.point_cells(group).to_vec();
        cells[var] = cell;
        if let Some(&p) = self.probes.get(&cells) {
            return p;
        }
        let p = self.point_count();
        self.cells.extend_from_slice(&cells);
        self.probes.insert(cells, p);
        p
    }

    /// Display labels of a point's values.
    pub fn labels(&self, point: usize) -> Map<String, Value> {
        let mut m = Map::new();
        for (v, &c) in self.variables.iter().zip(self.point_cells(point)) {
            let l = if c == NULL {
                Value::Null
            } else {
                Value::String(v.labels.get(c as usize).unwrap_or_default().to_string())
            };
            m.insert(v.name.clone(), l);
        }
        m
    }
}

fn value_at(v: &Variable, c: u32) -> Value {
    if c == NULL {
        Value::Null
    } else {
        v.values.get(c as usize).unwrap_or(Value::Null)
    }
}

/// FNV-1a: a stable 64-bit hash for seeds and fingerprints (never changes across versions).
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(crate) use crate::spec::size::size_problem;

/// Applies `--set VAR=V1,V2` overrides to the experiment's variables.
pub(crate) fn apply_overrides(exp: &mut Experiment, sets: &[(String, Vec<Value>)]) -> Result<()> {
    for (name, values) in sets {
        if let Some(s) = &exp.search {
            if exp.variables[s.variable].name == *name {
                return Err(Error::Usage(format!(
                    "--set {name}: '{name}' is searched, not swept; narrow its range in the experiment file"
                )));
            }
        }
        let var = exp
            .variables
            .iter_mut()
            .find(|v| &v.name == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--set {name}: the experiment has no variable named '{name}'"
                ))
            })?;
        if values.is_empty() {
            return Err(Error::Usage(format!("--set {name}: no values given")));
        }
        let labels = values
            .iter()
            .map(|val| {
                var.values
                    .position(val)
                    .and_then(|i| var.labels.get(i))
                    .map(str::to_string)
                    .unwrap_or_else(|| crate::model::value_text(val))
            })
            .collect();
        var.values = values.clone().into();
        var.labels = labels;
        var.geometric = false;
    }
    for z in &exp.zips {
        let len = exp.variables[z[0]].values.len();
        if z.iter().any(|&i| exp.variables[i].values.len() != len) {
            return Err(Error::Usage(format!(
                "--set: zipped variables {} must keep the same number of values",
                z.iter()
                    .map(|&i| exp.variables[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    // The file was within the limits; what goes over now comes from the command line.
    match size_problem(exp) {
        Some(p) => Err(Error::Usage(format!("with --set/--runs, {}", p.message))),
        None => Ok(()),
    }
}

/// Parses the value list of `--set VAR=V1,V2`: numbers, booleans, else strings.
pub(crate) fn parse_set(arg: &str) -> Result<(String, Vec<Value>)> {
    let (name, vals) = arg
        .split_once('=')
        .ok_or_else(|| Error::Usage(format!("--set '{arg}': write VAR=V1,V2,...")))?;
    let values = vals
        .split(',')
        .map(|s| {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = s.parse::<f64>() {
                serde_json::Number::from_f64(f).map_or(Value::String(s.into()), Value::Number)
            } else if s == "true" || s == "false" {
                Value::Bool(s == "true")
            } else {
                Value::String(s.to_string())
            }
        })
        .collect();
    Ok((name.trim().to_string(), values))
}

/// Builds the ordered plan: the space, sampled, each point `runs` times, ordered.
pub fn plan(exp: &Experiment) -> Result<Plan> {
    if let Some(p) = size_problem(exp) {
        return Err(match p.variable {
            Some(i) => Error::Input {
                location: exp.variables[i].loc.clone(),
                message: p.message,
            },
            None => Error::Usage(p.message),
        });
    }
    let vars = &exp.variables;
    let n = vars.len();
    let mut cells = expand(exp)?;
    let space_size = cells.len().checked_div(n).unwrap_or(1);
    let seed = fnv1a(exp.seed.as_bytes());

    if n > 0 {
        let selected = match exp.sampling.method {
            SamplingMethod::Full => None,
            SamplingMethod::Random => Some(sample_random(space_size, exp.sampling.count, seed)),
            SamplingMethod::Wsp => Some(sample_wsp(vars, &cells, exp.sampling.count, seed)),
        };
        if let Some(sel) = selected {
            let mut out = Vec::with_capacity(sel.len() * n);
            for p in sel {
                out.extend_from_slice(&cells[p * n..(p + 1) * n]);
            }
            cells = out;
        }
    }
    let points = cells.len().checked_div(n).unwrap_or(1);
    // A search decides its runs as results come in (`design`): nothing is planned ahead.
    let planned_points = if exp.search.is_some() { 0 } else { points };
    let mut runs: Vec<PlannedRun> = Vec::with_capacity(planned_points * exp.runs);
    for p in 0..planned_points {
        for r in 0..exp.runs {
            runs.push(PlannedRun {
                index: 0,
                point: p,
                repetition: r,
            });
        }
    }
    if exp.order == Order::Shuffle {
        fastrand::Rng::with_seed(seed).shuffle(&mut runs);
    }
    if let Some(p) = &exp.profile {
        let order = blocks::block_order(exp);
        blocks::into_blocks(&mut runs, &order, |point| cells[point * n + p.variable]);
    }
    for (i, r) in runs.iter_mut().enumerate() {
        r.index = i;
    }
    Ok(Plan {
        variables: vars.clone(),
        cells,
        runs,
        space_size,
        groups: points,
        probes: HashMap::new(),
        probe_values: HashMap::new(),
    })
}

/// The full space as flat value indices, honouring `when` and zip groups.
fn expand(exp: &Experiment) -> Result<Vec<u32>> {
    let vars = &exp.variables;
    let n = vars.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let zip_of = |i: usize| exp.zips.iter().find(|z| z.contains(&i));
    let mut cur: Vec<u32> = vec![NULL; n];
    let mut count = 1usize;
    for (i, v) in vars.iter().enumerate() {
        if let Some(z) = zip_of(i) {
            if z[0] != i {
                continue; // advanced with the group's first member
            }
        }
        let len = v.values.len();
        if len == 0 {
            continue; // searched: its cell is set per probe
        }
        let mut next: Vec<u32> = Vec::with_capacity(cur.len().saturating_mul(len));
        let mut cache: HashMap<Vec<u32>, bool> = HashMap::new();
        let deps: Vec<usize> = match &v.when {
            Some(w) => {
                let names = template::expression_names(w).map_err(|m| Error::Input {
                    location: v.loc.clone(),
                    message: m,
                })?;
                vars.iter()
                    .enumerate()
                    .filter(|(_, x)| names.contains(&x.name))
                    .map(|(j, _)| j)
                    .collect()
            }
            None => Vec::new(),
        };
        for p in 0..count {
            let base = &cur[p * n..(p + 1) * n];
            let holds = match &v.when {
                None => true,
                Some(w) => {
                    let key: Vec<u32> = deps.iter().map(|&j| base[j]).collect();
                    match cache.get(&key) {
                        Some(&b) => b,
                        None => {
                            let mut ctx = Map::new();
                            for &j in &deps {
                                ctx.insert(vars[j].name.clone(), value_at(&vars[j], base[j]));
                            }
                            let b = template::eval_condition(
                                w,
                                &minijinja::Value::from_serialize(&ctx),
                            )
                            .map_err(|m| Error::Input {
                                location: v.loc.clone(),
                                message: format!("variable '{}': when: {m}", v.name),
                            })?;
                            cache.insert(key, b);
                            b
                        }
                    }
                }
            };
            if !holds {
                next.extend_from_slice(base);
                continue;
            }
            for k in 0..len as u32 {
                let start = next.len();
                next.extend_from_slice(base);
                match zip_of(i) {
                    Some(z) => {
                        for &m in z {
                            next[start + m] = k;
                        }
                    }
                    None => next[start + i] = k,
                }
            }
        }
        count = next.len() / n;
        cur = next;
    }
    Ok(cur)
}

/// `count` distinct points chosen uniformly (seeded), kept in space order.
fn sample_random(size: usize, count: usize, seed: u64) -> Vec<usize> {
    if count >= size {
        return (0..size).collect();
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5a4d_706c_6521);
    let mut idx: Vec<usize> = (0..size).collect();
    // Partial Fisher-Yates: the first `count` slots become the sample.
    for i in 0..count {
        let j = rng.usize(i..size);
        idx.swap(i, j);
    }
    let mut sel = idx[..count].to_vec();
    sel.sort_unstable();
    sel
}

/// Largest candidate set WSP works on (its distance matrix is quadratic).
const WSP_MAX_CANDIDATES: usize = 2000;

/// Space-filling sample with the WSP algorithm (the `wsp` crate), on points normalised to
/// the unit cube by value position; null cells sit at 0.
fn sample_wsp(vars: &[Variable], cells: &[u32], count: usize, seed: u64) -> Vec<usize> {
    let n = vars.len();
    let size = cells.len() / n;
    if count >= size {
        return (0..size).collect();
    }
    // Candidates: the whole space when small, else a seeded random subset of it.
    let candidates: Vec<usize> = if size <= WSP_MAX_CANDIDATES {
        (0..size).collect()
    } else {
        sample_random(size, WSP_MAX_CANDIDATES, seed)
    };
    if count >= candidates.len() {
        return candidates;
    }
    let coords: Vec<Vec<f64>> = candidates
        .iter()
        .map(|&p| {
            vars.iter()
                .enumerate()
                .map(|(i, v)| {
                    let c = cells[p * n + i];
                    if c == NULL || v.values.len() < 2 {
                        0.0
                    } else {
                        f64::from(c) / (v.values.len() - 1) as f64
                    }
                })
                .collect()
        })
        .collect();
    let mut set = wsp::PointSet::init_from_preset(coords.clone());
    wsp::adaptive_wsp(&mut set, count, false);
    let kept = set.get_remaining();
    // Map kept coordinates back to candidate indices (first unused exact match).
    let mut used = vec![false; candidates.len()];
    let mut sel = Vec::with_capacity(kept.len());
    for k in kept {
        if let Some(pos) = coords
            .iter()
            .enumerate()
            .position(|(i, c)| !used[i] && *c == k)
        {
            used[pos] = true;
            sel.push(candidates[pos]);
        }
    }
    sel.sort_unstable();
    sel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_experiment;
    use std::path::Path;

    fn exp(vars: &str, extra: &str) -> Experiment {
        let src = format!("variables:\n{vars}\n{extra}steps:\n  - run: 'true'\n");
        parse_experiment(Path::new("t.yaml"), &src).unwrap()
    }

    fn points(p: &Plan) -> Vec<String> {
        (0..p.point_count())
            .map(|i| serde_json::to_string(&p.point(i)).unwrap())
            .collect()
    }

    #[test]
    fn product_in_declaration_order() {
        let p = plan(&exp(
            "  a: [1, 2]\n  b: [x, y]\n  c: 7",
            "order: sequential\nruns: 2\n",
        ))
        .unwrap();
        assert_eq!(
            points(&p),
            [
                r#"{"a":1,"b":"x","c":7}"#,
                r#"{"a":1,"b":"y","c":7}"#,
                r#"{"a":2,"b":"x","c":7}"#,
                r#"{"a":2,"b":"y","c":7}"#
            ]
        );
        assert_eq!(p.runs.len(), 8);
        assert_eq!((p.runs[1].point, p.runs[1].repetition), (0, 1));
    }

    #[test]
    fn a_sweep_is_planned_and_read_without_a_json_copy_of_its_values() {
        let p = plan(&exp(
            "  a: {range: [1, 1000]}\n  b: {range: [0.5, 1.5], step: 0.5}",
            "order: sequential\n",
        ))
        .unwrap();
        assert_eq!(p.point_count(), 3000);
        assert_eq!(
            serde_json::to_string(&p.point(2999)).unwrap(),
            r#"{"a":1000,"b":1.5}"#
        );
        assert_eq!(p.labels(1)["b"], "1.0");
        for v in &p.variables {
            assert!(
                !v.values.holds_slice() && !v.labels.holds_slice(),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn ranges_step_and_factor() {
        let e = exp(
            "  a: {range: [1, 8]}\n  b: {range: [1, 64], step: 20}\n  c: {range: [1, 1024], factor: 4}\n  d: {range: [0.1, 0.3], step: 0.1}",
            "",
        );
        let vals = |i: usize| serde_json::to_string(&e.variables[i].values).unwrap();
        assert_eq!(vals(0), "[1,2,3,4,5,6,7,8]");
        assert_eq!(vals(1), "[1,21,41,61]");
        assert_eq!(vals(2), "[1,4,16,64,256,1024]");
        assert_eq!(vals(3), "[0.1,0.2,0.3]");
        assert!(e.variables[2].geometric);
    }

    #[test]
    fn when_makes_null_elsewhere() {
        let p = plan(&exp(
            "  variant: [single, multi]\n  sched:\n    values: [a, b]\n    when: variant == \"multi\"",
            "order: sequential\nruns: 1\n",
        ))
        .unwrap();
        assert_eq!(
            points(&p),
            [
                r#"{"variant":"single","sched":null}"#,
                r#"{"variant":"multi","sched":"a"}"#,
                r#"{"variant":"multi","sched":"b"}"#
            ]
        );
    }

    #[test]
    fn zip_advances_together() {
        let p = plan(&exp(
            "  a: [1, 2, 3]\n  b: [x, y, z]\n  c: [0, 1]\n  zip: [a, b]",
            "order: sequential\nruns: 1\n",
        ))
        .unwrap();
        assert_eq!(p.point_count(), 6);
        assert_eq!(points(&p)[0], r#"{"a":1,"b":"x","c":0}"#);
        assert_eq!(points(&p)[5], r#"{"a":3,"b":"z","c":1}"#);
    }

    #[test]
    fn shuffle_is_seeded_and_complete() {
        let e = exp("  a: {range: [1, 20]}", "runs: 3\n");
        let p1 = plan(&e).unwrap();
        let p2 = plan(&e).unwrap();
        assert_eq!(p1.runs, p2.runs);
        let mut pairs: Vec<(usize, usize)> =
            p1.runs.iter().map(|r| (r.point, r.repetition)).collect();
        assert_ne!(pairs[..5], [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
        pairs.sort();
        assert_eq!(pairs.len(), 60);
        pairs.dedup();
        assert_eq!(pairs.len(), 60);
        let other = exp("  a: {range: [1, 20]}", "runs: 3\nseed: other\n");
        assert_ne!(plan(&other).unwrap().runs, p1.runs);
    }

    #[test]
    fn sampling_random_and_wsp() {
        let r = plan(&exp(
            "  a: {range: [1, 30]}\n  b: {range: [1, 30]}",
            "sampling: {method: random, count: 50}\nruns: 1\n",
        ))
        .unwrap();
        assert_eq!(r.point_count(), 50);
        assert_eq!(r.space_size, 900);
        let w = plan(&exp(
            "  a: {range: [1, 30]}\n  b: {range: [1, 30]}",
            "sampling: {method: wsp, count: 40}\nruns: 1\n",
        ))
        .unwrap();
        let k = w.point_count();
        assert!((30..=50).contains(&k), "wsp kept {k}");
        // Space filling: both axes are covered across their range.
        let a: Vec<i64> = (0..k).map(|i| w.point(i)["a"].as_i64().unwrap()).collect();
        assert!(a.iter().any(|&x| x <= 5) && a.iter().any(|&x| x >= 26));
        let all = plan(&exp(
            "  a: [1, 2]",
            "sampling: {method: wsp, count: 10}\nruns: 1\n",
        ))
        .unwrap();
        assert_eq!(all.point_count(), 2);
    }

    #[test]
    fn overrides() {
        let mut e = exp("  z: {values: {'': off, '-Z': on}}\n  p: [1, 2]", "");
        apply_overrides(
            &mut e,
            &[parse_set("p=4,8").unwrap(), parse_set("z=-Z").unwrap()],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&e.variables[1].values).unwrap(),
            "[4,8]"
        );
        assert_eq!(e.variables[0].labels, ["on"]);
        assert!(apply_overrides(&mut e, &[parse_set("nope=1").unwrap()]).is_err());
    }

    #[test]
    fn sizes_are_counted_without_expanding() {
        let big = "variables:\n  a: {range: [1, 100000]}\n  b: {range: [1, 100000]}\n  c: {range: [1, 100000]}\nsteps:\n  - run: echo\n";
        let e = parse_experiment(Path::new("t.yaml"), big)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.yaml:3:") && e.contains("10000000000 points (a: 100000 × b: 100000)"),
            "{e}"
        );
        // Zipped variables count once; constants not at all.
        let mut e = exp(
            "  a: {range: [1, 3000]}\n  b: {range: [1, 3000]}\n  k: 1\n  zip: [a, b]",
            "runs: 3000\n",
        );
        assert_eq!(size_problem(&e), None);
        e.runs = 4000;
        let p = size_problem(&e).unwrap();
        assert_eq!(p.variable, None);
        assert!(
            p.message
                .contains("3000 points × 4000 runs each = 12000000 runs"),
            "{}",
            p.message
        );
        // Sampling bounds the runs, not the space.
        let mut s = exp(
            "  a: {range: [1, 3000]}\n  b: {range: [1, 3000]}",
            "sampling: {method: random, count: 10}\nruns: 1000000\n",
        );
        assert_eq!(size_problem(&s), None);
        s.runs = usize::MAX;
        assert!(size_problem(&s).is_some());
        assert!(plan(&s).is_err());
        let e = parse_experiment(
            Path::new("t.yaml"),
            "variables:\n  x: {range: [1, 8], factor: 1.0000001}\nsteps:\n  - run: echo\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("range has 2.079e7 values, more than the limit of 1000000"),
            "{e}"
        );
    }
}
