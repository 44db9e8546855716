//! Time limits (SPEC §14.3): inside an allocation with an end time, a run that is not expected
//! to finish before the end is not started. The end comes from `--until` (a date-time or a
//! duration from now) or from the Slurm job the session runs in (`EndTime` of
//! `scontrol show job -o JOB`); the expected length of a run is the longest run so far of its
//! point, else of the set, and a margin (`--stop-before`, default `DEFAULT_MARGIN`) is kept for
//! what follows the last run (teardown, collection, cleanup, the manifest).

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::store::RunRecord;

/// Kept free before the end by default: a run's teardown and collection, the cleanup and the
/// manifest, before Slurm's TERM at `EndTime` (and its KILL `KillWait`, 30 s by default, later).
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(60);

/// The most of `scontrol`'s output read: a job's record is a line of a few kilobytes.
const MAX_SCONTROL_OUTPUT: u64 = 1 << 20;

/// How long `scontrol` may take to answer.
const SCONTROL_TIMEOUT: Duration = Duration::from_secs(20);

/// The end of the allocation a session runs in.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadline {
    pub end: SystemTime,
    /// What set it, for messages: `--until`, `Slurm job 123`.
    pub source: String,
    /// Kept free before `end`.
    pub margin: Duration,
    /// The Slurm job whose `EndTime` this is: read again before stopping, in case its time
    /// limit was extended (`scontrol update JobId=... TimeLimit=...`).
    pub slurm_job: Option<String>,
}

/// Why a session stopped before its design was done: the next run was not expected to finish
/// before the end.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineStop {
    pub source: String,
    pub end: SystemTime,
    /// Time left when it stopped.
    pub left: Duration,
    /// What the next run was expected to take, margin included.
    pub needed: Duration,
}

impl DeadlineStop {
    /// `Slurm job 123 ends at 2026-12-07T05:00:00Z, in 1m 20s; the next run needs about 2m
    /// 10s with the margin`.
    pub fn describe(&self) -> String {
        format!(
            "{} ends at {}, in {}; the next run needs about {} with the margin",
            self.source,
            humantime::format_rfc3339_seconds(self.end),
            short(self.left),
            short(self.needed)
        )
    }
}

