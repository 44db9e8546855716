//! `mpf run` as a library call: load, plan, create or reopen the result set, run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::exec::Transport;
use crate::machines::fold::MachineError;
use crate::plan::{self, Plan};
use crate::runner::events::Event;
use crate::runner::{run_experiment, runtime, Machines, Options, SessionOutcome};
use crate::spec::{self, Cluster, Experiment, Order};
use crate::store::writer::{new_id, SetWriter};
use crate::store::{self, GitInfo, Manifest, SetStatus, VariableInfo};

#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The experiment file; with `resume` it may be omitted (the stored copy is used).
    pub experiment: Option<PathBuf>,
    pub runs: Option<usize>,
    /// `VAR=V1,V2` overrides.
    pub sets: Vec<String>,
    pub resume: Option<String>,
    pub force: bool,
    pub results_root: PathBuf,
    pub interactive: bool,
    /// Skip the setup section.
    pub no_setup: bool,
    /// The cluster file; with `resume` or `reproduce` and none given, the set's stored
    /// `cluster.yaml`.
    pub cluster: Option<PathBuf>,
    /// A set (or a pack) to run again as a new set: its stored experiment file, `--set`,
    /// `--runs` and seed.
    pub reproduce: Option<String>,
    /// For `mpf check`: a host source that cannot be read here (no Slurm job, no node file)
    /// leaves its machines unresolved instead of failing.
    pub allow_unresolved: bool,
}

/// An experiment ready to run (or to print, for `--dry-run`).
pub struct Prepared {
    pub exp: Experiment,
    pub cluster: Option<Cluster>,
    /// The cluster's `hosts:` as resolved for this session (SPEC 14.1).
    pub resolved: Option<crate::hosts::Resolved>,
    /// Why the cluster's `hosts:` could not be resolved here (`allow_unresolved` only).
    pub unresolved: Option<String>,
    pub plan: Plan,
    overrides: Map<String, Value>,
    resume_dir: Option<PathBuf>,
    resume_manifest: Option<Manifest>,
    results_root: PathBuf,
    /// The set's id: the resumed set's, or the new set's (chosen here, so that the
    /// machines, opened before the set is created, can name their containers after it).
    id: String,
}

pub(crate) fn hash_text(s: &str) -> String {
    format!("{:016x}", plan::fnv1a(s.as_bytes()))
}

/// Applies a set's `--set` and `--runs` overrides (as its manifest stores them) to `exp`.
pub(crate) fn replay_overrides(exp: &mut Experiment, overrides: &Map<String, Value>) -> Result<()> {
    let mut sets = Vec::new();
    for (k, v) in overrides {
        if k == "--runs" {
            // A fixed count: --runs N asks for exactly N runs per point (per probe of a
            // search), adaptive or not.
            exp.runs = v.as_u64().unwrap_or(exp.runs as u64) as usize;
            exp.adaptive = None;
            if let Some(s) = exp.search.as_mut() {
                s.runs = None;
            }
        } else if let Value::Array(vals) = v {
            sets.push((k.clone(), vals.clone()));
        }
    }
    plan::apply_overrides(exp, &sets)
}

