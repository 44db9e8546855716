//! The local directory of an mpf process's remote machines (`TMPDIR/mpf-ssh-XXXX`): one
//! subdirectory per machine for its ControlMaster socket and the logs of its master and helper.
//!
//! It is created once per process, with a keeper: a tiny process outside mpf's process group
//! that waits for EOF on a pipe only mpf holds, then removes the directory. The pipe closes
//! when mpf exits for any reason, SIGKILL included, so a killed mpf leaves no directory
//! behind (they used to pile up by the thousand in `/tmp` and slow every `mkdir` there).
//! The keeper only removes the directory this process created, named by its argument: it
//! never looks for other directories and `rm -rf` does not follow symbolic links.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, IoContext, Result};

/// Waits for EOF on stdin, then removes the directory. The signals mpf's terminal sends are
/// ignored so that only EOF ends the keeper.
const KEEPER_SCRIPT: &str = r#"trap '' INT TERM HUP
cat > /dev/null
rm -rf -- "$1""#;

struct Root {
    path: PathBuf,
    /// Never written: mpf's exit closes it. Held so that it stays open until then.
    _stdin: Mutex<ChildStdin>,
    _child: Child,
}

static ROOT: OnceLock<std::result::Result<Root, String>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

fn create_root() -> Result<Root> {
    use std::os::unix::fs::DirBuilderExt;
    let path = std::env::temp_dir().join(format!(
        "mpf-ssh-{:08x}{:04x}",
        fastrand::u32(..),
        std::process::id() & 0xffff
    ));
    // A new directory only we can enter: creating it fails if the name is taken (a planted
    // directory or link is never used).
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .ctx(|| format!("failed to create {}", path.display()))?;
    let spawned = super::guard::spawn_watcher(KEEPER_SCRIPT, "mpf-ssh-keeper", &path);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir(&path);
            return Err(Error::Runtime(format!(
                "failed to start the keeper of {} (sh, cat, rm): {e}",
                path.display()
            )));
        }
    };
    let Some(stdin) = child.stdin.take() else {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir(&path);
        return Err(Error::Runtime("the keeper's stdin is not a pipe".into()));
    };
    Ok(Root {
        path,
        _stdin: Mutex::new(stdin),
        _child: child,
    })
}

fn root() -> Result<&'static Path> {
    match ROOT.get_or_init(|| create_root().map_err(|e| e.to_string())) {
        Ok(r) => Ok(&r.path),
        Err(e) => Err(Error::Runtime(e.clone())),
    }
}

/// A new directory (0700) for one machine's connection, inside this process's directory.
/// `close` removes it when the machine is done; whatever is left goes with the process.
pub(crate) fn machine_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root()?.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .ctx(|| format!("failed to create {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_dirs_are_private_distinct_and_in_one_process_directory() {
        use std::os::unix::fs::PermissionsExt;
        let a = machine_dir().unwrap();
        let b = machine_dir().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), b.parent());
        let parent = a.parent().unwrap();
        assert!(parent
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("mpf-ssh-"));
        for d in [&a, &b, &parent.to_path_buf()] {
            let mode = std::fs::metadata(d).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn the_keeper_removes_the_directory_at_eof_and_not_before() {
        // A keeper of its own, as a process's exit would end it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mpf-ssh-test");
        std::fs::create_dir(&path).unwrap();
        std::fs::create_dir(path.join("1")).unwrap();
        std::fs::write(path.join("1/master.log"), "x").unwrap();
        // A link inside points outside: removing the directory must not follow it.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, path.join("link")).unwrap();
        let mut child =
            crate::exec::guard::spawn_watcher(KEEPER_SCRIPT, "mpf-ssh-keeper", &path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(path.join("1/master.log").exists(), "removed before EOF");
        drop(child.stdin.take());
        child.wait().unwrap();
        assert!(!path.exists());
        assert!(outside.join("keep").exists());
    }
}
