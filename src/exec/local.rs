//! The local machine: `sh -c` in a new process group, signals with killpg.

use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::exec::guard::Guard;
use crate::exec::spawn;
use crate::exec::{BoxFut, StepProc, Transport};

pub(crate) struct Local {
    name: String,
    guard: Arc<Guard>,
}

impl Local {
    pub(crate) fn new(name: &str) -> Result<Local> {
        Ok(Local {
            name: name.to_string(),
            guard: Arc::new(Guard::start()?),
        })
    }
}

/// Whether a process group has a member left that is not a zombie. Zombies are ignored:
/// an orphan's zombie waits for PID 1 to reap it, which some init processes do lazily.
pub(crate) fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != "Z" && state != "X" {
            return true;
        }
    }
    false
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: sending a signal to a process group we created; errors (ESRCH) are ignored.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// TERM, wait up to `grace` for the group to go, then KILL and wait for it to go.
pub(crate) async fn stop_local_group(pgid: i32, grace: Duration) {
    if pgid <= 1 || !group_alive(pgid) {
        return;
    }
    signal_group(pgid, libc::SIGTERM);
    // SIGCONT wakes stopped members so that they can act on TERM.
    signal_group(pgid, libc::SIGCONT);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    while group_alive(pgid) && start.elapsed() < grace {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
        let start = Instant::now();
        while group_alive(pgid) && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `/bin/sh` by absolute path: a PATH search costs a failed exec per directory on every step.
fn shell() -> &'static str {
    static SH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    SH.get_or_init(|| {
        if std::path::Path::new("/bin/sh").exists() {
            "/bin/sh"
        } else {
            "sh"
        }
    })
}

impl Transport for Local {
    fn name(&self) -> &str {
        &self.name
    }

    fn spawn<'a>(
        &'a self,
        script: &'a str,
        env: &'a [(String, String)],
        wrap: &'a [String],
    ) -> BoxFut<'a, Result<StepProc>> {
        Box::pin(async move { self.spawn_now(script, env, wrap) })
    }

    fn stop_group(&self, pgid: i32, grace: Duration) -> BoxFut<'_, ()> {
        Box::pin(async move {
            stop_local_group(pgid, grace).await;
            self.guard.unregister(pgid);
        })
    }

    fn group_alive(&self, pgid: i32) -> bool {
        group_alive(pgid)
    }

    fn write_file(&self, path: &str, content: &[u8]) -> Result<()> {
        let p = std::path::Path::new(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .ctx(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(p, content).ctx(|| format!("failed to write {path}"))
    }

    fn create_dir(&self, path: &str) -> Result<()> {
        // One mkdir in the common case (parent exists); the full walk only when it is needed.
        std::fs::create_dir(path)
            .or_else(|_| std::fs::create_dir_all(path))
            .ctx(|| format!("failed to create {path}"))
    }
}

/// Put before a step's script, on its first line (so the shell's line numbers stay the
/// script's): registers the shell's group (`$$`, the leader: `process_group(0)`) with the
/// guard, exits if the parent that spawned it is no longer mpf, and clears its variables.
const REGISTER_PREFIX: &str = "echo \"+ $$\" >>\"$MPF_GUARD_REGISTRY\"; [ \"$PPID\" = \"$MPF_GUARD_PARENT\" ] || exit 127; unset MPF_GUARD_REGISTRY MPF_GUARD_PARENT; ";

impl Local {
    fn spawn_now(
        &self,
        script: &str,
        env: &[(String, String)],
        wrap: &[String],
    ) -> Result<StepProc> {
        // The step's shell (its group's leader) registers its group before the step's first
        // command, and gives up if mpf is already gone: a SIGKILL of mpf while it starts a
        // step never leaves the step behind. Done by the shell rather than between fork and
        // exec, which would make every spawn a full fork of mpf instead of a vfork: 0.3 ms a
        // run.
        let registry = self.guard.registry_path();
        let script = format!("{REGISTER_PREFIX}{script}");
        let parent = parent_pid();
        if wrap.is_empty() && shell().starts_with('/') && spawn::available() {
            self.spawn_shell(&script, registry, parent, env)
        } else {
            self.spawn_command(&script, registry, parent, env, wrap)
        }
    }

    /// The shell by `exec::spawn`: what a step without a namespace or CPU prefix takes.
    fn spawn_shell(
        &self,
        script: &str,
        registry: &std::path::Path,
        parent: &str,
        env: &[(String, String)],
    ) -> Result<StepProc> {
        let argv = [shell().as_ref(), "-c".as_ref(), script.as_ref()];
        let mut vars: Vec<(&OsStr, &OsStr)> = Vec::with_capacity(env.len() + 2);
        vars.push(("MPF_GUARD_REGISTRY".as_ref(), registry.as_os_str()));
        vars.push(("MPF_GUARD_PARENT".as_ref(), parent.as_ref()));
        vars.extend(env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        let child = spawn::spawn(&argv, &vars).ctx(|| "failed to start sh".into())?;
        // Registered the moment it exists, whatever comes next.
        self.guard.register(child.pid);
        StepProc::spawned(child).ctx(|| "failed to read a step's output".into())
    }

    /// The shell through tokio's `Command`, after `wrap` (a namespace or CPU prefix) when
    /// there is one.
    fn spawn_command(
        &self,
        script: &str,
        registry: &std::path::Path,
        parent: &str,
        env: &[(String, String)],
        wrap: &[String],
    ) -> Result<StepProc> {
        // A namespace/CPU prefix costs nothing when there is none.
        let mut cmd = match wrap.split_first() {
            None => tokio::process::Command::new(shell()),
            Some((first, rest)) => {
                let mut c = tokio::process::Command::new(first);
                c.args(rest).arg(shell());
                c
            }
        };
        cmd.arg("-c")
            .arg(script)
            .env("MPF_GUARD_REGISTRY", registry)
            .env("MPF_GUARD_PARENT", parent)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().ctx(|| "failed to start sh".into())?;
        let pgid = child
            .id()
            .ok_or_else(|| Error::Runtime("started process has no pid".into()))?
            as i32;
        self.guard.register(pgid);
        Ok(StepProc::new(child, pgid))
    }
}

/// mpf's pid, as the step's shell checks its parent against it.
fn parent_pid() -> &'static str {
    static PID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PID.get_or_init(|| std::process::id().to_string())
}

#[cfg(test)]
mod tests {
    use super::REGISTER_PREFIX;
    use std::process::Command;

    /// `sh -c PREFIX+script` as a step's shell runs, with the guard's variables; returns the
    /// exit code, stdout, stderr, the registry's text and the shell's pid.
    fn step(script: &str, parent: u32) -> (Option<i32>, String, String, String, u32) {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{REGISTER_PREFIX}{script}"))
            .env("MPF_GUARD_REGISTRY", &registry)
            .env("MPF_GUARD_PARENT", parent.to_string())
            .output()
            .unwrap();
        let text = std::fs::read_to_string(&registry).unwrap_or_default();
        let pid = text
            .trim()
            .strip_prefix("+ ")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        (
            child.status.code(),
            String::from_utf8_lossy(&child.stdout).into_owned(),
            String::from_utf8_lossy(&child.stderr).into_owned(),
            text,
            pid,
        )
    }

    #[test]
    fn the_step_shell_registers_its_group_then_runs_the_step_without_the_guards_variables() {
        let (code, out, _, registry, pid) = step(
            "echo \"ran $$ ${MPF_GUARD_REGISTRY:-unset} ${MPF_GUARD_PARENT:-unset}\"",
            std::process::id(),
        );
        assert_eq!(code, Some(0));
        assert!(pid > 0, "{registry:?}");
        assert_eq!(registry, format!("+ {pid}\n"));
        assert_eq!(out, format!("ran {pid} unset unset\n"));
    }

    #[test]
    fn a_step_whose_spawner_is_gone_exits_before_running() {
        // The shell's parent is not the given one: mpf died and the shell was re-parented.
        let (code, out, _, registry, _) = step("echo ran", 1);
        assert_eq!(code, Some(127));
        assert_eq!(out, "");
        assert!(
            registry.starts_with("+ "),
            "registered all the same: {registry:?}"
        );
    }

    #[test]
    fn the_scripts_line_numbers_are_its_own() {
        let (_, _, err, _, _) = step("true\nmpf_no_such_command_x", std::process::id());
        assert!(err.contains("2: mpf_no_such_command_x"), "{err}");
    }
}
