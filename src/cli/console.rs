//! Output that never panics: a closed pipe (`mpf show | head`) or a closed terminal (SIGHUP)
//! makes `print!` panic, so the binary writes through these. A reader that has gone (a broken
//! pipe) is no error; any other failure to write stdout (a full disk, `> /dev/full`) is noted,
//! and `main` reports it and exits 1 instead of 0: output that was lost is never a success.

use std::io::Write;
use std::sync::OnceLock;

/// The first failure to write stdout other than a broken pipe.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes to stdout; a broken pipe is ignored, another failure noted for `stdout_failure`.
pub fn out(text: &str) {
    out_bytes(text.as_bytes());
}

/// As `out`, for bytes.
pub fn out_bytes(data: &[u8]) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(data).and_then(|_| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_FAILED.set(e.to_string());
        }
    }
}

/// Why writing stdout failed, if it did (not counting a reader that went away).
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

/// Writes one line to stderr; nothing happens when stderr is gone.
pub fn err(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    // One write per line: stderr is unbuffered.
    let _ = std::io::stderr().write_all(text.as_bytes());
}
