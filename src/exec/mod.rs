//! Running shell commands on machines: the `Transport` trait and its implementations,
//! process groups, the orphan guard, and collecting output.

pub(crate) mod container;
pub(crate) mod ctl_dir;
pub(crate) mod guard;
pub(crate) mod local;
#[cfg(test)]
pub(crate) mod mock;
pub(crate) mod process;
pub(crate) mod slot;
pub(crate) mod spawn;
pub(crate) mod srun;
pub(crate) mod ssh;

pub(crate) use local::Local;
pub(crate) use process::{Output, StepProc};
pub(crate) use ssh::{Ssh, SshConfig, Via};

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use crate::error::Result;

/// A boxed future, so that `Transport` stays object-safe.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a command reaches a machine. Every step runs as `sh -c SCRIPT` in a process group of
/// its own on that machine, so that it and all its children can be stopped together.
pub trait Transport: Send + Sync {
    /// The machine's name in messages and records.
    fn name(&self) -> &str;

    /// Starts `script` with `env` set; stdout and stderr are captured. `wrap` is a command
    /// prefix the shell runs under (`ip netns exec NS taskset -c CPU`), empty for none.
    /// The returned `pgid` identifies the group for `stop_group` on this transport.
    fn spawn<'a>(
        &'a self,
        script: &'a str,
        env: &'a [(String, String)],
        wrap: &'a [String],
    ) -> BoxFut<'a, Result<StepProc>>;

    /// Sends TERM to a process group, then KILL after `grace`; returns when the group is gone.
    fn stop_group(&self, pgid: i32, grace: Duration) -> BoxFut<'_, ()>;

    /// Whether any process of the group is still alive.
    fn group_alive(&self, pgid: i32) -> bool;

    /// Writes a file on the machine (creating parent directories).
    fn write_file(&self, path: &str, content: &[u8]) -> Result<()>;

    /// Creates a directory (and parents) on the machine.
    fn create_dir(&self, path: &str) -> Result<()>;

    /// Where this machine keeps the run directories of result set `set_id`; `None` when they
    /// are the result set's own directories (the local machine).
    fn remote_root(&self, _set_id: &str) -> Option<String> {
        None
    }

    /// Makes the root of result set `set_id`'s run directories on the machine (`remote_root`)
    /// ready before the first run: created, private. An error is the machine's to report when
    /// its first run needs the root.
    fn prepare_root<'a>(&'a self, set_id: &'a str) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            match self.remote_root(set_id) {
                Some(root) => self.create_dir(&root),
                None => Ok(()),
            }
        })
    }

    /// For a remote machine: the `ssh` command line (program first) that opens a session over
    /// its shared connection, and the destination argument, for tools such as rsync (with
    /// `transport: srun`, a command that takes ssh's `[--] DEST COMMAND...` and runs COMMAND
    /// as a step of the job: it cannot forward ports). `None` for the local machine.
    fn ssh_command(&self) -> Option<(Vec<String>, String)> {
        None
    }

    /// Why the allocation that holds this machine is over (`transport: srun`: its Slurm job is
    /// no longer running), when it is; `None` for a machine of no allocation, or when that
    /// cannot be told. Asked after a failed run, so that a run the end of the job failed is
    /// not recorded as the run's failure.
    fn allocation_ended(&self) -> Option<String> {
        None
    }

    /// Facts about the machine that mpf knows rather than reads on it (a container's image
    /// and its digest), added to its host facts as settings.
    fn facts(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// A new block of the profile: `variable` is now `value`. A container machine whose image
    /// names that variable is restarted from the image it renders (the old container removed
    /// first) when that differs from the running one; nothing for other machines.
    fn enter_value<'a>(
        &'a self,
        _variable: &'a str,
        _value: &'a serde_json::Value,
    ) -> BoxFut<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Closes the connection of a remote machine (its helper sweeps what is still registered,
    /// its master exits); nothing for the local machine. Idempotent, and done on drop too:
    /// `machines::disconnect_all` closes many machines at once.
    fn disconnect(&self) {}

    /// Copies the directory `remote` of the machine into `local` and removes it there.
    fn collect_dir<'a>(&'a self, _remote: &'a str, _local: &'a Path) -> BoxFut<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The single-threaded tokio runtime every session runs on.
pub(crate) fn runtime() -> crate::error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::io("failed to start the async runtime", e))
}

/// Quotes a word for a POSIX shell: the one quoter of mpf (templates' `quote` filter too).
/// Every value that goes into a shell command line goes through it, at the nesting level
/// where it is spliced (never into a string that is already quoted).
pub(crate) fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command prefix of a role in a network namespace and/or pinned to CPUs.
pub(crate) fn wrap_for(namespace: Option<&str>, cpu_id: Option<&str>) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(ns) = namespace {
        w.extend(["ip", "netns", "exec", ns].map(String::from));
    }
    if let Some(cpu) = cpu_id {
        w.extend(["taskset", "-c", cpu].map(String::from));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sh` makes of `printf %s QUOTED`.
    fn through_sh(s: &str) -> Vec<u8> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote(s)))
            .output()
            .unwrap();
        out.stdout
    }

    #[test]
    fn quoted_words_come_back_unchanged() {
        assert_eq!(sh_quote("abc"), "abc");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote("a b;c"), "'a b;c'");
        for s in [
            "a b'; touch /tmp/x; '",
            "$(id)",
            "`id`",
            "\\",
            "-n",
            "*",
            "a\nb",
            "~",
        ] {
            assert_eq!(through_sh(s), s.as_bytes(), "{s}");
        }
    }
}
