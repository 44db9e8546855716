//! The orphan guard: a tiny `sh` process, outside mpf's process group, that remembers the
//! process groups mpf started and kills them all when its stdin reaches EOF — which happens
//! when mpf exits for any reason, SIGKILL included. Cost per step: two short pipe writes.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use crate::error::{IoContext, Result};

/// Reads `+ PGID` / `- PGID` lines; on EOF kills every group still listed.
const GUARD_SCRIPT: &str = r#"trap '' INT TERM HUP
pgs=" "
while read -r op pg; do
  case "$op" in
    +) pgs="$pgs$pg " ;;
    -) case "$pgs" in *" $pg "*) pgs="${pgs%% $pg *} ${pgs#* $pg }" ;; esac ;;
  esac
done
for pg in $pgs; do kill -KILL -"$pg" 2>/dev/null; done
"#;

pub struct Guard {
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

impl Guard {
    /// Starts a guard on this machine.
    pub fn start() -> Result<Guard> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ctx(|| "failed to start the process guard (sh)".into())?;
        let stdin = child.stdin.take();
        Ok(Guard {
            stdin: Mutex::new(stdin),
            child: Mutex::new(child),
        })
    }

    fn send(&self, line: &str) {
        if let Ok(mut g) = self.stdin.lock() {
            if let Some(s) = g.as_mut() {
                let _ = s.write_all(line.as_bytes());
            }
        }
    }

    pub fn register(&self, pgid: i32) {
        self.send(&format!("+ {pgid}\n"));
    }

    pub fn unregister(&self, pgid: i32) {
        self.send(&format!("- {pgid}\n"));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing stdin makes the guard kill whatever is still registered and exit.
        if let Ok(mut g) = self.stdin.lock() {
            g.take();
        }
        if let Ok(mut c) = self.child.lock() {
            let _ = c.wait();
        }
    }
}
