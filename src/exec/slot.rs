//! Step runners: long-lived sessions of a remote machine's connection that run its steps one
//! after another (`sh/runner.sh`), so that a step costs the machine a fork and mpf a line
//! written to a pipe, not an ssh client and an ssh session each.
//!
//! A runner session is a *slot*. It is idle or runs one step: the step writes straight into
//! the session's stdout and stderr, and the runner prints an end marker on both once the step
//! has exited (`MARK CODE`, found wherever it falls in the stream, so that a step whose output
//! ends without a newline keeps its last line whole). Between the markers the bytes are the
//! step's and go to its captures; a slot whose step left processes behind says so
//! (`MARK CODE held`) and is never used again: its session stays with them, as a session of the
//! step's own would, until the end of the run stops them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{watch, OwnedSemaphorePermit};

use crate::exec::process::{ExitWatch, SharedBuf, StepProc, INTERNAL_MARK};
use crate::exec::sh_quote as q;

/// The runner's program (`sh/runner.sh`), after which the `alive` function (`alive_fn`).
const RUNNER: &str = include_str!("sh/runner.sh");

/// The command of a runner session whose end marker is `mark`: a shell that reads its
/// commands from stdin (the runner's program, then one job a line), which it does a block at
/// a time where `read` would take a system call per byte (a job line is the step's whole
/// text and environment: 30,000 reads for 30 runs of a small step, strace showed).
pub(crate) fn runner_command(mark: &str) -> String {
    format!("exec /bin/sh -s mpf-runner {}", q(mark))
}

/// The runner's program, sent ahead of its first job: `sh/runner.sh` and the `alive`
/// function `alive_fn`.
pub(crate) fn runner_program(alive_fn: &str) -> String {
    format!("{alive_fn}{RUNNER}")
}

/// How long a held slot's session may stay open after its step exited before its session
/// permit is given back (as for a step's own session: processes left behind hold it open).
const HELD_LINGER: Duration = Duration::from_millis(200);

/// Bytes kept of what follows an end marker on its line (`CODE` or `CODE held`).
const END_TEXT_MAX: usize = 32;

/// The marker of one slot: `INTERNAL_MARK`, a tag of the slot's own, `:end `. Its first byte
/// occurs nowhere else in it (the tag is hexadecimal), which `EndScanner` relies on.
pub(crate) fn end_mark(tag: &str) -> String {
    format!("{INTERNAL_MARK}{tag}:end")
}

/// What `EndScanner` finds in a stream: the step's bytes, and its end.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    Data(Vec<u8>),
    /// The step's exit code (`None` when the text was not a number), and whether processes
    /// it left behind hold the session.
    End {
        code: Option<i32>,
        held: bool,
    },
}

/// Finds `MARK ` anywhere in a stream, whatever its chunking, and the text after it to the
/// end of its line.
pub(crate) struct EndScanner {
    mark: Vec<u8>,
    /// Bytes of a possible marker seen at the end of the last chunk.
    probe: Vec<u8>,
    /// Inside a marker: its text so far.
    text: Option<Vec<u8>>,
}

impl EndScanner {
    pub(crate) fn new(mark: &str) -> EndScanner {
        let mut mark = mark.as_bytes().to_vec();
        mark.push(b' ');
        debug_assert!(!mark[1..].contains(&mark[0]));
        EndScanner {
            mark,
            probe: Vec::new(),
            text: None,
        }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if let Some(text) = self.text.as_mut() {
                let rest = &data[i..];
                let end = rest.iter().position(|&b| b == b'\n');
                let part = &rest[..end.unwrap_or(rest.len())];
                let room = END_TEXT_MAX.saturating_sub(text.len());
                text.extend_from_slice(&part[..part.len().min(room)]);
                match end {
                    Some(p) => {
                        i += p + 1;
                        let text = self.text.take().unwrap_or_default();
                        if !out.is_empty() {
                            pieces.push(Piece::Data(std::mem::take(&mut out)));
                        }
                        pieces.push(parse_end(&text));
                    }
                    None => i = data.len(),
                }
                continue;
            }
            if !self.probe.is_empty() {
                if data[i] == self.mark[self.probe.len()] {
                    self.probe.push(data[i]);
                    i += 1;
                    if self.probe.len() == self.mark.len() {
                        self.probe.clear();
                        self.text = Some(Vec::new());
                    }
                } else {
                    // Not a marker: its first byte occurs nowhere else in it, so no marker
                    // starts inside what was probed; the byte is looked at afresh.
                    out.append(&mut self.probe);
                }
                continue;
            }
            match data[i..].iter().position(|&b| b == self.mark[0]) {
                None => {
                    out.extend_from_slice(&data[i..]);
                    i = data.len();
                }
                Some(p) => {
                    out.extend_from_slice(&data[i..i + p]);
                    self.probe.push(self.mark[0]);
                    i += p + 1;
                }
            }
        }
        if !out.is_empty() {
            pieces.push(Piece::Data(out));
        }
        pieces
    }

    /// The end of the stream: a marker cut short was the step's bytes.
    pub(crate) fn flush(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.probe);
        if let Some(text) = self.text.take() {
            rest = self.mark.clone();
            rest.extend_from_slice(&text);
        }
        rest
    }
}

