//! The redis, fio and wrk examples run for real at small sizes, and every value they extract
//! equals the tool's own output (the stored `.out` log or JSON report) parsed here,
//! independently of mpf's extractors. Skipped with a message when a tool is not installed
//! (`.ci/run` installs them all).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{journal, mpf_in, only_set};

fn installed(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIP: {tool} is not installed (.ci/run installs it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `examples/NAME.yaml` with `sets`, expecting every run ok; returns the set and its
/// journal.
fn run_example(dir: &Path, name: &str, sets: &[String]) -> (PathBuf, Vec<Value>) {
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.yaml"));
    let mut cmd = mpf_in(dir);
    cmd.arg("run").arg(&exp).args(["--runs", "1", "-q"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.assert().success();
    let set = only_set(dir);
    let recs = journal(&set);
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}");
    }
    (set.clone(), recs)
}

fn stored(set: &Path, r: &Value, file: &str) -> String {
    let run = format!("runs/{:04}", r["index"].as_u64().unwrap());
    std::fs::read_to_string(set.join(run).join(file)).unwrap()
}

fn same(got: &Value, want: f64, what: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
    assert!(
        (got - want).abs() <= 1e-12 * want.abs(),
        "{what}: extracted {got}, the tool says {want}"
    );
}

#[test]
fn redis_example_extracts_what_redis_benchmark_printed() {
    if !installed("redis-server") || !installed("redis-benchmark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "clients=1,4".to_string(),
        "requests=3000".to_string(),
        format!("port={}", free_port()),
    ];
    let (set, recs) = run_example(dir.path(), "redis", &sets);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let csv = stored(&set, r, "client/bench.out");
        let mut rows = csv.lines().map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_string())
                .collect::<Vec<_>>()
        });
        let header = rows.next().unwrap();
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let mut tests = 0;
        for row in rows {
            let test = row[0].to_lowercase();
            let num = |n: &str| row[col(n)].parse::<f64>().unwrap();
            let res = &r["results"];
            same(&res[format!("{test}_rps")], num("rps"), "rps");
            same(
                &res[format!("{test}_p50")],
                num("p50_latency_ms") / 1e3,
                "p50",
            );
            same(
                &res[format!("{test}_p99")],
                num("p99_latency_ms") / 1e3,
                "p99",
            );
            tests += 1;
        }
        assert_eq!(tests, 2, "SET and GET: {csv}");
    }
}

#[test]
fn fio_example_extracts_what_fio_wrote_in_its_json_report() {
    if !installed("fio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "bs=4k,64k".to_string(),
        "time=1".to_string(),
        "size=2M".to_string(),
    ];
    let (set, recs) = run_example(dir.path(), "fio", &sets);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let report: Value = serde_json::from_str(&stored(&set, r, "local/fio.json")).unwrap();
        let read = &report["jobs"][0]["read"];
        let res = &r["results"];
        same(&res["iops"], read["iops"].as_f64().unwrap(), "iops");
        same(
            &res["bandwidth"],
            read["bw_bytes"].as_f64().unwrap(),
            "bandwidth",
        );
        let p99_ns = read["clat_ns"]["percentile"]["99.000000"].as_f64().unwrap();
        same(&res["clat_p99"], p99_ns / 1e9, "clat p99");
        assert!(
            !set.join(format!(
                "runs/{:04}/local/fio.data",
                r["index"].as_u64().unwrap()
            ))
            .exists(),
            "the data file is removed"
        );
    }
}

/// `2.50MB` as wrk means it: binary prefixes.
fn wrk_bytes(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let mult = match unit {
        "B" | "" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("wrk unit {other}"),
    };
    num.parse::<f64>().unwrap() * mult
}

/// `96.00us`, `1.33ms`, `2.00s` in seconds.
fn wrk_seconds(text: &str) -> f64 {
    for (suffix, mult) in [("us", 1e-6), ("ms", 1e-3), ("m", 60.0), ("s", 1.0)] {
        if let Some(num) = text.strip_suffix(suffix) {
            return num.parse::<f64>().unwrap() * mult;
        }
    }
    panic!("wrk time {text}")
}

#[test]
fn wrk_example_extracts_what_wrk_printed() {
    if !installed("wrk") || !installed("nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "connections=1,4".to_string(),
        "duration=1s".to_string(),
        format!("port={}", free_port()),
    ];
    let (set, recs) = run_example(dir.path(), "wrk", &sets);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let out = stored(&set, r, "client/wrk.out");
        let field = |label: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .unwrap_or_else(|| panic!("no {label} in {out}"))
                .trim()
                .to_string()
        };
        let res = &r["results"];
        same(&res["rps"], field("Requests/sec:").parse().unwrap(), "rps");
        same(
            &res["transfer"],
            wrk_bytes(&field("Transfer/sec:")),
            "transfer",
        );
        for p in ["50", "90", "99"] {
            same(
                &res[format!("p{p}")],
                wrk_seconds(&field(&format!("{p}%"))),
                p,
            );
        }
    }
}

