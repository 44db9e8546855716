//! Remote machines over the system OpenSSH client: one ControlMaster connection per machine
//! for the whole experiment, every command a session multiplexed over it.
//!
//! Process groups and cleanup on the remote side:
//! - each step runs in a session and process group of its own (`setsid`), whose leader writes
//!   its pgid into a registry directory (`/tmp/mpf-g-XXXX/<token>`) before it runs the step.
//!   mpf knows the group by its token, so nothing has to be parsed out of the step's output;
//! - a small supervisor, the step session's own shell, waits for the leader. Beside it a
//!   watcher reads the session's stdin, a pipe from mpf: closing that pipe makes the watcher
//!   stop the group (TERM and CONT, the grace, KILL). Stopping a step therefore costs no
//!   session of its own: mpf closes the pipe and the session ends once the group is gone;
//! - when the leader exits and its group is empty, the supervisor unregisters it and the
//!   session ends at once. When processes are left in the group, they stay until the end of
//!   the run, where `stop_group` kills them over a session of its own (the supervisor tells
//!   mpf with a marker line on stderr). Another marker says whether `run_dir` holds files, so
//!   that empty run directories are removed without a round trip instead of collected;
//! - one long-lived guard session per machine reads its stdin, a pipe from mpf. When mpf dies
//!   (SIGKILL included) or the connection drops, sshd closes that stdin; the guard then kills
//!   every group still registered. A step that leaves its group (`setsid`, double fork) is not
//!   covered and must be stopped in `teardown`.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::error::{Error, IoContext, Result};
use crate::exec::{sh_quote as q, BoxFut, StepProc, Transport};

/// How to reach one machine.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Name in messages and records (the host name as written).
    pub name: String,
    /// `user@host` or an ssh_config alias.
    pub destination: String,
    pub port: Option<u16>,
    pub identity: Option<String>,
    /// `Key=Value` options given with `-o`, before mpf's own (ssh keeps the first value).
    pub options: Vec<String>,
    pub max_sessions: usize,
}

struct Conn {
    master: Child,
    /// The guard session; its stdin is the pipe whose EOF makes the remote guard act.
    guard: Child,
}

pub struct Ssh {
    cfg: SshConfig,
    ctl_dir: PathBuf,
    ctl: PathBuf,
    /// Remote registry of the process groups mpf started (one file per group).
    gdir: String,
    conn: Mutex<Option<Conn>>,
    sessions: Arc<Semaphore>,
    next_token: AtomicI32,
    /// Commands (mkdir, rm) run at the start of the next session instead of one of their own.
    prelude: Mutex<String>,
    roots: Mutex<Vec<String>>,
    /// Roots known to be ours and private (created, or checked, with `private_dir_script`).
    private_roots: Mutex<Vec<String>>,
    /// Steps started and not yet stopped, by token.
    live: Mutex<std::collections::HashMap<i32, LiveStep>>,
    /// Remote paths that hold files to collect (run directories written to).
    dirty: Mutex<Vec<String>>,
}

/// What `stop_group` needs of a running step: the pipe whose EOF stops it, its exit, its
/// stderr (for the supervisor's markers) and its run directory.
struct LiveStep {
    stdin: Option<tokio::process::ChildStdin>,
    exit: crate::exec::process::ExitWatch,
    /// Resolves when the session's output has been read to its end (markers included).
    closed: crate::exec::BoxFut<'static, ()>,
    stderr: crate::exec::process::SharedBuf,
    run_dir: Option<String>,
}

/// `alive PGID`: is a member of the group alive? Zombies don't count: an orphan's zombie waits
/// for PID 1, which some init processes reap late.
const ALIVE_FN: &str = r#"if command -v ps >/dev/null 2>&1; then
  alive() {
    kill -0 -"$1" 2>/dev/null &&
      ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
  }
else
  alive() { kill -0 -"$1" 2>/dev/null; }
fi
"#;

