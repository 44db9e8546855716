//! The experiment loop: facts, the design's rounds (each skipping the runs a resumed journal
//! already holds), retries, `on_failure`, the early stop, cancellation, and the final status.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::task::JoinSet;

use serde_json::Value;

use crate::design::{Design, Next, Outcome};
use crate::error::{Error, Result};
use crate::facts;
use crate::machines::Machines;
use crate::plan::{Plan, PlannedRun, RunList};
use crate::runner::events::{Control, Event, Failure, FailureKind};
use crate::runner::run::{RunEnv, RunOutcome};
use crate::spec::{Experiment, OnFailure};
use crate::store::kept::Kept;
use crate::store::layout::RunId;
use crate::store::writer::SetWriter;
use crate::store::{
    now_rfc3339, run_results, Manifest, PointValue, ResultInfo, RunRecord, RunStatus, SetStatus,
    VariableInfo,
};

/// How many failed runs, all failing the same way, stop a set that has no successful run yet.
pub const EARLY_STOP_RUNS: usize = 3;

#[derive(Clone, Default)]
pub struct Options {
    pub control: Control,
    /// Run every planned run even when the first ones all fail the same way.
    pub keep_going: bool,
    /// Run even when a machine does not meet the experiment's `require:` (the manifest
    /// records it).
    pub no_require: bool,
    /// The end of the allocation: no run starts that is not expected to finish before it.
    pub deadline: Option<crate::runner::deadline::Deadline>,
}

/// How a session of `mpf run` ended: counts of runs and why it stopped. Not to be confused with
/// `analyze::stats::Summary`, the descriptive statistics of a sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOutcome {
    /// Runs of this session.
    pub ok: usize,
    pub failed: usize,
    /// Runs of the whole result set (a resumed set includes earlier sessions).
    pub set_ok: usize,
    pub set_failed: usize,
    pub skipped: usize,
    pub interrupted: bool,
    /// Stopped by `on_failure: stop`.
    pub stopped: bool,
    /// Stopped because the first runs all failed the same way: that error.
    pub early_stop: Option<String>,
    /// A cleanup entry failed (reported as a warning; the runs are recorded).
    pub cleanup_failed: bool,
    /// Machines that stopped answering during a run of this session (exit 4).
    pub machines_lost: Vec<String>,
    /// Stopped before the allocation's end: the set is `incomplete` (exit 75).
    pub deadline: Option<crate::runner::deadline::DeadlineStop>,
}