/// The sockperf example (SPEC §16): a search decided with confidence whose derived results
/// (loss, delivered) are recorded with every run. With `--runs 1` each probe is one run, decided
/// on its value; every value equals what sockperf printed.
#[test]
fn sockperf_example_searches_and_extracts_what_sockperf_printed() {
    if !installed("sockperf") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sets = ["time=1".to_string(), format!("port={}", free_port())];
    let (set, recs) = run_example(dir.path(), "sockperf-limit", &sets);
    assert!(recs.len() >= 2, "at least the two ends of the range");
    for r in &recs {
        let out = stored(&set, r, "client/client.out");
        let after = |label: &str| {
            let at = out
                .find(label)
                .unwrap_or_else(|| panic!("no {label} in {out}"));
            out[at + label.len()..]
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == ';')
                .next()
                .unwrap()
                .to_string()
        };
        let res = &r["results"];
        let p99: f64 = after("percentile 99.000 =").parse().unwrap();
        same(&res["p99"], p99 * 1e-6, "p99");
        let valid = &out[out.find("[Valid Duration]").unwrap()..];
        let sent: f64 = after_in(valid, "SentMessages=");
        let time: f64 = after_in(valid, "RunTime=");
        let dropped: f64 = after("# dropped messages =").parse().unwrap();
        same(&res["sent"], sent, "sent");
        if dropped == 0.0 {
            assert_eq!(res["loss"], 0.0);
        } else {
            same(&res["loss"], 100.0 * dropped / sent, "loss");
        }
        let rate = r["point"]["rate"].as_f64().unwrap();
        same(&res["delivered"], sent / (rate * time), "delivered");
    }
    let m = crate::common::manifest(&set);
    let status = m["limits"][0]["status"].as_str().unwrap();
    assert!(
        ["found", "holds everywhere", "fails everywhere"].contains(&status),
        "{status}: one run per probe is decided on its value"
    );
}

