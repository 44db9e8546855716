//! A transport whose steps are scripted, not run: canned exit codes, output, delays and
//! readiness lines (hyperfine's `MockExecutor` is the model). The run lifecycle
//! (`runner::attempt`) is unit-tested through it: ready waits, timeouts, cancellation,
//! teardown after a failure, background steps, storage errors, without a process or a
//! machine, in milliseconds.
//!
//! A step's behaviour is chosen by the first rule whose key is a substring of its script;
//! a script that matches no rule exits 0 at once, printing nothing. Every call is logged,
//! in order, so that a test can say what ran, what was stopped and what was written.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::exec::process::{Capture, SharedBuf};
use crate::exec::{BoxFut, StepProc, Transport};

/// What a scripted step does once spawned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Lines printed on stdout, each after its delay from the step's start.
    pub lines: Vec<(Duration, String)>,
    /// Printed on stderr as the step exits.
    pub stderr: String,
    /// When the step exits, from its start (after its last line).
    pub runs_for: Duration,
    /// Its exit code; `None`: killed by a signal.
    pub exit: Option<i32>,
    /// Never exits by itself: only `stop_group` ends it (a server, a hung step).
    pub hangs: bool,
    /// The spawn itself fails.
    pub spawn_fails: Option<SpawnFailure>,
}

/// Why a scripted spawn fails.
#[derive(Debug, Clone)]
pub(crate) enum SpawnFailure {
    /// The machine stopped answering (`Error::Unreachable`).
    Unreachable(String),
}

impl Behaviour {
    /// Exits with `code` at once.
    pub(crate) fn exits(code: i32) -> Behaviour {
        Behaviour {
            exit: Some(code),
            ..Default::default()
        }
    }

    /// Prints `line` and exits 0.
    pub(crate) fn prints(line: &str) -> Behaviour {
        Behaviour::exits(0).line(Duration::ZERO, line)
    }

    /// Runs until stopped.
    pub(crate) fn hangs() -> Behaviour {
        Behaviour {
            hangs: true,
            ..Default::default()
        }
    }

    /// Also prints `line` `after` its start.
    pub(crate) fn line(mut self, after: Duration, line: &str) -> Behaviour {
        self.lines.push((after, line.to_string()));
        self
    }

    /// Exits `after` its start instead of at once.
    pub(crate) fn lasting(mut self, after: Duration) -> Behaviour {
        self.runs_for = after;
        self
    }

    /// Prints `text` on stderr.
    pub(crate) fn stderr(mut self, text: &str) -> Behaviour {
        self.stderr = text.to_string();
        self
    }
}

/// A call the lifecycle made, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// A step started: its rendered script and process group.
    Spawn { script: String, pgid: i32 },
    /// `stop_group` of a group that was still running.
    Stop { pgid: i32 },
    /// A file written.
    Write { path: String, content: String },
}

/// The scripted machine.
pub(crate) struct Mock {
    name: String,
    rules: Vec<(String, Behaviour)>,
    calls: Mutex<Vec<Call>>,
    next_pgid: AtomicI32,
    /// Running groups: sending `true` stops them.
    running: Mutex<HashMap<i32, watch::Sender<bool>>>,
    /// `write_file` fails (a full disk on the machine).
    pub fail_writes: bool,
}

impl Mock {
    pub(crate) fn new(name: &str) -> Mock {
        Mock {
            name: name.to_string(),
            rules: Vec::new(),
            calls: Mutex::new(Vec::new()),
            next_pgid: AtomicI32::new(100),
            running: Mutex::new(HashMap::new()),
            fail_writes: false,
        }
    }

    /// Steps whose script contains `key` behave as `b` (the first rule that matches wins).
    pub(crate) fn on(mut self, key: &str, b: Behaviour) -> Mock {
        self.rules.push((key.to_string(), b));
        self
    }