/// A duration as people read it: to the second, or to a tenth of one below ten seconds.
fn short(d: Duration) -> String {
    let rounded = if d < Duration::from_secs(10) {
        Duration::from_millis((d.as_millis() / 100 * 100) as u64)
    } else {
        Duration::from_secs(d.as_secs_f64().round() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

impl Deadline {
    /// How long the next run would need, margin included, when it is expected to take
    /// `expected`; `Some` when that is more than what is left at `now` (the run must not
    /// start).
    pub fn refuses(&self, now: SystemTime, expected: Option<Duration>) -> Option<DeadlineStop> {
        let needed = expected.unwrap_or_default().saturating_add(self.margin);
        let left = self.end.duration_since(now).unwrap_or_default();
        (needed > left).then(|| DeadlineStop {
            source: self.source.clone(),
            end: self.end,
            left,
            needed,
        })
    }

    /// Reads the Slurm job's end again (its limit may have been extended); true when it
    /// changed.
    pub fn refresh(&mut self) -> bool {
        let Some(job) = &self.slurm_job else {
            return false;
        };
        match slurm_job_end(job) {
            Ok(Some(end)) if end != self.end => {
                self.end = end;
                true
            }
            _ => false,
        }
    }

    /// The note a session starts with.
    pub fn describe(&self, now: SystemTime) -> String {
        let left = self.end.duration_since(now).unwrap_or_default();
        format!(
            "time limit: {} ends at {} (in {}); a run not expected to finish {} before it waits for the next session (mpf run --resume)",
            self.source,
            humantime::format_rfc3339_seconds(self.end),
            short(left),
            short(self.margin)
        )
    }
}

/// The expected length of the next run: the longest run so far of its point, else of the set.
#[derive(Debug, Clone, Default)]
pub struct Estimates {
    per_point: HashMap<String, Duration>,
    longest: Option<Duration>,
}

impl Estimates {
    /// From the runs a set already holds (their `started` and `ended` times), read from its
    /// journal one record at a time (a session keeps neither in memory).
    pub fn from_journal(journal: &std::path::Path) -> crate::error::Result<Estimates> {
        let mut e = Estimates::default();
        crate::store::resultset::for_each_record(journal, |r| {
            e.observe_record(&r);
            Ok(())
        })?;
        Ok(e)
    }

    /// Takes a recorded run's length (from its `started` and `ended` times) into account.
    pub fn observe_record(&mut self, r: &RunRecord) {
        let (Ok(a), Ok(b)) = (
            humantime::parse_rfc3339_weak(&r.started),
            humantime::parse_rfc3339_weak(&r.ended),
        ) else {
            return;
        };
        if let Ok(d) = b.duration_since(a) {
            self.observe(&point_key(&r.point), d);
        }
    }

    pub fn observe(&mut self, point: &str, d: Duration) {
        let p = self.per_point.entry(point.to_string()).or_default();
        *p = (*p).max(d);
        self.longest = Some(self.longest.unwrap_or_default().max(d));
    }

    pub fn expected(&self, point: &str) -> Option<Duration> {
        self.per_point.get(point).copied().or(self.longest)
    }
}

/// A point's key among estimates: its values (the plan's point indices change with a resumed
/// search's probes; the values do not).
pub fn point_key(point: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(point.clone()).to_string()
}

/// `--until`: a duration from `now` (`90m`, `1h 30m`), a UTC date-time (`2026-12-07T05:00:00Z`)
/// or a local one as Slurm prints it (`2026-12-07T05:00:00`).
pub fn parse_until(text: &str, now: SystemTime) -> std::result::Result<SystemTime, String> {
    let t = text.trim();
    if t.contains('T') {
        if t.ends_with('Z') {
            return humantime::parse_rfc3339_weak(t).map_err(|e| {
                format!("--until '{t}' is not a date-time (2026-12-07T05:00:00Z): {e}")
            });
        }
        return parse_local(t).ok_or_else(|| {
            format!("--until '{t}' is not a local date-time such as 2026-12-07T05:00:00")
        });
    }
    let d = crate::spec::parse_duration(t).map_err(|e| {
        format!("--until '{t}' is neither a duration (2h, 90m) nor a date-time: {e}")
    })?;
    now.checked_add(d)
        .ok_or_else(|| format!("--until '{t}' is too far away"))
}

/// `YYYY-MM-DDTHH:MM:SS` in this machine's time zone, strictly (no other form, every field in
/// its range, a day that exists), through the C library's `mktime`.
pub fn parse_local(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 19 {
        return None;
    }
    let shape_ok = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i32>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // SAFETY: `tm` is a plain C struct, zeroed then filled; mktime reads and normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    // SAFETY: a valid, initialised `tm`.
    let t = unsafe { libc::mktime(&mut tm) };
    // mktime moves 31 February to March: such a day does not exist.
    if t < 0 || tm.tm_mday != day || tm.tm_mon != month - 1 || tm.tm_year != year - 1900 {
        return None;
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(t as u64))
}

/// `EndTime` of a job's record as `scontrol show job -o` prints it (one line of `Key=Value`
/// fields): `None` for `Unknown` or `None` (no end), an error for anything else that is not a
/// date-time.
pub fn parse_slurm_end(record: &str) -> std::result::Result<Option<SystemTime>, String> {
    let mut ends = record
        .split_ascii_whitespace()
        .filter_map(|f| f.strip_prefix("EndTime="));
    let Some(value) = ends.next() else {
        return Err("the job's record has no EndTime".into());
    };
    match value {
        "Unknown" | "None" => Ok(None),
        v => parse_local(v).map(Some).ok_or_else(|| {
            format!(
                "EndTime '{}' is not a date-time",
                v.chars().take(40).collect::<String>().escape_debug()
            )
        }),
    }
}

/// A Slurm job id as `scontrol` takes it: digits, and `_N` (an array task) or `+N` (a
/// heterogeneous component).
pub fn is_job_id(job: &str) -> bool {
    let mut parts = job.splitn(2, ['_', '+']);
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.next().is_none_or(digits)
}

/// The end of Slurm job `job`: `scontrol show job -o JOB` with the standard time format (a
/// user's `SLURM_TIME_FORMAT=relative` would print something else), in this machine's time
/// zone, which is the one scontrol formats in.
pub fn slurm_job_end(job: &str) -> std::result::Result<Option<SystemTime>, String> {
    if !is_job_id(job) {
        return Err(format!(
            "'{}' is not a Slurm job id",
            job.chars().take(40).collect::<String>().escape_debug()
        ));
    }
    let mut child = Command::new("scontrol")
        .args(["show", "job", "-o", job])
        .env("SLURM_TIME_FORMAT", "standard")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run scontrol: {e}"))?;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout {
            let _ = out.take(MAX_SCONTROL_OUTPUT).read_to_string(&mut text);
        }
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() < SCONTROL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "scontrol did not answer within {}",
                    short(SCONTROL_TIMEOUT)
                ));
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        let mut err = String::new();
        if let Some(e) = child.stderr.take() {
            let _ = e.take(4096).read_to_string(&mut err);
        }
        return Err(format!(
            "scontrol show job {job} failed: {}",
            err.lines().next().unwrap_or("").trim()
        ));
    }
    // One line per job (an array may list several): the job's own.
    let line = text
        .lines()
        .find(|l| {
            l.split_ascii_whitespace()
                .any(|f| f == format!("JobId={job}"))
        })
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("");
    parse_slurm_end(line)
}

