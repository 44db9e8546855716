//! Monitoring (SPEC §11): what every monitored machine did during a run.
//!
//! One sampler (`sampler.sh`, POSIX sh + one awk) per monitored role (roles on one machine,
//! namespace and pinned CPUs share one, its samples labelled `a+b`) runs through the role's
//! transport like a background step (its own process group, registered with the guard, so it
//! never outlives the run, SIGKILL of mpf included), inside the role's network namespace. It
//! prints raw counters at every tick with the machine's `/proc/uptime`; mpf turns them into
//! rates over the machine's own intervals, then places them on the controller's clock
//! (`Clock`: exactly on this machine, by the soonest-arrived tick on a remote one, so that
//! ssh's buffering or a busy controller never bends the time axis). Prometheus endpoints are
//! scraped by mpf itself (`prom.rs`).
//!
//! The runner calls `RunMonitor::start` as a run begins, `first_readings` before the first
//! step and `stop` after the last; `Samples::finish` writes `runs/NNNN/monitor.csv` and adds
//! the `mon.*` results.

pub mod prom;
pub mod rates;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::exec::{process::SharedBuf, wrap_for, StepProc, Transport};
use crate::machines::{Machines, RoleBinding};
use crate::spec::monitor::{Endpoint, Monitor};
use rates::{CpuScope, Point, Tick, TickParser};

/// The sampler, run as `sh -c` on the machine (values through the environment only).
pub(crate) const SAMPLER: &str = include_str!("sampler.sh");

/// Samples kept per run, all roles together; later ones are dropped (with a note) so that a
/// long run at a short interval cannot make mpf's memory or `monitor.csv` grow without end.
/// (A sample takes 56 bytes in memory until the run ends, its series' name held once.)
pub(crate) const MAX_SAMPLES: usize = 500_000;
/// Bytes of `monitor.csv` a run's samples may take (a row: its role, its metric and about 40
/// bytes), far below the 512 MiB that mpf's readers take (`store::timeseries`); later
/// samples are dropped with the same note.
pub(crate) const MAX_CSV_BYTES: usize = 64 << 20;
/// The bytes of a row besides its role and metric: time, value, commas, quotes.
const ROW_BYTES: usize = 40;
/// Distinct series kept from one Prometheus endpoint; samples of later ones are dropped
/// (with a note), whatever the endpoint exposes.
pub(crate) const MAX_PROM_SERIES: usize = 10_000;
/// Longest `prom.<name>{labels}` kept: what mpf's readers take.
const MAX_PROM_NAME: usize = crate::store::timeseries::MAX_NAME_BYTES;

/// How long a sampler may take to print its first tick before the run goes on without it.
const FIRST_TICK_TIMEOUT: Duration = Duration::from_secs(10);

/// The machines (`role@destination`) whose sampler printed nothing within
/// `FIRST_TICK_TIMEOUT` in an earlier run of this mpf: later runs do not wait for it again
/// (10 s a run), until it gives samples. Each keeps the last line its sampler wrote to stderr
/// (`: awk: not found`, or empty), so a later run, whose sampler may be stopped before it
/// gets as far, still says why.
static SILENT: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

fn silent() -> std::sync::MutexGuard<'static, BTreeMap<String, String>> {
    SILENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// A role's sampler while it runs.
struct Probe {
    /// The label of its samples: the role (`role.node` for a machine of a role of several),
    /// or the labels of every role it samples joined by `+` (`client+server`) when roles
    /// share its machine, namespace and CPUs.
    role: String,
    /// What tells such roles apart from others: the machine's transport, the namespace, the
    /// pinned CPUs.
    place: (usize, Option<String>, Option<String>),
    /// `role@destination`, for `SILENT`.
    key: String,
    transport: Arc<dyn Transport>,
    proc: StepProc,
    reader: JoinHandle<Vec<Point>>,
    first: watch::Receiver<bool>,
}

/// A Prometheus endpoint's scraper while it runs.
struct Scraper {
    role: String,
    port: u16,
    task: JoinHandle<Scraped>,
}

/// What the scrapes of one endpoint gave during a run.
#[derive(Default)]
pub struct Scraped {
    points: Vec<Point>,
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    /// The series seen so far, each name held once.
    series: HashSet<Arc<str>>,
    /// Samples left out: NaN or infinite, a name too long or holding a control character,
    /// a series beyond `MAX_PROM_SERIES`.
    non_finite: usize,
    bad_names: usize,
    too_many: usize,
    /// Answers cut at `prom::MAX_BODY`, and answers that held no sample at all (their first
    /// bytes, to say what came instead).
    cut: usize,
    empty: usize,
    first_empty: Option<String>,
    /// Answers that came but could not be read (not HTTP, not 200, compressed).
    unreadable: usize,
    first_unreadable: Option<String>,
}

impl Scraped {
    /// The points of one answer read at `t`, keeping what mpf can record and its readers
    /// read back.
    pub fn points(&mut self, found: Vec<(prom::Name, f64)>, t: f64) -> Vec<Point> {
        let mut out = Vec::with_capacity(found.len());
        for (name, value) in found {
            if !value.is_finite() {
                self.non_finite += 1;
                continue;
            }
            if name.bytes() + "prom.".len() > MAX_PROM_NAME {
                self.bad_names += 1;
                continue;
            }
            let metric = format!("prom.{name}");
            if metric.chars().any(char::is_control) {
                self.bad_names += 1;
                continue;
            }
            let metric = match self.series.get(metric.as_str()) {
                Some(m) => m.clone(),
                None if self.series.len() >= MAX_PROM_SERIES => {
                    self.too_many += 1;
                    continue;
                }
                None => {
                    let m: Arc<str> = metric.into();
                    self.series.insert(m.clone());
                    m
                }
            };
            out.push(Point {
                metric,
                t0: t,
                t1: t,
                value,
            });
        }
        out
    }

    /// What was left out of this endpoint's samples, as notes.
    pub fn notes(&self, endpoint: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |n: usize, what: String| {
            if n > 0 {
                out.push(format!("monitor: prometheus {endpoint}: {what}"));
            }
        };
        say(
            self.non_finite,
            format!("{} NaN or infinite samples not kept", self.non_finite),
        );
        say(
            self.bad_names,
            format!(
                "{} samples not kept: their name with its labels is over {} bytes or holds a control character",
                self.bad_names,
                MAX_PROM_NAME - "prom.".len()
            ),
        );
        say(
            self.too_many,
            format!(
                "{} samples of series beyond the first {MAX_PROM_SERIES} not kept",
                self.too_many
            ),
        );
        say(
            self.cut,
            format!(
                "{} answers over {} MiB were cut there (their last line dropped)",
                self.cut,
                prom::MAX_BODY >> 20
            ),
        );
        // When none succeeded, the note of the first error says it already.
        say(
            if self.ok > 0 { self.unreadable } else { 0 },
            format!(
                "{} answers could not be read (the first: {})",
                self.unreadable,
                self.first_unreadable.as_deref().unwrap_or("")
            ),
        );
        say(
            self.empty,
            format!(
                "{} of {} answers held no sample (the first began {:?})",
                self.empty,
                self.ok,
                self.first_empty.as_deref().unwrap_or("")
            ),
        );
        out
    }
}

