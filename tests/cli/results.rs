//! Results as users need them (SPEC §8): series statistics and warm-up in the journal, results
//! read from files and stderr, templated `ready` ports, re-extraction and per-point summaries.

use crate::common::{journal, mpf_in, only_set, write, Sandbox};

#[test]
fn results_from_files_stderr_and_series_statistics_reach_the_journal() {
    let dir = Sandbox::new();
    dir.run_ok(
        "e.yaml",
        r#"
runs: 1
steps:
  - name: work
    run: |
      printf 't,lat_us\n0,900\n1,800\n2,100\n3,200\n4,300\n' > {{ run_dir }}/lat.csv
      printf '{"read": {"clat_ns": {"percentile": {"99.000000": 2500}}}}' > {{ run_dir }}/out.json
      echo "elapsed 1.5 ms" >&2
    results:
      lat: {file: "{{ run_dir }}/lat.csv", csv: lat_us, in: us, unit: s, warmup: 2, stats: [p50, max, count]}
      p99: {file: out.json, json: 'read.clat_ns.percentile."99.000000"', in: ns, unit: s}
      elapsed: {regex: '^elapsed (.+)$', stream: stderr, unit: s}
"#,
        &["-q"],
    );
    let set = only_set(dir.path());
    let r = &journal(&set)[0];
    assert_eq!(r["status"], "ok", "{r}");
    let res = &r["results"];
    assert_eq!(
        res["lat"],
        serde_json::json!([0.0009, 0.0008, 0.0001, 0.0002, 0.0003])
    );
    assert_eq!(res["lat.p50"], 0.0002);
    assert_eq!(res["lat.max"], 0.0003);
    assert_eq!(res["lat.count"], 3.0);
    assert_eq!(res["p99"], 2.5e-6);
    assert_eq!(res["elapsed"], 0.0015);
    assert_eq!(r["warmup_dropped"], serde_json::json!({"lat": 2}));
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("lat,lat.p50,lat.max,lat.count,p99,elapsed,"),
        "{csv}"
    );
}

#[test]
fn a_missing_result_file_fails_the_run_naming_the_file() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "e.yaml",
        "runs: 1\nsteps:\n  - name: work\n    run: 'true'\n    results:\n      x: {file: '{{ run_dir }}/fio.json', json: a}\n      y: {file: /etc/hostname, regex: '(.+)'}\n",
    );
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    let set = only_set(dir.path());
    let r = &journal(&set)[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["extraction_failed"], true);
    let err = r["error"].as_str().unwrap();
    let run_dir = set.join("runs/0000/local");
    assert!(
        err.contains(&format!(
            "result 'x': file '{}/fio.json' does not exist (the step did not write it)",
            run_dir.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("result 'y': file '/etc/hostname' is not inside the run_dir"),
        "{err}"
    );
}

#[test]
fn a_templated_ready_port_is_rendered_per_run_and_checked() {
    let dir = Sandbox::new();
    let port = 21000 + (std::process::id() % 20000) as u16;
    let exp = dir.write(
        "e.yaml",
        &format!(
            r#"
runs: 1
variables:
  port: [{port}, "{port}0"]
steps:
  - name: server
    background: true
    run: exec python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", {port})); s.listen(); time.sleep(1000)'
    ready: {{port: "{{{{ port }}}}", timeout: 10s}}
  - name: client
    run: echo connected
"#
        ),
    );
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    let recs = journal(&only_set(dir.path()));
    let ok = recs.iter().find(|r| r["point"]["port"] == port).unwrap();
    assert_eq!(ok["status"], "ok", "{ok}");
    let bad = recs.iter().find(|r| r["point"]["port"] != port).unwrap();
    let err = bad["error"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "ready port '{port}0' is not a port number (1 to 65535)"
        )),
        "{err}"
    );
    assert!(err.contains("e.yaml:9:"), "{err}");
}

