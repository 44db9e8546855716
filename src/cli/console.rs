//! Output that never panics: a closed pipe (`mpf show | head`) or a closed terminal (SIGHUP)
//! makes `print!` panic, so the binary writes through these and ignores what cannot be written.

use std::io::Write;

/// Writes to stdout; nothing happens when stdout is gone.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Writes one line to stderr; nothing happens when stderr is gone.
pub fn err(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    // One write per line: stderr is unbuffered.
    let _ = std::io::stderr().write_all(text.as_bytes());
}