/// Monitoring of one run, between `start` and `stop`.
pub(crate) struct RunMonitor {
    probes: Vec<Probe>,
    scrapers: Vec<Scraper>,
    stop: watch::Sender<bool>,
    budget: Arc<Budget>,
    /// The role's interfaces for the `mon.net.*` sums (the cluster file's, else all).
    interfaces: BTreeMap<String, Vec<String>>,
    /// The summaries a run gets.
    kinds: Vec<&'static str>,
    notes: Vec<String>,
}

/// The samples of a run, once monitoring stopped.
#[derive(Debug, Default)]
pub struct Samples {
    /// The samples of each sampler and scraper and the role they describe: each a value
    /// over `[t0, t1]` (seconds since the run started; `t0 == t1` for a gauge or a scrape).
    pub sources: Vec<(String, Vec<Point>)>,
    pub interfaces: BTreeMap<String, Vec<String>>,
    /// Roles whose samples are those of a sampler shared with other roles (one machine, one
    /// namespace, the same CPUs): role -> its samples' label (`client+server`).
    pub shared: BTreeMap<String, String>,
    /// The summaries a run gets (`SUMMARIES` names); `None`: all.
    pub kinds: Option<Vec<&'static str>>,
    pub notes: Vec<String>,
}

/// `MAX_SAMPLES` and `MAX_CSV_BYTES` shared by every sampler and scraper of a run.
#[derive(Default)]
struct Budget(Mutex<Spent>);

#[derive(Default)]
struct Spent {
    taken: usize,
    bytes: usize,
    dropped: usize,
    /// Every series name of the run, held once.
    names: HashSet<Arc<str>>,
}

impl Budget {
    /// Keeps what fits of `points` (samples of `role`) in `into`.
    fn keep(&self, role: &str, into: &mut Vec<Point>, points: Vec<Point>) {
        let mut spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for mut p in points {
            let cost = role.len() + p.metric.len() + ROW_BYTES;
            if spent.taken >= MAX_SAMPLES || spent.bytes + cost > MAX_CSV_BYTES {
                spent.dropped += 1;
                continue;
            }
            spent.taken += 1;
            spent.bytes += cost;
            match spent.names.get(&p.metric) {
                Some(name) => p.metric = name.clone(),
                None => {
                    spent.names.insert(p.metric.clone());
                }
            }
            into.push(p);
        }
    }

    fn dropped(&self) -> usize {
        self.0.lock().map_or(0, |s| s.dropped)
    }
}