/// Describes a result first seen in a run: a per-role result (`goodput.server`) takes the unit
/// and direction of its extractor; `<step>.duration` is seconds, lower is better; an
/// undeclared `mpf-result` is unitless, higher is better.
fn result_info(exp: &Experiment, name: &str, series: bool) -> ResultInfo {
    if let Some(i) = crate::monitor::result_info(name) {
        return i;
    }
    let infos = exp.result_infos();
    let exact = infos.iter().find(|i| i.name == name).or_else(|| {
        // A declared result (or statistic) with a role suffix: `lat.p99.client`.
        let (head, _) = name.rsplit_once('.')?;
        infos.iter().find(|i| i.name == head)
    });
    if let Some(i) = exact {
        return ResultInfo {
            name: name.to_string(),
            series,
            ..i.clone()
        };
    }
    let declared = exp.steps.iter().flat_map(|s| &s.results).find(|e| {
        name.strip_prefix(e.name.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    });
    let (unit, better) = match declared {
        Some(e) => (e.unit.clone().unwrap_or_default(), e.better),
        None if name.ends_with(".duration") => ("s".to_string(), crate::store::Better::Lower),
        None => (String::new(), crate::store::Better::Higher),
    };
    ResultInfo {
        name: name.to_string(),
        unit,
        better,
        series,
    }
}

/// Describes in `infos` every result of `results` it doesn't describe yet.
pub(crate) fn add_result_infos(
    exp: &Experiment,
    infos: &mut Vec<ResultInfo>,
    results: &serde_json::Map<String, serde_json::Value>,
) {
    for (name, v) in results {
        if !infos.iter().any(|r| &r.name == name) {
            infos.push(result_info(exp, name, v.is_array()));
        }
    }
}

/// Host facts of every machine, gathered concurrently, once per set.
pub(crate) async fn gather_facts(machines: &Machines, writer: &mut SetWriter) -> Result<()> {
    if !writer.manifest.hosts.is_empty() {
        return Ok(());
    }
    writer.manifest.hosts = host_facts(machines).await;
    writer.write_manifest()
}

/// The facts of every machine (with the interfaces the cluster names for it), gathered
/// concurrently (`fanout` at a time), by machine name.
pub(crate) async fn host_facts(machines: &Machines) -> Vec<crate::store::HostFacts> {
    let mut set = JoinSet::new();
    let fanout = crate::machines::fanout::Fanout::new(machines.fanout);
    for (t, roles) in machines.machines() {
        let t = Arc::clone(&t);
        let ifaces = machines.interfaces_of(&t);
        set.spawn(
            fanout
                .clone()
                .run_owned(async move { facts::gather(t.as_ref(), roles, &ifaces).await }),
        );
    }
    let mut hosts = Vec::new();
    while let Some(Ok(f)) = set.join_next().await {
        hosts.push(f);
    }
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    hosts
}

/// `runs` with a fresh index for each whose index an earlier session used for another run (a
/// plan changed with `--force`).
fn fresh_indices(mut runs: RunList, kept: &Kept, planned: usize) -> RunList {
    if kept.is_empty() {
        return runs;
    }
    let used: HashSet<usize> = kept.indices().collect();
    let mut next_free = used.iter().max().map_or(0, |m| m + 1).max(planned);
    for i in 0..runs.len() {
        if runs.get(i).is_some_and(|r| used.contains(&r.index)) {
            runs.set_index(i, next_free);
            next_free += 1;
        }
    }
    runs
}

/// The shape of an error with its numbers blanked, so that `run 0003: port 5201 ...` and
/// `run 0004: port 5202 ...` count as failing the same way.
fn failure_shape(error: &str) -> String {
    let mut out = String::with_capacity(error.len());
    let mut in_number = false;
    for c in error.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Watches the first runs of a set that has no successful run: when `EARLY_STOP_RUNS` of them
/// all fail the same way, a typo is costing every run, and the set stops.
struct EarlyStop {
    armed: bool,
    shape: Option<String>,
    seen: usize,
}

impl EarlyStop {
    fn new(keep_going: bool, set_ok: usize) -> Self {
        EarlyStop {
            armed: !keep_going && set_ok == 0,
            shape: None,
            seen: 0,
        }
    }

    /// Observes a recorded run; true when the set should stop now.
    fn observe(&mut self, status: RunStatus, error: Option<&str>) -> bool {
        if !self.armed {
            return false;
        }
        let shape = failure_shape(error.unwrap_or(""));
        if status == RunStatus::Ok || self.shape.as_ref().is_some_and(|s| *s != shape) {
            self.armed = false;
            return false;
        }
        self.shape = Some(shape);
        self.seen += 1;
        self.seen >= EARLY_STOP_RUNS
    }
}

/// Runs one planned run, with its retries; `None` when it was interrupted (never recorded:
/// `--resume` runs it again).
async fn attempt(
    env: &RunEnv<'_>,
    run: &PlannedRun,
    retries: u32,
    control: &Control,
) -> Option<(RunOutcome, u32)> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let o = env.execute(run).await;
        if o.interrupted {
            return None;
        }
        if o.status == RunStatus::Ok
            || o.storage_error.is_some()
            || o.input_error.is_some()
            || attempts > retries
        {
            return Some((o, attempts));
        }
        control.emit(Event::Retrying {
            index: run.index,
            attempt: attempts as usize,
            failure: o
                .failure
                .unwrap_or_else(|| Failure::new(FailureKind::Prepare, "")),
        });
    }
}

/// Why the loop over the rounds stops before the design is done.
enum Flow {
    Continue,
    Stop,
}

/// What the loop carries from run to run.
struct Progress {
    summary: SessionOutcome,
    early: EarlyStop,
    deadline: Option<crate::runner::deadline::Deadline>,
    /// How long runs took, for the time limit.
    estimates: crate::runner::deadline::Estimates,
    /// `runs: {warmup: N}`: the discarded runs each point still needs.
    warmups: crate::runner::warmup::Warmups,
    /// No round has started yet in this session.
    first: bool,
    /// Warnings already shown.
    warned: HashSet<String>,
    /// Runs go to the manifest's last block (a profile's).
    in_block: bool,
}