fn parse_end(text: &[u8]) -> Piece {
    let text = String::from_utf8_lossy(text);
    let mut words = text.split_whitespace();
    let code = words.next().and_then(|w| w.parse().ok());
    Piece::End {
        code,
        held: words.next() == Some("held"),
    }
}

/// The job line that starts a step in a runner: `f=REG` (the step's registry file), then the
/// prefix `wrap` and `/bin/sh -c TEXT`, in a session of its own, stdin from /dev/null (in the
/// foreground: see `sh/runner.sh`), then `mpf_end $?`. Every word is quoted; a newline
/// becomes `"$nl"`, so that a job is one line: a job the runner's shell has read whole is
/// one whole command. `None` for a text with a NUL byte, which no shell can take.
pub(crate) fn job_line(reg: &str, wrap: &[String], text: &str) -> Option<String> {
    if [reg, text].iter().any(|t| t.contains('\0')) || wrap.iter().any(|w| w.contains('\0')) {
        return None;
    }
    let mut s = format!("f={}; setsid ", one_line(reg));
    for w in wrap {
        s.push_str(&one_line(w));
        s.push(' ');
    }
    s.push_str("/bin/sh -c ");
    s.push_str(&one_line(text));
    s.push_str(" </dev/null; mpf_end $?\n");
    Some(s)
}

/// The job line of a job that is not a step (no registry entry, no session of its own):
/// `/bin/sh -c SCRIPT`, stdin from /dev/null. `None` for a script with a NUL byte.
pub(crate) fn data_job_line(script: &str) -> Option<String> {
    (!script.contains('\0')).then(|| {
        format!(
            "f=; /bin/sh -c {} </dev/null; mpf_end $?\n",
            one_line(script)
        )
    })
}

/// `word` quoted for a shell, on one line: newlines only occur inside the quotes `sh_quote`
/// writes, and closing them around `"$nl"` (the runner's newline) keeps the word whole.
fn one_line(word: &str) -> String {
    q(word).replace('\n', "'\"$nl\"'")
}

/// The step a slot runs now: where its output goes and how it ends.
struct Target {
    bufs: [SharedBuf; 2],
    /// The streams that have not reached the step's end marker yet.
    open: [bool; 2],
    closed: watch::Sender<usize>,
    exited: watch::Sender<Option<(Option<i32>, Instant)>>,
    /// Set when the runner said the step ended with nothing left in its group (and its
    /// registry file emptied).
    clean: Arc<AtomicBool>,
    /// Where stdout goes instead of `bufs[0]` for a job whose output is data (an archive):
    /// every byte, in order, with the reader's pace; dropped at the end of the stream.
    stream: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
}

impl Target {
    fn exit(&self, code: Option<i32>) {
        self.exited.send_if_modified(|e| {
            let first = e.is_none();
            if first {
                *e = Some((code, Instant::now()));
            }
            first
        });
    }

    fn close(&mut self, stream: usize) {
        if stream == 0 {
            self.stream = None;
        }
        if std::mem::take(&mut self.open[stream]) {
            if let Ok(mut b) = self.bufs[stream].lock() {
                b.close();
            }
            self.closed.send_modify(|n| *n += 1);
        }
    }
}

/// The receiving ends of a slot's new target.
struct Taken {
    stdout: SharedBuf,
    stderr: SharedBuf,
    closed: watch::Receiver<usize>,
    exited: ExitWatch,
    clean: Arc<AtomicBool>,
}

enum State {
    Idle,
    Busy(Target),
    /// Held by a step's leftovers, closed, or its session ended: never used again.
    Gone,
}

