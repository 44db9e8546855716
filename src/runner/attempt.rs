//! One attempt of a run, as phases with names: `prepare` (roles, directories, monitor,
//! files), `steps`, `stop` (background steps and leftovers), `teardown`, `collect` (remote run
//! directories), `record` (logs, step records, results). The attempt owns what the phases
//! share (the failure so far, the notes, the live processes), and the steps and the teardown
//! go through one loop, `run_phase`, which differs only in what a problem does: a step's
//! fails the run and ends the phase, a teardown step's becomes a note and the teardown goes
//! on. Unit-tested through the mock transport (`exec::mock`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::exec::Transport;
use crate::extract;
use crate::plan::PlannedRun;
use crate::runner::events::{Failure, FailureKind};
use crate::runner::run::{
    cancelled, deadline, machine_failure, stop_all, stream_name, Done, RunEnv, RunOutcome, Started,
};
use crate::spec::Step;
use crate::store::layout::run_dir;
use crate::store::{RunStatus, StepRecord};

/// The two lists of steps a run goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `steps:`: a problem fails the run and ends the phase; an interruption ends it.
    Steps,
    /// `teardown:`: runs after every run, passed, failed or interrupted; a problem is a note.
    Teardown,
}

/// A process group started by a phase, to be stopped when the phase is over.
type Group = (Arc<dyn Transport>, i32);

pub(crate) struct Attempt<'r, 'a> {
    env: &'r RunEnv<'a>,
    run: &'r PlannedRun,
    /// The origin of the run's time axis (step starts, monitor.csv).
    run_start: Instant,
    cancel: watch::Receiver<bool>,
    dir: PathBuf,
    base: Map<String, Value>,
    /// Each step's `count:` at this run.
    counts: Vec<Option<usize>>,
    failure: Option<Failure>,
    interrupted: bool,
    /// What the run's journal record notes, and the reporter shows as warnings.
    notes: Vec<String>,
    /// The result set could not be written (a full disk).
    storage_error: Option<String>,
    /// Roles any step, teardown step or file of the run names.
    used_roles: Vec<String>,
    /// Machines whose run directory is collected after the run.
    remote_nodes: Vec<(String, usize)>,
    monitor: Option<crate::monitor::RunMonitor>,
    /// The process groups of `steps:`, stopped by `stop`.
    groups: Vec<Group>,
    /// Background steps still running.
    live: Vec<Started>,
    done: Vec<Done>,
}

impl<'r, 'a> Attempt<'r, 'a> {
    /// An attempt of `run`, or the experiment's error when it cannot run at this point (a
    /// `count:` beyond its role): nothing of the run has happened then.
    pub(crate) fn new(
        env: &'r RunEnv<'a>,
        run: &'r PlannedRun,
    ) -> Result<Self, (crate::error::Location, String)> {
        let base = env.base_context(run);
        let counts = env.step_counts(&base)?;
        Ok(Attempt {
            env,
            run,
            run_start: Instant::now(),
            cancel: env.cancel.clone(),
            dir: run_dir(env.set_dir, run.index),
            base,
            counts,
            failure: None,
            interrupted: false,
            notes: Vec::new(),
            storage_error: None,
            used_roles: Vec::new(),
            remote_nodes: Vec::new(),
            monitor: None,
            groups: Vec::new(),
            live: Vec::new(),
            done: Vec::new(),
        })
    }

    /// Every phase in order.
    pub(crate) async fn run(mut self) -> RunOutcome {
        self.prepare().await;
        self.steps().await;
        // The samplers take a last reading as they stop, while teardown and collection go on.
        let steps_end = self.run_start.elapsed().as_secs_f64();
        let monitor = self.monitor.take().map(|m| m.stop(self.env.exp.kill_grace));
        self.stop().await;
        self.teardown().await;
        self.collect().await;
        self.record(monitor, steps_end).await
    }

    /// The first problem is the run's failure.
    fn fail(&mut self, f: Failure) {
        self.failure.get_or_insert(f);
    }

