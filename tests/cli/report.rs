//! `mpf report`: the offline HTML page, checked as text and in a real headless browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::mpf_in;
use crate::fixtures;

fn report(tmp: &Path) -> (PathBuf, String) {
    let dir = fixtures::iperf(&tmp.join("results"));
    mpf_in(tmp)
        .args(["report", "latest"])
        .assert()
        .success()
        .stdout(predicates::str::contains("report.html"));
    let path = dir.join("report.html");
    let html = std::fs::read_to_string(&path).unwrap();
    (path, html)
}

#[test]
fn report_holds_manifest_table_plots_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, html) = report(tmp.path());
    for text in [
        "iperf-20261125T100000Z-ab12",
        "<span class=\"status failed\">complete, 1 of 48 failed</span>",
        "AMD EPYC 7302P 16-Core Processor",
        "6.1.0-18-amd64",
        "2026-11-25T10:00:00.000Z",
        "47 ok, 1 failed, 48 planned",
        "<table class=\"sortable\" id=\"runs\">",
        "goodput (Gbit/s)",
        "id=\"plot-0\"",
        "id=\"plot-1\"",
        // The error text, escaped.
        "unable to connect to server: Connection refused &lt;10.0.0.1&gt;",
        "parallel=7, zerocopy=disabled",
        // The per-point summary of `mpf show --summary`: parallel=7 without zero-copy has
        // two ok runs of three.
        "<h2>Per-point summary</h2>",
        "<table class=\"sortable\" id=\"point-summary\">",
        "<tr><td>7</td><td>disabled</td><td>goodput</td><td>Gbit/s</td><td class=\"num\">2</td>",
    ] {
        assert!(html.contains(text), "report lacks {text}");
    }
    // Step durations are not drawn unless asked for.
    assert!(!html.contains("id=\"plot-2\""));
    // plotly.js is embedded exactly once, and nothing is fetched from the network.
    assert_eq!(html.matches("plotly.js (cartesian - minified)").count(), 1);
    // Outside the scripts' own text, no element loads anything from elsewhere.
    let mut markup = String::new();
    for (i, part) in html.split("<script").enumerate() {
        let rest = if i == 0 {
            part
        } else {
            part.split_once("</script>").map_or("", |(_, r)| r)
        };
        markup.push_str(rest);
    }
    assert_eq!(
        html.matches("<script").count(),
        3,
        "one data, one plotly, one page script"
    );
    for attr in ["src=", "href=\"http", "href='http", "@import", "url("] {
        assert!(
            !markup.contains(attr),
            "report references another resource: {attr}"
        );
    }
    assert!(!html.contains("<script src"), "external script");
    assert!(!html.contains("<link"), "external stylesheet");
}

#[test]
fn report_to_a_chosen_file() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::single_point(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["report", "single", "-o", "r.html"])
        .assert()
        .success();
    let html = std::fs::read_to_string(tmp.path().join("r.html")).unwrap();
    assert!(html.contains("No run failed."));
    assert!(html.contains("\"type\":\"box\""));
}

/// A headless browser on this machine, if any.
pub fn chromium() -> Option<PathBuf> {
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !p.is_empty() {
                return Some(PathBuf::from(p));
            }
        }
    }
    None
}

/// The DOM of the page at `path` once headless chromium has run its scripts, after checking
/// that neither the console nor the page reported an error.
pub fn rendered_dom(browser: &Path, path: &Path, tmp: &Path) -> String {
    let profile = tmp.join("profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=20000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    assert!(
        dom.contains("<pre id=\"mpf-errors\" hidden=\"\"></pre>"),
        "the page reported errors: {}",
        dom.split("mpf-errors")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(400)
            .collect::<String>()
    );
    dom.into_owned()
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED report_renders_in_headless_chromium: no chromium found (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = report(tmp.path());
    let dom = rendered_dom(&browser, &path, tmp.path());
    // goodput and the interval series; the step durations are not drawn unless asked for.
    assert!(!dom.contains("id=\"plot-2\""));
    for i in 0..2 {
        let start = dom
            .find(&format!("id=\"plot-{i}\""))
            .unwrap_or_else(|| panic!("plot-{i} missing"));
        let div = &dom[start..];
        let end = div[1..].find("id=\"plot-").map_or(div.len(), |e| e + 1);
        let div = &div[..end];
        assert!(
            div.contains("data-rendered=\"true\""),
            "plot-{i} not rendered"
        );
        assert!(div.contains("class=\"main-svg\""), "plot-{i} has no svg");
        assert!(
            div.contains("class=\"point\"") || div.contains("class=\"points\""),
            "plot-{i} has no data points"
        );
    }
}

/// A sweep of `x` over `n` points of one run each (`lat`, a noisy curve).
fn big_set(root: &Path, n: usize) -> PathBuf {
    let mut noise = fixtures::Noise::new(7);
    fixtures::sweep_set(root, "big-20261125T100000Z-ab12", ("lat", "s"), n, |i| {
        1e-3 * (1.0 + (i % 100) as f64 / 100.0 + noise.next())
    })
}

#[test]
fn a_large_set_is_summarised_and_the_report_stays_small() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 20_000;
    let dir = big_set(&tmp.path().join("results"), n);
    mpf_in(tmp.path())
        .args(["report", "latest"])
        .assert()
        .success();
    let path = dir.join("report.html");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 10 * 1024 * 1024,
        "report of {n} runs is {size} bytes"
    );
    let html = std::fs::read_to_string(&path).unwrap();
    for text in [
        // The runs are summarised, not listed, and the page says where they all are.
        "This set has 20000 runs, more than a report lists one by one (2000)",
        "<code>mpf show big-20261125T100000Z-ab12</code> lists them all",
        "This set has 20000 rows (points × results): the first 2000, in point order",
        "… and 19900 more",
        // The graph draws bins, and says so.
        "20000 points per line, in 500 bins: the line is each bin&#39;s mean, the band its range",
    ] {
        assert!(html.contains(text), "missing {text:?}");
    }
    assert!(
        !html.contains("id=\"runs\""),
        "the runs table is not listed"
    );
    let summary = &html[html.find("id=\"point-summary\"").unwrap()..];
    let summary = &summary[..summary.find("</table>").unwrap()];
    assert_eq!(
        summary.matches("<tr>").count(),
        1 + 2000,
        "header and 2000 rows"
    );
    // The same set under the limits lists every run.
    let small = tempfile::tempdir().unwrap();
    let dir = big_set(&small.path().join("results"), 300);
    mpf_in(small.path())
        .args(["report", "latest"])
        .assert()
        .success();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"runs\""));
    assert!(!html.contains("runs-summarised") && !html.contains("in 500 bins"));
}