/// `0.2` for 200 ms: the sampler's `sleep` argument.
fn interval_arg(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

impl RunMonitor {
    /// Starts sampling the monitored roles (`spec.roles`, else `run_roles`) and scraping the
    /// endpoints. `first_readings` then waits for the samplers' first readings; `stop` must
    /// be called whatever happens.
    pub(crate) async fn start(
        spec: &Monitor,
        machines: &Machines,
        run_roles: &[String],
        run_start: Instant,
    ) -> RunMonitor {
        let roles: Vec<String> = spec
            .roles
            .clone()
            .unwrap_or_else(|| run_roles.to_vec())
            .into_iter()
            .filter(|r| !machines.nodes(r).is_empty())
            .collect();
        let (stop, _) = watch::channel(false);
        let mut m = RunMonitor {
            probes: Vec::new(),
            scrapers: Vec::new(),
            stop,
            budget: Arc::new(Budget::default()),
            interfaces: BTreeMap::new(),
            kinds: spec.summaries.clone(),
            notes: Vec::new(),
        };
        // `metrics: []` scrapes Prometheus endpoints only.
        // One sampler per machine of a role; a role of several machines labels its samples
        // and summaries `role.node`, like its steps' results.
        for role in roles.iter().filter(|_| !spec.metrics.is_empty()) {
            for (i, b) in machines.nodes(role).iter().enumerate() {
                let label = machines.node_label(role, i);
                if let Err(e) = m.start_probe(spec, b, &label, run_start).await {
                    m.notes.push(format!("monitor: no sampler on {label}: {e}"));
                }
            }
        }
        for e in &spec.prometheus {
            for (i, b) in machines.nodes(&e.role).iter().enumerate() {
                let label = machines.node_label(&e.role, i);
                m.start_scraper(spec.interval, e, b, &label, run_start)
                    .await;
            }
        }
        m
    }

    /// Waits (at most `FIRST_TICK_TIMEOUT`) until every sampler of this machine has taken its
    /// first reading, so that the samples cover the first step; a cancel ends the wait.
    pub(crate) async fn first_readings(&mut self, mut cancel: watch::Receiver<bool>) {
        let cancelled = async {
            // A sender gone can no longer cancel.
            if cancel.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = self.first_ticks() => {}
            _ = cancelled => {}
        }
    }

    async fn start_probe(
        &mut self,
        spec: &Monitor,
        b: &RoleBinding,
        role: &str,
        run_start: Instant,
    ) -> Result<(), String> {
        // A role on the machine, namespace and CPUs of one already sampled shares its sampler.
        let place = (
            Arc::as_ptr(&b.transport) as *const () as usize,
            b.namespace.clone(),
            b.cpu_id.clone(),
        );
        let listed: Vec<String> = b.interfaces.iter().map(|i| i.name.clone()).collect();
        if let Some(p) = self.probes.iter_mut().find(|p| p.place == place) {
            p.role = format!("{}+{role}", p.role);
            self.interfaces
                .insert(role.to_string(), interfaces_to_sum(listed, &b.ip));
            return Ok(());
        }
        let env = vec![
            ("MPF_MON_INTERVAL".to_string(), interval_arg(spec.interval)),
            ("MPF_MON_METRICS".to_string(), spec.metrics.join(" ")),
        ];
        // In the role's namespace for its interfaces, never pinned: the sampler must not
        // load the CPU it measures.
        let wrap = wrap_for(b.namespace.as_deref(), None);
        let spawn = b.transport.spawn(SAMPLER, &env, &wrap);
        let proc = tokio::time::timeout(FIRST_TICK_TIMEOUT, spawn)
            .await
            .map_err(|_| "no ssh session became free".to_string())?
            .map_err(|e| e.to_string())?;
        let scope = match b.cpu_id.as_deref().map(rates::parse_cpu_list) {
            Some(Some(cpus)) => CpuScope::Pinned(cpus),
            _ => CpuScope::Machine,
        };
        let (first_tx, first) = watch::channel(false);
        let clock = match b.transport.ssh_command() {
            None => Clock::shared(run_start.elapsed().as_secs_f64()),
            Some(_) => None,
        };
        let reader = SamplerReader {
            scope,
            clock: clock.unwrap_or_default(),
            ..SamplerReader::default()
        };
        let reader = tokio::spawn(read_sampler(
            role.to_string(),
            proc.output_so_far().0,
            reader,
            run_start,
            spec.interval,
            first_tx,
            self.stop.subscribe(),
            self.budget.clone(),
        ));
        self.interfaces
            .insert(role.to_string(), interfaces_to_sum(listed, &b.ip));
        let key = match b.transport.ssh_command() {
            Some((_, dest)) => format!("{role}@{dest}"),
            None => format!("{role}@local"),
        };
        self.probes.push(Probe {
            role: role.to_string(),
            place,
            key,
            transport: b.transport.clone(),
            proc,
            reader,
            first,
        });
        Ok(())
    }

    async fn start_scraper(
        &mut self,
        interval: Duration,
        e: &Endpoint,
        b: &RoleBinding,
        label: &str,
        run_start: Instant,
    ) {
        let (host, forward) = match b.transport.ssh_command() {
            Some(ssh) => match prom::Forward::open(ssh, e.port).await {
                Ok(f) => ("127.0.0.1".to_string(), Some(f)),
                Err(err) => {
                    self.notes.push(format!(
                        "monitor: prometheus {label}:{}: no port forward: {err}",
                        e.port
                    ));
                    return;
                }
            },
            // A namespace of this machine is reached at the role's address.
            None if b.namespace.is_some() => (b.ip.clone(), None),
            None => ("127.0.0.1".to_string(), None),
        };
        let port = forward.as_ref().map_or(e.port, |f| f.local_port);
        let task = tokio::spawn(scrape(
            label.to_string(),
            host,
            port,
            e.clone(),
            interval,
            run_start,
            forward,
            self.stop.subscribe(),
            self.budget.clone(),
        ));
        self.scrapers.push(Scraper {
            role: label.to_string(),
            port: e.port,
            task,
        });
    }

    async fn first_ticks(&mut self) {
        let deadline = tokio::time::Instant::now() + FIRST_TICK_TIMEOUT;
        // Over ssh too: a step starts as a line to a runner session, sooner than the
        // sampler's first reading comes back.
        for p in self.probes.iter_mut() {
            let earlier = silent().get(&p.key).cloned();
            if let Some(why) = earlier {
                if !*p.first.borrow() {
                    let why = if why.is_empty() {
                        why
                    } else {
                        format!(" ({why})")
                    };
                    self.notes.push(format!(
                        "monitor: the sampler on {} printed nothing in an earlier run{why}: the run did not wait for its first reading",
                        p.role
                    ));
                }
                continue;
            }
            let got = tokio::time::timeout_at(deadline, p.first.wait_for(|v| *v)).await;
            if !matches!(got, Ok(Ok(_))) {
                silent().insert(p.key.clone(), String::new());
                self.notes.push(format!(
                    "monitor: the sampler on {} printed nothing within {}s (later runs do not wait for it)",
                    p.role,
                    FIRST_TICK_TIMEOUT.as_secs()
                ));
            }
        }
    }

    /// Stops every sampler (each takes a last reading as it goes) and scraper at once, and
    /// gives the run's samples when they are all gone (a task: the run goes on meanwhile).
    pub(crate) fn stop(self, grace: Duration) -> JoinHandle<Samples> {
        tokio::spawn(self.stop_now(grace))
    }

    async fn stop_now(self, grace: Duration) -> Samples {
        let mut stops = tokio::task::JoinSet::new();
        for p in &self.probes {
            let (t, pgid) = (p.transport.clone(), p.proc.pgid);
            stops.spawn(async move { t.stop_group(pgid, grace).await });
        }
        while stops.join_next().await.is_some() {}
        let mut shared = BTreeMap::new();
        for p in self.probes.iter().filter(|p| p.role.contains('+')) {
            for r in p.role.split('+') {
                shared.insert(r.to_string(), p.role.clone());
            }
        }
        // Every byte the samplers printed is in their captures once `finish` returns; only
        // then do the readers take their last look.
        let mut ended = Vec::new();
        for p in self.probes {
            let status = p.proc.finish(false).await;
            ended.push((p.role, p.key, p.reader, status));
        }
        let _ = self.stop.send(true);
        let mut out = Samples {
            interfaces: self.interfaces,
            shared,
            kinds: Some(self.kinds),
            notes: self.notes,
            ..Samples::default()
        };
        for (role, key, reader, status) in ended {
            let points = reader.await.unwrap_or_default();
            if !points.is_empty() {
                silent().remove(&key);
            }
            if points.is_empty() {
                let why = last_line(&status.stderr);
                if !why.is_empty() {
                    if let Some(known) = silent().get_mut(&key) {
                        known.clone_from(&why);
                    }
                }
                let why = if why.is_empty() {
                    why
                } else {
                    format!(": {why}")
                };
                out.notes.push(format!(
                    "monitor: no samples from {role} ({}){why}",
                    status
                        .exit
                        .map_or("killed".to_string(), |c| format!("exit {c}")),
                ));
            }
            out.extend(&role, points);
        }
        for s in self.scrapers {
            let got = s.task.await.unwrap_or_default();
            if got.ok == 0 && got.failed > 0 {
                out.notes.push(format!(
                    "monitor: prometheus on {}: none of {} scrapes succeeded ({})",
                    s.role,
                    got.failed,
                    got.first_error.clone().unwrap_or_default()
                ));
            }
            out.notes
                .extend(got.notes(&format!("on {}:{}", s.role, s.port)));
            out.extend(&s.role, got.points);
        }
        let dropped = self.budget.dropped();
        if dropped > 0 {
            out.notes.push(format!(
                "monitor: {dropped} samples beyond the limit of {MAX_SAMPLES} samples or {} MiB of monitor.csv per run were not kept",
                MAX_CSV_BYTES >> 20
            ));
        }
        out
    }
}

/// The last line of a sampler's stderr (empty if none), to say why it gave nothing.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map_or_else(String::new, |l| l.trim().to_string())
}

