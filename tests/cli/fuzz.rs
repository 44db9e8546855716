//! Property tests that feed hostile input through every parser: experiment and cluster files
//! (the real examples mutated, and random key/value trees), step output through the extractors
//! and units, journal bytes through the store's readers, manifests, and packs (bytes flipped, cut,
//! appended) through extraction and `verify`. The property is always the same:
//! and units, journal bytes through the store's readers, and what a monitored machine sends
//! (Prometheus answers, the sampler's /proc lines) through the monitor's readers into a
//! `monitor.csv` that mpf's own reader must take whole. The property is always the same:
//! no panic (an error is a fine answer). `PROPTEST_CASES=200000` runs them long; by default
//! each runs a few dozen cases so that `cargo test` stays fast.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

use mpf::internals::spec::extractor::{Json, Regex};
use mpf::internals::spec::{parse_cluster, parse_experiment, Extractor};

pub(crate) fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

/// An experiment that uses what the examples do not: zip, when, files, teardown, setup,
/// templated roles, ready, sampling.
const RICH: &str = r#"name: rich
runs: 2
retries: 1
order: sequential
variables:
  a: [1, 2]
  b: {range: [1, 2], step: 1}
  zip: [a, b]
  target: [server, client]
  c:
    values: {x: X, y: Y}
    when: a == 1
sampling: {method: wsp, count: 3}
setup:
  - role: all
    run: echo setup {{ roles.server.host }}
    timeout: 1h
steps:
  - name: srv
    role: server
    background: true
    ready: {log: 'up', timeout: 5s}
    run: echo up; sleep 1
  - name: cli
    role: "{{ target }}"
    delay: 100ms
    timeout: 10s
    run: echo {{ a | quote }} {{ labels.c }} {{ run.id }} {{ run_dir }}
    results:
      v: {regex: 'v=(?P<value>\d+ ms)', unit: s, better: lower}
      j: {json: end.sum.bits, unit: bit/s}
      s: {regex: 'x=(\d+)', all: true}
      q: {expr: 'r * 2 + results["v"]', better: lower}
      r: {expr: 'v / (j - j) * a', unit: s}
teardown:
  - role: [server, client]
    run: 'true'
files:
  - role: server
    path: "{{ run_dir }}/c.ini"
    content: "n = {{ b }}\n"
plot: {x: a, y: v, series: c}
"#;

const ORIGINAL_CLUSTER: &str = r#"global:
  python_path: /path/to/python
machines:
  - &controller_def
    hostname: localhost
    user: root
    role: main
    interfaces:
      - {name: lo, ip: 127.0.0.1, link: loopback, direction: forward}
  - hostname: node2
    user: root
    port: 2222
    identity: ~/.ssh/id
    namespaces:
      - role: ns-node
        namespace: ns-00
        cpu_id: 1
        interfaces:
        - name: lo
          ip: 127.0.0.1
controller:
  <<: *controller_def
  ports: '65400-65432'
"#;

/// Keys of both file formats, so that random trees and insertions reach deep validation.
const KEYS: &[&str] = &[
    "name",
    "description",
    "runs",
    "order",
    "seed",
    "variables",
    "sampling",
    "method",
    "count",
    "setup",
    "steps",
    "teardown",
    "files",
    "retries",
    "on_failure",
    "plot",
    "x",
    "y",
    "series",
    "role",
    "run",
    "background",
    "ready",
    "port",
    "host",
    "log",
    "delay",
    "timeout",
    "results",
    "regex",
    "json",
    "unit",
    "all",
    "better",
    "sync",
    "from",
    "to",
    "exclude",
    "packages",
    "apt",
    "dnf",
    "path",
    "content",
    "range",
    "step",
    "factor",
    "values",
    "when",
    "zip",
    "machines",
    "hostname",
    "user",
    "identity",
    "ssh_options",
    "local",
    "max_sessions",
    "namespaces",
    "namespace",
    "cpu_id",
    "interfaces",
    "ip",
    "link",
    "direction",
    "neighbour",
    "global",
    "controller",
    "<<",
];

