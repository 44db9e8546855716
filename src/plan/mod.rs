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

/// Runs held compactly: 12 bytes a run (index, point and repetition as `u32`: runs and points
/// are below `MAX_RUNS` and `MAX_POINTS`, 10^7) instead of a `PlannedRun`'s 24. A round's runs
/// (`design::Next`) are one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunList(Vec<[u32; 3]>);

impl RunList {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, r: PlannedRun) {
        self.0.push([r.index, r.point, r.repetition].map(small));
    }

    pub(crate) fn get(&self, i: usize) -> Option<PlannedRun> {
        self.0.get(i).map(|&[index, point, repetition]| PlannedRun {
            index: index as usize,
            point: point as usize,
            repetition: repetition as usize,
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = PlannedRun> + '_ {
        (0..self.0.len()).filter_map(|i| self.get(i))
    }

    /// Gives run `i` the index `index`.
    pub(crate) fn set_index(&mut self, i: usize, index: usize) {
        if let Some(r) = self.0.get_mut(i) {
            r[0] = small(index);
        }
    }
}

impl FromIterator<PlannedRun> for RunList {
    fn from_iter<I: IntoIterator<Item = PlannedRun>>(iter: I) -> RunList {
        let mut l = RunList::default();
        iter.into_iter().for_each(|r| l.push(r));
        l.0.shrink_to_fit();
        l
    }
}

/// A run's number as the compact lists hold it: every count is checked against the limits
/// (10^7) before planning, so it fits; past `u32` it saturates rather than wraps.
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub variables: Vec<Variable>,
    /// Value indices, `variables.len()` per point.
    cells: Vec<u32>,
    /// The runs in order, each as `point * repeats + repetition` (4 bytes a run; its index
    /// is its position).
    runs: Vec<u32>,
    /// Runs of each planned point.
    repeats: usize,
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
    /// How many runs are planned ahead (none for a search: its design decides them).
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// The `i`-th planned run.
    pub fn run(&self, i: usize) -> Option<PlannedRun> {
        let slot = *self.runs.get(i)? as usize;
        let repeats = self.repeats.max(1);
        Some(PlannedRun {
            index: i,
            point: slot / repeats,
            repetition: slot % repeats,
        })
    }

    /// The planned runs in order.
    pub fn runs(&self) -> impl Iterator<Item = PlannedRun> + '_ {
        (0..self.runs.len()).filter_map(|i| self.run(i))
    }

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

/// Finds the plan's point of a recorded run from its values (a resumed set's journal, whose
/// point indices an earlier session numbered): one index of hashes, built once, 16 bytes a
/// value and a point, let go with it.
pub(crate) struct PointFinder {
    /// (variable, hash of a value) -> its first value index.
    values: HashMap<(u32, u64), u32>,
    /// Hash of a point's cells -> the first planned point with them.
    points: HashMap<u64, u32>,
    /// The searched variable: its values are the probes, added as they are found.
    search: Option<usize>,
}

