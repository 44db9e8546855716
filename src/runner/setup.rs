//! The `setup` section: once per experiment, before the first run. Each entry's command runs
//! once per machine (even when the machine bears several of the entry's roles), on all its
//! machines at once; output goes to `setup/<machine>.log` in the result set.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::exec::Transport;
use crate::runner::machines::Machines;
use crate::spec::Experiment;
use crate::template;

/// Refuses setup features that are not available yet, before anything runs.
pub fn check_supported(exp: &Experiment) -> Result<()> {
    for s in &exp.setup {
        if s.sync.is_some() || s.packages.is_some() {
            return Err(Error::Input {
                location: s.loc.clone(),
                message: "setup sync and packages are not supported yet (only run:); see the deploy issue".into(),
            });
        }
    }
    Ok(())
}

/// Runs every setup entry; stops at the first failure with the machine, command and output tail.
pub async fn run_setup(
    exp: &Experiment,
    machines: &Machines,
    set_id: &str,
    set_dir: &Path,
) -> Result<()> {
    if exp.setup.is_empty() {
        return Ok(());
    }
    let log_dir = set_dir.join("setup");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| Error::io(format!("failed to create {}", log_dir.display()), e))?;
    let (roles_ctx, links_ctx) = machines.context();
    for entry in &exp.setup {
        let Some(run) = &entry.run else { continue };
        let mut base = Map::new();
        base.insert("roles".into(), roles_ctx.clone());
        base.insert("links".into(), links_ctx.clone());
        base.insert("experiment".into(), json!({"id": set_id, "name": exp.name}));
        for v in &exp.variables {
            // Setup sees the first value of each variable (constants are what it needs).
            base.insert(
                v.name.clone(),
                v.values.first().cloned().unwrap_or(Value::Null),
            );
        }
        // One command per machine: the first of the entry's roles that lives there.
        let mut targets: Vec<(Arc<dyn Transport>, String, Vec<String>)> = Vec::new();
        for name in &entry.role.names {
            let name =
                template::render(name, &minijinja::Value::from_serialize(&base)).map_err(|m| {
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
                let b = machines.roles.get(&r).ok_or_else(|| Error::Input {
                    location: entry.role.loc.clone(),
                    message: format!("role '{r}' is not bound to any machine"),
                })?;
                if !targets.iter().any(|(t, _, _)| Arc::ptr_eq(t, &b.transport)) {
                    targets.push((b.transport.clone(), r, b.wrap.clone()));
                }
            }
        }
        let mut set = JoinSet::new();
        for (t, role, wrap) in targets {
            let mut ctx = base.clone();
            ctx.insert("role".into(), Value::String(role.clone()));
            let script = template::render(&run.text, &minijinja::Value::from_serialize(&ctx))
                .map_err(|m| Error::Input {
                    location: run.loc.clone(),
                    message: format!("setup: {m}"),
                })?;
            let timeout = entry.timeout;
            set.spawn(async move {
                let res = async {
                    let mut p = t.spawn(&script, &[], &wrap).await?;
                    let pgid = p.pgid;
                    let timed_out = tokio::time::timeout(timeout, p.wait()).await.is_err();
                    t.stop_group(pgid, std::time::Duration::from_secs(2)).await;
                    Ok::<_, Error>(p.finish(timed_out).await)
                }
                .await;
                (t, script, res)
            });
        }
        let mut failure = None;
        while let Some(joined) = set.join_next().await {
            let Ok((t, script, res)) = joined else {
                continue;
            };
            let log = log_dir.join(format!("{}.log", t.name()));
            let mut text = format!("$ {}\n", script.trim());
            match res {
                Ok(out) => {
                    text.push_str(&String::from_utf8_lossy(&out.stdout));
                    text.push_str(&String::from_utf8_lossy(&out.stderr));
                    let _ = writeln!(
                        text,
                        "[exit {:?}{}]",
                        out.exit,
                        if out.timed_out { ", timed out" } else { "" }
                    );
                    if (out.exit != Some(0) || out.timed_out) && failure.is_none() {
                        let all = format!(
                            "{}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        );
                        let lines: Vec<&str> = all.lines().collect();
                        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
                        failure = Some(format!(
                            "setup failed on {} ({}): {}\n$ {}\n{tail}",
                            t.name(),
                            if out.timed_out {
                                "timed out".to_string()
                            } else {
                                format!("exit status {:?}", out.exit)
                            },
                            run.loc,
                            script.trim()
                        ));
                    }
                }
                Err(e) => {
                    let _ = writeln!(text, "[failed to start: {e}]");
                    failure = failure.or(Some(format!("setup failed on {}: {e}", t.name())));
                }
            }
            let mut prev = std::fs::read_to_string(&log).unwrap_or_default();
            prev.push_str(&text);
            let _ = std::fs::write(&log, prev);
        }
        if let Some(f) = failure {
            return Err(Error::Runtime(f));
        }
    }
    Ok(())
}
