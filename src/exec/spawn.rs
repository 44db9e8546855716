//! Starting a local step's shell the way CPython's `subprocess` does, rather than through
//! glibc's `posix_spawn`.
//!
//! Both share the parent's memory with the child until it execs (`clone` with `CLONE_VM |
//! CLONE_VFORK`), so neither copies mpf's page tables as a `fork` would. They differ in what
//! the child does before `execve`: glibc 2.36's `posix_spawn` (Debian 12, what `std` and tokio
//! use) asks for every signal's disposition and then sets every one of them to its default:
//! 128 `rt_sigaction` calls, on every step, while mpf waits (see docs/performance.md: 246 µs
//! from fork to exec against Python's 170). The child here resets only the signals whose
//! handler is mpf's (a handler must never run in a child that shares mpf's memory), which is
//! what the kernel's `execve` would do to them anyway, plus `SIGPIPE`, which Rust's runtime
//! ignores and a step must not inherit ignored (as `std` does).
//!
//! The child only makes raw system calls through libc: no allocation, no lock, no unwinding
//! (everything it reads was built by the parent before the `clone`). The parent is suspended
//! until the child has exec'd or failed to, and the failure's `errno` is left in the memory
//! they share, as glibc does.
//!
//! The exit is awaited on a pidfd (Linux 5.3): without one (an older kernel, a seccomp filter
//! that refuses it) [`available`] is false and the caller keeps tokio's `Command`.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

/// A started child: its pid (also its process group's id), the read ends of its stdout and
/// stderr pipes (non-blocking), and its exit to wait for.
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) exit: Exit,
}

/// A started child's exit, to wait for.
pub(crate) struct Exit {
    pid: i32,
    pidfd: OwnedFd,
}

/// Whether steps can be started here: the kernel gives pidfds (asked once).
pub(crate) fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        // SAFETY: getpid cannot fail; pidfd_open returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if fd < 0 {
            return false;
        }
        // SAFETY: the descriptor was just opened and is ours alone.
        drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        true
    })
}

/// A descriptor at 3 or above (close-on-exec): the child's `dup2` onto 0, 1 and 2 must never
/// find its source already there (mpf started with a standard stream closed hands out 0-2).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicating a descriptor we own; the new one is ours.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe: its read end non-blocking (for the runtime, which then need not ask), its write
/// end blocking (the child's stdout or stderr), both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are ours alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: setting the status flags of a descriptor we own (the ends are two open files:
    // the read end stays non-blocking).
    if unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r, above_stdio(w)?))
}

/// `/dev/null`, opened once for every step's stdin (an `open` walks the path: 10 µs here).
fn dev_null() -> io::Result<RawFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let file = std::fs::File::open("/dev/null")?;
    let fd = above_stdio(OwnedFd::from(file))?;
    Ok(NULL.get_or_init(|| fd).as_raw_fd())
}

/// Signals whose handler is mpf's: asked once, at the first spawn (mpf installs its handlers
/// when a session starts, before any step), together with those a program commonly catches,
/// which the child asks about again. The child resets each that is neither ignored nor
/// default.
fn signals_to_reset() -> &'static [libc::c_int] {
    static SIGNALS: OnceLock<Vec<libc::c_int>> = OnceLock::new();
    SIGNALS.get_or_init(|| {
        let mut out = vec![
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGTERM,
            libc::SIGCHLD,
            libc::SIGWINCH,
        ];
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP || sig == libc::SIGPIPE {
                continue;
            }
            // SAFETY: a zeroed sigaction is a valid out-parameter; only reads the disposition.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: as above; a signal glibc keeps for itself fails with EINVAL, skipped.
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
                && !out.contains(&sig)
            {
                out.push(sig);
            }
        }
        out
    })
}

/// What the child needs, all built by the parent; `err` is the child's answer.
#[repr(C)]
struct ChildArgs {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// Become stdin, stdout and stderr.
    fds: [RawFd; 3],
    reset: *const libc::c_int,
    reset_len: usize,
    /// 0, or the `errno` of what failed.
    err: libc::c_int,
}

/// The child, on its own stack in the parent's memory, with every signal blocked: only system
/// calls until `execve` replaces it.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive and untouched while the parent is
    // suspended (CLONE_VFORK); every pointer in it was built by the parent for this call.
    unsafe {
        let a = &mut *(arg as *mut ChildArgs);
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for &sig in std::slice::from_raw_parts(a.reset, a.reset_len) {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        libc::sigaction(libc::SIGPIPE, &dfl, std::ptr::null_mut());
        let ok = libc::setpgid(0, 0) == 0
            && (0..3).all(|i| libc::dup2(a.fds[i], i as libc::c_int) >= 0)
            && {
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) == 0
            };
        if ok {
            libc::execve(a.program, a.argv, a.envp);
        }
        a.err = *libc::__errno_location();
        if a.err == 0 {
            a.err = libc::EINVAL;
        }
        libc::_exit(127)
    }
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

