//! `mpf plot` and the graphs `mpf run` draws (`mpf::internals::report::plot`).

use std::path::Path;

use mpf::internals::report::plot::{build, choose, figures, plot_all, PlotSpec};
use mpf::internals::store::ResultSet;

use crate::common::mpf_in;
use crate::fixtures;

fn load(dir: &Path) -> ResultSet {
    ResultSet::load(dir).expect("load set")
}

#[test]
fn the_graph_follows_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    let mut choices = Vec::new();
    for dir in [
        fixtures::quickstart(&root),
        fixtures::iperf(&root),
        fixtures::single_point(&root),
        fixtures::multipath(&root),
    ] {
        let set = load(&dir);
        for fig in figures(&set, None).unwrap() {
            choices.push(fig.choice);
        }
    }
    insta::assert_json_snapshot!(choices);
}

#[test]
fn hints_override_the_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&fixtures::iperf(&tmp.path().join("results")));
    let hints = PlotSpec {
        x: Some("zerocopy".into()),
        series: Some("parallel".into()),
        ..Default::default()
    };
    let c = choose(&set, "goodput", &hints).unwrap();
    assert_eq!(c.kind, mpf::internals::report::plot::Kind::Bars);
    assert_eq!(c.x.as_deref(), Some("zerocopy"));
    assert_eq!(c.series.as_deref(), Some("parallel"));
    let bad = PlotSpec {
        x: Some("nosuch".into()),
        ..Default::default()
    };
    let e = choose(&set, "goodput", &bad).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("unknown variable 'nosuch'"), "{e}");
}

#[test]
fn axes_carry_labels_and_scaled_units() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&fixtures::iperf(&tmp.path().join("results")));
    let c = choose(&set, "goodput", &PlotSpec::default()).unwrap();
    let fig = build(&set, &c).unwrap().unwrap();
    // Names as the experiment wrote them, with the display unit.
    assert_eq!(fig.y_title, "goodput (Gbit/s)");
    assert_eq!(fig.x_title, "parallel");
    assert_eq!(fig.series_labels, vec!["disabled", "enabled"]);
    // Means are in Gbit/s, with a 95% interval around them from three runs.
    let cell = &fig.panels[0].cells[0];
    assert_eq!(cell.summary.n, 3);
    assert!(cell.summary.mean > 1.0 && cell.summary.mean < 10.0);
    assert!(cell.summary.ci_lo < cell.summary.mean && cell.summary.ci_hi > cell.summary.mean);
    // The failed run is left out: parallel 7 without zero-copy has two runs.
    let seven = fig.panels[0]
        .cells
        .iter()
        .find(|c| c.series == 0 && c.x == 7.0)
        .unwrap();
    assert_eq!(seven.summary.n, 2);
    let svg = mpf::internals::report::plot::render::to_svg(&fig).unwrap();
    for text in [
        "goodput (Gbit/s)",
        "parallel",
        "disabled",
        "enabled",
        "zerocopy:",
        "mean and 95% confidence interval of 2-3 runs per point",
    ] {
        assert!(svg.contains(text), "svg lacks {text}");
    }
}

#[test]
fn a_series_result_graph_says_each_run_counts_as_the_mean_of_its_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&fixtures::iperf(&tmp.path().join("results")));
    let note = "each run counts as the mean of its samples";
    let c = choose(&set, "intervals", &PlotSpec::default()).unwrap();
    let fig = build(&set, &c).unwrap().unwrap();
    assert!(fig.caption.contains(note), "{}", fig.caption);
    let svg = mpf::internals::report::plot::render::to_svg(&fig).unwrap();
    assert!(svg.contains(note), "svg lacks the note");
    // A result with one number per run has no such note.
    let c = choose(&set, "goodput", &PlotSpec::default()).unwrap();
    let fig = build(&set, &c).unwrap().unwrap();
    assert!(!fig.caption.contains(note), "{}", fig.caption);
}