/// What a session's time limit is: `--until` if given, else the end of the Slurm job the
/// machines belong to (`job`: the cluster's, else `$SLURM_JOB_ID`). A Slurm job whose end
/// cannot be read gives a warning and no limit (returned beside it), never a failure: the
/// runs go on as without a scheduler.
pub fn resolve(
    until: Option<&str>,
    stop_before: Option<&str>,
    job: Option<&str>,
    now: SystemTime,
) -> Result<(Option<Deadline>, Option<String>)> {
    let margin = match stop_before {
        Some(t) => crate::spec::parse_duration(t)
            .map_err(|e| Error::Usage(format!("--stop-before '{}': {e}", t.trim())))?,
        None => DEFAULT_MARGIN,
    };
    if let Some(u) = until {
        let end = parse_until(u, now).map_err(Error::Usage)?;
        return Ok((
            Some(Deadline {
                end,
                source: "--until".into(),
                margin,
                slurm_job: None,
            }),
            None,
        ));
    }
    let Some(job) = job.map(str::trim).filter(|j| !j.is_empty()) else {
        return Ok((None, None));
    };
    match slurm_job_end(job) {
        Ok(Some(end)) => Ok((
            Some(Deadline {
                end,
                source: format!("Slurm job {job}"),
                margin,
                slurm_job: Some(job.to_string()),
            }),
            None,
        )),
        Ok(None) => Ok((None, None)),
        Err(e) => Ok((
            None,
            Some(format!(
                "the end of Slurm job {job} could not be read ({e}): running without a time limit (give --until)"
            )),
        )),
    }
}