/// Reads a sampler's output as it arrives (from the step's capture, which keeps far more
/// than a poll's worth) until told to stop, then reads what is left, and places the samples
/// on the controller's clock.
#[allow(clippy::too_many_arguments)]
async fn read_sampler(
    role: String,
    out: SharedBuf,
    mut reader: SamplerReader,
    run_start: Instant,
    interval: Duration,
    first: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
    budget: Arc<Budget>,
) -> Vec<Point> {
    let mut points = Vec::new();
    // A remote clock is placed from the ticks that arrived soonest: frequent polls see
    // arrivals when they happen. The local clock is the controller's own.
    let pause = match reader.clock {
        Clock::Shared(_) => (interval / 2).min(Duration::from_millis(250)),
        Clock::Remote(_) => Duration::from_millis(10),
    };
    loop {
        let now = run_start.elapsed().as_secs_f64();
        budget.keep(&role, &mut points, reader.drain(&out, now));
        if reader.prev.is_some() {
            first.send_if_modified(|v| !std::mem::replace(v, true));
        }
        let wait = if reader.prev.is_some() {
            pause
        } else {
            Duration::from_millis(2)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|v| *v) => break,
        }
    }
    let now = run_start.elapsed().as_secs_f64();
    budget.keep(&role, &mut points, reader.drain(&out, now));
    reader.place(&mut points);
    points
}

/// How a machine's uptime maps to seconds since the run started: `time = uptime + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Clock {
    /// This machine (network namespaces share its uptime): the offset is known exactly.
    Shared(f64),
    /// Another machine: the least `arrival - uptime` over its ticks, that is the tick that
    /// took the least time to arrive (ssh's buffering and a busy controller only delay).
    Remote(Option<f64>),
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::Remote(None)
    }
}

impl Clock {
    /// The local clock, read now: `now` seconds after the run started.
    fn shared(now: f64) -> Option<Clock> {
        let text = std::fs::read_to_string("/proc/uptime").ok()?;
        let up: f64 = text.split_whitespace().next()?.parse().ok()?;
        Some(Clock::Shared(now - up))
    }
}

/// The state of reading one sampler's output.
#[derive(Default)]
struct SamplerReader {
    scope: CpuScope,
    clock: Clock,
    /// Bytes of the stream consumed so far.
    offset: u64,
    /// An incomplete last line.
    carry: String,
    parser: TickParser,
    prev: Option<Tick>,
}

impl SamplerReader {
    /// The samples of the ticks that arrived since the last call (`now` seconds after the
    /// run started), timed by the machine's uptime until `place`.
    fn drain(&mut self, out: &SharedBuf, now: f64) -> Vec<Point> {
        let new = match out.lock() {
            Ok(c) => {
                let (start, bytes) = c.since(self.offset);
                self.offset = start + bytes.len() as u64;
                String::from_utf8_lossy(bytes).into_owned()
            }
            Err(_) => return Vec::new(),
        };
        self.carry.push_str(&new);
        let Some(end) = self.carry.rfind('\n') else {
            return Vec::new();
        };
        let complete: String = self.carry.drain(..=end).collect();
        let mut points = Vec::new();
        for line in complete.lines() {
            if let Some(tick) = self.parser.line(line) {
                points.extend(self.tick(tick, now));
            }
        }
        points
    }

    fn tick(&mut self, tick: Tick, now: f64) -> Vec<Point> {
        if let Clock::Remote(best) = &mut self.clock {
            let seen = now - tick.uptime;
            *best = Some(best.map_or(seen, |b| b.min(seen)));
        }
        let points = rates::points(self.prev.as_ref(), &tick, &self.scope, |u| u);
        self.prev = Some(tick);
        points
    }

    /// Moves samples from the machine's uptime to seconds since the run started.
    fn place(&self, points: &mut [Point]) {
        let offset = match self.clock {
            Clock::Shared(o) => o,
            Clock::Remote(o) => o.unwrap_or(0.0),
        };
        for p in points {
            p.t0 += offset;
            p.t1 += offset;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn scrape(
    role: String,
    host: String,
    port: u16,
    e: Endpoint,
    interval: Duration,
    run_start: Instant,
    forward: Option<prom::Forward>,
    mut stop: watch::Receiver<bool>,
    budget: Arc<Budget>,
) -> Scraped {
    let mut got = Scraped::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = interval.clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|v| *v) => break,
        }
        match prom::get(&host, port, &e.path, timeout).await {
            Ok(answer) => {
                got.ok += 1;
                got.cut += usize::from(answer.cut);
                let t = run_start.elapsed().as_secs_f64();
                let (found, read) = prom::samples(&answer.body, e.matches.as_ref());
                if read == 0 {
                    got.empty += 1;
                    got.first_empty
                        .get_or_insert_with(|| answer.body.chars().take(40).collect());
                }
                let points = got.points(found, t);
                budget.keep(&role, &mut got.points, points);
            }
            Err(prom::Failure::Unreachable(err)) => {
                got.failed += 1;
                got.first_error.get_or_insert(err);
            }
            Err(prom::Failure::Unreadable(err)) => {
                got.failed += 1;
                got.unreadable += 1;
                got.first_unreadable.get_or_insert(err.clone());
                got.first_error.get_or_insert(err);
            }
        }
    }
    if let Some(f) = forward {
        f.close().await;
    }
    got
}

impl Samples {
    /// Adds the samples of a sampler or scraper of `role`.
    pub fn extend(&mut self, role: &str, points: Vec<Point>) {
        self.sources.push((role.to_string(), points));
    }

