//! SIGINT, SIGTERM, SIGHUP (the terminal closed) and SIGUSR1 (see below) for the whole process. While a library call
//! that honours a `Cancel` runs (an experiment, setup, deploy), the first signal cancels it
//! gracefully: the current run is stopped, teardown and cleanup run, what was recorded is
//! written, and the command exits 130. A second signal, or a first one while nothing can be
//! cancelled (drawing graphs, writing a report: their files are written atomically), exits 130
//! at once; the guard processes still stop everything that was started.
//!
//! SIGUSR1 means "the program that started mpf is gone": a program that runs mpf asks the
//! kernel for it with `PR_SET_PDEATHSIG` (the Python package does). It stops mpf as a first
//! Ctrl-C does, and is never a second one: the kernel sends it once per thread of the dying
//! parent that mpf is handed to, one after the other, and a repeat must not make mpf quit at
//! once with the set left `running`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use mpf::error::exit;
use mpf::Cancel;

type Notice = Box<dyn Fn() + Send + Sync>;

struct State {
    cancel: Cancel,
    cancellable: AtomicBool,
    on_first: Mutex<Option<Notice>>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1]) {
            Ok(mut signals) => {
                let spawned = std::thread::Builder::new()
                    .name("mpf-signals".into())
                    .spawn(move || {
                        for signal in signals.forever() {
                            on_signal(state(), signal);
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!("signals cannot be handled: {e}");
                }
            }
            Err(e) => tracing::warn!("signals cannot be handled: {e}"),
        }
        State {
            cancel: Cancel::new(),
            cancellable: AtomicBool::new(false),
            on_first: Mutex::new(None),
        }
    })
}

fn on_signal(s: &State, signal: i32) {
    if signal == signal_hook::consts::SIGUSR1 && s.cancel.is_cancelled() {
        // The parent's death, told again: the stop already asked for goes on.
        return;
    }
    if s.cancel.is_cancelled() || !s.cancellable.load(Ordering::SeqCst) {
        std::process::exit(exit::INTERRUPTED);
    }
    if let Ok(f) = s.on_first.lock() {
        if let Some(f) = f.as_ref() {
            f();
        }
    }
    s.cancel.cancel();
}

/// Installs the handlers (for the whole process: a signal while nothing is cancellable exits
/// 130 at once) and returns the process-wide cancel.
pub fn install() -> Cancel {
    state().cancel.clone()
}

/// Runs `f` with the first signal cancelling instead of exiting; `notice` tells the user.
pub fn cancellable<T>(notice: impl Fn() + Send + Sync + 'static, f: impl FnOnce() -> T) -> T {
    let s = state();
    if let Ok(mut n) = s.on_first.lock() {
        *n = Some(Box::new(notice));
    }
    s.cancellable.store(true, Ordering::SeqCst);
    let out = f();
    s.cancellable.store(false, Ordering::SeqCst);
    out
}
