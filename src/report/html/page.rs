//! The offline HTML report: one file with the manifest, the sortable runs table, one
//! interactive plot per result (plotly.js embedded once), the monitoring samples of a chosen
//! run (`monitor`) and the failed runs with their errors.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::Result;
use crate::report::plot::figure::{binned, needs_records, Cell, Figure, Kind, MAX_LINE_POINTS};
use crate::report::plot::render::{self, css_colour};
use crate::report::plot::{figures, PlotSpec};
use crate::store::compact::CompactSet;
use crate::store::record::{value_text, RunRecord, RunStatus};
use crate::store::ResultSet;
use crate::units::{display_scale, format_number};

/// plotly.js, cartesian bundle (MIT licence, see assets/plotly/LICENSE); its licence header is
/// kept in the embedded copy.
pub(crate) static PLOTLY: &str = include_str!("../../../assets/plotly/plotly-cartesian.min.js");

const STYLE: &str = r#"
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;background:#f4f4f4;user-select:none;white-space:nowrap}
table.sortable th[aria-sort=ascending]::after{content:" \25B2"}
table.sortable th[aria-sort=descending]::after{content:" \25BC"}
tr.failed td{background:#fff0f0}
.status{display:inline-block;padding:.05em .5em;border-radius:.3em;color:#fff;font-size:.85em}
.status.complete{background:#2a7d2a}.status.running{background:#1f5fa8}.status.interrupted{background:#b26b00}.status.failed{background:#b3261e}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.15em 1.2em}dl.summary dt{font-weight:bold}dl.summary dd{margin:0}
.mpf-plot{width:100%;min-height:420px}
pre{white-space:pre-wrap;margin:0;font-size:.9em}
#mpf-errors{color:#b3261e}
.scroll{overflow-x:auto}
"#;

const SCRIPT: &str = r#"
(function () {
  var errors = [];
  var box = document.getElementById("mpf-errors");
  function report(msg) { errors.push(msg); box.textContent = errors.join("\n"); box.hidden = false; }
  window.addEventListener("error", function (e) { report(String(e.message)); });
  var figures = JSON.parse(document.getElementById("mpf-figures").textContent);
  figures.forEach(function (f, i) {
    var div = document.getElementById("plot-" + i);
    try {
      Plotly.newPlot(div, f.data, f.layout, {displaylogo: false, responsive: true}).then(
        function () { div.setAttribute("data-rendered", "true"); },
        function (e) { report("plot " + i + ": " + e); });
    } catch (e) { report("plot " + i + ": " + e.message); }
  });
  function key(td) {
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "" && !isNaN(Number(v))) { return {n: Number(v)}; }
    return {s: td.textContent};
  }
  function compare(a, b) {
    if (a.n !== undefined && b.n !== undefined) { return a.n - b.n; }
    if (a.n !== undefined) { return -1; }
    if (b.n !== undefined) { return 1; }
    return a.s.localeCompare(b.s, undefined, {numeric: true});
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(key(r1.cells[col]), key(r2.cells[col]));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"#;

use crate::text::escape_html as esc;

/// Text safe inside a `<script>` element.
pub(crate) fn script_safe(s: &str) -> String {
    s.replace("</", "<\\/").replace("<!--", "<\\!--")
}

const MARKERS: [&str; 5] = [
    "circle",
    "square",
    "triangle-up",
    "diamond",
    "triangle-down",
];

/// The x value plotly gets for a cell: the category label, or the number.
fn plotly_x(fig: &Figure, x: f64) -> Value {
    if fig.choice.kind == Kind::Line {
        return json!(x);
    }
    let label = fig
        .x_ticks
        .get(x.round().max(0.0) as usize)
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    Value::String(label)
}

/// The trace of one series in one panel: a box of every run, or the marks and intervals that
/// the static graph draws (the same `center`, `lo`, `hi`).
fn plotly_trace(fig: &Figure, cells: &[&Cell], s: usize) -> Value {
    let colour = css_colour(s);
    if fig.choice.kind == Kind::Box {
        let values: Vec<f64> = cells.iter().flat_map(|c| c.values.clone()).collect();
        if values.len() > MAX_BOX_VALUES {
            // Too many runs to embed: the box from its statistics, no points.
            if let Some(st) = crate::analyze::stats::summarize(&values) {
                let (wlo, whi, _) = st.whiskers(&values);
                return json!({
                    "type": "box", "x": [plotly_x(fig, cells[0].x)], "q1": [st.q1],
                    "median": [st.median], "q3": [st.q3], "mean": [st.mean],
                    "lowerfence": [wlo], "upperfence": [whi], "boxpoints": false,
                    "name": plotly_x(fig, cells[0].x),
                    "marker": {"color": colour}, "line": {"color": colour},
                });
            }
        }
        return json!({
            "type": "box", "y": values, "name": plotly_x(fig, cells[0].x),
            "boxmean": true, "boxpoints": "all", "jitter": 0.3,
            "marker": {"color": colour}, "line": {"color": colour},
        });
    }
    let x: Vec<Value> = cells.iter().map(|c| plotly_x(fig, c.x)).collect();
    let y: Vec<f64> = cells.iter().map(|c| c.center).collect();
    let plus: Vec<f64> = cells.iter().map(|c| c.hi - c.center).collect();
    let minus: Vec<f64> = cells.iter().map(|c| c.center - c.lo).collect();
    let runs: Vec<usize> = cells.iter().map(|c| c.summary.n).collect();
    let mut t = json!({
        "x": x, "y": y, "customdata": runs,
        "error_y": {"type": "data", "symmetric": false, "array": plus,
                    "arrayminus": minus, "visible": true},
        "hovertemplate": format!("%{{y:.4g}} {} (n = %{{customdata}})", fig.y_unit),
    });
    if fig.choice.kind == Kind::Line {
        t["type"] = json!("scatter");
        t["mode"] = json!("lines+markers");
        t["line"] = json!({"color": colour, "width": 2});
        t["marker"] = json!({"color": colour, "size": 8, "symbol": MARKERS[s % MARKERS.len()]});
        t["error_y"]["color"] = json!(colour);
    } else if fig.whiskers {
        // A search's limits: a marker with its bracket, no bar of one value.
        t["type"] = json!("scatter");
        t["mode"] = json!("markers");
        t["marker"] = json!({"color": colour, "size": 10, "symbol": MARKERS[s % MARKERS.len()]});
        t["error_y"]["color"] = json!(colour);
    } else {
        t["type"] = json!("bar");
        t["marker"] = json!({"color": colour});
        t["error_y"]["color"] = json!("#222");
    }
    t
}

/// A search's probe verdicts (rings, crosses, squares, as the static graph draws them) and
/// its bound (a dashed line) on panel `p`.
fn plotly_probes(fig: &Figure, p: usize, xa: &str, ya: &str, data: &mut Vec<Value>) {
    for (verdict, symbol, colour) in [
        ("pass", "circle-open", "#009E73"),
        ("fail", "x-thin-open", "#D55E00"),
        ("undecided", "square-open", "#787878"),
    ] {
        let marks: Vec<_> = fig
            .probe_marks
            .iter()
            .filter(|m| m.panel == p && m.verdict == verdict)
            .collect();
        if marks.is_empty() {
            continue;
        }
        data.push(json!({
            "type": "scatter", "mode": "markers", "name": verdict, "showlegend": false,
            "x": marks.iter().map(|m| plotly_x(fig, m.x)).collect::<Vec<_>>(),
            "y": marks.iter().map(|m| m.y).collect::<Vec<_>>(),
            "marker": {"symbol": symbol, "size": 16, "color": colour,
                       "line": {"width": 2, "color": colour}},
            "hovertemplate": format!("{verdict}<extra></extra>"),
            "xaxis": xa, "yaxis": ya,
        }));
    }
    if let (Some(b), false) = (fig.bound, fig.probe_marks.is_empty()) {
        let xs: Vec<f64> = fig.panels[p].cells.iter().map(|c| c.x).collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            data.push(json!({
                "type": "scatter", "mode": "lines", "name": "bound", "showlegend": false,
                "x": [plotly_x(fig, lo), plotly_x(fig, hi)], "y": [b, b],
                "line": {"dash": "dash", "width": 1, "color": "#444"},
                "hovertemplate": "bound %{y:.4g}<extra></extra>",
                "xaxis": xa, "yaxis": ya,
            }));
        }
    }
}

/// The axes of one panel, with the static graph's ranges: the y axis starts where the PNG's
/// does (zero for bars and ranges near zero), on the same scale.
fn plotly_axes(fig: &Figure) -> (Value, Value) {
    let mut xaxis = json!({"title": {"text": fig.x_title}, "automargin": true});
    if fig.choice.log_x {
        xaxis["type"] = json!("log");
    }
    let ticks = || fig.x_ticks.iter().map(|t| &t.1).collect::<Vec<_>>();
    if fig.choice.kind == Kind::Line {
        xaxis["tickvals"] = json!(fig.x_ticks.iter().map(|t| t.0).collect::<Vec<_>>());
        xaxis["ticktext"] = json!(ticks());
    } else {
        xaxis["type"] = json!("category");
        xaxis["categoryorder"] = json!("array");
        xaxis["categoryarray"] = json!(ticks());
    }
    // Plotly takes a log axis's range in log10 units, as `y_range` gives it.
    let (y0, y1) = render::y_range(fig);
    let mut yaxis = json!({"title": {"text": fig.y_title}, "automargin": true,
                           "range": [y0, y1], "autorange": false});
    if fig.choice.log_y {
        yaxis["type"] = json!("log");
    }
    (xaxis, yaxis)
}

/// The plotly traces and layout of a figure (the same data as the static graph).
pub fn plotly_figure(fig: &Figure) -> Value {
    let n = fig.panels.len().max(1);
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let mut data = Vec::new();
    let mut layout = serde_json::Map::new();
    let mut annotations = Vec::new();
    let with_series = fig.series_title.is_some();
    for (p, panel) in fig.panels.iter().enumerate() {
        let k = p + 1;
        let suffix = if k == 1 { String::new() } else { k.to_string() };
        let (xa, ya) = (format!("x{suffix}"), format!("y{suffix}"));
        for (s, label) in fig.series_labels.iter().enumerate() {
            let cells: Vec<&Cell> = panel.cells.iter().filter(|c| c.series == s).collect();
            if cells.is_empty() {
                continue;
            }
            let dense = fig.choice.kind == Kind::Line && cells.len() > MAX_LINE_POINTS;
            let bins = if dense {
                binned(&cells, MAX_LINE_POINTS)
            } else {
                Vec::new()
            };
            let cells: Vec<&Cell> = if dense { bins.iter().collect() } else { cells };
            let mut trace = plotly_trace(fig, &cells, s);
            if dense || render::banded(fig, &cells) {
                // As the static graph draws it: a band for the intervals, not error bars (and
                // for a dense line, bins: the caption says so).
                let xs: Vec<Value> = cells.iter().map(|c| plotly_x(fig, c.x)).collect();
                let colour = css_colour(s);
                let his: Vec<f64> = cells.iter().map(|c| c.hi).collect();
                let los: Vec<f64> = cells.iter().map(|c| c.lo).collect();
                for (edge, ys) in [("hi", his), ("lo", los)] {
                    let mut band = json!({
                        "type": "scatter", "mode": "lines", "x": xs, "y": ys,
                        "line": {"width": 0, "color": colour}, "hoverinfo": "skip",
                        "showlegend": false, "legendgroup": label, "xaxis": xa, "yaxis": ya,
                    });
                    if edge == "lo" {
                        band["fill"] = json!("tonexty");
                        band["fillcolor"] = json!(format!("{colour}40"));
                    }
                    data.push(band);
                }
                if dense {
                    trace["mode"] = json!("lines");
                }
                trace["error_y"]["visible"] = json!(false);
            }
            if with_series {
                trace["name"] = json!(label);
            }
            trace["legendgroup"] = json!(label);
            trace["showlegend"] = json!(with_series && p == 0);
            trace["xaxis"] = json!(xa);
            trace["yaxis"] = json!(ya);
            data.push(trace);
        }
        plotly_probes(fig, p, &xa, &ya, &mut data);
        let (xaxis, mut yaxis) = plotly_axes(fig);
        if k > 1 {
            yaxis["matches"] = json!("y");
        }
        layout.insert(format!("xaxis{suffix}"), xaxis);
        layout.insert(format!("yaxis{suffix}"), yaxis);
        if !panel.title.is_empty() {
            annotations.push(json!({
                "text": panel.title, "showarrow": false,
                "xref": format!("{xa} domain"), "yref": format!("{ya} domain"),
                "x": 0.5, "y": 1.0, "xanchor": "center", "yanchor": "bottom",
            }));
        }
    }
    layout.insert("annotations".into(), Value::Array(annotations));
    if n > 1 {
        layout.insert(
            "grid".into(),
            json!({"rows": rows, "columns": cols, "pattern": "independent"}),
        );
    }
    layout.insert("barmode".into(), json!("group"));
    layout.insert("showlegend".into(), json!(with_series));
    if let Some(t) = &fig.series_title {
        layout.insert("legend".into(), json!({"title": {"text": t}}));
    }
    layout.insert(
        "height".into(),
        json!(if n > 1 { 320 * rows + 80 } else { 440 }),
    );
    layout.insert("margin".into(), json!({"t": 40, "r": 20, "b": 50, "l": 60}));
    layout.insert("font".into(), json!({"family": "DejaVu Sans, sans-serif"}));
    json!({"data": data, "layout": layout})
}

fn duration_text(start: &str, end: Option<&str>) -> Option<String> {
    let a = humantime::parse_rfc3339_weak(start).ok()?;
    let b = humantime::parse_rfc3339_weak(end?).ok()?;
    let d = b.duration_since(a).ok()?;
    Some(humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string())
}

fn summary(out: &mut String, set: &ResultSet) {
    let m = &set.manifest;
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    // A set with failed runs gets the red badge whatever its status.
    let class = if m.runs_failed > 0 {
        "failed"
    } else {
        m.status.as_str()
    };
    row(
        "Status",
        format!(
            "<span class=\"status {class}\">{}</span>",
            esc(&m.status_text())
        ),
    );
    row("Result set", format!("<code>{}</code>", esc(&m.id)));
    if let Some(r) = &m.requirements {
        let text = if r.met {
            "met".to_string()
        } else {
            let lines: Vec<String> = r
                .unmet
                .iter()
                .map(|u| {
                    format!(
                        "{}: {} is {}, {} required",
                        u.machine, u.setting, u.found, u.required
                    )
                })
                .collect();
            format!(
                "<span class=\"status failed\">NOT met (ran with --no-require)</span> {}",
                esc(&lines.join("; "))
            )
        };
        row("Requirements", text);
    }
    row("mpf version", esc(&m.mpf_version));
    row("Started", esc(&m.started));
    row("Ended", esc(m.ended.as_deref().unwrap_or("—")));
    if let Some(d) = duration_text(&m.started, m.ended.as_deref()) {
        row("Duration", esc(&d));
    }
    row(
        "Runs",
        format!(
            "{} ok, {} failed, {} planned ({})",
            m.runs_ok,
            m.runs_failed,
            m.planned_runs,
            match m.search.as_ref().and_then(|s| s.runs) {
                Some([lo, hi]) if lo != hi => format!("{lo}–{hi} per probe"),
                Some([n, _]) => format!("{n} per probe"),
                None => format!("{} per point", m.runs_per_point),
            }
        ),
    );
    row(
        "Order, seed",
        format!("{}, <code>{}</code>", esc(&m.order), esc(&m.seed)),
    );
    if let Some(g) = &m.git {
        row(
            "Git commit",
            format!(
                "<code>{}</code>{}",
                esc(&g.commit),
                if g.dirty { " (dirty)" } else { "" }
            ),
        );
    }
    if !m.overrides.is_empty() {
        row(
            "Overrides",
            format!(
                "<code>{}</code>",
                esc(&Value::Object(m.overrides.clone()).to_string())
            ),
        );
    }
}

/// The most runs the report lists one by one (runs table, failed runs): beyond, it summarises
/// and says where every run is, so that a report stays small whatever the set (SPEC §15).
pub const LISTED_RUNS: usize = 2000;
/// The most rows of the per-point summary the report lists.
pub const LISTED_SUMMARY_ROWS: usize = 2000;
/// The most values of a variable the report lists.
pub const LISTED_VALUES: usize = 100;
/// The most runs a box embeds as points; beyond, it is drawn from its statistics.
pub const MAX_BOX_VALUES: usize = 2000;

/// `mpf show ID` as the reader would type it for this set.
fn show_command(set: &ResultSet, flags: &str) -> String {
    format!("mpf show {}{flags}", set.manifest.id)
}

fn variables_table(out: &mut String, set: &ResultSet) {
    let m = &set.manifest;
    if m.variables.is_empty() {
        out.push_str("<p>No variables: every run measures the same point.</p>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Variable</th><th>Values</th><th>Notes</th></tr></thead><tbody>\n",
    );
    for v in &m.variables {
        let mut values: Vec<String> = v
            .values
            .iter()
            .zip(&v.labels)
            .take(LISTED_VALUES)
            .map(|(val, l)| {
                let t = value_text(val);
                let raw = if t.is_empty() {
                    "\"\"".to_string()
                } else {
                    t.clone()
                };
                if *l == t {
                    esc(&t)
                } else {
                    format!("{} (<code>{}</code>)", esc(l), esc(&raw))
                }
            })
            .collect();
        if v.values.len() > LISTED_VALUES {
            values.push(format!(
                "… and {} more (<code>{}</code> lists them)",
                v.values.len() - LISTED_VALUES,
                esc(&show_command(set, " --format json"))
            ));
        }
        let mut notes = Vec::new();
        if v.constant {
            notes.push("constant".to_string());
        }
        if v.geometric {
            notes.push("geometric".to_string());
        }
        if let Some(w) = &v.when {
            notes.push(format!("when <code>{}</code>", esc(w)));
        }
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.name),
            values.join(", "),
            notes.join("; ")
        );
    }
    out.push_str("</tbody></table>\n");
}

fn hosts_table(out: &mut String, set: &ResultSet) {
    let hosts = &set.manifest.hosts;
    if hosts.is_empty() {
        out.push_str("<p>No host facts recorded.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr><th>Machine</th><th>Roles</th><th>Hostname</th><th>OS</th><th>Kernel</th><th>CPU</th><th>Cores</th><th>Memory</th></tr></thead><tbody>\n");
    for h in hosts {
        let mem = if h.memory_bytes > 0 {
            format!("{:.1} GiB", h.memory_bytes as f64 / 1073741824.0)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&h.name),
            esc(&h.roles.join(", ")),
            esc(&h.hostname),
            esc(&h.os),
            esc(&h.kernel),
            esc(&h.cpu_model),
            h.cores,
            mem
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// The table of `mpf show --summary`: per point and result, the ok runs' statistics.
fn point_summary(out: &mut String, set: &ResultSet, compact: &CompactSet) {
    let d = crate::report::table::summary_display(compact);
    let (header, rows, clipped) = (&d.header, &d.rows, &d.note);
    if rows.is_empty() {
        out.push_str("<p>No ok run with a numeric result.</p>\n");
        return;
    }
    out.push_str("<p class=\"note\">Of the ok runs of each point: n, mean, median, the 95% Student-t confidence interval of the mean, min, max and standard deviation.</p>\n");
    if rows.len() > LISTED_SUMMARY_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"summary-clipped\">This set has {} rows (points × results): the first {LISTED_SUMMARY_ROWS}, in point order, are listed here; the graphs cover every point, and <code>{}</code> lists every row.</p>",
            rows.len(),
            esc(&show_command(set, " --summary"))
        );
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"sortable\" id=\"point-summary\"><thead><tr>",
    );
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    let numeric_from = header.len() - 8;
    for row in rows.iter().take(LISTED_SUMMARY_ROWS) {
        out.push_str("<tr>");
        for (i, cell) in d.cells(row).iter().enumerate() {
            let class = if i >= numeric_from {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if let Some(c) = clipped {
        let _ = writeln!(out, "<p class=\"note\">{}.</p>", esc(c));
    }
}

/// What a search found (SPEC §16.3): `mpf show --limits` as a table, with how it was decided.
fn limits_section(out: &mut String, set: &ResultSet) {
    let m = &set.manifest;
    let Some(search) = &m.search else {
        return;
    };
    out.push_str("<h2>Limits</h2>\n");
    let goal = match search.goal {
        crate::model::Goal::Max => "largest",
        crate::model::Goal::Min => "smallest",
    };
    let confidence = search.confidence.as_ref().map_or(
        "each probe judged on the mean of its runs (a set of mpf before decisions with confidence)".to_string(),
        |c| format!("each probe decided at {c} confidence: it passes or fails when the confidence intervals of the results its condition names are wholly on one side"),
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">The {goal} <code>{}</code> where <code>{}</code>, within {}; {}. <code>low</code> and <code>high</code> bracket the limit between the best passing and the nearest failing probes; an <em>inconclusive</em> search had probes the noise left undecided between them.</p>",
        esc(&search.variable),
        esc(&search.condition),
        esc(&search.precision),
        esc(&confidence)
    );
    if m.limits.is_empty() {
        out.push_str("<p>No limit yet.</p>\n");
        return;
    }
    let (header, rows) = crate::report::limits::rows(m);
    out.push_str("<div class=\"scroll\"><table id=\"limits\"><thead><tr>");
    for h in &header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

fn point_text(set: &ResultSet, r: &RunRecord) -> String {
    crate::store::point_text(&set.manifest.variables, &r.point)
}

/// A column of the runs table: its header, and per row the cell's HTML and the text it shows.
type Column = (String, Vec<(String, String)>);

/// The runs table of `set`, whose records are every run when there are at most
/// `LISTED_RUNS` of them (`runs`).
fn runs_table(out: &mut String, set: &ResultSet, runs: usize) {
    let m = &set.manifest;
    if runs > LISTED_RUNS {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"runs-summarised\">This set has {} runs, more than a report lists one by one ({LISTED_RUNS}): the graphs and the per-point summary above cover every run. <code>{}</code> lists them all; <code>mpf export {}</code> writes them as CSV, JSON or Parquet.</p>",
            runs,
            esc(&show_command(set, "")),
            esc(&m.id)
        );
        return;
    }
    // Each result column is shown in one display unit, chosen from its largest value.
    let scales: Vec<(f64, String)> = m
        .results
        .iter()
        .map(|x| {
            let mag = set
                .records
                .iter()
                .filter_map(|r| r.results.get(&x.name))
                .flat_map(|v| match v {
                    Value::Array(a) => a.iter().filter_map(Value::as_f64).collect::<Vec<_>>(),
                    v => v.as_f64().into_iter().collect(),
                })
                .fold(0.0, |a: f64, b| a.max(b.abs()));
            display_scale(&x.unit, mag)
        })
        .collect();
    let mut rows: Vec<&RunRecord> = set.records.iter().collect();
    rows.sort_by_key(|r| r.index);
    // Each column: its header, and per row the cell's HTML and the text it shows.
    let mut columns: Vec<Column> = vec![
        (
            "Run".into(),
            rows.iter()
                .map(|r| {
                    (
                        format!("<td class=\"num\" data-v=\"{0}\">{0}</td>", r.index),
                        r.index.to_string(),
                    )
                })
                .collect(),
        ),
        (
            "Rep.".into(),
            rows.iter()
                .map(|r| {
                    (
                        format!("<td class=\"num\" data-v=\"{0}\">{0}</td>", r.repetition),
                        r.repetition.to_string(),
                    )
                })
                .collect(),
        ),
    ];
    for v in &m.variables {
        let cells = rows
            .iter()
            .map(|r| {
                let val = r.point.get(&v.name).cloned().unwrap_or(Value::Null);
                let shown = if val.is_null() {
                    String::new()
                } else {
                    v.label_of(&val)
                };
                let data = match &val {
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                (
                    format!("<td data-v=\"{}\">{}</td>", esc(&data), esc(&shown)),
                    shown,
                )
            })
            .collect();
        columns.push((v.name.clone(), cells));
    }
    for (x, (div, unit)) in m.results.iter().zip(&scales) {
        let cells = rows
            .iter()
            .map(|r| result_cell(r.results.get(&x.name), *div))
            .collect();
        let head = if unit.is_empty() {
            x.name.clone()
        } else {
            format!("{} ({unit})", x.name)
        };
        columns.push((head, cells));
    }
    let status = |r: &RunRecord| {
        if r.status == RunStatus::Failed {
            "failed"
        } else {
            "ok"
        }
    };
    columns.push((
        "Status".into(),
        rows.iter()
            .map(|r| (format!("<td>{}</td>", status(r)), status(r).to_string()))
            .collect(),
    ));
    // A column with one value in every row (a variable held constant, one run per point, every
    // run ok) moves into a line above the table, so that the results show without scrolling.
    let constant = |(i, (_, cells)): &(usize, &Column)| {
        *i > 0 && rows.len() >= 2 && cells.iter().all(|c| c.1 == cells[0].1)
    };
    let (same, varying): (Vec<_>, Vec<_>) = columns.iter().enumerate().partition(constant);
    if !same.is_empty() {
        let items: Vec<String> = same
            .iter()
            .map(|(_, (head, cells))| {
                let text = if cells[0].1.is_empty() {
                    "no value"
                } else {
                    &cells[0].1
                };
                format!("{} <b>{}</b>", esc(head), esc(text))
            })
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"runs-constant\">The same in every run: {}.</p>",
            items.join(", ")
        );
    }
    out.push_str("<div class=\"scroll\"><table class=\"sortable\" id=\"runs\"><thead><tr>");
    for (_, (head, _)) in &varying {
        let _ = write!(out, "<th>{}</th>", esc(head));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, r) in rows.iter().enumerate() {
        let failed = r.status == RunStatus::Failed;
        out.push_str(if failed {
            "<tr class=\"failed\">"
        } else {
            "<tr>"
        });
        for (_, (_, cells)) in &varying {
            out.push_str(&cells[i].0);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// A result's cell in the runs table (in the column's display unit) and the text it shows: a
/// series as the mean of its values.
fn result_cell(v: Option<&Value>, div: f64) -> (String, String) {
    match v {
        Some(Value::Array(a)) => {
            let v: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
            let mean = if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            let shown = if mean.is_finite() {
                format!(
                    "{} ({})",
                    format_number(mean / div),
                    crate::words::count(v.len(), "value")
                )
            } else {
                String::new()
            };
            let html = format!(
                "<td class=\"num\" data-v=\"{}\" title=\"mean of {}\">{}</td>",
                if mean.is_finite() {
                    mean.to_string()
                } else {
                    String::new()
                },
                crate::words::count(v.len(), "value"),
                esc(&shown)
            );
            (html, shown)
        }
        Some(v) if v.as_f64().is_some() => {
            let x = v.as_f64().unwrap_or(f64::NAN);
            let shown = format_number(x / div);
            (
                format!("<td class=\"num\" data-v=\"{x}\">{shown}</td>"),
                shown,
            )
        }
        _ => ("<td data-v=\"\"></td>".into(), String::new()),
    }
}

/// The failed runs of `set` (`count` of them), whose records hold at least the first
/// `LISTED_RUNS` of them in run order.
fn failures(out: &mut String, set: &ResultSet, count: usize) {
    let mut failed: Vec<&RunRecord> = set
        .records
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    if failed.is_empty() {
        out.push_str("<p>No run failed.</p>\n");
        return;
    }
    failed.sort_by_key(|r| r.index);
    if count > LISTED_RUNS {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} runs failed: the first {LISTED_RUNS} are listed; <code>{}</code> lists every one.</p>",
            count,
            esc(&show_command(set, ""))
        );
        failed.truncate(LISTED_RUNS);
    }
    out.push_str("<table id=\"failures\"><thead><tr><th>Run</th><th>Point</th><th>Rep.</th><th>Attempts</th><th>Error</th></tr></thead><tbody>\n");
    for r in failed {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><pre>{}</pre></td></tr>",
            r.index,
            esc(&point_text(set, r)),
            r.repetition,
            r.attempts,
            esc(r.error.as_deref().unwrap_or("(no error text recorded)"))
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The experiment and cluster files, verbatim as the set keeps them: the report is enough to
/// know what was run, and where.
fn input_files(out: &mut String, set: &ResultSet) {
    out.push_str("<h2>Input files</h2>\n");
    for (name, id) in [
        (crate::store::layout::EXPERIMENT, "experiment-file"),
        (crate::store::layout::CLUSTER, "cluster-file"),
    ] {
        let Ok(text) = std::fs::read_to_string(set.dir.join(name)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<h3>{name}</h3>\n<pre class=\"source\" id=\"{id}\">{}</pre>",
            esc(&text)
        );
    }
}

/// The report of `set` as one HTML document.
pub fn render(set: &ResultSet, hints: Option<&PlotSpec>) -> Result<String> {
    render_against(set, None, hints)
}

/// The report of `set`, with a section drawing `base` against it per result when given (each
/// point of both sets with its interval, as the graphs draw them: `mpf report NEW --base BASE`).
pub fn render_against(
    set: &ResultSet,
    base: Option<&ResultSet>,
    hints: Option<&PlotSpec>,
) -> Result<String> {
    // The per-point summary first, so that its compact form of the runs is gone before the
    // graphs are made.
    let base = base.map(CompactSet::of);
    render_whole(set, base.as_ref(), hints)
}

/// The report of `set`, loaded whole, with `base` drawn against it when given.
fn render_whole(
    set: &ResultSet,
    base: Option<&CompactSet>,
    hints: Option<&PlotSpec>,
) -> Result<String> {
    let compact = CompactSet::of(set);
    let mut per_point = String::new();
    point_summary(&mut per_point, set, &compact);
    let (runs, failed) = (compact.runs.len(), failed_count(&compact));
    let figs = figures(set, hints)?;
    let against = base.map(|b| (b, &compact));
    render_parts(set, per_point, figs, runs, failed, against)
}

/// How many runs of a set failed.
fn failed_count(c: &CompactSet) -> usize {
    let failed = |r: &&crate::store::compact::Run| r.status == RunStatus::Failed;
    c.runs.runs().iter().filter(failed).count()
}

/// The report of a set from its compact form (SPEC §15): the graphs and the per-point summary
/// from it, the tables from `listed`, the records the report lists (see [`listed_records`]).
fn render_compact(
    compact: &CompactSet,
    listed: &ResultSet,
    base: Option<&CompactSet>,
    hints: Option<&PlotSpec>,
) -> Result<String> {
    let mut per_point = String::new();
    point_summary(&mut per_point, listed, compact);
    let figs = figures(compact, hints)?;
    let (runs, failed) = (compact.runs.len(), failed_count(compact));
    let against = base.map(|b| (b, compact));
    render_parts(listed, per_point, figs, runs, failed, against)
}

/// The page, made of its parts: `set`'s manifest and the records it lists (see
/// [`runs_table`] and [`failures`]), the per-point summary's HTML, the figures, how many
/// runs the set has and how many failed, and (base, set) in compact form to draw against each
/// other.
fn render_parts(
    set: &ResultSet,
    per_point: String,
    figs: Vec<Figure>,
    runs: usize,
    failed: usize,
    against: Option<(&CompactSet, &CompactSet)>,
) -> Result<String> {
    let m = &set.manifest;
    let mut out = String::with_capacity(PLOTLY.len() + 64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"mpf {}\">\n<title>{} — mpf report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(crate::VERSION),
        esc(&m.id)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&m.name));
    if !m.description.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(&m.description));
    }
    out.push_str(
        "<pre id=\"mpf-errors\" hidden></pre>\n<h2>Summary</h2>\n<dl class=\"summary\">\n",
    );
    summary(&mut out, set);
    out.push_str("</dl>\n");
    limits_section(&mut out, set);
    out.push_str("<h2>Variables</h2>\n");
    variables_table(&mut out, set);
    out.push_str("<h2>Hosts</h2>\n");
    hosts_table(&mut out, set);
    super::profiles::section(&mut out, &set.manifest);
    out.push_str(&super::figures::section(set));
    if let Some((base, set)) = against {
        against_section(&mut out, base, set);
    }
    out.push_str("<h2>Graphs</h2>\n");
    if figs.is_empty() {
        out.push_str("<p>No numeric result to plot.</p>\n");
    }
    for (i, f) in figs.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<p class=\"note\">{}</p>\n<div class=\"mpf-plot\" id=\"plot-{i}\"></div>",
            esc(&f.choice.result),
            esc(&caption(f))
        );
    }
    let monitor = super::monitor::section(set)?;
    out.push_str(&monitor.html);
    out.push_str("<h2>Per-point summary</h2>\n");
    out.push_str(&per_point);
    drop(per_point);
    if runs > LISTED_RUNS {
        out.push_str("<h2>Runs</h2>\n");
    } else {
        out.push_str("<h2>Runs</h2>\n<p>Click a column header to sort.</p>\n");
    }
    runs_table(&mut out, set, runs);
    out.push_str("<h2>Failed runs</h2>\n");
    failures(&mut out, set, failed);
    input_files(&mut out, set);
    let data: Vec<Value> = figs.iter().map(plotly_figure).collect();
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"mpf-figures\">{}</script>\n<script>{}</script>\n<script>{}</script>\n{}</body>\n</html>\n",
        script_safe(&Value::Array(data).to_string()),
        script_safe(PLOTLY),
        SCRIPT,
        monitor.scripts
    );
    Ok(out)
}

/// What the graph shows, in words: the figure's own caption, then its layout.
fn caption(f: &Figure) -> String {
    let mut parts = vec![f.caption.clone()];
    if let Some(s) = &f.choice.series {
        parts.push(format!("series: {s}"));
    }
    if !f.choice.facets.is_empty() {
        parts.push(format!("panels: {}", f.choice.facets.join(", ")));
    }
    if f.choice.log_x {
        parts.push("log x axis".into());
    }
    parts.join("; ")
}

/// "Against base": `base` and `set` as two series of each result's figure (inline SVG, drawn
/// by the renderer of the PNGs: bands, error bars and clipping as there); the steps' wall
/// times are left out, as from the graphs.
fn against_section(out: &mut String, base: &CompactSet, set: &CompactSet) {
    let results: Vec<String> = set
        .manifest
        .results
        .iter()
        .filter(|r| !r.series && !crate::model::is_duration(&r.name))
        .map(|r| r.name.clone())
        .collect();
    let labels = ["base".to_string(), "new".to_string()];
    let drawn = crate::report::compare::figures::draw_compact(base, set, labels, &results);
    let _ = writeln!(
        out,
        "<h2>Against base <code>{}</code></h2>\n<p class=\"note\">Each point of the base set and of this one (new), with the interval its graph draws; <code>mpf compare {} {}</code> gives the verdicts.</p>",
        esc(&base.manifest.id),
        esc(&base.manifest.id),
        esc(&set.manifest.id)
    );
    if drawn.is_empty() {
        out.push_str("<p>No result of both sets to draw.</p>\n");
    }
    for f in &drawn {
        crate::report::compare::html::figure(out, "against", f);
    }
}

/// Writes the report of `set` to `path`, with `base` drawn against it when given.
pub fn write_report_against(
    set: &ResultSet,
    base: Option<&ResultSet>,
    path: &Path,
    hints: Option<&PlotSpec>,
) -> Result<()> {
    let html = render_against(set, base, hints)?;
    crate::store::writer::write_atomic(path, html.as_bytes())
}

/// The records a report of a set of more than `LISTED_RUNS` runs lists, read a line at a
/// time: the first `LISTED_RUNS` failed runs in run order, and the runs with monitoring
/// samples (their steps place the samples). The others are not kept.
fn listed_records(dir: &Path) -> Result<Vec<RunRecord>> {
    use std::collections::BTreeMap;
    let mut failed: BTreeMap<usize, RunRecord> = BTreeMap::new();
    let mut sampled: BTreeMap<usize, RunRecord> = BTreeMap::new();
    let monitored = dir.join(crate::store::layout::RUNS).is_dir();
    let journal = dir.join(crate::store::layout::JOURNAL);
    crate::store::resultset::visit_journal(&journal, |r| {
        // A later line for a run replaces the earlier, as when the set is read whole.
        failed.remove(&r.index);
        sampled.remove(&r.index);
        if monitored && crate::store::timeseries::monitor_path(dir, r.index).is_file() {
            sampled.insert(r.index, r);
        } else if r.status == RunStatus::Failed {
            failed.insert(r.index, r);
            if failed.len() > LISTED_RUNS {
                failed.pop_last();
            }
        }
    })?;
    let mut records: Vec<RunRecord> = failed.into_values().chain(sampled.into_values()).collect();
    records.sort_by_key(|r| r.index);
    Ok(records)
}

/// Writes the report of the set in `dir` to `path`, with `base` drawn against it when given.
/// A set of more than `LISTED_RUNS` runs is read in compact form, with the records the report
/// lists only (SPEC §15: 10^5 runs in well under 200 MB), unless its graphs need its records
/// ([`needs_records`]) or a base is drawn against it.
pub fn write_report_of(
    dir: &Path,
    base: Option<&CompactSet>,
    path: &Path,
    hints: Option<&PlotSpec>,
) -> Result<()> {
    let compact = CompactSet::load(dir)?;
    if compact.runs.len() <= LISTED_RUNS || needs_records(&compact.manifest) {
        drop(compact);
        let html = render_whole(&ResultSet::load(dir)?, base, hints)?;
        return crate::store::writer::write_atomic(path, html.as_bytes());
    }
    let listed = ResultSet {
        dir: dir.to_path_buf(),
        manifest: compact.manifest.clone(),
        records: listed_records(dir)?,
    };
    let html = render_compact(&compact, &listed, base, hints)?;
    crate::store::writer::write_atomic(path, html.as_bytes())
}

/// Writes the report of `set` to `path`.
pub fn write_report(set: &ResultSet, path: &Path, hints: Option<&PlotSpec>) -> Result<()> {
    let html = render(set, hints)?;
    crate::store::writer::write_atomic(path, html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_large_sets_report_from_its_compact_form_is_the_report_of_its_records() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // More runs and more failed runs than a report lists, three repetitions a point.
        let (points, n) = (900, 2700);
        let mut m = crate::store::writer::tests::manifest("big");
        let xs = (0..points).map(|i| json!(i)).collect();
        m.variables
            .push(crate::report::plot::figure::tests::var("x", xs));
        m.results.push(crate::model::ResultInfo {
            name: "lat".into(),
            unit: "s".into(),
            better: Default::default(),
            series: false,
        });
        let record = |i: usize, failed: bool| {
            let lat = 1e-3 * (1.0 + (i % 97) as f64 / 10.0);
            let mut r = crate::store::writer::tests::ok_record(
                i,
                json!({"x": i % points}),
                i / points,
                json!({ "lat": lat }),
            );
            r.point_index = i % points;
            if failed {
                r.status = RunStatus::Failed;
                r.error = Some(format!("run {i} failed"));
            }
            serde_json::to_string(&r).unwrap() + "\n"
        };
        let mut journal: String = (0..n).map(|i| record(i, i % 4 != 0)).collect();
        // Run 1 failed, then was recorded again as ok: the later line wins.
        journal.push_str(&record(1, false));
        std::fs::write(dir.join(crate::store::layout::JOURNAL), journal).unwrap();
        std::fs::write(
            dir.join(crate::store::layout::MANIFEST),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join(crate::store::layout::EXPERIMENT), "name: big\n").unwrap();
        // Monitoring samples of an ok run and of a failed one.
        for run in [4, 5] {
            let path = crate::store::timeseries::monitor_path(dir, run);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "time,role,metric,value\n0.1,c,cpu,5\n0.2,c,cpu,7\n").unwrap();
        }
        let (compact, whole) = (dir.join("compact.html"), dir.join("whole.html"));
        write_report_of(dir, None, &compact, None).unwrap();
        let set = ResultSet::load(dir).unwrap();
        write_report_against(&set, None, &whole, None).unwrap();
        let html = std::fs::read_to_string(&compact).unwrap();
        assert!(html == std::fs::read_to_string(&whole).unwrap());
        for text in [
            "This set has 2700 runs, more than a report lists one by one (2000)",
            "2024 runs failed: the first 2000 are listed",
            "run 2 failed",
            "<h2>Monitoring</h2>",
        ] {
            assert!(html.contains(text), "missing {text:?}");
        }
        assert!(!html.contains("run 1 failed"));
        // Drawn against a base (itself), both ways alike.
        let base = CompactSet::load(dir).unwrap();
        write_report_of(dir, Some(&base), &compact, None).unwrap();
        write_report_against(&set, Some(&set), &whole, None).unwrap();
        let html = std::fs::read_to_string(&compact).unwrap();
        assert!(html == std::fs::read_to_string(&whole).unwrap());
        assert!(html.contains("<h2>Against base <code>big</code></h2>"));
    }
}
