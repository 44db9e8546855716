//! SIGINT, SIGTERM and SIGHUP (the terminal closed) for the whole process. While a library call
//! that honours a `Cancel` runs (an experiment, setup, deploy), the first signal cancels it
//! gracefully: the current run is stopped, teardown and cleanup run, what was recorded is
//! written, and the command exits 130. A second signal, or a first one while nothing can be
//! cancelled (drawing graphs, writing a report: their files are written atomically), exits 130
//! at once; the guard processes still stop everything that was started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use mpf::error::exit;
use mpf::runner::Cancel;

type Notice = Box<dyn Fn() + Send + Sync>;

struct State {
    cancel: Cancel,
    cancellable: AtomicBool,
    on_first: Mutex<Option<Notice>>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(mut signals) => {
                let spawned = std::thread::Builder::new()
                    .name("mpf-signals".into())
                    .spawn(move || {
                        for _ in signals.forever() {
                            on_signal(state());
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

fn on_signal(s: &State) {
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