/// One runner session.
pub(crate) struct Slot {
    /// The connection it belongs to.
    pub conn: u64,
    state: Mutex<State>,
    stdin: Mutex<Option<ChildStdin>>,
    /// One session of the machine's budget, given back when the session ends.
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    /// The session has ended.
    ended: AtomicBool,
    /// Send a newline to the runner when one stream's end marker has come and the other's has
    /// not (`Slot::start`).
    nudge: bool,
    /// The runner's program, sent ahead of the first job (`sh/runner.sh`).
    program: Mutex<Option<String>>,
}

impl Slot {
    /// Starts serving a runner session (`child`, with piped stdin, stdout and stderr) whose
    /// marker is `mark`. With `nudge`, once a step's end marker has come on one stream, the
    /// runner is sent an empty line (which it skips): over srun, the step's two streams share
    /// one TCP connection from the node, where the second marker waits (Nagle) for the
    /// acknowledgement of the first, which srun delays up to 40 ms unless it has bytes of its
    /// own to send back. The newline is those bytes: a run's round trip falls from about
    /// 47 ms to 0.1 ms.
    /// `program` is the runner's (`runner_program`), which a shell reading its commands from
    /// stdin (`runner_command`) gets ahead of the first job.
    pub(crate) fn start(
        mut child: Child,
        conn: u64,
        mark: &str,
        permit: OwnedSemaphorePermit,
        nudge: bool,
        program: String,
    ) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            conn,
            state: Mutex::new(State::Idle),
            stdin: Mutex::new(child.stdin.take()),
            permit: Mutex::new(Some(permit)),
            ended: AtomicBool::new(false),
            nudge,
            program: Mutex::new(Some(program)),
        });
        let streams: [Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for (i, s) in streams.into_iter().enumerate() {
            if let Some(s) = s {
                tokio::spawn(pump(slot.clone(), i, s, EndScanner::new(mark)));
            }
        }
        let s = slot.clone();
        tokio::spawn(async move {
            // ssh's own status (255 when the session could not open or the connection
            // dropped), for a step the runner could not see to its end.
            let code = child.wait().await.ok().and_then(|st| st.code());
            s.ended.store(true, Ordering::Relaxed);
            s.end(code);
            s.give_back();
        });
        slot
    }

    fn give_back(&self) {
        drop(self.permit.lock().ok().and_then(|mut p| p.take()));
    }

    /// Takes the slot for a step if it is idle: the step's `StepProc` (its pgid `token`), and
    /// a flag set once the step has ended with nothing left to stop.
    pub(crate) fn take(&self, token: i32) -> Option<(StepProc, Arc<AtomicBool>)> {
        let busy = self.busy(None)?;
        let proc = StepProc::from_parts(token, busy.stdout, busy.stderr, busy.closed, busy.exited);
        Some((proc, busy.clean))
    }

    /// Takes the slot for a job whose stdout is data (`fetch_dir`'s archive) if it is idle:
    /// the stdout chunks as they come, its stderr, and its exit.
    pub(crate) fn take_stream(
        &self,
    ) -> Option<(tokio::sync::mpsc::Receiver<Vec<u8>>, SharedBuf, ExitWatch)> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let busy = self.busy(Some(tx))?;
        Some((rx, busy.stderr, busy.exited))
    }

    /// Marks an idle slot busy with a new target (its stdout into `stream` when given): the
    /// target's receiving ends. `None` when the slot is not idle.
    fn busy(&self, stream: Option<tokio::sync::mpsc::Sender<Vec<u8>>>) -> Option<Taken> {
        let mut st = self.state.lock().ok()?;
        if !matches!(*st, State::Idle) || self.ended.load(Ordering::Relaxed) {
            return None;
        }
        let bufs: [SharedBuf; 2] = Default::default();
        let (closed_tx, closed) = watch::channel(0usize);
        let (exited_tx, exited) = watch::channel(None);
        let clean = Arc::new(AtomicBool::new(false));
        let taken = Taken {
            stdout: bufs[0].clone(),
            stderr: bufs[1].clone(),
            closed,
            exited,
            clean: clean.clone(),
        };
        *st = State::Busy(Target {
            bufs,
            open: [true, true],
            closed: closed_tx,
            exited: exited_tx,
            clean,
            stream,
        });
        Some(taken)
    }

    /// Sends the job line of the step that took the slot; false when the runner is gone
    /// (the slot is then given up, and its step ends as failed to start).
    pub(crate) async fn send(&self, line: &str) -> bool {
        let stdin = self.stdin.lock().ok().and_then(|mut s| s.take());
        let Some(mut stdin) = stdin else {
            self.fail();
            return false;
        };
        let program = self.program.lock().ok().and_then(|mut p| p.take());
        let bytes = match program {
            Some(p) => std::borrow::Cow::Owned(p + line),
            None => std::borrow::Cow::Borrowed(line),
        };
        let ok = stdin.write_all(bytes.as_bytes()).await.is_ok() && stdin.flush().await.is_ok();
        if ok {
            if let Ok(mut s) = self.stdin.lock() {
                *s = Some(stdin);
            }
        } else {
            self.fail();
        }
        ok
    }

    fn fail(&self) {
        self.end(None);
        self.close_stdin();
    }

    /// The slot is of no more use: the step it runs, if any, ends with `code` and all the
    /// output it had.
    fn end(&self, code: Option<i32>) {
        if let Ok(mut st) = self.state.lock() {
            if let State::Busy(t) = &mut *st {
                t.exit(code);
                t.close(0);
                t.close(1);
            }
            *st = State::Gone;
        }
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
            || self
                .state
                .lock()
                .map(|s| matches!(*s, State::Gone))
                .unwrap_or(true)
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// Closes an idle slot (its runner exits at EOF, and the session ends); false when it
    /// was not idle or its session has ended.
    pub(crate) fn retire(&self) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if !matches!(*st, State::Idle) || self.has_ended() {
            return false;
        }
        *st = State::Gone;
        drop(st);
        self.close_stdin();
        true
    }

    /// One newline to the runner, written at once (see `start`): the runner is between its two
    /// markers, not reading, and its pipe empty, so the byte fits; when it does not (the pipe
    /// full, the runner gone) nothing is lost but time. Never while `send` writes a job: the
    /// slot is busy, and `send` takes the stdin out of its lock while it writes.
    fn send_nudge(&self) {
        use std::os::fd::AsRawFd;
        if let Ok(stdin) = self.stdin.lock() {
            if let Some(s) = stdin.as_ref() {
                // SAFETY: a one-byte write to the open pipe the ChildStdin owns (non-blocking).
                unsafe {
                    libc::write(s.as_raw_fd(), b"\n".as_ptr().cast(), 1);
                }
            }
        }
    }

    /// EOF to the runner: it exits once its step (if any) is done.
    pub(crate) fn close_stdin(&self) {
        drop(self.stdin.lock().ok().and_then(|mut s| s.take()));
    }

    /// What one stream brought: the step's bytes, or its end. Bytes for a job's data stream
    /// come back with its sender, to be sent once the slot's lock is let go.
    fn deliver(
        self: &Arc<Slot>,
        stream: usize,
        piece: Piece,
    ) -> Option<(tokio::sync::mpsc::Sender<Vec<u8>>, Vec<u8>)> {
        let Ok(mut st) = self.state.lock() else {
            return None;
        };
        let State::Busy(t) = &mut *st else {
            if matches!(*st, State::Idle) && matches!(piece, Piece::Data(_)) {
                // Bytes between steps: a process that left its step's group (setsid, a
                // daemon) still writes into this session. Nobody's output; and no later step
                // runs here, where that process would write into its log.
                *st = State::Gone;
                drop(st);
                self.close_stdin();
                self.give_back();
            }
            return None;
        };
        match piece {
            Piece::Data(d) => {
                if let (0, Some(tx)) = (stream, &t.stream) {
                    return Some((tx.clone(), d));
                }
                if t.open[stream] {
                    if let Ok(mut b) = t.bufs[stream].lock() {
                        b.push(&d);
                    }
                }
            }
            Piece::End { code, held: false } => {
                t.clean.store(true, Ordering::Relaxed);
                t.exit(code);
                t.close(stream);
                if !t.open.iter().any(|o| *o) {
                    *st = State::Idle;
                } else if self.nudge {
                    self.send_nudge();
                }
            }
            Piece::End { code, held: true } => {
                // The step's streams stay open until its leftovers end with the session.
                t.exit(code);
                drop(st);
                let s = self.clone();
                tokio::spawn(async move {
                    let deadline = Instant::now() + HELD_LINGER;
                    while !s.has_ended() && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    s.give_back();
                });
            }
        }
        None
    }
}

