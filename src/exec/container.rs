//! A cluster machine that is a container (SPEC §18.2): `<engine> exec -i NAME /bin/sh -c TEXT`
//! opens a session where ssh would open one over a ControlMaster (`Via::Container` in
//! `exec::ssh`, whose helper, registry, runner sessions, collection and timeouts serve it
//! unchanged). This module holds the engine's command lines and the container's lifetime:
//!
//! - before the first session, a watcher starts on the engine's machine (`sh`, reading its
//!   stdin until EOF), then `<engine> run -d --name NAME ... IMAGE sleep infinity`;
//! - the image's digest (`image inspect`, `{{.Digest}}`, else `{{.Id}}`) goes into the
//!   machine's host facts;
//! - at the end mpf closes the watcher's stdin, and the watcher removes the container
//!   (`<engine> rm -f`). When mpf dies (SIGKILL included) its end of that pipe closes all the
//!   same: the watcher outlives mpf (a process group of its own, deaf to the terminal's
//!   signals) and removes the container. Over ssh, the session's stdin reaches EOF when the
//!   client or its master dies.
//!
//! Every word goes to the engine as an argument of its own: locally without a shell, over ssh
//! quoted word by word. The engine's configuration (`CONTAINERS_CONF`, `DOCKER_HOST`, ...)
//! is the environment mpf runs in, passed through untouched.

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::exec::sh_quote as q;

/// The container engines mpf drives: both take the same `run`, `exec`, `rm` and `image
/// inspect` command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    /// The engine's program.
    pub fn program(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }
}

/// Whether the user's options set the container's host name themselves (or share the
/// host's UTS namespace, where docker refuses a host name): mpf then gives none.
pub(crate) fn options_name_the_host(options: &[String]) -> bool {
    options.iter().enumerate().any(|(i, o)| {
        let next = options.get(i + 1).map(String::as_str);
        o == "-h"
            || o.starts_with("--hostname")
            || o.starts_with("--uts")
            || matches!(o.as_str(), "--network=host" | "--net=host")
            || (matches!(o.as_str(), "--network" | "--net") && next == Some("host"))
    })
}

/// The longest image reference accepted (registries cap a reference far below this).
const MAX_IMAGE: usize = 1024;

/// An image reference the engine takes as its image argument: not empty, not an option, one
/// line of printable text without blanks.
pub(crate) fn image_problem(image: &str) -> Option<String> {
    let ok = !image.is_empty()
        && image.len() <= MAX_IMAGE
        && !image.starts_with('-')
        && !image.chars().any(|c| c.is_control() || c.is_whitespace());
    (!ok).then(|| {
        format!(
            "container image '{}' is not an image reference (such as localhost/bench:1 or docker.io/library/debian:12: no blanks, not starting with -, at most {MAX_IMAGE} characters)",
            image.escape_debug()
        )
    })
}

/// An image that names one variable of the experiment, its profile's (SPEC §18.2): the text
/// around one `{{ NAME }}`, without filters (`spec::container` reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTemplate {
    pub variable: String,
    pub prefix: String,
    pub suffix: String,
}

impl ImageTemplate {
    /// The image for one value of the variable (a string or a number), checked like a
    /// literal image.
    pub fn render(&self, value: &serde_json::Value) -> std::result::Result<String, String> {
        let word = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "variable '{}': the value {other} is not a string or a number, so not part of an image",
                    self.variable
                ))
            }
        };
        let image = format!("{}{word}{}", self.prefix, self.suffix);
        match image_problem(&image) {
            None => Ok(image),
            Some(m) => Err(format!(
                "variable '{}' = '{}': {m}",
                self.variable,
                word.escape_debug()
            )),
        }
    }
}

/// How a container machine's sessions are opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerVia {
    pub engine: Engine,
    /// The image to start (the first block's, when `template` names a variable).
    pub image: String,
    /// The image per value of the profile's variable (SPEC §18.2).
    pub template: Option<ImageTemplate>,
    /// The user's options of `<engine> run`, as written.
    pub options: Vec<String>,
    /// The container's name (`container_name`).
    pub name: String,
    /// The machine's host name, given to the container unless its options name one.
    pub hostname: String,
    /// The engine runs on a remote machine reached over ssh (the `SshConfig`'s destination),
    /// not on this one.
    pub remote: bool,
}

