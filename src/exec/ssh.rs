//! Remote machines over the system OpenSSH client: one ControlMaster connection per machine
//! for the whole experiment, every command a session multiplexed over it; or, with
//! `transport: srun` (`Via::Srun`, `exec::srun`), every session a step of a Slurm job. How a
//! session is opened is the one thing the two differ in (`Ssh::session`): the helper, the
//! registry, runner sessions, collection and timeouts below are the same code for both.
//!
//! A step costs neither an ssh client nor a session: it is a line written to a long-lived
//! runner session (`exec::slot`, `sh/runner.sh`), which starts it with `setsid /bin/sh -c`
//! (a session and process group of its own) and says where its output ends. Runner sessions
//! are kept per connection, one per step running at once, and reused run after run; an idle
//! one gives its session back when something else needs it. Everything else goes through a
//! helper:
//! - one long-lived helper session per connection (`sh/helper.sh`) reads commands from a pipe
//!   of mpf's and answers on its stdout: stop these steps' groups, which of these run
//!   directories hold files, create these directories. A command and its answer cost a few
//!   bytes over the open session, not a session of their own;
//! - a step's shell appends its pgid to the registry (`/tmp/mpf-g-XXXX/<token>`) before it
//!   runs the step, and runs it only if the registry is still open and no stop came first.
//!   When the step has exited with nothing left in its group, its runner empties the entry
//!   (no stop needed); when it left processes behind, the runner says so and leaves its
//!   session to them: they go on (their output into the step's log) until the end of the run,
//!   where the helper stops every group of the run that is still there (TERM and CONT, the
//!   grace, KILL);
//! - without setsid(1) on the machine (or with `MPF_SSH_SESSION_PER_STEP`), a step is a
//!   session of its own: sshd makes its shell a session leader, and an EXIT trap prints an
//!   `exit CODE` marker on stderr. The step runs in the login shell itself when that is
//!   `/bin/sh`; otherwise, and under a namespace/CPU prefix, the login shell `exec`s
//!   `/bin/sh -c`: the step always runs under `/bin/sh`, as a local one does;
//! - when mpf dies (SIGKILL included) or the connection drops, sshd closes the helper's stdin;
//!   the helper then closes the registry and kills every group still registered. A step that
//!   leaves its group (`setsid`, double fork) is not covered and must be stopped in `teardown`;
//! - a run directory is created by the helper when the run starts (and by the step's own
//!   shell if that one comes first); after the run the helper says whether it holds anything:
//!   only then is it archived back with tar (a job of an idle runner, whose stdout is the
//!   archive), an empty one stays until the result set's root is removed at the end.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};

/// Sessions of a machine's `max_sessions` that its helper holds for as long as mpf is connected.
pub(crate) const GUARD_SESSIONS: usize = 1;

use crate::error::{Error, IoContext, Result};
use crate::exec::container::{self, ContainerVia};
use crate::exec::ctl_dir;
use crate::exec::slot::{self, Slot};
use crate::exec::srun;
use crate::exec::{sh_quote as q, BoxFut, StepProc, Transport};

/// How a machine's sessions are opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Via {
    /// ssh over the machine's ControlMaster.
    #[default]
    Ssh,
    /// Steps of the Slurm job `job` on the node `destination` (`exec::srun`): no master.
    Srun { job: String },
    /// `<engine> exec` in a container mpf starts (`exec::container`): on this machine (no
    /// master), or on `destination` over ssh when `remote`.
    Container(Box<ContainerVia>),
}

/// How to reach one machine.
#[derive(Debug, Clone)]
pub(crate) struct SshConfig {
    /// Name in messages and records (the host name as written).
    pub name: String,
    /// `user@host` or an ssh_config alias; the node's name for `Via::Srun`.
    pub destination: String,
    pub via: Via,
    pub port: Option<u16>,
    pub identity: Option<String>,
    /// `Key=Value` options given with `-o`, before mpf's own (ssh keeps the first value).
    pub options: Vec<String>,
    pub max_sessions: usize,
}

/// Answers the helper has yet to give, in the order the commands were sent.
type Waiters = Arc<Mutex<VecDeque<oneshot::Sender<String>>>>;

/// The helper session of one connection.
struct Helper {
    child: Child,
    /// Commands to the helper; closing it (EOF) makes the helper sweep and exit.
    stdin: Option<ChildStdin>,
    waiters: Waiters,
    /// This connection's registry of process groups on the machine.
    registry: String,
    /// The login shell is `/bin/sh`: a step can run in it directly.
    login_sh: bool,
    /// The machine has setsid(1): steps run in runner sessions (`exec::slot`).
    setsid: bool,
}

struct Conn {
    /// The ControlMaster (none for `Via::Srun`).
    master: Option<Child>,
    helper: Helper,
    /// Told apart from a later connection's (after a reconnect): a step belongs to one helper.
    id: u64,
}

pub(crate) struct Ssh {
    cfg: SshConfig,
    ctl_dir: PathBuf,
    ctl: PathBuf,
    conn: Mutex<Option<Conn>>,
    next_conn: AtomicU64,
    sessions: Arc<Semaphore>,
    next_token: AtomicI32,
    roots: Mutex<Vec<String>>,
    /// Roots known to be ours and private (created, or checked, with `private_dir_script`).
    private_roots: Mutex<Vec<String>>,
    /// Steps started and not yet stopped, by token: their exit, their connection, and for a
    /// step in a runner, whether it ended with nothing left to stop.
    live: Mutex<HashMap<i32, LiveStep>>,
    /// Run directories made ahead, by root and role: the runs `start..end`.
    ahead: Mutex<HashMap<(String, String), (usize, usize)>>,
    /// Runner sessions, idle or running a step (`exec::slot`).
    slots: Mutex<Vec<Arc<Slot>>>,
    /// The container of `Via::Container`, once started.
    container: Mutex<Option<container::Running>>,
    /// The image a templated container was switched to (`enter_value`), instead of the
    /// `ContainerVia`'s.
    image_now: Mutex<Option<String>>,
}