/// The Slurm job the machines of `cluster` are steps of (`transport: srun`), else the job a
/// `hosts: {from: slurm}` source read (`source_job`, reached over ssh), else `env_job`
/// (`$SLURM_JOB_ID`, inside `salloc` or `sbatch`).
pub fn allocation_job(
    cluster: Option<&crate::spec::Cluster>,
    source_job: Option<String>,
    env_job: Option<String>,
) -> Option<String> {
    let from_cluster = cluster.and_then(|c| {
        c.machines.iter().find_map(|m| match &m.transport {
            crate::spec::cluster::MachineTransport::Srun { job } => Some(job.clone()),
            crate::spec::cluster::MachineTransport::Ssh => None,
        })
    });
    from_cluster.or(source_job).or(env_job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_job_of_srun_machines_then_of_the_source_then_of_the_environment() {
        let src = "machines:\n  - hostname: n1\n    role: a\n    transport: srun\n    job: 7\n";
        let srun =
            crate::spec::cluster::parse_cluster(std::path::Path::new("c.yaml"), src).unwrap();
        let ssh = crate::spec::cluster::parse_cluster(
            std::path::Path::new("c.yaml"),
            "machines:\n  - hostname: n1\n    role: a\n",
        )
        .unwrap();
        let (s, e) = (Some("8".to_string()), Some("9".to_string()));
        assert_eq!(
            allocation_job(Some(&srun), s.clone(), e.clone()).as_deref(),
            Some("7")
        );
        assert_eq!(
            allocation_job(Some(&ssh), s.clone(), e.clone()).as_deref(),
            Some("8")
        );
        assert_eq!(
            allocation_job(Some(&ssh), None, e.clone()).as_deref(),
            Some("9")
        );
        assert_eq!(allocation_job(None, None, None), None);
    }

    #[test]
    fn slurm_end_times_are_parsed_strictly() {
        let t = parse_local("2026-12-07T05:00:00").unwrap();
        let back = parse_local("2026-12-07T05:00:01").unwrap();
        assert_eq!(back.duration_since(t).unwrap(), Duration::from_secs(1));
        for bad in [
            "2026-12-07 05:00:00",
            "2026-12-07T05:00",
            "2026-13-07T05:00:00",
            "2026-02-30T05:00:00",
            "2026-12-07T24:00:00",
            "2026-12-07T05:60:00",
            "+026-12-07T05:00:00",
            "2026-12-07T05:00:00Z",
            "1969-12-31T23:59:59",
            "２026-12-07T05:00:00",
            "",
        ] {
            assert_eq!(parse_local(bad), None, "{bad}");
        }
        let record = "JobId=42 JobName=sweep UserId=a(1000) JobState=RUNNING RunTime=00:01:02 TimeLimit=00:05:00 StartTime=2026-12-07T04:55:00 EndTime=2026-12-07T05:00:00 Deadline=N/A";
        assert_eq!(parse_slurm_end(record), Ok(Some(t)));
        assert_eq!(parse_slurm_end("JobId=42 EndTime=Unknown"), Ok(None));
        assert_eq!(parse_slurm_end("JobId=42 EndTime=None"), Ok(None));
        assert!(parse_slurm_end("JobId=42 EndTime=soon")
            .unwrap_err()
            .contains("'soon' is not a date-time"));
        assert!(parse_slurm_end("JobId=42 XEndTime=2026-12-07T05:00:00").is_err());
        assert!(parse_slurm_end("").unwrap_err().contains("no EndTime"));
        let huge = format!("EndTime={}", "9".repeat(100_000));
        assert!(parse_slurm_end(&huge).unwrap_err().len() < 200);
    }

    #[test]
    fn job_ids_are_numbers() {
        for ok in ["42", "123_4", "77+1"] {
            assert!(is_job_id(ok), "{ok}");
        }
        for bad in ["", "-1", "42;rm", "a", "1_", "_1", "1_2_3", "1 2", "--help"] {
            assert!(!is_job_id(bad), "{bad}");
        }
        assert!(slurm_job_end("$(reboot)")
            .unwrap_err()
            .contains("not a Slurm job id"));
    }

    #[test]
    fn until_takes_a_duration_or_a_date_time() {
        let now = at(1_000_000);
        assert_eq!(parse_until("90m", now), Ok(at(1_000_000 + 5400)));
        assert_eq!(parse_until("1970-01-12T13:46:40Z", now), Ok(at(1_000_000)));
        assert!(parse_until("2026-12-07T05:00:00", now).is_ok());
        assert!(parse_until("tomorrow", now).is_err());
        assert!(parse_until("2026-12-07T25:00:00", now).is_err());
    }

    #[test]
    fn a_run_starts_only_when_it_is_expected_to_end_before_the_margin() {
        let d = Deadline {
            end: at(1000),
            source: "--until".into(),
            margin: Duration::from_secs(60),
            slurm_job: None,
        };
        // Nothing known yet: only the margin.
        assert_eq!(d.refuses(at(900), None), None);
        let stop = d.refuses(at(950), None).unwrap();
        assert_eq!(stop.left, Duration::from_secs(50));
        assert_eq!(stop.needed, Duration::from_secs(60));
        // A run of 30 s: 90 s needed.
        assert_eq!(d.refuses(at(910), Some(Duration::from_secs(30))), None);
        assert!(d.refuses(at(911), Some(Duration::from_secs(30))).is_some());
        // Past the end.
        assert_eq!(d.refuses(at(2000), None).unwrap().left, Duration::ZERO);
        assert!(stop
            .describe()
            .contains("--until ends at 1970-01-01T00:16:40Z, in 50s"));
    }

    #[test]
    fn the_estimate_is_the_point_s_longest_run_else_the_set_s() {
        let mut e = Estimates::default();
        assert_eq!(e.expected("a"), None);
        e.observe("a", Duration::from_secs(3));
        e.observe("a", Duration::from_secs(2));
        e.observe("b", Duration::from_secs(9));
        assert_eq!(e.expected("a"), Some(Duration::from_secs(3)));
        assert_eq!(e.expected("c"), Some(Duration::from_secs(9)));
    }

    #[test]
    fn the_margin_is_a_duration() {
        let (d, w) = resolve(Some("10m"), Some("2m"), None, at(0)).unwrap();
        let d = d.unwrap();
        assert_eq!(
            (d.end, d.margin, w),
            (at(600), Duration::from_secs(120), None)
        );
        let e = resolve(Some("10m"), Some("soon"), None, at(0)).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::INVALID);
        assert_eq!(resolve(None, None, None, at(0)).unwrap().0, None);
    }
}