/// The longest container name mpf makes (engines take longer ones; this keeps `ps` readable).
const MAX_NAME: usize = 128;

/// Seconds `<engine> run` may take (an image pulled from a registry included).
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Seconds the removal may take at the end before mpf stops waiting for it.
const REMOVE_LIMIT: Duration = Duration::from_secs(60);

/// `mpf-<set>-<machine>`, every character an engine refuses in a name made `-`.
pub(crate) fn container_name(set: &str, machine: &str) -> String {
    let raw = format!("mpf-{set}-{machine}");
    raw.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
            _ => '-',
        })
        .take(MAX_NAME)
        .collect()
}

/// The watcher: waits for EOF on stdin, then runs its arguments (the removal).
const WATCH: &str = "trap '' INT TERM HUP\ncat > /dev/null\nexec \"$@\" > /dev/null 2>&1";

impl ContainerVia {
    fn engine(&self) -> String {
        self.engine.program().to_string()
    }

    /// `<engine> run -d --name NAME [--hostname HOST] OPTIONS... IMAGE sleep infinity`.
    pub(crate) fn run_args(&self) -> Vec<String> {
        let mut v = vec![self.engine(), "run".into(), "-d".into()];
        v.extend(["--name".to_string(), self.name.clone()]);
        if !options_name_the_host(&self.options) {
            v.extend(["--hostname".to_string(), self.hostname.clone()]);
        }
        v.extend(self.options.iter().cloned());
        v.extend([self.image.clone(), "sleep".into(), "infinity".into()]);
        v
    }

    /// `<engine> exec -i NAME /bin/sh -c TEXT`: a session in the container.
    pub(crate) fn exec_args(&self, text: &str) -> Vec<String> {
        let mut v = vec![self.engine(), "exec".into(), "-i".into(), self.name.clone()];
        v.extend(["/bin/sh".to_string(), "-c".into(), text.to_string()]);
        v
    }

    /// `<engine> rm -f NAME`, at once (podman would give `sleep` ten seconds to stop).
    pub(crate) fn rm_args(&self) -> Vec<String> {
        let mut v = vec![self.engine(), "rm".into(), "-f".into()];
        if self.engine == Engine::Podman {
            v.extend(["-t".to_string(), "0".into()]);
        }
        v.push(self.name.clone());
        v
    }

    /// The watcher's command line: `sh -c WATCH mpf-container <rm_args>`.
    pub(crate) fn watch_args(&self) -> Vec<String> {
        let mut v = vec![
            "sh".to_string(),
            "-c".into(),
            WATCH.into(),
            "mpf-container".into(),
        ];
        v.extend(self.rm_args());
        v
    }

    /// `<engine> image inspect --format FORMAT IMAGE`.
    fn inspect_args(&self, format: &str) -> Vec<String> {
        vec![
            self.engine(),
            "image".into(),
            "inspect".into(),
            "--format".into(),
            format.into(),
            self.image.clone(),
        ]
    }

    /// A command that takes what ssh takes after its options, `[--] DEST COMMAND...`, and runs
    /// the words of COMMAND joined by spaces under `/bin/sh -c` in the container, for rsync's
    /// `-e` and the tar fallback of `sync:` (see `exec::srun::remote_shell`). `ssh` is the
    /// command line of a session on the engine's machine for a remote engine. No single quote
    /// in the script (rsync splits `-e` itself): the quote the remote shell needs is made with
    /// printf.
    pub(crate) fn remote_shell(&self, ssh: Option<(&[String], &str)>) -> Vec<String> {
        let exec: Vec<String> = self.exec_args("").iter().map(|a| q(a)).collect();
        let exec = exec[..exec.len() - 1].join(" ");
        let script = match ssh {
            None => format!("[ \"$1\" = -- ] && shift; shift; exec {exec} \"$*\""),
            Some((ssh, dest)) => {
                let ssh: Vec<String> = ssh.iter().map(|a| q(a)).collect();
                format!(
                    "[ \"$1\" = -- ] && shift; shift; s=$(printf \\\\047); c=$(printf %s \"$*\" | sed \"s/$s/$s\\\\\\\\$s$s/g\"); exec {} -- {} \"{exec} $s$c$s\"",
                    ssh.join(" "),
                    q(dest)
                )
            }
        };
        vec!["sh".into(), "-c".into(), script, "mpf-container".into()]
    }
}