/// Loads the experiment, applies overrides (or those stored in a resumed set) and plans.
pub fn prepare(req: &RunRequest) -> Result<Prepared> {
    let source = req.resume.as_ref().or(req.reproduce.as_ref());
    if req.reproduce.is_some() && (req.experiment.is_some() || req.resume.is_some()) {
        return Err(Error::Usage(
            "--reproduce runs the stored experiment file again: give no experiment file or --resume"
                .into(),
        ));
    }
    let (resume_dir, resume_manifest) = match source {
        Some(id) => {
            let dir = match req.resume {
                Some(_) => store::resultset::resolve_writable(&req.results_root, id)?,
                None => store::resolve(&req.results_root, id)?,
            };
            let m = store::resultset::read_manifest(&dir)?;
            (Some(dir), Some(m))
        }
        None => (None, None),
    };
    let path = match (&req.experiment, &resume_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.join(crate::store::layout::EXPERIMENT),
        (None, None) => return Err(Error::Usage("mpf run needs an experiment file".into())),
    };
    let mut exp = spec::load_experiment(&path)?;
    let mut overrides = Map::new();
    if let Some(m) = &resume_manifest {
        if req.reproduce.is_some() {
            // The same plan: the seed the set was run with, whatever the file says.
            exp.seed = m.seed.clone();
        }
        if !req.sets.is_empty() || req.runs.is_some() {
            return Err(Error::Usage(
                "--resume and --reproduce replay the --set and --runs of the original run; do not give them again"
                    .into(),
            ));
        }
        overrides = m.overrides.clone();
    } else {
        for s in &req.sets {
            let (name, values) = plan::parse_set(s)?;
            overrides.insert(name, Value::Array(values));
        }
        if let Some(r) = req.runs {
            if r == 0 {
                return Err(Error::Usage("--runs must be at least 1".into()));
            }
            overrides.insert("--runs".into(), Value::from(r));
        }
    }
    match &resume_manifest {
        Some(m) => {
            let changed = replay_checked(&mut exp, m, "resume")?;
            if changed && !req.force && req.reproduce.is_none() {
                return Err(Error::Usage(format!(
                    "{} changed since result set {} was started; resuming would mix two experiments (use --force to resume anyway)",
                    path.display(),
                    m.id
                )));
            }
        }
        None => replay_overrides(&mut exp, &overrides)?,
    }
    if !req.no_setup {
        crate::runner::setup::check_setup(&exp)?;
    }
    let resumed = resume_dir.as_deref().zip(resume_manifest.as_ref());
    let crate::hosts::Loaded {
        cluster,
        resolved,
        unresolved,
    } = crate::hosts::ClusterSource::choose(req.cluster.as_deref(), resumed)
        .load(req.allow_unresolved)?;
    if let Some(c) = &cluster {
        c.check_experiment(&exp)?;
        crate::runner::budget::check_sessions(&exp, c)?;
        crate::runner::budget::check_transports(&exp, c)?;
    }
    let plan = plan::plan(&exp)?;
    let mut sizes: crate::runner::count::RoleSizes = match &cluster {
        Some(c) => c.binding().into_iter().map(|(r, n)| (r, n.len())).collect(),
        None => exp.possible_roles().into_iter().map(|r| (r, 1)).collect(),
    };
    sizes.entry(spec::DEFAULT_ROLE.to_string()).or_insert(1);
    crate::runner::count::check(&exp, &plan, &sizes)?;
    // Reproducing starts a new set: only a resume continues the old one.
    let (resume_dir, resume_manifest) = match req.reproduce {
        Some(_) => (None, None),
        None => (resume_dir, resume_manifest),
    };
    let id = match &resume_manifest {
        Some(m) => m.id.clone(),
        None => new_id(&exp.name, std::time::SystemTime::now()),
    };
    Ok(Prepared {
        exp,
        cluster,
        resolved,
        unresolved,
        plan,
        overrides,
        resume_dir,
        resume_manifest,
        results_root: req.results_root.clone(),
        id,
    })
}

/// The machines a set's cluster resolved to, beside its `cluster.yaml`.
pub(crate) const RESOLVED: &str = crate::store::layout::CLUSTER_RESOLVED;

/// At most this many values are named when two value lists differ.
const SHOWN_VALUES: usize = 8;

/// `1, 2, 3`, or the first values and how many there are.
fn value_list(values: &[Value]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(SHOWN_VALUES)
        .map(|v| format!("{:?}", crate::model::value_text(v)))
        .collect();
    match values.len() {
        0 => "none".into(),
        n if n > SHOWN_VALUES => format!("{}, ... ({n} values)", shown.join(", ")),
        _ => shown.join(", "),
    }
}

/// Applies a set's recorded overrides to `exp`, the file to resume it with (`doing`:
/// "resume") or to extract it again with. When the file is not the one the set recorded (its
/// hash differs), its variables must be the set's: the same names (checked first, so that a
/// renamed variable is named as such rather than as an unknown `--set`), then, once the set's
/// `--set` is applied, the same values and `when`. Otherwise exit 2 naming the file and line:
/// rows of both would share a set with a column empty in some and a value recorded nowhere in
/// others, and the plan would treat every recorded run as missing. True when the file changed.
pub(crate) fn replay_checked(exp: &mut Experiment, m: &Manifest, doing: &str) -> Result<bool> {
    let changed = hash_text(&exp.source) != m.experiment_hash;
    if changed {
        check_variables(exp, m, doing, false)?;
    }
    replay_overrides(exp, &m.overrides)?;
    if changed {
        check_variables(exp, m, doing, true)?;
    }
    Ok(changed)
}