/// Scalars that have broken, or could break, a parser or a limit.
fn hostile_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "10000000000000000000",
            "18446744073709551616",
            "-9223372036854775808",
            "-1",
            "0",
            "1e308",
            "-1e308",
            "5e-324",
            ".nan",
            ".inf",
            "~",
            "[]",
            "{}",
            "''",
            "\"{{ x | quot }}\"",
            "\"{{ roles.a.ip }}\"",
            "\"{% for i in range(3) %}{{ i }}{% endfor %}\"",
            "\"{{\"",
            "../up",
            "/tmp/x",
            "-oProxyCommand=x",
            "\"a b'; id; '\"",
            "{range: [1, 100000]}",
            "{range: [1, 8], factor: 1.0000001}",
            "{range: [1, 1e300], step: 1e-300}",
            "{range: [-5, 5], factor: 2}",
            "{regex: '(a'}",
            "{regex: 'a'}",
            "{json: ''}",
            "{json: a..b}",
            "{values: {a: 1, 1: b}}",
            "[a, a]",
            "[1, [2]]",
            "{port: 0}",
            "{log: '['}",
            "\"1-\"",
            "\"0-3,5\"",
            "all",
            "local",
            "\"\\u0000\"",
            "\"\\e[31m\"",
            "&a x",
            "*a",
            "*nope",
            "!!binary aGk=",
            "\"1h 30min\"",
            "30days",
            "\"99999999999999h\"",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[ -~]{0,16}".prop_map(|s| format!("{s:?}")),
        "[a-z_]{1,8}",
    ]
}

/// One edit of a YAML text, by line.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Delete(usize),
    Duplicate(usize),
    /// Replace what follows the line's first `: ` (or the line) with a scalar.
    Value(usize, String),
    /// Insert `key: scalar` before a line, at that line's indentation.
    Insert(usize, &'static str, String),
    /// Cut the text at a byte (a torn file).
    Truncate(usize),
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), hostile_scalar()).prop_map(|(i, v)| Edit::Value(i, v)),
        (any::<usize>(), prop::sample::select(KEYS), hostile_scalar())
            .prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

pub(crate) fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Value(i, v) => {
                let l = &mut lines[i % n];
                *l = match l.find(": ") {
                    Some(at) => format!("{}: {v}", &l[..at]),
                    None => format!("{l} {v}"),
                };
            }
            Edit::Insert(i, k, v) => {
                let l = &lines[i % n];
                let indent: String = l.chars().take_while(|c| *c == ' ' || *c == '-').collect();
                let indent = indent.replace('-', " ");
                lines.insert(i % n, format!("{indent}{k}: {v}"));
            }
            Edit::Truncate(at) => {
                let joined = lines.join("\n");
                let mut cut = at % (joined.len() + 1);
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = joined[..cut].lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n") + "\n"
}

/// A random key/value tree over the known keys (JSON is YAML, flow style).
fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        hostile_scalar().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Parses an experiment text and, when it loads, plans it (if small) and checks its templates
/// against the example cluster.
fn exercise_experiment(text: &str) {
    let Ok(exp) = parse_experiment(Path::new("fuzz.yaml"), text) else {
        return;
    };
    let points: f64 = exp
        .variables
        .iter()
        .map(|v| v.values.len() as f64)
        .product();
    if points * exp.runs as f64 <= 20_000.0 {
        let _ = mpf::internals::plan::plan(&exp);
    }
    if let Ok(c) = parse_cluster(Path::new("c.yaml"), &example("cluster.yaml")) {
        let _ = c.check_experiment(&exp);
    }
    let _ = exp.result_infos();
    // Derived results over values that give 0 / 0 and overflow: errors, never a panic.
    let point: Map<String, Value> = exp
        .variables
        .iter()
        .filter_map(|v| Some((v.name.clone(), v.values.first()?.clone())))
        .collect();
    for fill in [0.0, 1e308, -1.0] {
        let mut values: Map<String, Value> = exp
            .result_infos()
            .iter()
            .map(|r| (r.name.clone(), Value::from(fill)))
            .collect();
        let mut errors = Vec::new();
        mpf::internals::spec::derived::evaluate(&exp, &point, &mut values, &mut errors);
    }
}

fn exercise_cluster(text: &str) {
    let Ok(c) = parse_cluster(Path::new("fuzz-cluster.yaml"), text) else {
        return;
    };
    for m in &c.machines {
        let _ = m.destination();
    }
    if let Ok(exp) = parse_experiment(Path::new("e.yaml"), RICH) {
        let _ = c.check_experiment(&exp);
    }
}

