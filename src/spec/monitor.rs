//! `monitor:` (SPEC §11): which roles are sampled, how often, what, and which Prometheus
//! endpoints are scraped during each run. Raw serde types and their check.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::de::{pos, Dur, OneOrMany};
use crate::error::{Error, Location, Result};

/// The shortest sampling interval: below it the sampler's own cost stops being negligible.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest: a run shorter than the interval gets no rate at all.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Prometheus endpoints per experiment (each is a scrape per interval).
pub(crate) const MAX_ENDPOINTS: usize = 64;
/// The longest endpoint path (it goes into an HTTP request line).
pub(crate) const MAX_PATH_LEN: usize = 1024;

/// The metric groups `metrics:` may name.
pub(crate) const METRICS: [&str; 6] = ["cpu", "memory", "net", "disk", "cpufreq", "interrupts"];
/// What is sampled when `metrics:` is not given.
pub(crate) const DEFAULT_METRICS: [&str; 4] = ["cpu", "memory", "net", "disk"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonitor {
    pub roles: Option<Spanned<OneOrMany>>,
    pub interval: Option<Spanned<Dur>>,
    pub metrics: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub prometheus: Vec<Spanned<RawEndpoint>>,
    pub summaries: Option<Vec<Spanned<String>>>,
    pub windows: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub role: Spanned<String>,
    pub port: Spanned<i64>,
    pub path: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pub matches: Option<Spanned<String>>,
}

/// A checked `monitor:` section.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// `None`: every role a step of the run uses (`roles: all`, the default).
    pub roles: Option<Vec<String>>,
    pub interval: Duration,
    /// Metric groups in `METRICS` spelling, without repetitions.
    pub metrics: Vec<String>,
    pub prometheus: Vec<Endpoint>,
    /// The `mon.*` summaries a run gets (`SUMMARIES` names, in that order):
    /// all by default.
    pub summaries: Vec<&'static str>,
    /// Steps whose own time gets summaries of its own (`mon.<kind>.<role>@<step>`).
    pub windows: Vec<String>,
    pub loc: Location,
}

impl Monitor {
    pub fn wants(&self, metric: &str) -> bool {
        self.metrics.iter().any(|m| m == metric)
    }
}

/// A Prometheus endpoint on a role's machine, scraped at `http://127.0.0.1:port path`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub role: String,
    pub port: u16,
    pub path: String,
    /// Matches the whole metric name (`name{labels}`), anchored at load.
    pub matches: Option<regex::Regex>,
    pub loc: Location,
}

fn err<T>(path: &Path, s: &Spanned<T>, msg: impl Into<String>) -> Error {
    let (l, c) = pos(s);
    Error::input(path, l, c, msg)
}

