//! `transport: srun` (SPEC §14.2): a machine's sessions are steps of a Slurm job,
//! `srun --jobid JOB -w NODE -N1 -n1 --overlap ... /bin/sh -c TEXT`, where ssh would open a
//! session over the machine's ControlMaster. Everything else (the helper and its registry,
//! runner sessions, collection, timeouts, the session budget) is `exec::ssh`'s, which opens
//! its sessions through `Via`.
//!
//! - There is no master: a machine is connected when its helper step says `ready`, and it is
//!   lost when the helper's srun ends (the job was cancelled or ended, the node died).
//! - A session is one job step and one srun process on the controller; `max_sessions` caps
//!   them per machine as it caps ssh sessions (Slurm itself has no such limit; every srun
//!   costs a step id of the job and a process here).
//! - When mpf dies (SIGKILL included) its end of every srun's stdin closes; srun forwards the
//!   EOF to its task: the helper then kills every group still registered (the step's, and what
//!   a step double-forked out of it, which `scancel` without cgroups would miss) and exits, and
//!   a runner session reads EOF once its step is gone. No srun is given a parent-death signal:
//!   killing srun would leave its task running, where the EOF ends it.

use std::process::Command;

use super::sh_quote as q;

/// The flags of every session after `--jobid JOB` (checked against Slurm 22.05): one task on
/// one node, sharing the job's resources with the other steps (`--overlap`, Slurm 20.11+), no
/// messages of srun's own but errors (`-Q`), no MPI plugin whatever the site's default. Not
/// `--cpu-bind=none`: without a task plugin that binds, srun prints a warning for it on every
/// session's stderr, where it would mix with a step's output; the site's binding applies. Not `-u`
/// (`--unbuffered`): it makes the task's stdout a terminal, which turns `\n` into `\r\n` and
/// which tar refuses to write an archive to; a collected archive is a session's stdout.
const FLAGS: [&str; 5] = ["-N1", "-n1", "--overlap", "-Q", "--mpi=none"];

/// A job id srun takes: digits, or an array task `JOB_TASK` (a name in `--jobid` would be
/// read as an option or go to a shell).
pub(crate) fn valid_job(job: &str) -> bool {
    let mut parts = job.split('_');
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.all(digits) && job.matches('_').count() <= 1
}

/// `srun --jobid JOB FLAGS...` (node and command to come).
fn srun_args(job: &str) -> Vec<String> {
    let mut v = vec!["srun".to_string(), "--jobid".into(), job.to_string()];
    v.extend(FLAGS.iter().map(|f| f.to_string()));
    v
}

/// A session on `node` running `remote` under `/bin/sh -c`, as ssh runs a session's command
/// under the login shell.
pub(crate) fn session(job: &str, node: &str, remote: &str) -> Command {
    let args = srun_args(job);
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .arg("-w")
        .arg(node)
        .args(["/bin/sh", "-c", remote]);
    cmd
}

/// A command that takes what ssh takes after its options, `[--] NODE COMMAND...`, and runs
/// the words of COMMAND joined by spaces under `/bin/sh -c` on NODE as a step of the job:
/// what rsync's `-e` and the tar fallback of `sync:` need of a remote shell. rsync talks both
/// ways and waits for answers that are no lines, which srun holds back without `-u`; with
/// `-u` the task's stdout is a terminal, put in raw mode before COMMAND runs so that its bytes
/// pass unchanged (stdin stays a pipe). No single quote in it: rsync splits `-e` itself, and
/// reads quotes only as plain pairs.
pub(crate) fn remote_shell(job: &str) -> Vec<String> {
    let srun: Vec<String> = srun_args(job).iter().map(|a| q(a)).collect();
    let script = format!(
        "[ \"$1\" = -- ] && shift; n=$1; shift; exec {} -u -w \"$n\" /bin/sh -c \"stty raw -echo <&1 2>/dev/null; $*\"",
        srun.join(" "),
    );
    vec!["sh".into(), "-c".into(), script, "mpf-srun".into()]
}