/// mpf's own environment as `NAME=value` strings, with each name's length: read once (mpf
/// never changes its environment), so that a step's is not rebuilt from `environ` every time.
fn inherited() -> &'static [(usize, CString)] {
    static ENV: OnceLock<Vec<(usize, CString)>> = OnceLock::new();
    ENV.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let name = k.len();
                let mut kv: OsString = k;
                kv.push("=");
                kv.push(v);
                CString::new(kv.into_vec()).ok().map(|c| (name, c))
            })
            .collect()
    })
}

/// The child's environment: mpf's, with `vars` set over it (a name given twice takes its last
/// value, as `Command::env` does). Returns the strings made for `vars`, which the pointers
/// (null-terminated) point into along with mpf's own.
fn environment(vars: &[(&OsStr, &OsStr)]) -> io::Result<(Vec<CString>, Vec<*const libc::c_char>)> {
    let mut ours: Vec<(&OsStr, &OsStr)> = Vec::with_capacity(vars.len());
    for (k, v) in vars.iter().rev() {
        if !ours.iter().any(|(o, _)| o == k) {
            ours.push((k, v));
        }
    }
    ours.reverse();
    let made = ours
        .iter()
        .map(|(k, v)| c_string([k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<io::Result<Vec<_>>>()?;
    let base = inherited();
    let mut ptrs = Vec::with_capacity(base.len() + made.len() + 1);
    for (name, kv) in base {
        let name = &kv.as_bytes()[..*name];
        if !ours.iter().any(|(o, _)| o.as_bytes() == name) {
            ptrs.push(kv.as_ptr());
        }
    }
    ptrs.extend(made.iter().map(|c| c.as_ptr()));
    ptrs.push(std::ptr::null());
    Ok((made, ptrs))
}

thread_local! {
    /// The child's stack, one per spawning thread: used only while that thread is suspended.
    static STACK: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 << 10]);
}

/// Starts `args` (argv: the program, an absolute path, first), stdin from `/dev/null`, stdout
/// and stderr to new pipes, `env` set over mpf's environment, in a new process group whose id
/// is its pid. A NUL byte in any of them is an `InvalidInput` error, as with `Command`.
pub(crate) fn spawn(args: &[&OsStr], env: &[(&OsStr, &OsStr)]) -> io::Result<Spawned> {
    let args = args
        .iter()
        .map(|a| c_string(a.as_bytes().to_vec()))
        .collect::<io::Result<Vec<_>>>()?;
    let program = args
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no program to start"))?;
    let (_made, envp) = environment(env)?;
    let null = dev_null()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let reset = signals_to_reset();
    let mut args = ChildArgs {
        program: program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        fds: [null, out_w.as_raw_fd(), err_w.as_raw_fd()],
        reset: reset.as_ptr(),
        reset_len: reset.len(),
        err: 0,
    };
    let (pid, clone_err) = STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        let top = stack.as_mut_ptr_range().end as usize & !15;
        // SAFETY: every signal is blocked in this thread across the clone so that the child
        // starts with all of them blocked (no handler of mpf's can run in it before it resets
        // them); the previous mask is restored right after. `child_main` runs on `stack`,
        // which nothing else uses until it has exec'd or exited (CLONE_VFORK suspends this
        // thread until then); `args` and what it points to outlive that.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
            let pid = libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &mut args as *mut ChildArgs as *mut libc::c_void,
            );
            let clone_err = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            (pid, clone_err)
        }
    });
    drop((out_w, err_w));
    if pid < 0 {
        return Err(clone_err);
    }
    // SAFETY: the child wrote `err` (or not) before this thread resumed; read it as memory
    // another context changed.
    let err = unsafe { std::ptr::read_volatile(&args.err) };
    if err != 0 {
        reap(pid);
        return Err(io::Error::from_raw_os_error(err));
    }
    // SAFETY: `pid` is our child, not reaped yet, so it cannot name another process.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: killing and reaping the child we just started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid);
        return Err(e);
    }
    Ok(Spawned {
        pid,
        stdout: out_r,
        stderr: err_r,
        exit: Exit {
            pid,
            // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) },
        },
    })
}

/// Waits (blocking) for the child `pid` to be gone.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waiting for our own child; EINTR is retried.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// The exit code of a wait status, `None` when a signal ended the process.
fn exit_code(status: libc::c_int) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