#[test]
fn plot_all_writes_svg_and_png_per_result() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&fixtures::multipath(&tmp.path().join("results")));
    let out = tmp.path().join("plots");
    let written = plot_all(&set, &out, None).unwrap().written;
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "goodput.svg",
            "goodput.png",
            "completion.svg",
            "completion.png"
        ]
    );
    let png = std::fs::read(out.join("goodput.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out.join("goodput.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
    // Small multiples: one panel per congestion control, the conditional scheduler as series.
    assert!(svg.contains("cc: cubic") && svg.contains("cc: bbr"));
    assert!(svg.contains("lowrtt") && svg.contains("none"));
}

/// Writes the graphs of the example sets to $MPF_GALLERY (for looking at them) or a temp dir.
#[test]
fn gallery_renders_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("MPF_GALLERY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("gallery"));
    let root = tmp.path().join("results");
    for (name, dir) in [
        ("quickstart", fixtures::quickstart(&root)),
        ("iperf", fixtures::iperf(&root)),
        ("single", fixtures::single_point(&root)),
        ("multipath", fixtures::multipath(&root)),
    ] {
        let set = load(&dir);
        let written = plot_all(&set, &out.join(name), None).unwrap().written;
        assert!(!written.is_empty(), "{name}: no graph");
        for p in written {
            assert!(
                std::fs::metadata(&p).unwrap().len() > 1000,
                "{}",
                p.display()
            );
        }
        let pdf = out.join(name).join("main.pdf");
        mpf::internals::report::plot::plot_one(&set, &pdf, &PlotSpec::default()).unwrap();
        assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
        let html = out.join(name).join("report.html");
        mpf::internals::report::html::write_report(&set, &html, None).unwrap();
    }
}

#[test]
fn cli_plot_writes_every_graph_into_the_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures::iperf(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["plot", "latest"])
        .assert()
        .success()
        .stdout(predicates::str::contains("goodput.svg"));
    for f in ["goodput.svg", "goodput.png", "intervals.svg"] {
        assert!(dir.join("plots").join(f).is_file(), "missing {f}");
    }
    // Step durations only when asked for.
    assert!(!dir.join("plots/client.duration.png").exists());
    mpf_in(tmp.path())
        .args(["plot", "latest", "--durations"])
        .assert()
        .success();
    assert!(dir.join("plots/client.duration.png").is_file());
}

