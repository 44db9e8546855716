//! Running the programs host sources ask (`squeue`, `scontrol`, `ansible-inventory`, a
//! `command:`): their output bounded, their time limited, their whole process group ended.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sources::Source;
use super::Host;
use crate::spec::hosts::HostSource;

/// `from: command`: one host per line of what `sh -c COMMAND` prints.
pub(super) struct FromCommand;

impl Source for FromCommand {
    fn name(&self) -> &'static str {
        "command"
    }

    fn what(&self, s: &HostSource, _job: Option<&str>) -> Option<String> {
        s.command.clone()
    }

    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String> {
        let script = s.command.as_deref().unwrap_or_default();
        let out = run_bounded("sh", &["-c", script], TIMEOUT)?;
        super::nodefile::hosts_of_lines(&out, "the output of the command")
    }
}

/// The most output read from a source's program.
pub(super) const MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// How long a source's program may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `program args`, returning its standard output; an error says what failed: not
/// found, a non-zero exit (with the end of its standard error), too much output, too long.
pub(super) fn run_bounded(
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let shown = || format!("`{program} {}`", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", shown()))?;
    let pgid = child.id() as i32;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Read apart from the waiting, so that a full pipe never stops the program.
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = (&mut stdout)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut buf);
        // The rest is drained so the program is not stopped by a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        r.map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if started.elapsed() >= timeout => break Err(()),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break Err(()),
        }
    };
    // The whole group: a shell's children go with it.
    // SAFETY: kill has no memory preconditions; the group is the one this call started.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let stdout = out.join().ok().and_then(Result::ok).unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let status = status.map_err(|_| format!("{} gave no answer within {timeout:?}", shown()))?;
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{} failed ({status}){}{}",
            shown(),
            if tail.is_empty() { "" } else { ": " },
            crate::spec::shown_text(&tail.join(" / "))
        ));
    }
    if stdout.len() > MAX_OUTPUT {
        return Err(format!("{} printed more than {MAX_OUTPUT} bytes", shown()));
    }
    String::from_utf8(stdout).map_err(|_| format!("{} printed something not UTF-8", shown()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_errors_and_time_are_bounded() {
        assert_eq!(
            run_bounded("sh", &["-c", "echo a; echo b"], TIMEOUT).unwrap(),
            "a\nb\n"
        );
        let e = run_bounded("sh", &["-c", "echo oops >&2; exit 3"], TIMEOUT).unwrap_err();
        assert!(e.contains("failed") && e.contains("oops"), "{e}");
        let started = Instant::now();
        let e = run_bounded(
            "sh",
            &["-c", "sleep 30 & sleep 30"],
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(e.contains("no answer"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = run_bounded("sh", &["-c", "head -c 20000000 /dev/zero"], TIMEOUT).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        assert!(run_bounded("/nonexistent/x", &[], TIMEOUT)
            .unwrap_err()
            .contains("cannot run"));
    }
}