/// A started step, as `stop_group` needs it.
struct LiveStep {
    exit: crate::exec::process::ExitWatch,
    conn: u64,
    clean: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Runs whose directories the helper makes at once: one `mkdir` for this many runs.
const RUN_DIRS_AHEAD: usize = 64;

// The shell programs mpf runs on a machine live in `sh/` (checked by shellcheck as POSIX
// sh); they take their values as arguments, so nothing is spliced into their text.
/// `alive PGID`: is a member of the group alive? Zombies don't count: an orphan's zombie waits
/// for PID 1, which some init processes reap late.
pub(crate) const ALIVE_FN: &str = include_str!("sh/alive.sh");
const HELPER: &str = include_str!("sh/helper.sh");
const PRIVATE_DIR: &str = include_str!("sh/private-dir.sh");

/// Seconds before an unreachable host is given up on.
const CONNECT_TIMEOUT: u64 = 5;

/// The helper's program: creates the registry `dir` (private), then serves (`sh/helper.sh`).
fn helper_script(dir: &str) -> String {
    let text = format!("set -- {}\n{PRIVATE_DIR}{ALIVE_FN}{HELPER}", q(dir));
    format!("exec /bin/sh -c {} mpf-helper", q(&text))
}

/// The text a step's shell runs: the step's environment, stdin from /dev/null, the
/// registration in `registry` under `token`, the EXIT trap that prints the exit marker, its
/// run directory if the helper has not made it yet, then `script` itself, on the same line
/// so that the step's line numbers stay its own.
fn step_text(
    registry: &str,
    token: i32,
    env: &[(String, String)],
    script: &str,
    exit_mark: bool,
) -> String {
    let f = q(&format!("{registry}/{token}"));
    let open = q(&format!("{registry}/open"));
    let mut s = String::new();
    if !env.is_empty() {
        s.push_str("export");
        for (k, v) in env {
            s.push_str(&format!(" {k}={}", q(v)));
        }
        s.push_str("; ");
    }
    s.push_str(&format!(
        "exec </dev/null; {{ echo $$ >> {f} && read -r mpf_p < {f} && [ \"$mpf_p\" = $$ ] && [ -e {open} ]; }} || {{ echo 'mpf: the step was stopped before it started' >&2; exit 125; }}; unset mpf_p; "
    ));
    if exit_mark {
        s.push_str(&format!(
            "trap 'echo \"{} {} $?\" >&2' EXIT; ",
            crate::exec::process::INTERNAL_MARK,
            crate::exec::process::EXIT_MARK
        ));
    }
    if env.iter().any(|(k, _)| k == "MPF_RUN_DIR") {
        s.push_str("[ -d \"$MPF_RUN_DIR\" ] || mkdir -p \"$MPF_RUN_DIR\"; ");
    }
    s.push_str(script);
    s
}

/// Whether `path` is `dir` or inside it, compared by components: `/r/n10` is not in `/r/n1`.
fn is_within(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(Path::new(dir))
}

/// A path the helper can take as one word of a command line (no quoting, no glob, no space).
fn plain_word(path: &str) -> bool {
    !path.is_empty() && q(path) == path
}

/// `ROOT/runs/NNNN/ROLE` as (root, run index, role), for one of `roots`, when every part is
/// a plain word and NNNN is the index written as run directories are (at least 4 digits).
fn run_dir_parts<'a>(path: &'a str, roots: &[String]) -> Option<(String, usize, &'a str)> {
    let (root, rest) = roots.iter().filter(|r| plain_word(r)).find_map(|r| {
        let rest = path.strip_prefix(r.as_str())?.strip_prefix("/runs/")?;
        Some((r, rest))
    })?;
    let (num, role) = rest.split_once('/')?;
    let n = crate::store::layout::RunId::parse(num)?;
    (plain_word(role) && !role.contains('/')).then(|| (root.clone(), n.0, role))
}

/// Creates `dir` readable by its owner only, or refuses one someone else made (see
/// `sh/private-dir.sh`).
fn private_dir_script(dir: &str) -> String {
    format!(
        "set -- {}\n{PRIVATE_DIR}private_dir \"$1\" || {{ echo \"$why\" >&2; exit 1; }}\n",
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

/// The local `tar` that unpacks a collected run directory into `local`, its archive on
/// `stdin`, its messages kept.
fn untar(local: &Path, stdin: Stdio) -> tokio::process::Command {
    let mut tar = tokio::process::Command::new("tar");
    tar.arg("xf")
        .arg("-")
        .arg("-C")
        .arg(local)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    tar
}

/// What to do about a host key ssh refused, from ssh's own message (empty when it is about
/// something else): a host not yet in `known_hosts` (ssh runs with `BatchMode=yes`, so it
/// cannot ask) is accepted on first sight with `StrictHostKeyChecking=accept-new`; a key
/// that changed is never accepted silently.
fn host_key_hint(ssh_message: &str) -> &'static str {
    if ssh_message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        "\n  hint: the machine's host key changed since it was recorded in known_hosts; if that is expected (a reinstalled machine), remove the old key with `ssh-keygen -R HOST`"
    } else if ssh_message.contains("Host key verification failed") {
        "\n  hint: ssh does not know this machine's host key and cannot ask (mpf runs it with BatchMode=yes): connect once by hand, or add `ssh_options: [StrictHostKeyChecking=accept-new]` to the machine in the cluster file to record a new machine's key on first connection"
    } else {
        ""
    }
}

/// Sends SIGTERM to a master mpf started and has not reaped (its pid is still its own).
fn signal_master(master: &mut Child) {
    if let Ok(pid) = i32::try_from(master.id()) {
        if matches!(master.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on the pid of a child not yet reaped: it is still ours.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
}

/// Waits for a signalled master to exit, at most 5 s, then kills it.
fn reap_master(master: &mut Child) {
    wait_exit(master, Duration::from_secs(5));
    let _ = master.kill();
    let _ = master.wait();
}

/// Waits at most `limit` for `child` to exit; whether it has. Asleep until it exits (a pidfd,
/// Linux 5.3), not polling: closing 64 machines waits on 64 threads at once, which polling
/// every 5 ms kept waking 200 times a second each. Polls where pidfds are missing.
fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0 && pid > 0);
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match fd {
            Some(fd) => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                // SAFETY: one pollfd, valid for the call. A signal (EINTR) loops again.
                unsafe { libc::poll(&mut p, 1, ms) };
            }
            None => std::thread::sleep(Duration::from_millis(5).min(left)),
        }
    }
    if let Some(fd) = fd {
        // SAFETY: the descriptor pidfd_open returned, closed once.
        unsafe { libc::close(fd) };
    }
    !matches!(child.try_wait(), Ok(None))
}