/// The design's rounds over the points `keep` accepts (all of them, or a profile's block).
struct Rounds<'a> {
    design: &'a Design,
    plan: &'a mut Plan,
    keep: &'a dyn Fn(&Plan, usize) -> bool,
    /// Runs recorded before this session.
    already: usize,
}

impl Rounds<'_> {
    /// The next round of the kept points, announced; `None` when they are done.
    fn next(
        &mut self,
        control: &Control,
        writer: &SetWriter,
        progress: &mut Progress,
    ) -> Option<RunList> {
        let next = self
            .design
            .next_where(self.plan, writer.kept(), self.keep)?;
        if next.runs.is_empty() {
            return None; // a round is only chosen for a missing run; never spin
        }
        if progress.first {
            announce(control, &next, self.already);
            progress.first = false;
        }
        control.emit(Event::Round {
            // In a block, a later block's first round plans fewer runs than ran already.
            total: next.planned.max(writer.kept().len() + next.runs.len()),
            status: next.status.clone(),
        });
        for w in next.warnings.iter() {
            if progress.warned.insert(w.to_string()) {
                control.emit(Event::Warning(w.clone()));
            }
        }
        Some(fresh_indices(next.runs, writer.kept(), next.planned))
    }

    /// Runs rounds until the kept points are done or the set stops.
    async fn run(
        &mut self,
        exp: &Experiment,
        machines: &Machines,
        writer: &mut SetWriter,
        control: &Control,
        progress: &mut Progress,
    ) -> Result<Flow> {
        loop {
            if control.cancel.is_cancelled() {
                progress.summary.interrupted = true;
                return Ok(Flow::Stop);
            }
            let Some(todo) = self.next(control, writer, progress) else {
                return Ok(Flow::Continue);
            };
            if let Flow::Stop =
                run_round(exp, self.plan, machines, writer, control, &todo, progress).await?
            {
                return Ok(Flow::Stop);
            }
        }
    }

    /// Records every run the design asks of the kept points as failed with `error` (a
    /// failed switch), without running them; the early stop does not count them.
    fn fail(
        &mut self,
        exp: &Experiment,
        writer: &mut SetWriter,
        control: &Control,
        progress: &mut Progress,
        error: &str,
    ) -> Result<Flow> {
        while let Some(todo) = self.next(control, writer, progress) {
            for run in todo.iter() {
                let now = now_rfc3339();
                let record = RunRecord {
                    index: run.index,
                    point_index: run.point,
                    point: self.plan.point(run.point),
                    repetition: run.repetition,
                    status: RunStatus::Failed,
                    attempts: 0,
                    results: Default::default(),
                    steps: Vec::new(),
                    started: now.clone(),
                    ended: now,
                    error: Some(error.to_string()),
                    notes: Vec::new(),
                    warmup_dropped: Default::default(),
                    extraction_failed: false,
                };
                let failure = Failure::new(FailureKind::Switch, error);
                let early = std::mem::replace(&mut progress.early, EarlyStop::new(true, 0));
                let shown = shown_point(self.plan, run.point, &writer.manifest.variables);
                let flow = record_run(exp, writer, control, record, shown, Some(failure), progress);
                progress.early = early;
                if let Flow::Stop = flow? {
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// A profile's blocks in turn (SPEC §18.1): a block the journal completes is skipped; any
/// other is switched to, its rounds run (or, when the switch failed, its runs recorded as
/// failed), and reverted, also when the set stops in it.
async fn run_blocks(
    exp: &Experiment,
    design: &Design,
    plan: &mut Plan,
    machines: &Machines,
    writer: &mut SetWriter,
    opts: &Options,
    progress: &mut Progress,
) -> Result<Flow> {
    let control = &opts.control;
    let already = writer.kept().len();
    let blocks = crate::runner::profile::blocks(exp);
    // mpf was killed in a block before its revert, and nothing of it is left to run: the
    // revert is still owed.
    let owed = writer
        .manifest
        .blocks
        .last()
        .filter(|b| b.reverted_at.is_none())
        .and_then(|last| blocks.iter().find(|b| b.value == last.value));
    if let Some(block) = owed {
        let keep =
            |plan: &Plan, point: usize| crate::runner::profile::in_block(exp, block, plan, point);
        if design.next_where(plan, writer.kept(), &keep).is_none() {
            crate::runner::profile::leave_block(exp, machines, writer, control, block).await?;
        }
    }
    for block in &blocks {
        if control.cancel.is_cancelled() {
            progress.summary.interrupted = true;
            return Ok(Flow::Stop);
        }
        let keep =
            |plan: &Plan, point: usize| crate::runner::profile::in_block(exp, block, plan, point);
        if design.next_where(plan, writer.kept(), &keep).is_none() {
            continue; // done in an earlier session, or no run has this value
        }
        let mut rounds = Rounds {
            design,
            plan: &mut *plan,
            keep: &keep,
            already,
        };
        let entered =
            crate::runner::profile::enter_block(exp, machines, writer, control, block).await;
        progress.in_block = true;
        let flow = match entered {
            Ok(Ok(())) => rounds.run(exp, machines, writer, control, progress).await,
            Ok(Err(error)) => rounds.fail(exp, writer, control, progress, &error),
            Err(Error::Interrupted) => {
                progress.summary.interrupted = true;
                Ok(Flow::Stop)
            }
            Err(e) => Err(e),
        };
        progress.in_block = false;
        let left = crate::runner::profile::leave_block(exp, machines, writer, control, block).await;
        if let Flow::Stop = flow? {
            left?;
            return Ok(Flow::Stop);
        }
        left?;
    }
    Ok(Flow::Continue)
}

/// Runs the design's rounds until it asks for nothing more, appending each run to `writer`
/// as it finishes; then records the design's outcome (points, limits) in the manifest.
pub(crate) async fn run_experiment(
    exp: &Experiment,
    mut plan: Plan,
    machines: &Machines,
    writer: &mut SetWriter,
    opts: &Options,
) -> Result<SessionOutcome> {
    let control = &opts.control;
    gather_facts(machines, writer).await?;
    // A resumed set: its runs kept at the plan's points (found from their values, as an
    // earlier session numbered its points, a search's probes in the order it found them),
    // and the results first seen in runs that a lost manifest write (a kill) never described.
    if writer.manifest.runs_ok + writer.manifest.runs_failed > 0 {
        let journal = writer.dir().join(crate::store::layout::JOURNAL);
        let finder = crate::plan::PointFinder::new(&plan, exp.search.as_ref().map(|s| s.variable));
        let mut kept = Kept::default();
        let infos = &mut writer.manifest.results;
        crate::store::resultset::for_each_record(&journal, |r| {
            add_result_infos(exp, infos, &r.results);
            kept.push(&r, finder.find(&mut plan, &r.point));
            Ok(())
        })?;
        writer.keep(kept);
    }
    // The plan is the session's own (a search adds its probes to it): not a copy, which a
    // sweep of 10^5 points would pay 10 MB for.
    let design = Design::new(exp, &plan);
    let already = writer.kept().len();
    writer.reserve(plan.run_count().saturating_sub(already), design.decides());
    let mut progress = Progress {
        summary: SessionOutcome {
            skipped: already,
            ..Default::default()
        },
        early: EarlyStop::new(opts.keep_going, writer.manifest.runs_ok),
        deadline: opts.deadline.clone(),
        estimates: match opts.deadline {
            Some(_) => crate::runner::deadline::Estimates::from_journal(
                &writer.dir().join(crate::store::layout::JOURNAL),
            )?,
            None => Default::default(),
        },
        warmups: crate::runner::warmup::Warmups::load(writer.dir(), exp.warmup)?,
        first: true,
        warned: HashSet::new(),
        in_block: false,
    };
    if let Some(d) = &progress.deadline {
        control.emit(Event::Note(d.describe(std::time::SystemTime::now())));
    }
    let flow = if exp.profile.is_some() {
        run_blocks(
            exp,
            &design,
            &mut plan,
            machines,
            writer,
            opts,
            &mut progress,
        )
        .await
    } else {
        let all = |_: &Plan, _: usize| true;
        let mut rounds = Rounds {
            design: &design,
            plan: &mut plan,
            keep: &all,
            already,
        };
        rounds
            .run(exp, machines, writer, control, &mut progress)
            .await
    };
    flow?;
    if progress.first {
        announce_done(control, already);
    }
    let mut warned = std::mem::take(&mut progress.warned);
    let mut summary = progress.summary;
    record_outcome(&design, &mut plan, writer, control, &mut warned);
    control.emit(Event::Finished);
    let status = if summary.interrupted {
        SetStatus::Interrupted
    } else if summary.stopped || summary.early_stop.is_some() {
        SetStatus::Failed
    } else if summary.deadline.is_some() {
        SetStatus::Incomplete
    } else {
        SetStatus::Complete
    };
    writer.finish(status)?;
    summary.set_ok = writer.manifest.runs_ok;
    summary.set_failed = writer.manifest.runs_failed;
    Ok(summary)
}

fn announce(control: &Control, next: &Next, already: usize) {
    control.emit(Event::Started {
        total: next.planned.max(already + next.runs.len()),
        already,
    });
    if already > 0 {
        control.emit(Event::Note(format!(
            "resuming: {} already recorded, {} to go in this round",
            crate::words::count(already, "run"),
            next.runs.len()
        )));
    }
}

fn announce_done(control: &Control, already: usize) {
    control.emit(Event::Started {
        total: already,
        already,
    });
}

/// Writes into the manifest what the design found (per point runs, limits, the probed values
/// of the searched variable) and reports the limits.
fn record_outcome(
    design: &Design,
    plan: &mut Plan,
    writer: &mut SetWriter,
    control: &Control,
    warned: &mut HashSet<String>,
) {
    let outcome = design.outcome(plan, writer.kept());
    // The last round's conditions are judged after it ran: their notes come here.
    for w in outcome
        .warnings
        .iter()
        .filter(|w| warned.insert(w.to_string()))
    {
        control.emit(Event::Warning(w.clone()));
    }
    writer.manifest.planned_runs = writer.kept().len().max(writer.manifest.planned_runs);
    let probed = probed_values(&writer.manifest, writer.kept(), plan);
    apply_outcome(&mut writer.manifest, probed, outcome);
    if let Some(search) = &writer.manifest.search {
        control.emit(Event::Limits {
            variable: search.variable.clone(),
            limits: writer.manifest.limits.clone(),
        });
    }
}

/// The values a search probed, in order (empty without a search).
pub(crate) fn probed_values(manifest: &Manifest, kept: &Kept, plan: &Plan) -> Vec<Value> {
    let Some(search) = &manifest.search else {
        return Vec::new();
    };
    let Some(var) = plan
        .variables
        .iter()
        .position(|v| v.name == search.variable)
    else {
        return Vec::new();
    };
    let mut probed: Vec<Value> = kept
        .points()
        .filter_map(|p| {
            let c = *plan.point_cells(p).get(var)?;
            plan.variables[var].values.get(c as usize)
        })
        .collect();
    probed.sort_by(|a, b| {
        let x = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        x(a).total_cmp(&x(b))
    });
    probed.dedup();
    probed
}

/// Records a design's outcome in the manifest: per point its runs, the limits, and the probed
/// values as the searched variable's values.
pub(crate) fn apply_outcome(manifest: &mut Manifest, probed: Vec<Value>, outcome: Outcome) {
    manifest.points = outcome.points;
    let Some(search) = &manifest.search else {
        return;
    };
    let variable = search.variable.clone();
    if let Some(v) = manifest.variables.iter_mut().find(|v| v.name == variable) {
        v.labels = probed.iter().map(crate::model::value_text).collect();
        v.values = probed.into();
        v.numeric = true;
    }
    manifest.limits = outcome.limits;
}

/// Runs one round's runs in order.
async fn run_round(
    exp: &Experiment,
    plan: &Plan,
    machines: &Machines,
    writer: &mut SetWriter,
    control: &Control,
    todo: &RunList,
    progress: &mut Progress,
) -> Result<Flow> {
    let (roles_ctx, links_ctx) = machines.context();
    let set_dir = writer.dir().to_path_buf();
    let set_id = writer.manifest.id.clone();
    // Declared before `env`, which borrows it.
    let ahead;
    let mut env = RunEnv {
        exp,
        plan,
        machines,
        set_id: &set_id,
        set_dir: &set_dir,
        roles_ctx,
        links_ctx,
        cancel: control.cancel.subscribe(),
        ahead: None,
        taken: Default::default(),
    };
    // Made ahead only with a run to come after the first, and when every run makes the same
    // directories.
    let local_dirs = (todo.len() > 1)
        .then(|| env.local_dirs_of_every_run())
        .flatten();
    ahead = local_dirs
        .as_ref()
        .map(|_| crate::runner::ahead::DirsAhead::start());
    env.ahead = ahead.as_ref();
    for (k, run) in todo.iter().enumerate() {
        let run = &run;
        if let (Some(ahead), Some(labels)) = (env.ahead, &local_dirs) {
            let next = todo.iter().skip(k + 1).take(crate::runner::ahead::AHEAD);
            ahead.stage(
                next.map(|r| {
                    let dir = crate::store::layout::run_dir(&set_dir, r.index);
                    let subdirs = labels.iter().map(|l| dir.join(l)).collect();
                    (dir, subdirs)
                })
                .collect(),
            );
        }
        if control.cancel.is_cancelled() {
            progress.summary.interrupted = true;
            return Ok(Flow::Stop);
        }
        let point = plan.point(run.point);
        if let Some(stop) = time_is_up(progress, &point) {
            progress.summary.deadline = Some(stop);
            return Ok(Flow::Stop);
        }
        let variables = &writer.manifest.variables;
        if !(progress.warmups)
            .before(&env, run, &point, variables, control)
            .await?
        {
            progress.summary.interrupted = true;
            return Ok(Flow::Stop);
        }
        let started = now_rfc3339();
        let clock = std::time::Instant::now();
        let Some((outcome, attempts)) = attempt(&env, run, exp.retries, control).await else {
            progress.summary.interrupted = true;
            return Ok(Flow::Stop);
        };
        if outcome.status == RunStatus::Failed {
            if let Some(why) = machines.allocation_ended() {
                // The end of the allocation failed the run, not the run itself: it is not
                // recorded, so that `--resume` in another allocation runs it. The set is
                // `incomplete`, as when mpf stops before the end of the allocation itself.
                control.emit(Event::Finished);
                let _ = writer.finish(SetStatus::Incomplete);
                return Err(crate::error::Error::AllocationEnded(format!(
                    "{why}: run {} and the runs after it were not recorded; continue the set in a new allocation with `mpf run --resume {set_id} -c CLUSTER` (a cluster file of the new job)",
                    RunId(run.index)
                )));
            }
        }
        if let Some(e) = outcome.storage_error {
            // The set can't hold this run (a full disk): it isn't recorded, so that
            // `--resume` runs it again once there is room.
            control.emit(Event::Finished);
            let _ = writer.finish(SetStatus::Failed);
            return Err(crate::error::Error::Runtime(e));
        }
        if let Some((location, message)) = outcome.input_error {
            // The experiment cannot run at this point (a count beyond its role): nothing of
            // the run happened, nothing is recorded, and the set's other runs stay.
            control.emit(Event::Finished);
            let _ = writer.finish(SetStatus::Failed);
            return Err(crate::error::Error::Input { location, message });
        }
        add_result_infos(exp, &mut writer.manifest.results, &outcome.results);
        for n in &outcome.notes {
            // Warned as well as recorded, so that a refused name doesn't go unnoticed.
            control.emit(Event::Warning(format!("run {}: {n}", RunId(run.index))));
        }
        if progress.deadline.is_some() {
            let key = crate::runner::deadline::point_key(&point);
            progress.estimates.observe(&key, clock.elapsed());
        }
        let failure = outcome.failure.clone();
        let record = crate::runner::warmup::record(run, point, outcome, attempts, started);
        let shown = shown_point(plan, run.point, &writer.manifest.variables);
        if let Flow::Stop = record_run(exp, writer, control, record, shown, failure, progress)? {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Whether the next run, at `point`, must wait for the next session: it is not expected to
/// finish before the allocation's end. A Slurm job's end is read again first, in case its limit
/// was extended.
fn time_is_up(
    progress: &mut Progress,
    point: &serde_json::Map<String, Value>,
) -> Option<crate::runner::deadline::DeadlineStop> {
    let deadline = progress.deadline.as_mut()?;
    let expected = progress
        .estimates
        .expected(&crate::runner::deadline::point_key(point));
    let now = std::time::SystemTime::now();
    deadline.refuses(now, expected)?;
    if deadline.refresh() {
        deadline.refuses(std::time::SystemTime::now(), expected)
    } else {
        deadline.refuses(now, expected)
    }
}

/// The swept values of a plan's point with their labels, as a finished run's event shows
/// them: read from the plan's cells, so that no index of every value by its text is built
/// (the manifest's `label_of` would, 20 bytes a value of a sweep). `variables`, the
/// manifest's, in the plan's order, say which are constant (a searched variable is not,
/// whatever its probes).
fn shown_point(plan: &Plan, point: usize, variables: &[VariableInfo]) -> Vec<PointValue> {
    plan.variables
        .iter()
        .zip(plan.point_cells(point))
        .zip(variables)
        .filter(|(_, info)| !info.constant)
        .filter_map(|((v, &c), _)| {
            Some(PointValue {
                name: v.name.clone(),
                label: v.labels.get(c as usize)?.to_string(),
                value: v.values.get(c as usize)?,
            })
        })
        .collect()
}

/// Reports and appends a finished run (its point shown as `shown`); `Stop` when
/// `on_failure: stop` or the early stop say so.
fn record_run(
    exp: &Experiment,
    writer: &mut SetWriter,
    control: &Control,
    record: RunRecord,
    shown: Vec<PointValue>,
    failure: Option<Failure>,
    progress: &mut Progress,
) -> Result<Flow> {
    if let Some(FailureKind::MachineLost { machine }) = failure.as_ref().map(|f| &f.kind) {
        if !progress.summary.machines_lost.contains(machine) {
            progress.summary.machines_lost.push(machine.clone());
        }
    }
    control.emit(Event::RunFinished {
        index: record.index,
        point: shown,
        status: record.status,
        results: run_results(&record.results, &writer.manifest.results),
        failure,
    });
    let failed = record.status == RunStatus::Failed;
    let stop_early = progress
        .early
        .observe(record.status, record.error.as_deref());
    let error = record.error.clone();
    if progress.in_block {
        if let Some(b) = writer.manifest.blocks.last_mut() {
            b.add_run(record.index);
        }
    }
    writer.append(record)?;
    let summary = &mut progress.summary;
    if failed {
        summary.failed += 1;
    } else {
        summary.ok += 1;
    }
    if failed && exp.on_failure == OnFailure::Stop {
        summary.stopped = true;
        return Ok(Flow::Stop);
    }
    if stop_early {
        summary.early_stop = Some(error.unwrap_or_default());
        return Ok(Flow::Stop);
    }
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_differing_only_in_numbers_have_one_shape() {
        assert_eq!(
            failure_shape("run 0003: port 5201 refused"),
            failure_shape("run 0012: port 5202 refused")
        );
        assert_ne!(failure_shape("no such file"), failure_shape("timed out"));
    }

    #[test]
    fn early_stop_after_identical_failures_only() {
        let mut e = EarlyStop::new(false, 0);
        assert!(!e.observe(RunStatus::Failed, Some("sh: gzp: not found")));
        assert!(!e.observe(RunStatus::Failed, Some("sh: gzp: not found")));
        assert!(e.observe(RunStatus::Failed, Some("sh: gzp: not found")));

        let mut e = EarlyStop::new(false, 0);
        assert!(!e.observe(RunStatus::Failed, Some("a")));
        assert!(!e.observe(RunStatus::Ok, None));
        assert!(!e.observe(RunStatus::Failed, Some("a")));
        assert!(!e.observe(RunStatus::Failed, Some("a")));
        assert!(
            !e.observe(RunStatus::Failed, Some("a")),
            "disarmed by a success"
        );

        let mut e = EarlyStop::new(false, 0);
        assert!(!e.observe(RunStatus::Failed, Some("a")));
        assert!(!e.observe(RunStatus::Failed, Some("b")));
        assert!(!e.observe(RunStatus::Failed, Some("b")));
        assert!(
            !e.observe(RunStatus::Failed, Some("b")),
            "different failures: a real problem mix"
        );

        let mut e = EarlyStop::new(true, 0);
        for _ in 0..5 {
            assert!(!e.observe(RunStatus::Failed, Some("a")), "--keep-going");
        }
        let mut e = EarlyStop::new(false, 4);
        for _ in 0..5 {
            assert!(
                !e.observe(RunStatus::Failed, Some("a")),
                "the set already has ok runs"
            );
        }
    }
}
