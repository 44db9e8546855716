//! A started step: its process, captured output, and waiting with a deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lines a transport's own wrapper writes on a step's stderr to talk to mpf; removed from the
/// step's captured stderr.
pub(crate) const INTERNAL_MARK: &str = "mpf-internal-7f3a:";

/// Counts a finished output stream, however the pump ends.
struct CountOnDrop(watch::Sender<usize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// The process's exit, once known: (exit code, when).
pub(crate) type ExitWatch = watch::Receiver<Option<(Option<i32>, Instant)>>;

/// Most bytes of one output stream stored in its log file; what follows is dropped, with a
/// marker line in the log and a note in the run's record.
pub(crate) const LOG_LIMIT: u64 = 32 << 20;
/// Bytes of each stream kept in memory (readiness checks, markers, the tail of an error).
pub(crate) const TAIL_BYTES: usize = 1 << 20;

/// One output stream as it arrives: streamed to its log file (once attached) up to
/// `LOG_LIMIT`, and its last `TAIL_BYTES` kept in memory. Memory stays bounded whatever a step
/// prints.
#[derive(Default)]
pub struct Capture {
    tail: Vec<u8>,
    /// Stream offset of `tail[0]`.
    tail_start: u64,
    /// Bytes seen so far.
    total: u64,
    log: Option<LogFile>,
    /// Bytes that arrived before a log was attached (kept for it, bounded by the tail).
    early: Vec<u8>,
    early_lost: u64,
    /// Internal marker lines are kept out of the log (stderr of remote steps).
    marks: MarkFilter,
    /// A `ready: {log}` pattern, matched as the bytes arrive.
    watch: Option<LineWatch>,
    /// Sees each marker line as it arrives.
    on_mark: Option<MarkHook>,
}

/// Matches a pattern against each line of a stream as it arrives, so that no byte escapes
/// it however fast the step prints (a poll would see only the tail still in memory).
struct LineWatch {
    pattern: regex::Regex,
    /// The incomplete last line (bounded by `TAIL_BYTES`).
    carry: Vec<u8>,
    matched: bool,
}

impl LineWatch {
    fn feed(&mut self, data: &[u8]) {
        if self.matched {
            return;
        }
        self.carry.extend_from_slice(data);
        // Line by line, so that `^` and `$` mean the start and end of a line; the incomplete
        // last line is tried too (a prompt printed without its newline yet).
        self.matched = String::from_utf8_lossy(&self.carry)
            .split('\n')
            .any(|line| self.pattern.is_match(line));
        let line_start = self
            .carry
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let keep_from = line_start.max(self.carry.len().saturating_sub(TAIL_BYTES));
        self.carry.drain(..keep_from);
    }
}

struct LogFile {
    path: std::path::PathBuf,
    /// Created with the first byte, so that a silent stream leaves no file.
    file: Option<std::fs::File>,
    written: u64,
    dropped: u64,
    error: Option<String>,
}

/// Drops lines starting with `INTERNAL_MARK` from a byte stream, whatever its chunking.
#[derive(Default)]
struct MarkFilter {
    /// Bytes of the current line seen so far, while they could still be a marker.
    probe: Vec<u8>,
    /// The current line is a marker: skip to its newline.
    skipping: bool,
    /// The current line is ordinary: pass it through to its newline.
    passing: bool,
    /// The text of the marker line being skipped (its first `MARK_TEXT_MAX` bytes).
    mark: Vec<u8>,
    /// Marker lines completed since the last `take_marks`, their text after `INTERNAL_MARK`.
    marks: Vec<Vec<u8>>,
}

/// Bytes kept of a marker line's text: markers are short words mpf's wrapper prints.
const MARK_TEXT_MAX: usize = 128;

impl MarkFilter {
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mark = INTERNAL_MARK.as_bytes();
        let mut rest = data;
        while !rest.is_empty() {
            if self.passing || self.skipping {
                // Whole runs of a line at once, not byte by byte.
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |p| p + 1);
                if self.passing {
                    out.extend_from_slice(&rest[..end]);
                } else {
                    let room = MARK_TEXT_MAX.saturating_sub(self.mark.len());
                    let text = &rest[..end];
                    self.mark.extend_from_slice(&text[..text.len().min(room)]);
                }
                let line_ended = rest[end - 1] == b'\n';
                if self.skipping && line_ended {
                    let mut text = std::mem::take(&mut self.mark);
                    text.retain(|&b| b != b'\n');
                    self.marks.push(text);
                }
                self.passing &= !line_ended;
                self.skipping &= !line_ended;
                rest = &rest[end..];
                continue;
            }
            let b = rest[0];
            rest = &rest[1..];
            self.probe.push(b);
            if self.probe.len() == mark.len() && self.probe == mark {
                self.probe.clear();
                self.skipping = true;
            } else if b == b'\n' || !mark.starts_with(&self.probe) {
                out.append(&mut self.probe);
                self.passing = b != b'\n';
            }
        }
    }

    /// The end of the stream: a partial line that was still undecided is ordinary.
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.probe);
    }

    /// The marker lines completed so far (a marker cut off by the end of the stream is lost).
    fn take_marks(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.marks)
    }
}