/// Why the job is over, when Slurm says it is: `squeue` knows it no more, or in a state other
/// than running or suspended. `None` while it runs, and when Slurm does not answer (its
/// controller down is no reason to give the set up).
pub(crate) fn job_ended(job: &str) -> Option<String> {
    let mut cmd = Command::new("squeue");
    cmd.args(["-h", "-j", job, "-o", "%T"])
        .stdin(std::process::Stdio::null());
    let out = output_within(cmd, std::time::Duration::from_secs(20))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    ended_from_squeue(job, out.status.success(), text.trim(), err.trim())
}

/// `cmd`'s output, or `None` when it cannot start or takes longer than `limit` (then killed).
/// For commands of a few lines: their output waits in the pipe until they exit.
fn output_within(mut cmd: Command, limit: std::time::Duration) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if start.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// `job_ended` from squeue's answer.
fn ended_from_squeue(job: &str, ok: bool, state: &str, err: &str) -> Option<String> {
    if !ok {
        // A job Slurm has purged; any other error says nothing about the job.
        return err
            .contains("Invalid job id")
            .then(|| format!("Slurm job {job} has ended (squeue no longer knows it)"));
    }
    let state: String = state
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    match state.as_str() {
        "RUNNING" | "SUSPENDED" => None,
        "" => Some(format!("Slurm job {job} has ended")),
        s => Some(format!("Slurm job {job} has ended ({s})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_tells_a_job_over_from_one_running() {
        assert_eq!(ended_from_squeue("5", true, "RUNNING", ""), None);
        assert_eq!(ended_from_squeue("5", true, "SUSPENDED", ""), None);
        assert_eq!(
            ended_from_squeue("5", true, "CANCELLED", ""),
            Some("Slurm job 5 has ended (CANCELLED)".into())
        );
        assert!(ended_from_squeue("5", true, "COMPLETING", "").is_some());
        assert_eq!(
            ended_from_squeue(
                "5",
                false,
                "",
                "slurm_load_jobs error: Invalid job id specified"
            ),
            Some("Slurm job 5 has ended (squeue no longer knows it)".into())
        );
        // The controller does not answer: nothing is known of the job.
        assert_eq!(
            ended_from_squeue(
                "5",
                false,
                "",
                "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
            ),
            None
        );
    }

    #[test]
    fn job_ids_are_digits_or_an_array_task() {
        for ok in ["1", "12345", "12345_7"] {
            assert!(valid_job(ok), "{ok}");
        }
        for bad in [
            "", "-1", "12 3", "12;rm", "--help", "1_2_3", "_1", "1_", "a1",
        ] {
            assert!(!valid_job(bad), "{bad}");
        }
    }

    #[test]
    fn a_session_is_one_task_on_the_node_under_bin_sh() {
        let cmd = session("42", "node-3", "echo 'a b'");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.get_program(), "srun");
        assert_eq!(
            args,
            [
                "--jobid",
                "42",
                "-N1",
                "-n1",
                "--overlap",
                "-Q",
                "--mpi=none",
                "-w",
                "node-3",
                "/bin/sh",
                "-c",
                "echo 'a b'"
            ]
        );
    }

    /// The remote shell, with `srun` replaced by a stand-in that prints its arguments: what
    /// rsync and the tar fallback give it becomes one `/bin/sh -c` text, as over ssh.
    #[test]
    fn the_remote_shell_takes_ssh_arguments() {
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("srun");
        std::fs::write(&fake, "#!/bin/sh\nfor a; do printf '[%s]' \"$a\"; done\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            tmp.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let argv = remote_shell("7");
        for (given, node) in [
            (
                vec!["--", "n1", "mkdir -p 'x y' && rsync", "--server", "."],
                "n1",
            ),
            (vec!["n2", "tar", "-xf", "-"], "n2"),
        ] {
            let out = Command::new(&argv[0])
                .args(&argv[1..])
                .args(&given)
                .env("PATH", &path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let joined = given[given.iter().position(|g| *g == node).unwrap() + 1..].join(" ");
            assert_eq!(
                text,
                format!(
                    "[--jobid][7][-N1][-n1][--overlap][-Q][--mpi=none][-u][-w][{node}][/bin/sh][-c][stty raw -echo <&1 2>/dev/null; {joined}]"
                )
            );
        }
    }
}
