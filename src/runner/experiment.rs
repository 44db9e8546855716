//! The experiment loop: facts, every planned run (skipping those a resumed journal already
//! holds), retries, `on_failure`, signals, and the final status.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::Result;
use crate::facts;
use crate::plan::{Plan, PlannedRun};
use crate::runner::machines::Machines;
use crate::runner::progress::{point_text, results_text, Progress};
use crate::runner::run::RunEnv;
use crate::spec::{Experiment, OnFailure};
use crate::store::writer::SetWriter;
use crate::store::{now_rfc3339, ResultInfo, RunRecord, RunStatus, SetStatus};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show a progress bar (a terminal and no `--quiet`).
    pub interactive: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Runs of this session.
    pub ok: usize,
    pub failed: usize,
    /// Runs of the whole result set (a resumed set includes earlier sessions).
    pub set_ok: usize,
    pub set_failed: usize,
    pub skipped: usize,
    pub interrupted: bool,
    pub stopped: bool,
}

/// Listens for SIGINT, SIGTERM and SIGHUP: the first cancels the experiment gracefully
/// (processes stopped, teardown run, results written); a second exits at once (the guard
/// still kills every process group).
fn watch_signals(tx: watch::Sender<bool>) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        for n in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if n == 0 {
                eprintln!(
                    "\ninterrupted: stopping the current run (press Ctrl-C again to quit at once)"
                );
                let _ = tx.send(true);
            } else {
                std::process::exit(crate::error::exit::INTERRUPTED);
            }
        }
    });
}

/// Identity of a run independent of its index, for resuming with a changed plan.
fn run_key(point: &serde_json::Map<String, serde_json::Value>, repetition: usize) -> String {
    format!(
        "{}#{repetition}",
        serde_json::to_string(point).unwrap_or_default()
    )
}

/// Describes a result first seen in a run: a per-role result (`goodput.server`) takes the unit
/// and direction of its extractor; `<step>.duration` is seconds, lower is better; an
/// undeclared `mpf-result` is unitless, higher is better.
fn result_info(exp: &Experiment, name: &str, series: bool) -> ResultInfo {
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
fn add_result_infos(
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

/// Runs every remaining run of `plan`, appending each to `writer` as it finishes.
pub async fn run_experiment(
    exp: &Experiment,
    plan: &Plan,
    machines: &Machines,
    writer: &mut SetWriter,
    opts: &Options,
) -> Result<Summary> {
    let (tx, rx) = watch::channel(false);
    watch_signals(tx);

    // Host facts of every machine, gathered concurrently.
    if writer.manifest.hosts.is_empty() {
        let mut set = JoinSet::new();
        for (t, roles) in machines.machines() {
            let t = Arc::clone(&t);
            set.spawn(async move { facts::gather(t.as_ref(), roles).await });
        }
        while let Some(Ok(f)) = set.join_next().await {
            writer.manifest.hosts.push(f);
        }
        writer.manifest.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        writer.write_manifest()?;
    }

    // Results first seen in runs that a lost manifest write (a kill) never described.
    let recorded: Vec<_> = writer.records().iter().map(|r| r.results.clone()).collect();
    for results in &recorded {
        add_result_infos(exp, &mut writer.manifest.results, results);
    }

    let done_keys: HashSet<String> = writer
        .records()
        .iter()
        .map(|r| run_key(&r.point, r.repetition))
        .collect();
    let used_indices: HashSet<usize> = writer.records().iter().map(|r| r.index).collect();
    let mut next_free = used_indices
        .iter()
        .max()
        .map_or(0, |m| m + 1)
        .max(plan.runs.len());
    let mut todo: Vec<PlannedRun> = Vec::new();
    for r in &plan.runs {
        if done_keys.contains(&run_key(&plan.point(r.point), r.repetition)) {
            continue;
        }
        let mut r = *r;
        if used_indices.contains(&r.index) {
            r.index = next_free;
            next_free += 1;
        }
        todo.push(r);
    }
    let mut summary = Summary {
        skipped: plan.runs.len() - todo.len(),
        ..Default::default()
    };

    let (roles_ctx, links_ctx) = machines.context();
    let set_dir = writer.dir().to_path_buf();
    let set_id = writer.manifest.id.clone();
    let env = RunEnv {
        exp,
        plan,
        machines,
        set_id: &set_id,
        set_dir: &set_dir,
        roles_ctx,
        links_ctx,
        cancel: rx.clone(),
    };
    let constant = |name: &str| exp.variable(name).is_some_and(|v| v.is_constant());
    let mut progress = Progress::new(plan.runs.len(), summary.skipped, opts.interactive);
    if summary.skipped > 0 {
        progress.log(&format!(
            "resuming: {} runs already recorded, {} to go",
            summary.skipped,
            todo.len()
        ));
    }

    for run in &todo {
        if *rx.borrow() {
            summary.interrupted = true;
            break;
        }
        let started = now_rfc3339();
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let o = env.execute(run).await;
            if o.status == RunStatus::Ok
                || o.interrupted
                || o.storage_error.is_some()
                || attempts > exp.retries
            {
                break o;
            }
            progress.log(&format!(
                "run {:04}: attempt {attempts} failed ({}), retrying",
                run.index,
                o.error.as_deref().unwrap_or("")
            ));
        };
        if let Some(e) = outcome.storage_error {
            // The set can't hold this run (a full disk): it isn't recorded, so that
            // `--resume` runs it again once there is room.
            progress.finish();
            let _ = writer.finish(SetStatus::Failed);
            return Err(crate::error::Error::Runtime(e));
        }
        if outcome.interrupted {
            // An interrupted run is not recorded: `--resume` runs it again.
            summary.interrupted = true;
            break;
        }
        add_result_infos(exp, &mut writer.manifest.results, &outcome.results);
        let record = RunRecord {
            index: run.index,
            point_index: run.point,
            point: plan.point(run.point),
            repetition: run.repetition,
            status: outcome.status,
            attempts,
            results: outcome.results,
            steps: outcome.steps,
            started,
            ended: now_rfc3339(),
            error: outcome.error,
            notes: outcome.notes,
        };
        progress.finished(
            run.index,
            &point_text(&plan.labels(run.point), &constant),
            record.status,
            &results_text(&record.results, &writer.manifest.results),
            record.error.as_deref(),
        );
        let failed = record.status == RunStatus::Failed;
        writer.append(record)?;
        if failed {
            summary.failed += 1;
            if exp.on_failure == OnFailure::Stop {
                summary.stopped = true;
                break;
            }
        } else {
            summary.ok += 1;
        }
    }
    progress.finish();
    let status = if summary.interrupted {
        SetStatus::Interrupted
    } else if summary.stopped {
        SetStatus::Failed
    } else {
        SetStatus::Complete
    };
    writer.finish(status)?;
    summary.set_ok = writer.manifest.runs_ok;
    summary.set_failed = writer.manifest.runs_failed;
    Ok(summary)
}
