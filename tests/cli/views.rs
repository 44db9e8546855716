//! Overlays, comparisons drawn, tables and graphs that agree, and habits from other tools
//! (issue 25 items 3, 5 and 6).

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{exits, mpf_in};
use crate::fixtures::{self, manifest, record, result, var, write_set};

/// The plotly figures a report embeds.
fn report_figures(html: &str) -> Vec<Value> {
    let start = html.find("id=\"mpf-figures\">").expect("figures") + "id=\"mpf-figures\">".len();
    let end = start + html[start..].find("</script>").expect("end of figures");
    let v: Value = serde_json::from_str(&html[start..end]).expect("figures are JSON");
    v.as_array().cloned().unwrap_or_default()
}

/// The texts an SVG draws.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim())
        })
        .collect()
}

fn report_of(tmp: &Path, id: &str) -> String {
    mpf_in(tmp).args(["report", id]).assert().success();
    let dir = mpf::internals::store::resolve(&tmp.join("results"), id).unwrap();
    std::fs::read_to_string(dir.join("report.html")).unwrap()
}

#[test]
fn the_report_moves_constant_columns_above_the_runs_table() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::iperf(&tmp.path().join("results"));
    let html = report_of(tmp.path(), "latest");
    // `time` is 2 in every run: said once above the table, not in a column of its own.
    assert!(
        html.contains(
            "<p class=\"note\" id=\"runs-constant\">The same in every run: time <b>2</b>.</p>"
        ),
        "{}",
        &html[html.find("<h2>Runs").unwrap()..][..600]
    );
    let table = &html[html.find("id=\"runs\"").unwrap()..];
    let head = &table[..table.find("</thead>").unwrap()];
    assert!(!head.contains("<th>time</th>"), "{head}");
    // What varies stays: the repetition, both swept variables, the results, the status (one
    // run failed).
    for th in [
        "<th>Run</th>",
        "<th>Rep.</th>",
        "<th>parallel</th>",
        "<th>zerocopy</th>",
        "<th>goodput (Gbit/s)</th>",
        "<th>Status</th>",
    ] {
        assert!(head.contains(th), "{th} in {head}");
    }
    // Every row has as many cells as the header has columns.
    let columns = head.matches("<th>").count();
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    for row in body.lines().filter(|l| l.starts_with("<tr")) {
        assert_eq!(row.matches("<td").count(), columns, "{row}");
    }
}

#[test]
fn the_report_draws_bands_where_the_png_has_bands() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::iperf(&tmp.path().join("results"));
    let html = report_of(tmp.path(), "latest");
    let figs = report_figures(&html);
    // goodput over 8 values of parallel, 3 runs each: a band per series, no error bars.
    let goodput = &figs[0];
    let traces = goodput["data"].as_array().unwrap();
    let bands = traces
        .iter()
        .filter(|t| t["fill"] == json!("tonexty"))
        .count();
    assert_eq!(bands, 2, "one band per zerocopy value");
    for t in traces
        .iter()
        .filter(|t| t["mode"] == json!("lines+markers"))
    {
        assert_eq!(t["error_y"]["visible"], json!(false), "{t}");
    }
}

const THREADS: [u32; 3] = [1, 2, 4];

/// A monitored share that sat at exactly 100%: the axis runs from 0, not 90-110%.
#[test]
fn a_percentage_at_100_is_drawn_from_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        "busy-20261125T100000Z-bz01",
        "busy",
        vec![var("threads", json!([1, 2, 4]), None)],
        vec![result("cpu", "%")],
    );
    let records = (0..9)
        .map(|i| {
            record(
                i,
                json!({"threads": THREADS[i / 3]}),
                i % 3,
                json!({"cpu": 100.0}),
            )
        })
        .collect();
    write_set(&tmp.path().join("results"), m, "name: busy\n", records);
    let html = report_of(tmp.path(), "latest");
    let figs = report_figures(&html);
    let range = &figs[0]["layout"]["yaxis"]["range"];
    let (lo, hi) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
    assert_eq!(lo, 0.0, "{range}");
    assert!((100.0..=110.0).contains(&hi), "{range}");
}

