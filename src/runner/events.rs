//! The library's boundary with whoever drives it: it reports what happens as [`Event`]s to a
//! [`Reporter`] the caller supplies, and it is stopped through a [`Cancel`] the caller holds.
//! The library never prints, never installs signal handlers and never ends the process: the
//! binary decides what is shown and the exit code (and the Python package does the same with
//! its own reporter and `KeyboardInterrupt`).

use std::sync::Arc;

use tokio::sync::watch;

use crate::store::record::{PointValue, RunResult};
use crate::store::RunStatus;

/// Something worth telling the user, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The loop over the plan begins: `total` runs planned, `already` recorded by earlier
    /// sessions of a resumed set.
    Started { total: usize, already: usize },
    /// One setup (or cleanup) entry finished on one machine.
    Machine {
        phase: Phase,
        machine: String,
        ok: bool,
        seconds: f64,
    },
    /// A run finished and was recorded.
    RunFinished {
        index: usize,
        /// The swept variables of the point, with their typed values and labels
        /// (`store::record::point_text` shows them as `parallel=2, zerocopy=enabled`).
        point: Vec<PointValue>,
        status: RunStatus,
        /// The results as numbers in their base units (step durations left out).
        results: Vec<RunResult>,
        /// Why the run failed (`None` when it passed).
        failure: Option<Failure>,
    },
    /// An attempt of a run failed and is retried.
    Retrying {
        index: usize,
        attempt: usize,
        failure: Failure,
    },
    /// An adaptive design or a search decided its next round: `total` runs are now asked for
    /// (up to the end of the round); `status` says what it is doing ("round 4: 7 points still
    /// noisy", "rate: 1.2 M–1.4 M").
    Round {
        total: usize,
        status: Option<String>,
    },
    /// What the searches found (`variable` is the searched one), once the loop ended.
    Limits {
        variable: String,
        limits: Vec<crate::store::Limit>,
    },
    /// A profile's block begins (SPEC §18.1): the machines are switched to `variable` =
    /// `value` (shown as `label`), block `number` of `of`.
    Block {
        variable: String,
        value: serde_json::Value,
        label: String,
        number: usize,
        of: usize,
    },
    /// The loop over the plan ended.
    Finished,
    /// Information (a resumed set, a note about the input).
    Note(String),
    /// Something the user should act on, that does not stop the experiment.
    Warning(String),
}

/// Why a run (or an attempt of it) failed: what kind of failure, for programs that act on it,
/// and the message shown to people (the journal's `error`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// The kinds of run failure. `step` is the step's name; `machine` the machine's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The run could not be prepared: its roles, its directories or its templated files.
    Prepare,
    /// A step could not be started (its script does not render, the process won't start).
    Spawn { step: String },
    /// A step ended with a non-zero exit code (`None`: killed by a signal).
    Exit { step: String, code: Option<i32> },
    /// A step ran past its timeout.
    Timeout { step: String },
    /// A background step never became ready (or ended before it was).
    Ready { step: String },
    /// A declared result could not be read from the run's output.
    Extraction,
    /// A remote run directory could not be brought back.
    Collection,
    /// The result set could not hold the run (a full disk).
    Storage,
    /// A machine stopped answering during the run.
    MachineLost { machine: String },
    /// The run was interrupted (never recorded).
    Interrupted,
    /// Its profile's switch failed (SPEC §18.1): the run never ran.
    Switch,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The kind's name in the JSON event stream and the docs.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            FailureKind::Prepare => "prepare",
            FailureKind::Spawn { .. } => "spawn",
            FailureKind::Exit { .. } => "exit",
            FailureKind::Timeout { .. } => "timeout",
            FailureKind::Ready { .. } => "ready",
            FailureKind::Extraction => "extraction",
            FailureKind::Collection => "collection",
            FailureKind::Storage => "storage",
            FailureKind::MachineLost { .. } => "machine_lost",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Switch => "switch",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Which part of a session a machine event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Setup,
    Cleanup,
    /// A profile's `run` entries before a block of runs (SPEC §18.1).
    Switch,
    /// A profile's `revert` entries after a block.
    Revert,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Cleanup => "cleanup",
            Phase::Switch => "switch",
            Phase::Revert => "revert",
        }
    }
}

/// Receives events. Called from the runner's thread; it must not block for long.
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event);
}

/// Drops every event (library users who only want the result).
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: Event) {}
}

/// Collects events in memory (tests, and callers that show them afterwards).
#[derive(Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl Reporter for Collect {
    fn event(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

/// Asks a running experiment, setup or deploy to stop gracefully: the current run's processes
/// are stopped, teardown and cleanup run, what was recorded is written, and the call returns
/// (`SessionOutcome::interrupted`, or `Error::Interrupted`). Cheap to clone; usable from any thread
/// (a signal-handling thread, Python's interrupt check).
#[derive(Clone)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(Arc::new(watch::channel(false).0))
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cancel({})", self.is_cancelled())
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// A receiver for `select!` in async code.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Resolves once cancelled (never, if it is not).
    pub async fn cancelled(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// What a session needs from its caller: where events go and how it is stopped.
#[derive(Clone)]
pub struct Control {
    pub reporter: Arc<dyn Reporter>,
    pub cancel: Cancel,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            reporter: Arc::new(Silent),
            cancel: Cancel::new(),
        }
    }
}

impl Control {
    pub fn new(reporter: Arc<dyn Reporter>, cancel: Cancel) -> Self {
        Control { reporter, cancel }
    }

    pub fn emit(&self, event: Event) {
        self.reporter.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_seen_by_clones_and_waiters() {
        let c = Cancel::new();
        let d = c.clone();
        assert!(!d.is_cancelled());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let waiter = tokio::spawn({
                let d = d.clone();
                async move { d.cancelled().await }
            });
            tokio::task::yield_now().await;
            c.cancel();
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("waiter woke")
                .unwrap();
        });
        assert!(d.is_cancelled());
    }

    #[test]
    fn collect_keeps_events_in_order() {
        let r = Collect::default();
        r.event(Event::Note("a".into()));
        r.event(Event::Finished);
        assert_eq!(
            *r.0.lock().unwrap(),
            vec![Event::Note("a".into()), Event::Finished]
        );
    }
}