/// Checks `monitor:` against the roles the experiment's steps, files and setup can use
/// (`known`, which includes `local`).
/// `steps` are the experiment's step names (`windows:` names them).
pub(crate) fn check_monitor(
    path: &Path,
    raw: &Spanned<RawMonitor>,
    known: &[String],
    steps: &[String],
) -> Result<Monitor> {
    let m = &raw.value;
    let known_role = |s: &Spanned<String>, what: &str| -> Result<()> {
        if known.contains(&s.value) {
            return Ok(());
        }
        Err(err(
            path,
            s,
            format!(
                "monitor: {what} '{}' is not a role of any step, file or setup entry (roles: {}){}",
                s.value,
                known.join(", "),
                crate::template::did_you_mean(&s.value, known.iter().map(String::as_str))
            ),
        ))
    };
    let roles = match &m.roles {
        None => None,
        Some(r) if r.value.0.iter().any(|n| n == "all") => None,
        Some(r) if r.value.0.is_empty() => {
            return Err(err(
                path,
                r,
                "monitor: roles is empty (write `all` or a list)",
            ))
        }
        Some(r) => {
            for name in &r.value.0 {
                let spanned = Spanned {
                    value: name.clone(),
                    referenced: r.referenced,
                    defined: r.defined,
                };
                known_role(&spanned, "role")?;
            }
            Some(r.value.0.clone())
        }
    };
    let interval = match &m.interval {
        None => DEFAULT_INTERVAL,
        Some(i) if i.value.0 < MIN_INTERVAL || i.value.0 > MAX_INTERVAL => {
            return Err(err(
                path,
                i,
                format!(
                    "monitor: interval {} is outside 100ms to 1h",
                    humantime::format_duration(i.value.0)
                ),
            ))
        }
        Some(i) => i.value.0,
    };
    let metrics = match &m.metrics {
        None => DEFAULT_METRICS.map(String::from).to_vec(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for name in list {
                if !METRICS.contains(&name.value.as_str()) {
                    return Err(err(
                        path,
                        name,
                        format!(
                            "monitor: unknown metric '{}' (metrics: {}){}",
                            name.value,
                            METRICS.join(", "),
                            crate::template::did_you_mean(&name.value, METRICS.into_iter())
                        ),
                    ));
                }
                if !out.contains(&name.value) {
                    out.push(name.value.clone());
                }
            }
            out
        }
    };
    if m.prometheus.len() > MAX_ENDPOINTS {
        return Err(err(
            path,
            &m.prometheus[MAX_ENDPOINTS],
            format!("monitor: more than {MAX_ENDPOINTS} prometheus endpoints"),
        ));
    }
    let mut prometheus = Vec::new();
    for e in &m.prometheus {
        known_role(&e.value.role, "prometheus role")?;
        prometheus.push(endpoint(path, e)?);
    }
    let summaries = summaries(path, m.summaries.as_deref(), &metrics)?;
    let mut windows: Vec<String> = Vec::new();
    for w in m.windows.iter().flatten() {
        if !steps.contains(&w.value) {
            return Err(err(
                path,
                w,
                format!(
                    "monitor: windows: '{}' is not a step (steps: {}){}",
                    w.value,
                    steps.join(", "),
                    crate::template::did_you_mean(&w.value, steps.iter().map(String::as_str))
                ),
            ));
        }
        if !windows.contains(&w.value) {
            windows.push(w.value.clone());
        }
    }
    let (line, column) = pos(raw);
    Ok(Monitor {
        roles,
        interval,
        metrics,
        prometheus,
        summaries,
        windows,
        loc: Location::new(path, line, column),
    })
}

/// The summaries of a role: `mon.<kind>.<role>`, in the order a run records them.
pub(crate) const SUMMARIES: [&str; 7] = [
    "cpu",
    "cpu.max",
    "mem",
    "net.rx",
    "net.tx",
    "disk.read",
    "disk.write",
];

/// The names `summaries:` takes: each summary (`SUMMARIES`), and `net` and `disk` for both
/// directions.
pub(crate) const SUMMARY_NAMES: [&str; 9] = [
    "cpu",
    "cpu.max",
    "mem",
    "net",
    "net.rx",
    "net.tx",
    "disk",
    "disk.read",
    "disk.write",
];

/// The metric group a summary is computed from.
fn summary_group(kind: &str) -> &'static str {
    match kind.split('.').next() {
        Some("cpu") => "cpu",
        Some("mem") => "memory",
        Some("net") => "net",
        _ => "disk",
    }
}

/// `summaries:` checked: the summaries chosen, in `SUMMARIES` order (all when not given).
fn summaries(
    path: &Path,
    list: Option<&[Spanned<String>]>,
    metrics: &[String],
) -> Result<Vec<&'static str>> {
    let all = SUMMARIES;
    let Some(list) = list else {
        return Ok(all.to_vec());
    };
    let mut chosen: Vec<&'static str> = Vec::new();
    for name in list {
        let n = name.value.as_str();
        if !SUMMARY_NAMES.contains(&n) {
            return Err(err(
                path,
                name,
                format!(
                    "monitor: unknown summary '{n}' (summaries: {}){}",
                    SUMMARY_NAMES.join(", "),
                    crate::template::did_you_mean(n, SUMMARY_NAMES.into_iter())
                ),
            ));
        }
        let group = summary_group(n);
        if !metrics.iter().any(|m| m == group) {
            return Err(err(
                path,
                name,
                format!(
                    "monitor: summary '{n}' needs the metric group '{group}', which `metrics:` leaves out"
                ),
            ));
        }
        let under = format!("{n}.");
        chosen.extend(
            all.iter()
                .filter(|k| **k == n || (n != "cpu" && k.starts_with(&under))),
        );
    }
    Ok(all.into_iter().filter(|k| chosen.contains(k)).collect())
}