/// The mutations start from valid files, so that they reach past the first check (RICH had
/// zipped variables of different lengths and was refused before its steps were read).
#[test]
fn the_bases_of_the_mutations_are_valid() {
    let exp = parse_experiment(Path::new("e.yaml"), RICH).unwrap();
    let derived: Vec<&str> = exp.derived.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(derived, ["r", "q"], "ordered by what they read");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_experiment_files_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let base = match which {
            0 => example("iperf.yaml"),
            1 => example("quickstart.yaml"),
            _ => RICH.to_string(),
        };
        exercise_experiment(&apply(&base, &edits));
    }

    #[test]
    fn random_trees_never_panic_as_experiment_or_cluster(t in tree()) {
        let text = serde_json::to_string(&t).unwrap();
        exercise_experiment(&text);
        exercise_cluster(&text);
    }

    #[test]
    fn mutated_cluster_files_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let base = match which {
            0 => example("cluster.yaml"),
            1 => example("container-cluster.yaml"),
            _ => ORIGINAL_CLUSTER.to_string(),
        };
        exercise_cluster(&apply(&base, &edits));
    }

    #[test]
    fn templates_are_checked_without_panic(text in "[{}%#|a-z_ .()'\"0-9]{0,40}") {
        let known = mpf::internals::template::KnownNames {
            variables: ["a", "b"].iter().map(|s| s.to_string()).collect(),
            roles: None,
            links: None,
        };
        let _ = mpf::internals::template::check_template(&text, &known);
        let _ = mpf::internals::template::check_expression(&text, &known);
    }

    #[test]
    fn step_output_through_the_extractors_never_panics(
        lines in prop::collection::vec(output_line(), 0..12),
        regexes in prop::collection::vec(prop::sample::select(REGEXES), 0..4),
        paths in prop::collection::vec("[a-z0-9]{1,4}(\\.[a-z0-9]{1,4}){0,3}", 0..3),
        units in prop::collection::vec(prop::sample::select(UNITS), 6),
        all in any::<bool>(),
        suffix in prop::sample::select(vec!["", ".server", ".a.b"]),
    ) {
        let stdout = lines.join("\n");
        let mut extractors = Vec::new();
        for (i, re) in regexes.iter().enumerate() {
            let mut e = Extractor::new(
                &format!("r{i}"),
                Regex { re: regex::Regex::new(re).unwrap(), all },
            );
            e.unit = Some(units[i]).filter(|u| !u.is_empty()).map(str::to_string);
            extractors.push(e);
        }
        for (i, p) in paths.iter().enumerate() {
            let mut e = Extractor::new(
                &format!("j{i}"),
                Json { path: p.split('.').map(str::to_string).collect() },
            );
            e.unit = Some(units[i + 3]).filter(|u| !u.is_empty()).map(str::to_string);
            extractors.push(e);
        }
        let taken: std::collections::HashSet<String> =
            ["run", "ok", "x"].iter().map(|s| s.to_string()).collect();
        let given = mpf::internals::extract::Given {
            stdout: stdout.clone(),
            stderr: stdout.clone(),
            ..Default::default()
        };
        let _ = mpf::internals::extract::extract(&given, &extractors, suffix, &taken);
        // `mpf-result` lines alone.
        let _ = mpf::internals::extract::extract(&given, &[], suffix, &taken);
        for l in &lines {
            for u in &units {
                let _ = mpf::internals::units::normalise(l, Some(u).filter(|u| !u.is_empty()).copied());
            }
        }
    }

    #[test]
    fn journal_bytes_never_panic_the_readers(
        records in prop::collection::vec(journal_line(), 0..6),
        cut in any::<usize>(),
        junk in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let m = crate::fixtures::manifest("fuzz-set", "fuzz", Vec::new(), Vec::new());
        let w = mpf::internals::store::writer::SetWriter::create(dir.path(), m.clone(), "", None).unwrap();
        let set = w.dir().to_path_buf();
        drop(w);
        let mut bytes: Vec<u8> = records.join("\n").into_bytes();
        let cut = cut % (bytes.len() + 1);
        bytes.truncate(cut);
        bytes.extend_from_slice(&junk);
        let journal = set.join("journal.jsonl");
        std::fs::write(&journal, &bytes).unwrap();
        let _ = mpf::internals::store::resultset::read_journal(&journal);
        let _ = mpf::internals::store::resultset::ResultSet::load(&set);
        let _ = mpf::internals::store::writer::SetWriter::reopen(&set, m);
    }
}