impl Exit {
    /// Waits for the child's exit (without blocking the runtime) and reaps it: its exit code,
    /// `None` when a signal ended it.
    pub(crate) async fn wait(self) -> Option<i32> {
        let pid = self.pid;
        let try_reap = || {
            let mut status = 0;
            // SAFETY: our own child, reaped once (WNOHANG: 0 while it runs).
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                p if p == pid => Some(Ok(exit_code(status))),
                0 => None,
                _ => {
                    let e = io::Error::last_os_error();
                    (e.kind() != io::ErrorKind::Interrupted).then_some(Err(e))
                }
            }
        };
        // SAFETY: the pidfd is an open descriptor owned by the AsyncFd until it is dropped.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self.pidfd,
                tokio::io::Interest::READABLE,
            )
        };
        let Ok(fd) = registered else {
            // The reactor refused it: a blocking wait on the blocking pool.
            return tokio::task::spawn_blocking(move || {
                let mut status = 0;
                // SAFETY: as above, blocking.
                (unsafe { libc::waitpid(pid, &mut status, 0) } == pid)
                    .then(|| exit_code(status))
                    .flatten()
            })
            .await
            .ok()
            .flatten();
        };
        loop {
            if let Some(r) = try_reap() {
                return r.ok().flatten();
            }
            match fd.readable().await {
                Ok(mut ready) => ready.clear_ready(),
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> [&OsStr; 3] {
        ["/bin/sh".as_ref(), "-c".as_ref(), script.as_ref()]
    }

    /// `vars` as `spawn` takes them.
    fn os<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a OsStr, &'a OsStr)> {
        vars.iter()
            .map(|&(k, v)| (k.as_ref(), v.as_ref()))
            .collect()
    }

    fn read_all(fd: OwnedFd) -> String {
        use std::io::Read;
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    fn run(script: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String, i32) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let Spawned {
            pid,
            stdout,
            stderr,
            exit,
        } = spawn(&sh(script), &os(env)).unwrap();
        let code = rt.block_on(exit.wait());
        (code, read_all(stdout), read_all(stderr), pid)
    }

    #[test]
    fn the_child_runs_in_its_own_group_with_the_given_environment_and_its_exit_code() {
        let (code, out, err, pid) = run(
            "echo \"$$ $(cut -d' ' -f5 /proc/$$/stat) $A $B $PATH\"; read x || echo eof; echo to-err >&2; exit 7",
            &[("A", "first"), ("B", "b"), ("A", "a=1")],
        );
        assert_eq!(code, Some(7));
        let path = std::env::var("PATH").unwrap();
        assert_eq!(out, format!("{pid} {pid} a=1 b {path}\neof\n"));
        assert_eq!(err, "to-err\n");
    }

    #[test]
    fn signals_are_the_steps_own_a_handled_one_default_an_ignored_one_ignored_sigpipe_default() {
        // mpf handles TERM (as the session does): the step's shell gets the default, so
        // `kill -TERM $$` ends it without an exit code.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _term = rt.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap()
        });
        let (code, out, _, _) = run("kill -TERM $$; echo survived", &[]);
        assert_eq!((code, out.as_str()), (None, ""));
        // Ignored by mpf's parent (as `nohup` does for HUP): still ignored, as posix_spawn
        // leaves it. SIGPROF (whose default ends a process) is nobody's in this test
        // binary.
        // SAFETY: setting a disposition; no handler function involved.
        unsafe { libc::signal(libc::SIGPROF, libc::SIG_IGN) };
        let (code, out, _, _) = run("kill -PROF $$; echo survived", &[]);
        assert_eq!((code, out.as_str()), (Some(0), "survived\n"));
        // Rust's runtime ignores SIGPIPE; a step's `yes | head -1` must not see EPIPE
        // errors but die of the signal, silently.
        let (code, _, err, _) = run("yes | head -1 >/dev/null", &[]);
        assert_eq!((code, err.as_str()), (Some(0), ""));
    }

    #[test]
    fn the_childs_output_is_a_blocking_pipe_whatever_mpfs_end_is() {
        // The child writes more than a pipe holds while nobody reads yet: a non-blocking
        // stdout would make it fail with EAGAIN.
        let argv = sh("head -c 300000 /dev/zero; echo \"exit $?\" >&2");
        let Spawned {
            stdout,
            stderr,
            exit,
            ..
        } = spawn(&argv, &[]).unwrap();
        // SAFETY: F_GETFL only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(flags & libc::O_NONBLOCK, 0, "mpf's end is non-blocking");
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: clearing the flags of a descriptor the test owns, to read it plainly.
        unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETFL, 0) };
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut all = Vec::new();
            std::fs::File::from(stdout).read_to_end(&mut all).unwrap();
            all.len()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(exit.wait()), Some(0));
        assert_eq!(reader.join().unwrap(), 300_000);
        // SAFETY: as above.
        unsafe { libc::fcntl(stderr.as_raw_fd(), libc::F_SETFL, 0) };
        assert_eq!(read_all(stderr), "exit 0\n");
    }

    #[test]
    fn a_program_that_cannot_start_or_a_nul_in_the_environment_is_an_error() {
        let missing = [
            "/nonexistent/mpf-sh".as_ref(),
            "-c".as_ref(),
            "true".as_ref(),
        ];
        let e = spawn(&missing, &[]).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        let e = spawn(&sh("true"), &os(&[("A", "x\0y")])).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = spawn(&sh("tr\0ue"), &[]).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
}
