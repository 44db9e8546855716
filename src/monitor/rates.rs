//! The sampler's lines (`sampler.sh`) turned into samples: counters into rates between two
//! ticks, gauges as they are.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One tick of the sampler: every counter it read, by kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    /// Seconds since the machine booted (`/proc/uptime`, 10 ms resolution).
    pub uptime: f64,
    /// `cpu`, `cpu0`...: (busy, total) jiffies.
    pub cpu: BTreeMap<String, (u64, u64)>,
    /// Memory in use, KiB.
    pub mem_kib: Option<u64>,
    /// Interface: rx bytes, rx packets, rx drops, tx bytes, tx packets, tx drops.
    pub net: BTreeMap<String, [u64; 6]>,
    /// Device: sectors read, sectors written (512 bytes each, whatever the device).
    pub disk: BTreeMap<String, [u64; 2]>,
    /// `cpu0`...: kHz.
    pub freq: BTreeMap<String, u64>,
    /// IRQ (`all` for the total): interrupts since boot.
    pub irq: BTreeMap<String, u64>,
}

/// Series one sampler may produce; names beyond are ignored (a machine with absurdly many
/// interfaces or IRQs must not make mpf's memory grow with it).
pub const MAX_NAMES: usize = 4096;
/// Longest name (interface, device, IRQ) kept from a sampler line; longer ones are ignored.
pub const MAX_NAME_BYTES: usize = 128;

/// Assembles ticks from lines; a tick ends with `e`.
#[derive(Default)]
pub struct TickParser {
    cur: Option<Tick>,
    names: usize,
}

fn num(s: Option<&str>) -> Option<u64> {
    s?.parse().ok()
}

impl TickParser {
    /// Feeds one line; returns the tick it completes. Malformed lines are skipped.
    pub fn line(&mut self, line: &str) -> Option<Tick> {
        let mut f = line.split_ascii_whitespace();
        let kind = f.next()?;
        if kind == "t" {
            self.cur = None;
            let uptime = f
                .next()?
                .parse::<f64>()
                .ok()
                .filter(|u| u.is_finite() && *u >= 0.0)?;
            self.cur = Some(Tick {
                uptime,
                ..Tick::default()
            });
            return None;
        }
        if kind == "e" {
            // The bound on names is per tick.
            self.names = 0;
            return self.cur.take();
        }
        let tick = self.cur.as_mut()?;
        let name = f.next()?;
        if self.names >= MAX_NAMES || name.len() > MAX_NAME_BYTES {
            return None;
        }
        let name = name.to_string();
        self.names += 1;
        let vals: Vec<u64> = f.filter_map(|v| v.parse().ok()).collect();
        match (kind, vals.as_slice()) {
            ("c", [busy, total]) => {
                tick.cpu.insert(name, (*busy, *total));
            }
            ("m", []) => tick.mem_kib = num(Some(&name)),
            ("n", [a, b, c, d, e, g]) => {
                tick.net.insert(name, [*a, *b, *c, *d, *e, *g]);
            }
            ("d", [r, w]) => {
                tick.disk.insert(name, [*r, *w]);
            }
            ("f", [khz]) => {
                tick.freq.insert(name, *khz);
            }
            ("i", [n]) => {
                tick.irq.insert(name, *n);
            }
            _ => {}
        }
        None
    }
}

/// The increase of a counter, `None` when it went back (a reset, or a device that was
/// replaced). A counter that was below 2^32 and is now lower is taken to have wrapped at
/// 32 bits, as some drivers' counters do.
pub fn increase(prev: u64, cur: u64) -> Option<u64> {
    if cur >= prev {
        return Some(cur - prev);
    }
    if prev <= u64::from(u32::MAX) {
        return Some(cur + (u64::from(u32::MAX) + 1 - prev));
    }
    None
}

/// One value of a series: a rate over `[t0, t1]` or a gauge read at `t1` (`t0 == t1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Shared: a run's samples of one series hold its name once.
    pub metric: Arc<str>,
    pub t0: f64,
    pub t1: f64,
    pub value: f64,
}

/// What a role's `cpu` is: the whole machine, or the mean of the CPUs it is pinned to.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CpuScope {
    #[default]
    Machine,
    Pinned(Vec<u32>),
}

