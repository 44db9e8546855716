//! A started step: its process, captured output, and waiting with a deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lines a transport's own wrapper writes on a step's stderr to talk to mpf; removed from the
/// step's captured stderr.
pub const INTERNAL_MARK: &str = "mpf-internal-7f3a:";

/// Counts a finished output stream, however the pump ends.
struct CountOnDrop(watch::Sender<usize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// The process's exit, once known: (exit code, when).
pub type ExitWatch = watch::Receiver<Option<(Option<i32>, Instant)>>;

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
    /// Output streams being read, and how many reached their end.
    streams: usize,
    closed: watch::Receiver<usize>,
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
    closed: watch::Sender<usize>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _count = CountOnDrop(closed);
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
        let (closed_tx, closed) = watch::channel(0usize);
        if let Some(o) = child.stdout.take() {
            readers.push(pump(o, stdout.clone(), closed_tx.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(pump(e, stderr.clone(), closed_tx.clone()));
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
            streams: readers.len(),
            closed,
            readers,
            exit: None,
            ended: None,
        }
    }

    /// Resolves when every output stream has reached its end (and its bytes are in the
    /// shared buffers).
    pub fn output_closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closed.clone();
        let n = self.streams;
        async move {
            let _ = rx.wait_for(|c| *c >= n).await;
        }
    }

    /// Becomes `Some` when the process has exited.
    pub fn exit_watch(&self) -> ExitWatch {
        self.exited.clone()
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
        let strip = |v: Vec<u8>| -> Vec<u8> {
            if !v
                .windows(INTERNAL_MARK.len())
                .any(|w| w == INTERNAL_MARK.as_bytes())
            {
                return v;
            }
            let text = String::from_utf8_lossy(&v);
            text.split_inclusive('\n')
                .filter(|l| !l.starts_with(INTERNAL_MARK))
                .collect::<String>()
                .into_bytes()
        };
        Output {
            stdout: take(&self.stdout),
            stderr: {
                let raw = take(&self.stderr);
                let kept = strip(raw.clone());
                if kept.len() != raw.len() {
                    // The transport reads its markers from the shared buffer after this.
                    let marks: Vec<u8> = String::from_utf8_lossy(&raw)
                        .split_inclusive('\n')
                        .filter(|l| l.starts_with(INTERNAL_MARK))
                        .collect::<String>()
                        .into_bytes();
                    if let Ok(mut b) = self.stderr.lock() {
                        b.extend_from_slice(&marks);
                    }
                }
                kept
            },
            exit,
            duration: self.ended.unwrap_or_else(Instant::now) - self.started,
            timed_out,
        }
    }
}