/// A latency set of `name` over a message size, 4 runs a point, `scale` times the base latency.
fn latency_set(root: &Path, id: &str, name: &str, scale: f64, seed: u64) -> std::path::PathBuf {
    let mut noise = fixtures::Noise::new(seed);
    let mut m = manifest(
        id,
        name,
        vec![var("size", json!([1, 4, 16, 64]), None)],
        vec![result("latency", "s")],
    );
    m.results[0].better = mpf::internals::store::record::Better::Lower;
    m.started = format!("2026-11-25T10:00:0{}.000Z", seed % 10);
    let mut records = Vec::new();
    for (i, s) in [1, 4, 16, 64].iter().enumerate() {
        for rep in 0..4 {
            let lat = scale * (1e-3 + 0.05e-3 * *s as f64) * (1.0 + 0.02 * noise.next());
            records.push(record(
                i * 4 + rep,
                json!({"size": s}),
                rep,
                json!({"latency": lat}),
            ));
        }
    }
    write_set(root, m, &format!("name: {name}\n"), records)
}

#[test]
fn two_sets_overlay_in_one_figure_one_series_each() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    latency_set(&root, "lat-20261125T100001Z-aa01", "lat", 1.0, 1);
    let new = latency_set(&root, "lat-20261125T100002Z-bb02", "lat", 1.3, 2);
    // The ids label the series by default; latest~1 is the older set.
    let out = mpf_in(tmp.path())
        .args(["plot", "latest~1", "latest"])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let svg_path = new.join("plots/overlay/latency.svg");
    assert!(listed.contains(&svg_path.display().to_string()), "{listed}");
    assert!(new.join("plots/overlay/latency.png").is_file());
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    for id in ["lat-20261125T100001Z-aa01", "lat-20261125T100002Z-bb02"] {
        assert!(svg_texts(&svg).contains(&id), "legend names {id}");
    }
    // --label names them, and -o draws one figure; its provenance names both sets.
    let file = tmp.path().join("both.svg");
    mpf_in(tmp.path())
        .args([
            "plot",
            "lat-20261125T100001Z-aa01",
            "lat-20261125T100002Z-bb02",
        ])
        .args(["--label", "before,after", "-o"])
        .arg(&file)
        .assert()
        .success();
    let svg = std::fs::read_to_string(&file).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.contains(&"before") && texts.contains(&"after") && texts.contains(&"set:"),
        "labels in the legend: {texts:?}"
    );
    assert!(svg.contains("lat-20261125T100001Z-aa01 + lat-20261125T100002Z-bb02"));
    // Two series, each a band and a line: two filled polygons.
    assert!(svg.matches("<polygon").count() >= 2, "two bands");
}

#[test]
fn sets_of_different_experiments_are_not_overlaid() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    latency_set(&root, "lat-20261125T100001Z-aa01", "lat", 1.0, 1);
    latency_set(&root, "rtt-20261125T100002Z-bb02", "rtt", 1.0, 2);
    let err = exits(mpf_in(tmp.path()).args(["plot", "lat-", "rtt-"]), 2);
    assert!(
        err.contains("cannot draw these sets together: lat-20261125T100001Z-aa01 is of experiment 'lat' and rtt-20261125T100002Z-bb02 of 'rtt'"),
        "{err}"
    );
    let err = exits(
        mpf_in(tmp.path()).args(["plot", "lat-", "rtt-", "--label", "one"]),
        2,
    );
    assert!(err.contains("--label gives 1 label for 2 sets"), "{err}");
}

#[test]
fn compare_html_draws_base_against_new_per_point_with_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    latency_set(&root, "lat-20261125T100001Z-aa01", "lat", 1.0, 1);
    latency_set(&root, "lat-20261125T100002Z-bb02", "lat", 1.3, 2);
    let page = tmp.path().join("compare.html");
    let out = mpf_in(tmp.path())
        .args(["compare", "latest~1", "latest", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "30% slower is a regression");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h2>Base against new</h2>"));
    let fig = &html[html
        .find("<figure class=\"compare-figure\" data-result=\"latency\">")
        .expect("a figure of latency")..];
    let fig = &fig[..fig.find("</figure>").unwrap()];
    assert!(
        fig.contains("mean and 95% confidence interval of 4 runs per point"),
        "{fig}"
    );
    let texts = svg_texts(fig);
    assert!(
        texts.contains(&"base") && texts.contains(&"new"),
        "{texts:?}"
    );
    // The intervals as the PNGs draw them along a numeric variable: a band per set.
    assert!(fig.matches("<polygon").count() >= 2, "two bands");
    // Still one offline page without scripts.
    assert!(!html.contains("<script"));
}