fn endpoint(path: &Path, e: &Spanned<RawEndpoint>) -> Result<Endpoint> {
    let raw = &e.value;
    let port = u16::try_from(raw.port.value)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            err(
                path,
                &raw.port,
                format!(
                    "monitor: prometheus port {} is not a port number (1 to 65535)",
                    raw.port.value
                ),
            )
        })?;
    let url_path = match &raw.path {
        None => "/metrics".to_string(),
        Some(p) => {
            // It is sent in a request line: printable ASCII without spaces, nothing else.
            let ok = p.value.starts_with('/')
                && p.value.len() <= MAX_PATH_LEN
                && p.value.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(err(
                    path,
                    p,
                    format!(
                        "monitor: prometheus path '{}' must start with / and be at most {MAX_PATH_LEN} printable characters without spaces",
                        p.value.escape_debug()
                    ),
                ));
            }
            p.value.clone()
        }
    };
    let matches = match &raw.matches {
        None => None,
        Some(m) => Some(
            regex::RegexBuilder::new(&format!("^(?:{})$", m.value))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    err(
                        path,
                        m,
                        format!(
                            "monitor: prometheus match: {}",
                            super::de::regex_message(&e)
                        ),
                    )
                })?,
        ),
    };
    let (line, column) = pos(e);
    Ok(Endpoint {
        role: raw.role.value.clone(),
        port,
        path: url_path,
        matches,
        loc: Location::new(path, line, column),
    })
}
/// Unit and direction of a `mon.*` result; `None` for any other name.
pub(crate) fn result_info(name: &str) -> Option<crate::model::ResultInfo> {
    let rest = name.strip_prefix("mon.")?;
    let (unit, better) = [
        ("cpu.max.", "%", crate::model::Better::Lower),
        ("cpu.", "%", crate::model::Better::Lower),
        ("mem.", "B", crate::model::Better::Lower),
        ("net.rx.", "bit/s", crate::model::Better::Higher),
        ("net.tx.", "bit/s", crate::model::Better::Higher),
        ("disk.read.", "B/s", crate::model::Better::Lower),
        ("disk.write.", "B/s", crate::model::Better::Lower),
    ]
    .into_iter()
    .find(|(p, _, _)| rest.starts_with(p))
    .map(|(_, u, b)| (u, b))?;
    Some(crate::model::ResultInfo {
        name: name.to_string(),
        unit: unit.to_string(),
        better,
        series: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(yaml: &str) -> Result<Vec<&'static str>> {
        let raw: Spanned<RawMonitor> = serde_saphyr::from_str(yaml).unwrap();
        let m = check_monitor(Path::new("e.yaml"), &raw, &["local".into()], &[])?;
        Ok(m.summaries)
    }

    #[test]
    fn summary_names_choose_summaries_in_their_order() {
        assert_eq!(chosen("{}").unwrap(), SUMMARIES);
        assert_eq!(
            chosen("summaries: [net, cpu]").unwrap(),
            ["cpu", "net.rx", "net.tx"]
        );
        assert_eq!(
            chosen("summaries: [disk.write, cpu.max, mem, mem]").unwrap(),
            ["cpu.max", "mem", "disk.write"]
        );
        assert!(chosen("summaries: []").unwrap().is_empty());
        let e = chosen("summaries: [memory]").unwrap_err().to_string();
        assert!(
            e.contains("e.yaml:1:13: monitor: unknown summary 'memory'"),
            "{e}"
        );
        let e = chosen("{metrics: [cpu], summaries: [cpu, mem]}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs the metric group 'memory'"), "{e}");
    }
}