/// `replay_checked`'s refusal: the names, or (`values`) the values and `when` of each.
fn check_variables(exp: &Experiment, m: &Manifest, doing: &str, values: bool) -> Result<()> {
    let file = &exp.path;
    let refuse = |line: u64, column: u64, what: String| {
        Error::input(
            file,
            line,
            column,
            format!(
                "the variables differ from those of result set {} ({what}): the set cannot {doing} with this file, its rows would lose a value; run it as a new set",
                m.id
            ),
        )
    };
    let quoted = |names: Vec<&str>| {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if values {
        return check_values(exp, m, &refuse);
    }
    let missing: Vec<&str> = m
        .variables
        .iter()
        .filter(|v| !exp.variables.iter().any(|e| e.name == v.name))
        .map(|v| v.name.as_str())
        .collect();
    let extra: Vec<&crate::spec::Variable> = exp
        .variables
        .iter()
        .filter(|e| !m.variables.iter().any(|v| v.name == e.name))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let (line, column) = extra.first().map_or((0, 0), |e| (e.loc.line, e.loc.column));
        let mut what = Vec::new();
        if !missing.is_empty() {
            what.push(format!(
                "the set has {} and this file does not",
                quoted(missing)
            ));
        }
        if !extra.is_empty() {
            let names = extra.iter().map(|e| e.name.as_str()).collect();
            what.push(format!(
                "this file has {} and the set does not",
                quoted(names)
            ));
        }
        return Err(refuse(line, column, what.join("; ")));
    }
    Ok(())
}

/// The values and `when` of each variable, the names being the same.
fn check_values(
    exp: &Experiment,
    m: &Manifest,
    refuse: &dyn Fn(u64, u64, String) -> Error,
) -> Result<()> {
    // A searched variable's values are the probes the search chose, not a space.
    let searched = |name: &str| {
        exp.search
            .as_ref()
            .is_some_and(|s| exp.variables[s.variable].name == name)
            && m.search.as_ref().is_some_and(|s| s.variable == name)
    };
    for e in &exp.variables {
        let Some(v) = m.variables.iter().find(|v| v.name == e.name) else {
            continue;
        };
        if v.values != e.values && !searched(&e.name) {
            return Err(refuse(
                e.loc.line,
                e.loc.column,
                format!(
                    "the values of '{}' are {} in this file and {} in the set",
                    e.name,
                    value_list(&e.values),
                    value_list(&v.values)
                ),
            ));
        }
        if v.when != e.when {
            return Err(refuse(
                e.loc.line,
                e.loc.column,
                format!("the `when` of '{}' differs from the set's", e.name),
            ));
        }
    }
    Ok(())
}

/// Records in the manifest the git commit that `git`, started by `execute`, found.
fn join_git(writer: &mut SetWriter, git: Option<std::thread::JoinHandle<Option<GitInfo>>>) {
    if let Some(g) = git {
        writer.manifest.git = g.join().ok().flatten();
    }
}

impl Prepared {
    fn variable_infos(&self) -> Vec<VariableInfo> {
        self.exp
            .variables
            .iter()
            .map(|v| VariableInfo {
                name: v.name.clone(),
                values: v.values.clone(),
                labels: v.labels.clone(),
                numeric: v.values.all_numbers(),
                geometric: v.geometric,
                constant: v.is_constant(),
                when: v.when.clone(),
                index: Default::default(),
            })
            .collect()
    }

    /// Notes about the input worth showing (keys of the cluster file mpf ignores).
    pub fn notes(&self) -> Vec<String> {
        self.cluster
            .as_ref()
            .map(|c| c.notes.clone())
            .unwrap_or_default()
    }