#[test]
fn compare_variable_html_draws_the_two_values() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::iperf(&tmp.path().join("results"));
    let page = tmp.path().join("ab.html");
    let out = mpf_in(tmp.path())
        .args([
            "compare",
            "latest",
            "--variable",
            "zerocopy=disabled,enabled",
            "--html",
        ])
        .arg(&page)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Zero-copy reaches the line rate sooner: better at few streams, never worse.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("improvement"), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    let texts = svg_texts(&html);
    assert!(texts.contains(&"base: zerocopy=disabled"), "{texts:?}");
}

#[test]
fn history_html_shows_each_set_s_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    for (i, scale) in [1.0, 1.02, 0.99].iter().enumerate() {
        latency_set(
            &root,
            &format!("lat-20261125T10000{}Z-aa0{}", i + 1, i + 1),
            "lat",
            *scale,
            i as u64 + 1,
        );
    }
    let page = tmp.path().join("h.html");
    mpf_in(tmp.path())
        .args(["history", "lat", "--format", "html", "-o"])
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(
        "Each set: the mean of its runs, with the 95% confidence interval of that mean."
    ));
    let figs = report_figures(&html);
    assert_eq!(figs.len(), 4, "one per size");
    let mean = &figs[0]["data"][0];
    assert_eq!(mean["error_y"]["visible"], json!(true));
    let plus = mean["error_y"]["array"].as_array().unwrap();
    assert_eq!(plus.len(), 3);
    assert!(
        plus.iter().all(|p| p.as_f64().unwrap() > 0.0),
        "4 noisy runs a set: an interval each: {plus:?}"
    );
}