/// A line of a Prometheus exposition: samples with hostile names, labels and values,
/// comments, and junk.
fn exposition_line() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        number_text(),
        Just("+Inf".to_string()),
        Just("-Inf".to_string()),
        Just("NaN".to_string()),
    ];
    prop_oneof![
        3 => ("[a-z_:][a-z0-9_:]{0,12}", value.clone())
            .prop_map(|(n, v)| format!("{n} {v}")),
        3 => (
            "[a-z_][a-z0-9_]{0,8}",
            prop::collection::vec(("[a-z_]{1,6}", ".{0,12}"), 0..3),
            value.clone(),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(n, labels, v, ts)| {
                let l: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "\\\"")))
                    .collect();
                let ts = ts.map(|t| format!(" {t}")).unwrap_or_default();
                format!("{n}{{{}}} {v}{ts}", l.join(","))
            }),
        1 => (1usize..3000).prop_map(|n| format!("long{{l=\"{}\"}} 1", "x".repeat(n))),
        1 => "# (HELP|TYPE) [a-z_]{1,8} .{0,20}",
        1 => ".{0,40}",
        1 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A line of the sampler's output (sampler.sh): ticks with hostile counters and names.
fn sampler_line() -> impl Strategy<Value = String> {
    let count = prop_oneof![
        any::<u64>().prop_map(|c| c.to_string()),
        (0u64..1000).prop_map(|c| c.to_string()),
        "[0-9-]{1,22}",
    ];
    let name = prop_oneof![
        prop::sample::select(vec!["cpu", "cpu0", "cpu1", "lo", "eth0", "sda", "all", "0"])
            .prop_map(str::to_string),
        "[ -~]{0,200}",
    ];
    prop_oneof![
        2 => prop_oneof![
            (0u64..100_000).prop_map(|u| format!("{}.{:02}", u / 100, u % 100)),
            number_text(),
        ]
        .prop_map(|u| format!("t {u}")),
        1 => Just("e".to_string()),
        2 => (name.clone(), count.clone(), count.clone()).prop_map(|(n, a, b)| format!("c {n} {a} {b}")),
        1 => count.clone().prop_map(|m| format!("m {m}")),
        2 => (name.clone(), prop::collection::vec(count.clone(), 6))
            .prop_map(|(n, c)| format!("n {n} {}", c.join(" "))),
        1 => (name.clone(), count.clone(), count.clone()).prop_map(|(n, a, b)| format!("d {n} {a} {b}")),
        1 => (name.clone(), count.clone()).prop_map(|(n, c)| format!("f {n} {c}")),
        1 => (name, count).prop_map(|(n, c)| format!("i {n} {c}")),
        1 => ".{0,30}",
    ]
}

