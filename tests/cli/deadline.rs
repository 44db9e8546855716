//! Time limits (SPEC §14.3): a run that is not expected to finish before the allocation's end
//! is not started; the set is recorded `incomplete`, mpf says how to continue and exits 75, and
//! `--resume` (in the next allocation) completes it, every run once. The end comes from
//! `--until` or from the Slurm job mpf runs in (`scontrol show job -o $SLURM_JOB_ID`, here a
//! stand-in `scontrol` on the PATH; `slurm.rs` has the real one).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use crate::common::{journal, manifest, only_set, Sandbox};

/// Six points of one run each, every run about a second long.
const SWEEP: &str = r#"name: sweep
runs: 1
order: sequential
variables:
  x: [1, 2, 3, 4, 5, 6]
steps:
  - name: work
    run: sleep 1; echo "mpf-result v {{ x }}"
"#;

/// The set's runs are the six points, each exactly once, all ok.
fn assert_whole(set: &Path) {
    let records = journal(set);
    let xs: Vec<i64> = records
        .iter()
        .map(|r| r["point"]["x"].as_i64().unwrap())
        .collect();
    let unique: HashSet<i64> = xs.iter().copied().collect();
    assert_eq!(xs.len(), 6, "{xs:?}");
    assert_eq!(unique.len(), 6, "a run twice: {xs:?}");
    assert!(records.iter().all(|r| r["status"] == "ok"));
    let indices: HashSet<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices.len(), 6);
}

#[test]
fn a_set_stops_before_the_end_with_75_and_resume_completes_it() {
    let sb = Sandbox::new();
    let exp = sb.write(
        "sweep.yaml",
        &format!(
            "{SWEEP}cleanup:\n  - run: echo cleaned >> {}\n",
            sb.path().join("cleanup.log").display()
        ),
    );
    let err = crate::common::exits(
        sb.mpf()
            .args([
                "run",
                "--quiet",
                "--no-plot",
                "--until",
                "3s",
                "--stop-before",
                "500ms",
            ])
            .arg(&exp),
        75,
    );
    let set = only_set(sb.path());
    let id = set.file_name().unwrap().to_string_lossy().into_owned();
    let first = journal(&set);
    // 3 s, runs of about 1 s and half a second kept free: one to three of the six ran.
    assert!(
        (1..=3).contains(&first.len()),
        "{} runs: {err}",
        first.len()
    );
    assert!(first.iter().all(|r| r["status"] == "ok"), "{first:?}");
    let m = manifest(&set);
    assert_eq!(m["status"], "incomplete", "{m}");
    assert!(err.contains("time limit: --until ends at"), "{err}");
    assert!(
        err.contains("stopped before the end of the allocation: --until ends at")
            && err.contains("the next run needs about"),
        "{err}"
    );
    assert!(err.contains(&format!("mpf run --resume {id}")), "{err}");
    assert!(err.contains(", incomplete"), "{err}");
    // Cleanup ran as after any session.
    let cleaned = std::fs::read_to_string(sb.path().join("cleanup.log")).unwrap();
    assert_eq!(cleaned, "cleaned\n");
    // `mpf ls` and `mpf show` say so.
    let ls = sb.mpf().args(["ls"]).output().unwrap();
    assert!(String::from_utf8_lossy(&ls.stdout).contains("incomplete"));

    // The next allocation: no limit here, the rest runs, nothing runs twice.
    crate::common::exits(
        sb.mpf()
            .args(["run", "--quiet", "--no-plot", "--resume", &id]),
        0,
    );
    assert_whole(&set);
    assert_eq!(manifest(&set)["status"], "complete");
}