/// Hands each line the helper prints to the oldest waiter, until the helper's stdout ends.
fn read_answers(stdout: std::process::ChildStdout, waiters: Waiters) {
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let waiter = waiters.lock().ok().and_then(|mut w| w.pop_front());
        if let Some(w) = waiter {
            let _ = w.send(line);
        }
    }
    // Nothing more will come: the waiters see the helper gone.
    if let Ok(mut w) = waiters.lock() {
        w.clear();
    }
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

    /// The ssh command line (program first) of a session over the master, for commands
    /// built elsewhere (rsync's `-e`): the destination and command to come.
    fn ssh_argv(&self) -> Vec<String> {
        let mut argv = vec![
            "ssh".to_string(),
            "-T".into(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ];
        argv.extend(self.base_args_vec());
        argv
    }

    /// `base_args` as strings, for commands built elsewhere (rsync's `-e`).
    fn base_args_vec(&self) -> Vec<String> {
        let mut cmd = Command::new("ssh");
        self.base_args(&mut cmd);
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// A session over the master (never a connection of its own), or a step of the job:
    /// `remote` runs in a shell on the machine, in a process group of its own there.
    fn session(&self, remote: &str) -> Command {
        let mut cmd = match &self.cfg.via {
            Via::Ssh => self.ssh_session(remote),
            Via::Srun { job } => srun::session(job, &self.cfg.destination, remote),
            Via::Container(c) => self.host_command(&c.exec_args(remote)),
        };
        cmd.process_group(0);
        cmd
    }

    /// An ssh session over the master running `remote`.
    fn ssh_session(&self, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-T", "-o", "ControlMaster=no", "-o", "LogLevel=ERROR"]);
        self.base_args(&mut cmd);
        // `--`: whatever the destination, ssh never reads it as an option.
        cmd.arg("--").arg(&self.cfg.destination).arg(remote);
        cmd
    }

    /// For `Via::Container`: the command line `argv` on the engine's machine, here or in an
    /// ssh session (its words quoted one by one for the remote shell).
    fn host_command(&self, argv: &[String]) -> Command {
        match &self.cfg.via {
            Via::Container(c) if c.remote => {
                let words: Vec<String> = argv.iter().map(|a| q(a)).collect();
                self.ssh_session(&words.join(" "))
            }
            _ => {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
        }
    }

    /// Whether the machine is reached through a ControlMaster of its own.
    fn has_master(&self) -> bool {
        match &self.cfg.via {
            Via::Ssh => true,
            Via::Srun { .. } => false,
            Via::Container(c) => c.remote,
        }
    }

    /// The local program that opens sessions, for messages.
    fn program(&self) -> &'static str {
        match &self.cfg.via {
            Via::Ssh => "ssh",
            Via::Srun { .. } => "srun",
            Via::Container(c) if c.remote => "ssh",
            Via::Container(c) => c.engine.program(),
        }
    }

    /// Whether the connection still stands: its master, or for srun its helper's step.
    fn conn_alive(conn: &mut Conn) -> bool {
        match conn.master.as_mut() {
            Some(m) => matches!(m.try_wait(), Ok(None)),
            None => matches!(conn.helper.child.try_wait(), Ok(None)),
        }
    }

    /// Ends every runner session: each exits at EOF on its stdin.
    fn close_runners(&self) {
        let slots = self.slots.lock().map(|mut s| s.split_off(0));
        for slot in slots.unwrap_or_default() {
            slot.close_stdin();
        }
    }

    /// Opens the master connection and the helper session of a machine.
    pub(crate) async fn connect(cfg: SshConfig) -> Result<Ssh> {
        if let Via::Srun { job } = &cfg.via {
            if !srun::valid_job(job) {
                return Err(Error::Runtime(format!(
                    "machine {}: '{job}' is not a Slurm job id (digits, or JOB_TASK of an array)",
                    cfg.name
                )));
            }
        }
        // Inside the process's directory, which a keeper removes when mpf exits, killed too.
        let ctl_dir = ctl_dir::machine_dir()?;
        let ssh = Ssh {
            ctl: ctl_dir.join("ctl"),
            ctl_dir,
            // The helper holds one session of the machine's budget for the whole run.
            sessions: Arc::new(Semaphore::new(
                cfg.max_sessions.saturating_sub(GUARD_SESSIONS).max(1),
            )),
            cfg,
            conn: Mutex::new(None),
            next_conn: AtomicU64::new(1),
            next_token: AtomicI32::new(1),
            roots: Mutex::new(Vec::new()),
            private_roots: Mutex::new(Vec::new()),
            live: Mutex::new(HashMap::new()),
            ahead: Mutex::new(HashMap::new()),
            slots: Mutex::new(Vec::new()),
            container: Mutex::new(None),
            image_now: Mutex::new(None),
        };
        let conn = ssh.open().await?;
        if let Ok(mut c) = ssh.conn.lock() {
            *c = Some(conn);
        }
        Ok(ssh)
    }

    async fn open(&self) -> Result<Conn> {
        let mut master = match self.has_master() {
            true => Some(self.start_master().await?),
            false => None,
        };
        if let Err(e) = self.start_container().await {
            if let Some(m) = master.as_mut() {
                let _ = m.kill();
                let _ = m.wait();
            }
            return Err(e);
        }
        match self.start_helper().await {
            Ok(helper) => Ok(Conn {
                master,
                helper,
                id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            }),
            Err(e) => {
                if let Some(m) = master.as_mut() {
                    let _ = m.kill();
                    let _ = m.wait();
                }
                Err(e)
            }
        }
    }

    /// For `Via::Container`: starts the container, once (a reconnect finds it started).
    async fn start_container(&self) -> Result<()> {
        let Via::Container(c) = &self.cfg.via else {
            return Ok(());
        };
        if self.container.lock().map(|r| r.is_some()).unwrap_or(true) {
            return Ok(());
        }
        let mut c = c.as_ref().clone();
        if let Some(image) = self.image_now.lock().ok().and_then(|i| i.clone()) {
            c.image = image;
        }
        let running = container::start(&c, &self.cfg.name, |argv| self.host_command(argv)).await?;
        if let Ok(mut r) = self.container.lock() {
            *r = Some(running);
        }
        Ok(())
    }

    /// The image the container runs (or is to run).
    fn image(&self, c: &ContainerVia) -> String {
        self.image_now
            .lock()
            .ok()
            .and_then(|i| i.clone())
            .unwrap_or_else(|| c.image.clone())
    }

    /// For a container whose image names `variable`: when `value` renders another image than
    /// the running one, ends the sessions in the container, removes it and starts one from
    /// the new image with a new helper (a remote engine's master stays). What the old
    /// container held (run directories made ahead, private roots) is forgotten.
    async fn switch_image(&self, variable: &str, value: &serde_json::Value) -> Result<()> {
        let Via::Container(c) = &self.cfg.via else {
            return Ok(());
        };
        let Some(t) = c.template.as_ref().filter(|t| t.variable == variable) else {
            return Ok(());
        };
        let image = t.render(value).map_err(|e| {
            Error::Runtime(format!("machine {}: container image: {e}", self.cfg.name))
        })?;
        let started = self.container.lock().map(|r| r.is_some()).unwrap_or(false);
        if started && self.image(c) == image {
            return Ok(());
        }
        let old = self.conn.lock().ok().and_then(|mut c| c.take());
        self.close_runners();
        let mut master = None;
        if let Some(mut old) = old {
            drop(old.helper.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(old.helper.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = old.helper.child.kill();
            let _ = old.helper.child.wait();
            master = old.master.take().filter(|_| self.has_master());
        }
        // Other machines switch meanwhile: the removal waits on a thread of its own.
        if let Some(mut running) = self.container.lock().ok().and_then(|mut r| r.take()) {
            let _ = tokio::task::spawn_blocking(move || running.remove()).await;
        }
        if let Ok(mut p) = self.private_roots.lock() {
            p.clear();
        }
        if let Ok(mut a) = self.ahead.lock() {
            a.clear();
        }
        if let Ok(mut i) = self.image_now.lock() {
            *i = Some(image);
        }
        let helper = match self.start_container().await {
            Ok(()) => self.start_helper().await,
            Err(e) => Err(e),
        };
        match helper {
            Ok(helper) => {
                if let Ok(mut c) = self.conn.lock() {
                    *c = Some(Conn {
                        master,
                        helper,
                        id: self.next_conn.fetch_add(1, Ordering::Relaxed),
                    });
                }
                Ok(())
            }
            Err(e) => {
                if let Some(m) = master.as_mut() {
                    self.exit_master(m);
                }
                Err(e)
            }
        }
    }

    /// Starts the ControlMaster and waits for its socket.
    async fn start_master(&self) -> Result<Child> {
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
        // helper sees EOF. Spawned from the runtime's thread, which lives as long as mpf.
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
                return Err(Error::Unreachable(format!(
                    "cannot connect to machine {name} ({}): ssh {st}: {}{}",
                    self.cfg.destination,
                    text.trim(),
                    host_key_hint(&text)
                )));
            }
            if self.ctl.exists() {
                return Ok(master);
            }
            if Instant::now() > deadline {
                let _ = master.kill();
                let _ = master.wait();
                return Err(Error::Unreachable(format!(
                    "cannot connect to machine {name} ({}): no answer within {}s",
                    self.cfg.destination,
                    CONNECT_TIMEOUT + 10
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts the helper session (which creates the registry) and waits for its `ready`.
    async fn start_helper(&self) -> Result<Helper> {
        let name = &self.cfg.name;
        let registry = format!("/tmp/mpf-g-{}", random_tag());
        let err_path = self.ctl_dir.join("helper.err");
        let err = std::fs::File::create(&err_path)
            .ctx(|| format!("failed to create {}", err_path.display()))?;
        let mut child = self
            .session(&helper_script(&registry))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .ctx(|| {
                format!(
                    "failed to start {} for the helper of {name}",
                    self.program()
                )
            })?;
        let waiters: Waiters = Default::default();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = waiters.lock() {
            w.push_back(tx);
        }
        if let Some(out) = child.stdout.take() {
            let w = waiters.clone();
            std::thread::spawn(move || read_answers(out, w));
        }
        let limit = Duration::from_secs(CONNECT_TIMEOUT + 10);
        let ready = tokio::time::timeout(limit, rx)
            .await
            .ok()
            .and_then(|r| r.ok());
        match ready.as_deref().and_then(|l| l.strip_prefix("ready")) {
            Some(rest) => Ok(Helper {
                stdin: child.stdin.take(),
                child,
                waiters,
                registry,
                // srun and the engine run a session's text under /bin/sh themselves.
                login_sh: rest.split_whitespace().any(|w| w == "sh")
                    || matches!(self.cfg.via, Via::Srun { .. } | Via::Container(_)),
                setsid: rest.split_whitespace().any(|w| w == "setsid")
                    && std::env::var_os("MPF_SSH_SESSION_PER_STEP").is_none(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&err_path).unwrap_or_default();
                match &self.cfg.via {
                    // No master came first: this is where an srun machine proves unreachable.
                    Via::Srun { job } => Err(Error::Unreachable(format!(
                        "cannot reach machine {name} as a step of Slurm job {job} on node {}: {}",
                        self.cfg.destination,
                        text.trim()
                    ))),
                    Via::Container(c) => Err(Error::Unreachable(format!(
                        "cannot start a shell in container {} of machine {name} ({} exec): {}",
                        c.name,
                        c.engine.program(),
                        text.trim()
                    ))),
                    Via::Ssh => Err(Error::Runtime(format!(
                        "machine {name}: cannot start mpf's helper (registry {registry}): {}",
                        text.trim()
                    ))),
                }
            }
        }
    }

    /// Makes sure the master is up, reconnecting once if it died (a host that came back).
    /// Without this check ssh would silently open a connection of its own.
    async fn ensure_connected(&self) -> Result<()> {
        let alive = match self.conn.lock() {
            Ok(mut c) => c.as_mut().is_some_and(Self::conn_alive),
            Err(_) => false,
        };
        if alive {
            return Ok(());
        }
        let old = self.conn.lock().ok().and_then(|mut c| c.take());
        if let Some(mut old) = old {
            drop(old.helper.stdin.take());
            let _ = old.helper.child.kill();
            let _ = old.helper.child.wait();
            if let Some(m) = old.master.as_mut() {
                let _ = m.wait();
            }
        }
        let conn = self.open().await.map_err(|e| {
            Error::Unreachable(format!(
                "machine {} stopped answering (connection lost): {e}",
                self.cfg.name
            ))
        })?;
        if let Ok(mut c) = self.conn.lock() {
            *c = Some(conn);
        }
        Ok(())
    }

    /// The current connection's id, registry, whether its login shell is `/bin/sh` and
    /// whether steps run in runner sessions.
    fn conn_info(&self) -> Option<(u64, String, bool, bool)> {
        let c = self.conn.lock().ok()?;
        let c = c.as_ref()?;
        Some((
            c.id,
            c.helper.registry.clone(),
            c.helper.login_sh,
            c.helper.setsid,
        ))
    }

    /// One session of the machine's budget. Idle runner sessions hold theirs: when none is
    /// free, the oldest idle one is closed for it.
    async fn acquire_session(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        loop {
            if let Ok(p) = self.sessions.clone().try_acquire_owned() {
                return Ok(p);
            }
            if !self.retire_idle_slot() {
                return self
                    .sessions
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::Runtime("session limit closed".into()));
            }
            // Its permit comes back when its session has ended.
            let wait = self.sessions.clone().acquire_owned();
            if let Ok(Ok(p)) = tokio::time::timeout(Duration::from_secs(2), wait).await {
                return Ok(p);
            }
        }
    }

    /// For a synchronous session (`run_sync`): closes an idle runner session when the budget
    /// has no session free. Nothing to wait for or hold: the runtime that would see the
    /// runner's session end is the thread this blocks, and the closed runner's channel is
    /// gone long before the new session's client has started (an ssh client takes
    /// milliseconds to start; the runner exits at the EOF that closing its pipe sends).
    fn make_room_sync(&self) {
        if self.sessions.available_permits() == 0 {
            self.retire_idle_slot();
        }
    }

    /// Closes one idle runner session; false when there is none.
    fn retire_idle_slot(&self) -> bool {
        let Ok(mut slots) = self.slots.lock() else {
            return false;
        };
        slots.retain(|s| !s.is_gone());
        let idle = slots.iter().position(|s| s.retire());
        if let Some(i) = idle {
            slots.remove(i);
        }
        idle.is_some()
    }

    /// Starts `text` under `wrap` in an idle runner session of connection `conn`, or in a new
    /// one.
    async fn spawn_in_slot(
        &self,
        conn: u64,
        token: i32,
        reg: &str,
        wrap: &[String],
        text: &str,
    ) -> Result<(StepProc, Arc<std::sync::atomic::AtomicBool>)> {
        let line = slot::job_line(reg, wrap, text).ok_or_else(|| {
            Error::Runtime(format!(
                "machine {}: a step's text holds a NUL byte, which no shell can run",
                self.cfg.name
            ))
        })?;
        self.in_slot(conn, &line, |s| s.take(token)).await
    }

    /// Sends the job `line` to an idle runner session of connection `conn` taken with `take`,
    /// or to a new one when none is idle or the idle one's runner has ended.
    async fn in_slot<T>(
        &self,
        conn: u64,
        line: &str,
        take: impl Fn(&Slot) -> Option<T>,
    ) -> Result<T> {
        if let Some((slot, taken)) = self.idle_slot(conn, &take) {
            if slot.send(line).await {
                return Ok(taken);
            }
            // Its runner ended while idle: the job goes to a new one.
        }
        let (slot, taken) = self.new_slot(conn, take).await?;
        // A session that cannot open fails the job as a session of its own would: ssh's
        // message on its stderr, ssh's exit status.
        slot.send(line).await;
        Ok(taken)
    }

    /// An idle runner session of connection `conn`, taken with `take`.
    fn idle_slot<T>(&self, conn: u64, take: impl Fn(&Slot) -> Option<T>) -> Option<(Arc<Slot>, T)> {
        let mut slots = self.slots.lock().ok()?;
        slots.retain(|s| !s.is_gone() && s.conn == conn);
        slots.iter().find_map(|s| take(s).map(|t| (s.clone(), t)))
    }

    /// A new runner session of connection `conn`, taken with `take`.
    async fn new_slot<T>(
        &self,
        conn: u64,
        take: impl Fn(&Slot) -> Option<T>,
    ) -> Result<(Arc<Slot>, T)> {
        let permit = self.acquire_session().await?;
        let slot = self.open_slot(conn, permit)?;
        let taken = take(&slot).ok_or_else(|| {
            Error::Runtime(format!(
                "machine {}: the step runner ended as it started",
                self.cfg.name
            ))
        })?;
        if let Ok(mut slots) = self.slots.lock() {
            slots.push(slot.clone());
        }
        Ok((slot, taken))
    }

    /// Opens a runner session (`sh/runner.sh`) holding `permit`.
    fn open_slot(&self, conn: u64, permit: tokio::sync::OwnedSemaphorePermit) -> Result<Arc<Slot>> {
        let mark = slot::end_mark(&random_tag());
        let child = self.spawn_session(&slot::runner_command(&mark), Stdio::piped())?;
        let nudge = matches!(self.cfg.via, Via::Srun { .. });
        let program = slot::runner_program(ALIVE_FN);
        Ok(Slot::start(child, conn, &mark, permit, nudge, program))
    }

    /// Starts a session running `remote`, its stdout and stderr piped to mpf.
    fn spawn_session(&self, remote: &str, stdin: Stdio) -> Result<tokio::process::Child> {
        let mut cmd = tokio::process::Command::from(self.session(remote));
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        cmd.spawn()
            .ctx(|| format!("failed to start {} for {}", self.program(), self.cfg.name))
    }

    /// Sends one command line to the helper of connection `conn` (any when `None`); returns
    /// the answer's receiver when `answered`. `None` when that helper is gone.
    fn tell(
        &self,
        conn: Option<u64>,
        line: &str,
        answered: bool,
    ) -> Option<Option<oneshot::Receiver<String>>> {
        let mut c = self.conn.lock().ok()?;
        let c = c.as_mut().filter(|c| conn.is_none_or(|id| id == c.id))?;
        let stdin = c.helper.stdin.as_mut()?;
        // The waiter goes in before the line goes out: the answer can't come first.
        let mut waiters = c.helper.waiters.lock().ok()?;
        let rx = answered.then(|| {
            let (tx, rx) = oneshot::channel();
            waiters.push_back(tx);
            rx
        });
        if stdin.write_all(format!("{line}\n").as_bytes()).is_err() {
            if answered {
                waiters.pop_back();
            }
            return None;
        }
        Some(rx)
    }

    /// Asks the helper of connection `conn` and waits for its answer, at most `limit`.
    async fn ask(&self, conn: Option<u64>, line: &str, limit: Duration) -> Option<String> {
        let rx = self.tell(conn, line, true)??;
        tokio::time::timeout(limit, rx).await.ok()?.ok()
    }

    /// Runs a short command synchronously; returns its stdout or an error with its stderr.
    fn run_sync(&self, remote: &str, input: Option<&[u8]>) -> Result<Vec<u8>> {
        self.make_room_sync();
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
            .ctx(|| format!("failed to run {} for {}", self.program(), self.cfg.name))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
        let out = child
            .wait_with_output()
            .ctx(|| format!("failed to run {} for {}", self.program(), self.cfg.name))?;
        if !out.status.success() {
            return Err(Error::Runtime(format!(
                "on machine {}: {}",
                self.cfg.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    fn close(&self) {
        let Some(mut conn) = self.conn.lock().ok().and_then(|mut c| c.take()) else {
            return;
        };
        // Runners exit at EOF (their steps were stopped with the run).
        self.close_runners();
        let roots = self.roots.lock().map(|r| r.clone()).unwrap_or_default();
        let (plain, quoted): (Vec<String>, Vec<String>) =
            roots.into_iter().partition(|r| plain_word(r));
        if Self::conn_alive(&mut conn) {
            // The helper removes the roots as its last command: no session of its own.
            if let (false, Some(stdin)) = (plain.is_empty(), conn.helper.stdin.as_mut()) {
                let _ = stdin.write_all(format!("r {}\n", plain.join(" ")).as_bytes());
            }
            if !quoted.is_empty() {
                let words: Vec<String> = quoted.iter().map(|r| q(r)).collect();
                let _ = self.run_sync(&format!("rm -rf {}", words.join(" ")), None);
            }
        }
        // EOF makes the helper kill whatever is still registered and remove the registry.
        drop(conn.helper.stdin.take());
        wait_exit(&mut conn.helper.child, Duration::from_secs(5));
        let _ = conn.helper.child.kill();
        let _ = conn.helper.child.wait();
        // The container goes before its engine's machine's master: over ssh, its watcher's
        // session needs it.
        if let Some(mut running) = self.container.lock().ok().and_then(|mut r| r.take()) {
            running.remove();
        }
        if let Some(mut master) = conn.master.take() {
            // Its sessions are over (the helper waited for): what is left is the master's
            // goodbye to sshd, which needs nothing of mpf's. It is reaped on a thread of its
            // own, so that closing 64 machines does not wait for 64 masters to be scheduled
            // (about a second on a loaded 2-core machine); were mpf to exit first, the master
            // has had its SIGTERM already (and would get it again: PR_SET_PDEATHSIG).
            signal_master(&mut master);
            let _ = std::thread::Builder::new()
                .name("mpf-master-reaper".into())
                .spawn(move || reap_master(&mut master));
        }
        let _ = std::fs::remove_dir_all(&self.ctl_dir);
    }

    /// Makes the master exit, and waits until it has (`close` does not wait). mpf started it,
    /// so a SIGTERM does what `ssh -O exit` would (the master closes its connection and
    /// removes its socket) without an ssh client of its own (an exec, its start-up and a
    /// round trip per machine).
    fn exit_master(&self, master: &mut Child) {
        signal_master(master);
        reap_master(master);
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
        self.run_sync(&private_dir_script(&root), None)?;
        if let Ok(mut p) = self.private_roots.lock() {
            p.push(root);
        }
        Ok(())
    }

    /// Makes `root` private through the helper (`p`): a line and its answer over the open
    /// session, where a session of its own per machine cost an ssh client and a shell.
    /// `Ok(false)` when the helper cannot take it (a path that is not a plain word, no
    /// answer): the caller then does it in a session of its own.
    async fn private_by_helper(&self, root: &str) -> Result<bool> {
        if !plain_word(root) {
            return Ok(false);
        }
        let limit = Duration::from_secs(CONNECT_TIMEOUT + 5);
        let Some(answer) = self.ask(None, &format!("p {root}"), limit).await else {
            return Ok(false);
        };
        match answer.strip_prefix('p').map(str::trim) {
            Some("") => {
                if let Ok(mut p) = self.private_roots.lock() {
                    if !p.iter().any(|r| r == root) {
                        p.push(root.to_string());
                    }
                }
                Ok(true)
            }
            Some(why) => Err(Error::Runtime(format!(
                "on machine {}: {why}",
                self.cfg.name
            ))),
            None => Ok(false),
        }
    }

    /// Whether the run directory `remote` holds anything (asked of the helper; a path it
    /// can't take as a word, or no answer, counts as yes: collecting is always right).
    async fn holds_files(&self, remote: &str) -> bool {
        if !plain_word(remote) {
            return true;
        }
        let limit = Duration::from_secs(CONNECT_TIMEOUT + 5);
        match self.ask(None, &format!("d {remote}"), limit).await {
            Some(answer) => answer.split_whitespace().skip(1).any(|d| d == remote),
            None => true,
        }
    }

    /// Archives the run directory `remote` into `local` and removes it on the machine, in one
    /// session.
    async fn fetch_dir(&self, remote: &str, local: &Path) -> Result<()> {
        self.ensure_connected().await?;
        std::fs::create_dir_all(local).ctx(|| format!("failed to create {}", local.display()))?;
        // An empty archive when the directory does not exist, so that the local tar always
        // has one to read.
        let r = q(remote);
        let script = format!(
            "if cd {r} 2>/dev/null; then tar cf - .; rc=$?; cd /; rm -rf {r}; exit $rc; else tar cf - -T /dev/null; fi"
        );
        if let Some((conn, _, _, true)) = self.conn_info() {
            return self.fetch_in_slot(conn, &script, remote, local).await;
        }
        let _permit = self.acquire_session().await?;
        let mut ssh = self.spawn_session(&script, Stdio::null())?;
        let out: Stdio = ssh
            .stdout
            .take()
            .ok_or_else(|| Error::Runtime("no ssh stdout".into()))?
            .try_into()
            .ctx(|| "failed to pipe ssh into tar".into())?;
        let tar = untar(local, out).output();
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
            return Err(self.collect_error(remote, &err, &tar.stderr));
        }
        Ok(())
    }

    /// Collecting `remote` failed: what the machine's side and the local tar said.
    fn collect_error(&self, remote: &str, theirs: &[u8], tar: &[u8]) -> Error {
        Error::Runtime(format!(
            "failed to collect {remote} from machine {}: {}{}",
            self.cfg.name,
            String::from_utf8_lossy(theirs).trim(),
            String::from_utf8_lossy(tar).trim()
        ))
    }

    /// `fetch_dir` through a runner session: the archive comes as the job's stdout, straight
    /// into the local tar, at its pace.
    async fn fetch_in_slot(
        &self,
        conn: u64,
        script: &str,
        remote: &str,
        local: &Path,
    ) -> Result<()> {
        let line = slot::data_job_line(script).ok_or_else(|| {
            Error::Runtime(format!(
                "cannot collect {remote}: its path holds a NUL byte"
            ))
        })?;
        let (mut data, err, mut exit) = self.in_slot(conn, &line, Slot::take_stream).await?;
        let mut tar = untar(local, Stdio::piped())
            .spawn()
            .ctx(|| "failed to run tar".into())?;
        let mut into_tar = tar.stdin.take();
        while let Some(chunk) = data.recv().await {
            use tokio::io::AsyncWriteExt;
            if let Some(w) = into_tar.as_mut() {
                if w.write_all(&chunk).await.is_err() {
                    // tar stopped reading: its status says why; the rest is drained.
                    into_tar = None;
                }
            }
        }
        drop(into_tar);
        let tar = tar
            .wait_with_output()
            .await
            .ctx(|| "failed to run tar".into())?;
        let code = exit
            .wait_for(|e| e.is_some())
            .await
            .ok()
            .and_then(|e| e.and_then(|(c, _)| c));
        if code != Some(0) || !tar.status.success() {
            let err = err
                .lock()
                .map(|c| c.since(0).1.to_vec())
                .unwrap_or_default();
            return Err(self.collect_error(remote, &err, &tar.stderr));
        }
        Ok(())
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

impl Transport for Ssh {
    fn disconnect(&self) {
        self.close();
    }

    fn enter_value<'a>(
        &'a self,
        variable: &'a str,
        value: &'a serde_json::Value,
    ) -> BoxFut<'a, Result<()>> {
        Box::pin(self.switch_image(variable, value))
    }

    fn allocation_ended(&self) -> Option<String> {
        match &self.cfg.via {
            Via::Srun { job } => srun::job_ended(job),
            Via::Ssh | Via::Container(_) => None,
        }
    }

    fn facts(&self) -> Vec<(String, String)> {
        let Via::Container(c) = &self.cfg.via else {
            return Vec::new();
        };
        let digest = self
            .container
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| r.digest.clone()))
            .unwrap_or_default();
        vec![
            ("container.engine".into(), c.engine.program().into()),
            ("container.image".into(), self.image(c)),
            ("container.digest".into(), digest),
        ]
    }

    fn ssh_command(&self) -> Option<(Vec<String>, String)> {
        match &self.cfg.via {
            Via::Srun { job } => {
                return Some((srun::remote_shell(job), self.cfg.destination.clone()))
            }
            Via::Container(c) => {
                let ssh = c.remote.then(|| self.ssh_argv());
                let ssh = ssh
                    .as_ref()
                    .map(|a| (a.as_slice(), self.cfg.destination.as_str()));
                return Some((c.remote_shell(ssh), self.cfg.name.clone()));
            }
            Via::Ssh => {}
        }
        Some((self.ssh_argv(), self.cfg.destination.clone()))
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
            let (conn, registry, login_sh, setsid) = self.conn_info().ok_or_else(|| {
                Error::Runtime(format!("machine {}: not connected", self.cfg.name))
            })?;
            let token = self.next_token.fetch_add(1, Ordering::Relaxed);
            if setsid {
                let text = step_text(&registry, token, env, script, false);
                let reg = format!("{registry}/{token}");
                let (proc, clean) = self.spawn_in_slot(conn, token, &reg, wrap, &text).await?;
                if let Ok(mut live) = self.live.lock() {
                    let exit = proc.exit_watch();
                    let clean = Some(clean);
                    live.insert(token, LiveStep { exit, conn, clean });
                }
                return Ok(proc);
            }
            let permit = self.acquire_session().await?;
            let text = step_text(&registry, token, env, script, true);
            // The login shell runs the step itself when it is the /bin/sh a step runs under;
            // otherwise it becomes that shell (after the prefix), still one process.
            let remote = if login_sh && wrap.is_empty() {
                text
            } else {
                let wrap: String = wrap.iter().map(|w| format!("{} ", q(w))).collect();
                format!("exec {wrap}/bin/sh -c {}", q(&text))
            };
            let child = self.spawn_session(&remote, Stdio::null())?;
            let proc = StepProc::remote(child, token, Some(Box::new(permit)));
            if let Ok(mut live) = self.live.lock() {
                let exit = proc.exit_watch();
                live.insert(
                    token,
                    LiveStep {
                        exit,
                        conn,
                        clean: None,
                    },
                );
            }
            Ok(proc)
        })
    }

    fn stop_group(&self, pgid: i32, grace: Duration) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let step = self.live.lock().ok().and_then(|mut l| l.remove(&pgid));
            // Ended in its runner with nothing left: its registry file is empty already.
            let clean = |s: &LiveStep| s.clean.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
            if step.as_ref().is_some_and(clean) {
                return;
            }
            let conn = step.as_ref().map(|s| s.conn);
            let polls = (grace.as_millis() / 50).max(1);
            // Gone with its connection's helper otherwise: that one swept its registry.
            let limit = grace + Duration::from_secs(CONNECT_TIMEOUT + 5);
            if self
                .ask(conn, &format!("k {polls} {pgid}"), limit)
                .await
                .is_none()
            {
                return;
            }
            if let Some(LiveStep { mut exit, .. }) = step {
                // Its session ends once the group is gone.
                let wait = Duration::from_secs(CONNECT_TIMEOUT);
                let _ = tokio::time::timeout(wait, exit.wait_for(|v| v.is_some())).await;
            }
        })
    }

    fn group_alive(&self, pgid: i32) -> bool {
        let Some((_, registry, _, _)) = self.conn_info() else {
            return false;
        };
        let script = format!(
            "p=; read -r p < {} && case $p in ''|*[!0-9]*) false;; *) kill -0 -\"$p\" 2>/dev/null;; esac",
            q(&format!("{registry}/{pgid}"))
        );
        self.run_sync(&script, None).is_ok()
    }

    fn write_file(&self, path: &str, content: &[u8]) -> Result<()> {
        let dir = Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".into());
        let remote = format!("mkdir -p {} && cat > {}", q(&dir), q(path));
        self.run_sync(&remote, Some(content))
            .map(|_| ())
            .map_err(|e| Error::Runtime(format!("failed to write {path}: {e}")))
    }

    fn create_dir(&self, path: &str) -> Result<()> {
        self.ensure_private_root(path)?;
        // The helper makes it while mpf starts the run's first step there, which makes it
        // itself if it comes first (and always when the path is not a plain word). A run
        // directory comes with those of the next runs: one `mkdir` for many runs.
        let roots = self.roots.lock().map(|r| r.clone()).unwrap_or_default();
        if let Some((root, n, role)) = run_dir_parts(path, &roots) {
            let Ok(mut ahead) = self.ahead.lock() else {
                return Ok(());
            };
            let key = (root, role.to_string());
            if ahead.get(&key).is_some_and(|&(a, b)| (a..b).contains(&n)) {
                return Ok(());
            }
            let line = format!("M {} {role} {n} {RUN_DIRS_AHEAD}", key.0);
            if self.tell(None, &line, false).is_some() {
                ahead.insert(key, (n, n + RUN_DIRS_AHEAD));
            }
        } else if plain_word(path) {
            let _ = self.tell(None, &format!("m {path}"), false);
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

    fn prepare_root<'a>(&'a self, set_id: &'a str) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            let Some(root) = self.remote_root(set_id) else {
                return Ok(());
            };
            if !self.private_by_helper(&root).await? {
                self.create_dir(&root)?;
            }
            Ok(())
        })
    }

    fn collect_dir<'a>(&'a self, remote: &'a str, local: &'a Path) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            // An empty one stays until the root is removed: no session, no round trip more.
            if !self.holds_files(remote).await {
                return Ok(());
            }
            self.fetch_dir(remote, local).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ssh's own words (OpenSSH 9), as the master's log holds them.
    #[test]
    fn a_host_key_failure_suggests_accept_new_and_a_changed_key_does_not() {
        let unknown = "No ED25519 host key is known for 10.0.0.2 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        let hint = host_key_hint(unknown);
        assert!(
            hint.contains("ssh_options: [StrictHostKeyChecking=accept-new]"),
            "{hint}"
        );
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nHost key verification failed.\r\n";
        let hint = host_key_hint(changed);
        assert!(hint.contains("ssh-keygen -R"), "{hint}");
        assert!(!hint.contains("accept-new"), "{hint}");
        assert_eq!(
            host_key_hint("ssh: connect to host 10.0.0.2 port 22: Connection refused"),
            ""
        );
    }

    #[test]
    fn run_directories_are_recognised_for_making_them_ahead() {
        let roots = vec![
            "/tmp/mpf-a b".to_string(),
            "/tmp/mpf-w".to_string(),
            "/tmp/mpf-x".to_string(),
        ];
        assert_eq!(
            run_dir_parts("/tmp/mpf-x/runs/0007/client", &roots),
            Some(("/tmp/mpf-x".into(), 7, "client"))
        );
        assert_eq!(
            run_dir_parts("/tmp/mpf-x/runs/12345/c", &roots),
            Some(("/tmp/mpf-x".into(), 12345, "c"))
        );
        for other in [
            "/tmp/mpf-x/runs/007/c",
            "/tmp/mpf-x/runs/0007/c/d",
            "/tmp/mpf-x/runs/0007/c d",
            "/tmp/mpf-x/other/0007/c",
            "/tmp/mpf-y/runs/0007/c",
        ] {
            assert_eq!(run_dir_parts(other, &roots), None, "{other}");
        }
    }

    #[test]
    fn waiting_for_an_exit_ends_with_the_exit_or_at_the_limit() {
        let mut quick = Command::new("sleep").arg("0.1").spawn().unwrap();
        let start = Instant::now();
        assert!(wait_exit(&mut quick, Duration::from_secs(10)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(quick.try_wait().unwrap().is_some());
        let mut slow = Command::new("sleep").arg("30").spawn().unwrap();
        let start = Instant::now();
        assert!(!wait_exit(&mut slow, Duration::from_millis(200)));
        assert!(start.elapsed() >= Duration::from_millis(200));
        slow.kill().unwrap();
        assert!(wait_exit(&mut slow, Duration::from_secs(10)));
    }

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

    /// Runs `text` the way sshd runs a session's command: `sh -c` as a session leader.
    fn session_shell(text: &str) -> std::process::Child {
        Command::new("setsid")
            .arg("sh")
            .arg("-c")
            .arg(text)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn env(run_dir: &Path) -> Vec<(String, String)> {
        vec![
            ("MPF_ROLE".into(), "it's".into()),
            ("MPF_RUN_DIR".into(), run_dir.to_string_lossy().into_owned()),
        ]
    }

    #[test]
    fn a_step_registers_its_group_runs_and_says_how_it_exited() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = tmp.path().join("reg");
        std::fs::create_dir(&reg).unwrap();
        std::fs::write(reg.join("open"), "").unwrap();
        let run_dir = tmp.path().join("run dir");
        let regs = reg.to_str().unwrap();
        let text = step_text(
            regs,
            7,
            &env(&run_dir),
            "echo \"$MPF_ROLE\" $$; read -r x || echo no-stdin; exit 3",
            true,
        );
        let out = session_shell(&text).wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = stdout.split_whitespace();
        assert_eq!(words.next(), Some("it's"));
        let pid = words.next().unwrap().to_string();
        assert_eq!(words.next(), Some("no-stdin"));
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim(),
            format!("{} exit 3", crate::exec::process::INTERNAL_MARK)
        );
        // Its pgid is registered (sshd makes the session's shell a group leader), and its
        // run directory was made since the helper had not.
        assert_eq!(std::fs::read_to_string(reg.join("7")).unwrap().trim(), pid);
        assert!(run_dir.is_dir());
        // A syntax error is the script's, on its own line 1.
        let out = session_shell(&step_text(regs, 8, &[], "if then", true))
            .wait_with_output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("1: Syntax error"), "{err}");
    }

    #[test]
    fn a_step_stopped_before_it_registered_or_after_the_registry_closed_never_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = tmp.path().join("reg");
        std::fs::create_dir(&reg).unwrap();
        let regs = reg.to_str().unwrap();
        let marker = tmp.path().join("ran");
        let script = format!("touch {}", q(marker.to_str().unwrap()));
        // The registry is closed (the helper saw EOF).
        let out = session_shell(&step_text(regs, 1, &[], &script, true))
            .wait_with_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        // Open, but the helper's stop came first.
        std::fs::write(reg.join("open"), "").unwrap();
        std::fs::write(reg.join("2"), "x\n").unwrap();
        let out = session_shell(&step_text(regs, 2, &[], &script, true))
            .wait_with_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert!(String::from_utf8_lossy(&out.stderr).contains("stopped before it started"));
        assert!(!marker.exists());
    }

    /// The helper run locally: `ready`, stops a group with what it left, tells which run
    /// directories hold files, makes directories, and at EOF kills what is registered and
    /// removes the registry.
    #[test]
    fn the_helper_stops_groups_reports_run_dirs_and_sweeps_at_eof() {
        use std::io::{BufRead, BufReader, Write};
        let tmp = tempfile::tempdir().unwrap();
        let reg = tmp.path().join("reg");
        let regs = reg.to_str().unwrap().to_string();
        let mut helper = Command::new("sh")
            .arg("-c")
            .arg(helper_script(&regs))
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut to = helper.stdin.take().unwrap();
        let mut from = BufReader::new(helper.stdout.take().unwrap());
        let mut answer = || {
            let mut l = String::new();
            from.read_line(&mut l).unwrap();
            l.trim().to_string()
        };
        assert_eq!(answer(), "ready sh setsid");
        // Two steps: one still running, one that exited and left a process in its group.
        let running = session_shell(&step_text(&regs, 1, &[], "sleep 300", true));
        let mut leaving = session_shell(&step_text(&regs, 2, &[], "sleep 301 & exit 0", true));
        let pgid = |t: &str| loop {
            if let Ok(p) = std::fs::read_to_string(reg.join(t)) {
                if let Ok(p) = p.trim().parse::<i32>() {
                    return p;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (g1, g2) = (pgid("1"), pgid("2"));
        let mut err = String::new();
        let mut first = String::new();
        BufReader::new(leaving.stderr.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        err.push_str(&first);
        assert!(err.contains("exit 0"), "{err}");
        assert!(crate::exec::local::group_alive(g2), "the leftover lives on");
        writeln!(to, "k 40 1 2").unwrap();
        assert_eq!(answer(), "k");
        assert!(!crate::exec::local::group_alive(g1));
        assert!(!crate::exec::local::group_alive(g2));
        let _ = running.wait_with_output();
        let _ = leaving.wait();

        let (empty, full) = (tmp.path().join("empty"), tmp.path().join("full"));
        writeln!(to, "m {} {}", empty.display(), full.display()).unwrap();
        writeln!(to, "d {}", empty.display()).unwrap();
        assert_eq!(answer(), "d");
        std::fs::write(full.join(".hidden"), "").unwrap();
        writeln!(
            to,
            "d {} {} {}/nothing",
            empty.display(),
            full.display(),
            tmp.path().display()
        )
        .unwrap();
        assert_eq!(answer(), format!("d {}", full.display()));
        writeln!(to, "M {} r1 98 3", tmp.path().display()).unwrap();
        writeln!(to, "r {}", full.display()).unwrap();
        writeln!(to, "d {}", empty.display()).unwrap();
        assert_eq!(answer(), "d");
        // Removed at EOF, with the registry (one `rm`).
        assert!(full.is_dir() && empty.is_dir());
        for run in ["0098", "0099", "0100"] {
            assert!(
                tmp.path().join("runs").join(run).join("r1").is_dir(),
                "{run}"
            );
        }
        assert!(!tmp.path().join("runs/0101").exists());

        // A result set's root made private: created 0700, accepted again; a directory that
        // others can read is refused, with the reason.
        use std::os::unix::fs::PermissionsExt;
        let root = tmp.path().join("mpf-set");
        for _ in 0..2 {
            writeln!(to, "p {}", root.display()).unwrap();
            assert_eq!(answer(), "p");
        }
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let open = tmp.path().join("open-dir");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        writeln!(to, "p {}", open.display()).unwrap();
        let refused = answer();
        assert!(
            refused.starts_with(&format!("p mpf: {} already exists", open.display()))
                && refused.contains("not a private directory"),
            "{refused}"
        );

        // At EOF: a registered group dies, the registry goes, and the roots named by `r`.
        let mut last = session_shell(&step_text(&regs, 3, &[], "sleep 302", true));
        let g3 = pgid("3");
        drop(to);
        helper.wait().unwrap();
        assert!(!full.exists() && empty.is_dir());
        let _ = last.wait();
        // KILL is sent, not waited for: the group takes a moment to go.
        let start = Instant::now();
        while crate::exec::local::group_alive(g3) {
            assert!(start.elapsed() < Duration::from_secs(10), "group {g3} left");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!reg.exists());
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