/// Writes `samples` as a run's `monitor.csv` and reads it back with mpf's own reader: the
/// reader takes every row (none skipped).
fn reads_back_whole(samples: &mpf::internals::monitor::Samples) {
    let mut csv = Vec::new();
    samples.write_csv(&mut csv).unwrap();
    let rows = samples.sources.iter().map(|(_, p)| p.len()).sum::<usize>();
    let read = mpf::internals::store::timeseries::parse(Path::new("monitor.csv"), 0, &csv).unwrap();
    assert_eq!(read.skipped, 0, "{:?}", read.first_skipped);
    assert_eq!(read.rows.len(), rows);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prometheus_answers_never_panic_and_what_is_kept_reads_back(
        lines in prop::collection::vec(exposition_line(), 0..30),
        status in prop::sample::select(vec!["200 OK", "404 Not Found", "200", "x"]),
        gzip in any::<bool>(),
        cut in any::<usize>(),
    ) {
        let text = lines.join("\n");
        let enc = if gzip { "Content-Encoding: gzip\r\n" } else { "" };
        let mut answer = format!("HTTP/1.0 {status}\r\n{enc}\r\n{text}\n").into_bytes();
        // Cut anywhere, as a server dying mid-answer does.
        if cut % 4 == 0 {
            answer.truncate(cut % (answer.len() + 1));
        }
        let body = mpf::internals::monitor::prom::body(&answer).map(|a| a.body).unwrap_or(text);
        let re = regex::Regex::new("^(?:[a-l].*)$").unwrap();
        let mut scraped = mpf::internals::monitor::Scraped::default();
        let mut samples = mpf::internals::monitor::Samples::default();
        for (t, matches) in [(0.5, None), (1.0, Some(&re))] {
            let (found, read) = mpf::internals::monitor::prom::samples(&body, matches);
            prop_assert!(found.len() <= read);
            let points = scraped.points(found, t);
            prop_assert!(points.iter().all(|p| p.value.is_finite()));
            samples.extend("server", points);
        }
        let _ = scraped.notes("on server:9100");
        reads_back_whole(&samples);
    }

    /// JSON paths are read without building the document: what they select must be what
    /// the parsed tree holds at the path (numbers, lists of numbers, booleans as 1/0), and
    /// anything else an error.
    #[test]
    fn json_paths_read_as_they_stream_agree_with_the_parsed_tree(
        doc in tree(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..5),
    ) {
        // A path that exists: keys and indices chosen along the tree, cut anywhere.
        let mut path = Vec::new();
        let mut at = &doc;
        for pick in &picks {
            match at {
                Value::Object(m) if !m.is_empty() => {
                    let (k, v) = m.iter().nth(pick.index(m.len())).unwrap();
                    path.push(k.clone());
                    at = v;
                }
                Value::Array(a) if !a.is_empty() => {
                    let i = pick.index(a.len());
                    path.push(i.to_string());
                    at = &a[i];
                }
                _ => break,
            }
        }
        if path.is_empty() || path.iter().any(|k| k.is_empty()) {
            return Ok(());
        }
        let e = Extractor::new("x", Json { path: path.clone() });
        let given = mpf::internals::extract::Given {
            stdout: serde_json::to_string(&doc).unwrap(),
            ..Default::default()
        };
        let got = mpf::internals::extract::extract(&given, &[e], "", &Default::default());
        let number = |v: &Value| match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        match at {
            Value::Array(items) if !items.is_empty() && items.iter().all(|i| number(i).is_some()) => {
                let want: Vec<Value> = items.iter().map(|i| serde_json::json!(number(i).unwrap())).collect();
                prop_assert_eq!(&got.values["x"], &Value::Array(want));
            }
            v if number(v).is_some() => {
                prop_assert_eq!(&got.values["x"], &serde_json::json!(number(v).unwrap()));
            }
            // Strings go through unit parsing; anything else is an error.
            Value::String(_) => {}
            Value::Array(items) if items.iter().any(|i| matches!(i, Value::String(_))) => {}
            _ => prop_assert!(!got.errors.is_empty(), "{:?} at {:?}", got.values, path),
        }
    }

    #[test]
    fn sampler_lines_never_panic_and_their_rates_read_back(
        lines in prop::collection::vec(sampler_line(), 0..60),
        pinned in any::<bool>(),
    ) {
        let mut parser = mpf::internals::monitor::rates::TickParser::default();
        let scope = if pinned {
            mpf::internals::monitor::rates::CpuScope::Pinned(vec![0, 1])
        } else {
            mpf::internals::monitor::rates::CpuScope::Machine
        };
        let mut prev: Option<mpf::internals::monitor::rates::Tick> = None;
        let mut points = Vec::new();
        for l in &lines {
            if let Some(tick) = parser.line(l) {
                let ps = mpf::internals::monitor::rates::points(prev.as_ref(), &tick, &scope, |u| u);
                prop_assert!(ps.iter().all(|p| p.value.is_finite() && p.t0 <= p.t1), "{ps:?}");
                points.extend(ps);
                prev = Some(tick);
            }
        }
        let mut samples = mpf::internals::monitor::Samples::default();
        samples.extend("client", points);
        let _ = samples.summaries((-1e9, 1e9));
        reads_back_whole(&samples);
    }
}