/// Called with the text of each marker line of a stream (after `INTERNAL_MARK`).
pub(crate) type MarkHook = Box<dyn FnMut(&[u8]) + Send>;

/// The marker a remote step's shell prints on stderr when it exits: `exit CODE`.
pub(crate) const EXIT_MARK: &str = "exit";

/// The exit code an `exit CODE` marker carries.
fn exit_mark_code(text: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let code = text.strip_prefix(EXIT_MARK)?.trim();
    code.parse().ok()
}

/// What became of a stream's log file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogReport {
    /// Bytes beyond `LOG_LIMIT`, not stored.
    pub dropped: u64,
    /// The first failure to write the log (a full disk), naming the file.
    pub error: Option<String>,
}

impl LogFile {
    fn is_full(&self) -> bool {
        self.error.is_some() || self.written >= LOG_LIMIT
    }

    fn write(&mut self, data: &[u8]) {
        use std::io::Write;
        if self.error.is_some() || data.is_empty() {
            self.dropped += data.len() as u64;
            return;
        }
        let room = LOG_LIMIT.saturating_sub(self.written);
        let (keep, drop) = data.split_at(data.len().min(room as usize));
        let mut chunk = keep.to_vec();
        if !drop.is_empty() && self.dropped == 0 {
            chunk.extend_from_slice(
                format!("\n[mpf: log limit of {LOG_LIMIT} bytes reached; the rest of this output is not stored]\n")
                    .as_bytes(),
            );
        }
        self.dropped += drop.len() as u64;
        let path = &self.path;
        let result = match &mut self.file {
            Some(f) => f.write_all(&chunk),
            None => create_in_dir(path).and_then(|mut f| {
                let r = f.write_all(&chunk);
                self.file = Some(f);
                r
            }),
        };
        match result {
            Ok(()) => self.written += keep.len() as u64,
            Err(e) => self.error = Some(format!("failed to write {}: {e}", path.display())),
        }
    }
}

/// Creates the log file `path`, and its directory when that is missing (a remote role's logs
/// are kept in a directory of the run that nothing else makes; a local role's is its run
/// directory, made before the step, unless the run's preparation failed): the directory is
/// made only for a step that prints something.
fn create_in_dir(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    match std::fs::File::create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::File::create(path)
        }
        r => r,
    }
}

impl Capture {
    /// Starts matching `pattern` against every line, from what is still held on. Called right
    /// after the step is spawned, before its output pumps first run (the runtime is
    /// single-threaded), so that nothing it prints is missed.
    pub fn watch(&mut self, pattern: regex::Regex) {
        let mut w = LineWatch {
            pattern,
            carry: Vec::new(),
            matched: false,
        };
        w.feed(&self.tail);
        self.watch = Some(w);
    }

