//! One run: write files, execute steps (delays, background, readiness, timeouts), stop what
//! is left, run teardown, keep the logs and extract results.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::Error;
use crate::exec::{Output, StepProc, Transport};
use crate::machines::Machines;
use crate::plan::{Plan, PlannedRun};
use crate::runner::events::{Failure, FailureKind};
use crate::spec::{Experiment, Ready, RoleSel, Step};
use crate::store::layout::RunId;
use crate::store::{RunStatus, StepRecord};
use crate::template;

/// Everything a run needs that stays the same across runs.
pub struct RunEnv<'a> {
    pub exp: &'a Experiment,
    pub plan: &'a Plan,
    pub machines: &'a Machines,
    pub set_id: &'a str,
    pub set_dir: &'a Path,
    pub roles_ctx: Value,
    pub links_ctx: Value,
    pub cancel: watch::Receiver<bool>,
    /// Makes the next run's directories while this one runs (`None`: each run makes its own).
    pub(crate) ahead: Option<&'a crate::runner::ahead::DirsAhead>,
    /// `taken_names`, the same for every run: made at the first.
    pub(crate) taken: std::sync::OnceLock<HashSet<String>>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub results: Map<String, Value>,
    pub steps: Vec<StepRecord>,
    /// Why the run failed (its `message` is the journal's `error`).
    pub failure: Option<Failure>,
    pub interrupted: bool,
    /// What was left out of the run (refused result names, output beyond the log limit).
    pub notes: Vec<String>,
    /// The result set could not be written (a full disk): the run is not recorded, and the
    /// session ends with this error.
    pub storage_error: Option<String>,
    /// Samples dropped as warm-up, per series result.
    pub warmup_dropped: BTreeMap<String, usize>,
    /// The run failed only because a declared result could not be read.
    pub extraction_failed: bool,
    /// The experiment cannot run at this point (a `count:` beyond its role's size): nothing
    /// ran, the run is not recorded, and the session ends with this input error (exit 2).
    pub input_error: Option<(crate::error::Location, String)>,
}

/// A failure that is a machine's, not the run's: it stopped answering.
pub(crate) fn machine_failure(e: &Error, host: &str) -> Option<FailureKind> {
    matches!(e, Error::Unreachable(_)).then(|| FailureKind::MachineLost {
        machine: host.to_string(),
    })
}

pub(crate) struct Started {
    pub(crate) step: usize,
    pub(crate) role: String,
    /// Which machine of the role.
    pub(crate) node: usize,
    pub(crate) host: String,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) proc: StepProc,
}

pub(crate) struct Done {
    pub(crate) step: usize,
    /// When the process started.
    pub(crate) started: Instant,
    pub(crate) role: String,
    pub(crate) node: usize,
    pub(crate) host: String,
    pub(crate) out: Output,
    pub(crate) background: bool,
    pub(crate) teardown: bool,
}

/// A `files:` entry rendered for one machine.
struct FileWrite {
    transport: Arc<dyn Transport>,
    path: String,
    content: String,
    /// The role and machine, for messages.
    who: String,
}

impl FileWrite {
    /// Writes `writes` in order, stopping at the first failure.
    fn all(writes: &[FileWrite]) -> Result<(), String> {
        writes.iter().try_for_each(|w| {
            w.transport
                .write_file(&w.path, w.content.as_bytes())
                .map_err(|e| format!("file {} on {}: {e}", w.path, w.who))
        })
    }
}

/// `from + d`, never a panic: durations from files are bounded at load (30 days), and this
/// keeps an overflow impossible should one ever come from elsewhere.
pub(crate) fn deadline(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(crate::spec::MAX_DURATION))
        .unwrap_or(from)
}

pub(crate) async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exited with status {c}"),
        None => "was killed by a signal".into(),
    }
}

/// The last lines of stderr, to put the cause next to the failure.
fn stderr_tail(err: &[u8]) -> String {
    let text = String::from_utf8_lossy(err);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(3)..];
    format!(": {}", tail.join(" | "))
}

