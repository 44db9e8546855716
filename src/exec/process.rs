//! A started step: its process, captured output, and waiting with a deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Output captured so far, shared with readiness checks that look for a log line.
pub type SharedBuf = Arc<Mutex<Vec<u8>>>;

pub struct StepProc {
    /// Process group id on the machine.
    pub pgid: i32,
    pub started: Instant,
    /// Set once the process has exited: (exit code, when). The child is reaped by its own
    /// task the moment it exits, so that a zombie never keeps its process group alive.
    exited: watch::Receiver<Option<(Option<i32>, Instant)>>,
    stdout: SharedBuf,
    stderr: SharedBuf,
    readers: Vec<JoinHandle<()>>,
    pub exit: Option<Option<i32>>,
    pub ended: Option<Instant>,
}

/// What a finished (or stopped) step printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when killed by a signal.
    pub exit: Option<i32>,
    pub duration: Duration,
    pub timed_out: bool,
}

fn pump<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut r: R,
    buf: SharedBuf,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = buf.lock() {
                        b.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    })
}

impl StepProc {
    /// Wraps a spawned child whose stdout and stderr are pipes.
    pub fn new(child: Child, pgid: i32) -> StepProc {
        StepProc::holding(child, pgid, None)
    }

    /// Like `new`, keeping `hold` (a session permit) until the process exits.
    pub fn holding(mut child: Child, pgid: i32, hold: Option<Box<dyn Send>>) -> StepProc {
        let stdout: SharedBuf = Default::default();
        let stderr: SharedBuf = Default::default();
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(pump(o, stdout.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(pump(e, stderr.clone()));
        }
        let (tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|st| st.code());
            let _ = tx.send(Some((code, Instant::now())));
            drop(hold);
        });
        StepProc {
            pgid,
            started: Instant::now(),
            exited,
            stdout,
            stderr,
            readers,
            exit: None,
            ended: None,
        }
    }

    /// Output so far (both streams), for readiness checks.
    pub fn output_so_far(&self) -> (SharedBuf, SharedBuf) {
        (self.stdout.clone(), self.stderr.clone())
    }

    /// Waits for the process to exit. Cancel-safe: may be called again after a timeout.
    pub async fn wait(&mut self) -> Option<i32> {
        if let Some(e) = self.exit {
            return e;
        }
        let got = self
            .exited
            .wait_for(|v| v.is_some())
            .await
            .ok()
            .and_then(|v| *v);
        let (code, at) = got.unwrap_or((None, Instant::now()));
        self.exit = Some(code);
        self.ended = Some(at);
        code
    }

    /// Has the process exited (without blocking)?
    pub fn try_exited(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        let got = *self.exited.borrow();
        match got {
            Some((code, at)) => {
                self.exit = Some(code);
                self.ended = Some(at);
                true
            }
            None => false,
        }
    }

    /// Collects the output once the process is gone. Descendants that still hold the pipes
    /// (daemons that escaped the group) are not waited for beyond a short grace.
    pub async fn finish(mut self, timed_out: bool) -> Output {
        let exit = self.wait().await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout_at(deadline, r).await;
        }
        let take = |b: &SharedBuf| {
            b.lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default()
        };
        Output {
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
            exit,
            duration: self.ended.unwrap_or_else(Instant::now) - self.started,
            timed_out,
        }
    }
}
