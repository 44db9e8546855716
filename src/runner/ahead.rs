//! The next run's directories, made ahead on a thread of their own while the current run
//! goes on. A `mkdir` on a disk can take far longer than a step's start (ext4 without a
//! journal passes over every inode deleted in the last minutes for each new one: up to
//! 0.57 ms a `mkdir` measured here), and a local run makes two (its directory and its role's
//! `$MPF_RUN_DIR`, which must exist before the step starts): made ahead, they leave the run's
//! critical path. A run whose directory was not made ahead (the first, a retry, one whose
//! making failed) makes it itself, as before, and reports any error itself.
//!
//! What is made ahead and never used (an interrupted session, an early stop) is removed when
//! the maker is dropped, and only while empty.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A directory to make ahead: the run's, then its subdirectories in order.
pub(crate) type Job = (PathBuf, Vec<PathBuf>);

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// The run directory being made now.
    busy: Option<PathBuf>,
    /// Made and not taken yet.
    made: Vec<Job>,
    /// To be queued at the next `take`: the next runs' (`AHEAD` of them), given while the run
    /// before them starts.
    staged: Vec<Job>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl State {
    /// Whether `dir` is being made, waits to be, or waits to be taken.
    fn coming(&self, dir: &Path) -> bool {
        self.busy.as_deref() == Some(dir)
            || self.queue.iter().chain(&self.made).any(|(d, _)| d == dir)
    }

    /// Queues `job` unless it is coming already or `MAX_PENDING` are; whether it did.
    fn enqueue(&mut self, job: Job) -> bool {
        let pending = self.queue.len() + self.made.len() + usize::from(self.busy.is_some());
        if pending >= MAX_PENDING || self.coming(&job.0) {
            return false;
        }
        self.queue.push_back(job);
        true
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes run directories ahead of their runs.
pub(crate) struct DirsAhead {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// At most this many directories wait to be made or taken: the runner stages the next
/// `AHEAD` runs' only, so more would be a defect, not a reason to grow.
const MAX_PENDING: usize = 4;

/// How many runs' directories the runner stages, and the thread makes at one wake.
pub(crate) const AHEAD: usize = 2;

impl DirsAhead {
    /// A maker with its thread; without a thread (it could not start) nothing is made ahead.
    pub(crate) fn start() -> DirsAhead {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mpf-dirs-ahead".into())
            .spawn(move || work(&worker))
            .ok();
        DirsAhead { shared, thread }
    }

    /// Makes `run` (emptied first, as a run's own preparation does) and then `subdirs` on the
    /// thread. Ignored beyond `MAX_PENDING` or without a thread.
    #[cfg(test)]
    pub(crate) fn queue(&self, run: PathBuf, subdirs: Vec<PathBuf>) {
        if self.thread.is_some() && self.shared.lock().enqueue((run, subdirs)) {
            self.shared.changed.notify_all();
        }
    }

    /// Queues `next` (the directories of the next runs, in order) at the next `take`: the
    /// thread wakes once the run that takes its own directory has done so, not while it is
    /// taking it (on a 2-core machine a thread woken then would take a core from the run, or
    /// the lock from it). What is staged replaces what was staged before (never made).
    pub(crate) fn stage(&self, next: Vec<Job>) {
        if self.thread.is_some() {
            self.shared.lock().staged = next;
        }
    }

    /// The subdirectories made with `run` when it was made ahead (waiting if it is being made
    /// now); `None` when it was not (then the run makes it itself). A directory is given once.
    /// Then queues what was staged.
    pub(crate) fn take(&self, run: &Path) -> Option<Vec<PathBuf>> {
        let mut s = self.shared.lock();
        let taken = if let Some(i) = s.queue.iter().position(|(d, _)| d == run) {
            s.queue.remove(i);
            None
        } else {
            while s.busy.as_deref() == Some(run) {
                s = self
                    .shared
                    .changed
                    .wait(s)
                    .unwrap_or_else(|p| p.into_inner());
            }
            let i = s.made.iter().position(|(d, _)| d == run);
            i.map(|i| s.made.swap_remove(i).1)
        };
        // The thread is woken only when the next run's directory is neither made nor coming,
        // and then makes the next `AHEAD`: one wake every `AHEAD` runs (a wake is 5-10% of
        // the run thread's CPU in a short run).
        let staged = std::mem::take(&mut s.staged);
        if staged.first().is_some_and(|(next, _)| !s.coming(next)) {
            crate::placement::note_run_thread();
            let mut queued = false;
            for job in staged {
                queued |= s.enqueue(job);
            }
            drop(s);
            if queued {
                self.shared.changed.notify_all();
            }
        }
        taken
    }
}

impl Drop for DirsAhead {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Made for runs that did not come: removed while still empty (never a run's files).
        for (run, subdirs) in std::mem::take(&mut self.shared.lock().made) {
            for d in subdirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            let _ = std::fs::remove_dir(&run);
        }
    }
}

fn work(shared: &Shared) {
    let mut placement = crate::placement::Helper::new();
    loop {
        let job = {
            let mut s = shared.lock();
            loop {
                if s.closed {
                    return;
                }
                if let Some(job) = s.queue.pop_front() {
                    s.busy = Some(job.0.clone());
                    break job;
                }
                s = shared.changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        placement.keep_off_run_thread();
        let ok = make(&job.0, &job.1);
        let mut s = shared.lock();
        s.busy = None;
        if ok {
            s.made.push(job);
        }
        shared.changed.notify_all();
    }
}

/// Empties and makes a run's directory, as a run's preparation does whether or not it was
/// made ahead: whatever an earlier attempt or session left there is removed (what cannot be
/// removed stays), then one `mkdir` in the common case, the whole walk only when needed.
pub(crate) fn fresh_run_dir(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir(dir).or_else(|_| std::fs::create_dir_all(dir))
}

/// `fresh_run_dir(run)`, then `subdirs`; `false` on any error (the run then makes them itself
/// and reports the error).
fn make(run: &Path, subdirs: &[PathBuf]) -> bool {
    fresh_run_dir(run).is_ok() && subdirs.iter().all(|d| std::fs::create_dir(d).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_made_ahead_is_emptied_made_and_given_once() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("runs/0001");
        std::fs::create_dir_all(run.join("local")).unwrap();
        std::fs::write(run.join("local/stale"), "from an earlier session").unwrap();
        let ahead = DirsAhead::start();
        ahead.queue(run.clone(), vec![run.join("local"), run.join("server")]);
        // `take` waits while the directory is being made; poll until the thread has it.
        let mut got = None;
        for _ in 0..1000 {
            {
                let s = ahead.shared.lock();
                if s.queue.is_empty() {
                    drop(s);
                    got = ahead.take(&run);
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let subdirs = got.expect("made ahead");
        assert_eq!(subdirs, vec![run.join("local"), run.join("server")]);
        assert!(run.join("local").is_dir() && run.join("server").is_dir());
        assert!(!run.join("local/stale").exists(), "emptied first");
        assert_eq!(ahead.take(&run), None, "given once");
    }

    #[test]
    fn a_directory_still_queued_is_left_to_its_run_and_never_made() {
        let root = tempfile::tempdir().unwrap();
        let ahead = DirsAhead {
            shared: Arc::new(Shared::default()),
            thread: Some(std::thread::spawn(|| {})),
        };
        let run = root.path().join("0002");
        ahead.queue(run.clone(), Vec::new());
        assert_eq!(ahead.take(&run), None);
        assert!(ahead.shared.lock().queue.is_empty());
        drop(ahead);
        assert!(!run.exists());
    }

    #[test]
    fn what_was_made_for_a_run_that_did_not_come_is_removed_only_while_empty() {
        let root = tempfile::tempdir().unwrap();
        let ahead = DirsAhead::start();
        let unused = root.path().join("0003");
        let written = root.path().join("0004");
        ahead.queue(unused.clone(), vec![unused.join("local")]);
        ahead.queue(written.clone(), vec![written.join("local")]);
        for _ in 0..1000 {
            if ahead.shared.lock().made.len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(ahead.shared.lock().made.len(), 2);
        std::fs::write(written.join("local/out"), "kept").unwrap();
        drop(ahead);
        assert!(!unused.exists());
        assert!(written.join("local/out").is_file());
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_left_to_its_run() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let run = file.join("0005");
        assert!(!make(&run, &[]));
        let ahead = DirsAhead::start();
        ahead.queue(run.clone(), Vec::new());
        for _ in 0..1000 {
            let s = ahead.shared.lock();
            if s.queue.is_empty() && s.busy.is_none() {
                break;
            }
            drop(s);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(ahead.take(&run), None);
    }

    #[test]
    fn staged_directories_are_queued_together_when_the_next_run_s_is_not_coming() {
        let ahead = DirsAhead {
            shared: Arc::new(Shared::default()),
            thread: Some(std::thread::spawn(|| {})),
        };
        let d = |i: usize| PathBuf::from(format!("/nonexistent/{i}"));
        ahead.stage(vec![(d(1), Vec::new())]);
        ahead.stage(vec![(d(1), Vec::new()), (d(2), vec![d(2).join("local")])]);
        assert!(
            ahead.shared.lock().queue.is_empty(),
            "nothing queued before a take"
        );
        assert_eq!(ahead.take(&d(0)), None);
        {
            let s = ahead.shared.lock();
            assert_eq!(
                s.queue,
                [(d(1), Vec::new()), (d(2), vec![d(2).join("local")])],
                "the staged replaced, queued together"
            );
            assert!(s.staged.is_empty());
        }
        // Run 1 takes its own (still queued: it makes it itself); the next run's (2) is
        // coming, so 3 waits for a later take, which queues it with 4.
        ahead.stage(vec![(d(2), Vec::new()), (d(3), Vec::new())]);
        assert_eq!(ahead.take(&d(1)), None);
        assert_eq!(ahead.shared.lock().queue.len(), 1, "only 2 left queued");
        ahead.stage(vec![(d(3), Vec::new()), (d(4), Vec::new())]);
        assert_eq!(ahead.take(&d(2)), None);
        let s = ahead.shared.lock();
        assert_eq!(s.queue, [(d(3), Vec::new()), (d(4), Vec::new())]);
    }

    #[test]
    fn the_queue_is_bounded() {
        let ahead = DirsAhead {
            shared: Arc::new(Shared::default()),
            thread: Some(std::thread::spawn(|| {})),
        };
        for i in 0..10 {
            ahead.queue(PathBuf::from(format!("/nonexistent/{i}")), Vec::new());
        }
        ahead.queue(PathBuf::from("/nonexistent/0"), Vec::new());
        assert_eq!(ahead.shared.lock().queue.len(), MAX_PENDING);
    }
}