    /// True once a watched pattern has matched a line.
    pub fn watch_matched(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| w.matched)
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if let Some(w) = self.watch.as_mut() {
            w.feed(data);
        }
        self.tail.extend_from_slice(data);
        if self.tail.len() > 2 * TAIL_BYTES {
            let cut = self.tail.len() - TAIL_BYTES;
            self.tail.drain(..cut);
            self.tail_start += cut as u64;
        }
        let full = self.log.as_ref().is_some_and(|l| l.is_full());
        if full && self.on_mark.is_none() {
            // Nothing more is stored nor watched for: count it without looking at it.
            if let Some(log) = self.log.as_mut() {
                log.dropped += data.len() as u64;
            }
            return;
        }
        let mut clean = Vec::with_capacity(data.len());
        self.marks.feed(data, &mut clean);
        if let Some(hook) = self.on_mark.as_mut() {
            for m in self.marks.take_marks() {
                hook(&m);
            }
        }
        match self.log.as_mut() {
            Some(log) if full => log.dropped += clean.len() as u64,
            _ => self.store(&clean),
        }
    }

    fn store(&mut self, clean: &[u8]) {
        match &mut self.log {
            Some(log) => log.write(clean),
            None => {
                self.early.extend_from_slice(clean);
                if self.early.len() > TAIL_BYTES {
                    let cut = self.early.len() - TAIL_BYTES;
                    self.early.drain(..cut);
                    self.early_lost += cut as u64;
                }
            }
        }
    }

    /// Streams this output to `path` from now on (with what arrived before).
    fn attach(&mut self, path: std::path::PathBuf) {
        let mut log = LogFile {
            path,
            file: None,
            written: 0,
            dropped: 0,
            error: None,
        };
        if self.early_lost > 0 {
            log.write(
                format!("[mpf: the first {} bytes were not kept]\n", self.early_lost).as_bytes(),
            );
        }
        log.write(&std::mem::take(&mut self.early));
        self.log = Some(log);
    }

    /// The end of the stream: an undecided partial line goes to the log.
    pub(crate) fn close(&mut self) {
        let mut rest = Vec::new();
        self.marks.flush(&mut rest);
        self.store(&rest);
    }

    /// Bytes from stream offset `from` on, as far as the tail still holds them, and the
    /// offset they start at.
    pub fn since(&self, from: u64) -> (u64, &[u8]) {
        let start = from.max(self.tail_start).min(self.total);
        (start, &self.tail[(start - self.tail_start) as usize..])
    }

    fn report(&self) -> LogReport {
        self.log
            .as_ref()
            .map_or_else(LogReport::default, |l| LogReport {
                dropped: l.dropped,
                error: l.error.clone(),
            })
    }
}

/// How long a remote step's session may stay open after its shell said it exited before its
/// session permit is given back (processes the step left behind hold the session open).
const SESSION_LINGER: Duration = Duration::from_millis(200);

/// Output captured so far, shared with readiness checks that look for a log line.
pub(crate) type SharedBuf = Arc<Mutex<Capture>>;

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
    /// The last `TAIL_BYTES` of each stream (all of it for short output); the whole is in the
    /// log files when they were attached.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes of each stream that came before the tails above.
    pub stdout_skipped: u64,
    pub stderr_skipped: u64,
    /// The log files, when `log_to` attached them.
    pub stdout_log: LogReport,
    pub stderr_log: LogReport,
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
        // Small first (most steps print a line or nothing), then a pipe's whole capacity once
        // a read fills the buffer.
        let mut chunk = vec![0u8; 4 << 10];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = buf.lock() {
                        b.push(&chunk[..n]);
                    }
                    if n == chunk.len() && chunk.len() < 64 << 10 {
                        chunk.resize(64 << 10, 0);
                    }
                }
            }
        }
        if let Ok(mut b) = buf.lock() {
            b.close();
        }
    })
}

impl StepProc {
    /// Wraps a spawned child whose stdout and stderr are pipes.
    pub fn new(child: Child, pgid: i32) -> StepProc {
        StepProc::holding(child, pgid, None)
    }