    /// Roles, the run's directories, the samplers, the machines' run directories, the files.
    async fn prepare(&mut self) {
        let env = self.env;
        let exp = env.exp;
        // Made ahead while the run before ran, emptied then: the local run directories made.
        let made = env.ahead.and_then(|a| a.take(&self.dir));
        if made.is_some() {
            tracing::debug!("{} was made ahead", self.dir.display());
        }
        let prepare = |m: String| Failure::new(FailureKind::Prepare, m);
        let selections = exp
            .steps
            .iter()
            .chain(&exp.teardown)
            .map(|s| &s.role)
            .chain(exp.files.iter().map(|f| &f.role));
        for sel in selections {
            match env.resolve_roles(sel, &self.base) {
                Ok(rs) => {
                    for r in rs {
                        if !self.used_roles.contains(&r) {
                            self.used_roles.push(r);
                        }
                    }
                }
                Err(m) => self.fail(prepare(m)),
            }
        }
        // The run's own directory holds the logs; each role's run_dir is created on its
        // machine (for local roles the two are the same place).
        let dir = &self.dir;
        let make = || crate::runner::ahead::fresh_run_dir(dir);
        if let Err(e) = made.as_ref().map_or_else(make, |_| Ok(())) {
            // The result set can't hold the run (a full disk): not the run's fault.
            let m = format!("failed to create {}: {e}", dir.display());
            self.storage_error = Some(m.clone());
            self.fail(Failure::new(FailureKind::Storage, m));
        }
        // Samplers start now, so that their first readings come while the run's directories
        // and files are made.
        if let (Some(m), None) = (&exp.monitor, &self.failure) {
            let started = crate::monitor::RunMonitor::start(
                m,
                env.machines,
                &self.used_roles,
                self.run_start,
            )
            .await;
            self.monitor = Some(started);
        }
        for (r, node) in env.nodes_of(&self.used_roles) {
            let b = &env.machines.nodes(&r)[node];
            if b.transport.remote_root(env.set_id).is_some() {
                self.remote_nodes.push((r.clone(), node));
            }
            let role_dir = env.role_dir(&r, node, &self.dir);
            let made_ahead = |m: &Vec<PathBuf>| m.iter().any(|d| d.as_os_str() == &*role_dir);
            if made.as_ref().is_some_and(made_ahead) {
                continue;
            }
            if let Err(e) = b.transport.create_dir(&role_dir) {
                let kind = machine_failure(&e, &b.host).unwrap_or(FailureKind::Prepare);
                self.fail(Failure::new(kind, e.to_string()));
            }
        }
        if self.failure.is_none() {
            if let Err(m) = env.write_files(&self.base, &self.dir) {
                self.fail(prepare(m));
            }
        }
        if let Some(m) = self.monitor.as_mut() {
            m.first_readings(self.cancel.clone()).await;
        }
    }

    async fn steps(&mut self) {
        if self.failure.is_none() {
            self.groups = self.run_phase(Phase::Steps).await;
        }
    }

    /// Stops background steps and anything foreground steps left behind.
    async fn stop(&mut self) {
        stop_all(&self.groups, self.env.exp.kill_grace).await;
        for s in std::mem::take(&mut self.live) {
            let started = s.proc.started;
            let out = s.proc.finish(false).await;
            self.done.push(Done {
                step: s.step,
                started,
                role: s.role,
                node: s.node,
                host: s.host,
                out,
                background: true,
                teardown: false,
            });
        }
    }

    /// Teardown runs after every run, passed or failed (also when interrupted).
    async fn teardown(&mut self) {
        let groups = self.run_phase(Phase::Teardown).await;
        stop_all(&groups, self.env.exp.kill_grace).await;
    }

    /// A problem of `phase`: the run's failure for a step, a note for a teardown step.
    fn problem(&mut self, phase: Phase, f: Failure, prefix: &str) {
        match phase {
            Phase::Steps => self.fail(f),
            Phase::Teardown => self.notes.push(format!("{prefix}{f}")),
        }
    }