/// Parses a `cpu_id` (`2`, `0-3`, `1,3,5-6`) into CPU numbers; `None` if it is not one.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The samples between two ticks: rates over the interval, and the gauges of `cur`.
/// `time` maps a tick's uptime to seconds since the run started.
pub fn points(
    prev: Option<&Tick>,
    cur: &Tick,
    scope: &CpuScope,
    time: impl Fn(f64) -> f64,
) -> Vec<Point> {
    let t1 = time(cur.uptime);
    let mut out = Vec::new();
    let gauge = |metric: String, value: f64| Point {
        metric: metric.into(),
        t0: t1,
        t1,
        value,
    };
    // Rates over a tiny interval of a hostile machine can overflow: no sample then.
    out.retain(|p: &Point| p.value.is_finite());
    if let Some(kib) = cur.mem_kib {
        out.push(gauge("mem".into(), kib as f64 * 1024.0));
    }
    // `f` lines name CPUs (`cpu3`); another name (a hostile line) is no sample.
    for (n, khz) in cur
        .freq
        .iter()
        .filter_map(|(c, k)| Some((c.strip_prefix("cpu")?, k)))
    {
        out.push(gauge(format!("cpufreq{n}"), *khz as f64 * 1000.0));
    }
    let Some(prev) = prev else {
        return out;
    };
    let dt = cur.uptime - prev.uptime;
    if dt <= 0.0 {
        return out;
    }
    let t0 = time(prev.uptime);
    let mut rate = |metric: String, value: f64| {
        out.push(Point {
            metric: metric.into(),
            t0,
            t1,
            value,
        })
    };
    let busy = |name: &str| -> Option<(u64, u64)> {
        let (b0, t0) = prev.cpu.get(name)?;
        let (b1, t1) = cur.cpu.get(name)?;
        Some((increase(*b0, *b1)?, increase(*t0, *t1)?))
    };
    let percent = |(b, t): (u64, u64)| (t > 0).then(|| 100.0 * (b.min(t)) as f64 / t as f64);
    for name in cur.cpu.keys().filter(|n| n.as_str() != "cpu") {
        if let Some(p) = busy(name).and_then(percent) {
            rate(name.clone(), p);
        }
    }
    let whole = match scope {
        CpuScope::Machine => busy("cpu"),
        CpuScope::Pinned(cpus) => cpus
            .iter()
            .map(|c| busy(&format!("cpu{c}")))
            .try_fold((0, 0), |(b, t), x| x.map(|(xb, xt)| (b + xb, t + xt))),
    };
    if let Some(p) = whole.and_then(percent) {
        rate("cpu".into(), p);
    }
    for (iface, c) in &cur.net {
        let Some(p) = prev.net.get(iface) else {
            continue;
        };
        let d: Vec<Option<u64>> = (0..6).map(|i| increase(p[i], c[i])).collect();
        let per_s = |x: Option<u64>| x.map(|v| v as f64 / dt);
        if let Some(v) = per_s(d[0]) {
            rate(format!("net.{iface}.rx"), v * 8.0);
        }
        if let Some(v) = per_s(d[3]) {
            rate(format!("net.{iface}.tx"), v * 8.0);
        }
        if let Some(v) = per_s(d[1]) {
            rate(format!("net.{iface}.rx_packets"), v);
        }
        if let Some(v) = per_s(d[4]) {
            rate(format!("net.{iface}.tx_packets"), v);
        }
        if let (Some(a), Some(b)) = (d[2], d[5]) {
            rate(format!("net.{iface}.drops"), (a + b) as f64 / dt);
        }
    }
    for (dev, c) in &cur.disk {
        let Some(p) = prev.disk.get(dev) else {
            continue;
        };
        for (i, what) in ["read", "write"].iter().enumerate() {
            if let Some(s) = increase(p[i], c[i]) {
                rate(format!("disk.{dev}.{what}"), s as f64 * 512.0 / dt);
            }
        }
    }
    for (irq, n) in &cur.irq {
        if let Some(d) = prev.irq.get(irq).and_then(|p| increase(*p, *n)) {
            let name = if irq == "all" {
                "interrupts".to_string()
            } else {
                format!("interrupts.{irq}")
            };
            rate(name, d as f64 / dt);
        }
    }
    // A rate over a tiny interval of a hostile machine can overflow: no sample then.
    out.retain(|p| p.value.is_finite());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Tick> {
        let mut p = TickParser::default();
        let mut out = Vec::new();
        for l in text.lines() {
            if let Some(t) = p.line(l) {
                out.push(t);
            }
        }
        out
    }

    const TWO_TICKS: &str = "t 100.00\nc cpu 100 1000\nc cpu0 50 500\nc cpu1 50 500\nm 2048\nn lo 0 0 0 0 0 0\nn eth0 1000 10 0 2000 20 1\nd vda 10 20\ne\n\
        t 101.00\nc cpu 600 2000\nc cpu0 550 1000\nc cpu1 50 1000\nm 4096\nn lo 0 0 0 0 0 0\nn eth0 126000 110 2 2000 20 1\nd vda 10 2068\ne\n";

    fn get<'a>(ps: &'a [Point], m: &str) -> Option<&'a Point> {
        ps.iter().find(|p| &*p.metric == m)
    }

    #[test]
    fn the_first_tick_gives_gauges_only() {
        let ticks = parse(TWO_TICKS);
        assert_eq!(ticks.len(), 2);
        let ps = points(None, &ticks[0], &CpuScope::Machine, |u| u - 100.0);
        assert_eq!(ps.len(), 1);
        assert_eq!(&*ps[0].metric, "mem");
        assert_eq!(ps[0].value, 2048.0 * 1024.0);
        assert_eq!((ps[0].t0, ps[0].t1), (0.0, 0.0));
    }

    #[test]
    fn counters_become_rates_over_the_interval() {
        let ticks = parse(TWO_TICKS);
        let ps = points(Some(&ticks[0]), &ticks[1], &CpuScope::Machine, |u| {
            u - 100.0
        });
        let v = |m: &str| get(&ps, m).unwrap_or_else(|| panic!("{m} in {ps:?}")).value;
        assert_eq!(v("cpu"), 50.0);
        assert_eq!(v("cpu0"), 100.0);
        assert_eq!(v("cpu1"), 0.0);
        assert_eq!(v("mem"), 4096.0 * 1024.0);
        assert_eq!(v("net.eth0.rx"), 125_000.0 * 8.0);
        assert_eq!(v("net.eth0.tx"), 0.0);
        assert_eq!(v("net.eth0.rx_packets"), 100.0);
        assert_eq!(v("net.eth0.drops"), 2.0);
        assert_eq!(v("disk.vda.write"), 2048.0 * 512.0);
        assert_eq!(v("disk.vda.read"), 0.0);
        let cpu = get(&ps, "cpu").unwrap();
        assert_eq!((cpu.t0, cpu.t1), (0.0, 1.0));
    }

    #[test]
    fn a_pinned_role_reports_its_own_cpus() {
        let ticks = parse(TWO_TICKS);
        let scope = CpuScope::Pinned(vec![0]);
        let ps = points(Some(&ticks[0]), &ticks[1], &scope, |u| u);
        assert_eq!(get(&ps, "cpu").unwrap().value, 100.0);
        let scope = CpuScope::Pinned(parse_cpu_list("0-1").unwrap());
        let ps = points(Some(&ticks[0]), &ticks[1], &scope, |u| u);
        assert_eq!(get(&ps, "cpu").unwrap().value, 50.0);
        // A CPU the machine does not have: no `cpu` rather than a wrong one.
        let ps = points(
            Some(&ticks[0]),
            &ticks[1],
            &CpuScope::Pinned(vec![7]),
            |u| u,
        );
        assert!(get(&ps, "cpu").is_none());
    }

    #[test]
    fn hostile_sampler_lines_give_no_sample_and_no_panic() {
        // Found by fuzz::sampler_lines_never_panic_and_their_rates_read_back: an `f` line
        // whose name is shorter than `cpu` panicked.
        let t = parse("t 1\nf n? 1000\nf cpu2 2000\ne\nt -3\nm 1\ne\n");
        assert_eq!(t.len(), 1, "a negative uptime is no tick: {t:?}");
        let ps = points(None, &t[0], &CpuScope::Machine, |u| u);
        assert_eq!(ps.len(), 1);
        assert_eq!((&*ps[0].metric, ps[0].value), ("cpufreq2", 2e6));
        // A rate over an interval too small for a double is no sample.
        let a = parse("t 0\nn eth0 0 0 0 0 0 0\ne\n");
        let b = parse("t 1e-310\nn eth0 18446744073709551615 0 0 0 0 0\ne\n");
        let ps = points(Some(&a[0]), &b[0], &CpuScope::Machine, |u| u);
        let rx: Vec<&Point> = ps.iter().filter(|p| &*p.metric == "net.eth0.rx").collect();
        assert!(rx.is_empty(), "{ps:?}");
        assert!(ps.iter().all(|p| p.value.is_finite()), "{ps:?}");
    }

    #[test]
    fn counters_that_wrap_or_reset() {
        assert_eq!(increase(5, 9), Some(4));
        assert_eq!(increase(u64::from(u32::MAX) - 1, 3), Some(5));
        assert_eq!(increase(1 << 40, 3), None);
        let a = parse("t 1\nn eth0 4294967290 0 0 1099511627776 0 0\ne\n");
        let b = parse("t 2\nn eth0 10 0 0 5 0 0\ne\n");
        let ps = points(Some(&a[0]), &b[0], &CpuScope::Machine, |u| u);
        assert_eq!(get(&ps, "net.eth0.rx").unwrap().value, 16.0 * 8.0);
        assert!(get(&ps, "net.eth0.tx").is_none(), "{ps:?}");
    }

    #[test]
    fn an_interface_that_appears_or_vanishes_has_no_rate_that_tick() {
        let a = parse("t 1\nn eth0 10 1 0 10 1 0\ne\n");
        let b = parse("t 2\nn eth1 10 1 0 10 1 0\ne\n");
        let ps = points(Some(&a[0]), &b[0], &CpuScope::Machine, |u| u);
        assert!(ps.is_empty(), "{ps:?}");
    }

    #[test]
    fn malformed_lines_and_ticks_are_skipped() {
        let ticks = parse("c cpu 1 2\ne\nt x\nc cpu 1 2\ne\nt 3\nc cpu one 2\nn eth0 1 2\nm\ne\n");
        assert_eq!(ticks.len(), 1);
        assert_eq!(ticks[0].uptime, 3.0);
        assert!(ticks[0].cpu.is_empty() && ticks[0].net.is_empty());
        assert_eq!(ticks[0].mem_kib, None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("2"), Some(vec![2]));
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }
}