    /// Writes `monitor.csv` (`time,role,metric,value`, by time) to `out`, row by row.
    pub fn write_csv(&self, out: impl std::io::Write) -> std::io::Result<()> {
        // (source, sample) indices: 8 bytes a row while sorting.
        let mut rows: Vec<(u32, u32)> = Vec::new();
        for (i, (_, points)) in self.sources.iter().enumerate() {
            rows.extend((0..points.len()).map(|j| (i as u32, j as u32)));
        }
        let at = |(i, j): (u32, u32)| {
            let (role, points) = &self.sources[i as usize];
            (role.as_str(), &points[j as usize])
        };
        rows.sort_by(|a, b| at(*a).1.t1.total_cmp(&at(*b).1.t1));
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["time", "role", "metric", "value"])?;
        for r in rows {
            let (role, p) = at(r);
            w.write_record([
                format!("{:.3}", p.t1).as_str(),
                role,
                &p.metric,
                p.value.to_string().as_str(),
            ])?;
        }
        w.flush()
    }

    /// `monitor.csv` in memory.
    #[cfg(test)]
    fn csv(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_csv(&mut out).unwrap();
        out
    }

    /// The `mon.*` results of every sampled role over `window` (seconds since the run
    /// started: the first step's start to the last step's end).
    pub fn summaries(&self, window: (f64, f64)) -> Map<String, Value> {
        self.summaries_named(window, "")
    }

    /// The summaries over each step of `steps` (the run's records of its steps) whose name
    /// is in `windows`: from the step's first start to its last end, named
    /// `mon.<kind>.<role>@<step>`. A step that did not start gets none.
    pub fn step_summaries(
        &self,
        windows: &[String],
        steps: &[crate::store::record::StepRecord],
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for w in windows {
            let spans = steps
                .iter()
                .filter(|s| &s.name == w)
                .filter_map(|s| Some((s.start?, s.start? + s.duration)));
            let span = spans.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
            if let Some(span) = span {
                out.extend(self.summaries_named(span, &format!("@{w}")));
            }
        }
        out
    }

    /// The summaries over `window`, each name followed by `suffix`.
    fn summaries_named(&self, window: (f64, f64), suffix: &str) -> Map<String, Value> {
        let mut by_source: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
        for (role, points) in &self.sources {
            by_source
                .entry(role)
                .or_default()
                .extend(points.iter().filter(|p| !p.metric.starts_with("prom.")));
        }
        // A shared sampler's samples are every one of its roles'.
        let mut by_role: Vec<(&str, &Vec<&Point>)> = Vec::new();
        for (source, points) in &by_source {
            let named: Vec<&str> = self
                .shared
                .iter()
                .filter(|(_, s)| s == source)
                .map(|(r, _)| r.as_str())
                .collect();
            if named.is_empty() {
                by_role.push((source, points));
            } else {
                by_role.extend(named.into_iter().map(|r| (r, points)));
            }
        }
        let mut out = Map::new();
        for (role, points) in by_role {
            let ifaces = self.interfaces.get(role).cloned().unwrap_or_default();
            for (name, v) in role_summaries(points, window, &ifaces) {
                if self.kinds.as_ref().is_some_and(|k| !k.contains(&name)) {
                    continue;
                }
                // Rounded like every converted result: a mean of 100s is 100, not
                // 100.00000000000001.
                if let Some(n) = v
                    .filter(|v| v.is_finite())
                    .map(crate::units::round_15)
                    .and_then(serde_json::Number::from_f64)
                {
                    out.insert(format!("mon.{name}.{role}{suffix}"), Value::Number(n));
                }
            }
        }
        out
    }

    /// Writes `monitor.csv` into the run's directory and adds the summaries to `results`;
    /// returns the error when the file cannot be written (a full disk).
    pub fn finish(
        &self,
        run_dir: &Path,
        window: (f64, f64),
        windows: (&[String], &[crate::store::record::StepRecord]),
        results: &mut Map<String, Value>,
    ) -> Result<(), String> {
        results.extend(self.summaries(window));
        results.extend(self.step_summaries(windows.0, windows.1));
        let path = run_dir.join(crate::store::layout::MONITOR_CSV);
        crate::store::writer::write_atomic_with(&path, |w| {
            self.write_csv(w).map_err(|e| {
                crate::error::Error::io(format!("failed to write {}", path.display()), e)
            })
        })
        .map_err(|e| e.to_string())
    }
}