#[test]
fn extract_applies_an_edited_extractor_to_stored_outputs_as_a_new_generation() {
    let dir = Sandbox::new();
    let body = |regex: &str| {
        format!(
            "runs: 2\nvariables:\n  mode: [good, crash]\nsteps:\n  - name: work\n    run: |\n      echo \"rps: 12.5k\"\n      echo \"mpf-result extra 3\"\n      printf '{{\"lat\": [1, 2, 30, 4]}}' > {{{{ run_dir }}}}/r.json\n      test {{{{ mode }}}} = good\n    results:\n      rps: {{regex: '{regex}'}}\n"
        )
    };
    let exp = dir.write("e.yaml", &body("^rate: (\\S+)"));
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    let set = only_set(dir.path());
    let before = std::fs::read(set.join("journal.jsonl")).unwrap();
    let old = journal(&set);
    assert!(old.iter().all(|r| r["status"] == "failed"));
    assert_eq!(
        old.iter()
            .filter(|r| r["extraction_failed"] == true)
            .count(),
        2
    );

    let fixed = dir.write(
        "fixed.yaml",
        &(body("^rps: (\\S+)")
            + "      lat: {file: r.json, json: lat, unit: s, stats: [max, p50]}\n"),
    );
    let out = dir
        .mpf()
        .args(["extract", "latest", "-f"])
        .arg(&fixed)
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("4 runs extracted again: 2 ok, 2 FAILED; now ok: ")
            && text.contains("previous journal kept as journal.1.jsonl"),
        "{text}"
    );
    // The old generation is kept whole; the current files are the new one.
    assert_eq!(std::fs::read(set.join("journal.1.jsonl")).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(set.join("experiment.1.yaml")).unwrap(),
        body("^rate: (\\S+)")
    );
    assert_eq!(
        std::fs::read_to_string(set.join("experiment.yaml")).unwrap(),
        std::fs::read_to_string(&fixed).unwrap()
    );
    assert!(set.join("results.1.csv").exists() && set.join("manifest.1.json").exists());
    let new = journal(&set);
    assert_eq!(new.len(), 4);
    for r in &new {
        let was = old.iter().find(|o| o["index"] == r["index"]).unwrap();
        assert_eq!(
            r["results"]["work.duration"],
            was["results"]["work.duration"]
        );
        if r["point"]["mode"] == "good" {
            assert_eq!(r["status"], "ok", "{r}");
            assert!(r.get("error").is_none() && r.get("extraction_failed").is_none());
            assert_eq!(r["results"]["rps"], 12.5);
            assert_eq!(r["results"]["extra"], 3.0);
            assert_eq!(r["results"]["lat.max"], 30.0);
            assert_eq!(r["results"]["lat.p50"], 3.0);
        } else {
            // Failed for another reason than a result: stays failed, with its own error.
            assert_eq!(r["status"], "failed");
            assert_eq!(r["error"], was["error"]);
        }
    }
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert!(
        csv.starts_with("mode,rps,lat,lat.max,lat.p50,work.duration,extra,"),
        "{csv}"
    );
    let show = dir
        .mpf()
        .args(["show", "latest", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&show.stdout), csv);
    // The set resumes with the edited file: its fingerprint followed it.
    let m = crate::common::manifest(&set);
    assert_eq!(
        (m["runs_ok"].as_u64(), m["runs_failed"].as_u64()),
        (Some(2), Some(2))
    );

    // Extracting again with the stored (now edited) file makes generation 2, same results.
    dir.mpf().args(["extract", "latest"]).assert().code(1);
    assert!(set.join("journal.2.jsonl").exists());
    assert_eq!(journal(&set), new);
}

