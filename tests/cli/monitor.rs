//! Monitoring (SPEC §11) on real workloads: CPU burnt on a pinned core, iperf3 between two
//! namespace hosts against iperf3's own goodput, a Prometheus endpoint served by a step, and
//! no sampler left after SIGKILL of mpf.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{journal, mpf_in, only_set, write};
use crate::netns::Bed;

/// `monitor.csv` of a run: (time, role, metric, value) rows.
fn monitor_csv(set: &Path, run: usize) -> Vec<(f64, String, String, f64)> {
    let path = set.join(format!("runs/{run:04}/monitor.csv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["time", "role", "metric", "value"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].parse().unwrap(),
                rec[1].to_string(),
                rec[2].to_string(),
                rec[3].parse().unwrap(),
            )
        })
        .collect()
}

fn result(rec: &serde_json::Value, name: &str) -> f64 {
    rec["results"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} in {}", rec["results"]))
}

fn run_ok(dir: &Path, args: &[&std::ffi::OsStr]) -> PathBuf {
    let out = mpf_in(dir)
        .args(["run", "--quiet", "--no-plot"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    only_set(dir)
}

/// Busy and total jiffies of one CPU, read here, independently of mpf.
fn cpu_jiffies(cpu: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let line = stat
        .lines()
        .find(|l| l.starts_with(&format!("cpu{cpu} ")))
        .unwrap();
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap())
        .collect();
    let total: u64 = f.iter().sum();
    (total - f[3] - f[4], total)
}

#[test]
fn a_pinned_role_reports_its_own_cpu_burnt_or_idle() {
    if !Path::new("/usr/bin/taskset").exists()
        || std::thread::available_parallelism().unwrap().get() < 2
    {
        assert!(
            std::env::var_os("MPF_REQUIRE_NETNS").is_none_or(|v| v != "1"),
            "taskset and two CPUs are required"
        );
        println!("SKIP a_pinned_role_reports_its_own_cpu: needs taskset and two CPUs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        "machines:\n  - hostname: localhost\n    namespaces:\n      - {role: burner, cpu_id: 1}\n      - {role: quiet, cpu_id: 0}\n",
    );
    let exp = write(
        dir.path(),
        "burn.yaml",
        "runs: 1\nmonitor: {interval: 200ms, metrics: [cpu]}\nsteps:\n  - name: burn\n    role: burner\n    background: true\n    run: timeout 2 sh -c 'while :; do :; done'\n  - name: rest\n    role: quiet\n    run: sleep 2\n",
    );
    let before = cpu_jiffies(0);
    let set = run_ok(
        dir.path(),
        &[exp.as_os_str(), "-c".as_ref(), cluster.as_os_str()],
    );
    let after = cpu_jiffies(0);
    let rec = &journal(&set)[0];
    let burnt = result(rec, "mon.cpu.burner");
    assert!(burnt > 90.0, "the burnt CPU: {burnt}");
    // CPU 0 is idle but for what else runs on this machine: mpf must agree with /proc.
    let quiet = result(rec, "mon.cpu.quiet");
    let independent = 100.0 * (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64;
    assert!(
        (quiet - independent).abs() < 15.0,
        "the idle CPU: mpf says {quiet}%, /proc over the run {independent}%"
    );
    // Every sample of the burnt CPU while it burnt is near 100.
    let rows = monitor_csv(&set, 0);
    let burn: Vec<f64> = rows
        .iter()
        .filter(|r| r.1 == "burner" && r.2 == "cpu" && r.0 > 0.4 && r.0 < 1.8)
        .map(|r| r.3)
        .collect();
    assert!(burn.len() >= 4, "{rows:?}");
    assert!(burn.iter().all(|v| *v > 85.0), "{burn:?}");
    assert!(rows.iter().any(|r| r.2 == "cpu1"), "per-core series");
    // The step's start is on the same time axis.
    let start = rec["steps"][0]["start"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&start), "{start}");
}

fn iperf_cluster(bed: &Bed) -> String {
    let mut out = String::from("machines:\n");
    for (i, role) in ["server", "client"].iter().enumerate() {
        let h = &bed.hosts[i];
        let iface = format!("mpn{}{i}", bed.tag);
        out.push_str(&format!(
            "  - hostname: {}\n{}    role: {role}\n    interfaces:\n      - {{name: {iface}, ip: {}}}\n",
            h.ip,
            bed.ssh_keys(4),
            h.ip
        ));
    }
    out
}

#[test]
fn iperf_traffic_agrees_with_iperfs_own_goodput() {
    let Some(bed) = Bed::new("iperf_traffic_agrees_with_iperfs_own_goodput", 2) else {
        return;
    };
    assert!(Path::new("/usr/bin/iperf3").exists(), "iperf3 is required");
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", &iperf_cluster(&bed));
    let exp = write(
        dir.path(),
        "iperf.yaml",
        r#"runs: 1
monitor: {interval: 200ms}
steps:
  - name: server
    role: server
    run: iperf3 -s -p 5201 --forceflush
    background: true
    ready: {log: 'Server listening', timeout: 10s}
  - name: client
    role: client
    timeout: 30s
    run: iperf3 -J -t 5 -b 200M -p 5201 -c {{ roles.server.ip }}
    results:
      seconds: {json: end.sum_sent.end, unit: s}
      received: {json: end.sum_received.bytes, unit: B}
      sent: {json: end.sum_sent.bytes, unit: B}
      goodput: {json: end.sum_received.bits_per_second, unit: bit/s}
      sending: {json: end.sum_sent.bits_per_second, unit: bit/s}
"#,
    );
    let set = run_ok(
        dir.path(),
        &[exp.as_os_str(), "-c".as_ref(), cluster.as_os_str()],
    );
    let rec = &journal(&set)[0];
    // `mon.net.*` are means over the run's window (the server's start to the client's end),
    // which is longer than iperf3's 5 s of traffic: the traffic they account for is compared
    // with the bytes iperf3 counted (headers make the interface's count a little larger).
    let steps = rec["steps"].as_array().unwrap();
    let at = |name: &str, key: &str| {
        let s = steps.iter().find(|s| s["name"] == name).unwrap();
        s[key].as_f64().unwrap()
    };
    let window = at("client", "start") + at("client", "duration") - at("server", "start");
    let received = 8.0 * result(rec, "received");
    let sent = 8.0 * result(rec, "sent");
    let rx = result(rec, "mon.net.rx.server") * window;
    let tx = result(rec, "mon.net.tx.client") * window;
    println!(
        "window {window:.3} s: server rx/received {:.3}, client tx/sent {:.3}",
        rx / received,
        tx / sent
    );
    assert!(
        (rx / received - 1.0).abs() < 0.10,
        "server rx {rx} bits vs iperf3's {received} received over {window} s"
    );
    assert!(
        (tx / sent - 1.0).abs() < 0.10,
        "client tx {tx} bits vs iperf3's {sent} sent over {window} s"
    );
    // While the client sends, the series say what iperf3 says: the mean of the samples that lie
    // inside iperf3's traffic, against iperf3's own goodput (server rx) and sending rate
    // (client tx). iperf3 sent for `seconds` somewhere inside the client's step, whose start
    // and end also hold iperf3's connection and report and the runner's latency: on a loaded
    // machine that was 1 to 2 s of a step of 4 to 5 s (samples of it brought the means down
    // to 0.70-0.86 of iperf3's). Whatever it was, the traffic surely covered the step's start
    // + (its duration - seconds) to its start + seconds. And iperf3 sends at a set pace
    // (`-b`), which a loaded machine keeps: at full speed, the rate of a part of the traffic
    // was up to 1.125 times the whole's.
    let rows = monitor_csv(&set, 0);
    let (start, duration, seconds) = (
        at("client", "start"),
        at("client", "duration"),
        result(rec, "seconds"),
    );
    let (from, to) = (start + (duration - seconds), start + seconds);
    let during = |role: &str, metric: String| -> f64 {
        // A sample's time is the end of its 200 ms interval.
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.1 == role && r.2 == metric && r.0 - 0.2 >= from && r.0 <= to)
            .map(|r| r.3)
            .collect();
        assert!(
            v.len() >= 5,
            "{} samples of {role} {metric} from {from:.3} to {to:.3} s",
            v.len()
        );
        v.iter().sum::<f64>() / v.len() as f64
    };
    let server_rx = during("server", format!("net.mpn{}0.rx", bed.tag));
    let client_tx = during("client", format!("net.mpn{}1.tx", bed.tag));
    let (goodput, sending) = (result(rec, "goodput"), result(rec, "sending"));
    println!(
        "during the client: server rx / goodput {:.3}, client tx / sending {:.3}",
        server_rx / goodput,
        client_tx / sending
    );
    assert!(
        (server_rx / goodput - 1.0).abs() < 0.10,
        "server rx {server_rx} bit/s vs iperf3's goodput {goodput}"
    );
    assert!(
        (client_tx / sending - 1.0).abs() < 0.10,
        "client tx {client_tx} bit/s vs iperf3's {sending}"
    );
    // The series come from inside each host's namespace.
    let iface = format!("net.mpn{}0.rx", bed.tag);
    assert!(rows
        .iter()
        .any(|r| r.1 == "server" && r.2 == iface && r.3 > 1e6));
    assert!(
        !rows.iter().any(|r| r.2.starts_with("net.eth")),
        "root namespace seen"
    );
}

#[test]
fn a_prometheus_endpoint_served_by_a_step_is_scraped_through_the_master() {
    let Some(bed) = Bed::new("a_prometheus_endpoint_served_by_a_step", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = bed.first_host_cluster(dir.path(), "server", "");
    // The endpoint listens on the host's loopback only: only the forward reaches it.
    let exp = write(
        dir.path(),
        "prom.yaml",
        r#"runs: 1
monitor:
  interval: 200ms
  metrics: [memory]
  prometheus:
    - {role: server, port: 9109, match: 'app_.*'}
steps:
  - name: serve
    role: server
    background: true
    run: |
      mkdir -p "$MPF_RUN_DIR/www" && cd "$MPF_RUN_DIR/www"
      printf '# TYPE app_temp gauge\napp_temp{sensor="a"} 21.5\napp_up 1\nother_total 3\n' > metrics
      exec /usr/bin/python3 -u -m http.server 9109 --bind 127.0.0.1
    ready: {log: 'Serving HTTP', timeout: 20s}
  - name: wait
    role: server
    run: sleep 1.5
"#,
    );
    let set = run_ok(
        dir.path(),
        &[exp.as_os_str(), "-c".as_ref(), cluster.as_os_str()],
    );
    let rows = monitor_csv(&set, 0);
    let temp: Vec<_> = rows
        .iter()
        .filter(|r| r.1 == "server" && r.2 == r#"prom.app_temp{sensor="a"}"#)
        .collect();
    assert!(temp.len() >= 3, "{rows:?}");
    assert!(temp.iter().all(|r| r.3 == 21.5));
    assert!(rows.iter().any(|r| r.2 == "prom.app_up"));
    assert!(
        !rows.iter().any(|r| r.2.contains("other_total")),
        "match: {rows:?}"
    );
    assert!(rows.iter().any(|r| r.2 == "mem"));
    // The forward was cancelled with the run.
    assert_eq!(
        crate::run::alive_with(&format!("127.0.0.1:9109 -- root@{}", bed.hosts[0].ip)),
        0
    );
}

/// Processes of this machine whose environment holds `MPF_MON_INTERVAL=value`: the
/// samplers of one test (each test uses its own interval).
fn samplers_with(interval: &str) -> usize {
    let marker = format!("MPF_MON_INTERVAL={interval}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
            !zombie && env.split(|b| *b == 0).any(|v| v == marker.as_bytes())
        })
        .count()
}

#[test]
fn sigkill_of_mpf_leaves_no_sampler_on_any_host() {
    let Some(bed) = Bed::new("sigkill_of_mpf_leaves_no_sampler_on_any_host", 1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yaml",
        &format!(
            "machines:\n  - hostname: localhost\n    role: here\n  - hostname: {}\n{}    role: there\n",
            bed.hosts[0].ip,
            bed.ssh_keys(4)
        ),
    );
    let exp = write(
        dir.path(),
        "slow.yaml",
        "runs: 1\nmonitor: {interval: 0.137}\nsteps:\n  - name: a\n    role: here\n    background: true\n    run: sleep 300\n  - name: b\n    role: there\n    run: sleep 301\n    timeout: 600s\n",
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(dir.path())
        .env("MPF_RESULTS", dir.path().join("results"))
        .args(["run", "--quiet", "--no-plot"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("mpf.err")).unwrap())
        .spawn()
        .unwrap();
    let remote = || {
        bed.processes_in(&bed.hosts[0].ns, bed.sshd_pid(0))
            .into_iter()
            .filter(|p| p.contains("mpf's sampler"))
            .count()
    };
    let start = Instant::now();
    while samplers_with("0.137") == 0 || remote() == 0 || crate::run::alive_with("sleep 301") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "samplers did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    loop {
        let (here, there) = (samplers_with("0.137"), remote());
        let left = bed.processes_in(&bed.hosts[0].ns, bed.sshd_pid(0));
        if here == 0 && there == 0 && left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left after SIGKILL: {here} local samplers, on the host: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn monitor_errors_name_their_line() {
    let cases: &[(&str, &str)] = &[
        ("unknown_role", "monitor: {roles: [sever]}\nsteps:\n  - {name: s, role: server, run: 'true'}\n"),
        ("unknown_metric", "monitor:\n  metrics: [cpu, network]\nsteps:\n  - run: 'true'\n"),
        ("short_interval", "monitor:\n  interval: 50ms\nsteps:\n  - run: 'true'\n"),
        ("bad_regex", "monitor:\n  prometheus:\n    - {role: local, port: 9100, match: 'app_(.*'}\nsteps:\n  - run: 'true'\n"),
        ("bad_port", "monitor:\n  prometheus:\n    - {role: local, port: 70000}\nsteps:\n  - run: 'true'\n"),
        ("bad_path", "monitor:\n  prometheus:\n    - {role: local, port: 9100, path: 'metrics x'}\nsteps:\n  - run: 'true'\n"),
        ("prometheus_role", "monitor:\n  prometheus:\n    - {role: db, port: 9100}\nsteps:\n  - run: 'true'\n"),
        ("unknown_key", "monitor:\n  intervall: 1s\nsteps:\n  - run: 'true'\n"),
        ("unknown_summary", "monitor:\n  summaries: [cpu, network]\nsteps:\n  - run: 'true'\n"),
        ("summary_not_sampled", "monitor:\n  metrics: [cpu, net]\n  summaries: [cpu, disk.read]\nsteps:\n  - run: 'true'\n"),
        ("unknown_window", "monitor:\n  windows: [clinet]\nsteps:\n  - {name: client, run: 'true'}\n"),
    ];
    for (name, src) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "bad.yaml", src);
        let out = mpf_in(dir.path())
            .args(["run", "bad.yaml", "-q"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(!dir.path().join("results").exists());
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        insta::assert_snapshot!(format!("monitor_{name}"), err);
    }
}

#[test]
fn samplers_count_in_the_session_budget() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = write(
        d,
        "exp.yaml",
        "monitor: {roles: [server, client]}\nsteps:\n  - {name: a, role: server, run: 'true', background: true}\n  - {name: b, role: client, run: 'true'}\n",
    );
    // Never contacted: the budget is checked before any connection.
    let cluster = write(
        d,
        "cluster.yaml",
        "machines:\n  - hostname: 10.255.255.1\n    role: [server, client]\n    max_sessions: 3\n",
    );
    let out = mpf_in(d)
        .args(["run", "--quiet"])
        .arg(&exp)
        .arg("-c")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).replace(&*d.to_string_lossy(), "DIR");
    insta::assert_snapshot!("monitor_session_budget", err.trim());
    assert!(!d.join("results").exists());
}

#[test]
fn monitor_results_survive_extracting_again_and_are_declared() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "exp.yaml",
        "runs: 1\nmonitor: {interval: 100ms}\nsteps:\n  - name: work\n    role: box\n    run: sleep 0.5; echo 'mpf-result n 3'; echo 'mpf-result mon.cpu.box 555'\n",
    );
    let set = run_ok(dir.path(), &[exp.as_os_str()]);
    let rec = &journal(&set)[0];
    // A step cannot pass its own number off as the measurement.
    let cpu = result(rec, "mon.cpu.box");
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    assert!(
        rec["notes"].to_string().contains("mon.cpu.box"),
        "{}",
        rec["notes"]
    );
    let declared = crate::common::manifest(&set)["results"].clone();
    let info = declared
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "mon.net.rx.box")
        .unwrap_or_else(|| panic!("{declared}"));
    assert_eq!(
        (info["unit"].as_str(), info["better"].as_str()),
        (Some("bit/s"), Some("higher"))
    );
    // The samples are measurements of the run, like step durations: not extractions.
    mpf_in(dir.path())
        .args(["extract", "latest"])
        .assert()
        .success();
    let rec = &journal(&set)[0];
    assert_eq!(result(rec, "mon.cpu.box"), cpu);
    assert_eq!(result(rec, "n"), 3.0);
    assert!(crate::common::manifest(&set)["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "mon.cpu.max.box" && r["unit"] == "%"));
}

/// A local Prometheus endpoint (a python3 http.server started by a background step on
/// `port`) serving `metrics`, scraped every 100 ms until it answered `scrapes` times (a
/// loaded machine serves fewer a second).
fn hostile_endpoint(dir: &Path, port: u16, metrics: &str, scrapes: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/metrics"), metrics).unwrap();
    write(
        dir,
        "prom.yaml",
        &format!(
            r#"runs: 1
monitor:
  interval: 100ms
  metrics: [memory]
  prometheus:
    - {{role: local, port: {port}}}
steps:
  - name: serve
    background: true
    run: cd {www} && exec /usr/bin/python3 -u -m http.server {port} --bind 127.0.0.1 2>> {www}/access.log
    ready: {{log: 'Serving HTTP', timeout: 20s}}
  - name: wait
    timeout: 120s
    run: until [ "$(grep -c 'GET /metrics' {www}/access.log)" -ge {scrapes} ]; do sleep 0.2; done
"#,
            www = dir.join("www").display()
        ),
    )
}

/// A port free on this machine now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mpf run` of `exp` in `dir`, measured: (peak RSS in MB, the run's journal record).
fn measured_run(dir: &Path, exp: &Path) -> (u64, serde_json::Value) {
    let stderr = dir.join("stderr.txt");
    let (code, peak) = crate::store::run_measured(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(dir)
            .env("MPF_RESULTS", dir.join("results"))
            .args(["run", "-q", "--no-plot"])
            .arg(exp),
        std::fs::File::create(&stderr).unwrap().into(),
    );
    let stderr = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert_eq!(code, Some(0), "{stderr}");
    (peak >> 20, journal(&only_set(dir))[0].clone())
}

/// 500,000 short samples, the most a run keeps (once 124-152 MB where docs/monitoring.md
/// said about 60 MB).
#[test]
fn half_a_million_prometheus_samples_take_the_memory_the_docs_say() {
    let dir = tempfile::tempdir().unwrap();
    let metrics: String = (0..10_000)
        .map(|i| format!("app_s{{i=\"{i}\"}} {i}.5\n"))
        .collect();
    let exp = hostile_endpoint(dir.path(), free_port(), &metrics, 55);
    let (peak, rec) = measured_run(dir.path(), &exp);
    eprintln!("500,000 samples: mpf peaked at {peak} MB");
    let notes = rec["notes"].to_string();
    assert!(
        notes.contains("beyond the limit of 500000 samples"),
        "{notes}"
    );
    assert!(peak < 60, "mpf peaked at {peak} MB");
}

/// 4000 series with labels of 900 bytes scraped every 100 ms (once 1.94 GB of memory and a
/// 957 MB monitor.csv that mpf's own readers refused): mpf's memory and the file stay
/// bounded, the samples beyond are dropped with a note, and `export --timeseries` reads the
/// file. NaN and infinite samples, and names longer than the readers take, are left out with
/// a note.
#[test]
fn a_hostile_prometheus_endpoint_leaves_memory_and_monitor_csv_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut metrics = String::new();
    let label = "v".repeat(900);
    for i in 0..4000 {
        metrics.push_str(&format!("app_big{{i=\"{i}\",l=\"{label}\"}} {i}\n"));
    }
    metrics.push_str("app_nan NaN\napp_inf +Inf\n");
    metrics.push_str(&format!("app_long{{l=\"{}\"}} 1\n", "w".repeat(2000)));
    let exp = hostile_endpoint(dir.path(), free_port(), &metrics, 25);
    let (peak, rec) = measured_run(dir.path(), &exp);
    eprintln!("hostile prometheus: mpf peaked at {peak} MB");
    let set = only_set(dir.path());
    let csv = set.join("runs/0000/monitor.csv");
    let size = std::fs::metadata(&csv).unwrap().len();
    eprintln!("hostile prometheus: monitor.csv is {} MB", size >> 20);
    assert!(size <= 64 << 20, "monitor.csv is {size} bytes");
    let notes = rec["notes"].to_string();
    assert!(
        notes.contains("samples or 64 MiB of monitor.csv per run were not kept"),
        "{notes}"
    );
    assert!(
        notes.contains("NaN or infinite samples not kept"),
        "{notes}"
    );
    assert!(notes.contains("over 1019 bytes"), "{notes}");
    assert!(peak < 100, "mpf peaked at {peak} MB");
    // mpf reads back what it wrote, without a row skipped.
    let out = mpf_in(dir.path())
        .args(["export", "latest", "--timeseries", "--format", "csv", "-o"])
        .arg(dir.path().join("ts.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("skipped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sampler that prints nothing (no awk on the machine) made every run wait 10 s for its
/// first reading; now only the first run waits, and every run says why it has no samples.
#[test]
fn a_silent_sampler_costs_its_wait_once_not_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["sh", "sleep", "cat", "true", "env", "setsid"] {
        for d in ["/usr/bin", "/bin"] {
            let p = Path::new(d).join(tool);
            if p.exists() {
                std::os::unix::fs::symlink(&p, bin.join(tool)).unwrap();
                break;
            }
        }
    }
    let exp = write(
        dir.path(),
        "e.yaml",
        "runs: 3\nmonitor: {interval: 1s, metrics: [cpu]}\nsteps:\n  - run: 'true'\n",
    );
    let start = Instant::now();
    let out = mpf_in(dir.path())
        .env("PATH", &bin)
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(18), "3 runs took {took:?}");
    let recs = journal(&only_set(dir.path()));
    assert!(
        recs[0]["notes"]
            .to_string()
            .contains("printed nothing within 10s (later runs do not wait for it)"),
        "{}",
        recs[0]
    );
    for r in &recs[1..] {
        let notes = r["notes"].to_string();
        assert!(
            notes.contains("did not wait for its first reading"),
            "{notes}"
        );
        assert!(notes.contains("awk: not found"), "{notes}");
    }
}

#[test]
fn two_roles_on_one_machine_share_one_sampler_and_get_the_summaries_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "shared.yaml",
        r#"runs: 1
monitor: {interval: 200ms, summaries: [cpu, net]}
steps:
  - {name: serve, role: server, run: sleep 0.7}
  - {name: load, role: client, run: sleep 0.7}
"#,
    );
    let set = run_ok(dir.path(), &[exp.as_os_str()]);
    let rows = monitor_csv(&set, 0);
    // One sampler: its samples once, labelled with both roles; one `cpu` sample per tick.
    let mut roles: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    roles.dedup();
    assert_eq!(roles, ["server+client"]);
    let cpu: Vec<f64> = rows.iter().filter(|r| r.2 == "cpu").map(|r| r.0).collect();
    assert!(cpu.len() >= 5, "{cpu:?}");
    // A sampler per role would give two samples a tick, a few ms apart, and twice as many: a
    // late tick on a loaded machine, or the last reading taken at the stop, can come closer
    // than the 200 ms interval to the one before, but not within a few ms of it.
    assert!(cpu.windows(2).all(|w| w[1] - w[0] > 0.03), "{cpu:?}");
    let span = cpu[cpu.len() - 1] - cpu[0];
    assert!(cpu.len() as f64 <= span / 0.2 + 2.0, "{cpu:?}");
    // Both roles' names point at the same samples; only the summaries chosen.
    let rec = &journal(&set)[0];
    let results = rec["results"].as_object().unwrap();
    let mut mon: Vec<&str> = results
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("mon."))
        .collect();
    mon.sort_unstable();
    assert_eq!(
        mon,
        [
            "mon.cpu.client",
            "mon.cpu.server",
            "mon.net.rx.client",
            "mon.net.rx.server",
            "mon.net.tx.client",
            "mon.net.tx.server"
        ]
    );
    for kind in ["cpu", "net.rx", "net.tx"] {
        assert_eq!(
            result(rec, &format!("mon.{kind}.client")),
            result(rec, &format!("mon.{kind}.server"))
        );
    }
    // Either role's name draws the shared samples.
    for role in ["client", "server"] {
        let out = mpf_in(dir.path())
            .args([
                "plot", "latest", "--run", "0", "--metric", "cpu", "--role", role,
            ])
            .args(["-o", &format!("{role}.svg")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let svg = std::fs::read_to_string(dir.path().join(format!("{role}.svg"))).unwrap();
        assert!(svg.contains("cpu in run 0 on server+client"), "{role}");
    }
}

#[test]
fn a_step_window_gives_the_steps_own_rate_not_the_runs_mean() {
    let Some(bed) = Bed::new("a_step_window_gives_the_steps_own_rate", 2) else {
        return;
    };
    assert!(Path::new("/usr/bin/iperf3").exists(), "iperf3 is required");
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(dir.path(), "cluster.yaml", &iperf_cluster(&bed));
    // The client sends at a paced 40 Mbit/s for 2 s, then idles for 2 s: the whole run's
    // mean is about half the step's rate.
    let exp = write(
        dir.path(),
        "window.yaml",
        r#"runs: 1
monitor: {interval: 200ms, summaries: [net], windows: [client]}
steps:
  - name: server
    role: server
    run: iperf3 -s -p 5201 --forceflush
    background: true
    ready: {log: 'Server listening', timeout: 10s}
  - name: client
    role: client
    timeout: 30s
    run: iperf3 -J -t 2 -b 40M -p 5201 -c {{ roles.server.ip }}
    results:
      sent: {json: end.sum_sent.bytes, unit: B}
  - name: idle
    role: client
    run: sleep 2
"#,
    );
    let set = run_ok(
        dir.path(),
        &[exp.as_os_str(), "-c".as_ref(), cluster.as_os_str()],
    );
    let rec = &journal(&set)[0];
    let step = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "client")
        .unwrap();
    // The known amount: the bytes iperf3 sent, over the step's own time.
    let rate = 8.0 * result(rec, "sent") / step["duration"].as_f64().unwrap();
    let window = result(rec, "mon.net.tx.client@client");
    let whole = result(rec, "mon.net.tx.client");
    println!(
        "step rate {rate:.0} bit/s, window {window:.0} ({:.3}), whole run {whole:.0} ({:.3})",
        window / rate,
        whole / rate
    );
    // Headers add about 4% to what the interface carries.
    assert!(
        (window / rate - 1.0).abs() < 0.10,
        "window {window} vs the step's {rate}"
    );
    assert!(
        whole < 0.75 * window,
        "whole run {whole} vs window {window}"
    );
    // The server's side of the same window, and nothing but `net` summaries.
    let rx = result(rec, "mon.net.rx.server@client");
    assert!((rx / rate - 1.0).abs() < 0.10, "server rx {rx} vs {rate}");
    let results = rec["results"].as_object().unwrap();
    assert!(!results.keys().any(|k| k.starts_with("mon.cpu")));
    assert!(!results.keys().any(|k| k.ends_with("@idle")));
}