    fn manifest(&self) -> Manifest {
        let exp = &self.exp;
        Manifest {
            format: crate::store::resultset::FORMAT,
            mpf_version: crate::VERSION.to_string(),
            id: self.id.clone(),
            name: exp.name.clone(),
            description: exp.description.clone(),
            status: SetStatus::Running,
            started: store::now_rfc3339(),
            ended: None,
            seed: exp.seed.clone(),
            order: match exp.order {
                Order::Shuffle => "shuffle".into(),
                Order::Sequential => "sequential".into(),
            },
            runs_per_point: exp.runs,
            planned_runs: self.plan.run_count(),
            variables: self.variable_infos(),
            results: match &self.cluster {
                Some(c) => c.result_infos(exp),
                None => exp.result_infos(),
            },
            hosts: Vec::new(),
            // Filled in by `execute` from `git_info`, run while the set is created and set up.
            git: None,
            synced: Vec::new(),
            experiment_hash: hash_text(&exp.source),
            overrides: self.overrides.clone(),
            runs_ok: 0,
            runs_failed: 0,
            plot: exp.plot.clone(),
            requirements: None,
            adaptive: exp.adaptive.as_ref().map(|a| store::AdaptiveInfo {
                min: a.min,
                max: a.max,
                ci: a.ci.clone(),
                on: a.targets.iter().map(|(n, _)| n.clone()).collect(),
            }),
            points: Vec::new(),
            search: exp.search.as_ref().map(|s| store::SearchInfo {
                variable: exp.variables[s.variable].name.clone(),
                condition: s.condition.clone(),
                goal: s.goal,
                precision: s.precision_text.clone(),
                range: [
                    crate::design::probe_value(s.lo, s.integer),
                    crate::design::probe_value(s.hi, s.integer),
                ],
                confidence: Some(s.confidence_text.clone()),
                runs: {
                    let r = crate::design::Rule::of(exp);
                    Some([r.min, r.max])
                },
            }),
            limits: Vec::new(),
            sessions: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// A human-readable description of the plan, for `--dry-run` and `mpf check`.
    pub fn describe(&self, limit: usize) -> String {
        let exp = &self.exp;
        let plan = &self.plan;
        let mut s = format!("experiment {}", exp.name);
        if !exp.description.is_empty() {
            s.push_str(&format!(": {}", exp.description));
        }
        s.push('\n');
        for v in &exp.variables {
            let vals: Vec<&str> = v.labels.each().collect();
            let shown = if let Some(search) = exp.search.as_ref().filter(|_| vals.is_empty()) {
                format!(
                    "searched in [{}, {}]",
                    crate::model::value_text(&crate::design::probe_value(
                        search.lo,
                        search.integer
                    )),
                    crate::model::value_text(&crate::design::probe_value(
                        search.hi,
                        search.integer
                    ))
                )
            } else if vals.len() > 8 {
                format!(
                    "{} ... {} ({} values)",
                    vals[..4].join(", "),
                    vals[vals.len() - 1],
                    vals.len()
                )
            } else {
                vals.join(", ")
            };
            let when = v
                .when
                .as_ref()
                .map(|w| format!("  when {w}"))
                .unwrap_or_default();
            s.push_str(&format!("  {} = {shown}{when}\n", v.name));
        }
        s.push_str(&crate::runner::profile::describe(exp, plan));
        s.push_str(&self.describe_amount());
        if plan.run_count() == 0 {
            return s;
        }
        let variables = self.variable_infos();
        for r in plan.runs().take(limit) {
            s.push_str(&format!(
                "  run {}  rep {}  {}\n",
                crate::store::layout::RunId(r.index),
                r.repetition,
                store::point_text(&variables, &plan.point(r.point))
            ));
        }
        if plan.run_count() > limit {
            s.push_str(&format!("  ... {} more runs\n", plan.run_count() - limit));
        }
        s
    }

    /// `3 runs each`, or the bounds of adaptive runs.
    fn runs_per_point(&self) -> String {
        let exp = &self.exp;
        match &exp.adaptive {
            Some(a) => format!(
                "{}..{} runs per point (until the 95% CI of {} is within {})",
                a.min,
                a.max,
                a.targets
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.ci
            ),
            None => format!("{} each", crate::words::count(exp.runs, "run")),
        }
    }

    /// How much the plan runs: points and runs, or the bounds of an adaptive design.
    fn describe_amount(&self) -> String {
        let exp = &self.exp;
        let plan = &self.plan;
        let order = match exp.order {
            Order::Shuffle => "shuffled",
            Order::Sequential => "sequential",
        };
        let design = crate::design::Design::new(exp, plan);
        let (min, max) = design.bounds(plan);
        let mut s = match (&exp.search, &exp.adaptive) {
            (Some(search), _) => {
                let bisect = crate::design::Bisect::of(search, crate::design::Rule::of(exp).max);
                format!(
                    "search: the {} {} in [{}, {}] where {} (precision {}): {}, each at most {} probes ({}){}\n",
                    match search.goal {
                        crate::model::Goal::Max => "largest",
                        crate::model::Goal::Min => "smallest",
                    },
                    exp.variables[search.variable].name,
                    crate::model::value_text(&crate::design::probe_value(search.lo, search.integer)),
                    crate::model::value_text(&crate::design::probe_value(search.hi, search.integer)),
                    search.condition,
                    search.precision_text,
                    crate::words::count(plan.groups, "combination"),
                    bisect.worst_case_probes(),
                    if bisect.geometric { "bisection on a log scale" } else { "bisection" },
                    if search.monotonic.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} where a monotonic limit turns out to decrease",
                            bisect.worst_case_probes_monotonic()
                        )
                    },
                )
            }
            (None, _) => format!(
                "{} (of {} in the space), ",
                crate::words::count(plan.point_count(), "point"),
                plan.space_size
            ),
        };
        let per_point = match (&exp.adaptive, exp.search.as_ref()) {
            (_, Some(s)) if s.runs.is_some() => {
                let r = crate::design::Rule::of(exp);
                format!(
                    "{}..{} runs per probe (more while its decision at {} confidence is undecided)",
                    r.min, r.max, s.confidence_text
                )
            }
            _ => self.runs_per_point(),
        };
        let runs = if min == max {
            crate::words::count(min, "run")
        } else {
            format!("{min}..{max} runs")
        };
        if exp.search.is_some() {
            s.push_str(&format!(
                "{per_point}, {runs} in {order} order (seed {:?})\n",
                exp.seed
            ));
            s.push_str("probes are decided as results come in: no run list ahead\n");
        } else {
            s.push_str(&format!(
                "{per_point}, {runs} in {order} order (seed {:?})\n",
                exp.seed
            ));
            if exp.adaptive.is_some() {
                s.push_str(&format!(
                    "first round ({}):\n",
                    crate::words::count(plan.run_count(), "run")
                ));
            }
        }
        s
    }

    /// The machines to run on: the cluster's (connected) or this one for every role.
    pub fn machines(&self) -> Result<Machines> {
        match &self.cluster {
            Some(c) => Machines::from_cluster(
                &crate::runner::profile::first_images(c, &self.exp),
                &self.id,
            ),
            None => Machines::local(&self.exp),
        }
    }

    /// Runs the experiment on `machines`: setup (unless `no_setup`), every remaining run,
    /// then cleanup (also after a cancel). Returns the result-set directory and the summary.
    pub fn execute(
        self,
        machines: &Machines,
        opts: &Options,
        no_setup: bool,
    ) -> Result<(PathBuf, SessionOutcome)> {
        // git (here) runs while the set is created, set up and the machines' facts gathered.
        let mut git = self.resume_dir.is_none().then(|| {
            let path = self.exp.path.clone();
            std::thread::spawn(move || super::deploy::git_info(&path))
        });
        let rt = runtime()?;
        let control = &opts.control;
        let open = || -> Result<(SetWriter, bool)> {
            let mut writer = self.open_writer()?;
            let new_machines = self.record_session(&mut writer, control)?;
            Ok((writer, new_machines))
        };
        // A new set with no setup to run first (setup may be what sets the governor): its
        // machines' facts are gathered while the set is created (1.5 ms of a local run's
        // fixed cost).
        let mut facts = None;
        let (mut writer, new_machines) =
            if self.resume_dir.is_none() && (no_setup || self.exp.setup.is_empty()) {
                let (opened, gathered) = std::thread::scope(|s| {
                    let opening = s.spawn(open);
                    let gathered = rt.block_on(crate::runner::experiment::host_facts(machines));
                    let opened = opening
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    (opened, gathered)
                });
                facts = Some(gathered);
                opened?
            } else {
                open()?
            };
        let id = writer.manifest.id.clone();
        let mut outcome = Ok(SessionOutcome::default());
        if !no_setup && !self.exp.setup.is_empty() {
            let logs = writer.dir().join("setup");
            let setup = crate::runner::setup::run_setup(&self.exp, machines, &id, &logs, control);
            match rt.block_on(setup) {
                Ok(synced) => {
                    writer.manifest.synced = synced;
                    writer.write_manifest()?;
                }
                Err(e) => {
                    let status = match e {
                        Error::Interrupted => SetStatus::Interrupted,
                        _ => SetStatus::Failed,
                    };
                    join_git(&mut writer, git.take());
                    writer.finish(status)?;
                    outcome = Err(e);
                }
            }
        }
        if outcome.is_ok() {
            // The facts after setup (which may be what sets the governor), before any run.
            if writer.manifest.hosts.is_empty() {
                writer.manifest.hosts = match facts.take() {
                    Some(gathered) => gathered,
                    None => rt.block_on(crate::runner::experiment::host_facts(machines)),
                };
            } else if new_machines {
                // Resumed on other machines: each role's hardware against the first session's.
                let now = rt.block_on(crate::runner::experiment::host_facts(machines));
                for w in crate::hosts::hardware_changes(&writer.manifest.hosts, &now) {
                    control.emit(Event::Warning(w));
                }
            }
            join_git(&mut writer, git.take());
            writer.write_manifest()?;
            outcome = self.check_requirements(&rt, machines, &mut writer, opts);
        }
        join_git(&mut writer, git.take());
        if outcome.is_ok() {
            rt.block_on(machines.prepare_roots(&id));
            let run = run_experiment(&self.exp, self.plan, machines, &mut writer, opts);
            outcome = rt.block_on(run);
        }
        let logs = writer.dir().join("cleanup");
        let cleanup = crate::runner::setup::run_cleanup(&self.exp, machines, &id, &logs, control);
        if let Err(e) = rt.block_on(cleanup) {
            control.emit(Event::Warning(e.to_string()));
            if let Ok(s) = &mut outcome {
                s.cleanup_failed = true;
            }
        }
        Ok((writer.dir().to_path_buf(), outcome?))
    }

    /// For a cluster with `hosts:`: stores `cluster.resolved.yaml` and records the session's
    /// machines (and those dropped as unreachable, with a warning). Whether they differ from
    /// the previous session's.
    fn record_session(
        &self,
        writer: &mut SetWriter,
        control: &crate::runner::Control,
    ) -> Result<bool> {
        let Some(r) = &self.resolved else {
            return Ok(false);
        };
        for d in &r.dropped {
            control.emit(Event::Warning(format!(
                "left out as unreachable (unreachable: drop): {d}"
            )));
        }
        let path = writer.dir().join(RESOLVED);
        crate::store::writer::write_atomic(&path, crate::hosts::resolved_yaml(r).as_bytes())?;
        let machines = crate::hosts::session_machines(&r.cluster);
        let sessions = &mut writer.manifest.sessions;
        let changed = sessions.last().is_some_and(|s| s.machines != machines);
        sessions.push(store::SessionInfo {
            started: store::now_rfc3339(),
            source: r.source.clone(),
            allocation: r.allocation.clone(),
            machines,
            dropped: r.dropped.clone(),
        });
        writer.write_manifest()?;
        Ok(changed)
    }

    /// After setup (which may be what sets the governor) and before the first run: the facts
    /// of every machine against `require:`. Unmet, the set ends as failed with exit 2, unless
    /// `no_require`; the manifest records the outcome either way.
    fn check_requirements(
        &self,
        rt: &tokio::runtime::Runtime,
        machines: &Machines,
        writer: &mut SetWriter,
        opts: &Options,
    ) -> Result<SessionOutcome> {
        if self.exp.require.is_empty() {
            return Ok(SessionOutcome::default());
        }
        rt.block_on(crate::runner::experiment::gather_facts(machines, writer))?;
        let unmet = crate::runner::require::unmet(&self.exp.require, &writer.manifest.hosts);
        writer.manifest.requirements = Some(store::Requirements {
            met: unmet.is_empty(),
            unmet: unmet.clone(),
        });
        writer.write_manifest()?;
        if unmet.is_empty() {
            return Ok(SessionOutcome::default());
        }
        let text = crate::runner::require::describe(&unmet);
        if opts.no_require {
            opts.control.emit(Event::Warning(format!(
                "running outside the experiment's requirements (--no-require):\n{text}"
            )));
            return Ok(SessionOutcome::default());
        }
        writer.finish(SetStatus::Failed)?;
        Err(Error::Usage(format!(
            "{}: the machines do not meet the experiment's require:\n{text}\n(fix the machines, or run anyway with --no-require: the set then records it)",
            self.exp.path.display()
        )))
    }

    /// The facts of every machine against the experiment's `require:`, for `mpf check`:
    /// a table, and whether every requirement holds.
    pub fn requirements_table(&self, machines: &Machines) -> Result<(String, bool)> {
        let hosts = runtime()?.block_on(crate::runner::experiment::host_facts(machines));
        let unmet = crate::runner::require::unmet(&self.exp.require, &hosts);
        Ok((
            crate::runner::require::table(&self.exp.require, &hosts),
            unmet.is_empty(),
        ))
    }

    /// The result set to write: the resumed one, reopened (and locked), or a new one.
    fn open_writer(&self) -> Result<SetWriter> {
        match (&self.resume_dir, &self.resume_manifest) {
            (Some(dir), Some(m)) => {
                let mut m = m.clone();
                let changed = m.experiment_hash != hash_text(&self.exp.source);
                m.experiment_hash = hash_text(&self.exp.source);
                if changed {
                    // The same variables and values (checked in `prepare`): labels may differ.
                    m.variables = self.variable_infos();
                }
                m.planned_runs = self.plan.run_count();
                // Reopened (and locked) before anything in the set changes.
                let w = SetWriter::reopen(dir, m)?;
                if changed {
                    // --force: the set now describes the experiment it continues with.
                    let path = dir.join(crate::store::layout::EXPERIMENT);
                    crate::store::writer::write_atomic(&path, self.exp.source.as_bytes())?;
                }
                Ok(w)
            }
            _ => {
                let root = self.results_root.clone();
                let cluster = self.cluster.as_ref().map(|c| c.source.as_str());
                SetWriter::create(&root, self.manifest(), &self.exp.source, cluster)
            }
        }
    }
}

