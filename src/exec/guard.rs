//! The orphan guard: a tiny process, outside mpf's process group, that kills every process
//! group mpf started once its stdin reaches EOF — which happens when mpf exits for any reason,
//! SIGKILL included.
//!
//! mpf records groups in a registry file (`+ PGID` when started, `- PGID` when stopped) with
//! plain appends; the guard only reads it at EOF, so a step costs one small write and wakes
//! nobody. The page cache keeps the appends even when mpf dies right after writing them.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use crate::error::{IoContext, Result};

/// Waits for EOF on stdin, then kills the groups still registered and removes the registry.
/// The signals mpf's terminal sends are ignored so that only EOF ends the guard.
const GUARD_SCRIPT: &str = r#"trap '' INT TERM HUP
cat > /dev/null
awk '$1 == "+" { g[$2] = 1 } $1 == "-" { delete g[$2] } END { for (p in g) system("kill -KILL -" p " 2>/dev/null") }' "$1"
rm -f "$1""#;

struct State {
    stdin: Option<ChildStdin>,
    registry: File,
    /// Registry entries since the last compaction.
    entries: usize,
    live: Vec<i32>,
}

pub(crate) struct Guard {
    state: Mutex<State>,
    child: Mutex<Child>,
    path: PathBuf,
}

/// Entries after which the registry is rewritten with only the live groups.
const COMPACT_AFTER: usize = 100_000;

/// Starts `sh -c SCRIPT NAME PATH` in a process group of its own, its stdin a pipe only mpf
/// holds: what outlives mpf to act at its end (the guard, the control directory's keeper)
/// waits for that pipe's EOF, which comes however mpf ends, SIGKILL included.
pub(super) fn spawn_watcher(
    script: &str,
    name: &str,
    path: &std::path::Path,
) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(name)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// Where the guard's registry goes: `/dev/shm` (memory) when the machine has it, the temporary
/// directory otherwise. Each local step appends to the registry twice and its shell once: in
/// memory none of those writes shares the disk with the result set's syncs.
fn registry_dir() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let shm = std::path::Path::new("/dev/shm");
    // World-writable with the sticky bit, as /tmp: a name there is ours once created new.
    match std::fs::metadata(shm) {
        Ok(m) if m.is_dir() && m.permissions().mode() & 0o1777 == 0o1777 => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    }
}

impl Guard {
    /// Starts a guard on this machine.
    pub(crate) fn start() -> Result<Guard> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = registry_dir().join(format!(
            "mpf-guard-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        // A new file only we can write: a file planted beforehand under this name would let
        // its owner list groups for the guard to kill.
        let registry = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .ctx(|| format!("failed to create {}", path.display()))?;
        let mut child = spawn_watcher(GUARD_SCRIPT, "mpf-guard", &path)
            .ctx(|| "failed to start the process guard (sh, cat, awk)".into())?;
        let stdin = child.stdin.take();
        Ok(Guard {
            state: Mutex::new(State {
                stdin,
                registry,
                entries: 0,
                live: Vec::new(),
            }),
            child: Mutex::new(child),
            path,
        })
    }

    fn record(&self, line: String, pgid: i32, add: bool) {
        let Ok(mut s) = self.state.lock() else { return };
        if add {
            s.live.push(pgid);
        } else {
            s.live.retain(|&p| p != pgid);
        }
        s.entries += 1;
        if s.entries >= COMPACT_AFTER {
            let text: String = s.live.iter().map(|p| format!("+ {p}\n")).collect();
            // Rewrite in place: truncate then write; a crash in between loses at most the
            // registry of the groups alive at that instant, which the stdin EOF still covers
            // for mpf's own children through their pipes.
            if s.registry.set_len(0).is_ok() {
                use std::io::Seek;
                let _ = s.registry.seek(std::io::SeekFrom::Start(0));
                let _ = s.registry.write_all(text.as_bytes());
            }
            s.entries = 0;
            return;
        }
        let _ = s.registry.write_all(line.as_bytes());
    }

    /// The registry's path, which a step's shell appends its group to before the step runs
    /// (`REGISTER_PREFIX` in `exec::local`).
    pub(crate) fn registry_path(&self) -> &std::path::Path {
        &self.path
    }

    pub(crate) fn register(&self, pgid: i32) {
        self.record(format!("+ {pgid}\n"), pgid, true);
    }

    pub(crate) fn unregister(&self, pgid: i32) {
        self.record(format!("- {pgid}\n"), pgid, false);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing stdin makes the guard kill whatever is still registered and exit. With
        // nothing registered (every step's group was seen gone) there is nothing for it to
        // do: it is killed instead of left to read the registry, fork awk and rm while mpf
        // waits for it (2.4 ms of every `mpf run`).
        let idle = self.state.lock().is_ok_and(|s| s.live.is_empty());
        if let Ok(mut c) = self.child.lock() {
            if idle {
                // SAFETY: signalling the guard's own process group (it is its leader).
                unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            }
            if let Ok(mut s) = self.state.lock() {
                s.stdin.take();
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