    /// A remote step's session (`child`, an ssh client), keeping `hold` (a session permit)
    /// until it ends. The step has exited when its shell says so (an `exit CODE` marker on
    /// stderr), even if processes it left behind still hold the session open; `hold` then
    /// goes too unless the session ends within `SESSION_LINGER`.
    pub fn remote(child: Child, token: i32, hold: Option<Box<dyn Send>>) -> StepProc {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let hook: MarkHook = Box::new(move |text| {
            if let Some(code) = exit_mark_code(text) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(code);
                }
            }
        });
        StepProc::start(child, token, hold, Some((hook, rx)))
    }

    /// A step whose output and exit come from elsewhere (a step runner's session, see
    /// `exec::slot`): `stdout` and `stderr` are filled, `closed` counts the streams that reached
    /// the step's end (two), `exited` says when it exited.
    pub(crate) fn from_parts(
        pgid: i32,
        stdout: SharedBuf,
        stderr: SharedBuf,
        closed: watch::Receiver<usize>,
        exited: ExitWatch,
    ) -> StepProc {
        StepProc {
            pgid,
            started: Instant::now(),
            exited,
            stdout,
            stderr,
            readers: Vec::new(),
            streams: 2,
            closed,
            exit: None,
            ended: None,
        }
    }

    /// Like `new`, keeping `hold` (a session permit) until the process exits.
    pub fn holding(child: Child, pgid: i32, hold: Option<Box<dyn Send>>) -> StepProc {
        StepProc::start(child, pgid, hold, None)
    }

    fn start(
        mut child: Child,
        pgid: i32,
        hold: Option<Box<dyn Send>>,
        exit_mark: Option<(MarkHook, tokio::sync::oneshot::Receiver<i32>)>,
    ) -> StepProc {
        let (hook, early) = match exit_mark {
            Some((hook, rx)) => (Some(hook), Some(rx)),
            None => (None, None),
        };
        let (tx, exited) = watch::channel(None);
        let proc = StepProc::reading(pgid, child.stdout.take(), child.stderr.take(), hook, exited);
        tokio::spawn(async move {
            let Some(mut early) = early else {
                let code = child.wait().await.ok().and_then(|st| st.code());
                let _ = tx.send(Some((code, Instant::now())));
                drop(hold);
                return;
            };
            tokio::select! {
                st = child.wait() => {
                    // The shell's own exit code when it said it (ssh's is 255 for a signal).
                    let code = early.try_recv().ok().or_else(|| st.ok().and_then(|s| s.code()));
                    let _ = tx.send(Some((code, Instant::now())));
                    drop(hold);
                }
                Ok(code) = &mut early => {
                    let _ = tx.send(Some((Some(code), Instant::now())));
                    // Normally the session ends right after; one that processes left behind
                    // hold open must not keep its permit until the end of the run.
                    let _ = tokio::time::timeout(SESSION_LINGER, child.wait()).await;
                    drop(hold);
                    let _ = child.wait().await;
                }
            }
        });
        proc
    }

    /// A local step's shell started by `exec::spawn` (its pid is its group's id).
    pub(crate) fn spawned(child: crate::exec::spawn::Spawned) -> std::io::Result<StepProc> {
        use tokio::net::unix::pipe::Receiver;
        // Pipes' read ends, already non-blocking (`exec::spawn::pipe`).
        let stdout = Receiver::from_owned_fd_unchecked(child.stdout)?;
        let stderr = Receiver::from_owned_fd_unchecked(child.stderr)?;
        let (tx, exited) = watch::channel(None);
        let proc = StepProc::reading(child.pid, Some(stdout), Some(stderr), None, exited);
        let exit = child.exit;
        tokio::spawn(async move {
            let code = exit.wait().await;
            let _ = tx.send(Some((code, Instant::now())));
        });
        Ok(proc)
    }

    /// A step whose output streams are read from `stdout` and `stderr` as they come (`hook`
    /// sees stderr's marker lines), and whose exit `exited` tells.
    fn reading(
        pgid: i32,
        stdout: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
        stderr: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
        hook: Option<MarkHook>,
        exited: ExitWatch,
    ) -> StepProc {
        let out: SharedBuf = Default::default();
        let err: SharedBuf = Default::default();
        if let (Some(hook), Ok(mut e)) = (hook, err.lock()) {
            e.on_mark = Some(hook);
        }
        let mut readers = Vec::new();
        let (closed_tx, closed) = watch::channel(0usize);
        if let Some(o) = stdout {
            readers.push(pump(o, out.clone(), closed_tx.clone()));
        }
        if let Some(e) = stderr {
            readers.push(pump(e, err.clone(), closed_tx.clone()));
        }
        let mut proc = StepProc::from_parts(pgid, out, err, closed, exited);
        proc.streams = readers.len();
        proc.readers = readers;
        proc
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

    /// Streams stdout and stderr to these files from now on, with what was printed before.
    /// A stream that prints nothing leaves no file.
    /// Matches `pattern` against every line of stdout and stderr from now on (`ready: {log}`).
    pub fn watch(&self, pattern: &regex::Regex) {
        for buf in [&self.stdout, &self.stderr] {
            if let Ok(mut b) = buf.lock() {
                b.watch(pattern.clone());
            }
        }
    }

    /// True once a watched pattern has matched a line of either stream.
    pub fn watch_matched(&self) -> bool {
        [&self.stdout, &self.stderr]
            .iter()
            .any(|b| b.lock().map(|b| b.watch_matched()).unwrap_or(false))
    }

    pub fn log_to(&self, stdout: std::path::PathBuf, stderr: std::path::PathBuf) {
        for (buf, path) in [(&self.stdout, stdout), (&self.stderr, stderr)] {
            if let Ok(mut b) = buf.lock() {
                b.attach(path);
            }
        }
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
        // Streams read by someone else (a step runner's) end at the step's end marker.
        let _ = tokio::time::timeout_at(deadline, self.output_closed()).await;
        let take = |b: &SharedBuf| {
            b.lock()
                .map(|c| (c.tail.clone(), c.tail_start, c.report()))
                .unwrap_or_default()
        };
        let (stdout, stdout_skipped, stdout_log) = take(&self.stdout);
        let (stderr, stderr_skipped, stderr_log) = take(&self.stderr);
        Output {
            stdout,
            stderr: strip_marks(stderr),
            stdout_skipped,
            stderr_skipped,
            stdout_log,
            stderr_log,
            exit,
            duration: self.ended.unwrap_or_else(Instant::now) - self.started,
            timed_out,
        }
    }
}