#[test]
fn show_summary_gives_per_point_statistics_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    crate::fixtures::iperf(&tmp.path().join("results"));
    let show = |format: &str| {
        let out = mpf_in(tmp.path())
            .args(["show", "latest", "--summary", "--format", format])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let table = show("table");
    insta::assert_snapshot!("summary_table", table);
    insta::assert_snapshot!("summary_markdown", show("markdown"));
    let csv = show("csv");
    assert!(csv.starts_with(
        "parallel,zerocopy,zerocopy_label,result,unit,n,mean,median,ci95_low,ci95_high,min,max,stddev\n1,,disabled,goodput,bit/s,3,"
    ), "{csv}");
    // Each row's numbers are mpf's summary of the point's ok runs, recomputed here.
    let set = only_set(tmp.path());
    let recs = journal(&set);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&show("json")).unwrap();
    // 16 points x (goodput, client.duration); the series result has no row.
    assert_eq!(rows.len(), 32);
    for row in &rows {
        let values: Vec<f64> = recs
            .iter()
            .filter(|r| {
                r["status"] == "ok"
                    && r["point"]["parallel"] == row["parallel"]
                    && r["point"]["zerocopy"] == row["zerocopy"]
            })
            .map(|r| {
                r["results"][row["result"].as_str().unwrap()]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        let s = mpf::internals::analyze::stats::summarize(&values).unwrap();
        assert_eq!(row["n"], values.len());
        for (k, want) in [
            ("mean", s.mean),
            ("median", s.median),
            ("ci95_low", s.ci_lo),
            ("ci95_high", s.ci_hi),
            ("min", s.min),
            ("max", s.max),
        ] {
            assert_eq!(row[k].as_f64().unwrap(), want, "{k} of {row}");
        }
    }
    let seven = rows
        .iter()
        .find(|r| r["parallel"] == 7 && r["zerocopy"] == "" && r["result"] == "goodput")
        .unwrap();
    assert_eq!(seven["n"], 2, "the failed run is left out");
    assert_eq!(seven["zerocopy_label"], "disabled");
}

#[test]
fn a_regex_that_matched_nothing_says_where_it_looked_and_what_was_there() {
    let dir = Sandbox::new();
    let exp = dir.write(
        "e.yaml",
        "runs: 1\nsteps:\n  - name: bench\n    run: |\n      echo 'Running 1s test @ http://127.0.0.1:8080/'\n      echo '  1 threads and 4 connections'\n      echo 'Requests/sec:  28688.67'\n      echo 'warning: slow' >&2\n    results:\n      rps: '^Requests per second: (\\S+)$'\n      warn: {regex: '^error: (.*)$', stream: stderr}\n",
    );
    dir.mpf().arg("run").arg(&exp).arg("-q").assert().code(1);
    let r = &journal(&only_set(dir.path()))[0];
    insta::assert_snapshot!(r["error"]
        .as_str()
        .unwrap()
        .replace("; result", ";\nresult"));
}

/// The summary printed `ci95_low -0.47` for a rate while its graph clipped at zero: one rule
/// (SPEC §17): a result never negative in the set has its interval clipped at zero in the
/// tables (every format), the report and the graphs, and each says so.
#[test]
fn never_negative_intervals_are_clipped_at_zero_in_tables_and_graphs_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = write(
        tmp.path(),
        "neg.yaml",
        r#"
runs: 3
steps:
  - run: >-
      awk -v r={{ run.repetition }}
      'BEGIN { printf "tps=%d d=%d\n", (r == 2 ? 10 : 0), (r == 2 ? 10 : -1) }'
    results:
      tps: 'tps=(\S+)'
      d: 'd=(\S+)'
"#,
    );
    mpf_in(tmp.path())
        .args(["run", "-q"])
        .arg(&exp)
        .assert()
        .success();
    let show = |format: &str| {
        let out = mpf_in(tmp.path())
            .args(["show", "latest", "--summary", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let table = show("table");
    let row = |name: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{table}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    // result, n, mean, median, ci95_low, ...
    assert_eq!(row("tps")[4], "0", "{table}");
    assert!(row("d")[4].starts_with('-'), "{table}");
    assert!(
        table.contains("ci95_low clipped at 0 for results that are never negative: tps"),
        "{table}"
    );
    assert!(!table.contains("negative: tps, d"), "{table}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&show("json")).unwrap();
    let low = |name: &str| {
        rows.iter().find(|r| r["result"] == name).unwrap()["ci95_low"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(low("tps"), 0.0);
    assert!(low("d") < -13.0, "{rows:?}");
    let set = only_set(tmp.path());
    let svg = |name: &str| std::fs::read_to_string(set.join("plots").join(name)).unwrap();
    assert!(svg("tps.svg").contains("intervals clipped at 0 (never negative)"));
    assert!(!svg("d.svg").contains("clipped"));
    mpf_in(tmp.path())
        .args(["report", "latest"])
        .assert()
        .success();
    let html = std::fs::read_to_string(set.join("report.html")).unwrap();
    assert!(
        html.contains("ci95_low clipped at 0 for results that are never negative: tps"),
        "report"
    );
}

/// Derived results (SPEC §16.1) are results everywhere: the CSV, the graphs, the summary, a
/// search's condition and `runs: {on}`, `mpf compare` and `mpf extract`; NaN fails the run
/// naming the result; a cycle is refused at load with its line.
#[test]
fn derived_results_are_results_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let text = |expr: &str| {
        format!(
            r#"
runs: {{min: 2, max: 3, ci: 5%, on: [loss]}}
variables:
  rate: {{range: [100, 1000]}}
search:
  variable: rate
  condition: "loss <= 1"
  precision: 2%
steps:
  - run: >-
      awk -v r={{{{ rate }}}}
      'BEGIN {{ printf "SentMessages=%d\ndropped messages = %d\n", r * 10, (r > 420 ? r : 0) }}'
    results:
      sent:    {{regex: 'SentMessages=(\d+)'}}
      dropped: {{regex: 'dropped messages = (\d+)'}}
      loss:    {{expr: "{expr}", unit: "%", better: lower}}
"#
        )
    };
    let exp = write(tmp.path(), "loss.yaml", &text("100 * dropped / sent"));
    mpf_in(tmp.path())
        .args(["run", "-q"])
        .arg(&exp)
        .assert()
        .success();
    let set = only_set(tmp.path());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["limits"][0]["limit"], 417, "{}", m["limits"]);
    let loss = m["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "loss")
        .unwrap();
    assert_eq!(
        (&loss["unit"], &loss["better"]),
        (&"%".into(), &"lower".into())
    );
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(",loss,"), "{csv}");
    assert!(csv.contains("\n1000,10000.0,1000.0,"), "{csv}");
    assert!(set.join("plots/loss.svg").exists());
    for r in journal(&set) {
        let (sent, dropped) = (
            r["results"]["sent"].as_f64().unwrap(),
            r["results"]["dropped"].as_f64().unwrap(),
        );
        assert_eq!(
            r["results"]["loss"].as_f64().unwrap(),
            100.0 * dropped / sent
        );
    }
    // Compared like any result.
    mpf_in(tmp.path())
        .args(["run", "-q", "--no-plot"])
        .arg(&exp)
        .assert()
        .success();
    let first = set.file_name().unwrap().to_string_lossy().into_owned();
    let out = mpf_in(tmp.path())
        .args(["compare", &first, "latest"])
        .output()
        .unwrap();
    let compared = String::from_utf8_lossy(&out.stdout);
    assert!(compared.contains("loss"), "{compared}");

    // mpf extract with an edited expression computes it anew, and NaN fails the run naming it.
    let edited = write(
        tmp.path(),
        "nan.yaml",
        &text("100 * (dropped - dropped) / (sent - sent)"),
    );
    let out = mpf_in(tmp.path())
        .args(["extract", &first, "-f"])
        .arg(&edited)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rec = &journal(&set)[0];
    assert_eq!(rec["status"], "failed");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("result 'loss': expr '100 * (dropped - dropped) / (sent - sent)' gives NaN (not a finite number)"),
        "{rec}"
    );

    // A cycle is refused at load, naming the line.
    let cyclic = write(
        tmp.path(),
        "cycle.yaml",
        "steps:\n  - run: echo x=1\n    results:\n      x: 'x=(\\d+)'\n      a: {expr: 'b + x'}\n      b: {expr: 'a * 2'}\n",
    );
    let out = mpf_in(tmp.path())
        .args(["check"])
        .arg(&cyclic)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cycle.yaml:5:")
            && err.contains("result 'a': derived results read each other in a cycle (a, b)"),
        "{err}"
    );
}
/// `1e999` is no number mpf can record: a regex result, a series element and an `mpf-result`
/// line holding it fail the run naming the result, as `inf` does (once an ok run with
/// `x: null`).
#[test]
fn numbers_that_overflow_fail_the_run_naming_the_result() {
    let cases = [
        (
            "echo 'val 1e999'",
            "x: {regex: 'val (\\S+)'}",
            "result 'x': '1e999' is not a finite number",
        ),
        (
            "printf 'v=1\\nv=1e999\\n'",
            "s: {regex: 'v=(\\S+)', all: true}",
            "result 's': '1e999' is not a finite number",
        ),
        (
            "echo 'mpf-result m 1e999'; echo 'mpf-result k 1'",
            "k: {regex: 'k (\\d)'}",
            "mpf-result 'm': '1e999' is not a finite number",
        ),
    ];
    for (run, result, error) in cases {
        let dir = tempfile::tempdir().unwrap();
        let exp = write(
            dir.path(),
            "big.yaml",
            &format!("runs: 1\nsteps:\n  - name: work\n    run: \"{run}\"\n    results:\n      {result}\n"),
        );
        mpf_in(dir.path())
            .arg("run")
            .arg(&exp)
            .args(["-q", "--no-plot"])
            .assert()
            .code(1);
        let r = &journal(&only_set(dir.path()))[0];
        assert_eq!(r["status"], "failed", "{r}");
        let err = r["error"].as_str().unwrap();
        assert!(err.contains(error), "{err}");
    }
}

/// A series of a million values: its statistics are over every value (once cut to the first
/// 100,000: p99 = max = 1 ms where the truth is 1000 ms), the recorded series keeps the first
/// 100,000 with a note, and a series over the limit fails the run naming it.
#[test]
fn series_statistics_are_over_every_value_or_the_run_fails_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "long.yaml",
        r#"runs: 1
variables:
  n: [1000000, 4000001]
steps:
  - name: work
    run: |
      awk -v n={{ n }} 'BEGIN { print "lat"; for (i = 0; i < n; i++) print (i < n - 20000 ? "1ms" : "1000ms") }' > {{ run_dir }}/l.csv
    results:
      lat: {csv: lat, file: '{{ run_dir }}/l.csv', unit: s, stats: [p99, max, count]}
"#,
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["-q", "--no-plot"])
        .assert()
        .code(1);
    let recs = journal(&only_set(dir.path()));
    let ok = recs.iter().find(|r| r["point"]["n"] == 1000000).unwrap();
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["results"]["lat.p99"], 1.0);
    assert_eq!(ok["results"]["lat.max"], 1.0);
    assert_eq!(ok["results"]["lat.count"], 1000000.0);
    assert_eq!(ok["results"]["lat"].as_array().unwrap().len(), 100_000);
    assert!(
        ok["notes"].to_string().contains(
            "the recorded series holds the first 100000 of its 1000000 values (its statistics are over all of them)"
        ),
        "{ok}"
    );
    let long = recs.iter().find(|r| r["point"]["n"] == 4000001).unwrap();
    assert_eq!(long["status"], "failed");
    let err = long["error"].as_str().unwrap();
    assert!(
        err.contains(
            "result 'lat': the series has more than 4000000 values (the limit of a series)"
        ),
        "{err}"
    );
}

/// Adaptive repetitions never count a run whose value overflowed as an ok run with no
/// value (once ok runs with `x: null`): every run fails.
#[test]
fn adaptive_repetitions_do_not_count_an_overflowed_value_as_ok() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "a.yaml",
        "runs: {min: 2, max: 4, ci: 5%, on: [x]}\nsteps:\n  - name: work\n    run: echo 'val 1e999'\n    results:\n      x: {regex: 'val (\\S+)'}\n",
    );
    mpf_in(dir.path())
        .arg("run")
        .arg(&exp)
        .args(["-q", "--no-plot"])
        .assert()
        .code(1);
    let recs = journal(&only_set(dir.path()));
    assert!(recs.len() >= 2, "{recs:?}");
    assert!(recs
        .iter()
        .all(|r| r["status"] == "failed" && r["results"].get("x").is_none()));
}
