//! Overlays, comparisons drawn, tables and graphs that agree, and habits from other tools
//! (issue 25 items 3, 5 and 6).

use std::path::Path;

use serde_json::{json, Value};

use crate::common::mpf_in;
use crate::fixtures::{self, manifest, record, result, var, write_set};

/// The plotly figures a report embeds.
fn report_figures(html: &str) -> Vec<Value> {
    let start = html.find("id=\"mpf-figures\">").expect("figures") + "id=\"mpf-figures\">".len();
    let end = start + html[start..].find("</script>").expect("end of figures");
    let v: Value = serde_json::from_str(&html[start..end]).expect("figures are JSON");
    v.as_array().cloned().unwrap_or_default()
}

fn report_of(tmp: &Path, id: &str) -> String {
    mpf_in(tmp).args(["report", id]).assert().success();
    let dir = mpf::store::resolve(&tmp.join("results"), id).unwrap();
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