/// `data` without the transport's marker lines (the transport reads them from the capture).
fn strip_marks(data: Vec<u8>) -> Vec<u8> {
    if !data
        .windows(INTERNAL_MARK.len())
        .any(|w| w == INTERNAL_MARK.as_bytes())
    {
        return data;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut f = MarkFilter::default();
    f.feed(&data, &mut out);
    f.flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_sees_every_line_however_much_arrives_at_once() {
        let mut c = Capture::default();
        c.push(b"starting\nServer list");
        c.watch(regex::Regex::new("Server listening on [0-9]+").unwrap());
        assert!(!c.watch_matched());
        c.push(b"ening on 5201");
        assert!(c.watch_matched(), "a line split across reads");

        // The line arrives in the middle of a burst far larger than the tail in memory.
        let mut c = Capture::default();
        c.watch(regex::Regex::new("^ready$").unwrap());
        c.push(b"not ready\n");
        assert!(!c.watch_matched(), "anchors hold for the whole line");
        let mut burst = vec![b'x'; 3 * TAIL_BYTES];
        burst.extend_from_slice(b"\nready\n");
        burst.extend(vec![b'y'; 3 * TAIL_BYTES]);
        c.push(&burst);
        assert!(c.watch_matched());
        assert!(c.tail.len() <= 2 * TAIL_BYTES);
    }

    /// A remote step has exited when its shell says so, even while what it left behind holds
    /// the session (here: the pipes) open; the marker never reaches the output.
    #[tokio::test]
    async fn a_remote_step_ends_at_its_exit_marker_while_leftovers_hold_the_session() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo out; echo err >&2; sleep 30 & echo '{INTERNAL_MARK} {EXIT_MARK} 3' >&2"
            ))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        let child = cmd.spawn().unwrap();
        let pgid = child.id().unwrap() as i32;
        let mut p = StepProc::remote(child, 1, None);
        let code = tokio::time::timeout(Duration::from_secs(10), p.wait()).await;
        assert_eq!(code.ok(), Some(Some(3)));
        assert!(
            crate::exec::local::group_alive(pgid),
            "the sleep holds the pipes"
        );
        crate::exec::local::stop_local_group(pgid, Duration::from_secs(1)).await;
        let out = p.finish(false).await;
        assert_eq!(out.exit, Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn exit_markers_carry_the_code() {
        assert_eq!(exit_mark_code(b" exit 0"), Some(0));
        assert_eq!(exit_mark_code(b" exit 143\r"), Some(143));
        assert_eq!(exit_mark_code(b" rundir"), None);
        assert_eq!(exit_mark_code(b" exit x"), None);
    }

    #[test]
    fn marker_lines_are_dropped_whatever_the_chunking() {
        let text =
            format!("a\n{INTERNAL_MARK} rundir\nb {INTERNAL_MARK}\nmpf-int\n{INTERNAL_MARK}x");
        let want = format!("a\nb {INTERNAL_MARK}\nmpf-int\n");
        for size in [1, 3, 7, text.len()] {
            let mut f = MarkFilter::default();
            let mut out = Vec::new();
            for chunk in text.as_bytes().chunks(size) {
                f.feed(chunk, &mut out);
            }
            f.flush(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want, "chunks of {size}");
        }
    }

    #[test]
    fn the_tail_in_memory_stays_bounded_and_knows_its_offset() {
        let mut c = Capture::default();
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..100 {
            c.push(&chunk);
        }
        c.push(b"end\n");
        assert!(c.tail.len() <= 2 * TAIL_BYTES);
        assert_eq!(c.total, 100 * (64 << 10) + 4);
        let (start, bytes) = c.since(0);
        assert_eq!(start + bytes.len() as u64, c.total);
        assert!(bytes.ends_with(b"end\n"));
        assert_eq!(c.since(c.total - 2), (c.total - 2, &b"d\n"[..]));
        // Nothing was attached: nothing beyond the tail is kept for a log either.
        assert!(c.early.len() <= TAIL_BYTES);
    }

    #[test]
    fn the_log_holds_early_output_and_stops_at_the_limit_with_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.out");
        let mut c = Capture::default();
        c.push(b"before attach\n");
        c.attach(path.clone());
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..(LOG_LIMIT >> 20) + 3 {
            c.push(&chunk);
        }
        c.close();
        let report = c.report();
        let size = std::fs::metadata(&path).unwrap().len();
        let data = std::fs::read(&path).unwrap();
        assert!(data.starts_with(b"before attach\ny"));
        let marker = String::from_utf8_lossy(&data[LOG_LIMIT as usize..]).into_owned();
        assert!(
            marker.contains("log limit of 33554432 bytes reached"),
            "{marker}"
        );
        assert!(size < LOG_LIMIT + 200);
        assert_eq!(report.dropped, 3 * (1 << 20) + 14);
        assert_eq!(report.error, None);
    }

    #[test]
    fn a_silent_stream_leaves_no_log_a_missing_directory_is_made_and_a_write_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut quiet = Capture::default();
        quiet.attach(dir.path().join("quiet.out"));
        quiet.close();
        assert!(!dir.path().join("quiet.out").exists());
        // A missing directory is made with the first byte (a remote role's logs).
        let mut made = Capture::default();
        made.attach(dir.path().join("missing").join("step.out"));
        made.push(b"x\n");
        assert_eq!(made.report().error, None);
        let logged = std::fs::read(dir.path().join("missing/step.out")).unwrap();
        assert_eq!(logged, b"x\n");
        // One that cannot be made is reported.
        std::fs::write(dir.path().join("file"), "").unwrap();
        let mut c = Capture::default();
        c.attach(dir.path().join("file").join("step.out"));
        c.push(b"x\n");
        let err = c.report().error.unwrap();
        assert!(err.contains("file/step.out"), "{err}");
    }
}