const REGEXES: &[&str] = &[
    r"(\d+)",
    r"(?P<value>[0-9.]+ ?\S*)",
    r"lat=([0-9.eE+-]+ ?[a-zµ]*)",
    r"(.*)",
    r"()",
    r"x=(\d+)?",
    r"(?P<value>\S+)",
];

const UNITS: &[&str] = &[
    "", "s", "ms", "bit/s", "B", "B/s", "KiB", "Mbit/s", "widgets", "%", "/", "bit/", "µs",
];

pub(crate) fn output_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            "[a-z0-9_.]{0,6}",
            number_text(),
            prop::sample::select(UNITS)
        )
            .prop_map(|(n, v, u)| format!("mpf-result {n} {v} {u}")),
        "mpf-result[ -~]{0,20}",
        tree().prop_map(|t| serde_json::to_string(&t).unwrap()),
        (tree(), any::<usize>()).prop_map(|(t, cut)| {
            let s = serde_json::to_string(&t).unwrap();
            let mut c = cut % (s.len() + 1);
            while !s.is_char_boundary(c) {
                c -= 1;
            }
            s[..c].to_string()
        }),
        (number_text(), prop::sample::select(UNITS))
            .prop_map(|(v, u)| format!("lat={v} {u} x={v}")),
        ".{0,30}",
        prop::collection::vec(any::<u8>(), 0..30)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[0-9.eE+-]{1,12}",
        Just("1e999".to_string()),
        Just("NaN".to_string()),
        Just("-inf".to_string()),
    ]
}

/// A journal line: a real record (possibly with hostile values), a mutation of one, or junk.
fn journal_line() -> impl Strategy<Value = String> {
    let record = (any::<u32>(), tree(), tree()).prop_map(|(i, point, results)| {
        let mut r = crate::fixtures::record(
            i as usize,
            Value::Object(Map::new()),
            0,
            Value::Object(Map::new()),
        );
        if let Value::Object(p) = point {
            r.point = p;
        }
        if let Value::Object(res) = results {
            r.results = res;
        }
        serde_json::to_string(&r).unwrap()
    });
    prop_oneof![
        3 => record,
        1 => tree().prop_map(|t| serde_json::to_string(&t).unwrap()),
        1 => ".{0,20}",
        1 => Just(String::new()),
    ]
}

/// A real pack of the format-1 fixture set, built once.
fn fixture_pack() -> &'static [u8] {
    static PACK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PACK.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sets/format-1");
        let set = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let mut out = Vec::new();
        let report = |set: &mpf::internals::store::ResultSet, out: &std::path::Path| {
            mpf::internals::report::html::write_report(set, out, None)
        };
        mpf::internals::store::pack::write_pack(&[set], "f.tar.gz", &mut out, &report).unwrap();
        out
    })
}

proptest! {
    #![proptest_config(config())]

    /// A pack with bytes changed, cut or appended: extracting and verifying it answers
    /// (usually an error), never panics, and never writes outside its own directory.
    #[test]
    fn mutated_packs_never_panic_or_escape(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut data = fixture_pack().to_vec();
        for (at, byte) in &flips {
            let i = at.index(data.len());
            data[i] ^= byte | 1;
        }
        if let Some(c) = cut {
            data.truncate(c.index(data.len()));
        }
        data.extend(&tail);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.tar.gz");
        std::fs::write(&file, &data).unwrap();
        let into = dir.path().join("out");
        let _ = mpf::internals::store::pack::extract(&file, &into);
        let _ = mpf::internals::store::pack::verify(&file);
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        prop_assert!(entries.len() <= 2, "{entries:?}");
    }

    /// Manifests of any shape: an answer, never a panic.
    #[test]
    fn random_manifests_never_panic(t in tree(), format in any::<i64>()) {
        let mut v = serde_json::to_value(&t).unwrap();
        if let Value::Object(m) = &mut v {
            m.insert("format".into(), format.into());
        }
        let _ = mpf::internals::store::resultset::parse_manifest(Path::new("m.json"), &v.to_string());
        let _ = mpf::internals::store::resultset::parse_manifest(Path::new("m.json"), &serde_json::to_string(&t).unwrap());
    }
}