/// The number after `label` in `text` (up to a space, `;` or `,`).
fn after_in(text: &str, label: &str) -> f64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label} in {text}"));
    text[at + label.len()..]
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// numpy's default percentile: linear between the closest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[test]
fn pgbench_example_runs_a_temporary_cluster_and_extracts_what_pgbench_printed() {
    let initdb = std::process::Command::new("sh")
        .args([
            "-c",
            "command -v initdb || ls /usr/lib/postgresql/*/bin/initdb",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed("pgbench") || !initdb {
        eprintln!("SKIP: PostgreSQL's server is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sets = [
        "clients=1,4".to_string(),
        "time=1".to_string(),
        "scale=1".to_string(),
        format!("port={port}"),
    ];
    let (set, recs) = run_example(dir.path(), "pgbench", &sets);
    assert_eq!(recs.len(), 4);
    let mut modes = Vec::new();
    for r in &recs {
        let out = stored(&set, r, "client/bench.out");
        let after = |label: &str| -> f64 {
            let line = out.lines().find(|l| l.starts_with(label)).unwrap();
            line[label.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let res = &r["results"];
        same(&res["tps"], after("tps = "), "tps");
        same(
            &res["lat_avg"],
            after("latency average = ") / 1e3,
            "lat_avg",
        );
        // Read-only runs print pgbench's `-S` script name.
        let read_only = out.contains("<builtin: select only>");
        assert_eq!(r["point"]["mode"] == "read-only", read_only, "{out}");
        modes.push(r["point"]["mode"].as_str().unwrap().to_string());
        // The percentiles of the sampled transactions' latencies (microseconds).
        let csv = stored(&set, r, "client/lat.csv");
        let mut lat: Vec<f64> = csv.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        assert!(!lat.is_empty());
        lat.sort_by(f64::total_cmp);
        let p99 = res["lat.p99"].as_f64().unwrap();
        assert!(
            (p99 - percentile(&lat, 99.0) / 1e6).abs() <= 1e-9 * p99,
            "p99"
        );
        // db and client share this machine: one sampler, both names, only cpu and net.
        let mon = stored(&set, r, "monitor.csv");
        assert!(mon
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(1) == Some("db+client")));
        same(
            &res["mon.cpu.db"],
            res["mon.cpu.client"].as_f64().unwrap(),
            "cpu",
        );
        assert!(res.get("mon.mem.db").is_none());
    }
    modes.sort();
    modes.dedup();
    assert_eq!(modes, ["read-only", "read-write"]);
    // Cleanup stopped the server and removed its directory.
    assert!(!Path::new(&format!("/tmp/mpf-pgbench-{port}")).exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn rrul_example_measures_latency_under_load_between_two_namespaces() {
    if let Some(why) = crate::netns::unavailable() {
        assert!(
            std::env::var_os("MPF_REQUIRE_NETNS").is_none_or(|v| v != "1"),
            "the rrul example needs network namespaces (MPF_REQUIRE_NETNS=1) but {why}"
        );
        eprintln!("SKIP rrul example: {why}");
        return;
    }
    if !installed("iperf3") || !installed("ping") || !installed("tc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The example's cluster file with names and a subnet of this test's own, so that another
    // run of it at the same time does not collide.
    let tag = std::process::id() % 100_000;
    let cluster = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rrul-cluster.yaml"),
    )
    .unwrap()
    .replace("mpf-rrul-", &format!("mpf-rrul{tag}-"))
    .replace("rrul-s,", &format!("rs{tag},"))
    .replace("rrul-c,", &format!("rc{tag},"))
    .replace("10.99.0.", &format!("10.99.{}.", tag % 250));
    let cluster = crate::common::write(dir.path(), "cluster.yaml", &cluster);
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rrul.yaml");
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["--runs", "1", "-q", "-c"])
        .arg(&cluster)
        .args(["--set", "load=8,40", "--set", "time=2"])
        .assert()
        .success();
    let set = only_set(dir.path());
    let recs = journal(&set);
    assert_eq!(recs.len(), 4);
    let mut p99 = std::collections::BTreeMap::new();
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}");
        let res = &r["results"];
        let report: Value = serde_json::from_str(&stored(&set, r, "client/load.out")).unwrap();
        let goodput = report["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap();
        same(&res["goodput"], goodput, "goodput");
        // ping's own lines, the first second (10 pings) dropped.
        let ping = stored(&set, r, "client/ping.out");
        let mut rtt: Vec<f64> = ping
            .lines()
            .filter_map(|l| l.split("time=").nth(1)?.split(' ').next()?.parse().ok())
            .skip(10)
            .collect();
        assert!(rtt.len() >= 15, "{ping}");
        rtt.sort_by(f64::total_cmp);
        for (stat, p) in [("rtt.p50", 50.0), ("rtt.p99", 99.0)] {
            let got = res[stat].as_f64().unwrap();
            let want = percentile(&rtt, p) / 1e3;
            assert!((got - want).abs() <= 1e-9 * want, "{stat}: {got} vs {want}");
        }
        // The interface's rate while the load ran is iperf3's; the whole run's is lower.
        let window = res["mon.net.tx.client@load"].as_f64().unwrap();
        let whole = res["mon.net.tx.client"].as_f64().unwrap();
        assert!(
            (window / goodput - 1.0).abs() < 0.15,
            "{window} vs {goodput}"
        );
        assert!(whole < 0.9 * window, "{whole} vs {window}");
        let key = (
            r["point"]["load"].to_string(),
            r["point"]["queue"].to_string(),
        );
        p99.insert(key, res["rtt.p99"].as_f64().unwrap());
    }
    // Past the bottleneck's 20 Mbit/s the queue fills: the short queue bounds the delay, a
    // deep one holds far more.
    let at = |q: &str| p99[&("40".to_string(), format!("\"{q}\""))];
    println!(
        "p99 at 40 Mbit/s: queue 10ms {}, 200ms {}",
        at("10ms"),
        at("200ms")
    );
    assert!(at("10ms") < 0.05, "{}", at("10ms"));
    assert!(at("200ms") > 2.0 * at("10ms"));
    // Cleanup removed the namespaces.
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&format!("mpf-rrul{tag}-")));
}

/// examples/profile.yaml (SPEC §18.1): its own two namespaces, tbf switched on for one block
/// and off for the other. Needs root (CI runs as root, under `MPF_REQUIRE_NETNS=1`).
#[test]
fn profile_example_shapes_only_its_block_and_leaves_nothing() {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !root || !installed("iperf3") || !installed("tc") {
        assert!(
            std::env::var_os("MPF_REQUIRE_NETNS").is_none_or(|v| v != "1"),
            "the profile example needs root, iperf3 and tc"
        );
        eprintln!("SKIP: the profile example needs root, iperf3 and tc");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (set, recs) = run_example(dir.path(), "profile", &[]);
    assert_eq!(recs.len(), 4);
    for r in &recs {
        let g = r["results"]["goodput"].as_f64().unwrap();
        if r["point"]["qdisc"] == "tbf" {
            assert!(g < 12e6, "shaped to 10 Mbit/s: {r}");
        } else {
            assert!(g > 100e6, "unshaped: {r}");
        }
    }
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("manifest.json")).unwrap()).unwrap();
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| b["reverted_at"].is_string()));
    let id = m["id"].as_str().unwrap();
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(id),
        "cleanup removed the namespaces"
    );
}