    /// Runs the steps of `phase` in order; gives the process groups it started.
    async fn run_phase(&mut self, phase: Phase) -> Vec<Group> {
        let env = self.env;
        let steps: &[Step] = match phase {
            Phase::Steps => &env.exp.steps,
            Phase::Teardown => &env.exp.teardown,
        };
        let mut groups = Vec::new();
        // A step's `delay` counts from the end of the step before (the start of a
        // background one).
        let mut anchor = Instant::now();
        for (si, step) in steps.iter().enumerate() {
            if !step.delay.is_zero() {
                let target = deadline(anchor, step.delay);
                match phase {
                    Phase::Steps => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(target.into()) => {}
                            _ = cancelled(&mut self.cancel) => { self.interrupted = true; break; }
                        }
                    }
                    Phase::Teardown => tokio::time::sleep_until(target.into()).await,
                }
            }
            let roles = match env.resolve_roles(&step.role, &self.base) {
                Ok(r) => r,
                Err(m) => {
                    self.problem(phase, Failure::new(FailureKind::Prepare, m), "teardown: ");
                    match phase {
                        Phase::Steps => break,
                        Phase::Teardown => continue,
                    }
                }
            };
            let count = match phase {
                Phase::Steps => self.counts[si],
                Phase::Teardown => None,
            };
            let mut started = Vec::new();
            for (role, node) in env.first_nodes_of(&roles, count) {
                let s = env
                    .spawn(
                        si, step, &role, node, &self.base, &self.dir, self.run, count,
                    )
                    .await;
                match s {
                    Ok(s) => {
                        groups.push((s.transport.clone(), s.proc.pgid));
                        started.push(s);
                    }
                    Err(f) => {
                        self.problem(phase, f, "teardown: ");
                        if phase == Phase::Steps {
                            break;
                        }
                    }
                }
            }
            if step.background && phase == Phase::Steps {
                anchor = Instant::now();
                self.wait_ready(step, &mut started).await;
                self.live.extend(started);
            } else {
                let teardown = phase == Phase::Teardown;
                let (d, f, i) = env
                    .wait_foreground(started, step, &mut self.cancel, teardown)
                    .await;
                self.done.extend(d);
                if let Some(f) = f {
                    self.problem(phase, f, "teardown ");
                }
                self.interrupted |= i;
                anchor = Instant::now();
            }
            if phase == Phase::Steps && (self.failure.is_some() || self.interrupted) {
                break;
            }
        }
        groups
    }

    /// Waits for each machine of a background step to be ready (`ready:`), unless the run
    /// already failed.
    async fn wait_ready(&mut self, step: &Step, started: &mut [Started]) {
        let (None, Some(ready)) = (&self.failure, &step.ready) else {
            return;
        };
        for s in started.iter_mut() {
            let r = tokio::select! {
                r = self.env.wait_ready(ready, s, &self.base) => r,
                _ = cancelled(&mut self.cancel) => { self.interrupted = true; Ok(()) }
            };
            if let Err(m) = r {
                let kind = FailureKind::Ready {
                    step: step.name.clone(),
                };
                let m = format!(
                    "step '{}' on {}: {m}",
                    step.name,
                    self.env.where_(&s.role, s.node)
                );
                self.fail(Failure::new(kind, m));
                return;
            }
            if self.interrupted {
                return;
            }
        }
    }

    /// Remote run directories come back into the result set, concurrently (`fanout` at a
    /// time).
    async fn collect(&mut self) {
        let env = self.env;
        let fanout = crate::machines::fanout::Fanout::new(env.machines.fanout);
        let mut collect = tokio::task::JoinSet::new();
        for (r, node) in &self.remote_nodes {
            let b = &env.machines.nodes(r)[*node];
            let t = b.transport.clone();
            let (remote, local, who) = (
                env.role_dir(r, *node, &self.dir),
                self.dir.join(env.machines.node_label(r, *node)),
                env.where_(r, *node),
            );
            let host = b.host.clone();
            collect.spawn(fanout.clone().run_owned(async move {
                t.collect_dir(&remote, &local).await.map_err(|e| {
                    let kind = machine_failure(&e, &host).unwrap_or(FailureKind::Collection);
                    Failure::new(kind, format!("run_dir of {who}: {e}"))
                })
            }));
        }
        while let Some(j) = collect.join_next().await {
            if let Ok(Err(m)) = j {
                if self.interrupted {
                    self.notes.push(m.message);
                } else {
                    self.fail(m);
                }
            }
        }
    }

    /// Logs, step records, results: what the run produced.
    async fn record(
        mut self,
        monitor: Option<JoinHandle<crate::monitor::Samples>>,
        steps_end: f64,
    ) -> RunOutcome {
        let env = self.env;
        let exp = env.exp;
        let monitored = match monitor {
            Some(h) => h.await.ok(),
            None => None,
        };
        let mut all = extract::Extracted::default();
        let mut steps = Vec::new();
        let taken = env.taken_names();
        for d in &self.done {
            let step = if d.teardown {
                &exp.teardown[d.step]
            } else {
                &exp.steps[d.step]
            };
            let logs = [("out", &d.out.stdout_log), ("err", &d.out.stderr_log)];
            for (ext, log) in logs {
                let what = format!(
                    "{} of step '{}' on {}",
                    stream_name(ext),
                    step.name,
                    env.where_(&d.role, d.node)
                );
                if let Some(e) = &log.error {
                    self.storage_error.get_or_insert_with(|| e.clone());
                }
                if log.dropped > 0 {
                    self.notes.push(format!(
                        "{what}: {} bytes beyond the log limit of {} bytes not stored",
                        log.dropped,
                        crate::exec::process::LOG_LIMIT
                    ));
                }
            }
            if d.teardown {
                continue;
            }
            let nodes = env.machines.nodes(&d.role);
            steps.push(StepRecord {
                name: step.name.clone(),
                role: d.role.clone(),
                host: d.host.clone(),
                node: (nodes.len() > 1).then(|| nodes[d.node].node.clone()),
                exit: d.out.exit,
                duration: d.out.duration.as_secs_f64(),
                timed_out: d.out.timed_out,
                background: d.background,
                start: Some((d.started - self.run_start).as_secs_f64()),
            });
            let suffix = env.result_suffix(&self.done, d);
            let mut inputs = extract::StoredStep::new(
                self.dir.join(env.machines.node_label(&d.role, d.node)),
                &step.name,
                &d.role,
                env.role_dir(&d.role, d.node, &self.dir),
                if extract::needs_context(&step.results) {
                    env.role_context(&self.base, &d.role, d.node, &self.dir, self.counts[d.step])
                } else {
                    minijinja::Value::UNDEFINED
                },
            );
            inputs.memory = Some((&d.out.stdout, &d.out.stderr));
            // Nothing captured and nothing passed over: the stream printed nothing (what is
            // stored is what was captured), so it has no log to look for.
            let o = &d.out;
            inputs.silent = (
                o.stdout.is_empty() && o.stdout_skipped == 0,
                o.stderr.is_empty() && o.stderr_skipped == 0,
            );
            all.absorb(
                &step.name,
                extract::extract(&inputs, &step.results, &suffix, taken),
            );
            if !d.background {
                let key = format!("{}.duration", step.name);
                let secs = d.out.duration.as_secs_f64();
                let prev = all.values.get(&key).and_then(Value::as_f64).unwrap_or(0.0);
                if let Some(n) = serde_json::Number::from_f64(secs.max(prev)) {
                    all.values.insert(key, Value::Number(n));
                }
            }
        }
        extract::across(&exp.steps, &steps, &mut all.values, &mut all.errors);
        self.notes.append(&mut all.notes);
        if let Some(mut m) = monitored {
            let first = steps.iter().filter_map(|s| s.start).reduce(f64::min);
            let window = (first.unwrap_or(0.0), steps_end);
            let windows = exp.monitor.as_ref().map_or(&[][..], |m| &m.windows[..]);
            if let Err(e) = m.finish(&self.dir, window, (windows, &steps), &mut all.values) {
                self.storage_error.get_or_insert(e);
            }
            self.notes.append(&mut m.notes);
        }
        crate::spec::derived::evaluate(
            exp,
            &env.plan.point(self.run.point),
            &mut all.values,
            &mut all.errors,
        );
        let extraction_failed =
            self.failure.is_none() && !self.interrupted && !all.errors.is_empty();
        if extraction_failed {
            self.fail(Failure::new(FailureKind::Extraction, all.errors.join("; ")));
        }
        let ok = self.failure.is_none() && !self.interrupted;
        RunOutcome {
            status: if ok { RunStatus::Ok } else { RunStatus::Failed },
            results: all.values,
            steps,
            failure: if self.interrupted {
                Some(Failure::new(FailureKind::Interrupted, "interrupted"))
            } else {
                self.failure
            },
            interrupted: self.interrupted,
            notes: self.notes,
            storage_error: self.storage_error,
            warmup_dropped: all.warmup_dropped,
            extraction_failed,
            input_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The lifecycle through `exec::mock`: no process runs, every step is scripted.
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::exec::mock::{Behaviour, Call, Mock, SpawnFailure};
    use crate::machines::{Machines, RoleBinding};

    const MS: Duration = Duration::from_millis(1);

    /// Runs the first run of the experiment `yaml` on `mock` (every role on it), with
    /// `cancel` set after `cancel_after` when given.
    async fn attempt_with(
        yaml: &str,
        mock: Arc<Mock>,
        set_dir: &Path,
        cancel_after: Option<Duration>,
    ) -> RunOutcome {
        let exp = crate::spec::parse_experiment(Path::new("exp.yaml"), yaml).expect("experiment");
        let plan = crate::plan::plan(&exp).expect("plan");
        let mut roles = BTreeMap::new();
        for step in exp.steps.iter().chain(&exp.teardown) {
            for r in &step.role.names {
                let t: Arc<dyn Transport> = mock.clone();
                roles.insert(r.clone(), vec![RoleBinding::local(t)]);
            }
        }
        let machines = Machines {
            roles,
            controller: mock.clone(),
            fanout: 64,
        };
        let (roles_ctx, links_ctx) = machines.context();
        let (tx, cancel) = watch::channel(false);
        let env = RunEnv {
            exp: &exp,
            plan: &plan,
            machines: &machines,
            set_id: "test",
            set_dir,
            roles_ctx,
            links_ctx,
            cancel,
            ahead: None,
            taken: Default::default(),
        };
        if let Some(after) = cancel_after {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(true);
            });
        }
        env.execute(&plan.run(0).unwrap()).await
    }

    async fn attempt(yaml: &str, mock: Mock) -> (RunOutcome, Arc<Mock>) {
        let dir = tempfile::tempdir().unwrap();
        let mock = Arc::new(mock);
        let out = attempt_with(yaml, mock.clone(), dir.path(), None).await;
        (out, mock)
    }

    fn kind(o: &RunOutcome) -> Option<FailureKind> {
        o.failure.as_ref().map(|f| f.kind.clone())
    }

    const SERVER_CLIENT: &str = "
