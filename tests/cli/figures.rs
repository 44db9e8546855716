//! Figures as a list (`plot:`, SPEC §17): several results in one figure, a result against a
//! result, bar, box, scatter, cdf and timeseries, `results:`, the checks at load, and the
//! samples every series result keeps in `runs/NNNN/series.csv`.

use std::path::{Path, PathBuf};

use crate::common::{exits, manifest, only_set, Sandbox};

/// Two rates and two queueing disciplines, 2 runs each; `rtt` is a series of 40 samples
/// (heavy-tailed, spanning decades at the higher rate), `goodput` one value per run.
const EXPERIMENT: &str = r#"name: figs
runs: 2
variables:
  rate: [10, 40]
  qdisc: [fq, pfifo]
steps:
  - name: client
    run: |
      awk -v r={{rate}} -v q={{qdisc}} -v s={{run.index}} 'BEGIN{srand(s+1); b=(q=="fq")?1:2; for(i=0;i<40;i++) printf "rtt=%.5f\n", b*(1+r/40)*exp(-log(1-rand())*r/16); printf "goodput=%.2f\n", r*(0.9+0.1*rand())}'
    results:
      rtt: {regex: 'rtt=(\S+)', all: true, unit: ms, stats: [p50, p99]}
      goodput: {regex: 'goodput=(\S+)', unit: Mbit/s}
"#;

const PLOT: &str = r#"plot:
  - {x: rate, y: [rtt.p50, rtt.p99, goodput]}
  - {x: goodput, y: rtt.p99, series: qdisc, kind: scatter}
  - {x: goodput, y: rtt.p99, series: qdisc, kind: line}
  - {y: rtt, kind: cdf, series: qdisc}
  - {y: rtt, kind: cdf}
  - {y: rtt, kind: timeseries, runs: 2}
  - {y: rtt, kind: timeseries, runs: [3, 5]}
  - {y: goodput, kind: bar, x: qdisc}
  - {y: rtt.p99, kind: box, x: rate}
  - {results: [goodput, rtt.p99]}
"#;

fn run(sb: &Sandbox, plot: &str) -> PathBuf {
    sb.run_ok("exp.yaml", &format!("{EXPERIMENT}{plot}"), &[]);
    only_set(sb.path())
}

fn svg(set: &Path, stem: &str) -> String {
    let path = set.join("plots").join(format!("{stem}.svg"));
    assert!(
        set.join("plots").join(format!("{stem}.png")).is_file(),
        "no {stem}.png"
    );
    // Text elements as plotters writes them, with their content on a line of its own.
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace(">\n", ">")
        .replace("\n</", "</")
}

/// Asserts that the svg holds each of `texts`, in its markup or in its text read as one line
/// (a caption wraps onto several text elements).
fn has(svg: &str, texts: &[&str]) {
    let words: Vec<&str> = svg
        .split("</text>")
        .filter_map(|part| part.rsplit_once('>').map(|(_, t)| t))
        .collect();
    let read = words.join(" ").replace("&apos;", "'");
    for t in texts {
        assert!(
            svg.contains(t) || read.contains(t),
            "{t:?} not in the svg: {read}"
        );
    }
}

