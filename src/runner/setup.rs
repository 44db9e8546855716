//! The `setup` section: once per experiment, before the first run (and all of `mpf deploy`),
//! and the `cleanup` section: once per machine after the last run, also after an interruption.
//! Each entry runs once per machine (even when the machine bears several of the entry's roles),
//! on all its machines at once (`fanout` at a time): `sync`, then `packages`, then `run`. Output goes to
//! `setup/<machine>.log` (`cleanup/<machine>.log`); a failure stops everything after the entry
//! with the machine, the command and the tail of its output (machines that failed alike on
//! one line: `node[03-60]: exit status 1 ...`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::exec::{Output, Transport};
use crate::machines::fanout::Fanout;
use crate::machines::fold::{fold, hostlist, MachineError};
use crate::machines::Machines;
use crate::runner::deploy;
use crate::runner::events::{Cancel, Control, Event, Phase};
use crate::spec::{Experiment, SetupStep};
use crate::store::SyncInfo;
use crate::template;

pub(crate) use deploy::check_setup;

/// Runs `script` to completion (or `timeout`), leaving nothing behind: on the machine, outside
/// any network namespace (setup acts on the machine: package managers need its network), or,
/// for `on_controller`, on this machine (rsync to the machine).
/// With `cancel`, a cancel stops the script and returns `Error::Interrupted`.
async fn run_script(
    t: &dyn Transport,
    script: &str,
    env: &[(String, String)],
    timeout: Duration,
    on_controller: Option<&dyn Transport>,
    cancel: Option<&Cancel>,
) -> Result<Output> {
    let t = on_controller.unwrap_or(t);
    let mut p = t.spawn(script, env, &[]).await?;
    let pgid = p.pgid;
    let cancelled = async {
        match cancel {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let timed_out = tokio::select! {
        r = tokio::time::timeout(timeout, p.wait()) => Some(r.is_err()),
        _ = cancelled => None,
    };
    t.stop_group(pgid, Duration::from_secs(2)).await;
    match timed_out {
        Some(timed_out) => Ok(p.finish(timed_out).await),
        None => Err(Error::Interrupted),
    }
}

/// One action of a setup entry on one machine, ready to run.
struct Action {
    what: String,
    script: String,
    /// The script's environment: the values it works on, never spliced into its text.
    env: Vec<(String, String)>,
    /// Run on the controller rather than on the machine.
    on_controller: bool,
}

/// What happened on one machine for one entry.
struct MachineResult {
    machine: String,
    log: String,
    /// What failed, without the machine's name in front.
    failure: Option<String>,
    interrupted: bool,
    elapsed: Duration,
}

fn tail(out: &Output, lines: usize) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<&str> = all.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

async fn run_actions(
    t: Arc<dyn Transport>,
    controller: Arc<dyn Transport>,
    actions: Vec<Action>,
    timeout: Duration,
    cancel: Option<Cancel>,
) -> MachineResult {
    let start = Instant::now();
    let mut log = String::new();
    let mut failure = None;
    let mut interrupted = false;
    for a in actions {
        let _ = writeln!(log, "$ {}", a.what);
        let on = a.on_controller.then_some(controller.as_ref());
        match run_script(t.as_ref(), &a.script, &a.env, timeout, on, cancel.as_ref()).await {
            Ok(out) => {
                for (skipped, tail) in [
                    (out.stdout_skipped, &out.stdout),
                    (out.stderr_skipped, &out.stderr),
                ] {
                    if skipped > 0 {
                        // Only the tail of each stream is kept in memory.
                        let _ = writeln!(log, "[mpf: the first {skipped} bytes are not kept]");
                    }
                    log.push_str(&String::from_utf8_lossy(tail));
                }
                let _ = writeln!(
                    log,
                    "[exit {}{}]",
                    out.exit.map_or("signal".into(), |c| c.to_string()),
                    if out.timed_out { ", timed out" } else { "" }
                );
                if out.exit != Some(0) || out.timed_out {
                    let status = if out.timed_out {
                        format!("timed out after {}", humantime::format_duration(timeout))
                    } else {
                        format!(
                            "exit status {}",
                            out.exit.map_or("signal".into(), |c| c.to_string())
                        )
                    };
                    failure = Some(format!("{status}\n$ {}\n{}", a.what, tail(&out, 15)));
                    break;
                }
            }
            Err(Error::Interrupted) => {
                let _ = writeln!(log, "[interrupted]");
                interrupted = true;
                break;
            }
            Err(e) => {
                let _ = writeln!(log, "[failed to start: {e}]");
                failure = Some(format!("{e}\n$ {}", a.what));
                break;
            }
        }
    }
    MachineResult {
        machine: t.name().to_string(),
        log,
        failure,
        interrupted,
        elapsed: start.elapsed(),
    }
}

/// A machine an entry runs on, with the role (and which of its machines) it is reached as.
struct Target {
    transport: Arc<dyn Transport>,
    role: String,
    node: usize,
}

/// The machines an entry targets, each once.
fn targets(
    entry: &SetupStep,
    machines: &Machines,
    base: &Map<String, Value>,
) -> Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for name in &entry.role.names {
        let name =
            template::render(name, &minijinja::Value::from_serialize(base)).map_err(|m| {
                Error::Input {
                    location: entry.role.loc.clone(),
                    message: format!("role: {m}"),
                }
            })?;
        let roles: Vec<String> = if name.trim() == "all" {
            machines.roles.keys().cloned().collect()
        } else {
            vec![name.trim().to_string()]
        };
        for r in roles {
            let nodes = machines.nodes(&r);
            if nodes.is_empty() {
                return Err(Error::Input {
                    location: entry.role.loc.clone(),
                    message: format!("role '{r}' is not bound to any machine"),
                });
            }
            for (node, b) in nodes.iter().enumerate() {
                if !out.iter().any(|t| Arc::ptr_eq(&t.transport, &b.transport)) {
                    out.push(Target {
                        transport: b.transport.clone(),
                        role: r.clone(),
                        node,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Runs every setup entry; a cancel stops it (`Error::Interrupted`). Logs go to
/// `log_dir/<machine>.log`; each machine's outcome is an event. Returns the synced directories
/// with their git state, for the manifest.
pub(crate) async fn run_setup(
    exp: &Experiment,
    machines: &Machines,
    set_id: &str,
    log_dir: &Path,
    control: &Control,
) -> Result<Vec<SyncInfo>> {
    run_entries(
        exp,
        &exp.setup,
        Phase::Setup,
        machines,
        set_id,
        log_dir,
        control,
        None,
    )
    .await
}

/// Runs every cleanup entry to its end: it runs after an interruption too, so a cancel does
/// not stop it (a second signal ends the process, and the guard the processes).
pub(crate) async fn run_cleanup(
    exp: &Experiment,
    machines: &Machines,
    set_id: &str,
    log_dir: &Path,
    control: &Control,
) -> Result<()> {
    run_entries(
        exp,
        &exp.cleanup,
        Phase::Cleanup,
        machines,
        set_id,
        log_dir,
        control,
        None,
    )
    .await?;
    Ok(())
}

/// Runs `entries` in order; they see the first value of each variable, and `current`'s
/// variable at its value (a profile's block: `Phase::Switch`, stopped by a cancel like setup,
/// or `Phase::Revert`, run to its end like cleanup).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_entries(
    exp: &Experiment,
    entries: &[SetupStep],
    phase: Phase,
    machines: &Machines,
    set_id: &str,
    log_dir: &Path,
    control: &Control,
    current: Option<(&str, &Value)>,
) -> Result<Vec<SyncInfo>> {
    let mut synced: Vec<SyncInfo> = Vec::new();
    if entries.is_empty() {
        return Ok(synced);
    }
    let cancel = matches!(phase, Phase::Setup | Phase::Switch).then(|| control.cancel.clone());
    std::fs::create_dir_all(log_dir)
        .map_err(|e| Error::io(format!("failed to create {}", log_dir.display()), e))?;
    let (roles_ctx, links_ctx) = machines.context();
    for entry in entries {
        if cancel.as_ref().is_some_and(Cancel::is_cancelled) {
            return Err(Error::Interrupted);
        }
        let mut base = Map::new();
        base.insert("roles".into(), roles_ctx.clone());
        base.insert("links".into(), links_ctx.clone());
        base.insert("experiment".into(), json!({"id": set_id, "name": exp.name}));
        base.insert("labels".into(), Value::Object(Map::new()));
        for v in &exp.variables {
            // Setup sees the first value of each variable (constants are what it needs).
            base.insert(v.name.clone(), v.values.get(0).unwrap_or(Value::Null));
        }
        if let Some((name, value)) = current {
            base.insert(name.to_string(), value.clone());
        }
        let render = |text: &str, ctx: &Map<String, Value>, loc: &crate::error::Location| {
            template::render(text, &minijinja::Value::from_serialize(ctx)).map_err(|m| {
                Error::Input {
                    location: loc.clone(),
                    message: format!("{}: {m}", phase.name()),
                }
            })
        };
        let targets = targets(entry, machines, &base)?;
        let fanout = Fanout::new(machines.fanout);
        let mut set = JoinSet::new();
        let mut sync_record: Option<SyncInfo> = None;
        for Target {
            transport: t,
            role,
            node,
        } in targets
        {
            let mut ctx = base.clone();
            ctx.insert("role".into(), Value::String(role.clone()));
            ctx.insert("node".into(), machines.node_context(&role, node));
            let mut actions = Vec::new();
            if let Some(sync) = &entry.sync {
                let src = deploy::sync_source(exp, sync);
                let to = render(&sync.to, &ctx, &entry.loc)?;
                let rec = sync_record.get_or_insert_with(|| SyncInfo {
                    from: src.to_string_lossy().into_owned(),
                    to: to.clone(),
                    machines: Vec::new(),
                    git: deploy::source_git(&src),
                });
                rec.machines.push(t.name().to_string());
                let (script, on_controller) = match t.ssh_command() {
                    Some((ssh, dest)) => (
                        deploy::remote_copy_script(sync, &src, &to, &ssh, &dest),
                        true,
                    ),
                    None => (deploy::local_copy_script(sync, &src, &to), false),
                };
                actions.push(Action {
                    what: format!("sync {} -> {}:{to}", src.display(), t.name()),
                    script,
                    env: Vec::new(),
                    on_controller,
                });
            }
            if let Some(p) = &entry.packages {
                actions.push(Action {
                    what: format!(
                        "packages apt: [{}] dnf: [{}]",
                        p.apt.join(", "),
                        p.dnf.join(", ")
                    ),
                    script: deploy::PACKAGES_SCRIPT.to_string(),
                    env: deploy::packages_env(p),
                    on_controller: false,
                });
            }
            if let Some(run) = &entry.run {
                let script = render(&run.text, &ctx, &run.loc)?;
                actions.push(Action {
                    what: script.trim().to_string(),
                    script,
                    env: Vec::new(),
                    on_controller: false,
                });
            }
            set.spawn(fanout.clone().run_owned(run_actions(
                t,
                machines.controller.clone(),
                actions,
                entry.timeout,
                cancel.clone(),
            )));
        }
        let mut failures: Vec<MachineError> = Vec::new();
        let mut interrupted = false;
        while let Some(joined) = set.join_next().await {
            let Ok(r) = joined else { continue };
            let log_path: PathBuf = log_dir.join(format!("{}.log", r.machine));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| Error::io(format!("failed to open {}", log_path.display()), e))?;
            let _ = file.write_all(r.log.as_bytes());
            control.emit(Event::Machine {
                phase,
                machine: r.machine.clone(),
                ok: r.failure.is_none() && !r.interrupted,
                seconds: r.elapsed.as_secs_f64(),
            });
            interrupted |= r.interrupted;
            failures.extend(r.failure.map(|f| MachineError::new(&r.machine, f)));
        }
        if interrupted {
            return Err(Error::Interrupted);
        }
        if !failures.is_empty() {
            // In the cluster's order, whatever order the machines ended in; machines that
            // failed alike on one line.
            let order: Vec<String> = machines
                .machines()
                .iter()
                .map(|(t, _)| t.name().to_string())
                .collect();
            failures.sort_by_key(|e| order.iter().position(|m| *m == e.names[0]));
            let text = fold(&failures)
                .iter()
                .map(|g| format!("{}: {}", hostlist(&g.machines), g.text))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(Error::Runtime(format!("{} failed on {text}", phase.name())));
        }
        synced.extend(sync_record);
    }
    Ok(synced)
}