#[test]
fn no_run_starts_when_the_end_is_within_the_margin() {
    let sb = Sandbox::new();
    let exp = sb.write("sweep.yaml", SWEEP);
    // The default margin is a minute: an end 30 s away starts nothing.
    let err = crate::common::exits(
        sb.mpf()
            .args(["run", "--no-plot", "--until", "30s", "--progress", "json"])
            .arg(&exp),
        75,
    );
    let set = only_set(sb.path());
    assert!(journal(&set).is_empty());
    assert_eq!(manifest(&set)["status"], "incomplete");
    let last: serde_json::Value =
        serde_json::from_str(err.lines().rev().find(|l| l.contains("\"set\"")).unwrap()).unwrap();
    assert_eq!(last["incomplete"], true, "{last}");
    // Flags that are not times are usage errors.
    for (flag, value) in [
        ("--until", "soon"),
        ("--stop-before", "forever"),
        ("--until", "2026-02-30T05:00:00"),
    ] {
        let out = sb
            .mpf()
            .args(["run", "--quiet", flag, value])
            .arg(&exp)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{err}");
    }
}

/// A stand-in `scontrol` that logs how it was called and prints a job record with `end`.
fn fake_scontrol(dir: &Path, end: &str) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("scontrol");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$* SLURM_TIME_FORMAT=$SLURM_TIME_FORMAT\" >> {}\necho 'JobId=42 JobName=sweep JobState=RUNNING TimeLimit=00:01:00 EndTime={end} Deadline=N/A'\n",
            dir.join("scontrol.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `now + secs` as Slurm prints it: local time, no zone.
fn local_time_in(secs: u64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let out = Command::new("date")
        .arg("-d")
        .arg(format!("@{at}"))
        .arg("+%Y-%m-%dT%H:%M:%S")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn inside_a_slurm_job_its_end_time_is_the_limit() {
    let sb = Sandbox::new();
    let exp = sb.write("sweep.yaml", SWEEP);
    let bin = fake_scontrol(sb.path(), &local_time_in(4));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let err = crate::common::exits(
        sb.mpf()
            .env("PATH", &path)
            .env("SLURM_JOB_ID", "42")
            .args(["run", "--quiet", "--no-plot", "--stop-before", "1s"])
            .arg(&exp),
        75,
    );
    assert!(err.contains("time limit: Slurm job 42 ends at"), "{err}");
    let log = std::fs::read_to_string(sb.path().join("scontrol.log")).unwrap();
    assert!(
        log.lines()
            .all(|l| l == "show job -o 42 SLURM_TIME_FORMAT=standard"),
        "{log}"
    );
    let set = only_set(sb.path());
    let id = set.file_name().unwrap().to_string_lossy().into_owned();
    let done = journal(&set).len();
    assert!((1..6).contains(&done), "{done} runs: {err}");
    assert_eq!(manifest(&set)["status"], "incomplete");

    // The next allocation ends in an hour: the rest runs.
    let bin = fake_scontrol(sb.path(), &local_time_in(3600));
    let out = sb
        .mpf()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("SLURM_JOB_ID", "42")
        .args(["run", "--quiet", "--no-plot", "--resume", &id])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_whole(&set);

    // A limit extended while the set runs (`scontrol update ... TimeLimit=`): read again
    // before stopping, it lets the set go on. The stand-in answers 2 s the first time, then an
    // hour.
    let bin = sb.path().join("bin");
    std::fs::write(
        bin.join("scontrol"),
        format!(
            "#!/bin/sh\nif [ -e {calls} ]; then end={later}; else end={soon}; touch {calls}; fi\necho \"JobId=42 EndTime=$end\"\n",
            calls = sb.path().join("called").display(),
            soon = local_time_in(2),
            later = local_time_in(3600)
        ),
    )
    .unwrap();
    let err = crate::common::exits(
        sb.mpf()
            .env("PATH", &path)
            .env("SLURM_JOB_ID", "42")
            .args([
                "run",
                "--quiet",
                "--no-plot",
                "--stop-before",
                "1s",
                "--set",
                "x=1,2,3",
            ])
            .arg(&exp),
        0,
    );
    assert!(err.contains("3 runs ok"), "{err}");

    // A job whose end cannot be read: a warning, and the runs go on without a limit.
    fake_scontrol(sb.path(), "whenever");
    let err = crate::common::exits(
        sb.mpf()
            .env("PATH", &path)
            .env("SLURM_JOB_ID", "42")
            .args(["run", "--quiet", "--no-plot", "--set", "x=1"])
            .arg(&exp),
        0,
    );
    assert!(
        err.contains("warning: the end of Slurm job 42 could not be read (EndTime 'whenever' is not a date-time): running without a time limit"),
        "{err}"
    );
    // A job id that is not one never reaches scontrol.
    let err = crate::common::exits(
        sb.mpf()
            .env("PATH", &path)
            .env("SLURM_JOB_ID", "42; touch /tmp/x")
            .args(["run", "--quiet", "--no-plot", "--set", "x=1"])
            .arg(&exp),
        0,
    );
    assert!(err.contains("is not a Slurm job id"), "{err}");
}

/// `salloc --no-shell` of one node for `minutes`: the job id.
fn allocate_for(s: &crate::slurm::SlurmBed, minutes: u32) -> String {
    let out = s
        .cmd("salloc")
        .args(["--no-shell", "--immediate=20", "-N", "1", "-t"])
        .arg(minutes.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("salloc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "salloc: {err}\n{}", s.logs());
    err.split_whitespace()
        .last()
        .filter(|j| j.parse::<u32>().is_ok())
        .unwrap_or_else(|| panic!("no job id in salloc's words: {err}"))
        .to_string()
}

/// `mpf run ARGS` as a step of `job` on its node, so that it runs inside the allocation
/// (`SLURM_JOB_ID` set by Slurm).
fn mpf_in_job(
    s: &crate::slurm::SlurmBed,
    job: &str,
    dir: &Path,
    args: &[&str],
) -> std::process::Output {
    s.cmd("srun")
        .args(["--jobid", job, "-w", "n1", "-N1", "-n1", "--overlap", "-u"])
        .arg(assert_cmd::cargo::cargo_bin("mpf"))
        .args(args)
        .current_dir(dir)
        .env("MPF_RESULTS", dir.join("results"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("srun mpf")
}

#[test]
fn a_real_slurm_job_s_time_limit_stops_the_set_and_a_second_allocation_completes_it() {
    let Some(s) = crate::slurm::SlurmBed::new(
        "a_real_slurm_job_s_time_limit_stops_the_set_and_a_second_allocation_completes_it",
        1,
    ) else {
        return;
    };
    let sb = Sandbox::new();
    // 24 runs of a second; the job's limit is a minute, of which 50 s are kept free: about ten
    // runs fit.
    let exp = sb.write(
        "sweep.yaml",
        "name: sweep\nruns: 1\norder: sequential\nvariables:\n  x: {range: [1, 24]}\nsteps:\n  - run: sleep 1; echo \"mpf-result v {{ x }}\"\n",
    );
    let first = allocate_for(&s, 1);
    let exp_arg = exp.to_string_lossy().into_owned();
    let out = mpf_in_job(
        &s,
        &first,
        sb.path(),
        &[
            "run",
            "--quiet",
            "--no-plot",
            "--stop-before",
            "50s",
            &exp_arg,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}\n{}", s.logs());
    assert!(
        err.contains(&format!("time limit: Slurm job {first} ends at")),
        "{err}"
    );
    let set = only_set(sb.path());
    let id = set.file_name().unwrap().to_string_lossy().into_owned();
    let done = journal(&set).len();
    println!("the first allocation (1 min, --stop-before 50s) ran {done} of 24 runs");
    assert!(
        (3..24).contains(&done),
        "{done} runs in the first allocation: {err}"
    );
    assert_eq!(manifest(&set)["status"], "incomplete");
    assert!(err.contains(&format!("mpf run --resume {id}")), "{err}");
    s.cancel(&first);

    // The next allocation (five minutes) runs the rest.
    let second = allocate_for(&s, 5);
    let out = mpf_in_job(
        &s,
        &second,
        sb.path(),
        &["run", "--quiet", "--no-plot", "--resume", &id],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("time limit: Slurm job {second} ends at")),
        "{err}"
    );
    let records = journal(&set);
    let xs: HashSet<i64> = records
        .iter()
        .map(|r| r["point"]["x"].as_i64().unwrap())
        .collect();
    assert_eq!((records.len(), xs.len()), (24, 24), "every run once");
    assert!(records.iter().all(|r| r["status"] == "ok"));
    assert_eq!(manifest(&set)["status"], "complete");
    s.cancel(&second);
}
