//! Remote machines over the system OpenSSH client: one ControlMaster connection per machine
//! for the whole experiment, every command a session multiplexed over it.
//!
//! Process groups and cleanup on the remote side:
//! - each step runs under `setsid -w sh -c WRAPPER`: a session and process group of its own,
//!   whose leader writes its pgid into a registry directory (`/tmp/mpf-g-XXXX/<token>`)
//!   before it runs the step. mpf knows the group by its token, so nothing has to be parsed
//!   out of the step's output;
//! - `stop_group` sends TERM (and CONT), waits for the grace, then KILL, over the master;
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
}

/// Seconds before an unreachable host is given up on.
const CONNECT_TIMEOUT: u64 = 5;

/// Waits for EOF on stdin, then kills every registered group and removes the registry.
fn guard_script(gdir: &str) -> String {
    format!(
        "trap '' INT TERM HUP; cat > /dev/null; for f in {d}/*; do [ -f \"$f\" ] && p=$(cat \"$f\") && [ -n \"$p\" ] && kill -KILL \"-$p\" 2>/dev/null; done; rm -rf {d}",
        d = q(gdir)
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
        cmd.arg(&self.cfg.destination).arg("--").arg(remote);
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
        cmd.arg(&self.cfg.destination)
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
        let mut mk = self.session(&format!("mkdir -p -m 700 {}", q(&self.gdir)));
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
            let mut inner = format!(
                "echo $$ > {}/{token} || {{ echo 'mpf: cannot register the process group' >&2; exit 125; }}; ",
                q(&self.gdir)
            );
            if !env.is_empty() {
                inner.push_str("export");
                for (k, v) in env {
                    inner.push_str(&format!(" {k}={}", q(v)));
                }
                inner.push_str("; ");
            }
            inner.push_str("exec ");
            for w in wrap {
                inner.push_str(&q(w));
                inner.push(' ');
            }
            inner.push_str("sh -c \"$1\"");
            let remote = format!(
                "{}exec setsid -w sh -c {} mpf-step {}",
                self.take_prelude(),
                q(&inner),
                q(script)
            );
            let mut cmd = tokio::process::Command::from(self.session(&remote));
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(false);
            let child = cmd
                .spawn()
                .ctx(|| format!("failed to start ssh for {}", self.cfg.name))?;
            Ok(StepProc::holding(child, token, Some(Box::new(permit))))
        })
    }

    fn stop_group(&self, pgid: i32, grace: Duration) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if self.ensure_connected().await.is_err() {
                // The guard on the other side has seen EOF and killed the group.
                return;
            }
            let Ok(_permit) = self.sessions.acquire().await else {
                return;
            };
            let polls = (grace.as_millis() / 50).max(1);
            let script = format!(
                "f={d}/{pgid}; [ -f \"$f\" ] || exit 0; p=$(cat \"$f\"); \
                 if [ -n \"$p\" ] && kill -0 \"-$p\" 2>/dev/null; then \
                 kill -TERM \"-$p\" 2>/dev/null; kill -CONT \"-$p\" 2>/dev/null; i=0; \
                 while kill -0 \"-$p\" 2>/dev/null && [ $i -lt {polls} ]; do sleep 0.05; i=$((i+1)); done; \
                 kill -KILL \"-$p\" 2>/dev/null; fi; rm -f \"$f\"",
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
        self.run_sync(&remote, Some(content))
            .map(|_| ())
            .map_err(|e| Error::Runtime(format!("failed to write {path}: {e}")))
    }

    fn create_dir(&self, path: &str) -> Result<()> {
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