/// Runs `true` on a machine: milliseconds since `started`, or why it failed.
async fn probe(
    t: Arc<dyn Transport>,
    started: std::time::Instant,
) -> std::result::Result<f64, String> {
    let mut p = t.spawn("true", &[], &[]).await.map_err(|e| e.to_string())?;
    let code = tokio::time::timeout(std::time::Duration::from_secs(15), p.wait()).await;
    t.stop_group(p.pgid, std::time::Duration::ZERO).await;
    match code {
        Ok(Some(0)) => Ok(started.elapsed().as_secs_f64() * 1e3),
        Ok(c) => Err(format!("`true` exited with {c:?}")),
        Err(_) => Err("no answer within 15 s".into()),
    }
}

/// Connectivity of every machine the experiment uses: connects to each and runs `true`.
/// Every machine is reported, reachable or not; machines unreachable for the same reason are
/// reported on one line (`machines n[3-60] (roles r): NOT reachable: ...`).
pub fn check_machines(exp: &Experiment, cluster: Option<&Cluster>) -> Result<String> {
    let rt = runtime()?;
    let mut out = String::new();
    // (error, roles) of each machine not reached.
    let mut failed: Vec<(MachineError, String)> = Vec::new();
    let mut line =
        |error: MachineError, roles: String, res: std::result::Result<f64, String>| match res {
            Ok(ms) => out.push_str(&format!(
                "machine {} (roles {roles}): reachable in {ms:.1} ms\n",
                error.names[0]
            )),
            Err(e) => failed.push((MachineError { text: e, ..error }, roles)),
        };
    match cluster {
        None => {
            let machines = Machines::local(exp)?;
            for (t, roles) in machines.machines() {
                let name = t.name().to_string();
                let res = rt.block_on(probe(t, std::time::Instant::now()));
                line(MachineError::new(&name, ""), roles.join(", "), res);
            }
        }
        Some(c) => {
            crate::machines::open_files::raise_for(c)?;
            // Every machine connected and probed at once (`fanout` at a time): checking 16
            // costs about one.
            let started = std::time::Instant::now();
            let results = rt.block_on(async {
                let set = new_id("check", std::time::SystemTime::now());
                // A container whose image names the profile's variable: the first block's.
                let c = &crate::runner::profile::first_images(c, exp);
                let transports = crate::machines::connect_all(c, &set).await;
                let probes = transports.into_iter().map(|t| async move {
                    // Each connection is closed after all probes (closing blocks).
                    match t {
                        Ok(t) => (probe(t.clone(), started).await, Some(t)),
                        Err(e) => (Err(e.to_string()), None),
                    }
                });
                crate::machines::fanout::Fanout::new(c.fanout)
                    .all(probes)
                    .await
            });
            let mut connections = Vec::new();
            for (m, (res, connection)) in c.machines.iter().zip(results) {
                let roles: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
                let error = crate::machines::machine_error(m, String::new());
                line(error, roles.join(", "), res);
                connections.extend(connection);
            }
            crate::machines::disconnect_all(&connections, c.fanout);
        }
    }
    if failed.is_empty() {
        return Ok(out);
    }
    let errors: Vec<MachineError> = failed.iter().map(|(e, _)| e.clone()).collect();
    for group in crate::machines::fold::fold(&errors) {
        let mut roles: Vec<&str> = Vec::new();
        for (e, r) in &failed {
            if group.machines.contains(&e.names[0]) && !roles.contains(&r.as_str()) {
                roles.push(r);
            }
        }
        let (what, machines) = match group.machines.as_slice() {
            [one] => ("machine", one.clone()),
            many => ("machines", crate::machines::fold::hostlist(many)),
        };
        out.push_str(&format!(
            "{what} {machines} (roles {}): NOT reachable: {}\n",
            roles.join("; "),
            group.text
        ));
    }
    let names: Vec<String> = errors.iter().map(|e| e.names[0].clone()).collect();
    Err(Error::Unreachable(format!(
        "{out}unreachable: {}",
        crate::machines::fold::hostlist(&names)
    )))
}