/// A started container: its watcher and its image's digest.
pub(crate) struct Running {
    watcher: Child,
    stdin: Option<ChildStdin>,
    /// The image's digest, or its id when it has none.
    pub digest: String,
}

/// Starts the container of `c`; `host` makes the command that runs a command line on the
/// engine's machine. The watcher comes first, so that mpf dying at any point after the run
/// leaves no container. `machine` names the machine in errors.
pub(crate) async fn start(
    c: &ContainerVia,
    machine: &str,
    host: impl Fn(&[String]) -> Command,
) -> Result<Running> {
    let engine = c.engine.program();
    let mut watcher = {
        use std::os::unix::process::CommandExt;
        let mut cmd = host(&c.watch_args());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd.spawn().map_err(|e| {
            Error::Unreachable(format!(
                "machine {machine}: cannot start the container's watcher: {e}"
            ))
        })?
    };
    let stdin = watcher.stdin.take();
    let mut running = Running {
        watcher,
        stdin,
        digest: String::new(),
    };
    let failed = |what: &str, text: String| {
        Error::Unreachable(format!(
            "machine {machine}: cannot start container {} from image {}: {what}{}",
            c.name,
            c.image,
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        ))
    };
    match output(host(&c.run_args()), RUN_LIMIT).await {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            running.remove();
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(failed(&format!("{engine} run {}", out.status), err));
        }
        Err(e) => {
            running.remove();
            return Err(failed(&format!("{engine} run"), e));
        }
    }
    running.digest = image_digest(c, &host).await;
    Ok(running)
}

/// The image's digest, or its id (an image imported or built locally may have no digest;
/// docker's `image inspect` has no `.Digest`). Empty when the engine tells neither.
async fn image_digest(c: &ContainerVia, host: &impl Fn(&[String]) -> Command) -> String {
    for format in ["{{.Digest}}", "{{.Id}}"] {
        let limit = Duration::from_secs(60);
        if let Ok(out) = output(host(&c.inspect_args(format)), limit).await {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("").trim();
            if out.status.success() && !first.is_empty() && first != "<none>" {
                return first.chars().take(200).collect();
            }
        }
    }
    String::new()
}

/// `cmd`'s output (stdin from /dev/null), killed after `limit`.
async fn output(
    cmd: Command,
    limit: Duration,
) -> std::result::Result<std::process::Output, String> {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
    }
}