    /// Every call so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The scripts spawned, in order.
    pub(crate) fn spawned(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Spawn { script, .. } => Some(script),
                _ => None,
            })
            .collect()
    }

    /// The groups stopped while still running, as the scripts that started them.
    pub(crate) fn stopped(&self) -> Vec<String> {
        let calls = self.calls();
        let script_of = |pgid: i32| {
            calls.iter().find_map(|c| match c {
                Call::Spawn { script, pgid: p } if *p == pgid => Some(script.clone()),
                _ => None,
            })
        };
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Stop { pgid } => script_of(*pgid),
                _ => None,
            })
            .collect()
    }

    /// Groups still running now.
    pub(crate) fn running(&self) -> usize {
        self.running
            .lock()
            .map(|r| r.values().filter(|tx| !tx.is_closed()).count())
            .unwrap_or(0)
    }

    fn log(&self, c: Call) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(c);
        }
    }

    fn behaviour(&self, script: &str) -> Behaviour {
        self.rules
            .iter()
            .find(|(k, _)| script.contains(k.as_str()))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| Behaviour::exits(0))
    }
}

fn push(buf: &SharedBuf, data: &[u8]) {
    if let Ok(mut b) = buf.lock() {
        b.push(data);
    }
}

impl Transport for Mock {
    fn name(&self) -> &str {
        &self.name
    }

    fn spawn<'a>(
        &'a self,
        script: &'a str,
        _env: &'a [(String, String)],
        _wrap: &'a [String],
    ) -> BoxFut<'a, Result<StepProc>> {
        Box::pin(async move {
            let b = self.behaviour(script);
            match b.spawn_fails {
                Some(SpawnFailure::Unreachable(m)) => return Err(Error::Unreachable(m)),
                None => {}
            }
            let pgid = self.next_pgid.fetch_add(1, Ordering::SeqCst);
            self.log(Call::Spawn {
                script: script.to_string(),
                pgid,
            });
            let (stop_tx, mut stop) = watch::channel(false);
            if let Ok(mut r) = self.running.lock() {
                r.insert(pgid, stop_tx);
            }
            let stdout: SharedBuf = Arc::new(Mutex::new(Capture::default()));
            let stderr: SharedBuf = Arc::new(Mutex::new(Capture::default()));
            let (closed_tx, closed) = watch::channel(0usize);
            let (exit_tx, exited) = watch::channel(None);
            let (out, err) = (stdout.clone(), stderr.clone());
            let start = tokio::time::Instant::now();
            tokio::spawn(async move {
                // Runs the script; `true` when it was stopped first.
                let script = async {
                    for (after, line) in &b.lines {
                        tokio::time::sleep_until(start + *after).await;
                        push(&out, format!("{line}\n").as_bytes());
                    }
                    if b.hangs {
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep_until(start + b.runs_for).await;
                };
                let stopped = tokio::select! {
                    _ = script => false,
                    _ = stop.wait_for(|s| *s) => true,
                };
                if !stopped {
                    push(&err, b.stderr.as_bytes());
                }
                for buf in [&out, &err] {
                    if let Ok(mut c) = buf.lock() {
                        c.close();
                    }
                }
                let code = if stopped { None } else { b.exit };
                let _ = closed_tx.send(2);
                let _ = exit_tx.send(Some((code, Instant::now())));
            });
            Ok(StepProc::from_parts(pgid, stdout, stderr, closed, exited))
        })
    }

    fn stop_group(&self, pgid: i32, _grace: Duration) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let sender = self.running.lock().ok().and_then(|mut r| r.remove(&pgid));
            if let Some(tx) = sender {
                if !tx.is_closed() {
                    self.log(Call::Stop { pgid });
                    let _ = tx.send(true);
                    // Like a real stop: returns when the group is gone.
                    tx.closed().await;
                }
            }
        })
    }

    fn group_alive(&self, pgid: i32) -> bool {
        self.running
            .lock()
            .map(|r| r.get(&pgid).is_some_and(|tx| !tx.is_closed()))
            .unwrap_or(false)
    }

    fn write_file(&self, path: &str, content: &[u8]) -> Result<()> {
        if self.fail_writes {
            return Err(Error::Runtime(format!("{path}: No space left on device")));
        }
        self.log(Call::Write {
            path: path.to_string(),
            content: String::from_utf8_lossy(content).into_owned(),
        });
        Ok(())
    }

    /// The run directories are real (inside the test's result set): the logs go there.
    fn create_dir(&self, path: &str) -> Result<()> {
        std::fs::create_dir_all(Path::new(path))
            .map_err(|e| Error::Runtime(format!("failed to create {path}: {e}")))
    }
}