/// `mpf deploy`: only the setup section. Logs go to `<results>/deploys/<name>-<time>-<xxxx>/`
/// with a `deploy.json` that records what was synced (and at which commit).
pub fn deploy(
    experiment: &Path,
    cluster: Option<&Path>,
    results_root: &Path,
    control: &crate::runner::Control,
) -> Result<PathBuf> {
    let prepared = prepare(&RunRequest {
        experiment: Some(experiment.to_path_buf()),
        cluster: cluster.map(Path::to_path_buf),
        results_root: results_root.to_path_buf(),
        ..Default::default()
    })?;
    let exp = &prepared.exp;
    if exp.setup.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the experiment has no setup section to deploy",
            experiment.display()
        )));
    }
    let machines = prepared.machines()?;
    let first = new_id(&exp.name, std::time::SystemTime::now());
    let (id, dir) =
        crate::store::writer::create_unique_dir(&results_root.join("deploys"), &exp.name, first)?;
    let rt = runtime()?;
    let started = std::time::Instant::now();
    let synced = rt.block_on(crate::runner::setup::run_setup(
        exp, &machines, &id, &dir, control,
    ))?;
    let record = serde_json::json!({
        "id": id,
        "experiment": exp.path,
        "finished": store::now_rfc3339(),
        "seconds": started.elapsed().as_secs_f64(),
        "synced": synced,
    });
    crate::store::writer::write_atomic(
        &dir.join("deploy.json"),
        serde_json::to_string_pretty(&record)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(dir)
}