pub(crate) fn stream_name(ext: &str) -> &'static str {
    if ext == "out" {
        "stdout"
    } else {
        "stderr"
    }
}

/// Names an `mpf-result` line may not take: every variable and its label column, the fixed
/// columns, and every result the experiment declares or derives (with the suffixes of
/// `roles`).
pub(crate) fn taken_names<'a>(
    exp: &Experiment,
    roles: impl Iterator<Item = &'a str>,
) -> HashSet<String> {
    let roles: Vec<&str> = roles.collect();
    let mut taken: HashSet<String> = exp.variables.iter().map(|v| v.name.clone()).collect();
    taken.extend(
        exp.variables
            .iter()
            .map(|v| crate::store::csv::label_column(&v.name)),
    );
    taken.extend(crate::store::csv::FIXED_COLUMNS.map(String::from));
    taken.extend(exp.steps.iter().map(|s| format!("{}.duration", s.name)));
    for info in exp.result_infos() {
        for role in &roles {
            taken.insert(format!("{}.{role}", info.name));
        }
        taken.insert(info.name);
    }
    if let Some(m) = &exp.monitor {
        for role in &roles {
            taken.extend(crate::monitor::result_names(role, &m.windows));
        }
    }
    taken
}

/// The port of `ready: {port}` for a run: its template rendered, then checked.
fn ready_port(port: &crate::spec::Tpl, ctx: &minijinja::Value) -> Result<u16, String> {
    let text =
        template::render(&port.text, ctx).map_err(|m| format!("{}: ready port: {m}", port.loc))?;
    template::parse_port(&text).ok_or_else(|| {
        format!(
            "{}: ready port '{}' is not a port number (1 to 65535)",
            port.loc,
            text.trim().escape_debug()
        )
    })
}

/// Stops every group concurrently (TERM, grace, KILL); quick when they are already gone.
pub(crate) async fn stop_all(groups: &[(Arc<dyn Transport>, i32)], grace: Duration) {
    let mut set = JoinSet::new();
    for (t, pgid) in groups {
        let (t, pgid) = (t.clone(), *pgid);
        set.spawn(async move { t.stop_group(pgid, grace).await });
    }
    while set.join_next().await.is_some() {}
}