/// Mean of a rate series over `window`: each sample weighed by how much of its interval lies
/// in the window. `None` when no sample overlaps it.
fn window_mean<'a>(points: impl Iterator<Item = &'a Point>, window: (f64, f64)) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for p in points {
        let overlap = p.t1.min(window.1) - p.t0.max(window.0);
        if overlap > 0.0 {
            sum += p.value * overlap;
            weight += overlap;
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

fn overlaps(p: &Point, window: (f64, f64)) -> bool {
    p.t1.min(window.1) > p.t0.max(window.0)
}

/// The samples of one metric.
fn series<'a>(points: &'a [&'a Point], metric: &str) -> std::vec::IntoIter<&'a Point> {
    let of: Vec<&Point> = points
        .iter()
        .copied()
        .filter(|p| &*p.metric == metric)
        .collect();
    of.into_iter()
}

/// `(name, value)` of one role's summaries, in the order of `SUMMARIES`.
fn role_summaries(
    points: &[&Point],
    window: (f64, f64),
    listed: &[String],
) -> Vec<(&'static str, Option<f64>)> {
    let series = |m: &str| series(points, m);
    // A weighted mean of 100s can come out a rounding above 100.
    let cpu = window_mean(series("cpu"), window).map(|v| v.clamp(0.0, 100.0));
    let cpu_max = series("cpu")
        .filter(|p| overlaps(p, window))
        .map(|p| p.value)
        .reduce(f64::max);
    // A gauge read at the end of the run (the sampler's last reading) still counts.
    let mem = series("mem")
        .filter(|p| p.t1 >= window.0)
        .map(|p| p.value)
        .reduce(f64::max);
    // The sum of the window means of `<group>.<name>.<dir>` over `names`; none without samples.
    let summed = |group: &str, names: &[&str], dir: &str| -> Option<f64> {
        let means: Vec<f64> = names
            .iter()
            .filter_map(|n| window_mean(series(&format!("{group}.{n}.{dir}")), window))
            .collect();
        (!means.is_empty()).then(|| means.iter().sum())
    };
    let ifaces = interfaces_for_sums(points, window, listed);
    let ifaces: Vec<&str> = ifaces.iter().map(String::as_str).collect();
    let net = |dir: &str| summed("net", &ifaces, dir);
    let devices: Vec<&str> = points
        .iter()
        .filter_map(|p| p.metric.strip_prefix("disk.")?.strip_suffix(".read"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let disk = |dir: &str| summed("disk", &devices, dir);
    vec![
        ("cpu", cpu),
        ("cpu.max", cpu_max),
        ("mem", mem),
        ("net.rx", net("rx")),
        ("net.tx", net("tx")),
        ("disk.read", disk("read")),
        ("disk.write", disk("write")),
    ]
}

/// The interfaces a role's `mon.net.*` sums are fixed to before the run: those the cluster
/// file lists for it, or loopback when the role is reached at a loopback address (every role
/// of a run without a cluster file: its traffic goes over `lo`, whatever else the machine's
/// other interfaces carry at the same time). Empty: decided from the samples.
fn interfaces_to_sum(listed: Vec<String>, ip: &str) -> Vec<String> {
    let listed: Vec<String> = listed.into_iter().filter(|n| !n.is_empty()).collect();
    let loopback = ip == "localhost"
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if listed.is_empty() && loopback {
        vec!["lo".to_string()]
    } else {
        listed
    }
}

/// The interfaces whose traffic `mon.net.*` sums: those the cluster file lists for the role,
/// else every interface sampled but loopback, or loopback alone when nothing else carried
/// traffic in the window.
fn interfaces_for_sums(points: &[&Point], window: (f64, f64), listed: &[String]) -> Vec<String> {
    if !listed.is_empty() {
        return listed.to_vec();
    }
    let mut all: Vec<&str> = points
        .iter()
        .filter_map(|p| p.metric.strip_prefix("net.")?.strip_suffix(".rx"))
        .collect();
    all.sort_unstable();
    all.dedup();
    let others: Vec<String> = all
        .iter()
        .filter(|i| **i != "lo")
        .map(|i| i.to_string())
        .collect();
    let busy = points.iter().any(|p| {
        overlaps(p, window)
            && p.value > 0.0
            && p.metric
                .strip_prefix("net.")
                .and_then(|m| m.rsplit_once('.'))
                .is_some_and(|(i, d)| i != "lo" && (d == "rx" || d == "tx"))
    });
    if busy || !all.contains(&"lo") {
        others
    } else {
        vec!["lo".to_string()]
    }
}

/// The summaries of a role: `mon.<kind>.<role>` (defined with the `summaries:` check).
pub(crate) use crate::spec::monitor::SUMMARIES;

/// The result names monitoring gives `role`, over the whole run and over each step of
/// `windows` (no `mpf-result` line may take them).
pub(crate) fn result_names<'a>(
    role: &'a str,
    windows: &'a [String],
) -> impl Iterator<Item = String> + 'a {
    let suffixes = std::iter::once(String::new()).chain(windows.iter().map(|w| format!("@{w}")));
    suffixes.flat_map(move |w| SUMMARIES.iter().map(move |k| format!("mon.{k}.{role}{w}")))
}

pub(crate) use crate::spec::monitor::result_info;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(metric: &str, t0: f64, t1: f64, value: f64) -> Point {
        Point {
            metric: metric.into(),
            t0,
            t1,
            value,
        }
    }

    #[test]
    fn ticks_are_placed_on_the_controllers_clock_from_their_uptime() {
        let out: SharedBuf = Default::default();
        let mut r = SamplerReader {
            clock: Clock::Shared(-500.0),
            ..SamplerReader::default()
        };
        let push = |b: &[u8]| out.lock().unwrap().push(b);
        // A tick split across reads, and a line cut in the middle.
        push(b"t 500.00\nc cpu 0 0\nm 1");
        assert!(r.drain(&out, 9.0).is_empty());
        push(b"0\ne\nt 500.25\nc cpu 50 100\nm 20\ne\nt 501.25\nc cpu");
        let mut ps = r.drain(&out, 9.0);
        push(b" 60 200\ne\n");
        ps.extend(r.drain(&out, 9.0));
        r.place(&mut ps);
        let at = |m: &str| ps.iter().filter(|p| &*p.metric == m).collect::<Vec<_>>();
        // This machine's uptime is the controller's: arrival times do not matter.
        assert_eq!(at("mem")[0].t1, 0.0);
        assert_eq!(at("mem")[0].value, 10.0 * 1024.0);
        let cpu: Vec<(f64, f64, f64)> = at("cpu").iter().map(|p| (p.t0, p.t1, p.value)).collect();
        assert_eq!(cpu, [(0.0, 0.25, 50.0), (0.25, 1.25, 10.0)]);
    }

    #[test]
    fn a_remote_clock_is_placed_by_the_tick_that_arrived_soonest() {
        let out: SharedBuf = Default::default();
        let mut r = SamplerReader::default();
        let push = |b: &[u8]| out.lock().unwrap().push(b);
        // Uptime 100.0 read 0.3 s into the run but seen at 1.5 s (the controller was busy),
        // uptime 100.2 seen at 0.52 s: the second tells the truth within 20 ms.
        push(b"t 100.00\nc cpu 0 0\ne\n");
        let mut ps = r.drain(&out, 1.5);
        push(b"t 100.20\nc cpu 10 20\ne\n");
        ps.extend(r.drain(&out, 0.52));
        r.place(&mut ps);
        assert_eq!(ps.len(), 1);
        assert!(
            (ps[0].t0 - 0.32).abs() < 1e-9 && (ps[0].t1 - 0.52).abs() < 1e-9,
            "{ps:?}"
        );
    }

    #[test]
    fn samples_beyond_the_limit_are_dropped_and_counted() {
        let budget = Budget::default();
        budget.0.lock().unwrap().taken = MAX_SAMPLES - 2;
        let mut kept = Vec::new();
        budget.keep(
            "r",
            &mut kept,
            (0..5).map(|i| p("cpu", 0.0, 1.0, i as f64)).collect(),
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(budget.dropped(), 3);
        budget.keep("r", &mut kept, vec![p("mem", 1.0, 1.0, 1.0)]);
        assert_eq!((kept.len(), budget.dropped()), (2, 4));
        // One name per series, however many samples.
        assert!(Arc::ptr_eq(&kept[0].metric, &kept[1].metric));
    }

    #[test]
    fn samples_beyond_the_csv_bytes_are_dropped() {
        let budget = Budget::default();
        let long = "x".repeat(1000);
        let mut kept = Vec::new();
        let n = MAX_CSV_BYTES / (1000 + 1 + ROW_BYTES);
        budget.keep(
            "r",
            &mut kept,
            (0..n + 3).map(|i| p(&long, 0.0, 1.0, i as f64)).collect(),
        );
        assert_eq!((kept.len(), budget.dropped()), (n, 3));
    }

    #[test]
    fn prometheus_samples_mpf_cannot_record_are_left_out_with_notes() {
        let long = format!("big{{l=\"{}\"}} 1\n", "v".repeat(MAX_PROM_NAME));
        let text = format!("a 1\nb NaN\nc +Inf\n{long}d{{x=\"\u{1}\"}} 2\n");
        let mut got = Scraped::default();
        let (found, read) = prom::samples(&text, None);
        assert_eq!(read, 5);
        got.ok = 1;
        let ps = got.points(found, 1.0);
        assert_eq!(ps.len(), 1, "{ps:?}");
        assert_eq!(&*ps[0].metric, "prom.a");
        let notes = got.notes("on r:9100").join("\n");
        assert!(
            notes.contains("prometheus on r:9100: 2 NaN or infinite samples not kept"),
            "{notes}"
        );
        assert!(
            notes.contains("2 samples not kept: their name with its labels is over 1019 bytes"),
            "{notes}"
        );
        // Series beyond the limit.
        let many: String = (0..MAX_PROM_SERIES + 5)
            .map(|i| format!("s{i} 1\n"))
            .collect();
        let (found, _) = prom::samples(&many, None);
        assert_eq!(got.points(found, 2.0).len(), MAX_PROM_SERIES - 1);
        assert!(got
            .notes("x")
            .join("")
            .contains("6 samples of series beyond the first 10000"));
    }

    /// Scrapes a local server that gives `answers` in turn (then the last again) for
    /// `scrapes` intervals of 20 ms; the notes of the endpoint.
    async fn scrape_answers(answers: Vec<Vec<u8>>, scrapes: u32) -> (Scraped, Vec<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            for i in 0.. {
                let Ok((mut c, _)) = l.accept().await else {
                    return;
                };
                let mut req = vec![0u8; 4096];
                let _ = c.read(&mut req).await;
                let _ = c.write_all(&answers[i.min(answers.len() - 1)]).await;
            }
        });
        let (stop, stopped) = watch::channel(false);
        let e = Endpoint {
            role: "r".into(),
            port,
            path: "/metrics".into(),
            matches: None,
            loc: Default::default(),
        };
        let task = tokio::spawn(scrape(
            "r".into(),
            "127.0.0.1".into(),
            port,
            e,
            Duration::from_millis(20),
            Instant::now(),
            None,
            stopped,
            Arc::new(Budget::default()),
        ));
        tokio::time::sleep(Duration::from_millis(20) * scrapes).await;
        stop.send(true).unwrap();
        let got = task.await.unwrap();
        let notes = got.notes("on r:1");
        (got, notes)
    }

    #[tokio::test]
    async fn garbage_compressed_and_empty_answers_leave_notes() {
        let ok = b"HTTP/1.0 200 OK\r\n\r\nup 1\n".to_vec();
        let (got, notes) = scrape_answers(
            vec![
                ok.clone(),
                b"\x00\x01garbage".to_vec(),
                b"HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b".to_vec(),
                b"HTTP/1.0 200 OK\r\n\r\n<html>not metrics</html>\n".to_vec(),
                ok,
            ],
            10,
        )
        .await;
        assert!(got.points.iter().all(|p| &*p.metric == "prom.up"));
        let notes = notes.join("\n");
        assert!(
            notes.contains(
                "prometheus on r:1: 2 answers could not be read (the first: not an HTTP answer)"
            ),
            "{notes}"
        );
        assert!(
            notes.contains(
                "answers held no sample (the first began \"<html>not metrics</html>\\n\")"
            ),
            "{notes}"
        );
    }

    #[test]
    fn no_interface_read_gives_no_net_value_not_zero() {
        // A namespace whose /proc/net/dev lists no interface: the ticks hold no `n` line.
        let out: SharedBuf = Default::default();
        let mut r = SamplerReader {
            clock: Clock::Shared(-100.0),
            ..SamplerReader::default()
        };
        out.lock()
            .unwrap()
            .push(b"t 100.0\nc cpu 0 0\ne\nt 101.0\nc cpu 50 100\ne\n");
        let mut ps = r.drain(&out, 2.0);
        r.place(&mut ps);
        for listed in [vec![], vec!["lo".to_string()]] {
            let mut samples = Samples::default();
            samples.extend("r", ps.clone());
            samples.interfaces.insert("r".into(), listed);
            let s = samples.summaries((0.0, 1.0));
            assert_eq!(s["mon.cpu.r"], 50.0);
            assert!(
                !s.contains_key("mon.net.rx.r") && !s.contains_key("mon.net.tx.r"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn window_means_weigh_samples_by_their_overlap() {
        let ps = [
            p("cpu", 0.0, 1.0, 100.0),
            p("cpu", 1.0, 2.0, 0.0),
            p("cpu", 2.0, 3.0, 50.0),
        ];
        assert_eq!(window_mean(ps.iter(), (0.5, 2.0)), Some(100.0 / 3.0));
        assert_eq!(window_mean(ps.iter(), (0.0, 3.0)), Some(50.0));
        assert_eq!(window_mean(ps.iter(), (5.0, 6.0)), None);
    }

    fn step(name: &str, start: f64, duration: f64) -> crate::store::record::StepRecord {
        crate::store::record::StepRecord {
            name: name.into(),
            role: "client".into(),
            host: "localhost".into(),
            node: None,
            exit: Some(0),
            duration,
            timed_out: false,
            background: false,
            start: Some(start),
        }
    }

    #[test]
    fn a_shared_sampler_gives_each_role_the_chosen_summaries_and_each_window_its_own() {
        // One sampler for client and server: 80 bit/s from 1 s to 3 s, idle before and after.
        let points = vec![
            p("cpu", 0.0, 1.0, 10.0),
            p("net.lo.tx", 0.0, 1.0, 0.0),
            p("net.lo.tx", 1.0, 3.0, 80.0),
            p("net.lo.tx", 3.0, 4.0, 0.0),
            p("net.lo.rx", 0.0, 4.0, 0.0),
        ];
        let samples = Samples {
            sources: vec![("client+server".into(), points)],
            shared: [("client", "client+server"), ("server", "client+server")]
                .map(|(r, s)| (r.to_string(), s.to_string()))
                .into(),
            kinds: Some(vec!["net.tx"]),
            ..Samples::default()
        };
        let whole = samples.summaries((0.0, 4.0));
        let names: Vec<&String> = whole.keys().collect();
        assert_eq!(names, ["mon.net.tx.client", "mon.net.tx.server"]);
        assert_eq!(whole["mon.net.tx.client"], 40.0);
        let steps = [step("send", 1.0, 2.0), step("idle", 3.0, 1.0)];
        let w = samples.step_summaries(&["send".to_string()], &steps);
        assert_eq!(w["mon.net.tx.client@send"], 80.0);
        assert_eq!(w["mon.net.tx.server@send"], 80.0);
        assert_eq!(w.len(), 2);
        // A step that never started gets no window.
        assert!(samples
            .step_summaries(&["later".to_string()], &steps)
            .is_empty());
    }

    #[test]
    fn monitoring_takes_the_names_of_every_summary_and_window() {
        let names: Vec<String> = result_names("c", &["send".to_string()]).collect();
        assert_eq!(names.len(), 2 * SUMMARIES.len());
        assert!(names.contains(&"mon.cpu.c".to_string()));
        assert!(names.contains(&"mon.disk.write.c@send".to_string()));
    }

    #[test]
    fn summaries_per_role() {
        let points = vec![
            p("mem", 0.0, 0.0, 10.0),
            p("mem", 1.0, 1.0, 30.0),
            p("cpu", 0.0, 1.0, 20.0),
            p("cpu", 1.0, 2.0, 60.0),
            p("net.lo.rx", 0.0, 2.0, 5.0),
            p("net.eth0.rx", 0.0, 2.0, 100.0),
            p("net.eth0.tx", 0.0, 2.0, 10.0),
            p("net.eth1.rx", 0.0, 2.0, 1.0),
            p("disk.vda.read", 0.0, 2.0, 4.0),
            p("disk.vda.write", 0.0, 2.0, 8.0),
            p("disk.vdb.read", 0.0, 2.0, 1.0),
            p("disk.vdb.write", 0.0, 2.0, 0.0),
        ];
        let samples = Samples {
            sources: vec![("server".into(), points)],
            ..Samples::default()
        };
        let s = samples.summaries((0.0, 2.0));
        let v = |k: &str| s[k].as_f64().unwrap();
        assert_eq!(v("mon.cpu.server"), 40.0);
        assert_eq!(v("mon.cpu.max.server"), 60.0);
        assert_eq!(v("mon.mem.server"), 30.0);
        assert_eq!(v("mon.net.rx.server"), 101.0, "loopback left out");
        assert_eq!(v("mon.net.tx.server"), 10.0);
        assert_eq!(v("mon.disk.read.server"), 5.0);
        assert_eq!(v("mon.disk.write.server"), 8.0);

        // The cluster file's interfaces only.
        let mut listed = samples;
        listed
            .interfaces
            .insert("server".into(), vec!["eth1".into()]);
        assert_eq!(listed.summaries((0.0, 2.0))["mon.net.rx.server"], 1.0);
    }

    #[test]
    fn a_role_at_a_loopback_address_sums_loopback() {
        let none = Vec::new;
        assert_eq!(interfaces_to_sum(none(), "127.0.0.1"), ["lo"]);
        assert_eq!(interfaces_to_sum(none(), "::1"), ["lo"]);
        assert_eq!(interfaces_to_sum(none(), "localhost"), ["lo"]);
        assert!(interfaces_to_sum(none(), "10.0.0.2").is_empty());
        assert!(interfaces_to_sum(vec![String::new()], "10.0.0.2").is_empty());
        // The cluster file's list wins.
        assert_eq!(
            interfaces_to_sum(vec!["eth1".into()], "127.0.0.1"),
            ["eth1"]
        );
    }

    #[test]
    fn a_cpu_busy_all_along_is_100_not_a_rounding_above() {
        let mut above = 0;
        for k in 1..500 {
            let (x, end) = (k as f64 * 0.01, 1.0 + k as f64 * 0.013);
            let (a, b) = (p("cpu", 0.0, x, 100.0), p("cpu", x, end, 100.0));
            above += usize::from(window_mean([&a, &b].into_iter(), (0.0, end)).unwrap() > 100.0);
            let s = role_summaries(&[&a, &b], (0.0, end), &[]);
            assert!(s[0].1.unwrap() <= 100.0, "{s:?}");
        }
        assert!(above > 0, "no rounding above 100 was tried");
    }

    #[test]
    fn loopback_counts_when_nothing_else_carries_traffic() {
        let a = p("net.lo.rx", 0.0, 1.0, 5.0);
        let b = p("net.eth0.rx", 0.0, 1.0, 0.0);
        let c = p("net.eth0.tx", 0.0, 1.0, 0.0);
        assert_eq!(interfaces_for_sums(&[&a, &b, &c], (0.0, 1.0), &[]), ["lo"]);
        let b = p("net.eth0.rx", 0.0, 1.0, 1.0);
        assert_eq!(
            interfaces_for_sums(&[&a, &b, &c], (0.0, 1.0), &[]),
            ["eth0"]
        );
    }

    #[test]
    fn csv_is_long_and_sorted_by_time() {
        let s = Samples {
            sources: vec![
                ("b".into(), vec![p("cpu", 1.0, 2.0, 12.5)]),
                ("a".into(), vec![p("prom.x{l=\"a,b\"}", 1.0, 1.0, 3.0)]),
            ],
            ..Samples::default()
        };
        let text = String::from_utf8(s.csv()).unwrap();
        assert_eq!(
            text,
            "time,role,metric,value\n1.000,a,\"prom.x{l=\"\"a,b\"\"}\",3\n2.000,b,cpu,12.5\n"
        );
    }

    #[test]
    fn every_summary_has_a_unit() {
        let names: Vec<String> = result_names("r", &[]).collect();
        assert_eq!(names.len(), SUMMARIES.len());
        assert!(names
            .iter()
            .all(|n| result_info(n).is_some_and(|i| !i.unit.is_empty())));
        let kinds: Vec<&str> = role_summaries(&[], (0.0, 1.0), &[])
            .iter()
            .map(|k| k.0)
            .collect();
        assert_eq!(kinds, SUMMARIES);
    }

    #[test]
    fn mon_results_have_units_and_directions() {
        let i = result_info("mon.cpu.max.server").unwrap();
        assert_eq!(
            (i.unit.as_str(), i.better),
            ("%", crate::model::Better::Lower)
        );
        assert_eq!(result_info("mon.net.rx.client").unwrap().unit, "bit/s");
        assert_eq!(result_info("mon.mem.a").unwrap().unit, "B");
        assert!(result_info("monitor.x").is_none());
        assert!(result_info("mon.other.x").is_none());
    }

    /// The sampler run as mpf runs it, stopped by a TERM to its group after `after`.
    fn sampler_ticks(interval: &str, after: &str) -> Vec<Tick> {
        let out = std::process::Command::new("timeout")
            .args(["-k", "5", "-s", "TERM", after, "sh", "-c", SAMPLER])
            .env("MPF_MON_INTERVAL", interval)
            .env("MPF_MON_METRICS", "cpu memory net disk")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parser = TickParser::default();
        text.lines().filter_map(|l| parser.line(l)).collect()
    }

    #[test]
    fn the_sampler_is_posix_sh_and_reads_this_machine() {
        let ticks = sampler_ticks("0.1", "0.5");
        assert!(ticks.len() >= 2, "{ticks:?}");
        assert!(ticks[0].cpu.contains_key("cpu") && ticks[0].mem_kib.is_some());
        assert!(ticks[0].net.contains_key("lo"), "{ticks:?}");
    }

    /// Whether the sampler `pid` is reading now (its awk is running).
    fn reading(pid: u32) -> bool {
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
        children.unwrap_or_default().split_whitespace().any(|c| {
            std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.contains("awk"))
        })
    }

    #[test]
    fn a_term_during_a_reading_stops_the_sampler_at_once() {
        // A TERM that lands while awk reads used to wait for the whole next sleep (3 s here)
        // before the last reading.
        use std::os::unix::process::CommandExt;
        // Under load the reading can be missed: try until one TERM landed in it (5 tries at
        // least, 30 at most).
        let mut caught = 0;
        for attempt in 0..30 {
            if attempt >= 5 && caught > 0 {
                break;
            }
            let mut child = std::process::Command::new("sh")
                .args(["-c", SAMPLER])
                .env("MPF_MON_INTERVAL", "3")
                .env("MPF_MON_METRICS", "cpu memory net disk cpufreq interrupts")
                .stdout(std::process::Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap();
            let spin = Instant::now();
            while !reading(child.id()) && spin.elapsed() < Duration::from_secs(1) {
                std::hint::spin_loop();
            }
            caught += usize::from(reading(child.id()));
            let start = Instant::now();
            // SAFETY: signalling the process group this test just created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
            child.wait().unwrap();
            let took = start.elapsed();
            assert!(took < Duration::from_millis(1500), "{took:?}");
        }
        assert!(caught > 0, "no TERM landed during a reading");
    }

    #[test]
    fn the_sampler_takes_a_last_reading_when_stopped() {
        // A 10 s interval stopped after 0.6 s: the first reading, then the one the TERM made.
        let ticks = sampler_ticks("10", "0.6");
        assert_eq!(ticks.len(), 2, "{ticks:?}");
        let gap = ticks[1].uptime - ticks[0].uptime;
        assert!((0.4..5.0).contains(&gap), "{gap}");
    }
}
