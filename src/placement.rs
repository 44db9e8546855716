//! Keeps a session's helper threads (the journal's flusher, the directories made ahead) off
//! the CPU the run thread last ran on.
//!
//! The run thread wakes a helper at every run, and Linux places a woken thread near its waker:
//! on a 2-core machine `perf sched` of a 300-run sweep of `true` found the run thread and the
//! journal's flusher on the same CPU most of the time, the run thread waiting to run for 265 ms
//! a second, and the other CPU idle. A helper that keeps off the run thread's CPU leaves it to
//! the run thread and the step it starts. Only the helpers move: they start no process, so the
//! steps, and everything else mpf starts, keep the CPUs mpf was given.

use std::sync::atomic::{AtomicI32, Ordering};

/// The CPU the run thread was last seen on (-1: not yet).
static RUN_CPU: AtomicI32 = AtomicI32::new(-1);

/// Notes the calling thread's CPU as the run thread's (a few nanoseconds: glibc reads it from
/// the thread's `rseq` area).
pub(crate) fn note_run_thread() {
    // SAFETY: sched_getcpu takes no argument and only returns a number (-1 on failure).
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu >= 0 {
        RUN_CPU.store(cpu, Ordering::Relaxed);
    }
}

/// A helper thread's placement: the CPUs it was started with, and the CPU it keeps off.
pub(crate) struct Helper {
    /// `None` when the thread may run on fewer than two CPUs (nothing to keep off then) or its
    /// CPUs could not be read.
    allowed: Option<libc::cpu_set_t>,
    avoided: i32,
}

impl Helper {
    /// Reads the calling (helper) thread's CPUs.
    pub(crate) fn new() -> Helper {
        // SAFETY: an all-zero cpu_set_t is a valid empty set; sched_getaffinity writes at most
        // its size into it.
        let allowed = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let ok = libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) == 0;
            (ok && libc::CPU_COUNT(&set) >= 2).then_some(set)
        };
        Helper {
            allowed,
            avoided: -1,
        }
    }

    /// Keeps the calling (helper) thread off the run thread's CPU, when it changed since the
    /// last call: one `sched_setaffinity` then, nothing otherwise. Errors are ignored (the
    /// thread then runs where it did).
    pub(crate) fn keep_off_run_thread(&mut self) {
        let Some(allowed) = self.allowed else {
            return;
        };
        let cpu = RUN_CPU.load(Ordering::Relaxed);
        if cpu < 0 || cpu == self.avoided {
            return;
        }
        self.avoided = cpu;
        let mut set = allowed;
        let cpu = cpu as usize;
        // SAFETY: `cpu` is below the set's size, checked first; `set` is a valid cpu_set_t of
        // the size given; 0 is the calling thread.
        unsafe {
            if cpu < libc::CPU_SETSIZE as usize && libc::CPU_ISSET(cpu, &set) {
                libc::CPU_CLR(cpu, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_cpus() -> libc::cpu_set_t {
        // SAFETY: as in Helper::new.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set),
                0
            );
            set
        }
    }

    #[test]
    fn a_helper_keeps_off_the_run_thread_s_cpu_and_nothing_else_moves() {
        let before = own_cpus();
        // SAFETY: reading a set's count.
        if unsafe { libc::CPU_COUNT(&before) } < 2 {
            // One CPU: the helper has nowhere else to go and keeps it.
            std::thread::spawn(|| {
                let mut h = Helper::new();
                assert!(h.allowed.is_none());
                h.keep_off_run_thread();
            })
            .join()
            .unwrap();
            return;
        }
        note_run_thread();
        let helper = std::thread::spawn(move || {
            let mut h = Helper::new();
            h.keep_off_run_thread();
            let now = own_cpus();
            // The CPU noted last (another test's thread may have noted its own since).
            assert!(h.avoided >= 0, "a CPU was noted and kept off");
            let avoided = h.avoided as usize;
            let mut expected = before;
            // SAFETY: `avoided` is a CPU the kernel gave, below CPU_SETSIZE.
            unsafe {
                assert!(!libc::CPU_ISSET(avoided, &now), "off the run thread's CPU");
                libc::CPU_CLR(avoided, &mut expected);
                assert!(libc::CPU_EQUAL(&now, &expected), "every other CPU kept");
            }
        });
        helper.join().unwrap();
        // The thread that noted its CPU, and the threads it starts, keep theirs.
        let child = std::thread::spawn(own_cpus).join().unwrap();
        // SAFETY: comparing two valid sets.
        unsafe {
            assert!(libc::CPU_EQUAL(&own_cpus(), &before));
            assert!(libc::CPU_EQUAL(&child, &before));
        }
    }
}