/// The step session's shell. It makes the step's run directory itself: the `mkdir` that
/// `create_dir` queues runs with whichever session starts first, and steps of two roles
/// started together race it (one step then found no run_dir and wrote nothing).
/// `$1` the script, `$2` the registry file, `$3` polls of 50 ms
/// in the grace period, then the wrapper prefix (`ip netns exec NS ...`), one argument per
/// word: as arguments they need no quoting inside this script's own quotes. The exports are
/// spliced in by `spawn`.
fn supervisor(exports: &str) -> String {
    let m = crate::exec::process::INTERNAL_MARK;
    let alive = ALIVE_FN;
    format!(
        r#"{exports}exec 3<&0 </dev/null
[ -z "$MPF_RUN_DIR" ] || mkdir -p "$MPF_RUN_DIR"
{alive}mkfifo "$2.o" "$2.e" || {{ echo "mpf: cannot create the output pipes" >&2; exit 125; }}
cat "$2.o" & co=$!
cat "$2.e" >&2 & ce=$!
setsid sh -c 'echo $$ > "$2" || {{ echo "mpf: cannot register the process group" >&2; exit 125; }}; s=$1; shift 3; exec "$@" sh -c "$s"' mpf-step "$@" >"$2.o" 2>"$2.e" &
pg=$!
{{ cat <&3 >/dev/null
  while [ ! -f "$2" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.01; done
  [ -f "$2" ] && [ ! -f "$2.keep" ] || exit 0
  kill -TERM -"$pg"; kill -CONT -"$pg"; i=0
  while alive "$pg" && [ "$i" -lt "$3" ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL -"$pg"; rm -f "$2"
}} >/dev/null 2>&1 &
exec 3<&-
wait "$pg"; rc=$?
if alive "$pg"; then
  # Processes left in the group hold the pipes: detached sinks take over so that this
  # session can end, and the left processes can go on writing until the run ends.
  sleep 0.1
  cat "$2.o" >/dev/null 2>&1 & cat "$2.e" >/dev/null 2>&1 &
  kill "$co" "$ce" 2>/dev/null
  : > "$2.keep"; left=1
else
  wait "$co" "$ce"; rm -f "$2"; left=
fi
rm -f "$2.o" "$2.e"
if [ -n "$MPF_RUN_DIR" ] && [ -n "$(ls -A "$MPF_RUN_DIR" 2>/dev/null)" ]; then echo "{m} rundir" >&2; fi
[ -n "$left" ] && echo "{m} leftovers" >&2
exit $rc
"#
    )
}

/// The grace between TERM and KILL when a step's watcher stops it.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Seconds before an unreachable host is given up on.
const CONNECT_TIMEOUT: u64 = 5;

/// Waits for EOF on stdin, then kills every registered group and removes the registry.
fn guard_script(gdir: &str) -> String {
    format!(
        "trap '' INT TERM HUP; cat > /dev/null; for f in {d}/*; do [ -f \"$f\" ] && p=$(cat \"$f\") && [ -n \"$p\" ] && kill -KILL \"-$p\" 2>/dev/null; done; rm -rf {d}",
        d = q(gdir)
    )
}

/// Whether `path` is `dir` or inside it, compared by components: `/r/n10` is not in `/r/n1`.
fn is_within(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(Path::new(dir))
}

/// Creates `dir` readable by its owner only, or accepts it when it already is a directory
/// of ours with mode 0700 (left by an mpf that died); anything else, such as a directory
/// someone else made beforehand under /tmp, is refused with a message on stderr.
fn private_dir_script(dir: &str) -> String {
    format!(
        r#"umask 077; d={}; if ! mkdir "$d" 2>/dev/null; then set -- $(ls -ldn "$d" 2>/dev/null); case "$1:$3" in "drwx------:$(id -u)"|"drwx------.:$(id -u)") ;; *) echo "mpf: $d already exists and is not a private directory of user $(id -un) (owned by it, mode 0700): refusing to use it" >&2; exit 1;; esac; fi"#,
        q(dir)
    )
}

fn random_tag() -> String {
    format!(
        "{:08x}{:04x}",
        fastrand::u32(..),
        std::process::id() & 0xffff
    )
}

impl Ssh {
    /// Options common to every invocation: the control socket first, then the user's,
    /// then mpf's defaults (ssh keeps the first value it sees for an option).
    fn base_args(&self, cmd: &mut Command) {
        cmd.arg("-S").arg(&self.ctl);
        if let Some(p) = self.cfg.port {
            cmd.arg("-p").arg(p.to_string());
        }
        if let Some(i) = &self.cfg.identity {
            cmd.arg("-i").arg(i);
        }
        for o in &self.cfg.options {
            cmd.arg("-o").arg(o);
        }
        cmd.args([
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("ConnectTimeout={CONNECT_TIMEOUT}"),
            "-o",
            "ServerAliveInterval=2",
            "-o",
            "ServerAliveCountMax=3",
        ]);
    }

    /// The supervisor's markers in a step's stderr: (run_dir holds files, processes were left).
    fn markers(&self, stderr: &crate::exec::process::SharedBuf) -> (bool, bool) {
        let m = crate::exec::process::INTERNAL_MARK;
        let text = stderr
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let has = |what: &str| text.lines().any(|l| l.starts_with(m) && l.ends_with(what));
        (has("rundir"), has("leftovers"))
    }

    /// Stops a registered group over a session of its own: TERM (and CONT), the grace, KILL.
    async fn kill_group_session(&self, pgid: i32, grace: Duration) {
        if self.ensure_connected().await.is_err() {
            // The guard on the other side has seen EOF and killed the group.
            return;
        }
        let Ok(_permit) = self.sessions.acquire().await else {
            return;
        };
        let polls = (grace.as_millis() / 50).max(1);
        let script = format!(
            "{alive}f={d}/{pgid}; [ -f \"$f\" ] || exit 0; p=$(cat \"$f\"); \
             if [ -n \"$p\" ] && kill -0 \"-$p\" 2>/dev/null; then \
             kill -TERM \"-$p\" 2>/dev/null; kill -CONT \"-$p\" 2>/dev/null; i=0; \
             while alive \"$p\" && [ $i -lt {polls} ]; do sleep 0.05; i=$((i+1)); done; \
             kill -KILL \"-$p\" 2>/dev/null; fi; rm -f \"$f\" \"$f.keep\"",
            alive = ALIVE_FN,
            d = q(&self.gdir)
        );
        let mut cmd = tokio::process::Command::from(self.session(&script));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let limit = grace + Duration::from_secs(CONNECT_TIMEOUT + 5);
        if let Ok(mut child) = cmd.spawn() {
            if tokio::time::timeout(limit, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }

    /// `base_args` as strings, for commands built elsewhere (rsync's `-e`).
    fn base_args_vec(&self) -> Vec<String> {
        let mut cmd = Command::new("ssh");
        self.base_args(&mut cmd);
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// A session over the master (never a connection of its own).
    fn session(&self, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-T", "-o", "ControlMaster=no", "-o", "LogLevel=ERROR"]);
        self.base_args(&mut cmd);
        // `--`: whatever the destination, ssh never reads it as an option.
        cmd.arg("--").arg(&self.cfg.destination).arg(remote);
        cmd.process_group(0);
        cmd
    }

    /// Opens the master connection and the guard session of a machine.
    pub async fn connect(cfg: SshConfig) -> Result<Ssh> {
        let ctl_dir = std::env::temp_dir().join(format!("mpf-ssh-{}", random_tag()));
        std::fs::DirBuilder::new()
            .mode_0700()
            .create(&ctl_dir)
            .ctx(|| format!("failed to create {}", ctl_dir.display()))?;
        let ssh = Ssh {
            ctl: ctl_dir.join("ctl"),
            gdir: format!("/tmp/mpf-g-{}", random_tag()),
            ctl_dir,
            sessions: Arc::new(Semaphore::new(cfg.max_sessions.max(1))),
            cfg,
            conn: Mutex::new(None),
            next_token: AtomicI32::new(1),
            prelude: Mutex::new(String::new()),
            roots: Mutex::new(Vec::new()),
            private_roots: Mutex::new(Vec::new()),
            live: Mutex::new(std::collections::HashMap::new()),
            dirty: Mutex::new(Vec::new()),
        };
        let conn = ssh.open().await?;
        if let Ok(mut c) = ssh.conn.lock() {
            *c = Some(conn);
        }
        Ok(ssh)
    }

    async fn open(&self) -> Result<Conn> {
        let name = &self.cfg.name;
        let _ = std::fs::remove_file(&self.ctl);
        let log_path = self.ctl_dir.join("master.log");
        let log = std::fs::File::create(&log_path)
            .ctx(|| format!("failed to create {}", log_path.display()))?;
        let mut cmd = Command::new("ssh");
        cmd.args(["-M", "-N", "-T", "-o", "ControlPersist=no"]);
        self.base_args(&mut cmd);
        cmd.arg("--")
            .arg(&self.cfg.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        // The master dies with mpf (SIGKILL included): its sessions then end, and the remote
        // guards see EOF. Spawned from the runtime's thread, which lives as long as mpf.
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut master = cmd
            .spawn()
            .ctx(|| format!("failed to start ssh for {name}"))?;
        let deadline = Instant::now() + Duration::from_secs(CONNECT_TIMEOUT + 10);
        loop {
            if let Ok(Some(st)) = master.try_wait() {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(Error::Runtime(format!(
                    "cannot connect to machine {name} ({}): ssh {st}: {}",
                    self.cfg.destination,
                    text.trim()
                )));
            }
            if self.ctl.exists() {
                break;
            }
            if Instant::now() > deadline {
                let _ = master.kill();
                let _ = master.wait();
                return Err(Error::Runtime(format!(
                    "cannot connect to machine {name} ({}): no answer within {}s",
                    self.cfg.destination,
                    CONNECT_TIMEOUT + 10
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The registry of groups, then the guard that acts on it.
        let mut mk = self.session(&private_dir_script(&self.gdir));
        let st = mk
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .ctx(|| format!("failed to run ssh for {name}"))?;
        if !st.status.success() {
            let _ = master.kill();
            let _ = master.wait();
            return Err(Error::Runtime(format!(
                "machine {name}: cannot create {}: {}",
                self.gdir,
                String::from_utf8_lossy(&st.stderr).trim()
            )));
        }
        let guard = self
            .session(&format!("exec sh -c {}", q(&guard_script(&self.gdir))))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ctx(|| format!("failed to start the guard session on {name}"))?;
        Ok(Conn { master, guard })
    }

    /// Makes sure the master is up, reconnecting once if it died (a host that came back).
    /// Without this check ssh would silently open a connection of its own.
    async fn ensure_connected(&self) -> Result<()> {
        let alive = match self.conn.lock() {
            Ok(mut c) => match c.as_mut() {
                Some(conn) => matches!(conn.master.try_wait(), Ok(None)),
                None => false,
            },
            Err(_) => false,
        };
        if alive {
            return Ok(());
        }
        let old = self.conn.lock().ok().and_then(|mut c| c.take());
        if let Some(mut old) = old {
            drop(old.guard.stdin.take());
            let _ = old.guard.kill();
            let _ = old.guard.wait();
            let _ = old.master.wait();
        }
        let conn = self.open().await.map_err(|e| {
            Error::Runtime(format!(
                "machine {} stopped answering (connection lost): {e}",
                self.cfg.name
            ))
        })?;
        if let Ok(mut c) = self.conn.lock() {
            *c = Some(conn);
        }
        Ok(())
    }

    fn take_prelude(&self) -> String {
        self.prelude
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Runs a short command synchronously; returns its stdout or an error with its stderr.
    fn run_sync(&self, remote: &str, input: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut cmd = self.session(remote);
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .ctx(|| format!("failed to run ssh for {}", self.cfg.name))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
        let out = child
            .wait_with_output()
            .ctx(|| format!("failed to run ssh for {}", self.cfg.name))?;
        if !out.status.success() {
            return Err(Error::Runtime(format!(
                "on machine {}: {}",
                self.cfg.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    fn close(&mut self) {
        let Some(mut conn) = self.conn.lock().ok().and_then(|mut c| c.take()) else {
            return;
        };
        if matches!(conn.master.try_wait(), Ok(None)) {
            let roots = self.roots.lock().map(|r| r.clone()).unwrap_or_default();
            let mut cleanup = self.take_prelude();
            for r in roots {
                cleanup.push_str(&format!("rm -rf {}; ", q(&r)));
            }
            if !cleanup.is_empty() {
                cleanup.push_str("true");
                let _ = self.run_sync(&cleanup, None);
            }
        }
        // EOF makes the guard kill whatever is still registered and remove the registry.
        drop(conn.guard.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(conn.guard.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = conn.guard.kill();
        let _ = conn.guard.wait();
        let mut exit = Command::new("ssh");
        exit.args(["-O", "exit", "-o", "LogLevel=QUIET"]);
        self.base_args(&mut exit);
        let _ = exit
            .arg("--")
            .arg(&self.cfg.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(conn.master.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = conn.master.kill();
        let _ = conn.master.wait();
        let _ = std::fs::remove_dir_all(&self.ctl_dir);
    }

    /// Makes the result set's root that holds `path` private on the machine, once per root:
    /// its run directories then need no care of their own.
    fn ensure_private_root(&self, path: &str) -> Result<()> {
        let roots = self.roots.lock().map(|r| r.clone()).unwrap_or_default();
        let Some(root) = roots.into_iter().find(|r| is_within(path, r)) else {
            return Ok(());
        };
        let done = self
            .private_roots
            .lock()
            .map(|p| p.contains(&root))
            .unwrap_or(false);
        if done {
            return Ok(());
        }
        let script = format!("{}{}", self.take_prelude(), private_dir_script(&root));
        self.run_sync(&script, None)?;
        if let Ok(mut p) = self.private_roots.lock() {
            p.push(root);
        }
        Ok(())
    }

    /// The pid of the master connection (tests check that sessions go through it).
    pub fn master_pid(&self) -> Option<u32> {
        self.conn
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.master.id()))
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

trait DirBuilderExt2 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl DirBuilderExt2 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

impl Transport for Ssh {
    fn ssh_command(&self) -> Option<(Vec<String>, String)> {
        let mut argv = vec![
            "ssh".to_string(),
            "-T".into(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ];
        argv.extend(self.base_args_vec());
        Some((argv, self.cfg.destination.clone()))
    }

    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn spawn<'a>(
        &'a self,
        script: &'a str,
        env: &'a [(String, String)],
        wrap: &'a [String],
    ) -> BoxFut<'a, Result<StepProc>> {
        Box::pin(async move {
            self.ensure_connected().await?;
            let permit = self
                .sessions
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::Runtime("session limit closed".into()))?;
            let token = self.next_token.fetch_add(1, Ordering::Relaxed);
            let mut exports = String::new();
            if !env.is_empty() {
                exports.push_str("export");
                for (k, v) in env {
                    exports.push_str(&format!(" {k}={}", q(v)));
                }
                exports.push('\n');
            }
            let wrap: String = wrap.iter().map(|w| format!(" {}", q(w))).collect();
            let polls = (STOP_GRACE.as_millis() / 50).max(1);
            let remote = format!(
                "{}exec sh -c {} mpf-supervisor {} {} {polls}{wrap}",
                self.take_prelude(),
                q(&supervisor(&exports)),
                q(script),
                q(&format!("{}/{token}", self.gdir))
            );
            let run_dir = env
                .iter()
                .find(|(k, _)| k == "MPF_RUN_DIR")
                .map(|(_, v)| v.clone());
            let mut cmd = tokio::process::Command::from(self.session(&remote));
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(false);
            let mut child = cmd
                .spawn()
                .ctx(|| format!("failed to start ssh for {}", self.cfg.name))?;
            let stdin = child.stdin.take();
            let proc = StepProc::holding(child, token, Some(Box::new(permit)));
            if let Ok(mut live) = self.live.lock() {
                live.insert(
                    token,
                    LiveStep {
                        stdin,
                        exit: proc.exit_watch(),
                        closed: Box::pin(proc.output_closed()),
                        stderr: proc.output_so_far().1,
                        run_dir,
                    },
                );
            }
            Ok(proc)
        })
    }

    fn stop_group(&self, pgid: i32, grace: Duration) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let step = self.live.lock().ok().and_then(|mut l| l.remove(&pgid));
            if let Some(mut step) = step {
                let ended = step.exit.borrow().is_some();
                if !ended {
                    // Closing the session's stdin makes its watcher stop the group; the
                    // session ends when the group is gone.
                    step.stdin.take();
                    let limit = grace + Duration::from_secs(CONNECT_TIMEOUT);
                    let _ = tokio::time::timeout(limit, step.exit.wait_for(|v| v.is_some())).await;
                }
                if step.exit.borrow().is_some() {
                    // The markers are the session's last output: read it to the end.
                    let _ = tokio::time::timeout(Duration::from_secs(2), &mut step.closed).await;
                }
                let (rundir, leftovers) = self.markers(&step.stderr);
                if rundir {
                    if let (Some(d), Ok(mut dirty)) = (step.run_dir.take(), self.dirty.lock()) {
                        dirty.push(d);
                    }
                }
                let stopped = step.exit.borrow().is_some();
                if stopped && !leftovers {
                    return;
                }
            }
            self.kill_group_session(pgid, grace).await;
        })
    }

    fn group_alive(&self, pgid: i32) -> bool {
        let script = format!(
            "f={}/{pgid}; [ -f \"$f\" ] && p=$(cat \"$f\") && kill -0 \"-$p\" 2>/dev/null",
            q(&self.gdir)
        );
        self.run_sync(&script, None).is_ok()
    }

    fn write_file(&self, path: &str, content: &[u8]) -> Result<()> {
        let dir = Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".into());
        let remote = format!(
            "{}mkdir -p {} && cat > {}",
            self.take_prelude(),
            q(&dir),
            q(path)
        );
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.push(dir.clone());
        }
        self.run_sync(&remote, Some(content))
            .map(|_| ())
            .map_err(|e| Error::Runtime(format!("failed to write {path}: {e}")))
    }

    fn create_dir(&self, path: &str) -> Result<()> {
        self.ensure_private_root(path)?;
        // Done by the next session: a run's directories cost no round trip of their own.
        if let Ok(mut p) = self.prelude.lock() {
            p.push_str(&format!("mkdir -p {}; ", q(path)));
        }
        Ok(())
    }

    fn remote_root(&self, set_id: &str) -> Option<String> {
        let root = format!("/tmp/mpf-{set_id}");
        if let Ok(mut r) = self.roots.lock() {
            if !r.contains(&root) {
                r.push(root.clone());
            }
        }
        Some(root)
    }

    fn collect_dir<'a>(&'a self, remote: &'a str, local: &'a Path) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            // Nothing was written there: remove it with the next session, no round trip now.
            let written = match self.dirty.lock() {
                Ok(mut d) => {
                    let hit = d.iter().any(|p| is_within(p, remote));
                    d.retain(|p| !is_within(p, remote));
                    hit
                }
                Err(_) => true,
            };
            if !written {
                if let Ok(mut p) = self.prelude.lock() {
                    p.push_str(&format!("rm -rf {}; ", q(remote)));
                }
                return Ok(());
            }
            self.ensure_connected().await?;
            let _permit = self
                .sessions
                .acquire()
                .await
                .map_err(|_| Error::Runtime("session limit closed".into()))?;
            std::fs::create_dir_all(local)
                .ctx(|| format!("failed to create {}", local.display()))?;
            // One session both archives and removes the directory; an empty archive when
            // the directory does not exist, so that the local tar always has one to read.
            let r = q(remote);
            let script = format!(
                "{}if cd {r} 2>/dev/null; then tar cf - .; rc=$?; cd /; rm -rf {r}; exit $rc; else tar cf - -T /dev/null; fi",
                self.take_prelude()
            );
            let mut ssh = tokio::process::Command::from(self.session(&script));
            ssh.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut ssh = ssh
                .spawn()
                .ctx(|| format!("failed to run ssh for {}", self.cfg.name))?;
            let out: Stdio = ssh
                .stdout
                .take()
                .ok_or_else(|| Error::Runtime("no ssh stdout".into()))?
                .try_into()
                .ctx(|| "failed to pipe ssh into tar".into())?;
            let tar = tokio::process::Command::new("tar")
                .arg("xf")
                .arg("-")
                .arg("-C")
                .arg(local)
                .stdin(out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            let mut err = Vec::new();
            let mut ssh_err = ssh.stderr.take();
            let (tar, st) = tokio::join!(tar, async {
                if let Some(e) = ssh_err.as_mut() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_end(&mut err).await;
                }
                ssh.wait().await
            });
            let tar = tar.ctx(|| "failed to run tar".into())?;
            let ok = st.map(|s| s.success()).unwrap_or(false);
            if !ok || !tar.status.success() {
                return Err(Error::Runtime(format!(
                    "failed to collect {remote} from machine {}: {}{}",
                    self.cfg.name,
                    String::from_utf8_lossy(&err).trim(),
                    String::from_utf8_lossy(&tar.stderr).trim()
                )));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_compared_by_components() {
        assert!(is_within(
            "/tmp/mpf-x/runs/0000/n1",
            "/tmp/mpf-x/runs/0000/n1"
        ));
        assert!(is_within(
            "/tmp/mpf-x/runs/0000/n1/sub",
            "/tmp/mpf-x/runs/0000/n1"
        ));
        assert!(!is_within(
            "/tmp/mpf-x/runs/0000/n10",
            "/tmp/mpf-x/runs/0000/n1"
        ));
        assert!(!is_within(
            "/tmp/mpf-x/runs/0000/n1-b",
            "/tmp/mpf-x/runs/0000/n1"
        ));
    }

    fn sh(script: &str) -> std::process::Output {
        Command::new("sh").arg("-c").arg(script).output().unwrap()
    }

    #[test]
    fn private_dirs_are_created_0700_and_foreign_ones_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("mpf-g x");
        let ds = d.to_str().unwrap();
        assert!(sh(&private_dir_script(ds)).status.success());
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Ours and private already (an mpf that died): accepted again.
        assert!(sh(&private_dir_script(ds)).status.success());
        // Readable by others: refused, with the reason.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = sh(&private_dir_script(ds));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a private directory"), "{err}");
        // A symlink to a directory of ours is not a directory we made.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!sh(&private_dir_script(link.to_str().unwrap()))
            .status
            .success());
        // Owned by someone else (when the test can make it so).
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
        if std::os::unix::fs::chown(&other, Some(65534), Some(65534)).is_ok() {
            assert!(!sh(&private_dir_script(other.to_str().unwrap()))
                .status
                .success());
        }
    }
}