steps:
  - name: server
    role: server
    run: serve
    background: true
    ready: {log: listening, timeout: 2s}
  - name: client
    role: client
    run: load
    results: {rate: 'rate=([0-9]+)'}
teardown:
  - role: server
    run: tidy
";

    #[tokio::test]
    async fn a_background_step_is_waited_for_then_stopped_after_the_last_step() {
        let mock = Mock::new("m")
            .on(
                "serve",
                Behaviour::hangs().line(30 * MS, "listening on 5201"),
            )
            .on("load", Behaviour::prints("rate=42"));
        let (o, mock) = attempt(SERVER_CLIENT, mock).await;
        assert_eq!(o.status, RunStatus::Ok, "{:?}", o.failure);
        assert_eq!(o.results["rate"], 42.0);
        assert_eq!(mock.spawned(), ["serve", "load", "tidy"]);
        assert_eq!(mock.stopped(), ["serve"], "the server outlived its steps");
        assert_eq!(mock.running(), 0);
        let server = o.steps.iter().find(|s| s.name == "server").unwrap();
        assert!(server.background && server.exit.is_none(), "{server:?}");
        // The client started once the server printed its line, not before.
        let client = o.steps.iter().find(|s| s.name == "client").unwrap();
        assert!(client.start.unwrap() >= 0.03, "{client:?}");
    }

    #[tokio::test]
    async fn a_step_never_ready_fails_the_run_and_teardown_still_runs() {
        let yaml = SERVER_CLIENT.replace("timeout: 2s", "timeout: 80ms");
        let mock = Mock::new("m").on("serve", Behaviour::hangs().line(MS, "starting"));
        let (o, mock) = attempt(&yaml, mock).await;
        assert_eq!(
            kind(&o),
            Some(FailureKind::Ready {
                step: "server".into()
            })
        );
        let m = &o.failure.unwrap().message;
        assert!(
            m.contains("not ready after 80ms (waiting for a line matching /listening/)"),
            "{m}"
        );
        assert_eq!(mock.spawned(), ["serve", "tidy"], "the client never starts");
        assert_eq!(mock.stopped(), ["serve"]);
    }

    #[tokio::test]
    async fn a_step_that_exits_before_it_is_ready_says_so() {
        let mock = Mock::new("m").on("serve", Behaviour::exits(1).lasting(10 * MS));
        let (o, _) = attempt(SERVER_CLIENT, mock).await;
        let m = o.failure.unwrap().message;
        assert!(
            m.contains("exited with status 1 before it was ready"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_step_past_its_timeout_is_stopped_and_the_rest_is_skipped() {
        let yaml = "
steps:
  - {name: slow, run: hang, timeout: 60ms}
  - {name: after, run: later}
teardown:
  - run: tidy
";
        let mock = Mock::new("m").on("hang", Behaviour::hangs());
        let (o, mock) = attempt(yaml, mock).await;
        assert_eq!(
            kind(&o),
            Some(FailureKind::Timeout {
                step: "slow".into()
            })
        );
        assert!(o.failure.unwrap().message.contains("timed out after 60ms"));
        assert_eq!(mock.spawned(), ["hang", "tidy"]);
        assert_eq!(mock.stopped(), ["hang"]);
        assert!(o.steps[0].timed_out && o.steps[0].exit.is_none());
    }

    #[tokio::test]
    async fn a_failed_step_names_its_exit_code_and_stderr_and_teardown_runs() {
        let yaml = "
steps:
  - {name: build, run: make}
  - {name: bench, run: measure}
teardown:
  - run: tidy
";
        let mock = Mock::new("m").on("make", Behaviour::exits(3).stderr("no rule\n"));
        let (o, mock) = attempt(yaml, mock).await;
        assert_eq!(o.status, RunStatus::Failed);
        assert_eq!(
            kind(&o),
            Some(FailureKind::Exit {
                step: "build".into(),
                code: Some(3)
            })
        );
        let m = o.failure.unwrap().message;
        assert_eq!(m, "step 'build' on local exited with status 3: no rule");
        assert_eq!(mock.spawned(), ["make", "tidy"]);
    }

    #[tokio::test]
    async fn cancel_stops_the_running_step_and_teardown_still_runs() {
        let yaml = "
steps:
  - {name: server, run: serve, background: true}
  - {name: long, run: hang}
teardown:
  - run: tidy
";
        let dir = tempfile::tempdir().unwrap();
        let mock = Arc::new(
            Mock::new("m")
                .on("serve", Behaviour::hangs())
                .on("hang", Behaviour::hangs()),
        );
        let o = attempt_with(yaml, mock.clone(), dir.path(), Some(50 * MS)).await;
        assert!(o.interrupted);
        assert_eq!(kind(&o), Some(FailureKind::Interrupted));
        assert_eq!(mock.spawned(), ["serve", "hang", "tidy"]);
        let mut stopped = mock.stopped();
        stopped.sort();
        assert_eq!(stopped, ["hang", "serve"]);
        assert_eq!(mock.running(), 0);
    }

    #[tokio::test]
    async fn cancel_during_a_delay_starts_nothing_more() {
        let yaml = "
steps:
  - {name: first, run: one}
  - {name: second, run: two, delay: 10s}
teardown:
  - run: tidy
";
        let dir = tempfile::tempdir().unwrap();
        let mock = Arc::new(Mock::new("m"));
        let o = attempt_with(yaml, mock.clone(), dir.path(), Some(30 * MS)).await;
        assert!(o.interrupted);
        assert_eq!(mock.spawned(), ["one", "tidy"]);
    }

    #[tokio::test]
    async fn a_failed_teardown_is_a_note_and_the_run_passes() {
        let yaml = "
steps:
  - {name: bench, run: measure}
teardown:
  - {name: tidy, run: tidy}
  - {name: tidy2, run: sweep}
";
        let mock = Mock::new("m").on("tidy", Behaviour::exits(1));
        let (o, mock) = attempt(yaml, mock).await;
        assert_eq!(o.status, RunStatus::Ok, "{:?}", o.failure);
        assert_eq!(
            mock.spawned(),
            ["measure", "tidy", "sweep"],
            "teardown goes on"
        );
        assert_eq!(
            o.notes,
            ["teardown step 'tidy' on local exited with status 1"]
        );
        assert_eq!(o.steps.len(), 1, "teardown steps are not the run's steps");
    }

    #[tokio::test]
    async fn a_machine_that_stops_answering_is_a_lost_machine() {
        let yaml = "steps:\n  - {name: bench, role: server, run: measure}\n";
        let lost = Behaviour {
            spawn_fails: Some(SpawnFailure::Unreachable("n2 stopped answering".into())),
            ..Default::default()
        };
        let (o, _) = attempt(yaml, Mock::new("n2").on("measure", lost)).await;
        assert_eq!(
            kind(&o),
            Some(FailureKind::MachineLost {
                machine: "localhost".into()
            })
        );
    }

    #[tokio::test]
    async fn a_result_set_that_cannot_hold_the_run_is_a_storage_error() {
        let yaml = "steps:\n  - {name: bench, run: measure}\n";
        let dir = tempfile::tempdir().unwrap();
        // `runs` is a file: the run's directory cannot be made.
        std::fs::write(dir.path().join("runs"), "").unwrap();
        let mock = Arc::new(Mock::new("m"));
        let o = attempt_with(yaml, mock.clone(), dir.path(), None).await;
        assert_eq!(kind(&o), Some(FailureKind::Storage));
        assert!(o.storage_error.unwrap().contains("failed to create"));
        assert!(
            mock.spawned().is_empty(),
            "nothing runs without a place for it"
        );
    }

    #[tokio::test]
    async fn files_are_written_before_the_steps_and_a_failed_write_fails_the_run() {
        let yaml = "
variables: {n: [7]}
files:
  - {path: '{{ run_dir }}/conf', content: 'n={{ n }}'}
steps:
  - {name: bench, run: measure}
";
        let (o, mock) = attempt(yaml, Mock::new("m")).await;
        assert_eq!(o.status, RunStatus::Ok);
        let calls = mock.calls();
        let Call::Write { path, content } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert!(
            path.ends_with("runs/0000/local/conf") && content == "n=7",
            "{calls:?}"
        );
        assert!(matches!(calls[1], Call::Spawn { .. }));

        let mut full = Mock::new("m");
        full.fail_writes = true;
        let (o, mock) = attempt(yaml, full).await;
        assert_eq!(kind(&o), Some(FailureKind::Prepare));
        assert!(o
            .failure
            .unwrap()
            .message
            .contains("No space left on device"));
        assert!(mock.spawned().is_empty());
    }

    #[tokio::test]
    async fn a_count_beyond_its_role_is_the_experiments_error_and_nothing_runs() {
        let yaml = "steps:\n  - {name: bench, role: client, run: measure, count: 3}\n";
        let (o, mock) = attempt(yaml, Mock::new("m")).await;
        let (_, m) = o.input_error.expect("an input error");
        assert!(m.contains("3"), "{m}");
        assert!(mock.calls().is_empty());
    }
}
