//! Monitoring views: `mpf export --timeseries`, `mpf plot --run --metric` and the report's
//! time-series section, over a set made by a real run with `monitor.csv` files dropped into
//! its runs as the sampler writes them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{journal, mpf_in, only_set, write};

const EXPERIMENT: &str = r#"
name: monitored
runs: 1
variables:
  size: [1, 2]
  mode: {values: {"": plain, "-z": zipped}}
  time: [3]
steps:
  - name: serve
    role: server
    background: true
    run: echo up; sleep 100
    ready: {log: up}
  - name: load
    role: client
    delay: 200ms
    run: sleep 0.3; echo "mpf-result v {{ size }}"
"#;

/// A prom metric whose labels hold a quote and a comma, as the exposition format allows.
pub const PROM: &str = r#"prom.app_requests_total{code="200",path="/a,\"b\""}"#;

/// A realistic monitor.csv of run `index`: two roles, every group, 0.25 s apart over 1 s.
pub fn monitor_csv(index: usize) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["time", "role", "metric", "value"]).unwrap();
    for tick in 0..5 {
        let t = tick as f64 * 0.25;
        let busy = if (1..4).contains(&tick) { 90.0 } else { 5.0 };
        for (role, load) in [("server", 1.0), ("client", 0.4)] {
            let busy = busy * load;
            let rows = [
                ("cpu", busy / 2.0 + index as f64),
                ("cpu0", busy),
                ("cpu1", 1.0),
                ("mem", 2.5e9 * load + tick as f64 * 1e6),
                ("net.lo.rx", busy * 1e7),
                ("net.lo.tx", busy * 0.6e7),
                ("net.lo.rx_packets", busy * 100.0),
                ("disk.sda.write", 4096.0 * tick as f64 * load),
                (PROM, 10.0 * load + tick as f64),
            ];
            for (metric, value) in rows {
                w.write_record([t.to_string(), role.into(), metric.into(), value.to_string()])
                    .unwrap();
            }
        }
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// Runs the experiment (4 runs) under `tmp/results` and returns the set's directory.
pub fn ran_set(tmp: &Path) -> PathBuf {
    write(tmp, "e.yaml", EXPERIMENT);
    mpf_in(tmp)
        .args(["run", "e.yaml", "-q", "--no-plot"])
        .assert()
        .success();
    only_set(tmp)
}

/// The set with every run but the last given `monitor_csv` samples.
pub fn monitored_set(tmp: &Path) -> PathBuf {
    let set = ran_set(tmp);
    for i in 0..3 {
        std::fs::write(run_file(&set, i), monitor_csv(i)).unwrap();
    }
    set
}

fn run_file(set: &Path, index: usize) -> PathBuf {
    set.join("runs")
        .join(format!("{index:04}"))
        .join("monitor.csv")
}

/// The journal's record of run `index`.
fn record(set: &Path, index: usize) -> Value {
    journal(set)
        .into_iter()
        .find(|r| r["index"] == index)
        .expect("run recorded")
}

fn export(tmp: &Path, args: &[&str]) -> std::process::Output {
    mpf_in(tmp)
        .args(["export", "latest", "--timeseries"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn step_records_hold_their_start_in_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let set = ran_set(tmp.path());
    for r in journal(&set) {
        let steps = r["steps"].as_array().unwrap();
        let start = |name: &str| {
            steps.iter().find(|s| s["name"] == name).unwrap()["start"]
                .as_f64()
                .unwrap()
        };
        let (server, client) = (start("serve"), start("load"));
        // The server starts first; the client 200 ms after it is ready.
        assert!((0.0..1.0).contains(&server), "{r}");
        assert!(client >= server + 0.2, "{r}");
    }
}

#[test]
fn csv_export_has_run_variables_repetition_and_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let set = ran_set(tmp.path());
    // Run 1 gets three rows, one of them a Prometheus name with quotes and a comma; run 0 a
    // header only; runs 2 and 3 nothing.
    std::fs::write(run_file(&set, 0), "time,role,metric,value\n").unwrap();
    std::fs::write(
        run_file(&set, 1),
        format!(
            "time,role,metric,value\n0.5,server,cpu,12.5\n0.5,client,\"{}\",3\n1.25,server,mem,2500000000\n",
            PROM.replace('"', "\"\"")
        ),
    )
    .unwrap();
    let out = export(tmp.path(), &["--format", "csv"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let r = record(&set, 1);
    let p = &r["point"];
    let mode = p["mode"].as_str().unwrap();
    let label = if mode.is_empty() { "plain" } else { "zipped" };
    let prefix = format!("1,{},{mode},{label},3,0", p["size"]);
    let prom_cell = format!("\"{}\"", PROM.replace('"', "\"\""));
    assert_eq!(
        text,
        format!(
            "run,size,mode,mode_label,time.variable,repetition,time,role,metric,value\n\
             {prefix},0.5,server,cpu,12.5\n\
             {prefix},0.5,client,{prom_cell},3\n\
             {prefix},1.25,server,mem,2500000000\n"
        )
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_set_without_samples_is_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let set = ran_set(tmp.path());
    let id = set.file_name().unwrap().to_str().unwrap().to_string();
    let out = export(tmp.path(), &["--format", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).replace(&id, "<id>");
    insta::assert_snapshot!("timeseries_export_without_samples", err.trim());
    let out = export(tmp.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(
        "timeseries_export_as_json",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

#[test]
fn malformed_rows_are_skipped_with_a_warning_and_a_bad_header_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    let id = set.file_name().unwrap().to_str().unwrap().to_string();
    let mut text = monitor_csv(1);
    text.push_str("1.5,server,cpu,not-a-number\n1.5,server\n1.5,server,cpu,1e999\n");
    std::fs::write(run_file(&set, 1), text).unwrap();
    let out = mpf_in(tmp.path())
        .args(["export", "latest", "--timeseries", "--format", "csv"])
        .args(["--results", "results"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows = String::from_utf8(out.stdout).unwrap().lines().count();
    assert_eq!(rows, 1 + 3 * 5 * 2 * 9);
    let err = String::from_utf8_lossy(&out.stderr).replace(&id, "<id>");
    insta::assert_snapshot!("timeseries_malformed_rows", err.trim());

    std::fs::write(run_file(&set, 2), "when,who,what,how much\n1,a,cpu,1\n").unwrap();
    let out = mpf_in(tmp.path())
        .args(["export", "latest", "--timeseries", "--format", "csv"])
        .args(["--results", "results"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).replace(&id, "<id>");
    insta::assert_snapshot!("timeseries_bad_header", err.trim());
}

fn pandas_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pandas, pyarrow"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

const PANDAS_CHECK: &str = r#"
import sys, json
import pandas as pd, pyarrow.parquet as pq
csv_path, pq_path = sys.argv[1], sys.argv[2]
p = pd.read_parquet(pq_path)
c = pd.read_csv(csv_path, keep_default_na=False, na_values=[], dtype={"mode": str, "mode_label": str})
assert list(p.columns) == list(c.columns), (list(p.columns), list(c.columns))
pd.testing.assert_frame_equal(p, c, check_dtype=False)
meta = pq.read_metadata(pq_path)
print(json.dumps({
    "rows": len(p),
    "row_groups": meta.num_row_groups,
    "dtypes": {k: str(v) for k, v in p.dtypes.items()},
    "runs": sorted(set(int(r) for r in p["run"])),
    "metrics": sorted(set(p["metric"])),
    "meta": {k.decode(): v.decode() for k, v in meta.metadata.items()},
}))
"#;

#[test]
fn parquet_reads_back_in_pandas_equal_to_the_csv() {
    if !pandas_available() {
        assert!(
            std::env::var_os("MPF_REQUIRE_SCIPY").is_none(),
            "python3 with pandas and pyarrow is required"
        );
        eprintln!("SKIPPED parquet_reads_back_in_pandas_equal_to_the_csv: no pandas/pyarrow");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    let csv_path = tmp.path().join("samples.csv");
    let out = export(tmp.path(), &["--format", "csv", "-o", "samples.csv"]);
    assert!(out.status.success(), "{out:?}");
    // Without -o, Parquet goes into the set.
    let out = export(tmp.path(), &["--format", "parquet"]);
    assert!(out.status.success(), "{out:?}");
    let pq_path = set.join("monitor.parquet");
    let out = Command::new("python3")
        .arg("-c")
        .arg(PANDAS_CHECK)
        .arg(&csv_path)
        .arg(&pq_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pandas check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["rows"], 3 * 5 * 2 * 9);
    assert_eq!(got["row_groups"], 3, "one row group per run");
    assert_eq!(got["runs"], serde_json::json!([0, 1, 2]));
    for (col, dtype) in [
        ("run", "int64"),
        ("size", "int64"),
        ("repetition", "int64"),
        ("time", "float64"),
        ("value", "float64"),
    ] {
        assert_eq!(got["dtypes"][col], dtype, "{col}");
    }
    assert!(got["metrics"]
        .as_array()
        .unwrap()
        .contains(&Value::from(PROM)));
    let meta = &got["meta"];
    assert_eq!(meta["mpf.id"], set.file_name().unwrap().to_str().unwrap());
    let units: Value = serde_json::from_str(meta["mpf.units"].as_str().unwrap()).unwrap();
    assert_eq!(units["cpu"], "%");
    assert_eq!(units["net.lo.rx"], "bit/s");
    assert_eq!(units["disk.sda.write"], "B/s");
    assert_eq!(units[PROM], "");
}

/// The texts of an SVG that plotters drew (each on the line after its `<text>` tag).
fn svg_texts(svg: &str) -> Vec<String> {
    let lines: Vec<&str> = svg.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("<text"))
        .map(|w| w[1].trim().to_string())
        .collect()
}

/// The data lines of an SVG: polylines two pixels wide.
fn data_lines(svg: &str) -> usize {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
        .count()
}

fn plot(tmp: &Path, args: &[&str]) -> std::process::Output {
    mpf_in(tmp)
        .args(["plot", "latest"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn plot_run_draws_each_role_with_the_steps_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    let out = plot(
        tmp.path(),
        &["--run", "1", "--metric", "cpu", "-o", "cpu.svg"],
    );
    assert!(out.status.success(), "{out:?}");
    let svg = std::fs::read_to_string(tmp.path().join("cpu.svg")).unwrap();
    assert!(svg.contains("mpf-provenance"));
    let texts = svg_texts(&svg);
    for text in [
        "cpu in run 1",
        "cpu (%)",
        "server",
        "client",
        // The step markers, by name.
        "serve",
        "load",
        "Time since the run started (s)",
    ] {
        assert!(
            texts.iter().any(|t| t == text),
            "svg lacks {text}: {texts:?}"
        );
    }
    // The point and repetition of the run in the caption.
    let r = record(&set, 1);
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with(&format!("size={}, ", r["point"]["size"]))
                && t.contains("run 1, repetition 0")),
        "{texts:?}"
    );
    assert_eq!(data_lines(&svg), 2, "one line per role, not cpu0 or cpu1");
    // A prefix draws every metric under it, one panel per unit.
    let out = plot(
        tmp.path(),
        &[
            "--run", "1", "--metric", "net", "--role", "server", "-o", "net.svg",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let svg = std::fs::read_to_string(tmp.path().join("net.svg")).unwrap();
    let texts = svg_texts(&svg);
    for text in [
        "net.lo.rx",
        "net.lo.tx",
        "net.lo.rx_packets",
        "net (Mbit/s)",
        "net (kpackets/s)",
        "net in run 1 on server",
    ] {
        assert!(
            texts.iter().any(|t| t == text),
            "svg lacks {text}: {texts:?}"
        );
    }
    assert!(
        !texts.iter().any(|t| t.contains("client")),
        "--role server only"
    );
    assert_eq!(data_lines(&svg), 3);
    // Without -o: SVG and PNG into the set's plots/.
    let out = plot(tmp.path(), &["--run", "0", "--metric", "prom"]);
    assert!(out.status.success(), "{out:?}");
    let svg = std::fs::read_to_string(set.join("plots/run-0000-prom.svg")).unwrap();
    assert!(
        svg.contains(
            "prom.app_requests_total{code=&quot;200&quot;,path=&quot;/a,\\&quot;b\\&quot;&quot;}"
        ),
        "{svg}"
    );
    assert!(set.join("plots/run-0000-prom.png").is_file());
}

#[test]
fn plot_run_writes_valid_png_and_pdf() {
    let tmp = tempfile::tempdir().unwrap();
    monitored_set(tmp.path());
    for name in ["m.png", "m.pdf"] {
        let out = plot(tmp.path(), &["--run", "2", "--metric", "mem", "-o", name]);
        assert!(out.status.success(), "{out:?}");
    }
    let png = std::fs::read(tmp.path().join("m.png")).unwrap();
    let image = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a valid png");
    assert_eq!((image.width(), image.height()), (1800, 944));
    let pdf = std::fs::read(tmp.path().join("m.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("FontFile2") || text.contains("FontFile3"),
        "no embedded font"
    );
    assert!(text.trim_end().ends_with("%%EOF"));
}

#[test]
fn plot_run_errors_name_what_the_set_has() {
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    let id = set.file_name().unwrap().to_str().unwrap().to_string();
    let cases: [(&str, &[&str]); 5] = [
        (
            "plot_run_not_recorded",
            &["--run", "9", "--metric", "cpu", "-o", "x.svg"],
        ),
        (
            "plot_run_without_samples",
            &["--run", "3", "--metric", "cpu", "-o", "x.svg"],
        ),
        (
            "plot_run_unknown_metric",
            &["--run", "1", "--metric", "gpu", "-o", "x.svg"],
        ),
        (
            "plot_run_unknown_role",
            &[
                "--run", "1", "--metric", "cpu", "--role", "db", "-o", "x.svg",
            ],
        ),
        ("plot_run_without_metric", &["--run", "1", "-o", "x.svg"]),
    ];
    for (name, args) in cases {
        let out = plot(tmp.path(), args);
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr).replace(&id, "<id>");
        assert!(!err.contains("panicked"), "{err}");
        insta::assert_snapshot!(name, err.trim());
    }
    assert!(!tmp.path().join("x.svg").exists());
}

fn report(tmp: &Path) -> (PathBuf, String) {
    let out = mpf_in(tmp)
        .args(["report", "latest", "-o", "r.html"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let path = tmp.join("r.html");
    let html = std::fs::read_to_string(&path).unwrap();
    (path, html)
}

/// The embedded monitoring data of a report.
fn monitor_data(html: &str) -> Value {
    let start = html
        .find("<script type=\"application/json\" id=\"mpf-monitor\">")
        .expect("monitoring data");
    let rest = &html[start..];
    let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(&json.replace("<\\/", "</")).unwrap()
}

#[test]
fn report_shows_a_chosen_run_with_its_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    let (_, html) = report(tmp.path());
    assert!(html.contains("<h2>Monitoring</h2>"));
    assert!(html.contains("<select id=\"mpf-monitor-run\">"));
    // Runs 0 to 2 have samples, run 3 none; the first is shown first.
    let r0 = record(&set, 0);
    let label = format!(
        "<option value=\"0\">run 0: size={}, mode={} (repetition 0)</option>",
        r0["point"]["size"],
        if r0["point"]["mode"] == "" {
            "plain"
        } else {
            "zipped"
        }
    );
    assert!(html.contains(&label), "{label}");
    assert!(html.contains("<option value=\"2\">run 2: "));
    assert!(!html.contains("<option value=\"3\">"));
    assert!(!html.contains("mpf-monitor-left-out"));
    let data = monitor_data(&html);
    let runs = data.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let graphs = runs[1]["graphs"].as_array().unwrap();
    let titles: Vec<&str> = graphs
        .iter()
        .map(|g| g["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "client · cpu (%)",
            "client · mem (B)",
            "client · net (bit/s)",
            "client · net (packets/s)",
            "client · disk (B/s)",
            "client · prom",
            "server · cpu (%)",
            "server · mem (B)",
            "server · net (bit/s)",
            "server · net (packets/s)",
            "server · disk (B/s)",
            "server · prom",
        ]
    );
    // Every graph marks the steps where the journal says they ran.
    let steps = record(&set, 1)["steps"].clone();
    let load = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "load")
        .unwrap();
    for g in graphs {
        let notes: Vec<&str> = g["layout"]["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["text"].as_str().unwrap())
            .collect();
        assert_eq!(notes, ["serve", "load"]);
        let band = &g["layout"]["shapes"][2];
        assert_eq!(band["x0"], load["start"]);
    }
    // The server's cpu line holds the file's values, in %.
    let cpu = &graphs[6]["data"][0];
    assert_eq!(cpu["name"], "cpu");
    assert_eq!(cpu["x"], serde_json::json!([0.0, 0.25, 0.5, 0.75, 1.0]));
    assert_eq!(cpu["y"], serde_json::json!([3.5, 46.0, 46.0, 46.0, 3.5]));
}

#[test]
fn report_embeds_a_bounded_number_of_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let set = crate::fixtures::iperf(&tmp.path().join("results"));
    for i in 0..48 {
        let path = run_file(&set, i);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, monitor_csv(i)).unwrap();
    }
    let (_, html) = report(tmp.path());
    assert_eq!(monitor_data(&html).as_array().unwrap().len(), 20);
    assert!(html.contains("<option value=\"19\">run 19: "));
    assert!(html.contains(
        "28 more runs with samples not embedded, to keep this page small (runs 20, 21, 22"
    ));
    assert!(html.contains("mpf plot iperf-20261125T100000Z-ab12 --run N --metric cpu"));
}

#[test]
fn report_monitoring_renders_in_headless_chromium() {
    let Some(browser) = crate::report::chromium() else {
        assert!(
            std::env::var_os("MPF_REQUIRE_NETNS").is_none(),
            "chromium is required on CI"
        );
        eprintln!("SKIPPED report_monitoring_renders_in_headless_chromium: no chromium");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    monitored_set(tmp.path());
    let (path, _) = report(tmp.path());
    let dom = crate::report::rendered_dom(&browser, &path, tmp.path());
    for k in 0..12 {
        let start = dom
            .find(&format!("id=\"monitor-{k}\""))
            .unwrap_or_else(|| panic!("monitor-{k} missing"));
        let div = &dom[start..];
        let end = div[1..].find("id=\"monitor-").map_or(div.len(), |e| e + 1);
        let div = &div[..end];
        assert!(
            div.contains("data-rendered=\"true\""),
            "monitor-{k} not rendered"
        );
        assert!(div.contains("class=\"main-svg\""), "monitor-{k} has no svg");
        // The steps' names are drawn on the graph.
        assert!(
            div.contains(">serve<") && div.contains(">load<"),
            "monitor-{k} lacks steps"
        );
    }
    assert!(!dom.contains("id=\"monitor-12\""));
}

#[test]
fn a_reader_that_stops_early_ends_the_export_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let set = ran_set(tmp.path());
    // Far more than a pipe holds, so that mpf is still writing when `head` has gone.
    let mut text = String::from("time,role,metric,value\n");
    for i in 0..100_000 {
        text.push_str(&format!("{i},server,cpu,{}\n", i % 100));
    }
    std::fs::write(run_file(&set, 0), text).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' export latest --timeseries --format csv | head -n 2 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            assert_cmd::cargo::cargo_bin("mpf").display()
        ))
        .current_dir(tmp.path())
        .env("MPF_RESULTS", tmp.path().join("results"))
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn plot_run_caption_names_the_series_it_left_out_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let set = monitored_set(tmp.path());
    // Loopback busy, eth0 idle all along, nine more busy interfaces of falling rates: eleven
    // bit/s series, of which a panel draws eight.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["time", "role", "metric", "value"]).unwrap();
    for tick in 0..5 {
        let t = (tick as f64 * 0.25).to_string();
        let mut rows = vec![("net.lo.rx".to_string(), 5e8), ("net.eth0.rx".into(), 0.0)];
        rows.extend((0..9).map(|i| (format!("net.v{i}.rx"), 1e8 / f64::from(i + 1))));
        for (metric, value) in rows {
            w.write_record([t.as_str(), "server", &metric, &value.to_string()])
                .unwrap();
        }
    }
    std::fs::write(run_file(&set, 0), w.into_inner().unwrap()).unwrap();
    let out = plot(
        tmp.path(),
        &[
            "--run", "0", "--metric", "net", "--role", "server", "-o", "n.svg",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let svg = std::fs::read_to_string(tmp.path().join("n.svg")).unwrap();
    assert_eq!(data_lines(&svg), 8);
    let text = svg_texts(&svg).join(" ");
    for part in [
        "8 of 11 series drawn left out: idle (peak below 1/1000 of the busiest): net.eth0.rx",
        "beyond the 8 busiest of the unit: net.v7.rx, net.v8.rx (draw one with --role",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
    // The report's graph of the same run starts them hidden and says which and why.
    let (_, html) = report(tmp.path());
    let data = monitor_data(&html);
    let run = data
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == 0)
        .unwrap();
    let net = run["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["title"] == "server · net (bit/s)")
        .unwrap();
    assert_eq!(
        net["note"],
        "Hidden at first (click the legend to show): idle (peak below 1/1000 of the busiest): \
         net.eth0.rx; beyond the 8 busiest of the unit: net.v7.rx, net.v8.rx"
    );
    let hidden: Vec<&str> = net["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["visible"] == "legendonly")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(hidden, ["net.eth0.rx", "net.v7.rx", "net.v8.rx"]);
    // Graphs that hide nothing have no note.
    let run1 = data
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == 1)
        .unwrap();
    let graphs = run1["graphs"].as_array().unwrap();
    assert!(!graphs.is_empty() && graphs.iter().all(|g| g.get("note").is_none()));
}