#[test]
fn each_figure_of_the_list_is_drawn_into_its_own_files() {
    let sb = Sandbox::new();
    let set = run(&sb, PLOT);
    // Several results, two units: a left and a right axis, a line per result and qdisc.
    has(
        &svg(&set, "rtt.p50+rtt.p99+goodput-vs-rate"),
        &[
            "rtt.p50, rtt.p99 (",
            "goodput (Mbit/s)",
            "rtt.p99 · qdisc=pfifo",
            "goodput · qdisc=fq",
            "dashed lines: the right axis",
            ">rate<",
        ],
    );
    // x a result: each run a marker, one series per qdisc; as a line, each point's means.
    has(
        &svg(&set, "rtt.p99-vs-goodput-by-qdisc-scatter"),
        &[
            "goodput (Mbit/s)",
            "each marker is one run (8 runs)",
            ">qdisc=fq<",
            ">qdisc=pfifo<",
        ],
    );
    has(
        &svg(&set, "rtt.p99-vs-goodput-by-qdisc"),
        &["each marker is a point: the mean of goodput over its runs"],
    );
    // cdf: pooled per qdisc value, or per point; the samples span decades: log x.
    let cdf = svg(&set, "rtt-by-qdisc-cdf");
    has(
        &cdf,
        &[
            "fraction of samples ≤ x",
            "rtt (",
            "the samples of each qdisc value, pooled over its runs",
            "320 samples from 8 runs",
            "log x: the samples span",
        ],
    );
    has(
        &svg(&set, "rtt-cdf"),
        &[
            "the samples of each point",
            "rate=10, qdisc=fq",
            "rate=40, qdisc=pfifo",
        ],
    );
    // timeseries: the first 2 runs, or the listed ones, against the sample index.
    let ts = svg(&set, "rtt-timeseries");
    has(
        &ts,
        &[
            ">run 0<",
            ">run 1<",
            "in order (the extractor gives no time)",
            ">sample<",
        ],
    );
    assert!(!ts.contains(">run 2<"));
    // Same name twice: the second figure gets a suffix rather than overwriting the first.
    has(&svg(&set, "rtt-timeseries-figure"), &[">run 3<", ">run 5<"]);
    // bar and box of one result, with the automatic series.
    has(
        &svg(&set, "goodput-vs-qdisc-bar"),
        &["goodput (Mbit/s)", ">qdisc<"],
    );
    has(
        &svg(&set, "rtt.p99-vs-rate-box"),
        &["distribution of 2 runs"],
    );
    // results: only those get the automatic per-result graphs.
    let plots: Vec<String> = std::fs::read_dir(set.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(plots.contains(&"goodput.svg".to_string()));
    assert!(plots.contains(&"rtt.p99.svg".to_string()));
    assert!(
        !plots.iter().any(|p| p.starts_with("rtt.p50.")),
        "{plots:?}"
    );
    assert_eq!(plots.len(), 2 * 11, "{plots:?}");
    // The manifest records the list; the report shows the figures before the graphs.
    let m = manifest(&set);
    assert_eq!(m["plot"].as_array().unwrap().len(), 10);
    assert_eq!(m["plot"][0]["y"][2], "goodput");
    sb.mpf().args(["report", "latest"]).assert().success();
    let html = std::fs::read_to_string(set.join("report.html")).unwrap();
    let (figures, graphs) = (html.find("<h2>Figures</h2>"), html.find("<h2>Graphs</h2>"));
    assert!(figures.is_some() && figures < graphs);
    assert!(html.contains("<h3>rtt-by-qdisc-cdf</h3>"));
}

#[test]
fn a_single_object_plot_as_older_sets_recorded_it_stays_the_hints_of_the_graphs() {
    let sb = Sandbox::new();
    let set = run(&sb, "plot: {x: qdisc, series: rate, y: goodput}\n");
    // The manifest keeps a list; an older set's manifest holds the object itself.
    let mut m = manifest(&set);
    assert_eq!(
        m["plot"],
        serde_json::json!([{"x": "qdisc", "series": "rate", "y": ["goodput"]}])
    );
    m["plot"] =
        serde_json::json!({"x": "qdisc", "y": "goodput", "series": "rate", "y_scale": null});
    std::fs::write(set.join("manifest.json"), m.to_string()).unwrap();
    std::fs::remove_dir_all(set.join("plots")).unwrap();
    sb.mpf().args(["plot", "latest"]).assert().success();
    // No figure files: the object is the hints of every result's graph (bars by qdisc).
    let plots: Vec<String> = std::fs::read_dir(set.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(plots.iter().all(|p| !p.contains("-vs-")), "{plots:?}");
    has(&svg(&set, "goodput"), &[">qdisc<", "rate:"]);
    let out = sb
        .mpf()
        .args(["plot", "latest", "-o", "g.svg"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("(goodput)"));
}

#[test]
fn series_samples_are_kept_per_run_rewritten_by_extract_and_exported() {
    let sb = Sandbox::new();
    let set = run(&sb, "");
    let csv = std::fs::read_to_string(set.join("runs/0000/series.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "result,index,time,value");
    assert_eq!(lines.len(), 41, "one row per sample of rtt");
    assert!(lines[1].starts_with("rtt,0,,"), "{}", lines[1]);
    // The rows are the run's recorded series, in order.
    let journal = crate::common::journal(&set);
    let rec = journal.iter().find(|r| r["index"] == 0).unwrap();
    let values: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let recorded: Vec<f64> = rec["results"]["rtt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values, recorded);
    // `mpf extract` writes them again: here a file lost, and an extractor that now reads
    // the values as seconds (`in: s`), so each stored millisecond value is 1000 times larger.
    std::fs::remove_file(set.join("runs/0003/series.csv")).unwrap();
    std::fs::remove_file(set.join("runs/0000/series.csv")).unwrap();
    sb.write(
        "exp2.yaml",
        &EXPERIMENT.replace("all: true, unit: ms", "all: true, in: s, unit: ms"),
    );
    sb.mpf()
        .args(["extract", "latest", "-f", "exp2.yaml"])
        .assert()
        .success();
    let again = std::fs::read_to_string(set.join("runs/0000/series.csv")).unwrap();
    let first: f64 = again
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (first - recorded[0] * 1000.0).abs() < 1e-6 * first,
        "{first} {}",
        recorded[0]
    );
    assert_eq!(
        std::fs::read_to_string(set.join("runs/0003/series.csv"))
            .unwrap()
            .lines()
            .count(),
        41
    );
    // `mpf export --series`: every run's samples as one long table.
    let out = sb
        .mpf()
        .args(["export", "latest", "--format", "csv", "--series"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("run,result,index,time,value\n0,rtt,0,,"),
        "{}",
        &text[..80]
    );
    assert_eq!(text.lines().count(), 1 + 8 * 40);
    let e = exits(
        sb.mpf()
            .args(["export", "latest", "--format", "json", "--series"]),
        2,
    );
    assert!(e.contains("--series exports csv, not json"), "{e}");
}

#[test]
fn figures_drawn_from_samples_survive_a_hostile_series_csv() {
    let sb = Sandbox::new();
    let set = run(&sb, "plot:\n  - {y: rtt, kind: timeseries, runs: [0]}\n");
    std::fs::write(
        set.join("runs/0000/series.csv"),
        "result,index,time,value\nrtt,0,0.5,1\nrtt,1,x,2\nrtt,2,1.5,inf\n\"open\n",
    )
    .unwrap();
    sb.mpf().args(["plot", "latest"]).assert().success();
    has(
        &svg(&set, "rtt-timeseries"),
        &[
            "3 malformed rows of series.csv skipped",
            ">time (s)<",
            "against its time",
        ],
    );
    // A run the set does not have: the figure is not drawn, the others are, exit 1.
    let mut m = manifest(&set);
    m["plot"] = serde_json::json!([{"y": "rtt", "kind": "timeseries", "runs": [99]}]);
    std::fs::write(set.join("manifest.json"), m.to_string()).unwrap();
    let e = exits(sb.mpf().args(["plot", "latest"]), 1);
    assert!(e.contains("runs: no run 99 in"), "{e}");
    assert!(set.join("plots/rtt.svg").is_file());
}

#[test]
fn figures_that_cannot_be_drawn_are_load_errors_naming_the_line() {
    let sb = Sandbox::new();
    let cases = [
        "plot: {x: rate, y: [rtt.p50, 'no such']}\n",
        "plot:\n  - {y: printed, kind: cdf}\n",
        "plot:\n  - {y: goodput, series: nosuch}\n",
        "plot:\n  - {x: rate, y: goodput}\n  - {y: goodput, kind: cdf}\n",
        "plot:\n  - {y: rtt, kind: cdf, x: rate}\n",
        "plot:\n  - {x: rate, y: [rtt.p50, goodput, n]}\n",
        "plot:\n  - {x: rate, y: goodput, kind: line, runs: 3}\n",
        "plot:\n  - {x: rate, y: [goodput, rtt.p50], kind: bar}\n",
        "plot:\n  - {x: goodput, y: rtt.p50, kind: box}\n",
        "plot:\n  - {x: nosuch, y: rtt.p50}\n",
        "plot:\n  - {y: rtt.p50, results: [goodput]}\n",
        "plot:\n  - {kind: scatter}\n",
        "plot:\n  - {y: rtt, kind: timeseries, runs: 0}\n",
        "plot:\n  - {y: rtt, kind: pie}\n",
        "plot:\n  - {results: [goodput, 'a,b']}\n",
    ];
    let mut report = String::new();
    for plot in cases {
        let text = format!(
            "{}{plot}",
            EXPERIMENT.replace(
                "      goodput: {regex: 'goodput=(\\S+)', unit: Mbit/s}\n",
                "      goodput: {regex: 'goodput=(\\S+)', unit: Mbit/s}\n      n: {regex: 'n=(\\S+)', unit: B}\n"
            )
        );
        sb.write("bad.yaml", &text);
        let e = exits(sb.mpf().args(["run", "--dry-run", "bad.yaml"]), 2);
        report.push_str(&format!(
            "{}{}\n",
            plot,
            e.replace(&sb.path().display().to_string(), "DIR")
        ));
    }
    insta::assert_snapshot!(report);
    // A result no step declares may still come from an `mpf-result` line: it is drawn when the
    // runs print it, not refused at load.
    let text = format!("{EXPERIMENT}plot:\n  - {{x: rate, y: printed}}\n");
    sb.write("printed.yaml", &text);
    sb.mpf()
        .args(["run", "--dry-run", "printed.yaml"])
        .assert()
        .success();
}