async fn pump(
    slot: Arc<Slot>,
    stream: usize,
    mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    mut scan: EndScanner,
) {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for piece in scan.feed(&chunk[..n]) {
                    if let Some((tx, data)) = slot.deliver(stream, piece) {
                        // At the reader's pace: this session's output waits meanwhile.
                        let _ = tx.send(data).await;
                    }
                }
            }
        }
    }
    let rest = scan.flush();
    if !rest.is_empty() {
        if let Some((tx, data)) = slot.deliver(stream, Piece::Data(rest)) {
            let _ = tx.send(data).await;
        }
    }
    // The session is ending: whatever step it ran has no more to say on this stream.
    if let Ok(mut st) = slot.state.lock() {
        if let State::Busy(t) = &mut *st {
            t.close(stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data, the ends (code, held) and what `flush` gave back.
    type Scanned = (Vec<u8>, Vec<(Option<i32>, bool)>, Vec<u8>);

    fn scan_all(mark: &str, chunks: &[&[u8]]) -> Scanned {
        let mut s = EndScanner::new(mark);
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for c in chunks {
            for p in s.feed(c) {
                match p {
                    Piece::Data(d) => data.extend(d),
                    Piece::End { code, held } => ends.push((code, held)),
                }
            }
        }
        (data, ends, s.flush())
    }

    #[test]
    fn the_end_marker_is_found_anywhere_whatever_the_chunking() {
        let mark = end_mark("0123abcd");
        let stream = format!("line\nno newline{mark} 3\nnext step{mark} 0 held\n");
        let bytes = stream.as_bytes();
        // Every way of cutting it in two, and byte by byte.
        for cut in 0..=bytes.len() {
            let (data, ends, rest) = scan_all(&mark, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(data, b"line\nno newlinenext step", "cut {cut}");
            assert_eq!(ends, vec![(Some(3), false), (Some(0), true)], "cut {cut}");
            assert!(rest.is_empty());
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let (data, ends, _) = scan_all(&mark, &singles);
        assert_eq!(data, b"line\nno newlinenext step");
        assert_eq!(ends.len(), 2);
    }

    #[test]
    fn what_only_looks_like_a_marker_is_data() {
        let mark = end_mark("ffff0000");
        let near = format!(
            "{INTERNAL_MARK}ffff0001:end 1\nmm{}x\n{INTERNAL_MARK}\n",
            &mark[..mark.len() - 1]
        );
        let (data, ends, rest) = scan_all(&mark, &[near.as_bytes()]);
        assert_eq!(data, near.as_bytes());
        assert!(ends.is_empty());
        assert!(rest.is_empty());
        // Cut short by the end of the stream: given back as data.
        let cut = format!("tail{}", &mark[..10]);
        let (data, _, rest) = scan_all(&mark, &[cut.as_bytes()]);
        assert_eq!([data, rest].concat(), cut.as_bytes());
        assert!(!mark[1..].contains(&mark[..1]));
    }

    /// What a runner's shell (`runner_command`) does with `input`: stdout and stderr.
    fn runner(mark: &str, input: &str) -> (String, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(runner_command(mark))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(input.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (text(out.stdout), text(out.stderr))
    }

    #[test]
    fn job_lines_keep_every_byte_of_the_step_through_the_runners_shell() {
        let text = "printf '%s\\n' \"a  b\" 'it'\\''s'\necho $((1 + 2)) `echo x`\n\n\tz\\\r";
        let line = job_line("/r/1", &["taskset".into(), "-c".into(), "0".into()], text).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        // What the runner's shell makes of it: the words of the command it starts.
        let program = "setsid() { echo \"$f\"; for w; do printf '[%s]' \"$w\"; done; }\n\
                       mpf_end() { echo \" $1\"; }\n";
        let (out, err) = runner("m", &format!("{}{program}{line}", runner_program("")));
        let want = format!("/r/1\n[taskset][-c][0][/bin/sh][-c][{text}] 0\n");
        assert_eq!(out, want, "{err}");
        assert_eq!(job_line("/r/1", &[], "a\0b"), None);
    }

    #[test]
    fn a_runner_runs_its_jobs_in_order_and_marks_each_end() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("7");
        let reg = reg.to_str().unwrap();
        let mark = end_mark("00ff");
        // A step that registers its group (as a step's text does), exits 3, writes no newline.
        let step = format!("echo $$ >> {}; printf out; printf err >&2; exit 3", q(reg));
        let input = format!(
            "{}{}\n{}",
            runner_program(crate::exec::ssh::ALIVE_FN),
            job_line(reg, &[], &step).unwrap(),
            data_job_line("echo data").unwrap()
        );
        let (out, err) = runner(&mark, &input);
        assert_eq!(out, format!("out{mark} 3\ndata\n{mark} 0\n"));
        assert_eq!(err, format!("err{mark} 3\n{mark} 0\n"));
        // Nothing left in its group: its registry file was emptied.
        assert_eq!(std::fs::read_to_string(reg).unwrap(), "");
    }
}