#[test]
fn cli_plot_one_file_in_each_format() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::iperf(&tmp.path().join("results"));
    for name in ["g.svg", "g.png", "g.pdf"] {
        mpf_in(tmp.path())
            .args(["plot", "iperf", "-o", name])
            .assert()
            .success()
            .stderr(predicates::str::contains("(goodput)"));
    }
    let pdf = std::fs::read(tmp.path().join("g.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    // The bundled font travels inside the PDF.
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("FontFile2") || text.contains("FontFile3"),
        "no embedded font"
    );
    assert!(text.contains("DejaVu"), "font name missing");
    let png = std::fs::read(tmp.path().join("g.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let svg = std::fs::read_to_string(tmp.path().join("g.svg")).unwrap();
    assert!(svg.contains("goodput (Gbit/s)"));
}

#[test]
fn cli_plot_flags_override_and_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::iperf(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args([
            "plot",
            "latest",
            "--y",
            "client.duration",
            "--x",
            "zerocopy",
            "-o",
            "d.svg",
        ])
        .assert()
        .success();
    let svg = std::fs::read_to_string(tmp.path().join("d.svg")).unwrap();
    assert!(svg.contains("client.duration (s)"), "y axis");
    assert!(svg.contains("zerocopy"), "x axis");
    mpf_in(tmp.path())
        .args(["plot", "latest", "--x", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown variable 'nosuch'"));
    mpf_in(tmp.path())
        .args(["plot", "latest", "--y", "nosuch", "-o", "x.svg"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown result 'nosuch'"));
    mpf_in(tmp.path())
        .args(["plot", "latest", "-o", "x.gif"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(".svg, .png or .pdf"));
    mpf_in(tmp.path())
        .args(["plot", "nosuchset"])
        .assert()
        .code(2);
}

/// A set whose result is a latency: noisy, skewed, never negative.
fn latency_set(root: &Path) -> std::path::PathBuf {
    use serde_json::json;
    let mut m = fixtures::manifest(
        "lat-20261125T100000Z-la01",
        "lat",
        vec![fixtures::var("clients", json!([1, 2, 4, 8]), None)],
        vec![fixtures::result("p99", "s")],
    );
    m.results[0].better = mpf::internals::model::Better::Lower;
    let mut records = Vec::new();
    for n in [1, 2, 4, 8] {
        // One run in three is 40x slower: the t interval of the mean reaches below zero.
        for (rep, v) in [0.001, 0.0012, 0.04].iter().enumerate() {
            let i = records.len();
            records.push(fixtures::record(
                i,
                json!({ "clients": n }),
                rep,
                json!({ "p99": v * n as f64 }),
            ));
        }
    }
    fixtures::write_set(root, m, "name: lat\n", records)
}

#[test]
fn intervals_of_quantities_that_cannot_be_negative_stay_above_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&latency_set(&tmp.path().join("results")));
    let c = choose(&set, "p99", &PlotSpec::default()).unwrap();
    let fig = build(&set, &c).unwrap().unwrap();
    let cells = &fig.panels[0].cells;
    assert!(
        cells.iter().any(|c| c.summary.ci_lo < 0.0),
        "the raw t interval dips below zero"
    );
    assert!(cells.iter().all(|c| c.lo >= 0.0), "what is drawn does not");
    assert!(fig.caption.contains("clipped at 0"), "{}", fig.caption);
    assert_eq!(mpf::internals::report::plot::render::y_range(&fig).0, 0.0);
    let svg = mpf::internals::report::plot::render::to_svg(&fig).unwrap();
    assert!(svg.contains("clipped at 0"));
}

#[test]
fn median_and_log_axis_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let set = load(&latency_set(&tmp.path().join("results")));
    let hints = PlotSpec {
        stat: Some(mpf::internals::model::Stat::Median),
        y_scale: Some(mpf::internals::model::Scale::Log),
        ..Default::default()
    };
    let c = choose(&set, "p99", &hints).unwrap();
    assert!(c.log_y);
    let fig = build(&set, &c).unwrap().unwrap();
    for cell in &fig.panels[0].cells {
        assert_eq!(cell.center, cell.summary.median);
        assert_eq!((cell.lo, cell.hi), (cell.summary.q1, cell.summary.q3));
        assert!(cell.lo > 0.0);
    }
    assert!(fig
        .caption
        .starts_with("median and interquartile range of 3 runs per point"));
    assert!(fig.caption.contains("log y axis"));
    // Ticks at 1, 2, 5 x powers of ten, in log10 coordinates, labelled with the values.
    let range = mpf::internals::report::plot::render::y_range(&fig);
    let ticks = mpf::internals::report::plot::render::y_ticks(&fig, range);
    let labels: Vec<String> = ticks
        .iter()
        .map(|t| mpf::internals::report::plot::render::y_tick_label(&fig, *t))
        .collect();
    assert!(
        labels.iter().any(|l| l == "10" || l == "20" || l == "5"),
        "{labels:?}"
    );
    // The report draws the same axis: log type, and the PNG's range.
    let html = mpf::internals::report::html::page::plotly_figure(&fig);
    assert_eq!(html["layout"]["yaxis"]["type"], "log");
    assert_eq!(
        html["layout"]["yaxis"]["range"][0].as_f64().unwrap(),
        range.0
    );
    // And from the command line.
    mpf_in(tmp.path())
        .args(["plot", "lat", "--stat", "median", "--log-y", "-o", "m.svg"])
        .assert()
        .success();
    let svg = std::fs::read_to_string(tmp.path().join("m.svg")).unwrap();
    assert!(svg.contains("median and interquartile range"));
}

#[test]
fn the_report_starts_where_the_graph_starts_and_embeds_the_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures::iperf(&tmp.path().join("results"));
    std::fs::write(dir.join("experiment.yaml"), "name: iperf # <verbatim>\n").unwrap();
    let set = load(&dir);
    let fig = figures(&set, None).unwrap().remove(0);
    let plotly = mpf::internals::report::html::page::plotly_figure(&fig);
    let (y0, y1) = mpf::internals::report::plot::render::y_range(&fig);
    assert_eq!(
        plotly["layout"]["yaxis"]["range"],
        serde_json::json!([y0, y1])
    );
    let html = mpf::internals::report::html::page::render(&set, None).unwrap();
    assert!(html.contains(
        "<pre class=\"source\" id=\"experiment-file\">name: iperf # &lt;verbatim&gt;\n</pre>"
    ));
}

#[test]
fn every_figure_format_carries_its_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures::iperf(&tmp.path().join("results"));
    let id = "iperf-20261125T100000Z-ab12";
    let sha = {
        use sha2::Digest;
        let bytes = std::fs::read(dir.join("experiment.yaml")).unwrap();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    for name in ["p.svg", "p.png", "p.pdf"] {
        mpf_in(tmp.path())
            .args(["plot", "latest", "-o", name])
            .assert()
            .success();
        let bytes = std::fs::read(tmp.path().join(name)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains(id), "{name} lacks the set id");
        assert!(text.contains(&sha), "{name} lacks the experiment's sha256");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!("mpf:version\0{version}"))
                || text.contains(&format!("version=\"{version}\""))
                || text.contains(&format!("mpf:version={version}")),
            "{name} lacks the mpf version"
        );
    }
    let png = std::fs::read(tmp.path().join("p.png")).unwrap();
    assert!(png.windows(4).any(|w| w == b"tEXt"), "PNG text chunks");
    let pdf =
        String::from_utf8_lossy(&std::fs::read(tmp.path().join("p.pdf")).unwrap()).into_owned();
    assert!(
        pdf.contains("/MpfSet (iperf-20261125T100000Z-ab12)"),
        "PDF Info"
    );
    assert!(pdf.contains("/Type /Metadata"), "PDF XMP packet");
    // The graphs that `mpf plot ID` writes into the set carry it too.
    mpf_in(tmp.path())
        .args(["plot", "latest"])
        .assert()
        .success();
    let svg = std::fs::read_to_string(dir.join("plots/goodput.svg")).unwrap();
    assert!(svg.contains("<metadata id=\"mpf-provenance\">"));
}