/// A value's identity in the index: numbers by their `f64` (so that `1` and `1.0` meet, as
/// `Values::position` has them), anything else by its JSON text.
fn value_hash(v: &Value) -> u64 {
    match v.as_f64() {
        Some(x) => fnv1a(&x.to_bits().to_le_bytes()),
        None => fnv1a(serde_json::to_string(v).unwrap_or_default().as_bytes()),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn cells_hash(cells: &[u32]) -> u64 {
    let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_le_bytes()).collect();
    fnv1a(&bytes)
}

impl PointFinder {
    /// `search`: the searched variable, if any.
    pub(crate) fn new(plan: &Plan, search: Option<usize>) -> PointFinder {
        let mut values = HashMap::new();
        for (i, v) in plan.variables.iter().enumerate() {
            for (c, x) in v.values.each().enumerate() {
                values.entry((i as u32, value_hash(&x))).or_insert(c as u32);
            }
        }
        let mut points = HashMap::with_capacity(plan.groups);
        for p in 0..plan.groups.min(plan.point_count()) {
            points
                .entry(cells_hash(plan.point_cells(p)))
                .or_insert(p as u32);
        }
        PointFinder {
            values,
            points,
            search,
        }
    }

    /// The plan's point of `point` (a run's values by variable name), added to the plan when
    /// it is a search's probe; `None` when the plan has no such point.
    pub(crate) fn find(&self, plan: &mut Plan, point: &Map<String, Value>) -> Option<usize> {
        let mut cells = Vec::with_capacity(plan.variables.len());
        let mut probe = None;
        for (i, v) in plan.variables.iter().enumerate() {
            let x = point.get(&v.name).unwrap_or(&Value::Null);
            if Some(i) == self.search {
                probe = Some(x.clone());
                cells.push(NULL);
                continue;
            }
            if x.is_null() {
                cells.push(NULL);
                continue;
            }
            let c = *self.values.get(&(i as u32, value_hash(x)))?;
            if !v.values.get(c as usize).is_some_and(|y| same_value(x, &y)) {
                return None;
            }
            cells.push(c);
        }
        if point.len() != plan.variables.len() {
            return None;
        }
        let p = *self.points.get(&cells_hash(&cells))? as usize;
        if plan.point_cells(p) != cells.as_slice() {
            return None;
        }
        match (probe, self.search) {
            (Some(x), Some(var)) if x.is_number() => Some(plan.probe(p, var, &x)),
            (Some(_), _) => None,
            _ => Some(p),
        }
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
    // `size_problem` bounds the runs by `MAX_RUNS` (10^7): each one's slot fits a `u32`.
    let total = planned_points.saturating_mul(exp.runs);
    let mut runs: Vec<u32> = (0..total).map(small).collect();
    if exp.order == Order::Shuffle {
        fastrand::Rng::with_seed(seed).shuffle(&mut runs);
    }
    let repeats = exp.runs.max(1);
    if let Some(p) = &exp.profile {
        let order = blocks::block_order(exp);
        blocks::into_blocks(&mut runs, &order, |slot| {
            cells[slot as usize / repeats * n + p.variable]
        });
    }
    Ok(Plan {
        variables: vars.clone(),
        cells,
        runs,
        repeats,
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
        assert_eq!(p.run_count(), 8);
        let r = p.run(1).unwrap();
        assert_eq!((r.index, r.point, r.repetition), (1, 0, 1));
        let r = p.run(6).unwrap();
        assert_eq!((r.index, r.point, r.repetition), (6, 3, 0));
        assert_eq!(p.run(8), None);
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
    fn planned_runs_are_held_in_4_bytes_and_a_rounds_in_12() {
        let p = plan(&exp("  a: {range: [1, 1000]}", "runs: 3\n")).unwrap();
        assert_eq!(p.run_count(), 3000);
        assert_eq!(
            p.runs.capacity() * std::mem::size_of_val(&p.runs[0]),
            12_000
        );
        let list: RunList = p.runs().collect();
        assert_eq!(list.len(), 3000);
        assert_eq!(
            list.0.capacity() * std::mem::size_of_val(&list.0[0]),
            36_000
        );
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            p.runs().collect::<Vec<_>>()
        );
        let mut list = list;
        list.set_index(2, 5_000_000);
        let r = list.get(2).unwrap();
        assert_eq!(r.index, 5_000_000);
        assert_eq!(
            (r.point, r.repetition),
            (p.run(2).unwrap().point, p.run(2).unwrap().repetition)
        );
        assert_eq!(list.get(3000), None);
    }

    #[test]
    fn a_recorded_point_is_found_in_the_plan_by_its_values() {
        let mut p = plan(&exp(
            "  a: {range: [1, 300]}\n  b: [x, y]\n  f: [0.5, 1.5]\n  c:\n    values: [p, q]\n    when: b == \"y\"",
            "order: sequential\n",
        ))
        .unwrap();
        let finder = PointFinder::new(&p, None);
        for i in [0, 1, 7, p.point_count() - 1] {
            let point = p.point(i);
            assert_eq!(finder.find(&mut p, &point), Some(i), "{point:?}");
        }
        let at = |j: serde_json::Value| j.as_object().unwrap().clone();
        // Numbers meet whatever their JSON spelling; a null where `when` is false.
        let one = at(serde_json::json!({"a": 2.0, "b": "x", "f": 1.5, "c": null}));
        let found = finder.find(&mut p, &one).unwrap();
        assert_eq!(
            p.point(found),
            at(serde_json::json!({"a": 2, "b": "x", "f": 1.5, "c": null}))
        );
        for gone in [
            serde_json::json!({"a": 301, "b": "x", "f": 1.5, "c": null}),
            serde_json::json!({"a": 2, "b": "z", "f": 1.5, "c": null}),
            serde_json::json!({"a": 2, "b": "x", "f": 1.5, "c": "p"}),
            serde_json::json!({"a": 2, "b": "x", "f": 1.5}),
            serde_json::json!({"a": 2, "b": "x", "f": 1.5, "c": null, "d": 1}),
            serde_json::json!({"a": "2", "b": "x", "f": 1.5, "c": null}),
        ] {
            assert_eq!(finder.find(&mut p, &at(gone.clone())), None, "{gone}");
        }
    }

    #[test]
    fn a_recorded_probe_is_added_to_the_plan_once() {
        let e = exp(
            "  n: [1, 2]\n  rate: {range: [100, 1000]}",
            "search:\n  variable: rate\n  condition: \"step1.duration < 1\"\n",
        );
        let search = e.search.as_ref().map(|s| s.variable);
        let mut p = plan(&e).unwrap();
        assert_eq!(p.point_count(), 2);
        let finder = PointFinder::new(&p, search);
        let at = |j: serde_json::Value| j.as_object().unwrap().clone();
        let probe = at(serde_json::json!({"n": 2, "rate": 550}));
        let q = finder.find(&mut p, &probe).unwrap();
        assert_eq!((q, p.point(q)), (2, probe.clone()));
        assert_eq!(finder.find(&mut p, &probe), Some(2));
        assert_eq!(
            p.probe(1, search.unwrap(), &serde_json::json!(550)),
            2,
            "the design finds it"
        );
        assert_eq!(
            finder.find(&mut p, &at(serde_json::json!({"n": 2, "rate": "x"}))),
            None
        );
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
        assert_eq!(p1.runs().collect::<Vec<_>>(), p2.runs().collect::<Vec<_>>());
        assert!(p1.runs().enumerate().all(|(i, r)| r.index == i));
        let mut pairs: Vec<(usize, usize)> = p1.runs().map(|r| (r.point, r.repetition)).collect();
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