impl RunEnv<'_> {
    /// The names a result may not take (`taken_names`), for this session's machines.
    pub(crate) fn taken_names(&self) -> &HashSet<String> {
        self.taken.get_or_init(|| self.make_taken_names())
    }

    fn make_taken_names(&self) -> HashSet<String> {
        let mut suffixes: Vec<String> = self.machines.roles.keys().cloned().collect();
        for (role, _, b) in self.machines.each_node() {
            if self.machines.nodes(role).len() > 1 {
                suffixes.push(b.node.clone());
                suffixes.push(format!("{role}.{}", b.node));
            }
        }
        taken_names(self.exp, suffixes.iter().map(String::as_str))
    }

    pub(crate) fn base_context(&self, run: &PlannedRun) -> Map<String, Value> {
        let mut ctx = self.plan.point(run.point);
        ctx.insert("labels".into(), Value::Object(self.plan.labels(run.point)));
        ctx.insert("roles".into(), self.roles_ctx.clone());
        ctx.insert("links".into(), self.links_ctx.clone());
        ctx.insert(
            "run".into(),
            json!({"id": RunId(run.index).to_string(), "index": run.index, "repetition": run.repetition}),
        );
        ctx.insert(
            "experiment".into(),
            json!({"id": self.set_id, "name": self.exp.name}),
        );
        ctx
    }

    /// The run directory of machine `node` of `role`: inside the result set for local
    /// machines, under the machine's remote root otherwise (collected after the run).
    pub(crate) fn role_dir(&self, role: &str, node: usize, dir: &Path) -> String {
        let t = &self.machines.nodes(role)[node].transport;
        let label = self.machines.node_label(role, node);
        match t.remote_root(self.set_id) {
            Some(root) => {
                let run = dir
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                format!("{root}/runs/{run}/{label}")
            }
            None => dir.join(label).to_string_lossy().into_owned(),
        }
    }

    /// The context of machine `node` of `role`; `count` is the step's `count:` at this run
    /// (`node.count` is then the machines that run it).
    pub(crate) fn role_context(
        &self,
        base: &Map<String, Value>,
        role: &str,
        node: usize,
        dir: &Path,
        count: Option<usize>,
    ) -> minijinja::Value {
        let mut ctx = base.clone();
        ctx.insert("role".into(), Value::String(role.to_string()));
        let mut node_ctx = self.machines.node_context(role, node);
        if let (Some(n), Some(o)) = (count, node_ctx.as_object_mut()) {
            let n = n.min(self.machines.nodes(role).len());
            o.insert("count".into(), Value::from(n));
        }
        ctx.insert("node".into(), node_ctx);
        ctx.insert(
            "run_dir".into(),
            Value::String(self.role_dir(role, node, dir)),
        );
        minijinja::Value::from_serialize(&ctx)
    }

    /// `role`, or `role (machine M)` for a remote machine or one of several, so that
    /// failures name the machine.
    pub(crate) fn where_(&self, role: &str, node: usize) -> String {
        let nodes = self.machines.nodes(role);
        let Some(b) = nodes.get(node) else {
            return role.to_string();
        };
        let remote = b.transport.remote_root(self.set_id).is_some();
        match (remote, nodes.len() > 1, &b.namespace) {
            (true, true, Some(ns)) => format!("{role} (machine {}, namespace {ns})", b.host),
            (true, ..) => format!("{role} (machine {})", b.host),
            (false, true, _) => format!("{role} (machine {})", b.node),
            (false, false, _) => role.to_string(),
        }
    }

    /// Every machine of each role: what a step on `roles` runs on.
    pub(crate) fn nodes_of(&self, roles: &[String]) -> Vec<(String, usize)> {
        self.first_nodes_of(roles, None)
    }

    /// The first `count` machines of each role (every one for `None`): what a step with
    /// `count:` runs on.
    pub(crate) fn first_nodes_of(
        &self,
        roles: &[String],
        count: Option<usize>,
    ) -> Vec<(String, usize)> {
        roles
            .iter()
            .flat_map(|r| {
                let n = self.machines.nodes(r).len();
                (0..count.map_or(n, |c| c.min(n))).map(move |i| (r.clone(), i))
            })
            .collect()
    }

    /// Each step's `count:` at this run, checked against the size of each of its roles.
    pub(crate) fn step_counts(
        &self,
        base: &Map<String, Value>,
    ) -> Result<Vec<Option<usize>>, (crate::error::Location, String)> {
        let mut out = vec![None; self.exp.steps.len()];
        if self.exp.steps.iter().all(|s| s.count.is_none()) {
            return Ok(out); // the common case costs no context
        }
        let ctx = minijinja::Value::from_serialize(base);
        for (slot, step) in out.iter_mut().zip(&self.exp.steps) {
            let loc = || step.count.as_ref().map_or(&step.loc, |c| &c.loc).clone();
            let Some(n) = step.count_at(&ctx).map_err(|m| (loc(), m))? else {
                continue;
            };
            *slot = Some(n);
            if let Ok(roles) = self.resolve_roles(&step.role, base) {
                for role in roles {
                    let size = self.machines.nodes(&role).len();
                    if n > size {
                        let at = crate::runner::count::at_point(step, &self.exp.variables, base);
                        return Err(crate::runner::count::too_many(step, n, &role, size, &at));
                    }
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn resolve_roles(
        &self,
        sel: &RoleSel,
        base: &Map<String, Value>,
    ) -> Result<Vec<String>, String> {
        // The context is made only for a name that is a template (most are plain names).
        let mut ctx = None;
        let mut out: Vec<String> = Vec::new();
        for n in &sel.names {
            let name = if template::is_template(n) {
                let ctx = ctx.get_or_insert_with(|| minijinja::Value::from_serialize(base));
                template::render(n, ctx).map_err(|m| format!("{}: role: {m}", sel.loc))?
            } else {
                n.clone()
            };
            let name = name.trim().to_string();
            if name == "all" {
                for r in self.machines.roles.keys() {
                    if !out.contains(r) {
                        out.push(r.clone());
                    }
                }
                continue;
            }
            // A rendered name becomes a directory here and on the machine.
            if let Some(problem) = crate::spec::role_name_problem(&name) {
                return Err(format!("{}: role: {problem}", sel.loc));
            }
            if self.machines.nodes(&name).is_empty() {
                return Err(format!(
                    "{}: role '{name}' is not bound to any machine",
                    sel.loc
                ));
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// The names of the local run directories every run makes inside its own (one per local
    /// machine of a role its steps, teardown or files name), when they are the same for every
    /// run: `None` when a role is chosen by a template or is not bound (each run then finds
    /// its roles itself).
    pub(crate) fn local_dirs_of_every_run(&self) -> Option<Vec<String>> {
        let selections = (self.exp.steps.iter())
            .chain(&self.exp.teardown)
            .map(|s| &s.role)
            .chain(self.exp.files.iter().map(|f| &f.role));
        let mut roles: Vec<String> = Vec::new();
        for sel in selections {
            if sel.names.iter().any(|n| template::is_template(n)) {
                return None;
            }
            for r in self.resolve_roles(sel, &Map::new()).ok()? {
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
        }
        let local = self.nodes_of(&roles).into_iter().filter(|(r, node)| {
            let t = &self.machines.nodes(r)[*node].transport;
            t.remote_root(self.set_id).is_none()
        });
        Some(
            local
                .map(|(r, node)| self.machines.node_label(&r, node))
                .collect(),
        )
    }

    pub(crate) fn write_files(&self, base: &Map<String, Value>, dir: &Path) -> Result<(), String> {
        let mut per_machine: Vec<Vec<FileWrite>> = Vec::new();
        for f in &self.exp.files {
            let roles = self.resolve_roles(&f.role, base)?;
            for (role, node) in self.nodes_of(&roles) {
                let ctx = self.role_context(base, &role, node, dir, None);
                let path = template::render(&f.path.text, &ctx)
                    .map_err(|m| format!("{}: file path: {m}", f.path.loc))?;
                let content = template::render(&f.content.text, &ctx)
                    .map_err(|m| format!("{}: file content: {m}", f.content.loc))?;
                let w = FileWrite {
                    transport: self.machines.nodes(&role)[node].transport.clone(),
                    path: path.trim().to_string(),
                    content,
                    who: self.where_(&role, node),
                };
                match per_machine
                    .iter_mut()
                    .find(|g| Arc::ptr_eq(&g[0].transport, &w.transport))
                {
                    Some(g) => g.push(w),
                    None => per_machine.push(vec![w]),
                }
            }
        }
        if per_machine.len() < 2 {
            return per_machine.iter().try_for_each(|g| FileWrite::all(g));
        }
        // Each machine's files in order, the machines at once: a remote write is a round trip.
        std::thread::scope(|s| {
            let writers: Vec<_> = per_machine
                .iter()
                .map(|g| s.spawn(|| FileWrite::all(g)))
                .collect();
            writers.into_iter().try_for_each(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("writing files failed".into()))
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn spawn(
        &self,
        step_idx: usize,
        step: &Step,
        role: &str,
        node: usize,
        base: &Map<String, Value>,
        dir: &Path,
        run: &PlannedRun,
        count: Option<usize>,
    ) -> Result<Started, Failure> {
        let b = &self.machines.nodes(role)[node];
        let spawn = || FailureKind::Spawn {
            step: step.name.clone(),
        };
        // The context is made only for a script that is a template.
        let script = if template::is_template(&step.run.text) {
            let ctx = self.role_context(base, role, node, dir, count);
            template::render(&step.run.text, &ctx).map_err(|m| {
                Failure::new(
                    spawn(),
                    format!("{}: step '{}': {m}", step.run.loc, step.name),
                )
            })?
        } else {
            step.run.text.clone()
        };
        let env = vec![
            ("MPF_ROLE".to_string(), role.to_string()),
            ("MPF_RUN_DIR".to_string(), self.role_dir(role, node, dir)),
            ("MPF_RUN_ID".to_string(), RunId(run.index).to_string()),
            ("MPF_EXPERIMENT_ID".to_string(), self.set_id.to_string()),
        ];
        let proc = b
            .transport
            .spawn(&script, &env, &b.wrap)
            .await
            .map_err(|e| {
                let kind = machine_failure(&e, &b.host).unwrap_or_else(spawn);
                let m = format!("step '{}' on {}: {e}", step.name, self.where_(role, node));
                Failure::new(kind, m)
            })?;
        if let Some(Ready::Log { pattern, .. }) = &step.ready {
            // Before the first await: the output pumps have not run yet.
            proc.watch(pattern);
        }
        // A remote role's run_dir is collected later; its logs are written here meanwhile
        // (the directory is made with the first log file).
        let logs = dir.join(self.machines.node_label(role, node));
        proc.log_to(
            logs.join(format!("{}.out", step.name)),
            logs.join(format!("{}.err", step.name)),
        );
        Ok(Started {
            step: step_idx,
            role: role.to_string(),
            node,
            host: b.host.clone(),
            transport: b.transport.clone(),
            proc,
        })
    }

    /// Waits until a background step is ready: its port accepts connections or its output
    /// shows the log line. Fails if it exits first or the deadline passes.
    pub(crate) async fn wait_ready(
        &self,
        ready: &Ready,
        s: &mut Started,
        base: &Map<String, Value>,
    ) -> Result<(), String> {
        let ctx = minijinja::Value::from_serialize(base);
        let port = match ready {
            Ready::Port { port, .. } => Some(ready_port(port, &ctx)?),
            Ready::Log { .. } => None,
        };
        let (timeout, what) = match (ready, port) {
            (Ready::Port { timeout, .. }, Some(port)) => (*timeout, format!("port {port} to open")),
            (Ready::Log { pattern, timeout }, _) => {
                (*timeout, format!("a line matching /{}/", pattern.as_str()))
            }
            (Ready::Port { timeout, .. }, None) => (*timeout, String::new()),
        };
        let deadline = deadline(Instant::now(), timeout);
        let b = &self.machines.nodes(&s.role)[s.node];
        let host = match ready {
            Ready::Port { host: Some(h), .. } => template::render(h, &ctx)?,
            _ => b.ip.clone(),
        };
        let mut pause = Duration::from_millis(2);
        loop {
            let ok = match (ready, port) {
                (Ready::Port { .. }, Some(port)) => {
                    let addr = format!("{host}:{port}");
                    matches!(
                        tokio::time::timeout(
                            Duration::from_millis(200),
                            tokio::net::TcpStream::connect(&addr)
                        )
                        .await,
                        Ok(Ok(_))
                    )
                }
                _ => s.proc.watch_matched(),
            };
            if ok {
                return Ok(());
            }
            if s.proc.try_exited() {
                return Err(format!(
                    "{} before it was ready (waiting for {what})",
                    exit_text(s.proc.exit.flatten())
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready after {} (waiting for {what})",
                    humantime::format_duration(timeout)
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Runs foreground processes to completion (or timeout / interrupt).
    pub(crate) async fn wait_foreground(
        &self,
        started: Vec<Started>,
        step: &Step,
        cancel: &mut watch::Receiver<bool>,
        teardown: bool,
    ) -> (Vec<Done>, Option<Failure>, bool) {
        let deadline = deadline(Instant::now(), step.timeout);
        let mut done = Vec::new();
        let mut failure = None;
        let mut interrupted = false;
        for mut s in started {
            let mut timed_out = false;
            if teardown {
                tokio::select! {
                    _ = s.proc.wait() => {}
                    _ = tokio::time::sleep_until(deadline.into()) => { timed_out = true; }
                }
            } else {
                tokio::select! {
                    _ = s.proc.wait() => {}
                    _ = tokio::time::sleep_until(deadline.into()) => { timed_out = true; }
                    _ = cancelled(cancel) => { interrupted = true; }
                }
            }
            if timed_out || interrupted {
                s.transport
                    .stop_group(s.proc.pgid, self.exp.kill_grace)
                    .await;
            }
            let started = s.proc.started;
            let out = s.proc.finish(timed_out).await;
            if failure.is_none() && !interrupted {
                let step_name = step.name.clone();
                if timed_out {
                    failure = Some(Failure::new(
                        FailureKind::Timeout { step: step_name },
                        format!(
                            "step '{}' on {} timed out after {}",
                            step.name,
                            self.where_(&s.role, s.node),
                            humantime::format_duration(step.timeout)
                        ),
                    ));
                } else if out.exit != Some(0) {
                    failure = Some(Failure::new(
                        FailureKind::Exit {
                            step: step_name,
                            code: out.exit,
                        },
                        format!(
                            "step '{}' on {} {}{}",
                            step.name,
                            self.where_(&s.role, s.node),
                            exit_text(out.exit),
                            stderr_tail(&out.stderr)
                        ),
                    ));
                }
            }
            done.push(Done {
                step: s.step,
                started,
                role: s.role,
                node: s.node,
                host: s.host,
                out,
                background: false,
                teardown,
            });
        }
        (done, failure, interrupted)
    }

    /// The suffix of a step's results on one machine: `.role` when the step ran on several
    /// roles, then `.node` when that role has several machines (SPEC §10.1).
    pub(crate) fn result_suffix(&self, done: &[Done], d: &Done) -> String {
        let mut roles: Vec<&str> = done
            .iter()
            .filter(|o| !o.teardown && o.step == d.step)
            .map(|o| o.role.as_str())
            .collect();
        roles.sort_unstable();
        roles.dedup();
        let role_part = if roles.len() > 1 {
            Some(d.role.as_str())
        } else {
            None
        };
        let nodes = self.machines.nodes(&d.role);
        let node_part = (nodes.len() > 1).then(|| nodes[d.node].node.as_str());
        role_part
            .into_iter()
            .chain(node_part)
            .map(|p| format!(".{p}"))
            .collect()
    }

    /// Executes one attempt of a run (`runner::attempt`: its phases).
    pub async fn execute(&self, run: &PlannedRun) -> RunOutcome {
        match crate::runner::attempt::Attempt::new(self, run) {
            Ok(attempt) => attempt.run().await,
            // A count beyond its role is the experiment's error, not the run's.
            Err(e) => RunOutcome::refused(e),
        }
    }
}

impl RunOutcome {
    /// A run that did not start: the experiment cannot run at its point.
    fn refused(error: (crate::error::Location, String)) -> RunOutcome {
        RunOutcome {
            status: RunStatus::Failed,
            results: Map::new(),
            steps: Vec::new(),
            failure: Some(Failure::new(FailureKind::Prepare, error.1.clone())),
            interrupted: false,
            notes: Vec::new(),
            storage_error: None,
            warmup_dropped: BTreeMap::new(),
            extraction_failed: false,
            input_error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unreachable_machine_is_a_lost_machine() {
        let lost = Error::Unreachable("machine n2 stopped answering".into());
        assert_eq!(
            machine_failure(&lost, "n2"),
            Some(FailureKind::MachineLost {
                machine: "n2".into()
            })
        );
        assert_eq!(machine_failure(&Error::Runtime("x".into()), "n2"), None);
        assert_eq!(lost.exit_code(), crate::error::exit::UNREACHABLE);
    }
}