#[test]
fn warmup_runs_are_discarded_flagged_and_absent_from_results() {
    let dir = crate::common::Sandbox::new();
    let counts = dir.path().join("counts");
    std::fs::create_dir(&counts).unwrap();
    // Each run of a point appends to the point's file and reports how many runs of the point
    // ran so far: the 2 warm-ups report 1 and 2, the 3 measured runs 3 to 5.
    let exp = format!(
        r#"
name: warm
runs: {{count: 3, warmup: 2}}
order: sequential
variables:
  n: [1, 2]
steps:
  - name: work
    run: |
      echo x >> {counts}/{{{{ n }}}}
      echo "seen: $(wc -l < {counts}/{{{{ n }}}})"
    results:
      seen: 'seen: (\d+)'
"#,
        counts = counts.display()
    );
    let out = dir
        .mpf()
        .arg("run")
        .arg(dir.write("warm.yaml", &exp))
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("warm-up 2 of 2 of point n=1 discarded"),
        "{err}"
    );
    let set = crate::common::only_set(dir.path());
    // Measured: 3 runs a point, each after the point's 2 warm-ups.
    let journal = crate::common::journal(&set);
    assert_eq!(journal.len(), 6);
    assert!(journal
        .iter()
        .all(|r| r["results"]["seen"].as_f64().unwrap() >= 3.0));
    assert!(journal.iter().all(|r| r.get("warmup").is_none()));
    // The warm-ups: recorded, flagged, in their own journal.
    let warm: Vec<Value> = std::fs::read_to_string(set.join("warmup.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(warm.len(), 4);
    assert!(warm.iter().all(|r| r["warmup"] == json!(true)));
    let seen: Vec<f64> = warm
        .iter()
        .map(|r| r["results"]["seen"].as_f64().unwrap())
        .collect();
    assert_eq!(seen, [1.0, 2.0, 1.0, 2.0]);
    // Absent from results.csv, the summary and the exports; `show` says where they are.
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    let summary = dir
        .mpf()
        .args(["show", "latest", "--summary", "--format", "json"])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&summary.stdout).unwrap();
    let text = summary.to_string();
    assert!(
        text.contains("\"min\":3") || text.contains("\"min\":3.0"),
        "{text}"
    );
    let exported = dir
        .mpf()
        .args(["export", "latest", "--format", "json"])
        .output()
        .unwrap();
    let exported = String::from_utf8_lossy(&exported.stdout).into_owned();
    assert!(exported.contains("\"seen\":3"), "{exported}");
    assert!(
        !exported.contains("\"seen\":1") && !exported.contains("\"seen\":2"),
        "{exported}"
    );
    let show = dir.mpf().args(["show", "latest"]).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(
        show.contains("4 warm-up runs discarded before measuring"),
        "{show}"
    );
    // A second look at the count files: 5 runs of each point in all.
    for n in ["1", "2"] {
        let lines = std::fs::read_to_string(counts.join(n))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 5);
    }

    // Resume-safe: as if killed during n=2's second warm-up (n=1 done, one warm-up of n=2
    // recorded), `--resume` runs the one warm-up n=2 lacks, then its measured runs, and
    // nothing of n=1 again.
    let keep = |file: &str, lines: usize| {
        let text = std::fs::read_to_string(set.join(file)).unwrap();
        let kept: Vec<&str> = text.lines().take(lines).collect();
        std::fs::write(set.join(file), kept.join("\n") + "\n").unwrap();
    };
    keep("journal.jsonl", 3);
    keep("warmup.jsonl", 3);
    let mut m = crate::common::manifest(&set);
    m["status"] = json!("interrupted");
    std::fs::write(set.join("manifest.json"), m.to_string()).unwrap();
    std::fs::write(counts.join("2"), "x\n").unwrap();
    dir.mpf()
        .args(["run", "--resume", "latest", "-q", "--no-plot"])
        .assert()
        .success();
    let journal = crate::common::journal(&set);
    assert_eq!(journal.len(), 6);
    let seen = |n: u64| -> Vec<f64> {
        journal
            .iter()
            .filter(|r| r["point"]["n"] == json!(n))
            .map(|r| r["results"]["seen"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(seen(1), [3.0, 4.0, 5.0]);
    assert_eq!(
        seen(2),
        [3.0, 4.0, 5.0],
        "after 2 warm-ups, one from each session"
    );
    let warm = std::fs::read_to_string(set.join("warmup.jsonl")).unwrap();
    assert_eq!(warm.lines().count(), 4);
    for n in ["1", "2"] {
        let lines = std::fs::read_to_string(counts.join(n))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 5, "point {n}");
    }
}

#[test]
fn bad_warmups_are_refused_naming_the_line() {
    let dir = crate::common::Sandbox::new();
    for (runs, says) in [
        (
            "{warmup: 101}",
            "runs: warmup is a number of runs from 0 to 100, not 101",
        ),
        (
            "{warmup: -1}",
            "runs: warmup is a number of runs from 0 to 100, not -1",
        ),
        (
            "{count: 3, min: 2, warmup: 1}",
            "runs: count is a fixed number of runs and min/max/ci/on make them adaptive",
        ),
        ("{count: 0, warmup: 1}", "runs: count must be at least 1"),
    ] {
        let exp = dir.write(
            "bad.yaml",
            &format!("name: bad\nruns: {runs}\nsteps:\n  - run: echo v=1\n    results:\n      v: 'v=(\\d+)'\n"),
        );
        let err = exits(dir.mpf().arg("check").arg(&exp), 2);
        assert!(
            err.contains(says) && err.contains("bad.yaml:2"),
            "{runs}: {err}"
        );
    }
}

#[test]
fn latest_n_names_the_set_n_before_the_newest_and_show_path_is_absolute() {
    let tmp = tempfile::tempdir().unwrap();
    // A relative --results: the path printed is still absolute.
    let root = tmp.path().join("res");
    let old = latency_set(&root, "lat-20261125T100001Z-aa01", "lat", 1.0, 1);
    let new = latency_set(&root, "lat-20261125T100002Z-bb02", "lat", 1.0, 2);
    let path_of = |id: &str| {
        let out = crate::common::mpf()
            .current_dir(tmp.path())
            .args(["show", id, "--path", "--results", "res"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    };
    let (p0, p1) = (path_of("latest"), path_of("latest~1"));
    assert!(p0.is_absolute() && p1.is_absolute(), "{p0:?} {p1:?}");
    assert_eq!(p0.canonicalize().unwrap(), new.canonicalize().unwrap());
    assert_eq!(p1.canonicalize().unwrap(), old.canonicalize().unwrap());
    assert_eq!(path_of("latest~0"), p0);
    // The one resolver: every command takes it, and out of range is a usage error.
    let json = crate::common::mpf()
        .current_dir(tmp.path())
        .args(["export", "latest~1", "--format", "json", "--results", "res"])
        .output()
        .unwrap();
    assert!(json.status.success());
    let err = exits(
        crate::common::mpf()
            .current_dir(tmp.path())
            .args(["show", "latest~2", "--results", "res"]),
        2,
    );
    assert!(err.contains("'latest~2' is out of range"), "{err}");
    assert!(
        err.contains("2 result sets (latest~0 to latest~1)"),
        "{err}"
    );
}

#[test]
fn compare_variable_finds_the_slower_value_within_one_set() {
    let tmp = tempfile::tempdir().unwrap();
    let mut noise = fixtures::Noise::new(4);
    let mut m = manifest(
        "cache-20261125T100000Z-cc01",
        "cache",
        vec![
            var("size", json!([1, 4, 16]), None),
            var("mode", json!(["warm", "cold"]), None),
        ],
        vec![result("latency", "s")],
    );
    m.results[0].better = mpf::internals::store::record::Better::Lower;
    let mut records = Vec::new();
    for s in [1, 4, 16] {
        for mode in ["warm", "cold"] {
            for rep in 0..5 {
                let slow = if mode == "cold" { 1.4 } else { 1.0 };
                let lat = slow * 1e-3 * s as f64 * (1.0 + 0.02 * noise.next());
                records.push(record(
                    records.len(),
                    json!({"size": s, "mode": mode}),
                    rep,
                    json!({"latency": lat}),
                ));
            }
        }
    }
    write_set(&tmp.path().join("results"), m, "name: cache\n", records);
    let out = mpf_in(tmp.path())
        .args(["compare", "latest", "--variable", "mode=warm,cold"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "cold is 40% slower: {table}");
    assert!(table.contains("3 regressions"), "{table}");
    assert!(
        table.contains("size=16"),
        "points matched on the other variable: {table}"
    );
    let json = mpf_in(tmp.path())
        .args([
            "compare",
            "latest",
            "--variable",
            "mode=warm,cold",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("\"verdict\":\"regression\""), "{text}");
}

#[test]
fn show_summary_clips_a_never_negative_interval_at_zero_as_the_graph_does() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        "tps-20261125T100000Z-tp01",
        "tps",
        vec![var("clients", json!([1]), None)],
        vec![result("tps", "tx/s")],
    );
    // Three noisy runs: the t interval of their mean reaches below zero.
    let records = [50.0, 900.0, 2000.0]
        .iter()
        .enumerate()
        .map(|(i, v)| record(i, json!({"clients": 1}), i, json!({"tps": v})))
        .collect();
    write_set(&tmp.path().join("results"), m, "name: tps\n", records);
    let out = mpf_in(tmp.path())
        .args(["show", "latest", "--summary", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(!text.contains("\"ci95_low\":-"), "{text}");
    assert!(text.contains("\"ci95_low\":0"), "{text}");
    let table = mpf_in(tmp.path())
        .args(["show", "latest", "--summary"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("clipped at 0"), "{table}");
    // The graph's caption says the same.
    let svg = tmp.path().join("tps.svg");
    mpf_in(tmp.path())
        .args(["plot", "latest", "-o"])
        .arg(&svg)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("clipped at 0"));
}

#[test]
fn the_report_draws_a_base_set_against_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    latency_set(&root, "lat-20261125T100001Z-aa01", "lat", 1.0, 1);
    latency_set(&root, "lat-20261125T100002Z-bb02", "lat", 1.3, 2);
    let page = tmp.path().join("report.html");
    let out = mpf_in(tmp.path())
        .args(["report", "latest", "--base", "latest~1", "-o"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<h2>Against base <code>lat-20261125T100001Z-aa01</code></h2>"),
        "the section names the base"
    );
    let fig = &html[html
        .find("<figure class=\"against\" data-result=\"latency\">")
        .expect("a figure of latency")..];
    let fig = &fig[..fig.find("</figure>").unwrap()];
    let texts = svg_texts(fig);
    assert!(
        texts.contains(&"base") && texts.contains(&"new"),
        "{texts:?}"
    );
    assert!(
        fig.matches("<polygon").count() >= 2,
        "a band per set, as the PNGs"
    );
    // Without --base the report has no such section.
    let plain = report_of(tmp.path(), "latest");
    assert!(!plain.contains("Against base"));
    // A base of another experiment is refused, naming what differs.
    let other = tmp.path().join("other");
    latency_set(&other, "tput-20261125T100003Z-cc03", "tput", 1.0, 3);
    let err = exits(
        mpf_in(tmp.path())
            .args(["report", "latest", "--base"])
            .arg(other.join("tput-20261125T100003Z-cc03")),
        2,
    );
    assert!(err.contains("is of experiment 'tput'"), "{err}");
}