impl Running {
    /// Removes the container: closes the watcher's stdin and waits for its removal to end.
    pub(crate) fn remove(&mut self) {
        if self.stdin.take().is_none() {
            return;
        }
        let deadline = Instant::now() + REMOVE_LIMIT;
        while matches!(self.watcher.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.watcher.kill();
        let _ = self.watcher.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(options: &[&str]) -> ContainerVia {
        ContainerVia {
            engine: Engine::Podman,
            image: "localhost/x:1".into(),
            template: None,
            options: options.iter().map(|s| s.to_string()).collect(),
            name: container_name("exp-20261207T071758Z-ab12", "c1"),
            hostname: "c1".into(),
            remote: false,
        }
    }

    #[test]
    fn options_that_name_the_host_are_seen() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for named in [
            &["--hostname", "x"][..],
            &["--hostname=x"],
            &["-h", "x"],
            &["--network", "host"],
            &["--net=host"],
            &["--uts=host"],
        ] {
            assert!(options_name_the_host(&v(named)), "{named:?}");
        }
        for not in [
            &["--network", "bridge"][..],
            &["-e", "hostname"],
            &[],
            &["--cpus", "2"],
        ] {
            assert!(!options_name_the_host(&v(not)), "{not:?}");
        }
    }

    #[test]
    fn names_are_made_of_the_characters_engines_take() {
        assert_eq!(
            container_name("exp-20261207T071758Z-ab12", "c1"),
            "mpf-exp-20261207T071758Z-ab12-c1"
        );
        assert_eq!(container_name("s", "fe80::1"), "mpf-s-fe80--1");
        assert_eq!(container_name("a b;$(id)", "m/.."), "mpf-a-b---id--m-..");
        assert!(container_name("a b;$(id)", "m/..")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        assert_eq!(container_name(&"x".repeat(500), "m").len(), MAX_NAME);
    }

    /// The command lines, word by word: the user's options and image are arguments of their
    /// own, whatever they hold.
    #[test]
    fn command_lines_keep_every_word_whole() {
        let v = via(&["--env", "A=b c; $(id)", "--network", "host"]);
        assert_eq!(
            v.run_args(),
            [
                "podman",
                "run",
                "-d",
                "--name",
                "mpf-exp-20261207T071758Z-ab12-c1",
                "--env",
                "A=b c; $(id)",
                "--network",
                "host",
                "localhost/x:1",
                "sleep",
                "infinity"
            ]
        );
        let v = via(&["--cpus", "2"]);
        assert_eq!(v.run_args()[5..7], ["--hostname", "c1"]);
        assert_eq!(
            v.exec_args("echo 'a b'"),
            [
                "podman",
                "exec",
                "-i",
                "mpf-exp-20261207T071758Z-ab12-c1",
                "/bin/sh",
                "-c",
                "echo 'a b'"
            ]
        );
        assert_eq!(
            v.rm_args(),
            [
                "podman",
                "rm",
                "-f",
                "-t",
                "0",
                "mpf-exp-20261207T071758Z-ab12-c1"
            ]
        );
        let d = ContainerVia {
            engine: Engine::Docker,
            ..v
        };
        assert_eq!(d.rm_args(), ["docker", "rm", "-f", d.name.as_str()]);
    }

    /// The watcher runs its command only at EOF, whatever signal the terminal sends first.
    #[test]
    fn the_watcher_acts_at_eof() {
        let tmp = tempfile::tempdir().unwrap();
        let mark = tmp.path().join("removed");
        let mut child = Command::new("sh")
            .args(["-c", WATCH, "mpf-container", "touch"])
            .arg(&mark)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!mark.exists());
        assert!(child.try_wait().unwrap().is_none());
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        assert!(mark.exists());
    }

    /// The remote shell, with the engine (and ssh) replaced by stand-ins that print their
    /// arguments: what rsync gives it becomes one `/bin/sh -c` text in the container, quoted
    /// once more for the engine's machine when that is remote.
    #[test]
    fn the_remote_shell_takes_ssh_arguments() {
        let tmp = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        for fake in ["podman", "ssh"] {
            let p = tmp.path().join(fake);
            std::fs::write(&p, "#!/bin/sh\nfor a; do printf '[%s]' \"$a\"; done\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            tmp.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let run = |argv: Vec<String>| {
            let out = Command::new(&argv[0])
                .args(&argv[1..])
                .args(["--", "c1", "mkdir -p 'x y' && rsync", "--server", "."])
                .env("PATH", &path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let v = via(&[]);
        assert_eq!(
            run(v.remote_shell(None)),
            format!(
                "[exec][-i][{}][/bin/sh][-c][mkdir -p 'x y' && rsync --server .]",
                v.name
            )
        );
        let ssh = ["ssh".to_string(), "-p".into(), "2222".into()];
        let text = run(v.remote_shell(Some((&ssh, "root@h"))));
        assert_eq!(
            text,
            format!(
                "[-p][2222][--][root@h][podman exec -i {} /bin/sh -c 'mkdir -p '\\''x y'\\'' && rsync --server .']",
                v.name
            )
        );
        // That last word, run by the engine machine's shell, gives the container the text.
        let word = text.rsplit("][").next().unwrap().trim_end_matches(']');
        let out = Command::new("sh")
            .arg("-c")
            .arg(word)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "[exec][-i][{}][/bin/sh][-c][mkdir -p 'x y' && rsync --server .]",
                v.name
            )
        );
        assert!(!v.remote_shell(Some((&ssh, "h")))[2].contains('\''));
    }
}