/// A random search condition over results and its meaning in three-valued logic: `None` where
/// a NaN decides it (then mpf must not call it met or not met).
#[derive(Debug, Clone)]
enum Cond {
    Cmp(Num, &'static str, Num),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone)]
enum Num {
    Var(&'static str),
    Const(&'static str, f64),
    Op(Box<Num>, &'static str, Box<Num>),
}

const NAMES: [&str; 3] = ["lost", "total", "x"];

fn num() -> impl Strategy<Value = Num> {
    let leaf = prop_oneof![
        prop::sample::select(NAMES.to_vec()).prop_map(Num::Var),
        prop::sample::select(vec![
            ("0.0", 0.0),
            ("1.0", 1.0),
            ("2.5", 2.5),
            ("0.01", 0.01)
        ])
        .prop_map(|(t, v)| Num::Const(t, v)),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (
            inner.clone(),
            prop::sample::select(vec!["+", "-", "*", "/"]),
            inner,
        )
            .prop_map(|(a, op, b)| Num::Op(Box::new(a), op, Box::new(b)))
    })
}

fn cond() -> impl Strategy<Value = Cond> {
    let cmp = (
        num(),
        prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
        num(),
    )
        .prop_map(|(a, op, b)| Cond::Cmp(a, op, b));
    cmp.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Cond::Not(Box::new(a))),
        ]
    })
}

impl Num {
    fn text(&self) -> String {
        match self {
            Num::Var(n) => n.to_string(),
            Num::Const(t, _) => t.to_string(),
            Num::Op(a, op, b) => format!("({} {op} {})", a.text(), b.text()),
        }
    }
    fn value(&self, ctx: &Map<String, Value>) -> f64 {
        match self {
            Num::Var(n) => ctx[*n].as_f64().unwrap(),
            Num::Const(_, v) => *v,
            Num::Op(a, op, b) => {
                let (a, b) = (a.value(ctx), b.value(ctx));
                match *op {
                    "+" => a + b,
                    "-" => a - b,
                    "*" => a * b,
                    _ => a / b,
                }
            }
        }
    }
}

impl Cond {
    fn text(&self) -> String {
        match self {
            Cond::Cmp(a, op, b) => format!("{} {op} {}", a.text(), b.text()),
            Cond::And(a, b) => format!("({}) and ({})", a.text(), b.text()),
            Cond::Or(a, b) => format!("({}) or ({})", a.text(), b.text()),
            Cond::Not(a) => format!("not ({})", a.text()),
        }
    }
    fn decide(&self, ctx: &Map<String, Value>) -> Option<bool> {
        match self {
            Cond::Cmp(a, op, b) => {
                let (a, b) = (a.value(ctx), b.value(ctx));
                if a.is_nan() || b.is_nan() {
                    return None;
                }
                Some(match *op {
                    "<" => a < b,
                    "<=" => a <= b,
                    ">" => a > b,
                    ">=" => a >= b,
                    "==" => a == b,
                    _ => a != b,
                })
            }
            Cond::And(a, b) => match a.decide(ctx) {
                Some(false) => Some(false),
                l => match (l, b.decide(ctx)) {
                    (_, Some(false)) => Some(false),
                    (Some(true), r) => r,
                    _ => None,
                },
            },
            Cond::Or(a, b) => match a.decide(ctx) {
                Some(true) => Some(true),
                l => match (l, b.decide(ctx)) {
                    (_, Some(true)) => Some(true),
                    (Some(false), r) => r,
                    _ => None,
                },
            },
            Cond::Not(a) => a.decide(ctx).map(|b| !b),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Search conditions over results (0 / 0 and inf - inf among them): mpf's decision is the
    /// three-valued one, never a NaN ordered as a number (`NaN < 0.01` was true).
    #[test]
    fn derived_conditions_are_decided_without_nan(
        c in cond(),
        values in prop::collection::vec(prop::sample::select(vec![0.0, 1.0, 2.5, -3.0, 1e300]), 3),
    ) {
        let ctx: Map<String, Value> = NAMES
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.to_string(), Value::from(*v)))
            .collect();
        let text = c.text();
        let got = mpf::internals::template::eval_condition(&text, &minijinja::Value::from_serialize(&ctx));
        match c.decide(&ctx) {
            Some(b) => prop_assert_eq!(got, Ok(b), "{}", text),
            None => prop_assert!(got.is_err(), "{} gave {:?}", text, got),
        }
    }
}
