//! Running shell commands on machines: the `Transport` trait and its implementations,
//! process groups, the orphan guard, and collecting output.

pub mod guard;
pub mod local;
pub mod process;

pub use local::Local;
pub use process::{Output, StepProc};

use std::time::Duration;

use crate::error::Result;

/// How a command reaches a machine. Every step runs as `sh -c SCRIPT` in a process group of
/// its own on that machine, so that it and all its children can be stopped together.
pub trait Transport: Send + Sync {
    /// The machine's name in messages and records.
    fn name(&self) -> &str;

    /// Starts `script` with `env` set; stdout and stderr are captured.
    fn spawn(&self, script: &str, env: &[(String, String)]) -> Result<StepProc>;

    /// Sends TERM to a process group, then KILL after `grace`; returns when the group is gone.
    fn stop_group(
        &self,
        pgid: i32,
        grace: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;

    /// Whether any process of the group is still alive.
    fn group_alive(&self, pgid: i32) -> bool;

    /// Writes a file on the machine (creating parent directories).
    fn write_file(&self, path: &str, content: &[u8]) -> Result<()>;

    /// Creates a directory (and parents) on the machine.
    fn create_dir(&self, path: &str) -> Result<()>;
}
