//! Result sets built on disk with the store's writer, for the plot, report and export tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mpf::internals::store::record::{
    Better, HostFacts, Manifest, ResultInfo, RunRecord, RunStatus, SetStatus, StepRecord,
    VariableInfo,
};
use mpf::internals::store::writer::SetWriter;
use serde_json::{json, Map, Value};

/// A deterministic noise source (xorshift), so that sets and their graphs are reproducible.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.max(1))
    }
    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

pub fn var(name: &str, values: Value, labels: Option<&[&str]>) -> VariableInfo {
    let values: Vec<Value> = values.as_array().cloned().unwrap_or_default();
    let labels = match labels {
        Some(l) => l.iter().map(|s| s.to_string()).collect(),
        None => values
            .iter()
            .map(mpf::internals::store::record::value_text)
            .collect(),
    };
    VariableInfo {
        name: name.into(),
        numeric: values.iter().all(Value::is_number),
        geometric: false,
        constant: values.len() == 1,
        when: None,
        index: Default::default(),
        values: values.into(),
        labels,
    }
}

pub fn result(name: &str, unit: &str) -> ResultInfo {
    ResultInfo {
        name: name.into(),
        unit: unit.into(),
        better: Better::Higher,
        series: false,
    }
}

pub fn manifest(
    id: &str,
    name: &str,
    variables: Vec<VariableInfo>,
    results: Vec<ResultInfo>,
) -> Manifest {
    Manifest {
        format: 1,
        mpf_version: "0.1.0".into(),
        id: id.into(),
        name: name.into(),
        description: format!("{name} fixture"),
        status: SetStatus::Running,
        started: "2026-11-25T10:00:00.000Z".into(),
        ended: None,
        seed: "mpf".into(),
        order: "shuffle".into(),
        runs_per_point: 3,
        planned_runs: 0,
        variables,
        results,
        hosts: vec![HostFacts {
            name: "localhost".into(),
            roles: vec!["server".into(), "client".into()],
            hostname: "testbed-1".into(),
            kernel: "6.1.0-18-amd64".into(),
            cpu_model: "AMD EPYC 7302P 16-Core Processor".into(),
            cores: 32,
            memory_bytes: 128 * 1024 * 1024 * 1024,
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            settings: [
                ("governor", "performance"),
                ("turbo", "false"),
                ("smt", "true"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into_iter()
            .collect(),
        }],
        git: None,
        synced: Vec::new(),
        experiment_hash: "0123456789abcdef".into(),
        overrides: Map::new(),
        runs_ok: 0,
        runs_failed: 0,
        plot: None,
        requirements: None,
        adaptive: None,
        points: Vec::new(),
        search: None,
        limits: Vec::new(),
        sessions: Vec::new(),
        blocks: Vec::new(),
    }
}

pub fn record(index: usize, point: Value, repetition: usize, results: Value) -> RunRecord {
    RunRecord {
        index,
        point_index: 0,
        point: point.as_object().cloned().unwrap_or_default(),
        repetition,
        status: RunStatus::Ok,
        attempts: 1,
        results: results.as_object().cloned().unwrap_or_default(),
        steps: vec![StepRecord {
            name: "client".into(),
            role: "client".into(),
            host: "localhost".into(),
            node: None,
            exit: Some(0),
            duration: 2.0,
            timed_out: false,
            background: false,
            start: Some(0.5),
        }],
        started: "2026-11-25T10:00:01.000Z".into(),
        ended: "2026-11-25T10:00:03.000Z".into(),
        error: None,
        notes: vec![],
        warmup_dropped: Default::default(),
        extraction_failed: false,
    }
}

/// Writes a complete result set under `root` and returns its directory.
pub fn write_set(
    root: &Path,
    manifest: Manifest,
    experiment: &str,
    records: Vec<RunRecord>,
) -> PathBuf {
    let mut m = manifest;
    m.planned_runs = records.len();
    let mut w = SetWriter::create(root, m, experiment, None).expect("create set");
    for r in records {
        w.append(r).expect("append");
    }
    w.manifest.ended = Some("2026-11-25T10:04:10.000Z".into());
    w.finish(SetStatus::Complete).expect("finish");
    w.manifest.ended = Some("2026-11-25T10:04:10.000Z".into());
    w.write_manifest().expect("manifest");
    w.dir().to_path_buf()
}

/// A sweep of `x` over `n` points of one run each, with one result `name` in `unit` worth
/// `value(x)`, as set `id` under `root`, its journal written straight to disk (a `SetWriter`
/// would sync every run): the large sets of the report and compare tests.
pub fn sweep_set(
    root: &Path,
    id: &str,
    (name, unit): (&str, &str),
    n: usize,
    mut value: impl FnMut(usize) -> f64,
) -> PathBuf {
    let values: Vec<Value> = (0..n).map(|i| json!(i)).collect();
    let mut m = manifest(
        id,
        "big",
        vec![var("x", Value::Array(values), None)],
        vec![result(name, unit)],
    );
    m.status = SetStatus::Complete;
    m.runs_per_point = 1;
    m.planned_runs = n;
    m.runs_ok = n;
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("experiment.yaml"), "name: big\n").unwrap();
    let mut journal = String::new();
    for i in 0..n {
        let mut r = record(i, json!({"x": i}), 0, json!({ name: value(i) }));
        r.point_index = i;
        journal.push_str(&serde_json::to_string(&r).unwrap());
        journal.push('\n');
    }
    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();
    dir
}

/// The iperf experiment of SPEC §2: goodput over parallel streams, with and without zero-copy,
/// plus the client step's wall time and per-second interval series; one run failed.
pub fn iperf(root: &Path) -> PathBuf {
    let mut noise = Noise::new(7);
    let m = manifest(
        "iperf-20261125T100000Z-ab12",
        "iperf",
        vec![
            var("parallel", json!([1, 2, 3, 4, 5, 6, 7, 8]), None),
            var(
                "zerocopy",
                json!(["", "-Z"]),
                Some(&["disabled", "enabled"]),
            ),
            var("time", json!([2]), None),
        ],
        vec![
            result("goodput", "bit/s"),
            ResultInfo {
                series: true,
                ..result("intervals", "bit/s")
            },
            ResultInfo {
                better: Better::Lower,
                ..result("client.duration", "s")
            },
        ],
    );
    let mut records = Vec::new();
    let mut index = 0;
    for parallel in 1..=8u32 {
        for (z, zc) in ["", "-Z"].iter().enumerate() {
            for rep in 0..3 {
                let p = parallel as f64;
                // Saturates towards 9.4 Gbit/s; zero-copy gets there sooner.
                let base = 9.4e9 * (1.0 - (-(p) / if z == 1 { 1.6 } else { 2.6 }).exp());
                let goodput = base * (1.0 + 0.03 * noise.next());
                let intervals: Vec<f64> = (0..4)
                    .map(|_| goodput * (1.0 + 0.05 * noise.next()))
                    .collect();
                let point = json!({"parallel": parallel, "zerocopy": zc, "time": 2});
                let mut r = record(
                    index,
                    point,
                    rep,
                    json!({"goodput": goodput, "intervals": intervals,
                           "client.duration": 2.05 + 0.02 * noise.next()}),
                );
                if parallel == 7 && z == 0 && rep == 2 {
                    r.status = RunStatus::Failed;
                    r.results = Map::new();
                    r.error = Some(
                        "step client exited with status 1:\niperf3: error - unable to connect to server: Connection refused <10.0.0.1>".into(),
                    );
                }
                records.push(r);
                index += 1;
            }
        }
    }
    let experiment = "name: iperf\nplot: {x: parallel, y: goodput, series: zerocopy}\n";
    write_set(root, m, experiment, records)
}

/// The quickstart: latency of a local command over a geometric message size, 5 runs each.
pub fn quickstart(root: &Path) -> PathBuf {
    let mut noise = Noise::new(11);
    let mut size = var("size", json!([1, 4, 16, 64, 256, 1024]), None);
    size.geometric = true;
    let m = manifest(
        "quickstart-20261125T100000Z-qs01",
        "quickstart",
        vec![size],
        vec![result("latency", "s")],
    );
    let mut records = Vec::new();
    for (i, s) in [1, 4, 16, 64, 256, 1024].iter().enumerate() {
        for rep in 0..5 {
            let lat = (0.8e-3 + 0.05e-3 * *s as f64) * (1.0 + 0.08 * noise.next());
            records.push(record(
                i * 5 + rep,
                json!({"size": s}),
                rep,
                json!({"latency": lat}),
            ));
        }
    }
    write_set(root, m, "name: quickstart\n", records)
}

/// No swept variable: one point measured ten times.
pub fn single_point(root: &Path) -> PathBuf {
    let mut noise = Noise::new(3);
    let m = manifest(
        "single-20261125T100000Z-sp01",
        "single",
        vec![var("time", json!([10]), None)],
        vec![result("rtt", "s")],
    );
    let records = (0..10)
        .map(|i| {
            let rtt = 0.0123 * (1.0 + 0.1 * noise.next()) + if i == 9 { 0.01 } else { 0.0 };
            record(i, json!({"time": 10}), i, json!({"rtt": rtt}))
        })
        .collect();
    write_set(root, m, "name: single\n", records)
}

/// Categorical variables, a `when` condition (null scheduler on singlepath) and a third
/// variable: bars, series and small multiples.
pub fn multipath(root: &Path) -> PathBuf {
    let mut noise = Noise::new(5);
    let mut sched = var("scheduler", json!(["lowrtt", "roundrobin"]), None);
    sched.when = Some("variant == \"multipath\"".into());
    let m = manifest(
        "multipath-20261125T100000Z-mp01",
        "multipath",
        vec![
            var("variant", json!(["singlepath", "multipath"]), None),
            sched,
            var("cc", json!(["cubic", "bbr"]), None),
        ],
        vec![result("goodput", "bit/s"), result("completion", "s")],
    );
    let mut records = Vec::new();
    let mut index = 0;
    for variant in ["singlepath", "multipath"] {
        let scheds: Vec<Value> = if variant == "multipath" {
            vec![json!("lowrtt"), json!("roundrobin")]
        } else {
            vec![Value::Null]
        };
        for s in scheds {
            for (c, cc) in ["cubic", "bbr"].iter().enumerate() {
                for rep in 0..3 {
                    let base = if variant == "multipath" {
                        1.7e9
                    } else {
                        0.94e9
                    } * if s == json!("roundrobin") { 0.9 } else { 1.0 }
                        * if c == 1 { 1.05 } else { 1.0 };
                    let g = base * (1.0 + 0.04 * noise.next());
                    records.push(record(
                        index,
                        json!({"variant": variant, "scheduler": s, "cc": cc}),
                        rep,
                        json!({"goodput": g, "completion": 8e9 / g}),
                    ));
                    index += 1;
                }
            }
        }
    }
    write_set(root, m, "name: multipath\n", records)
}
